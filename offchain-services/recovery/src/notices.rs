//! Recovery notices: the owner and the guardians are told when a recovery of the owner's
//! wallet is initiated, attested, cancellable (with the deadline), finalized or cancelled, so
//! the owner can cancel one they did not ask for before the 24-hour timelock ends.
//!
//! The notifier follows the indexer's `/recoveries` list by its cursor (updated block, id)
//! and posts each notice under an idempotency key naming the recovery, the event and the
//! recipient: the notification service accepts each once, so a restart re-posting a page
//! sends nothing twice. An account without a contact is skipped.

use sdv_notify::{Account, Client, IdempotencyKey, Kind, Notice};
use sdv_storage::error::{ApiError, ApiResult};
use sdv_types::recovery::QUORUM;
use serde_json::Value;

use crate::{account_bytes, AppState};

/// Follows the recoveries every `poll` until the process ends.
pub async fn run(state: AppState) {
    let client = match Client::new(
        state.config().notify_url.clone(),
        &state.config().notify_api_key,
    ) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(%e, "the notification client cannot be built; no recovery notices");
            return;
        }
    };
    loop {
        if let Err(e) = pass(&state, &client).await {
            tracing::warn!(error = %e.message, "recovery notices: pass failed; retrying");
        }
        tokio::time::sleep(state.config().poll).await;
    }
}

/// One pass over the recoveries changed since the cursor.
pub async fn pass(state: &AppState, client: &Client) -> ApiResult<usize> {
    let mut sent = 0;
    loop {
        let (block, after): (i64, i64) = sqlx::query_as(
            "SELECT block_number, position FROM recovery_cursors WHERE name = 'recoveries'",
        )
        .fetch_optional(state.pool())
        .await?
        .unwrap_or((-1, -1));
        let page = state
            .indexer(&format!(
                "/recoveries?updated_after_block={block}&after={after}&limit=100"
            ))
            .await?
            .unwrap_or_default();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let Some(last) = items.last() else {
            return Ok(sent);
        };
        for recovery in &items {
            sent += notify_recovery(state, client, recovery).await?;
        }
        sqlx::query(
            "INSERT INTO recovery_cursors (name, block_number, position) VALUES ('recoveries', $1, $2)
             ON CONFLICT (name) DO UPDATE SET block_number = $1, position = $2",
        )
        .bind(last["updated_block"].as_i64().unwrap_or_default())
        .bind(last["id"].as_i64().unwrap_or_default())
        .execute(state.pool())
        .await?;
        if items.len() < 100 {
            return Ok(sent);
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!(
        "{} {:02}:{:02} UTC",
        sdv_storage::retention::date(ms),
        minutes / 60,
        minutes % 60
    )
}

/// A notice to send, to each of `to`.
struct Pending {
    event: String,
    kind: Kind,
    subject: String,
    facts: Vec<(String, String)>,
    to: Vec<[u8; 32]>,
}

/// The notices one recovery's current state calls for; returns how many were accepted.
async fn notify_recovery(state: &AppState, client: &Client, r: &Value) -> ApiResult<usize> {
    let id = r["id"].as_i64().unwrap_or_default();
    let (Some(user), Some(new_wallet)) =
        (account_bytes(&r["user"]), account_bytes(&r["new_wallet"]))
    else {
        return Err(ApiError::unavailable(
            "the indexer",
            format!("a malformed recovery {r}"),
        ));
    };
    // The guardians are the user's until the recovery is finalized, then the new wallet's.
    let mut guardians = Vec::new();
    for holder in [user, new_wallet] {
        let set = state
            .indexer(&format!("/accounts/0x{}/guardians", hex::encode(holder)))
            .await?
            .unwrap_or_default();
        for g in set["guardians"].as_array().into_iter().flatten() {
            if let Some(g) = account_bytes(&g["guardian"]) {
                if !guardians.contains(&g) {
                    guardians.push(g);
                }
            }
        }
    }
    let mut everyone = vec![user];
    everyone.extend(guardians.iter().copied());

    let user_hex = format!("0x{}", hex::encode(user));
    let new_hex = format!("0x{}", hex::encode(new_wallet));
    let cancel =
        format!("sdv guardians cancel {id} (signed by the wallet being recovered, {user_hex})");
    let base = vec![
        ("Recovery".to_owned(), id.to_string()),
        ("Wallet being recovered".to_owned(), user_hex.clone()),
        ("New wallet".to_owned(), new_hex.clone()),
    ];
    let mut notices: Vec<Pending> = Vec::new();

    let mut initiated = base.clone();
    initiated.push((
        "Initiated by".to_owned(),
        r["initiator"].as_str().unwrap_or_default().to_owned(),
    ));
    if let Some(ms) = r["initiated_ms"].as_i64() {
        initiated.push(("Initiated at".to_owned(), utc(ms)));
    }
    initiated.push(("If you did not ask for it".to_owned(), cancel.clone()));
    notices.push(Pending {
        event: "initiated".to_owned(),
        kind: Kind::RecoveryInitiated,
        subject: "A recovery of your wallet was initiated".to_owned(),
        facts: initiated,
        to: everyone.clone(),
    });

    let initiator = account_bytes(&r["initiator"]);
    for a in r["attestations"].as_array().into_iter().flatten() {
        let Some(guardian) = account_bytes(&a["guardian"]) else {
            continue;
        };
        if Some(guardian) == initiator {
            continue;
        }
        let mut facts = base.clone();
        facts.push((
            "Attested by".to_owned(),
            format!("0x{}", hex::encode(guardian)),
        ));
        facts.push((
            "Valid attestations".to_owned(),
            format!("{} of {QUORUM} needed", r["valid_attestations"]),
        ));
        notices.push(Pending {
            event: format!("attested:{}", hex::encode(guardian)),
            kind: Kind::RecoveryAttested,
            subject: "A guardian attested the recovery of your wallet".to_owned(),
            facts,
            to: everyone.clone(),
        });
    }

    if let Some(eta) = r["eta_ms"].as_i64() {
        let mut facts = base.clone();
        facts.push(("It can be finalized from".to_owned(), utc(eta)));
        facts.push(("To cancel before then".to_owned(), cancel.clone()));
        notices.push(Pending {
            event: "cancellable".to_owned(),
            kind: Kind::RecoveryCancellable,
            subject: format!(
                "The recovery of your wallet can be cancelled until {}",
                utc(eta)
            ),
            facts,
            to: everyone.clone(),
        });
    }
    match r["state"].as_str() {
        Some("finalized") => {
            let mut to = everyone.clone();
            to.push(new_wallet);
            let mut facts = base.clone();
            if let Some(ms) = r["finalized_ms"].as_i64() {
                facts.push(("Finalized at".to_owned(), utc(ms)));
            }
            facts.push((
                "What follows".to_owned(),
                "the documents moved to the new wallet; the old wallet is revoked".to_owned(),
            ));
            notices.push(Pending {
                event: "finalized".to_owned(),
                kind: Kind::RecoveryFinalized,
                subject: "The recovery of your wallet was finalized".to_owned(),
                facts,
                to,
            });
        }
        Some("cancelled") => {
            let mut facts = base.clone();
            if let Some(ms) = r["cancelled_ms"].as_i64() {
                facts.push(("Cancelled at".to_owned(), utc(ms)));
            }
            notices.push(Pending {
                event: "cancelled".to_owned(),
                kind: Kind::RecoveryCancelled,
                subject: "The recovery of your wallet was cancelled".to_owned(),
                facts,
                to: everyone.clone(),
            });
        }
        _ => {}
    }

    let mut sent = 0;
    for Pending {
        event,
        kind,
        subject,
        facts,
        to: recipients,
    } in notices
    {
        for to in recipients {
            let key: IdempotencyKey = format!("recovery:{id}:{event}:{}", hex::encode(to))
                .parse()
                .map_err(|e| ApiError::unavailable("the notification key", e))?;
            let mut notice = Notice::new(key, Account::from_bytes(to), kind, subject.clone());
            for (label, value) in &facts {
                notice = notice.fact(label, value);
            }
            match client.notify(&notice).await {
                Ok(_) => sent += 1,
                Err(e) if e.code() == Some("no_contact") => {}
                Err(e) => return Err(ApiError::unavailable("the notification service", e)),
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn deadlines_are_written_in_utc_to_the_minute() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        // 2026-11-22 12:34:56.789 UTC
        assert_eq!(utc(1_795_350_896_789), "2026-11-22 12:34 UTC");
        assert_eq!(
            utc(1_795_350_896_789 + 24 * 3600 * 1000),
            "2026-11-23 12:34 UTC"
        );
    }
}
