//! GuardianRecovery: guardian sets, recoveries, their windows, and the events the off-chain
//! services follow to re-wrap keys and end sessions (the spec's section 4).

use crate::{governance::ProposalId as DecisionId, AccountId, Timestamp, DAY, HOUR};
use ink::prelude::vec::Vec;

/// Guardians per user: exactly this many.
pub const GUARDIANS: usize = 3;
/// Valid attestations that start the timelock.
pub const QUORUM: usize = 2;
/// How long an attestation counts.
pub const ATTESTATION_TTL: Timestamp = 72 * HOUR;
/// From quorum to finalization; the old wallet can cancel meanwhile.
pub const TIMELOCK: Timestamp = 24 * HOUR;
/// Silence after which a guardian is unreachable (for the emergency path).
pub const UNREACHABLE_AFTER: Timestamp = 180 * DAY;

/// A recovery's number (one sequence for all users).
pub type RecoveryId = u64;

/// What a guardian is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum GuardianKind {
    /// Another user, by wallet.
    User,
    /// A hardware key: an account whose key lives in a PKCS#11 token.
    HardwareKey,
    /// A qualified custodian's authorized signatory.
    Custodian,
}

/// One guardian of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Guardian {
    /// Its account.
    pub account: AccountId,
    /// What it is.
    pub kind: GuardianKind,
    /// When it accepted the role; the set is active once all three have.
    pub accepted_at: Option<Timestamp>,
    /// Its last action for this user (acceptance, attestation, heartbeat).
    pub last_seen: Option<Timestamp>,
}

/// One recovery of a user's wallet.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Recovery {
    /// The wallet being recovered (revoked when it finalizes).
    pub user: AccountId,
    /// The wallet that receives the user's documents.
    pub new_wallet: AccountId,
    /// Guardian attestations: who and when (the initiator's first).
    pub attestations: Vec<(AccountId, Timestamp)>,
    /// When the second valid attestation arrived: the timelock runs from here.
    pub quorum_at: Option<Timestamp>,
    /// When the old wallet cancelled it.
    pub cancelled_at: Option<Timestamp>,
    /// When it finalized.
    pub finalized_at: Option<Timestamp>,
}

/// A recovery's state, derived from its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum RecoveryState {
    /// Collecting attestations; at least one still valid.
    Collecting,
    /// Every attestation expired before the quorum (final).
    Expired,
    /// Quorum reached; the 24-hour timelock runs and the old wallet may cancel.
    Timelocked,
    /// Timelock over: anyone may finalize.
    Ready,
    /// Cancelled by the old wallet; its attestations are void (final).
    Cancelled,
    /// Finalized: the documents belong to the new wallet (final).
    Finalized,
}

impl Recovery {
    /// Attestations still valid at `now`.
    pub fn valid_attestations(&self, now: Timestamp) -> usize {
        self.attestations
            .iter()
            .filter(|(_, at)| now < at.saturating_add(ATTESTATION_TTL))
            .count()
    }

    /// Its state at `now`.
    pub fn state(&self, now: Timestamp) -> RecoveryState {
        if self.finalized_at.is_some() {
            return RecoveryState::Finalized;
        }
        if self.cancelled_at.is_some() {
            return RecoveryState::Cancelled;
        }
        match self.quorum_at {
            Some(at) if now >= at.saturating_add(TIMELOCK) => RecoveryState::Ready,
            Some(_) => RecoveryState::Timelocked,
            None if self.valid_attestations(now) > 0 => RecoveryState::Collecting,
            None => RecoveryState::Expired,
        }
    }

    /// Whether it still runs (neither final nor expired).
    pub fn in_progress(&self, now: Timestamp) -> bool {
        matches!(
            self.state(now),
            RecoveryState::Collecting | RecoveryState::Timelocked | RecoveryState::Ready
        )
    }
}

/// GuardianRecovery's errors. No variant carries data, so governance can decode the result of
/// `set_code` without knowing this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Error {
    /// A guardian set has exactly 3 guardians.
    WrongGuardianCount,
    /// A guardian appears twice.
    DuplicateGuardian,
    /// A user cannot guard themselves.
    SelfGuardian,
    /// The wallet was revoked by recovery.
    WalletRevoked,
    /// A recovery of this user is in progress.
    RecoveryInProgress,
    /// The caller is not a guardian of the user.
    NotGuardian,
    /// The guardian accepted already.
    AlreadyAccepted,
    /// Not every guardian has accepted: the set is not active.
    GuardiansNotActive,
    /// The new wallet is the user's, a guardian's, has guardians of its own, or is revoked.
    InvalidNewWallet,
    /// No such recovery.
    RecoveryNotFound,
    /// The guardian attested this recovery already.
    AlreadyAttested,
    /// The recovery no longer collects attestations (quorum reached, expired or final).
    NotCollecting,
    /// Only the wallet being recovered can cancel.
    NotRecoveredWallet,
    /// Cancellation is possible only before the timelock ends.
    NotCancellable,
    /// The timelock has not ended (or the quorum was never reached).
    TimelockActive,
    /// The recovery is final already.
    RecoveryClosed,
    /// DocumentNFT refused the rebinding.
    DocumentRefused,
    /// A call to another contract failed.
    ContractUnavailable,
    /// Governance has not wired a contract this needs.
    NotConfigured,
    /// The governance decision is not an executed emergency recovery.
    NoEmergencyDecision,
    /// A guardian acted within the last 180 days.
    GuardiansReachable,
    /// The emergency decision was carried out already.
    AlreadyExecuted,
    /// The caller is not ValidatorGovernance.
    NotGovernance,
    /// The code hash is unknown.
    UpgradeFailed,
}

impl Error {
    /// What the error means, in words, for people (the variant's documentation).
    pub const fn description(self) -> &'static str {
        match self {
            Self::WrongGuardianCount => "A guardian set has exactly 3 guardians",
            Self::DuplicateGuardian => "A guardian appears twice",
            Self::SelfGuardian => "A user cannot guard themselves",
            Self::WalletRevoked => "The wallet was revoked by recovery",
            Self::RecoveryInProgress => "A recovery of this user is in progress",
            Self::NotGuardian => "The caller is not a guardian of the user",
            Self::AlreadyAccepted => "The guardian accepted already",
            Self::GuardiansNotActive => "Not every guardian has accepted: the set is not active",
            Self::InvalidNewWallet => "The new wallet is the user's, a guardian's, has guardians of its own, or is revoked",
            Self::RecoveryNotFound => "No such recovery",
            Self::AlreadyAttested => "The guardian attested this recovery already",
            Self::NotCollecting => "The recovery no longer collects attestations (quorum reached, expired or final)",
            Self::NotRecoveredWallet => "Only the wallet being recovered can cancel",
            Self::NotCancellable => "Cancellation is possible only before the timelock ends",
            Self::TimelockActive => "The timelock has not ended (or the quorum was never reached)",
            Self::RecoveryClosed => "The recovery is final already",
            Self::DocumentRefused => "DocumentNFT refused the rebinding",
            Self::ContractUnavailable => "A call to another contract failed",
            Self::NotConfigured => "Governance has not wired a contract this needs",
            Self::NoEmergencyDecision => "The governance decision is not an executed emergency recovery",
            Self::GuardiansReachable => "A guardian acted within the last 180 days",
            Self::AlreadyExecuted => "The emergency decision was carried out already",
            Self::NotGovernance => "The caller is not ValidatorGovernance",
            Self::UpgradeFailed => "The code hash is unknown",
        }
    }
}

/// A user designated (or replaced) their guardians; each must accept.
#[ink::event]
#[derive(Debug)]
pub struct GuardiansSet {
    /// The user.
    #[ink(topic)]
    pub user: AccountId,
    /// The guardians.
    pub guardians: Vec<Guardian>,
}

/// A guardian accepted the role.
#[ink::event]
#[derive(Debug)]
pub struct GuardianAccepted {
    /// The user.
    #[ink(topic)]
    pub user: AccountId,
    /// The guardian.
    #[ink(topic)]
    pub guardian: AccountId,
    /// Every guardian has accepted: the set is active.
    pub active: bool,
}

/// A guardian showed it is reachable.
#[ink::event]
#[derive(Debug)]
pub struct GuardianHeartbeat {
    /// The user.
    #[ink(topic)]
    pub user: AccountId,
    /// The guardian.
    #[ink(topic)]
    pub guardian: AccountId,
}

/// A guardian initiated a recovery with its attestation.
#[ink::event]
#[derive(Debug)]
pub struct RecoveryInitiated {
    /// The recovery.
    #[ink(topic)]
    pub id: RecoveryId,
    /// The wallet being recovered.
    #[ink(topic)]
    pub user: AccountId,
    /// The guardian.
    #[ink(topic)]
    pub guardian: AccountId,
    /// The wallet that would receive the documents.
    pub new_wallet: AccountId,
}

/// A guardian attested a recovery.
#[ink::event]
#[derive(Debug)]
pub struct RecoveryAttested {
    /// The recovery.
    #[ink(topic)]
    pub id: RecoveryId,
    /// The guardian.
    #[ink(topic)]
    pub guardian: AccountId,
    /// Valid attestations now.
    pub valid: u8,
}

/// Two valid attestations: the 24-hour timelock runs until `eta`; the old wallet can cancel.
#[ink::event]
#[derive(Debug)]
pub struct RecoveryQuorumReached {
    /// The recovery.
    #[ink(topic)]
    pub id: RecoveryId,
    /// The wallet being recovered (its owner should look now).
    #[ink(topic)]
    pub user: AccountId,
    /// When it can finalize.
    pub eta: Timestamp,
}

/// The old wallet cancelled a recovery.
#[ink::event]
#[derive(Debug)]
pub struct RecoveryCancelled {
    /// The recovery.
    #[ink(topic)]
    pub id: RecoveryId,
    /// The wallet that cancelled.
    #[ink(topic)]
    pub user: AccountId,
}

/// A recovery finalized (by guardians, or by governance's emergency decision): every document
/// now belongs to `new_wallet`, `old_wallet` is revoked for good. The key service re-wraps
/// document keys to the new wallet's key; the session service ends the old wallet's sessions.
#[ink::event]
#[derive(Debug)]
pub struct WalletRecovered {
    /// The guardian recovery, or `None` for an emergency recovery.
    #[ink(topic)]
    pub id: Option<RecoveryId>,
    /// The revoked wallet.
    #[ink(topic)]
    pub old_wallet: AccountId,
    /// The wallet that owns the documents now.
    #[ink(topic)]
    pub new_wallet: AccountId,
    /// The governance decision of an emergency recovery.
    pub decision: Option<DecisionId>,
}
