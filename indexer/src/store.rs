//! Writes of the indexer: one transaction per batch of blocks.

use sdv_chain::{ContractEvent, Hash};
use sqlx::{PgPool, Postgres, Transaction};

use crate::{project, Error, Result, Watched};

/// A finalized block and the events of the deployed contracts in it.
#[derive(Debug, Clone)]
pub struct IndexedBlock {
    /// Block number.
    pub number: u32,
    /// Block hash.
    pub hash: Hash,
    /// The block's time (the timestamp pallet's `now`), in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Its contract events.
    pub events: Vec<ContractEvent>,
}

/// The indexer's position: the chain and the last block fully written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The chain's genesis hash.
    pub genesis_hash: Hash,
    /// The last block written.
    pub block_number: u32,
    /// Its hash.
    pub block_hash: Hash,
}

/// Reads the cursor; `None` before the first batch.
pub async fn cursor(pool: &PgPool) -> Result<Option<Cursor>> {
    let row: Option<(Vec<u8>, i64, Vec<u8>)> =
        sqlx::query_as("SELECT genesis_hash, block_number, block_hash FROM chain_cursor")
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(genesis, number, hash)| Cursor {
        genesis_hash: Hash::from_slice(&genesis),
        block_number: number as u32,
        block_hash: Hash::from_slice(&hash),
    }))
}

/// Refuses a database that mirrors another chain.
pub async fn check_genesis(pool: &PgPool, node_genesis: Hash) -> Result<()> {
    match cursor(pool).await? {
        Some(c) if c.genesis_hash != node_genesis => Err(Error::GenesisMismatch {
            recorded: format!("{:?}", c.genesis_hash),
            node: format!("{node_genesis:?}"),
        }),
        _ => Ok(()),
    }
}

/// Writes the events of `blocks`, projects those of `document_nft` (when given) into the
/// document tables ([`project::documents`]) and moves the cursor to the last block, in one
/// transaction: all of it is written, or none.
pub async fn write_batch(
    pool: &PgPool,
    genesis: Hash,
    watched: &Watched,
    blocks: &[IndexedBlock],
) -> Result<()> {
    let Some(last) = blocks.last() else {
        return Ok(());
    };
    let mut tx = pool.begin().await?;
    insert_events(&mut tx, blocks).await?;
    project::all(&mut tx, watched, blocks).await?;
    sqlx::query(
        "INSERT INTO chain_cursor (id, genesis_hash, block_number, block_hash, block_time_ms)
         VALUES (TRUE, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE
         SET genesis_hash = $1, block_number = $2, block_hash = $3, block_time_ms = $4",
    )
    .bind(genesis.as_bytes())
    .bind(i64::from(last.number))
    .bind(last.hash.as_bytes())
    .bind(i64::try_from(last.time_ms).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_events(tx: &mut Transaction<'_, Postgres>, blocks: &[IndexedBlock]) -> Result<()> {
    let total: usize = blocks.iter().map(|b| b.events.len()).sum();
    let mut block_hashes = Vec::with_capacity(total);
    let mut indexes = Vec::with_capacity(total);
    let mut numbers = Vec::with_capacity(total);
    let mut contracts = Vec::with_capacity(total);
    let mut signatures: Vec<Option<&[u8]>> = Vec::with_capacity(total);
    let mut data: Vec<&[u8]> = Vec::with_capacity(total);
    for block in blocks {
        for event in &block.events {
            block_hashes.push(block.hash.as_bytes());
            indexes.push(event.index as i32);
            numbers.push(i64::from(block.number));
            contracts.push(event.contract.0.as_slice());
            signatures.push(event.topics.first().map(|t| t.as_slice()));
            data.push(&event.data);
        }
    }
    sqlx::query(
        "INSERT INTO contract_events
             (block_hash, event_index, block_number, contract, signature, data)
         SELECT * FROM UNNEST($1::bytea[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[])",
    )
    .bind(&block_hashes)
    .bind(&indexes)
    .bind(&numbers)
    .bind(&contracts)
    .bind(&signatures)
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The raw events of one signature topic, in chain order.
pub async fn events_by_signature(
    pool: &PgPool,
    signature: [u8; 32],
) -> Result<Vec<(u32, Vec<u8>)>> {
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT block_number, data FROM contract_events
         WHERE signature = $1 ORDER BY block_number, event_index",
    )
    .bind(signature.as_slice())
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(n, d)| (n as u32, d)).collect())
}

#[cfg(test)]
mod tests {
    use sdv_chain::AccountId;

    use super::*;

    fn block(number: u32, events: usize) -> IndexedBlock {
        IndexedBlock {
            number,
            hash: Hash::repeat_byte(number as u8),
            time_ms: 1_800_000_000_000 + u64::from(number) * 6_000,
            events: (0..events)
                .map(|i| ContractEvent {
                    contract: AccountId::from([7; 32]),
                    index: i as u32,
                    topics: vec![[9; 32]],
                    data: vec![number as u8, i as u8],
                })
                .collect(),
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn batch_writes_events_and_moves_cursor(pool: PgPool) {
        let genesis = Hash::repeat_byte(0xaa);
        write_batch(
            &pool,
            genesis,
            &Watched::default(),
            &[block(1, 2), block(2, 0), block(3, 1)],
        )
        .await
        .unwrap();
        let c = cursor(&pool).await.unwrap().unwrap();
        assert_eq!((c.block_number, c.block_hash), (3, Hash::repeat_byte(3)));
        let events = events_by_signature(&pool, [9; 32]).await.unwrap();
        assert_eq!(
            events,
            vec![(1, vec![1, 0]), (1, vec![1, 1]), (3, vec![3, 0])]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_block_written_twice_is_refused_whole(pool: PgPool) {
        let genesis = Hash::repeat_byte(0xaa);
        write_batch(&pool, genesis, &Watched::default(), &[block(1, 2)])
            .await
            .unwrap();
        let again = write_batch(
            &pool,
            genesis,
            &Watched::default(),
            &[block(2, 1), block(1, 2)],
        )
        .await;
        assert!(matches!(again, Err(Error::Database(_))));
        // Nothing of the failed batch is visible: block 2 was not written, the cursor stayed.
        assert_eq!(cursor(&pool).await.unwrap().unwrap().block_number, 1);
        assert_eq!(events_by_signature(&pool, [9; 32]).await.unwrap().len(), 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_chain_is_refused(pool: PgPool) {
        write_batch(
            &pool,
            Hash::repeat_byte(0xaa),
            &Watched::default(),
            &[block(1, 0)],
        )
        .await
        .unwrap();
        check_genesis(&pool, Hash::repeat_byte(0xaa)).await.unwrap();
        let err = check_genesis(&pool, Hash::repeat_byte(0xbb))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::GenesisMismatch { .. }), "{err}");
    }
}
