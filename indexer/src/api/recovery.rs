//! Guardian recovery: a user's guardians and recovery state, their recoveries with the
//! attestations, and the users an account guards.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use sdv_types::recovery::{ATTESTATION_TTL, GUARDIANS, UNREACHABLE_AFTER};
use serde_json::{json, Value};

use super::{account, number, ss58, ApiError, ApiResult, AppState, Page, Snapshot, Q};
use crate::project::recovery::{AttestationRow, GuardianRow, RecoveryRow};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/accounts/{account}/guardians", get(guardians))
        .route("/accounts/{account}/recoveries", get(recoveries_of_user))
        .route("/accounts/{account}/guarding", get(guarding))
        .route("/recoveries/{id}", get(recovery))
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
    async fn malformed_recovery_queries_are_a_400(pool: PgPool) {
        all_bad_requests(
            &pool,
            &[
                "/recoveries/abc",
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
