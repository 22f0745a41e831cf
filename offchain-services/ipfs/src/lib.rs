//! A client of an IPFS node's HTTP RPC API (the Kubo API, which js-ipfs serves too).
//!
//! # Overview
//!
//! [`IpfsClient`] speaks the node's RPC API (`POST /api/v0/<command>`): it adds content with
//! the CID parameters SDV pins ([`CID_VERSION`], [`RAW_LEAVES`], [`CHUNKER`], [`HASH`], written
//! in [`CID_BASE`]) so that the same bytes always get the same CID, whichever node adds them;
//! it pins and unpins, reads content back with a deadline, collects garbage, and asks the node
//! who and what it is for health checks. [`cid_to_bytes`] and [`cid_from_bytes`] convert a
//! CID between the string the node speaks and the binary form the chain stores.
//!
//! # Life cycle of a backup copy
//!
//! 1. [`IpfsClient::add`] the ciphertext (pinned as it is added); keep [`AddResult::cid`].
//!    [`IpfsClient::add_only_hash`] gives the same CID without storing anything.
//! 2. Store [`cid_to_bytes`] of it on chain.
//! 3. [`IpfsClient::pin_ls`] tells whether the node still pins it; [`IpfsClient::cat`] reads it.
//! 4. To delete: [`IpfsClient::pin_rm`], then [`IpfsClient::repo_gc`] removes the blocks.
//!
//! # Error handling
//!
//! One [`Error`] for the crate. [`Error::Unreachable`] (connection refused, or a timeout) is the
//! node being away, worth a retry; [`Error::Api`] is the node's own refusal with its message.
//! "Not pinned" is an answer, not an error: [`IpfsClient::pin_ls`] and [`IpfsClient::pin_rm`]
//! return `false` for it.

mod cid;
mod error;

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use reqwest::{multipart, Response};
use serde::{de::DeserializeOwned, Deserialize};

pub use cid::{cid_from_bytes, cid_to_bytes, BASE32_PREFIX};
pub use error::{Error, Result};

/// The CID version of added content: 1 (CIDv0 cannot name raw leaves).
pub const CID_VERSION: u8 = 1;
/// Leaves are stored as raw blocks (codec `raw`), not wrapped in UnixFS protobuf: a file of
/// one chunk gets the CID of its bytes' sha2-256.
pub const RAW_LEAVES: bool = true;
/// Content is cut into fixed chunks of 256 KiB (the node's default, pinned so that a change
/// of default cannot change CIDs).
pub const CHUNKER: &str = "size-262144";
/// The multihash of every block.
pub const HASH: &str = "sha2-256";
/// The multibase the node writes CIDs in: lowercase base32 (`b...`), what [`cid_to_bytes`]
/// reads.
pub const CID_BASE: &str = "base32";

/// How long a request other than [`IpfsClient::cat`] and the adds may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What a `cat` may take beyond the node's own deadline before the client gives up.
const CAT_GRACE: Duration = Duration::from_secs(5);

/// What the node made of added content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddResult {
    /// The content's CIDv1 in base32 (`bafk...` for one raw block, `bafy...` for a DAG).
    pub cid: String,
    /// The size the node reports: the bytes of the blocks, including the DAG's own nodes, so
    /// a little more than the content for a file of several chunks.
    pub size: u64,
}

/// The node's identity (`id`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeId {
    /// Its peer id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its agent, e.g. `js-ipfs/0.18.1` or `kubo/0.29.0/`.
    #[serde(rename = "AgentVersion", default)]
    pub agent_version: String,
    /// The multiaddresses it listens on.
    #[serde(rename = "Addresses", default)]
    pub addresses: Vec<String>,
}

/// The node's software version (`version`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeVersion {
    /// Its version, e.g. `0.18.1`.
    #[serde(rename = "Version")]
    pub version: String,
    /// Its repository's format version.
    #[serde(rename = "Repo", default)]
    pub repo: String,
}

/// The node's error answer (`{"Message": ..., "Code": ..., "Type": "error"}`).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "Message")]
    message: String,
}

/// One line of `add`'s answer.
#[derive(Deserialize)]
struct AddLine {
    #[serde(rename = "Hash")]
    hash: String,
    #[serde(rename = "Size", default)]
    size: Option<SizeField>,
}

/// `Size`: a number from js-ipfs, a string from Kubo.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeField {
    Number(u64),
    Text(String),
}

/// `pin/ls`'s answer: the pins asked about, keyed by CID.
#[derive(Deserialize)]
struct PinLs {
    #[serde(rename = "Keys", default)]
    keys: serde_json::Map<String, serde_json::Value>,
}

/// `pin/add`'s and `pin/rm`'s answer.
#[derive(Deserialize)]
struct Pins {
    #[serde(rename = "Pins", default)]
    pins: Vec<String>,
}

/// One line of `repo/gc`'s answer.
#[derive(Deserialize)]
struct GcLine {
    #[serde(rename = "Key", default)]
    key: Option<serde_json::Value>,
    #[serde(rename = "Error", default)]
    error: Option<String>,
}

/// A client of one node's RPC API.
#[derive(Debug, Clone)]
pub struct IpfsClient {
    http: reqwest::Client,
    api_url: String,
}

impl IpfsClient {
    /// A client of the node whose RPC API listens at `api_url`, e.g. `http://127.0.0.1:5001`
    /// (with or without a trailing `/`; `/api/v0` is added). Nothing is sent until a call.
    pub fn new(api_url: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|source| Error::Http {
                url: api_url.to_owned(),
                source,
            })?;
        Self::with_http_client(http, api_url)
    }

    /// [`Self::new`] with a `reqwest` client of the caller's (its timeouts apply as well).
    pub fn with_http_client(http: reqwest::Client, api_url: &str) -> Result<Self> {
        let api_url = api_url.trim_end_matches('/');
        let rest = api_url
            .strip_prefix("http://")
            .or_else(|| api_url.strip_prefix("https://"))
            .ok_or_else(|| Error::InvalidUrl(api_url.to_owned()))?;
        if rest.is_empty() {
            return Err(Error::InvalidUrl(api_url.to_owned()));
        }
        Ok(Self {
            http,
            api_url: api_url.to_owned(),
        })
    }

    /// The API URL the client calls (without `/api/v0`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Adds and pins content with the pinned CID parameters and returns its CID.
    ///
    /// `body` is anything `reqwest` sends: `Vec<u8>`, [`Bytes`], a `tokio::fs::File` (read as
    /// it is sent), a [`reqwest::Body::wrap_stream`]. `len`, when known, is sent as the part's
    /// length; without it the upload is chunked. The same bytes give the
    /// same CID on any node.
    pub async fn add(&self, body: impl Into<reqwest::Body>, len: Option<u64>) -> Result<AddResult> {
        self.add_with(body.into(), len, false).await
    }

    /// [`Self::add`] of a stream of byte chunks (e.g. a file read piece by piece), which is
    /// never held in memory whole.
    pub async fn add_stream<S, E>(&self, stream: S, len: Option<u64>) -> Result<AddResult>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        self.add_with(reqwest::Body::wrap_stream(stream), len, false)
            .await
    }

    /// The CID that [`Self::add`] would give the content, computed by the node
    /// (`only-hash=true`) without storing or pinning anything.
    pub async fn add_only_hash(
        &self,
        body: impl Into<reqwest::Body>,
        len: Option<u64>,
    ) -> Result<AddResult> {
        self.add_with(body.into(), len, true).await
    }

    async fn add_with(
        &self,
        body: reqwest::Body,
        len: Option<u64>,
        only_hash: bool,
    ) -> Result<AddResult> {
        const COMMAND: &str = "add";
        let part = match len {
            Some(len) => multipart::Part::stream_with_length(body, len),
            None => multipart::Part::stream(body),
        }
        .file_name("content")
        .mime_str("application/octet-stream")
        .map_err(|source| self.transport(source))?;
        let form = multipart::Form::new().part("file", part);
        let mut query = vec![
            ("cid-version", CID_VERSION.to_string()),
            ("raw-leaves", RAW_LEAVES.to_string()),
            ("chunker", CHUNKER.to_owned()),
            ("hash", HASH.to_owned()),
            ("cid-base", CID_BASE.to_owned()),
            ("pin", (!only_hash).to_string()),
            ("progress", "false".to_owned()),
        ];
        if only_hash {
            query.push(("only-hash", "true".to_owned()));
        }
        let response = self
            .post(COMMAND)
            .query(&query)
            .multipart(form)
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        let text = self
            .ok(COMMAND, response)
            .await?
            .text()
            .await
            .map_err(|source| self.transport(source))?;
        // One JSON object per line: one per file added (one here), progress lines never
        // (progress=false). The last line with a Hash names the whole.
        let mut last = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line: AddLine = serde_json::from_str(line).map_err(|e| Error::InvalidResponse {
                command: COMMAND,
                reason: format!("{e}: {line}"),
            })?;
            last = Some(line);
        }
        let line = last.ok_or(Error::InvalidResponse {
            command: COMMAND,
            reason: "no line with a Hash".to_owned(),
        })?;
        let size = match line.size {
            Some(SizeField::Number(n)) => n,
            Some(SizeField::Text(s)) => s.parse().map_err(|_| Error::InvalidResponse {
                command: COMMAND,
                reason: format!("Size {s:?} is not a number"),
            })?,
            None => 0,
        };
        if cid_to_bytes(&line.hash).is_err() {
            return Err(Error::UnexpectedCid { cid: line.hash });
        }
        Ok(AddResult {
            cid: line.hash,
            size,
        })
    }

    /// The whole content of `cid`. The node looks for it for at most `timeout` (`timeout=`),
    /// and the client waits a few seconds more: content the node does not have (garbage
    /// collected, never added) is an error after about `timeout`, never a hang.
    pub async fn cat(&self, cid: &str, timeout: Duration) -> Result<Bytes> {
        let response = self.cat_response(cid, timeout).await?;
        response
            .bytes()
            .await
            .map_err(|source| self.transport(source))
    }

    /// [`Self::cat`] as a stream of chunks as the node sends them, for content too large to
    /// hold. The deadline covers the whole transfer.
    pub async fn cat_stream(
        &self,
        cid: &str,
        timeout: Duration,
    ) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static> {
        let response = self.cat_response(cid, timeout).await?;
        let api_url = self.api_url.clone();
        Ok(response.bytes_stream().map_err(move |source| Error::Http {
            url: api_url.clone(),
            source,
        }))
    }

    async fn cat_response(&self, cid: &str, timeout: Duration) -> Result<Response> {
        const COMMAND: &str = "cat";
        let response = self
            .post(COMMAND)
            .timeout(timeout + CAT_GRACE)
            .query(&[
                ("arg", cid),
                ("timeout", &format!("{}ms", timeout.as_millis().max(1))),
            ])
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        self.ok(COMMAND, response).await
    }

    /// Pins `cid` recursively (fetching what the node lacks, within the request's deadline).
    /// Pinning what is pinned already is fine.
    pub async fn pin_add(&self, cid: &str) -> Result<()> {
        const COMMAND: &str = "pin/add";
        let response = self
            .post(COMMAND)
            .query(&[("arg", cid), ("recursive", "true")])
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        let pins: Pins = self.json(COMMAND, response).await?;
        if pins.pins.is_empty() {
            return Err(Error::InvalidResponse {
                command: COMMAND,
                reason: "no pin in the answer".to_owned(),
            });
        }
        Ok(())
    }

    /// Whether the node pins `cid` recursively (as [`Self::add`] and [`Self::pin_add`] do).
    /// The node's "not pinned" answer is `false`; any other refusal is an error.
    pub async fn pin_ls(&self, cid: &str) -> Result<bool> {
        const COMMAND: &str = "pin/ls";
        let response = self
            .post(COMMAND)
            .query(&[("arg", cid), ("type", "recursive"), ("cid-base", CID_BASE)])
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        match self.json::<PinLs>(COMMAND, response).await {
            Ok(pins) => Ok(!pins.keys.is_empty()),
            Err(e) if is_not_pinned(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the recursive pin of `cid`: `true` when there was one, `false` when the node
    /// did not pin it. The blocks stay until [`Self::repo_gc`].
    pub async fn pin_rm(&self, cid: &str) -> Result<bool> {
        const COMMAND: &str = "pin/rm";
        let response = self
            .post(COMMAND)
            .query(&[("arg", cid), ("recursive", "true")])
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        match self.json::<Pins>(COMMAND, response).await {
            Ok(pins) => Ok(!pins.pins.is_empty()),
            Err(e) if is_not_pinned(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Collects garbage: removes every block no pin holds. Returns how many it removed.
    pub async fn repo_gc(&self) -> Result<usize> {
        const COMMAND: &str = "repo/gc";
        let response = self
            .post(COMMAND)
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        let text = self
            .ok(COMMAND, response)
            .await?
            .text()
            .await
            .map_err(|source| self.transport(source))?;
        let mut removed = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line: GcLine = serde_json::from_str(line).map_err(|e| Error::InvalidResponse {
                command: COMMAND,
                reason: format!("{e}: {line}"),
            })?;
            if let Some(message) = line.error.filter(|m| !m.is_empty()) {
                return Err(Error::Api {
                    command: COMMAND,
                    status: 200,
                    message,
                });
            }
            if line.key.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The node's identity; a cheap call for a health check.
    pub async fn id(&self) -> Result<NodeId> {
        const COMMAND: &str = "id";
        let response = self
            .post(COMMAND)
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        self.json(COMMAND, response).await
    }

    /// The node's software version.
    pub async fn version(&self) -> Result<NodeVersion> {
        const COMMAND: &str = "version";
        let response = self
            .post(COMMAND)
            .send()
            .await
            .map_err(|source| self.transport(source))?;
        self.json(COMMAND, response).await
    }

    /// `POST <api>/api/v0/<command>` (the RPC API takes no GET), with the default deadline
    /// unless the caller sets another.
    fn post(&self, command: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/v0/{command}", self.api_url))
            .timeout(REQUEST_TIMEOUT)
    }

    /// The response when it is a success, else [`Error::Api`] with the node's message.
    async fn ok(&self, command: &'static str, response: Response) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.message)
            .unwrap_or_else(|_| text.trim().to_owned());
        Err(Error::Api {
            command,
            status: status.as_u16(),
            message,
        })
    }

    /// The successful response's JSON body.
    async fn json<T: DeserializeOwned>(
        &self,
        command: &'static str,
        response: Response,
    ) -> Result<T> {
        let text = self
            .ok(command, response)
            .await?
            .text()
            .await
            .map_err(|source| self.transport(source))?;
        serde_json::from_str(&text).map_err(|e| Error::InvalidResponse {
            command,
            reason: format!("{e}: {}", text.chars().take(200).collect::<String>()),
        })
    }

    /// A transport error: [`Error::Unreachable`] when the connection did not open or the
    /// request timed out, [`Error::Http`] otherwise.
    fn transport(&self, source: reqwest::Error) -> Error {
        let url = self.api_url.clone();
        if source.is_connect() || source.is_timeout() {
            Error::Unreachable { url, source }
        } else {
            Error::Http { url, source }
        }
    }
}

/// Whether the node's refusal says the CID is not pinned (js-ipfs: "... is not pinned";
/// Kubo: "... is not pinned" / "not pinned or pinned indirectly").
fn is_not_pinned(error: &Error) -> bool {
    matches!(error, Error::Api { message, .. } if message.contains("not pinned"))
}
