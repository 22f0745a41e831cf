-- The fleet's distribution server (HQ). Versions 600 to 699 belong to this service.
-- Tracks are the governance tracks 'devnet', 'testnet' and 'mainnet'.

-- A validator node and its update agent.
CREATE TABLE hq_nodes (
    node_id     TEXT        PRIMARY KEY CHECK (node_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    track       TEXT        NOT NULL CHECK (track IN ('devnet', 'testnet', 'mainnet')),
    -- {"agent_url": "http://host:8055"}: distribution reads the agent's address from here.
    metadata    JSONB       NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX hq_nodes_by_track ON hq_nodes (track);

-- Each node's Ed25519 identity key: recorded at its first registration; every later request
-- of the node must be signed by it.
CREATE TABLE hq_validator_ed25519_keys (
    node_id     TEXT        PRIMARY KEY REFERENCES hq_nodes (node_id),
    public_key  BYTEA       NOT NULL CHECK (length(public_key) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Registered images. A digest is signed (HMAC-SHA256 by HQ's current key) before it can be
-- distributed; `track` is the furthest track it was promoted to.
CREATE TABLE hq_images (
    id          BIGSERIAL   PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    tag         TEXT        NOT NULL CHECK (tag ~ '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'),
    digest      TEXT        NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    track       TEXT        NOT NULL CHECK (track IN ('devnet', 'testnet', 'mainnet')),
    signature   TEXT,
    signed_by   TEXT,
    signed_at   TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (name, digest),
    CHECK ((signature IS NULL) = (signed_by IS NULL))
);

-- The digest HQ pins for an image on a track: what the manifest serves and what a node of
-- that track must run.
CREATE TABLE hq_pins (
    name        TEXT        NOT NULL,
    track       TEXT        NOT NULL CHECK (track IN ('devnet', 'testnet', 'mainnet')),
    digest      TEXT        NOT NULL,
    pinned_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (name, track),
    FOREIGN KEY (name, digest) REFERENCES hq_images (name, digest)
);

-- Promotions, one step at a time (devnet -> testnet -> mainnet), each approved on-chain.
CREATE TABLE hq_promotions (
    id              BIGSERIAL   PRIMARY KEY,
    name            TEXT        NOT NULL,
    digest          TEXT        NOT NULL,
    from_track      TEXT        NOT NULL CHECK (from_track IN ('devnet', 'testnet')),
    to_track        TEXT        NOT NULL CHECK (to_track IN ('testnet', 'mainnet')),
    release_number  BIGINT      NOT NULL,
    promoted_by     TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (name, digest) REFERENCES hq_images (name, digest)
);

-- What each node was told to run and what it reported.
CREATE TABLE hq_image_deployments (
    node_id         TEXT        NOT NULL REFERENCES hq_nodes (node_id),
    image           TEXT        NOT NULL,
    tag             TEXT        NOT NULL,
    digest          TEXT        NOT NULL,
    -- 'pending' (intent recorded), 'deployed', 'refused', 'failed', 'mismatch' (the node runs
    -- another digest than the pinned one).
    status          TEXT        NOT NULL
                    CHECK (status IN ('pending', 'deployed', 'refused', 'failed', 'mismatch')),
    reason          TEXT,
    running_digest  TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, image)
);

-- Distribution jobs: one image to the nodes of a track.
CREATE TABLE hq_distribution_jobs (
    id           BIGSERIAL   PRIMARY KEY,
    image        TEXT        NOT NULL,
    tag          TEXT        NOT NULL,
    digest       TEXT,
    track        TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN
                 ('queued', 'running', 'succeeded', 'partial', 'failed', 'refused')),
    reason       TEXT,
    -- The target nodes; then, per node, {"outcome": "ok" | "refused" | "failed", "reason",
    -- "report"}.
    nodes        TEXT[]      NOT NULL DEFAULT '{}',
    results      JSONB       NOT NULL DEFAULT '{}',
    created_by   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ,
    CHECK ((state IN ('queued', 'running')) = (finished_at IS NULL))
);
CREATE INDEX hq_distribution_jobs_recent ON hq_distribution_jobs (created_at DESC);

-- Every refused request or command: who, what, why.
CREATE TABLE hq_auth_decisions (
    id          BIGSERIAL   PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    subject     TEXT,
    decision    TEXT        NOT NULL DEFAULT 'refused' CHECK (decision = 'refused'),
    reason      TEXT        NOT NULL
);

-- Agents' heartbeats.
CREATE TABLE hq_validator_heartbeats (
    id          BIGSERIAL   PRIMARY KEY,
    node_id     TEXT        NOT NULL REFERENCES hq_nodes (node_id),
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    detail      JSONB       NOT NULL DEFAULT '{}'
);
CREATE INDEX hq_validator_heartbeats_latest ON hq_validator_heartbeats (node_id, at DESC);

-- Alert rules and the alerts they fired. An alert is open until `resolved_at`.
CREATE TABLE hq_alert_rules (
    name         TEXT    PRIMARY KEY,
    description  TEXT    NOT NULL,
    severity     TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    enabled      BOOLEAN NOT NULL DEFAULT true
);
INSERT INTO hq_alert_rules (name, description, severity) VALUES
    ('missed_heartbeat', 'a node sent no heartbeat within the stale threshold', 'warning'),
    ('digest_mismatch', 'a node runs another digest than the one HQ pinned', 'critical'),
    ('refused_command', 'a distribution or pull command was refused', 'warning');

CREATE TABLE hq_alerts (
    id           BIGSERIAL   PRIMARY KEY,
    rule         TEXT        NOT NULL REFERENCES hq_alert_rules (name),
    node_id      TEXT,
    subject      TEXT,
    detail       JSONB       NOT NULL DEFAULT '{}',
    fired_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at  TIMESTAMPTZ
);
-- A report fires once per command (its nonce), though it reaches HQ twice: as the agent's
-- answer to the pull command and in its own verify-deployment request.
CREATE UNIQUE INDEX hq_alerts_one_per_report ON hq_alerts (rule, node_id, (detail->>'nonce'))
    WHERE detail ? 'nonce';
-- One open missed_heartbeat alert per node: an episode fires once.
CREATE UNIQUE INDEX hq_alerts_one_open_missed_heartbeat ON hq_alerts (node_id)
    WHERE rule = 'missed_heartbeat' AND resolved_at IS NULL;

-- The audit log: every action, append-only. The database refuses to change or remove a row.
CREATE TABLE hq_audit_log (
    id       BIGSERIAL   PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor    TEXT        NOT NULL,
    action   TEXT        NOT NULL,
    subject  TEXT,
    detail   JSONB       NOT NULL DEFAULT '{}'
);

CREATE FUNCTION hq_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hq_audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER hq_audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON hq_audit_log
    FOR EACH ROW EXECUTE FUNCTION hq_audit_log_append_only();

CREATE TRIGGER hq_audit_log_no_truncate
    BEFORE TRUNCATE ON hq_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION hq_audit_log_append_only();
