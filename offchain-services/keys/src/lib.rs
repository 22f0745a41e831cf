//! Keys kept in a PKCS#11 token (an HSM; SoftHSM2 in tests), used without ever leaving it.
//!
//! # Overview
//!
//! - [`Token`]: a logged-in read/write session on the token with a given label, shared by the
//!   keys taken from it. The PKCS#11 module is loaded and `C_Initialize`d once per process.
//! - [`HsmRecoveryKey`]: the X25519 recovery key. Its secret is generated in the token as
//!   sensitive and non-extractable, usable only for key derivation.
//!   [`HsmRecoveryKey::rewrap_v2`] re-wraps a data key from the recovery key to a new
//!   wallet's key entirely inside the token (the data key is never in host memory);
//!   [`HsmRecoveryKey::unwrap_v1_to_host`] opens today's wraps (ECDH in the token, the rest on
//!   the host).
//! - [`HsmEd25519Key`]: an Ed25519 signing key (`CKM_EDDSA`) for guardians' hardware keys.
//! - [`HsmSealingKey`]: an AES-256 key sealing secrets at rest with `CKM_AES_GCM` in the token
//!   (the custodian's MPC shares).
//!
//! # Key wrap formats
//!
//! ```text
//! v1 (92 bytes) = ephemeral public (32) | nonce (12) | AES-256-GCM(KEK1, data key) (48)
//!   KEK1 = HKDF-SHA256(ikm = shared, salt = ephemeral | recipient, info = "sdv-key-wrap-v1"),
//!   AAD  = "sdv-key-wrap-v1" | recipient                 (sdv-storage-client's `envelope`)
//! v2 (72 bytes) = ephemeral public (32) | AES-KW RFC 3394(KEK2, data key) (40)
//!   KEK2 = AES-256-CBC(key = shared, iv = 0, SHA-256("sdv-key-wrap-v2" | ephemeral | recipient))
//! shared = X25519(ephemeral secret, recipient public); small-order keys are refused.
//! ```
//!
//! v2 exists because a PKCS#11 token such as SoftHSM 2.6 can compute it inside: ECDH with
//! `CKD_NULL`, `CKM_AES_CBC_ENCRYPT_DATA` as the KDF, `CKM_AES_KEY_WRAP` to unwrap into and
//! wrap from a sensitive session key. It has neither HKDF nor AES-GCM key wrapping, so for v1
//! only the ECDH happens in the token.
//!
//! # X25519 and Ed25519 keys in the token
//!
//! Keys are found by `CKA_LABEL` and a `CKA_ID` naming the curve (`sdv-x25519`,
//! `sdv-ed25519`), or generated with them: X25519 first with
//! the PKCS#11 3.0 `CKM_EC_MONTGOMERY_KEY_PAIR_GEN`, then the SoftHSM way
//! (`CKM_EC_EDWARDS_KEY_PAIR_GEN` with the X25519 curve OID); Ed25519 with
//! `CKM_EC_EDWARDS_KEY_PAIR_GEN`. Private keys are token objects with `CKA_SENSITIVE` true and
//! `CKA_EXTRACTABLE` false; [`KeyProtection`] reports what the token enforces.
//!
//! # Threat note
//!
//! Anyone holding a logged-in session can ask the token to open (v1) or re-wrap (v2) any key
//! wrapped to the recovery key. The token protects the key material from host memory
//! disclosure, not from a host that has the PIN: PIN custody and the on-chain recovery
//! finalization as the trigger are what limit that.
//!
//! # Error handling
//!
//! One [`Error`] for the crate; PKCS#11 failures name the operation and the `CKR_` code. The
//! PIN is never part of an error or a log.

mod ed25519;
mod error;
mod recovery;
mod sealing;
mod token;

pub use cryptoki::error::RvError;
pub use ed25519::{verify_ed25519, HsmEd25519Key};
pub use error::{Error, Result};
pub use recovery::{HsmRecoveryKey, V1_WRAPPED_LEN, V2_WRAPPED_LEN};
/// The PIN type of [`Token::open`], re-exported for its callers.
pub use sdv_config::Secret;
pub use sealing::HsmSealingKey;
pub use token::{KeyProtection, Token};
