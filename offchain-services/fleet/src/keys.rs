//! HQ's HMAC key ring and the agents' Ed25519 identity keys.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sdv_config::Secret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{Error, Result};

/// How many keys verify at once: the current one and the one it replaces.
pub const MAX_ACTIVE_KEYS: usize = 2;
/// The shortest HMAC key accepted (bytes).
const MIN_KEY_LEN: usize = 16;

/// One HMAC-SHA256 key and its id.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Secret,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key named `id`.
    ///
    /// # Errors
    ///
    /// [`Error::KeyRing`] when the secret is shorter than 16 bytes or the id is empty.
    pub fn new(id: impl Into<String>, secret: Secret) -> Result<Self> {
        let id = id.into();
        if id.is_empty() || secret.expose().len() < MIN_KEY_LEN {
            return Err(Error::KeyRing(format!(
                "key {id:?}: an id and a secret of at least {MIN_KEY_LEN} bytes are needed"
            )));
        }
        Ok(Self { id, secret })
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose()).expect("HMAC takes any key")
    }

    /// HMAC-SHA256 of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Checks `signature` over `message` in constant time.
    ///
    /// # Errors
    ///
    /// [`Error::BadSignature`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(signature).map_err(|_| Error::BadSignature)
    }
}

/// HQ's signing keys: the first signs, every one verifies.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

/// A digest's signature, as HQ records and serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSignature {
    /// HMAC-SHA256 (hex).
    pub signature: String,
    /// `HMAC-SHA256`.
    pub algorithm: String,
    /// The key that signed.
    pub signed_by: String,
}

impl KeyRing {
    /// A ring of 1 or 2 keys with distinct ids; the first is the current one.
    ///
    /// # Errors
    ///
    /// [`Error::KeyRing`].
    pub fn new(keys: Vec<SigningKey>) -> Result<Self> {
        if keys.is_empty() || keys.len() > MAX_ACTIVE_KEYS {
            return Err(Error::KeyRing(format!(
                "1 to {MAX_ACTIVE_KEYS} active keys, not {}",
                keys.len()
            )));
        }
        if keys.len() == 2 && keys[0].id == keys[1].id {
            return Err(Error::KeyRing("two keys with one id".into()));
        }
        Ok(Self { keys })
    }

    /// The key that signs.
    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// The key with this id.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`].
    pub fn key(&self, id: &str) -> Result<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownKey(id.to_owned()))
    }

    /// Signs an image digest (`sha256:<hex>`) with the current key.
    pub fn sign_digest(&self, digest: &str) -> DigestSignature {
        DigestSignature {
            signature: hex::encode(self.current().sign(digest.as_bytes())),
            algorithm: "HMAC-SHA256".into(),
            signed_by: self.current().id.clone(),
        }
    }

    /// Checks a digest's signature with the key that made it.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] (a retired key), [`Error::MalformedSignature`],
    /// [`Error::BadSignature`].
    pub fn verify_digest(&self, digest: &str, signature: &DigestSignature) -> Result<()> {
        let bytes = hex::decode(&signature.signature).map_err(|_| Error::MalformedSignature)?;
        self.key(&signature.signed_by)?
            .verify(digest.as_bytes(), &bytes)
    }
}

/// An agent's Ed25519 identity key.
pub struct IdentityKey(ed25519_zebra::SigningKey);

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IdentityKey")
            .field(&hex::encode(self.public_key()))
            .finish()
    }
}

impl IdentityKey {
    /// A fresh key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Self(ed25519_zebra::SigningKey::from(seed))
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_zebra::SigningKey::from(seed))
    }

    /// The seed, for storing the key (a file of mode 600).
    pub fn seed(&self) -> [u8; 32] {
        self.0.into()
    }

    /// Its public key.
    pub fn public_key(&self) -> [u8; 32] {
        ed25519_zebra::VerificationKey::from(&self.0).into()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).into()
    }
}

/// Checks an Ed25519 signature by `public` over `message`.
///
/// # Errors
///
/// [`Error::Identity`] for a malformed key, [`Error::BadSignature`].
pub fn verify_identity(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<()> {
    let key = ed25519_zebra::VerificationKey::try_from(*public)
        .map_err(|e| Error::Identity(e.to_string()))?;
    key.verify(&ed25519_zebra::Signature::from(*signature), message)
        .map_err(|_| Error::BadSignature)
}
