-- The relayer's outbox: calls services enqueue in their own transactions, sent exactly once.
CREATE TABLE relayer_outbox (
    id              BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    -- The signing account the relayer must use (hex of the 32-byte account id).
    signer          TEXT NOT NULL,
    contract        BYTEA NOT NULL,
    call_data       BYTEA NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'signed', 'finalized', 'failed')),
    -- Set when signed: the stored extrinsic is what is (re)submitted, never a new one.
    nonce           BIGINT,
    extrinsic       BYTEA,
    tx_hash         BYTEA,
    block_hash      BYTEA,
    error           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX relayer_outbox_open ON relayer_outbox (signer, status, id)
    WHERE status IN ('pending', 'signed');
