//! The IPFS pinning service's worker.
//!
//! One pass, every poll interval:
//!
//! 1. **Intake**: documents the owner's tier replicates to IPFS (the indexer's `ipfs` work list:
//!    the current tier's replication policy with IPFS in service) and with no CID yet are
//!    queued.
//! 2. **Pin**: each queued document is read from S3 (its sha256 checked) and added to the node
//!    with the fixed CID parameters of [`sdv_ipfs`] (CIDv1, raw leaves, 256 KiB chunks), pinned,
//!    and its CID recorded on-chain through the storage attestor's outbox. The same bytes give
//!    the same CID on any node with those parameters.
//! 3. **Unpin**: a pinned document the indexer shows deleted is unpinned.
//! 4. **Verify** (every 24 hours): every pin is checked to be pinned and retrievable with the
//!    document's sha256; one that is not is added again from S3 (the CID must come out the
//!    same) and counted in `repins`.
//! 5. **Collect** (every hour): the node's unpinned blocks are garbage-collected.
//!
//! While the node or S3 is down, the work keeps its attempts, last error and next attempt
//! (5 s, doubling, at most 10 minutes) and nothing is lost.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::StreamExt;
use sdv_types::document::Replica;
use sha2::{Digest, Sha256};

use crate::{describe, due, hash32, now_ms, AppState};

const VERIFY_TASK: &str = "ipfs-verify";
const GC_TASK: &str = "ipfs-gc";

/// Runs the worker forever.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %describe(&e), "IPFS pass failed; retrying");
        }
        tokio::time::sleep(state.config().poll).await;
    }
}

/// One pass of every step.
pub async fn pass(state: &AppState) -> anyhow::Result<()> {
    intake(state).await?;
    pin_queued(state).await?;
    unpin_deleted(state).await?;
    if due(state.pool(), VERIFY_TASK, state.config().verify_interval).await? {
        let report = verify_all(state).await?;
        tracing::info!(
            checked = report.checked,
            repinned = report.repinned,
            failed = report.failed,
            "verified the IPFS pins"
        );
    }
    if due(state.pool(), GC_TASK, state.config().gc_interval).await? {
        match state.ipfs().repo_gc().await {
            Ok(removed) => tracing::info!(removed, "collected the IPFS node's unpinned blocks"),
            Err(e) => tracing::warn!(error = %e, "IPFS garbage collection failed"),
        }
    }
    Ok(())
}

async fn intake(state: &AppState) -> anyhow::Result<()> {
    for document in state.indexer_list("ipfs").await? {
        let queued = sqlx::query(
            "INSERT INTO archival_ipfs (token_id, sha256, size, state, queued_ms)
             VALUES ($1, $2, $3, 'queued', $4) ON CONFLICT (token_id) DO NOTHING",
        )
        .bind(document.token_id as i64)
        .bind(document.sha256.as_slice())
        .bind(document.size as i64)
        .bind(now_ms())
        .execute(state.pool())
        .await?
        .rows_affected();
        if queued == 1 {
            tracing::info!(token_id = document.token_id, "queued for IPFS");
        }
    }
    Ok(())
}

/// Streams the ciphertext from S3 into the node (pinned) and returns its CID. The bytes are
/// hashed on their way through: content that does not match the document's sha256 is unpinned
/// again and refused.
async fn add_from_s3(state: &AppState, sha256: &[u8; 32]) -> anyhow::Result<String> {
    let key = sdv_storage::s3::doc_key(sha256);
    let (size, body) = state
        .bucket()
        .get(&key)
        .await?
        .with_context(|| format!("S3 has no object {key}"))?;
    let hasher = Arc::new(Mutex::new((Sha256::new(), 0_u64)));
    let seen = hasher.clone();
    let stream = futures::stream::unfold(body, |mut body| async move {
        body.next()
            .await
            .map(|chunk| (chunk.map_err(std::io::Error::other), body))
    })
    .map(move |chunk| {
        if let Ok(bytes) = &chunk {
            let mut seen = seen.lock().expect("the hasher");
            seen.0.update(bytes);
            seen.1 += bytes.len() as u64;
        }
        chunk
    });
    let added = state
        .ipfs()
        .add_stream(stream, Some(size))
        .await
        .context("adding the ciphertext to the IPFS node")?;
    let (digest, len) = {
        let mut seen = hasher.lock().expect("the hasher");
        (std::mem::take(&mut seen.0).finalize(), seen.1)
    };
    if digest.as_slice() != sha256 || len != size {
        let _ = state.ipfs().pin_rm(&added.cid).await;
        anyhow::bail!("the S3 object {key} does not match its sha256; not pinned");
    }
    Ok(added.cid)
}

async fn pin_queued(state: &AppState) -> anyhow::Result<()> {
    let queued: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT token_id, sha256 FROM archival_ipfs
         WHERE state = 'queued' AND next_attempt_ms <= $1 ORDER BY token_id LIMIT 16",
    )
    .bind(now_ms())
    .fetch_all(state.pool())
    .await?;
    for (token_id, sha256) in queued {
        let sha256 = hash32(&sha256)?;
        let cid = match add_from_s3(state, &sha256).await {
            Ok(cid) => cid,
            Err(e) => {
                failed(state, token_id, &e).await?;
                continue;
            }
        };
        let binary = sdv_ipfs::cid_to_bytes(&cid)
            .with_context(|| format!("the node answered the CID {cid:?}"))?;
        let now = now_ms();
        sqlx::query(
            "UPDATE archival_ipfs SET state = 'pinned', cid = $2, pinned_ms = $3,
                 verified_ms = $3, last_error = NULL, attempts = attempts + 1
             WHERE token_id = $1 AND state = 'queued'",
        )
        .bind(token_id)
        .bind(&cid)
        .bind(now)
        .execute(state.pool())
        .await?;
        state
            .record_replica(
                &format!("ipfs:{token_id}"),
                token_id as u64,
                &Replica::Ipfs(binary),
            )
            .await?;
        tracing::info!(token_id, %cid, "pinned on IPFS; recording the CID on-chain");
    }
    Ok(())
}

async fn failed(state: &AppState, token_id: i64, error: &anyhow::Error) -> anyhow::Result<()> {
    tracing::warn!(token_id, error = %describe(error), "IPFS work failed; will retry");
    sqlx::query(
        "UPDATE archival_ipfs
         SET attempts = attempts + 1, last_error = $2,
             next_attempt_ms = $3 + LEAST($4, 5000 * power(2, LEAST(attempts, 7))::bigint)
         WHERE token_id = $1",
    )
    .bind(token_id)
    .bind(describe(error))
    .bind(now_ms())
    .bind(state.config().retry_max_ms)
    .execute(state.pool())
    .await?;
    Ok(())
}

/// Unpins the documents deleted since the last pass (the indexer's blocks after the cursor
/// `ipfs-deleted`); the cursor moves only when every one of them was unpinned.
async fn unpin_deleted(state: &AppState) -> anyhow::Result<()> {
    const CURSOR: &str = "ipfs-deleted";
    let since = state.cursor(CURSOR).await?;
    let (deleted, at_block) = state.indexer_changes("deleted", since).await?;
    let mut complete = true;
    for document in deleted {
        let token_id = document.token_id as i64;
        let pin: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT state, cid FROM archival_ipfs WHERE token_id = $1")
                .bind(token_id)
                .fetch_optional(state.pool())
                .await?;
        let Some((pin_state, cid)) = pin else {
            continue;
        };
        if pin_state == "unpinned" {
            continue;
        }
        if let Some(cid) = &cid {
            if let Err(e) = state.ipfs().pin_rm(cid).await {
                complete = false;
                failed(state, token_id, &anyhow::Error::new(e).context("unpinning")).await?;
                continue;
            }
        }
        sqlx::query(
            "UPDATE archival_ipfs SET state = 'unpinned', unpinned_ms = $2, last_error = NULL
             WHERE token_id = $1",
        )
        .bind(token_id)
        .bind(now_ms())
        .execute(state.pool())
        .await?;
        tracing::info!(token_id, cid = ?cid, "the document was deleted; unpinned");
    }
    if complete {
        state.set_cursor(CURSOR, at_block).await?;
    }
    Ok(())
}

/// What a verify cycle found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Pins checked.
    pub checked: usize,
    /// Pins found missing or unreadable and pinned again.
    pub repinned: usize,
    /// Pins that could not be checked or pinned again (retried at the next cycle).
    pub failed: usize,
}

/// Checks every pin: pinned, retrievable, the document's sha256; pins again what is not.
pub async fn verify_all(state: &AppState) -> anyhow::Result<VerifyReport> {
    let pins: Vec<(i64, Vec<u8>, String)> = sqlx::query_as(
        "SELECT token_id, sha256, cid FROM archival_ipfs WHERE state = 'pinned' ORDER BY token_id",
    )
    .fetch_all(state.pool())
    .await?;
    let mut report = VerifyReport::default();
    for (token_id, sha256, cid) in pins {
        report.checked += 1;
        let sha256 = hash32(&sha256)?;
        let problem = match check(state, &cid, &sha256).await {
            Ok(None) => {
                sqlx::query("UPDATE archival_ipfs SET verified_ms = $2 WHERE token_id = $1")
                    .bind(token_id)
                    .bind(now_ms())
                    .execute(state.pool())
                    .await?;
                continue;
            }
            Ok(Some(problem)) => problem,
            Err(e) => {
                report.failed += 1;
                failed(state, token_id, &e.context("verifying the pin")).await?;
                continue;
            }
        };
        tracing::warn!(token_id, %cid, problem, "pinning again");
        match add_from_s3(state, &sha256).await {
            Ok(again) if again == cid => {
                report.repinned += 1;
                let now = now_ms();
                sqlx::query(
                    "UPDATE archival_ipfs SET repins = repins + 1, last_repin_ms = $2,
                         verified_ms = $2, last_error = $3
                     WHERE token_id = $1",
                )
                .bind(token_id)
                .bind(now)
                .bind(format!("pinned again: {problem}"))
                .execute(state.pool())
                .await?;
            }
            Ok(again) => {
                report.failed += 1;
                let e = anyhow::anyhow!(
                    "pinning again gave the CID {again}, not {cid}: the CID parameters differ"
                );
                failed(state, token_id, &e).await?;
            }
            Err(e) => {
                report.failed += 1;
                failed(state, token_id, &e.context("pinning again")).await?;
            }
        }
    }
    Ok(report)
}

/// `None` when `cid` is pinned and reads back with `sha256`; else what is wrong.
async fn check(
    state: &AppState,
    cid: &str,
    sha256: &[u8; 32],
) -> anyhow::Result<Option<&'static str>> {
    if !state.ipfs().pin_ls(cid).await? {
        return Ok(Some("not pinned"));
    }
    let stream = match state
        .ipfs()
        .cat_stream(cid, state.config().ipfs_timeout)
        .await
    {
        Ok(stream) => stream,
        Err(e) if e.is_unreachable() => return Err(e.into()),
        Err(_) => return Ok(Some("not retrievable")),
    };
    let mut stream = std::pin::pin!(stream);
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => hasher.update(&bytes),
            Err(e) if e.is_unreachable() => return Err(e.into()),
            Err(_) => return Ok(Some("not retrievable")),
        }
    }
    if hasher.finalize().as_slice() == sha256 {
        Ok(None)
    } else {
        Ok(Some("the content does not match the document's sha256"))
    }
}
