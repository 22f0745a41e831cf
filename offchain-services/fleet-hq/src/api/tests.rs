//! The API over real HTTP on loopback, each test with a fresh database. The chain is not
//! started here: every check before the governance query is covered, and a distribution that
//! passed the checks is run directly ([`distribute::queue`] and [`distribute::run`]).

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use sdv_config::Secret;
use sdv_fleet::{
    now_ms, DeploymentReport, IdentityKey, KeyRing, NonceCache, Outcome, PullCommand, RequestAuth,
    SigningKey,
};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{
    distribute::{self, Distribution},
    monitor, store, AppState, Track,
};

const ADMIN_KEY: &str = "test-admin-key-0123456789";
const SHARED_SECRET: &str = "the-fleet-shared-secret-0001";

fn signing_key() -> SigningKey {
    SigningKey::new("sdv-hq-signing-key-01", Secret::new(SHARED_SECRET)).unwrap()
}

fn ring() -> KeyRing {
    KeyRing::new(vec![signing_key()]).unwrap()
}

fn digest(byte: u8) -> String {
    format!("sha256:{}", hex::encode([byte; 32]))
}

fn test_state(pool: PgPool) -> AppState {
    AppState {
        pool,
        keys: Arc::new(ring()),
        admin_key: Secret::new(ADMIN_KEY),
        governance: None,
        node_timeout: Duration::from_millis(500),
        heartbeat_stale: Duration::from_secs(180),
        http: reqwest::Client::new(),
    }
}

/// HQ served on a free loopback port.
struct Hq {
    base: String,
    state: AppState,
    http: reqwest::Client,
}

impl Hq {
    async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = super::app(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            state,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("a non-JSON answer ({status}): {text:?}"));
        (status, json)
    }

    /// An operator's request with `key`.
    async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self
            .operator(reqwest::Method::GET, path, Some(ADMIN_KEY), None)
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.operator(reqwest::Method::POST, path, Some(ADMIN_KEY), Some(body))
            .await
    }

    /// An agent's request, signed with `hmac` and, when given, `identity`.
    async fn agent(
        &self,
        method: reqwest::Method,
        path: &str,
        node_id: &str,
        hmac: &SigningKey,
        identity: Option<&IdentityKey>,
        body: &[u8],
    ) -> (u16, Value) {
        let auth = RequestAuth::sign(
            node_id,
            method.as_str(),
            path,
            body,
            now_ms(),
            hmac,
            identity,
        );
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        self.send(request).await
    }

    /// Registers `node_id` at `agent_url` on `track`, signed by `identity`.
    async fn register(
        &self,
        node_id: &str,
        agent_url: &str,
        track: &str,
        identity: &IdentityKey,
    ) -> (u16, Value) {
        self.register_claiming(node_id, agent_url, track, identity, identity.public_key())
            .await
    }

    async fn register_claiming(
        &self,
        node_id: &str,
        agent_url: &str,
        track: &str,
        identity: &IdentityKey,
        claimed: [u8; 32],
    ) -> (u16, Value) {
        let body = serde_json::to_vec(&json!({
            "agent_url": agent_url,
            "identity_key": hex::encode(claimed),
            "track": track,
        }))
        .unwrap();
        let path = format!("/v1/fleet/nodes/{node_id}/register-agent");
        self.agent(
            reqwest::Method::POST,
            &path,
            node_id,
            &signing_key(),
            Some(identity),
            &body,
        )
        .await
    }

    /// Registers, signs and pins `name:tag` at `digest` on `track`.
    async fn release(&self, name: &str, tag: &str, digest: &str, track: &str) {
        let (status, body) = self
            .post(
                "/v1/registry/release",
                json!({ "name": name, "tag": tag, "digest": digest, "track": track }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }
}

fn report(
    node_id: &str,
    image: &str,
    digest: &str,
    running: &str,
    outcome: Outcome,
) -> DeploymentReport {
    DeploymentReport {
        node_id: node_id.into(),
        image: image.into(),
        tag: "1.0.0".into(),
        digest: digest.into(),
        running_digest: Some(running.into()),
        outcome,
        reason: (outcome != Outcome::Deployed).then(|| "digest mismatch after pull".into()),
        containers: vec![image.into()],
        nonce: "00".repeat(16),
        timestamp: now_ms(),
        signature: String::new(),
    }
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn health_answers_without_a_key(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    let (status, body) = hq
        .operator(reqwest::Method::GET, "/health", None, None)
        .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({ "status": "healthy", "service": "sdv-fleet-hq" })
        )
    );
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn a_missing_or_wrong_admin_key_is_refused_and_recorded(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    // Given no key, then a wrong one, on an operator route.
    let (status, body) = hq
        .operator(
            reqwest::Method::POST,
            "/v1/registry/release",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "Admin API key required");
    assert_eq!(body["code"], "unauthorized");
    let (status, body) = hq
        .operator(
            reqwest::Method::GET,
            "/v1/fleet/nodes",
            Some("not-the-admin-key-at-all"),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "unauthorized");
    // Then both refusals are decisions and audit entries; nothing was registered.
    assert_eq!(hq.count("SELECT count(*) FROM hq_auth_decisions").await, 2);
    let audit = hq.get("/v1/audit?limit=10").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["GET /v1/fleet/nodes", "POST /v1/registry/release"]
    );
    assert_eq!(audit["entries"][0]["detail"]["decision"], "refused");
    assert_eq!(hq.count("SELECT count(*) FROM hq_images").await, 0);
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn the_image_manifest_requires_hmac_and_serves_pinned_signed_digests(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    hq.release("settlement-api", "1.4.2", &digest(0xab), "devnet")
        .await;
    // Registered but unsigned: not in the manifest.
    let (status, _) = hq
        .post(
            "/v1/registry/images",
            json!({ "name": "indexer", "tag": "2.0.0", "digest": digest(0xcd), "track": "devnet" }),
        )
        .await;
    assert_eq!(status, 201);
    let path = "/v1/registry/image-manifest";
    let (status, body) = hq.operator(reqwest::Method::GET, path, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "HMAC authentication required");
    let stranger = SigningKey::new(
        "sdv-hq-signing-key-01",
        Secret::new("another-secret-0123456"),
    )
    .unwrap();
    let (status, _) = hq
        .agent(
            reqwest::Method::GET,
            path,
            "validator-1",
            &stranger,
            None,
            b"",
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = hq
        .agent(
            reqwest::Method::GET,
            path,
            "validator-1",
            &signing_key(),
            None,
            b"",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let images = body["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["digest"], digest(0xab));
    let signature: sdv_fleet::DigestSignature = serde_json::from_value(images[0].clone()).unwrap();
    ring().verify_digest(&digest(0xab), &signature).unwrap();
    assert_eq!(hq.count("SELECT count(*) FROM hq_auth_decisions").await, 2);
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn registration_records_the_key_and_refuses_another_key_later(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    let identity = IdentityKey::generate();
    // A first registration creates the node and records its key.
    let (status, body) = hq
        .register("validator-1", "http://127.0.0.1:8055", "testnet", &identity)
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["first_registration"], true);
    let nodes = hq.get("/v1/fleet/nodes").await;
    assert_eq!(nodes["nodes"][0]["node_id"], "validator-1");
    assert_eq!(nodes["nodes"][0]["track"], "testnet");
    assert_eq!(
        nodes["nodes"][0]["identity_key"],
        hex::encode(identity.public_key())
    );
    assert_eq!(nodes["nodes"][0]["healthy"], false);
    // The same key again updates the address.
    let (status, body) = hq
        .register("validator-1", "http://127.0.0.1:9055", "testnet", &identity)
        .await;
    assert_eq!((status, &body["first_registration"]), (200, &json!(false)));
    let agents = hq.get("/v1/fleet/agents").await;
    assert_eq!(agents["agents"][0]["agent_url"], "http://127.0.0.1:9055");
    // Another key, claiming itself or the registered key, is refused.
    let intruder = IdentityKey::generate();
    let (status, _) = hq
        .register("validator-1", "http://10.0.0.66:8055", "testnet", &intruder)
        .await;
    assert_eq!(status, 401);
    let (status, _) = hq
        .register_claiming(
            "validator-1",
            "http://10.0.0.66:8055",
            "testnet",
            &intruder,
            identity.public_key(),
        )
        .await;
    assert_eq!(status, 401);
    // The registered key claiming a new one is refused too.
    let (status, body) = hq
        .register_claiming(
            "validator-1",
            "http://10.0.0.66:8055",
            "testnet",
            &identity,
            intruder.public_key(),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("refused")));
    // Nothing changed; each refusal is recorded.
    let agents = hq.get("/v1/fleet/agents").await;
    assert_eq!(agents["agents"][0]["agent_url"], "http://127.0.0.1:9055");
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_auth_decisions WHERE action = 'register-agent'")
            .await,
        3
    );
    let key: Vec<u8> = sqlx::query_scalar(
        "SELECT public_key FROM hq_validator_ed25519_keys WHERE node_id = 'validator-1'",
    )
    .fetch_one(&hq.state.pool)
    .await
    .unwrap();
    assert_eq!(key, identity.public_key());
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn a_forged_deployment_report_is_refused_and_mismatches_fire_alerts(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    let identity = IdentityKey::generate();
    hq.register("validator-1", "http://127.0.0.1:8055", "devnet", &identity)
        .await;
    hq.release("settlement-api", "1.0.0", &digest(0xab), "devnet")
        .await;
    let path = "/v1/fleet/nodes/validator-1/verify-deployment";
    let send = |report: DeploymentReport| {
        let body = serde_json::to_vec(&report).unwrap();
        let identity = &identity;
        let hq = &hq;
        async move {
            hq.agent(
                reqwest::Method::POST,
                path,
                "validator-1",
                &signing_key(),
                Some(identity),
                &body,
            )
            .await
        }
    };
    // A report signed by another key, sent in a request the node signed: refused.
    let forger = IdentityKey::generate();
    let forged = report(
        "validator-1",
        "settlement-api",
        &digest(0xab),
        &digest(0xab),
        Outcome::Deployed,
    )
    .sign(&forger);
    let (status, body) = send(forged).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_auth_decisions WHERE action = 'verify-deployment'")
            .await,
        1
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_image_deployments").await,
        0
    );
    // The node's own report of the pinned digest: deployed.
    let good = report(
        "validator-1",
        "settlement-api",
        &digest(0xab),
        &digest(0xab),
        Outcome::Deployed,
    )
    .sign(&identity);
    let (status, body) = send(good).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("deployed")),
        "{body}"
    );
    // Running another digest than the pinned one: a digest_mismatch alert.
    let tampered = report(
        "validator-1",
        "settlement-api",
        &digest(0xab),
        &digest(0xee),
        Outcome::Deployed,
    )
    .sign(&identity);
    let (status, body) = send(tampered).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("mismatch")),
        "{body}"
    );
    assert_eq!(body["matches"], false);
    // A refusal: a refused_command alert.
    let refused = report(
        "validator-1",
        "settlement-api",
        &digest(0xab),
        &digest(0xee),
        Outcome::Refused,
    )
    .sign(&identity);
    let (status, body) = send(refused.clone()).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("refused")),
        "{body}"
    );
    // The same report again (the agent sends it twice: answer and report) fires nothing new.
    let (status, _) = send(refused).await;
    assert_eq!(status, 200);
    let alerts = hq.get("/v1/fleet/alerts").await;
    let rules: Vec<&str> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["refused_command", "digest_mismatch"]);
    let deployments = hq.get("/v1/fleet/deployments").await;
    assert_eq!(deployments["deployments"][0]["status"], "refused");
    assert_eq!(
        deployments["deployments"][0]["running_digest"],
        digest(0xee)
    );
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn the_audit_log_refuses_update_delete_and_truncate(pool: PgPool) {
    store::audit(
        &pool,
        "operator",
        "release",
        Some("settlement-api"),
        json!({}),
    )
    .await
    .unwrap();
    for statement in [
        "UPDATE hq_audit_log SET actor = 'someone else'",
        "DELETE FROM hq_audit_log",
        "TRUNCATE hq_audit_log",
    ] {
        let error = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    let (count, actor): (i64, String) =
        sqlx::query_as("SELECT count(*), min(actor) FROM hq_audit_log")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((count, actor.as_str()), (1, "operator"));
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn distributing_an_unregistered_or_unsigned_image_is_refused_and_recorded(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    hq.register(
        "validator-1",
        "http://127.0.0.1:8055",
        "devnet",
        &IdentityKey::generate(),
    )
    .await;
    let (status, _) = hq
        .post(
            "/v1/registry/images",
            json!({ "name": "settlement-api", "tag": "1.0.0", "digest": digest(0xab), "track": "devnet" }),
        )
        .await;
    assert_eq!(status, 201);
    for (tag, why) in [("9.9.9", "is not registered"), ("1.0.0", "is not signed")] {
        let (status, body) = hq
            .post(
                "/v1/fleet/distribute",
                json!({ "image": "settlement-api", "tag": tag, "track": "devnet" }),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("refused")),
            "{body}"
        );
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
        let job = hq
            .get(&format!("/v1/fleet/distribute/{}", body["job_id"]))
            .await;
        assert_eq!(job["state"], "refused");
        assert!(job["reason"].as_str().unwrap().contains(why));
        assert!(!job["finished_at"].is_null());
    }
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_auth_decisions WHERE action = 'distribute'")
            .await,
        2
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_alerts WHERE rule = 'refused_command'")
            .await,
        2
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_audit_log WHERE action = 'distribute'")
            .await,
        2
    );
    let recent = hq.get("/v1/fleet/distributions").await;
    assert_eq!(recent["distributions"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn without_governance_a_signed_image_is_refused(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    hq.register(
        "validator-1",
        "http://127.0.0.1:8055",
        "devnet",
        &IdentityKey::generate(),
    )
    .await;
    hq.release("settlement-api", "1.0.0", &digest(0xab), "devnet")
        .await;
    // Not promoted to testnet: refused before the chain is asked.
    let (status, body) = hq
        .post(
            "/v1/fleet/distribute",
            json!({ "image": "settlement-api", "tag": "1.0.0", "track": "testnet" }),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("promoted to devnet only"),
        "{body}"
    );
    // On devnet, the chain must approve it, and no chain means no.
    let (status, body) = hq
        .post(
            "/v1/fleet/distribute",
            json!({ "image": "settlement-api", "tag": "1.0.0", "track": "devnet" }),
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("governance"),
        "{body}"
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_image_deployments").await,
        0
    );
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn promotion_goes_one_step_and_needs_governance(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    hq.release("settlement-api", "1.0.0", &digest(0xab), "devnet")
        .await;
    let path = "/v1/registry/images/settlement-api/promote";
    let (status, body) = hq
        .post(path, json!({ "digest": digest(0xab), "to": "mainnet" }))
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("one step"),
        "{body}"
    );
    let (status, body) = hq
        .post(path, json!({ "digest": digest(0xab), "to": "testnet" }))
        .await;
    assert_eq!(status, 403);
    assert!(
        body["error"].as_str().unwrap().contains("governance"),
        "{body}"
    );
    assert_eq!(hq.count("SELECT count(*) FROM hq_promotions").await, 0);
    let images = hq.get("/v1/registry/images?track=devnet").await;
    assert_eq!(images["images"][0]["track"], "devnet");
    // The stored signature verifies with the ring.
    let (status, body) = hq
        .post(
            "/v1/registry/images/settlement-api/verify",
            json!({ "digest": digest(0xab) }),
        )
        .await;
    assert_eq!((status, &body["valid"]), (200, &json!(true)), "{body}");
}

/// An agent that checks the pull command and reports the digest deployed.
struct Peer {
    node_id: String,
    identity: IdentityKey,
    seen: NonceCache,
}

async fn deploying_agent(
    State(peer): State<Arc<Peer>>,
    Json(command): Json<PullCommand>,
) -> (StatusCode, Json<Value>) {
    if let Err(e) = command.verify(&ring(), now_ms(), &peer.seen) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": e.to_string() })),
        );
    }
    let report = DeploymentReport {
        node_id: peer.node_id.clone(),
        image: command.request.image.clone(),
        tag: command.request.tag.clone(),
        digest: command.request.digest.clone(),
        running_digest: Some(command.request.digest.clone()),
        outcome: Outcome::Deployed,
        reason: None,
        containers: vec![command.request.image.clone()],
        nonce: command.nonce.clone(),
        timestamp: now_ms(),
        signature: String::new(),
    }
    .sign(&peer.identity);
    (StatusCode::OK, Json(serde_json::to_value(report).unwrap()))
}

async fn serve_peer(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn a_distribution_with_a_silent_agent_ends_partial_after_the_timeout(pool: PgPool) {
    let hq = Hq::start(test_state(pool)).await;
    let answering = Arc::new(Peer {
        node_id: "validator-a".into(),
        identity: IdentityKey::generate(),
        seen: NonceCache::default(),
    });
    let silent_identity = IdentityKey::generate();
    let answering_url = serve_peer(
        Router::new()
            .route("/v1/pull", post(deploying_agent))
            .with_state(answering.clone()),
    )
    .await;
    let silent_url = serve_peer(Router::new().route(
        "/v1/pull",
        post(|| async { std::future::pending::<()>().await }),
    ))
    .await;
    hq.register("validator-a", &answering_url, "devnet", &answering.identity)
        .await;
    hq.register("validator-b", &silent_url, "devnet", &silent_identity)
        .await;
    hq.release("settlement-api", "1.0.0", &digest(0xab), "devnet")
        .await;
    // Given a distribution that passed the checks (governance is the chain's: not here).
    let image = store::image(&hq.state.pool, "settlement-api", &digest(0xab))
        .await
        .unwrap()
        .unwrap();
    let nodes = store::nodes_of_track(&hq.state.pool, "devnet")
        .await
        .unwrap();
    let request = Distribution {
        image: "settlement-api".into(),
        tag: "1.0.0".into(),
        track: Track::Devnet,
        nodes: None,
    };
    let job = distribute::queue(&hq.state, "operator", &request, image, nodes, Some(1))
        .await
        .unwrap();
    let id = job.id;
    // When it runs: one agent deploys, the other never answers.
    let started = std::time::Instant::now();
    let final_state = distribute::run(&hq.state, job).await.unwrap();
    assert_eq!(final_state, "partial");
    assert!(started.elapsed() >= hq.state.node_timeout);
    assert!(started.elapsed() < hq.state.node_timeout * 4);
    // Then each node's outcome is in the job and the deployments.
    let job = hq.get(&format!("/v1/fleet/distribute/{id}")).await;
    assert_eq!(job["state"], "partial");
    assert_eq!(job["results"]["validator-a"]["outcome"], "ok");
    assert_eq!(
        job["results"]["validator-a"]["report"]["running_digest"],
        digest(0xab)
    );
    assert_eq!(job["results"]["validator-b"]["outcome"], "failed");
    let reason = job["results"]["validator-b"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("timeout"), "{reason}");
    let deployments = hq.get("/v1/fleet/deployments").await;
    let statuses: Vec<(&str, &str)> = deployments["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["node_id"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [("validator-a", "deployed"), ("validator-b", "failed")]
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_audit_log WHERE action = 'distribution-finished'")
            .await,
        1
    );
}

#[sqlx::test(migrator = "crate::MIGRATOR")]
async fn a_missed_heartbeat_fires_once_per_episode(pool: PgPool) {
    let mut state = test_state(pool);
    state.heartbeat_stale = Duration::from_millis(300);
    let hq = Hq::start(state).await;
    let identity = IdentityKey::generate();
    hq.register("validator-1", "http://127.0.0.1:8055", "devnet", &identity)
        .await;
    assert!(monitor::check_heartbeats(&hq.state)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        monitor::check_heartbeats(&hq.state).await.unwrap(),
        ["validator-1"]
    );
    assert!(monitor::check_heartbeats(&hq.state)
        .await
        .unwrap()
        .is_empty());
    // A heartbeat ends the episode and makes the node healthy.
    let (status, body) = hq
        .agent(
            reqwest::Method::POST,
            "/v1/fleet/nodes/validator-1/heartbeat",
            "validator-1",
            &signing_key(),
            Some(&identity),
            br#"{"running":[]}"#,
        )
        .await;
    assert_eq!(
        (status, &body["resolved_alerts"]),
        (200, &json!(1)),
        "{body}"
    );
    assert_eq!(hq.get("/v1/fleet/nodes").await["nodes"][0]["healthy"], true);
    // A heartbeat without the identity signature is refused.
    let (status, _) = hq
        .agent(
            reqwest::Method::POST,
            "/v1/fleet/nodes/validator-1/heartbeat",
            "validator-1",
            &signing_key(),
            None,
            b"{}",
        )
        .await;
    assert_eq!(status, 401);
    // Silent again: a second episode.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        monitor::check_heartbeats(&hq.state).await.unwrap(),
        ["validator-1"]
    );
    assert_eq!(
        hq.get("/v1/fleet/nodes").await["nodes"][0]["healthy"],
        false
    );
    assert_eq!(
        hq.count("SELECT count(*) FROM hq_alerts WHERE rule = 'missed_heartbeat'")
            .await,
        2
    );
}
