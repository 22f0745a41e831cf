//! Objects and their reference counts.
//!
//! An object under `docs/{sha256}` is stored once whatever the number of uploads of the same
//! ciphertext; each upload that stored (or found) it holds one reference. A reference is
//! released when its document is deleted, or when its mint was refused; the object is deleted
//! from S3 only when its last reference goes, so deleting one document never removes an object
//! another still uses.

use axum::{extract::State, routing::get, Json, Router};
use serde::Serialize;

use crate::{error::PathParams, parse_hash, s3, ApiError, ApiResult, AppState};

/// The routes under `/v1/objects`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/objects/{sha256}", get(object))
}

/// An object's bookkeeping.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its sha256, hex.
    pub sha256: String,
    /// Its key.
    pub key: String,
    /// Bytes.
    pub size: u64,
    /// Live references.
    pub refcount: u32,
    /// Whether it was deleted from S3 (its last reference went).
    pub deleted: bool,
}

/// The bookkeeping of one object.
pub async fn info(pool: &sqlx::PgPool, sha: &[u8; 32]) -> sqlx::Result<Option<ObjectInfo>> {
    let row: Option<(i64, i32, bool)> = sqlx::query_as(
        "SELECT size, refcount, deleted_at IS NOT NULL FROM storage_objects WHERE sha256 = $1",
    )
    .bind(&sha[..])
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(size, refcount, deleted)| ObjectInfo {
        sha256: hex::encode(sha),
        key: s3::doc_key(sha),
        size: size as u64,
        refcount: refcount as u32,
        deleted,
    }))
}

async fn object(
    State(state): State<AppState>,
    PathParams(sha): PathParams<String>,
) -> ApiResult<Json<ObjectInfo>> {
    let sha =
        parse_hash(&sha).ok_or_else(|| ApiError::bad_request("bad_sha256", "not 64 hex digits"))?;
    info(state.pool(), &sha)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such object"))
}

/// Releases the reference `upload_id` holds (once); deletes the object from S3 when it was
/// the last. Returns whether the object was deleted.
pub async fn release(state: &AppState, upload_id: &str, why: &str) -> ApiResult<bool> {
    let mut tx = state.pool().begin().await?;
    let sha: Option<Vec<u8>> = sqlx::query_scalar(
        "UPDATE storage_object_refs SET released_at = now(), released_by = $2
         WHERE upload_id = $1 AND released_at IS NULL RETURNING sha256",
    )
    .bind(upload_id)
    .bind(why)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(sha) = sha else {
        return Ok(false);
    };
    let left: i32 = sqlx::query_scalar(
        "UPDATE storage_objects SET refcount = refcount - 1 WHERE sha256 = $1 RETURNING refcount",
    )
    .bind(&sha)
    .fetch_one(&mut *tx)
    .await?;
    let sha: [u8; 32] = sha.as_slice().try_into().unwrap_or([0; 32]);
    if left == 0 {
        // Deleted from S3 before the reference count commits: a crash in between leaves a
        // count of one on a missing object, which the next release (or the fault check)
        // settles; never a count of zero on an object that is still there.
        state.bucket().delete(&s3::doc_key(&sha)).await?;
        sqlx::query("UPDATE storage_objects SET deleted_at = now() WHERE sha256 = $1")
            .bind(&sha[..])
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(upload = upload_id, sha256 = %hex::encode(sha), refcount = left, why, "reference released");
    Ok(left == 0)
}

/// Releases the references of uploads whose mint the chain refused (e.g. the same ciphertext
/// was minted already): their documents never existed. Returns how many.
pub async fn release_refused(state: &AppState) -> ApiResult<usize> {
    let refused: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT u.id, o.error FROM storage_uploads u
         JOIN relayer_outbox o ON o.idempotency_key = u.mint_key
         JOIN storage_object_refs r ON r.upload_id = u.id
         WHERE u.state = 'stored' AND o.status = 'failed' AND r.released_at IS NULL",
    )
    .fetch_all(state.pool())
    .await?;
    for (id, error) in &refused {
        let why = format!("mint refused: {}", error.as_deref().unwrap_or("unknown"));
        release(state, id, &why).await?;
        sqlx::query("UPDATE storage_uploads SET error = $2 WHERE id = $1")
            .bind(id)
            .bind(&why)
            .execute(state.pool())
            .await?;
    }
    Ok(refused.len())
}

/// Releases the reference of the upload that minted `sha` (its document was deleted).
pub async fn release_document(state: &AppState, sha: &[u8; 32], why: &str) -> ApiResult<bool> {
    let uploads: Vec<String> = sqlx::query_scalar(
        "SELECT u.id FROM storage_uploads u
         JOIN relayer_outbox o ON o.idempotency_key = u.mint_key
         JOIN storage_object_refs r ON r.upload_id = u.id
         WHERE u.sha256 = $1 AND o.status = 'finalized' AND r.released_at IS NULL",
    )
    .bind(&sha[..])
    .fetch_all(state.pool())
    .await?;
    let mut deleted = false;
    for id in uploads {
        deleted |= release(state, &id, why).await?;
    }
    Ok(deleted)
}
