//! Arweave for SDV: JWK wallets, signed format-2 transactions, ANS-104 data items and
//! bundles, and a client of an Arweave gateway (or of `arlocal` in tests).
//!
//! # Overview
//!
//! - [`wallet`]: an Arweave wallet (RSA-4096, e = 65537) in the standard JWK form, its
//!   address and owner, RSA-PSS/SHA-256 signatures and [`wallet::verify`].
//! - [`deep_hash`]: Arweave's `deepHash` (SHA-384) over nested lists of blobs, the message
//!   that transactions and data items sign.
//! - [`merkle`]: the format-2 `data_root`: 256 KiB chunks exactly as arweave-js
//!   `chunkData` cuts them, the Merkle tree over them and each chunk's proof.
//! - [`tx`]: a signed format-2 [`tx::Transaction`] and its gateway JSON.
//! - [`ans104`]: ANS-104 [`ans104::DataItem`]s (signature type 1, Arweave) and
//!   [`ans104::Bundle`]s of them.
//! - [`client`]: [`client::Gateway`], the HTTP client of a gateway: anchor, price, balance,
//!   uploading (inline or chunk by chunk), status and data.
//!
//! # Archiving data, step by step
//!
//! 1. Load the [`wallet::Wallet`] from its JWK ([`wallet::Wallet::from_jwk`]).
//! 2. Either sign one [`ans104::DataItem`] per document and [`ans104::Bundle::build`] them
//!    into one payload tagged with [`ans104::Bundle::tags`], or use the document itself as
//!    the payload.
//! 3. Ask the gateway for an anchor ([`client::Gateway::tx_anchor`]) and the price of the
//!    payload ([`client::Gateway::price`]).
//! 4. [`tx::Transaction::sign`] the payload; [`client::Gateway::upload`] it: data of at most
//!    [`client::MAX_INLINE_DATA`] (256 KiB, one chunk) travels inline in the `POST /tx` body
//!    ([`client::Gateway::post`], which gateways accept up to about 12 MiB); larger data goes
//!    as the headers to `POST /tx`, then chunk by chunk to `POST /chunk`.
//! 5. Poll [`client::Gateway::status`] until the transaction is
//!    [`client::TxStatus::Confirmed`] with enough confirmations. This crate never mines; on
//!    `arlocal` that is the test harness's job.
//!
//! # Error handling
//!
//! One [`Error`] for the crate. Malformed input (a JWK, a data item, a bundle, a gateway
//! answer) is an error naming what is wrong, never a panic. Refusals of the gateway are
//! [`Error::Gateway`] with its status and body. Private keys are zeroized on drop and never
//! appear in `Debug` output or error messages.

pub mod ans104;
pub mod client;
pub mod deep_hash;
mod encoding;
mod error;
pub mod merkle;
pub mod tx;
pub mod wallet;

pub use encoding::{b64url_decode, b64url_encode, id_from_b64url, sha256, TxId};
pub use error::{BundleError, DataItemError, Error, Result, TagError};
pub use tx::Tag;
