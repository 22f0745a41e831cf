//! Configuration from the environment, with loopback defaults.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `DATABASE_URL` | PostgreSQL (shared with the relayer's outbox) | required |
//! | `SDV_DEPLOYMENT` | the deployment file (contract addresses, node URL) | required |
//! | `SDV_NODE_URL` | the node's WebSocket URL | the deployment's |
//! | `SDV_INDEXER_URL` | the indexer's query API | `http://127.0.0.1:8700` |
//! | `SDV_GATEWAY_LISTEN` | the upload gateway | `127.0.0.1:9015` |
//! | `SDV_STORAGE_LISTEN` | the storage service | `127.0.0.1:8900` |
//! | `SDV_COMPLIANCE_LISTEN` | the compliance API | `127.0.0.1:8100` |
//! | `SDV_S3_ENDPOINT`, `SDV_S3_REGION`, `SDV_S3_BUCKET` | the S3 server | `http://127.0.0.1:3900`, `garage`, `jil-sdv` |
//! | `SDV_S3_ACCESS_KEY_ID`, `SDV_S3_SECRET_ACCESS_KEY` (or `_FILE`) | its key | required |
//! | `SDV_S3_PART_MB` | the multipart part size, independent of the 5 MB chunk | 16 |
//! | `SDV_S3_CONCURRENCY` | parts stored at once | 4 |
//! | `SDV_STORAGE_SPOOL` | where chunks wait until their part is stored | `$TMPDIR/sdv-storage-spool` |
//! | `SDV_STORAGE_ATTESTOR` | the storage attestor's account (its relayer signs the mints) | the role's holder in ValidatorGovernance |
//! | `SDV_RETENTION_EXECUTOR` | the retention executor's account | the role's holder in ValidatorGovernance |
//! | `SDV_RECOVERY_PUBLIC_KEY` | the recovery key's X25519 public key (hex) every data key is also wrapped to: the key in `sdv-recovery`'s token (`sdv-recovery public-key`) | that of `SDV_RECOVERY_KEY_FILE` |
//! | `SDV_RECOVERY_KEY_FILE` | a recovery key as a key file (X25519 secret, hex; made when missing), for a gateway run without a token (tests, benchmarks) | none |
//! | `SDV_NOTIFY_URL`, `SDV_NOTIFY_API_KEY` (or `_FILE`) | the notification service | `http://127.0.0.1:8400`, required |
//! | `SDV_RETENTION_INTERVAL_MS` | how often the retention scheduler runs | 60000 |
//! | `SDV_SESSION_CHECK_MS` | how often sessions of revoked wallets are ended | 5000 |
//! | `SDV_IPFS_API_URL` | the IPFS node reads fall back to when S3 is unreachable | none (no IPFS fallback) |
//! | `SDV_ARWEAVE_URL` | the Arweave gateway reads fall back to after IPFS | none (no Arweave fallback) |
//! | `SDV_FALLBACK_TIMEOUT_SECS` | how long a fallback read may take | 60 |

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use sdv_chain::{AccountId, Deployment};
use sdv_config::{env_or, env_parse, Secret};

use crate::s3::S3Config;

/// The storage services' configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL.
    pub database_url: Secret,
    /// The node.
    pub node_url: String,
    /// ValidatorGovernance.
    pub governance: AccountId,
    /// DocumentNFT.
    pub document_nft: AccountId,
    /// TeamVault.
    pub team_vault: AccountId,
    /// The indexer's query API.
    pub indexer_url: String,
    /// The upload gateway's address.
    pub gateway_listen: SocketAddr,
    /// The storage service's address.
    pub storage_listen: SocketAddr,
    /// The compliance API's address.
    pub compliance_listen: SocketAddr,
    /// S3.
    pub s3: S3Config,
    /// Multipart part size in bytes.
    pub part_size: u64,
    /// Parts stored at once (over all uploads).
    pub s3_concurrency: usize,
    /// Where chunks wait.
    pub spool_dir: PathBuf,
    /// The storage attestor (`None`: governance's role holder).
    pub attestor: Option<AccountId>,
    /// The retention executor (`None`: governance's role holder).
    pub executor: Option<AccountId>,
    /// The recovery key's X25519 public key.
    pub recovery_public_key: Option<[u8; 32]>,
    /// How often revoked wallets' sessions are looked for (ms).
    pub session_check_ms: u64,
    /// The notification service.
    pub notify_url: String,
    /// Its API key.
    pub notify_api_key: Secret,
    /// How often the retention scheduler runs (ms).
    pub retention_interval_ms: u64,
    /// The IPFS node's RPC API, for reads when S3 is unreachable.
    pub ipfs_api_url: Option<String>,
    /// The Arweave gateway, for reads when S3 and IPFS fail.
    pub arweave_url: Option<String>,
    /// How long a fallback read may take.
    pub fallback_timeout: std::time::Duration,
}

fn account(name: &str) -> anyhow::Result<Option<AccountId>> {
    let Ok(text) = std::env::var(name) else {
        return Ok(None);
    };
    crate::parse_account(&text)
        .map(Some)
        .with_context(|| format!("{name}: {text:?} is not an account (SS58 or 64 hex digits)"))
}

fn listen(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    env_or(name, default)
        .parse()
        .with_context(|| format!("{name} is not an address like 127.0.0.1:9015"))
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
        let part_mb: u64 = env_parse("SDV_S3_PART_MB", 16)?;
        anyhow::ensure!(
            part_mb >= 5,
            "SDV_S3_PART_MB must be at least 5 (S3's smallest part)"
        );
        let recovery_public_key = match (
            std::env::var("SDV_RECOVERY_PUBLIC_KEY"),
            std::env::var_os("SDV_RECOVERY_KEY_FILE").map(PathBuf::from),
        ) {
            (Ok(text), _) => Some(
                crate::parse_hash(&text).context("SDV_RECOVERY_PUBLIC_KEY is not 64 hex digits")?,
            ),
            (Err(_), Some(path)) => {
                use sdv_storage_client::envelope::{
                    generate_key_file, KeyFileRecoveryKey, RecoveryKey,
                };
                let public = if path.exists() {
                    KeyFileRecoveryKey::open(&path)?.public_key()
                } else {
                    generate_key_file(&path)?
                };
                Some(public.to_bytes())
            }
            (Err(_), None) => None,
        };
        Ok(Self {
            database_url: Secret::require("DATABASE_URL")?,
            node_url,
            governance: deployment.address("validator_governance")?.clone(),
            document_nft: deployment.address("document_nft")?.clone(),
            team_vault: deployment.address("team_vault")?.clone(),
            indexer_url: env_or("SDV_INDEXER_URL", "http://127.0.0.1:8700")
                .trim_end_matches('/')
                .to_owned(),
            gateway_listen: listen("SDV_GATEWAY_LISTEN", "127.0.0.1:9015")?,
            storage_listen: listen("SDV_STORAGE_LISTEN", "127.0.0.1:8900")?,
            compliance_listen: listen("SDV_COMPLIANCE_LISTEN", "127.0.0.1:8100")?,
            s3: S3Config::from_env()?,
            part_size: part_mb * sdv_storage_client::protocol::MB,
            s3_concurrency: env_parse("SDV_S3_CONCURRENCY", 4)?,
            spool_dir: std::env::var_os("SDV_STORAGE_SPOOL").map_or_else(
                || std::env::temp_dir().join("sdv-storage-spool"),
                PathBuf::from,
            ),
            attestor: account("SDV_STORAGE_ATTESTOR")?,
            executor: account("SDV_RETENTION_EXECUTOR")?,
            recovery_public_key,
            session_check_ms: env_parse("SDV_SESSION_CHECK_MS", 5000)?,
            notify_url: env_or("SDV_NOTIFY_URL", "http://127.0.0.1:8400")
                .trim_end_matches('/')
                .to_owned(),
            notify_api_key: Secret::require("SDV_NOTIFY_API_KEY")?,
            retention_interval_ms: env_parse("SDV_RETENTION_INTERVAL_MS", 60_000)?,
            ipfs_api_url: std::env::var("SDV_IPFS_API_URL").ok(),
            arweave_url: std::env::var("SDV_ARWEAVE_URL").ok(),
            fallback_timeout: std::time::Duration::from_secs(env_parse(
                "SDV_FALLBACK_TIMEOUT_SECS",
                60,
            )?),
        })
    }
}
