//! The two APIs: the Arweave integration's (8950) and the IPFS pinning service's (8920). They
//! show the state of every copy and pin: queued work with its attempts, last error and next
//! attempt, what was posted or pinned, and what is confirmed. Errors are JSON
//! (`{"code", "error"}`).
//!
//! Arweave:
//! - `GET /health`: the gateway's reachability and height, the wallet's address and balance.
//! - `GET /v1/arweave/documents`: every copy, `?state=queued|signed|posted|confirmed`.
//! - `GET /v1/arweave/documents/{token_id}`: one document's copy.
//! - `GET /v1/arweave/bundles/{tx_id}`: a bundle transaction and its items.
//!
//! IPFS:
//! - `GET /health`: the node's reachability.
//! - `GET /v1/ipfs/pins`: every pin, `?state=queued|pinned|unpinned`.
//! - `GET /v1/ipfs/pins/{token_id}`: one document's pin.

use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use sdv_storage::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{postgres::PgRow, Row};

use crate::AppState;

/// The Arweave integration's routes.
pub fn arweave_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(arweave_health))
        .route("/v1/arweave/documents", get(arweave_documents))
        .route("/v1/arweave/documents/{token_id}", get(arweave_document))
        .route("/v1/arweave/bundles/{tx_id}", get(bundle))
        .with_state(state)
}

/// The IPFS pinning service's routes.
pub fn ipfs_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(ipfs_health))
        .route("/v1/ipfs/pins", get(pins))
        .route("/v1/ipfs/pins/{token_id}", get(pin))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct StateFilter {
    state: Option<String>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable(what, e)
}

fn b64(bytes: Option<Vec<u8>>) -> Value {
    bytes.map_or(Value::Null, |b| json!(sdv_arweave::b64url_encode(&b)))
}

const ARWEAVE_COLUMNS: &str = "token_id, sha256, size, mode, state, tx_id, item_id, attempts, \
    last_error, next_attempt_ms, queued_ms, posted_ms, confirmed_ms, block_height, confirmations";

fn arweave_json(row: &PgRow) -> Value {
    json!({
        "token_id": row.get::<i64, _>("token_id"),
        "sha256": format!("0x{}", hex::encode(row.get::<Vec<u8>, _>("sha256"))),
        "size": row.get::<i64, _>("size"),
        "mode": row.get::<String, _>("mode"),
        "state": row.get::<String, _>("state"),
        "tx_id": b64(row.get("tx_id")),
        "item_id": b64(row.get("item_id")),
        "attempts": row.get::<i32, _>("attempts"),
        "last_error": row.get::<Option<String>, _>("last_error"),
        "next_attempt_ms": row.get::<i64, _>("next_attempt_ms"),
        "queued_ms": row.get::<i64, _>("queued_ms"),
        "posted_ms": row.get::<Option<i64>, _>("posted_ms"),
        "confirmed_ms": row.get::<Option<i64>, _>("confirmed_ms"),
        "block_height": row.get::<Option<i64>, _>("block_height"),
        "confirmations": row.get::<Option<i64>, _>("confirmations"),
    })
}

fn token_id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::bad_request("bad_token_id", format!("{text:?} is not a token id")))
}

fn check_state(state: &Option<String>, allowed: &[&'static str]) -> ApiResult<()> {
    match state {
        Some(s) if !allowed.contains(&s.as_str()) => Err(ApiError::bad_request(
            "bad_state",
            format!("state must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

async fn arweave_health(State(state): State<AppState>) -> Json<Value> {
    let address = state.wallet().address();
    let gateway = match state.gateway().info().await {
        Ok(info) => json!({ "reachable": true, "network": info.network, "height": info.height }),
        Err(e) => json!({ "reachable": false, "error": e.to_string() }),
    };
    let balance = state
        .gateway()
        .balance(&address)
        .await
        .ok()
        .map(|b| b.to_string());
    let healthy = gateway["reachable"] == true;
    Json(json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "service": "arweave-integration",
        "gateway": gateway,
        "wallet": { "address": address, "balance_winston": balance },
    }))
}

/// One table's copies as a list, optionally of one state.
struct Listing {
    table: &'static str,
    columns: &'static str,
    states: &'static [&'static str],
    what: &'static str,
    to_json: fn(&PgRow) -> Value,
}

const ARWEAVE: Listing = Listing {
    table: "archival_arweave",
    columns: ARWEAVE_COLUMNS,
    states: &["queued", "signed", "posted", "confirmed"],
    what: "Arweave copy",
    to_json: arweave_json,
};

const IPFS: Listing = Listing {
    table: "archival_ipfs",
    columns: IPFS_COLUMNS,
    states: &["queued", "pinned", "unpinned"],
    what: "IPFS pin",
    to_json: ipfs_json,
};

impl Listing {
    async fn list(&self, state: &AppState, filter: &StateFilter) -> ApiResult<Json<Value>> {
        check_state(&filter.state, self.states)?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE $1::text IS NULL OR state = $1 ORDER BY token_id LIMIT 1000",
            self.columns, self.table
        ))
        .bind(&filter.state)
        .fetch_all(state.pool())
        .await
        .map_err(|e| unavailable("the database", e))?;
        Ok(Json(
            json!({ "items": rows.iter().map(self.to_json).collect::<Vec<_>>() }),
        ))
    }

    async fn one(&self, state: &AppState, id: &str) -> ApiResult<Json<Value>> {
        let id = token_id(id)?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM {} WHERE token_id = $1",
            self.columns, self.table
        ))
        .bind(id)
        .fetch_optional(state.pool())
        .await
        .map_err(|e| unavailable("the database", e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("no {} of document {id} is known", self.what))
        })?;
        Ok(Json((self.to_json)(&row)))
    }
}

async fn arweave_documents(
    State(state): State<AppState>,
    Query(filter): Query<StateFilter>,
) -> ApiResult<Json<Value>> {
    ARWEAVE.list(&state, &filter).await
}

async fn arweave_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    ARWEAVE.one(&state, &id).await
}

async fn bundle(State(state): State<AppState>, Path(tx): Path<String>) -> ApiResult<Json<Value>> {
    let tx_id = sdv_arweave::b64url_decode(&tx)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            ApiError::bad_request("bad_tx_id", "a transaction id is 43 base64url characters")
        })?;
    let row = sqlx::query(
        "SELECT items, size, state, signed_ms, posted_ms, confirmed_ms, block_height,
                confirmations
         FROM archival_bundles WHERE tx_id = $1",
    )
    .bind(&tx_id)
    .fetch_optional(state.pool())
    .await
    .map_err(|e| unavailable("the database", e))?
    .ok_or_else(|| ApiError::not_found(format!("no bundle {tx}")))?;
    let items = sqlx::query(&format!(
        "SELECT {ARWEAVE_COLUMNS} FROM archival_arweave WHERE bundle_tx = $1 ORDER BY token_id"
    ))
    .bind(&tx_id)
    .fetch_all(state.pool())
    .await
    .map_err(|e| unavailable("the database", e))?;
    Ok(Json(json!({
        "tx_id": tx,
        "items": row.get::<i32, _>("items"),
        "size": row.get::<i64, _>("size"),
        "state": row.get::<String, _>("state"),
        "signed_ms": row.get::<i64, _>("signed_ms"),
        "posted_ms": row.get::<Option<i64>, _>("posted_ms"),
        "confirmed_ms": row.get::<Option<i64>, _>("confirmed_ms"),
        "block_height": row.get::<Option<i64>, _>("block_height"),
        "confirmations": row.get::<Option<i64>, _>("confirmations"),
        "documents": items.iter().map(arweave_json).collect::<Vec<_>>(),
    })))
}

const IPFS_COLUMNS: &str = "token_id, sha256, size, state, cid, attempts, last_error, \
    next_attempt_ms, queued_ms, pinned_ms, verified_ms, repins, last_repin_ms, unpinned_ms";

fn ipfs_json(row: &PgRow) -> Value {
    json!({
        "token_id": row.get::<i64, _>("token_id"),
        "sha256": format!("0x{}", hex::encode(row.get::<Vec<u8>, _>("sha256"))),
        "size": row.get::<i64, _>("size"),
        "state": row.get::<String, _>("state"),
        "cid": row.get::<Option<String>, _>("cid"),
        "attempts": row.get::<i32, _>("attempts"),
        "last_error": row.get::<Option<String>, _>("last_error"),
        "next_attempt_ms": row.get::<i64, _>("next_attempt_ms"),
        "queued_ms": row.get::<i64, _>("queued_ms"),
        "pinned_ms": row.get::<Option<i64>, _>("pinned_ms"),
        "verified_ms": row.get::<Option<i64>, _>("verified_ms"),
        "repins": row.get::<i32, _>("repins"),
        "last_repin_ms": row.get::<Option<i64>, _>("last_repin_ms"),
        "unpinned_ms": row.get::<Option<i64>, _>("unpinned_ms"),
    })
}

async fn ipfs_health(State(state): State<AppState>) -> Json<Value> {
    let node = match state.ipfs().id().await {
        Ok(id) => json!({ "reachable": true, "id": id.id, "agent": id.agent_version }),
        Err(e) => json!({ "reachable": false, "error": e.to_string() }),
    };
    let healthy = node["reachable"] == true;
    Json(json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "service": "ipfs-pinning",
        "node": node,
    }))
}

async fn pins(
    State(state): State<AppState>,
    Query(filter): Query<StateFilter>,
) -> ApiResult<Json<Value>> {
    IPFS.list(&state, &filter).await
}

async fn pin(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    IPFS.one(&state, &id).await
}
