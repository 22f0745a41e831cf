//! The query API: what wallets, validators and services read of the mirrored contracts.
//!
//! Every answer is `{"at_block": N, "at_time_ms": T, "data": ...}`: `N` is the last finalized
//! block the database holds and `T` its time, read in the same snapshot as the data. States
//! that depend on the clock (a proposal `ready`, a recovery `expired`) are derived at the later
//! of `T` and the server's clock, as the contracts derive them. Lists take `limit` (1 to
//! [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `offset`, and answer
//! `{"items": [...], "limit": L, "offset": O}`; the archival service's work lists
//! (`/documents/replication`) page by token id instead: `after` for `offset`, which holds still
//! while the service's work shrinks the list. Malformed input is a 400 with a message; the
//! database's own errors never reach the client (503).
//!
//! Accounts are answered in SS58 and accepted in SS58 or as 64 hex digits.

mod documents;
mod governance;
mod recovery;
mod vaults;

use axum::{
    extract::{FromRequestParts, Query},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sdv_chain::AccountId;
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Transaction};

/// Most items in one page.
pub const MAX_LIMIT: i64 = 500;
/// Items in a page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;

/// The OpenAPI document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The indexer's database.
    pub pool: PgPool,
}

/// The API's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .merge(documents::routes())
        .merge(governance::routes())
        .merge(vaults::routes())
        .merge(recovery::routes())
        .with_state(state)
}

/// An error answer: a status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error answering a query");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the database is unavailable; try again".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// A query string, refused with a 400 [`ApiError`] (JSON, like every error) when malformed.
struct Q<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Q(q))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A page of a list, read from the query string beside a handler's own filters.
#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl Page {
    fn checked(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// A read-only snapshot in which the cursor and the data agree.
struct Snapshot {
    tx: Transaction<'static, Postgres>,
    at_block: Option<i64>,
    at_time_ms: Option<i64>,
}

impl Snapshot {
    async fn begin(pool: &PgPool) -> Result<Self, ApiError> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let cursor: Option<(i64, Option<i64>)> =
            sqlx::query_as("SELECT block_number, block_time_ms FROM chain_cursor")
                .fetch_optional(&mut *tx)
                .await?;
        Ok(Self {
            tx,
            at_block: cursor.map(|c| c.0),
            at_time_ms: cursor.and_then(|c| c.1),
        })
    }

    /// The time states are derived at: the later of the chain's and the server's clock (the
    /// chain's is ahead when its clock was moved; the server's when no block came lately).
    fn now_ms(&self) -> i64 {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.at_time_ms.unwrap_or(0).max(wall)
    }

    fn answer(&self, data: Value) -> Json<Value> {
        Json(json!({ "at_block": self.at_block, "at_time_ms": self.at_time_ms, "data": data }))
    }

    fn page(&self, items: Vec<Value>, limit: i64, offset: i64) -> Json<Value> {
        self.answer(json!({ "items": items, "limit": limit, "offset": offset }))
    }
}

async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> ApiResult {
    let snapshot = Snapshot::begin(&state.pool).await?;
    Ok(snapshot.answer(json!({ "status": "ok" })))
}

async fn openapi() -> impl IntoResponse {
    ([("content-type", "application/json")], OPENAPI)
}

/// A token, proposal, operation or recovery id: a number that fits a `BIGINT`.
fn number(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("{text:?} is not a {what} (a number)")))
}

fn sha256(text: &str) -> Result<Vec<u8>, ApiError> {
    let hex_part = text.strip_prefix("0x").unwrap_or(text);
    match hex::decode(hex_part) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes),
        _ => Err(ApiError::bad_request(format!(
            "{text:?} is not a sha256 (64 hex digits)"
        ))),
    }
}

fn account(text: &str) -> Result<AccountId, ApiError> {
    if let Ok(account) = text.parse::<AccountId>() {
        return Ok(account);
    }
    match hex::decode(text.strip_prefix("0x").unwrap_or(text)) {
        Ok(bytes) if bytes.len() == 32 => {
            let mut raw = [0u8; 32];
            raw.copy_from_slice(&bytes);
            Ok(AccountId::from(raw))
        }
        _ => Err(ApiError::bad_request(format!(
            "{text:?} is not an account (SS58 or 64 hex digits)"
        ))),
    }
}

/// Raw account bytes from the database as SS58 (`null` for a malformed value, which the
/// tables' checks rule out).
fn ss58(bytes: &[u8]) -> Value {
    <[u8; 32]>::try_from(bytes).map_or(Value::Null, |raw| {
        Value::String(AccountId::from(raw).to_string())
    })
}

fn ss58_opt(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, ss58)
}

fn hex_of(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| {
        Value::String(format!("0x{}", hex::encode(b)))
    })
}

/// Accepts `value` if it is one of `allowed`, for filters such as `state`.
fn one_of<'a>(value: &'a str, what: &str, allowed: &[&str]) -> Result<&'a str, ApiError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "{value:?} is not a {what} (one of {})",
            allowed.join(", ")
        )))
    }
}

#[cfg(test)]
mod testing {
    use axum::{
        body::{to_bytes, Body},
        http::{Request, StatusCode},
    };
    use serde_json::Value;
    use sqlx::PgPool;
    use tower::ServiceExt;

    use super::{app, AppState};

    /// GETs `uri` from the API on `pool`: the status and the JSON body (`null` if not JSON).
    pub(super) async fn get(pool: &PgPool, uri: &str) -> (StatusCode, Value) {
        let response = app(AppState { pool: pool.clone() })
            .oneshot(
                Request::get(uri)
                    .body(Body::empty())
                    .expect("a valid request"),
            )
            .await
            .expect("the router answers");
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body under 1 MiB");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Asserts that each of `uris` is a 400 with a message.
    pub(super) async fn all_bad_requests(pool: &PgPool, uris: &[&str]) {
        for uri in uris {
            let (status, body) = get(pool, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(
                body["error"].as_str().is_some_and(|m| !m.is_empty()),
                "{uri}: {body}"
            );
        }
    }
}
