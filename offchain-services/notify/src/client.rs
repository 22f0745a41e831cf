//! A typed client of the API, for the services that send notices.

use reqwest::{
    header::{HeaderMap, HeaderValue},
    Method, StatusCode,
};
use sdv_config::Secret;
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    model::{Account, Contact, ContactUpdate, IdempotencyKey, Notice, NoticeState},
    API_KEY_HEADER,
};

/// What went wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API key cannot be sent in a header (not visible ASCII).
    #[error("the API key is not a valid header value")]
    BadApiKey,
    /// The service was unreachable, or its answer unreadable.
    #[error("sdv-notify: {0}")]
    Http(#[from] reqwest::Error),
    /// The service refused the request.
    #[error("sdv-notify answered {status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's code (`no_contact`, `bad_request`, `unauthorized`...).
        code: String,
        /// What it said.
        message: String,
    },
}

impl Error {
    /// The API's error code, if the service answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The result type of the client.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A client of `sdv-notify`.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client of the service at `base_url` (`http://127.0.0.1:8400`) with `api_key`.
    pub fn new(base_url: impl Into<String>, api_key: &Secret) -> Result<Self> {
        let mut key = HeaderValue::from_bytes(api_key.expose()).map_err(|_| Error::BadApiKey)?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(API_KEY_HEADER, key);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            base: base_url.into().trim_end_matches('/').to_owned(),
        })
    }

    /// Sets `account`'s contact (both fields; an omitted one is cleared).
    pub async fn set_contact(&self, account: &Account, update: &ContactUpdate) -> Result<Contact> {
        self.call(
            Method::PUT,
            &format!("/v1/contacts/{account}"),
            Some(update),
        )
        .await
    }

    /// `account`'s contact, `None` if it has none.
    pub async fn contact(&self, account: &Account) -> Result<Option<Contact>> {
        not_found_as_none(
            self.call::<(), _>(Method::GET, &format!("/v1/contacts/{account}"), None)
                .await,
        )
    }

    /// Submits `notice`: its state, also when its key was accepted before (then nothing more
    /// is sent). Fails with code `no_contact` when the account has no contact.
    pub async fn notify(&self, notice: &Notice) -> Result<NoticeState> {
        self.call(Method::POST, "/v1/notices", Some(notice)).await
    }

    /// The state of the notice accepted under `idempotency_key`, `None` if there is none.
    pub async fn notice(&self, idempotency_key: &IdempotencyKey) -> Result<Option<NoticeState>> {
        not_found_as_none(
            self.call::<(), _>(Method::GET, &format!("/v1/notices/{idempotency_key}"), None)
                .await,
        )
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let text = response.text().await.unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Err(Error::Api {
            status: status.as_u16(),
            code: answer["code"].as_str().unwrap_or("unknown").to_owned(),
            message: answer["error"]
                .as_str()
                .map_or_else(|| text.chars().take(200).collect(), str::to_owned),
        })
    }
}

fn not_found_as_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Api { status, .. }) if status == StatusCode::NOT_FOUND.as_u16() => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sqlx::PgPool;

    use super::*;
    use crate::{api, model::Kind, Channel, DeliveryStatus};

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn client_sets_contacts_and_submits_notices(pool: PgPool) {
        let key = Secret::new("client-test-key-0123456789");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let app = api::router(api::AppState {
            pool,
            api_key: key.clone(),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::new(base.clone(), &key).unwrap();
        let account = Account::from_bytes([5; 32]);

        assert_eq!(client.contact(&account).await.unwrap(), None);
        let notice = Notice::new(
            "recovery:1:initiated".parse().unwrap(),
            account.clone(),
            Kind::RecoveryInitiated,
            "A recovery of your wallet was initiated",
        )
        .fact("New wallet", format!("0x{}", "ab".repeat(32)));
        let err = client.notify(&notice).await.unwrap_err();
        assert_eq!(err.code(), Some("no_contact"), "{err}");

        let update = ContactUpdate {
            email: Some("me@example.org".parse().unwrap()),
            webhook_url: None,
        };
        let contact = client.set_contact(&account, &update).await.unwrap();
        assert_eq!(contact.email, update.email);
        assert_eq!(client.contact(&account).await.unwrap(), Some(contact));

        let state = client.notify(&notice).await.unwrap();
        assert_eq!(state.facts, notice.facts);
        let email = state.delivery(Channel::Email).unwrap();
        assert_eq!(email.status, DeliveryStatus::Pending);
        assert_eq!(email.destination, "me@example.org");
        assert_eq!(
            client.notice(&notice.idempotency_key).await.unwrap(),
            Some(state)
        );
        assert_eq!(client.notice(&"none".parse().unwrap()).await.unwrap(), None);

        let wrong = Client::new(base, &Secret::new("wrong-key-0123456789")).unwrap();
        let err = wrong.contact(&account).await.unwrap_err();
        assert_eq!(err.code(), Some("unauthorized"), "{err}");
    }
}
