//! The validator update agent: a sidecar on each validator (port 8055) that runs the releases
//! ValidatorGovernance approved, when HQ tells it to.
//!
//! # A pull command's life
//!
//! `POST /v1/pull` with a [`PullCommand`] (see [`api`]):
//!
//! 1. Only from the allowed source addresses (`SDV_AGENT_ALLOWED_SOURCES`); others get 403.
//! 2. The command's HMAC verifies (constant time, a key of the ring), its timestamp is within
//!    5 minutes and its nonce is new: else 401 (not HQ's) or 403 (stale, replayed).
//! 3. Its track is the node's; the agent itself asks ValidatorGovernance for the digest's
//!    approved release number on that track (HQ's word is not enough), and refuses a release
//!    older than the one the node runs for that image (no rollback). A command for the agent's
//!    own image is refused.
//! 4. The registry's manifest for the tag is read (at most `SDV_AGENT_MAX_MANIFEST_BYTES`) and
//!    its sha256 must be the signed digest, before anything is pulled.
//! 5. `REGISTRY_URL/<image>@<digest>` is pulled; the image's RepoDigests must contain it.
//! 6. Every container labelled `sdv.node=<NODE_ID>` that runs an image of the repository
//!    (never the agent's own) is stopped (10 s), set aside, recreated with the same
//!    configuration (env, cmd, labels, host config, name) on the new image and started; the
//!    old ones are removed once all started, or restored when one fails.
//! 7. A [`DeploymentReport`] signed by the node's identity key answers the caller and goes to
//!    HQ (`POST /v1/fleet/nodes/<NODE_ID>/verify-deployment`, a signed request). Refusals
//!    are reported too; nothing about containers changes on one.
//!
//! The agent registers at HQ 3 s after start and every 5 minutes, sends heartbeats with its
//! containers, and keeps serving while HQ is down ([`hq`]).
//!
//! # Running it as a container
//!
//! `image.sh BINARY TAG DOCKER_SOCKET` (beside this crate's `Cargo.toml`) makes the image from a
//! built binary and the shared libraries it links; then, on the validator:
//!
//! ```text
//! docker run -d --name sdv-agent --network host \
//!   -v /var/run/docker.sock:/var/run/docker.sock \
//!   -v sdv-agent-identity:/var/lib/sdv-agent \
//!   -e SDV_AGENT_IDENTITY_FILE=/var/lib/sdv-agent/identity.hex \
//!   -e NODE_ID=<id> -e BIND_ADDR=0.0.0.0 -e JILHQ_URL=... -e JILHQ_SHARED_SECRET_FILE=... \
//!   -e REGISTRY_URL=... -e SDV_AGENT_ALLOWED_SOURCES=<HQ's address> \
//!   -e SDV_DEPLOYMENT=/etc/sdv/deployment.json -v /etc/sdv:/etc/sdv:ro \
//!   --memory 128m --read-only --security-opt no-new-privileges \
//!   --restart unless-stopped --label sdv.role=agent --label sdv.node=<id> \
//!   sdv-agent:TAG
//! ```
//!
//! Tried by hand against a private dockerd (Debian docker.io 20.10, API 1.41, started with
//! `dockerd --host unix:///tmp/agentdev/docker.sock --data-root /tmp/agentdev/data
//! --exec-root /tmp/agentdev/exec --pidfile /tmp/agentdev/pid --iptables=false
//! --ip6tables=false --bridge=none --storage-driver=vfs`); `deployment.json` is any deployment
//! file naming `validator_governance` (the chain is connected on the first command, not at
//! start):
//!
//! ```text
//! cargo build -p sdv-agent
//! strip -o /tmp/agentdev/sdv-agent target/debug/sdv-agent
//! offchain-services/fleet-agent/image.sh /tmp/agentdev/sdv-agent sdv-agent:dev /tmp/agentdev/docker.sock
//! D="docker -H unix:///tmp/agentdev/docker.sock"
//! $D volume create sdv-agent-identity
//! $D run -d --name sdv-agent --network host \
//!   -v /tmp/agentdev/docker.sock:/var/run/docker.sock -v sdv-agent-identity:/var/lib/sdv-agent \
//!   -e SDV_AGENT_IDENTITY_FILE=/var/lib/sdv-agent/identity.hex -e PORT=18055 \
//!   -e JILHQ_SHARED_SECRET=a-development-secret-1 -e JILHQ_URL=http://127.0.0.1:18054 \
//!   -e SDV_DEPLOYMENT=/etc/sdv/deployment.json -e SDV_NODE_URL=ws://127.0.0.1:19944 \
//!   -v /tmp/agentdev/etc:/etc/sdv:ro \
//!   --memory 128m --read-only --security-opt no-new-privileges --restart unless-stopped \
//!   --label sdv.role=agent --label sdv.node=node-primary sdv-agent:dev
//! curl -s http://127.0.0.1:18055/health      # {"docker":"connected","status":"ok"}
//! curl -s http://127.0.0.1:18055/v1/status   # the agent's container, "agent": true
//! ```
//!
//! # Error handling
//!
//! One [`Error`] for what failed, one [`Refusal`] for what was refused; the HTTP layer answers
//! both with the signed report.

pub mod api;
pub mod config;
pub mod docker;
pub mod hq;
pub mod policy;
pub mod registry;

use std::sync::Arc;

use futures::future::BoxFuture;
use sdv_chain::{AccountId, Governance, GovernanceConnection};
use sdv_fleet::{now_ms, parse_digest, DeploymentReport, NonceCache, Outcome, PullCommand};
use sdv_types::governance::Track;

pub use crate::{api::router, config::Config, docker::Engine, policy::Refusal};
use crate::{config::track_name, docker::ContainerStatus, policy::repository_of};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] sdv_config::Error),
    /// A key or signature of the fleet protocol.
    #[error(transparent)]
    Fleet(#[from] sdv_fleet::Error),
    /// The chain could not be asked.
    #[error("chain: {0}")]
    Chain(#[from] sdv_chain::Error),
    /// The Docker Engine failed or could not be reached.
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    /// The Engine reported an error while pulling.
    #[error("pull: {0}")]
    Pull(String),
    /// The pulled image does not carry the signed digest.
    #[error("the pulled image's digests {found:?} do not contain {expected}")]
    PulledDigest {
        /// The reference pulled.
        expected: String,
        /// The image's RepoDigests.
        found: Vec<String>,
    },
    /// The registry could not be reached or answered with an error.
    #[error("registry: {0}")]
    Registry(String),
    /// HQ answered with an error.
    #[error("HQ: {0}")]
    Hq(String),
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON could not be written.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The identity file holds no seed.
    #[error("{0} holds no identity seed (64 hex digits)")]
    Identity(std::path::PathBuf),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a pull command did not deploy: refused (nothing changed) or failed.
#[derive(Debug)]
pub enum Stop {
    /// Refused by a check.
    Refused(Refusal),
    /// Failed on the way; the containers are as they were.
    Failed(Error),
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Self {
        Stop::Refused(refusal)
    }
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Failed(error)
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Refused(refusal) => refusal.fmt(f),
            Stop::Failed(error) => error.fmt(f),
        }
    }
}

/// Where release approvals come from: ValidatorGovernance ([`Governance`], or [`ChainApprovals`]
/// that connects anew after a node restart) in service.
pub trait Approvals: Send + Sync + 'static {
    /// The release number ValidatorGovernance approved `digest` of `image` under on `track`,
    /// or `None`.
    fn approved_release_number<'a>(
        &'a self,
        image: &'a str,
        digest: [u8; 32],
        track: Track,
    ) -> BoxFuture<'a, Result<Option<u64>>>;
}

impl Approvals for Governance {
    fn approved_release_number<'a>(
        &'a self,
        image: &'a str,
        digest: [u8; 32],
        track: Track,
    ) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            Ok(Governance::approved_release_number(self, image, digest, track).await?)
        })
    }
}

/// ValidatorGovernance at `address` on the node at `node_url`, connected on first use and
/// again after a failed attempt or a lost connection (a node restart), so the agent serves
/// while the node is down (commands then fail, and are reported so) and after it is back.
pub struct ChainApprovals {
    governance: GovernanceConnection,
}

impl ChainApprovals {
    /// ValidatorGovernance at `address`, on the node at `node_url`.
    pub fn new(node_url: impl Into<String>, address: AccountId) -> Self {
        Self {
            governance: GovernanceConnection::new(node_url, address),
        }
    }
}

impl Approvals for ChainApprovals {
    fn approved_release_number<'a>(
        &'a self,
        image: &'a str,
        digest: [u8; 32],
        track: Track,
    ) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            Ok(self
                .governance
                .approved_release_number(image, digest, track)
                .await?)
        })
    }
}

/// What the handlers and loops share.
#[derive(Clone)]
pub struct AgentState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    engine: Engine,
    approvals: Box<dyn Approvals>,
    nonces: NonceCache,
    http: reqwest::Client,
    self_id: Option<String>,
    /// One command at a time.
    deploying: tokio::sync::Mutex<()>,
}

impl AgentState {
    /// The state of an agent configured by `config`, using the Engine `engine` (usually
    /// `Engine::new(&config.docker_socket)`) and `approvals` (ValidatorGovernance).
    ///
    /// # Errors
    ///
    /// [`Error::Http`] when the HTTP client cannot be built.
    pub fn new(config: Config, engine: Engine, approvals: impl Approvals) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(30))
                    .build()?,
                engine,
                approvals: Box::new(approvals),
                nonces: NonceCache::default(),
                self_id: docker::own_container_id(),
                deploying: tokio::sync::Mutex::new(()),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The Engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The HTTP client (registry and HQ).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The node's containers.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`].
    pub async fn containers(&self) -> Result<Vec<ContainerStatus>> {
        self.engine()
            .status(&self.config().node_id, self.inner.self_id.as_deref())
            .await
    }

    /// Carries out a pull command (steps 2 to 6 of the crate docs) and returns the signed
    /// report, which is also sent to HQ in the background; a refusal comes with its
    /// [`Refusal`].
    pub async fn execute(&self, command: &PullCommand) -> (DeploymentReport, Option<Stop>) {
        let _one_at_a_time = self.inner.deploying.lock().await;
        let result = self.deploy(command).await;
        let request = &command.request;
        let mut report = DeploymentReport {
            node_id: self.config().node_id.clone(),
            image: request.image.clone(),
            tag: request.tag.clone(),
            digest: request.digest.clone(),
            running_digest: None,
            outcome: Outcome::Deployed,
            reason: None,
            containers: Vec::new(),
            nonce: command.nonce.clone(),
            timestamp: now_ms(),
            signature: String::new(),
        };
        let stop = match result {
            Ok(containers) => {
                report.running_digest = Some(request.digest.clone());
                report.containers = containers;
                None
            }
            Err(stop) => {
                report.outcome = match stop {
                    Stop::Refused(_) => Outcome::Refused,
                    Stop::Failed(_) => Outcome::Failed,
                };
                report.reason = Some(stop.to_string());
                Some(stop)
            }
        };
        tracing::info!(
            image = %request.image, tag = %request.tag, digest = %request.digest,
            outcome = ?report.outcome, reason = ?report.reason, "pull command"
        );
        let report = report.sign(&self.config().identity);
        let state = self.clone();
        let sent = report.clone();
        tokio::spawn(async move {
            if let Err(e) = state.report(&sent).await {
                tracing::warn!(error = %e, "the deployment report did not reach HQ");
            }
        });
        (report, stop)
    }

    async fn deploy(&self, command: &PullCommand) -> Result<Vec<String>, Stop> {
        let config = self.config();
        let request = &command.request;
        let started = std::time::Instant::now();
        command
            .verify(&config.keys, now_ms(), &self.inner.nonces)
            .map_err(Refusal::from)?;
        policy::check_image(&request.image)?;
        policy::check_tag(&request.tag)?;
        let digest = parse_digest(&request.digest).map_err(Refusal::from)?;
        let track = track_name(config.track);
        if request.track != track {
            return Err(Refusal::WrongTrack {
                command: request.track.clone(),
                node: track,
            }
            .into());
        }
        let release = self
            .inner
            .approvals
            .approved_release_number(&request.image, digest, config.track)
            .await?
            .ok_or_else(|| Refusal::NotApproved {
                image: request.image.clone(),
                digest: request.digest.clone(),
                track,
            })?;

        let repository = format!("{}/{}", config.registry, request.image);
        let mut targets = Vec::new();
        let mut running = Vec::new();
        for container in self.engine().node_containers(&config.node_id).await? {
            if repository_of(docker::configured_image(&container)) != repository {
                continue;
            }
            if docker::is_agent(&container, self.inner.self_id.as_deref()) {
                return Err(Refusal::OwnImage(repository).into());
            }
            for running_digest in self
                .engine()
                .running_digests(&container, &repository)
                .await?
            {
                let Ok(bytes) = parse_digest(&running_digest) else {
                    continue;
                };
                if let Some(number) = self
                    .inner
                    .approvals
                    .approved_release_number(&request.image, bytes, config.track)
                    .await?
                {
                    running.push((running_digest, number));
                }
            }
            targets.push(container);
        }
        policy::check_rollback(release, &running)?;
        let checked = started.elapsed();

        registry::fetch_verified_manifest(
            self.http(),
            &config.registry,
            &request.image,
            &request.tag,
            &request.digest,
            config.max_manifest_bytes,
        )
        .await?;
        let reference = format!("{repository}@{}", request.digest);
        self.engine().pull(&reference).await?;
        let pulled = started.elapsed();
        // Only running containers are restarted; stopped ones stay stopped.
        targets.retain(|c| c.state.as_ref().and_then(|s| s.running).unwrap_or(false));
        let names = self.engine().replace(&targets, &reference).await?;
        tracing::info!(
            checks_ms = checked.as_millis() as u64,
            pull_ms = (pulled - checked).as_millis() as u64,
            restart_ms = (started.elapsed() - pulled).as_millis() as u64,
            containers = names.len(),
            "deployed"
        );
        Ok(names)
    }
}
