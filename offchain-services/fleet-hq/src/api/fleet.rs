//! The fleet as operators see it: agents, nodes and their health, deployments, alerts.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Body};
use crate::{
    parse_track,
    store::{self, Param, OPERATOR},
    track_name, AppState,
};

/// The fleet routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/fleet/agents", get(agents))
        .route("/v1/fleet/nodes", get(nodes))
        .route("/v1/fleet/push-image", post(push_image))
        .route("/v1/fleet/deployments", get(deployments))
        .route("/v1/fleet/alerts", get(alerts))
}

async fn agents(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let agents = store::json_rows(
        &state.pool,
        "SELECT node_id, track, metadata->>'agent_url' AS agent_url, last_seen
         FROM hq_nodes WHERE metadata ? 'agent_url' ORDER BY node_id",
        &[],
    )
    .await?;
    Ok(Json(json!({ "agents": agents })))
}

fn stale_ms(state: &AppState) -> i64 {
    i64::try_from(state.heartbeat_stale.as_millis()).unwrap_or(i64::MAX)
}

async fn nodes(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let nodes = store::json_rows(
        &state.pool,
        "SELECT n.node_id, n.track, n.metadata->>'agent_url' AS agent_url,
                encode(k.public_key, 'hex') AS identity_key, n.created_at, n.last_seen,
                h.last AS last_heartbeat,
                coalesce(h.last > now() - $1 * interval '1 millisecond', false) AS healthy
         FROM hq_nodes n
         LEFT JOIN hq_validator_ed25519_keys k USING (node_id)
         LEFT JOIN LATERAL (SELECT max(at) AS last FROM hq_validator_heartbeats hb
                            WHERE hb.node_id = n.node_id) h ON true
         ORDER BY n.node_id",
        &[Param::Int(stale_ms(&state))],
    )
    .await?;
    Ok(Json(json!({ "nodes": nodes })))
}

/// The intent to run an image on nodes.
#[derive(Debug, Deserialize)]
struct PushImage {
    image: String,
    tag: String,
    track: String,
    nodes: Option<Vec<String>>,
}

async fn push_image(
    State(state): State<AppState>,
    Body(request): Body<PushImage>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let track = parse_track(&request.track)
        .map(track_name)
        .ok_or_else(|| ApiError::bad_request("track is devnet, testnet or mainnet"))?;
    let image = store::image_by_tag(&state.pool, &request.image, &request.tag, track)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{}:{} is not registered",
                request.image, request.tag
            ))
        })?;
    let nodes = match &request.nodes {
        Some(ids) => {
            let mut nodes = Vec::new();
            for id in ids {
                let node = store::node(&state.pool, id)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("node {id} is not registered")))?;
                nodes.push(node);
            }
            nodes
        }
        None => store::nodes_of_track(&state.pool, track).await?,
    };
    for node in &nodes {
        store::set_deployment(
            &state.pool,
            &node.node_id,
            &image.name,
            &image.tag,
            &image.digest,
            "pending",
            None,
            None,
        )
        .await?;
    }
    let ids: Vec<&str> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    store::audit(
        &state.pool,
        OPERATOR,
        "push-image",
        Some(&format!("{}:{}", image.name, image.tag)),
        json!({ "digest": image.digest, "track": track, "nodes": ids }),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "image": image.name, "tag": image.tag, "digest": image.digest, "nodes": ids }),
        ),
    ))
}

async fn deployments(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let deployments = store::json_rows(
        &state.pool,
        "SELECT d.node_id, n.track, d.image, d.tag, d.digest, d.status, d.reason,
                d.running_digest, d.updated_at
         FROM hq_image_deployments d JOIN hq_nodes n USING (node_id)
         ORDER BY d.node_id, d.image",
        &[],
    )
    .await?;
    Ok(Json(json!({ "deployments": deployments })))
}

/// The alerts' filter.
#[derive(Debug, Deserialize)]
struct AlertQuery {
    /// Only open (unresolved) alerts.
    #[serde(default)]
    open: bool,
}

async fn alerts(
    State(state): State<AppState>,
    Query(query): Query<AlertQuery>,
) -> ApiResult<Json<Value>> {
    let alerts = store::json_rows(
        &state.pool,
        "SELECT a.id, a.rule, r.severity, a.node_id, a.subject, a.detail, a.fired_at,
                a.resolved_at
         FROM hq_alerts a JOIN hq_alert_rules r ON r.name = a.rule
         WHERE NOT $1::bool OR a.resolved_at IS NULL
         ORDER BY a.id DESC LIMIT 200",
        &[Param::Bool(query.open)],
    )
    .await?;
    Ok(Json(json!({ "alerts": alerts })))
}
