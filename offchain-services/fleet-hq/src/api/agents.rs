//! The agents' routes: registration, heartbeats, deployment reports and the manifest, each
//! signed with [`sdv_fleet::RequestAuth`].

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    routing::{get, post},
    Json, Router,
};
use sdv_fleet::{now_ms, DeploymentReport};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    auth::{node_actor, request_auth},
    refuse, ApiError, ApiResult,
};
use crate::{
    distribute, parse_track,
    store::{self, Node, Param},
    AppState,
};

/// The agents' routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/fleet/nodes/{node_id}/register-agent",
            post(register_agent),
        )
        .route("/v1/fleet/nodes/{node_id}/heartbeat", post(heartbeat))
        .route(
            "/v1/fleet/nodes/{node_id}/verify-deployment",
            post(verify_deployment),
        )
        .route("/v1/registry/image-manifest", get(image_manifest))
}

/// A node's registration.
#[derive(Debug, Deserialize)]
struct RegisterAgent {
    /// The agent's base URL (`http://host:8055`).
    agent_url: String,
    /// Its Ed25519 identity key (64 hex digits).
    identity_key: String,
    /// The track the node runs.
    track: String,
}

/// A signed request from `node_id`, checked against the key ring and `identity` (the node's
/// identity key); refusals are recorded.
async fn check_signed(
    state: &AppState,
    node_id: &str,
    action: &str,
    request: (&Method, &Uri, &HeaderMap, &[u8]),
    identity: Option<&[u8; 32]>,
) -> ApiResult<()> {
    let (method, uri, headers, body) = request;
    let actor = node_actor(node_id);
    let Some(auth) = request_auth(headers) else {
        let error = ApiError::unauthorized("HMAC authentication required");
        return Err(refuse(state, &actor, action, Some(node_id), error).await);
    };
    if auth.node_id != node_id {
        let error = ApiError::unauthorized(format!(
            "the request is signed for node {:?}, not {node_id:?}",
            auth.node_id
        ));
        return Err(refuse(state, &actor, action, Some(node_id), error).await);
    }
    if let Err(e) = auth.verify(
        method.as_str(),
        uri.path(),
        body,
        &state.keys,
        identity,
        now_ms(),
    ) {
        let error = ApiError::unauthorized(format!("signed request refused: {e}"));
        return Err(refuse(state, &actor, action, Some(node_id), error).await);
    }
    Ok(())
}

/// The registered node `node_id` whose identity key signed the request, and that key.
async fn signed_node(
    state: &AppState,
    node_id: &str,
    action: &str,
    request: (&Method, &Uri, &HeaderMap, &[u8]),
) -> ApiResult<(Node, [u8; 32])> {
    let node = store::node(&state.pool, node_id).await?;
    let Some((node, key)) = node.and_then(|n| n.identity_key.map(|k| (n, k))) else {
        let error = ApiError::unauthorized(format!(
            "node {node_id:?} is not registered (register-agent first)"
        ));
        return Err(refuse(state, &node_actor(node_id), action, Some(node_id), error).await);
    };
    check_signed(state, node_id, action, request, Some(&key)).await?;
    Ok((node, key))
}

fn valid_node_id(node_id: &str) -> bool {
    !node_id.is_empty()
        && node_id.len() <= 128
        && node_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && node_id.starts_with(|c: char| c.is_ascii_alphanumeric())
}

async fn register_agent(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    const ACTION: &str = "register-agent";
    if !valid_node_id(&node_id) {
        return Err(ApiError::bad_request(format!(
            "{node_id:?} is not a node id (letters, digits, '.', '_', '-')"
        )));
    }
    let request: RegisterAgent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("a registration: {e}")))?;
    let claimed: [u8; 32] = hex::decode(&request.identity_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("identity_key is not 64 hex digits"))?;
    let track = parse_track(&request.track)
        .map(crate::track_name)
        .ok_or_else(|| ApiError::bad_request("track is devnet, testnet or mainnet"))?;
    let agent_url = request.agent_url.trim_end_matches('/');
    if !(agent_url.starts_with("http://") || agent_url.starts_with("https://")) {
        return Err(ApiError::bad_request(
            "agent_url is an http:// or https:// URL",
        ));
    }
    let known = store::node(&state.pool, &node_id)
        .await?
        .and_then(|n| n.identity_key);
    // A known node signs with the key it registered; a new one with the key it registers.
    let signed = (&method, &uri, &headers, &body[..]);
    check_signed(
        &state,
        &node_id,
        ACTION,
        signed,
        Some(&known.unwrap_or(claimed)),
    )
    .await?;
    if known.is_some_and(|k| k != claimed) {
        let error = ApiError::refused(
            "the identity key differs from the one the node registered (an operator must retire the node first)",
        );
        return Err(refuse(&state, &node_actor(&node_id), ACTION, Some(&node_id), error).await);
    }
    let mut tx = state.pool.begin().await.map_err(crate::Error::from)?;
    sqlx::query(
        "INSERT INTO hq_nodes (node_id, track, metadata) VALUES ($1, $2, jsonb_build_object('agent_url', $3::text))
         ON CONFLICT (node_id) DO UPDATE SET track = EXCLUDED.track,
             metadata = hq_nodes.metadata || EXCLUDED.metadata, last_seen = now()",
    )
    .bind(&node_id)
    .bind(track)
    .bind(agent_url)
    .execute(&mut *tx)
    .await
    .map_err(crate::Error::from)?;
    let created = sqlx::query(
        "INSERT INTO hq_validator_ed25519_keys (node_id, public_key) VALUES ($1, $2)
         ON CONFLICT (node_id) DO NOTHING",
    )
    .bind(&node_id)
    .bind(&claimed[..])
    .execute(&mut *tx)
    .await
    .map_err(crate::Error::from)?
    .rows_affected()
        == 1;
    if !created && known.is_none() {
        // Another first registration won the race: its key is the node's.
        return Err(ApiError::conflict(
            "the node registered concurrently; try again",
        ));
    }
    tx.commit().await.map_err(crate::Error::from)?;
    store::audit(
        &state.pool,
        &node_actor(&node_id),
        ACTION,
        Some(&node_id),
        json!({ "agent_url": agent_url, "track": track, "first_registration": created }),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "node_id": node_id,
            "track": track,
            "agent_url": agent_url,
            "identity_key": hex::encode(claimed),
            "first_registration": created,
        })),
    ))
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let signed = (&method, &uri, &headers, &body[..]);
    signed_node(&state, &node_id, "heartbeat", signed).await?;
    let detail: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("a heartbeat is JSON: {e}")))?
    };
    sqlx::query("INSERT INTO hq_validator_heartbeats (node_id, detail) VALUES ($1, $2)")
        .bind(&node_id)
        .bind(&detail)
        .execute(&state.pool)
        .await
        .map_err(crate::Error::from)?;
    sqlx::query("UPDATE hq_nodes SET last_seen = now() WHERE node_id = $1")
        .bind(&node_id)
        .execute(&state.pool)
        .await
        .map_err(crate::Error::from)?;
    let resolved = crate::monitor::heartbeat_seen(&state, &node_id).await?;
    Ok(Json(
        json!({ "node_id": node_id, "resolved_alerts": resolved }),
    ))
}

async fn verify_deployment(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    const ACTION: &str = "verify-deployment";
    let signed = (&method, &uri, &headers, &body[..]);
    let (node, key) = signed_node(&state, &node_id, ACTION, signed).await?;
    let report: DeploymentReport = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("a deployment report: {e}")))?;
    let actor = node_actor(&node_id);
    if report.node_id != node_id {
        let error = ApiError::refused(format!(
            "the report is of node {:?}, not {node_id:?}",
            report.node_id
        ));
        return Err(refuse(&state, &actor, ACTION, Some(&node_id), error).await);
    }
    if let Err(e) = report.verify(&key) {
        let error = ApiError::unauthorized(format!(
            "the report is not signed by the node's identity key: {e}"
        ));
        return Err(refuse(&state, &actor, ACTION, Some(&node_id), error).await);
    }
    let recorded = distribute::record_report(&state, &node, &report).await?;
    Ok(Json(json!({
        "node_id": node_id,
        "image": report.image,
        "status": recorded.status,
        "expected_digest": recorded.expected_digest,
        "matches": recorded.matches,
    })))
}

/// The manifest's filter.
#[derive(Debug, Deserialize)]
struct ManifestQuery {
    track: Option<String>,
}

async fn image_manifest(
    State(state): State<AppState>,
    Query(query): Query<ManifestQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    const ACTION: &str = "image-manifest";
    let node_id = request_auth(&headers)
        .map(|a| a.node_id)
        .unwrap_or_default();
    let signed = (&method, &uri, &headers, &body[..]);
    check_signed(&state, &node_id, ACTION, signed, None).await?;
    let track = match query.track.as_deref() {
        Some(name) => Some(
            parse_track(name)
                .map(crate::track_name)
                .ok_or_else(|| ApiError::bad_request("track is devnet, testnet or mainnet"))?,
        ),
        None => None,
    };
    let images = store::json_rows(
        &state.pool,
        "SELECT p.name, i.tag, p.digest, p.track, i.signature, 'HMAC-SHA256' AS algorithm,
                i.signed_by, p.pinned_at
         FROM hq_pins p JOIN hq_images i USING (name, digest)
         WHERE i.signature IS NOT NULL AND ($1::text IS NULL OR p.track = $1)
         ORDER BY p.name, p.track",
        &[Param::Text(track)],
    )
    .await?;
    Ok(Json(json!({ "images": images })))
}
