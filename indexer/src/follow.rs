//! Catching up with the node's finalized chain, from the cursor to the finalized head.
//!
//! Blocks are fetched [`FETCH_CONCURRENCY`] at a time, in order, and keep being fetched while a
//! batch is written: a batch closes at `batch_blocks` blocks or [`BATCH_EVENTS`] events, so even
//! dense blocks give the database transaction of one batch the fetch of the next to overlap,
//! and catching up takes about as long as fetching the blocks alone.

use std::ops::RangeInclusive;

use futures::{StreamExt, TryStreamExt};
use sdv_chain::{contract_events, Chain, Hash};
use sqlx::PgPool;

use crate::{
    store::{self, IndexedBlock},
    Error, Result, Watched,
};

/// Blocks written per database transaction by default.
pub const BATCH_BLOCKS: u32 = 256;

/// Block fetches in flight at once.
pub const FETCH_CONCURRENCY: usize = 32;

/// Events after which a batch closes even before it holds `batch_blocks` blocks.
pub const BATCH_EVENTS: usize = 10_000;

/// Fetched blocks that may wait for the writer.
const FETCHED_AHEAD: usize = 256;

/// Writes every finalized block after the cursor (from genesis on an empty database) up to the
/// node's finalized head, in transactions of [`BATCH_BLOCKS`] blocks. Returns the head.
///
/// Refuses a database of another chain ([`Error::GenesisMismatch`]) or whose cursor block is
/// not on the node's chain any more ([`Error::ChainReplaced`]).
pub async fn catch_up(chain: &Chain, pool: &PgPool, watched: &Watched) -> Result<u32> {
    catch_up_in_batches(chain, pool, watched, BATCH_BLOCKS).await
}

/// [`catch_up`] with `batch_blocks` blocks per database transaction (at least 1).
pub async fn catch_up_in_batches(
    chain: &Chain,
    pool: &PgPool,
    watched: &Watched,
    batch_blocks: u32,
) -> Result<u32> {
    let genesis = chain.genesis_hash();
    store::check_genesis(pool, genesis).await?;
    let start = match store::cursor(pool).await? {
        Some(c) => {
            if chain.block_hash(c.block_number).await? != Some(c.block_hash) {
                return Err(Error::ChainReplaced {
                    number: c.block_number,
                    recorded: format!("{:?}", c.block_hash),
                });
            }
            c.block_number + 1
        }
        None => 0,
    };
    let (head, _) = chain.finalized_head().await?;
    write_blocks(chain, pool, watched, batch_blocks, start..=head).await?;
    Ok(head.max(start.saturating_sub(1)))
}

/// Fetches the finalized blocks `range` and writes them in batches of `batch_blocks` blocks (at
/// least 1) or [`BATCH_EVENTS`] events, fetching on while each batch is written. The caller has
/// checked the cursor (see [`catch_up_in_batches`]) and knows the next block to write.
pub async fn write_blocks(
    chain: &Chain,
    pool: &PgPool,
    watched: &Watched,
    batch_blocks: u32,
    range: RangeInclusive<u32>,
) -> Result<()> {
    let genesis = chain.genesis_hash();
    let addresses = watched.addresses();
    let batch_blocks = usize::try_from(batch_blocks.max(1)).unwrap_or(usize::MAX);
    let (sender, mut fetched) = tokio::sync::mpsc::channel::<Result<IndexedBlock>>(FETCHED_AHEAD);
    // The fetcher runs as a task of its own, so that decoding blocks and preparing a batch's
    // statements use two threads; it ends when the range is fetched, a fetch fails, or the
    // writer is gone (dropping its receiver, or this guard when it fails).
    let fetcher = chain.clone();
    let fetch = AbortOnDrop(tokio::spawn(async move {
        let mut blocks = futures::stream::iter(range)
            .map(|number| fetch_block(&fetcher, &addresses, number))
            .buffered(FETCH_CONCURRENCY);
        while let Some(block) = blocks.next().await {
            let failed = block.is_err();
            if sender.send(block).await.is_err() || failed {
                break;
            }
        }
    }));
    let write = async move {
        let mut batch = Vec::new();
        let mut events = 0;
        while let Some(block) = fetched.recv().await {
            let block = block?;
            events += block.events.len();
            batch.push(block);
            if batch.len() >= batch_blocks || events >= BATCH_EVENTS {
                store::write_batch(pool, genesis, watched, &batch).await?;
                batch.clear();
                events = 0;
            }
        }
        store::write_batch(pool, genesis, watched, &batch).await
    };
    let written = write.await;
    drop(fetch);
    written
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The finalized blocks `range` with their events of `contracts`, in order, fetched
/// [`FETCH_CONCURRENCY`] at a time.
pub async fn fetch_blocks(
    chain: &Chain,
    contracts: &[sdv_chain::AccountId],
    range: RangeInclusive<u32>,
) -> Result<Vec<IndexedBlock>> {
    futures::stream::iter(range)
        .map(|number| fetch_block(chain, contracts, number))
        .buffered(FETCH_CONCURRENCY)
        .try_collect()
        .await
}

async fn fetch_block(
    chain: &Chain,
    contracts: &[sdv_chain::AccountId],
    number: u32,
) -> Result<IndexedBlock> {
    let hash: Hash = chain
        .block_hash(number)
        .await?
        .ok_or(sdv_chain::Error::Dispatch(format!(
            "finalized block {number} has no hash"
        )))?;
    let (events, time_ms) = tokio::try_join!(chain.events_at(hash), chain.timestamp_at(hash))?;
    Ok(IndexedBlock {
        number,
        hash,
        time_ms,
        events: contract_events(events.iter(), contracts)?,
    })
}
