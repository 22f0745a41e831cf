//! The X25519 recovery key in the token: v2 re-wrap inside the token, v1 unwrap with the ECDH
//! inside it.

use cryptoki::{
    error::{Error as CryptokiError, RvError},
    mechanism::{
        ekdf::AesCbcDeriveParams,
        elliptic_curve::{EcKdf, Ecdh1DeriveParams},
        Mechanism,
    },
    object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle},
    session::Session,
};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{
    token::{destroy, ec_point, generate_pair, protection, Curve, KeyPair},
    Error, KeyProtection, Result, Token,
};

/// The length of a v1 wrapped key: ephemeral public key, nonce, encrypted key, tag.
pub const V1_WRAPPED_LEN: usize = 32 + 12 + 32 + 16;
/// The length of a v2 wrapped key: ephemeral public key, AES-KW of the key.
pub const V2_WRAPPED_LEN: usize = 32 + 40;

/// The domain of a v2 key wrap's KDF input.
const V2_DOMAIN: &[u8] = b"sdv-key-wrap-v2";
/// The label of the ephemeral key pairs a re-wrap makes (session objects).
const EPHEMERAL_LABEL: &str = "sdv-ephemeral";

/// The X25519 recovery key, held in the token: sensitive, non-extractable, derive-only.
#[derive(Debug, Clone)]
pub struct HsmRecoveryKey {
    token: Token,
    pair: KeyPair,
}

impl HsmRecoveryKey {
    pub(crate) fn new(token: Token, pair: KeyPair) -> Self {
        Self { token, pair }
    }

    /// Its X25519 public key, which clients wrap data keys to.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key
    }

    /// Its `CKA_LABEL`.
    pub fn label(&self) -> &str {
        &self.pair.label
    }

    /// Re-wraps a data key wrapped (v2) to this key so that it is wrapped (v2) to
    /// `new_recipient_public`, entirely in the token: the data key exists only as a sensitive
    /// session object there, and every temporary object is destroyed, also on failure.
    ///
    /// # Errors
    ///
    /// [`Error::WrappedKeyLength`] unless [`V2_WRAPPED_LEN`] bytes, [`Error::WeakPublicKey`] for
    /// a small-order ephemeral or recipient key, [`Error::KeyUnwrap`] when the key is not
    /// wrapped to this key or was changed, [`Error::Pkcs11`] when the token refuses a call.
    pub fn rewrap_v2(&self, wrapped_v2: &[u8], new_recipient_public: &[u8; 32]) -> Result<Vec<u8>> {
        if wrapped_v2.len() != V2_WRAPPED_LEN {
            return Err(Error::WrappedKeyLength {
                expected: V2_WRAPPED_LEN,
                actual: wrapped_v2.len(),
            });
        }
        let (ephemeral, sealed) = wrapped_v2.split_at(32);
        let ephemeral: [u8; 32] = ephemeral.try_into().expect("32 bytes");
        check_contributory(&ephemeral)?;
        check_contributory(new_recipient_public)?;
        let session = self.token.session();
        let kek = kek_v2(
            &session,
            self.pair.private,
            &ephemeral,
            &ephemeral,
            &self.pair.public_key,
        )?;
        let data_key = session.unwrap_key(
            &Mechanism::AesKeyWrap,
            kek,
            sealed,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(false),
                Attribute::Sensitive(true),
                // To be wrapped again; it is sensitive, so only by wrapping.
                Attribute::Extractable(true),
                Attribute::Encrypt(false),
                Attribute::Decrypt(false),
            ],
        );
        let destroyed = destroy(&session, kek);
        // SoftHSM 2.6 reports a failed AES-KW integrity check as CKR_GENERAL_ERROR.
        let data_key = data_key.map_err(|e| match e {
            CryptokiError::Pkcs11(
                RvError::WrappedKeyInvalid
                | RvError::WrappedKeyLenRange
                | RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            ) => Error::KeyUnwrap,
            e => Error::pkcs11("C_UnwrapKey(CKM_AES_KEY_WRAP)")(e),
        })?;
        let result = destroyed.and_then(|()| wrap_v2(&session, data_key, new_recipient_public));
        let destroyed = destroy(&session, data_key);
        let out = result?;
        destroyed?;
        Ok(out)
    }

    /// Opens a data key wrapped (v1, as sdv-storage-client's `envelope::wrap` makes) to this
    /// key: the ECDH happens in the token, the shared secret then goes to the host for
    /// HKDF-SHA256 and AES-256-GCM (the token has neither). The data key is in host memory
    /// afterwards (zeroized on drop).
    ///
    /// # Errors
    ///
    /// [`Error::WrappedKeyLength`] unless [`V1_WRAPPED_LEN`] bytes, [`Error::WeakPublicKey`]
    /// for a small-order ephemeral key, [`Error::KeyUnwrap`] when it is wrapped to another key
    /// or was changed, [`Error::Pkcs11`] when the token refuses a call.
    pub fn unwrap_v1_to_host(&self, wrapped_v1: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        if wrapped_v1.len() != V1_WRAPPED_LEN {
            return Err(Error::WrappedKeyLength {
                expected: V1_WRAPPED_LEN,
                actual: wrapped_v1.len(),
            });
        }
        let ephemeral: [u8; 32] = wrapped_v1[..32].try_into().expect("32 bytes");
        check_contributory(&ephemeral)?;
        let shared = self.shared_secret_v1(&ephemeral)?;
        if shared.iter().all(|b| *b == 0) {
            return Err(Error::WeakPublicKey);
        }
        let shared: [u8; 32] = shared.as_slice().try_into().map_err(|_| Error::KeyUnwrap)?;
        let recipient = PublicKey::from(self.pair.public_key);
        // The token made the shared secret; the format's HKDF and AES-GCM steps are the
        // client's own.
        let key = sdv_storage_client::envelope::open_v1(&shared, wrapped_v1, &recipient)
            .map_err(|_| Error::KeyUnwrap)?;
        Ok(Zeroizing::new(*key.as_bytes()))
    }

    /// What the token enforces for this key's secret (see [`KeyProtection`]). Tries to wrap it
    /// and to make it extractable: on a well-made key both are refused and nothing changes.
    ///
    /// # Errors
    ///
    /// [`Error::Pkcs11`] when the token refuses reading attributes or making the probe's key.
    pub fn protection(&self) -> Result<KeyProtection> {
        protection(&self.token, self.pair.private)
    }

    /// ECDH in the token into a short-lived, readable session secret, read and destroyed.
    fn shared_secret_v1(&self, peer: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>> {
        let session = self.token.session();
        let secret = ecdh(
            &session,
            self.pair.private,
            peer,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
            ],
        )?;
        let attributes = session.get_attributes(secret, &[AttributeType::Value]);
        let destroyed = destroy(&session, secret);
        let attributes = attributes.map_err(Error::pkcs11("C_GetAttributeValue(CKA_VALUE)"))?;
        destroyed?;
        match attributes.into_iter().next() {
            Some(Attribute::Value(value)) if value.len() == 32 => Ok(Zeroizing::new(value)),
            Some(Attribute::Value(value)) => {
                drop(Zeroizing::new(value));
                Err(Error::UnexpectedAttribute("shared secret length"))
            }
            _ => Err(Error::UnexpectedAttribute("shared secret (missing)")),
        }
    }
}

/// Makes a new ephemeral pair in the token, derives KEK2 to `recipient` and wraps `data_key`:
/// `ephemeral public | AES-KW(KEK2, data key)`.
fn wrap_v2(session: &Session, data_key: ObjectHandle, recipient: &[u8; 32]) -> Result<Vec<u8>> {
    let (ephemeral_private, ephemeral_public) =
        generate_pair(session, Curve::X25519, EPHEMERAL_LABEL, false)?;
    let new_ephemeral = ec_point(session, ephemeral_public);
    let kek = new_ephemeral.and_then(|new_ephemeral| {
        kek_v2(
            session,
            ephemeral_private,
            recipient,
            &new_ephemeral,
            recipient,
        )
        .map(|kek| (kek, new_ephemeral))
    });
    let destroyed = destroy(session, ephemeral_private).and(destroy(session, ephemeral_public));
    let (kek, new_ephemeral) = match (kek, destroyed) {
        (Ok(kek), Ok(())) => kek,
        (Ok((kek, _)), Err(e)) => {
            let _ = destroy(session, kek);
            return Err(e);
        }
        (Err(e), _) => return Err(e),
    };
    let sealed = session.wrap_key(&Mechanism::AesKeyWrap, kek, data_key);
    let destroyed = destroy(session, kek);
    let sealed = sealed.map_err(Error::pkcs11("C_WrapKey(CKM_AES_KEY_WRAP)"))?;
    destroyed?;
    let mut out = Vec::with_capacity(V2_WRAPPED_LEN);
    out.extend_from_slice(&new_ephemeral);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The v2 KEK in the token: ECDH (`CKD_NULL`) into a sensitive AES key, then
/// `CKM_AES_CBC_ENCRYPT_DATA` (iv 0) over SHA-256(domain | ephemeral | recipient) into a
/// sensitive, non-extractable wrap/unwrap-only AES key. The intermediate key is destroyed.
fn kek_v2(
    session: &Session,
    private: ObjectHandle,
    peer: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<ObjectHandle> {
    let base = ecdh(
        session,
        private,
        peer,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Derive(true),
        ],
    )?;
    let data: [u8; 32] = Sha256::new()
        .chain_update(V2_DOMAIN)
        .chain_update(ephemeral)
        .chain_update(recipient)
        .finalize()
        .into();
    let kek = session.derive_key(
        &Mechanism::AesCbcEncryptData(AesCbcDeriveParams::new([0; 16], &data)),
        base,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Derive(false),
        ],
    );
    let destroyed = destroy(session, base);
    let kek = kek.map_err(Error::pkcs11("C_DeriveKey(CKM_AES_CBC_ENCRYPT_DATA)"))?;
    if let Err(e) = destroyed {
        let _ = destroy(session, kek);
        return Err(e);
    }
    Ok(kek)
}

/// ECDH (`CKM_ECDH1_DERIVE`, `CKD_NULL`) of `private` with `peer` into a new object.
fn ecdh(
    session: &Session,
    private: ObjectHandle,
    peer: &[u8; 32],
    template: &[Attribute],
) -> Result<ObjectHandle> {
    let params = Ecdh1DeriveParams::new(EcKdf::null(), peer);
    session
        .derive_key(&Mechanism::Ecdh1Derive(params), private, template)
        .map_err(Error::pkcs11("C_DeriveKey(CKM_ECDH1_DERIVE)"))
}

/// Refuses a small-order X25519 key: the token cannot be asked, and would give an all-zero
/// shared secret. A DH with a random secret is all zero exactly for those keys.
fn check_contributory(public: &[u8; 32]) -> Result<()> {
    let probe = StaticSecret::random_from_rng(OsRng);
    if probe
        .diffie_hellman(&PublicKey::from(*public))
        .was_contributory()
    {
        Ok(())
    } else {
        Err(Error::WeakPublicKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_keys_are_refused() {
        assert!(matches!(
            check_contributory(&[0; 32]),
            Err(Error::WeakPublicKey)
        ));
        let mut one = [0; 32];
        one[0] = 1;
        assert!(matches!(
            check_contributory(&one),
            Err(Error::WeakPublicKey)
        ));
        let public = PublicKey::from(&StaticSecret::random_from_rng(OsRng));
        check_contributory(public.as_bytes()).unwrap();
    }

    #[test]
    fn formats_have_the_documented_lengths() {
        assert_eq!(V1_WRAPPED_LEN, 92);
        assert_eq!(V2_WRAPPED_LEN, 72);
    }
}
