//! The fleet's distribution server (HQ).
//!
//! HQ keeps the registry of validator images, signs and pins their digests, and tells the
//! validators' update agents what to run. It never decides alone what may run: a digest is
//! distributed only when ValidatorGovernance approved it for the track, asked on-chain for
//! every distribution.
//!
//! # Life cycle of a release
//!
//! 1. An operator registers an image digest (`POST /v1/registry/images`) on a track and signs
//!    it (`.../sign`), or does both and pins it in one call (`POST /v1/registry/release`).
//!    Signing pins the digest for the image on its track: the manifest serves it and nodes of
//!    the track must run it.
//! 2. Promotion moves a digest one track on (devnet, testnet, mainnet), once the chain approved
//!    it for the next track.
//! 3. A distribution (`POST /v1/fleet/distribute`) is refused (and the refusal recorded as a
//!    job, an authorization decision, an audit entry and an alert) when the image is not
//!    registered, not signed, its signature does not verify, it was not promoted to the track,
//!    or governance has not approved the digest for the track. Otherwise every target agent
//!    gets a freshly signed [`sdv_fleet::PullCommand`] in parallel, each within the per-node
//!    timeout, and each node's outcome is recorded.
//! 4. Agents register (`register-agent`), send heartbeats and report deployments, each request
//!    signed with the shared HMAC key and, from the first registration on, with the node's
//!    Ed25519 identity key. A report of a digest other than the pinned one fires a
//!    `digest_mismatch` alert; a refused command fires `refused_command`; a node silent for
//!    longer than the stale threshold fires `missed_heartbeat` once per episode ([`monitor`]).
//!
//! Every action and every refusal is written to `hq_audit_log`, which the database keeps
//! append-only.
//!
//! # Error handling
//!
//! The library's [`Error`] names each failure; the HTTP layer ([`api`]) maps it to a status and
//! `{"error", "code"}` and never shows database internals.

pub mod api;
pub mod config;
pub mod distribute;
pub mod governance;
pub mod monitor;
pub mod store;

use std::{sync::Arc, time::Duration};

use sdv_chain::GovernanceConnection;
use sdv_config::Secret;
use sdv_fleet::KeyRing;
pub use sdv_types::governance::Track;
use sqlx::PgPool;

pub use crate::{api::app, config::Config};

/// The service's name, as `/health` answers it.
pub const SERVICE: &str = "sdv-fleet-hq";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] sdv_config::Error),
    /// A setting that is present but unusable.
    #[error("{name}: {reason}")]
    Setting {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature, key or digest of the fleet protocol was refused.
    #[error(transparent)]
    Protocol(#[from] sdv_fleet::Error),
    /// The chain could not be asked.
    #[error("chain: {0}")]
    Chain(#[from] sdv_chain::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that the tables' checks rule out.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The service's migrations (`migrations/`, versions from 600).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the migrations to a database other services may share: their migrations are not an
/// error.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// What the handlers and background tasks share.
#[derive(Clone)]
pub struct AppState {
    /// The database (migrated).
    pub pool: PgPool,
    /// HQ's HMAC keys: the first signs, both verify.
    pub keys: Arc<KeyRing>,
    /// The key operators send as `x-api-key`.
    pub admin_key: Secret,
    /// ValidatorGovernance, asked before every distribution and promotion (connected anew
    /// after the node restarted); `None` refuses both.
    pub governance: Option<Arc<GovernanceConnection>>,
    /// How long one agent may take to answer a pull command.
    pub node_timeout: Duration,
    /// A node is healthy while its last heartbeat is more recent than this.
    pub heartbeat_stale: Duration,
    /// The client that calls the agents.
    pub http: reqwest::Client,
}

impl AppState {
    /// The state of a configuration, a migrated pool and ValidatorGovernance.
    pub fn new(
        config: &Config,
        pool: PgPool,
        governance: Option<Arc<GovernanceConnection>>,
    ) -> Self {
        Self {
            pool,
            keys: Arc::new(config.keys.clone()),
            admin_key: config.admin_key.clone(),
            governance,
            node_timeout: config.node_timeout,
            heartbeat_stale: config.heartbeat_stale,
            http: reqwest::Client::new(),
        }
    }
}

/// The track's name on the wire and in the database.
pub fn track_name(track: Track) -> &'static str {
    match track {
        Track::Devnet => "devnet",
        Track::Testnet => "testnet",
        Track::Mainnet => "mainnet",
    }
}

/// The track named `name`, if any.
pub fn parse_track(name: &str) -> Option<Track> {
    match name {
        "devnet" => Some(Track::Devnet),
        "testnet" => Some(Track::Testnet),
        "mainnet" => Some(Track::Mainnet),
        _ => None,
    }
}

/// The track after `track`, if any.
pub fn next_track(track: Track) -> Option<Track> {
    match track {
        Track::Devnet => Some(Track::Testnet),
        Track::Testnet => Some(Track::Mainnet),
        Track::Mainnet => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_round_trip_and_step_in_order() {
        for track in [Track::Devnet, Track::Testnet, Track::Mainnet] {
            assert_eq!(parse_track(track_name(track)), Some(track));
            if let Some(next) = next_track(track) {
                assert_eq!(next.previous(), Some(track));
            }
        }
        assert_eq!(parse_track("Mainnet"), None);
        assert_eq!(next_track(Track::Mainnet), None);
    }
}
