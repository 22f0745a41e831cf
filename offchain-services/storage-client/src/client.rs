//! The gateway's HTTP client ([`GatewayClient`]) and the chunked, resumable [`Uploader`].
//!
//! Every call maps a non-2xx answer to [`Error::Api`] with the gateway's [`ErrorBody`]. The
//! uploader sends the chunks an [`UploadStatus`] lists as missing, at most
//! [`UploadStatus::parallel_chunks`] at a time, read from the ciphertext file at their
//! offsets (memory stays within `parallel_chunks` × [`CHUNK_SIZE`]). A chunk that fails for a
//! reason that may pass (no connection, a timeout, 408, 429, 5xx) is retried after each of
//! [`Uploader::retry_delays`] (1 s, 2 s, 4 s); when the last retry fails too the upload stops
//! with [`Error::Paused`], and resuming is asking the gateway for the status again and
//! uploading what is still missing. Any other refusal (a hash mismatch, 403, 409, 410, 413...)
//! stops the upload at once.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use crate::{
    envelope::{create_temp_next_to, parse_public_key},
    protocol::{
        chunk_count, login_message, Challenge, ChallengeRequest, ChunkReceipt, CreateUpload,
        ErrorBody, Login, LoginRequest, RecoveryKeyInfo, Scheme, SessionInfo, UploadState,
        UploadStatus, WrappedKey, CHUNK_SHA256_HEADER, CHUNK_SIZE, OBJECT_SHA256_HEADER,
    },
    Error, Result,
};

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one chunk request may take, by default (5 MB at about 20 KB/s).
pub const DEFAULT_CHUNK_TIMEOUT: Duration = Duration::from_secs(300);

/// A client of one storage gateway, logged in or not.
#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Zeroizing<String>>,
    session: Option<Login>,
    chunk_timeout: Duration,
}

impl fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayClient")
            .field("base", &self.base.as_str())
            .field("logged_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// A document read from the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Ciphertext bytes.
    pub size: u64,
    /// Their sha256, as the gateway announced and the bytes confirmed.
    pub sha256: [u8; 32],
}

impl GatewayClient {
    /// A client of the gateway at `base_url` (e.g. `http://127.0.0.1:8800`), not logged in.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] when `base_url` is not an `http` or `https` URL.
    pub fn new(base_url: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidUrl {
            url: base_url.to_owned(),
            reason,
        };
        let base = Url::parse(base_url).map_err(|_| invalid("not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("not an http or https URL"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base,
            token: None,
            session: None,
            chunk_timeout: DEFAULT_CHUNK_TIMEOUT,
        })
    }

    /// The same client with another timeout for each chunk request.
    pub fn with_chunk_timeout(mut self, timeout: Duration) -> Self {
        self.chunk_timeout = timeout;
        self
    }

    /// The same client using a bearer token obtained before (a session that is resumed).
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(Zeroizing::new(token.to_owned())),
            session: None,
            ..self.clone()
        }
    }

    /// The gateway's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The bearer token, when logged in.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().map(String::as_str)
    }

    /// The login session, when this client logged in itself.
    pub fn session(&self) -> Option<&Login> {
        self.session.as_ref()
    }

    /// Asks for a login challenge for `account` (SS58 or `0x` hex).
    ///
    /// # Errors
    ///
    /// [`Error::Http`], [`Error::Api`].
    pub async fn challenge(&self, account: &str) -> Result<Challenge> {
        let request = ChallengeRequest {
            account: account.to_owned(),
        };
        let url = self.url(&["v1", "auth", "challenge"]);
        json(self.send(self.http.post(url).json(&request)).await?).await
    }

    /// Logs in as `account_hex` (`0x` hex): asks for a challenge, has `sign` sign the
    /// protocol's [`login_message`], and returns a client that carries the bearer token.
    ///
    /// The message signed is built here, not taken from the gateway, so a gateway cannot
    /// have the wallet sign anything else.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResponse`] when the challenge is not 32 bytes of hex or its message
    /// is not the protocol's; [`Error::Http`], [`Error::Api`] (a wrong signature is a 401).
    pub async fn login(
        &self,
        account_hex: &str,
        scheme: Scheme,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<GatewayClient> {
        self.login_with(account_hex, scheme, |message| async move {
            Ok::<_, std::convert::Infallible>(sign(&message))
        })
        .await
    }

    /// [`GatewayClient::login`] for a wallet whose signature takes a round trip and may fail,
    /// such as a threshold (MPC) wallet whose co-signer is a service.
    ///
    /// # Errors
    ///
    /// As [`GatewayClient::login`], and [`Error::Signing`] when `sign` fails.
    pub async fn login_with<F, Fut, E>(
        &self,
        account_hex: &str,
        scheme: Scheme,
        sign: F,
    ) -> Result<GatewayClient>
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<[u8; 64], E>>,
        E: fmt::Display,
    {
        let challenge = self.challenge(account_hex).await?;
        if !hex::decode(&challenge.challenge).is_ok_and(|c| c.len() == 32) {
            return Err(Error::InvalidResponse(
                "the login challenge is not 32 bytes of hex",
            ));
        }
        let message = login_message(account_hex, &challenge.challenge);
        if challenge.message != message {
            return Err(Error::InvalidResponse(
                "the login challenge asks to sign another message than the protocol's",
            ));
        }
        let signature = sign(message.into_bytes())
            .await
            .map_err(|e| Error::Signing(e.to_string()))?;
        let request = LoginRequest {
            account: account_hex.to_owned(),
            scheme,
            challenge: challenge.challenge,
            signature: hex::encode(signature),
        };
        let url = self.url(&["v1", "auth", "login"]);
        let login: Login = json(self.send(self.http.post(url).json(&request)).await?).await?;
        Ok(Self {
            token: Some(Zeroizing::new(login.token.clone())),
            session: Some(login),
            ..self.clone()
        })
    }

    /// The login sessions of the logged-in account.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>> {
        json(self.call(Method::GET, &["v1", "auth", "sessions"]).await?).await
    }

    /// Ends a login session (this one or another of the account's).
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn end_session(&self, session_id: &str) -> Result<()> {
        self.call(Method::DELETE, &["v1", "auth", "sessions", session_id])
            .await?;
        Ok(())
    }

    /// Opens an upload session.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`] (e.g. a tier limit).
    pub async fn create_upload(&self, request: &CreateUpload) -> Result<UploadStatus> {
        let url = self.url(&["v1", "uploads"]);
        let builder = self.authorized(self.http.post(url))?.json(request);
        json(self.send(builder).await?).await
    }

    /// Where an upload is.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn upload_status(&self, upload_id: &str) -> Result<UploadStatus> {
        json(
            self.call(Method::GET, &["v1", "uploads", upload_id])
                .await?,
        )
        .await
    }

    /// The account's open uploads.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn list_uploads(&self) -> Result<Vec<UploadStatus>> {
        json(self.call(Method::GET, &["v1", "uploads"]).await?).await
    }

    /// Sends chunk `index` of an upload, with its sha256.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn put_chunk(
        &self,
        upload_id: &str,
        index: u32,
        bytes: Bytes,
    ) -> Result<ChunkReceipt> {
        let index_text = index.to_string();
        let url = self.url(&["v1", "uploads", upload_id, "chunks", &index_text]);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let builder = self
            .authorized(self.http.put(url))?
            .timeout(self.chunk_timeout)
            .header(CHUNK_SHA256_HEADER, sha256)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        json(self.send(builder).await?).await
    }

    /// Asks the gateway to verify the whole upload and store it.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn complete(&self, upload_id: &str) -> Result<UploadStatus> {
        json(
            self.call(Method::POST, &["v1", "uploads", upload_id, "complete"])
                .await?,
        )
        .await
    }

    /// Aborts an upload.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn abort(&self, upload_id: &str) -> Result<()> {
        self.call(Method::DELETE, &["v1", "uploads", upload_id])
            .await?;
        Ok(())
    }

    /// Reads a document's ciphertext into `dst`, streaming, and checks it against the
    /// gateway's [`OBJECT_SHA256_HEADER`]. The bytes go to a temporary file next to `dst`,
    /// renamed to `dst` only when the hash matched.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResponse`] without a valid hash header, [`Error::HashMismatch`],
    /// [`Error::Io`], [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn read_document(&self, token_id: u64, dst: &Path) -> Result<Downloaded> {
        let id = token_id.to_string();
        let mut response = self.call(Method::GET, &["v1", "documents", &id]).await?;
        let expected = response
            .headers()
            .get(OBJECT_SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_sha256)
            .ok_or(Error::InvalidResponse(
                "the document has no valid x-sdv-sha256 header",
            ))?;
        let (tmp, file) = create_temp_next_to(dst)?;
        let result = async {
            let mut file = tokio::fs::File::from_std(file);
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = response.chunk().await? {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.sync_all().await?;
            let actual: [u8; 32] = hasher.finalize().into();
            if actual != expected {
                return Err(Error::HashMismatch {
                    expected: hex::encode(expected),
                    actual: hex::encode(actual),
                });
            }
            tokio::fs::rename(&tmp, dst).await?;
            Ok(Downloaded {
                size,
                sha256: actual,
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// The wrapped data keys of a document that the logged-in account may open.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoggedIn`], [`Error::Http`], [`Error::Api`].
    pub async fn document_keys(&self, token_id: u64) -> Result<Vec<WrappedKey>> {
        let id = token_id.to_string();
        json(
            self.call(Method::GET, &["v1", "documents", &id, "keys"])
                .await?,
        )
        .await
    }

    /// The recovery key's X25519 public key, which every data key is also wrapped to.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidResponse`] when it is not 64 hex digits; [`Error::Http`],
    /// [`Error::Api`].
    pub async fn recovery_key(&self) -> Result<PublicKey> {
        let url = self.url(&["v1", "recovery-key"]);
        let info: RecoveryKeyInfo = json(self.send(self.http.get(url)).await?).await?;
        parse_public_key(&info.public_key)
            .map_err(|_| Error::InvalidResponse("the recovery key is not 64 hex digits"))
    }

    /// The URL of a path under the base, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new: the base URL can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    fn authorized(&self, builder: RequestBuilder) -> Result<RequestBuilder> {
        let token = self.token.as_ref().ok_or(Error::NotLoggedIn)?;
        Ok(builder.bearer_auth(token.as_str()))
    }

    /// An authorized request without a body.
    async fn call(&self, method: Method, segments: &[&str]) -> Result<Response> {
        let builder = self.authorized(self.http.request(method, self.url(segments)))?;
        self.send(builder).await
    }

    async fn send(&self, builder: RequestBuilder) -> Result<Response> {
        let response = builder.send().await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(api_error(response).await)
        }
    }
}

async fn json<T: DeserializeOwned>(response: Response) -> Result<T> {
    Ok(response.json().await?)
}

/// The error of a non-2xx answer: its [`ErrorBody`], or (from a proxy, say) the start of its
/// text under the code `http_<status>`.
async fn api_error(response: Response) -> Error {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(body) => Error::Api {
            status: status.as_u16(),
            code: body.code,
            error: body.error,
        },
        Err(_) => {
            let text: String = String::from_utf8_lossy(&body)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(200)
                .collect();
            Error::Api {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                error: if text.is_empty() {
                    status.canonical_reason().unwrap_or("no reason").to_owned()
                } else {
                    text
                },
            }
        }
    }
}

fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).ok()?.try_into().ok()
}

/// What the uploader reports while it works (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// The upload begins: `total` ciphertext bytes, of which the gateway has `already`.
    fn started(&self, total: u64, already: u64);
    /// A chunk of `bytes` was accepted.
    fn advanced(&self, bytes: u64);
    /// Chunk `index` failed with `error` and is sent again after `delay`; `attempt` counts the
    /// retries from 1.
    fn retrying(&self, index: u32, attempt: u32, delay: Duration, error: &str);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _total: u64, _already: u64) {}
    fn advanced(&self, _bytes: u64) {}
    fn retrying(&self, _index: u32, _attempt: u32, _delay: Duration, _error: &str) {}
}

/// Sends the missing chunks of an upload session.
#[derive(Debug, Clone)]
pub struct Uploader {
    client: GatewayClient,
    /// The wait before each retry of a failed chunk; as many retries as delays. By default
    /// [`Uploader::DEFAULT_RETRY_DELAYS`].
    pub retry_delays: Vec<Duration>,
}

impl Uploader {
    /// The spec's backoff: three retries, after 1 s, 2 s and 4 s.
    pub const DEFAULT_RETRY_DELAYS: [Duration; 3] = [
        Duration::from_secs(1),
        Duration::from_secs(2),
        Duration::from_secs(4),
    ];

    /// An uploader through `client`, which must be logged in.
    pub fn new(client: GatewayClient) -> Self {
        Self {
            client,
            retry_delays: Self::DEFAULT_RETRY_DELAYS.to_vec(),
        }
    }

    /// Sends the chunks of the ciphertext file `path` that `status` lists as missing, at most
    /// `status.parallel_chunks` at a time. It does not complete the upload: call
    /// [`GatewayClient::complete`] when it returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`Error::UploadNotOpen`], [`Error::FileSizeMismatch`], [`Error::InvalidResponse`] for
    /// a session whose chunking is not the protocol's; [`Error::Paused`] when a chunk failed
    /// on every retry; the first refusal that is not [`Error::is_retryable`], at once.
    pub async fn upload(
        &self,
        path: &Path,
        status: &UploadStatus,
        progress: &dyn Progress,
    ) -> Result<()> {
        if status.state != UploadState::Open {
            return Err(Error::UploadNotOpen {
                state: status.state,
            });
        }
        if status.chunk_size != CHUNK_SIZE || status.chunks != chunk_count(status.size) {
            return Err(Error::InvalidResponse(
                "the upload session's chunks are not the protocol's",
            ));
        }
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len != status.size {
            return Err(Error::FileSizeMismatch {
                file: len,
                upload: status.size,
            });
        }
        let file = Arc::new(file);
        let missing = status.missing();
        let missing_bytes: u64 = missing
            .iter()
            .map(|&i| chunk_range(status.size, i).1 as u64)
            .sum();
        progress.started(status.size, status.size - missing_bytes);
        let parallel = usize::from(status.parallel_chunks.max(1));
        futures::stream::iter(missing)
            .map(Ok)
            .try_for_each_concurrent(parallel, |index| {
                self.send_chunk(&file, status, index, progress)
            })
            .await
    }

    async fn send_chunk(
        &self,
        file: &Arc<std::fs::File>,
        status: &UploadStatus,
        index: u32,
        progress: &dyn Progress,
    ) -> Result<()> {
        let (offset, len) = chunk_range(status.size, index);
        let bytes = read_at(Arc::clone(file), offset, len).await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self
                .client
                .put_chunk(&status.upload_id, index, bytes.clone())
                .await
            {
                Ok(_) => {
                    progress.advanced(len as u64);
                    return Ok(());
                }
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e.with_causes(),
            };
            match self.retry_delays.get(attempts as usize - 1) {
                Some(&delay) => {
                    progress.retrying(index, attempts, delay, &error);
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(Error::Paused {
                        index,
                        attempts,
                        last_error: error,
                    })
                }
            }
        }
    }
}

/// The offset and length of chunk `index` of an upload of `size` bytes.
fn chunk_range(size: u64, index: u32) -> (u64, usize) {
    let offset = u64::from(index) * CHUNK_SIZE;
    (offset, size.saturating_sub(offset).min(CHUNK_SIZE) as usize)
}

/// Reads `len` bytes at `offset` without moving a shared cursor.
async fn read_at(file: Arc<std::fs::File>, offset: u64, len: usize) -> Result<Bytes> {
    let read = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, offset)
            .map(|()| Bytes::from(buf))
    })
    .await
    .map_err(std::io::Error::other)?;
    Ok(read?)
}

#[cfg(test)]
mod tests;
