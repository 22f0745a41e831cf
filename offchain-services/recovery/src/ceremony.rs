//! The recovery ceremony: after a finalized recovery, every data key of the recovered
//! identity's documents is re-wrapped from the recovery key to the new wallet's key inside
//! the token, and the old wallet's keys and sessions end.
//!
//! # Life cycle of a ceremony (one per wallet rebind the indexer shows)
//!
//! 1. `waiting_for_key`: until the new wallet has published its X25519 encryption key on
//!    DocumentNFT (the indexer's `/accounts/{new}/encryption-key`).
//! 2. `rewrapping`: for each of the identity's documents (now the new wallet's), in one
//!    database transaction: the new wallet's wrapped key is stored, the old owner's wrapped
//!    keys are marked revoked (the gateway serves only unrevoked ones), and the document is
//!    recorded done. A document already recorded is skipped, so a ceremony killed half-way
//!    re-wraps each document once when it resumes. v2 recovery wraps are re-wrapped inside
//!    the token (the data key never reaches this process); v1 wraps (made before the token
//!    held the key) are opened through the token and wrapped again on the host.
//! 3. The old wallet's gateway sessions end, the wrapped keys to its encryption key
//!    (documents others shared with it) are revoked, its MPC shares (if it was an MPC wallet)
//!    are marked compromised, and the ceremony is `done`.
//!
//! A failed pass is recorded (`attempts`, `last_error`) and tried again on the next poll.

use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use sdv_storage::error::{ApiError, ApiResult};
use sdv_storage_client::envelope::{self, DataKey};
use serde::Deserialize;
use serde_json::{json, Value};
use x25519_dalek::PublicKey;

use crate::{account_bytes, hex0x, mpc, AppState};

/// How many rebinds or documents one indexer page holds.
const PAGE: usize = 200;

/// Follows the indexer and advances every open ceremony, every `poll`, until the process ends.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = pass(&state).await {
            tracing::warn!(code = e.code, error = %e.message, "ceremony pass failed; retrying");
        }
        tokio::time::sleep(state.config().poll).await;
    }
}

/// One pass: new rebinds become ceremonies, and each open ceremony goes as far as it can.
pub async fn pass(state: &AppState) -> ApiResult<()> {
    follow_rebinds(state).await?;
    let open: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT old_wallet FROM recovery_ceremonies WHERE state <> 'done'
         ORDER BY block_number, event_index",
    )
    .fetch_all(state.pool())
    .await?;
    for old in open {
        let Ok(old) = <[u8; 32]>::try_from(old) else {
            continue;
        };
        if let Err(e) = advance(state, &old).await {
            tracing::warn!(old_wallet = %hex0x(&old), error = %e.message, "ceremony step failed");
            sqlx::query(
                "UPDATE recovery_ceremonies SET attempts = attempts + 1, last_error = $2
                 WHERE old_wallet = $1",
            )
            .bind(&old[..])
            .bind(&e.message)
            .execute(state.pool())
            .await?;
        }
    }
    Ok(())
}

async fn follow_rebinds(state: &AppState) -> ApiResult<()> {
    loop {
        let (block, index): (i64, i64) = sqlx::query_as(
            "SELECT block_number, position FROM recovery_cursors WHERE name = 'rebinds'",
        )
        .fetch_optional(state.pool())
        .await?
        .unwrap_or((-1, -1));
        let page = state
            .indexer(&format!(
                "/rebinds?after_block={block}&after_index={index}&limit={PAGE}"
            ))
            .await?
            .unwrap_or_default();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let Some(last) = items.last() else {
            return Ok(());
        };
        let mut tx = state.pool().begin().await?;
        for rebind in &items {
            let (Some(identity), Some(old), Some(new)) = (
                account_bytes(&rebind["identity"]),
                account_bytes(&rebind["old_wallet"]),
                account_bytes(&rebind["new_wallet"]),
            ) else {
                return Err(ApiError::unavailable(
                    "the indexer",
                    format!("a malformed rebind {rebind}"),
                ));
            };
            let inserted = sqlx::query(
                "INSERT INTO recovery_ceremonies
                     (old_wallet, new_wallet, identity, block_number, event_index)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (old_wallet) DO NOTHING",
            )
            .bind(&old[..])
            .bind(&new[..])
            .bind(&identity[..])
            .bind(rebind["block_number"].as_i64().unwrap_or_default())
            .bind(rebind["event_index"].as_i64().unwrap_or_default() as i32)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 1 {
                tracing::info!(old_wallet = %hex0x(&old), new_wallet = %hex0x(&new), "recovery ceremony opened");
            }
        }
        sqlx::query(
            "INSERT INTO recovery_cursors (name, block_number, position) VALUES ('rebinds', $1, $2)
             ON CONFLICT (name) DO UPDATE SET block_number = $1, position = $2",
        )
        .bind(last["block_number"].as_i64().unwrap_or_default())
        .bind(last["event_index"].as_i64().unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if items.len() < PAGE {
            return Ok(());
        }
    }
}

/// A ceremony's row.
#[derive(sqlx::FromRow)]
struct Ceremony {
    old_wallet: Vec<u8>,
    new_wallet: Vec<u8>,
    state: String,
    new_key: Option<Vec<u8>>,
}

async fn advance(state: &AppState, old: &[u8; 32]) -> ApiResult<()> {
    let c: Ceremony = sqlx::query_as(
        "SELECT old_wallet, new_wallet, state, new_key FROM recovery_ceremonies WHERE old_wallet = $1",
    )
    .bind(&old[..])
    .fetch_one(state.pool())
    .await?;
    let new_wallet = hex0x(&c.new_wallet);
    let new_key = match (c.state.as_str(), c.new_key) {
        ("waiting_for_key", _) | (_, None) => {
            let Some(key) = state
                .indexer(&format!("/accounts/{new_wallet}/encryption-key"))
                .await?
            else {
                sqlx::query(
                    "UPDATE recovery_ceremonies SET last_error = $2 WHERE old_wallet = $1",
                )
                .bind(&old[..])
                .bind("waiting for the new wallet to publish its encryption key (sdv key publish-encryption-key)")
                .execute(state.pool())
                .await?;
                return Ok(());
            };
            let key: [u8; 32] = key["key"]
                .as_str()
                .and_then(|k| hex::decode(k.trim_start_matches("0x")).ok())
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| {
                    ApiError::unavailable("the indexer", "a malformed encryption key")
                })?;
            sqlx::query(
                "UPDATE recovery_ceremonies SET state = 'rewrapping', new_key = $2, last_error = NULL
                 WHERE old_wallet = $1",
            )
            .bind(&old[..])
            .bind(&key[..])
            .execute(state.pool())
            .await?;
            key
        }
        (_, Some(key)) => key
            .try_into()
            .map_err(|_| ApiError::unavailable("the database", "a malformed new key"))?,
    };

    let documents = documents_of(state, &new_wallet).await?;
    sqlx::query("UPDATE recovery_ceremonies SET documents = $2 WHERE old_wallet = $1")
        .bind(&old[..])
        .bind(documents.len() as i32)
        .execute(state.pool())
        .await?;
    let done: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT sha256 FROM recovery_ceremony_documents WHERE old_wallet = $1")
            .bind(&c.old_wallet)
            .fetch_all(state.pool())
            .await?;
    for (token_id, sha) in documents {
        if done.iter().any(|d| d.as_slice() == sha) {
            continue;
        }
        rewrap_document(state, old, &new_key, token_id, &sha).await?;
        if !state.config().pace.is_zero() {
            tokio::time::sleep(state.config().pace).await;
        }
    }
    finish(state, old, &c.new_wallet).await
}

/// The identity's live documents, now the new wallet's: (token id, sha256).
async fn documents_of(state: &AppState, wallet: &str) -> ApiResult<Vec<(i64, [u8; 32])>> {
    let mut out = Vec::new();
    loop {
        let page = state
            .indexer(&format!(
                "/accounts/{wallet}/documents?limit={PAGE}&offset={}",
                out.len()
            ))
            .await?
            .unwrap_or_default();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let n = items.len();
        for d in items {
            if d["status"] == "deleted" {
                continue;
            }
            let sha: Option<[u8; 32]> = d["sha256"]
                .as_str()
                .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
                .and_then(|s| s.try_into().ok());
            match (d["token_id"].as_i64(), sha) {
                (Some(id), Some(sha)) => out.push((id, sha)),
                _ => {
                    return Err(ApiError::unavailable(
                        "the indexer",
                        format!("a malformed document {d}"),
                    ))
                }
            }
        }
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// How a document's key was re-wrapped.
enum Rewrapped {
    /// Inside the token.
    V2(Vec<u8>),
    /// Opened through the token, wrapped on the host.
    V1(Vec<u8>),
}

async fn rewrap_document(
    state: &AppState,
    old: &[u8; 32],
    new_key: &[u8; 32],
    token_id: i64,
    sha: &[u8; 32],
) -> ApiResult<()> {
    let recovery: Option<(Vec<u8>, Vec<u8>, String)> = sqlx::query_as(
        "SELECT recipient, wrapped, upload_id FROM storage_wrapped_keys
         WHERE sha256 = $1 AND role = 'recovery' AND revoked_at IS NULL",
    )
    .bind(&sha[..])
    .fetch_optional(state.pool())
    .await?;
    let ours = state.recovery_key().public_key();
    let (wrapped, upload_id) = match recovery {
        Some((recipient, wrapped, upload_id)) if recipient == ours => (wrapped, upload_id),
        Some((recipient, ..)) => {
            return failed(
                state,
                old,
                token_id,
                sha,
                &format!(
                    "its recovery wrap is to another recovery key ({}), not this token's ({})",
                    hex0x(&recipient),
                    hex0x(&ours)
                ),
            )
            .await
        }
        None => {
            return failed(
                state,
                old,
                token_id,
                sha,
                "it has no recovery-wrapped key at the gateway",
            )
            .await
        }
    };
    let key = state.recovery_key().clone();
    let new = *new_key;
    let rewrapped = tokio::task::spawn_blocking(move || -> Result<Rewrapped, String> {
        match wrapped.len() {
            sdv_keys::V2_WRAPPED_LEN => key
                .rewrap_v2(&wrapped, &new)
                .map(Rewrapped::V2)
                .map_err(|e| e.to_string()),
            sdv_keys::V1_WRAPPED_LEN => {
                let data_key = key.unwrap_v1_to_host(&wrapped).map_err(|e| e.to_string())?;
                envelope::wrap(&DataKey::from_bytes(*data_key), &PublicKey::from(new))
                    .map(Rewrapped::V1)
                    .map_err(|e| e.to_string())
            }
            n => Err(format!("a recovery wrap of {n} bytes")),
        }
    })
    .await
    .map_err(|e| ApiError::unavailable("the token", e))?;
    let (format, wrapped) = match rewrapped {
        Ok(Rewrapped::V2(w)) => ("v2", w),
        Ok(Rewrapped::V1(w)) => ("v1", w),
        // The token answered: the wrap itself is bad (tampered, or a small-order key).
        Err(e) => {
            return failed(
                state,
                old,
                token_id,
                sha,
                &format!("the token refused it: {e}"),
            )
            .await
        }
    };

    let mut tx = state.pool().begin().await?;
    sqlx::query(
        "INSERT INTO storage_wrapped_keys (sha256, recipient, role, wrapped, upload_id)
         VALUES ($1, $2, 'owner', $3, $4) ON CONFLICT (sha256, recipient) DO NOTHING",
    )
    .bind(&sha[..])
    .bind(&new_key[..])
    .bind(&wrapped)
    .bind(&upload_id)
    .execute(&mut *tx)
    .await?;
    let revoked = sqlx::query(
        "UPDATE storage_wrapped_keys SET revoked_at = now()
         WHERE sha256 = $1 AND role = 'owner' AND recipient <> $2 AND revoked_at IS NULL",
    )
    .bind(&sha[..])
    .bind(&new_key[..])
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO recovery_ceremony_documents (old_wallet, sha256, token_id, state, format)
         VALUES ($1, $2, $3, 'rewrapped', $4)",
    )
    .bind(&old[..])
    .bind(&sha[..])
    .bind(token_id)
    .bind(format)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE recovery_ceremonies SET rewrapped = rewrapped + 1,
             revoked_keys = revoked_keys + $2, last_error = NULL
         WHERE old_wallet = $1",
    )
    .bind(&old[..])
    .bind(revoked as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(token_id, format, "data key re-wrapped to the new wallet");
    Ok(())
}

/// Records a document that cannot be re-wrapped (for an operator), and goes on.
async fn failed(
    state: &AppState,
    old: &[u8; 32],
    token_id: i64,
    sha: &[u8; 32],
    reason: &str,
) -> ApiResult<()> {
    tracing::warn!(token_id, reason, "document not re-wrapped");
    let mut tx = state.pool().begin().await?;
    sqlx::query(
        "INSERT INTO recovery_ceremony_documents (old_wallet, sha256, token_id, state, error)
         VALUES ($1, $2, $3, 'failed', $4)",
    )
    .bind(&old[..])
    .bind(&sha[..])
    .bind(token_id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE recovery_ceremonies SET failed = failed + 1 WHERE old_wallet = $1")
        .bind(&old[..])
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends what the old wallet had: its sessions, the keys wrapped to it, its MPC shares.
async fn finish(state: &AppState, old: &[u8; 32], new_wallet: &[u8]) -> ApiResult<()> {
    let old_account = sdv_chain::AccountId::from(*old);
    let sessions = sdv_storage::auth::end_sessions_of(
        state.pool(),
        &old_account,
        "wallet revoked by a recovery",
    )
    .await?;
    let old_key: Option<[u8; 32]> = state
        .indexer(&format!("/accounts/{}/encryption-key", hex0x(old)))
        .await?
        .and_then(|k| {
            k["key"]
                .as_str()
                .and_then(|k| hex::decode(k.trim_start_matches("0x")).ok())
        })
        .and_then(|k| k.try_into().ok());
    let mut tx = state.pool().begin().await?;
    let revoked = match old_key {
        Some(key) => sqlx::query(
            "UPDATE storage_wrapped_keys SET revoked_at = now()
             WHERE recipient = $1 AND revoked_at IS NULL",
        )
        .bind(&key[..])
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        None => 0,
    };
    let shares = mpc::mark_compromised(
        &mut tx,
        old,
        &format!("revoked by the recovery to {}", hex0x(new_wallet)),
    )
    .await?;
    sqlx::query(
        "UPDATE recovery_ceremonies SET state = 'done', finished_at = now(), last_error = NULL,
             sessions_ended = sessions_ended + $2, revoked_keys = revoked_keys + $3,
             compromised_shares = compromised_shares + $4
         WHERE old_wallet = $1",
    )
    .bind(&old[..])
    .bind(sessions as i32)
    .bind(revoked as i32)
    .bind(shares as i32)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(old_wallet = %hex0x(old), sessions, revoked, shares, "recovery ceremony done");
    Ok(())
}

/// The ceremony routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ceremonies", get(list))
        .route("/v1/ceremonies/{old_wallet}", get(one))
}

/// The filter of [`list`].
#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
}

const COLUMNS: &str = "old_wallet, new_wallet, identity, block_number, event_index, state, new_key,
    documents, rewrapped, failed, revoked_keys, sessions_ended, compromised_shares, attempts,
    last_error, created_at::text AS created_at, finished_at::text AS finished_at";

fn ceremony_json(row: &sqlx::postgres::PgRow) -> Value {
    use sqlx::Row;
    let bytes = |name: &str| row.get::<Option<Vec<u8>>, _>(name).map(|b| hex0x(&b));
    json!({
        "old_wallet": bytes("old_wallet"),
        "new_wallet": bytes("new_wallet"),
        "identity": bytes("identity"),
        "block_number": row.get::<i64, _>("block_number"),
        "event_index": row.get::<i32, _>("event_index"),
        "state": row.get::<String, _>("state"),
        "new_key": bytes("new_key"),
        "documents": row.get::<i32, _>("documents"),
        "rewrapped": row.get::<i32, _>("rewrapped"),
        "failed": row.get::<i32, _>("failed"),
        "revoked_keys": row.get::<i32, _>("revoked_keys"),
        "sessions_ended": row.get::<i32, _>("sessions_ended"),
        "compromised_shares": row.get::<i32, _>("compromised_shares"),
        "attempts": row.get::<i32, _>("attempts"),
        "last_error": row.get::<Option<String>, _>("last_error"),
        "created_at": row.get::<Option<String>, _>("created_at"),
        "finished_at": row.get::<Option<String>, _>("finished_at"),
    })
}

async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    if let Some(s) = q.state.as_deref() {
        if !["waiting_for_key", "rewrapping", "done"].contains(&s) {
            return Err(ApiError::bad_request(
                "bad_state",
                "state is waiting_for_key, rewrapping or done",
            ));
        }
    }
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_ceremonies WHERE $1::text IS NULL OR state = $1
         ORDER BY block_number, event_index LIMIT 500"
    ))
    .bind(q.state)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(
        json!({ "items": rows.iter().map(ceremony_json).collect::<Vec<_>>() }),
    ))
}

/// A `recovery_ceremony_documents` row.
#[derive(sqlx::FromRow)]
struct DocumentState {
    token_id: i64,
    sha256: Vec<u8>,
    state: String,
    format: Option<String>,
    error: Option<String>,
    done_at: String,
}

async fn one(State(state): State<AppState>, Path(old): Path<String>) -> ApiResult<Json<Value>> {
    let old = account_bytes(&Value::String(old.clone())).ok_or_else(|| {
        ApiError::bad_request("bad_account", format!("{old:?} is not an account"))
    })?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM recovery_ceremonies WHERE old_wallet = $1"
    ))
    .bind(&old[..])
    .fetch_optional(state.pool())
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no ceremony for the wallet {}", hex0x(&old))))?;
    let documents: Vec<DocumentState> = sqlx::query_as(
            "SELECT token_id, sha256, state, format, error, done_at::text AS done_at FROM recovery_ceremony_documents
             WHERE old_wallet = $1 ORDER BY token_id",
        )
        .bind(&old[..])
        .fetch_all(state.pool())
        .await?;
    let mut answer = ceremony_json(&row);
    answer["document_states"] = documents
        .into_iter()
        .map(|d| {
            json!({ "token_id": d.token_id, "sha256": hex0x(&d.sha256), "state": d.state,
                    "format": d.format, "error": d.error, "done_at": d.done_at })
        })
        .collect();
    Ok(Json(answer))
}
