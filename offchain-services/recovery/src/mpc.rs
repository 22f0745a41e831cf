//! MPC wallets: the distributed key generation the ceremony coordinates, the registry of each
//! wallet's shares, and the custodian's share (sealed in the token) that co-signs.
//!
//! # Key generation (`/v1/dkg`, on the ceremony API)
//!
//! 1. The user's device opens a session (`POST /v1/dkg`); the custodian joins at once with its
//!    round-1 message.
//! 2. The device and the backup post their round-1 messages (public: commitments, proofs of
//!    knowledge, an X25519 transport key each). With all three, the custodian posts its round-2
//!    messages.
//! 3. Each posts its round-2 messages, sealed to their recipients' transport keys, and reads
//!    those addressed to it. When the custodian has both of its own, it finishes: the wallet
//!    (account = group key, the three verifying shares) is registered and the custodian's
//!    share sealed by the token's AES key, in one transaction.
//! 4. The device and the backup finish too and confirm the wallet they computed
//!    (`POST /v1/dkg/{id}/done`): a mismatch fails the session.
//!
//! Sessions live in memory for [`DKG_TTL`]: a restart in the middle means starting again; the
//! registry and the sealed share are in PostgreSQL.
//!
//! # Co-signing (`/v1/mpc/wallets/{account}/sign`, on the key-management API)
//!
//! The custodian commits (`/sign/commit`), then signs a message only when the request carries
//! another participant's signature share that verifies against that participant's verifying
//! share, and only for a wallet that is not compromised. It answers the aggregated signature.
//! Its nonces are used once and forgotten after [`SIGNING_TTL`].

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use rand::RngCore;
use sdv_mpc::{
    Commitment, DkgParticipant, Role, Round1Message, Round2Message, Share, SignatureShare,
    SigningNonces, WalletPublic,
};
use sdv_storage::error::{ApiError, ApiResult, JsonBody};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{hex0x, AppState};

/// How long a key generation session is kept.
pub const DKG_TTL: Duration = Duration::from_secs(600);
/// How long the custodian keeps a signing commitment.
pub const SIGNING_TTL: Duration = Duration::from_secs(120);

/// A key generation session.
struct DkgSession {
    created: Instant,
    round1: BTreeMap<Role, Round1Message>,
    round2: Vec<Round2Message>,
    /// The custodian, until it finished.
    custodian: Option<DkgParticipant>,
    /// The wallet the custodian computed.
    wallet: Option<WalletPublic>,
    /// The participants that confirmed the same wallet.
    confirmed: Vec<Role>,
    failed: Option<String>,
}

/// The key generation sessions, by id.
#[derive(Default)]
pub(crate) struct DkgSessions(Mutex<HashMap<String, DkgSession>>);

/// A custodian's commitment waiting for its message: when, for which wallet, its nonces.
struct Committed {
    at: Instant,
    account: [u8; 32],
    nonces: SigningNonces,
}

/// The custodian's signing commitments waiting for their message, by session id.
#[derive(Default)]
pub(crate) struct SigningSessions(Mutex<HashMap<String, Committed>>);

fn random_id() -> String {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    hex::encode(id)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn mpc_error(code: &'static str) -> impl FnOnce(sdv_mpc::Error) -> ApiError {
    move |e| ApiError::bad_request(code, e.to_string())
}

/// The key generation routes (on the ceremony API).
pub fn dkg_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/dkg", post(dkg_open))
        .route("/v1/dkg/{id}", get(dkg_state))
        .route(
            "/v1/dkg/{id}/round1",
            get(round1_messages).post(post_round1),
        )
        .route("/v1/dkg/{id}/round2", post(post_round2))
        .route("/v1/dkg/{id}/round2/{role}", get(round2_messages))
        .route("/v1/dkg/{id}/done", post(confirm))
}

/// The registry and co-signing routes (on the key-management API).
pub fn wallet_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mpc/wallets/{account}", get(wallet))
        .route("/v1/mpc/wallets/{account}/sign/commit", post(sign_commit))
        .route("/v1/mpc/wallets/{account}/sign", post(sign))
}

fn session_state(id: &str, s: &DkgSession) -> Value {
    let state = if let Some(reason) = &s.failed {
        json!({ "state": "failed", "reason": reason })
    } else if s.wallet.is_some() && s.confirmed.len() == 2 {
        json!({ "state": "done" })
    } else if s.round1.len() < 3 {
        json!({ "state": "round1" })
    } else {
        json!({ "state": "round2" })
    };
    let mut out = json!({
        "id": id,
        "round1": s.round1.keys().collect::<Vec<_>>(),
        "confirmed": s.confirmed,
        "account": s.wallet.as_ref().map(|w| hex0x(&w.account)),
    });
    if let (Value::Object(out), Value::Object(state)) = (&mut out, state) {
        out.extend(state);
    }
    out
}

impl DkgSessions {
    fn with<R>(&self, id: &str, f: impl FnOnce(&mut DkgSession) -> ApiResult<R>) -> ApiResult<R> {
        let mut sessions = lock(&self.0);
        sessions.retain(|_, s| s.created.elapsed() < DKG_TTL);
        let session = sessions
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found(format!("no key generation session {id}")))?;
        if let Some(reason) = &session.failed {
            return Err(ApiError::conflict("dkg_failed", reason.clone()));
        }
        f(session)
    }
}

async fn dkg_open(State(state): State<AppState>) -> ApiResult<(StatusCode, Json<Value>)> {
    let (custodian, message) = DkgParticipant::start(Role::Custodian).map_err(mpc_error("dkg"))?;
    let id = random_id();
    let session = DkgSession {
        created: Instant::now(),
        round1: BTreeMap::from([(Role::Custodian, message)]),
        round2: Vec::new(),
        custodian: Some(custodian),
        wallet: None,
        confirmed: Vec::new(),
        failed: None,
    };
    let answer = session_state(&id, &session);
    lock(&state.dkg().0).insert(id.clone(), session);
    tracing::info!(dkg = %id, "key generation opened");
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn dkg_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let sessions = lock(&state.dkg().0);
    let session = sessions
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no key generation session {id}")))?;
    Ok(Json(session_state(&id, session)))
}

/// Round-1 messages of one participant (not the custodian's: it is in-process).
async fn post_round1(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(message): JsonBody<Round1Message>,
) -> ApiResult<Json<Value>> {
    if message.role == Role::Custodian {
        return Err(ApiError::forbidden(
            "custodian_role",
            "the custodian's messages come from this service",
        ));
    }
    state.dkg().with(&id, |s| {
        match s.round1.get(&message.role) {
            Some(known) if *known == message => {}
            Some(_) => {
                return Err(ApiError::conflict(
                    "round1_posted",
                    format!(
                        "the {} posted another round-1 message already",
                        message.role
                    ),
                ))
            }
            None => {
                s.round1.insert(message.role, message);
            }
        }
        if s.round1.len() == 3 && !s.round2.iter().any(|m| m.from == Role::Custodian) {
            let all: Vec<Round1Message> = s.round1.values().cloned().collect();
            let custodian = s
                .custodian
                .as_mut()
                .ok_or_else(|| ApiError::conflict("dkg_failed", "the custodian left"))?;
            match custodian.round2(&all) {
                Ok(messages) => s.round2.extend(messages),
                Err(e) => {
                    s.failed = Some(format!("round 1 does not check out: {e}"));
                    return Err(ApiError::bad_request("round1_invalid", e.to_string()));
                }
            }
        }
        Ok(Json(session_state(&id, s)))
    })
}

async fn round1_messages(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.dkg().with(&id, |s| {
        Ok(Json(json!({
            "complete": s.round1.len() == 3,
            "messages": s.round1.values().collect::<Vec<_>>(),
        })))
    })
}

/// The round-2 messages of one participant to the others.
#[derive(Debug, Deserialize, Serialize)]
pub struct Round2Post {
    /// Sealed to each recipient.
    pub messages: Vec<Round2Message>,
}

async fn post_round2(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(post): JsonBody<Round2Post>,
) -> ApiResult<Json<Value>> {
    let finished = state.dkg().with(&id, |s| {
        if s.round1.len() < 3 {
            return Err(ApiError::conflict("round1_open", "round 1 is not complete"));
        }
        for m in &post.messages {
            if m.from == Role::Custodian || m.from == m.to {
                return Err(ApiError::bad_request(
                    "round2_invalid",
                    format!("a message from {} to {}", m.from, m.to),
                ));
            }
            if !s.round2.iter().any(|k| k.from == m.from && k.to == m.to) {
                s.round2.push(m.clone());
            }
        }
        let inbox: Vec<Round2Message> = s
            .round2
            .iter()
            .filter(|m| m.to == Role::Custodian)
            .cloned()
            .collect();
        if inbox.len() < 2 || s.wallet.is_some() {
            return Ok(None);
        }
        let custodian = s
            .custodian
            .take()
            .ok_or_else(|| ApiError::conflict("dkg_failed", "the custodian left"))?;
        match custodian.finish(&inbox) {
            Ok(share) => {
                s.wallet = Some(share.wallet());
                Ok(Some(share))
            }
            Err(e) => {
                s.failed = Some(format!("the custodian could not finish: {e}"));
                Err(ApiError::bad_request("round2_invalid", e.to_string()))
            }
        }
    })?;
    if let Some(share) = finished {
        register(&state, &id, &share).await?;
        tracing::info!(dkg = %id, account = %hex0x(&share.account()), "MPC wallet registered");
    }
    state.dkg().with(&id, |s| Ok(Json(session_state(&id, s))))
}

async fn round2_messages(
    State(state): State<AppState>,
    Path((id, role)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let role: Role = role
        .parse()
        .map_err(|_| ApiError::bad_request("bad_role", "role is device, backup or custodian"))?;
    state.dkg().with(&id, |s| {
        let mine: Vec<&Round2Message> = s.round2.iter().filter(|m| m.to == role).collect();
        Ok(Json(
            json!({ "complete": mine.len() == 2, "messages": mine }),
        ))
    })
}

/// A participant's confirmation of the wallet it computed.
#[derive(Debug, Deserialize, Serialize)]
pub struct Confirmation {
    /// Who confirms.
    pub role: Role,
    /// The wallet it computed.
    pub wallet: WalletPublic,
}

async fn confirm(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(confirmation): JsonBody<Confirmation>,
) -> ApiResult<Json<Value>> {
    state.dkg().with(&id, |s| {
        let Some(wallet) = &s.wallet else {
            return Err(ApiError::conflict(
                "not_finished",
                "the custodian has not finished yet",
            ));
        };
        if *wallet != confirmation.wallet {
            s.failed = Some(format!(
                "the {} computed another wallet than the custodian",
                confirmation.role
            ));
            return Err(ApiError::conflict(
                "wallet_mismatch",
                "the participants computed different wallets: start again",
            ));
        }
        if confirmation.role != Role::Custodian && !s.confirmed.contains(&confirmation.role) {
            s.confirmed.push(confirmation.role);
        }
        Ok(Json(session_state(&id, s)))
    })
}

/// Registers the wallet and seals the custodian's share, in one transaction.
async fn register(state: &AppState, dkg_id: &str, share: &Share) -> ApiResult<()> {
    let wallet = share.wallet();
    let plaintext =
        serde_json::to_vec(share).map_err(|e| ApiError::unavailable("the custodian share", e))?;
    let sealed = state
        .seal()
        .seal(&plaintext, &wallet.account)
        .map_err(|e| ApiError::unavailable("the token", e))?;
    let mut tx = state.pool().begin().await?;
    sqlx::query("INSERT INTO recovery_mpc_wallets (account, dkg_id) VALUES ($1, $2)")
        .bind(&wallet.account[..])
        .bind(dkg_id)
        .execute(&mut *tx)
        .await?;
    for (role, verifying) in &wallet.verifying_shares {
        sqlx::query(
            "INSERT INTO recovery_mpc_shares (account, role, verifying_share) VALUES ($1, $2, $3)",
        )
        .bind(&wallet.account[..])
        .bind(role.to_string())
        .bind(&verifying[..])
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO recovery_custodian_shares (account, sealed, sealing_key_label)
         VALUES ($1, $2, $3)",
    )
    .bind(&wallet.account[..])
    .bind(&sealed)
    .bind(state.seal().label())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A registered wallet: its state and the public verifying shares.
struct Registered {
    compromised: bool,
    wallet: WalletPublic,
}

async fn registered(pool: &PgPool, account: &[u8; 32]) -> ApiResult<Option<Registered>> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM recovery_mpc_wallets WHERE account = $1")
            .bind(&account[..])
            .fetch_optional(pool)
            .await?;
    let Some(state) = state else {
        return Ok(None);
    };
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT role, verifying_share FROM recovery_mpc_shares WHERE account = $1")
            .bind(&account[..])
            .fetch_all(pool)
            .await?;
    let mut verifying_shares = BTreeMap::new();
    for (role, share) in rows {
        let (Ok(role), Ok(share)) = (role.parse::<Role>(), <[u8; 32]>::try_from(share)) else {
            return Err(ApiError::unavailable(
                "the registry",
                "a malformed share row",
            ));
        };
        verifying_shares.insert(role, share);
    }
    Ok(Some(Registered {
        compromised: state == "compromised",
        wallet: WalletPublic {
            account: *account,
            verifying_shares,
        },
    }))
}

/// Marks a registered wallet and all its shares compromised (a recovery revoked it). Returns
/// how many shares it marked; 0 for a wallet that is not registered or was marked already.
pub async fn mark_compromised(
    tx: &mut sqlx::PgConnection,
    account: &[u8; 32],
    reason: &str,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE recovery_mpc_wallets SET state = 'compromised', compromised_at = now(),
             compromised_reason = $2
         WHERE account = $1 AND state = 'active'",
    )
    .bind(&account[..])
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(sqlx::query(
        "UPDATE recovery_mpc_shares SET state = 'compromised', compromised_at = now()
         WHERE account = $1 AND state = 'active'",
    )
    .bind(&account[..])
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

fn account_param(text: &str) -> ApiResult<[u8; 32]> {
    crate::account_bytes(&Value::String(text.to_owned())).ok_or_else(|| {
        ApiError::bad_request(
            "bad_account",
            format!("{text:?} is not an account (SS58 or 0x + 64 hex digits)"),
        )
    })
}

async fn wallet(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = account_param(&account)?;
    let rows: Vec<(String, Vec<u8>, String, Option<String>)> = sqlx::query_as(
        "SELECT role, verifying_share, state, to_char(compromised_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF')
         FROM recovery_mpc_shares WHERE account = $1 ORDER BY role",
    )
    .bind(&account[..])
    .fetch_all(state.pool())
    .await?;
    let wallet: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT dkg_id, state, compromised_reason FROM recovery_mpc_wallets WHERE account = $1",
    )
    .bind(&account[..])
    .fetch_optional(state.pool())
    .await?;
    let (dkg_id, wallet_state, reason) = wallet.ok_or_else(|| {
        ApiError::not_found(format!(
            "{} is not a registered MPC wallet",
            hex0x(&account)
        ))
    })?;
    Ok(Json(json!({
        "account": hex0x(&account),
        "ss58": sdv_chain::AccountId::from(account).to_string(),
        "dkg_id": dkg_id,
        "state": wallet_state,
        "compromised_reason": reason,
        "threshold": sdv_mpc::THRESHOLD,
        "shares": rows.into_iter().map(|(role, verifying, state, at)| json!({
            "role": role,
            "verifying_share": hex0x(&verifying),
            "state": state,
            "compromised_at": at,
            "custodian_share_sealed_in_token": role == "custodian",
        })).collect::<Vec<_>>(),
    })))
}

/// The custodian's share of `account`, opened by the token.
async fn custodian_share(state: &AppState, account: &[u8; 32]) -> ApiResult<Share> {
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT sealed FROM recovery_custodian_shares WHERE account = $1")
            .bind(&account[..])
            .fetch_optional(state.pool())
            .await?
            .ok_or_else(|| ApiError::not_found("the custodian holds no share of this wallet"))?;
    let plaintext = state
        .seal()
        .open(&sealed, account)
        .map_err(|e| ApiError::unavailable("the token", e))?;
    serde_json::from_slice(&plaintext).map_err(|e| ApiError::unavailable("the custodian share", e))
}

async fn active_wallet(state: &AppState, account: &[u8; 32]) -> ApiResult<WalletPublic> {
    let registered = registered(state.pool(), account).await?.ok_or_else(|| {
        ApiError::not_found(format!("{} is not a registered MPC wallet", hex0x(account)))
    })?;
    if registered.compromised {
        return Err(ApiError::forbidden(
            "wallet_compromised",
            "this wallet was revoked by a recovery: its shares are compromised and the custodian no longer signs for it",
        ));
    }
    Ok(registered.wallet)
}

async fn sign_commit(
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = account_param(&account)?;
    active_wallet(&state, &account).await?;
    let share = custodian_share(&state, &account).await?;
    let (nonces, commitment) = sdv_mpc::commit(&share).map_err(mpc_error("commit"))?;
    let session = random_id();
    {
        let mut sessions = lock(&state.signing().0);
        sessions.retain(|_, c| c.at.elapsed() < SIGNING_TTL);
        sessions.insert(
            session.clone(),
            Committed {
                at: Instant::now(),
                account,
                nonces,
            },
        );
    }
    Ok(Json(
        json!({ "session": session, "commitment": commitment }),
    ))
}

/// A request for the custodian's signature.
#[derive(Debug, Deserialize, Serialize)]
pub struct SignRequest {
    /// The session `/sign/commit` answered.
    pub session: String,
    /// The message (hex).
    pub message: String,
    /// Every signer's commitment, the custodian's included.
    pub commitments: Vec<Commitment>,
    /// The other signers' signature shares.
    pub shares: Vec<SignatureShare>,
}

async fn sign(
    State(state): State<AppState>,
    Path(account): Path<String>,
    JsonBody(request): JsonBody<SignRequest>,
) -> ApiResult<Json<Value>> {
    let account = account_param(&account)?;
    let message = hex::decode(request.message.trim_start_matches("0x"))
        .map_err(|_| ApiError::bad_request("bad_message", "message is not hex"))?;
    // The nonces are used once, whatever happens next.
    let Committed {
        at,
        account: committed_for,
        nonces,
    } = lock(&state.signing().0)
        .remove(&request.session)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::GONE,
                "unknown_session",
                "no such signing session (used or expired): commit again",
            )
        })?;
    if at.elapsed() >= SIGNING_TTL || committed_for != account {
        return Err(ApiError::new(
            StatusCode::GONE,
            "unknown_session",
            "the signing session expired or is another wallet's",
        ));
    }
    let wallet = active_wallet(&state, &account).await?;
    if request.shares.is_empty() || request.shares.iter().any(|s| s.role == Role::Custodian) {
        return Err(ApiError::forbidden(
            "share_required",
            "the custodian signs only with another participant's signature share",
        ));
    }
    let package = sdv_mpc::signing_package(&request.commitments, &message)
        .map_err(mpc_error("bad_commitments"))?;
    for share in &request.shares {
        sdv_mpc::verify_share(&wallet, &package, share).map_err(|e| {
            tracing::warn!(account = %hex0x(&account), role = %share.role, "a signature share that does not verify");
            ApiError::forbidden("bad_signature_share", e.to_string())
        })?;
    }
    let share = custodian_share(&state, &account).await?;
    let mine = sdv_mpc::sign(&share, nonces, &package).map_err(mpc_error("bad_commitments"))?;
    let mut shares = request.shares;
    shares.push(mine);
    let signature = sdv_mpc::aggregate(&wallet, &package, &shares)
        .map_err(|e| ApiError::forbidden("bad_signature_share", e.to_string()))?;
    Ok(Json(
        json!({ "account": hex0x(&account), "signature": hex0x(&signature) }),
    ))
}
