//! Configuration from the environment, with defaults that work on loopback.
//!
//! | variable | what | default |
//! | --- | --- | --- |
//! | `DATABASE_URL` (or `_FILE`) | PostgreSQL, shared with the storage services | required |
//! | `SDV_INDEXER_URL` | the indexer API | `http://127.0.0.1:8700` |
//! | `SDV_KEYS_LISTEN` | the key-management API | `127.0.0.1:8935` |
//! | `SDV_CEREMONY_LISTEN` | the recovery ceremony API | `127.0.0.1:8130` |
//! | `SDV_PKCS11_MODULE` | the PKCS#11 module | `/usr/lib/softhsm/libsofthsm2.so` |
//! | `SDV_PKCS11_TOKEN` | the token's label | required |
//! | `SDV_PKCS11_PIN` (or `_FILE`) | the token's user PIN | required |
//! | `SDV_RECOVERY_KEY_LABEL` | the X25519 recovery key's label in the token | `sdv-recovery` |
//! | `SDV_CUSTODIAN_SEAL_LABEL` | the AES key sealing custodian shares | `sdv-custodian-shares` |
//! | `SDV_NOTIFY_URL` | the notification service | `http://127.0.0.1:8400` |
//! | `SDV_NOTIFY_API_KEY` (or `_FILE`) | its API key | required |
//! | `SDV_RECOVERY_POLL_MS` | how often the indexer is read | `2000` |
//! | `SDV_CEREMONY_PACE_MS` | a pause between two documents of a ceremony, to spread the token's load | `0` |

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context;
use sdv_config::{env_or, env_parse, Secret};

/// The PKCS#11 module Debian's `softhsm2` installs.
pub const DEFAULT_PKCS11_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Where the keys are: the PKCS#11 module, the token and the keys' labels.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The token's user PIN.
    pub pin: Secret,
    /// The recovery key's label.
    pub recovery_key_label: String,
    /// The custodian sealing key's label.
    pub seal_label: String,
}

impl TokenConfig {
    /// Reads the token's settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            module: PathBuf::from(env_or("SDV_PKCS11_MODULE", DEFAULT_PKCS11_MODULE)),
            label: std::env::var("SDV_PKCS11_TOKEN")
                .context("SDV_PKCS11_TOKEN is not set (the label of the token holding the keys)")?,
            pin: Secret::require("SDV_PKCS11_PIN")?,
            recovery_key_label: env_or("SDV_RECOVERY_KEY_LABEL", "sdv-recovery"),
            seal_label: env_or("SDV_CUSTODIAN_SEAL_LABEL", "sdv-custodian-shares"),
        })
    }

    /// Opens the token (see [`sdv_keys::Token::open`]).
    pub fn open(&self) -> anyhow::Result<sdv_keys::Token> {
        sdv_keys::Token::open(&self.module, &self.label, &self.pin)
            .with_context(|| format!("opening the PKCS#11 token {:?}", self.label))
    }
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL.
    pub database_url: Secret,
    /// The indexer API, without a trailing slash.
    pub indexer_url: String,
    /// Where the key-management API listens.
    pub keys_listen: SocketAddr,
    /// Where the ceremony API listens.
    pub ceremony_listen: SocketAddr,
    /// The token holding the keys.
    pub token: TokenConfig,
    /// The notification service, without a trailing slash.
    pub notify_url: String,
    /// Its API key.
    pub notify_api_key: Secret,
    /// How often the indexer is read.
    pub poll: Duration,
    /// The pause between two documents of a ceremony.
    pub pace: Duration,
}

fn listen(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    env_or(name, default)
        .parse()
        .with_context(|| format!("{name} is not an address like {default}"))
}

impl Config {
    /// Reads the configuration from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database_url: Secret::require("DATABASE_URL")?,
            indexer_url: env_or("SDV_INDEXER_URL", "http://127.0.0.1:8700")
                .trim_end_matches('/')
                .to_owned(),
            keys_listen: listen("SDV_KEYS_LISTEN", "127.0.0.1:8935")?,
            ceremony_listen: listen("SDV_CEREMONY_LISTEN", "127.0.0.1:8130")?,
            token: TokenConfig::from_env()?,
            notify_url: env_or("SDV_NOTIFY_URL", "http://127.0.0.1:8400")
                .trim_end_matches('/')
                .to_owned(),
            notify_api_key: Secret::require("SDV_NOTIFY_API_KEY")?,
            poll: Duration::from_millis(env_parse("SDV_RECOVERY_POLL_MS", 2000)?),
            pace: Duration::from_millis(env_parse("SDV_CEREMONY_PACE_MS", 0)?),
        })
    }
}
