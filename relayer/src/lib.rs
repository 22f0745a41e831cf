//! The SDV relayer: the services' role accounts sign and submit contract calls through it.
//!
//! - [`Relayer`] dry-runs a call (weight and storage deposit; a refusal decoded to the
//!   contract's typed error, in words), signs it with the next nonce of its account (many
//!   calls of one account in flight at once), submits it, waits for finality and returns the
//!   decoded contract events. Transient failures (node restart, dropped connection) are
//!   retried with backoff by resubmitting the *same* signed bytes; permanent ones are reported.
//! - It signs through [`subxt::tx::Signer`](sdv_chain::subxt::tx::Signer): a [`Key`] (sr25519
//!   or ed25519 from a secret URI) or a threshold signer implementing that trait.
//! - [`outbox`]: services enqueue calls with an idempotency key in their own PostgreSQL
//!   transaction; the relayer sends each exactly once, also across `kill -9`.
//! - [`keeper`]: executes every TeamVault operation and governance proposal the indexer lists
//!   as ready.
//!
//! Each role (storage attestor, retention executor, fleet HQ) has its own signing account,
//! whose secret URI comes from the environment or a file and is never logged.

pub mod keeper;
mod key;
pub mod outbox;
mod relay;

use std::path::PathBuf;

use sdv_config::Secret;
use subxt_signer::{sr25519::Keypair, SecretUri};

pub use key::{BadKey, Ed25519Key, Key, Scheme};
pub use relay::{
    describe_revert, is_transient, Estimate, Relayer, Retry, Sent, Signed, SCAN_BLOCKS,
};

/// What went wrong relaying a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] sdv_config::Error),
    /// The signing secret is not a valid secret URI or phrase. The secret is not repeated.
    #[error("{0} is not a valid secret URI or seed phrase")]
    BadSigner(&'static str),
    /// The contract refused the call in the dry run; nothing was submitted.
    #[error("{contract} refused the call: {name}: {description}")]
    Refused {
        /// The contract's crate name (empty when the address is not in the deployment).
        contract: String,
        /// The typed error's name (`NotAdmin`).
        name: String,
        /// What it means, in words.
        description: String,
    },
    /// The extrinsic was included and failed (`Pallet::Error`).
    #[error("the call failed on-chain: {0}")]
    Dispatch(String),
    /// The node refused the extrinsic as invalid.
    #[error("the node refused the transaction: {0}")]
    Invalid(String),
    /// The extrinsic's nonce was used by another transaction; this one never landed.
    #[error("nonce {nonce} was used by another transaction; the call did not land")]
    NonceTaken {
        /// The nonce.
        nonce: u64,
    },
    /// The node stayed unreachable past the retry deadline.
    #[error("the node is unavailable: {0}")]
    Unavailable(String),
    /// Another chain error.
    #[error(transparent)]
    Chain(#[from] sdv_chain::Error),
    /// The outbox database failed.
    #[error("outbox database: {0}")]
    Database(#[from] sqlx::Error),
    /// The outbox migrations failed.
    #[error("outbox migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The indexer API failed.
    #[error("indexer API: {0}")]
    Indexer(#[from] reqwest::Error),
}

impl Error {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Chain(e) => is_transient(e),
            _ => false,
        }
    }
}

/// The result type of the relayer.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The variable (or `_FILE`) holding a role account's secret URI.
pub const SIGNER_VAR: &str = "SDV_RELAYER_SIGNER";

/// The variable naming the signer's scheme: `sr25519` (default) or `ed25519`.
pub const SCHEME_VAR: &str = "SDV_RELAYER_SCHEME";

/// The relayer's settings.
#[derive(Debug, Clone)]
pub struct RelayerConfig {
    /// The deployment file written by `./dev up`.
    pub deployment: PathBuf,
    /// The role account's secret URI (`//Alice`, a seed phrase with a path...).
    pub signer: Secret,
    /// The signer's scheme.
    pub scheme: Scheme,
}

impl RelayerConfig {
    /// Reads `SDV_DEPLOYMENT` (default `.dev-state/deployment.json`), the signer secret and
    /// its scheme.
    pub fn from_env() -> Result<Self> {
        let scheme = sdv_config::env_or(SCHEME_VAR, "sr25519")
            .parse()
            .map_err(|()| Error::BadSigner(SCHEME_VAR))?;
        Ok(Self {
            deployment: sdv_config::env_or("SDV_DEPLOYMENT", ".dev-state/deployment.json").into(),
            signer: Secret::require(SIGNER_VAR)?,
            scheme,
        })
    }

    /// The sr25519 signing key of the role account.
    pub fn keypair(&self) -> Result<Keypair> {
        let text = self
            .signer
            .expose_str()
            .map_err(|_| Error::BadSigner(SIGNER_VAR))?;
        let uri: SecretUri = text.parse().map_err(|_| Error::BadSigner(SIGNER_VAR))?;
        Keypair::from_uri(&uri).map_err(|_| Error::BadSigner(SIGNER_VAR))
    }

    /// The signing key of the role account in its scheme.
    pub fn key(&self) -> Result<Key> {
        let text = self
            .signer
            .expose_str()
            .map_err(|_| Error::BadSigner(SIGNER_VAR))?;
        Key::from_uri(self.scheme, text).map_err(|_| Error::BadSigner(SIGNER_VAR))
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
            scheme: Scheme::Sr25519,
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
            scheme: Scheme::Ed25519,
        };
        let err = config.key().unwrap_err().to_string();
        assert_eq!(
            err,
            "SDV_RELAYER_SIGNER is not a valid secret URI or seed phrase"
        );
        assert_eq!(config.keypair().unwrap_err().to_string(), err);
    }

    #[test]
    fn refusal_is_decoded_to_the_typed_name_and_words() {
        use codec::Encode;
        let mut data = vec![0u8, 1];
        sdv_types::vault::Error::NotAdmin.encode_to(&mut data);
        let err = describe_revert("team_vault", &data);
        let text = err.to_string();
        assert!(
            text.starts_with("team_vault refused the call: NotAdmin: "),
            "{text}"
        );
    }
}
