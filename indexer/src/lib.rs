//! The SDV indexer: finalized contract events into PostgreSQL.
//!
//! [`store`] writes a batch of blocks' events, their typed projection ([`project`]) and moves
//! the cursor in one transaction, so a crash loses and duplicates nothing.

pub mod api;
pub mod follow;
pub mod live;
pub mod project;
pub mod store;

use sdv_chain::{AccountId, Deployment};

/// The database migrations, embedded in the binary (versions 1 to 99; the relayer's outbox,
/// the storage service and the notification service number theirs from 100, 200 and 300, so
/// they can share one database).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the indexer's migrations to a database that other services may share: the versions
/// of theirs are not an error.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

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
    /// An event carries the signature topic of a DocumentNFT event but does not decode as that
    /// event: the contract and the shared types disagree on its layout.
    #[error("event {index} of block {block} does not decode as {event}: {source}")]
    Decode {
        /// The block number.
        block: u32,
        /// The event's index in the block.
        index: u32,
        /// The event type its signature topic names.
        event: &'static str,
        /// The decoding error.
        #[source]
        source: codec::Error,
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

/// Deletes everything indexed (every table but the migrations' own), for a database that
/// mirrored a chain that was replaced. The next run starts from block 0.
pub async fn reset(pool: &sqlx::PgPool) -> Result<()> {
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT quote_ident(tablename) FROM pg_tables
         WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await?;
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.into_iter().map(|(t,)| t).collect();
    sqlx::query(&format!("TRUNCATE {}", names.join(", ")))
        .execute(pool)
        .await?;
    Ok(())
}

/// The contracts the indexer follows, by role; a role left `None` is neither stored nor projected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// ValidatorGovernance.
    pub governance: Option<AccountId>,
    /// DocumentNFT.
    pub document_nft: Option<AccountId>,
    /// TeamVault.
    pub team_vault: Option<AccountId>,
    /// GuardianRecovery.
    pub guardian_recovery: Option<AccountId>,
}

impl Watched {
    /// The four contracts of a deployment file written by `./dev up` (those it names).
    pub fn from_deployment(deployment: &Deployment) -> Self {
        let address = |name: &str| deployment.address(name).ok().cloned();
        Self {
            governance: address("validator_governance"),
            document_nft: address("document_nft"),
            team_vault: address("team_vault"),
            guardian_recovery: address("guardian_recovery"),
        }
    }

    /// The addresses whose events are kept.
    pub fn addresses(&self) -> Vec<AccountId> {
        [
            &self.governance,
            &self.document_nft,
            &self.team_vault,
            &self.guardian_recovery,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// The result type of the indexer.
pub type Result<T, E = Error> = core::result::Result<T, E>;
