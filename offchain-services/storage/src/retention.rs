//! The retention scheduler (spec section 6).
//!
//! Each pass, at the chain's time (the finalized time the indexer reports, so a moved node
//! clock moves it too):
//! 1. a document whose expiry is within 30 days gets its notice recorded on-chain
//!    (`notice_deletion`, by the retention executor through the relayer's outbox), unless it
//!    has (or asked for) an Arweave copy: Arweave copies cannot be deleted, so such a document
//!    is kept, and its owner told so once its retention has run out;
//! 2. a document whose deletion is scheduled gets the notice sent through the notification
//!    service (mail and push): its name, upload date, retention policy and deletion date;
//! 3. a document whose deletion is due is checked once more on the chain itself (still
//!    scheduled and due, neither permanent nor copied to Arweave: an extension cancels the
//!    deletion), its object reference is released (S3 deletes the object when no other document
//!    uses it), and only then is the deletion confirmed on-chain (`confirm_deletion`);
//! 4. an upload whose retention the chain raised to its class's floor is notified
//!    (`retention_upgraded`), and so is each guardian a user named and who has not accepted
//!    yet (`guardian_request`);
//! 5. idle uploads expire, references of refused mints are released, and vault uploads the
//!    vault decided on are moved to `docs/` or removed ([`crate::vaults`]).
//!
//! Every step is recorded once (`storage_retention_steps`), so a pass can crash anywhere and
//! the next one continues.

use std::time::Duration;

use sdv_chain::CallData;
use sdv_types::document::RetentionOption;
use serde_json::{json, Value};

use crate::{
    objects, parse_account, parse_hash, read::indexer_get, upload, ApiError, ApiResult, AppState,
};

/// Notices are recorded this long before expiry, and deletion waits at least this long.
pub const NOTICE_PERIOD_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Runs a pass every `every` until the process stops.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match pass(&state).await {
            Ok(report) if report != Report::default() => tracing::info!(?report, "retention pass"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.message, "retention pass failed; the next one retries")
            }
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Notices enqueued on-chain.
    pub noticed: usize,
    /// Notices sent to owners.
    pub notified: usize,
    /// Documents deleted.
    pub deleted: usize,
    /// Retention upgrades notified.
    pub upgrades: usize,
    /// Uploads expired.
    pub expired: usize,
    /// References of refused mints released.
    pub refused: usize,
    /// Guardians asked to accept.
    pub guardian_requests: usize,
    /// Documents whose retention ran out but whose permanent Arweave copy keeps them.
    pub kept_arweave: usize,
    /// Vault uploads settled (moved to `docs/` or removed).
    pub vaults: crate::vaults::Settled,
}

async fn step_done(state: &AppState, step: &str) -> ApiResult<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM storage_retention_steps WHERE step = $1)")
            .bind(step)
            .fetch_one(state.pool())
            .await?,
    )
}

async fn mark_done(state: &AppState, step: &str, token_id: i64) -> ApiResult<()> {
    sqlx::query("INSERT INTO storage_retention_steps (step, token_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(step)
        .bind(token_id)
        .execute(state.pool())
        .await?;
    Ok(())
}

/// Enqueues a retention executor call once under `key`.
async fn enqueue_executor(state: &AppState, key: &str, call: CallData) -> ApiResult<bool> {
    let mut conn = state.pool().acquire().await?;
    sdv_relayer::outbox::enqueue(
        &mut conn,
        key,
        state.executor(),
        &state.config().document_nft,
        &call.into_bytes(),
    )
    .await
    .map_err(|e| ApiError::unavailable("the outbox", e))
}

fn items(page: Option<Value>) -> Vec<Value> {
    page.and_then(|p| p["items"].as_array().cloned())
        .unwrap_or_default()
}

/// The UTC calendar date (`YYYY-MM-DD`) of a time in ms since the Unix epoch.
pub fn date(ms: i64) -> String {
    // A civil date from days since the epoch (Howard Hinnant's algorithm), no time zone.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn retention_words(name: &str) -> &'static str {
    match name {
        "minimum" => "Minimum (1 year)",
        "standard" => "Standard (3 years)",
        "extended" => "Extended (5 years)",
        "regulatory_us_tax" => "Regulatory, US tax (7 years)",
        "long_term" => "Long-term (10 years)",
        "indefinite" => "Indefinite (no expiry)",
        "permanent" => "Permanent (Arweave)",
        _ => "unknown",
    }
}

/// The name and upload time of the upload that stored `sha`.
async fn upload_facts(
    state: &AppState,
    sha: &[u8; 32],
) -> ApiResult<(Option<String>, Option<i64>)> {
    let row: Option<(Option<String>, i64)> = sqlx::query_as(
        "SELECT name, (extract(epoch FROM finished_at) * 1000)::BIGINT FROM storage_uploads
         WHERE sha256 = $1 AND state = 'stored' ORDER BY finished_at LIMIT 1",
    )
    .bind(&sha[..])
    .fetch_optional(state.pool())
    .await?;
    Ok(row.map_or((None, None), |(n, t)| (n, Some(t))))
}

/// What a notice says about document `id`: its name, upload date, retention policy and token.
async fn document_facts(
    state: &AppState,
    id: i64,
    sha: &[u8; 32],
    document: &Value,
) -> ApiResult<Vec<(String, String)>> {
    let (name, uploaded) = upload_facts(state, sha).await?;
    let retention = document["retention"].as_str().unwrap_or_default();
    Ok(vec![
        (
            "Document".to_owned(),
            name.unwrap_or_else(|| format!("document {id}")),
        ),
        (
            "Uploaded".to_owned(),
            uploaded.map_or_else(|| format!("block {}", document["minted_block"]), date),
        ),
        (
            "Retention policy".to_owned(),
            retention_words(retention).to_owned(),
        ),
        ("Token".to_owned(), id.to_string()),
    ])
}

/// Tells the owner, once per expiry, that document `id`'s retention ran out but its Arweave
/// copy keeps it: nothing is deleted, not even the S3 copy (the chain refuses the deletion of a
/// document with an Arweave copy). True when it was told now.
async fn keep_for_arweave(
    state: &AppState,
    id: i64,
    expiry: i64,
    document: &Value,
) -> ApiResult<bool> {
    let step = format!("kept-arweave:{id}:{expiry}");
    if step_done(state, &step).await? {
        return Ok(false);
    }
    let Some(sha) = document["sha256"].as_str().and_then(parse_hash) else {
        return Ok(false);
    };
    if let Some(account) = account_hex(&document["owner_wallet"]) {
        let mut facts = document_facts(state, id, &sha, document).await?;
        facts.insert(3, ("Retention ended".to_owned(), date(expiry)));
        let tx = document["arweave"]["tx"]
            .as_str()
            .and_then(parse_hash)
            .map_or_else(
                || "requested, not yet posted".to_owned(),
                |tx| sdv_arweave::b64url_encode(&tx),
            );
        facts.push(("Arweave transaction".to_owned(), tx));
        facts.push((
            "Kept".to_owned(),
            "Arweave copies are permanent and cannot be deleted; the document is not deleted."
                .to_owned(),
        ));
        notify(
            state,
            &step,
            &account,
            "retention_kept_arweave",
            &format!("Document {id} is kept: its Arweave copy is permanent"),
            facts,
        )
        .await?;
    }
    mark_done(state, &step, id).await?;
    tracing::info!(
        id,
        expiry,
        "retention ended; kept for its permanent Arweave copy"
    );
    Ok(true)
}

/// Asks the notification service to notify `account`, once per `key`. An account without a
/// contact is not an error (`Ok(false)`): the notice is on-chain and in the indexer either way.
async fn notify(
    state: &AppState,
    key: &str,
    account: &str,
    kind: &str,
    subject: &str,
    facts: Vec<(String, String)>,
) -> ApiResult<bool> {
    let config = state.config();
    let body = json!({
        "idempotency_key": key,
        "account": account,
        "kind": kind,
        "subject": subject,
        "facts": facts.into_iter().map(|(l, v)| json!([l, v])).collect::<Vec<_>>(),
    });
    let api_key = config
        .notify_api_key
        .expose_str()
        .map_err(|e| ApiError::unavailable("the notification service", e))?;
    let response = state
        .http()
        .post(format!("{}/v1/notices", config.notify_url))
        .header("x-api-key", api_key)
        .json(&body)
        .send()
        .await
        .map_err(|e| ApiError::unavailable("the notification service", e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(true);
    }
    let body: Value = response.json().await.unwrap_or_default();
    if status == reqwest::StatusCode::CONFLICT && body["code"] == "no_contact" {
        tracing::info!(account, kind, "no contact to notify");
        return Ok(false);
    }
    Err(ApiError::unavailable(
        "the notification service",
        format!("{status}: {body}"),
    ))
}

fn account_hex(wallet: &Value) -> Option<String> {
    wallet
        .as_str()
        .and_then(parse_account)
        .map(|a| format!("0x{}", hex::encode(a.0)))
}

/// One pass of the scheduler.
pub async fn pass(state: &AppState) -> ApiResult<Report> {
    let mut report = Report {
        expired: upload::expire_idle(state).await?,
        refused: objects::release_refused(state).await?,
        vaults: crate::vaults::settle(state).await?,
        ..Report::default()
    };
    // The chain's time: the finalized block's, as the indexer last saw it.
    let now = chain_time(state).await?;

    // 1. Notices on-chain for what expires within 30 days.
    let expiring = items(
        indexer_get(
            state,
            &format!(
                "/documents/due?from_ms=0&to_ms={}&due=expiry&limit=500",
                now + NOTICE_PERIOD_MS
            ),
        )
        .await?,
    );
    for item in &expiring {
        let document = &item["document"];
        let (Some(id), Some(expiry)) = (
            document["token_id"].as_i64(),
            document["expiry_ms"].as_i64(),
        ) else {
            continue;
        };
        if document["retention"] == "permanent" {
            continue;
        }
        if document["arweave"]["tx"].is_string() || document["arweave"]["requested"] == true {
            // Arweave copies cannot be deleted: the document is kept, and its owner told so
            // once its retention runs out.
            if expiry <= now && keep_for_arweave(state, id, expiry, document).await? {
                report.kept_arweave += 1;
            }
            continue;
        }
        let key = format!("notice:{id}:{expiry}");
        if enqueue_executor(
            state,
            &key,
            CallData::message("notice_deletion").arg(&(id as u64)),
        )
        .await?
        {
            report.noticed += 1;
        }
    }

    // 2 and 3. Scheduled deletions: tell the owner, then delete what is due.
    let scheduled = items(
        indexer_get(
            state,
            &format!(
                "/documents/due?from_ms=0&to_ms={}&due=deletion&limit=500",
                i64::MAX
            ),
        )
        .await?,
    );
    for item in &scheduled {
        let document = &item["document"];
        let (Some(id), Some(due), Some(sha)) = (
            document["token_id"].as_i64(),
            document["deletion_due_ms"].as_i64(),
            document["sha256"].as_str().and_then(parse_hash),
        ) else {
            continue;
        };
        let notice_step = format!("notified:{id}:{due}");
        if !step_done(state, &notice_step).await? {
            if let Some(account) = account_hex(&document["owner_wallet"]) {
                let mut facts = document_facts(state, id, &sha, document).await?;
                facts.insert(3, ("Scheduled deletion".to_owned(), date(due)));
                notify(
                    state,
                    &notice_step,
                    &account,
                    "deletion_notice",
                    &format!("Document {id} will be deleted on {}", date(due)),
                    facts,
                )
                .await?;
            }
            mark_done(state, &notice_step, id).await?;
            report.notified += 1;
        }
        if due > now {
            tracing::debug!(id, due, now, "deletion not due yet");
            continue;
        }
        let delete_step = format!("delete:{id}:{due}");
        if step_done(state, &delete_step).await? {
            continue;
        }
        // The chain decides, not the mirror: an extension may have cancelled the deletion.
        let Some(on_chain) = state.documents().document(id as u64).await? else {
            continue;
        };
        let still_due = on_chain
            .deletion
            .is_some_and(|d| d.due <= now as u64 && d.due == due as u64)
            && on_chain.deleted_at.is_none()
            && on_chain.retention != RetentionOption::Permanent
            && on_chain.replicas.arweave.is_none();
        if !still_due {
            tracing::debug!(id, due, now, deletion = ?on_chain.deletion, "the chain does not have this deletion due");
            continue;
        }
        objects::release_document(state, &sha, &format!("retention deletion of document {id}"))
            .await?;
        enqueue_executor(
            state,
            &delete_step,
            CallData::message("confirm_deletion").arg(&(id as u64)),
        )
        .await?;
        mark_done(state, &delete_step, id).await?;
        report.deleted += 1;
    }

    // 4. Retention raised to a floor at mint.
    report.upgrades = notify_upgrades(state).await?;
    // 5. Guardians asked to accept.
    report.guardian_requests = notify_guardian_requests(state).await?;
    Ok(report)
}

/// Tells each guardian a user of this gateway named, and who has not accepted yet, that the
/// user asks them to (once per user and guardian).
async fn notify_guardian_requests(state: &AppState) -> ApiResult<usize> {
    let users: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT account FROM storage_sessions UNION SELECT account FROM storage_uploads",
    )
    .fetch_all(state.pool())
    .await?;
    let mut sent = 0;
    for user in users {
        let user = format!("0x{}", hex::encode(&user));
        let Some(set) = indexer_get(state, &format!("/accounts/{user}/guardians")).await? else {
            continue;
        };
        for guardian in set["guardians"].as_array().into_iter().flatten() {
            if !guardian["accepted_ms"].is_null() {
                continue;
            }
            let Some(account) = account_hex(&guardian["guardian"]) else {
                continue;
            };
            let step = format!("guardian-request:{user}:{account}");
            if step_done(state, &step).await? {
                continue;
            }
            let facts = vec![
                ("User".to_owned(), user.clone()),
                (
                    "Guardian kind".to_owned(),
                    guardian["kind"].as_str().unwrap_or_default().to_owned(),
                ),
                (
                    "To accept".to_owned(),
                    format!("sdv guardians accept {user}"),
                ),
            ];
            if notify(
                state,
                &step,
                &account,
                "guardian_request",
                "You were named a recovery guardian",
                facts,
            )
            .await?
            {
                sent += 1;
            }
            mark_done(state, &step, 0).await?;
        }
    }
    Ok(sent)
}

/// The finalized chain time the indexer reports (ms).
pub async fn chain_time(state: &AppState) -> ApiResult<i64> {
    let url = format!("{}/health", state.config().indexer_url);
    let body: Value = state
        .http()
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| ApiError::unavailable("the indexer", e))?
        .json()
        .await
        .map_err(|e| ApiError::unavailable("the indexer", e))?;
    body["at_time_ms"]
        .as_i64()
        .ok_or_else(|| ApiError::unavailable("the indexer", "it has indexed no block yet"))
}

async fn notify_upgrades(state: &AppState) -> ApiResult<usize> {
    let rows: Vec<(String, Vec<u8>, String, Option<String>)> = sqlx::query_as(
        "SELECT u.id, u.sha256, u.retention, u.name FROM storage_uploads u
         JOIN relayer_outbox o ON o.idempotency_key = u.mint_key
         WHERE u.state = 'stored' AND NOT u.upgrade_checked AND o.status = 'finalized'",
    )
    .fetch_all(state.pool())
    .await?;
    let mut sent = 0;
    for (id, sha, chosen, name) in rows {
        let Some(document) = indexer_get(
            state,
            &format!("/documents/by-sha256/{}", hex::encode(&sha)),
        )
        .await?
        else {
            continue; // not indexed yet
        };
        let applied = document["retention"].as_str().unwrap_or_default();
        if applied != chosen {
            if let Some(account) = account_hex(&document["owner_wallet"]) {
                let token = document["token_id"].as_i64().unwrap_or_default();
                let facts = vec![
                    (
                        "Document".to_owned(),
                        name.unwrap_or_else(|| format!("document {token}")),
                    ),
                    (
                        "Class".to_owned(),
                        document["class"].as_str().unwrap_or_default().to_owned(),
                    ),
                    (
                        "Chosen retention".to_owned(),
                        retention_words(&chosen).to_owned(),
                    ),
                    (
                        "Applied retention".to_owned(),
                        retention_words(applied).to_owned(),
                    ),
                    (
                        "Expires".to_owned(),
                        document["expiry_ms"]
                            .as_i64()
                            .map_or_else(|| "never".to_owned(), date),
                    ),
                ];
                if notify(
                    state,
                    &format!("upgrade:{id}"),
                    &account,
                    "retention_upgraded",
                    &format!("Retention of document {token} raised to its regulatory minimum"),
                    facts,
                )
                .await?
                {
                    sent += 1;
                }
            }
        }
        sqlx::query("UPDATE storage_uploads SET upgrade_checked = true WHERE id = $1")
            .bind(&id)
            .execute(state.pool())
            .await?;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date(1_767_225_600_000), "2026-01-01");
    }
}
