//! The storage gateway's client side: its wire protocol, client-side envelope encryption,
//! document classification, and the chunked, resumable uploader.
//!
//! # Overview
//!
//! The gateway stores ciphertext it cannot read. Everything that needs the plaintext or a
//! key happens here, on the user's machine:
//!
//! - [`protocol`]: the gateway's requests and answers (shared with the gateway).
//! - [`envelope`]: the `SDV1` ciphertext format (AES-256-GCM in 1 MiB records, bound to the
//!   document and its header), data-key wrapping to X25519 keys, the wallet's encryption key
//!   derived from its seed, and the [`envelope::RecoveryKey`].
//! - [`classify`]: the document's class from its tags and text, and the retention floor the
//!   class imposes.
//! - [`client`]: the HTTP client of the gateway and the [`client::Uploader`].
//!
//! # Uploading a document, step by step
//!
//! 1. [`classify::classify`] the plaintext and its tags; [`classify::apply_floor`] to the
//!    retention the user chose.
//! 2. [`envelope::encrypt_file`] with a new [`envelope::DataKey`] and
//!    [`envelope::DocumentId`]; it returns the ciphertext's size and sha256.
//! 3. [`envelope::wrapped_key`] the data key to the owner's published X25519 key and to
//!    [`client::GatewayClient::recovery_key`].
//! 4. [`client::GatewayClient::login`], then
//!    [`create_upload`](client::GatewayClient::create_upload) with the size, hash, class,
//!    retention and wrapped keys.
//! 5. [`client::Uploader::upload`] the ciphertext file; after [`Error::Paused`], resume by
//!    asking for [`upload_status`](client::GatewayClient::upload_status) and uploading again.
//! 6. [`complete`](client::GatewayClient::complete): the gateway verifies the whole hash,
//!    stores the object and queues the mint.
//!
//! Reading is the reverse: [`read_document`](client::GatewayClient::read_document),
//! [`document_keys`](client::GatewayClient::document_keys), [`envelope::unwrap`] with the
//! wallet's [`envelope::encryption_secret_from_seed`], [`envelope::decrypt_file`].
//!
//! # Error handling
//!
//! One [`Error`] for the crate. Decryption failures name what failed (truncation, trailing
//! data, the record that did not authenticate) and never leave partial plaintext behind;
//! the gateway's refusals are [`Error::Api`] with its machine-readable code;
//! [`Error::is_retryable`] separates a connection that may come back from a final refusal.

pub mod classify;
pub mod client;
pub mod envelope;
mod error;
pub mod protocol;

pub use error::{Error, Result};
