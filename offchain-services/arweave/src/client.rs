//! The HTTP client of an Arweave gateway (or of `arlocal`).
//!
//! It reads what it needs to build a transaction (anchor, price), posts transactions, and
//! reads their status and data. It never mines: on `arlocal`, mining is the test
//! harness's job.

use bytes::Bytes;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::tx::Transaction;
use crate::{b64url_decode, b64url_encode, Error, Result, TxId};

/// The longest gateway body kept in an [`Error::Gateway`].
const MAX_ERROR_BODY: usize = 1024;

/// A gateway's `/info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkInfo {
    /// The network's name (`arlocal.N` on arlocal).
    pub network: String,
    /// The current block height.
    pub height: u64,
    /// The current block's hash (base64url).
    #[serde(default)]
    pub current: String,
    /// The number of blocks the gateway holds.
    #[serde(default)]
    pub blocks: u64,
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatus {
    /// Accepted, not yet in a block (HTTP 202).
    Pending,
    /// Unknown to the gateway (HTTP 404).
    NotFound,
    /// In a block.
    Confirmed {
        /// The height of the block holding it.
        block_height: u64,
        /// The number of blocks from that one to the tip, itself included.
        confirmations: u64,
    },
}

/// A client of one gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    base_url: String,
    http: reqwest::Client,
}

impl Gateway {
    /// A client of the gateway at `base_url` (e.g. `http://127.0.0.1:1984`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if `base_url` is not an http(s) URL.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_client(base_url, reqwest::Client::new())
    }

    /// A client of the gateway at `base_url` using `http` (for its timeouts, proxies...).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if `base_url` is not an http(s) URL.
    pub fn with_client(base_url: &str, http: reqwest::Client) -> Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                Ok(Self { base_url, http })
            }
            _ => Err(Error::InvalidUrl { url: base_url }),
        }
    }

    /// The gateway's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /info`.
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] or [`Error::UnexpectedResponse`].
    pub async fn info(&self) -> Result<NetworkInfo> {
        let path = "/info".to_owned();
        let body = self.get_ok(&path).await?;
        serde_json::from_slice(&body).map_err(|e| unexpected(&path, e.to_string()))
    }

    /// `GET /tx_anchor`: the anchor (`last_tx`) for a new transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] or [`Error::UnexpectedResponse`] if the answer is
    /// not base64url.
    pub async fn tx_anchor(&self) -> Result<Vec<u8>> {
        let path = "/tx_anchor".to_owned();
        let body = self.get_text(&path).await?;
        b64url_decode(body.trim())
            .map_err(|_| unexpected(&path, "the anchor is not base64url".to_owned()))
    }

    /// `GET /price/{bytes}`: the fee in winston for a transaction of `bytes` bytes of data.
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] or [`Error::UnexpectedResponse`].
    pub async fn price(&self, bytes: u64) -> Result<u128> {
        let path = format!("/price/{bytes}");
        let body = self.get_text(&path).await?;
        parse_winston(&path, &body)
    }

    /// `GET /wallet/{address}/balance`: the balance in winston.
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] or [`Error::UnexpectedResponse`].
    pub async fn balance(&self, address: &str) -> Result<u128> {
        let path = format!("/wallet/{}/balance", check_segment(address)?);
        let body = self.get_text(&path).await?;
        parse_winston(&path, &body)
    }

    /// `POST /tx` with the transaction's JSON, data inline.
    ///
    /// # Errors
    ///
    /// [`Error::Gateway`] with the gateway's status and body when it refuses (e.g. an
    /// unfunded wallet, a bad signature), [`Error::Http`] when it cannot be reached.
    pub async fn post(&self, tx: &Transaction) -> Result<()> {
        let path = "/tx";
        let response = self
            .http
            .post(self.url(path))
            .json(&tx.to_json())
            .send()
            .await?;
        check_status("POST", path, response).await?;
        Ok(())
    }

    /// `GET /tx/{id}/status`: 202 (or arlocal's 200 `Pending`) is [`TxStatus::Pending`], 404
    /// [`TxStatus::NotFound`], 200 with `block_height` and `number_of_confirmations`
    /// [`TxStatus::Confirmed`].
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] for other statuses, or
    /// [`Error::UnexpectedResponse`] for a 200 without `block_height` and
    /// `number_of_confirmations`.
    pub async fn status(&self, id: &TxId) -> Result<TxStatus> {
        #[derive(Deserialize)]
        struct Confirmed {
            block_height: u64,
            number_of_confirmations: u64,
        }
        let path = format!("/tx/{}/status", b64url_encode(id));
        let response = self.http.get(self.url(&path)).send().await?;
        match response.status() {
            StatusCode::ACCEPTED => Ok(TxStatus::Pending),
            StatusCode::NOT_FOUND => Ok(TxStatus::NotFound),
            _ => {
                let body = check_status("GET", &path, response).await?;
                // arlocal answers a pending transaction with 200 and the text "Pending".
                if body.trim_ascii() == b"Pending" {
                    return Ok(TxStatus::Pending);
                }
                let status: Confirmed =
                    serde_json::from_slice(&body).map_err(|e| unexpected(&path, e.to_string()))?;
                Ok(TxStatus::Confirmed {
                    block_height: status.block_height,
                    confirmations: status.number_of_confirmations,
                })
            }
        }
    }

    /// `GET /{id}`: the data of a transaction, or of a data item where the gateway indexes
    /// bundles (arlocal does: it unbundles ANS-104 transactions when they are posted).
    ///
    /// # Errors
    ///
    /// [`Error::Http`] or [`Error::Gateway`] (404 when unknown).
    pub async fn data(&self, id: &TxId) -> Result<Bytes> {
        self.get_ok(&format!("/{}", b64url_encode(id))).await
    }

    /// `GET /tx/{id}`: the transaction's headers as the gateway's JSON (see
    /// [`Transaction::from_json`]).
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Gateway`] (404 when unknown) or
    /// [`Error::UnexpectedResponse`] (also for a pending transaction, which gateways answer
    /// with 202 `Pending`).
    pub async fn tx(&self, id: &TxId) -> Result<Value> {
        let path = format!("/tx/{}", b64url_encode(id));
        let body = self.get_ok(&path).await?;
        serde_json::from_slice(&body).map_err(|e| unexpected(&path, e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn get_ok(&self, path: &str) -> Result<Bytes> {
        let response = self.http.get(self.url(path)).send().await?;
        check_status("GET", path, response).await
    }

    async fn get_text(&self, path: &str) -> Result<String> {
        let body = self.get_ok(path).await?;
        String::from_utf8(body.to_vec())
            .map_err(|_| unexpected(path, "the answer is not UTF-8".to_owned()))
    }
}

/// The body of a 2xx answer, or [`Error::Gateway`].
async fn check_status(
    method: &'static str,
    path: &str,
    response: reqwest::Response,
) -> Result<Bytes> {
    let status = response.status();
    let body = response.bytes().await?;
    if status.is_success() {
        return Ok(body);
    }
    let mut text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]).into_owned();
    if body.len() > MAX_ERROR_BODY {
        text.push_str("...");
    }
    Err(Error::Gateway {
        method,
        path: path.to_owned(),
        status: status.as_u16(),
        body: text,
    })
}

fn parse_winston(path: &str, body: &str) -> Result<u128> {
    body.trim().parse().map_err(|_| {
        unexpected(
            path,
            "the amount is not a decimal number of winston".to_owned(),
        )
    })
}

fn unexpected(path: &str, reason: String) -> Error {
    Error::UnexpectedResponse {
        path: path.to_owned(),
        reason,
    }
}

/// An address goes into a path: allow base64url only.
fn check_segment(address: &str) -> Result<&str> {
    if !address.is_empty()
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(address)
    } else {
        Err(Error::InvalidBase64Url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A gateway on loopback answering `GET path` with `(status, body)` from `routes`, and 404
    /// to everything else.
    async fn fake_gateway(routes: Vec<(&'static str, u16, &'static str)>) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&request)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    let path = line.split(' ').nth(1).unwrap_or("");
                    let (status, body) = routes
                        .iter()
                        .find(|(p, _, _)| *p == path)
                        .map_or((404, "Not Found"), |(_, status, body)| (*status, *body));
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Gateway::new(&url).unwrap()
    }

    const ID: TxId = [1; 32];

    fn status_path() -> &'static str {
        // base64url of 32 bytes of 0x01.
        "/tx/AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE/status"
    }

    #[tokio::test]
    async fn status_maps_gateway_answers() {
        assert_eq!(
            b64url_encode(&ID),
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
        );
        let pending = fake_gateway(vec![(status_path(), 202, "Pending")]).await;
        assert_eq!(pending.status(&ID).await.unwrap(), TxStatus::Pending);
        let arlocal_pending = fake_gateway(vec![(status_path(), 200, "Pending")]).await;
        assert_eq!(
            arlocal_pending.status(&ID).await.unwrap(),
            TxStatus::Pending
        );
        let unknown = fake_gateway(vec![]).await;
        assert_eq!(unknown.status(&ID).await.unwrap(), TxStatus::NotFound);
        let confirmed = fake_gateway(vec![(
            status_path(),
            200,
            r#"{"block_height":12,"block_indep_hash":"x","number_of_confirmations":3}"#,
        )])
        .await;
        assert_eq!(
            confirmed.status(&ID).await.unwrap(),
            TxStatus::Confirmed {
                block_height: 12,
                confirmations: 3
            }
        );
        let broken = fake_gateway(vec![(status_path(), 500, "database is down")]).await;
        match broken.status(&ID).await {
            Err(Error::Gateway {
                method: "GET",
                status: 500,
                body,
                ..
            }) => assert_eq!(body, "database is down"),
            other => panic!("expected a gateway error, got {other:?}"),
        }
        let garbled = fake_gateway(vec![(status_path(), 200, "{}")]).await;
        assert!(matches!(
            garbled.status(&ID).await,
            Err(Error::UnexpectedResponse { .. })
        ));
    }

    #[tokio::test]
    async fn amounts_and_anchor_are_parsed() {
        let gateway = fake_gateway(vec![
            ("/price/1000", 200, "65595508"),
            ("/price/5", 200, "lots"),
            (
                "/wallet/abc-_9/balance",
                200,
                "340282366920938463463374607431768211455",
            ),
            (
                "/tx_anchor",
                200,
                "bn41v66hw2z6kbaz88ztsenhazkqw707qvf3ynp7e2juo0u5cvz6zta7ow2v2zvk",
            ),
        ])
        .await;
        assert_eq!(gateway.price(1000).await.unwrap(), 65_595_508);
        assert!(matches!(
            gateway.price(5).await,
            Err(Error::UnexpectedResponse { .. })
        ));
        assert_eq!(gateway.balance("abc-_9").await.unwrap(), u128::MAX);
        assert!(matches!(
            gateway.balance("../mine").await,
            Err(Error::InvalidBase64Url)
        ));
        assert_eq!(gateway.tx_anchor().await.unwrap().len(), 48);
        assert!(matches!(
            gateway.data(&ID).await,
            Err(Error::Gateway { status: 404, .. })
        ));
    }

    #[test]
    fn urls_must_be_http() {
        assert!(matches!(
            Gateway::new("ftp://x"),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(matches!(
            Gateway::new("not a url"),
            Err(Error::InvalidUrl { .. })
        ));
        assert_eq!(
            Gateway::new("http://127.0.0.1:1984/").unwrap().base_url(),
            "http://127.0.0.1:1984"
        );
    }
}
