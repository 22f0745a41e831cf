//! Key management and the off-chain recovery ceremony, in one process (`sdv-recovery`).
//!
//! # Overview
//!
//! - **The recovery key** is an X25519 key inside a PKCS#11 token ([`sdv_keys`]): sensitive,
//!   non-extractable, derive-only. Clients wrap every document's data key to it (v2, 72
//!   bytes); the key-management API (8935) publishes its public key.
//! - **MPC wallets** ([`mpc`]): a recovered user's new wallet is a 2-of-3 FROST Ed25519 key
//!   among the user's device, a backup share and the custodian. The ceremony API (8130)
//!   coordinates the key generation and sees only public packages and sealed ones; the
//!   custodian's share is sealed by an AES key in the token. A registry records each wallet's
//!   verifying shares, and the custodian co-signs for a wallet only when another share's
//!   signature share verifies and the wallet is not compromised.
//! - **The ceremony** ([`ceremony`]) follows the indexer's wallet rebinds (every finalized
//!   recovery, guardian or emergency path). For each, once the new wallet has published its
//!   encryption key, it re-wraps every data key of the recovered identity's documents from the
//!   recovery key to that key inside the token, in one database transaction per document with
//!   the revocation of the old wallet's wrapped keys; then it ends the old wallet's gateway
//!   sessions and marks its MPC shares compromised. It resumes where it stopped.
//! - **Notices** ([`notices`]): the owner and the guardians are told when a recovery is
//!   initiated, attested, cancellable (with its deadline), finalized or cancelled.
//!
//! # Error handling
//!
//! The APIs answer JSON errors `{"code", "error"}` (the storage services' [`ApiError`]).
//! Workers record a failed pass (attempts, last error) and retry on the next poll.

pub mod api;
pub mod ceremony;
pub mod config;
pub mod mpc;
pub mod notices;

use std::{sync::Arc, time::Duration};

use sdv_keys::{HsmRecoveryKey, HsmSealingKey};
use sdv_storage::error::{ApiError, ApiResult};
use serde_json::Value;
use sqlx::PgPool;

pub use crate::config::{Config, TokenConfig};

/// Applies this service's migrations (versions 500 to 599) and the storage service's, whose
/// wrapped keys and sessions the ceremony updates, to a database other services share.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sdv_storage::migrate(pool).await?;
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
    http: reqwest::Client,
    recovery_key: HsmRecoveryKey,
    seal: HsmSealingKey,
    dkg: mpc::DkgSessions,
    signing: mpc::SigningSessions,
}

impl AppState {
    /// Opens the token and finds (or makes) its recovery and sealing keys.
    pub fn new(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let token = config.token.open()?;
        let recovery_key = token.recovery_key(&config.token.recovery_key_label)?;
        let seal = token.sealing_key(&config.token.seal_label)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()?,
                recovery_key,
                seal,
                dkg: mpc::DkgSessions::default(),
                signing: mpc::SigningSessions::default(),
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

    /// The recovery key in the token.
    pub fn recovery_key(&self) -> &HsmRecoveryKey {
        &self.inner.recovery_key
    }

    /// The AES key in the token that seals custodian shares.
    pub fn seal(&self) -> &HsmSealingKey {
        &self.inner.seal
    }

    pub(crate) fn dkg(&self) -> &mpc::DkgSessions {
        &self.inner.dkg
    }

    pub(crate) fn signing(&self) -> &mpc::SigningSessions {
        &self.inner.signing
    }

    /// `GET` of an indexer path: its `data`, `None` on a 404.
    pub async fn indexer(&self, path: &str) -> ApiResult<Option<Value>> {
        let url = format!("{}{path}", self.config().indexer_url);
        let response = self
            .inner
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ApiError::unavailable("the indexer", e))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body: Value = response
            .error_for_status()
            .map_err(|e| ApiError::unavailable("the indexer", e))?
            .json()
            .await
            .map_err(|e| ApiError::unavailable("the indexer", e))?;
        Ok(Some(body["data"].clone()))
    }
}

/// The 32 bytes of an account the indexer wrote (SS58 or `0x` + hex).
pub(crate) fn account_bytes(value: &Value) -> Option<[u8; 32]> {
    let text = value.as_str()?;
    if let Some(hex) = text.strip_prefix("0x") {
        return hex::decode(hex).ok()?.try_into().ok();
    }
    let account: sdv_chain::AccountId = text.parse().ok()?;
    Some(account.0)
}

/// `0x` + hex of bytes.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::account_bytes;

    #[test]
    fn accounts_are_read_in_ss58_and_hex_and_nothing_else() {
        let raw = [7u8; 32];
        let ss58 = sdv_chain::AccountId::from(raw).to_string();
        assert_eq!(account_bytes(&json!(ss58)), Some(raw));
        assert_eq!(
            account_bytes(&json!(format!("0x{}", hex::encode(raw)))),
            Some(raw)
        );
        for bad in [
            json!("0x1234"),
            json!("not an account"),
            json!(null),
            json!(12),
        ] {
            assert_eq!(account_bytes(&bad), None, "{bad}");
        }
    }
}
