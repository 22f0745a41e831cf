//! MPC wallets: 2-of-3 FROST Ed25519 keys shared among the user's device, a backup and a
//! custodian.
//!
//! # Overview
//!
//! A wallet's key never exists in one place. Three parties, the [`Role`]s
//! [`Device`](Role::Device), [`Backup`](Role::Backup) and [`Custodian`](Role::Custodian), each
//! hold a [`Share`]; any [`THRESHOLD`] of the [`PARTICIPANTS`] sign together. The scheme is
//! FROST(Ed25519, SHA-512) (RFC 9591, `frost-ed25519`): the wallet's account is the group
//! verifying key, a plain Ed25519 public key, and the signatures are plain Ed25519 signatures
//! (the chain takes them as `MultiSignature::Ed25519`).
//!
//! A coordinator (the ceremony service) relays the messages. It sees only public messages and
//! sealed ones; it learns no share and cannot sign.
//!
//! # Life cycle
//!
//! 1. Key generation ([`DkgParticipant`]), three rounds among the three roles:
//!    1. [`DkgParticipant::start`] makes a [`Round1Message`] (a FROST round-1 package and an
//!       X25519 transport key), broadcast to the others.
//!    2. [`DkgParticipant::round2`] takes the three round-1 messages and returns one
//!       [`Round2Message`] for each other role, sealed to its transport key.
//!    3. [`DkgParticipant::finish`] opens the two messages addressed to it and returns its
//!       [`Share`]. All three shares name the same [`WalletPublic`].
//! 2. Signing, by two parties that may be on different machines:
//!    1. Each signer calls [`commit`] and sends its [`Commitment`]; it keeps its
//!       [`SigningNonces`] in memory for this one signature.
//!    2. The coordinator builds the [`SigningPackage`] ([`signing_package`]) from the
//!       commitments and the message and sends it to the signers.
//!    3. Each signer calls [`sign`], which consumes its nonces, and sends its [`SignatureShare`].
//!    4. The coordinator checks each share ([`verify_share`]) and [`aggregate`]s them into a
//!       64-byte Ed25519 signature, which [`verify`] checks as plain Ed25519.
//!
//!    [`sign_with`] does all of this in one process for parties that hold several shares.
//!
//! # Sealed round-2 messages
//!
//! ```text
//! sealed = ephemeral public (32) | nonce (12) | AES-256-GCM(key, round-2 package) (n + 16)
//!   key  = HKDF-SHA256(ikm = X25519(ephemeral secret, recipient transport key),
//!                      salt = ephemeral public | recipient transport key,
//!                      info = "sdv-mpc-dkg-round2" | from | to)
//!   AAD  = "sdv-mpc-dkg-round2" | from | to
//! ```
//!
//! `from` and `to` are the roles' FROST identifiers (one byte each). Small-order transport
//! keys are refused. The seal keeps the package secret from the coordinator; that the package
//! comes from its sender is checked by FROST itself against the sender's round-1 commitment.
//!
//! # Error handling
//!
//! Every fallible function returns [`Result`] with an [`Error`] naming what failed, for example
//! [`Error::NotEnoughSigners`] when fewer than [`THRESHOLD`] parties sign.

mod dkg;
mod error;
mod hex_serde;
mod seal;
mod share;
mod sign;

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

pub use dkg::{DkgParticipant, Round1Message, Round2Message};
pub use error::{Error, Result};
pub use share::{Share, WalletPublic};
pub use sign::{
    aggregate, commit, sign, sign_with, signing_package, verify, verify_share, Commitment,
    SignatureShare, SigningNonces, SigningPackage,
};

/// Number of shares that must sign together.
pub const THRESHOLD: u16 = 2;

/// Number of shares of a wallet.
pub const PARTICIPANTS: u16 = 3;

/// A party holding one share of a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user's device (FROST identifier 1).
    Device,
    /// The backup share, kept offline by the user (FROST identifier 2).
    Backup,
    /// The custodian service (FROST identifier 3).
    Custodian,
}

impl Role {
    /// All roles, in identifier order.
    pub const ALL: [Role; 3] = [Role::Device, Role::Backup, Role::Custodian];

    /// The role's FROST identifier as a number: 1, 2 or 3.
    pub fn index(self) -> u16 {
        match self {
            Role::Device => 1,
            Role::Backup => 2,
            Role::Custodian => 3,
        }
    }

    /// The role's name: `device`, `backup` or `custodian`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::Backup => "backup",
            Role::Custodian => "custodian",
        }
    }

    /// The role's FROST identifier.
    pub(crate) fn identifier(self) -> Result<frost_ed25519::Identifier> {
        Ok(frost_ed25519::Identifier::try_from(self.index())?)
    }

    /// The role whose FROST identifier is `id`, if any.
    pub(crate) fn from_identifier(id: &frost_ed25519::Identifier) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|role| role.identifier().is_ok_and(|own| own == *id))
    }

    /// The role as one byte, for key derivation and associated data.
    pub(crate) fn byte(self) -> u8 {
        match self {
            Role::Device => 1,
            Role::Backup => 2,
            Role::Custodian => 3,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| Error::UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests;
