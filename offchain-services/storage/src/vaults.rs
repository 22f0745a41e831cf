//! Vault uploads: the ciphertext waits under `vaults/{vault}/staging/{sha256}` (never under
//! `docs/`) while the vault decides. When the vault's upload operation executes (DocumentNFT
//! mints the staged upload), the object moves to `docs/{sha256}` with its reference; when the
//! operation is vetoed or defeated, the upload is unstaged on-chain and the staging object
//! removed.

use sdv_chain::CallData;

use crate::{read::indexer_get, s3, ApiError, ApiResult, AppState};

/// What [`settle`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Staged uploads moved to `docs/` after their operation executed.
    pub moved: usize,
    /// Staged uploads removed after a veto or a defeat.
    pub removed: usize,
}

/// Settles every staged upload whose vault decided.
pub async fn settle(state: &AppState) -> ApiResult<Settled> {
    let staged: Vec<(String, i64, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT u.id, u.vault, u.sha256, u.size FROM storage_uploads u
         JOIN relayer_outbox o ON o.idempotency_key = u.mint_key
         WHERE u.state = 'staged' AND o.status = 'finalized'",
    )
    .fetch_all(state.pool())
    .await?;
    let mut settled = Settled::default();
    for (id, vault, sha, size) in staged {
        let Ok(sha) = <[u8; 32]>::try_from(sha.as_slice()) else {
            continue;
        };
        let vault = vault as u32;
        let staging = s3::staging_key(vault, &sha);
        if state.documents().token_by_hash(sha).await?.is_some() {
            // Executed: the vault's document exists; its object joins docs/.
            state.bucket().copy(&staging, &s3::doc_key(&sha)).await?;
            let mut tx = state.pool().begin().await?;
            sqlx::query(
                "INSERT INTO storage_objects (sha256, size, refcount) VALUES ($1, $2, 1)
                 ON CONFLICT (sha256) DO UPDATE
                 SET refcount = storage_objects.refcount + 1, deleted_at = NULL",
            )
            .bind(&sha[..])
            .bind(size)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO storage_object_refs (upload_id, sha256) VALUES ($1, $2)
                 ON CONFLICT (upload_id) DO NOTHING",
            )
            .bind(&id)
            .bind(&sha[..])
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE storage_uploads SET state = 'stored' WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            state.bucket().delete(&staging).await?;
            tracing::info!(upload = %id, vault, "vault upload executed: moved to docs/");
            settled.moved += 1;
            continue;
        }
        let operations = indexer_get(state, &format!("/vaults/{vault}/operations?limit=500"))
            .await?
            .and_then(|page| page["items"].as_array().cloned())
            .unwrap_or_default();
        let hex_sha = hex::encode(sha);
        let states: Vec<&str> = operations
            .iter()
            .filter(|o| o["kind"] == "upload" && o["detail"]["sha256"] == hex_sha.as_str())
            .filter_map(|o| o["state"].as_str())
            .collect();
        let still_staged = state.documents().staged_upload(sha).await?.is_some();
        let decided_against =
            !states.is_empty() && states.iter().all(|s| matches!(*s, "vetoed" | "defeated"));
        if decided_against || !still_staged {
            if still_staged {
                let call = CallData::message("unstage_vault_upload")
                    .arg(&sha)
                    .into_bytes();
                let mut conn = state.pool().acquire().await?;
                sdv_relayer::outbox::enqueue(
                    &mut conn,
                    &format!("unstage:{id}"),
                    state.attestor(),
                    &state.config().document_nft,
                    &call,
                )
                .await
                .map_err(|e| ApiError::unavailable("the outbox", e))?;
            }
            state.bucket().delete(&staging).await?;
            sqlx::query(
                "UPDATE storage_uploads SET state = 'aborted', error = $2, finished_at = now()
                 WHERE id = $1",
            )
            .bind(&id)
            .bind(format!(
                "vault {vault} decided against it ({})",
                states.join(", ")
            ))
            .execute(state.pool())
            .await?;
            tracing::info!(upload = %id, vault, "vault upload vetoed or defeated: staging removed");
            settled.removed += 1;
        }
    }
    Ok(settled)
}
