//! A party's share of a wallet, and the wallet's public data.

use std::{collections::BTreeMap, fmt};

use frost_ed25519::{
    keys::{KeyPackage, PublicKeyPackage, VerifyingShare},
    VerifyingKey,
};
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::{hex_serde, Error, Result, Role, THRESHOLD};

/// A wallet's public data: its account and each role's verifying share. This is what an MPC
/// registry stores and what a coordinator needs to check and aggregate signature shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletPublic {
    /// The group verifying key: a plain Ed25519 public key, the wallet's account.
    #[serde(with = "hex_serde::array32")]
    pub account: [u8; 32],
    /// Each role's verifying share (the public key of its share).
    #[serde(with = "hex_serde::map32")]
    pub verifying_shares: BTreeMap<Role, [u8; 32]>,
}

/// 32 bytes from a FROST serialization.
fn bytes32(what: &'static str, bytes: Vec<u8>) -> Result<[u8; 32]> {
    let got = bytes.len();
    bytes.try_into().map_err(|_| Error::Length {
        what,
        expected: 32,
        got,
    })
}

impl WalletPublic {
    /// The public data of a FROST public key package.
    ///
    /// Identifiers other than the roles' are skipped.
    ///
    /// Errors: [`Error::Frost`] for a key that does not serialize.
    pub fn from_public_key_package(public: &PublicKeyPackage) -> Result<Self> {
        let account = bytes32("verifying key", public.verifying_key().serialize()?)?;
        let mut verifying_shares = BTreeMap::new();
        for (id, share) in public.verifying_shares() {
            if let Some(role) = Role::from_identifier(id) {
                verifying_shares.insert(role, bytes32("verifying share", share.serialize()?)?);
            }
        }
        Ok(Self {
            account,
            verifying_shares,
        })
    }

    /// The FROST public key package, with [`THRESHOLD`] as its minimum number of signers.
    ///
    /// Errors: [`Error::Frost`] when the account or a verifying share is not a valid point.
    pub fn to_public_key_package(&self) -> Result<PublicKeyPackage> {
        let mut shares = BTreeMap::new();
        for (role, share) in &self.verifying_shares {
            shares.insert(role.identifier()?, VerifyingShare::deserialize(share)?);
        }
        Ok(PublicKeyPackage::new(
            shares,
            VerifyingKey::deserialize(&self.account)?,
            Some(THRESHOLD),
        ))
    }

    /// The verifying share of `role`.
    ///
    /// Errors: [`Error::UnknownSigner`] when the wallet has none.
    pub(crate) fn verifying_share(&self, role: Role) -> Result<VerifyingShare> {
        let bytes = self
            .verifying_shares
            .get(&role)
            .ok_or(Error::UnknownSigner(role))?;
        Ok(VerifyingShare::deserialize(bytes)?)
    }
}

/// One party's share of a wallet: its FROST key package (secret) and the wallet's public key
/// package.
///
/// Serializes to JSON as `{"role", "key_package", "public"}` with hex of FROST's
/// serializations; the secret is in `key_package`, so store the JSON encrypted. `Debug` shows
/// the role and account only. The secret is erased from memory when the share is dropped.
pub struct Share {
    role: Role,
    key_package: KeyPackage,
    public: PublicKeyPackage,
    wallet: WalletPublic,
}

impl Share {
    /// A share from FROST's packages, checked to belong together and to `role`.
    ///
    /// Errors: [`Error::WalletMismatch`] when the packages disagree on the group key or on the
    /// role's verifying share, or the key package is not `role`'s.
    pub(crate) fn new(
        role: Role,
        key_package: KeyPackage,
        public: PublicKeyPackage,
    ) -> Result<Self> {
        let id = role.identifier()?;
        if *key_package.identifier() != id
            || key_package.verifying_key() != public.verifying_key()
            || public.verifying_shares().get(&id) != Some(key_package.verifying_share())
        {
            return Err(Error::WalletMismatch);
        }
        let wallet = WalletPublic::from_public_key_package(&public)?;
        Ok(Self {
            role,
            key_package,
            public,
            wallet,
        })
    }

    /// The role holding this share.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The wallet's account: its group verifying key, a plain Ed25519 public key.
    pub fn account(&self) -> [u8; 32] {
        self.wallet.account
    }

    /// The wallet's public data.
    pub fn wallet(&self) -> WalletPublic {
        self.wallet.clone()
    }

    /// The FROST key package (secret).
    pub(crate) fn key_package(&self) -> &KeyPackage {
        &self.key_package
    }
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("role", &self.role)
            .field("account", &hex::encode(self.wallet.account))
            .finish_non_exhaustive()
    }
}

/// The JSON form of a share, with hex strings, as written.
#[derive(Serialize)]
struct ShareJsonOut<'a> {
    role: Role,
    key_package: &'a str,
    public: &'a str,
}

/// The JSON form of a share, as read.
#[derive(Deserialize)]
struct ShareJsonIn {
    role: Role,
    key_package: String,
    public: String,
}

impl Serialize for Share {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let key_package = Zeroizing::new(self.key_package.serialize().map_err(S::Error::custom)?);
        let key_package = Zeroizing::new(hex::encode(key_package.as_slice()));
        let public = hex::encode(self.public.serialize().map_err(S::Error::custom)?);
        ShareJsonOut {
            role: self.role,
            key_package: &key_package,
            public: &public,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = ShareJsonIn::deserialize(d)?;
        let role = json.role;
        let text = Zeroizing::new(json.key_package);
        let key_package = Zeroizing::new(hex::decode(text.as_str()).map_err(D::Error::custom)?);
        let public = hex::decode(&json.public).map_err(D::Error::custom)?;
        let key_package = KeyPackage::deserialize(&key_package).map_err(D::Error::custom)?;
        let public = PublicKeyPackage::deserialize(&public).map_err(D::Error::custom)?;
        Share::new(role, key_package, public).map_err(D::Error::custom)
    }
}
