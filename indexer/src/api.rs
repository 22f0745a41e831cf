//! The query API: what wallets, validators and services read of the mirrored contracts.
//!
//! Every answer is `{"at_block": N, "data": ...}`: `N` is the last finalized block the
//! database holds, read in the same snapshot as the data. Lists take `limit` (1 to
//! [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `offset`. Malformed ids are a 400 with a
//! message; the database's own errors never reach the client.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sdv_chain::AccountId;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Row, Transaction};

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
        .merge(documents())
        .with_state(state)
}

fn documents() -> Router<AppState> {
    Router::new()
        .route("/documents/{id}", get(document_by_id))
        .route("/documents/{id}/history", get(document_history))
        .route("/documents/by-sha256/{sha256}", get(document_by_sha256))
        .route("/accounts/{account}/documents", get(account_documents))
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

/// A page of a list.
#[derive(Debug, Deserialize)]
pub struct Page {
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

/// A read-only snapshot: the cursor and the data agree.
async fn snapshot(
    pool: &PgPool,
) -> Result<(Transaction<'static, Postgres>, Option<i64>), ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let at: Option<i64> = sqlx::query_scalar("SELECT block_number FROM chain_cursor")
        .fetch_optional(&mut *tx)
        .await?;
    Ok((tx, at))
}

fn answer(at_block: Option<i64>, data: Value) -> Json<Value> {
    Json(json!({ "at_block": at_block, "data": data }))
}

async fn health(State(state): State<AppState>) -> ApiResult {
    let (_, at) = snapshot(&state.pool).await?;
    Ok(answer(at, json!({ "status": "ok" })))
}

async fn openapi() -> impl IntoResponse {
    ([("content-type", "application/json")], OPENAPI)
}

fn token_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<u64>()
        .ok()
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("{text:?} is not a token id (a number)")))
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

const DOCUMENT_COLUMNS: &str = "token_id, owner_kind, owner, owner_wallet, sha256, size, tier, \
    class, retention, expiry_ms, arweave_requested, arweave_tx, arweave_permanent, ipfs_cid, \
    status, deletion_due_ms, minted_block, updated_block";

fn hex_of(bytes: Option<Vec<u8>>) -> Value {
    bytes.map_or(Value::Null, |b| {
        Value::String(format!("0x{}", hex::encode(b)))
    })
}

fn document_json(row: &sqlx::postgres::PgRow) -> Value {
    let wallet: Option<Vec<u8>> = row.get("owner_wallet");
    let wallet = wallet.and_then(|w| <[u8; 32]>::try_from(w.as_slice()).ok());
    let sha: Vec<u8> = row.get("sha256");
    json!({
        "token_id": row.get::<i64, _>("token_id"),
        "owner": { "kind": row.get::<String, _>("owner_kind"), "id": row.get::<String, _>("owner") },
        "owner_wallet": wallet.map(|w| AccountId::from(w).to_string()),
        "sha256": format!("0x{}", hex::encode(&sha)),
        "storage_key": format!("docs/{}", hex::encode(&sha)),
        "size": row.get::<i64, _>("size"),
        "tier": row.get::<String, _>("tier"),
        "class": row.get::<String, _>("class"),
        "retention": row.get::<String, _>("retention"),
        "expiry_ms": row.get::<Option<i64>, _>("expiry_ms"),
        "arweave": {
            "requested": row.get::<bool, _>("arweave_requested"),
            "tx": hex_of(row.get("arweave_tx")),
            "permanent": row.get::<bool, _>("arweave_permanent"),
        },
        "ipfs_cid": hex_of(row.get("ipfs_cid")),
        "status": row.get::<String, _>("status"),
        "deletion_due_ms": row.get::<Option<i64>, _>("deletion_due_ms"),
        "minted_block": row.get::<i64, _>("minted_block"),
        "updated_block": row.get::<i64, _>("updated_block"),
    })
}

async fn document_by_id(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = token_id(&id)?;
    let (mut tx, at) = snapshot(&state.pool).await?;
    let row = sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE token_id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no document {id}")))?;
    Ok(answer(at, document_json(&row)))
}

async fn document_by_sha256(State(state): State<AppState>, Path(sha): Path<String>) -> ApiResult {
    let sha = sha256(&sha)?;
    let (mut tx, at) = snapshot(&state.pool).await?;
    let row = sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE sha256 = $1"
    ))
    .bind(&sha)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("no document with this sha256"))?;
    Ok(answer(at, document_json(&row)))
}

async fn account_documents(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let (mut tx, at) = snapshot(&state.pool).await?;
    let rows = sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE owner_wallet = $1
         ORDER BY token_id LIMIT $2 OFFSET $3"
    ))
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let items: Vec<Value> = rows.iter().map(document_json).collect();
    Ok(answer(
        at,
        json!({ "items": items, "limit": limit, "offset": offset }),
    ))
}

async fn document_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    let id = token_id(&id)?;
    let (limit, offset) = page.checked()?;
    let (mut tx, at) = snapshot(&state.pool).await?;
    let rows = sqlx::query(
        "SELECT block_number, event_index, kind, detail::text AS detail FROM document_history
         WHERE token_id = $1 ORDER BY block_number, event_index LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *tx)
    .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "block_number": r.get::<i64, _>("block_number"),
                "event_index": r.get::<i32, _>("event_index"),
                "kind": r.get::<String, _>("kind"),
                "detail": serde_json::from_str::<Value>(&r.get::<String, _>("detail"))
                    .unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(answer(
        at,
        json!({ "items": items, "limit": limit, "offset": offset }),
    ))
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use codec::Encode;
    use sdv_chain::{ContractEvent, Hash};
    use sdv_types::{
        document::{DocumentClass, DocumentMinted, Owner, RetentionOption},
        governance::Tier,
        ink::env::Event,
        psp34::{Id, Transfer},
        signature_topic,
    };
    use tower::ServiceExt;

    use super::*;
    use crate::store::{write_batch, IndexedBlock};

    fn nft() -> AccountId {
        AccountId::from([0x4e; 32])
    }

    fn ev<E: Event + Encode>(index: u32, event: E) -> ContractEvent {
        ContractEvent {
            contract: nft(),
            index,
            topics: vec![signature_topic::<E>().unwrap()],
            data: event.encode(),
        }
    }

    /// Token 1, minted to the wallet `[7; 32]` in block 5, through the indexer's own write path.
    async fn with_one_document(pool: &PgPool) {
        let owner = sdv_types::AccountId::from([7; 32]);
        let events = vec![
            ev(
                0,
                Transfer {
                    from: None,
                    to: Some(owner),
                    id: Id::U64(1),
                },
            ),
            ev(
                1,
                DocumentMinted {
                    id: 1,
                    owner: Owner::Identity(owner),
                    sha256: [0xab; 32],
                    size: 4096,
                    tier: Tier::Free,
                    class: DocumentClass::Other,
                    retention: RetentionOption::Standard,
                    expiry: Some(1_900_000_000_000),
                    arweave_requested: false,
                },
            ),
        ];
        let block = IndexedBlock {
            number: 5,
            hash: Hash::repeat_byte(5),
            time_ms: 1_800_000_000_000,
            events,
        };
        write_batch(
            pool,
            Hash::repeat_byte(0xaa),
            &crate::Watched {
                document_nft: Some(nft()),
                ..Default::default()
            },
            &[block],
        )
        .await
        .unwrap();
    }

    async fn get(pool: &PgPool, uri: &str) -> (StatusCode, Value) {
        let response = app(AppState { pool: pool.clone() })
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_document_is_found_by_id_sha256_and_wallet_at_the_indexed_block(pool: PgPool) {
        with_one_document(&pool).await;
        let (status, by_id) = get(&pool, "/documents/1").await;
        assert_eq!(status, StatusCode::OK, "{by_id}");
        assert_eq!(by_id["at_block"], 5);
        assert_eq!(by_id["data"]["size"], 4096);
        assert_eq!(
            by_id["data"]["storage_key"],
            format!("docs/{}", "ab".repeat(32))
        );
        assert_eq!(by_id["data"]["status"], "active");
        let (_, by_sha) = get(
            &pool,
            &format!("/documents/by-sha256/0x{}", "ab".repeat(32)),
        )
        .await;
        assert_eq!(by_sha["data"], by_id["data"]);
        let wallet = AccountId::from([7; 32]).to_string();
        let (status, list) = get(&pool, &format!("/accounts/{wallet}/documents")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["data"]["items"][0]["token_id"], 1);
        let (_, hex_list) = get(&pool, &format!("/accounts/0x{}/documents", "07".repeat(32))).await;
        assert_eq!(hex_list["data"], list["data"]);
        let (_, history) = get(&pool, "/documents/1/history").await;
        let kinds: Vec<&str> = history["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"DocumentMinted"), "{kinds:?}");
        let (_, page) = get(&pool, "/documents/1/history?limit=1&offset=1").await;
        assert_eq!(page["data"]["items"].as_array().unwrap().len(), 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_ids_are_a_400_with_a_message_and_missing_ones_a_404(pool: PgPool) {
        with_one_document(&pool).await;
        for uri in [
            "/documents/abc",
            "/documents/-1",
            "/documents/18446744073709551616",
            "/documents/1/history?limit=0",
            "/documents/1/history?limit=501",
            "/documents/1/history?offset=-3",
            "/documents/by-sha256/xyz",
            "/documents/by-sha256/abab",
            "/accounts/not-an-account/documents",
            "/accounts/0x1234/documents",
        ] {
            let (status, body) = get(&pool, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(
                body["error"].as_str().is_some_and(|m| !m.is_empty()),
                "{uri}: {body}"
            );
        }
        let (status, body) = get(&pool, "/documents/99").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = get(&pool, &format!("/documents/by-sha256/{}", "00".repeat(32))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn health_and_the_openapi_document_answer(pool: PgPool) {
        let (status, health) = get(&pool, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (health["at_block"].clone(), health["data"]["status"].clone()),
            (Value::Null, json!("ok"))
        );
        let (status, spec) = get(&pool, "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        for path in [
            "/documents/{id}",
            "/documents/by-sha256/{sha256}",
            "/accounts/{account}/documents",
        ] {
            assert!(spec["paths"][path].is_object(), "{path} is documented");
        }
    }
}
