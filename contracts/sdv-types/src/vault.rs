//! TeamVault: vault operations, their thresholds and timelock, and the events the gateway and
//! the keeper follow (the spec's section 5).

use crate::{
    document::{DocumentClass, RetentionOption, TokenId},
    governance::ProposalId as GovernanceProposalId,
    AccountId, Hash32, Timestamp, VaultId, DAY, HOUR,
};
use ink::prelude::{string::String, vec::Vec};

/// Most admins a vault has. Raising it takes a code upgrade through governance.
pub const MAX_ADMINS: usize = 10;
/// Fewest admins a vault has: fewer could never meet the activity quorum.
pub const MIN_ADMINS: usize = 3;
/// Admins active within [`ACTIVITY_WINDOW`] a vault needs to accept proposals.
pub const ACTIVE_QUORUM: usize = 3;
/// How recent an admin's last signed vault action must be to count as active.
pub const ACTIVITY_WINDOW: Timestamp = 90 * DAY;
/// The timelock between meeting the threshold and execution, during which any admin can veto.
pub const TIMELOCK: Timestamp = 72 * HOUR;
/// Inactivity of every admin after which governance may grant emergency access.
pub const EMERGENCY_INACTIVITY: Timestamp = 180 * DAY;
/// Longest veto reason, in bytes.
pub const MAX_VETO_REASON_LEN: usize = 256;

/// A vault operation's number (one sequence across all vaults).
pub type OperationId = u64;

/// What a vault decides.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Operation {
    /// Mint the ciphertext staged at the storage gateway as a vault document.
    Upload {
        /// sha256 of the staged ciphertext.
        sha256: Hash32,
        /// Its class.
        class: DocumentClass,
        /// The retention chosen.
        retention: RetentionOption,
        /// An Arweave copy is requested.
        arweave: bool,
    },
    /// Grant `grantee` read access to a vault document.
    Share {
        /// The document.
        token: TokenId,
        /// Who may read it.
        grantee: AccountId,
        /// The document key wrapped to the grantee's published X25519 key.
        wrapped_key: Vec<u8>,
    },
    /// Ask for a vault document's deletion.
    Delete {
        /// The document.
        token: TokenId,
    },
    /// Add an admin.
    AddAdmin(AccountId),
    /// Remove an admin.
    RemoveAdmin(AccountId),
    /// Hand the vault to a new admin set.
    TransferOwnership(Vec<AccountId>),
}

/// How many approvals an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Threshold {
    /// More than half of the admins (upload, share, delete).
    Majority,
    /// At least three quarters (add or remove an admin).
    ThreeQuarters,
    /// Every admin (ownership transfer).
    Unanimous,
}

impl Operation {
    /// The operation's threshold.
    pub fn threshold(&self) -> Threshold {
        match self {
            Self::Upload { .. } | Self::Share { .. } | Self::Delete { .. } => Threshold::Majority,
            Self::AddAdmin(_) | Self::RemoveAdmin(_) => Threshold::ThreeQuarters,
            Self::TransferOwnership(_) => Threshold::Unanimous,
        }
    }

    /// Whether a single admin can veto it in its timelock: every operation but the unanimous
    /// ownership transfer, which every admin approved.
    pub fn vetoable(&self) -> bool {
        self.threshold() != Threshold::Unanimous
    }
}

impl Threshold {
    /// Approvals needed among `admins` admins: the smallest count that is more than half, at
    /// least three quarters, or all of them.
    pub fn required(self, admins: usize) -> usize {
        match self {
            Self::Majority => (admins / 2).saturating_add(1),
            Self::ThreeQuarters => admins.saturating_mul(3).div_ceil(4),
            Self::Unanimous => admins,
        }
    }
}

/// A veto: who, why, when.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Veto {
    /// The admin who vetoed.
    pub by: AccountId,
    /// The reason, stored on-chain.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// One proposed operation of a vault.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct VaultOperation {
    /// The vault.
    pub vault: VaultId,
    /// What it does.
    pub operation: Operation,
    /// The admin who proposed it (its first approval).
    pub proposer: AccountId,
    /// The admins when it was proposed; thresholds count against these.
    pub admins: Vec<AccountId>,
    /// Approvals needed.
    pub required: u8,
    /// Approvals so far.
    pub approvals: u8,
    /// Rejections so far.
    pub rejections: u8,
    /// When it was proposed.
    pub proposed_at: Timestamp,
    /// When the threshold was met: the timelock runs from here.
    pub queued_at: Option<Timestamp>,
    /// Its veto, if any.
    pub veto: Option<Veto>,
    /// When it executed.
    pub executed_at: Option<Timestamp>,
}

/// An operation's state, derived from its timestamps and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum OperationState {
    /// Collecting votes.
    Voting,
    /// So many admins rejected it that the threshold can no longer be met (final).
    Defeated,
    /// Threshold met, timelock running; any admin may veto.
    Pending,
    /// Timelock over: anyone may execute it; any admin may still veto until then.
    Ready,
    /// Executed (final).
    Executed,
    /// Vetoed (final).
    Vetoed,
}

impl VaultOperation {
    /// Its state at `now`.
    pub fn state(&self, now: Timestamp) -> OperationState {
        if self.executed_at.is_some() {
            return OperationState::Executed;
        }
        if self.veto.is_some() {
            return OperationState::Vetoed;
        }
        match self.queued_at {
            Some(at) if now >= at.saturating_add(TIMELOCK) => OperationState::Ready,
            Some(_) => OperationState::Pending,
            None => {
                let possible = self
                    .admins
                    .len()
                    .saturating_sub(usize::from(self.rejections));
                if possible < usize::from(self.required) {
                    OperationState::Defeated
                } else {
                    OperationState::Voting
                }
            }
        }
    }

    /// When it becomes executable, once queued.
    pub fn eta(&self) -> Option<Timestamp> {
        Some(self.queued_at?.saturating_add(TIMELOCK))
    }
}

/// TeamVault's errors. No variant carries data, so governance can decode the result of
/// `set_code` without knowing this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Error {
    /// No such vault.
    VaultNotFound,
    /// No such operation.
    OperationNotFound,
    /// The caller is not an admin of the vault (or, for a vote, was not one at proposal time).
    NotAdmin,
    /// Fewer than 3 or more than 10 admins.
    AdminCountOutOfRange,
    /// An account appears twice in an admin set.
    DuplicateAdmin,
    /// The account is an admin already.
    AlreadyAdmin,
    /// The wallet was revoked by recovery.
    WalletRevoked,
    /// Fewer than 3 admins were active in the last 90 days: the vault is read-only.
    ReadOnly,
    /// The operation is malformed (empty wrapped key, empty admin set, ...).
    InvalidOperation,
    /// The admin voted on this operation already.
    AlreadyVoted,
    /// Voting is over for this operation.
    VotingClosed,
    /// The operation is not ready to execute.
    NotReady,
    /// The operation cannot be vetoed now (not in its timelock, or final).
    NotVetoable,
    /// A unanimous ownership transfer cannot be vetoed.
    VetoNotAllowed,
    /// The veto reason is empty or longer than [`MAX_VETO_REASON_LEN`].
    InvalidReason,
    /// DocumentNFT refused the document operation.
    DocumentRefused,
    /// A call to another contract failed.
    ContractUnavailable,
    /// Governance has not wired the contract this needs.
    NotConfigured,
    /// The governance decision is not an executed emergency access for this vault.
    NoEmergencyDecision,
    /// An admin was active within the last 180 days.
    AdminsActive,
    /// The emergency decision was used already.
    AlreadyGranted,
    /// The caller is not ValidatorGovernance.
    NotGovernance,
    /// The code hash is unknown.
    UpgradeFailed,
}

impl Error {
    /// The variant's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::VaultNotFound => "VaultNotFound",
            Self::OperationNotFound => "OperationNotFound",
            Self::NotAdmin => "NotAdmin",
            Self::AdminCountOutOfRange => "AdminCountOutOfRange",
            Self::DuplicateAdmin => "DuplicateAdmin",
            Self::AlreadyAdmin => "AlreadyAdmin",
            Self::WalletRevoked => "WalletRevoked",
            Self::ReadOnly => "ReadOnly",
            Self::InvalidOperation => "InvalidOperation",
            Self::AlreadyVoted => "AlreadyVoted",
            Self::VotingClosed => "VotingClosed",
            Self::NotReady => "NotReady",
            Self::NotVetoable => "NotVetoable",
            Self::VetoNotAllowed => "VetoNotAllowed",
            Self::InvalidReason => "InvalidReason",
            Self::DocumentRefused => "DocumentRefused",
            Self::ContractUnavailable => "ContractUnavailable",
            Self::NotConfigured => "NotConfigured",
            Self::NoEmergencyDecision => "NoEmergencyDecision",
            Self::AdminsActive => "AdminsActive",
            Self::AlreadyGranted => "AlreadyGranted",
            Self::NotGovernance => "NotGovernance",
            Self::UpgradeFailed => "UpgradeFailed",
        }
    }

    /// What the error means, in words, for people (the variant's documentation).
    pub const fn description(self) -> &'static str {
        match self {
            Self::VaultNotFound => "No such vault",
            Self::OperationNotFound => "No such operation",
            Self::NotAdmin => "The caller is not an admin of the vault (or, for a vote, was not one at proposal time)",
            Self::AdminCountOutOfRange => "Fewer than 3 or more than 10 admins",
            Self::DuplicateAdmin => "An account appears twice in an admin set",
            Self::AlreadyAdmin => "The account is an admin already",
            Self::WalletRevoked => "The wallet was revoked by recovery",
            Self::ReadOnly => "Fewer than 3 admins were active in the last 90 days: the vault is read-only",
            Self::InvalidOperation => "The operation is malformed (empty wrapped key, empty admin set, ...)",
            Self::AlreadyVoted => "The admin voted on this operation already",
            Self::VotingClosed => "Voting is over for this operation",
            Self::NotReady => "The operation is not ready to execute",
            Self::NotVetoable => "The operation cannot be vetoed now (not in its timelock, or final)",
            Self::VetoNotAllowed => "A unanimous ownership transfer cannot be vetoed",
            Self::InvalidReason => "The veto reason is empty or longer than 256 bytes",
            Self::DocumentRefused => "DocumentNFT refused the document operation",
            Self::ContractUnavailable => "A call to another contract failed",
            Self::NotConfigured => "Governance has not wired the contract this needs",
            Self::NoEmergencyDecision => "The governance decision is not an executed emergency access for this vault",
            Self::AdminsActive => "An admin was active within the last 180 days",
            Self::AlreadyGranted => "The emergency decision was used already",
            Self::NotGovernance => "The caller is not ValidatorGovernance",
            Self::UpgradeFailed => "The code hash is unknown",
        }
    }
}

/// A vault was created.
#[ink::event]
#[derive(Debug)]
pub struct VaultCreated {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Who created it.
    #[ink(topic)]
    pub creator: AccountId,
    /// Its admins.
    pub admins: Vec<AccountId>,
}

/// An admin proposed an operation (and approved it).
#[ink::event]
#[derive(Debug)]
pub struct OperationProposed {
    /// The operation.
    #[ink(topic)]
    pub id: OperationId,
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// The proposer.
    #[ink(topic)]
    pub proposer: AccountId,
    /// What it does.
    pub operation: Operation,
    /// Approvals needed.
    pub required: u8,
}

/// An admin voted.
#[ink::event]
#[derive(Debug)]
pub struct OperationVoted {
    /// The operation.
    #[ink(topic)]
    pub id: OperationId,
    /// The admin.
    #[ink(topic)]
    pub admin: AccountId,
    /// Approve or reject.
    pub approve: bool,
    /// Approvals so far.
    pub approvals: u8,
    /// Rejections so far.
    pub rejections: u8,
}

/// The threshold was met: the 72-hour timelock runs until `eta`. The keeper executes it then.
#[ink::event]
#[derive(Debug)]
pub struct OperationQueued {
    /// The operation.
    #[ink(topic)]
    pub id: OperationId,
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// When it becomes executable.
    pub eta: Timestamp,
}

/// An admin vetoed an operation in its timelock; it is cancelled for good.
#[ink::event]
#[derive(Debug)]
pub struct OperationVetoed {
    /// The operation.
    #[ink(topic)]
    pub id: OperationId,
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// The admin.
    #[ink(topic)]
    pub admin: AccountId,
    /// Why.
    pub reason: String,
}

/// An operation executed.
#[ink::event]
#[derive(Debug)]
pub struct OperationExecuted {
    /// The operation.
    #[ink(topic)]
    pub id: OperationId,
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Who called `execute` (anyone, usually the keeper).
    pub executor: AccountId,
    /// The document minted by an upload.
    pub token: Option<TokenId>,
}

/// A vault's admin set changed (add, remove, ownership transfer).
#[ink::event]
#[derive(Debug)]
pub struct AdminsChanged {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Before.
    pub old: Vec<AccountId>,
    /// After.
    pub new: Vec<AccountId>,
}

/// An admin checked in (activity without an operation).
#[ink::event]
#[derive(Debug)]
pub struct AdminCheckedIn {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// The admin.
    #[ink(topic)]
    pub admin: AccountId,
}

/// Emergency access to a vault whose admins were inactive 180 days, by governance's decision.
#[ink::event]
#[derive(Debug)]
pub struct EmergencyAccessGranted {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Who may read its documents.
    #[ink(topic)]
    pub grantee: AccountId,
    /// The 14-of-20 governance decision.
    pub decision: GovernanceProposalId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_of_a_five_admin_vault() {
        assert_eq!(Threshold::Majority.required(5), 3);
        assert_eq!(Threshold::ThreeQuarters.required(5), 4);
        assert_eq!(Threshold::Unanimous.required(5), 5);
        assert_eq!(Threshold::Majority.required(4), 3);
        assert_eq!(Threshold::ThreeQuarters.required(4), 3);
    }

    proptest::proptest! {
        /// The required count is the smallest that is >50%, >=75% or 100% of the admins.
        #[test]
        fn thresholds_are_exact(admins in MIN_ADMINS..=MAX_ADMINS) {
            for votes in 0..=admins {
                proptest::prop_assert_eq!(
                    votes >= Threshold::Majority.required(admins),
                    votes * 2 > admins
                );
                proptest::prop_assert_eq!(
                    votes >= Threshold::ThreeQuarters.required(admins),
                    votes * 4 >= admins * 3
                );
                proptest::prop_assert_eq!(
                    votes >= Threshold::Unanimous.required(admins),
                    votes == admins
                );
            }
        }
    }
}
