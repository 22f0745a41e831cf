//! Ed25519 signing keys in the token (`CKM_EDDSA`), for guardians' hardware keys.

use cryptoki::mechanism::{
    eddsa::{EddsaParams, EddsaSignatureScheme},
    Mechanism,
};

use crate::{
    token::{protection, KeyPair},
    Error, KeyProtection, Result, Token,
};

/// An Ed25519 key whose secret stays in the token (sensitive, non-extractable, sign-only).
/// Its signatures are plain Ed25519 (RFC 8032), as the chain's `MultiSignature::Ed25519`.
#[derive(Debug, Clone)]
pub struct HsmEd25519Key {
    token: Token,
    pair: KeyPair,
}

impl HsmEd25519Key {
    pub(crate) fn new(token: Token, pair: KeyPair) -> Self {
        Self { token, pair }
    }

    /// Its public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key
    }

    /// Its `CKA_LABEL`.
    pub fn label(&self) -> &str {
        &self.pair.label
    }

    /// Signs `message` in the token (pure Ed25519, no pre-hash).
    ///
    /// # Errors
    ///
    /// [`Error::Pkcs11`] when the token refuses `C_Sign`, [`Error::UnexpectedAttribute`] when
    /// the signature is not 64 bytes.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        let signature = self
            .token
            .session()
            .sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519)),
                self.pair.private,
                message,
            )
            .map_err(Error::pkcs11("C_Sign(CKM_EDDSA)"))?;
        signature
            .try_into()
            .map_err(|_| Error::UnexpectedAttribute("signature (not 64 bytes)"))
    }

    /// What the token enforces for this key's secret (see [`KeyProtection`]).
    ///
    /// # Errors
    ///
    /// As [`HsmRecoveryKey::protection`](crate::HsmRecoveryKey::protection).
    pub fn protection(&self) -> Result<KeyProtection> {
        protection(&self.token, self.pair.private)
    }
}

/// Verifies a plain Ed25519 `signature` of `message` by `public` (ed25519-zebra, the
/// verifier the rest of the workspace uses), as a check of what a token signed.
///
/// # Errors
///
/// [`Error::BadSignature`] when the key is malformed or the signature does not verify.
pub fn verify_ed25519(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<()> {
    let key = ed25519_zebra::VerificationKey::try_from(*public).map_err(|_| Error::BadSignature)?;
    key.verify(&ed25519_zebra::Signature::from(*signature), message)
        .map_err(|_| Error::BadSignature)
}
