//! The chunked, resumable upload protocol (spec section 2).
//!
//! A session is opened with the manifest (size, sha256 of the whole ciphertext) after the
//! owner's tier limits were checked on the chain; it starts an S3 multipart upload to the
//! object's final key. Each chunk (5 MB) is checked against its sha256 before anything is
//! kept, written at its offset in the upload's spool file, and recorded; as soon as every chunk
//! of a part (16 MB by default, independent of the chunk) has arrived, the part is stored in S3
//! while the next chunks arrive. Completing hashes the spool file against the manifest and only
//! then completes the multipart upload (the object appears at once, whole, or not at all),
//! records the object's reference, and enqueues the mint in the same database transaction.
//!
//! After a crash, the database says which chunks and parts are safe: the client asks which
//! chunks arrived and sends the others; parts missing at completion are stored then.

use std::{
    collections::{HashMap, HashSet},
    io::Read,
    os::unix::fs::FileExt,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    routing::{get, post, put},
    Json, Router,
};
use bytes::Bytes;
use rand::RngCore;
use sdv_chain::{AccountId, Mint};
use sdv_storage_client::protocol::{
    chunk_count, CreateUpload, HolderRef, KeyRole, MintStatus, UploadState, UploadStatus,
    WrappedKey, CHUNK_SHA256_HEADER, CHUNK_SIZE, IDLE_EXPIRY_MS, MB,
};
use sdv_types::document::{DocumentClass, Holder, RetentionOption};
use sha2::{Digest, Sha256};
use sqlx::{FromRow, PgPool};
use tokio::sync::Semaphore;

use crate::{
    auth::Session,
    error::{JsonBody, PathParams},
    parse_hash, s3, ApiError, ApiResult, AppState,
};

/// S3 refuses more parts than this in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// The routes under `/v1/uploads`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/uploads", post(create).get(list))
        .route("/v1/uploads/{upload_id}", get(status).delete(abort))
        .route(
            "/v1/uploads/{upload_id}/chunks/{index}",
            put(put_chunk).layer(DefaultBodyLimit::max(CHUNK_SIZE as usize + 1)),
        )
        .route("/v1/uploads/{upload_id}/complete", post(complete))
}

/// What the gateway keeps in memory about uploads in progress: chunks and parts in flight.
/// Losing it (a crash) loses nothing: the database has what was stored.
pub(crate) struct Uploads {
    chunks_in_flight: Mutex<HashMap<String, u8>>,
    hashes: Mutex<HashMap<String, Arc<Mutex<RunningHash>>>>,
    parts_in_flight: Mutex<HashSet<(String, i32)>>,
    completing: Mutex<HashSet<String>>,
    s3_slots: Arc<Semaphore>,
}

impl Uploads {
    pub(crate) fn new(s3_concurrency: usize) -> Self {
        Self {
            chunks_in_flight: Mutex::default(),
            hashes: Mutex::default(),
            parts_in_flight: Mutex::default(),
            completing: Mutex::default(),
            s3_slots: Arc::new(Semaphore::new(s3_concurrency.max(1))),
        }
    }
}

/// The whole document's sha256, advanced over the chunks in order as they arrive, so that
/// completing does not read the document again. Lost in a crash: completing then hashes the
/// spool file instead.
#[derive(Default)]
struct RunningHash {
    hasher: Sha256,
    /// The next chunk to hash.
    next: u32,
    /// Chunks that arrived ahead of `next` (their bytes are in the spool).
    ahead: std::collections::BTreeSet<u32>,
    /// A chunk was received twice after it was hashed: its bytes may differ, so the running
    /// hash is not trusted.
    spoiled: bool,
}

impl RunningHash {
    /// Takes chunk `index` (its verified bytes), then every chunk after it that arrived
    /// earlier, read back from the spool.
    fn advance(
        &mut self,
        index: u32,
        bytes: &[u8],
        spool: &std::path::Path,
        size: u64,
    ) -> std::io::Result<()> {
        if index < self.next {
            self.spoiled = true;
            return Ok(());
        }
        if index > self.next {
            self.ahead.insert(index);
            return Ok(());
        }
        self.hasher.update(bytes);
        self.next += 1;
        if self.ahead.first() != Some(&self.next) {
            return Ok(());
        }
        let file = std::fs::File::open(spool)?;
        let mut buf = vec![0u8; CHUNK_SIZE as usize];
        while self.ahead.remove(&self.next) {
            let offset = u64::from(self.next) * CHUNK_SIZE;
            let len = CHUNK_SIZE.min(size - offset) as usize;
            file.read_exact_at(&mut buf[..len], offset)?;
            self.hasher.update(&buf[..len]);
            self.next += 1;
        }
        Ok(())
    }
}

/// Holds one of an upload's parallel chunk slots until dropped.
struct ChunkSlot<'a> {
    uploads: &'a Uploads,
    id: String,
}

impl<'a> ChunkSlot<'a> {
    fn take(uploads: &'a Uploads, id: &str, limit: u8) -> Option<Self> {
        let mut map = uploads.chunks_in_flight.lock().expect("not poisoned");
        let n = map.entry(id.to_owned()).or_default();
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Self {
            uploads,
            id: id.to_owned(),
        })
    }
}

impl Drop for ChunkSlot<'_> {
    fn drop(&mut self) {
        let mut map = self.uploads.chunks_in_flight.lock().expect("not poisoned");
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

/// An upload session as stored.
#[derive(Debug, Clone, FromRow)]
pub struct UploadRow {
    /// Its id.
    pub id: String,
    /// The uploading wallet.
    pub account: Vec<u8>,
    /// The vault it is staged for, if any.
    pub vault: Option<i64>,
    /// Ciphertext bytes.
    pub size: i64,
    /// The manifest hash.
    pub sha256: Vec<u8>,
    /// Class name.
    pub class: String,
    /// Retention name.
    pub retention: String,
    /// Arweave requested.
    pub arweave: bool,
    /// A label.
    pub name: Option<String>,
    /// The wrapped keys (JSON).
    pub wrapped_keys: serde_json::Value,
    /// Tier name.
    pub tier: String,
    /// Chunks in flight allowed.
    pub parallel_chunks: i16,
    /// Chunk count.
    pub chunks: i32,
    /// Part size.
    pub part_size: i64,
    /// State name.
    pub state: String,
    /// The S3 key.
    pub s3_key: String,
    /// The S3 multipart upload id.
    pub s3_upload_id: String,
    /// The outbox key of its mint.
    pub mint_key: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Last activity (ms).
    pub last_activity_ms: i64,
}

const UPLOAD_COLUMNS: &str = "id, account, vault, size, sha256, class, retention, arweave, \
    name, wrapped_keys, tier, parallel_chunks, chunks, part_size, state, s3_key, s3_upload_id, \
    mint_key, error, (extract(epoch FROM last_activity) * 1000)::BIGINT AS last_activity_ms";

impl UploadRow {
    fn sha(&self) -> [u8; 32] {
        self.sha256.as_slice().try_into().unwrap_or([0; 32])
    }

    fn part_count(&self) -> i32 {
        (self.size as u64).div_ceil(self.part_size as u64) as i32
    }

    /// The byte range of part `p` (0-based).
    fn part_range(&self, p: i32) -> (u64, u64) {
        let start = p as u64 * self.part_size as u64;
        (start, (start + self.part_size as u64).min(self.size as u64))
    }

    /// The chunks part `p` (0-based) is made of.
    fn part_chunks(&self, p: i32) -> std::ops::RangeInclusive<i32> {
        let (start, end) = self.part_range(p);
        (start / CHUNK_SIZE) as i32..=((end - 1) / CHUNK_SIZE) as i32
    }

    /// The parts (0-based) chunk `i` contributes to.
    fn parts_of_chunk(&self, i: i32) -> std::ops::RangeInclusive<i32> {
        let start = i as u64 * CHUNK_SIZE;
        let end = (start + CHUNK_SIZE).min(self.size as u64);
        (start / self.part_size as u64) as i32..=((end - 1) / self.part_size as u64) as i32
    }

    fn expires_at_ms(&self) -> u64 {
        self.last_activity_ms as u64 + IDLE_EXPIRY_MS
    }
}

fn spool_path(state: &AppState, id: &str) -> PathBuf {
    state.config().spool_dir.join(format!("{id}.part"))
}

async fn load(pool: &PgPool, id: &str, account: &AccountId) -> ApiResult<UploadRow> {
    sqlx::query_as::<_, UploadRow>(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM storage_uploads WHERE id = $1 AND account = $2"
    ))
    .bind(id)
    .bind(&account.0[..])
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no upload {id} of yours")))
}

/// Parses a class name (`us_tax`, `financial`, `kyc`, `other`).
pub fn parse_class(name: &str) -> Option<DocumentClass> {
    sdv_storage_client::classify::parse_class(name).ok()
}

/// Parses a retention option's name (`minimum` ... `permanent`).
pub fn parse_retention(name: &str) -> Option<RetentionOption> {
    sdv_storage_client::classify::parse_retention(name).ok()
}

fn tier_name(tier: sdv_types::governance::Tier) -> &'static str {
    use sdv_types::governance::Tier;
    match tier {
        Tier::Free => "free",
        Tier::BpohVerified => "bpoh_verified",
        Tier::Premium => "premium",
        Tier::Institutional => "institutional",
    }
}

fn parse_state(name: &str) -> UploadState {
    match name {
        "stored" => UploadState::Stored,
        "staged" => UploadState::Staged,
        "aborted" => UploadState::Aborted,
        "expired" => UploadState::Expired,
        "rejected" => UploadState::Rejected,
        _ => UploadState::Open,
    }
}

async fn status_of(state: &AppState, row: &UploadRow) -> ApiResult<UploadStatus> {
    let received: Vec<i32> = sqlx::query_scalar(
        "SELECT index FROM storage_upload_chunks WHERE upload_id = $1 ORDER BY index",
    )
    .bind(&row.id)
    .fetch_all(state.pool())
    .await?;
    let mint = match &row.mint_key {
        None => None,
        Some(key) => {
            let entry = sdv_relayer::outbox::entry(state.pool(), key)
                .await
                .map_err(|e| ApiError::unavailable("the outbox", e))?;
            let token_id = match (&entry, row.vault) {
                (Some(e), None) if e.status == "finalized" => {
                    state.documents().token_by_hash(row.sha()).await?
                }
                _ => None,
            };
            entry.map(|e| MintStatus {
                status: e.status,
                token_id,
                error: e.error,
            })
        }
    };
    Ok(UploadStatus {
        upload_id: row.id.clone(),
        state: parse_state(&row.state),
        size: row.size as u64,
        sha256: hex::encode(&row.sha256),
        chunk_size: CHUNK_SIZE,
        chunks: row.chunks as u32,
        received: received.into_iter().map(|i| i as u32).collect(),
        tier: row.tier.clone(),
        parallel_chunks: row.parallel_chunks as u8,
        expires_at_ms: row.expires_at_ms(),
        mint,
    })
}

fn parse_wrapped(keys: &[WrappedKey]) -> ApiResult<Vec<([u8; 32], KeyRole)>> {
    keys.iter()
        .map(|k| {
            let recipient = parse_hash(&k.recipient).ok_or_else(|| {
                ApiError::bad_request(
                    "bad_wrapped_key",
                    "a wrapped key's recipient is not 64 hex digits",
                )
            })?;
            let wrapped = hex::decode(k.wrapped.trim_start_matches("0x")).map_err(|_| {
                ApiError::bad_request("bad_wrapped_key", "a wrapped key is not hex")
            })?;
            if wrapped.is_empty() || wrapped.len() > 256 {
                return Err(ApiError::bad_request(
                    "bad_wrapped_key",
                    "a wrapped key must be 1 to 256 bytes",
                ));
            }
            Ok((recipient, k.role))
        })
        .collect()
}

async fn create(
    State(state): State<AppState>,
    me: Session,
    JsonBody(request): JsonBody<CreateUpload>,
) -> ApiResult<(StatusCode, Json<UploadStatus>)> {
    let sha = parse_hash(&request.sha256).ok_or_else(|| {
        ApiError::bad_request("bad_sha256", "the manifest sha256 is not 64 hex digits")
    })?;
    let class = parse_class(&request.class).ok_or_else(|| {
        ApiError::bad_request(
            "bad_class",
            format!(
                "unknown document class {:?} (us_tax, financial, kyc, other)",
                request.class
            ),
        )
    })?;
    let retention = parse_retention(&request.retention).ok_or_else(|| {
        ApiError::bad_request(
            "bad_retention",
            format!("unknown retention option {:?}", request.retention),
        )
    })?;
    if request.size == 0 {
        return Err(ApiError::bad_request(
            "empty_document",
            "an empty document cannot be stored",
        ));
    }
    if request
        .name
        .as_ref()
        .is_some_and(|n| n.len() > 256 || n.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "bad_name",
            "the name must be at most 256 bytes without control characters",
        ));
    }
    let wrapped = parse_wrapped(&request.wrapped_keys)?;
    if !wrapped.iter().any(|(_, role)| *role == KeyRole::Owner) {
        return Err(ApiError::bad_request(
            "owner_key_missing",
            "the data key must be wrapped to the owner's encryption key",
        ));
    }
    if let Some(recovery) = state.config().recovery_public_key {
        if !wrapped
            .iter()
            .any(|(r, role)| *role == KeyRole::Recovery && *r == recovery)
        {
            return Err(ApiError::bad_request(
                "recovery_key_missing",
                format!("the data key must also be wrapped to the recovery key {} (GET /v1/recovery-key)", hex::encode(recovery)),
            ));
        }
    }
    let documents = state.documents();
    if documents.is_revoked(&me.account).await? {
        return Err(ApiError::forbidden(
            "wallet_revoked",
            "this wallet was replaced by a recovery",
        ));
    }
    let holder = match request.holder {
        HolderRef::Account => {
            let published = documents
                .encryption_key(&me.account)
                .await?
                .ok_or_else(|| {
                    ApiError::conflict(
                        "no_encryption_key",
                        "publish your encryption key first (sdv key publish-encryption-key)",
                    )
                })?;
            if !wrapped
                .iter()
                .any(|(r, role)| *role == KeyRole::Owner && *r == published.key)
            {
                return Err(ApiError::bad_request(
                    "owner_key_mismatch",
                    format!("the owner's wrapped key is not for the encryption key published on-chain ({})", hex::encode(published.key)),
                ));
            }
            Holder::Account(sdv_chain::to_ink_account(&me.account))
        }
        HolderRef::Vault(vault) => {
            if !state.vaults().is_admin(vault, &me.account).await? {
                return Err(ApiError::forbidden(
                    "not_vault_admin",
                    format!("you do not administer vault {vault}"),
                ));
            }
            Holder::Vault(vault)
        }
    };
    // Tier limits, from the chain, before any byte is stored.
    let tier = documents.tier_of(holder).await?.ok_or_else(|| {
        ApiError::not_found("the holder does not exist on-chain (unknown vault?)")
    })?;
    let limits = state.governance().tier_params(tier).await?;
    if request.size > limits.max_document_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "tier_size_limit",
            format!(
                "{} bytes is over the {} tier's limit of {} bytes ({} MB) per document",
                request.size,
                tier_name(tier),
                limits.max_document_bytes,
                limits.max_document_bytes / MB
            ),
        ));
    }
    // An Arweave copy (asked for, or implied by Permanent) needs a tier that has them and
    // Arweave in service; the chain would refuse the mint, so nothing is stored.
    if request.arweave || request.retention == "permanent" {
        let governance = state.governance();
        if !governance
            .replication_policy(tier)
            .await?
            .arweave_on_request
        {
            return Err(ApiError::forbidden(
                "arweave_not_allowed",
                format!(
                    "the {} tier has no Arweave copies (Premium and Institutional have them on request): upload without --permanent",
                    tier_name(tier)
                ),
            ));
        }
        if !governance.providers().await?.arweave {
            return Err(ApiError::forbidden(
                "arweave_out_of_service",
                "Arweave is out of service (validator governance): upload without --permanent",
            ));
        }
    }
    if let Some(max) = limits.max_documents {
        let vault = match request.holder {
            HolderRef::Vault(v) => Some(v as i64),
            HolderRef::Account => None,
        };
        // A mint landing between the two lookups of `in_use` is counted twice, so a count at
        // the limit is taken again before refusing: a refusal needs two counts at the limit.
        let mut count = in_use(&state, &me.account, vault, holder).await?;
        if count.0 + count.1 >= u64::from(max) {
            count = in_use(&state, &me.account, vault, holder).await?;
        }
        let (live, pending) = count;
        if live + pending >= u64::from(max) {
            return Err(ApiError::forbidden(
                "tier_document_limit",
                format!(
                    "the {} tier allows {max} documents: {live} stored and {pending} on their way",
                    tier_name(tier)
                ),
            ));
        }
    }
    let chunks = chunk_count(request.size);
    // Parts are independent of chunks; a very large document gets larger parts so that it
    // never needs more than S3's 10,000.
    let part_size = state
        .config()
        .part_size
        .max(request.size.div_ceil(MAX_PARTS).div_ceil(MB) * MB);
    let s3_key = match request.holder {
        HolderRef::Account => s3::doc_key(&sha),
        HolderRef::Vault(vault) => s3::staging_key(vault, &sha),
    };
    let mut id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut id);
    let id = hex::encode(id);
    let spool = spool_path(&state, &id);
    let size = request.size;
    tokio::task::spawn_blocking(move || std::fs::File::create(&spool)?.set_len(size))
        .await
        .map_err(|e| ApiError::unavailable("the spool", e))?
        .map_err(|e| ApiError::unavailable("the spool", e))?;
    let s3_upload_id = state.bucket().create_multipart(&s3_key).await?;
    sqlx::query(
        "INSERT INTO storage_uploads (id, account, vault, size, sha256, class, retention, arweave,
             name, wrapped_keys, tier, parallel_chunks, chunks, part_size, s3_key, s3_upload_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(&me.account.0[..])
    .bind(match request.holder {
        HolderRef::Vault(v) => Some(v as i64),
        HolderRef::Account => None,
    })
    .bind(request.size as i64)
    .bind(&sha[..])
    .bind(&request.class)
    .bind(&request.retention)
    .bind(request.arweave || retention == RetentionOption::Permanent)
    .bind(&request.name)
    .bind(serde_json::to_value(&request.wrapped_keys).unwrap_or_default())
    .bind(tier_name(tier))
    .bind(i16::from(limits.parallel_chunks.max(1)))
    .bind(chunks as i32)
    .bind(part_size as i64)
    .bind(&s3_key)
    .bind(&s3_upload_id)
    .execute(state.pool())
    .await?;
    tracing::info!(upload = %id, size, chunks, tier = tier_name(tier), ?class, "upload opened");
    let row = load(state.pool(), &id, &me.account).await?;
    Ok((StatusCode::CREATED, Json(status_of(&state, &row).await?)))
}

/// The holder's documents toward its tier's limit: (live on-chain, on their way). Uploads
/// still on their way to a mint count too, unless the chain has the document already. They
/// are looked up before the live count, so a mint landing in between is counted twice (the
/// caller counts again), never missed.
async fn in_use(
    state: &AppState,
    account: &AccountId,
    vault: Option<i64>,
    holder: Holder,
) -> ApiResult<(u64, u64)> {
    let documents = state.documents();
    let on_their_way: Vec<(bool, Vec<u8>)> = sqlx::query_as(
        "SELECT u.state = 'open', u.sha256 FROM storage_uploads u
         LEFT JOIN relayer_outbox o ON o.idempotency_key = u.mint_key
         WHERE u.account = $1 AND u.vault IS NOT DISTINCT FROM $2
           AND (u.state = 'open' AND u.last_activity > now() - make_interval(secs => $3)
                OR u.state IN ('stored', 'staged') AND o.status IN ('pending', 'signed'))",
    )
    .bind(&account.0[..])
    .bind(vault)
    .bind((IDLE_EXPIRY_MS / 1000) as f64)
    .fetch_all(state.pool())
    .await?;
    let mut pending = 0u64;
    for (open, sha) in on_their_way {
        let minted = !open
            && match <[u8; 32]>::try_from(sha.as_slice()) {
                Ok(sha) => documents.token_by_hash(sha).await?.is_some(),
                Err(_) => false,
            };
        pending += u64::from(!minted);
    }
    let live = documents.live_documents(holder).await?;
    Ok((u64::from(live), pending))
}

async fn list(State(state): State<AppState>, me: Session) -> ApiResult<Json<Vec<UploadStatus>>> {
    let rows = sqlx::query_as::<_, UploadRow>(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM storage_uploads WHERE account = $1 AND state = 'open'
         ORDER BY created_at"
    ))
    .bind(&me.account.0[..])
    .fetch_all(state.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(status_of(&state, row).await?);
    }
    Ok(Json(out))
}

async fn status(
    State(state): State<AppState>,
    me: Session,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<UploadStatus>> {
    let row = load(state.pool(), &id, &me.account).await?;
    Ok(Json(status_of(&state, &row).await?))
}

/// Refuses anything but an open, live upload.
async fn ensure_open(state: &AppState, row: &UploadRow) -> ApiResult<()> {
    if row.state != "open" {
        return Err(ApiError::conflict(
            "upload_not_open",
            format!("upload {} is {}", row.id, row.state),
        ));
    }
    if crate::now_ms() > row.expires_at_ms() {
        finish(
            state,
            row,
            "expired",
            Some("no activity for 24 hours".into()),
        )
        .await?;
        return Err(ApiError::new(
            StatusCode::GONE,
            "upload_expired",
            format!(
                "upload {} had no activity for 24 hours and expired; start again",
                row.id
            ),
        ));
    }
    Ok(())
}

async fn put_chunk(
    State(state): State<AppState>,
    me: Session,
    PathParams((id, index)): PathParams<(String, u32)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<sdv_storage_client::protocol::ChunkReceipt>> {
    let row = load(state.pool(), &id, &me.account).await?;
    ensure_open(&state, &row).await?;
    if index >= row.chunks as u32 {
        return Err(ApiError::bad_request(
            "bad_chunk_index",
            format!(
                "chunk {index} does not exist: the upload has chunks 0 to {}",
                row.chunks - 1
            ),
        ));
    }
    let claimed = headers
        .get(CHUNK_SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_hash)
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_chunk_sha256",
                format!(
                    "header {CHUNK_SHA256_HEADER} must carry the chunk's sha256 (64 hex digits)"
                ),
            )
        })?;
    // The tier's parallelism is enforced before the body is read.
    let _slot =
        ChunkSlot::take(state.uploads(), &id, row.parallel_chunks as u8).ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_parallel_chunks",
                format!(
                    "the {} tier sends at most {} chunks at once",
                    row.tier, row.parallel_chunks
                ),
            )
        })?;
    let offset = u64::from(index) * CHUNK_SIZE;
    let expected = CHUNK_SIZE.min(row.size as u64 - offset);
    let bytes = axum::body::to_bytes(body, CHUNK_SIZE as usize + 1)
        .await
        .map_err(|e| ApiError::bad_request("bad_chunk_body", format!("reading the chunk: {e}")))?;
    if bytes.len() as u64 != expected {
        return Err(ApiError::bad_request(
            "bad_chunk_length",
            format!(
                "chunk {index} must be {expected} bytes, not {}",
                bytes.len()
            ),
        ));
    }
    let (actual, bytes) = tokio::task::spawn_blocking(move || {
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        (digest, bytes)
    })
    .await
    .map_err(|e| ApiError::unavailable("hashing", e))?;
    if actual != claimed {
        return Err(ApiError::bad_request(
            "chunk_hash_mismatch",
            format!(
                "chunk {index} hashes to {}, not {}: it was corrupted on the way; nothing was kept, send it again",
                hex::encode(actual),
                hex::encode(claimed)
            ),
        ));
    }
    let spool = spool_path(&state, &id);
    let bytes = tokio::task::spawn_blocking({
        let spool = spool.clone();
        move || -> std::io::Result<Bytes> {
            let file = std::fs::OpenOptions::new().write(true).open(spool)?;
            file.write_all_at(&bytes, offset)?;
            Ok(bytes)
        }
    })
    .await
    .map_err(|e| ApiError::unavailable("the spool", e))?
    .map_err(|e| ApiError::unavailable("the spool", e))?;
    // Recorded only once its bytes are in the spool: a crash before this line loses the chunk,
    // which the client then sends again.
    let received: i64 = sqlx::query_scalar(
        "WITH c AS (
             INSERT INTO storage_upload_chunks (upload_id, index, sha256) VALUES ($1, $2, $3)
             ON CONFLICT (upload_id, index) DO UPDATE SET sha256 = EXCLUDED.sha256
         ), u AS (
             UPDATE storage_uploads SET last_activity = now() WHERE id = $1
         )
         SELECT count(*) + 1 - (SELECT count(*) FROM storage_upload_chunks WHERE upload_id = $1 AND index = $2)
         FROM storage_upload_chunks WHERE upload_id = $1",
    )
    .bind(&id)
    .bind(index as i32)
    .bind(&claimed[..])
    .fetch_one(state.pool())
    .await?;
    for part in row.parts_of_chunk(index as i32) {
        spawn_part_if_ready(&state, &row, part).await?;
    }
    let running = state
        .uploads()
        .hashes
        .lock()
        .expect("not poisoned")
        .entry(id.clone())
        .or_default()
        .clone();
    let size = row.size as u64;
    tokio::task::spawn_blocking(move || {
        let mut running = running.lock().expect("not poisoned");
        if let Err(e) = running.advance(index, &bytes, &spool, size) {
            // Completing hashes the spool file instead.
            tracing::warn!(%e, "advancing the running hash failed");
            running.spoiled = true;
        }
    })
    .await
    .map_err(|e| ApiError::unavailable("hashing", e))?;
    Ok(Json(sdv_storage_client::protocol::ChunkReceipt {
        index,
        received: received as u32,
        chunks: row.chunks as u32,
    }))
}

/// Starts storing part `part` (0-based) in S3 when all its chunks arrived and it is neither
/// stored nor on its way.
async fn spawn_part_if_ready(state: &AppState, row: &UploadRow, part: i32) -> ApiResult<()> {
    let chunks = row.part_chunks(part);
    let (have, stored): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM storage_upload_chunks
                 WHERE upload_id = $1 AND index BETWEEN $2 AND $3),
                EXISTS (SELECT 1 FROM storage_upload_parts WHERE upload_id = $1 AND part_number = $4)",
    )
    .bind(&row.id)
    .bind(chunks.start())
    .bind(chunks.end())
    .bind(part + 1)
    .fetch_one(state.pool())
    .await?;
    if stored || have < i64::from(chunks.end() - chunks.start() + 1) {
        return Ok(());
    }
    if !state
        .uploads()
        .parts_in_flight
        .lock()
        .expect("not poisoned")
        .insert((row.id.clone(), part))
    {
        return Ok(());
    }
    let state = state.clone();
    let row = row.clone();
    tokio::spawn(async move {
        if let Err(e) = store_part(&state, &row, part).await {
            tracing::warn!(upload = %row.id, part = part + 1, %e, "storing a part failed; completion retries it");
        }
        state
            .uploads()
            .parts_in_flight
            .lock()
            .expect("not poisoned")
            .remove(&(row.id.clone(), part));
    });
    Ok(())
}

/// Reads part `part` from the spool and stores it in S3.
async fn store_part(state: &AppState, row: &UploadRow, part: i32) -> anyhow::Result<()> {
    let _slot = state.uploads().s3_slots.clone().acquire_owned().await?;
    let (start, end) = row.part_range(part);
    let spool = spool_path(state, &row.id);
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
        let file = std::fs::File::open(spool)?;
        let mut buf = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut buf, start)?;
        Ok(Bytes::from(buf))
    })
    .await??;
    let etag = state
        .bucket()
        .upload_part(&row.s3_key, &row.s3_upload_id, part + 1, bytes)
        .await?;
    sqlx::query(
        "INSERT INTO storage_upload_parts (upload_id, part_number, etag) VALUES ($1, $2, $3)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET etag = EXCLUDED.etag",
    )
    .bind(&row.id)
    .bind(part + 1)
    .bind(etag)
    .execute(state.pool())
    .await?;
    Ok(())
}

/// Runs `f` with the upload marked as completing, refusing a second completion meanwhile.
struct Completing<'a> {
    uploads: &'a Uploads,
    id: String,
}

impl Drop for Completing<'_> {
    fn drop(&mut self) {
        self.uploads
            .completing
            .lock()
            .expect("not poisoned")
            .remove(&self.id);
    }
}

fn hash_file(path: PathBuf) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 8 * MB as usize];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// The chunks whose bytes in the spool no longer hash to what was recorded.
fn damaged_chunks(
    path: PathBuf,
    size: u64,
    recorded: Vec<(i32, Vec<u8>)>,
) -> std::io::Result<Vec<i32>> {
    let file = std::fs::File::open(path)?;
    let mut damaged = Vec::new();
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    for (index, sha) in recorded {
        let offset = index as u64 * CHUNK_SIZE;
        let len = CHUNK_SIZE.min(size - offset) as usize;
        file.read_exact_at(&mut buf[..len], offset)?;
        if Sha256::digest(&buf[..len]).as_slice() != sha.as_slice() {
            damaged.push(index);
        }
    }
    Ok(damaged)
}

async fn complete(
    State(state): State<AppState>,
    me: Session,
    PathParams(id): PathParams<String>,
) -> ApiResult<Json<UploadStatus>> {
    let row = load(state.pool(), &id, &me.account).await?;
    if matches!(row.state.as_str(), "stored" | "staged") {
        return Ok(Json(status_of(&state, &row).await?));
    }
    ensure_open(&state, &row).await?;
    if !state
        .uploads()
        .completing
        .lock()
        .expect("not poisoned")
        .insert(id.clone())
    {
        return Err(ApiError::conflict(
            "completing",
            "this upload is being completed already",
        ));
    }
    let _completing = Completing {
        uploads: state.uploads(),
        id: id.clone(),
    };
    let recorded: Vec<(i32, Vec<u8>)> = sqlx::query_as(
        "SELECT index, sha256 FROM storage_upload_chunks WHERE upload_id = $1 ORDER BY index",
    )
    .bind(&id)
    .fetch_all(state.pool())
    .await?;
    if recorded.len() < row.chunks as usize {
        let have: HashSet<i32> = recorded.iter().map(|(i, _)| *i).collect();
        let missing: Vec<String> = (0..row.chunks)
            .filter(|i| !have.contains(i))
            .map(|i| i.to_string())
            .collect();
        return Err(ApiError::conflict(
            "chunks_missing",
            format!("chunks still missing: {}", missing.join(", ")),
        ));
    }
    let spool = spool_path(&state, &id);
    let running = state
        .uploads()
        .hashes
        .lock()
        .expect("not poisoned")
        .remove(&id);
    let chunks = row.chunks as u32;
    let whole = tokio::task::spawn_blocking({
        let spool = spool.clone();
        move || match running {
            Some(running) => {
                let running = std::mem::take(&mut *running.lock().expect("not poisoned"));
                if running.next == chunks && !running.spoiled {
                    Ok(running.hasher.finalize().into())
                } else {
                    hash_file(spool)
                }
            }
            None => hash_file(spool),
        }
    })
    .await
    .map_err(|e| ApiError::unavailable("hashing", e))?
    .map_err(|e| ApiError::unavailable("the spool", e))?;
    if whole != row.sha() {
        // Either a chunk was lost from the spool (then the client sends it again) or the
        // manifest is wrong (then nothing is stored).
        let damaged = tokio::task::spawn_blocking({
            let spool = spool.clone();
            let size = row.size as u64;
            move || damaged_chunks(spool, size, recorded)
        })
        .await
        .map_err(|e| ApiError::unavailable("hashing", e))?
        .map_err(|e| ApiError::unavailable("the spool", e))?;
        if !damaged.is_empty() {
            forget_chunks(state.pool(), &row, &damaged).await?;
            return Err(ApiError::conflict(
                "chunks_lost",
                format!(
                    "chunks {damaged:?} were lost by the gateway; send them again and complete"
                ),
            ));
        }
        let why = format!(
            "the document hashed to {}, not to the manifest",
            hex::encode(whole)
        );
        finish(&state, &row, "rejected", Some(why)).await?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "manifest_mismatch",
            format!(
                "the document hashes to {}, not to the manifest's {}: nothing was stored",
                hex::encode(whole),
                hex::encode(row.sha())
            ),
        ));
    }
    // Stored once: identical ciphertext already under docs/ only gains a reference.
    let already: bool = row.vault.is_none()
        && sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM storage_objects
                            WHERE sha256 = $1 AND refcount > 0 AND deleted_at IS NULL)",
        )
        .bind(&row.sha256)
        .fetch_one(state.pool())
        .await?;
    if already {
        state
            .bucket()
            .abort_multipart(&row.s3_key, &row.s3_upload_id)
            .await?;
    } else {
        finish_multipart(&state, &row).await?;
    }
    record_stored(&state, &row).await?;
    let _ = tokio::fs::remove_file(&spool).await;
    tracing::info!(upload = %id, sha256 = %hex::encode(row.sha()), deduplicated = already, "upload stored");
    let row = load(state.pool(), &id, &me.account).await?;
    Ok(Json(status_of(&state, &row).await?))
}

async fn forget_chunks(pool: &PgPool, row: &UploadRow, chunks: &[i32]) -> sqlx::Result<()> {
    let parts: Vec<i32> = chunks
        .iter()
        .flat_map(|c| row.parts_of_chunk(*c))
        .map(|p| p + 1)
        .collect();
    sqlx::query("DELETE FROM storage_upload_chunks WHERE upload_id = $1 AND index = ANY($2)")
        .bind(&row.id)
        .bind(chunks)
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM storage_upload_parts WHERE upload_id = $1 AND part_number = ANY($2)")
        .bind(&row.id)
        .bind(&parts)
        .execute(pool)
        .await?;
    Ok(())
}

/// Stores the parts not stored yet and completes the multipart upload: the object appears.
async fn finish_multipart(state: &AppState, row: &UploadRow) -> ApiResult<()> {
    // Parts on their way finish (or fail) first.
    loop {
        let busy = state
            .uploads()
            .parts_in_flight
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|(id, _)| *id == row.id);
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored: Vec<i32> =
        sqlx::query_scalar("SELECT part_number FROM storage_upload_parts WHERE upload_id = $1")
            .bind(&row.id)
            .fetch_all(state.pool())
            .await?;
    let stored: HashSet<i32> = stored.into_iter().collect();
    let missing: Vec<i32> = (0..row.part_count())
        .filter(|p| !stored.contains(&(p + 1)))
        .collect();
    let results =
        futures::future::join_all(missing.iter().map(|p| store_part(state, row, *p))).await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(ApiError::unavailable("S3", e));
    }
    let parts: Vec<(i32, String)> = sqlx::query_as(
        "SELECT part_number, etag FROM storage_upload_parts WHERE upload_id = $1 ORDER BY part_number",
    )
    .bind(&row.id)
    .fetch_all(state.pool())
    .await?;
    match state
        .bucket()
        .complete_multipart(&row.s3_key, &row.s3_upload_id, &parts)
        .await
    {
        Ok(()) => Ok(()),
        // Completed before a crash: the object is there, whole.
        Err(e)
            if e.code.as_deref() == Some("NoSuchUpload")
                && state.bucket().head(&row.s3_key).await? == Some(row.size as u64) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Records the stored object, its reference, the wrapped keys, and enqueues the mint (or the
/// vault staging) in one transaction.
async fn record_stored(state: &AppState, row: &UploadRow) -> ApiResult<()> {
    let config = state.config();
    let sha = row.sha();
    let mut tx = state.pool().begin().await?;
    let (call, key, next_state) = match row.vault {
        None => {
            let class = parse_class(&row.class).unwrap_or(DocumentClass::Other);
            let retention = parse_retention(&row.retention).unwrap_or(RetentionOption::Minimum);
            let account: [u8; 32] = row.account.as_slice().try_into().unwrap_or([0; 32]);
            let mint = Mint {
                holder: Holder::Account(sdv_types::AccountId::from(account)),
                sha256: sha,
                size: row.size as u64,
                class,
                retention,
                arweave: row.arweave,
            };
            sqlx::query(
                "INSERT INTO storage_objects (sha256, size, refcount) VALUES ($1, $2, 1)
                 ON CONFLICT (sha256) DO UPDATE
                 SET refcount = storage_objects.refcount + 1, deleted_at = NULL",
            )
            .bind(&sha[..])
            .bind(row.size)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO storage_object_refs (upload_id, sha256) VALUES ($1, $2)")
                .bind(&row.id)
                .bind(&sha[..])
                .execute(&mut *tx)
                .await?;
            (
                mint.call_data().into_bytes(),
                format!("mint:{}", row.id),
                "stored",
            )
        }
        Some(vault) => (
            sdv_chain::CallData::message("stage_vault_upload")
                .arg(&(vault as u32))
                .arg(&sha)
                .arg(&(row.size as u64))
                .into_bytes(),
            format!("stage:{}", row.id),
            "staged",
        ),
    };
    let keys: Vec<WrappedKey> =
        serde_json::from_value(row.wrapped_keys.clone()).unwrap_or_default();
    for k in &keys {
        let (Some(recipient), Ok(wrapped)) = (
            parse_hash(&k.recipient),
            hex::decode(k.wrapped.trim_start_matches("0x")),
        ) else {
            continue;
        };
        let role = match k.role {
            KeyRole::Owner => "owner",
            KeyRole::Recovery => "recovery",
            KeyRole::Reader => "reader",
        };
        sqlx::query(
            "INSERT INTO storage_wrapped_keys (sha256, recipient, role, wrapped, upload_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256, recipient) DO NOTHING",
        )
        .bind(&sha[..])
        .bind(&recipient[..])
        .bind(role)
        .bind(&wrapped)
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
    }
    sdv_relayer::outbox::enqueue(&mut tx, &key, state.attestor(), &config.document_nft, &call)
        .await
        .map_err(|e| ApiError::unavailable("the outbox", e))?;
    sqlx::query(
        "UPDATE storage_uploads SET state = $2, mint_key = $3, finished_at = now(), last_activity = now()
         WHERE id = $1",
    )
    .bind(&row.id)
    .bind(next_state)
    .bind(&key)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends an open upload: its multipart upload is abandoned in S3 (its parts deleted), its
/// chunks forgotten and its spool file removed; `to` is the state it ends in.
async fn finish(
    state: &AppState,
    row: &UploadRow,
    to: &str,
    error: Option<String>,
) -> ApiResult<()> {
    state
        .bucket()
        .abort_multipart(&row.s3_key, &row.s3_upload_id)
        .await?;
    state
        .uploads()
        .hashes
        .lock()
        .expect("not poisoned")
        .remove(&row.id);
    sqlx::query(
        "UPDATE storage_uploads SET state = $2, error = $3, finished_at = now()
         WHERE id = $1 AND state = 'open'",
    )
    .bind(&row.id)
    .bind(to)
    .bind(error)
    .execute(state.pool())
    .await?;
    sqlx::query("DELETE FROM storage_upload_chunks WHERE upload_id = $1")
        .bind(&row.id)
        .execute(state.pool())
        .await?;
    let _ = tokio::fs::remove_file(spool_path(state, &row.id)).await;
    Ok(())
}

async fn abort(
    State(state): State<AppState>,
    me: Session,
    PathParams(id): PathParams<String>,
) -> ApiResult<StatusCode> {
    let row = load(state.pool(), &id, &me.account).await?;
    if row.state != "open" {
        return Err(ApiError::conflict(
            "upload_not_open",
            format!("upload {id} is {}", row.state),
        ));
    }
    finish(&state, &row, "aborted", None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Expires the uploads idle for 24 hours; returns how many. Runs from the scheduler.
pub async fn expire_idle(state: &AppState) -> ApiResult<usize> {
    let rows = sqlx::query_as::<_, UploadRow>(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM storage_uploads
         WHERE state = 'open' AND last_activity < now() - make_interval(secs => $1)"
    ))
    .bind((IDLE_EXPIRY_MS / 1000) as f64)
    .fetch_all(state.pool())
    .await?;
    for row in &rows {
        finish(
            state,
            row,
            "expired",
            Some("no activity for 24 hours".into()),
        )
        .await?;
        tracing::info!(upload = %row.id, "upload expired after 24 hours without activity");
    }
    Ok(rows.len())
}
