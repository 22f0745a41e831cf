//! Sealing round-2 packages to a recipient's X25519 transport key.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use hkdf::Hkdf;
use rand::{rngs::OsRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::{Error, Result, Role};

/// Domain separation of the key derivation and of the associated data.
const DOMAIN: &[u8] = b"sdv-mpc-dkg-round2";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// `DOMAIN | from | to`: the HKDF info and the AEAD's associated data.
fn context(from: Role, to: Role) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    out.push(from.byte());
    out.push(to.byte());
    out
}

fn cipher(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    from: Role,
    to: Role,
) -> Result<Aes256Gcm> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(&context(from, to), key.as_mut())
        .map_err(|_| Error::SealFailed { from, to })?;
    Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| Error::SealFailed { from, to })
}

/// Seals `plaintext` from `from` to `to`, whose transport key is `recipient`.
///
/// Errors: [`Error::InvalidTransportKey`] for a small-order key.
pub(crate) fn seal(
    from: Role,
    to: Role,
    recipient: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let ephemeral = EphemeralSecret::random_from_rng(OsRng);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    if !shared.was_contributory() {
        return Err(Error::InvalidTransportKey(to));
    }
    let cipher = cipher(shared.as_bytes(), &ephemeral_public, recipient, from, to)?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let aad = context(from, to);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::SealFailed { from, to })?;
    let mut out = Vec::with_capacity(32 + NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a message sealed from `from` to `to` with the recipient's transport secret.
///
/// Errors: [`Error::SealBroken`] when it was altered, sealed to another key or for another
/// pair of roles.
pub(crate) fn open(
    from: Role,
    to: Role,
    secret: &StaticSecret,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let broken = || Error::SealBroken { from, to };
    if sealed.len() < 32 + NONCE_LEN + TAG_LEN {
        return Err(broken());
    }
    let (ephemeral_public, rest) = sealed.split_at(32);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let ephemeral_public: [u8; 32] = ephemeral_public.try_into().map_err(|_| broken())?;
    let shared = secret.diffie_hellman(&PublicKey::from(ephemeral_public));
    if !shared.was_contributory() {
        return Err(broken());
    }
    let recipient = PublicKey::from(secret).to_bytes();
    let cipher = cipher(shared.as_bytes(), &ephemeral_public, &recipient, from, to)?;
    let aad = context(from, to);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| broken())
}
