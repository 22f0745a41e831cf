//! The agent's HTTP API.
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | `GET` | `/health` | 200 `{"status":"ok","docker":"connected"}`, 503 `{"status":"degraded","docker":"unreachable: ..."}` |
//! | `GET` | `/v1/status` | 200 `{"node_id", "track", "containers": [{id, name, image, digest, state, agent}]}` |
//! | `POST` | `/v1/pull` | a [`PullCommand`]: 200 with the signed [`DeploymentReport`](sdv_fleet::DeploymentReport) when deployed; 401 or 403 with the report when refused; 502 when the registry, chain or Engine failed; 403 `{"error"}` from a source not allowed |
//!
//! Serve it with `into_make_service_with_connect_info::<SocketAddr>()`: the source check needs
//! the peer's address.

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use sdv_fleet::PullCommand;
use serde_json::json;

use crate::{config::track_name, policy, AgentState, Stop};

/// The agent's API.
pub fn router(state: AgentState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/status", get(status))
        .route("/v1/pull", post(pull))
        .with_state(state)
}

async fn health(State(state): State<AgentState>) -> Response {
    match state.engine().ping().await {
        Ok(()) => Json(json!({"status": "ok", "docker": "connected"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "degraded", "docker": format!("unreachable: {e}")})),
        )
            .into_response(),
    }
}

async fn status(State(state): State<AgentState>) -> Response {
    match state.containers().await {
        Ok(containers) => Json(json!({
            "node_id": state.config().node_id,
            "track": track_name(state.config().track),
            "containers": containers,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn pull(
    State(state): State<AgentState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if !policy::source_allowed(&state.config().allowed_sources, peer.ip()) {
        tracing::warn!(source = %peer.ip(), "pull command from a source not allowed");
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"error": format!("{} may not send pull commands", peer.ip())})),
        )
            .into_response();
    }
    let command: PullCommand = match serde_json::from_slice(&body) {
        Ok(command) => command,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("not a pull command: {e}")})),
            )
                .into_response()
        }
    };
    let (report, stop) = state.execute(&command).await;
    let status = match &stop {
        None => StatusCode::OK,
        Some(Stop::Refused(refusal)) => refusal.status(),
        Some(Stop::Failed(_)) => StatusCode::BAD_GATEWAY,
    };
    (status, Json(report)).into_response()
}

#[cfg(test)]
mod tests {
    //! The API served on a real socket, with HQ a recording server on another; Docker is a
    //! socket nobody listens on, so every check before the Engine is exercised and the first
    //! Engine call fails visibly.

    use std::{
        collections::HashMap,
        net::IpAddr,
        sync::{Arc, Mutex},
    };

    use axum::http::HeaderMap;
    use futures::future::BoxFuture;
    use sdv_config::Secret;
    use sdv_fleet::{
        DeploymentReport, IdentityKey, KeyRing, Outcome, PullRequest, RequestAuth, SigningKey,
    };
    use sdv_types::governance::Track;

    use super::*;
    use crate::{Approvals, Config, Result};

    /// Approvals as a fixed table: (image, digest) to release number, devnet only.
    struct Table(HashMap<(String, [u8; 32]), u64>);

    impl Approvals for Table {
        fn approved_release_number<'a>(
            &'a self,
            image: &'a str,
            digest: [u8; 32],
            track: Track,
        ) -> BoxFuture<'a, Result<Option<u64>>> {
            let found = (track == Track::Devnet)
                .then(|| self.0.get(&(image.to_owned(), digest)).copied())
                .flatten();
            Box::pin(async move { Ok(found) })
        }
    }

    type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

    struct Harness {
        agent: String,
        keys: KeyRing,
        identity: [u8; 32],
        received: Received,
        _dir: tempfile::TempDir,
    }

    const APPROVED: [u8; 32] = [0xab; 32];

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(vec![SigningKey::new("k1", Secret::new(secret)).unwrap()]).unwrap()
    }

    async fn serve(app: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        addr
    }

    async fn start() -> Harness {
        let received: Received = Arc::default();
        let recorder = received.clone();
        let hq = Router::new().route(
            "/v1/fleet/nodes/{node}/{endpoint}",
            post(
                move |axum::extract::Path((node, endpoint)): axum::extract::Path<(
                    String,
                    String,
                )>,
                      headers: HeaderMap,
                      body: Bytes| async move {
                    recorder.lock().unwrap().push((
                        format!("/v1/fleet/nodes/{node}/{endpoint}"),
                        headers,
                        body,
                    ));
                    StatusCode::OK
                },
            ),
        );
        let hq = serve(hq).await;
        let dir = tempfile::tempdir().unwrap();
        let keys = ring("a-shared-secret-for-tests");
        let identity = IdentityKey::generate();
        let public = identity.public_key();
        let config = Config::new(
            "node-test",
            &format!("http://{hq}"),
            keys.clone(),
            identity,
            "127.0.0.1:9",
            dir.path().join("no-docker.sock"),
        );
        let engine = crate::Engine::new(&config.docker_socket);
        let approvals = Table(HashMap::from([(("app".to_owned(), APPROVED), 3)]));
        let state = AgentState::new(config, engine, approvals).unwrap();
        let agent = serve(router(state)).await;
        Harness {
            agent: format!("http://{agent}"),
            keys,
            identity: public,
            received,
            _dir: dir,
        }
    }

    fn command(keys: &KeyRing, digest: [u8; 32], track: &str) -> PullCommand {
        PullCommand::sign(
            keys,
            PullRequest {
                image: "app".into(),
                tag: "1".into(),
                digest: sdv_fleet::format_digest(&digest),
                track: track.into(),
            },
            sdv_fleet::now_ms(),
        )
    }

    async fn send(h: &Harness, command: &PullCommand) -> (StatusCode, DeploymentReport) {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/pull", h.agent))
            .json(command)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap())
    }

    /// The reports HQ received, once `count` arrived, each checked: the request's HMAC and
    /// identity signature, and the report's own signature.
    async fn reports(h: &Harness, count: usize) -> Vec<DeploymentReport> {
        for _ in 0..100 {
            if h.received.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let received = h.received.lock().unwrap().clone();
        assert_eq!(received.len(), count, "reports received by HQ");
        received
            .iter()
            .map(|(path, headers, body)| {
                assert_eq!(path, "/v1/fleet/nodes/node-test/verify-deployment");
                let header = |name: &str| headers[name].to_str().unwrap().to_owned();
                let auth = RequestAuth {
                    node_id: header(sdv_fleet::NODE_HEADER),
                    timestamp: header(sdv_fleet::TIMESTAMP_HEADER).parse().unwrap(),
                    hmac: header(sdv_fleet::SIGNATURE_HEADER),
                    identity: Some(header(sdv_fleet::IDENTITY_HEADER)),
                };
                auth.verify(
                    "POST",
                    path,
                    body,
                    &h.keys,
                    Some(&h.identity),
                    sdv_fleet::now_ms(),
                )
                .unwrap();
                let report: DeploymentReport = serde_json::from_slice(body).unwrap();
                report.verify(&h.identity).unwrap();
                report
            })
            .collect()
    }

    #[tokio::test]
    async fn a_command_from_a_source_not_allowed_is_refused() {
        let h = start().await;
        let other = reqwest::Client::builder()
            .local_address(IpAddr::from([127, 0, 0, 2]))
            .build()
            .unwrap();
        let response = other
            .post(format!("{}/v1/pull", h.agent))
            .json(&command(&h.keys, APPROVED, "devnet"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "127.0.0.2 may not send pull commands");
        // From the allowed address, a body that is no command is a bad request.
        let response = reqwest::Client::new()
            .post(format!("{}/v1/pull", h.agent))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(h.received.lock().unwrap().is_empty(), "nothing reported");
    }

    #[tokio::test]
    async fn forged_replayed_foreign_track_and_unapproved_commands_are_refused_and_reported() {
        let h = start().await;

        let forged = command(&ring("not-the-shared-secret-1"), APPROVED, "devnet");
        let (status, report) = send(&h, &forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(report.outcome, Outcome::Refused);
        assert_eq!(
            report.reason.as_deref(),
            Some("the signature does not verify")
        );

        let testnet = command(&h.keys, APPROVED, "testnet");
        let (status, report) = send(&h, &testnet).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            report.reason.as_deref(),
            Some("the command is for track \"testnet\"; this node follows devnet")
        );

        let unapproved = command(&h.keys, [0xcd; 32], "devnet");
        let (status, report) = send(&h, &unapproved).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            report
                .reason
                .as_deref()
                .unwrap()
                .ends_with("is not approved on-chain for devnet"),
            "{report:?}"
        );

        // The same command again: its nonce was used.
        let (status, report) = send(&h, &unapproved).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            report.reason.as_deref(),
            Some("the nonce was used already: a replayed command")
        );

        let reports = reports(&h, 4).await;
        assert!(reports.iter().all(|r| r.outcome == Outcome::Refused
            && r.node_id == "node-test"
            && r.containers.is_empty()));
        assert_eq!(reports[0].nonce, forged.nonce);
    }

    #[tokio::test]
    async fn an_approved_command_goes_on_to_the_engine_and_its_failure_is_reported() {
        let h = start().await;
        let (status, report) = send(&h, &command(&h.keys, APPROVED, "devnet")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(report.outcome, Outcome::Failed);
        assert!(
            report.reason.as_deref().unwrap().starts_with("docker:"),
            "{report:?}"
        );
        assert_eq!(reports(&h, 1).await[0].outcome, Outcome::Failed);
    }

    #[tokio::test]
    async fn health_is_degraded_while_docker_is_unreachable() {
        let h = start().await;
        let response = reqwest::get(format!("{}/health", h.agent)).await.unwrap();
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "degraded");
        assert!(body["docker"]
            .as_str()
            .unwrap()
            .starts_with("unreachable: "));
    }
}
