//! The audit log, newest first.

use axum::{
    extract::{Query, State},
    routing::get,
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiResult;
use crate::{
    store::{self, Param},
    AppState,
};

/// The most entries one answer holds.
const MAX_LIMIT: i64 = 1000;

/// The audit routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(entries))
}

/// How many entries.
#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<i64>,
}

async fn entries(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let entries = store::json_rows(
        &state.pool,
        "SELECT id, at, actor, action, subject, detail FROM hq_audit_log
         ORDER BY id DESC LIMIT $1",
        &[Param::Int(limit)],
    )
    .await?;
    Ok(Json(json!({ "entries": entries })))
}
