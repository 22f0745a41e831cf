//! The SDV storage services (spec sections 2, 3.1, 6 and 7).
//!
//! One process serves three APIs on their own ports:
//! - the **upload gateway** (9015): login by a signed challenge, and the chunked, resumable
//!   upload protocol of [`sdv_storage_client::protocol`]; tier limits are checked against the
//!   chain before any byte is stored;
//! - the **storage service** (8900): reads of a document by token id for its owner or a reader
//!   it was shared with, checked against the chain state through the indexer, and the objects'
//!   reference counts;
//! - the **compliance API** (8100): the classification rules and the retention floors the
//!   clients apply (the server never sees plaintext).
//!
//! Objects live in S3 under `docs/{sha256}` of the ciphertext, stored once whatever the number
//! of uploads of the same bytes, with a reference count. A verified upload is minted by the
//! storage attestor through the relayer's outbox, enqueued in the same database transaction
//! that records the object. The retention scheduler ([`retention`]) sends the 30-day notices
//! and deletes what is due.

pub mod auth;
pub mod compliance;
pub mod config;
pub mod error;
pub mod fallback;
pub mod objects;
pub mod read;
pub mod retention;
pub mod s3;
pub mod upload;
pub mod vaults;

use std::sync::Arc;

use sdv_chain::{AccountId, Chain, DocumentNft, Governance, TeamVault};
use sqlx::PgPool;

pub use crate::{
    config::Config,
    error::{ApiError, ApiResult},
};

/// Applies the storage service's migrations (versions 200 to 299) and the relayer outbox's
/// (the mints are enqueued in the same database) to a database other services may share.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sdv_relayer::outbox::migrate(pool).await?;
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    attestor: AccountId,
    executor: AccountId,
    pool: PgPool,
    bucket: s3::Bucket,
    contracts: std::sync::RwLock<Contracts>,
    http: reqwest::Client,
    uploads: upload::Uploads,
}

/// The contracts, through one connection to the node (replaced when the node restarts).
#[derive(Clone)]
struct Contracts {
    documents: DocumentNft,
    governance: Governance,
    vaults: TeamVault,
}

impl Contracts {
    async fn connect(config: &Config) -> sdv_chain::Result<Self> {
        let chain = Chain::connect(&config.node_url).await?;
        Ok(Self {
            documents: DocumentNft::new(chain.clone(), config.document_nft.clone()),
            governance: Governance::new(chain.clone(), config.governance.clone()),
            vaults: TeamVault::new(chain, config.team_vault.clone()),
        })
    }
}

impl AppState {
    /// Connects to the node and builds the state.
    pub async fn new(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let contracts = Contracts::connect(&config).await?;
        let role = |configured: &Option<AccountId>, role: sdv_types::governance::Role| {
            let governance = contracts.governance.clone();
            let configured = configured.clone();
            async move {
                match configured {
                    Some(account) => Ok(account),
                    None => governance.role(role).await?.ok_or_else(|| {
                        anyhow::anyhow!(
                            "ValidatorGovernance names no {role:?} and none is configured"
                        )
                    }),
                }
            }
        };
        let attestor = role(
            &config.attestor,
            sdv_types::governance::Role::StorageAttestor,
        )
        .await?;
        let executor = role(
            &config.executor,
            sdv_types::governance::Role::RetentionExecutor,
        )
        .await?;
        let bucket = s3::Bucket::new(&config.s3);
        tokio::fs::create_dir_all(&config.spool_dir).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                uploads: upload::Uploads::new(config.s3_concurrency),
                config,
                attestor,
                executor,
                pool,
                bucket,
                contracts: std::sync::RwLock::new(contracts),
                http: reqwest::Client::new(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The storage attestor, whose relayer mints.
    pub fn attestor(&self) -> &AccountId {
        &self.inner.attestor
    }

    /// The retention executor, whose relayer records notices and deletions.
    pub fn executor(&self) -> &AccountId {
        &self.inner.executor
    }

    /// The database.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The S3 bucket.
    pub fn bucket(&self) -> &s3::Bucket {
        &self.inner.bucket
    }

    fn contracts(&self) -> Contracts {
        self.inner.contracts.read().expect("not poisoned").clone()
    }

    /// DocumentNFT.
    pub fn documents(&self) -> DocumentNft {
        self.contracts().documents
    }

    /// ValidatorGovernance.
    pub fn governance(&self) -> Governance {
        self.contracts().governance
    }

    /// TeamVault.
    pub fn vaults(&self) -> TeamVault {
        self.contracts().vaults
    }

    /// Connects to the node again (after it restarted: a subxt client does not reconnect).
    pub async fn reconnect(&self) -> sdv_chain::Result<()> {
        let contracts = Contracts::connect(&self.inner.config).await?;
        *self.inner.contracts.write().expect("not poisoned") = contracts;
        tracing::info!(node = %self.inner.config.node_url, "reconnected to the node");
        Ok(())
    }

    /// An HTTP client (indexer, notification service).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn uploads(&self) -> &upload::Uploads {
        &self.inner.uploads
    }
}

/// The gateway's routes (port 9015).
pub fn gateway_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(auth::routes())
        .merge(upload::routes())
        .merge(read::routes())
        .route("/health", axum::routing::get(health))
        .fallback(error::not_found)
        .with_state(state)
}

/// The storage service's routes (port 8900).
pub fn storage_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(read::routes())
        .merge(objects::routes())
        .route("/health", axum::routing::get(health))
        .fallback(error::not_found)
        .with_state(state)
}

async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    sqlx::query("SELECT 1")
        .execute(state.pool())
        .await
        .map_err(ApiError::from)?;
    Ok(axum::Json(serde_json::json!({
        "status": "healthy",
        "service": "sdv-storage",
        "bucket": state.bucket().name(),
    })))
}

/// Parses an account given as SS58 or hex (with or without `0x`).
pub fn parse_account(text: &str) -> Option<AccountId> {
    if let Ok(account) = text.parse::<AccountId>() {
        return Some(account);
    }
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .ok()
        .map(AccountId::from)
}

/// Parses a 32-byte hash given as hex (with or without `0x`).
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
