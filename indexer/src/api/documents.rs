//! Documents: by id, sha256 and wallet, their history and shares, the documents due for the
//! retention scheduler; account tiers and published encryption keys.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{postgres::PgRow, Row};

use super::{
    account, hex_of, number, one_of, sha256, ss58, ss58_opt, ApiError, ApiResult, AppState, Page,
    Snapshot, Q,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/documents/due", get(due))
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
    class, retention, expiry_ms, arweave_requested, arweave_tx, arweave_permanent, ipfs_cid, \
    status, deletion_due_ms, minted_block, updated_block";

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
        document::{DocumentClass, DocumentMinted, Owner, RetentionOption},
        governance::Tier,
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

    fn ev<E: Event + Encode>(index: u32, event: E) -> ContractEvent {
        ContractEvent {
            contract: nft(),
            index,
            topics: vec![signature_topic::<E>().unwrap()],
            data: event.encode(),
        }
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
                .replace("/documents/due", "/documents/due?from_ms=0&to_ms=1");
            let (status, body) = get(&pool, &uri).await;
            assert!(body.is_object(), "{path}: {status} {body}");
        }
    }
}
