//! Errors of MPC key generation and signing.

use crate::Role;

/// What can go wrong generating a wallet's shares or signing with them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The FROST library refused an input or a computation.
    #[error("FROST: {0}")]
    Frost(#[from] frost_ed25519::Error),
    /// A role appears more than once among messages, commitments, shares or signers.
    #[error("{0} appears more than once")]
    DuplicateRole(Role),
    /// A message of a role that must take part is missing.
    #[error("no message from {0}")]
    MissingRole(Role),
    /// The string names no role.
    #[error("unknown role {0:?} (expected device, backup or custodian)")]
    UnknownRole(String),
    /// A DKG step was called out of order (round 2 twice, or finish before round 2).
    #[error("DKG step out of order: {0}")]
    DkgOutOfOrder(&'static str),
    /// A participant's own round-1 message differs from the one it made.
    #[error("the round-1 message of {0} is not the one this participant made")]
    OwnRound1Altered(Role),
    /// A transport key is a small-order X25519 point: no shared secret can come from it.
    #[error("the transport key of {0} is not a valid X25519 key")]
    InvalidTransportKey(Role),
    /// A round-2 message is addressed to another role.
    #[error("a round-2 message to {to} was given to {me}")]
    NotAddressedToMe {
        /// The message's recipient.
        to: Role,
        /// The participant it was given to.
        me: Role,
    },
    /// A round-2 message's sender is not one of the other participants.
    #[error("{me} cannot receive a round-2 message from {from}")]
    WrongSender {
        /// The claimed sender.
        from: Role,
        /// The participant it was given to.
        me: Role,
    },
    /// A sealed round-2 message does not open: it was altered, or sealed to another key.
    #[error("the round-2 message from {from} to {to} does not open")]
    SealBroken {
        /// The claimed sender.
        from: Role,
        /// The recipient.
        to: Role,
    },
    /// Sealing a round-2 message failed.
    #[error("could not seal the round-2 message from {from} to {to}")]
    SealFailed {
        /// The sender.
        from: Role,
        /// The recipient.
        to: Role,
    },
    /// Fewer signers than the threshold.
    #[error("{have} signer(s), {need} needed")]
    NotEnoughSigners {
        /// Signers present.
        have: usize,
        /// Signers needed ([`crate::THRESHOLD`]).
        need: usize,
    },
    /// Signing nonces were used with the share of another role.
    #[error("nonces of {nonces} used with the share of {share}")]
    NoncesOfAnotherRole {
        /// The role the nonces were made for.
        nonces: Role,
        /// The role of the share.
        share: Role,
    },
    /// The signing package has no commitment of this role.
    #[error("the signing package has no commitment of {0}")]
    NotASigner(Role),
    /// The wallet has no verifying share for this role.
    #[error("the wallet has no verifying share of {0}")]
    UnknownSigner(Role),
    /// A signature share does not verify against its signer's verifying share.
    #[error("the signature share of {0} is invalid")]
    InvalidSignatureShare(Role),
    /// Shares of different wallets were used together.
    #[error("the shares belong to different wallets")]
    WalletMismatch,
    /// Bytes that should be a FROST or Ed25519 value have the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// What the bytes are.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The actual length.
        got: usize,
    },
    /// The account is not a valid Ed25519 public key.
    #[error("the account is not a valid Ed25519 public key")]
    InvalidAccount,
    /// The signature does not verify for the account and message.
    #[error("the signature does not verify")]
    InvalidSignature,
}

/// The result type of MPC operations.
pub type Result<T, E = Error> = core::result::Result<T, E>;
