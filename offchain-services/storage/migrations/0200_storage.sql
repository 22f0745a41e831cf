-- The storage gateway and service: login sessions, upload sessions, S3 objects with their
-- reference counts, and the data keys wrapped by the clients (the gateway never sees one
-- unwrapped). Versions 200 to 299 belong to this service.

-- A login challenge, answered once within five minutes.
CREATE TABLE storage_challenges (
    challenge   BYTEA PRIMARY KEY CHECK (length(challenge) = 32),
    account     BYTEA NOT NULL CHECK (length(account) = 32),
    expires_at  TIMESTAMPTZ NOT NULL
);

-- A login session: only the token's sha256 is kept.
CREATE TABLE storage_sessions (
    id          TEXT PRIMARY KEY,
    token_hash  BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    account     BYTEA NOT NULL CHECK (length(account) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen   TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at    TIMESTAMPTZ,
    end_reason  TEXT
);
CREATE INDEX storage_sessions_open ON storage_sessions (account) WHERE ended_at IS NULL;

-- An upload session (spec section 2).
CREATE TABLE storage_uploads (
    id              TEXT PRIMARY KEY,
    account         BYTEA NOT NULL CHECK (length(account) = 32),
    -- NULL for the account itself, else the vault the ciphertext is staged for.
    vault           BIGINT CHECK (vault >= 0),
    size            BIGINT NOT NULL CHECK (size > 0),
    sha256          BYTEA NOT NULL CHECK (length(sha256) = 32),
    class           TEXT NOT NULL,
    retention       TEXT NOT NULL,
    arweave         BOOLEAN NOT NULL,
    name            TEXT,
    -- The data key wrapped by the client ([{recipient, role, wrapped}]), recorded with the
    -- object when the upload is stored.
    wrapped_keys    JSONB NOT NULL,
    tier            TEXT NOT NULL,
    parallel_chunks SMALLINT NOT NULL CHECK (parallel_chunks > 0),
    chunks          INTEGER NOT NULL CHECK (chunks > 0),
    part_size       BIGINT NOT NULL CHECK (part_size > 0),
    state           TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'stored', 'staged', 'aborted', 'expired', 'rejected')),
    -- The S3 key the multipart upload completes to, and its S3 upload id.
    s3_key          TEXT NOT NULL,
    s3_upload_id    TEXT NOT NULL,
    -- The outbox call that mints (or stages) it.
    mint_key        TEXT,
    error           TEXT,
    -- Set once the scheduler told the owner whether the chain raised the retention to a floor.
    upgrade_checked BOOLEAN NOT NULL DEFAULT false,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ
);
CREATE INDEX storage_uploads_open ON storage_uploads (last_activity) WHERE state = 'open';
CREATE INDEX storage_uploads_by_account ON storage_uploads (account, state);

-- A chunk the gateway verified and wrote to its spool file.
CREATE TABLE storage_upload_chunks (
    upload_id   TEXT NOT NULL REFERENCES storage_uploads (id) ON DELETE CASCADE,
    index       INTEGER NOT NULL CHECK (index >= 0),
    sha256      BYTEA NOT NULL CHECK (length(sha256) = 32),
    PRIMARY KEY (upload_id, index)
);

-- A multipart part stored in S3.
CREATE TABLE storage_upload_parts (
    upload_id   TEXT NOT NULL REFERENCES storage_uploads (id) ON DELETE CASCADE,
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    etag        TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- An object under docs/{sha256}: stored once, whatever the number of uploads of it.
CREATE TABLE storage_objects (
    sha256      BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    size        BIGINT NOT NULL CHECK (size > 0),
    refcount    INTEGER NOT NULL CHECK (refcount >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the last reference went and the object was deleted from S3.
    deleted_at  TIMESTAMPTZ
);

-- Which upload holds a reference on which object (released once).
CREATE TABLE storage_object_refs (
    upload_id   TEXT PRIMARY KEY REFERENCES storage_uploads (id),
    sha256      BYTEA NOT NULL REFERENCES storage_objects (sha256),
    released_at TIMESTAMPTZ,
    released_by TEXT
);
CREATE INDEX storage_object_refs_by_object ON storage_object_refs (sha256) WHERE released_at IS NULL;

-- A document's data key wrapped by the client to one X25519 public key.
CREATE TABLE storage_wrapped_keys (
    sha256      BYTEA NOT NULL CHECK (length(sha256) = 32),
    recipient   BYTEA NOT NULL CHECK (length(recipient) = 32),
    role        TEXT NOT NULL CHECK (role IN ('owner', 'recovery', 'reader')),
    wrapped     BYTEA NOT NULL,
    upload_id   TEXT NOT NULL REFERENCES storage_uploads (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ,
    PRIMARY KEY (sha256, recipient)
);

-- What the retention scheduler did for a document: each step once.
CREATE TABLE storage_retention_steps (
    step        TEXT PRIMARY KEY,
    token_id    BIGINT NOT NULL,
    done_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
