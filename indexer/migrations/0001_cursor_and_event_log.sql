-- Where the indexer stands on which chain, and every contract event it has seen.

-- One row: the chain (by genesis hash) and the last finalized block fully written.
CREATE TABLE chain_cursor (
    id            BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    genesis_hash  BYTEA   NOT NULL CHECK (length(genesis_hash) = 32),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    block_hash    BYTEA   NOT NULL CHECK (length(block_hash) = 32)
);

-- The raw log: one row per `Contracts::ContractEmitted` of a deployed contract.
CREATE TABLE contract_events (
    block_hash    BYTEA   NOT NULL CHECK (length(block_hash) = 32),
    event_index   INTEGER NOT NULL CHECK (event_index >= 0),
    block_number  BIGINT  NOT NULL CHECK (block_number >= 0),
    contract      BYTEA   NOT NULL CHECK (length(contract) = 32),
    signature     BYTEA   CHECK (length(signature) = 32),
    data          BYTEA   NOT NULL,
    PRIMARY KEY (block_hash, event_index)
);

CREATE INDEX contract_events_by_block ON contract_events (block_number);
CREATE INDEX contract_events_by_signature ON contract_events (signature, block_number);
