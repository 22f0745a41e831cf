-- Key management and the recovery ceremony (sdv-recovery).

-- MPC wallets: 2-of-3 FROST Ed25519 among the user's device, a backup and the custodian. The
-- account is the group's public key; no party ever held its secret.
CREATE TABLE recovery_mpc_wallets (
    account             BYTEA PRIMARY KEY CHECK (length(account) = 32),
    dkg_id              TEXT NOT NULL UNIQUE,
    state               TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'compromised')),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    compromised_at      TIMESTAMPTZ,
    compromised_reason  TEXT,
    CHECK ((state = 'compromised') = (compromised_at IS NOT NULL))
);

-- Each wallet's three shares, by their public verifying shares.
CREATE TABLE recovery_mpc_shares (
    account          BYTEA NOT NULL REFERENCES recovery_mpc_wallets (account),
    role             TEXT NOT NULL CHECK (role IN ('device', 'backup', 'custodian')),
    verifying_share  BYTEA NOT NULL CHECK (length(verifying_share) = 32),
    state            TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'compromised')),
    compromised_at   TIMESTAMPTZ,
    PRIMARY KEY (account, role)
);

-- The custodian's own share, sealed by an AES key inside the token (AAD: the account).
CREATE TABLE recovery_custodian_shares (
    account            BYTEA PRIMARY KEY REFERENCES recovery_mpc_wallets (account),
    sealed             BYTEA NOT NULL,
    sealing_key_label  TEXT NOT NULL
);

-- One ceremony per wallet rebind (a finalized recovery, guardian or emergency path).
CREATE TABLE recovery_ceremonies (
    old_wallet          BYTEA PRIMARY KEY CHECK (length(old_wallet) = 32),
    new_wallet          BYTEA NOT NULL CHECK (length(new_wallet) = 32),
    identity            BYTEA NOT NULL CHECK (length(identity) = 32),
    block_number        BIGINT NOT NULL CHECK (block_number >= 0),
    event_index         INTEGER NOT NULL CHECK (event_index >= 0),
    state               TEXT NOT NULL DEFAULT 'waiting_for_key'
                        CHECK (state IN ('waiting_for_key', 'rewrapping', 'done')),
    -- The new wallet's X25519 key the data keys are re-wrapped to.
    new_key             BYTEA CHECK (length(new_key) = 32),
    documents           INTEGER NOT NULL DEFAULT 0,
    rewrapped           INTEGER NOT NULL DEFAULT 0,
    failed              INTEGER NOT NULL DEFAULT 0,
    revoked_keys        INTEGER NOT NULL DEFAULT 0,
    sessions_ended      INTEGER NOT NULL DEFAULT 0,
    compromised_shares  INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ
);

-- Each document of a ceremony, written in the transaction that stores its new wrapped key:
-- a restarted ceremony skips what it finds here, so every document is re-wrapped once.
CREATE TABLE recovery_ceremony_documents (
    old_wallet  BYTEA NOT NULL REFERENCES recovery_ceremonies (old_wallet),
    sha256      BYTEA NOT NULL CHECK (length(sha256) = 32),
    token_id    BIGINT NOT NULL CHECK (token_id >= 0),
    state       TEXT NOT NULL CHECK (state IN ('rewrapped', 'failed')),
    -- 'v2': re-wrapped inside the token; 'v1': opened through the token, wrapped on the host.
    format      TEXT CHECK (format IN ('v1', 'v2')),
    error       TEXT,
    done_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (old_wallet, sha256)
);

-- Where each follower of the indexer is.
CREATE TABLE recovery_cursors (
    name          TEXT PRIMARY KEY,
    block_number  BIGINT NOT NULL,
    position      BIGINT NOT NULL
);
