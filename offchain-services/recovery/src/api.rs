//! The two HTTP APIs: key management (8935) and the recovery ceremony (8130).
//!
//! | route | API | what |
//! | --- | --- | --- |
//! | `GET /health` | both | the token, the recovery key, the database |
//! | `GET /v1/recovery-key` | keys | the recovery key's X25519 public key and what the token enforces for it |
//! | `GET /v1/mpc/wallets/{account}` | keys | a registered MPC wallet: state, verifying shares |
//! | `POST /v1/mpc/wallets/{account}/sign/commit` | keys | the custodian's signing commitment |
//! | `POST /v1/mpc/wallets/{account}/sign` | keys | the custodian's share, aggregated: the signature |
//! | `POST /v1/dkg`, `/v1/dkg/{id}/...` | ceremony | key generation of a new MPC wallet ([`crate::mpc`]) |
//! | `GET /v1/ceremonies[?state=]`, `/v1/ceremonies/{old_wallet}` | ceremony | ceremonies and their documents |

use axum::{extract::State, routing::get, Json, Router};
use sdv_storage::error::{not_found, ApiError, ApiResult};
use serde_json::{json, Value};

use crate::{ceremony, hex0x, mpc, AppState};

/// The key-management API.
pub fn keys_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/recovery-key", get(recovery_key))
        .merge(mpc::wallet_routes())
        .fallback(not_found)
        .with_state(state)
}

/// The recovery ceremony API.
pub fn ceremony_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(mpc::dkg_routes())
        .merge(ceremony::routes())
        .fallback(not_found)
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    sqlx::query("SELECT 1").execute(state.pool()).await?;
    Ok(Json(json!({
        "status": "ok",
        "token": state.config().token.label,
        "recovery_key": hex0x(&state.recovery_key().public_key()),
    })))
}

async fn recovery_key(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let key = state.recovery_key().clone();
    let protection = tokio::task::spawn_blocking(move || key.protection())
        .await
        .map_err(|e| ApiError::unavailable("the token", e))?
        .map_err(|e| ApiError::unavailable("the token", e))?;
    Ok(Json(json!({
        "public_key": hex::encode(state.recovery_key().public_key()),
        "label": state.recovery_key().label(),
        "token": state.config().token.label,
        "locked_in_token": protection.is_locked_in(),
        "value_sensitive": protection.value_sensitive,
        "always_sensitive": protection.always_sensitive,
        "never_extractable": protection.never_extractable,
        "wrap_refused": protection.wrap_refused.map(|c| format!("{c:?}")),
        "make_extractable_refused": protection.make_extractable_refused.map(|c| format!("{c:?}")),
    })))
}
