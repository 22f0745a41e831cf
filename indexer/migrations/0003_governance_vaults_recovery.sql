-- The typed projection of ValidatorGovernance's, TeamVault's and GuardianRecovery's events,
-- written in the transaction that writes the raw events and moves the cursor.
--
-- Accounts and hashes are raw bytes; times are milliseconds since the Unix epoch, taken from
-- the block that carried the event. States that depend on the clock (ready, expired, ...) are
-- derived when a query runs, from these columns, as the contracts derive them.

-- The time of the cursor's block: the chain's clock as far as the database knows it, against
-- which the query API derives states that depend on time.
ALTER TABLE chain_cursor ADD COLUMN block_time_ms BIGINT CHECK (block_time_ms >= 0);

-- ValidatorGovernance ---------------------------------------------------------------------------

-- The current validator set.
CREATE TABLE validators (
    account      BYTEA  PRIMARY KEY CHECK (length(account) = 32),
    since_block  BIGINT NOT NULL CHECK (since_block >= 0)
);

CREATE TABLE governance_proposals (
    id             BIGINT   PRIMARY KEY CHECK (id >= 0),
    proposer       BYTEA    NOT NULL CHECK (length(proposer) = 32),
    -- The proposal kind's name (`set_tier_params`, `emergency_recovery`, ...).
    kind           TEXT     NOT NULL,
    -- The kind's arguments.
    detail         JSONB    NOT NULL,
    threshold      SMALLINT NOT NULL CHECK (threshold > 0),
    created_ms     BIGINT   NOT NULL CHECK (created_ms >= 0),
    eta_ms         BIGINT   NOT NULL CHECK (eta_ms >= created_ms),
    deadline_ms    BIGINT   NOT NULL CHECK (deadline_ms >= eta_ms),
    -- Votes of the current round.
    yes            SMALLINT NOT NULL CHECK (yes >= 0),
    no             SMALLINT NOT NULL CHECK (no >= 0),
    round          SMALLINT NOT NULL CHECK (round >= 0),
    contested_ms   BIGINT   CHECK (contested_ms >= 0),
    executed_ms    BIGINT   CHECK (executed_ms >= 0),
    executor       BYTEA    CHECK (length(executor) = 32),
    created_block  BIGINT   NOT NULL CHECK (created_block >= 0),
    updated_block  BIGINT   NOT NULL CHECK (updated_block >= created_block),
    CHECK ((executed_ms IS NULL) = (executor IS NULL))
);

CREATE INDEX governance_proposals_open ON governance_proposals (id) WHERE executed_ms IS NULL;

-- Every vote, by round (a contest starts a new round; earlier votes no longer count).
CREATE TABLE governance_votes (
    proposal_id   BIGINT   NOT NULL,
    round         SMALLINT NOT NULL CHECK (round >= 0),
    validator     BYTEA    NOT NULL CHECK (length(validator) = 32),
    approve       BOOLEAN  NOT NULL,
    voted_ms      BIGINT   NOT NULL CHECK (voted_ms >= 0),
    block_number  BIGINT   NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (proposal_id, round, validator)
);

-- Contests of emergency recovery petitions; `round` is the round each one started.
CREATE TABLE governance_contests (
    proposal_id   BIGINT   NOT NULL,
    round         SMALLINT NOT NULL CHECK (round > 0),
    contester     BYTEA    NOT NULL CHECK (length(contester) = 32),
    reason        TEXT     NOT NULL,
    contested_ms  BIGINT   NOT NULL CHECK (contested_ms >= 0),
    block_number  BIGINT   NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (proposal_id, round)
);

-- The parameters governance holds, by name (`tier_params/free`, `replication/premium`,
-- `providers`, `role/storage_attestor`, `release_proposer/<account hex>`,
-- `contract/document_nft`, `code/team_vault`).
CREATE TABLE parameters (
    name           TEXT   PRIMARY KEY,
    value          JSONB  NOT NULL,
    updated_ms     BIGINT NOT NULL CHECK (updated_ms >= 0),
    updated_block  BIGINT NOT NULL CHECK (updated_block >= 0)
);

-- Approved releases; `number` grows per image and track.
CREATE TABLE releases (
    proposal_id   BIGINT  PRIMARY KEY,
    image         TEXT    NOT NULL,
    track         TEXT    NOT NULL CHECK (track IN ('devnet', 'testnet', 'mainnet')),
    number        BIGINT  NOT NULL CHECK (number >= 0),
    tag           TEXT    NOT NULL,
    digest        BYTEA   NOT NULL CHECK (length(digest) = 32),
    approved_ms   BIGINT  NOT NULL CHECK (approved_ms >= 0),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    UNIQUE (image, track, number)
);

-- TeamVault ---------------------------------------------------------------------------------------

CREATE TABLE vaults (
    id                  BIGINT PRIMARY KEY CHECK (id >= 0),
    creator             BYTEA  NOT NULL CHECK (length(creator) = 32),
    created_ms          BIGINT NOT NULL CHECK (created_ms >= 0),
    -- Emergency access granted by a 14-of-20 decision, if any.
    emergency_grantee   BYTEA  CHECK (length(emergency_grantee) = 32),
    emergency_decision  BIGINT CHECK (emergency_decision >= 0),
    created_block       BIGINT NOT NULL CHECK (created_block >= 0),
    updated_block       BIGINT NOT NULL CHECK (updated_block >= created_block)
);

-- Each vault's current admins, in the vault's order, with their last activity (create, propose,
-- vote, veto, execute, check in), as TeamVault counts it.
CREATE TABLE vault_admins (
    vault           BIGINT   NOT NULL,
    position        SMALLINT NOT NULL CHECK (position >= 0),
    admin           BYTEA    NOT NULL CHECK (length(admin) = 32),
    last_active_ms  BIGINT   NOT NULL CHECK (last_active_ms >= 0),
    PRIMARY KEY (vault, admin)
);

CREATE INDEX vault_admins_by_admin ON vault_admins (admin);

CREATE TABLE vault_operations (
    id             BIGINT   PRIMARY KEY CHECK (id >= 0),
    vault          BIGINT   NOT NULL,
    proposer       BYTEA    NOT NULL CHECK (length(proposer) = 32),
    -- The operation's name (`upload`, `share`, `delete`, `add_admin`, ...) and arguments.
    kind           TEXT     NOT NULL,
    detail         JSONB    NOT NULL,
    -- Admins when it was proposed, and the approvals it needs of them.
    admin_count    SMALLINT NOT NULL CHECK (admin_count > 0),
    required       SMALLINT NOT NULL CHECK (required > 0),
    approvals      SMALLINT NOT NULL CHECK (approvals >= 0),
    rejections     SMALLINT NOT NULL CHECK (rejections >= 0),
    proposed_ms    BIGINT   NOT NULL CHECK (proposed_ms >= 0),
    -- End of the timelock once approved.
    eta_ms         BIGINT   CHECK (eta_ms >= proposed_ms),
    vetoed         BOOLEAN  NOT NULL,
    executed_ms    BIGINT   CHECK (executed_ms >= 0),
    executor       BYTEA    CHECK (length(executor) = 32),
    -- The token an executed upload minted.
    token          BIGINT   CHECK (token >= 0),
    created_block  BIGINT   NOT NULL CHECK (created_block >= 0),
    updated_block  BIGINT   NOT NULL CHECK (updated_block >= created_block),
    CHECK ((executed_ms IS NULL) = (executor IS NULL))
);

CREATE INDEX vault_operations_by_vault ON vault_operations (vault, id);
CREATE INDEX vault_operations_open ON vault_operations (eta_ms)
    WHERE executed_ms IS NULL AND NOT vetoed;

CREATE TABLE vault_votes (
    operation_id  BIGINT  NOT NULL,
    admin         BYTEA   NOT NULL CHECK (length(admin) = 32),
    approve       BOOLEAN NOT NULL,
    voted_ms      BIGINT  NOT NULL CHECK (voted_ms >= 0),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (operation_id, admin)
);

CREATE TABLE vault_vetoes (
    operation_id  BIGINT PRIMARY KEY,
    admin         BYTEA  NOT NULL CHECK (length(admin) = 32),
    reason        TEXT   NOT NULL,
    vetoed_ms     BIGINT NOT NULL CHECK (vetoed_ms >= 0),
    block_number  BIGINT NOT NULL CHECK (block_number >= 0)
);

-- GuardianRecovery --------------------------------------------------------------------------------

-- Each user's current guardians, in the user's order.
CREATE TABLE guardians (
    "user"        BYTEA    NOT NULL CHECK (length("user") = 32),
    position      SMALLINT NOT NULL CHECK (position >= 0),
    guardian      BYTEA    NOT NULL CHECK (length(guardian) = 32),
    kind          TEXT     NOT NULL CHECK (kind IN ('user', 'hardware_key', 'custodian')),
    accepted_ms   BIGINT   CHECK (accepted_ms >= 0),
    last_seen_ms  BIGINT   CHECK (last_seen_ms >= 0),
    PRIMARY KEY ("user", guardian)
);

CREATE INDEX guardians_by_guardian ON guardians (guardian);

CREATE TABLE recoveries (
    id             BIGINT PRIMARY KEY CHECK (id >= 0),
    "user"         BYTEA  NOT NULL CHECK (length("user") = 32),
    initiator      BYTEA  NOT NULL CHECK (length(initiator) = 32),
    new_wallet     BYTEA  NOT NULL CHECK (length(new_wallet) = 32),
    initiated_ms   BIGINT NOT NULL CHECK (initiated_ms >= 0),
    -- End of the timelock once the quorum attested.
    eta_ms         BIGINT CHECK (eta_ms >= initiated_ms),
    cancelled_ms   BIGINT CHECK (cancelled_ms >= 0),
    finalized_ms   BIGINT CHECK (finalized_ms >= 0),
    created_block  BIGINT NOT NULL CHECK (created_block >= 0),
    updated_block  BIGINT NOT NULL CHECK (updated_block >= created_block)
);

CREATE INDEX recoveries_by_user ON recoveries ("user", id);

-- Each guardian's latest attestation of a recovery (the initiator's included).
CREATE TABLE recovery_attestations (
    recovery_id   BIGINT NOT NULL,
    guardian      BYTEA  NOT NULL CHECK (length(guardian) = 32),
    attested_ms   BIGINT NOT NULL CHECK (attested_ms >= 0),
    block_number  BIGINT NOT NULL CHECK (block_number >= 0),
    PRIMARY KEY (recovery_id, guardian)
);
