//! Distribution jobs: start one, follow it, list them.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Body};
use crate::{
    distribute::{self, Decision, Distribution},
    parse_track,
    store::{self, Param, OPERATOR},
    AppState,
};

/// The distribution routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/fleet/distribute", post(start))
        .route("/v1/fleet/distribute/{job_id}", get(job))
        .route("/v1/fleet/distributions", get(recent))
}

/// A distribution request.
#[derive(Debug, Deserialize)]
struct DistributeRequest {
    image: String,
    tag: String,
    track: String,
    nodes: Option<Vec<String>>,
}

async fn start(
    State(state): State<AppState>,
    Body(request): Body<DistributeRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let track = parse_track(&request.track)
        .ok_or_else(|| ApiError::bad_request("track is devnet, testnet or mainnet"))?;
    let distribution = Distribution {
        image: request.image,
        tag: request.tag,
        track,
        nodes: request.nodes,
    };
    match distribute::decide(&state, OPERATOR, &distribution).await? {
        Decision::Accepted(job) => {
            let answer = json!({
                "job_id": job.id,
                "state": "queued",
                "digest": job.image.digest,
                "nodes": job.nodes.iter().map(|n| &n.node_id).collect::<Vec<_>>(),
            });
            distribute::spawn(state, job);
            Ok((StatusCode::ACCEPTED, Json(answer)))
        }
        Decision::Refused { job_id, reason } => {
            Err(ApiError::refused(reason).with(json!({ "job_id": job_id, "state": "refused" })))
        }
    }
}

const JOB_COLUMNS: &str = "id AS job_id, image, tag, digest, track, state, reason, nodes, results,
    created_by, created_at, finished_at";

async fn job(State(state): State<AppState>, Path(job_id): Path<String>) -> ApiResult<Json<Value>> {
    let id: i64 = job_id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{job_id:?} is not a job id")))?;
    let rows = store::json_rows(
        &state.pool,
        &format!("SELECT {JOB_COLUMNS} FROM hq_distribution_jobs WHERE id = $1"),
        &[Param::Int(id)],
    )
    .await?;
    match rows {
        Value::Array(mut rows) if !rows.is_empty() => Ok(Json(rows.swap_remove(0))),
        _ => Err(ApiError::not_found(format!("no distribution job {id}"))),
    }
}

async fn recent(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let jobs = store::json_rows(
        &state.pool,
        &format!("SELECT {JOB_COLUMNS} FROM hq_distribution_jobs ORDER BY id DESC LIMIT 50"),
        &[],
    )
    .await?;
    Ok(Json(json!({ "distributions": jobs })))
}
