//! Threshold signing: commitments, signing package, signature shares, aggregation.

use std::{collections::BTreeMap, fmt};

use frost_ed25519 as frost;
use rand::rngs::OsRng;
use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

use crate::{hex_serde, Error, Result, Role, Share, WalletPublic, THRESHOLD};

/// A signer's secret nonces for one signature. Used once by [`sign`], which consumes them;
/// neither cloneable nor serializable, and erased from memory when dropped.
pub struct SigningNonces {
    role: Role,
    nonces: frost::round1::SigningNonces,
}

impl SigningNonces {
    /// The role that made them.
    pub fn role(&self) -> Role {
        self.role
    }
}

impl fmt::Debug for SigningNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningNonces")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A signer's public commitment to its nonces, sent to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment {
    /// The signer.
    pub role: Role,
    /// FROST's `SigningCommitments::serialize`.
    #[serde(with = "hex_serde::bytes")]
    pub commitment: Vec<u8>,
}

/// A signer's share of a signature, sent to the coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureShare {
    /// The signer.
    pub role: Role,
    /// FROST's `round2::SignatureShare::serialize`.
    #[serde(with = "hex_serde::bytes")]
    pub share: Vec<u8>,
}

/// What the signers sign: the commitments of all signers and the message. Serializes to JSON
/// as a hex string of FROST's serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPackage(frost::SigningPackage);

impl SigningPackage {
    /// FROST's serialization.
    ///
    /// Errors: [`Error::Frost`] when a commitment does not serialize.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.0.serialize()?)
    }

    /// A package from FROST's serialization.
    ///
    /// Errors: [`Error::Frost`] for malformed bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(Self(frost::SigningPackage::deserialize(bytes)?))
    }

    /// The message to sign.
    pub fn message(&self) -> &[u8] {
        self.0.message()
    }

    /// The signers, in identifier order.
    pub fn signers(&self) -> Vec<Role> {
        self.0
            .signing_commitments()
            .keys()
            .filter_map(Role::from_identifier)
            .collect()
    }

    fn has_signer(&self, role: Role) -> Result<bool> {
        Ok(self
            .0
            .signing_commitments()
            .contains_key(&role.identifier()?))
    }
}

impl Serialize for SigningPackage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let bytes = self.to_bytes().map_err(S::Error::custom)?;
        s.serialize_str(&hex::encode(bytes))
    }
}

impl<'de> Deserialize<'de> for SigningPackage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.trim_start_matches("0x")).map_err(D::Error::custom)?;
        Self::from_bytes(&bytes).map_err(D::Error::custom)
    }
}

/// Makes fresh nonces for one signature with `share` and the commitment to send.
///
/// Errors: [`Error::Frost`] when the commitment does not serialize.
pub fn commit(share: &Share) -> Result<(SigningNonces, Commitment)> {
    let (nonces, commitments) =
        frost::round1::commit(share.key_package().signing_share(), &mut OsRng);
    let commitment = Commitment {
        role: share.role(),
        commitment: commitments.serialize()?,
    };
    Ok((
        SigningNonces {
            role: share.role(),
            nonces,
        },
        commitment,
    ))
}

/// Builds the signing package from the signers' commitments and the message.
///
/// Errors: [`Error::NotEnoughSigners`] with fewer than [`THRESHOLD`] commitments,
/// [`Error::DuplicateRole`], [`Error::Frost`] for a malformed commitment.
pub fn signing_package(commitments: &[Commitment], message: &[u8]) -> Result<SigningPackage> {
    if commitments.len() < usize::from(THRESHOLD) {
        return Err(Error::NotEnoughSigners {
            have: commitments.len(),
            need: usize::from(THRESHOLD),
        });
    }
    let mut map = BTreeMap::new();
    for c in commitments {
        let value = frost::round1::SigningCommitments::deserialize(&c.commitment)?;
        if map.insert(c.role.identifier()?, value).is_some() {
            return Err(Error::DuplicateRole(c.role));
        }
    }
    Ok(SigningPackage(frost::SigningPackage::new(map, message)))
}

/// Signs the package with `share`, consuming the nonces made by [`commit`] for it.
///
/// Errors: [`Error::NoncesOfAnotherRole`], [`Error::NotASigner`] when the package has no
/// commitment of this share's role, [`Error::Frost`] when the package's commitment is not the
/// one of these nonces or the package has too few commitments.
pub fn sign(
    share: &Share,
    nonces: SigningNonces,
    package: &SigningPackage,
) -> Result<SignatureShare> {
    if nonces.role != share.role() {
        return Err(Error::NoncesOfAnotherRole {
            nonces: nonces.role,
            share: share.role(),
        });
    }
    if !package.has_signer(share.role())? {
        return Err(Error::NotASigner(share.role()));
    }
    let signature = frost::round2::sign(&package.0, &nonces.nonces, share.key_package())?;
    Ok(SignatureShare {
        role: share.role(),
        share: signature.serialize(),
    })
}

/// Checks one signature share against its signer's verifying share: the share was made by
/// the holder of that role's share for this package. A custodian checks the other signer's
/// share before adding its own.
///
/// Errors: [`Error::NotASigner`], [`Error::UnknownSigner`] (no such verifying share in the
/// wallet), [`Error::InvalidSignatureShare`].
pub fn verify_share(
    wallet: &WalletPublic,
    package: &SigningPackage,
    share: &SignatureShare,
) -> Result<()> {
    let role = share.role;
    if !package.has_signer(role)? {
        return Err(Error::NotASigner(role));
    }
    let verifying_share = wallet.verifying_share(role)?;
    let signature_share = frost::round2::SignatureShare::deserialize(&share.share)
        .map_err(|_| Error::InvalidSignatureShare(role))?;
    let verifying_key = frost::VerifyingKey::deserialize(&wallet.account)?;
    frost_core::verify_signature_share(
        role.identifier()?,
        &verifying_share,
        &signature_share,
        &package.0,
        &verifying_key,
    )
    .map_err(|_| Error::InvalidSignatureShare(role))
}

/// Aggregates the signers' shares into a 64-byte Ed25519 signature of the package's message
/// by the wallet's account.
///
/// Errors: [`Error::NotEnoughSigners`], [`Error::DuplicateRole`], [`Error::NotASigner`] for a
/// share of a role without commitment, [`Error::MissingRole`] for a signer without share,
/// [`Error::InvalidSignatureShare`] naming a share that does not verify.
pub fn aggregate(
    wallet: &WalletPublic,
    package: &SigningPackage,
    shares: &[SignatureShare],
) -> Result<[u8; 64]> {
    let mut map = BTreeMap::new();
    for share in shares {
        if !package.has_signer(share.role)? {
            return Err(Error::NotASigner(share.role));
        }
        let value = frost::round2::SignatureShare::deserialize(&share.share)
            .map_err(|_| Error::InvalidSignatureShare(share.role))?;
        if map.insert(share.role.identifier()?, value).is_some() {
            return Err(Error::DuplicateRole(share.role));
        }
    }
    if map.len() < usize::from(THRESHOLD) {
        return Err(Error::NotEnoughSigners {
            have: map.len(),
            need: usize::from(THRESHOLD),
        });
    }
    if let Some(role) = package
        .signers()
        .into_iter()
        .find(|role| role.identifier().is_ok_and(|id| !map.contains_key(&id)))
    {
        return Err(Error::MissingRole(role));
    }
    let public = wallet.to_public_key_package()?;
    let signature = frost::aggregate(&package.0, &map, &public).map_err(|e| match e {
        frost::Error::InvalidSignatureShare { culprits } => culprits
            .first()
            .and_then(Role::from_identifier)
            .map(Error::InvalidSignatureShare)
            .unwrap_or(Error::InvalidSignature),
        other => Error::Frost(other),
    })?;
    let bytes = signature.serialize()?;
    let got = bytes.len();
    bytes.try_into().map_err(|_| Error::Length {
        what: "signature",
        expected: 64,
        got,
    })
}

/// Signs `message` with several shares held in one process (tests, a backup ceremony):
/// [`commit`], [`signing_package`], [`sign`] and [`aggregate`] in one call.
///
/// Errors: [`Error::NotEnoughSigners`] with fewer than [`THRESHOLD`] shares,
/// [`Error::DuplicateRole`], [`Error::WalletMismatch`] for shares of different wallets.
pub fn sign_with(shares: &[&Share], message: &[u8]) -> Result<[u8; 64]> {
    let Some(first) = shares.first() else {
        return Err(Error::NotEnoughSigners {
            have: 0,
            need: usize::from(THRESHOLD),
        });
    };
    if shares.iter().any(|s| s.wallet() != first.wallet()) {
        return Err(Error::WalletMismatch);
    }
    if shares.len() < usize::from(THRESHOLD) {
        return Err(Error::NotEnoughSigners {
            have: shares.len(),
            need: usize::from(THRESHOLD),
        });
    }
    let mut nonces = Vec::with_capacity(shares.len());
    let mut commitments = Vec::with_capacity(shares.len());
    for share in shares {
        let (n, c) = commit(share)?;
        nonces.push(n);
        commitments.push(c);
    }
    let package = signing_package(&commitments, message)?;
    let mut signature_shares = Vec::with_capacity(shares.len());
    for (share, n) in shares.iter().zip(nonces) {
        signature_shares.push(sign(share, n, &package)?);
    }
    aggregate(&first.wallet(), &package, &signature_shares)
}

/// Verifies `signature` of `message` by `account` as plain Ed25519.
///
/// Errors: [`Error::InvalidAccount`], [`Error::InvalidSignature`].
pub fn verify(account: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<()> {
    let key =
        ed25519_zebra::VerificationKey::try_from(*account).map_err(|_| Error::InvalidAccount)?;
    key.verify(&ed25519_zebra::Signature::from(*signature), message)
        .map_err(|_| Error::InvalidSignature)
}
