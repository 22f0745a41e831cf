//! The fleet's wire protocol, shared by the HQ (`sdv-fleet-hq`), the validator update agent
//! (`sdv-agent`) and the `sdv fleet` CLI.
//!
//! # Trust
//!
//! - **HQ signs** image digests and pull commands with HMAC-SHA256 under a [`KeyRing`]: one
//!   current key signs, up to [`MAX_ACTIVE_KEYS`] keys verify, so a key can be rotated without
//!   a gap. Signatures name their key id.
//! - **A pull command** ([`PullCommand`]) signs `{image, tag, digest, track, timestamp, nonce}`;
//!   an agent accepts it only when the signature verifies (constant time), the timestamp is
//!   within [`REPLAY_WINDOW_MS`] of its clock either way, and the nonce was not seen in that
//!   window ([`NonceCache`]).
//! - **The chain decides what may run**: a signed command is necessary, not sufficient; HQ and
//!   the agent each check that ValidatorGovernance approved the digest for the track, and the
//!   agent that its release number is not older than what runs.
//! - **Agents sign their own requests** to HQ ([`RequestAuth`]): an HMAC over the method, path,
//!   timestamp and body hash with the shared secret, and an Ed25519 signature over the same by
//!   the agent's identity key, which HQ records at first registration and checks afterwards.
//!   Deployment reports ([`DeploymentReport`]) are signed by the identity key too.
//!
//! # Error handling
//!
//! One [`Error`]; each refusal says why, in words an operator can act on.

mod auth;
mod command;
mod keys;
mod report;

pub use auth::{RequestAuth, IDENTITY_HEADER, NODE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use command::{NonceCache, PullCommand, PullRequest};
pub use keys::{
    verify_identity, DigestSignature, IdentityKey, KeyRing, SigningKey, MAX_ACTIVE_KEYS,
};
pub use report::{DeploymentReport, Outcome};

/// How far a signed timestamp may be from the receiver's clock, either way (5 minutes).
pub const REPLAY_WINDOW_MS: i64 = 300_000;

/// What went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No key of the ring has this id.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signature is not hex of the right length.
    #[error("the signature is malformed")]
    MalformedSignature,
    /// The timestamp is too old.
    #[error("the timestamp is {0} ms older than the 5-minute window allows")]
    Stale(i64),
    /// The timestamp is in the future.
    #[error("the timestamp is {0} ms in the future, beyond the 5-minute window")]
    Future(i64),
    /// The nonce was used already within the window.
    #[error("the nonce was used already: a replayed command")]
    Replayed,
    /// A key ring with no key, too many, or a key too short.
    #[error("key ring: {0}")]
    KeyRing(String),
    /// An Ed25519 key or signature that is not one.
    #[error("identity key: {0}")]
    Identity(String),
    /// A digest that is not `sha256:` and 64 hex digits.
    #[error("{0:?} is not a digest (sha256: and 64 hex digits)")]
    Digest(String),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks `timestamp` (ms) against `now` (ms) within [`REPLAY_WINDOW_MS`].
pub fn check_timestamp(timestamp: i64, now: i64) -> Result<()> {
    if now - timestamp > REPLAY_WINDOW_MS {
        return Err(Error::Stale(now - timestamp - REPLAY_WINDOW_MS));
    }
    if timestamp - now > REPLAY_WINDOW_MS {
        return Err(Error::Future(timestamp - now - REPLAY_WINDOW_MS));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The 32 bytes of a digest written `sha256:<64 hex>`.
pub fn parse_digest(text: &str) -> Result<[u8; 32]> {
    text.strip_prefix("sha256:")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Digest(text.to_owned()))
}

/// `sha256:<64 hex>` of 32 bytes.
pub fn format_digest(bytes: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(bytes))
}
