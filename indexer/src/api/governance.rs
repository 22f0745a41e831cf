//! Governance: the validators, proposals with their votes and contests, the parameters in
//! force and the approved releases.

use axum::{
    extract::{Path, State},
    routing::get,
    Router,
};
use sdv_types::governance::VALIDATOR_COUNT;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{number, one_of, ss58, ss58_opt, ApiError, ApiResult, AppState, Page, Snapshot, Q};
use crate::project::governance::{
    ContestRow, ParameterRow, ProposalRow, ReleaseRow, ValidatorRow, VoteRow,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/governance/validators", get(validators))
        .route("/governance/proposals", get(proposals))
        .route("/governance/proposals/{id}", get(proposal))
        .route("/governance/proposals/{id}/votes", get(votes))
        .route("/parameters", get(parameters))
        .route("/releases", get(releases))
}

/// The states of a proposal, as `Proposal::state` derives them.
const STATES: &[&str] = &[
    "active", "queued", "ready", "defeated", "expired", "executed",
];

/// `Proposal::state` in SQL, at time `$1`.
fn state_sql() -> String {
    format!(
        "CASE WHEN executed_ms IS NOT NULL THEN 'executed'
              WHEN $1 > deadline_ms THEN 'expired'
              WHEN yes >= threshold THEN CASE WHEN $1 >= eta_ms THEN 'ready' ELSE 'queued' END
              WHEN no > {VALIDATOR_COUNT} - threshold THEN 'defeated'
              ELSE 'active' END"
    )
}

/// A proposal row with its state.
#[derive(sqlx::FromRow)]
struct Proposal {
    #[sqlx(flatten)]
    row: ProposalRow,
    state: String,
}

fn proposal_json(p: Proposal) -> Value {
    let r = p.row;
    json!({
        "id": r.id,
        "proposer": ss58(&r.proposer),
        "kind": r.kind,
        "detail": r.detail.0,
        "threshold": r.threshold,
        "state": p.state,
        "yes": r.yes,
        "no": r.no,
        "round": r.round,
        "created_ms": r.created_ms,
        "eta_ms": r.eta_ms,
        "deadline_ms": r.deadline_ms,
        "contested_ms": r.contested_ms,
        "executed_ms": r.executed_ms,
        "executor": ss58_opt(r.executor.as_deref()),
        "created_block": r.created_block,
        "updated_block": r.updated_block,
    })
}

fn vote_json(v: VoteRow) -> Value {
    json!({
        "proposal_id": v.proposal_id,
        "round": v.round,
        "validator": ss58(&v.validator),
        "approve": v.approve,
        "voted_ms": v.voted_ms,
        "block_number": v.block_number,
    })
}

async fn validators(State(state): State<AppState>, Q(page): Q<Page>) -> ApiResult {
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<ValidatorRow> =
        sqlx::query_as("SELECT * FROM validators ORDER BY account LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *s.tx)
            .await?;
    let items = rows
        .into_iter()
        .map(|v| json!({ "account": ss58(&v.account), "since_block": v.since_block }))
        .collect();
    Ok(s.page(items, limit, offset))
}

/// Filters of [`proposals`].
#[derive(Debug, Deserialize)]
struct ProposalFilter {
    state: Option<String>,
    kind: Option<String>,
}

/// Proposals by id, optionally only those in a state (`ready`: what a keeper executes) or of
/// a kind.
async fn proposals(
    State(state): State<AppState>,
    Q(filter): Q<ProposalFilter>,
    Q(page): Q<Page>,
) -> ApiResult {
    let wanted = filter
        .state
        .as_deref()
        .map(|s| one_of(s, "proposal state", STATES))
        .transpose()?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let rows: Vec<Proposal> = sqlx::query_as(&format!(
        "SELECT * FROM (SELECT *, {} AS state FROM governance_proposals) AS p
         WHERE ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR kind = $3)
         ORDER BY id LIMIT $4 OFFSET $5",
        state_sql()
    ))
    .bind(now)
    .bind(wanted)
    .bind(filter.kind.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    Ok(s.page(rows.into_iter().map(proposal_json).collect(), limit, offset))
}

/// A proposal with the votes of its current round and its contests.
async fn proposal(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = number(&id, "proposal id")?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let now = s.now_ms();
    let p: Proposal = sqlx::query_as(&format!(
        "SELECT *, {} AS state FROM governance_proposals WHERE id = $2",
        state_sql()
    ))
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *s.tx)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no proposal {id}")))?;
    let votes: Vec<VoteRow> = sqlx::query_as(
        "SELECT * FROM governance_votes WHERE proposal_id = $1 AND round = $2
         ORDER BY block_number, validator",
    )
    .bind(id)
    .bind(p.row.round)
    .fetch_all(&mut *s.tx)
    .await?;
    let contests: Vec<ContestRow> =
        sqlx::query_as("SELECT * FROM governance_contests WHERE proposal_id = $1 ORDER BY round")
            .bind(id)
            .fetch_all(&mut *s.tx)
            .await?;
    let mut data = proposal_json(p);
    data["votes"] = votes.into_iter().map(vote_json).collect();
    data["contests"] = contests
        .into_iter()
        .map(|c| {
            json!({
                "round": c.round,
                "contester": ss58(&c.contester),
                "reason": c.reason,
                "contested_ms": c.contested_ms,
                "block_number": c.block_number,
            })
        })
        .collect();
    Ok(s.answer(data))
}

/// Every vote on a proposal, all rounds, in chain order.
async fn votes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Q(page): Q<Page>,
) -> ApiResult {
    let id = number(&id, "proposal id")?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<VoteRow> = sqlx::query_as(
        "SELECT * FROM governance_votes WHERE proposal_id = $1
         ORDER BY block_number, round, validator LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    Ok(s.page(rows.into_iter().map(vote_json).collect(), limit, offset))
}

/// Filter of [`parameters`].
#[derive(Debug, Deserialize)]
struct ParameterFilter {
    /// Only names that start with it (`tier_params/`, `role/`).
    prefix: Option<String>,
}

/// The parameters in force, by name.
async fn parameters(
    State(state): State<AppState>,
    Q(filter): Q<ParameterFilter>,
    Q(page): Q<Page>,
) -> ApiResult {
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<ParameterRow> = sqlx::query_as(
        "SELECT * FROM parameters WHERE starts_with(name, $1)
         ORDER BY name LIMIT $2 OFFSET $3",
    )
    .bind(filter.prefix.unwrap_or_default())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|p| {
            json!({
                "name": p.name,
                "value": p.value.0,
                "updated_ms": p.updated_ms,
                "updated_block": p.updated_block,
            })
        })
        .collect();
    Ok(s.page(items, limit, offset))
}

/// Filters of [`releases`].
#[derive(Debug, Deserialize)]
struct ReleaseFilter {
    image: Option<String>,
    track: Option<String>,
}

/// Approved releases per image and track, the newest first.
async fn releases(
    State(state): State<AppState>,
    Q(filter): Q<ReleaseFilter>,
    Q(page): Q<Page>,
) -> ApiResult {
    let track = filter
        .track
        .as_deref()
        .map(|t| one_of(t, "track", &["devnet", "testnet", "mainnet"]))
        .transpose()?;
    let (limit, offset) = page.checked()?;
    let mut s = Snapshot::begin(&state.pool).await?;
    let rows: Vec<ReleaseRow> = sqlx::query_as(
        "SELECT * FROM releases
         WHERE ($1::text IS NULL OR image = $1) AND ($2::text IS NULL OR track = $2)
         ORDER BY image, track, number DESC LIMIT $3 OFFSET $4",
    )
    .bind(filter.image.as_deref())
    .bind(track)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *s.tx)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            json!({
                "proposal_id": r.proposal_id,
                "image": r.image,
                "track": r.track,
                "number": r.number,
                "tag": r.tag,
                "digest": format!("sha256:{}", hex::encode(&r.digest)),
                "approved_ms": r.approved_ms,
                "block_number": r.block_number,
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
            governance::tests::{release_blocks, watched},
            testing::write,
        },
    };

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn proposals_votes_parameters_and_releases_are_answered(pool: PgPool) {
        write(&pool, &watched(), &release_blocks()).await.unwrap();

        let (status, list) = get(&pool, "/governance/proposals?state=executed").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["at_block"], 4);
        assert_eq!(list["data"]["items"][0]["kind"], "approve_release");
        let (_, none) = get(&pool, "/governance/proposals?state=ready").await;
        assert_eq!(none["data"]["items"].as_array().unwrap().len(), 0);

        let (_, one) = get(&pool, "/governance/proposals/0").await;
        let p = &one["data"];
        assert_eq!((p["yes"].as_i64(), p["no"].as_i64()), (Some(7), Some(1)));
        assert_eq!(p["state"], "executed");
        assert_eq!(p["votes"].as_array().unwrap().len(), 8);
        let (_, page) = get(&pool, "/governance/proposals/0/votes?limit=3&offset=6").await;
        assert_eq!(page["data"]["items"].as_array().unwrap().len(), 2);

        let (_, releases) = get(
            &pool,
            "/releases?image=validator-update-agent&track=testnet",
        )
        .await;
        let release = &releases["data"]["items"][0];
        assert_eq!(
            (release["tag"].as_str(), release["number"].as_i64()),
            (Some("1.4.3"), Some(3))
        );
        assert_eq!(release["digest"], format!("sha256:{}", "03".repeat(32)));
        let (_, other) = get(&pool, "/releases?track=mainnet").await;
        assert_eq!(other["data"]["items"].as_array().unwrap().len(), 0);

        let (_, tiers) = get(&pool, "/parameters?prefix=tier_params/").await;
        assert_eq!(tiers["data"]["items"].as_array().unwrap().len(), 4);
        let (_, validators) = get(&pool, "/governance/validators?limit=5").await;
        assert_eq!(validators["data"]["items"].as_array().unwrap().len(), 5);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_governance_queries_are_a_400(pool: PgPool) {
        all_bad_requests(
            &pool,
            &[
                "/governance/proposals?state=passed",
                "/governance/proposals?limit=ten",
                "/governance/proposals/x",
                "/governance/proposals/-4/votes",
                "/releases?track=beta",
                "/parameters?offset=-1",
                "/governance/validators?limit=501",
            ],
        )
        .await;
        let (status, _) = get(&pool, "/governance/proposals/7").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
