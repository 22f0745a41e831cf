//! Guardian recovery: a user's guardians and recovery state, their recoveries with the
//! attestations, and the users an account guards.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use sdv_types::recovery::{ATTESTATION_TTL, GUARDIANS, UNREACHABLE_AFTER};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{account, number, ss58, ApiError, ApiResult, AppState, Page, Snapshot, Q};
use crate::project::recovery::{AttestationRow, GuardianRow, RecoveryRow};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/guardians", get(guardians))
        .route("/accounts/{account}/recoveries", get(recoveries_of_user))
        .route("/accounts/{account}/guarding", get(guarding))
        .route("/recoveries", get(recoveries_updated))
        .route("/recoveries/{id}", get(recovery))
        .route("/rebinds", get(rebinds))
}

/// `Recovery::state` in SQL, at time `$1`, for the row aliased `r`.
fn state_sql() -> String {
    format!(
        "CASE WHEN r.finalized_ms IS NOT NULL THEN 'finalized'
              WHEN r.cancelled_ms IS NOT NULL THEN 'cancelled'
              WHEN r.eta_ms IS NOT NULL THEN
                  CASE WHEN $1 >= r.eta_ms THEN 'ready' ELSE 'timelocked' END
              WHEN EXISTS (SELECT 1 FROM recovery_attestations a
                           WHERE a.recovery_id = r.id AND $1 < a.attested_ms + {ATTESTATION_TTL})
                  THEN 'collecting'
              ELSE 'expired' END"
    )
}

/// A recovery row with its state.
#[derive(sqlx::FromRow)]
struct Recovery {
    #[sqlx(flatten)]
    row: RecoveryRow,
    state: String,
}

/// Recoveries with their attestations (valid ones counted at `now`).
async fn with_attestations(
    s: &mut Snapshot,
    recoveries: Vec<Recovery>,
    now: i64,
) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = recoveries.iter().map(|r| r.row.id).collect();
    let attestations: Vec<AttestationRow> = sqlx::query_as(
        "SELECT * FROM recovery_attestations WHERE recovery_id = ANY($1)
         ORDER BY attested_ms, guardian",
    )
    .bind(&ids)
    .fetch_all(&mut *s.tx)
    .await?;
    let ttl = i64::try_from(ATTESTATION_TTL).unwrap_or(i64::MAX);
    Ok(recoveries
        .into_iter()
        .map(|r| {
            let mine: Vec<&AttestationRow> = attestations
                .iter()
                .filter(|a| a.recovery_id == r.row.id)
                .collect();
            let valid = mine
                .iter()
                .filter(|a| now < a.attested_ms.saturating_add(ttl))
                .count();
            let r_json = &r.row;
            json!({
                "id": r_json.id,
                "user": ss58(&r_json.user),
                "initiator": ss58(&r_json.initiator),
                "new_wallet": ss58(&r_json.new_wallet),
                "state": r.state,
                "valid_attestations": valid,
                "attestations": mine.iter().map(|a| json!({
                    "guardian": ss58(&a.guardian),
                    "attested_ms": a.attested_ms,
                    "block_number": a.block_number,
                })).collect::<Vec<_>>(),
                "initiated_ms": r_json.initiated_ms,
                "eta_ms": r_json.eta_ms,
                "cancelled_ms": r_json.cancelled_ms,
                "finalized_ms": r_json.finalized_ms,
                "created_block": r_json.created_block,
                "updated_block": r_json.updated_block,
            })
        })
        .collect())
}

/// A user's guardians, whether the set is active and reachable, and their latest recovery.
async fn guardians(State(state): State<AppState>, Path(who): Path<String>) -> ApiResult {
    let who = account(&who)?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let set: Vec<GuardianRow> =
        sqlx::query_as("SELECT * FROM guardians WHERE \"user\" = $1 ORDER BY position")
            .bind(who.0.as_slice())
            .fetch_all(&mut *s.tx)
            .await?;
    let latest: Vec<Recovery> = sqlx::query_as(&format!(
        "SELECT r.*, {} AS state FROM recoveries AS r WHERE r.\"user\" = $2
         ORDER BY r.id DESC LIMIT 1",
        state_sql()
    ))
    .bind(now)
    .bind(who.0.as_slice())
    .fetch_all(&mut *s.tx)
    .await?;
    let latest = with_attestations(&mut s, latest, now).await?.pop();
    let seen_since = now.saturating_sub(i64::try_from(UNREACHABLE_AFTER).unwrap_or(i64::MAX));
    let guardians: Vec<Value> = set
        .iter()
        .map(|g| {
            json!({
                "guardian": ss58(&g.guardian),
                "kind": g.kind,
                "accepted_ms": g.accepted_ms,
                "last_seen_ms": g.last_seen_ms,
            })
        })
        .collect();
    Ok(s.answer(json!({
        "user": ss58(&who.0),
        "guardians": guardians,
        // Three guardians, all accepted: recovery is possible.
        "active": set.len() == GUARDIANS && set.iter().all(|g| g.accepted_ms.is_some()),
        // No guardian seen in 180 days: the emergency (14-of-20) path is open.
        "unreachable": !set.is_empty()
            && set.iter().all(|g| g.last_seen_ms.unwrap_or(0) <= seen_since),
        "latest_recovery": latest,
    })))
}

async fn recoveries_of_user(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let rows: Vec<Recovery> = sqlx::query_as(&format!(
        "SELECT r.*, {} AS state FROM recoveries AS r WHERE r.\"user\" = $2
         ORDER BY r.id LIMIT $3 OFFSET $4",
        state_sql()
    ))
    .bind(now)
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = with_attestations(&mut s, rows, now).await?;
    Ok(s.page(items, limit, offset))
}

async fn recovery(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = number(&id, "recovery id")?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let row: Vec<Recovery> = sqlx::query_as(&format!(
        "SELECT r.*, {} AS state FROM recoveries AS r WHERE r.id = $2",
        state_sql()
    ))
    .bind(now)
    .bind(id)
    .fetch_all(&mut *s.tx)
    .await?;
    let found = with_attestations(&mut s, row, now)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no recovery {id}")))?;
    Ok(s.answer(found))
}

/// The query of [`recoveries_updated`]: a follower's cursor.
#[derive(Debug, Deserialize)]
struct UpdatedQuery {
    /// Only recoveries changed in a block after this one, or in this block with an id
    /// greater than `after` (from the start when absent).
    updated_after_block: Option<i64>,
    /// The id of the last recovery of the previous page, in `updated_after_block`'s block.
    after: Option<i64>,
    /// Refused: this list pages with its cursor.
    offset: Option<i64>,
}

/// Every recovery, oldest change first, after a cursor (`updated_block`, `id`): what a
/// follower such as the notifier reads to learn each initiation, attestation, quorum,
/// cancellation and finalization once.
async fn recoveries_updated(
    State(state): State<AppState>,
    Q(query): Q<UpdatedQuery>,
    Q(page): Q<Page>,
) -> ApiResult {
    if query.offset.is_some() {
        return Err(ApiError::bad_request(
            "this list pages with updated_after_block and after, not offset",
        ));
    }
    let (limit, _) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let rows: Vec<Recovery> = sqlx::query_as(&format!(
        "SELECT r.*, {} AS state FROM recoveries AS r
         WHERE (r.updated_block, r.id) > ($2, $3)
         ORDER BY r.updated_block, r.id LIMIT $4",
        state_sql()
    ))
    .bind(now)
    .bind(query.updated_after_block.unwrap_or(-1))
    .bind(query.after.unwrap_or(-1))
    .bind(limit)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = with_attestations(&mut s, rows, now).await?;
    Ok(s.answer(json!({
        "items": items,
        "limit": limit,
        "updated_after_block": query.updated_after_block,
        "after": query.after,
    })))
}

/// The query of [`rebinds`]: a follower's cursor.
#[derive(Debug, Deserialize)]
struct RebindQuery {
    /// Only rebinds of a later block, or of this block with a greater event index.
    after_block: Option<i64>,
    /// The event index of the last rebind of the previous page, in `after_block`.
    after_index: Option<i32>,
    /// Refused: this list pages with its cursor.
    offset: Option<i64>,
}

/// A `wallet_rebinds` row.
#[derive(sqlx::FromRow)]
struct RebindRow {
    identity: Vec<u8>,
    old_wallet: Vec<u8>,
    new_wallet: Vec<u8>,
    block_number: i64,
    block_hash: Vec<u8>,
    event_index: i32,
}

/// Wallet rebinds, in chain order: each finalized recovery (guardian or emergency) moved an
/// identity from its old wallet to a new one. The recovery ceremony follows this list.
async fn rebinds(
    State(state): State<AppState>,
    Q(query): Q<RebindQuery>,
    Q(page): Q<Page>,
) -> ApiResult {
    if query.offset.is_some() {
        return Err(ApiError::bad_request(
            "this list pages with after_block and after_index, not offset",
        ));
    }
    let (limit, _) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<RebindRow> = sqlx::query_as(
        "SELECT identity, old_wallet, new_wallet, block_number, block_hash, event_index
         FROM wallet_rebinds WHERE (block_number, event_index) > ($1, $2)
         ORDER BY block_number, event_index LIMIT $3",
    )
    .bind(query.after_block.unwrap_or(-1))
    .bind(query.after_index.unwrap_or(-1))
    .bind(limit)
    .fetch_all(&mut *s.tx)
    .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            json!({
                "identity": ss58(&r.identity),
                "old_wallet": ss58(&r.old_wallet),
                "new_wallet": ss58(&r.new_wallet),
                "block_number": r.block_number,
                "block_hash": format!("0x{}", hex::encode(r.block_hash)),
                "event_index": r.event_index,
            })
        })
        .collect();
    Ok(s.answer(json!({
        "items": items,
        "limit": limit,
        "after_block": query.after_block,
        "after_index": query.after_index,
    })))
}

/// The users who appointed this account as a guardian.
async fn guarding(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<GuardianRow> = sqlx::query_as(
        "SELECT * FROM guardians WHERE guardian = $1 ORDER BY \"user\" LIMIT $2 OFFSET $3",
    )
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|g| {
            json!({
                "user": ss58(&g.user),
                "kind": g.kind,
                "accepted_ms": g.accepted_ms,
                "last_seen_ms": g.last_seen_ms,
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use sqlx::PgPool;

    use crate::{
        api::testing::{all_bad_requests, get},
        project::{
            recovery::tests::{blocks, watched},
            testing::write,
        },
    };

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn guardians_and_recoveries_are_answered_with_their_states(pool: PgPool) {
        write(&pool, &watched(), &blocks()).await.unwrap();
        let wallet = |byte: u8| format!("0x{}", hex::encode([byte; 32]));

        let (status, set) = get(&pool, &format!("/accounts/{}/guardians", wallet(2))).await;
        assert_eq!(status, StatusCode::OK, "{set}");
        let data = &set["data"];
        assert_eq!(data["guardians"].as_array().unwrap().len(), 3);
        assert_eq!(data["active"], true);
        assert_eq!(data["unreachable"], false);

        let (_, old) = get(&pool, &format!("/accounts/{}/recoveries", wallet(1))).await;
        let states: Vec<&str> = old["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["cancelled", "finalized"]);
        let (_, one) = get(&pool, "/recoveries/1").await;
        assert_eq!(one["data"]["valid_attestations"], 2);
        assert_eq!(one["data"]["attestations"].as_array().unwrap().len(), 2);

        let (_, guarding) = get(&pool, &format!("/accounts/{}/guarding", wallet(13))).await;
        assert_eq!(guarding["data"]["items"][0]["kind"], "custodian");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn followers_page_recoveries_and_rebinds_by_their_cursors(pool: PgPool) {
        write(&pool, &watched(), &blocks()).await.unwrap();
        let (status, all) = get(&pool, "/recoveries").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let cursor = |r: &serde_json::Value| {
            (
                r["updated_block"].as_i64().unwrap(),
                r["id"].as_i64().unwrap(),
            )
        };
        let items = all["data"]["items"].as_array().unwrap().clone();
        assert!(items.len() >= 2, "{all}");
        let cursors: Vec<(i64, i64)> = items.iter().map(cursor).collect();
        let mut sorted = cursors.clone();
        sorted.sort();
        assert_eq!(cursors, sorted, "oldest change first");

        // A page of one, then the rest from its cursor: the same list, nothing twice.
        let (_, first) = get(&pool, "/recoveries?limit=1").await;
        let (block, id) = cursor(&first["data"]["items"][0]);
        let (_, rest) = get(
            &pool,
            &format!("/recoveries?updated_after_block={block}&after={id}"),
        )
        .await;
        let rest: Vec<(i64, i64)> = rest["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(cursor)
            .collect();
        assert_eq!(rest, cursors[1..]);

        for (number, index, old) in [(7_i64, 2_i32, 0x11_u8), (7, 5, 0x12), (9, 0, 0x13)] {
            sqlx::query(
                "INSERT INTO wallet_rebinds
                 (identity, old_wallet, new_wallet, block_number, block_hash, event_index)
                 VALUES ($1, $1, $2, $3, $4, $5)",
            )
            .bind(vec![old; 32])
            .bind(vec![old + 0x10; 32])
            .bind(number)
            .bind(vec![number as u8; 32])
            .bind(index)
            .execute(&pool)
            .await
            .unwrap();
        }
        let (status, page) = get(&pool, "/rebinds?after_block=7&after_index=2").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let seen: Vec<(i64, i64)> = page["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["block_number"].as_i64().unwrap(),
                    r["event_index"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(seen, [(7, 5), (9, 0)]);
        let wallet = |byte: u8| sdv_chain::AccountId::from([byte; 32]).to_string();
        assert_eq!(page["data"]["items"][0]["old_wallet"], wallet(0x12));
        assert_eq!(page["data"]["items"][0]["new_wallet"], wallet(0x22));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_recovery_queries_are_a_400(pool: PgPool) {
        all_bad_requests(
            &pool,
            &[
                "/recoveries/abc",
                "/recoveries?offset=3",
                "/recoveries?updated_after_block=x",
                "/rebinds?after_index=-",
                "/rebinds?offset=1",
                "/accounts/nobody/guardians",
                "/accounts/0x00/recoveries",
                "/accounts/5GrwvaEF/guarding",
            ],
        )
        .await;
        let (status, _) = get(&pool, "/recoveries/3").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
