-- The notification service's tables (versions from 400, names prefixed `notify_`: the
-- database is shared with the other services).

-- Where an account is told: an email address, a webhook, or both.
CREATE TABLE notify_contacts (
    account     TEXT PRIMARY KEY CHECK (account ~ '^0x[0-9a-f]{64}$'),
    email       TEXT,
    webhook_url TEXT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A notice, accepted once per idempotency key.
CREATE TABLE notify_notices (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    account         TEXT NOT NULL CHECK (account ~ '^0x[0-9a-f]{64}$'),
    kind            TEXT NOT NULL CHECK (kind IN (
                        'deletion_notice', 'retention_upgraded', 'retention_extended',
                        'deletion_done', 'guardian_request', 'recovery_initiated',
                        'recovery_attested', 'recovery_cancellable', 'recovery_finalized',
                        'recovery_cancelled')),
    subject         TEXT NOT NULL,
    -- The ordered list of [label, value] pairs.
    facts           JSONB NOT NULL CHECK (jsonb_typeof(facts) = 'array'),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX notify_notices_account ON notify_notices (account, created_at);

-- One delivery of a notice per channel the account had when the notice was accepted.
-- `pending`: not tried yet (or in flight); `failed`: the last attempt failed and another is
-- due at `next_attempt_at`; `sent`: done.
CREATE TABLE notify_deliveries (
    notice_id       BIGINT NOT NULL REFERENCES notify_notices (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- The email address or webhook URL, as it was when the notice was accepted.
    destination     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    -- Attempts started (an attempt's result is recorded only if no later one started).
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    PRIMARY KEY (notice_id, channel),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((status = 'sent') = (next_attempt_at IS NULL))
);

CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at)
    WHERE status <> 'sent';
