//! Keys in a PKCS#11 token (a hardware key; SoftHSM2 in development): the Ed25519 key of a
//! guardian signs its extrinsics inside the token, and its secret never leaves it.
//!
//! The token is opened with the user PIN from `SDV_PKCS11_PIN` or from the first line of the
//! file named by `SDV_PKCS11_PIN_FILE`, never from the command line, and never printed. A
//! signer made from a token key has already signed (and verified) a probe message, so a wrong
//! PIN or a missing token or key is an error before anything is sent.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sdv_chain::{
    subxt::{tx::Signer, utils::MultiSignature},
    AccountId, NodeConfig,
};
use sdv_keys::{verify_ed25519, HsmEd25519Key, KeyProtection, Secret, Token};
use subxt_signer::sr25519::Keypair;
use zeroize::Zeroizing;

use crate::{keystore::TokenKeyRef, Usage};

/// The PKCS#11 module when neither --module nor `SDV_PKCS11_MODULE` names one: Debian's
/// SoftHSM2.
pub(crate) const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// What the probe signature signs, to check the token and key before a write is sent.
const PROBE: &[u8] = b"sdv: probe signature of a token key";

/// The signer of a write: a keystore key or a key in a token.
pub(crate) enum WalletSigner {
    /// An sr25519 key unlocked from the keystore.
    Sr25519(Keypair),
    /// An Ed25519 key in a PKCS#11 token.
    Token(TokenSigner),
    /// A share of an MPC wallet with its co-signer.
    Mpc(crate::mpc::MpcSigner),
}

impl Signer<NodeConfig> for WalletSigner {
    fn account_id(&self) -> AccountId {
        match self {
            Self::Sr25519(keypair) => keypair.public_key().to_account_id(),
            Self::Token(token) => token.account.clone(),
            Self::Mpc(mpc) => mpc.account().clone(),
        }
    }

    fn sign(&self, payload: &[u8]) -> MultiSignature {
        match self {
            Self::Sr25519(keypair) => MultiSignature::Sr25519(keypair.sign(payload).0),
            Self::Token(token) => MultiSignature::Ed25519(token.sign(payload)),
            Self::Mpc(mpc) => MultiSignature::Ed25519(mpc.sign_blocking(payload)),
        }
    }
}

/// An Ed25519 key in a token that has made a verified probe signature.
pub(crate) struct TokenSigner {
    key: HsmEd25519Key,
    account: AccountId,
    token: String,
}

impl TokenSigner {
    /// Opens the token of `at` with the PIN of the environment, takes its key and checks it:
    /// its public key is `expected`, and a probe signature verifies.
    pub(crate) fn open(name: &str, at: &TokenKeyRef, expected: [u8; 32]) -> anyhow::Result<Self> {
        let key = open_key(&at.module, &at.token, &at.key_label, &pin()?, false)?;
        if key.public_key() != expected {
            anyhow::bail!(
                "key {name}: the key {:?} in token {:?} is not the key of the key file \
                 (public key 0x{}, expected 0x{})",
                at.key_label,
                at.token,
                hex::encode(key.public_key()),
                hex::encode(expected)
            );
        }
        Ok(Self {
            account: AccountId::from(expected),
            key,
            token: at.token.clone(),
        })
    }

    /// Signs `payload` in the token. The signer checked the token when it was made; a token
    /// that fails afterwards (removed, logged out) leaves nothing to sign with.
    fn sign(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).unwrap_or_else(|e| {
            panic!(
                "signing in PKCS#11 token {:?} failed after it signed the probe: {e}",
                self.token
            )
        })
    }
}

/// The user PIN: `SDV_PKCS11_PIN`, or the first line of the file named by
/// `SDV_PKCS11_PIN_FILE`.
pub(crate) fn pin() -> anyhow::Result<Secret> {
    if let Ok(pin) = std::env::var("SDV_PKCS11_PIN") {
        return Ok(Secret::new(pin.into_bytes()));
    }
    if let Some(path) = std::env::var_os("SDV_PKCS11_PIN_FILE").map(PathBuf::from) {
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading SDV_PKCS11_PIN_FILE {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return Ok(Secret::new(line.as_bytes()));
    }
    Err(
        Usage("no PIN for the PKCS#11 token: set SDV_PKCS11_PIN or SDV_PKCS11_PIN_FILE".into())
            .into(),
    )
}

/// Opens the token labelled `token` through `module`, takes its Ed25519 key labelled
/// `key_label` (generated there if there is none and `generate`), and checks it with a probe
/// signature.
pub(crate) fn open_key(
    module: &Path,
    token: &str,
    key_label: &str,
    pin: &Secret,
    generate: bool,
) -> anyhow::Result<HsmEd25519Key> {
    let opened = Token::open(module, token, pin)
        .with_context(|| format!("opening PKCS#11 token {token:?} ({})", module.display()))?;
    let key = if generate {
        opened.ed25519_key(key_label)
    } else {
        opened.existing_ed25519_key(key_label)
    }
    .with_context(|| format!("Ed25519 key {key_label:?} in token {token:?}"))?;
    let signature = key
        .sign(PROBE)
        .with_context(|| format!("signing with key {key_label:?} in token {token:?}"))?;
    verify_ed25519(&key.public_key(), PROBE, &signature).with_context(|| {
        format!("key {key_label:?} in token {token:?}: its probe signature does not verify")
    })?;
    Ok(key)
}

/// The protection in words: whether the token enforces that the key cannot leave it.
pub(crate) fn describe(protection: &KeyProtection) -> String {
    if protection.is_locked_in() {
        "the secret key cannot leave the token (sensitive since generation, never \
         extractable, wrapping and export refused)"
            .into()
    } else {
        format!("WARNING: the token does not enforce that the key stays in it ({protection:?})")
    }
}
