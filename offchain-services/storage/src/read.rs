//! Reads of a document by token id, for its owner or an account it was shared with.
//!
//! Who may read is decided by the chain's state as the indexer mirrors it: the document's
//! current owner wallet, a grantee of a share, or an administrator of the vault that holds it.
//! A deleted document is gone (410). The answer streams the ciphertext from S3 with its sha256
//! in a header; the client verifies it and decrypts. When S3 is unreachable (or lost the
//! object), the ciphertext comes from the document's IPFS copy, else its Arweave copy, each
//! checked against the sha256 on-chain before a byte is sent ([`crate::fallback`]); the
//! `x-sdv-source` header says which.

use axum::{
    body::Body,
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sdv_chain::AccountId;
use sdv_storage_client::protocol::{
    KeyRole, RecoveryKeyInfo, WrappedKey, OBJECT_SHA256_HEADER, OBJECT_SOURCE_HEADER,
};
use serde_json::Value;

use crate::{
    auth::Session, error::PathParams, parse_account, parse_hash, s3, ApiError, ApiResult, AppState,
};

/// The read routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/documents/{token_id}", get(read))
        .route("/v1/documents/{token_id}/keys", get(keys))
        .route("/v1/recovery-key", get(recovery_key))
}

/// A document as the indexer shows it, reduced to what reads need.
#[derive(Debug, Clone)]
pub struct IndexedDocument {
    /// The ciphertext's sha256.
    pub sha256: [u8; 32],
    /// `active`, `deletion_scheduled` or `deleted`.
    pub status: String,
    /// The current owner wallet (an identity's).
    pub owner_wallet: Option<AccountId>,
    /// The vault holding it, if a vault does.
    pub vault: Option<u32>,
    /// The whole answer.
    pub json: Value,
}

/// GETs `path` from the indexer's API; `None` on 404.
pub async fn indexer_get(state: &AppState, path: &str) -> ApiResult<Option<Value>> {
    let url = format!("{}{path}", state.config().indexer_url);
    let response = state
        .http()
        .get(&url)
        .send()
        .await
        .map_err(|e| ApiError::unavailable("the indexer", e))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let response = response
        .error_for_status()
        .map_err(|e| ApiError::unavailable("the indexer", e))?;
    let body: Value = response
        .json()
        .await
        .map_err(|e| ApiError::unavailable("the indexer", e))?;
    Ok(Some(body["data"].clone()))
}

/// The document `token_id` from the indexer.
pub async fn indexed_document(state: &AppState, token_id: u64) -> ApiResult<IndexedDocument> {
    let json = indexer_get(state, &format!("/documents/{token_id}"))
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no document {token_id} (yet: the indexer follows finalized blocks)"
            ))
        })?;
    let sha256 = json["sha256"]
        .as_str()
        .and_then(parse_hash)
        .ok_or_else(|| ApiError::unavailable("the indexer", "a document without a sha256"))?;
    let vault = (json["owner"]["kind"] == "vault")
        .then(|| json["owner"]["id"].as_str().and_then(|v| v.parse().ok()))
        .flatten();
    Ok(IndexedDocument {
        sha256,
        status: json["status"].as_str().unwrap_or_default().to_owned(),
        owner_wallet: json["owner_wallet"].as_str().and_then(parse_account),
        vault,
        json,
    })
}

/// Whether `reader` may read `document`: its owner, a vault admin, or a share's grantee.
async fn may_read(
    state: &AppState,
    token_id: u64,
    document: &IndexedDocument,
    reader: &AccountId,
) -> ApiResult<bool> {
    if document.owner_wallet.as_ref() == Some(reader) {
        return Ok(true);
    }
    if let Some(vault) = document.vault {
        if state.vaults().is_admin(vault, reader).await? {
            return Ok(true);
        }
    }
    let shares = indexer_get(state, &format!("/documents/{token_id}/shares?limit=500"))
        .await?
        .unwrap_or_default();
    Ok(shares["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["grantee"].as_str().and_then(parse_account).as_ref() == Some(reader)))
}

async fn readable(state: &AppState, token_id: u64, me: &Session) -> ApiResult<IndexedDocument> {
    let document = indexed_document(state, token_id).await?;
    if !may_read(state, token_id, &document, &me.account).await? {
        return Err(ApiError::forbidden(
            "not_a_reader",
            format!("you neither own document {token_id} nor were it shared with you"),
        ));
    }
    if document.status == "deleted" {
        return Err(ApiError::new(
            StatusCode::GONE,
            "document_deleted",
            format!("document {token_id} was deleted; its NFT remains as history"),
        ));
    }
    Ok(document)
}

async fn read(
    State(state): State<AppState>,
    me: Session,
    PathParams(token_id): PathParams<u64>,
) -> ApiResult<Response> {
    let document = readable(&state, token_id, &me).await?;
    let key = s3::doc_key(&document.sha256);
    let s3_error = match state.bucket().get(&key).await {
        Ok(Some((size, body))) => {
            let stream = futures::stream::unfold(body, |mut body| async move {
                body.next()
                    .await
                    .map(|chunk| (chunk.map_err(std::io::Error::other), body))
            });
            return Ok(ciphertext_answer(
                &document,
                "s3",
                size,
                Body::from_stream(stream),
            ));
        }
        Ok(None) => format!("{key} is missing"),
        Err(e) => e.to_string(),
    };
    tracing::warn!(token_id, error = %s3_error, "S3 failed; reading a secondary copy");
    let (source, data) = crate::fallback::read(&state, &document)
        .await
        .map_err(|fallback| {
            ApiError::unavailable(
                "the document",
                format!("S3 failed ({s3_error}) and so did its secondary copies ({fallback})"),
            )
        })?;
    Ok(ciphertext_answer(
        &document,
        source,
        data.len() as u64,
        Body::from(data),
    ))
}

fn ciphertext_answer(
    document: &IndexedDocument,
    source: &'static str,
    size: u64,
    body: Body,
) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::HeaderName::from_static(OBJECT_SHA256_HEADER),
                hex::encode(document.sha256),
            ),
            (
                header::HeaderName::from_static(OBJECT_SOURCE_HEADER),
                source.to_owned(),
            ),
        ],
        body,
    )
        .into_response()
}

async fn keys(
    State(state): State<AppState>,
    me: Session,
    PathParams(token_id): PathParams<u64>,
) -> ApiResult<Json<Vec<WrappedKey>>> {
    let document = readable(&state, token_id, &me).await?;
    let rows: Vec<(Vec<u8>, String, Vec<u8>)> = sqlx::query_as(
        "SELECT recipient, role, wrapped FROM storage_wrapped_keys
         WHERE sha256 = $1 AND revoked_at IS NULL ORDER BY created_at",
    )
    .bind(&document.sha256[..])
    .fetch_all(state.pool())
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(recipient, role, wrapped)| WrappedKey {
                recipient: hex::encode(recipient),
                role: match role.as_str() {
                    "owner" => KeyRole::Owner,
                    "recovery" => KeyRole::Recovery,
                    _ => KeyRole::Reader,
                },
                wrapped: hex::encode(wrapped),
            })
            .collect(),
    ))
}

async fn recovery_key(State(state): State<AppState>) -> ApiResult<Json<RecoveryKeyInfo>> {
    let key = state.config().recovery_public_key.ok_or_else(|| {
        ApiError::not_found("no recovery key is configured (SDV_RECOVERY_PUBLIC_KEY)")
    })?;
    Ok(Json(RecoveryKeyInfo {
        public_key: hex::encode(key),
    }))
}
