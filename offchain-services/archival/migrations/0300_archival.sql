-- The archival services: Arweave copies (own transactions and ANS-104 bundles) and IPFS pins.
-- Versions 300 to 399 belong to this service. Times are milliseconds since the Unix epoch
-- of this machine's clock (retry and verification schedules, not the chain's time).

-- A bundle transaction: the ANS-104 data items of small documents, posted together.
CREATE TABLE archival_bundles (
    tx_id          BYTEA   PRIMARY KEY CHECK (length(tx_id) = 32),
    items          INTEGER NOT NULL CHECK (items > 0),
    size           BIGINT  NOT NULL CHECK (size > 0),
    -- 'signed': built and signed, not yet accepted by the gateway; 'posted': accepted, waiting
    -- to be mined deep enough; 'confirmed': permanent; 'dropped': never accepted (its items
    -- went back to the queue).
    state          TEXT    NOT NULL CHECK (state IN ('signed', 'posted', 'confirmed', 'dropped')),
    signed_ms      BIGINT  NOT NULL,
    posted_ms      BIGINT,
    confirmed_ms   BIGINT,
    block_height   BIGINT,
    confirmations  BIGINT
);

-- The Arweave copy of one document, from the owner's request to permanence.
CREATE TABLE archival_arweave (
    token_id         BIGINT  PRIMARY KEY CHECK (token_id >= 0),
    sha256           BYTEA   NOT NULL CHECK (length(sha256) = 32),
    size             BIGINT  NOT NULL CHECK (size > 0),
    -- 'transaction' (256 KB and more: its own transaction) or 'bundle' (an ANS-104 item).
    mode             TEXT    NOT NULL CHECK (mode IN ('transaction', 'bundle')),
    -- 'queued' -> 'signed' -> 'posted' -> 'confirmed'; back to 'queued' when the gateway never
    -- took it.
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'signed', 'posted', 'confirmed')),
    tx_id            BYTEA   CHECK (length(tx_id) = 32),
    item_id          BYTEA   CHECK (length(item_id) = 32),
    bundle_tx        BYTEA   REFERENCES archival_bundles (tx_id),
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_ms  BIGINT  NOT NULL DEFAULT 0,
    queued_ms        BIGINT  NOT NULL,
    posted_ms        BIGINT,
    confirmed_ms     BIGINT,
    block_height     BIGINT,
    confirmations    BIGINT,
    CHECK (state = 'queued' OR tx_id IS NOT NULL),
    CHECK ((mode = 'bundle') = (item_id IS NOT NULL) OR state = 'queued')
);
CREATE INDEX archival_arweave_by_state ON archival_arweave (state, next_attempt_ms);

-- The IPFS pin of one document.
CREATE TABLE archival_ipfs (
    token_id         BIGINT  PRIMARY KEY CHECK (token_id >= 0),
    sha256           BYTEA   NOT NULL CHECK (length(sha256) = 32),
    size             BIGINT  NOT NULL CHECK (size > 0),
    -- 'queued' -> 'pinned' -> 'unpinned' (the document was deleted).
    state            TEXT    NOT NULL CHECK (state IN ('queued', 'pinned', 'unpinned')),
    cid              TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_ms  BIGINT  NOT NULL DEFAULT 0,
    queued_ms        BIGINT  NOT NULL,
    pinned_ms        BIGINT,
    verified_ms      BIGINT,
    -- Times the verify cycle found the pin missing or unreadable and pinned it again.
    repins           INTEGER NOT NULL DEFAULT 0,
    last_repin_ms    BIGINT,
    unpinned_ms      BIGINT,
    CHECK (state = 'queued' OR cid IS NOT NULL)
);
CREATE INDEX archival_ipfs_by_state ON archival_ipfs (state, next_attempt_ms);

-- How far each follower of the indexer got: the indexer's block of its last complete pass.
CREATE TABLE archival_cursors (
    name   TEXT   PRIMARY KEY,
    block  BIGINT NOT NULL
);

-- When each periodic task last ran.
CREATE TABLE archival_schedule (
    task     TEXT   PRIMARY KEY,
    last_ms  BIGINT NOT NULL
);
