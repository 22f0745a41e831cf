//! The typed projection of the four contracts' events, written by
//! [`crate::store::write_batch`] in the transaction that writes the raw event log and moves
//! the cursor, so all three move together.
//!
//! Each contract's module decodes its events of the batch by their ink! 5 signature topics,
//! folds them in memory in chain order (later events update rows that earlier ones made), and
//! writes each table with one bulk statement: `UNNEST` of column arrays, or of an array of the
//! table's own row type.

mod documents;
pub(crate) mod governance;
pub(crate) mod recovery;
pub(crate) mod vaults;

use sdv_chain::{AccountId, ContractEvent};
use sqlx::{
    postgres::{PgHasArrayType, PgRow},
    Postgres, Transaction,
};

use crate::{store::IndexedBlock, Error, Result, Watched};

/// Projects the events of the watched contracts in `blocks` (in chain order) inside `tx`.
///
/// Fails with [`Error::Decode`] when an event carries one of a contract's signature topics but
/// does not decode as that event, and with [`Error::Database`] when a statement is refused; the
/// caller then rolls the whole transaction back.
pub async fn all(
    tx: &mut Transaction<'_, Postgres>,
    watched: &Watched,
    blocks: &[IndexedBlock],
) -> Result<()> {
    if let Some(governance) = &watched.governance {
        governance::project(tx, governance, blocks).await?;
    }
    if let Some(document_nft) = &watched.document_nft {
        documents::project(tx, document_nft, blocks).await?;
    }
    if let Some(team_vault) = &watched.team_vault {
        vaults::project(tx, team_vault, blocks).await?;
    }
    if let Some(guardian_recovery) = &watched.guardian_recovery {
        recovery::project(tx, guardian_recovery, blocks).await?;
    }
    Ok(())
}

/// Where and when an event is: its block, its index there and the block's time.
#[derive(Debug, Clone)]
struct At {
    number: i64,
    hash: Vec<u8>,
    index: i32,
    time_ms: i64,
}

/// What a contract's decoder answers: its event, `None` for an event its projection ignores,
/// or the name of the event whose topic matched with the reason the data did not decode.
type Decoded<E> = core::result::Result<Option<E>, (&'static str, codec::Error)>;

/// The events `contract` emitted in `blocks`, decoded with `decode`, in chain order.
fn decode_batch<E>(
    contract: &AccountId,
    blocks: &[IndexedBlock],
    decode: fn(&ContractEvent) -> Decoded<E>,
) -> Result<Vec<(At, E)>> {
    let mut events = Vec::new();
    for block in blocks {
        for event in block.events.iter().filter(|e| &e.contract == contract) {
            let decoded = decode(event).map_err(|(name, source)| Error::Decode {
                block: block.number,
                index: event.index,
                event: name,
                source,
            })?;
            if let Some(decoded) = decoded {
                let at = At {
                    number: i64::from(block.number),
                    hash: block.hash.as_bytes().to_vec(),
                    index: db_int32(event.index),
                    time_ms: db_int(block.time_ms),
                };
                events.push((at, decoded));
            }
        }
    }
    Ok(events)
}

/// Decodes an event as the first of the listed types whose signature topic it carries.
macro_rules! decode_as {
    ($event:expr, $enum:ident { $($name:ident),* $(,)? }) => {{
        let event: &ContractEvent = $event;
        $(
            if let Some(decoded) = event.decode::<$name>() {
                return decoded
                    .map(|e| Some($enum::$name(e)))
                    .map_err(|e| (stringify!($name), e));
            }
        )*
        Ok(None)
    }};
}
use decode_as;

/// The rows of `table` whose `column` is one of `keys` (`table`'s row type is `R`).
async fn load<R, K>(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    column: &str,
    keys: Vec<K>,
) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    K: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + PgHasArrayType + Send,
{
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_as(&format!("SELECT * FROM {table} WHERE {column} = ANY($1)"))
            .bind(keys)
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// Inserts `rows` of `table` (whose composite row type `R` is) with one `UNNEST`.
async fn insert<R>(tx: &mut Transaction<'_, Postgres>, table: &str, rows: Vec<R>) -> Result<()>
where
    R: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + PgHasArrayType + Send,
{
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "INSERT INTO {table} SELECT * FROM UNNEST($1::{table}[])"
    ))
    .bind(rows)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes the rows of `table` whose `column` is one of `keys`, then inserts `rows`: how a
/// batch writes the rows it folded (current state of each key) or whole sets (a vault's admins).
async fn replace<R, K>(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    column: &str,
    keys: Vec<K>,
    rows: Vec<R>,
) -> Result<()>
where
    R: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + PgHasArrayType + Send,
    K: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + PgHasArrayType + Send,
{
    if !keys.is_empty() {
        sqlx::query(&format!("DELETE FROM {table} WHERE {column} = ANY($1)"))
            .bind(keys)
            .execute(&mut **tx)
            .await?;
    }
    insert(tx, table, rows).await
}

fn bytes(account: &sdv_types::AccountId) -> [u8; 32] {
    *AsRef::<[u8; 32]>::as_ref(account)
}

/// A token id, count or millisecond timestamp as a `BIGINT`. None of them reaches `i64::MAX`
/// in practice; a larger value is stored as `i64::MAX`.
fn db_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A key version or event index as an `INTEGER`, clamped like [`db_int`].
fn db_int32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A vote count or round as a `SMALLINT`.
fn db_int16(value: u8) -> i16 {
    i16::from(value)
}

/// A tier as the database and the API name it (`free`, `bpoh_verified`, ...).
pub(crate) fn tier_name(tier: sdv_types::governance::Tier) -> &'static str {
    use sdv_types::governance::Tier;
    match tier {
        Tier::Free => "free",
        Tier::BpohVerified => "bpoh_verified",
        Tier::Premium => "premium",
        Tier::Institutional => "institutional",
    }
}

fn class_name(class: sdv_types::document::DocumentClass) -> &'static str {
    use sdv_types::document::DocumentClass;
    match class {
        DocumentClass::UsTax => "us_tax",
        DocumentClass::Financial => "financial",
        DocumentClass::Kyc => "kyc",
        DocumentClass::Other => "other",
    }
}

fn retention_name(retention: sdv_types::document::RetentionOption) -> &'static str {
    use sdv_types::document::RetentionOption;
    match retention {
        RetentionOption::Minimum => "minimum",
        RetentionOption::Standard => "standard",
        RetentionOption::Extended => "extended",
        RetentionOption::RegulatoryUsTax => "regulatory_us_tax",
        RetentionOption::LongTerm => "long_term",
        RetentionOption::Indefinite => "indefinite",
        RetentionOption::Permanent => "permanent",
    }
}

/// An account as the API shows it: `0x` and 64 hex digits.
fn account_hex(account: &sdv_types::AccountId) -> String {
    format!("0x{}", hex::encode(bytes(account)))
}

/// What the projections' tests share: events as a contract emits them, blocks, writes.
#[cfg(test)]
pub(crate) mod testing {
    use codec::Encode;
    use sdv_chain::{AccountId, ContractEvent, Hash};
    use sdv_types::{ink::env::Event, signature_topic};
    use sqlx::PgPool;

    use crate::{store::IndexedBlock, Result, Watched};

    /// The time of block 0 in the tests (far ahead of any wall clock, so that states derived at
    /// the later of the chain's and the server's clock follow the blocks); block `n` is `n`
    /// six-second slots later.
    pub(crate) const T0: u64 = 4_000_000_000_000;

    pub(crate) fn contract(byte: u8) -> AccountId {
        AccountId::from([byte; 32])
    }

    pub(crate) fn account(byte: u8) -> sdv_types::AccountId {
        sdv_types::AccountId::from([byte; 32])
    }

    /// `event` as `contract` emits it (its index set by [`block`]).
    pub(crate) fn ev<E: Event + Encode>(contract: &AccountId, event: E) -> ContractEvent {
        ContractEvent {
            contract: contract.clone(),
            index: 0,
            topics: vec![signature_topic::<E>().expect("SDV events are not anonymous")],
            data: event.encode(),
        }
    }

    pub(crate) fn time_of(number: u32) -> u64 {
        T0 + u64::from(number) * 6_000
    }

    pub(crate) fn block(number: u32, events: Vec<ContractEvent>) -> IndexedBlock {
        IndexedBlock {
            number,
            hash: Hash::repeat_byte(number as u8),
            time_ms: time_of(number),
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| ContractEvent {
                    index: i as u32,
                    ..e
                })
                .collect(),
        }
    }

    pub(crate) async fn write(
        pool: &PgPool,
        watched: &Watched,
        blocks: &[IndexedBlock],
    ) -> Result<()> {
        crate::store::write_batch(pool, Hash::repeat_byte(0xaa), watched, blocks).await
    }

    /// Every row of `tables`, as JSON text, in a canonical order.
    pub(crate) async fn dump(pool: &PgPool, tables: &[&str]) -> Vec<String> {
        let mut rows = Vec::new();
        for table in tables {
            let mut these: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT '{table}:' || to_jsonb(t)::text FROM {table} AS t"
            ))
            .fetch_all(pool)
            .await
            .expect("the table exists");
            these.sort();
            rows.extend(these);
        }
        rows
    }

    /// Writes `blocks` one transaction per block, then again after a reset as one transaction,
    /// and checks that both leave the same rows in `tables`: a projection must not depend on
    /// how blocks are batched.
    pub(crate) async fn write_both_ways(
        pool: &PgPool,
        watched: &Watched,
        blocks: &[IndexedBlock],
        tables: &[&str],
    ) {
        for block in blocks {
            write(pool, watched, std::slice::from_ref(block))
                .await
                .expect("each block is written");
        }
        let block_by_block = dump(pool, tables).await;
        crate::reset(pool).await.expect("reset");
        write(pool, watched, blocks)
            .await
            .expect("the blocks are written in one batch");
        assert_eq!(dump(pool, tables).await, block_by_block);
    }
}
