//! The crate's error type.

/// Everything that can go wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached: the connection was refused or did not open, or the
    /// request timed out. Another try may succeed once the node is back.
    #[error("the IPFS node at {url} is unreachable: {source}")]
    Unreachable {
        /// The API URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The connection broke after it was open, or the answer could not be read.
    #[error("talking to the IPFS node at {url}: {source}")]
    Http {
        /// The API URL called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error (its `Message`, e.g. "... is not pinned").
    #[error("the IPFS node refused {command} ({status}): {message}")]
    Api {
        /// The RPC command, e.g. `pin/add`.
        command: &'static str,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
    /// The node's answer is not what the RPC API says it is.
    #[error("the IPFS node's answer to {command} is not valid: {reason}")]
    InvalidResponse {
        /// The RPC command.
        command: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The node answered `add` with a CID that is not a base32 CIDv1 (it ignored the pinned
    /// CID parameters).
    #[error("the IPFS node added the content as {cid}, not as a base32 CIDv1")]
    UnexpectedCid {
        /// The CID it gave.
        cid: String,
    },
    /// A string that is not a base32 CIDv1.
    #[error("\"{cid}\" is not a base32 CIDv1: {reason}")]
    InvalidCid {
        /// The string given.
        cid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The node's API URL is not an `http://` or `https://` URL.
    #[error("\"{0}\" is not an IPFS API URL (http://host:port)")]
    InvalidUrl(String),
}

impl Error {
    /// Whether the node could not be reached (as opposed to having answered): the case to
    /// retry later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// The message with its causes, `a: b: c`, on one line.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let message = cause.to_string();
            if !text.contains(&message) {
                text.push_str(": ");
                text.push_str(&message);
            }
            source = cause.source();
        }
        text
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
