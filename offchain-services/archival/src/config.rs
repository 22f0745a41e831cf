//! Configuration, from the environment.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `DATABASE_URL` | (required) | PostgreSQL, shared with the relayer's outbox |
//! | `SDV_DEPLOYMENT` | (required) | the deployment file `./dev up` writes |
//! | `SDV_NODE_URL` | the deployment's | the node's RPC endpoint |
//! | `SDV_INDEXER_URL` | `http://127.0.0.1:8700` | the indexer's API |
//! | `SDV_S3_ENDPOINT`, `SDV_S3_REGION`, `SDV_S3_BUCKET`, `SDV_S3_ACCESS_KEY_ID`, `SDV_S3_SECRET_ACCESS_KEY` | as `sdv-storage` | where the ciphertext is |
//! | `SDV_STORAGE_ATTESTOR` | ValidatorGovernance's | the account whose relayer records replicas |
//! | `SDV_ARWEAVE_LISTEN` | `127.0.0.1:8950` | the Arweave integration's API |
//! | `SDV_IPFS_PINNING_LISTEN` | `127.0.0.1:8920` | the IPFS pinning service's API |
//! | `SDV_ARWEAVE_URL` | `http://127.0.0.1:1984` | the Arweave gateway (arlocal locally) |
//! | `SDV_ARWEAVE_WALLET_FILE` | (required) | the wallet's JWK (kept secret; `sdv-archival keygen` makes one) |
//! | `SDV_ARWEAVE_BUNDLE_INTERVAL_SECS` | 900 | how often queued small documents are bundled |
//! | `SDV_ARWEAVE_CONFIRMATIONS` | 10 | confirmations after which a copy counts as permanent |
//! | `SDV_IPFS_API_URL` | `http://127.0.0.1:5001` | the IPFS node's RPC API |
//! | `SDV_IPFS_VERIFY_INTERVAL_SECS` | 86400 | how often every pin is checked (pinned, retrievable, right hash) |
//! | `SDV_IPFS_GC_INTERVAL_SECS` | 3600 | how often the node's unpinned blocks are collected |
//! | `SDV_IPFS_TIMEOUT_SECS` | 60 | how long a read from the node may stall |
//! | `SDV_ARCHIVAL_POLL_MS` | 5000 | how often the indexer is asked for new work and queued work retried |
//! | `SDV_ARCHIVAL_RETRY_MAX_MS` | 600000 | the longest wait between two attempts (from 5 s, doubling) |

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use sdv_chain::{AccountId, Deployment};
use sdv_config::{env_or, env_parse, Secret};
use sdv_storage::s3::S3Config;

/// What the archival services need to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL.
    pub database_url: Secret,
    /// The node's RPC endpoint.
    pub node_url: String,
    /// ValidatorGovernance's address.
    pub governance: AccountId,
    /// DocumentNFT's address.
    pub document_nft: AccountId,
    /// The indexer's API, without a trailing slash.
    pub indexer_url: String,
    /// The bucket holding `docs/{sha256}`.
    pub s3: S3Config,
    /// The storage attestor, when configured (else ValidatorGovernance's).
    pub attestor: Option<AccountId>,
    /// Where the Arweave integration's API listens.
    pub arweave_listen: SocketAddr,
    /// Where the IPFS pinning service's API listens.
    pub ipfs_listen: SocketAddr,
    /// The Arweave gateway.
    pub arweave_url: String,
    /// The wallet's JWK file.
    pub wallet_file: PathBuf,
    /// How often queued small documents are bundled.
    pub bundle_interval: Duration,
    /// Confirmations after which an Arweave copy is recorded as permanent.
    pub confirmations: u64,
    /// The IPFS node's RPC API.
    pub ipfs_api_url: String,
    /// How often every pin is verified.
    pub verify_interval: Duration,
    /// How often unpinned blocks are garbage-collected.
    pub gc_interval: Duration,
    /// How long a read from the IPFS node may stall.
    pub ipfs_timeout: Duration,
    /// How often new work is looked for and queued work retried.
    pub poll: Duration,
    /// The longest wait between two attempts of failing work, in milliseconds.
    pub retry_max_ms: i64,
}

fn listen(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    env_or(name, default)
        .parse()
        .with_context(|| format!("{name} is not an address like {default}"))
}

fn secs(name: &str, default: u64) -> anyhow::Result<Duration> {
    let secs: u64 = env_parse(name, default)?;
    anyhow::ensure!(secs > 0, "{name} must be at least 1 second");
    Ok(Duration::from_secs(secs))
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        let deployment_path = std::env::var_os("SDV_DEPLOYMENT")
            .map(PathBuf::from)
            .context("SDV_DEPLOYMENT is not set (the deployment file ./dev up writes)")?;
        let deployment = Deployment::load(&deployment_path)
            .with_context(|| format!("reading {}", deployment_path.display()))?;
        let node_url = std::env::var("SDV_NODE_URL").unwrap_or_else(|_| deployment.rpc_url.clone());
        let attestor = match std::env::var("SDV_STORAGE_ATTESTOR") {
            Ok(text) => Some(sdv_storage::parse_account(&text).with_context(|| {
                format!("SDV_STORAGE_ATTESTOR: {text:?} is not an account (SS58 or 64 hex digits)")
            })?),
            Err(_) => None,
        };
        let poll_ms: u64 = env_parse("SDV_ARCHIVAL_POLL_MS", 5000)?;
        Ok(Self {
            database_url: Secret::require("DATABASE_URL")?,
            node_url,
            governance: deployment.address("validator_governance")?.clone(),
            document_nft: deployment.address("document_nft")?.clone(),
            indexer_url: trimmed(env_or("SDV_INDEXER_URL", "http://127.0.0.1:8700")),
            s3: S3Config::from_env()?,
            attestor,
            arweave_listen: listen("SDV_ARWEAVE_LISTEN", "127.0.0.1:8950")?,
            ipfs_listen: listen("SDV_IPFS_PINNING_LISTEN", "127.0.0.1:8920")?,
            arweave_url: trimmed(env_or("SDV_ARWEAVE_URL", "http://127.0.0.1:1984")),
            wallet_file: std::env::var_os("SDV_ARWEAVE_WALLET_FILE")
                .map(PathBuf::from)
                .context(
                    "SDV_ARWEAVE_WALLET_FILE is not set (a JWK file; `sdv-archival keygen FILE` makes one)",
                )?,
            bundle_interval: secs("SDV_ARWEAVE_BUNDLE_INTERVAL_SECS", 900)?,
            confirmations: env_parse("SDV_ARWEAVE_CONFIRMATIONS", 10)?,
            ipfs_api_url: trimmed(env_or("SDV_IPFS_API_URL", "http://127.0.0.1:5001")),
            verify_interval: secs("SDV_IPFS_VERIFY_INTERVAL_SECS", 86_400)?,
            gc_interval: secs("SDV_IPFS_GC_INTERVAL_SECS", 3600)?,
            ipfs_timeout: secs("SDV_IPFS_TIMEOUT_SECS", 60)?,
            poll: Duration::from_millis(poll_ms.max(100)),
            retry_max_ms: env_parse("SDV_ARCHIVAL_RETRY_MAX_MS", 600_000)?,
        })
    }
}

fn trimmed(url: String) -> String {
    url.trim_end_matches('/').to_owned()
}
