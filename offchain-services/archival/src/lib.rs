//! The archival services: the Arweave integration (8950) and IPFS backup pinning (8920), in one
//! process.
//!
//! Both follow the chain as the indexer mirrors it and record what they did on-chain in the
//! document's replicas, through the storage attestor's relayer outbox:
//!
//! - [`arweave`]: a document whose owner asked for an Arweave copy (Premium and Institutional,
//!   on request; `Permanent` retention asks for one) is copied from S3 to Arweave. From 256 KB
//!   on it is a transaction of its own; smaller ones wait for the next bundle (every 15
//!   minutes), an ANS-104 bundle transaction whose data items are signed one by one. The
//!   transaction id (and the data item's id) is recorded once the gateway took it, and the copy
//!   is recorded permanent once it is confirmed deep enough. The service never mines.
//! - [`ipfs`]: every document the owner's tier replicates to IPFS (Premium and Institutional,
//!   automatically) is added to the IPFS node with fixed CID parameters, so its CID is
//!   reproducible, pinned, and its CID recorded. Every 24 hours each pin is checked (pinned,
//!   retrievable, the right sha256) and pinned again when it is not; a deleted document is
//!   unpinned and the node's unpinned blocks are collected on a schedule.
//!
//! Work survives everything: it is queued in PostgreSQL, retried with backoff while the gateway,
//! the IPFS node or S3 is down, and its state (attempts, last error, next attempt) is visible
//! in the APIs ([`api`]).

pub mod api;
pub mod arweave;
pub mod config;
pub mod ipfs;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use sdv_arweave::{client::Gateway, wallet::Wallet};
use sdv_chain::{AccountId, CallData, Chain, Governance};
use sdv_ipfs::IpfsClient;
use sdv_storage::s3::Bucket;
use sdv_types::document::Replica;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

pub use crate::config::Config;

/// Applies the archival migrations (versions 300 to 399) and the relayer outbox's (replicas are
/// recorded through it) to a database other services may share.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sdv_relayer::outbox::migrate(pool).await?;
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// What the workers and handlers share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    pool: PgPool,
    bucket: Bucket,
    http: reqwest::Client,
    gateway: Gateway,
    wallet: Wallet,
    ipfs: IpfsClient,
    attestor: AccountId,
}

impl AppState {
    /// Loads the wallet, finds the storage attestor and builds the state.
    pub async fn new(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let jwk = std::fs::read_to_string(&config.wallet_file).with_context(|| {
            format!(
                "reading the Arweave wallet {}",
                config.wallet_file.display()
            )
        })?;
        let wallet = Wallet::from_jwk(&jwk).with_context(|| {
            format!(
                "{} is not an Arweave wallet (a JWK)",
                config.wallet_file.display()
            )
        })?;
        let attestor = match &config.attestor {
            Some(account) => account.clone(),
            None => {
                let chain = Chain::connect(&config.node_url).await?;
                Governance::new(chain, config.governance.clone())
                    .role(sdv_types::governance::Role::StorageAttestor)
                    .await?
                    .context(
                        "ValidatorGovernance names no storage attestor and none is configured",
                    )?
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                bucket: Bucket::new(&config.s3),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                gateway: Gateway::new(&config.arweave_url)
                    .context("SDV_ARWEAVE_URL is not a URL")?,
                ipfs: IpfsClient::new(&config.ipfs_api_url)
                    .context("SDV_IPFS_API_URL is not a URL")?,
                wallet,
                attestor,
                config,
                pool,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The database.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The bucket holding the ciphertexts.
    pub fn bucket(&self) -> &Bucket {
        &self.inner.bucket
    }

    /// The Arweave gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.inner.gateway
    }

    /// The wallet that signs and pays.
    pub fn wallet(&self) -> &Wallet {
        &self.inner.wallet
    }

    /// The IPFS node.
    pub fn ipfs(&self) -> &IpfsClient {
        &self.inner.ipfs
    }

    /// Every document of the indexer's work list `need` (`arweave`, `ipfs`, `deleted`, ...).
    pub async fn indexer_list(&self, need: &str) -> anyhow::Result<Vec<IndexedDocument>> {
        Ok(self.indexer_changes(need, None).await?.0)
    }

    /// The documents of the indexer's work list `need` changed after block `since` (all when
    /// `None`), and the block the indexer answered at: the cursor of the next call.
    pub async fn indexer_changes(
        &self,
        need: &str,
        since: Option<i64>,
    ) -> anyhow::Result<(Vec<IndexedDocument>, i64)> {
        const PAGE: usize = 500;
        let mut documents = Vec::new();
        let mut after = -1_i64;
        let mut at_block = None;
        loop {
            let url = format!(
                "{}/documents/replication?need={need}&after={after}&limit={PAGE}&updated_after_block={}",
                self.config().indexer_url,
                since.unwrap_or(-1)
            );
            let body: Value = self
                .inner
                .http
                .get(&url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .with_context(|| format!("asking the indexer for {need} work"))?
                .json()
                .await
                .context("reading the indexer's answer")?;
            // The first page's block: what later pages add changed after it and is seen again.
            let at = *at_block.get_or_insert(body["at_block"].as_i64().unwrap_or(-1));
            let items = body["data"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let count = items.len();
            for item in items {
                let document = IndexedDocument::from_json(&item)
                    .with_context(|| format!("the indexer's document {item}"))?;
                after = document.token_id as i64;
                documents.push(document);
            }
            if count < PAGE {
                return Ok((documents, at));
            }
        }
    }

    /// The cursor `name` (the indexer's block of the last complete pass), if any.
    pub async fn cursor(&self, name: &str) -> anyhow::Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT block FROM archival_cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Moves the cursor `name` to `block`.
    pub async fn set_cursor(&self, name: &str, block: i64) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO archival_cursors (name, block) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET block = EXCLUDED.block",
        )
        .bind(name)
        .bind(block)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Enqueues `record_replica(token_id, replica)` in the attestor's outbox once under `key`;
    /// false when it was enqueued before.
    pub async fn record_replica(
        &self,
        key: &str,
        token_id: u64,
        replica: &Replica,
    ) -> anyhow::Result<bool> {
        let mut conn = self.pool().acquire().await?;
        let call = CallData::message("record_replica")
            .arg(&token_id)
            .arg(replica);
        sdv_relayer::outbox::enqueue(
            &mut conn,
            key,
            &self.inner.attestor,
            &self.config().document_nft,
            &call.into_bytes(),
        )
        .await
        .context("enqueueing record_replica in the outbox")
    }

    /// The ciphertext `docs/{sha256}` from S3, checked against its hash.
    pub async fn ciphertext(&self, sha256: &[u8; 32]) -> anyhow::Result<Vec<u8>> {
        let key = sdv_storage::s3::doc_key(sha256);
        let (size, body) = self
            .bucket()
            .get(&key)
            .await?
            .with_context(|| format!("S3 has no object {key}"))?;
        let data = body
            .collect()
            .await
            .with_context(|| format!("reading {key} from S3"))?
            .into_bytes()
            .to_vec();
        anyhow::ensure!(
            data.len() as u64 == size && Sha256::digest(&data).as_slice() == sha256,
            "the S3 object {key} does not match its sha256"
        );
        Ok(data)
    }
}

/// A document as the indexer's work lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDocument {
    /// The token.
    pub token_id: u64,
    /// The ciphertext's sha256.
    pub sha256: [u8; 32],
    /// The ciphertext's size.
    pub size: u64,
}

impl IndexedDocument {
    fn from_json(json: &Value) -> Option<Self> {
        Some(Self {
            token_id: json["token_id"].as_u64()?,
            sha256: sdv_storage::parse_hash(json["sha256"].as_str()?)?,
            size: json["size"].as_u64()?,
        })
    }
}

/// A 32-byte id or hash as the database holds it.
pub fn hash32(bytes: &[u8]) -> anyhow::Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).context("a stored id or hash is not 32 bytes")
}

/// Milliseconds since the Unix epoch, by this machine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `task` when it is due: `interval` after it last ran (the first time: `interval` after
/// the service first started). The time it ran is kept in the database, so a restart does not
/// reset the schedule.
pub async fn due(pool: &PgPool, task: &str, interval: Duration) -> anyhow::Result<bool> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO archival_schedule (task, last_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(task)
    .bind(now)
    .execute(pool)
    .await?;
    let ran =
        sqlx::query("UPDATE archival_schedule SET last_ms = $2 WHERE task = $1 AND last_ms <= $3")
            .bind(task)
            .bind(now)
            .bind(now - interval.as_millis() as i64)
            .execute(pool)
            .await?
            .rows_affected();
    Ok(ran == 1)
}

/// Makes `task` due at once (its work could not wait for the next interval).
pub async fn make_due(pool: &PgPool, task: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE archival_schedule SET last_ms = 0 WHERE task = $1")
        .bind(task)
        .execute(pool)
        .await?;
    Ok(())
}

/// A short, single-line description of an error chain, for the APIs.
pub fn describe(error: &anyhow::Error) -> String {
    format!("{error:#}")
}
