//! The recovery key and Ed25519 keys in a real PKCS#11 token (SoftHSM2, a token per test):
//! the secrets cannot leave it, the v2 re-wrap happens in it, v1 keys open through it.
//!
//! The v2 format's software side (what clients and wallets run) is written out here as the
//! format's reference: X25519, SHA-256, AES-256-CBC (iv 0) as the KDF and RFC 3394 AES key
//! wrap, from the AES block cipher that `aes-gcm` re-exports.

use aes_gcm::aes::{
    cipher::{BlockDecrypt, BlockEncrypt, KeyInit},
    Aes256, Block,
};
use rand::{rngs::OsRng, RngCore};

use sdv_keys::{verify_ed25519, Error, RvError, Secret, Token, V2_WRAPPED_LEN};
use sdv_storage_client::{
    envelope::{self, DataKey},
    protocol::KeyRole,
};
use sdv_system_tests::hsm::SoftHsm;
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};

fn open(hsm: &SoftHsm) -> Token {
    Token::open(&hsm.module(), hsm.label(), &Secret::new(hsm.pin()))
        .unwrap_or_else(|e| panic!("opening the test token: {e}"))
}

// ---- the software side of v2 ----

const KW_IV: [u8; 8] = [0xa6; 8];

/// RFC 3394 key wrap of whole 64-bit blocks.
fn aes_kw_wrap(kek: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let aes = Aes256::new(kek.into());
    let n = plain.len() / 8;
    let mut a = KW_IV;
    let mut r: Vec<[u8; 8]> = plain.chunks(8).map(|c| c.try_into().unwrap()).collect();
    for j in 0..6 {
        for (i, block) in r.iter_mut().enumerate() {
            let mut b = Block::default();
            b[..8].copy_from_slice(&a);
            b[8..].copy_from_slice(block);
            aes.encrypt_block(&mut b);
            let t = (n * j + i + 1) as u64;
            a = (u64::from_be_bytes(b[..8].try_into().unwrap()) ^ t).to_be_bytes();
            block.copy_from_slice(&b[8..]);
        }
    }
    let mut out = a.to_vec();
    r.iter().for_each(|block| out.extend_from_slice(block));
    out
}

/// RFC 3394 key unwrap; `None` when the integrity check fails.
fn aes_kw_unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Option<Vec<u8>> {
    let aes = Aes256::new(kek.into());
    let n = wrapped.len() / 8 - 1;
    let mut a: [u8; 8] = wrapped[..8].try_into().unwrap();
    let mut r: Vec<[u8; 8]> = wrapped[8..]
        .chunks(8)
        .map(|c| c.try_into().unwrap())
        .collect();
    for j in (0..6).rev() {
        for i in (0..n).rev() {
            let t = (n * j + i + 1) as u64;
            let mut b = Block::default();
            b[..8].copy_from_slice(&(u64::from_be_bytes(a) ^ t).to_be_bytes());
            b[8..].copy_from_slice(&r[i]);
            aes.decrypt_block(&mut b);
            a.copy_from_slice(&b[..8]);
            r[i].copy_from_slice(&b[8..]);
        }
    }
    (a == KW_IV).then(|| r.concat())
}

/// KEK = AES-256-CBC(key = shared, iv = 0, SHA-256("sdv-key-wrap-v2" | ephemeral | recipient)).
fn kek_v2(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> [u8; 32] {
    let data = Sha256::new()
        .chain_update(b"sdv-key-wrap-v2")
        .chain_update(ephemeral)
        .chain_update(recipient)
        .finalize();
    let aes = Aes256::new(shared.into());
    let mut first = Block::clone_from_slice(&data[..16]);
    aes.encrypt_block(&mut first);
    let mut second = Block::clone_from_slice(&data[16..]);
    second
        .iter_mut()
        .zip(first.iter())
        .for_each(|(x, y)| *x ^= y);
    aes.encrypt_block(&mut second);
    let mut kek = [0; 32];
    kek[..16].copy_from_slice(&first);
    kek[16..].copy_from_slice(&second);
    kek
}

fn wrap_v2(key: &[u8; 32], recipient: &[u8; 32]) -> Vec<u8> {
    let ephemeral = EphemeralSecret::random_from_rng(OsRng);
    let ephemeral_public = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient));
    assert!(shared.was_contributory());
    let kek = kek_v2(shared.as_bytes(), ephemeral_public.as_bytes(), recipient);
    let mut out = ephemeral_public.as_bytes().to_vec();
    out.extend_from_slice(&aes_kw_wrap(&kek, key));
    out
}

fn unwrap_v2(wrapped: &[u8], secret: &StaticSecret) -> Option<[u8; 32]> {
    assert_eq!(wrapped.len(), V2_WRAPPED_LEN);
    let ephemeral: [u8; 32] = wrapped[..32].try_into().unwrap();
    let shared = secret.diffie_hellman(&PublicKey::from(ephemeral));
    let kek = kek_v2(
        shared.as_bytes(),
        &ephemeral,
        PublicKey::from(secret).as_bytes(),
    );
    aes_kw_unwrap(&kek, &wrapped[32..]).map(|key| key.try_into().unwrap())
}

fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    OsRng.fill_bytes(&mut key);
    key
}

#[test]
fn software_key_wrap_is_rfc_3394() {
    // RFC 3394 4.6: 256 bits of key data with a 256-bit KEK.
    let kek: [u8; 32] =
        hex::decode("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
            .unwrap()
            .try_into()
            .unwrap();
    let key =
        hex::decode("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F").unwrap();
    let wrapped = aes_kw_wrap(&kek, &key);
    assert_eq!(
        hex::encode_upper(&wrapped),
        "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
    );
    assert_eq!(aes_kw_unwrap(&kek, &wrapped).unwrap(), key);
}

// ---- the token ----

#[test]
fn recovery_key_cannot_leave_the_token() {
    let hsm = SoftHsm::new();
    let token = open(&hsm);
    let key = token.recovery_key("recovery").unwrap();

    let protection = key.protection().unwrap();
    assert!(protection.value_sensitive, "{protection:?}");
    assert!(protection.always_sensitive, "{protection:?}");
    assert!(protection.never_extractable, "{protection:?}");
    assert_eq!(protection.wrap_refused, Some(RvError::KeyUnextractable));
    assert_eq!(
        protection.make_extractable_refused,
        Some(RvError::AttributeReadOnly)
    );
    assert!(protection.is_locked_in());

    // Found again by its label, through the token opened again.
    let again = open(&hsm).recovery_key("recovery").unwrap();
    assert_eq!(again.public_key(), key.public_key());
    // Another label is another key.
    assert_ne!(
        token.recovery_key("other").unwrap().public_key(),
        key.public_key()
    );
}

#[test]
fn v2_rewrap_in_the_token_reaches_the_new_wallet() {
    let hsm = SoftHsm::new();
    let recovery = open(&hsm).recovery_key("recovery").unwrap();
    let data_key = random_key();
    let wrapped = wrap_v2(&data_key, &recovery.public_key());
    assert_eq!(wrapped.len(), V2_WRAPPED_LEN);

    let wallet = StaticSecret::random_from_rng(OsRng);
    let wallet_public = PublicKey::from(&wallet).to_bytes();
    let rewrapped = recovery.rewrap_v2(&wrapped, &wallet_public).unwrap();
    assert_eq!(rewrapped.len(), V2_WRAPPED_LEN);
    assert_ne!(rewrapped[..32], wrapped[..32], "a fresh ephemeral key");
    assert_eq!(unwrap_v2(&rewrapped, &wallet), Some(data_key));

    // Only the wallet opens it.
    let other = StaticSecret::random_from_rng(OsRng);
    assert_eq!(unwrap_v2(&rewrapped, &other), None);
    // Again, with another ephemeral key each time.
    let twice = recovery.rewrap_v2(&wrapped, &wallet_public).unwrap();
    assert_ne!(twice, rewrapped);
    assert_eq!(unwrap_v2(&twice, &wallet), Some(data_key));
}

/// What the client wraps for the recovery key (`envelope::wrapped_key`, v2) is re-wrapped by the
/// token to the new wallet, which opens it with the client's own `envelope::unwrap`.
#[test]
fn the_clients_recovery_wrap_is_rewrapped_in_the_token_for_the_new_wallet() {
    let hsm = SoftHsm::new();
    let recovery = open(&hsm).recovery_key("recovery").unwrap();
    let data_key = DataKey::generate();
    let entry = envelope::wrapped_key(
        &data_key,
        &PublicKey::from(recovery.public_key()),
        KeyRole::Recovery,
    )
    .unwrap();
    let wrapped = hex::decode(&entry.wrapped).unwrap();
    assert_eq!(wrapped.len(), V2_WRAPPED_LEN);
    let wallet = StaticSecret::random_from_rng(OsRng);
    let rewrapped = recovery
        .rewrap_v2(&wrapped, PublicKey::from(&wallet).as_bytes())
        .unwrap();
    let opened = envelope::unwrap(&rewrapped, &wallet).unwrap();
    assert_eq!(opened.as_bytes(), data_key.as_bytes());
}

#[test]
fn tampered_v2_is_refused() {
    let hsm = SoftHsm::new();
    let recovery = open(&hsm).recovery_key("recovery").unwrap();
    let wrapped = wrap_v2(&random_key(), &recovery.public_key());
    let wallet = PublicKey::from(&StaticSecret::random_from_rng(OsRng)).to_bytes();

    // A changed byte of the ephemeral key, of the wrapped key, of the integrity block.
    for position in [0, 31, 32, 50, V2_WRAPPED_LEN - 1] {
        let mut tampered = wrapped.clone();
        tampered[position] ^= 1;
        let err = recovery.rewrap_v2(&tampered, &wallet).unwrap_err();
        assert!(matches!(err, Error::KeyUnwrap), "byte {position}: {err}");
    }
    // Wrapped to another key.
    let elsewhere = wrap_v2(
        &random_key(),
        PublicKey::from(&StaticSecret::random_from_rng(OsRng)).as_bytes(),
    );
    assert!(matches!(
        recovery.rewrap_v2(&elsewhere, &wallet),
        Err(Error::KeyUnwrap)
    ));
    // Wrong length, small-order ephemeral key, small-order wallet key.
    assert!(matches!(
        recovery.rewrap_v2(&wrapped[..71], &wallet),
        Err(Error::WrappedKeyLength {
            expected: 72,
            actual: 71
        })
    ));
    let mut zero_ephemeral = wrapped.clone();
    zero_ephemeral[..32].fill(0);
    assert!(matches!(
        recovery.rewrap_v2(&zero_ephemeral, &wallet),
        Err(Error::WeakPublicKey)
    ));
    assert!(matches!(
        recovery.rewrap_v2(&wrapped, &[0; 32]),
        Err(Error::WeakPublicKey)
    ));
    // The failures left the key working.
    let wallet = StaticSecret::random_from_rng(OsRng);
    let data_key = random_key();
    let wrapped = wrap_v2(&data_key, &recovery.public_key());
    let rewrapped = recovery
        .rewrap_v2(&wrapped, PublicKey::from(&wallet).as_bytes())
        .unwrap();
    assert_eq!(unwrap_v2(&rewrapped, &wallet), Some(data_key));
}

#[test]
fn v1_opens_through_the_token_as_in_software() {
    let hsm = SoftHsm::new();
    let recovery = open(&hsm).recovery_key("recovery").unwrap();
    let data_key = DataKey::generate();
    let wrapped = envelope::wrap(&data_key, &PublicKey::from(recovery.public_key())).unwrap();
    assert_eq!(
        *recovery.unwrap_v1_to_host(&wrapped).unwrap(),
        *data_key.as_bytes()
    );

    // The same as software v1 opens for a key the test holds.
    let secret = StaticSecret::random_from_rng(OsRng);
    let for_secret = envelope::wrap(&data_key, &PublicKey::from(&secret)).unwrap();
    assert_eq!(
        envelope::unwrap(&for_secret, &secret).unwrap().as_bytes(),
        data_key.as_bytes()
    );
    // ...which the token cannot open: wrapped to another key.
    assert!(matches!(
        recovery.unwrap_v1_to_host(&for_secret),
        Err(Error::KeyUnwrap)
    ));
    for position in [0, 40, 50, wrapped.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered[position] ^= 1;
        assert!(
            recovery.unwrap_v1_to_host(&tampered).is_err(),
            "byte {position}"
        );
    }
    let mut zero_ephemeral = wrapped.clone();
    zero_ephemeral[..32].fill(0);
    assert!(matches!(
        recovery.unwrap_v1_to_host(&zero_ephemeral),
        Err(Error::WeakPublicKey)
    ));
    assert!(matches!(
        recovery.unwrap_v1_to_host(&wrapped[..91]),
        Err(Error::WrappedKeyLength { .. })
    ));
}

#[test]
fn ed25519_signatures_from_the_token_verify_and_the_key_stays_in() {
    let hsm = SoftHsm::new();
    let token = open(&hsm);
    let key = token.ed25519_key("guardian").unwrap();
    for message in [&b""[..], &[7; 64], &[9; 256]] {
        let signature = key.sign(message).unwrap();
        verify_ed25519(&key.public_key(), message, &signature).unwrap();
        let mut other = message.to_vec();
        other.push(0);
        assert!(matches!(
            verify_ed25519(&key.public_key(), &other, &signature),
            Err(Error::BadSignature)
        ));
    }
    assert!(key.protection().unwrap().is_locked_in());
    // Same label, same key; an X25519 key of that label is another key.
    assert_eq!(
        token.ed25519_key("guardian").unwrap().public_key(),
        key.public_key()
    );
    assert_ne!(
        token.recovery_key("guardian").unwrap().public_key(),
        key.public_key()
    );
}

#[test]
fn wrong_pin_and_unknown_label_are_clear_errors() {
    let hsm = SoftHsm::new();
    let err = Token::open(&hsm.module(), hsm.label(), &Secret::new("not-the-pin")).unwrap_err();
    assert!(
        matches!(&err, Error::WrongPin { label } if label == hsm.label()),
        "{err}"
    );
    assert!(err.to_string().contains("PIN"), "{err}");
    assert!(!err.to_string().contains("not-the-pin"));

    let err = Token::open(&hsm.module(), "no-such-token", &Secret::new(hsm.pin())).unwrap_err();
    assert!(matches!(&err, Error::TokenNotFound { label, .. } if label == "no-such-token"));
    assert!(err.to_string().contains("no-such-token"), "{err}");

    // The right PIN still works (a wrong one counts, but does not lock at once).
    let token = open(&hsm);
    // While it is open (one session per token and process), a wrong PIN is still refused.
    let err = Token::open(&hsm.module(), hsm.label(), &Secret::new("not-the-pin")).unwrap_err();
    assert!(matches!(err, Error::WrongPin { .. }), "{err}");
    assert_eq!(open(&hsm).label(), token.label());
}

#[test]
fn sealed_secrets_open_only_in_the_token_with_their_context() {
    let hsm = SoftHsm::new();
    let token = open(&hsm);
    let key = token.sealing_key("custodian-shares").unwrap();
    assert!(
        key.is_locked_in().unwrap(),
        "the sealing key must be sensitive and never extractable"
    );
    let secret = b"a custodian's key package";
    let sealed = key.seal(secret, b"wallet A").unwrap();
    assert_eq!(sealed.len(), 12 + secret.len() + 16);
    assert!(
        !sealed.windows(secret.len()).any(|w| w == secret),
        "the plaintext shows through"
    );
    assert_eq!(key.open(&sealed, b"wallet A").unwrap().as_slice(), secret);

    // Found again by label (the same key, not a new one).
    let again = token.sealing_key("custodian-shares").unwrap();
    assert_eq!(again.open(&sealed, b"wallet A").unwrap().as_slice(), secret);

    // Another record's context, a flipped byte, a truncated value: refused.
    let refused = key.open(&sealed, b"wallet B").unwrap_err();
    // SoftHSM 2.6 answers a failed GCM tag with CKR_GENERAL_ERROR, others with
    // CKR_ENCRYPTED_DATA_INVALID: either way the token refused it.
    assert!(refused.code().is_some(), "{refused}");
    let mut tampered = sealed.clone();
    tampered[20] ^= 1;
    assert!(key.open(&tampered, b"wallet A").is_err());
    assert!(matches!(
        key.open(&sealed[..20], b"wallet A"),
        Err(Error::SealedData(20))
    ));

    // Another key of the token cannot open it.
    let other = token.sealing_key("other").unwrap();
    assert!(other.open(&sealed, b"wallet A").is_err());
    // And after the refusals the session still works.
    assert_eq!(key.open(&sealed, b"wallet A").unwrap().as_slice(), secret);
}

#[test]
fn a_key_that_must_exist_is_never_made_on_the_way() {
    let hsm = SoftHsm::new();
    let token = open(&hsm);
    let missing = token.existing_ed25519_key("guardian").unwrap_err();
    assert!(matches!(missing, Error::KeyMissing { .. }), "{missing}");
    // Still missing: the lookup made nothing.
    assert!(token.existing_ed25519_key("guardian").is_err());
    let made = token.ed25519_key("guardian").unwrap();
    let found = token.existing_ed25519_key("guardian").unwrap();
    assert_eq!(found.public_key(), made.public_key());
}
