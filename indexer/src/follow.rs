//! Following the finalized chain.

use sdv_chain::{contract_events, AccountId, Chain};
use sqlx::PgPool;

use crate::{
    store::{self, IndexedBlock},
    Error, Result,
};

/// Blocks written per database transaction.
pub const BATCH_BLOCKS: u32 = 256;

/// Writes every finalized block after the cursor, in batches of [`BATCH_BLOCKS`], keeping only
/// the `ContractEmitted` events of `contracts` (all contracts when empty) and projecting those of
/// `document_nft`, when given, into the document tables (so `contracts`, if not empty, must
/// include it). Returns the number of the last block written.
pub async fn catch_up(
    chain: &Chain,
    pool: &PgPool,
    contracts: &[AccountId],
    document_nft: Option<&AccountId>,
) -> Result<u32> {
    catch_up_in_batches(chain, pool, contracts, document_nft, BATCH_BLOCKS).await
}

/// [`catch_up`] with `batch_blocks` blocks per database transaction (at least 1).
pub async fn catch_up_in_batches(
    chain: &Chain,
    pool: &PgPool,
    contracts: &[AccountId],
    document_nft: Option<&AccountId>,
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
    write_blocks(
        chain,
        pool,
        contracts,
        document_nft,
        batch_blocks,
        start..=head,
    )
    .await?;
    Ok(head.max(start.saturating_sub(1)))
}

/// Writes the finalized blocks `range` (nothing when it is empty), `batch_blocks` per
/// transaction, without checking the cursor again: for a follower that already did (see
/// [`catch_up_in_batches`]) and knows the next block to write.
pub async fn write_blocks(
    chain: &Chain,
    pool: &PgPool,
    contracts: &[AccountId],
    document_nft: Option<&AccountId>,
    batch_blocks: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<()> {
    let batch_blocks = batch_blocks.max(1);
    let genesis = chain.genesis_hash();
    let (mut number, head) = range.into_inner();
    while number <= head {
        let end = head.min(number + batch_blocks - 1);
        let mut batch = Vec::with_capacity((end - number + 1) as usize);
        for n in number..=end {
            let hash = chain
                .block_hash(n)
                .await?
                .ok_or(sdv_chain::Error::Dispatch(format!(
                    "finalized block {n} has no hash"
                )))?;
            let events = chain.events_at(hash).await?;
            batch.push(IndexedBlock {
                number: n,
                hash,
                events: contract_events(events.iter(), contracts)?,
            });
        }
        store::write_batch(pool, genesis, document_nft, &batch).await?;
        number = end + 1;
    }
    Ok(())
}
