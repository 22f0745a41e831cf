//! Missed heartbeats: a node silent for longer than the stale threshold fires one
//! `missed_heartbeat` alert per episode; its next heartbeat resolves it.

use std::time::Duration;

use serde_json::json;

use crate::{
    store::{self, rules, HQ},
    AppState, Result,
};

/// Fires `missed_heartbeat` for every node whose last heartbeat (or registration, before the
/// first) is older than the stale threshold and that has no open one; answers those nodes.
pub async fn check_heartbeats(state: &AppState) -> Result<Vec<String>> {
    let stale_ms = i64::try_from(state.heartbeat_stale.as_millis()).unwrap_or(i64::MAX);
    let fired: Vec<String> = sqlx::query_scalar(
        "INSERT INTO hq_alerts (rule, node_id, subject, detail)
         SELECT 'missed_heartbeat', n.node_id, n.node_id,
                jsonb_build_object('last_heartbeat', h.last, 'stale_ms', $1::bigint)
         FROM hq_nodes n
         LEFT JOIN LATERAL (SELECT max(at) AS last FROM hq_validator_heartbeats hb
                            WHERE hb.node_id = n.node_id) h ON true
         WHERE coalesce(h.last, n.created_at) < now() - $1 * interval '1 millisecond'
           AND EXISTS (SELECT 1 FROM hq_alert_rules WHERE name = 'missed_heartbeat' AND enabled)
         ON CONFLICT (node_id) WHERE rule = 'missed_heartbeat' AND resolved_at IS NULL
         DO NOTHING
         RETURNING node_id",
    )
    .bind(stale_ms)
    .fetch_all(&state.pool)
    .await?;
    for node_id in &fired {
        store::audit(
            &state.pool,
            HQ,
            "alert-fired",
            Some(node_id),
            json!({ "rule": rules::MISSED_HEARTBEAT, "stale_ms": stale_ms }),
        )
        .await?;
    }
    Ok(fired)
}

/// Resolves `node_id`'s open `missed_heartbeat` alert after a heartbeat; answers how many.
pub async fn heartbeat_seen(state: &AppState, node_id: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE hq_alerts SET resolved_at = now()
         WHERE rule = 'missed_heartbeat' AND node_id = $1 AND resolved_at IS NULL",
    )
    .bind(node_id)
    .execute(&state.pool)
    .await?
    .rows_affected())
}

/// Checks heartbeats every `every`, forever; failures are logged and retried next time.
pub async fn run(state: AppState, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match check_heartbeats(&state).await {
            Ok(fired) if !fired.is_empty() => {
                tracing::warn!(nodes = ?fired, "missed heartbeats");
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "checking heartbeats"),
        }
    }
}
