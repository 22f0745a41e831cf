//! The outbox: calls a service enqueues in its own database transaction, sent exactly once.
//!
//! A row goes `pending` -> `signed` -> `finalized` (or `failed`). The signed extrinsic, its
//! nonce and hash are committed *before* it is submitted; after a crash, a `signed` row is
//! settled by looking at the chain: if the account's nonce has passed the row's, the
//! extrinsic is looked up in the recent blocks and its outcome recorded; otherwise the *same*
//! bytes are submitted again. A nonce is used at most once, so the call lands at most once.
//!
//! Run one relayer process per signing account: the nonces are handed out in the process.

use std::{path::PathBuf, sync::Arc, time::Duration};

use sdv_chain::{subxt::tx::Signer, AccountId, Hash, NodeConfig};
use sqlx::{PgConnection, PgPool, Row};

use crate::{
    relay::{Relayer, Sent, Signed},
    Error, Result,
};

/// The outbox's migrations (`relayer/migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The test hook: when set to a file path, the worker writes that file and stops (until
/// killed) right after a submission and before recording it, so a test can `kill -9` it there.
pub const PAUSE_AFTER_SUBMIT_VAR: &str = "SDV_RELAYER_PAUSE_AFTER_SUBMIT";

/// Applies the outbox's migrations (versions from 100) to a database that the services that
/// enqueue share: their migrations are not an error.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// The hex text by which the outbox names a signing account.
pub fn signer_key(account: &AccountId) -> String {
    hex::encode(account.0)
}

/// Enqueues a call inside the caller's transaction. Returns `false` when a call with this
/// idempotency key was enqueued before (then nothing changes).
pub async fn enqueue(
    conn: &mut PgConnection,
    idempotency_key: &str,
    signer: &AccountId,
    contract: &AccountId,
    call_data: &[u8],
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO relayer_outbox (idempotency_key, signer, contract, call_data)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(idempotency_key)
    .bind(signer_key(signer))
    .bind(&contract.0[..])
    .bind(call_data)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// An outbox row's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `pending`, `signed`, `finalized` or `failed`.
    pub status: String,
    /// The nonce it was signed with.
    pub nonce: Option<i64>,
    /// The extrinsic's hash.
    pub tx_hash: Option<Vec<u8>>,
    /// The finalized block that includes it.
    pub block_hash: Option<Vec<u8>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The state of the call enqueued under `idempotency_key`.
pub async fn entry(pool: &PgPool, idempotency_key: &str) -> Result<Option<Entry>> {
    let row = sqlx::query(
        "SELECT status, nonce, tx_hash, block_hash, error FROM relayer_outbox
         WHERE idempotency_key = $1",
    )
    .bind(idempotency_key)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Entry {
        status: r.get(0),
        nonce: r.get(1),
        tx_hash: r.get(2),
        block_hash: r.get(3),
        error: r.get(4),
    }))
}

/// Sends the outbox's calls of one signing account.
pub struct Outbox<S> {
    pool: PgPool,
    relayer: Arc<Relayer<S>>,
    pause_after_submit: Option<PathBuf>,
}

impl<S: Signer<NodeConfig> + Send + Sync> Outbox<S> {
    /// The worker for `relayer`'s account on `pool` (migrated).
    pub fn new(pool: PgPool, relayer: Arc<Relayer<S>>) -> Self {
        Self {
            pool,
            relayer,
            pause_after_submit: None,
        }
    }

    /// Sets the test hook of [`PAUSE_AFTER_SUBMIT_VAR`].
    pub fn pause_after_submit(mut self, marker: Option<PathBuf>) -> Self {
        self.pause_after_submit = marker;
        self
    }

    fn signer(&self) -> String {
        signer_key(self.relayer.account())
    }

    /// Settles the rows signed before a restart. Returns how many.
    pub async fn recover(&self) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT id, nonce, extrinsic, tx_hash FROM relayer_outbox
             WHERE signer = $1 AND status = 'signed' ORDER BY nonce",
        )
        .bind(self.signer())
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let id: i64 = row.get(0);
            let nonce: i64 = row.get(1);
            let hash: Vec<u8> = row.get(3);
            let signed = Signed {
                nonce: nonce as u64,
                bytes: row.get(2),
                hash: Hash::from_slice(&hash),
            };
            tracing::info!(id, nonce, "settling a call signed before the restart");
            let outcome = self.relayer.land(&signed, None).await;
            self.record(id, outcome).await?;
        }
        if !rows.is_empty() {
            self.relayer.resync_nonce().await;
        }
        Ok(rows.len())
    }

    /// Sends the pending calls, oldest first, until none is left. Returns how many.
    pub async fn drain(&self) -> Result<usize> {
        let mut sent = 0;
        while self.send_one().await? {
            sent += 1;
        }
        Ok(sent)
    }

    /// Every `poll` until the process ends: settles the signed rows (those left by a crash,
    /// or whose outcome could not be learnt), then sends the pending ones.
    pub async fn run(&self, poll: Duration) -> Result<()> {
        loop {
            let round = async {
                self.recover().await?;
                self.drain().await
            };
            if let Err(e) = round.await {
                tracing::warn!(error = %e, "outbox round failed; retrying");
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Sends the oldest pending call, if any.
    async fn send_one(&self) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT id, contract, call_data FROM relayer_outbox
             WHERE signer = $1 AND status = 'pending' ORDER BY id LIMIT 1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(self.signer())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let id: i64 = row.get(0);
        let contract: Vec<u8> = row.get(1);
        let data: Vec<u8> = row.get(2);
        let Ok(contract) = <[u8; 32]>::try_from(contract.as_slice()) else {
            fail(&mut tx, id, "the contract address is not 32 bytes").await?;
            tx.commit().await?;
            return Ok(true);
        };
        let contract = AccountId::from(contract);
        let estimate = match self.relayer.dry_run(&contract, &data).await {
            Ok(estimate) => estimate,
            Err(e @ Error::Unavailable(_)) => return Err(e),
            Err(e) => {
                fail(&mut tx, id, &e.to_string()).await?;
                tx.commit().await?;
                return Ok(true);
            }
        };
        let signed = self.relayer.sign(&contract, data, &estimate).await?;
        let stored = async {
            sqlx::query(
                "UPDATE relayer_outbox SET status = 'signed', nonce = $2, extrinsic = $3,
                     tx_hash = $4, updated_at = now()
                 WHERE id = $1",
            )
            .bind(id)
            .bind(signed.nonce as i64)
            .bind(&signed.bytes)
            .bind(&signed.hash.0[..])
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = stored {
            // Not stored (the update or the commit failed, e.g. PostgreSQL restarting), so
            // never submitted: the nonce stays free. Keeping it taken would sign the next call
            // with the one after, which the node holds back forever behind the gap.
            self.relayer.resync_nonce().await;
            return Err(e.into());
        }
        let first = self.relayer.submit(&signed).await;
        if let Some(marker) = &self.pause_after_submit {
            if first.is_ok() {
                let _ = std::fs::write(marker, signed.nonce.to_string());
                tracing::warn!("test hook: paused after submitting, before recording");
                std::future::pending::<()>().await;
            }
        }
        let outcome = self.relayer.land(&signed, Some(first)).await;
        self.record(id, outcome).await?;
        Ok(true)
    }

    async fn record(&self, id: i64, outcome: Result<Sent>) -> Result<()> {
        match outcome {
            Ok(sent) => {
                sqlx::query(
                    "UPDATE relayer_outbox SET status = 'finalized', block_hash = $2,
                         error = NULL, updated_at = now()
                     WHERE id = $1",
                )
                .bind(id)
                .bind(&sent.block_hash.0[..])
                .execute(&self.pool)
                .await?;
            }
            // Still unreachable: the row stays `signed` and is settled later.
            Err(e @ Error::Unavailable(_)) => return Err(e),
            Err(e) => {
                let mut conn = self.pool.acquire().await?;
                fail(&mut conn, id, &e.to_string()).await?;
            }
        }
        Ok(())
    }
}

async fn fail(conn: &mut PgConnection, id: i64, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE relayer_outbox SET status = 'failed', error = $2, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}
