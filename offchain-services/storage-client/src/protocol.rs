//! The storage gateway's wire protocol (spec section 2), shared by the gateway and its clients.
//!
//! Every body is JSON except a chunk (`application/octet-stream`) and a document read (the
//! ciphertext). Every error is a 4xx or 5xx with an [`ErrorBody`]. Hashes are lowercase hex
//! without `0x`; accounts are SS58 or `0x` hex on the way in, `0x` hex on the way out.
//!
//! | method and path | body -> answer |
//! | --- | --- |
//! | `POST /v1/auth/challenge` | [`ChallengeRequest`] -> [`Challenge`] |
//! | `POST /v1/auth/login` | [`LoginRequest`] -> [`Login`] |
//! | `GET /v1/auth/sessions` | -> `Vec<`[`SessionInfo`]`>` (the caller's account) |
//! | `DELETE /v1/auth/sessions/{session_id}` | -> 204 |
//! | `POST /v1/uploads` | [`CreateUpload`] -> [`UploadStatus`] |
//! | `GET /v1/uploads` | -> `Vec<`[`UploadStatus`]`>` (the caller's open uploads) |
//! | `GET /v1/uploads/{upload_id}` | -> [`UploadStatus`] |
//! | `PUT /v1/uploads/{upload_id}/chunks/{index}` | bytes, header [`CHUNK_SHA256_HEADER`] -> [`ChunkReceipt`] |
//! | `POST /v1/uploads/{upload_id}/complete` | -> [`UploadStatus`] |
//! | `DELETE /v1/uploads/{upload_id}` | -> 204 |
//! | `GET /v1/documents/{token_id}` | -> the ciphertext, header [`OBJECT_SHA256_HEADER`] |
//! | `GET /v1/documents/{token_id}/keys` | -> `Vec<`[`WrappedKey`]`>` |
//! | `GET /v1/recovery-key` | -> [`RecoveryKeyInfo`] |
//!
//! Every call but the two `auth` ones and `/v1/recovery-key` carries
//! `Authorization: Bearer <token>`.

use serde::{Deserialize, Serialize};

/// 1 MB is 1,048,576 bytes everywhere.
pub const MB: u64 = 1_048_576;

/// Every upload is sent in chunks of this size (the last one may be shorter), whatever the tier.
pub const CHUNK_SIZE: u64 = 5 * MB;

/// An upload session, or a login session, with no activity for this long has expired.
pub const IDLE_EXPIRY_MS: u64 = 24 * 60 * 60 * 1000;

/// A login challenge must be answered within this time.
pub const CHALLENGE_TTL_MS: u64 = 5 * 60 * 1000;

/// The header carrying a chunk's sha256 (hex) on `PUT .../chunks/{index}`.
pub const CHUNK_SHA256_HEADER: &str = "x-sdv-chunk-sha256";

/// The header carrying the object's sha256 (hex) on a document read.
pub const OBJECT_SHA256_HEADER: &str = "x-sdv-sha256";

/// The header of a read's answer naming where the ciphertext came from: `s3`, or `ipfs` or
/// `arweave` when S3 was unreachable (the storage service checked the sha256 of those).
pub const OBJECT_SOURCE_HEADER: &str = "x-sdv-source";

/// The number of chunks of a document of `size` bytes.
pub fn chunk_count(size: u64) -> u32 {
    size.div_ceil(CHUNK_SIZE) as u32
}

/// The exact text a wallet signs to log in (UTF-8 bytes; sr25519 with the `substrate`
/// signing context, or ed25519).
pub fn login_message(account_hex: &str, challenge_hex: &str) -> String {
    format!("SDV gateway login\naccount: {account_hex}\nchallenge: {challenge_hex}")
}

/// Every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// A machine-readable word, e.g. `chunk_hash_mismatch`, `tier_size_limit`.
    pub code: String,
    /// What is wrong, for a person.
    pub error: String,
}

/// Asks for a login challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeRequest {
    /// The wallet (SS58 or `0x` hex).
    pub account: String,
}

/// A login challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    /// 32 random bytes, hex.
    pub challenge: String,
    /// The text to sign: [`login_message`] of the account and the challenge.
    pub message: String,
    /// When the challenge stops being accepted (ms since the epoch).
    pub expires_at_ms: u64,
}

/// The signature scheme of a wallet.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Schnorrkel sr25519 (the Substrate default).
    Sr25519,
    /// Ed25519.
    Ed25519,
}

/// Answers a challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The wallet.
    pub account: String,
    /// How it signs.
    pub scheme: Scheme,
    /// The challenge, hex.
    pub challenge: String,
    /// The signature of [`Challenge::message`], hex (64 bytes).
    pub signature: String,
}

/// A new login session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// The bearer token (shown once; the gateway keeps only its hash).
    pub token: String,
    /// The session's id, for listing and ending it.
    pub session_id: String,
    /// The wallet it is bound to, `0x` hex.
    pub account: String,
}

/// One login session of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Its id.
    pub session_id: String,
    /// When it began (ms).
    pub created_at_ms: u64,
    /// Its last request (ms).
    pub last_seen_ms: u64,
    /// This is the session making the request.
    pub current: bool,
}

/// Who a document is for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HolderRef {
    /// The logged-in wallet itself.
    Account,
    /// A team vault the wallet administers: the ciphertext is staged for the vault's decision.
    Vault(u32),
}

/// The role of a wrapped data key.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Wrapped to the owner's encryption key published in DocumentNFT.
    Owner,
    /// Wrapped to the recovery key.
    Recovery,
    /// Wrapped to a reader the owner shared the document with.
    Reader,
}

/// A document's data key wrapped to one X25519 public key (see `envelope`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrappedKey {
    /// The recipient's X25519 public key, hex.
    pub recipient: String,
    /// Why it has a copy.
    pub role: KeyRole,
    /// The wrapped key, hex.
    pub wrapped: String,
}

/// Opens an upload session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUpload {
    /// Whose document it is.
    pub holder: HolderRef,
    /// Ciphertext bytes.
    pub size: u64,
    /// The manifest: sha256 of the whole ciphertext, hex.
    pub sha256: String,
    /// The client's classification: `us_tax`, `financial`, `kyc` or `other`.
    pub class: String,
    /// The retention option: `minimum`, `standard`, `extended`, `regulatory_us_tax`,
    /// `long_term`, `indefinite` or `permanent`.
    pub retention: String,
    /// An Arweave copy is requested (implied by `permanent`).
    #[serde(default)]
    pub arweave: bool,
    /// A label for notices (the file name); at most 256 bytes.
    #[serde(default)]
    pub name: Option<String>,
    /// The data key wrapped to the owner and to the recovery key.
    pub wrapped_keys: Vec<WrappedKey>,
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Chunks are arriving.
    Open,
    /// Verified and stored under `docs/{sha256}`; the mint is queued or done.
    Stored,
    /// Verified and stored in the vault's staging area; waits for the vault's decision.
    Staged,
    /// Aborted by the owner.
    Aborted,
    /// No activity for 24 hours.
    Expired,
    /// The full-file hash did not match the manifest: nothing was stored.
    Rejected,
}

/// The mint's progress, from the relayer's outbox and the indexer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MintStatus {
    /// `pending`, `signed`, `finalized` or `failed` (the outbox's word).
    pub status: String,
    /// The token, once the indexer shows it.
    pub token_id: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// An upload session as the gateway sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadStatus {
    /// Its id.
    pub upload_id: String,
    /// Where it is.
    pub state: UploadState,
    /// Ciphertext bytes.
    pub size: u64,
    /// The manifest hash.
    pub sha256: String,
    /// Always [`CHUNK_SIZE`].
    pub chunk_size: u64,
    /// The number of chunks.
    pub chunks: u32,
    /// The chunks the gateway has (ascending).
    pub received: Vec<u32>,
    /// The owner's tier when the session opened.
    pub tier: String,
    /// How many chunks may be in flight at once.
    pub parallel_chunks: u8,
    /// When it expires without activity (ms).
    pub expires_at_ms: u64,
    /// The mint, once stored.
    pub mint: Option<MintStatus>,
}

impl UploadStatus {
    /// The chunks still missing (ascending).
    pub fn missing(&self) -> Vec<u32> {
        let mut have = self.received.iter().copied().peekable();
        (0..self.chunks)
            .filter(|i| {
                while have.peek().is_some_and(|h| h < i) {
                    have.next();
                }
                have.peek() != Some(i)
            })
            .collect()
    }
}

/// A chunk was accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkReceipt {
    /// The chunk.
    pub index: u32,
    /// How many chunks the gateway has now.
    pub received: u32,
    /// Of how many.
    pub chunks: u32,
}

/// The recovery key data keys are also wrapped to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryKeyInfo {
    /// Its X25519 public key, hex.
    pub public_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_count_rounds_up() {
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE), 1);
        assert_eq!(chunk_count(CHUNK_SIZE + 1), 2);
        assert_eq!(chunk_count(60 * MB), 12);
        assert_eq!(chunk_count(500 * MB), 100);
    }

    #[test]
    fn missing_is_the_complement_of_received() {
        let status = UploadStatus {
            upload_id: "u".into(),
            state: UploadState::Open,
            size: 6 * CHUNK_SIZE,
            sha256: String::new(),
            chunk_size: CHUNK_SIZE,
            chunks: 6,
            received: vec![0, 2, 3, 5],
            tier: "free".into(),
            parallel_chunks: 1,
            expires_at_ms: 0,
            mint: None,
        };
        assert_eq!(status.missing(), vec![1, 4]);
    }
}
