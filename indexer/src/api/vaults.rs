//! Team vaults: a vault with its admins and their activity, its operations with their votes and
//! vetoes, the vaults an account administers, and operations by state across vaults.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use sdv_types::vault::{ACTIVE_QUORUM, ACTIVITY_WINDOW, EMERGENCY_INACTIVITY};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    account, number, one_of, ss58, ss58_opt, ApiError, ApiResult, AppState, Page, Snapshot, Q,
};
use crate::project::vaults::{AdminRow, OperationRow, VaultRow, VetoRow, VoteRow};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/vaults/{id}", get(vault))
        .route("/vaults/{id}/operations", get(operations_of_vault))
        .route("/vault-operations", get(operations))
        .route("/vault-operations/{id}", get(operation))
        .route("/accounts/{account}/vaults", get(vaults_of_account))
}

/// The states of an operation, as `VaultOperation::state` derives them.
const STATES: &[&str] = &[
    "voting", "defeated", "pending", "ready", "executed", "vetoed",
];

/// `VaultOperation::state` in SQL, at time `$1`.
const STATE_SQL: &str = "CASE WHEN executed_ms IS NOT NULL THEN 'executed'
     WHEN vetoed THEN 'vetoed'
     WHEN eta_ms IS NOT NULL THEN CASE WHEN $1 >= eta_ms THEN 'ready' ELSE 'pending' END
     WHEN admin_count - rejections < required THEN 'defeated'
     ELSE 'voting' END";

/// An operation row with its state.
#[derive(sqlx::FromRow)]
struct Operation {
    #[sqlx(flatten)]
    row: OperationRow,
    state: String,
}

/// Filters of the operation lists.
#[derive(Debug, Deserialize)]
struct OperationFilter {
    /// Only operations in this state (`ready`: what a keeper executes).
    state: Option<String>,
}

impl OperationFilter {
    fn state(&self) -> Result<Option<&str>, ApiError> {
        self.state
            .as_deref()
            .map(|s| one_of(s, "operation state", STATES))
            .transpose()
    }
}

/// A vault, its tier, its admins with their last activity, and what that activity allows.
async fn vault(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = number(&id, "vault id")?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let v: VaultRow = sqlx::query_as("SELECT * FROM vaults WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *s.tx)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no vault {id}")))?;
    let admins: Vec<AdminRow> =
        sqlx::query_as("SELECT * FROM vault_admins WHERE vault = $1 ORDER BY position")
            .bind(id)
            .fetch_all(&mut *s.tx)
            .await?;
    let tier: Option<String> = sqlx::query_scalar(
        "SELECT tier FROM account_tiers WHERE owner_kind = 'vault' AND owner = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *s.tx)
    .await?;
    let active_since = now.saturating_sub(i64::try_from(ACTIVITY_WINDOW).unwrap_or(i64::MAX));
    let emergency_since =
        now.saturating_sub(i64::try_from(EMERGENCY_INACTIVITY).unwrap_or(i64::MAX));
    let active = admins
        .iter()
        .filter(|a| a.last_active_ms >= active_since)
        .count();
    let admins_json: Vec<Value> = admins
        .iter()
        .map(|a| {
            json!({
                "admin": ss58(&a.admin),
                "last_active_ms": a.last_active_ms,
                "active": a.last_active_ms >= active_since,
            })
        })
        .collect();
    Ok(s.answer(json!({
        "id": v.id,
        "creator": ss58(&v.creator),
        "tier": tier.unwrap_or_else(|| "free".into()),
        "admins": admins_json,
        "active_admins": active,
        // Fewer than three admins active in 90 days: the vault only reads.
        "read_only": active < ACTIVE_QUORUM,
        // No admin active in 180 days: a 14-of-20 decision may grant emergency access.
        "emergency_eligible": admins.iter().all(|a| a.last_active_ms <= emergency_since),
        "emergency_access": v.emergency_grantee.as_deref().map(|grantee| json!({
            "grantee": ss58(grantee),
            "decision": v.emergency_decision,
        })),
        "created_ms": v.created_ms,
        "created_block": v.created_block,
        "updated_block": v.updated_block,
    })))
}

/// Operations with their votes and veto, in one query each.
async fn with_votes(s: &mut Snapshot, ops: Vec<Operation>) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = ops.iter().map(|o| o.row.id).collect();
    let votes: Vec<VoteRow> = sqlx::query_as(
        "SELECT * FROM vault_votes WHERE operation_id = ANY($1) ORDER BY block_number, admin",
    )
    .bind(&ids)
    .fetch_all(&mut *s.tx)
    .await?;
    let vetoes: Vec<VetoRow> =
        sqlx::query_as("SELECT * FROM vault_vetoes WHERE operation_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *s.tx)
            .await?;
    Ok(ops
        .into_iter()
        .map(|o| {
            let r = o.row;
            let votes: Vec<Value> = votes
                .iter()
                .filter(|v| v.operation_id == r.id)
                .map(|v| {
                    json!({
                        "admin": ss58(&v.admin),
                        "approve": v.approve,
                        "voted_ms": v.voted_ms,
                        "block_number": v.block_number,
                    })
                })
                .collect();
            let veto = vetoes.iter().find(|v| v.operation_id == r.id).map(|v| {
                json!({
                    "admin": ss58(&v.admin),
                    "reason": v.reason,
                    "vetoed_ms": v.vetoed_ms,
                    "block_number": v.block_number,
                })
            });
            json!({
                "id": r.id,
                "vault": r.vault,
                "proposer": ss58(&r.proposer),
                "kind": r.kind,
                "detail": r.detail.0,
                "state": o.state,
                "admin_count": r.admin_count,
                "required": r.required,
                "approvals": r.approvals,
                "rejections": r.rejections,
                "proposed_ms": r.proposed_ms,
                "eta_ms": r.eta_ms,
                "executed_ms": r.executed_ms,
                "executor": ss58_opt(r.executor.as_deref()),
                "token": r.token,
                "votes": votes,
                "veto": veto,
                "created_block": r.created_block,
                "updated_block": r.updated_block,
            })
        })
        .collect())
}

async fn operations_of_vault(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(filter): Q<OperationFilter>,
    Q(page): Q<Page>,
) -> ApiResult {
    let id = number(&id, "vault id")?;
    let wanted = filter.state()?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let ops: Vec<Operation> = sqlx::query_as(&format!(
        "SELECT * FROM (SELECT *, {STATE_SQL} AS state FROM vault_operations WHERE vault = $2) AS o
         WHERE $3::text IS NULL OR state = $3 ORDER BY id LIMIT $4 OFFSET $5"
    ))
    .bind(now)
    .bind(id)
    .bind(wanted)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = with_votes(&mut s, ops).await?;
    Ok(s.page(items, limit, offset))
}

/// Operations of every vault, optionally only those in a state.
async fn operations(
    State(state): State<AppState>,
    Q(filter): Q<OperationFilter>,
    Q(page): Q<Page>,
) -> ApiResult {
    let wanted = filter.state()?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let ops: Vec<Operation> = sqlx::query_as(&format!(
        "SELECT * FROM (SELECT *, {STATE_SQL} AS state FROM vault_operations) AS o
         WHERE $2::text IS NULL OR state = $2 ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(now)
    .bind(wanted)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = with_votes(&mut s, ops).await?;
    Ok(s.page(items, limit, offset))
}

async fn operation(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = number(&id, "operation id")?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let op: Operation = sqlx::query_as(&format!(
        "SELECT *, {STATE_SQL} AS state FROM vault_operations WHERE id = $2"
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *s.tx)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no vault operation {id}")))?;
    let mut items = with_votes(&mut s, vec![op]).await?;
    Ok(s.answer(items.pop().unwrap_or(Value::Null)))
}

/// The vaults an account is an admin of.
async fn vaults_of_account(
    State(state): State<AppState>,
    Path(who): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let who = account(&who)?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<(i64, i16, i64)> = sqlx::query_as(
        "SELECT vault, position, last_active_ms FROM vault_admins WHERE admin = $1
         ORDER BY vault LIMIT $2 OFFSET $3",
    )
    .bind(who.0.as_slice())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|(vault, position, last_active_ms)| {
            json!({ "vault": vault, "position": position, "last_active_ms": last_active_ms })
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
            testing::write,
            vaults::tests::{blocks, watched},
        },
    };

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_vault_its_admins_operations_votes_and_vetoes_are_answered(pool: PgPool) {
        write(&pool, &watched(), &blocks()).await.unwrap();

        let (status, vault) = get(&pool, "/vaults/1").await;
        assert_eq!(status, StatusCode::OK, "{vault}");
        let v = &vault["data"];
        assert_eq!(v["admins"].as_array().unwrap().len(), 4);
        assert_eq!(v["active_admins"], 4);
        assert_eq!(v["read_only"], false);
        assert_eq!(v["emergency_eligible"], false);
        assert_eq!(v["tier"], "free");

        let (_, executed) = get(&pool, "/vaults/1/operations?state=executed").await;
        let items = executed["data"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["kind"], "upload");
        assert_eq!(items[0]["token"], 12);
        assert_eq!(items[0]["votes"].as_array().unwrap().len(), 2);

        let (_, vetoed) = get(&pool, "/vault-operations?state=vetoed").await;
        assert_eq!(
            vetoed["data"]["items"][0]["veto"]["reason"],
            "unknown person"
        );
        let (_, one) = get(&pool, "/vault-operations/2").await;
        assert_eq!(one["data"]["state"], "executed");
        assert_eq!(
            one["data"]["detail"]["admin"],
            format!("0x{}", "04".repeat(32))
        );

        let (_, mine) = get(&pool, &format!("/accounts/0x{}/vaults", "04".repeat(32))).await;
        assert_eq!(mine["data"]["items"][0]["vault"], 1);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_vault_queries_are_a_400(pool: PgPool) {
        all_bad_requests(
            &pool,
            &[
                "/vaults/x",
                "/vaults/1/operations?state=approved",
                "/vault-operations?state=",
                "/vault-operations/1.5",
                "/accounts/0xzz/vaults",
            ],
        )
        .await;
        let (status, _) = get(&pool, "/vaults/9").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
