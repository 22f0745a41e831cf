//! ValidatorGovernance: parameters, proposals and their events.
//!
//! The hard limits of the whole system are the constants of this module and of the other
//! contracts' modules: no message changes them.

use ink::prelude::{string::String, vec::Vec};

use crate::{AccountId, Hash32, Timestamp, VaultId, DAY, MB};

/// Number of validators in the set.
pub const VALIDATOR_COUNT: usize = 20;
/// Votes a soft-parameter, role, address or release proposal needs (7-of-20).
pub const SOFT_THRESHOLD: u8 = 7;
/// Votes an emergency, validator-set or code-upgrade proposal needs (14-of-20).
pub const SUPERMAJORITY_THRESHOLD: u8 = 14;
/// How long a proposal accepts votes and execution once it could execute.
pub const VOTING_PERIOD: Timestamp = 14 * DAY;
/// An emergency recovery petition executes no sooner than this after filing.
pub const EMERGENCY_WAIT: Timestamp = 180 * DAY;
/// Anyone may contest an emergency recovery petition for this long after filing.
pub const CONTEST_WINDOW: Timestamp = 30 * DAY;
/// Inactivity (of all guardians, or of all vault admins) that opens the emergency paths.
pub const EMERGENCY_INACTIVITY: Timestamp = 180 * DAY;
/// At most this many release proposer accounts (the fleet HQ's).
pub const MAX_RELEASE_PROPOSERS: usize = 8;
/// Longest contest reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;
/// Longest image name or tag, in bytes.
pub const MAX_IMAGE_LEN: usize = 128;

/// Errors of ValidatorGovernance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Error {
    /// The validator set does not have exactly 20 accounts.
    WrongValidatorCount,
    /// The same account appears twice in the validator set.
    DuplicateValidator,
    /// Only a validator may do this.
    NotValidator,
    /// Only the deployer may wire the contracts, once.
    NotDeployer,
    /// The contracts are wired already; changes go through proposals.
    AlreadyWired,
    /// The caller may not file this kind of proposal.
    NotAllowedToPropose,
    /// The proposal's content is invalid (see the message's docs).
    InvalidProposal,
    /// More release proposers than [`MAX_RELEASE_PROPOSERS`].
    TooManyReleaseProposers,
    /// The release number is not greater than the last approved one for that image and
    /// track.
    ReleaseNotNewer,
    /// The digest is not approved on the previous track (devnet -> testnet -> mainnet).
    PromotionOrderViolated,
    /// No proposal with that id.
    ProposalNotFound,
    /// This validator already voted in this round.
    AlreadyVoted,
    /// The proposal no longer accepts votes (executed, expired or defeated).
    VotingClosed,
    /// The threshold is not met, or the earliest execution time has not come.
    NotReady,
    /// The proposal cannot be contested (not an emergency recovery petition).
    NotContestable,
    /// The 30-day contest window is over.
    ContestWindowClosed,
    /// The contest reason is longer than [`MAX_REASON_LEN`] bytes, or empty.
    InvalidReason,
    /// The contract to upgrade is not wired.
    ContractNotWired,
    /// The code upgrade failed (unknown code hash, or the target refused).
    UpgradeFailed,
}

impl Error {
    /// What the error means, in words, for people (the variant's documentation).
    pub const fn description(self) -> &'static str {
        match self {
            Self::WrongValidatorCount => "The validator set does not have exactly 20 accounts",
            Self::DuplicateValidator => "The same account appears twice in the validator set",
            Self::NotValidator => "Only a validator may do this",
            Self::NotDeployer => "Only the deployer may wire the contracts, once",
            Self::AlreadyWired => "The contracts are wired already; changes go through proposals",
            Self::NotAllowedToPropose => "The caller may not file this kind of proposal",
            Self::InvalidProposal => "The proposal's content is invalid (see the message's docs)",
            Self::TooManyReleaseProposers => "More release proposers than 8",
            Self::ReleaseNotNewer => "The release number is not greater than the last approved one for that image and track",
            Self::PromotionOrderViolated => "The digest is not approved on the previous track (devnet -> testnet -> mainnet)",
            Self::ProposalNotFound => "No proposal with that id",
            Self::AlreadyVoted => "This validator already voted in this round",
            Self::VotingClosed => "The proposal no longer accepts votes (executed, expired or defeated)",
            Self::NotReady => "The threshold is not met, or the earliest execution time has not come",
            Self::NotContestable => "The proposal cannot be contested (not an emergency recovery petition)",
            Self::ContestWindowClosed => "The 30-day contest window is over",
            Self::InvalidReason => "The contest reason is longer than 256 bytes, or empty",
            Self::ContractNotWired => "The contract to upgrade is not wired",
            Self::UpgradeFailed => "The code upgrade failed (unknown code hash, or the target refused)",
        }
    }
}

/// A proposal's number, from 0 up.
pub type ProposalId = u64;

/// Account tiers of the spec's section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Tier {
    /// Every account until the tier authority says otherwise.
    Free,
    /// Proof-of-humanity verified.
    BpohVerified,
    /// Paying accounts.
    Premium,
    /// Institutions.
    Institutional,
}

impl Tier {
    /// All tiers, in order.
    pub const ALL: [Tier; 4] = [
        Tier::Free,
        Tier::BpohVerified,
        Tier::Premium,
        Tier::Institutional,
    ];

    /// Position in [`Tier::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Limits of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct TierParams {
    /// Largest document, in bytes.
    pub max_document_bytes: u64,
    /// Most documents per owner; `None` is unlimited.
    pub max_documents: Option<u32>,
    /// Chunks an upload may send at once.
    pub parallel_chunks: u8,
}

impl TierParams {
    /// The spec's table: Free 10 MB / 5 / 1, BPoH Verified 50 MB / 25 / 2, Premium
    /// 100 MB / unlimited / 4, Institutional 500 MB / unlimited / 8.
    pub const fn spec_default(tier: Tier) -> Self {
        match tier {
            Tier::Free => Self {
                max_document_bytes: 10 * MB,
                max_documents: Some(5),
                parallel_chunks: 1,
            },
            Tier::BpohVerified => Self {
                max_document_bytes: 50 * MB,
                max_documents: Some(25),
                parallel_chunks: 2,
            },
            Tier::Premium => Self {
                max_document_bytes: 100 * MB,
                max_documents: None,
                parallel_chunks: 4,
            },
            Tier::Institutional => Self {
                max_document_bytes: 500 * MB,
                max_documents: None,
                parallel_chunks: 8,
            },
        }
    }
}

/// Which secondary copies a tier gets (S3 is always the primary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct ReplicationPolicy {
    /// An Arweave copy when the owner asks for one.
    pub arweave_on_request: bool,
    /// An IPFS copy of every document.
    pub ipfs_auto: bool,
}

impl ReplicationPolicy {
    /// The spec's table: Free and BPoH Verified S3 only; Premium and Institutional Arweave on
    /// request and IPFS automatically.
    pub const fn spec_default(tier: Tier) -> Self {
        match tier {
            Tier::Free | Tier::BpohVerified => Self {
                arweave_on_request: false,
                ipfs_auto: false,
            },
            Tier::Premium | Tier::Institutional => Self {
                arweave_on_request: true,
                ipfs_auto: true,
            },
        }
    }
}

/// Which storage providers are in service besides S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct ProviderSelection {
    /// Arweave archival is in service.
    pub arweave: bool,
    /// IPFS backup pinning is in service.
    pub ipfs: bool,
}

/// Service roles whose account governance appoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Role {
    /// Mints documents after the storage service verified the upload.
    StorageAttestor,
    /// Records retention notices and confirmed deletions.
    RetentionExecutor,
    /// Sets account tiers.
    TierAuthority,
}

/// The SDV contracts, as targets of address changes and code upgrades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum ContractRole {
    /// ValidatorGovernance itself.
    Governance,
    /// DocumentNFT.
    DocumentNft,
    /// TeamVault.
    TeamVault,
    /// GuardianRecovery.
    GuardianRecovery,
}

/// The fleet's release tracks, promoted in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Track {
    /// Development network.
    Devnet,
    /// Test network: a digest must be approved for devnet first.
    Testnet,
    /// Main network: a digest must be approved for testnet first.
    Mainnet,
}

impl Track {
    /// The track a digest must be approved on before this one.
    pub fn previous(self) -> Option<Track> {
        match self {
            Track::Devnet => None,
            Track::Testnet => Some(Track::Devnet),
            Track::Mainnet => Some(Track::Testnet),
        }
    }
}

/// A container image release for the validator fleet.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Release {
    /// Image name (`validator-update-agent`).
    pub image: String,
    /// Tag (`1.4.2`).
    pub tag: String,
    /// sha256 digest of the image manifest.
    pub digest: Hash32,
    /// Track it is approved for.
    pub track: Track,
    /// Release number; grows per image and track.
    pub number: u64,
}

/// What a proposal does when it executes.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum ProposalKind {
    /// 7-of-20: a tier's limits.
    SetTierParams {
        /// The tier.
        tier: Tier,
        /// Its new limits.
        params: TierParams,
    },
    /// 7-of-20: a tier's replication policy.
    SetReplicationPolicy {
        /// The tier.
        tier: Tier,
        /// Its new policy.
        policy: ReplicationPolicy,
    },
    /// 7-of-20: which providers are in service.
    SetProviders(ProviderSelection),
    /// 7-of-20: appoint (or clear) a service role's account.
    SetRole {
        /// The role.
        role: Role,
        /// Its new account.
        account: Option<AccountId>,
    },
    /// 7-of-20: allow or disallow a release proposer account.
    SetReleaseProposer {
        /// The account.
        account: AccountId,
        /// Whether it may propose releases.
        allowed: bool,
    },
    /// 7-of-20: the address of another SDV contract.
    SetContract {
        /// Which contract.
        contract: ContractRole,
        /// Its address.
        address: AccountId,
    },
    /// 7-of-20: approve a release for a track.
    ApproveRelease(Release),
    /// 14-of-20: move a user's documents to a new owner when the guardians are unreachable.
    EmergencyRecovery {
        /// The user whose vault is recovered.
        account: AccountId,
        /// The wallet that receives it.
        new_owner: AccountId,
        /// Hash of the legal identity evidence.
        identity_evidence: Hash32,
        /// Hash of the proof of prior ownership.
        ownership_proof: Hash32,
    },
    /// 14-of-20: grant access to a team vault whose admins are inactive.
    EmergencyVaultAccess {
        /// The vault.
        vault: VaultId,
        /// Who receives access.
        grantee: AccountId,
        /// Hash of the legal basis (court order, corporate resolution).
        legal_basis: Hash32,
    },
    /// 14-of-20: replace one validator.
    ReplaceValidator {
        /// The validator leaving.
        old: AccountId,
        /// The validator joining.
        new: AccountId,
    },
    /// 14-of-20: upgrade a contract's code, keeping its storage.
    UpgradeCode {
        /// Which contract.
        contract: ContractRole,
        /// The new code hash (uploaded beforehand).
        code_hash: Hash32,
    },
}

impl ProposalKind {
    /// Votes it needs.
    pub fn threshold(&self) -> u8 {
        match self {
            Self::EmergencyRecovery { .. }
            | Self::EmergencyVaultAccess { .. }
            | Self::ReplaceValidator { .. }
            | Self::UpgradeCode { .. } => SUPERMAJORITY_THRESHOLD,
            _ => SOFT_THRESHOLD,
        }
    }

    /// How long after filing it may execute at the earliest.
    pub fn delay(&self) -> Timestamp {
        match self {
            Self::EmergencyRecovery { .. } => EMERGENCY_WAIT,
            _ => 0,
        }
    }

    /// Whether anyone may contest it (emergency recovery petitions).
    pub fn contestable(&self) -> bool {
        matches!(self, Self::EmergencyRecovery { .. })
    }
}

/// A proposal as stored. Its state is derived by [`Proposal::state`].
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Proposal {
    /// What it does.
    pub kind: ProposalKind,
    /// Who filed it.
    pub proposer: AccountId,
    /// When it was filed.
    pub created_at: Timestamp,
    /// Yes votes of the current round.
    pub yes: u8,
    /// No votes of the current round.
    pub no: u8,
    /// Voting round: a contest starts a new one, and earlier votes no longer count.
    pub round: u8,
    /// When it was last contested.
    pub contested_at: Option<Timestamp>,
    /// When it executed.
    pub executed_at: Option<Timestamp>,
}

/// A proposal's state, derived from its timestamps and votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum ProposalState {
    /// Accepting votes; the threshold is not met.
    Active,
    /// Threshold met; waiting for its earliest execution time.
    Queued,
    /// Threshold met and executable now.
    Ready,
    /// So many validators voted no that the threshold cannot be met this round.
    Defeated,
    /// The voting period ended before it executed.
    Expired,
    /// Executed; final.
    Executed,
}

impl Proposal {
    /// Earliest execution time.
    pub fn eta(&self) -> Timestamp {
        self.created_at.saturating_add(self.kind.delay())
    }

    /// After this time it neither accepts votes nor executes.
    pub fn deadline(&self) -> Timestamp {
        self.eta().saturating_add(VOTING_PERIOD)
    }

    /// The end of the contest window, for contestable proposals.
    pub fn contest_ends(&self) -> Option<Timestamp> {
        self.kind
            .contestable()
            .then(|| self.created_at.saturating_add(CONTEST_WINDOW))
    }

    /// The state at time `now`.
    pub fn state(&self, now: Timestamp) -> ProposalState {
        let threshold = self.kind.threshold();
        if self.executed_at.is_some() {
            ProposalState::Executed
        } else if now > self.deadline() {
            ProposalState::Expired
        } else if self.yes >= threshold {
            if now >= self.eta() {
                ProposalState::Ready
            } else {
                ProposalState::Queued
            }
        } else if usize::from(self.no) > VALIDATOR_COUNT.saturating_sub(usize::from(threshold)) {
            ProposalState::Defeated
        } else {
            ProposalState::Active
        }
    }
}

/// The validator set was fixed at instantiation.
#[ink::event]
#[derive(Debug)]
pub struct ValidatorSetInitialized {
    /// The 20 validator accounts, in the order given to the constructor.
    pub validators: Vec<AccountId>,
}

/// The deployer wired the other contracts' addresses; wiring is sealed from now on.
#[ink::event]
#[derive(Debug)]
pub struct ContractsWired {
    /// DocumentNFT.
    pub document_nft: Option<AccountId>,
    /// TeamVault.
    pub team_vault: Option<AccountId>,
    /// GuardianRecovery.
    pub guardian_recovery: Option<AccountId>,
}

/// A proposal was filed.
#[ink::event]
#[derive(Debug)]
pub struct ProposalCreated {
    /// Its id.
    #[ink(topic)]
    pub id: ProposalId,
    /// Who filed it.
    #[ink(topic)]
    pub proposer: AccountId,
    /// What it does.
    pub kind: ProposalKind,
    /// Votes it needs.
    pub threshold: u8,
    /// Earliest execution time.
    pub eta: Timestamp,
    /// End of voting and execution.
    pub deadline: Timestamp,
}

/// A validator voted.
#[ink::event]
#[derive(Debug)]
pub struct VoteCast {
    /// The proposal.
    #[ink(topic)]
    pub id: ProposalId,
    /// The validator.
    #[ink(topic)]
    pub validator: AccountId,
    /// Yes or no.
    pub approve: bool,
    /// Yes votes of the round after this one.
    pub yes: u8,
    /// No votes of the round after this one.
    pub no: u8,
    /// The voting round.
    pub round: u8,
}

/// Someone contested an emergency recovery petition: its votes start over.
#[ink::event]
#[derive(Debug)]
pub struct PetitionContested {
    /// The petition.
    #[ink(topic)]
    pub id: ProposalId,
    /// Who contested it.
    #[ink(topic)]
    pub contester: AccountId,
    /// Why.
    pub reason: String,
    /// The new voting round.
    pub round: u8,
}

/// A proposal executed.
#[ink::event]
#[derive(Debug)]
pub struct ProposalExecuted {
    /// The proposal.
    #[ink(topic)]
    pub id: ProposalId,
    /// Who called `execute`.
    #[ink(topic)]
    pub executor: AccountId,
}

/// A tier's limits changed.
#[ink::event]
#[derive(Debug)]
pub struct TierParamsChanged {
    /// The tier.
    pub tier: Tier,
    /// Before.
    pub old: TierParams,
    /// After.
    pub new: TierParams,
}

/// A tier's replication policy changed.
#[ink::event]
#[derive(Debug)]
pub struct ReplicationPolicyChanged {
    /// The tier.
    pub tier: Tier,
    /// Before.
    pub old: ReplicationPolicy,
    /// After.
    pub new: ReplicationPolicy,
}

/// The provider selection changed.
#[ink::event]
#[derive(Debug)]
pub struct ProvidersChanged {
    /// Before.
    pub old: ProviderSelection,
    /// After.
    pub new: ProviderSelection,
}

/// A role's account changed.
#[ink::event]
#[derive(Debug)]
pub struct RoleChanged {
    /// The role.
    pub role: Role,
    /// Before.
    pub old: Option<AccountId>,
    /// After.
    pub new: Option<AccountId>,
}

/// A release proposer was allowed or disallowed.
#[ink::event]
#[derive(Debug)]
pub struct ReleaseProposerChanged {
    /// The account.
    #[ink(topic)]
    pub account: AccountId,
    /// Whether it may now propose releases.
    pub allowed: bool,
}

/// Another contract's address changed.
#[ink::event]
#[derive(Debug)]
pub struct ContractAddressChanged {
    /// Which contract.
    pub contract: ContractRole,
    /// Before.
    pub old: Option<AccountId>,
    /// After.
    pub new: AccountId,
}

/// A release was approved for a track.
#[ink::event]
#[derive(Debug)]
pub struct ReleaseApproved {
    /// The proposal.
    #[ink(topic)]
    pub id: ProposalId,
    /// The release.
    pub release: Release,
}

/// An emergency recovery was decided; GuardianRecovery carries it out.
#[ink::event]
#[derive(Debug)]
pub struct EmergencyRecoveryApproved {
    /// The petition.
    #[ink(topic)]
    pub id: ProposalId,
    /// The user recovered.
    #[ink(topic)]
    pub account: AccountId,
    /// The new owner.
    pub new_owner: AccountId,
}

/// Emergency access to a team vault was decided; TeamVault carries it out.
#[ink::event]
#[derive(Debug)]
pub struct EmergencyVaultAccessApproved {
    /// The proposal.
    #[ink(topic)]
    pub id: ProposalId,
    /// The vault.
    pub vault: VaultId,
    /// Who receives access.
    #[ink(topic)]
    pub grantee: AccountId,
}

/// A validator was replaced.
#[ink::event]
#[derive(Debug)]
pub struct ValidatorReplaced {
    /// The validator that left.
    #[ink(topic)]
    pub old: AccountId,
    /// The validator that joined.
    #[ink(topic)]
    pub new: AccountId,
}

/// A contract's code was upgraded (or the upgrade of another contract was requested from it).
#[ink::event]
#[derive(Debug)]
pub struct CodeUpgraded {
    /// Which contract.
    pub contract: ContractRole,
    /// Its new code hash.
    pub code_hash: Hash32,
}

/// The service accounts appointed at instantiation; later changes only through proposals.
#[derive(Debug, Clone, Default, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub struct RoleAccounts {
    /// Mints documents after verified uploads.
    pub storage_attestor: Option<AccountId>,
    /// Records retention notices and deletions.
    pub retention_executor: Option<AccountId>,
    /// Sets account tiers.
    pub tier_authority: Option<AccountId>,
    /// May propose releases (the fleet HQ's accounts); at most [`MAX_RELEASE_PROPOSERS`].
    pub release_proposers: Vec<AccountId>,
}

/// The label of the message through which governance upgrades another SDV contract:
/// `set_code(code_hash: [u8; 32]) -> Result<(), Error>`, callable only by governance, where
/// `Error` has no variant with data.
pub const SET_CODE_MESSAGE: &str = "set_code";
