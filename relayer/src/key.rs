//! Signing keys: sr25519 or ed25519 from a secret URI, and the signer interface.
//!
//! The relayer signs through [`subxt::tx::Signer`]; a threshold (MPC) signer implements that
//! trait for its ed25519 account and is used like a [`Key`].

use hmac::Hmac;
use sdv_chain::{AccountId, NodeConfig};
use sha2::Sha512;
use subxt::utils::MultiSignature;
use subxt_signer::{DeriveJunction, ExposeSecret, SecretUri};
use zeroize::Zeroize;

/// The signature scheme of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Schnorrkel sr25519 (Substrate's default).
    Sr25519,
    /// Ed25519 (the MPC wallets' accounts).
    Ed25519,
}

impl std::str::FromStr for Scheme {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sr25519" => Ok(Self::Sr25519),
            "ed25519" => Ok(Self::Ed25519),
            _ => Err(()),
        }
    }
}

/// A key the relayer holds itself.
#[derive(Clone)]
pub enum Key {
    /// An sr25519 keypair.
    Sr25519(subxt_signer::sr25519::Keypair),
    /// An ed25519 keypair.
    Ed25519(Ed25519Key),
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let account = subxt::tx::Signer::<NodeConfig>::account_id(self);
        write!(f, "Key({:?}, {account})", self.scheme())
    }
}

/// Why a secret URI does not give a key. The secret is never repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid secret URI or seed phrase for this scheme")]
pub struct BadKey;

impl Key {
    /// The key of `uri` (`//Alice`, a phrase with junctions, or `0x` and a 32-byte seed).
    ///
    /// Ed25519 supports hard junctions only, as Substrate does.
    pub fn from_uri(scheme: Scheme, uri: &str) -> Result<Self, BadKey> {
        let uri: SecretUri = uri.parse().map_err(|_| BadKey)?;
        match scheme {
            Scheme::Sr25519 => subxt_signer::sr25519::Keypair::from_uri(&uri)
                .map(Self::Sr25519)
                .map_err(|_| BadKey),
            Scheme::Ed25519 => Ed25519Key::from_uri(&uri).map(Self::Ed25519),
        }
    }

    /// Its scheme.
    pub fn scheme(&self) -> Scheme {
        match self {
            Self::Sr25519(_) => Scheme::Sr25519,
            Self::Ed25519(_) => Scheme::Ed25519,
        }
    }
}

impl subxt::tx::Signer<NodeConfig> for Key {
    fn account_id(&self) -> AccountId {
        match self {
            Self::Sr25519(k) => k.public_key().to_account_id(),
            Self::Ed25519(k) => k.account_id(),
        }
    }

    fn sign(&self, payload: &[u8]) -> MultiSignature {
        match self {
            Self::Sr25519(k) => MultiSignature::Sr25519(k.sign(payload).0),
            Self::Ed25519(k) => MultiSignature::Ed25519(k.sign(payload)),
        }
    }
}

/// An ed25519 keypair derived the way Substrate derives it.
#[derive(Clone)]
pub struct Ed25519Key(ed25519_zebra::SigningKey);

impl Ed25519Key {
    /// The key of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ed25519_zebra::SigningKey::from(seed))
    }

    /// The key of a secret URI: the BIP-39 phrase (or `0x` seed), then hard junctions.
    pub fn from_uri(uri: &SecretUri) -> Result<Self, BadKey> {
        let phrase = uri.phrase.expose_secret();
        let mut seed = if let Some(hex_seed) = phrase.strip_prefix("0x") {
            let bytes = hex::decode(hex_seed).map_err(|_| BadKey)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| BadKey)?
        } else {
            let mnemonic = subxt_signer::bip39::Mnemonic::parse(phrase).map_err(|_| BadKey)?;
            let (entropy, len) = mnemonic.to_entropy_array();
            let password = uri.password.as_ref().map(|p| p.expose_secret());
            mini_secret(&entropy[..len], password.unwrap_or(""))?
        };
        for junction in &uri.junctions {
            let DeriveJunction::Hard(chain_code) = junction else {
                seed.zeroize();
                return Err(BadKey);
            };
            let derived = hard_derive(&seed, chain_code);
            seed.zeroize();
            seed = derived;
        }
        let key = Self::from_seed(seed);
        seed.zeroize();
        Ok(key)
    }

    /// The account of its public key.
    pub fn account_id(&self) -> AccountId {
        let public: [u8; 32] = ed25519_zebra::VerificationKey::from(&self.0).into();
        AccountId::from(public)
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

/// Substrate's mini secret of a phrase: PBKDF2-HMAC-SHA512 of the entropy, first 32 bytes.
fn mini_secret(entropy: &[u8], password: &str) -> Result<[u8; 32], BadKey> {
    let salt = format!("mnemonic{password}");
    let mut seed = [0u8; 64];
    pbkdf2::pbkdf2::<Hmac<Sha512>>(entropy, salt.as_bytes(), 2048, &mut seed)
        .map_err(|_| BadKey)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&seed[..32]);
    seed.zeroize();
    Ok(out)
}

/// Substrate's ed25519 hard derivation: BLAKE2b-256 of `("Ed25519HDKD", seed, chain code)`.
fn hard_derive(seed: &[u8; 32], chain_code: &[u8; 32]) -> [u8; 32] {
    use blake2::{digest::consts::U32, Blake2b, Digest};
    use codec::Encode;
    let input = ("Ed25519HDKD", *seed, *chain_code).encode();
    Blake2b::<U32>::digest(&input).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use subxt::tx::Signer;

    #[test]
    fn ed25519_alice_is_substrates() {
        // `subkey inspect --scheme ed25519 //Alice`
        let key = Key::from_uri(Scheme::Ed25519, "//Alice").unwrap();
        assert_eq!(
            hex::encode(key.account_id().0),
            "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"
        );
    }

    #[test]
    fn sr25519_alice_is_the_dev_account() {
        let key = Key::from_uri(Scheme::Sr25519, "//Alice").unwrap();
        let alice = subxt_signer::sr25519::dev::alice();
        assert_eq!(key.account_id(), alice.public_key().to_account_id());
    }

    #[test]
    fn soft_junction_is_refused_for_ed25519() {
        assert_eq!(
            Key::from_uri(Scheme::Ed25519, "//Alice/soft").unwrap_err(),
            BadKey
        );
    }
}
