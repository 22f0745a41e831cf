//! The `fleet` group: how long a release takes to roll out through `sdv-fleet-hq` to one
//! `sdv-agent` and to ten, each with one app container of the same image size, measured in the
//! same run on a Docker engine and registry of the bench's own. A rollout is timed from
//! `POST /v1/fleet/distribute` to the job's final `succeeded`; each uses a release of its own,
//! registered at HQ and approved by 7 validators.

use std::time::{Duration, Instant};

use reqwest::Method;
use sdv_system_tests::{
    docker::{DockerDaemon, Registry},
    fleet::{approve_release, release, running_digest, Agent, Hq},
    TestContext,
};
use sdv_types::governance::Track;
use serde_json::json;

use crate::bench;

/// Ten agents may take at most this many times one agent's rollout.
const GOAL_RATIO: f64 = 1.5;
/// Nodes, each with its agent and one app container.
const NODES: usize = 10;
/// The app's image name in the registry.
const IMAGE: &str = "bench-app";
/// The app: a shell that exits on SIGTERM (as a service does), so that stopping it takes no
/// grace period (Docker's 10 s for a process that ignores the signal, as a bare `sleep` as
/// PID 1 does) and the figures are the fleet's.
const APP_COMMAND: &str = "trap 'exit 0' TERM; sleep 3600 & wait";
/// How often the job is polled while it runs.
const POLL: Duration = Duration::from_millis(20);

/// The app's releases: each a new image (a marker of the same length, so the same size),
/// pushed, registered at HQ and approved on-chain with a higher release number.
struct Releases<'a> {
    ctx: &'a TestContext,
    hq: &'a Hq,
    docker: &'a DockerDaemon,
    repository: String,
    number: u64,
}

impl Releases<'_> {
    /// The next release: (tag, digest).
    async fn next(&mut self) -> (String, String) {
        self.number += 1;
        let tag = format!("1.{}.0", self.number);
        let digest = self.docker.make_image(
            &format!("{}:{tag}", self.repository),
            &format!("release {:04}", self.number),
        );
        let (status, body) = self
            .hq
            .admin(
                Method::POST,
                "/v1/registry/release",
                Some(json!({ "name": IMAGE, "tag": tag, "digest": digest, "track": "devnet" })),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
        approve_release(
            self.ctx,
            release(IMAGE, &tag, &digest, Track::Devnet, self.number),
            7,
        )
        .await;
        (tag, digest)
    }
}

/// Runs the group and prints its figures with what they are compared to.
pub(crate) async fn run() {
    sdv_system_tests::reexec_from_deps_dir("sdv-bench");
    let ctx = TestContext::new().await;
    let deployment = ctx.deployment_file();
    let docker = DockerDaemon::shared();
    let registry = Registry::start();
    let pool = sdv_system_tests::fresh_database().await;
    let hq = Hq::start(
        &deployment,
        &sdv_system_tests::indexer::url_of(&pool).await,
        &[],
    )
    .await;
    let mut releases = Releases {
        ctx: &ctx,
        hq: &hq,
        docker,
        repository: format!("{}/{IMAGE}", registry.address),
        number: 0,
    };

    let (_, first) = releases.next().await;
    let run = std::process::id();
    let nodes: Vec<String> = (0..NODES).map(|i| format!("bench-{run}-{i}")).collect();
    let apps: Vec<String> = (0..NODES).map(|i| format!("bench-app-{run}-{i}")).collect();
    let mut agents = Vec::new();
    for (node, app) in nodes.iter().zip(&apps) {
        run_app(
            docker,
            &format!("{}@{first}", releases.repository),
            node,
            app,
        );
        agents.push(Agent::start(&hq, docker, &registry, &deployment, node, "devnet").await);
    }
    hq.wait_for_agents(NODES).await;

    // Each agent connects to the chain on its first command: one rollout to all, not counted.
    let warm = releases.next().await;
    rollout(&hq, docker, &warm, &nodes, &apps).await;
    let one_release = releases.next().await;
    let one = rollout(&hq, docker, &one_release, &nodes[..1], &apps[..1]).await;
    let ten_release = releases.next().await;
    let ten = rollout(&hq, docker, &ten_release, &nodes, &apps).await;

    // The floor under both: the same container restarts done by the Engine alone (the
    // agent's own code, without HQ, the chain or the registry), one and ten at once.
    let engine = sdv_agent::Engine::new(docker.socket());
    let reference = format!("{}@{}", releases.repository, ten_release.1);
    let engine_one = restart_alone(&engine, &reference, &nodes[..1]).await;
    let engine_ten = restart_alone(&engine, &reference, &nodes).await;

    let ratio = ten / one;
    bench("rollout_1_agent_s", format!("{one:.3}"), "s");
    bench("rollout_10_agents_s", format!("{ten:.3}"), "s");
    bench("rollout_ratio", format!("{ratio:.3}"), "x");
    bench("engine_restart_1_s", format!("{engine_one:.3}"), "s");
    bench("engine_restart_10_s", format!("{engine_ten:.3}"), "s");
    bench(
        "engine_restart_ratio",
        format!("{:.3}", engine_ten / engine_one),
        "x",
    );
    bench(
        "rollout_10_over_engine_s",
        format!("{:.3}", ten - engine_ten),
        "s",
    );
    let met = if ratio <= GOAL_RATIO { "met" } else { "missed" };
    println!(
        "goal: rollout_ratio <= {GOAL_RATIO} ({met}); the ten nodes share one Engine on {} cores, \
         whose own restarts of ten containers take {:.1}x one",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        engine_ten / engine_one
    );

    drop(agents);
    for app in &apps {
        docker.must(&["rm", "-f", app]);
    }
}

/// Seconds the Engine takes to replace the app containers of `nodes` on `reference`, every
/// node at once, as their agents do in a rollout.
async fn restart_alone(engine: &sdv_agent::Engine, reference: &str, nodes: &[String]) -> f64 {
    let started = Instant::now();
    let restarts = nodes.iter().map(|node| async move {
        let containers = engine
            .node_containers(node)
            .await
            .expect("the node's containers");
        engine
            .replace(&containers, reference)
            .await
            .expect("the Engine replaces the containers");
    });
    futures::future::join_all(restarts).await;
    started.elapsed().as_secs_f64()
}

/// Runs node `node_id`'s app container `name` from `reference` (no network), which the
/// agent recreates with the same command.
fn run_app(docker: &DockerDaemon, reference: &str, node_id: &str, name: &str) {
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
        "/bin/sh",
        "-c",
        APP_COMMAND,
    ]);
}

/// Distributes release `(tag, digest)` to `nodes` and returns the seconds from the request
/// to the job's final state, which must be `succeeded` with every app on the digest.
async fn rollout(
    hq: &Hq,
    docker: &DockerDaemon,
    (tag, digest): &(String, String),
    nodes: &[String],
    apps: &[String],
) -> f64 {
    let body = json!({ "image": IMAGE, "tag": tag, "track": "devnet", "nodes": nodes });
    let started = Instant::now();
    let (status, queued) = hq
        .admin(Method::POST, "/v1/fleet/distribute", Some(body))
        .await;
    assert!(status == 200 || status == 202, "{status} {queued}");
    let job = queued["job_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no job: {queued}"));
    let path = format!("/v1/fleet/distribute/{job}");
    let (seconds, state) = loop {
        let (_, state) = hq.admin(Method::GET, &path, None).await;
        if !matches!(state["state"].as_str(), Some("queued" | "running")) {
            break (started.elapsed().as_secs_f64(), state);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the job did not end: {state}"
        );
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(state["state"], "succeeded", "{state}");
    for app in apps {
        assert_eq!(&running_digest(docker, app), digest, "{app}");
    }
    seconds
}
