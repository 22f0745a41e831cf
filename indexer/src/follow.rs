//! Catching up with the node's finalized chain, from the cursor to the finalized head.
//!
//! Blocks are fetched [`FETCH_CONCURRENCY`] at a time, in order, while the previous batch is
//! being written: the database transaction of batch `k` overlaps the fetch of batch `k + 1`, so
//! catching up takes about as long as fetching the blocks alone.

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

/// Fetches the finalized blocks `range` and writes them, `batch_blocks` per transaction, each
/// transaction overlapping the fetch of the next batch. The caller has checked the cursor (see
/// [`catch_up_in_batches`]) and knows the next block to write.
pub async fn write_blocks(
    chain: &Chain,
    pool: &PgPool,
    watched: &Watched,
    batch_blocks: u32,
    range: RangeInclusive<u32>,
) -> Result<()> {
    let genesis = chain.genesis_hash();
    let addresses = watched.addresses();
    let mut batches = batches(range, batch_blocks);
    let Some(first) = batches.next() else {
        return Ok(());
    };
    let mut fetched = fetch_blocks(chain, &addresses, first).await?;
    for next in batches {
        let (written, next_fetched) = tokio::join!(
            store::write_batch(pool, genesis, watched, &fetched),
            fetch_blocks(chain, &addresses, next),
        );
        written?;
        fetched = next_fetched?;
    }
    store::write_batch(pool, genesis, watched, &fetched).await
}

/// Splits `range` into consecutive ranges of at most `batch_blocks` blocks (at least 1).
pub fn batches(
    range: RangeInclusive<u32>,
    batch_blocks: u32,
) -> impl Iterator<Item = RangeInclusive<u32>> {
    let size = batch_blocks.max(1);
    let (start, end) = range.into_inner();
    let mut next = Some(start).filter(|s| *s <= end);
    std::iter::from_fn(move || {
        let first = next?;
        let last = end.min(first.saturating_add(size - 1));
        next = last.checked_add(1).filter(|n| *n <= end);
        Some(first..=last)
    })
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

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_cover_the_range_once_in_order() {
        let all: Vec<_> = batches(3..=12, 4).collect();
        assert_eq!(all, vec![3..=6, 7..=10, 11..=12]);
        assert_eq!(batches(5..=5, 256).collect::<Vec<_>>(), vec![5..=5]);
        let (start, end) = (6, 5);
        assert_eq!(batches(start..=end, 256).count(), 0);
        assert_eq!(
            batches(0..=2, 0).count(),
            3,
            "a batch holds at least one block"
        );
        assert_eq!(
            batches(u32::MAX - 1..=u32::MAX, 8).collect::<Vec<_>>(),
            vec![u32::MAX - 1..=u32::MAX]
        );
    }
}
