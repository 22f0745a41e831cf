//! Fleet distribution end to end: `sdv-fleet-hq`, `sdv-agent`s on a real Docker engine and
//! registry, and ValidatorGovernance on the real node deciding what may run.

use reqwest::Method;
use sdv_fleet::{now_ms, PullCommand, PullRequest};
use sdv_system_tests::{
    docker::DockerDaemon,
    fleet::{approve_release, key_ring, release, run_app, running_digest, vote, Agent, FleetStack},
    TestContext,
};
use sdv_types::governance::Track;
use serde_json::{json, Value};

const IMAGE: &str = "settlement-api";

async fn pull(agent: &Agent, command: &PullCommand) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/pull", agent.url))
        .json(command)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_release_reaches_ten_agents_and_not_before_its_seventh_vote() {
    // Given HQ, a registry, and 10 nodes each running release 1 of the app with its agent.
    let ctx = TestContext::new().await;
    let docker = DockerDaemon::shared();
    let FleetStack {
        deployment,
        registry,
        hq,
        repository,
        first,
        ..
    } = FleetStack::start(&ctx, IMAGE, "release 1").await;
    let run = std::process::id();
    let mut agents = Vec::new();
    for i in 0..10 {
        let node = format!("node-{run}-{i}");
        run_app(
            docker,
            &format!("{repository}@{first}"),
            &node,
            &format!("app-{run}-{i}"),
        );
        agents.push(Agent::start(&hq, docker, &registry, &deployment, &node, "devnet").await);
    }
    hq.wait_for_agents(10).await;

    // And release 2, registered, signed and pinned at HQ, whose approval has 6 votes of 7.
    let second = docker.make_image(&format!("{repository}:1.1.0"), "release 2");
    assert_ne!(first, second);
    let (status, released) = hq
        .admin(
            Method::POST,
            "/v1/registry/release",
            Some(json!({ "name": IMAGE, "tag": "1.1.0", "digest": second, "track": "devnet" })),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {released}");
    let proposal =
        approve_release(&ctx, release(IMAGE, "1.1.0", &second, Track::Devnet, 2), 6).await;

    // Then HQ refuses to distribute it, and an agent called directly refuses it too.
    let refused = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.1.0", "track": "devnet" }))
        .await;
    assert_eq!(refused["state"], "refused", "{refused}");
    let command = PullCommand::sign(
        &key_ring(),
        PullRequest {
            image: IMAGE.into(),
            tag: "1.1.0".into(),
            digest: second.clone(),
            track: "devnet".into(),
        },
        now_ms(),
    );
    let (status, report) = pull(&agents[0], &command).await;
    assert_eq!(status, 403, "{report}");
    assert_eq!(report["outcome"], "refused", "{report}");
    for i in 0..10 {
        assert_eq!(
            running_digest(docker, &format!("app-{run}-{i}")),
            first,
            "node {i} unchanged"
        );
    }

    // When the 7th validator votes and the approval executes.
    vote(&ctx, proposal, 6..7).await;

    // Then the release reaches all 10, each reporting the expected digest.
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.1.0", "track": "devnet" }))
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");
    for (i, agent) in agents.iter().enumerate() {
        assert_eq!(
            running_digest(docker, &format!("app-{run}-{i}")),
            second,
            "node {i}"
        );
        let status: Value = reqwest::get(format!("{}/v1/status", agent.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            status["containers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["digest"] == second.as_str()),
            "{status}"
        );
    }
    let (_, deployments) = hq.admin(Method::GET, "/v1/fleet/deployments", None).await;
    let ours: Vec<&Value> = deployments["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["digest"] == second.as_str())
        .collect();
    assert_eq!(ours.len(), 10, "{deployments}");
    for d in ours {
        assert_eq!(d["running_digest"], second.as_str(), "{d}");
    }
    for i in 0..10 {
        docker.must(&["rm", "-f", &format!("app-{run}-{i}")]);
    }
}
