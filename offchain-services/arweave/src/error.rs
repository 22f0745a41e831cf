//! The crate's error type.

/// The result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary field was not valid base64url.
    #[error("invalid base64url")]
    InvalidBase64Url,
    /// An id did not decode to 32 bytes.
    #[error("an id must be 32 bytes, got {len}")]
    InvalidIdLength {
        /// The decoded length.
        len: usize,
    },
    /// The wallet file is not JSON of the expected shape (the parser's message never quotes
    /// the file's content).
    #[error("invalid JWK: {reason}")]
    InvalidJwk {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key's numbers are not a consistent RSA key.
    #[error("invalid RSA key: {0}")]
    InvalidKey(#[source] rsa::Error),
    /// Arweave wallets are 4096-bit RSA keys with e = 65537.
    #[error("unsupported RSA key: {bits}-bit modulus, exponent {exponent}; Arweave needs 4096 bits and e = 65537")]
    UnsupportedKey {
        /// The modulus size in bits.
        bits: usize,
        /// The public exponent (truncated to 64 bits).
        exponent: u64,
    },
    /// Generating or using the private key failed.
    #[error("RSA operation failed: {0}")]
    Rsa(#[source] rsa::Error),
    /// An owner (public modulus) must be 512 bytes.
    #[error("an owner must be 512 bytes (a 4096-bit modulus), got {len}")]
    InvalidOwnerLength {
        /// The length received.
        len: usize,
    },
    /// The signature does not verify against the owner and message.
    #[error("signature does not verify")]
    InvalidSignature,
    /// The claimed id is not the SHA-256 of the signature.
    #[error("id {claimed} is not sha256(signature) = {actual}")]
    IdMismatch {
        /// The id claimed (base64url).
        claimed: String,
        /// The id the signature gives (base64url).
        actual: String,
    },
    /// The transaction's `data_root` or `data_size` does not describe its data.
    #[error("data_root/data_size do not match the transaction's data")]
    DataRootMismatch,
    /// A tag is not acceptable.
    #[error("invalid tag: {0}")]
    InvalidTag(#[from] TagError),
    /// A data item is malformed.
    #[error("invalid data item: {0}")]
    InvalidDataItem(#[from] DataItemError),
    /// A bundle is malformed.
    #[error("invalid bundle: {0}")]
    InvalidBundle(#[from] BundleError),
    /// A transaction's JSON is malformed.
    #[error("invalid transaction JSON: field `{field}` {reason}")]
    InvalidTransactionJson {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The gateway could not be reached or the connection failed.
    #[error("gateway request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The gateway answered with an error status.
    #[error("gateway refused {method} {path}: HTTP {status}: {body}")]
    Gateway {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The response body (truncated to 1 KiB).
        body: String,
    },
    /// [`crate::client::Gateway::upload`] could not upload a chunk: the gateway refused it
    /// (a 4xx other than 429), or every one of the attempts failed in transport, with a 5xx
    /// or with a 429. The headers were posted already.
    #[error("chunk {index} of {count} not uploaded after {attempts} attempt(s): {source}")]
    ChunkUpload {
        /// The chunk's position, from 0.
        index: usize,
        /// The number of chunks of the transaction.
        count: usize,
        /// How many times it was sent.
        attempts: u32,
        /// The last failure: [`Error::Gateway`] with the gateway's answer, or [`Error::Http`].
        source: Box<Error>,
    },
    /// The gateway answered 2xx with something this client does not understand.
    #[error("unexpected answer to {path}: {reason}")]
    UnexpectedResponse {
        /// The request path.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The gateway URL cannot be used.
    #[error("invalid gateway URL {url:?}")]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
}

/// Why a tag is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// ANS-104 allows at most 128 tags per data item.
    #[error("{count} tags, at most 128 are allowed")]
    TooMany {
        /// The number of tags.
        count: usize,
    },
    /// ANS-104 tag names and values must not be empty.
    #[error("tag {index} has an empty name or value")]
    Empty {
        /// The tag's position.
        index: usize,
    },
    /// ANS-104 tag names are at most 1024 bytes.
    #[error("tag {index}: name of {len} bytes, at most 1024 are allowed")]
    NameTooLong {
        /// The tag's position.
        index: usize,
        /// The name's length.
        len: usize,
    },
    /// ANS-104 tag values are at most 3072 bytes.
    #[error("tag {index}: value of {len} bytes, at most 3072 are allowed")]
    ValueTooLong {
        /// The tag's position.
        index: usize,
        /// The value's length.
        len: usize,
    },
    /// arbundles (and the bundlers and gateways built on it) refuse data items whose
    /// encoded tags exceed 4096 bytes.
    #[error("tags encode to {len} bytes, at most 4096 are allowed")]
    EncodedTooLarge {
        /// The size of the Avro encoding.
        len: usize,
    },
    /// Arweave transactions carry at most 2048 bytes of tag names and values in total.
    #[error("transaction tags total {total} bytes, at most 2048 are allowed")]
    TransactionTagsTooLarge {
        /// The total size of names and values.
        total: usize,
    },
}

/// Why bytes are not an ANS-104 data item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataItemError {
    /// The bytes end before the field.
    #[error("truncated: {field} needs bytes beyond the end")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Only signature type 1 (Arweave) is supported.
    #[error("unsupported signature type {0} (only 1, Arweave, is supported)")]
    UnsupportedSignatureType(u16),
    /// A presence byte is neither 0 nor 1.
    #[error("{field} presence byte is {value}, must be 0 or 1")]
    InvalidPresenceByte {
        /// `target` or `anchor`.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// The tag bytes do not decode to the declared number of tags.
    #[error("declares {declared} tags, its tag bytes hold {decoded}")]
    TagCountMismatch {
        /// The declared count.
        declared: u64,
        /// The count decoded.
        decoded: u64,
    },
    /// The tag bytes are not the Avro encoding of a tag array.
    #[error("tag bytes are not valid Avro: {reason}")]
    InvalidTagEncoding {
        /// What is wrong with them.
        reason: &'static str,
    },
    /// A decoded tag breaks the ANS-104 limits.
    #[error("{0}")]
    InvalidTag(TagError),
}

/// Why bytes are not an ANS-104 bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bytes end before the headers or items they announce.
    #[error("truncated: {what}")]
    Truncated {
        /// What is missing.
        what: &'static str,
    },
    /// A count or size does not fit in 64 bits.
    #[error("{what} does not fit in 64 bits")]
    NumberTooLarge {
        /// `item count` or `item size`.
        what: &'static str,
    },
    /// Bytes follow the last item.
    #[error("{extra} bytes after the last item")]
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    /// An item's header id is not the item's id.
    #[error("item {index}: header id {header} is not the item's id {item}")]
    IdMismatch {
        /// The item's position.
        index: usize,
        /// The id in the header (base64url).
        header: String,
        /// The item's id, sha256 of its signature (base64url).
        item: String,
    },
    /// An item is malformed.
    #[error("item {index}: {source}")]
    Item {
        /// The item's position.
        index: usize,
        /// What is wrong with it.
        source: DataItemError,
    },
}
