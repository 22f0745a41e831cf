//! The Arweave integration's worker.
//!
//! One pass, every poll interval:
//!
//! 1. **Intake**: documents whose owner asked for an Arweave copy and have none are queued,
//!    as their own transaction from [`OWN_TRANSACTION_BYTES`] (256 KB) on, else for a bundle.
//! 2. **Settle**: a transaction signed but not known to have reached the gateway (the service
//!    stopped or the gateway failed while posting) is looked up: known, it counts as posted;
//!    unknown, its documents go back to the queue.
//! 3. **Own transactions**: each queued large document is read from S3 (its sha256 checked),
//!    signed as a format-2 transaction and posted.
//! 4. **Bundle**: when the bundle interval has passed, every queued small document becomes an
//!    ANS-104 data item signed by the wallet; the items go out in one bundle transaction.
//! 5. **Confirm**: posted transactions are watched until they are mined
//!    [`Config::confirmations`](crate::Config) deep; then the copies are recorded permanent.
//!
//! A transaction is written to the database as signed before it is posted, and recorded
//! on-chain (`record_replica`, through the storage attestor's outbox) only once the gateway
//! took it, so a crash at any point neither loses a document nor posts it twice. While the
//! gateway is unreachable the queued work records each failed attempt and waits (5 s,
//! doubling, at most 10 minutes). The service never mines: the gateway's miners (or, locally,
//! `./dev` and the tests) do.

use anyhow::Context;
use sdv_arweave::{
    ans104::{Bundle, DataItem},
    client::TxStatus,
    tx::Transaction,
    Tag,
};
use sdv_types::document::Replica;
use sqlx::Row;

use crate::{describe, due, hash32, make_due, now_ms, AppState};

/// Documents of this size and more are a transaction of their own; smaller ones are bundled.
pub const OWN_TRANSACTION_BYTES: u64 = 256 * 1024;

/// The schedule's name of the bundling task.
const BUNDLE_TASK: &str = "arweave-bundle";

/// At most this many bytes of data items go into one bundle; more wait for the next one.
const MAX_BUNDLE_BYTES: i64 = 64 * 1024 * 1024;

/// Runs the worker forever.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %describe(&e), "Arweave pass failed; retrying");
        }
        tokio::time::sleep(state.config().poll).await;
    }
}

/// One pass of every step.
pub async fn pass(state: &AppState) -> anyhow::Result<()> {
    intake(state).await?;
    settle(state).await?;
    post_own_transactions(state).await?;
    if due(state.pool(), BUNDLE_TASK, state.config().bundle_interval).await? {
        post_bundle(state).await?;
    }
    confirm(state).await
}

/// The tags every SDV transaction and data item carries. The ciphertext's hash is public
/// on-chain already; nothing else about the document is.
fn tags(sha256: &[u8; 32]) -> Vec<Tag> {
    vec![
        Tag::new("Content-Type", "application/octet-stream"),
        Tag::new("App-Name", "sovereign-document-vault"),
        Tag::new("SDV-Ciphertext-SHA256", hex::encode(sha256)),
    ]
}

async fn intake(state: &AppState) -> anyhow::Result<()> {
    for document in state.indexer_list("arweave").await? {
        let mode = if document.size >= OWN_TRANSACTION_BYTES {
            "transaction"
        } else {
            "bundle"
        };
        let queued = sqlx::query(
            "INSERT INTO archival_arweave (token_id, sha256, size, mode, state, queued_ms)
             VALUES ($1, $2, $3, $4, 'queued', $5) ON CONFLICT (token_id) DO NOTHING",
        )
        .bind(document.token_id as i64)
        .bind(document.sha256.as_slice())
        .bind(document.size as i64)
        .bind(mode)
        .bind(now_ms())
        .execute(state.pool())
        .await?
        .rows_affected();
        if queued == 1 {
            tracing::info!(token_id = document.token_id, mode, "queued for Arweave");
        }
    }
    Ok(())
}

/// Records a failed attempt on queued documents: the attempt count, the error and when the next
/// attempt is.
async fn failed(state: &AppState, token_ids: &[i64], error: &anyhow::Error) -> anyhow::Result<()> {
    tracing::warn!(?token_ids, error = %describe(error), "Arweave upload failed; will retry");
    let now = now_ms();
    for id in token_ids {
        sqlx::query(
            "UPDATE archival_arweave
             SET attempts = attempts + 1, last_error = $2,
                 next_attempt_ms = $3 + LEAST($4, 5000 * power(2, LEAST(attempts, 7))::bigint)
             WHERE token_id = $1",
        )
        .bind(id)
        .bind(describe(error))
        .bind(now)
        .bind(state.config().retry_max_ms)
        .execute(state.pool())
        .await?;
    }
    Ok(())
}

/// The gateway took the transaction `tx_id`: its documents are posted and their copies
/// recorded on-chain.
async fn posted(state: &AppState, tx_id: &[u8; 32]) -> anyhow::Result<()> {
    let now = now_ms();
    let mut db = state.pool().begin().await?;
    sqlx::query(
        "UPDATE archival_bundles SET state = 'posted', posted_ms = $2
         WHERE tx_id = $1 AND state = 'signed'",
    )
    .bind(tx_id.as_slice())
    .bind(now)
    .execute(&mut *db)
    .await?;
    let rows = sqlx::query(
        "UPDATE archival_arweave SET state = 'posted', posted_ms = $2, last_error = NULL
         WHERE tx_id = $1 AND state = 'signed' RETURNING token_id, item_id",
    )
    .bind(tx_id.as_slice())
    .bind(now)
    .fetch_all(&mut *db)
    .await?;
    db.commit().await?;
    for row in rows {
        let token_id: i64 = row.get(0);
        let item_id: Option<Vec<u8>> = row.get(1);
        let item_id = item_id.map(|i| hash32(&i)).transpose()?;
        state
            .record_replica(
                &format!("arweave:{token_id}"),
                token_id as u64,
                &Replica::Arweave {
                    tx_id: *tx_id,
                    item_id,
                },
            )
            .await?;
        tracing::info!(
            token_id,
            tx = %sdv_arweave::b64url_encode(tx_id),
            item = ?item_id.map(|i| sdv_arweave::b64url_encode(&i)),
            "posted to Arweave; recording the copy on-chain"
        );
    }
    Ok(())
}

/// Signed transactions whose posting was not confirmed: posted if the gateway knows them,
/// back to the queue if it does not.
async fn settle(state: &AppState) -> anyhow::Result<()> {
    let signed: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT DISTINCT tx_id FROM archival_arweave WHERE state = 'signed'")
            .fetch_all(state.pool())
            .await?;
    for tx_id in signed {
        let tx_id = hash32(&tx_id)?;
        match state.gateway().status(&tx_id).await {
            Ok(TxStatus::NotFound) => {
                let mut db = state.pool().begin().await?;
                sqlx::query("UPDATE archival_bundles SET state = 'dropped' WHERE tx_id = $1")
                    .bind(tx_id.as_slice())
                    .execute(&mut *db)
                    .await?;
                let bundled = sqlx::query(
                    "UPDATE archival_arweave
                     SET state = 'queued', tx_id = NULL, item_id = NULL, bundle_tx = NULL
                     WHERE tx_id = $1 AND state = 'signed' AND mode = 'bundle'",
                )
                .bind(tx_id.as_slice())
                .execute(&mut *db)
                .await?
                .rows_affected();
                sqlx::query(
                    "UPDATE archival_arweave SET state = 'queued', tx_id = NULL
                     WHERE tx_id = $1 AND state = 'signed'",
                )
                .bind(tx_id.as_slice())
                .execute(&mut *db)
                .await?;
                db.commit().await?;
                if bundled > 0 {
                    // Its items cannot wait for the next interval: they were due already.
                    make_due(state.pool(), BUNDLE_TASK).await?;
                }
            }
            Ok(_) => posted(state, &tx_id).await?,
            // The gateway is still down: the rows keep their error and wait.
            Err(e) => tracing::debug!(error = %e, "the gateway is unreachable"),
        }
    }
    Ok(())
}

/// Checks that the gateway answers and the wallet can pay `bytes`; the reward to offer.
async fn reward_for(state: &AppState, bytes: u64) -> anyhow::Result<u128> {
    let gateway = state.gateway();
    let reward = gateway
        .price(bytes)
        .await
        .context("asking the Arweave gateway for the price")?;
    let balance = gateway
        .balance(&state.wallet().address())
        .await
        .context("asking the Arweave gateway for the wallet's balance")?;
    anyhow::ensure!(
        balance >= reward,
        "the Arweave wallet {} holds {balance} winston; storing {bytes} bytes costs {reward}",
        state.wallet().address()
    );
    Ok(reward)
}

async fn post_own_transactions(state: &AppState) -> anyhow::Result<()> {
    let queued: Vec<(i64, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT token_id, sha256, size FROM archival_arweave
         WHERE state = 'queued' AND mode = 'transaction' AND next_attempt_ms <= $1
         ORDER BY token_id LIMIT 8",
    )
    .bind(now_ms())
    .fetch_all(state.pool())
    .await?;
    for (token_id, sha256, size) in queued {
        if let Err(e) = post_own_transaction(state, token_id, &hash32(&sha256)?, size as u64).await
        {
            failed(state, &[token_id], &e).await?;
        }
    }
    Ok(())
}

async fn post_own_transaction(
    state: &AppState,
    token_id: i64,
    sha256: &[u8; 32],
    size: u64,
) -> anyhow::Result<()> {
    let reward = reward_for(state, size).await?;
    let anchor = state.gateway().tx_anchor().await?;
    let data = state.ciphertext(sha256).await?;
    let wallet = state.wallet().clone();
    let tags = tags(sha256);
    let tx =
        tokio::task::spawn_blocking(move || Transaction::sign(&wallet, data, tags, anchor, reward))
            .await??;
    let tx_id = tx.id;
    sqlx::query(
        "UPDATE archival_arweave SET state = 'signed', tx_id = $2, attempts = attempts + 1
         WHERE token_id = $1 AND state = 'queued'",
    )
    .bind(token_id)
    .bind(tx_id.as_slice())
    .execute(state.pool())
    .await?;
    state
        .gateway()
        .upload(&tx)
        .await
        .context("posting the transaction")?;
    posted(state, &tx_id).await
}

async fn post_bundle(state: &AppState) -> anyhow::Result<()> {
    let queued: Vec<(i64, Vec<u8>, i64)> = sqlx::query_as(
        "SELECT token_id, sha256, size FROM archival_arweave
         WHERE state = 'queued' AND mode = 'bundle' ORDER BY token_id",
    )
    .fetch_all(state.pool())
    .await?;
    let mut total = 0;
    let queued: Vec<_> = queued
        .into_iter()
        .take_while(|(_, _, size)| {
            total += size;
            total <= MAX_BUNDLE_BYTES
        })
        .collect();
    if queued.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = queued.iter().map(|(id, _, _)| *id).collect();
    if let Err(e) = sign_and_post_bundle(state, &queued).await {
        failed(state, &ids, &e).await?;
        // The items were due: try again at the next pass rather than the next interval.
        make_due(state.pool(), BUNDLE_TASK).await?;
    }
    Ok(())
}

async fn sign_and_post_bundle(
    state: &AppState,
    queued: &[(i64, Vec<u8>, i64)],
) -> anyhow::Result<()> {
    // Fail before signing anything when the gateway is down or the wallet cannot pay.
    let estimate = queued
        .iter()
        .map(|(_, _, size)| *size as u64 + 2048)
        .sum::<u64>();
    reward_for(state, estimate).await?;
    let mut documents = Vec::with_capacity(queued.len());
    for (token_id, sha256, _) in queued {
        let sha256 = hash32(sha256)?;
        documents.push((*token_id, sha256, state.ciphertext(&sha256).await?));
    }
    let wallet = state.wallet().clone();
    let (items, bundle) = tokio::task::spawn_blocking(move || {
        let items = documents
            .into_iter()
            .map(|(token_id, sha256, data)| {
                DataItem::sign(&wallet, data, tags(&sha256), None, None)
                    .map(|item| (token_id, item))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bundle = Bundle::build(
            &items
                .iter()
                .map(|(_, item)| item.clone())
                .collect::<Vec<_>>(),
        );
        Ok::<_, anyhow::Error>((items, bundle))
    })
    .await??;
    let size = bundle.len() as u64;
    let reward = reward_for(state, size).await?;
    let anchor = state.gateway().tx_anchor().await?;
    let wallet = state.wallet().clone();
    let tx = tokio::task::spawn_blocking(move || {
        let mut tags = Bundle::tags();
        tags.push(Tag::new("App-Name", "sovereign-document-vault"));
        Transaction::sign(&wallet, bundle, tags, anchor, reward)
    })
    .await??;
    let tx_id = tx.id;

    let mut db = state.pool().begin().await?;
    sqlx::query(
        "INSERT INTO archival_bundles (tx_id, items, size, state, signed_ms)
         VALUES ($1, $2, $3, 'signed', $4)",
    )
    .bind(tx_id.as_slice())
    .bind(items.len() as i32)
    .bind(size as i64)
    .bind(now_ms())
    .execute(&mut *db)
    .await?;
    for (token_id, item) in &items {
        sqlx::query(
            "UPDATE archival_arweave
             SET state = 'signed', tx_id = $2, item_id = $3, bundle_tx = $2,
                 attempts = attempts + 1
             WHERE token_id = $1 AND state = 'queued'",
        )
        .bind(token_id)
        .bind(tx_id.as_slice())
        .bind(item.id().as_slice())
        .execute(&mut *db)
        .await?;
    }
    db.commit().await?;
    tracing::info!(
        tx = %sdv_arweave::b64url_encode(&tx_id),
        items = items.len(),
        bytes = size,
        "posting a bundle"
    );
    state
        .gateway()
        .upload(&tx)
        .await
        .context("posting the bundle transaction")?;
    posted(state, &tx_id).await
}

/// Watches posted transactions until they are deep enough to be permanent.
async fn confirm(state: &AppState) -> anyhow::Result<()> {
    let posted: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT DISTINCT tx_id FROM archival_arweave WHERE state = 'posted'")
            .fetch_all(state.pool())
            .await?;
    for tx_id in posted {
        let tx_id = hash32(&tx_id)?;
        let status = match state.gateway().status(&tx_id).await {
            Ok(status) => status,
            Err(e) => {
                tracing::debug!(error = %e, "the gateway is unreachable");
                return Ok(());
            }
        };
        match status {
            TxStatus::Confirmed {
                block_height,
                confirmations,
            } => {
                let permanent = confirmations >= state.config().confirmations;
                let now = now_ms();
                let mut db = state.pool().begin().await?;
                sqlx::query(
                    "UPDATE archival_bundles SET block_height = $2, confirmations = $3,
                         state = CASE WHEN $4 THEN 'confirmed' ELSE state END,
                         confirmed_ms = CASE WHEN $4 THEN $5 ELSE confirmed_ms END
                     WHERE tx_id = $1",
                )
                .bind(tx_id.as_slice())
                .bind(block_height as i64)
                .bind(confirmations as i64)
                .bind(permanent)
                .bind(now)
                .execute(&mut *db)
                .await?;
                let confirmed: Vec<i64> = sqlx::query_scalar(
                    "UPDATE archival_arweave SET block_height = $2, confirmations = $3,
                         state = CASE WHEN $4 THEN 'confirmed' ELSE state END,
                         confirmed_ms = CASE WHEN $4 THEN $5 ELSE confirmed_ms END
                     WHERE tx_id = $1 AND state = 'posted' RETURNING token_id",
                )
                .bind(tx_id.as_slice())
                .bind(block_height as i64)
                .bind(confirmations as i64)
                .bind(permanent)
                .bind(now)
                .fetch_all(&mut *db)
                .await?;
                db.commit().await?;
                if permanent {
                    for token_id in confirmed {
                        state
                            .record_replica(
                                &format!("arweave-permanent:{token_id}"),
                                token_id as u64,
                                &Replica::ArweavePermanent,
                            )
                            .await?;
                        tracing::info!(token_id, confirmations, "the Arweave copy is permanent");
                    }
                }
            }
            TxStatus::Pending => {}
            TxStatus::NotFound => {
                // Taken once, then forgotten: the transaction was dropped before a miner took
                // it. Its id is on-chain already, so it is not posted again under a new one;
                // an operator must look at it.
                sqlx::query(
                    "UPDATE archival_arweave
                     SET last_error = 'the gateway no longer knows this transaction'
                     WHERE tx_id = $1 AND state = 'posted'",
                )
                .bind(tx_id.as_slice())
                .execute(state.pool())
                .await?;
            }
        }
    }
    Ok(())
}
