//! The SDV indexer: finalized contract events into PostgreSQL.
//!
//! [`store`] writes a batch of blocks' events and moves the cursor in one transaction, so a
//! crash loses and duplicates nothing.

pub mod follow;
pub mod store;

/// The database migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// What can go wrong in the indexer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database refused a statement or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The node could not be read.
    #[error("chain: {0}")]
    Chain(#[from] sdv_chain::Error),
    /// The database mirrors another chain than the node's.
    #[error(
        "the database indexes chain {recorded} but the node runs chain {node}: \
         point the indexer at a fresh database, or reset it explicitly"
    )]
    GenesisMismatch {
        /// The genesis hash recorded in the database.
        recorded: String,
        /// The node's genesis hash.
        node: String,
    },
    /// The node runs a chain with the same genesis whose history differs from the database's:
    /// a fresh dev chain (every `--dev` chain has the same genesis hash).
    #[error(
        "the node's block {number} is not the block {recorded} the database indexed: the chain \
         was reset; point the indexer at a fresh database, or reset it explicitly"
    )]
    ChainReplaced {
        /// The cursor's block number.
        number: u32,
        /// The block hash recorded there.
        recorded: String,
    },
}

/// The result type of the indexer.
pub type Result<T, E = Error> = core::result::Result<T, E>;
