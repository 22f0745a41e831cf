//! Login by a signed challenge, and the sessions it opens.
//!
//! A wallet asks for a challenge, signs [`login_message`] of its account and the challenge
//! with its key (sr25519 or ed25519), and gets a bearer token bound to the account. The gateway
//! keeps only the token's sha256. A challenge is used once and lives five minutes; a session
//! ends when its owner ends it, after 24 hours without a request, or when the chain shows its
//! wallet revoked by a recovery (then every session of that wallet ends).

use std::time::Duration;

use axum::{
    extract::{FromRequestParts, State},
    http::{request::Parts, StatusCode},
    routing::{delete, get, post},
    Json, Router,
};
use rand::RngCore;
use sdv_chain::AccountId;
use sdv_storage_client::protocol::{
    login_message, Challenge, ChallengeRequest, Login, LoginRequest, Scheme, SessionInfo,
    CHALLENGE_TTL_MS, IDLE_EXPIRY_MS,
};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{
    error::{JsonBody, PathParams},
    now_ms, parse_account, ApiError, ApiResult, AppState,
};

/// The routes under `/v1/auth`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/challenge", post(challenge))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/sessions", get(sessions))
        .route("/v1/auth/sessions/{session_id}", delete(end_session))
}

/// A request made within a live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's id.
    pub id: String,
    /// The wallet it is bound to.
    pub account: AccountId,
}

fn hex_account(account: &AccountId) -> String {
    format!("0x{}", hex::encode(account.0))
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("log in first: no bearer token"))?;
        // The token is looked up by its hash: the comparison never touches the token itself.
        let row = sqlx::query(
            "UPDATE storage_sessions SET last_seen = now()
             WHERE token_hash = $1 AND ended_at IS NULL
               AND last_seen > now() - make_interval(secs => $2)
             RETURNING id, account",
        )
        .bind(&token_hash(token)[..])
        .bind((IDLE_EXPIRY_MS / 1000) as f64)
        .fetch_optional(state.pool())
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("the session is unknown, ended or expired: log in again")
        })?;
        let account: Vec<u8> = row.get("account");
        Ok(Session {
            id: row.get("id"),
            account: AccountId::from(<[u8; 32]>::try_from(account.as_slice()).map_err(|_| {
                ApiError::unavailable("the database", "a session with a malformed account")
            })?),
        })
    }
}

async fn challenge(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChallengeRequest>,
) -> ApiResult<Json<Challenge>> {
    let account = parse_account(&request.account).ok_or_else(|| {
        ApiError::bad_request(
            "bad_account",
            format!("{:?} is not an account", request.account),
        )
    })?;
    let mut challenge = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut challenge);
    let expires_at_ms = now_ms() + CHALLENGE_TTL_MS;
    sqlx::query(
        "INSERT INTO storage_challenges (challenge, account, expires_at)
         VALUES ($1, $2, to_timestamp($3 / 1000.0))",
    )
    .bind(&challenge[..])
    .bind(&account.0[..])
    .bind(expires_at_ms as f64)
    .execute(state.pool())
    .await?;
    let challenge = hex::encode(challenge);
    Ok(Json(Challenge {
        message: login_message(&hex_account(&account), &challenge),
        challenge,
        expires_at_ms,
    }))
}

/// Whether `signature` is `account`'s signature of `message` under `scheme`.
pub fn verify(scheme: Scheme, account: &AccountId, message: &[u8], signature: &[u8; 64]) -> bool {
    match scheme {
        Scheme::Sr25519 => sdv_chain::subxt_signer::sr25519::verify(
            &sdv_chain::subxt_signer::sr25519::Signature(*signature),
            message,
            &sdv_chain::subxt_signer::sr25519::PublicKey(account.0),
        ),
        Scheme::Ed25519 => ed25519_zebra::VerificationKey::try_from(account.0)
            .and_then(|key| key.verify(&ed25519_zebra::Signature::from(*signature), message))
            .is_ok(),
    }
}

async fn login(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> ApiResult<(StatusCode, Json<Login>)> {
    let account = parse_account(&request.account).ok_or_else(|| {
        ApiError::bad_request(
            "bad_account",
            format!("{:?} is not an account", request.account),
        )
    })?;
    let challenge = crate::parse_hash(&request.challenge).ok_or_else(|| {
        ApiError::bad_request("bad_challenge", "the challenge is not 64 hex digits")
    })?;
    let signature: [u8; 64] = hex::decode(request.signature.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::bad_request("bad_signature", "the signature is not 128 hex digits")
        })?;
    // The challenge is consumed whatever the outcome: one signature attempt per challenge.
    let issued_to: Option<Vec<u8>> = sqlx::query_scalar(
        "DELETE FROM storage_challenges WHERE challenge = $1 AND expires_at > now()
         RETURNING account",
    )
    .bind(&challenge[..])
    .fetch_optional(state.pool())
    .await?;
    if issued_to.as_deref() != Some(&account.0[..]) {
        return Err(ApiError::unauthorized(
            "the challenge is unknown, expired, used, or was issued to another account",
        ));
    }
    let message = login_message(&hex_account(&account), &hex::encode(challenge));
    if !verify(request.scheme, &account, message.as_bytes(), &signature) {
        return Err(ApiError::unauthorized(
            "the signature does not verify with this account's key",
        ));
    }
    if state.documents().is_revoked(&account).await? {
        return Err(ApiError::forbidden(
            "wallet_revoked",
            "this wallet was replaced by a recovery and can no longer log in",
        ));
    }
    let mut token = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut token);
    let token = hex::encode(token);
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    sqlx::query("INSERT INTO storage_sessions (id, token_hash, account) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&token_hash(&token)[..])
        .bind(&account.0[..])
        .execute(state.pool())
        .await?;
    tracing::info!(session = %id, account = %hex_account(&account), "logged in");
    Ok((
        StatusCode::CREATED,
        Json(Login {
            token,
            session_id: id,
            account: hex_account(&account),
        }),
    ))
}

async fn sessions(State(state): State<AppState>, me: Session) -> ApiResult<Json<Vec<SessionInfo>>> {
    let rows = sqlx::query(
        "SELECT id, (extract(epoch FROM created_at) * 1000)::BIGINT AS created,
                (extract(epoch FROM last_seen) * 1000)::BIGINT AS seen
         FROM storage_sessions
         WHERE account = $1 AND ended_at IS NULL
           AND last_seen > now() - make_interval(secs => $2)
         ORDER BY created_at",
    )
    .bind(&me.account.0[..])
    .bind((IDLE_EXPIRY_MS / 1000) as f64)
    .fetch_all(state.pool())
    .await?;
    Ok(Json(
        rows.iter()
            .map(|r| {
                let id: String = r.get("id");
                SessionInfo {
                    current: id == me.id,
                    session_id: id,
                    created_at_ms: r.get::<i64, _>("created") as u64,
                    last_seen_ms: r.get::<i64, _>("seen") as u64,
                }
            })
            .collect(),
    ))
}

async fn end_session(
    State(state): State<AppState>,
    me: Session,
    PathParams(session_id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let ended = sqlx::query(
        "UPDATE storage_sessions SET ended_at = now(), end_reason = 'ended by its owner'
         WHERE id = $1 AND account = $2 AND ended_at IS NULL",
    )
    .bind(&session_id)
    .bind(&me.account.0[..])
    .execute(state.pool())
    .await?
    .rows_affected();
    if ended == 0 {
        return Err(ApiError::not_found("no open session of yours with this id"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of `account` (the chain revoked it); returns how many ended.
pub async fn end_sessions_of(
    pool: &sqlx::PgPool,
    account: &AccountId,
    reason: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE storage_sessions SET ended_at = now(), end_reason = $2
         WHERE account = $1 AND ended_at IS NULL",
    )
    .bind(&account.0[..])
    .bind(reason)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Every `every`, ends the sessions of wallets the chain shows revoked, and forgets expired
/// challenges and long-expired sessions. Runs until the process stops.
pub async fn watch_revocations(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = revoke_once(&state).await {
            tracing::warn!(%e, "checking revoked wallets failed; retrying");
            // A node that restarted closed our connection for good: open a new one.
            let lost = e
                .downcast_ref::<sdv_chain::Error>()
                .is_some_and(sdv_relayer::is_transient);
            if lost {
                if let Err(e) = state.reconnect().await {
                    tracing::warn!(%e, "reconnecting to the node failed; retrying");
                }
            }
        }
    }
}

/// One pass of [`watch_revocations`]; returns the sessions it ended.
pub async fn revoke_once(state: &AppState) -> anyhow::Result<u64> {
    // Also the node connection's liveness check (see `watch_revocations`).
    state
        .documents()
        .is_revoked(&AccountId::from([0u8; 32]))
        .await?;
    sqlx::query("DELETE FROM storage_challenges WHERE expires_at < now()")
        .execute(state.pool())
        .await?;
    let accounts: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT DISTINCT account FROM storage_sessions WHERE ended_at IS NULL")
            .fetch_all(state.pool())
            .await?;
    let mut ended = 0;
    for raw in accounts {
        let Ok(bytes) = <[u8; 32]>::try_from(raw.as_slice()) else {
            continue;
        };
        let account = AccountId::from(bytes);
        if state.documents().is_revoked(&account).await? {
            let n = end_sessions_of(state.pool(), &account, "wallet revoked by a recovery").await?;
            tracing::info!(account = %hex_account(&account), sessions = n, "wallet revoked: sessions ended");
            ended += n;
        }
    }
    Ok(ended)
}
