//! Configuration, from the environment. Secrets come from `NAME` or the file named by
//! `NAME_FILE` and are never logged.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `PORT` | 8054 | the port HQ listens on, on `127.0.0.1` |
//! | `SDV_FLEET_HQ_LISTEN` | `127.0.0.1:$PORT` | the full listen address, when set |
//! | `DATABASE_URL` | (required) | PostgreSQL |
//! | `PG_POOL_MAX` | 20 | the database pool's size |
//! | `SIGNING_SECRET` | (required, 16 bytes at least) | the current HMAC key: signs digests and pull commands, verifies agents |
//! | `SIGNING_KEY_ID` | `sdv-hq-signing-key-01` | its id, recorded with each signature |
//! | `SIGNING_SECRET_PREVIOUS`, `SIGNING_KEY_ID_PREVIOUS` | (none) | the key being rotated out: verifies only |
//! | `HQ_ADMIN_API_KEY` | (required, 16 bytes at least) | the operators' `x-api-key` |
//! | `SDV_DEPLOYMENT` | (required) | the deployment file `./dev up` writes (ValidatorGovernance's address) |
//! | `SDV_NODE_URL` | the deployment's | the node's RPC endpoint |
//! | `SDV_FLEET_NODE_TIMEOUT_MS` | 30000 | how long one agent may take to answer a pull command |
//! | `SDV_FLEET_HEARTBEAT_STALE_MS` | 180000 | a node is healthy while its last heartbeat is more recent |
//! | `SDV_FLEET_ALERT_CHECK_MS` | 30000 | how often missed heartbeats are looked for |

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use sdv_chain::{AccountId, Deployment};
use sdv_config::{env_parse, Secret};
use sdv_fleet::{KeyRing, SigningKey};

use crate::{Error, Result};

/// The default port.
pub const DEFAULT_PORT: u16 = 8054;
/// The default id of the current signing key.
pub const DEFAULT_KEY_ID: &str = "sdv-hq-signing-key-01";
/// The shortest admin API key accepted (bytes).
pub const MIN_ADMIN_KEY_LEN: usize = 16;

/// What HQ needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// PostgreSQL.
    pub database_url: Secret,
    /// The pool's size.
    pub pg_pool_max: u32,
    /// The HMAC keys: current first, the previous one (verify only) second.
    pub keys: KeyRing,
    /// The operators' API key.
    pub admin_key: Secret,
    /// The node's RPC endpoint.
    pub node_url: String,
    /// ValidatorGovernance's address.
    pub governance: AccountId,
    /// How long one agent may take to answer a pull command.
    pub node_timeout: Duration,
    /// A node is healthy while its last heartbeat is more recent than this.
    pub heartbeat_stale: Duration,
    /// How often missed heartbeats are looked for.
    pub alert_check: Duration,
}

fn millis(name: &'static str, default: u64) -> Result<Duration> {
    let ms: u64 = env_parse(name, default)?;
    if ms == 0 {
        return Err(Error::Setting {
            name,
            reason: "must be at least 1 ms".into(),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// The key ring of `SIGNING_SECRET` (+ `SIGNING_KEY_ID`) and, when set,
/// `SIGNING_SECRET_PREVIOUS` (+ `SIGNING_KEY_ID_PREVIOUS`).
pub fn key_ring_from_env() -> Result<KeyRing> {
    let current = SigningKey::new(
        std::env::var("SIGNING_KEY_ID").unwrap_or_else(|_| DEFAULT_KEY_ID.into()),
        Secret::require("SIGNING_SECRET")?,
    )?;
    let mut keys = vec![current];
    if let Some(previous) = Secret::from_env("SIGNING_SECRET_PREVIOUS")? {
        let id = std::env::var("SIGNING_KEY_ID_PREVIOUS").map_err(|_| Error::Setting {
            name: "SIGNING_KEY_ID_PREVIOUS",
            reason: "required with SIGNING_SECRET_PREVIOUS".into(),
        })?;
        keys.push(SigningKey::new(id, previous)?);
    }
    Ok(KeyRing::new(keys)?)
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self> {
        let listen = match std::env::var("SDV_FLEET_HQ_LISTEN") {
            Ok(text) => text.parse().map_err(|_| Error::Setting {
                name: "SDV_FLEET_HQ_LISTEN",
                reason: format!("{text:?} is not an address like 127.0.0.1:{DEFAULT_PORT}"),
            })?,
            Err(_) => SocketAddr::from(([127, 0, 0, 1], env_parse("PORT", DEFAULT_PORT)?)),
        };
        let admin_key = Secret::require("HQ_ADMIN_API_KEY")?;
        if admin_key.expose().len() < MIN_ADMIN_KEY_LEN {
            return Err(Error::Setting {
                name: "HQ_ADMIN_API_KEY",
                reason: format!("must be at least {MIN_ADMIN_KEY_LEN} bytes"),
            });
        }
        let deployment_path = std::env::var_os("SDV_DEPLOYMENT")
            .map(PathBuf::from)
            .ok_or(Error::Setting {
                name: "SDV_DEPLOYMENT",
                reason: "not set (the deployment file ./dev up writes)".into(),
            })?;
        let deployment = Deployment::load(&deployment_path)?;
        Ok(Self {
            listen,
            database_url: Secret::require("DATABASE_URL")?,
            pg_pool_max: env_parse("PG_POOL_MAX", 20)?,
            keys: key_ring_from_env()?,
            admin_key,
            node_url: std::env::var("SDV_NODE_URL").unwrap_or_else(|_| deployment.rpc_url.clone()),
            governance: deployment.address("validator_governance")?.clone(),
            node_timeout: millis("SDV_FLEET_NODE_TIMEOUT_MS", 30_000)?,
            heartbeat_stale: millis("SDV_FLEET_HEARTBEAT_STALE_MS", 180_000)?,
            alert_check: millis("SDV_FLEET_ALERT_CHECK_MS", 30_000)?,
        })
    }
}
