//! The delivery worker: sends due deliveries by mail or webhook and records the outcome.
//!
//! Each round claims up to [`BATCH`] due deliveries (`FOR UPDATE SKIP LOCKED`, so several
//! workers share the table), sends them concurrently and records each outcome. A claim is a
//! lease of [`LEASE`]: a delivery whose worker died mid-send is due again after it, so delivery
//! is at least once (a mail carries a Message-ID derived from the notice's key, a webhook body
//! the key itself, so receivers can drop repeats).

use std::{sync::Arc, time::Duration};

use lettre::{
    message::{header::ContentType, Mailbox},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use sdv_config::Secret;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::{sync::Notify, task::JoinSet};

use crate::{
    config::SmtpServer,
    model::{Channel, WebhookPayload},
    store::{self, Due},
    Config, Result, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// Deliveries claimed per round.
pub const BATCH: i64 = 8;
/// How long a claimed delivery is held before another worker may retry it.
pub const LEASE: Duration = Duration::from_secs(120);
/// The SMTP conversation's timeout per command.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// A webhook's timeout.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between looks at the table (another process may add deliveries).
pub const POLL: Duration = Duration::from_secs(1);

/// Why one attempt at a delivery failed (stored as its `last_error`).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The stored email address is not one (the API checks it, so this is a bug).
    #[error("bad recipient address: {0}")]
    Address(#[from] lettre::address::AddressError),
    /// The mail could not be built.
    #[error("building the mail: {0}")]
    Message(#[from] lettre::error::Error),
    /// The SMTP server was unreachable or refused the mail.
    #[error("SMTP: {}", chain(.0))]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The webhook was unreachable.
    #[error("webhook: {}", chain(.0))]
    Http(#[from] reqwest::Error),
    /// The webhook answered with a status other than 2xx.
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    /// An `https` webhook, which this build (no TLS) cannot call.
    #[error("webhook: https is not supported by this build (no TLS); use an http URL on a trusted network")]
    NoTls,
}

/// An error with its sources, `outer: inner: innermost`.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// Sends mails over SMTP (plain, to a loopback server).
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer handing mails to `server`, from `from`.
    pub fn new(server: &SmtpServer, from: Mailbox) -> Self {
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.as_str())
                .port(server.port)
                .timeout(Some(SMTP_TIMEOUT))
                .build();
        Self { transport, from }
    }

    /// The mail of `due`: its subject, the kind's summary, one `Label: value` line per fact
    /// and a footer; the Message-ID is derived from the notice's key.
    pub fn message(&self, due: &Due) -> Result<Message, DeliveryError> {
        let to = Mailbox::new(None, due.destination.parse()?);
        let mut body = format!("{}\n\n", due.kind.summary());
        for (label, value) in &due.facts {
            body.push_str(&format!("{label}: {value}\n"));
        }
        // Short lines, so that a mail with short facts stays 7-bit text.
        body.push_str(&format!(
            "\n-- \nA notice of the Sovereign Document Vault for the account\n{}\n\
             Reference: {}\nSent automatically; replies are not read.\n",
            due.account, due.idempotency_key
        ));
        let digest = Sha256::digest(due.idempotency_key.as_str().as_bytes());
        let message_id = format!(
            "<notice-{}@{}>",
            hex::encode(&digest[..16]),
            self.from.email.domain()
        );
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(due.subject.clone())
            .message_id(Some(message_id))
            .header(ContentType::TEXT_PLAIN)
            .body(body)?)
    }

    /// Sends the mail of `due`.
    pub async fn send(&self, due: &Due) -> Result<(), DeliveryError> {
        let message = self.message(due)?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// POSTs signed webhook bodies.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    secret: Secret,
}

impl Webhooks {
    /// Signs with `secret`.
    pub fn new(secret: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sdv-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a plain HTTP client builds");
        Self { http, secret }
    }

    /// POSTs the [`WebhookPayload`] of `due` with `x-sdv-timestamp` and `x-sdv-signature`; a
    /// 2xx answer is success.
    pub async fn send(&self, due: &Due) -> Result<(), DeliveryError> {
        if due.destination.starts_with("https:") {
            return Err(DeliveryError::NoTls);
        }
        let sent_at_ms = crate::now_ms();
        let body = serde_json::to_vec(&WebhookPayload {
            idempotency_key: due.idempotency_key.clone(),
            account: due.account.clone(),
            kind: due.kind,
            subject: due.subject.clone(),
            facts: due.facts.clone(),
            sent_at_ms,
        })
        .expect("the payload serializes");
        let signature = crate::sign(self.secret.expose(), sent_at_ms, &body);
        let response = self
            .http
            .post(&due.destination)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, sent_at_ms.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}

/// The channels' senders.
#[derive(Clone)]
struct Senders {
    mailer: Mailer,
    webhooks: Webhooks,
}

impl Senders {
    async fn deliver(&self, due: &Due) -> Result<(), DeliveryError> {
        match due.channel {
            Channel::Email => self.mailer.send(due).await,
            Channel::Webhook => self.webhooks.send(due).await,
        }
    }
}

/// The delivery worker.
pub struct Worker {
    pool: PgPool,
    senders: Arc<Senders>,
    retry_base: Duration,
}

impl Worker {
    /// A worker on `pool` (migrated) with the senders of `config`.
    pub fn new(pool: PgPool, config: &Config) -> Self {
        Self::with(
            pool,
            Mailer::new(&config.smtp, config.mail_from.clone()),
            Webhooks::new(config.webhook_secret.clone()),
            config.retry_base,
        )
    }

    /// A worker with these senders and retry base.
    pub fn with(pool: PgPool, mailer: Mailer, webhooks: Webhooks, retry_base: Duration) -> Self {
        Self {
            pool,
            senders: Arc::new(Senders { mailer, webhooks }),
            retry_base,
        }
    }

    /// One round: claims the due deliveries, sends them concurrently and records the outcomes.
    /// Returns how many it claimed.
    pub async fn run_once(&self) -> Result<usize> {
        let claimed = store::claim_due(&self.pool, BATCH, LEASE).await?;
        let count = claimed.len();
        let mut sends = JoinSet::new();
        for due in claimed {
            let senders = self.senders.clone();
            sends.spawn(async move {
                let outcome = senders.deliver(&due).await;
                (due, outcome)
            });
        }
        while let Some(joined) = sends.join_next().await {
            let Ok((due, outcome)) = joined else {
                // A send panicked; its lease runs out and it is retried.
                tracing::error!("a delivery task panicked");
                continue;
            };
            let key = due.idempotency_key.as_str();
            let channel = due.channel.as_str();
            let recorded = match &outcome {
                Ok(()) => {
                    tracing::info!(key, channel, attempt = due.attempt, "delivered");
                    store::record_sent(&self.pool, &due).await
                }
                Err(error) => {
                    tracing::warn!(key, channel, attempt = due.attempt, %error, "delivery failed");
                    store::record_failure(&self.pool, &due, &error.to_string(), self.retry_base)
                        .await
                }
            };
            if let Err(error) = recorded {
                // The lease runs out and the delivery is tried again.
                tracing::error!(key, channel, %error, "recording a delivery's outcome");
            }
        }
        Ok(count)
    }

    /// Runs rounds until the process ends: at once while deliveries are due, else when `wake`
    /// is notified (a notice was accepted), the next delivery is due, or [`POLL`] passed.
    /// Database failures are logged and retried.
    pub async fn run(self, wake: Arc<Notify>) {
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(error) => tracing::error!(%error, "claiming deliveries"),
            }
            let wait = match store::next_due_in(&self.pool).await {
                Ok(Some(due_in)) => due_in.clamp(Duration::from_millis(10), POLL),
                Ok(None) | Err(_) => POLL,
            };
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Account, Kind};

    fn due() -> Due {
        Due {
            notice_id: 1,
            channel: Channel::Email,
            destination: "owner@example.org".into(),
            attempt: 1,
            idempotency_key: "deletion:7".parse().unwrap(),
            account: Account::from_bytes([7; 32]),
            kind: Kind::DeletionNotice,
            subject: "lease.pdf will be deleted on 2025-03-01".into(),
            facts: vec![
                ("Document".into(), "lease.pdf".into()),
                ("Scheduled deletion".into(), "2025-03-01".into()),
            ],
        }
    }

    #[test]
    fn mail_lists_each_fact_on_its_line() {
        let server = SmtpServer {
            host: "127.0.0.1".into(),
            port: 25,
        };
        let mailer = Mailer::new(&server, crate::DEFAULT_MAIL_FROM.parse().unwrap());
        let raw = String::from_utf8(mailer.message(&due()).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Subject: lease.pdf will be deleted on 2025-03-01\r\n"),
            "{raw}"
        );
        assert!(raw.contains("To: owner@example.org\r\n"), "{raw}");
        assert!(raw.contains("Document: lease.pdf"), "{raw}");
        assert!(raw.contains("Scheduled deletion: 2025-03-01"), "{raw}");
        assert!(raw.contains("@sdv.localhost>"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        // Short lines keep a plain mail readable as it is (no quoted-printable).
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        assert!(
            raw.contains(&format!("\r\n0x{}\r\n", "07".repeat(32))),
            "{raw}"
        );
    }

    #[test]
    fn errors_keep_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(chain(&io), "refused");
    }
}
