//! What the API takes and answers: accounts, contacts, notices and their delivery state.
//!
//! The identifiers (an [`Account`], an [`Email`], a [`WebhookUrl`], an [`IdempotencyKey`]) are
//! checked when they are made, also when deserialized, so a value of one of these types is
//! always well-formed: an email address cannot carry a line break into a mail header.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 200;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest subject, in characters.
pub const MAX_SUBJECT_LEN: usize = 200;
/// Most facts in one notice.
pub const MAX_FACTS: usize = 32;
/// Longest fact label, in characters.
pub const MAX_LABEL_LEN: usize = 80;
/// Longest fact value, in characters.
pub const MAX_VALUE_LEN: usize = 1000;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not `0x` and 64 hex digits.
    #[error("{0:?} is not an account (0x and 64 hex digits)")]
    Account(String),
    /// Not a single plain email address.
    #[error("{0:?} is not an email address (one address, one @, no spaces or line breaks)")]
    Email(String),
    /// Not an http(s) URL with a host and without credentials.
    #[error("{0:?} is not a webhook URL (http or https, a host, no credentials or fragment)")]
    WebhookUrl(String),
    /// Empty, too long, or with characters other than letters, digits and `._:-`.
    #[error(
        "{0:?} is not an idempotency key (1 to {MAX_KEY_LEN} letters, digits, '.', '_', ':' or '-')"
    )]
    IdempotencyKey(String),
    /// Empty, too long or with control characters (line breaks).
    #[error("the subject must have 1 to {MAX_SUBJECT_LEN} characters and no line breaks")]
    Subject,
    /// Too many facts, or a label or value too long, empty or with control characters.
    #[error("facts: {0}")]
    Facts(String),
}

/// An account: `0x` and 64 lowercase hex digits (upper case is accepted and lowered).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Account(String);

impl Account {
    /// The account with these raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(format!("0x{}", hex::encode(bytes)))
    }

    /// `0x` and 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Account {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| Invalid::Account(text.into()))?;
        if digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(format!("0x{}", digits.to_ascii_lowercase())))
        } else {
            Err(Invalid::Account(text.into()))
        }
    }
}

/// An email address: exactly one `@`, no whitespace or control characters, and accepted by
/// lettre's address parser. Nothing in it can end a mail header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let refused = || Invalid::Email(text.into());
        if text.len() > MAX_EMAIL_LEN
            || text.matches('@').count() != 1
            || text
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        {
            return Err(refused());
        }
        let (user, domain) = text.split_once('@').ok_or_else(refused)?;
        if user.is_empty() || domain.is_empty() {
            return Err(refused());
        }
        text.parse::<lettre::Address>().map_err(|_| refused())?;
        Ok(Self(text.into()))
    }
}

/// A webhook URL: `http` or `https`, with a host, without credentials or a fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WebhookUrl {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let refused = || Invalid::WebhookUrl(text.into());
        if text.len() > MAX_URL_LEN {
            return Err(refused());
        }
        let url = reqwest::Url::parse(text).map_err(|_| refused())?;
        let well_formed = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none();
        if well_formed {
            Ok(Self(url.into()))
        } else {
            Err(refused())
        }
    }
}

/// The caller's name for a notice: a notice is accepted once per key. 1 to [`MAX_KEY_LEN`]
/// ASCII letters, digits, `.`, `_`, `:` or `-` (so that it is a path segment as it is).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._:-".contains(&b);
        if (1..=MAX_KEY_LEN).contains(&text.len()) && text.bytes().all(allowed) {
            Ok(Self(text.into()))
        } else {
            Err(Invalid::IdempotencyKey(text.into()))
        }
    }
}

macro_rules! string_newtype {
    ($($ty:ident),*) => {$(
        impl TryFrom<String> for $ty {
            type Error = Invalid;

            fn try_from(text: String) -> Result<Self, Invalid> {
                text.parse()
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

string_newtype!(Account, Email, WebhookUrl, IdempotencyKey);

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A document will be deleted in 30 days.
    DeletionNotice,
    /// A document's retention was raised to a regulatory floor.
    RetentionUpgraded,
    /// A document's retention was extended.
    RetentionExtended,
    /// A document's storage was deleted.
    DeletionDone,
    /// The account was asked to be someone's guardian.
    GuardianRequest,
    /// A recovery of the account's wallet was initiated.
    RecoveryInitiated,
    /// A guardian attested a recovery.
    RecoveryAttested,
    /// A recovery reached its timelock: the old wallet can still cancel it.
    RecoveryCancellable,
    /// A recovery was finalized: the documents moved to the new wallet.
    RecoveryFinalized,
    /// A recovery was cancelled.
    RecoveryCancelled,
    /// A document's retention ran out, but its Arweave copy is permanent: nothing was deleted.
    RetentionKeptArweave,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 11] = [
        Kind::DeletionNotice,
        Kind::RetentionUpgraded,
        Kind::RetentionExtended,
        Kind::DeletionDone,
        Kind::GuardianRequest,
        Kind::RecoveryInitiated,
        Kind::RecoveryAttested,
        Kind::RecoveryCancellable,
        Kind::RecoveryFinalized,
        Kind::RecoveryCancelled,
        Kind::RetentionKeptArweave,
    ];

    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DeletionNotice => "deletion_notice",
            Kind::RetentionUpgraded => "retention_upgraded",
            Kind::RetentionExtended => "retention_extended",
            Kind::DeletionDone => "deletion_done",
            Kind::GuardianRequest => "guardian_request",
            Kind::RecoveryInitiated => "recovery_initiated",
            Kind::RecoveryAttested => "recovery_attested",
            Kind::RecoveryCancellable => "recovery_cancellable",
            Kind::RecoveryFinalized => "recovery_finalized",
            Kind::RecoveryCancelled => "recovery_cancelled",
            Kind::RetentionKeptArweave => "retention_kept_arweave",
        }
    }

    /// One sentence that opens the mail.
    pub fn summary(self) -> &'static str {
        match self {
            Kind::DeletionNotice => "A document of yours is scheduled for deletion in 30 days.",
            Kind::RetentionUpgraded => {
                "A document's retention was raised to the period the regulations require."
            }
            Kind::RetentionExtended => "A document's retention was extended.",
            Kind::DeletionDone => "A document's stored copy was deleted.",
            Kind::GuardianRequest => "You were named as a guardian for a wallet recovery.",
            Kind::RecoveryInitiated => "A recovery of your wallet was initiated.",
            Kind::RecoveryAttested => "A guardian attested a recovery of your wallet.",
            Kind::RecoveryCancellable => {
                "A recovery of your wallet is in its timelock; your current wallet can still cancel it."
            }
            Kind::RecoveryFinalized => {
                "A recovery of your wallet was finalized; your documents now belong to the new wallet."
            }
            Kind::RecoveryCancelled => "A recovery of your wallet was cancelled.",
            Kind::RetentionKeptArweave => {
                "A document's retention period ends, but it has a permanent Arweave copy: Arweave copies cannot be deleted, so the document is kept."
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a notice kind"))
    }
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A mail over SMTP.
    Email,
    /// A signed JSON POST.
    Webhook,
}

impl Channel {
    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "email" => Ok(Channel::Email),
            "webhook" => Ok(Channel::Webhook),
            other => Err(format!("{other:?} is not a channel")),
        }
    }
}

/// `PUT /v1/contacts/{account}`: where the account is told from now on. The request replaces
/// both fields; an omitted one is cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    /// The email address.
    #[serde(default)]
    pub email: Option<Email>,
    /// The webhook.
    #[serde(default)]
    pub webhook_url: Option<WebhookUrl>,
}

/// An account's contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The account.
    pub account: Account,
    /// The email address.
    pub email: Option<Email>,
    /// The webhook.
    pub webhook_url: Option<WebhookUrl>,
    /// When it was last set, in ms since the Unix epoch.
    pub updated_at_ms: i64,
}

/// A labelled fact of a notice, `[label, value]` on the wire ("Document", "lease.pdf").
pub type Fact = (String, String);

/// `POST /v1/notices`: a notice to send to an account on every channel it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Accepted once per key; a second POST answers the first one's state.
    pub idempotency_key: IdempotencyKey,
    /// Whom to tell.
    pub account: Account,
    /// What about.
    pub kind: Kind,
    /// The mail's subject.
    pub subject: String,
    /// The facts, in order.
    #[serde(default)]
    pub facts: Vec<Fact>,
}

impl Notice {
    /// A notice without facts (add them with [`Notice::fact`]).
    pub fn new(
        idempotency_key: IdempotencyKey,
        account: Account,
        kind: Kind,
        subject: impl Into<String>,
    ) -> Self {
        Self {
            idempotency_key,
            account,
            kind,
            subject: subject.into(),
            facts: Vec::new(),
        }
    }

    /// Adds a fact.
    pub fn fact(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((label.into(), value.into()));
        self
    }

    /// Checks the subject and the facts (the identifiers are checked by their types).
    pub fn validate(&self) -> Result<(), Invalid> {
        let chars = self.subject.chars().count();
        if !(1..=MAX_SUBJECT_LEN).contains(&chars) || self.subject.chars().any(char::is_control) {
            return Err(Invalid::Subject);
        }
        if self.facts.len() > MAX_FACTS {
            return Err(Invalid::Facts(format!("at most {MAX_FACTS}")));
        }
        for (i, (label, value)) in self.facts.iter().enumerate() {
            let label_chars = label.chars().count();
            if !(1..=MAX_LABEL_LEN).contains(&label_chars) || label.chars().any(char::is_control) {
                return Err(Invalid::Facts(format!(
                    "label {i} must have 1 to {MAX_LABEL_LEN} characters and no line breaks"
                )));
            }
            if value.chars().count() > MAX_VALUE_LEN || value.chars().any(char::is_control) {
                return Err(Invalid::Facts(format!(
                    "value {i} must have at most {MAX_VALUE_LEN} characters and no line breaks"
                )));
            }
        }
        Ok(())
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not tried yet, or in flight.
    Pending,
    /// Delivered.
    Sent,
    /// The last attempt failed; another is due at `next_attempt_at_ms`.
    Failed,
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "pending" => Ok(Self::Pending),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            other => Err(format!("{other:?} is not a delivery status")),
        }
    }
}

/// A notice's delivery on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// The channel.
    pub channel: Channel,
    /// The email address or webhook URL it goes to.
    pub destination: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (none once sent), ms since the Unix epoch.
    pub next_attempt_at_ms: Option<i64>,
    /// When it was delivered, ms since the Unix epoch.
    pub sent_at_ms: Option<i64>,
}

/// A notice's state as a whole, derived from its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeStatus {
    /// Some delivery is not done and none has failed.
    Pending,
    /// Every delivery was sent.
    Sent,
    /// Some delivery's last attempt failed (it is retried).
    Failed,
}

/// `GET /v1/notices/{idempotency_key}` and the answer to `POST /v1/notices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeState {
    /// The notice's key.
    pub idempotency_key: IdempotencyKey,
    /// Whom it tells.
    pub account: Account,
    /// What about.
    pub kind: Kind,
    /// The subject.
    pub subject: String,
    /// The facts, in order.
    pub facts: Vec<Fact>,
    /// When it was accepted, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Derived from the deliveries.
    pub status: NoticeStatus,
    /// One per channel.
    pub deliveries: Vec<DeliveryState>,
}

impl NoticeState {
    /// The delivery on `channel`.
    pub fn delivery(&self, channel: Channel) -> Option<&DeliveryState> {
        self.deliveries.iter().find(|d| d.channel == channel)
    }

    /// The status of a notice with these deliveries.
    pub fn derive_status(deliveries: &[DeliveryState]) -> NoticeStatus {
        if deliveries.iter().all(|d| d.status == DeliveryStatus::Sent) {
            NoticeStatus::Sent
        } else if deliveries
            .iter()
            .any(|d| d.status == DeliveryStatus::Failed)
        {
            NoticeStatus::Failed
        } else {
            NoticeStatus::Pending
        }
    }
}

/// The JSON body POSTed to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The notice's key (a receiver deduplicates retries by it).
    pub idempotency_key: IdempotencyKey,
    /// Whom it tells.
    pub account: Account,
    /// What about.
    pub kind: Kind,
    /// The subject.
    pub subject: String,
    /// The facts, in order.
    pub facts: Vec<Fact>,
    /// When this attempt was sent, ms since the Unix epoch (also `x-sdv-timestamp`).
    pub sent_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_injection_in_an_email_is_refused() {
        for bad in [
            "a@b.c\r\nBcc: x@y.z",
            "a@b.c\nBcc: x@y.z",
            "a b@c.d",
            "a@b@c.d",
            "abc.d",
            "@b.c",
            "a@",
            "Name <a@b.c>",
            "a@b.c, d@e.f",
            "",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad:?} was accepted");
            let json = serde_json::json!({ "email": bad });
            assert!(
                serde_json::from_value::<ContactUpdate>(json).is_err(),
                "{bad:?} was accepted in JSON"
            );
        }
        assert_eq!(
            "alice@example.org".parse::<Email>().unwrap().as_str(),
            "alice@example.org"
        );
    }

    #[test]
    fn webhooks_are_http_urls_without_credentials() {
        for good in ["http://127.0.0.1:9000/hook", "https://example.org/a?b=c"] {
            assert!(good.parse::<WebhookUrl>().is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "http://user:pw@example.org/",
            "https://example.org/#x",
            "example.org/hook",
            "javascript:alert(1)",
        ] {
            assert!(bad.parse::<WebhookUrl>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn accounts_are_0x_and_64_hex_digits() {
        let upper = format!("0x{}", "AB".repeat(32));
        assert_eq!(
            upper.parse::<Account>().unwrap().as_str(),
            format!("0x{}", "ab".repeat(32))
        );
        for bad in [
            "",
            "0x",
            &"ab".repeat(32),
            &format!("0x{}", "zz".repeat(32)),
        ] {
            assert!(bad.parse::<Account>().is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_path_safe() {
        assert!("deletion:42:2025-01-01".parse::<IdempotencyKey>().is_ok());
        for bad in ["", "a/b", "a b", "é", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert!(bad.parse::<IdempotencyKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn notices_read_facts_as_ordered_pairs_and_refuse_unknown_kinds() {
        let json = serde_json::json!({
            "idempotency_key": "k1",
            "account": format!("0x{}", "11".repeat(32)),
            "kind": "deletion_notice",
            "subject": "Deletion in 30 days",
            "facts": [["Document", "lease.pdf"], ["Uploaded", "2024-01-02"]],
        });
        let notice: Notice = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(notice.facts[1], ("Uploaded".into(), "2024-01-02".into()));
        notice.validate().unwrap();
        assert_eq!(serde_json::to_value(&notice).unwrap(), json);

        let mut unknown = json;
        unknown["kind"] = "party".into();
        let err = serde_json::from_value::<Notice>(unknown).unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }

    #[test]
    fn subjects_and_facts_without_line_breaks() {
        let notice = Notice::new(
            "k".parse().unwrap(),
            Account::from_bytes([1; 32]),
            Kind::DeletionDone,
            "Deleted",
        );
        assert!(notice.clone().fact("Document", "a.pdf").validate().is_ok());
        let mut bad = notice.clone();
        bad.subject = "Hi\r\nBcc: x@y.z".into();
        assert_eq!(bad.validate(), Err(Invalid::Subject));
        assert!(notice.clone().fact("", "x").validate().is_err());
        assert!(notice.clone().fact("a\nb", "x").validate().is_err());
        assert!(notice.fact("a", "x\ny").validate().is_err());
    }

    #[test]
    fn every_kind_round_trips() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
