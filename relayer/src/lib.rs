//! The SDV relayer: the services' role accounts sign and submit contract calls through it.
//!
//! Each role (storage attestor, retention executor, fleet HQ) has its own signing account,
//! whose secret URI comes from the environment or a file and is never logged.

use std::path::PathBuf;

use sdv_config::Secret;
use subxt_signer::{sr25519::Keypair, SecretUri};

/// Why the relayer's configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] sdv_config::Error),
    /// The signing secret is not a valid secret URI or phrase. The secret is not repeated.
    #[error("{0} is not a valid secret URI or seed phrase")]
    BadSigner(&'static str),
}

/// The result type of the relayer.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The variable (or `_FILE`) holding a role account's secret URI.
pub const SIGNER_VAR: &str = "SDV_RELAYER_SIGNER";

/// The relayer's settings.
#[derive(Debug, Clone)]
pub struct RelayerConfig {
    /// The deployment file written by `./dev up`.
    pub deployment: PathBuf,
    /// The role account's secret URI (`//Alice`, a seed phrase with a path...).
    pub signer: Secret,
}

impl RelayerConfig {
    /// Reads `SDV_DEPLOYMENT` (default `.dev-state/deployment.json`) and the signer secret.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            deployment: sdv_config::env_or("SDV_DEPLOYMENT", ".dev-state/deployment.json").into(),
            signer: Secret::require(SIGNER_VAR)?,
        })
    }

    /// The signing key of the role account.
    pub fn keypair(&self) -> Result<Keypair> {
        let text = self
            .signer
            .expose_str()
            .map_err(|_| Error::BadSigner(SIGNER_VAR))?;
        let uri: SecretUri = text.parse().map_err(|_| Error::BadSigner(SIGNER_VAR))?;
        Keypair::from_uri(&uri).map_err(|_| Error::BadSigner(SIGNER_VAR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_from_dev_uri_is_alice() {
        let config = RelayerConfig {
            deployment: "d.json".into(),
            signer: Secret::new(b"//Alice".to_vec()),
        };
        let alice = subxt_signer::sr25519::dev::alice();
        assert_eq!(
            config.keypair().unwrap().public_key().0,
            alice.public_key().0
        );
        assert!(!format!("{config:?}").contains("Alice"));
    }

    #[test]
    fn bad_signer_error_does_not_repeat_the_secret() {
        let config = RelayerConfig {
            deployment: "d.json".into(),
            signer: Secret::new(b"not a phrase at all//x".to_vec()),
        };
        let err = config.keypair().unwrap_err().to_string();
        assert_eq!(
            err,
            "SDV_RELAYER_SIGNER is not a valid secret URI or seed phrase"
        );
    }
}
