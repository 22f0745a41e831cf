//! Arweave wallets: 4096-bit RSA keys in the standard JWK form, addresses, and RSA-PSS
//! signatures.
//!
//! An Arweave wallet is an RSA key with a 4096-bit modulus `n` and e = 65537. Its *owner*
//! is `n` as 512 big-endian bytes; its *address* is base64url(sha256(owner)). Arweave signs
//! with RSA-PSS over SHA-256 with MGF1-SHA-256; [`Wallet::sign`] uses a 32-byte salt, and
//! [`verify`] accepts both that and the maximal salt that arweave-js's Node driver uses.

use std::fmt;

use rand::rngs::OsRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pss, RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::{b64url_decode, b64url_encode, sha256, Error, Result};

/// The modulus size of an Arweave wallet, in bits.
pub const KEY_BITS: usize = 4096;
/// The size of an owner (the modulus) and of a signature, in bytes.
pub const OWNER_LEN: usize = KEY_BITS / 8;
/// The public exponent of every Arweave wallet.
pub const PUBLIC_EXPONENT: u32 = 65537;
/// The PSS salt length [`Wallet::sign`] uses: the SHA-256 digest length.
pub const SALT_LEN: usize = 32;

/// An Arweave wallet: an RSA-4096 private key.
///
/// The key is zeroized on drop; `Debug` shows the address only.
#[derive(Clone)]
pub struct Wallet {
    key: RsaPrivateKey,
    owner: Vec<u8>,
}

/// The JSON Web Key of an Arweave wallet file. Every field is base64url without padding.
#[derive(Serialize, Deserialize)]
struct Jwk {
    kty: String,
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
    #[serde(default)]
    dp: String,
    #[serde(default)]
    dq: String,
    #[serde(default)]
    qi: String,
}

impl Drop for Jwk {
    fn drop(&mut self) {
        for field in [
            &mut self.n,
            &mut self.e,
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
        ] {
            field.zeroize();
        }
    }
}

impl Wallet {
    /// Generates a new wallet (RSA-4096, e = 65537) from the operating system's randomness.
    ///
    /// This is slow in unoptimised builds: see the crate's report of timings.
    ///
    /// # Errors
    ///
    /// [`Error::Rsa`] if key generation fails.
    pub fn generate() -> Result<Self> {
        let key =
            RsaPrivateKey::new_with_exp(&mut OsRng, KEY_BITS, &BigUint::from(PUBLIC_EXPONENT))
                .map_err(Error::Rsa)?;
        Self::from_key(key)
    }

    /// Reads a wallet from its JWK (the JSON of an Arweave wallet file).
    ///
    /// `dp`, `dq` and `qi` are optional and recomputed; the key is checked for consistency.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidJwk`] for JSON that is not an RSA JWK, [`Error::InvalidBase64Url`] for
    /// a field that is not base64url, [`Error::InvalidKey`] for numbers that are not an RSA
    /// key, [`Error::UnsupportedKey`] for a key that is not 4096 bits with e = 65537.
    pub fn from_jwk(jwk: &str) -> Result<Self> {
        // serde_json's messages can quote the input: do not pass them on.
        let jwk: Jwk = serde_json::from_str(jwk).map_err(|_| Error::InvalidJwk {
            reason: "not a JSON object with the RSA fields kty, n, e, d, p and q as strings",
        })?;
        if jwk.kty != "RSA" {
            return Err(Error::InvalidJwk {
                reason: "kty is not \"RSA\"",
            });
        }
        let number = |field: &str| -> Result<BigUint> {
            let bytes = Zeroizing::new(b64url_decode(field)?);
            Ok(BigUint::from_bytes_be(&bytes))
        };
        let key = RsaPrivateKey::from_components(
            number(&jwk.n)?,
            number(&jwk.e)?,
            number(&jwk.d)?,
            vec![number(&jwk.p)?, number(&jwk.q)?],
        )
        .map_err(Error::InvalidKey)?;
        Self::from_key(key)
    }

    fn from_key(mut key: RsaPrivateKey) -> Result<Self> {
        let exponent = key
            .e()
            .to_bytes_be()
            .iter()
            .fold(0u64, |acc, &b| acc.wrapping_shl(8) | u64::from(b));
        if key.n().bits() != KEY_BITS || key.e() != &BigUint::from(PUBLIC_EXPONENT) {
            return Err(Error::UnsupportedKey {
                bits: key.n().bits(),
                exponent,
            });
        }
        key.precompute().map_err(Error::InvalidKey)?;
        let owner = key.n().to_bytes_be();
        Ok(Self { key, owner })
    }

    /// The wallet as a JWK (kty, n, e, d, p, q, dp, dq, qi; base64url without padding), the
    /// content of an Arweave wallet file. The string is zeroized when dropped.
    pub fn to_jwk(&self) -> Zeroizing<String> {
        let encode = |n: &BigUint| {
            let bytes = Zeroizing::new(n.to_bytes_be());
            b64url_encode(&bytes)
        };
        let (p, q) = match self.key.primes() {
            [p, q, ..] => (encode(p), encode(q)),
            _ => (String::new(), String::new()),
        };
        let (dp, dq) = match (self.key.dp(), self.key.dq()) {
            (Some(dp), Some(dq)) => (encode(dp), encode(dq)),
            _ => (String::new(), String::new()),
        };
        let qi = self
            .key
            .crt_coefficient()
            .map(|qi| encode(&qi))
            .unwrap_or_default();
        let jwk = Jwk {
            kty: "RSA".to_owned(),
            n: encode(self.key.n()),
            e: encode(self.key.e()),
            d: encode(self.key.d()),
            p,
            q,
            dp,
            dq,
            qi,
        };
        // Serialising a struct of strings cannot fail.
        Zeroizing::new(serde_json::to_string(&jwk).unwrap_or_default())
    }

    /// The owner: the modulus `n`, 512 bytes big-endian.
    pub fn owner(&self) -> Vec<u8> {
        self.owner.clone()
    }

    /// The wallet's address: base64url(sha256(owner)).
    pub fn address(&self) -> String {
        address_of(&self.owner)
    }

    /// Signs `message` with RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt): 512 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Rsa`] if the RSA operation fails (it does not for a valid key).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let digest = sha256(message);
        self.key
            .sign_with_rng(
                &mut OsRng,
                Pss::new_with_salt::<sha2::Sha256>(SALT_LEN),
                &digest,
            )
            .map_err(Error::Rsa)
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// The address of an owner: base64url(sha256(owner)).
pub fn address_of(owner: &[u8]) -> String {
    b64url_encode(&sha256(owner))
}

/// Verifies an Arweave RSA-PSS/SHA-256 signature of `message` by `owner` (the 512-byte
/// modulus; e = 65537).
///
/// Accepts a 32-byte salt (what [`Wallet::sign`], arweave-js in browsers and most tools use)
/// and the maximal salt (what arweave-js's Node driver uses).
///
/// # Errors
///
/// [`Error::InvalidOwnerLength`] for an owner that is not 512 bytes,
/// [`Error::InvalidSignature`] when the signature does not verify.
pub fn verify(owner: &[u8], message: &[u8], signature: &[u8]) -> Result<()> {
    if owner.len() != OWNER_LEN || owner[0] == 0 {
        return Err(Error::InvalidOwnerLength { len: owner.len() });
    }
    if signature.len() != OWNER_LEN {
        return Err(Error::InvalidSignature);
    }
    let key = RsaPublicKey::new(
        BigUint::from_bytes_be(owner),
        BigUint::from(PUBLIC_EXPONENT),
    )
    .map_err(|_| Error::InvalidOwnerLength { len: owner.len() })?;
    let digest = sha256(message);
    let max_salt = OWNER_LEN - SALT_LEN - 2;
    for salt in [SALT_LEN, max_salt] {
        if key
            .verify(Pss::new_with_salt::<sha2::Sha256>(salt), &digest, signature)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(Error::InvalidSignature)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A wallet generated by arweave-js `wallets.generate()` (test data, holds nothing).
    pub(crate) const TEST_JWK: &str = include_str!("../testdata/test-wallet.json");
    /// Its address according to arweave-js `wallets.jwkToAddress`.
    const TEST_ADDRESS: &str = "t0V4TFJP_BlcKCrRyiU07QrTyS19xf7X9hK_zy2EduQ";
    /// arweave-js `crypto.sign(jwk, "hello")` (Node driver: maximal PSS salt).
    const ARWEAVE_JS_SIGNATURE: &str = include_str!("../testdata/arweave-js-signature-hello.txt");

    pub(crate) fn test_wallet() -> Wallet {
        Wallet::from_jwk(TEST_JWK).unwrap()
    }

    #[test]
    fn jwk_from_arweave_js_gives_its_address() {
        let wallet = test_wallet();
        assert_eq!(wallet.address(), TEST_ADDRESS);
        assert_eq!(wallet.owner().len(), OWNER_LEN);
        assert_eq!(address_of(&wallet.owner()), TEST_ADDRESS);
    }

    #[test]
    fn jwk_round_trips() {
        let wallet = test_wallet();
        let again = Wallet::from_jwk(&wallet.to_jwk()).unwrap();
        assert_eq!(again.owner(), wallet.owner());
        let original: serde_json::Value = serde_json::from_str(TEST_JWK).unwrap();
        let written: serde_json::Value = serde_json::from_str(&wallet.to_jwk()).unwrap();
        for field in ["kty", "n", "e", "d", "p", "q", "dp", "dq", "qi"] {
            assert_eq!(written[field], original[field], "field {field}");
        }
    }

    #[test]
    fn signature_verifies_and_tampering_is_detected() {
        let wallet = test_wallet();
        let signature = wallet.sign(b"message").unwrap();
        assert_eq!(signature.len(), OWNER_LEN);
        verify(&wallet.owner(), b"message", &signature).unwrap();
        assert!(matches!(
            verify(&wallet.owner(), b"messagf", &signature),
            Err(Error::InvalidSignature)
        ));
        let mut forged = signature.clone();
        forged[100] ^= 1;
        assert!(matches!(
            verify(&wallet.owner(), b"message", &forged),
            Err(Error::InvalidSignature)
        ));
        assert!(matches!(
            verify(&wallet.owner(), b"message", &signature[1..]),
            Err(Error::InvalidSignature)
        ));
        assert!(matches!(
            verify(&wallet.owner()[1..], b"message", &signature),
            Err(Error::InvalidOwnerLength { len: 511 })
        ));
    }

    #[test]
    fn signature_of_arweave_js_verifies() {
        let signature = b64url_decode(ARWEAVE_JS_SIGNATURE.trim()).unwrap();
        verify(&test_wallet().owner(), b"hello", &signature).unwrap();
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let wallet = test_wallet();
        let debug = format!("{wallet:?}");
        assert!(debug.contains(TEST_ADDRESS));
        let jwk: serde_json::Value = serde_json::from_str(TEST_JWK).unwrap();
        for field in ["d", "p", "q", "n"] {
            let value = jwk[field].as_str().unwrap();
            assert!(!debug.contains(&value[..16]), "Debug shows {field}");
        }
    }

    #[test]
    fn bad_jwks_are_errors() {
        assert!(matches!(
            Wallet::from_jwk("not json"),
            Err(Error::InvalidJwk { .. })
        ));
        assert!(matches!(
            Wallet::from_jwk("{\"kty\":\"RSA\"}"),
            Err(Error::InvalidJwk { .. })
        ));
        let mut jwk: serde_json::Value = serde_json::from_str(TEST_JWK).unwrap();
        jwk["kty"] = "EC".into();
        assert!(matches!(
            Wallet::from_jwk(&jwk.to_string()),
            Err(Error::InvalidJwk { .. })
        ));
        let mut jwk: serde_json::Value = serde_json::from_str(TEST_JWK).unwrap();
        jwk["d"] = "!!".into();
        assert!(matches!(
            Wallet::from_jwk(&jwk.to_string()),
            Err(Error::InvalidBase64Url)
        ));
        let mut jwk: serde_json::Value = serde_json::from_str(TEST_JWK).unwrap();
        jwk["d"] = "AQAB".into();
        assert!(matches!(
            Wallet::from_jwk(&jwk.to_string()),
            Err(Error::InvalidKey(_))
        ));
    }

    #[test]
    fn generated_wallet_signs_and_round_trips() {
        let started = std::time::Instant::now();
        let wallet = Wallet::generate().unwrap();
        eprintln!("generated an RSA-4096 wallet in {:?}", started.elapsed());
        let again = Wallet::from_jwk(&wallet.to_jwk()).unwrap();
        assert_eq!(again.address(), wallet.address());
        let signature = wallet.sign(b"x").unwrap();
        verify(&again.owner(), b"x", &signature).unwrap();
    }
}
