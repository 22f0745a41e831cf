//! Types shared by the Sovereign Document Vault contracts and the off-chain crates.
//!
//! Every event a contract emits is declared here once, with `#[ink::event]`, so that the
//! contract emitting it and the indexer decoding it can never disagree on its layout or on its
//! signature topic. Fields of a released event are never reordered.
//!
//! The crate is `no_std` for the contracts; the off-chain crates enable `std`.
#![cfg_attr(not(feature = "std"), no_std)]
// `cargo contract build` denies this lint; parity-scale-codec's derive emits `index as u8`
// casts for enums with data, which it flags although every index here is below 256.
#![allow(clippy::cast_possible_truncation)]

pub mod call;
pub mod document;
pub mod governance;
pub mod psp34;
pub mod recovery;
pub mod vault;

pub use ink;
pub use ink::primitives::AccountId;

/// Milliseconds since the Unix epoch, the unit of ink!'s `block_timestamp()`.
pub type Timestamp = u64;

/// A 32-byte hash (sha256 digests, evidence hashes, code hashes).
pub type Hash32 = [u8; 32];

/// A team vault's number in TeamVault.
pub type VaultId = u32;

/// One MB: 1,048,576 bytes, everywhere in the product.
pub const MB: u64 = 1024 * 1024;

/// Milliseconds in one hour.
pub const HOUR: Timestamp = 60 * 60 * 1000;
/// Milliseconds in one day.
pub const DAY: Timestamp = 24 * HOUR;

/// Decodes a contract event if its first topic is `E`'s ink! 5 signature topic.
///
/// Returns `None` when the event is of another type (or anonymous), `Some(Err(_))` when the
/// signature matches but the data does not decode.
#[cfg(feature = "std")]
pub fn decode_event<E>(topics: &[[u8; 32]], data: &[u8]) -> Option<Result<E, scale::Error>>
where
    E: ink::env::Event + scale::Decode,
{
    let signature = E::SIGNATURE_TOPIC?;
    if topics.first() != Some(&signature) {
        return None;
    }
    Some(E::decode(&mut &data[..]))
}

/// The ink! 5 signature topic of `E`, the first topic of every event of that type.
pub fn signature_topic<E: ink::env::Event>() -> Option<[u8; 32]> {
    E::SIGNATURE_TOPIC
}
