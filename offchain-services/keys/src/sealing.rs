//! An AES-256 key in the token that seals secrets at rest (`CKM_AES_GCM` inside the token),
//! for a custodian's MPC share: the database holds only what the token sealed.

use cryptoki::{
    mechanism::{aead::GcmParams, Mechanism},
    object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
    types::Ulong,
};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::{Error, Result, Token};

/// The nonce length of a sealed secret.
const NONCE_LEN: usize = 12;
/// The GCM tag length (bytes).
const TAG_LEN: usize = 16;
/// The GCM tag length (bits), as PKCS#11 takes it.
const TAG_BITS: u64 = 128;
/// `CKA_ID` of sealing keys.
const SEALING_ID: &[u8] = b"sdv-aes-seal";

/// An AES-256 key that never leaves the token (sensitive, non-extractable, encrypt and
/// decrypt only). [`HsmSealingKey::seal`] gives `nonce (12) | ciphertext | tag (16)`.
#[derive(Debug, Clone)]
pub struct HsmSealingKey {
    token: Token,
    key: ObjectHandle,
    label: String,
}

impl HsmSealingKey {
    /// The AES key labelled `label` in `token`, generated there if there is none.
    pub(crate) fn find_or_generate(token: &Token, label: &str) -> Result<Self> {
        let session = token.session();
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(SEALING_ID.to_vec()),
            ])
            .map_err(Error::pkcs11("C_FindObjects"))?;
        let key = match found.as_slice() {
            [] => session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Label(label.as_bytes().to_vec()),
                        Attribute::Id(SEALING_ID.to_vec()),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Wrap(false),
                        Attribute::Unwrap(false),
                        Attribute::Derive(false),
                    ],
                )
                .map_err(Error::pkcs11("C_GenerateKey(CKM_AES_KEY_GEN)"))?,
            [key] => *key,
            _ => {
                return Err(Error::DuplicateKey {
                    label: label.to_owned(),
                    kind: "AES sealing",
                })
            }
        };
        drop(session);
        Ok(Self {
            token: token.clone(),
            key,
            label: label.to_owned(),
        })
    }

    /// Its `CKA_LABEL`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Encrypts `plaintext` in the token with AES-256-GCM under a fresh random nonce,
    /// authenticating `aad` (what the secret belongs to, so a sealed value cannot be moved to
    /// another record).
    ///
    /// # Errors
    ///
    /// [`Error::Pkcs11`] when the token refuses `C_Encrypt`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut iv = nonce;
        let params = GcmParams::new(&mut iv, aad, Ulong::from(TAG_BITS))
            .map_err(|_| Error::UnexpectedAttribute("GCM parameters"))?;
        let sealed = self
            .token
            .session()
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(Error::pkcs11("C_Encrypt(CKM_AES_GCM)"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts what [`HsmSealingKey::seal`] made with the same `aad`.
    ///
    /// # Errors
    ///
    /// [`Error::SealedData`] when it is too short, [`Error::Pkcs11`] when the token refuses it
    /// (`CKR_ENCRYPTED_DATA_INVALID` for a tampered value or another `aad`).
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::SealedData(sealed.len()));
        }
        let mut iv: [u8; NONCE_LEN] = sealed[..NONCE_LEN]
            .try_into()
            .map_err(|_| Error::SealedData(sealed.len()))?;
        let params = GcmParams::new(&mut iv, aad, Ulong::from(TAG_BITS))
            .map_err(|_| Error::UnexpectedAttribute("GCM parameters"))?;
        self.token
            .session()
            .decrypt(&Mechanism::AesGcm(params), self.key, &sealed[NONCE_LEN..])
            .map(Zeroizing::new)
            .map_err(Error::pkcs11("C_Decrypt(CKM_AES_GCM)"))
    }

    /// Whether the token reports the key's value sensitive and never extractable.
    ///
    /// # Errors
    ///
    /// [`Error::Pkcs11`] when the token refuses the attribute queries.
    pub fn is_locked_in(&self) -> Result<bool> {
        let session = self.token.session();
        let info = session
            .get_attribute_info(self.key, &[AttributeType::Value])
            .map_err(Error::pkcs11("C_GetAttributeValue(CKA_VALUE)"))?;
        let sensitive = matches!(
            info.as_slice(),
            [cryptoki::object::AttributeInfo::Sensitive]
        );
        let flags = session
            .get_attributes(self.key, &[AttributeType::NeverExtractable])
            .map_err(Error::pkcs11("C_GetAttributeValue"))?;
        let never = flags
            .iter()
            .any(|a| matches!(a, Attribute::NeverExtractable(true)));
        Ok(sensitive && never)
    }
}
