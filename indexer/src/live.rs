//! The indexer's main loop: catch up, then follow every new finalized head, riding out a node
//! or database that goes away.

use std::time::Duration;

use sdv_chain::Chain;
use sqlx::PgPool;

use crate::{follow, Error, Result, Watched};

/// Longest wait between retries after a failure.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows the finalized chain at `node_url` into `pool` until a fatal error (another chain in
/// the database). Transient failures (the node or PostgreSQL unreachable, a connection lost)
/// are logged and retried with backoff; the cursor makes every retry resume where the last
/// committed batch ended.
pub async fn run(
    node_url: &str,
    pool: &PgPool,
    watched: &Watched,
    batch_blocks: u32,
) -> Result<()> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match follow_once(node_url, pool, watched, batch_blocks).await {
            // Another chain in the database, or an event the shared types cannot decode (a
            // contract newer than this indexer): retrying cannot help.
            Err(
                fatal @ (Error::GenesisMismatch { .. }
                | Error::ChainReplaced { .. }
                | Error::Decode { .. }),
            ) => return Err(fatal),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "indexing interrupted; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Ok(()) => backoff = Duration::from_millis(100),
        }
    }
}

/// Connects, catches up from the checked cursor, and then writes the blocks up to every
/// finalized head the node announces. Returns when the stream ends.
async fn follow_once(
    node_url: &str,
    pool: &PgPool,
    watched: &Watched,
    batch_blocks: u32,
) -> Result<()> {
    let chain = Chain::connect(node_url).await?;
    let head = follow::catch_up_in_batches(&chain, pool, watched, batch_blocks).await?;
    tracing::info!(head, "caught up; following finalized blocks");
    let mut heads = chain
        .client()
        .blocks()
        .subscribe_finalized()
        .await
        .map_err(sdv_chain::Error::from)?;
    // The cursor was checked once for this connection; each head only writes what is new
    // (every block since the last one written, so a gap in the announced stream is filled).
    let mut written = head;
    while let Some(block) = heads.next().await {
        let announced = block.map_err(sdv_chain::Error::from)?.number();
        if announced > written {
            follow::write_blocks(&chain, pool, watched, batch_blocks, written + 1..=announced)
                .await?;
            written = announced;
        }
        tracing::debug!(announced, written, "finalized head indexed");
    }
    Ok(())
}
