//! Attacks on the fleet's update path and the faults it must survive: every forged, replayed,
//! stale, tampered, unapproved, rolled-back, oversized or self-targeting command is refused with
//! the nodes' containers as they were and the refusal on record at HQ; a registry or an agent
//! that is down fails its part of a distribution, named, and nothing else.

use std::time::{Duration, Instant};

use reqwest::Method;
use sdv_config::Secret;
use sdv_fleet::{now_ms, KeyRing, PullCommand, PullRequest, SigningKey};
use sdv_system_tests::{
    docker::DockerDaemon,
    fleet::{
        approve_release, key_ring, release, run_app, running_digest, Agent, FleetStack, Hq, KEY_ID,
    },
    TestContext,
};
use sdv_types::governance::Track;
use serde_json::{json, Value};

const IMAGE: &str = "settlement-api";
/// The name the agent's own image is published under.
const AGENT_IMAGE: &str = "sdv-agent";
/// Six minutes: beyond the five-minute window of a command's timestamp.
const SIX_MINUTES_MS: i64 = 6 * 60 * 1000;

/// A pull command for `image:tag` at `digest` on devnet, signed with `keys` at `timestamp`.
fn command(keys: &KeyRing, image: &str, tag: &str, digest: &str, timestamp: i64) -> PullCommand {
    PullCommand::sign(
        keys,
        PullRequest {
            image: image.into(),
            tag: tag.into(),
            digest: digest.into(),
            track: "devnet".into(),
        },
        timestamp,
    )
}

/// Sends `command` to the agent: (status, report).
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

/// Sends `command`, asserting it is refused with `status` and a reason containing `reason`;
/// returns the reason.
async fn refused(agent: &Agent, command: &PullCommand, status: u16, reason: &str) -> String {
    let (answered, report) = pull(agent, command).await;
    assert_eq!(answered, status, "{report}");
    assert_eq!(report["outcome"], "refused", "{report}");
    assert_eq!(report["nonce"], command.nonce.as_str(), "{report}");
    let given = report["reason"].as_str().unwrap_or_default().to_owned();
    assert!(given.contains(reason), "{reason:?} not in {report}");
    given
}

/// Waits (30 s at most) for HQ's `refused_command` alert of `node` about the command `nonce`
/// (the agent reports refusals in the background) and returns it; its reason must be `reason`.
async fn refusal_alert(hq: &Hq, node: &str, nonce: &str, reason: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, alerts) = hq.admin(Method::GET, "/v1/fleet/alerts", None).await;
        assert_eq!(status, 200, "{alerts}");
        let found = alerts["alerts"].as_array().and_then(|all| {
            all.iter()
                .find(|a| {
                    a["rule"] == "refused_command"
                        && a["node_id"] == node
                        && a["detail"]["nonce"] == nonce
                })
                .cloned()
        });
        if let Some(alert) = found {
            assert_eq!(alert["detail"]["reason"], reason, "{alert}");
            assert_eq!(alert["detail"]["outcome"], "refused", "{alert}");
            return alert;
        }
        assert!(
            Instant::now() < deadline,
            "no refused_command alert of {node} for {nonce}: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The audit log, newest first (the last 1000 entries).
async fn audit(hq: &Hq) -> Vec<Value> {
    let (status, log) = hq.admin(Method::GET, "/v1/audit?limit=1000", None).await;
    assert_eq!(status, 200, "{log}");
    log["entries"].as_array().cloned().unwrap_or_default()
}

/// Asserts that each `(container, digest)` still runs its digest.
fn unchanged(docker: &DockerDaemon, expected: &[(&str, &str)], after: &str) {
    for (container, digest) in expected {
        assert_eq!(
            running_digest(docker, container),
            *digest,
            "{container} after {after}"
        );
    }
}

/// Registers, signs and pins `name:tag` at `digest` on devnet at HQ.
async fn register(hq: &Hq, name: &str, tag: &str, digest: &str) {
    let (status, released) = hq
        .admin(
            Method::POST,
            "/v1/registry/release",
            Some(json!({ "name": name, "tag": tag, "digest": digest, "track": "devnet" })),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {released}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_attack_on_the_update_path_is_refused_with_nothing_changed_and_audited() {
    // Given HQ, a registry, and two devnet nodes each running the approved release 1 of the
    // app with its agent; node B's agent reads manifests of 100 bytes at most.
    let ctx = TestContext::new().await;
    let docker = DockerDaemon::shared();
    let FleetStack {
        deployment,
        registry,
        hq,
        repository,
        first,
        ..
    } = FleetStack::start(&ctx, IMAGE, "attacks release 1").await;
    let run = format!("{}-attacks", std::process::id());
    let (node_a, node_b) = (format!("node-{run}-a"), format!("node-{run}-b"));
    let (app_a, app_b) = (format!("app-{run}-a"), format!("app-{run}-b"));
    let own = format!("agent-{run}-a");
    let at_release_1 = format!("{repository}@{first}");
    run_app(docker, &at_release_1, &node_a, &app_a);
    run_app(docker, &at_release_1, &node_b, &app_b);
    let a = Agent::start(&hq, docker, &registry, &deployment, &node_a, "devnet").await;
    let b = Agent::start_with(
        &hq,
        docker,
        &registry,
        &deployment,
        &node_b,
        "devnet",
        &[("SDV_AGENT_MAX_MANIFEST_BYTES", "100")],
    )
    .await;
    hq.wait_for_agents(2).await;
    // And release 2, approved by 7 validators.
    let second = docker.make_image(&format!("{repository}:1.1.0"), "attacks release 2");
    approve_release(&ctx, release(IMAGE, "1.1.0", &second, Track::Devnet, 2), 7).await;
    let keys = key_ring();

    // An operator's request with a wrong admin key: 401, and on record.
    let response = reqwest::Client::new()
        .get(format!("{}/v1/fleet/agents", hq.url))
        .header("x-api-key", "not-the-admin-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized", "{body}");
    assert!(
        audit(&hq).await.iter().any(|e| e["actor"] == "anonymous"
            && e["action"] == "GET /v1/fleet/agents"
            && e["detail"]["decision"] == "refused"
            && e["detail"]["reason"] == "Invalid admin API key"),
        "the wrong admin key is audited"
    );

    // A command signed with another secret, and one changed after signing: 401.
    let other = KeyRing::new(vec![SigningKey::new(
        KEY_ID,
        Secret::new("not-the-shared-secret-0123456789"),
    )
    .unwrap()])
    .unwrap();
    let forged = command(&other, IMAGE, "1.1.0", &second, now_ms());
    let reason = refused(&a, &forged, 401, "the signature does not verify").await;
    refusal_alert(&hq, &node_a, &forged.nonce, &reason).await;
    let mut altered = command(&keys, IMAGE, "1.0.0", &first, now_ms());
    altered.request.tag = "1.1.0".into();
    altered.request.digest = second.clone();
    let reason = refused(&a, &altered, 401, "the signature does not verify").await;
    refusal_alert(&hq, &node_a, &altered.nonce, &reason).await;
    unchanged(docker, &[(&app_a, &first), (&app_b, &first)], "forgeries");

    // Commands signed 6 minutes ago and 6 minutes ahead: 403.
    let stale = command(&keys, IMAGE, "1.1.0", &second, now_ms() - SIX_MINUTES_MS);
    let reason = refused(&a, &stale, 403, "older than the 5-minute window").await;
    refusal_alert(&hq, &node_a, &stale.nonce, &reason).await;
    let future = command(&keys, IMAGE, "1.1.0", &second, now_ms() + SIX_MINUTES_MS);
    let reason = refused(
        &a,
        &future,
        403,
        "in the future, beyond the 5-minute window",
    )
    .await;
    refusal_alert(&hq, &node_a, &future.nonce, &reason).await;
    unchanged(
        docker,
        &[(&app_a, &first), (&app_b, &first)],
        "stale commands",
    );

    // An approved release whose manifest is larger than node B reads: 403.
    let oversized = command(&keys, IMAGE, "1.1.0", &second, now_ms());
    let reason = refused(&b, &oversized, 403, "the manifest is larger than 100 bytes").await;
    refusal_alert(&hq, &node_b, &oversized.nonce, &reason).await;
    unchanged(
        docker,
        &[(&app_a, &first), (&app_b, &first)],
        "an oversized manifest",
    );

    // A valid command deploys release 2 on node A; the same command again is a replay: 403.
    let valid = command(&keys, IMAGE, "1.1.0", &second, now_ms());
    let (status, report) = pull(&a, &valid).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["outcome"], "deployed", "{report}");
    unchanged(
        docker,
        &[(&app_a, &second), (&app_b, &first)],
        "a valid command",
    );
    let reason = refused(&a, &valid, 403, "a replayed command").await;
    refusal_alert(&hq, &node_a, &valid.nonce, &reason).await;
    unchanged(docker, &[(&app_a, &second), (&app_b, &first)], "a replay");

    // Release 1 again, with a fresh nonce, on the node that runs release 2: a rollback, 403.
    let rollback = command(&keys, IMAGE, "1.0.0", &first, now_ms());
    let reason = refused(&a, &rollback, 403, "rollback refused: release 1 is older").await;
    refusal_alert(&hq, &node_a, &rollback.nonce, &reason).await;
    unchanged(docker, &[(&app_a, &second), (&app_b, &first)], "a rollback");

    // Release 3, signed at HQ and approved, then another image pushed under its tag: the
    // registry's manifest is not the signed digest, and node A refuses HQ's command.
    let tag_3 = "1.2.0";
    let third = docker.make_image(&format!("{repository}:{tag_3}"), "attacks release 3");
    register(&hq, IMAGE, tag_3, &third).await;
    approve_release(&ctx, release(IMAGE, tag_3, &third, Track::Devnet, 3), 7).await;
    let swapped = docker.make_image(&format!("{repository}:{tag_3}"), "attacks not release 3");
    assert_ne!(third, swapped);
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": tag_3, "track": "devnet", "nodes": [node_a] }))
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    let result = &job["results"][&node_a];
    assert_eq!(result["outcome"], "refused", "{job}");
    let reason = result["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        format!("the registry serves {swapped} under the tag, not the signed {third}"),
        "{job}"
    );
    let nonce = result["report"]["nonce"].as_str().unwrap_or_default();
    refusal_alert(&hq, &node_a, nonce, reason).await;
    unchanged(
        docker,
        &[(&app_a, &second), (&app_b, &first)],
        "a swapped tag",
    );

    // Release 4, registered and signed at HQ but never approved: HQ refuses to distribute it,
    // on record, and node A refuses it when sent directly.
    let fourth = docker.make_image(&format!("{repository}:1.3.0"), "attacks release 4");
    register(&hq, IMAGE, "1.3.0", &fourth).await;
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.3.0", "track": "devnet", "nodes": [node_a] }))
        .await;
    assert_eq!(job["state"], "refused", "{job}");
    let reason = job["reason"].as_str().unwrap_or_default().to_owned();
    assert!(
        reason.starts_with("ValidatorGovernance has not approved"),
        "{job}"
    );
    assert!(
        audit(&hq).await.iter().any(|e| e["action"] == "distribute"
            && e["subject"] == format!("{IMAGE}:1.3.0")
            && e["detail"]["decision"] == "refused"
            && e["detail"]["reason"] == reason.as_str()),
        "the refused distribution is audited"
    );
    let unapproved = command(&keys, IMAGE, "1.3.0", &fourth, now_ms());
    let reason = refused(&a, &unapproved, 403, "is not approved on-chain for devnet").await;
    refusal_alert(&hq, &node_a, &unapproved.nonce, &reason).await;
    unchanged(
        docker,
        &[(&app_a, &second), (&app_b, &first)],
        "an unapproved digest",
    );

    // The agent's own container (labelled sdv.role=agent on node A, from an approved image):
    // a command for its image is refused, and the container is left alone.
    let agent_repository = format!("{}/{AGENT_IMAGE}", registry.address);
    let agent_1 = docker.make_image(&format!("{agent_repository}:1.0.0"), "agent release 1");
    let agent_2 = docker.make_image(&format!("{agent_repository}:1.1.0"), "agent release 2");
    approve_release(
        &ctx,
        release(AGENT_IMAGE, "1.0.0", &agent_1, Track::Devnet, 1),
        7,
    )
    .await;
    approve_release(
        &ctx,
        release(AGENT_IMAGE, "1.1.0", &agent_2, Track::Devnet, 2),
        7,
    )
    .await;
    docker.must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--label",
        "sdv.role=agent",
        "--label",
        &format!("sdv.node={node_a}"),
        "--name",
        &own,
        &format!("{agent_repository}@{agent_1}"),
    ]);
    let own_image = command(&keys, AGENT_IMAGE, "1.1.0", &agent_2, now_ms());
    let reason = refused(&a, &own_image, 403, "is the agent's own image").await;
    refusal_alert(&hq, &node_a, &own_image.nonce, &reason).await;
    unchanged(
        docker,
        &[(&app_a, &second), (&app_b, &first), (&own, &agent_1)],
        "a command for the agent's own image",
    );

    for name in [&app_a, &app_b, &own] {
        docker.must(&["rm", "-f", name]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_registry_down_and_one_agent_down() {
    // Given HQ (the default 30 s per node), a registry, and 10 devnet nodes each running the
    // approved release 1 of the app with its agent.
    let ctx = TestContext::new().await;
    let docker = DockerDaemon::shared();
    let FleetStack {
        deployment,
        mut registry,
        hq,
        repository,
        first,
        ..
    } = FleetStack::start(&ctx, IMAGE, "faults release 1").await;
    let run = format!("{}-faults", std::process::id());
    let apps: Vec<String> = (0..10).map(|i| format!("app-{run}-{i}")).collect();
    let mut agents = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let node = format!("node-{run}-{i}");
        run_app(docker, &format!("{repository}@{first}"), &node, app);
        agents.push(Agent::start(&hq, docker, &registry, &deployment, &node, "devnet").await);
    }
    hq.wait_for_agents(10).await;
    // And release 2, signed at HQ and approved.
    let second = docker.make_image(&format!("{repository}:1.1.0"), "faults release 2");
    register(&hq, IMAGE, "1.1.0", &second).await;
    approve_release(&ctx, release(IMAGE, "1.1.0", &second, Track::Devnet, 2), 7).await;

    // When the registry is down, the distribution fails on every node, each naming the
    // registry, and no container changes.
    registry.stop();
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.1.0", "track": "devnet" }))
        .await;
    assert_eq!(job["state"], "failed", "{job}");
    for agent in &agents {
        let result = &job["results"][&agent.node_id];
        assert_eq!(result["outcome"], "failed", "{job}");
        let reason = result["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&format!(
                "http://{}/v2/{IMAGE}/manifests/1.1.0",
                registry.address
            )),
            "{reason}"
        );
    }
    for app in &apps {
        assert_eq!(running_digest(docker, app), first, "{app}, registry down");
    }
    registry.restart();

    // When node 3's agent is killed, the distribution reaches the other 9 and ends partial,
    // naming node 3 as failed and why.
    agents[3].kill_9();
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.1.0", "track": "devnet" }))
        .await;
    assert_eq!(job["state"], "partial", "{job}");
    for (i, (agent, app)) in agents.iter().zip(&apps).enumerate() {
        let result = &job["results"][&agent.node_id];
        if i == 3 {
            assert_eq!(result["outcome"], "failed", "{job}");
            let reason = result["reason"].as_str().unwrap_or_default();
            // A killed agent's port is closed: HQ hears so at once, before its 30 s timeout.
            assert!(
                reason.starts_with("unreachable: ") && reason.contains(&agent.url),
                "{reason}"
            );
            assert_eq!(running_digest(docker, app), first, "node 3 is down");
        } else {
            assert_eq!(result["outcome"], "ok", "{job}");
            assert_eq!(running_digest(docker, app), second, "node {i}");
        }
    }

    // When node 5's agent hangs (its port takes the connection, nothing answers), the
    // distribution of release 3 waits for it the 30 s and ends partial, naming it.
    let third = docker.make_image(&format!("{repository}:1.2.0"), "faults release 3");
    register(&hq, IMAGE, "1.2.0", &third).await;
    approve_release(&ctx, release(IMAGE, "1.2.0", &third, Track::Devnet, 3), 7).await;
    agents[5].pause();
    let started = std::time::Instant::now();
    let job = hq
        .distribute(json!({ "image": IMAGE, "tag": "1.2.0", "track": "devnet" }))
        .await;
    let waited = started.elapsed();
    assert_eq!(
        running_digest(docker, &apps[5]),
        second,
        "node 5 kept release 2"
    );
    // (Resumed, it may still serve the command it was sent, which is fresh and approved.)
    agents[5].resume();
    assert_eq!(job["state"], "partial", "{job}");
    assert!(
        waited >= std::time::Duration::from_secs(30),
        "the job ended after {waited:?}"
    );
    let hung = &job["results"][&agents[5].node_id];
    assert_eq!(hung["outcome"], "failed", "{job}");
    assert_eq!(
        hung["reason"], "timeout: no answer within 30000 ms",
        "{job}"
    );
    for (i, (agent, app)) in agents.iter().zip(&apps).enumerate() {
        if i != 3 && i != 5 {
            assert_eq!(job["results"][&agent.node_id]["outcome"], "ok", "{job}");
            assert_eq!(running_digest(docker, app), third, "node {i}");
        }
    }

    for app in &apps {
        docker.must(&["rm", "-f", app]);
    }
}
