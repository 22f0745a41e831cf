//! Documents: by id, sha256 and wallet, their history and shares, the documents due for the
//! retention scheduler, the work lists of the archival service; account tiers and published
//! encryption keys.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use sdv_types::governance::{ReplicationPolicy, Tier};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{postgres::PgRow, Postgres, Row, Transaction};

use crate::project::tier_name;

use super::{
    account, hex_of, number, one_of, sha256, ss58, ss58_opt, ApiError, ApiResult, AppState, Page,
    Snapshot, Q,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/documents/due", get(due))
        .route("/documents/replication", get(replication))
        .route("/documents/by-sha256/{sha256}", get(by_sha256))
        .route("/documents/{id}", get(by_id))
        .route("/documents/{id}/history", get(history))
        .route("/documents/{id}/shares", get(shares_of_document))
        .route("/accounts/{account}/documents", get(of_account))
        .route("/accounts/{account}/shares", get(shares_to_account))
        .route("/accounts/{account}/tier", get(tier_of_account))
        .route("/accounts/{account}/encryption-key", get(encryption_key))
        .route("/tiers", get(tiers))
}

const COLUMNS: &str = "token_id, owner_kind, owner, owner_wallet, sha256, size, tier, \
    class, retention, expiry_ms, arweave_requested, arweave_tx, arweave_item, arweave_permanent, \
    ipfs_cid, status, deletion_due_ms, minted_block, updated_block";

fn document_json(row: &PgRow) -> Value {
    let sha: Vec<u8> = row.get("sha256");
    json!({
        "token_id": row.get::<i64, _>("token_id"),
        "owner": { "kind": row.get::<String, _>("owner_kind"), "id": row.get::<String, _>("owner") },
        "owner_wallet": ss58_opt(row.get::<Option<Vec<u8>>, _>("owner_wallet").as_deref()),
        "sha256": format!("0x{}", hex::encode(&sha)),
        "storage_key": format!("docs/{}", hex::encode(&sha)),
        "size": row.get::<i64, _>("size"),
        "tier": row.get::<String, _>("tier"),
        "class": row.get::<String, _>("class"),
        "retention": row.get::<String, _>("retention"),
        "expiry_ms": row.get::<Option<i64>, _>("expiry_ms"),
        "arweave": {
            "requested": row.get::<bool, _>("arweave_requested"),
            "tx": hex_of(row.get::<Option<Vec<u8>>, _>("arweave_tx").as_deref()),
            "item": hex_of(row.get::<Option<Vec<u8>>, _>("arweave_item").as_deref()),
            "permanent": row.get::<bool, _>("arweave_permanent"),
        },
        "ipfs_cid": hex_of(row.get::<Option<Vec<u8>>, _>("ipfs_cid").as_deref()),
        "status": row.get::<String, _>("status"),
        "deletion_due_ms": row.get::<Option<i64>, _>("deletion_due_ms"),
        "minted_block": row.get::<i64, _>("minted_block"),
        "updated_block": row.get::<i64, _>("updated_block"),
    })
}

async fn by_id(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = number(&id, "token id")?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents WHERE token_id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *s.tx)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no document {id}")))?;
    Ok(s.answer(document_json(&row)))
}

async fn by_sha256(State(state): State<AppState>, Path(sha): Path<String>) -> ApiResult {
    let sha = sha256(&sha)?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents WHERE sha256 = $1"
    ))
    .bind(&sha)
    .fetch_optional(&mut *s.tx)
    .await?
    .ok_or_else(|| ApiError::not_found("no document with this sha256"))?;
    Ok(s.answer(document_json(&row)))
}

async fn of_account(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents WHERE owner_wallet = $1
         ORDER BY token_id LIMIT $2 OFFSET $3"
    ))
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    Ok(s.page(rows.iter().map(document_json).collect(), limit, offset))
}

async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let id = number(&id, "token id")?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<(i64, i32, String, sqlx::types::Json<Value>)> = sqlx::query_as(
        "SELECT block_number, event_index, kind, detail FROM document_history
         WHERE token_id = $1 ORDER BY block_number, event_index LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|(block_number, event_index, kind, detail)| {
            json!({
                "block_number": block_number,
                "event_index": event_index,
                "kind": kind,
                "detail": detail.0,
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

/// The time range of [`due`]: `[from_ms, to_ms)`, and which dates count.
#[derive(Debug, Deserialize)]
struct DueRange {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    /// `expiry` (active documents whose retention ends), `deletion` (scheduled deletions
    /// whose notice ends) or both when absent.
    due: Option<String>,
}

/// Documents whose retention ends (`expiry`) or whose deletion notice ends (`deletion`) in
/// `[from_ms, to_ms)`, soonest first: what the retention scheduler acts on.
async fn due(State(state): State<AppState>, Q(range): Q<DueRange>, Q(page): Q<Page>) -> ApiResult {
    let (Some(from), Some(to)) = (range.from_ms, range.to_ms) else {
        return Err(ApiError::bad_request(
            "from_ms and to_ms (milliseconds since the Unix epoch) are required",
        ));
    };
    if from < 0 || to < from {
        return Err(ApiError::bad_request(
            "from_ms must not be negative nor after to_ms",
        ));
    }
    let due = range
        .due
        .as_deref()
        .map(|d| one_of(d, "due date", &["expiry", "deletion"]))
        .transpose()?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows = sqlx::query(&format!(
        "SELECT * FROM (
             SELECT {COLUMNS}, 'expiry' AS due, expiry_ms AS due_ms FROM documents
             WHERE status = 'active' AND expiry_ms >= $1 AND expiry_ms < $2
             UNION ALL
             SELECT {COLUMNS}, 'deletion' AS due, deletion_due_ms AS due_ms FROM documents
             WHERE status = 'deletion_scheduled' AND deletion_due_ms >= $1 AND deletion_due_ms < $2
         ) AS d
         WHERE $3::text IS NULL OR due = $3
         ORDER BY due_ms, token_id LIMIT $4 OFFSET $5"
    ))
    .bind(from)
    .bind(to)
    .bind(due)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .iter()
        .map(|row| {
            json!({
                "due": row.get::<String, _>("due"),
                "due_ms": row.get::<i64, _>("due_ms"),
                "document": document_json(row),
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

/// The work lists of [`replication`], by the `need` that names them.
const REPLICATION_NEEDS: [&str; 4] = ["arweave", "arweave_unconfirmed", "ipfs", "deleted"];

/// The query of [`replication`]: which work list, and where the page starts.
#[derive(Debug, Deserialize)]
struct ReplicationQuery {
    /// One of [`REPLICATION_NEEDS`].
    need: Option<String>,
    /// Only documents with a greater token id: the last one of the previous page (from the
    /// first token when absent or negative).
    after: Option<i64>,
    /// Refused: this list pages with `after`, which holds still while the list shrinks.
    offset: Option<i64>,
    /// Only documents changed in a block after this one (a follower's cursor: the `at_block`
    /// of its previous pass).
    updated_after_block: Option<i64>,
}

/// Documents that need work from the archival service, by token id, after `after`:
/// - `arweave`: an Arweave copy is requested and none recorded, not deleted;
/// - `arweave_unconfirmed`: an Arweave copy is recorded but not yet permanent;
/// - `ipfs`: not deleted, no CID recorded, the owner's current tier replicates to IPFS
///   automatically and IPFS is in service;
/// - `deleted`: deleted documents.
async fn replication(
    State(state): State<AppState>,
    Q(query): Q<ReplicationQuery>,
    Q(page): Q<Page>,
) -> ApiResult {
    let Some(need) = query.need.as_deref() else {
        return Err(ApiError::bad_request(format!(
            "need is required (one of {})",
            REPLICATION_NEEDS.join(", ")
        )));
    };
    let need = one_of(need, "replication need", &REPLICATION_NEEDS)?;
    if query.offset.is_some() {
        return Err(ApiError::bad_request(
            "this list pages with after (the last token id of the previous page), not offset",
        ));
    }
    let (limit, _) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let filter = match need {
        "arweave" => "arweave_requested AND arweave_tx IS NULL AND status <> 'deleted'",
        "arweave_unconfirmed" => "arweave_tx IS NOT NULL AND NOT arweave_permanent",
        "ipfs" => {
            "status <> 'deleted' AND ipfs_cid IS NULL AND COALESCE(
                 (SELECT t.tier FROM account_tiers t
                  WHERE t.owner_kind = documents.owner_kind AND t.owner = documents.owner),
                 'free') = ANY($4)"
        }
        _ => "status = 'deleted'",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM documents
         WHERE token_id > $1 AND updated_block > $3 AND {filter}
         ORDER BY token_id LIMIT $2"
    );
    let mut select = sqlx::query(&sql)
        .bind(query.after.unwrap_or(-1))
        .bind(limit)
        .bind(query.updated_after_block.unwrap_or(-1));
    if need == "ipfs" {
        select = select.bind(ipfs_auto_tiers(&mut s.tx).await?);
    }
    let rows = select.fetch_all(&mut *s.tx).await?;
    let items: Vec<Value> = rows.iter().map(document_json).collect();
    Ok(s.answer(json!({
        "need": need,
        "items": items,
        "limit": limit,
        "after": query.after,
        "updated_after_block": query.updated_after_block,
    })))
}

/// The tiers whose owners' documents are pinned on IPFS now: those whose replication policy
/// has `ipfs_auto`, none when IPFS is out of service. Governance's parameters as the indexer
/// mirrors them; the spec's defaults (both providers in service) until it mirrored any.
async fn ipfs_auto_tiers(tx: &mut Transaction<'static, Postgres>) -> Result<Vec<String>, ApiError> {
    let parameters: Vec<(String, sqlx::types::Json<Value>)> = sqlx::query_as(
        "SELECT name, value FROM parameters WHERE name = 'providers' OR name LIKE 'replication/%'",
    )
    .fetch_all(&mut **tx)
    .await?;
    let flag = |name: &str, field: &str| {
        parameters
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, value)| value.0[field].as_bool())
    };
    if !flag("providers", "ipfs").unwrap_or(true) {
        return Ok(Vec::new());
    }
    Ok(Tier::ALL
        .into_iter()
        .filter(|&tier| {
            flag(&format!("replication/{}", tier_name(tier)), "ipfs_auto")
                .unwrap_or(ReplicationPolicy::spec_default(tier).ipfs_auto)
        })
        .map(|tier| tier_name(tier).to_owned())
        .collect())
}

async fn shares_of_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let id = number(&id, "token id")?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<(Vec<u8>, i32, i64)> = sqlx::query_as(
        "SELECT grantee, key_version, block_number FROM document_shares
         WHERE token_id = $1 ORDER BY block_number, grantee LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|(grantee, key_version, block_number)| {
            json!({
                "token_id": id,
                "grantee": ss58(&grantee),
                "key_version": key_version,
                "block_number": block_number,
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

async fn shares_to_account(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<(i64, i32, i64)> = sqlx::query_as(
        "SELECT token_id, key_version, block_number FROM document_shares
         WHERE grantee = $1 ORDER BY token_id LIMIT $2 OFFSET $3",
    )
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|(token_id, key_version, block_number)| {
            json!({
                "token_id": token_id,
                "grantee": ss58(&who.0),
                "key_version": key_version,
                "block_number": block_number,
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

/// The tier of the identity a wallet acts for (itself, or the identity it was rebound to).
async fn tier_of_account(State(state): State<AppState>, Path(who): Path<String>) -> ApiResult {
    let who = account(&who)?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let identity: Vec<u8> = sqlx::query_scalar(
        "SELECT identity FROM wallet_rebinds WHERE new_wallet = $1
         ORDER BY block_number DESC, event_index DESC LIMIT 1",
    )
    .bind(who.0.as_slice())
    .fetch_optional(&mut *s.tx)
    .await?
    .unwrap_or_else(|| who.0.to_vec());
    let owner = hex::encode(&identity);
    let set: Option<(String, i64)> = sqlx::query_as(
        "SELECT tier, updated_block FROM account_tiers WHERE owner_kind = 'identity' AND owner = $1",
    )
    .bind(&owner)
    .fetch_optional(&mut *s.tx)
    .await?;
    let (tier, updated_block) = set.map_or(("free".to_owned(), None), |(t, b)| (t, Some(b)));
    Ok(s.answer(json!({
        "owner": { "kind": "identity", "id": owner },
        "tier": tier,
        "updated_block": updated_block,
    })))
}

/// Every tier the tier authority set (any other owner is on the free tier).
async fn tiers(State(state): State<AppState>, Q(page): Q<Page>) -> ApiResult {
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT owner_kind, owner, tier, updated_block FROM account_tiers
         ORDER BY owner_kind, owner LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|(kind, id, tier, updated_block)| {
            json!({ "owner": { "kind": kind, "id": id }, "tier": tier, "updated_block": updated_block })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

async fn encryption_key(State(state): State<AppState>, Path(who): Path<String>) -> ApiResult {
    let who = account(&who)?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let (key, version, published_at_ms, block_number): (Vec<u8>, i32, i64, i64) = sqlx::query_as(
        "SELECT key, version, published_at_ms, block_number FROM encryption_keys
             WHERE account = $1",
    )
    .bind(who.0.as_slice())
    .fetch_optional(&mut *s.tx)
    .await?
    .ok_or_else(|| ApiError::not_found("this account published no encryption key"))?;
    Ok(s.answer(json!({
        "account": ss58(&who.0),
        "key": hex_of(Some(&key)),
        "version": version,
        "published_at_ms": published_at_ms,
        "block_number": block_number,
    })))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use codec::Encode;
    use sdv_chain::AccountId;
    use sdv_chain::{ContractEvent, Hash};
    use sdv_types::{
        document::{
            ArweaveRequested, DocumentClass, DocumentDeleted, DocumentMinted, Owner, Replica,
            ReplicaRecorded, RetentionOption, TierChanged,
        },
        governance::{ProviderSelection, ProvidersChanged, ReplicationPolicy, Tier},
        ink::env::Event,
        psp34::{Id, Transfer},
        signature_topic,
    };
    use sqlx::PgPool;

    use serde_json::{json, Value};

    use crate::{
        api::testing::{all_bad_requests, get},
        store::{write_batch, IndexedBlock},
    };

    fn nft() -> AccountId {
        AccountId::from([0x4e; 32])
    }

    fn governance() -> AccountId {
        AccountId::from([0x9e; 32])
    }

    fn ev<E: Event + Encode>(index: u32, event: E) -> ContractEvent {
        ContractEvent {
            contract: nft(),
            index,
            topics: vec![signature_topic::<E>().unwrap()],
            data: event.encode(),
        }
    }

    fn gov<E: Event + Encode>(index: u32, event: E) -> ContractEvent {
        ContractEvent {
            contract: governance(),
            ..ev(index, event)
        }
    }

    /// Writes `events` as block `number`, through the indexer's own write path.
    async fn write_block(pool: &PgPool, number: u32, events: Vec<ContractEvent>) {
        let block = IndexedBlock {
            number,
            hash: Hash::repeat_byte(u8::try_from(number).unwrap()),
            time_ms: 1_800_000_000_000 + u64::from(number) * 6_000,
            events,
        };
        let watched = crate::Watched {
            document_nft: Some(nft()),
            governance: Some(governance()),
            ..Default::default()
        };
        write_batch(pool, Hash::repeat_byte(0xaa), &watched, &[block])
            .await
            .unwrap();
    }

    /// The events minting token `id` to the identity `[owner; 32]`, with an Arweave request.
    fn minted(id: u64, owner: u8, arweave: bool) -> Vec<ContractEvent> {
        let owner = sdv_types::AccountId::from([owner; 32]);
        let index = u32::try_from(id).unwrap() * 10;
        vec![
            ev(
                index,
                Transfer {
                    from: None,
                    to: Some(owner),
                    id: Id::U64(id),
                },
            ),
            ev(
                index + 1,
                DocumentMinted {
                    id,
                    owner: Owner::Identity(owner),
                    sha256: [u8::try_from(id).unwrap(); 32],
                    size: 4096,
                    tier: Tier::Premium,
                    class: DocumentClass::Other,
                    retention: RetentionOption::Standard,
                    expiry: Some(1_900_000_000_000),
                    arweave_requested: arweave,
                },
            ),
        ]
    }

    fn tier_of(owner: u8, old: Tier, new: Tier) -> TierChanged {
        TierChanged {
            owner: Owner::Identity(sdv_types::AccountId::from([owner; 32])),
            old,
            new,
        }
    }

    /// The token ids of `/documents/replication?{query}`.
    async fn work_list(pool: &PgPool, query: &str) -> Vec<i64> {
        let (status, body) = get(pool, &format!("/documents/replication?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["data"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{query}: {body}"))
            .iter()
            .map(|item| item["token_id"].as_i64().unwrap())
            .collect()
    }

    /// Alice (`[1; 32]`) holds 1 (Arweave requested), 2 (posted as a data item of a bundle),
    /// 3 (posted and permanent), 5 (pinned on IPFS), 6; Bob (`[2; 32]`) held 4 (deleted)
    /// and holds 7. Nobody's tier is set yet (free).
    async fn with_replication_work(pool: &PgPool) {
        let mut events: Vec<ContractEvent> = (1..=7)
            .flat_map(|id| minted(id, if id == 4 || id == 7 { 2 } else { 1 }, id <= 4))
            .collect();
        let arweave = |tx: u8, item: Option<u8>| Replica::Arweave {
            tx_id: [tx; 32],
            item_id: item.map(|i| [i; 32]),
        };
        events.extend([
            ev(
                100,
                ReplicaRecorded {
                    id: 2,
                    replica: arweave(0xa2, Some(0xb2)),
                },
            ),
            ev(
                101,
                ReplicaRecorded {
                    id: 3,
                    replica: arweave(0xa3, None),
                },
            ),
            ev(
                102,
                ReplicaRecorded {
                    id: 3,
                    replica: Replica::ArweavePermanent,
                },
            ),
            ev(103, ArweaveRequested { id: 6 }),
            ev(
                104,
                ReplicaRecorded {
                    id: 6,
                    replica: arweave(0xa6, None),
                },
            ),
            ev(
                105,
                ReplicaRecorded {
                    id: 5,
                    replica: Replica::Ipfs(vec![0xc5; 36]),
                },
            ),
            ev(
                106,
                DocumentDeleted {
                    id: 4,
                    sha256: [4; 32],
                },
            ),
        ]);
        write_block(pool, 5, events).await;
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_archival_service_finds_its_arweave_and_deletion_work(pool: PgPool) {
        with_replication_work(&pool).await;
        assert_eq!(work_list(&pool, "need=arweave").await, [1]);
        assert_eq!(work_list(&pool, "need=arweave_unconfirmed").await, [2, 6]);
        assert_eq!(work_list(&pool, "need=deleted").await, [4]);
        // A follower's cursor: document 4 was deleted in block 5.
        assert_eq!(
            work_list(&pool, "need=deleted&updated_after_block=4").await,
            [4]
        );
        assert_eq!(
            work_list(&pool, "need=deleted&updated_after_block=5").await,
            Vec::<i64>::new()
        );
        // Free owners are not pinned on IPFS.
        assert_eq!(work_list(&pool, "need=ipfs").await, Vec::<i64>::new());

        // The items are the documents as `/documents/{id}` answers them.
        let (_, list) = get(&pool, "/documents/replication?need=arweave_unconfirmed").await;
        let (_, two) = get(&pool, "/documents/2").await;
        assert_eq!(list["data"]["items"][0], two["data"]);
        assert_eq!(
            two["data"]["arweave"],
            json!({
                "requested": true,
                "tx": format!("0x{}", "a2".repeat(32)),
                "item": format!("0x{}", "b2".repeat(32)),
                "permanent": false,
            })
        );
        let (_, three) = get(&pool, "/documents/3").await;
        assert_eq!(
            (
                three["data"]["arweave"]["item"].clone(),
                three["data"]["arweave"]["permanent"].clone()
            ),
            (Value::Null, json!(true))
        );
        assert_eq!(
            (
                list["data"]["need"].clone(),
                list["data"]["limit"].clone(),
                list["data"]["after"].clone()
            ),
            (json!("arweave_unconfirmed"), json!(50), Value::Null)
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_ipfs_work_list_follows_the_owners_current_tier(pool: PgPool) {
        // Given documents minted while everyone is on the free tier.
        with_replication_work(&pool).await;
        assert_eq!(work_list(&pool, "need=ipfs").await, Vec::<i64>::new());

        // When Alice becomes premium, her documents without a CID are to pin.
        write_block(&pool, 6, vec![ev(0, tier_of(1, Tier::Free, Tier::Premium))]).await;
        assert_eq!(work_list(&pool, "need=ipfs").await, [1, 2, 3, 6]);

        // When Bob becomes institutional and Alice BPoH verified, only Bob's live one is.
        write_block(
            &pool,
            7,
            vec![
                ev(0, tier_of(2, Tier::Free, Tier::Institutional)),
                ev(1, tier_of(1, Tier::Premium, Tier::BpohVerified)),
            ],
        )
        .await;
        assert_eq!(work_list(&pool, "need=ipfs").await, [7]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_ipfs_work_list_follows_governance(pool: PgPool) {
        // Given Alice premium and Bob institutional.
        with_replication_work(&pool).await;
        write_block(
            &pool,
            6,
            vec![
                ev(0, tier_of(1, Tier::Free, Tier::Premium)),
                ev(1, tier_of(2, Tier::Free, Tier::Institutional)),
            ],
        )
        .await;
        assert_eq!(work_list(&pool, "need=ipfs").await, [1, 2, 3, 6, 7]);

        // When governance turns automatic IPFS off for Premium, only Bob's remains.
        let premium = ReplicationPolicy::spec_default(Tier::Premium);
        write_block(
            &pool,
            7,
            vec![gov(
                0,
                sdv_types::governance::ReplicationPolicyChanged {
                    tier: Tier::Premium,
                    old: premium,
                    new: ReplicationPolicy {
                        ipfs_auto: false,
                        ..premium
                    },
                },
            )],
        )
        .await;
        assert_eq!(work_list(&pool, "need=ipfs").await, [7]);

        // When IPFS is taken out of service, nothing is to pin.
        let both = ProviderSelection {
            arweave: true,
            ipfs: true,
        };
        let arweave_only = ProviderSelection {
            ipfs: false,
            ..both
        };
        write_block(
            &pool,
            8,
            vec![gov(
                0,
                ProvidersChanged {
                    old: both,
                    new: arweave_only,
                },
            )],
        )
        .await;
        assert_eq!(work_list(&pool, "need=ipfs").await, Vec::<i64>::new());
        // The Arweave lists do not depend on IPFS.
        assert_eq!(work_list(&pool, "need=arweave_unconfirmed").await, [2, 6]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn replication_work_lists_page_by_token_id(pool: PgPool) {
        with_replication_work(&pool).await;
        write_block(&pool, 6, vec![ev(0, tier_of(1, Tier::Free, Tier::Premium))]).await;
        assert_eq!(work_list(&pool, "need=ipfs&limit=2").await, [1, 2]);
        assert_eq!(work_list(&pool, "need=ipfs&after=-1&limit=2").await, [1, 2]);
        assert_eq!(work_list(&pool, "need=ipfs&after=2&limit=2").await, [3, 6]);
        assert_eq!(
            work_list(&pool, "need=ipfs&after=6&limit=2").await,
            Vec::<i64>::new()
        );
        let (_, page) = get(&pool, "/documents/replication?need=ipfs&after=2&limit=2").await;
        assert_eq!(
            (page["data"]["after"].clone(), page["data"]["limit"].clone()),
            (json!(2), json!(2))
        );
    }

    /// Token 1, minted to the wallet `[7; 32]` in block 5, through the indexer's own write path.
    async fn with_one_document(pool: &PgPool) {
        let owner = sdv_types::AccountId::from([7; 32]);
        let events = vec![
            ev(
                0,
                Transfer {
                    from: None,
                    to: Some(owner),
                    id: Id::U64(1),
                },
            ),
            ev(
                1,
                DocumentMinted {
                    id: 1,
                    owner: Owner::Identity(owner),
                    sha256: [0xab; 32],
                    size: 4096,
                    tier: Tier::Free,
                    class: DocumentClass::Other,
                    retention: RetentionOption::Standard,
                    expiry: Some(1_900_000_000_000),
                    arweave_requested: false,
                },
            ),
        ];
        let block = IndexedBlock {
            number: 5,
            hash: Hash::repeat_byte(5),
            time_ms: 1_800_000_000_000,
            events,
        };
        write_batch(
            pool,
            Hash::repeat_byte(0xaa),
            &crate::Watched {
                document_nft: Some(nft()),
                ..Default::default()
            },
            &[block],
        )
        .await
        .unwrap();
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_document_is_found_by_id_sha256_and_wallet_at_the_indexed_block(pool: PgPool) {
        with_one_document(&pool).await;
        let (status, by_id) = get(&pool, "/documents/1").await;
        assert_eq!(status, StatusCode::OK, "{by_id}");
        assert_eq!(by_id["at_block"], 5);
        assert_eq!(by_id["data"]["size"], 4096);
        assert_eq!(
            by_id["data"]["storage_key"],
            format!("docs/{}", "ab".repeat(32))
        );
        assert_eq!(by_id["data"]["status"], "active");
        let (_, by_sha) = get(
            &pool,
            &format!("/documents/by-sha256/0x{}", "ab".repeat(32)),
        )
        .await;
        assert_eq!(by_sha["data"], by_id["data"]);
        let wallet = AccountId::from([7; 32]).to_string();
        let (status, list) = get(&pool, &format!("/accounts/{wallet}/documents")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["data"]["items"][0]["token_id"], 1);
        let (_, hex_list) = get(&pool, &format!("/accounts/0x{}/documents", "07".repeat(32))).await;
        assert_eq!(hex_list["data"], list["data"]);
        let (_, history) = get(&pool, "/documents/1/history").await;
        let kinds: Vec<&str> = history["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"DocumentMinted"), "{kinds:?}");
        let (_, page) = get(&pool, "/documents/1/history?limit=1&offset=1").await;
        assert_eq!(page["data"]["items"].as_array().unwrap().len(), 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_ids_are_a_400_with_a_message_and_missing_ones_a_404(pool: PgPool) {
        with_one_document(&pool).await;
        all_bad_requests(
            &pool,
            &[
                "/documents/abc",
                "/documents/-1",
                "/documents/18446744073709551616",
                "/documents/1/history?limit=0",
                "/documents/1/history?limit=501",
                "/documents/1/history?offset=-3",
                "/documents/1/history?limit=many",
                "/documents/by-sha256/xyz",
                "/documents/by-sha256/abab",
                "/accounts/not-an-account/documents",
                "/accounts/0x1234/documents",
                "/documents/due",
                "/documents/due?from_ms=10",
                "/documents/due?from_ms=10&to_ms=5",
                "/documents/due?from_ms=-1&to_ms=5",
                "/documents/due?from_ms=0&to_ms=5&due=soon",
                "/documents/replication",
                "/documents/replication?need=s3",
                "/documents/replication?need=ipfs&after=x",
                "/documents/replication?need=ipfs&limit=0",
                "/documents/replication?need=ipfs&offset=50",
                "/documents/x/shares",
                "/accounts/0x12/shares",
                "/accounts/abc/tier",
                "/accounts/abc/encryption-key",
                "/tiers?limit=-2",
            ],
        )
        .await;
        let (status, body) = get(&pool, "/documents/99").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = get(&pool, &format!("/documents/by-sha256/{}", "00".repeat(32))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn the_retention_scheduler_finds_documents_by_expiry(pool: PgPool) {
        with_one_document(&pool).await;
        let expiry = 1_900_000_000_000_i64;
        let (status, due) = get(
            &pool,
            &format!("/documents/due?from_ms={}&to_ms={}", expiry - 1, expiry + 1),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{due}");
        let item = &due["data"]["items"][0];
        assert_eq!(
            (item["due"].as_str(), item["due_ms"].as_i64()),
            (Some("expiry"), Some(expiry))
        );
        assert_eq!(item["document"]["token_id"], 1);
        for range in [
            format!("from_ms=0&to_ms={expiry}"),
            format!("from_ms={}&to_ms={}", expiry + 1, expiry + 10),
            format!("from_ms=0&to_ms={}&due=deletion", expiry + 1),
        ] {
            let (_, none) = get(&pool, &format!("/documents/due?{range}")).await;
            assert_eq!(none["data"]["items"], json!([]), "{range}");
        }
        let wallet = format!("0x{}", "07".repeat(32));
        let (_, tier) = get(&pool, &format!("/accounts/{wallet}/tier")).await;
        assert_eq!(tier["data"]["tier"], "free");
        let (status, _) = get(&pool, &format!("/accounts/{wallet}/encryption-key")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn health_and_the_openapi_document_answer(pool: PgPool) {
        let (status, health) = get(&pool, "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (health["at_block"].clone(), health["data"]["status"].clone()),
            (Value::Null, json!("ok"))
        );
        let (status, spec) = get(&pool, "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        // Every documented path is served: it answers JSON (an unknown path has no body).
        let paths = spec["paths"]
            .as_object()
            .expect("an OpenAPI document with paths");
        assert!(paths.len() >= 26, "{} paths", paths.len());
        for path in paths.keys() {
            let uri = path
                .replace("{id}", "1")
                .replace("{account}", &"07".repeat(32))
                .replace("{sha256}", &"ab".repeat(32))
                .replace("/documents/due", "/documents/due?from_ms=0&to_ms=1")
                .replace("/documents/replication", "/documents/replication?need=ipfs");
            let (status, body) = get(&pool, &uri).await;
            assert!(body.is_object(), "{path}: {status} {body}");
        }
    }
}
