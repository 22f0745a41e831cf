-- The typed projection of DocumentNFT's events, written in the transaction that writes the raw
-- events and moves the cursor.
--
-- Accounts and hashes are raw bytes. An identity as an owner (`owner` columns) is the lowercase
-- hex of its 32 bytes without `0x`; a vault is its number in decimal.

-- One row per document token, in its current state.
CREATE TABLE documents (
    token_id           BIGINT  PRIMARY KEY CHECK (token_id >= 0),
    owner_kind         TEXT    NOT NULL CHECK (owner_kind IN ('identity', 'vault')),
    owner              TEXT    NOT NULL,
    -- The identity's current wallet (the identity itself until a rebind); NULL for a vault.
    owner_wallet       BYTEA   CHECK (length(owner_wallet) = 32),
    sha256             BYTEA   NOT NULL UNIQUE CHECK (length(sha256) = 32),
    size               BIGINT  NOT NULL CHECK (size > 0),
    -- The owner's tier when the document was minted.
    tier               TEXT    NOT NULL
        CHECK (tier IN ('free', 'bpoh_verified', 'premium', 'institutional')),
    class              TEXT    NOT NULL CHECK (class IN ('us_tax', 'financial', 'kyc', 'other')),
    retention          TEXT    NOT NULL CHECK (retention IN (
        'minimum', 'standard', 'extended', 'regulatory_us_tax', 'long_term', 'indefinite',
        'permanent')),
    -- Milliseconds since the Unix epoch; NULL when it never expires (or KYC, not yet known).
    expiry_ms          BIGINT  CHECK (expiry_ms >= 0),
    arweave_requested  BOOLEAN NOT NULL,
    arweave_tx         BYTEA   CHECK (length(arweave_tx) = 32),
    arweave_permanent  BOOLEAN NOT NULL,
    ipfs_cid           BYTEA   CHECK (length(ipfs_cid) > 0),
    status             TEXT    NOT NULL
        CHECK (status IN ('active', 'deletion_scheduled', 'deleted')),
    deletion_due_ms    BIGINT  CHECK (deletion_due_ms >= 0),
    minted_block       BIGINT  NOT NULL CHECK (minted_block >= 0),
    updated_block      BIGINT  NOT NULL CHECK (updated_block >= minted_block),
    CHECK ((owner_kind = 'vault') = (owner_wallet IS NULL)),
    CHECK (status <> 'deletion_scheduled' OR deletion_due_ms IS NOT NULL),
    CHECK (NOT arweave_permanent OR arweave_tx IS NOT NULL)
);

CREATE INDEX documents_by_owner ON documents (owner_kind, owner);
CREATE INDEX documents_by_owner_wallet ON documents (owner_wallet);
CREATE INDEX documents_by_expiry ON documents (expiry_ms);
CREATE INDEX documents_by_deletion_due ON documents (deletion_due_ms);

-- Every DocumentNFT event that names a token, in chain order; `kind` is the event's name.
CREATE TABLE document_history (
    token_id      BIGINT  NOT NULL CHECK (token_id >= 0),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    block_hash    BYTEA   NOT NULL CHECK (length(block_hash) = 32),
    event_index   INTEGER NOT NULL CHECK (event_index >= 0),
    kind          TEXT    NOT NULL,
    detail        JSONB   NOT NULL,
    PRIMARY KEY (block_hash, event_index)
);

CREATE INDEX document_history_by_token ON document_history (token_id, block_number, event_index);

-- The tier the tier authority last set for an identity or a vault (absent: free).
CREATE TABLE account_tiers (
    owner_kind     TEXT   NOT NULL CHECK (owner_kind IN ('identity', 'vault')),
    owner          TEXT   NOT NULL,
    tier           TEXT   NOT NULL
        CHECK (tier IN ('free', 'bpoh_verified', 'premium', 'institutional')),
    updated_block  BIGINT NOT NULL CHECK (updated_block >= 0),
    PRIMARY KEY (owner_kind, owner)
);

-- Each account's latest published X25519 key.
CREATE TABLE encryption_keys (
    account          BYTEA   PRIMARY KEY CHECK (length(account) = 32),
    key              BYTEA   NOT NULL CHECK (length(key) = 32),
    version          INTEGER NOT NULL CHECK (version >= 1),
    published_at_ms  BIGINT  NOT NULL CHECK (published_at_ms >= 0),
    block_number     BIGINT  NOT NULL CHECK (block_number >= 0)
);

-- Read grants in force: those of the token's current owner (a transfer voids the earlier ones).
CREATE TABLE document_shares (
    token_id      BIGINT  NOT NULL CHECK (token_id >= 0),
    grantee       BYTEA   NOT NULL CHECK (length(grantee) = 32),
    key_version   INTEGER NOT NULL CHECK (key_version >= 1),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (token_id, grantee)
);

-- Verified uploads waiting for their vault's decision (gone once minted or unstaged).
CREATE TABLE staged_uploads (
    sha256        BYTEA  PRIMARY KEY CHECK (length(sha256) = 32),
    vault         BIGINT NOT NULL CHECK (vault >= 0),
    size          BIGINT NOT NULL CHECK (size > 0),
    block_number  BIGINT NOT NULL CHECK (block_number >= 0)
);

-- Every wallet rebind (recovery), in chain order. A wallet is a `new_wallet` at most once.
CREATE TABLE wallet_rebinds (
    identity      BYTEA   NOT NULL CHECK (length(identity) = 32),
    old_wallet    BYTEA   NOT NULL CHECK (length(old_wallet) = 32),
    new_wallet    BYTEA   NOT NULL CHECK (length(new_wallet) = 32),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    block_hash    BYTEA   NOT NULL CHECK (length(block_hash) = 32),
    event_index   INTEGER NOT NULL CHECK (event_index >= 0),
    PRIMARY KEY (block_hash, event_index)
);

CREATE INDEX wallet_rebinds_by_new_wallet ON wallet_rebinds (new_wallet);
CREATE INDEX wallet_rebinds_by_identity ON wallet_rebinds (identity, block_number);
