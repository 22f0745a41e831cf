-- A notice that a document's retention ran out but its permanent Arweave copy keeps it.
ALTER TABLE notify_notices DROP CONSTRAINT notify_notices_kind_check;
ALTER TABLE notify_notices ADD CONSTRAINT notify_notices_kind_check CHECK (kind IN (
    'deletion_notice', 'retention_upgraded', 'retention_extended', 'deletion_done',
    'guardian_request', 'recovery_initiated', 'recovery_attested', 'recovery_cancellable',
    'recovery_finalized', 'recovery_cancelled', 'retention_kept_arweave'));
