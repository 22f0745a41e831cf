//! The fleet as the tests run it: `sdv-fleet-hq` on a fresh database and the node of a
//! [`TestContext`], `sdv-agent`s (as processes, or as a container the seed's way) on the test
//! binary's Docker engine, and the ValidatorGovernance votes that approve a release.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sdv_chain::Governance;
use sdv_config::Secret;
use sdv_fleet::{KeyRing, SigningKey};
use sdv_node_config::accounts;
use sdv_types::governance::{ProposalId, ProposalKind, Release, Track};
use serde_json::Value;

use crate::{
    docker::{DockerDaemon, Registry},
    smtp::free_port,
    storage::Process,
    TestContext,
};

/// The operators' API key in the tests.
pub const ADMIN_KEY: &str = "test-fleet-admin-key-0123456789";
/// HQ's signing secret, shared with the agents.
pub const SHARED_SECRET: &str = "test-fleet-shared-secret-0123456789";
/// Its key id.
pub const KEY_ID: &str = "sdv-hq-signing-key-01";

/// HQ's key ring, as a test that signs commands itself needs it.
pub fn key_ring() -> KeyRing {
    KeyRing::new(vec![
        SigningKey::new(KEY_ID, Secret::new(SHARED_SECRET)).expect("a valid key")
    ])
    .expect("a valid ring")
}

/// A running `sdv-fleet-hq`.
pub struct Hq {
    /// Its base URL.
    pub url: String,
    _process: Process,
}

impl Hq {
    /// Starts HQ on `database_url` and the chain of `deployment`; `extra` is more environment.
    pub async fn start(deployment: &Path, database_url: &str, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(crate::binary("sdv-fleet-hq"));
        command
            .env("SDV_FLEET_HQ_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("SIGNING_SECRET", SHARED_SECRET)
            .env("SIGNING_KEY_ID", KEY_ID)
            .env("HQ_ADMIN_API_KEY", ADMIN_KEY)
            .env("SDV_DEPLOYMENT", deployment)
            .env("RUST_LOG", crate::service_log())
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let mut process = Process::new(
            command.spawn().expect("sdv-fleet-hq starts"),
            "sdv-fleet-hq",
        );
        process.wait_healthy(&[&url]).await;
        Self {
            url,
            _process: process,
        }
    }

    /// An operator's request (with the admin key): (status, body).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .header("x-api-key", ADMIN_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits (60 s at most) until HQ lists `n` registered agents.
    pub async fn wait_for_agents(&self, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, agents) = self
                .admin(reqwest::Method::GET, "/v1/fleet/agents", None)
                .await;
            let count = agents
                .as_array()
                .or_else(|| agents["agents"].as_array())
                .or_else(|| agents["items"].as_array())
                .map_or(0, Vec::len);
            if status == 200 && count >= n {
                return agents;
            }
            assert!(
                Instant::now() < deadline,
                "{count} of {n} agents registered: {agents}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Starts a distribution and waits (90 s at most) until its job is final; returns the job.
    pub async fn distribute(&self, body: Value) -> Value {
        let (status, started) = self
            .admin(reqwest::Method::POST, "/v1/fleet/distribute", Some(body))
            .await;
        assert!(
            status == 202 || status == 200 || status == 409 || status == 403,
            "{status} {started}"
        );
        let Some(job) = started["job_id"].as_i64() else {
            return started;
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (_, job) = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/v1/fleet/distribute/{job}"),
                    None,
                )
                .await;
            if !matches!(job["state"].as_str(), Some("queued" | "running")) {
                return job;
            }
            assert!(Instant::now() < deadline, "the job did not end: {job}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// What every fleet test starts from: HQ on a fresh database and the node of a
/// [`TestContext`], a registry, and release 1.0.0 of an image made and approved on devnet with
/// 7 votes.
pub struct FleetStack {
    /// The deployment file.
    pub deployment: std::path::PathBuf,
    /// The registry.
    pub registry: Registry,
    /// HQ.
    pub hq: Hq,
    /// `<registry>/<image>`.
    pub repository: String,
    /// Release 1.0.0's digest.
    pub first: String,
    _pool: sqlx::PgPool,
}

impl FleetStack {
    /// Starts it; release 1.0.0 of `image` holds `marker`.
    pub async fn start(ctx: &TestContext, image: &str, marker: &str) -> Self {
        let deployment = ctx.deployment_file();
        let registry = Registry::start();
        let pool = crate::fresh_database().await;
        let hq = Hq::start(&deployment, &crate::indexer::url_of(&pool).await, &[]).await;
        let repository = format!("{}/{image}", registry.address);
        let first = DockerDaemon::shared().make_image(&format!("{repository}:1.0.0"), marker);
        approve_release(ctx, release(image, "1.0.0", &first, Track::Devnet, 1), 7).await;
        Self {
            deployment,
            registry,
            hq,
            repository,
            first,
            _pool: pool,
        }
    }
}

/// An `sdv-agent` process.
pub struct Agent {
    /// Its node id.
    pub node_id: String,
    /// Its base URL.
    pub url: String,
    process: Option<Process>,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts an agent of `node_id` on `track` against HQ, the engine and the registry.
    pub async fn start(
        hq: &Hq,
        docker: &DockerDaemon,
        registry: &Registry,
        deployment: &Path,
        node_id: &str,
        track: &str,
    ) -> Self {
        Self::start_with(hq, docker, registry, deployment, node_id, track, &[]).await
    }

    /// [`Agent::start`] with more environment (`extra`, set last, so it overrides).
    pub async fn start_with(
        hq: &Hq,
        docker: &DockerDaemon,
        registry: &Registry,
        deployment: &Path,
        node_id: &str,
        track: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the agent");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = vec![
            ("PORT".into(), port.to_string()),
            ("NODE_ID".into(), node_id.into()),
            ("JILHQ_URL".into(), hq.url.clone()),
            ("JILHQ_SHARED_SECRET".into(), SHARED_SECRET.into()),
            ("SIGNING_KEY_ID".into(), KEY_ID.into()),
            ("REGISTRY_URL".into(), registry.address.clone()),
            ("DOCKER_HOST".into(), docker.host()),
            ("SDV_AGENT_TRACK".into(), track.into()),
            (
                "SDV_AGENT_IDENTITY_FILE".into(),
                dir.path().join("identity.hex").display().to_string(),
            ),
            ("SDV_DEPLOYMENT".into(), deployment.display().to_string()),
            ("SDV_AGENT_HEARTBEAT_MS".into(), "2000".into()),
            ("RUST_LOG".into(), crate::service_log()),
        ];
        env.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
        let mut agent = Self {
            node_id: node_id.into(),
            url,
            process: None,
            env,
            _dir: dir,
        };
        agent.restart().await;
        agent
    }

    /// (Re)starts the process and waits until it answers.
    pub async fn restart(&mut self) {
        let mut command = Command::new(crate::binary("sdv-agent"));
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(crate::service_stdout())
            .stderr(Stdio::inherit());
        let mut process = Process::new(command.spawn().expect("sdv-agent starts"), "sdv-agent");
        process.wait_healthy(&[&self.url]).await;
        self.process = Some(process);
    }

    /// Freezes it (SIGSTOP): its port still takes connections, which nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused agent go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.process.as_ref().expect("a running agent").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Kills it (SIGKILL).
    pub fn kill_9(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_9();
        }
    }
}

/// Runs an application container of `node_id` from `reference` (no network), named `name`.
pub fn run_app(docker: &DockerDaemon, reference: &str, node_id: &str, name: &str) {
    docker.must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--label",
        &format!("sdv.node={node_id}"),
        "--name",
        name,
        reference,
    ]);
}

/// The manifest digest of the image container `name` runs (from the image's repo digests).
pub fn running_digest(docker: &DockerDaemon, name: &str) -> String {
    let image = docker.must(&["inspect", "--format", "{{.Image}}", name]);
    let digests = docker.must(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        image.trim(),
    ]);
    digests
        .split('"')
        .find_map(|d| d.split_once('@').map(|(_, digest)| digest.to_owned()))
        .unwrap_or_else(|| {
            panic!("container {name} runs an image without a repo digest: {digests}")
        })
}

/// Files an `ApproveRelease` proposal (as the fleet HQ's account) and casts `votes` validator
/// votes for it; with 7 or more it is executed. Returns the proposal.
pub async fn approve_release(ctx: &TestContext, release: Release, votes: usize) -> ProposalId {
    let governance = governance(ctx);
    let proposal = governance
        .propose(
            &accounts::roles::fleet_hq(),
            &ProposalKind::ApproveRelease(release),
        )
        .await
        .expect("filing the release approval");
    vote(ctx, proposal, 0..votes).await;
    proposal
}

/// Validators `range` vote for `proposal`; executed when 7 or more voted in all.
pub async fn vote(ctx: &TestContext, proposal: ProposalId, range: std::ops::Range<usize>) {
    let governance = governance(ctx);
    let end = range.end;
    for validator in &accounts::validators()[range] {
        governance
            .vote(validator, proposal, true)
            .await
            .expect("a vote");
    }
    if end >= 7 {
        governance
            .execute(&accounts::bob(), proposal)
            .await
            .expect("executing the approval");
    }
}

fn governance(ctx: &TestContext) -> Governance {
    Governance::new(
        ctx.chain.clone(),
        ctx.deployment
            .address("validator_governance")
            .unwrap()
            .clone(),
    )
}

/// A release of `image` with `digest` (`sha256:<hex>`) on `track`.
pub fn release(image: &str, tag: &str, digest: &str, track: Track, number: u64) -> Release {
    Release {
        image: image.into(),
        tag: tag.into(),
        digest: sdv_fleet::parse_digest(digest).expect("a digest"),
        track,
        number,
    }
}

/// The agent's image as `image.sh` makes it, pushed to a registry.
pub struct AgentImage {
    /// `<registry>/sdv-agent:<tag>`, as the container is run from.
    pub reference: String,
    /// The manifest digest the registry answered (`sha256:<hex>`).
    pub digest: String,
}

impl AgentImage {
    /// Makes the image from the built `sdv-agent` (a stripped copy, as the crate docs do) with
    /// `offchain-services/fleet-agent/image.sh` on `docker`, tags it `<registry>/sdv-agent:<tag>`
    /// and pushes it.
    pub fn build(docker: &DockerDaemon, registry: &Registry, tag: &str) -> Self {
        let dir = tempfile::tempdir().expect("a directory for the stripped binary");
        let stripped = dir.path().join("sdv-agent");
        let strip = Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(crate::binary("sdv-agent"))
            .status()
            .expect("strip runs (binutils)");
        assert!(strip.success(), "strip of sdv-agent failed");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../offchain-services/fleet-agent/image.sh");
        let reference = format!("{}/sdv-agent:{tag}", registry.address);
        let made = Command::new("bash")
            .arg(script)
            .arg(&stripped)
            .arg(&reference)
            .arg(docker.socket())
            .output()
            .expect("image.sh runs");
        assert!(
            made.status.success(),
            "image.sh failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let pushed = docker.must(&["push", &reference]);
        let digest = pushed
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no digest in docker push's output: {pushed}"));
        Self { reference, digest }
    }
}

/// An `sdv-agent` container run the seed's way (host network, the engine's socket, a state
/// directory, 128 MB, read-only root, no new privileges, restarted unless stopped, labelled
/// `sdv.role=agent` and `sdv.node=<node>`); removed on drop.
pub struct AgentContainer {
    /// Its node id.
    pub node_id: String,
    /// Its base URL (host network, loopback).
    pub url: String,
    /// The container's name.
    pub name: String,
    docker: &'static DockerDaemon,
    _state: tempfile::TempDir,
}

impl AgentContainer {
    /// Runs `image` for `node_id` on `track` against HQ, the registry and the chain of
    /// `ctx` (its deployment file mounted read-only), and waits until `/health` answers.
    pub async fn start(
        ctx: &TestContext,
        hq: &Hq,
        docker: &'static DockerDaemon,
        registry: &Registry,
        image: &AgentImage,
        node_id: &str,
        track: &str,
    ) -> Self {
        let state = tempfile::tempdir().expect("the agent's state directory");
        let port = free_port();
        let name = format!("sdv-agent-{node_id}");
        let deployment = ctx.deployment_file();
        let socket = docker.socket();
        let env = [
            ("PORT", port.to_string()),
            ("NODE_ID", node_id.to_owned()),
            ("JILHQ_URL", hq.url.clone()),
            ("JILHQ_SHARED_SECRET", SHARED_SECRET.to_owned()),
            ("SIGNING_KEY_ID", KEY_ID.to_owned()),
            ("REGISTRY_URL", registry.address.clone()),
            ("DOCKER_HOST", "unix:///var/run/docker.sock".to_owned()),
            ("SDV_AGENT_TRACK", track.to_owned()),
            ("SDV_DEPLOYMENT", "/etc/sdv/deployment.json".to_owned()),
            ("SDV_NODE_URL", ctx.node.rpc_url()),
            ("SDV_AGENT_HEARTBEAT_MS", "2000".to_owned()),
            ("RUST_LOG", crate::service_log()),
        ];
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-v",
            &format!("{}:/var/run/docker.sock", socket.display()),
            "-v",
            &format!("{}:/var/lib/sdv-agent", state.path().display()),
            "-v",
            &format!("{}:/etc/sdv/deployment.json:ro", deployment.display()),
            "--memory",
            "128m",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--restart",
            "unless-stopped",
            "--label",
            "sdv.role=agent",
            "--label",
            &format!("sdv.node={node_id}"),
        ]
        .map(str::to_owned)
        .into();
        for (key, value) in env {
            args.push("-e".into());
            args.push(format!("{key}={value}"));
        }
        args.push(image.reference.clone());
        docker.must(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let container = Self {
            node_id: node_id.into(),
            url: format!("http://127.0.0.1:{port}"),
            name,
            docker,
            _state: state,
        };
        container.wait_healthy().await;
        container
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/health", self.url)).await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the agent's container did not answer /health: {}",
                self.docker
                    .docker(&["logs", "--tail", "20", &self.name])
                    .stderr
                    .escape_ascii()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `docker inspect --format <format>` of the container, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        self.docker
            .must(&["inspect", "--format", format, &self.name])
            .trim()
            .to_owned()
    }
}

impl Drop for AgentContainer {
    fn drop(&mut self) {
        let _ = self.docker.docker(&["rm", "-f", &self.name]);
    }
}
