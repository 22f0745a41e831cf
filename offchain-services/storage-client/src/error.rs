//! The crate's error type.

use std::path::PathBuf;

use crate::{envelope::RECORD_SIZE, protocol::UploadState};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a local file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// The file does not start with the `SDV1` header of an encrypted document.
    #[error("not an SDV encrypted document (no SDV1 header)")]
    NotEncrypted,
    /// The header names a record size this version does not read.
    #[error(
        "unsupported record size {0} in the document header (this version reads {RECORD_SIZE})"
    )]
    UnsupportedRecordSize(u32),
    /// The encrypted document ends before its last record.
    #[error("the encrypted document is truncated")]
    Truncated,
    /// The encrypted document goes on after its last record.
    #[error("the encrypted document has data after its last record")]
    TrailingData,
    /// A record did not authenticate: a changed byte, a reordered or swapped record, a header
    /// that is not this document's, or another key.
    #[error(
        "record {index} of the encrypted document failed authentication: it was changed, \
         reordered or truncated, or it is not encrypted with this key"
    )]
    RecordAuthentication {
        /// The record (0-based).
        index: u32,
    },
    /// A plaintext longer than the format holds ([`crate::envelope::MAX_PLAINTEXT_LEN`]).
    #[error("a document of {0} bytes is larger than the encrypted format holds")]
    TooLarge(u64),
    /// The plaintext file changed size while it was being encrypted.
    #[error("the file changed while it was being encrypted")]
    SourceChanged,
    /// A wrapped key is neither [`crate::envelope::WRAPPED_KEY_LEN`] (v1) nor
    /// [`crate::envelope::WRAPPED_KEY_V2_LEN`] (v2) bytes.
    #[error(
        "a wrapped key is {0} bytes, neither {v1} (v1) nor {v2} (v2)",
        v1 = crate::envelope::WRAPPED_KEY_LEN,
        v2 = crate::envelope::WRAPPED_KEY_V2_LEN
    )]
    WrappedKeyLength(usize),
    /// A wrapped key does not open with this secret key.
    #[error(
        "the wrapped key does not open with this secret key (another recipient's, or corrupt)"
    )]
    KeyUnwrap,
    /// The X25519 exchange gave the all-zero shared secret: the other side's public key has a
    /// small order, and a key wrapped with it would be readable by anyone.
    #[error("the X25519 public key is of small order (all-zero shared secret)")]
    WeakPublicKey,
    /// An X25519 public key that is not 64 hex digits.
    #[error("not an X25519 public key (64 hex digits)")]
    InvalidPublicKey,
    /// A key file that is not 64 hex digits.
    #[error("{}: not an X25519 key file: {reason}", path.display())]
    InvalidKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A retention option name that does not exist.
    #[error(
        "unknown retention option \"{0}\" (one of minimum, standard, extended, \
         regulatory_us_tax, long_term, indefinite, permanent)"
    )]
    UnknownRetention(String),
    /// A document class name that does not exist.
    #[error("unknown document class \"{0}\" (one of us_tax, financial, kyc, other)")]
    UnknownClass(String),

    /// The gateway's base URL is not usable.
    #[error("\"{url}\" is not a gateway URL: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The gateway could not be reached, or its answer could not be read.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The gateway answered with an error.
    #[error("the gateway refused ({status} {code}): {error}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The machine-readable word of [`crate::protocol::ErrorBody`].
        code: String,
        /// The gateway's message.
        error: String,
    },
    /// The wallet could not sign the login challenge (a threshold wallet's co-signer refused
    /// or could not be reached).
    #[error("signing the login challenge failed: {0}")]
    Signing(String),
    /// A call that needs a login session was made without one.
    #[error("not logged in to the gateway")]
    NotLoggedIn,
    /// The gateway's answer breaks the protocol.
    #[error("the gateway's answer is not valid: {0}")]
    InvalidResponse(&'static str),
    /// A downloaded document does not hash to what the gateway announced.
    #[error("the downloaded document's sha256 is {actual}, the gateway announced {expected}")]
    HashMismatch {
        /// The hash of [`crate::protocol::OBJECT_SHA256_HEADER`].
        expected: String,
        /// The hash of the bytes received.
        actual: String,
    },
    /// The file to upload is not the size the upload session was opened for.
    #[error("the file is {file} bytes but the upload session is for {upload}")]
    FileSizeMismatch {
        /// The file's size.
        file: u64,
        /// The session's size.
        upload: u64,
    },
    /// The upload session takes no more chunks.
    #[error("the upload is {state:?}, not open: it takes no more chunks")]
    UploadNotOpen {
        /// Where it is.
        state: UploadState,
    },
    /// A chunk failed on every retry; the chunks sent so far stay with the gateway.
    #[error(
        "chunk {index} failed {attempts} times (last error: {last_error}); the upload is \
         paused: check the connection and resume it"
    )]
    Paused {
        /// The chunk.
        index: u32,
        /// How many times it was sent.
        attempts: u32,
        /// The last failure, with its causes.
        last_error: String,
    },
}

impl Error {
    /// Whether sending the same request again may succeed: the connection failed or timed out,
    /// or the gateway answered 408, 429 or a 5xx. Any other refusal is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(e) => !e.is_builder() && !e.is_redirect() && !e.is_decode(),
            Self::Api { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
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
