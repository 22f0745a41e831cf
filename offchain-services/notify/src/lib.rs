//! The SDV notification service: notices by mail and by signed webhook.
//!
//! The retention scheduler sends the 30-day pre-deletion notice through it, and retention
//! upgrades, deletions and guardian/recovery events are told the same way.
//!
//! # Life cycle
//!
//! 1. A service sets an account's contact (`PUT /v1/contacts/{account}`): an email address, a
//!    webhook, or both.
//! 2. It posts a notice (`POST /v1/notices`) under an idempotency key: one delivery per channel
//!    the account has is written in the same transaction (202). The same key again answers the
//!    first notice's state (200) and sends nothing more.
//! 3. The [`worker`] claims due deliveries (`FOR UPDATE SKIP LOCKED`), sends the mail over SMTP
//!    or POSTs the JSON signed with HMAC-SHA256 ([`sign`]), and records the outcome. A failure
//!    is retried after the retry base × 2^(attempts before it), at most an hour, and stays
//!    visible in `GET /v1/notices/{idempotency_key}`. All state is in PostgreSQL, so nothing is
//!    lost on restart.
//!
//! # Error handling
//!
//! The library's [`Error`] names each failure; the [`api`] maps it to a status and a JSON body
//! `{"code", "error"}` and never shows database internals. The [`Client`] turns such bodies
//! back into [`client::Error::Api`].
//!
//! # Interface
//!
//! - Binary: [`Config::from_env`], [`migrate`], [`api::router`], [`worker::Worker`].
//! - Other services: [`Client`] with the request and answer types of [`model`].
//! - Webhook receivers: [`WebhookPayload`], [`verify`].

pub mod api;
pub mod client;
mod config;
pub mod model;
pub mod store;
pub mod worker;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use client::Client;
pub use config::{
    Config, SmtpServer, DEFAULT_LISTEN, DEFAULT_MAIL_FROM, DEFAULT_SMTP_URL, MIN_SECRET_LEN,
};
pub use model::{
    Account, Channel, Contact, ContactUpdate, DeliveryState, DeliveryStatus, Email, Fact,
    IdempotencyKey, Invalid, Kind, Notice, NoticeState, NoticeStatus, WebhookPayload, WebhookUrl,
};

/// The header with the webhook's timestamp (ms since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "x-sdv-timestamp";
/// The header with the webhook's signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-sdv-signature";
/// The header with the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] sdv_config::Error),
    /// A request value was refused.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The account has neither an email address nor a webhook.
    #[error("account {0} has no contact (set an email address or a webhook first)")]
    NoContact(Account),
    /// The idempotency key was used for a different notice.
    #[error("idempotency key {0} was used for a different notice")]
    KeyReused(IdempotencyKey),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that the tables' checks rule out.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// The result type of the notification service.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The service's migrations (`migrations/`, versions from 400).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the migrations to a database shared with other services: their migrations are not
/// an error.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<()> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// The webhook signature of `body` sent at `timestamp_ms`: `sha256=` and the hex
/// HMAC-SHA256 under `secret` of `"<timestamp_ms>." + body`.
pub fn sign(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp_ms.to_string(), body)
        .finalize()
        .into_bytes();
    format!("sha256={}", hex::encode(tag))
}

/// Whether `signature` (the `x-sdv-signature` header) signs `body` sent at `timestamp` (the
/// `x-sdv-timestamp` header) under `secret`. Compared in constant time. A receiver should also
/// refuse timestamps far from its clock, against replays.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(tag) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    mac(secret, timestamp, body).verify_slice(&tag).is_ok()
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_the_signed_body_and_time() {
        let secret = b"webhook-secret-0123456789";
        let body = br#"{"kind":"deletion_notice"}"#;
        let signature = sign(secret, 1_700_000_000_000, body);
        assert!(signature.starts_with("sha256="));
        assert_eq!(signature.len(), "sha256=".len() + 64);
        assert!(verify(secret, "1700000000000", body, &signature));
        assert!(!verify(secret, "1700000000001", body, &signature));
        assert!(!verify(secret, "1700000000000", b"{}", &signature));
        assert!(!verify(b"other-secret", "1700000000000", body, &signature));
        assert!(!verify(secret, "x", body, &signature));
        assert!(!verify(secret, "1700000000000", body, "sha256=zz"));
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", hashlib.sha256).
        assert_eq!(
            sign(b"Jefe", 0, b"what do ya want for nothing?"),
            "sha256=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
    }
}
