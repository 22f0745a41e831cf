//! The tables: contacts, notices accepted once per idempotency key, and their deliveries.
//!
//! Times are the database's clock (`now()`), answered in ms since the Unix epoch.

use std::time::Duration;

use sqlx::{postgres::PgRow, types::Json, PgConnection, PgPool, Row};

use crate::{
    model::{
        Account, Channel, Contact, ContactUpdate, DeliveryState, DeliveryStatus, Fact,
        IdempotencyKey, Kind, Notice, NoticeState,
    },
    Error, Result,
};

/// The longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// The longest error text kept for a delivery, in characters.
pub const MAX_ERROR_LEN: usize = 1000;

/// A `TIMESTAMPTZ` column as ms since the Unix epoch.
macro_rules! ms {
    ($column:literal) => {
        concat!("(extract(epoch FROM ", $column, ") * 1000)::bigint")
    };
}

/// Sets the account's contact (both fields; an omitted one is cleared).
pub async fn put_contact(
    pool: &PgPool,
    account: &Account,
    update: &ContactUpdate,
) -> Result<Contact> {
    let row = sqlx::query(concat!(
        "INSERT INTO notify_contacts (account, email, webhook_url) VALUES ($1, $2, $3)
         ON CONFLICT (account) DO UPDATE
             SET email = EXCLUDED.email, webhook_url = EXCLUDED.webhook_url, updated_at = now()
         RETURNING account, email, webhook_url, ",
        ms!("updated_at")
    ))
    .bind(account.as_str())
    .bind(update.email.as_ref().map(|e| e.as_str()))
    .bind(update.webhook_url.as_ref().map(|u| u.as_str()))
    .fetch_one(pool)
    .await?;
    contact_of(&row)
}

/// The account's contact, if it has one.
pub async fn contact(pool: &PgPool, account: &Account) -> Result<Option<Contact>> {
    let row = sqlx::query(concat!(
        "SELECT account, email, webhook_url, ",
        ms!("updated_at"),
        " FROM notify_contacts WHERE account = $1"
    ))
    .bind(account.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(contact_of).transpose()
}

fn contact_of(row: &PgRow) -> Result<Contact> {
    Ok(Contact {
        account: parse(row.try_get::<String, _>(0)?)?,
        email: row
            .try_get::<Option<String>, _>(1)?
            .map(parse)
            .transpose()?,
        webhook_url: row
            .try_get::<Option<String>, _>(2)?
            .map(parse)
            .transpose()?,
        updated_at_ms: row.try_get(3)?,
    })
}

/// The answer to a submitted notice.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The notice's state.
    pub state: NoticeState,
    /// `false` when the key was accepted before (nothing new is sent).
    pub created: bool,
}

/// Accepts `notice` once: writes it with one pending delivery per channel of the account's
/// contact, in one transaction. A key accepted before answers that notice's state, if it is
/// the same notice ([`Error::KeyReused`] if not). [`Error::NoContact`] when the account has
/// neither an email address nor a webhook.
pub async fn submit(pool: &PgPool, notice: &Notice) -> Result<Accepted> {
    notice.validate()?;
    let mut tx = pool.begin().await?;
    if let Some(existing) = read_notice(&mut tx, &notice.idempotency_key).await? {
        return same(existing, notice);
    }
    let contact =
        sqlx::query("SELECT email, webhook_url FROM notify_contacts WHERE account = $1 FOR SHARE")
            .bind(notice.account.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    let mut channels = Vec::new();
    let mut destinations = Vec::new();
    if let Some(row) = contact {
        let fields = [(Channel::Email, 0), (Channel::Webhook, 1)];
        for (channel, column) in fields {
            if let Some(destination) = row.try_get::<Option<String>, _>(column)? {
                channels.push(channel.as_str());
                destinations.push(destination);
            }
        }
    }
    if channels.is_empty() {
        return Err(Error::NoContact(notice.account.clone()));
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO notify_notices (idempotency_key, account, kind, subject, facts)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
    )
    .bind(notice.idempotency_key.as_str())
    .bind(notice.account.as_str())
    .bind(notice.kind.as_str())
    .bind(&notice.subject)
    .bind(Json(&notice.facts))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        // Another request accepted this key since we looked; answer its notice.
        tx.rollback().await?;
        let mut conn = pool.acquire().await?;
        let existing = read_notice(&mut conn, &notice.idempotency_key)
            .await?
            .ok_or_else(|| Error::Corrupt("a conflicting notice vanished".into()))?;
        return same(existing, notice);
    };
    sqlx::query(
        "INSERT INTO notify_deliveries (notice_id, channel, destination)
         SELECT $1, channel, destination FROM UNNEST($2::text[], $3::text[]) AS t (channel, destination)",
    )
    .bind(id)
    .bind(&channels)
    .bind(&destinations)
    .execute(&mut *tx)
    .await?;
    let state = read_notice(&mut tx, &notice.idempotency_key)
        .await?
        .ok_or_else(|| Error::Corrupt("the notice just written is missing".into()))?;
    tx.commit().await?;
    Ok(Accepted {
        state,
        created: true,
    })
}

fn same(existing: NoticeState, notice: &Notice) -> Result<Accepted> {
    let same = existing.account == notice.account
        && existing.kind == notice.kind
        && existing.subject == notice.subject
        && existing.facts == notice.facts;
    if same {
        Ok(Accepted {
            state: existing,
            created: false,
        })
    } else {
        Err(Error::KeyReused(notice.idempotency_key.clone()))
    }
}

/// The state of the notice accepted under `key`.
pub async fn notice(pool: &PgPool, key: &IdempotencyKey) -> Result<Option<NoticeState>> {
    let mut conn = pool.acquire().await?;
    read_notice(&mut conn, key).await
}

async fn read_notice(conn: &mut PgConnection, key: &IdempotencyKey) -> Result<Option<NoticeState>> {
    let Some(row) = sqlx::query(concat!(
        "SELECT id, idempotency_key, account, kind, subject, facts, ",
        ms!("created_at"),
        " FROM notify_notices WHERE idempotency_key = $1"
    ))
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get(0)?;
    let deliveries = sqlx::query(concat!(
        "SELECT channel, destination, status, attempts, last_error, ",
        ms!("next_attempt_at"),
        ", ",
        ms!("sent_at"),
        " FROM notify_deliveries WHERE notice_id = $1 ORDER BY channel"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|d| {
        Ok(DeliveryState {
            channel: parse(d.try_get::<String, _>(0)?)?,
            destination: d.try_get(1)?,
            status: parse::<DeliveryStatus, _>(d.try_get::<String, _>(2)?)?,
            attempts: u32::try_from(d.try_get::<i32, _>(3)?).unwrap_or(0),
            last_error: d.try_get(4)?,
            next_attempt_at_ms: d.try_get(5)?,
            sent_at_ms: d.try_get(6)?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Some(NoticeState {
        idempotency_key: parse(row.try_get::<String, _>(1)?)?,
        account: parse(row.try_get::<String, _>(2)?)?,
        kind: parse(row.try_get::<String, _>(3)?)?,
        subject: row.try_get(4)?,
        facts: row.try_get::<Json<Vec<Fact>>, _>(5)?.0,
        created_at_ms: row.try_get(6)?,
        status: NoticeState::derive_status(&deliveries),
        deliveries,
    }))
}

/// A delivery claimed by a worker: what to send, and where.
#[derive(Debug, Clone)]
pub struct Due {
    /// The notice's row.
    pub notice_id: i64,
    /// The channel.
    pub channel: Channel,
    /// The email address or webhook URL.
    pub destination: String,
    /// Attempts started, this one included.
    pub attempt: u32,
    /// The notice's key.
    pub idempotency_key: IdempotencyKey,
    /// Whom it tells.
    pub account: Account,
    /// What about.
    pub kind: Kind,
    /// The subject.
    pub subject: String,
    /// The facts.
    pub facts: Vec<Fact>,
}

/// Claims up to `limit` due deliveries (skipping those another worker holds) and counts an
/// attempt for each; a claimed delivery is due again after `lease`, so one whose worker died
/// is retried then.
pub async fn claim_due(pool: &PgPool, limit: i64, lease: Duration) -> Result<Vec<Due>> {
    let rows = sqlx::query(
        "UPDATE notify_deliveries AS d
         SET attempts = d.attempts + 1,
             next_attempt_at = now() + $2 * interval '1 millisecond'
         FROM (SELECT notice_id, channel FROM notify_deliveries
               WHERE status <> 'sent' AND next_attempt_at <= now()
               ORDER BY next_attempt_at
               LIMIT $1
               FOR UPDATE SKIP LOCKED) AS due,
              notify_notices AS n
         WHERE d.notice_id = due.notice_id AND d.channel = due.channel AND n.id = d.notice_id
         RETURNING d.notice_id, d.channel, d.destination, d.attempts,
                   n.idempotency_key, n.account, n.kind, n.subject, n.facts",
    )
    .bind(limit)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Due {
                notice_id: r.try_get(0)?,
                channel: parse(r.try_get::<String, _>(1)?)?,
                destination: r.try_get(2)?,
                attempt: u32::try_from(r.try_get::<i32, _>(3)?).unwrap_or(0),
                idempotency_key: parse(r.try_get::<String, _>(4)?)?,
                account: parse(r.try_get::<String, _>(5)?)?,
                kind: parse(r.try_get::<String, _>(6)?)?,
                subject: r.try_get(7)?,
                facts: r.try_get::<Json<Vec<Fact>>, _>(8)?.0,
            })
        })
        .collect()
}

/// Records `due` as sent. `false` when a later attempt was claimed meanwhile (its outcome
/// counts) or it was sent already.
pub async fn record_sent(pool: &PgPool, due: &Due) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE notify_deliveries
         SET status = 'sent', sent_at = now(), next_attempt_at = NULL, last_error = NULL
         WHERE notice_id = $1 AND channel = $2 AND attempts = $3 AND status <> 'sent'",
    )
    .bind(due.notice_id)
    .bind(due.channel.as_str())
    .bind(i32::try_from(due.attempt).unwrap_or(i32::MAX))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Records that `due` failed with `error`; the next attempt is due after [`backoff`].
pub async fn record_failure(
    pool: &PgPool,
    due: &Due,
    error: &str,
    retry_base: Duration,
) -> Result<bool> {
    let error: String = error.chars().take(MAX_ERROR_LEN).collect();
    let delay = backoff(retry_base, due.attempt.saturating_sub(1));
    let done = sqlx::query(
        "UPDATE notify_deliveries
         SET status = 'failed', last_error = $4,
             next_attempt_at = now() + $5 * interval '1 millisecond'
         WHERE notice_id = $1 AND channel = $2 AND attempts = $3 AND status <> 'sent'",
    )
    .bind(due.notice_id)
    .bind(due.channel.as_str())
    .bind(i32::try_from(due.attempt).unwrap_or(i32::MAX))
    .bind(error)
    .bind(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// The delay before the next attempt after `failed_before` earlier failed attempts and this
/// one: `base × 2^failed_before`, at most [`MAX_BACKOFF`].
pub fn backoff(base: Duration, failed_before: u32) -> Duration {
    base.checked_mul(2u32.saturating_pow(failed_before.min(31)))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// How long until the next delivery is due (zero if one is due now; `None` when none waits).
pub async fn next_due_in(pool: &PgPool) -> Result<Option<Duration>> {
    let ms: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT ",
        ms!("min(next_attempt_at) - now()"),
        " FROM notify_deliveries WHERE status <> 'sent'"
    ))
    .fetch_one(pool)
    .await?;
    Ok(ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
}

/// A stored value read back into its checked type (the tables' checks make failure a bug).
fn parse<T, S>(text: S) -> Result<T>
where
    S: AsRef<str>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.as_ref()
        .parse()
        .map_err(|e: T::Err| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{model::NoticeStatus, Email};

    async fn pending_notice(pool: &PgPool) -> Notice {
        let account = Account::from_bytes([9; 32]);
        let update = ContactUpdate {
            email: Some("owner@example.org".parse::<Email>().unwrap()),
            webhook_url: None,
        };
        put_contact(pool, &account, &update).await.unwrap();
        let notice = Notice::new(
            "deletion:1".parse().unwrap(),
            account,
            Kind::DeletionNotice,
            "Deletion in 30 days",
        )
        .fact("Document", "a.pdf");
        assert!(submit(pool, &notice).await.unwrap().created);
        notice
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_claimed_delivery_is_leased_and_its_failure_stays_visible(pool: PgPool) {
        let notice = pending_notice(&pool).await;
        let key = &notice.idempotency_key;

        // A claim counts an attempt and holds the delivery for the lease.
        let claimed = claim_due(&pool, 8, Duration::from_secs(60)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let due = &claimed[0];
        assert_eq!((due.channel, due.attempt), (Channel::Email, 1));
        assert_eq!(due.facts, notice.facts);
        assert!(claim_due(&pool, 8, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty());

        // A failure is recorded with its error and retried after the base delay.
        let base = Duration::from_millis(100);
        assert!(record_failure(&pool, due, "SMTP: refused", base)
            .await
            .unwrap());
        let state = super::notice(&pool, key).await.unwrap().unwrap();
        assert_eq!(state.status, NoticeStatus::Failed);
        let email = state.delivery(Channel::Email).unwrap();
        assert_eq!(email.status, DeliveryStatus::Failed);
        assert_eq!(email.last_error.as_deref(), Some("SMTP: refused"));
        assert_eq!(email.attempts, 1);
        assert!(email.next_attempt_at_ms.is_some());
        tokio::time::sleep(Duration::from_millis(150)).await;

        // The retry is a new attempt; the old attempt's outcome no longer counts.
        let retry = claim_due(&pool, 8, Duration::from_secs(60)).await.unwrap();
        assert_eq!(retry[0].attempt, 2);
        assert!(!record_sent(&pool, due).await.unwrap());
        assert!(record_sent(&pool, &retry[0]).await.unwrap());
        let state = super::notice(&pool, key).await.unwrap().unwrap();
        assert_eq!(state.status, NoticeStatus::Sent);
        let email = state.delivery(Channel::Email).unwrap();
        assert_eq!((email.attempts, email.last_error.as_ref()), (2, None));
        assert!(email.sent_at_ms.is_some() && email.next_attempt_at_ms.is_none());
        assert_eq!(next_due_in(&pool).await.unwrap(), None);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn migrations_tolerate_other_services_migrations(pool: PgPool) {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (1, 'another service', true, '\\x00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        crate::migrate(&pool).await.unwrap();
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_millis(5000);
        assert_eq!(backoff(base, 0), Duration::from_secs(5));
        assert_eq!(backoff(base, 1), Duration::from_secs(10));
        assert_eq!(backoff(base, 3), Duration::from_secs(40));
        assert_eq!(backoff(base, 10), MAX_BACKOFF);
        assert_eq!(backoff(base, u32::MAX), MAX_BACKOFF);
    }
}
