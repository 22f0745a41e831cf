//! `sdv-agent` as the seed deploys it: a container made by `image.sh`, on the host's network,
//! with the engine's socket, 128 MB, a read-only root and no new privileges; it updates its
//! node's app and never itself.

use std::net::{IpAddr, Ipv4Addr};

use reqwest::Method;
use sdv_fleet::{now_ms, PullCommand, PullRequest};
use sdv_system_tests::{
    docker::{DockerDaemon, Registry},
    fleet::{
        approve_release, key_ring, release, run_app, running_digest, AgentContainer, AgentImage, Hq,
    },
    TestContext,
};
use sdv_types::governance::Track;
use serde_json::{json, Value};

const IMAGE: &str = "settlement-api";

/// Removes the named containers when the test ends, passed or not.
struct Removed(&'static DockerDaemon, Vec<String>);

impl Drop for Removed {
    fn drop(&mut self) {
        for name in &self.1 {
            let _ = self.0.docker(&["rm", "-f", name]);
        }
    }
}

/// A pull command signed with HQ's key, as HQ would send it.
fn command(image: &str, tag: &str, digest: &str) -> PullCommand {
    PullCommand::sign(
        &key_ring(),
        PullRequest {
            image: image.into(),
            tag: tag.into(),
            digest: digest.into(),
            track: "devnet".into(),
        },
        now_ms(),
    )
}

/// Posts `command` to the agent's `/v1/pull` from `source`: (status, body).
async fn pull_from(source: IpAddr, url: &str, command: &PullCommand) -> (u16, Value) {
    let response = reqwest::Client::builder()
        .local_address(source)
        .build()
        .unwrap()
        .post(format!("{url}/v1/pull"))
        .json(command)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_container_updates_its_node_and_never_itself() {
    // Given HQ, a registry, and a node running release 1 of the app.
    let ctx = TestContext::new().await;
    let docker = DockerDaemon::shared();
    let registry = Registry::start();
    let pool = sdv_system_tests::fresh_database().await;
    let hq = Hq::start(
        &ctx.deployment_file(),
        &sdv_system_tests::indexer::url_of(&pool).await,
        &[],
    )
    .await;
    let run = std::process::id();
    let node = format!("node-{run}-container");
    let app = format!("app-{run}-container");
    let _removed = Removed(docker, vec![app.clone()]);
    let repository = format!("{}/{IMAGE}", registry.address);
    let first = docker.make_image(&format!("{repository}:1.0.0"), "release 1");
    approve_release(&ctx, release(IMAGE, "1.0.0", &first, Track::Devnet, 1), 7).await;
    run_app(docker, &format!("{repository}@{first}"), &node, &app);

    // When its agent runs as a container made by image.sh, the seed's way.
    let image = AgentImage::build(docker, &registry, &format!("{run}"));
    let agent = AgentContainer::start(&ctx, &hq, docker, &registry, &image, &node, "devnet").await;

    // Then Docker enforces the limits it was given.
    assert_eq!(agent.inspect("{{.HostConfig.Memory}}"), "134217728");
    assert_eq!(agent.inspect("{{.HostConfig.ReadonlyRootfs}}"), "true");
    assert_eq!(
        agent.inspect("{{json .HostConfig.SecurityOpt}}"),
        r#"["no-new-privileges"]"#
    );
    assert_eq!(
        agent.inspect("{{.HostConfig.RestartPolicy.Name}}"),
        "unless-stopped"
    );
    let agent_id = agent.inspect("{{.Id}}");

    // And it reaches the engine through the mounted socket, and registers at HQ.
    let health: Value = reqwest::get(format!("{}/health", agent.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({ "status": "ok", "docker": "connected" }));
    let agents = hq.wait_for_agents(1).await;
    assert!(agents.to_string().contains(&node), "{agents}");

    // When release 2, registered at HQ and approved by 7 validators, is distributed.
    let second = docker.make_image(&format!("{repository}:1.1.0"), "release 2");
    let (status, registered) = hq
        .admin(
            Method::POST,
            "/v1/registry/release",
            Some(json!({ "name": IMAGE, "tag": "1.1.0", "digest": second, "track": "devnet" })),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {registered}");
    approve_release(&ctx, release(IMAGE, "1.1.0", &second, Track::Devnet, 2), 7).await;
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.1.0", "track": "devnet", "nodes": [node] }))
        .await;

    // Then the node's app runs it, and the agent's own container is the same, still running.
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(running_digest(docker, &app), second);
    assert_eq!(agent.inspect("{{.Id}}"), agent_id);
    assert_eq!(agent.inspect("{{.State.Running}}"), "true");

    // And a command for the agent's own image, approved on-chain, is refused.
    approve_release(
        &ctx,
        release(
            "sdv-agent",
            &format!("{run}"),
            &image.digest,
            Track::Devnet,
            1,
        ),
        7,
    )
    .await;
    let own = command("sdv-agent", &format!("{run}"), &image.digest);
    let (status, report) = pull_from(Ipv4Addr::LOCALHOST.into(), &agent.url, &own).await;
    assert_eq!(status, 403, "{report}");
    assert_eq!(report["outcome"], "refused", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or("")
            .contains("own image"),
        "{report}"
    );
    assert_eq!(agent.inspect("{{.Id}}"), agent_id);
    assert_eq!(agent.inspect("{{.State.Running}}"), "true");

    // And a pull from an address not allowed (127.0.0.2) is refused before anything else.
    let third = command(IMAGE, "1.1.0", &second);
    let (status, body) = pull_from(Ipv4Addr::new(127, 0, 0, 2).into(), &agent.url, &third).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        json!({ "error": "127.0.0.2 may not send pull commands" })
    );
    assert_eq!(running_digest(docker, &app), second);
}
