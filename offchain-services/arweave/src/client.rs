//! The HTTP client of an Arweave gateway (or of `arlocal`).
//!
//! It reads what it needs to build a transaction (anchor, price), posts transactions, and
//! reads their status and data. It never mines: on `arlocal`, mining is the test
//! harness's job.
//!
//! # Posting
//!
//! [`Gateway::upload`] is how a transaction is sent. It does what arweave-js
//! `transactions.post` (its `TransactionUploader`) does: data of at most
//! [`MAX_INLINE_DATA`] (one chunk) travels inline in `POST /tx` ([`Gateway::post`]); larger
//! data goes as the headers to `POST /tx` ([`Transaction::to_header_json`]), then as each
//! chunk with its proof to `POST /chunk`, in order. Gateways refuse inline data beyond about
//! 12 MiB, so [`Gateway::post`] alone cannot send large transactions.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::merkle::{self, TransactionChunks};
use crate::tx::Transaction;
use crate::{b64url_decode, b64url_encode, Error, Result, TxId};

/// The longest gateway body kept in an [`Error::Gateway`].
const MAX_ERROR_BODY: usize = 1024;

/// The most data [`Gateway::upload`] sends inline in `POST /tx`: one chunk
/// ([`merkle::MAX_CHUNK_SIZE`], 256 KiB).
///
/// arweave-js `TransactionUploader` puts the data in the `/tx` body only when it is at most
/// `MAX_CHUNKS_IN_BODY = 1` chunk, and uploads anything larger to `/chunk`. Data of at most
/// 256 KiB is exactly one chunk (256 KiB makes one full chunk and an empty one, which is never
/// uploaded). Gateways accept inline data up to about 12 MiB (arlocal: 12 MB of data in a
/// JSON body of at most 15 MB), which [`Gateway::post`] is limited to.
pub const MAX_INLINE_DATA: usize = merkle::MAX_CHUNK_SIZE;

/// How many times [`Gateway::upload`] sends a chunk before it gives up on a transport error,
/// a 5xx or a 429.
pub const CHUNK_ATTEMPTS: u32 = 4;

/// The pause before a chunk's first retry; it doubles before each further one (250 ms,
/// 500 ms, 1 s).
const CHUNK_RETRY_DELAY: Duration = Duration::from_millis(250);

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
        self.post_json("/tx", &tx.to_json()).await
    }

    /// Posts `tx` with its data as arweave-js does: inline ([`Gateway::post`]) when the data
    /// is at most [`MAX_INLINE_DATA`]; otherwise the headers
    /// ([`Transaction::to_header_json`]) to `POST /tx`, then every chunk of
    /// [`merkle::transaction_chunks`], in order, to `POST /chunk` as
    /// `{"data_root", "data_size", "data_path", "offset", "chunk"}` (binary fields in
    /// base64url, numbers as decimal strings, `offset` that of the chunk's last byte).
    ///
    /// A chunk that fails in transport, or gets a 5xx or a 429, is sent again after a pause
    /// (250 ms, doubling), up to [`CHUNK_ATTEMPTS`] times in all. Sending a chunk twice is
    /// harmless: nodes keep one copy, arlocal serves one.
    ///
    /// # Errors
    ///
    /// [`Error::DataRootMismatch`], before anything is sent, when `tx.data` is not the data
    /// that `data_size` (and, for chunked data, `data_root`) describe, e.g. for headers read
    /// back from a gateway. The errors of [`Gateway::post`] for the inline post or the
    /// headers. [`Error::ChunkUpload`] naming the chunk and holding the gateway's answer when
    /// a chunk is refused (a 4xx other than 429) or fails every attempt; the headers are in
    /// then, and the transaction only gets its data once every chunk is.
    pub async fn upload(&self, tx: &Transaction) -> Result<()> {
        if tx.data.len() as u64 != tx.data_size {
            return Err(Error::DataRootMismatch);
        }
        if tx.data.len() <= MAX_INLINE_DATA {
            return self.post(tx).await;
        }
        let chunks = merkle::transaction_chunks(&tx.data);
        if chunks.data_root[..] != tx.data_root[..] {
            return Err(Error::DataRootMismatch);
        }
        self.post_json("/tx", &tx.to_header_json()).await?;
        let count = chunks.chunks.len();
        for index in 0..count {
            let body = chunk_body(tx, &chunks, index);
            self.post_chunk(index, count, body).await?;
        }
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

    async fn post_json(&self, path: &str, body: &Value) -> Result<()> {
        let response = self.http.post(self.url(path)).json(body).send().await?;
        check_status("POST", path, response).await?;
        Ok(())
    }

    /// `POST /chunk` of the chunk `index` (of `count`), retried as [`Gateway::upload`] says.
    async fn post_chunk(&self, index: usize, count: usize, body: Bytes) -> Result<()> {
        let path = "/chunk";
        let mut delay = CHUNK_RETRY_DELAY;
        let mut attempts = 1;
        loop {
            let sent = self
                .http
                .post(self.url(path))
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let result = match sent {
                Ok(response) => check_status("POST", path, response).await.map(drop),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if attempts < CHUNK_ATTEMPTS && is_transient(&e) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempts += 1;
                }
                Err(e) => {
                    return Err(Error::ChunkUpload {
                        index,
                        count,
                        attempts,
                        source: Box::new(e),
                    })
                }
            }
        }
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

/// The JSON of `POST /chunk` for chunk `index` of `tx`, as arweave-js `Transaction.getChunk`
/// builds it.
fn chunk_body(tx: &Transaction, chunks: &TransactionChunks, index: usize) -> Bytes {
    let chunk = &chunks.chunks[index];
    let proof = &chunks.proofs[index];
    // The ranges come from `tx.data`'s own chunking, so they lie within it.
    let bytes = &tx.data[chunk.min_byte_range as usize..chunk.max_byte_range as usize];
    let body = json!({
        "data_root": b64url_encode(&chunks.data_root),
        "data_size": tx.data_size.to_string(),
        "data_path": b64url_encode(&proof.proof),
        "offset": proof.offset.to_string(),
        "chunk": b64url_encode(bytes),
    });
    Bytes::from(body.to_string())
}

/// Whether sending again may help: transport errors, 5xx and 429 (too many requests).
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Http(_) => true,
        Error::Gateway { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
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
    use crate::wallet::tests::test_wallet;
    use std::sync::{Arc, Mutex};
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

    /// A request as a [`scripted_gateway`] received it.
    #[derive(Debug, Clone)]
    struct Received {
        method: String,
        path: String,
        body: Vec<u8>,
    }

    impl Received {
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    /// What a [`scripted_gateway`] does with a request.
    enum Answer {
        /// Answers with this status and body.
        Status(u16, &'static str),
        /// Closes the connection without answering.
        Hang,
    }

    type Script = dyn Fn(usize, &Received) -> Answer + Send + Sync;

    /// A gateway on loopback that reads every request whole (headers and body), records it
    /// and answers what `script` says for the n-th request (from 0). Returns the client and
    /// the record.
    async fn scripted_gateway(
        script: impl Fn(usize, &Received) -> Answer + Send + Sync + 'static,
    ) -> (Gateway, Arc<Mutex<Vec<Received>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        let script: Arc<Script> = Arc::new(script);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (record, script) = (record.clone(), script.clone());
                tokio::spawn(serve_scripted(socket, record, script));
            }
        });
        (Gateway::new(&url).unwrap(), received)
    }

    /// Serves the requests of one connection for [`scripted_gateway`].
    async fn serve_scripted(
        mut socket: tokio::net::TcpStream,
        record: Arc<Mutex<Vec<Received>>>,
        script: Arc<Script>,
    ) {
        let mut buffer = Vec::new();
        let mut read = [0u8; 64 * 1024];
        loop {
            let end = loop {
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match socket.read(&mut read).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&read[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, value)| value.trim().parse().unwrap());
            while buffer.len() < end + length {
                match socket.read(&mut read).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&read[..n]),
                }
            }
            let mut line = head.lines().next().unwrap_or("").split(' ');
            let request = Received {
                method: line.next().unwrap_or("").to_owned(),
                path: line.next().unwrap_or("").to_owned(),
                body: buffer[end..end + length].to_vec(),
            };
            buffer.drain(..end + length);
            let answer = {
                let mut record = record.lock().unwrap();
                let answer = script(record.len(), &request);
                record.push(request);
                answer
            };
            let Answer::Status(status, body) = answer else {
                return;
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if socket.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    /// A transaction signed over `len` bytes of `i % 251`.
    fn signed(len: usize) -> Transaction {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        Transaction::sign(&test_wallet(), data, vec![], vec![9; 48], 1).unwrap()
    }

    fn paths(received: &Mutex<Vec<Received>>) -> Vec<String> {
        let received = received.lock().unwrap();
        received
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
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

    #[tokio::test]
    async fn data_of_one_chunk_is_posted_inline() {
        // Given a gateway that accepts everything.
        let (gateway, received) = scripted_gateway(|_, _| Answer::Status(200, "OK")).await;

        // When transactions of 1000 bytes and of exactly one chunk (256 KiB) are uploaded.
        for len in [1000, MAX_INLINE_DATA] {
            let tx = signed(len);
            gateway.upload(&tx).await.unwrap();

            // Then each is one `POST /tx` with its data inline.
            let last = received.lock().unwrap().last().unwrap().clone();
            assert_eq!(last.json(), tx.to_json(), "{len} bytes");
        }
        assert_eq!(paths(&received), ["POST /tx", "POST /tx"]);
    }

    #[tokio::test]
    async fn larger_data_is_posted_as_headers_then_chunks_in_order() {
        // Given a gateway that accepts everything, and 600,000 bytes: three chunks.
        let (gateway, received) = scripted_gateway(|_, _| Answer::Status(200, "{}")).await;
        let tx = signed(600_000);

        // When the transaction is uploaded.
        gateway.upload(&tx).await.unwrap();

        // Then the headers go first, without data, and the chunks follow in order, each as
        // arweave-js `getChunk` sends it.
        assert_eq!(
            paths(&received),
            ["POST /tx", "POST /chunk", "POST /chunk", "POST /chunk"]
        );
        let received = received.lock().unwrap();
        let header = received[0].json();
        assert_eq!(header, tx.to_header_json());
        assert_eq!(header["data"], "");
        assert_eq!(header["data_size"], "600000");
        let chunks = merkle::transaction_chunks(&tx.data);
        let mut data = Vec::new();
        for (index, request) in received[1..].iter().enumerate() {
            let chunk = request.json();
            let fields: Vec<&str> = chunk
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                fields,
                ["chunk", "data_path", "data_root", "data_size", "offset"]
            );
            assert_eq!(chunk["data_root"], b64url_encode(&tx.data_root));
            assert_eq!(chunk["data_size"], "600000");
            let offset = chunks.proofs[index].offset;
            assert_eq!(chunk["offset"], offset.to_string());
            assert_eq!(
                chunk["data_path"],
                b64url_encode(&chunks.proofs[index].proof)
            );
            let bytes = b64url_decode(chunk["chunk"].as_str().unwrap()).unwrap();
            data.extend_from_slice(&bytes);
            assert_eq!(
                data.len() as u64,
                offset + 1,
                "chunk {index} ends at its offset"
            );
        }
        assert_eq!(data, tx.data);
    }

    #[tokio::test]
    async fn transient_chunk_failures_are_retried() {
        // Given a gateway that fails the first attempt of the second chunk with a 503 and
        // the second by dropping the connection.
        let (gateway, received) = scripted_gateway(|n, _| match n {
            2 => Answer::Status(503, "timeout"),
            3 => Answer::Hang,
            _ => Answer::Status(200, "{}"),
        })
        .await;
        let tx = signed(600_000);

        // When the transaction is uploaded, it succeeds.
        gateway.upload(&tx).await.unwrap();

        // Then the second chunk was sent three times, the same each time.
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 1 + 3 + 2);
        assert_eq!(received[2].body, received[3].body);
        assert_eq!(received[3].body, received[4].body);
        assert_eq!(received[4].json()["offset"], "524287");
        assert_eq!(received[5].json()["offset"], "599999");
    }

    #[tokio::test]
    async fn refused_chunk_is_an_error_naming_it() {
        // Given a gateway that refuses the second chunk.
        let (gateway, received) = scripted_gateway(|n, _| match n {
            2 => Answer::Status(400, r#"{"error":"invalid_proof"}"#),
            _ => Answer::Status(200, "{}"),
        })
        .await;

        // When a transaction of three chunks is uploaded.
        let refused = gateway.upload(&signed(600_000)).await.unwrap_err();

        // Then the error names the chunk and holds the gateway's answer; the chunk was not
        // sent again and the third not at all.
        let message = refused.to_string();
        match refused {
            Error::ChunkUpload {
                index: 1,
                count: 3,
                attempts: 1,
                source,
            } => assert!(
                matches!(
                    *source,
                    Error::Gateway { method: "POST", status: 400, ref path, ref body }
                        if path == "/chunk" && body.contains("invalid_proof")
                ),
                "{source:?}"
            ),
            other => panic!("expected a chunk error, got {other:?}"),
        }
        assert!(
            message.contains("chunk 1 of 3") && message.contains("invalid_proof"),
            "{message}"
        );
        assert_eq!(received.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn chunk_failing_every_attempt_gives_up() {
        // Given a gateway whose `/chunk` always fails with a 500.
        let (gateway, received) = scripted_gateway(|_, request| {
            if request.path == "/chunk" {
                Answer::Status(500, "disk full")
            } else {
                Answer::Status(200, "OK")
            }
        })
        .await;

        // When a transaction of two chunks is uploaded, the first chunk is tried
        // `CHUNK_ATTEMPTS` times and the upload stops there.
        let error = gateway.upload(&signed(MAX_INLINE_DATA + 1)).await;
        assert!(
            matches!(
                &error,
                Err(Error::ChunkUpload { index: 0, count: 2, attempts: CHUNK_ATTEMPTS, source })
                    if matches!(**source, Error::Gateway { status: 500, .. })
            ),
            "{error:?}"
        );
        assert_eq!(received.lock().unwrap().len(), 1 + CHUNK_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn headers_without_their_data_are_not_uploaded() {
        // Given a transaction whose data is missing (headers read back) or not its own.
        let (gateway, received) = scripted_gateway(|_, _| Answer::Status(200, "{}")).await;
        let tx = signed(600_000);
        let headers = Transaction {
            data: Bytes::new(),
            ..tx.clone()
        };
        let mut other = tx.data.to_vec();
        other[0] ^= 1;
        let forged = Transaction {
            data: other.into(),
            ..tx
        };

        // Then neither is uploaded, and nothing is sent.
        for tx in [headers, forged] {
            assert!(matches!(
                gateway.upload(&tx).await,
                Err(Error::DataRootMismatch)
            ));
        }
        assert!(received.lock().unwrap().is_empty());
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
