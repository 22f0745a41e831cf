//! DocumentNFT: document classes, retention options and the regulatory floors of the spec's
//! section 6, as pure functions the contract and the off-chain services share.

use crate::{governance::Tier, AccountId, Hash32, Timestamp, VaultId, DAY};
use ink::prelude::vec::Vec;

/// One retention year: 365 days. Leap days make a retention a day or two shorter in calendar
/// terms, never longer than the user chose; the regulatory floors are counted the same way.
pub const YEAR: Timestamp = 365 * DAY;
/// The pre-deletion notice period: deletion is due no sooner than this after the notice.
pub const NOTICE_PERIOD: Timestamp = 30 * DAY;
/// KYC documents are kept this long after the customer relationship ends.
pub const KYC_AFTER_RELATIONSHIP: Timestamp = 5 * YEAR;

/// Document classes, assigned by the client's classification at upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum DocumentClass {
    /// US tax documents (W-9, 1099, returns and schedules): at least 7 years.
    UsTax,
    /// Financial records (statements, audit reports): at least 5 years.
    Financial,
    /// KYC documents: the customer relationship plus 5 years.
    Kyc,
    /// Anything else: no floor.
    Other,
}

/// The seven retention options of the spec, shortest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum RetentionOption {
    /// 1 year, then deleted.
    Minimum,
    /// 3 years, then deleted.
    Standard,
    /// 5 years, then deleted.
    Extended,
    /// 7 years (US tax), then deleted.
    RegulatoryUsTax,
    /// 10 years, then deleted.
    LongTerm,
    /// No expiry; deleted only by hand.
    Indefinite,
    /// Forever, with an Arweave copy that can never be deleted.
    Permanent,
}

impl RetentionOption {
    /// All options, shortest first.
    pub const ALL: [RetentionOption; 7] = [
        Self::Minimum,
        Self::Standard,
        Self::Extended,
        Self::RegulatoryUsTax,
        Self::LongTerm,
        Self::Indefinite,
        Self::Permanent,
    ];

    /// How long the document is kept after upload; `None` for no expiry.
    pub const fn duration(self) -> Option<Timestamp> {
        match self {
            Self::Minimum => Some(YEAR),
            Self::Standard => Some(3 * YEAR),
            Self::Extended => Some(5 * YEAR),
            Self::RegulatoryUsTax => Some(7 * YEAR),
            Self::LongTerm => Some(10 * YEAR),
            Self::Indefinite | Self::Permanent => None,
        }
    }
}

impl DocumentClass {
    /// The shortest option the class allows, by upload date (KYC's floor counts from the end
    /// of the relationship instead, see [`expiry`]).
    pub const fn floor(self) -> RetentionOption {
        match self {
            Self::UsTax => RetentionOption::RegulatoryUsTax,
            Self::Financial | Self::Kyc => RetentionOption::Extended,
            Self::Other => RetentionOption::Minimum,
        }
    }
}

/// The option a document gets: the user's choice, or the class's floor when the choice is
/// shorter. The second value says whether it was upgraded.
pub fn effective_retention(
    class: DocumentClass,
    chosen: RetentionOption,
) -> (RetentionOption, bool) {
    let floor = class.floor();
    if chosen < floor {
        (floor, true)
    } else {
        (chosen, false)
    }
}

/// When a document expires; `None` when it never does (Indefinite, Permanent, or a KYC
/// document whose relationship has not ended).
///
/// KYC: the later of the option's expiry and the relationship's end plus 5 years.
pub fn expiry(
    class: DocumentClass,
    option: RetentionOption,
    uploaded_at: Timestamp,
    relationship_end: Option<Timestamp>,
) -> Option<Timestamp> {
    let by_option = uploaded_at.saturating_add(option.duration()?);
    match class {
        DocumentClass::Kyc => {
            let by_relationship = relationship_end?.saturating_add(KYC_AFTER_RELATIONSHIP);
            Some(by_option.max(by_relationship))
        }
        _ => Some(by_option),
    }
}

/// Whether `new` extends `current`: strictly longer; retention never shortens.
pub fn is_extension(current: RetentionOption, new: RetentionOption) -> bool {
    new > current
}

/// When deletion of a noticed document becomes due: after both its expiry and the 30-day
/// notice period. `None` if it never expires.
pub fn deletion_due(expiry: Option<Timestamp>, noticed_at: Timestamp) -> Option<Timestamp> {
    Some(expiry?.max(noticed_at.saturating_add(NOTICE_PERIOD)))
}

/// The end of the regulatory minimum by the document's class: before it, not even the owner
/// may delete the document. `0` for documents without a regulatory floor; never
/// (`Timestamp::MAX`) for a KYC document whose relationship has not ended.
pub fn regulatory_minimum_end(
    class: DocumentClass,
    uploaded_at: Timestamp,
    relationship_end: Option<Timestamp>,
) -> Timestamp {
    match class {
        DocumentClass::UsTax | DocumentClass::Financial => class
            .floor()
            .duration()
            .map_or(Timestamp::MAX, |d| uploaded_at.saturating_add(d)),
        DocumentClass::Kyc => relationship_end.map_or(Timestamp::MAX, |end| {
            end.saturating_add(KYC_AFTER_RELATIONSHIP)
        }),
        DocumentClass::Other => 0,
    }
}

/// The longest IPFS CID DocumentNFT records, in bytes (a CIDv1 with a sha2-256 multihash is
/// 36).
pub const MAX_CID_LEN: usize = 64;

/// The longest wrapped document key a share carries, in bytes (an X25519 ephemeral key, a
/// nonce, the wrapped 32-byte key and its tag fit in 100).
pub const MAX_WRAPPED_KEY_LEN: usize = 128;

/// A document token's number.
pub type TokenId = u64;

/// Who holds a document, as messages name it: a wallet or a team vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Holder {
    /// A user's current wallet.
    Account(AccountId),
    /// A TeamVault vault.
    Vault(VaultId),
}

/// Who owns a document, as DocumentNFT stores it: a stable identity (named by the first wallet
/// it had, whichever wallet it has now) or a team vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub enum Owner {
    /// A user identity.
    Identity(AccountId),
    /// A TeamVault vault.
    Vault(VaultId),
}

/// The Arweave copy of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct ArweaveCopy {
    /// The transaction id (the 32 bytes behind its 43-character base64url form).
    pub tx_id: Hash32,
    /// The ANS-104 data item id when the transaction is a bundle (documents under 256 KB are
    /// archived as data items); `None` when the document is the transaction's own data.
    pub item_id: Option<Hash32>,
    /// Confirmed deep enough to be permanent; from then on the document can never be deleted.
    pub permanent: bool,
}

/// Where a document's ciphertext is stored. S3 (`docs/{sha256}`) is the primary copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Replicas {
    /// The S3 object `docs/{sha256}` exists.
    pub s3: bool,
    /// The owner asked for an Arweave copy.
    pub arweave_requested: bool,
    /// The Arweave copy, once posted.
    pub arweave: Option<ArweaveCopy>,
    /// The IPFS CID (binary form), once pinned.
    pub ipfs: Option<Vec<u8>>,
}

/// A secondary copy the storage attestor records.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Replica {
    /// An Arweave transaction carrying the ciphertext was posted (not yet permanent).
    Arweave {
        /// The Arweave transaction that carries the ciphertext (the 32 bytes behind its
        /// 43-character base64url form).
        tx_id: Hash32,
        /// The ANS-104 data item's id when the transaction is a bundle; `None` when the
        /// document is the transaction's own data.
        item_id: Option<Hash32>,
    },
    /// The Arweave transaction is confirmed: the copy is permanent.
    ArweavePermanent,
    /// The ciphertext is pinned on IPFS under this CID (binary form).
    Ipfs(Vec<u8>),
}

/// One document token.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct Document {
    /// Its owner.
    pub owner: Owner,
    /// sha256 of the ciphertext; the S3 key is `docs/{hex}`.
    pub sha256: Hash32,
    /// Ciphertext size in bytes.
    pub size: u64,
    /// The owner's tier when it was minted.
    pub tier: Tier,
    /// The client's classification.
    pub class: DocumentClass,
    /// The option the owner chose.
    pub chosen: RetentionOption,
    /// The option in force (the floor's when the choice was shorter, or a later extension).
    pub retention: RetentionOption,
    /// Minting time.
    pub uploaded_at: Timestamp,
    /// KYC: when the customer relationship ended.
    pub relationship_end: Option<Timestamp>,
    /// When deletion was scheduled (by notice or by the owner), and when it is due.
    pub deletion: Option<ScheduledDeletion>,
    /// When the retention executor confirmed the storage deletion.
    pub deleted_at: Option<Timestamp>,
    /// Where its ciphertext is.
    pub replicas: Replicas,
}

impl Document {
    /// When it expires, `None` if never (see [`expiry`]).
    pub fn expiry(&self) -> Option<Timestamp> {
        expiry(
            self.class,
            self.retention,
            self.uploaded_at,
            self.relationship_end,
        )
    }

    /// Its status, derived from its timestamps.
    pub fn status(&self) -> DocumentStatus {
        match (self.deleted_at, self.deletion) {
            (Some(at), _) => DocumentStatus::Deleted { at },
            (None, Some(d)) => DocumentStatus::DeletionScheduled { due: d.due },
            (None, None) => DocumentStatus::Active,
        }
    }
}

/// A scheduled deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct ScheduledDeletion {
    /// When it was scheduled.
    pub at: Timestamp,
    /// When the retention executor may delete the storage and confirm.
    pub due: Timestamp,
    /// The owner asked for it (otherwise: the executor's notice at expiry).
    pub by_owner: bool,
}

/// A document's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum DocumentStatus {
    /// Stored.
    Active,
    /// Deletion is scheduled and due at `due`.
    DeletionScheduled {
        /// When the executor may delete it.
        due: Timestamp,
    },
    /// Deleted from storage at `at`; the token stays as history.
    Deleted {
        /// When the executor confirmed the deletion.
        at: Timestamp,
    },
}

/// A verified upload waiting for its vault's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct StagedUpload {
    /// The vault it is for.
    pub vault: VaultId,
    /// Ciphertext bytes, as the storage service verified them.
    pub size: u64,
    /// When the attestor staged it.
    pub staged_at: Timestamp,
}

/// Read access to a document: its key wrapped to the reader's published X25519 key.
#[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct ReadGrant {
    /// The wrapped document key.
    pub wrapped_key: Vec<u8>,
    /// The version of the reader's key it is wrapped to.
    pub key_version: u32,
    /// When it was granted.
    pub granted_at: Timestamp,
}

/// An account's published X25519 public key, to which document keys are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(
    feature = "std",
    derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
)]
pub struct EncryptionKey {
    /// The X25519 public key.
    pub key: [u8; 32],
    /// 1 for the first key, incremented at every rotation.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
}

/// DocumentNFT's errors. No variant carries data, so governance can decode the result of
/// `set_code` without knowing this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
#[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
pub enum Error {
    /// The caller is not the storage attestor appointed by governance.
    NotAttestor,
    /// The caller is not the retention executor appointed by governance.
    NotRetentionExecutor,
    /// The caller is not the tier authority appointed by governance.
    NotTierAuthority,
    /// The caller is not ValidatorGovernance.
    NotGovernance,
    /// The caller is not GuardianRecovery.
    NotRecoveryAuthority,
    /// The caller is not the document's owner (or, for a vault, TeamVault).
    NotOwner,
    /// The caller may not move this token.
    NotApproved,
    /// No such token.
    TokenNotFound,
    /// A document with this ciphertext hash exists already.
    DuplicateDocument,
    /// A document must have at least one byte.
    EmptyDocument,
    /// Larger than the owner's tier allows.
    DocumentTooLarge,
    /// The owner holds as many documents as the tier allows.
    DocumentLimitReached,
    /// The owner's tier has no such copy, or the provider is out of service.
    ReplicationNotAllowed,
    /// The copy is recorded already, or was never requested.
    ReplicaConflict,
    /// The CID is empty or longer than [`MAX_CID_LEN`].
    InvalidCid,
    /// The new retention is not longer than the current one.
    NotAnExtension,
    /// Only KYC documents have a relationship end.
    NotKyc,
    /// A relationship end can only move later.
    RelationshipEndEarlier,
    /// The document never expires.
    NoExpiry,
    /// More than 30 days before expiry: too early for the notice.
    NoticeTooEarly,
    /// Deletion is scheduled already.
    AlreadyScheduled,
    /// No deletion is scheduled.
    NotScheduled,
    /// The scheduled deletion is not due yet.
    DeletionNotDue,
    /// A regulatory minimum still runs.
    RegulatoryMinimum,
    /// The document has an Arweave copy (permanent, or posted and awaiting confirmation).
    ArweaveCopy,
    /// The document's retention is Permanent.
    PermanentRetention,
    /// The document is deleted.
    Deleted,
    /// The wallet was replaced by recovery and can never be used again.
    WalletRevoked,
    /// The new wallet already holds documents or belongs to another identity.
    WalletInUse,
    /// The tier is already that.
    TierUnchanged,
    /// The all-zero key is not a key.
    InvalidKey,
    /// A call to ValidatorGovernance failed.
    GovernanceUnavailable,
    /// The governance role or contract address is not set.
    NotConfigured,
    /// The code hash is unknown.
    UpgradeFailed,
    /// The caller is not TeamVault.
    NotTeamVault,
    /// No verified upload of this ciphertext is staged for the vault.
    NotStaged,
    /// The grantee has published no encryption key.
    NoEncryptionKey,
    /// The wrapped key is empty or longer than [`MAX_WRAPPED_KEY_LEN`].
    InvalidWrappedKey,
}

impl Error {
    /// The variant's name, as PSP34 messages report it in `PSP34Error::Custom`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotAttestor => "NotAttestor",
            Self::NotRetentionExecutor => "NotRetentionExecutor",
            Self::NotTierAuthority => "NotTierAuthority",
            Self::NotGovernance => "NotGovernance",
            Self::NotRecoveryAuthority => "NotRecoveryAuthority",
            Self::NotOwner => "NotOwner",
            Self::NotApproved => "NotApproved",
            Self::TokenNotFound => "TokenNotFound",
            Self::DuplicateDocument => "DuplicateDocument",
            Self::EmptyDocument => "EmptyDocument",
            Self::DocumentTooLarge => "DocumentTooLarge",
            Self::DocumentLimitReached => "DocumentLimitReached",
            Self::ReplicationNotAllowed => "ReplicationNotAllowed",
            Self::ReplicaConflict => "ReplicaConflict",
            Self::InvalidCid => "InvalidCid",
            Self::NotAnExtension => "NotAnExtension",
            Self::NotKyc => "NotKyc",
            Self::RelationshipEndEarlier => "RelationshipEndEarlier",
            Self::NoExpiry => "NoExpiry",
            Self::NoticeTooEarly => "NoticeTooEarly",
            Self::AlreadyScheduled => "AlreadyScheduled",
            Self::NotScheduled => "NotScheduled",
            Self::DeletionNotDue => "DeletionNotDue",
            Self::RegulatoryMinimum => "RegulatoryMinimum",
            Self::ArweaveCopy => "ArweaveCopy",
            Self::PermanentRetention => "PermanentRetention",
            Self::Deleted => "Deleted",
            Self::WalletRevoked => "WalletRevoked",
            Self::WalletInUse => "WalletInUse",
            Self::TierUnchanged => "TierUnchanged",
            Self::InvalidKey => "InvalidKey",
            Self::GovernanceUnavailable => "GovernanceUnavailable",
            Self::NotConfigured => "NotConfigured",
            Self::UpgradeFailed => "UpgradeFailed",
            Self::NotTeamVault => "NotTeamVault",
            Self::NotStaged => "NotStaged",
            Self::NoEncryptionKey => "NoEncryptionKey",
            Self::InvalidWrappedKey => "InvalidWrappedKey",
        }
    }

    /// What the error means, in words, for people (the variant's documentation).
    pub const fn description(self) -> &'static str {
        match self {
            Self::NotAttestor => "The caller is not the storage attestor appointed by governance",
            Self::NotRetentionExecutor => {
                "The caller is not the retention executor appointed by governance"
            }
            Self::NotTierAuthority => {
                "The caller is not the tier authority appointed by governance"
            }
            Self::NotGovernance => "The caller is not ValidatorGovernance",
            Self::NotRecoveryAuthority => "The caller is not GuardianRecovery",
            Self::NotOwner => "The caller is not the document's owner (or, for a vault, TeamVault)",
            Self::NotApproved => "The caller may not move this token",
            Self::TokenNotFound => "No such token",
            Self::DuplicateDocument => "A document with this ciphertext hash exists already",
            Self::EmptyDocument => "A document must have at least one byte",
            Self::DocumentTooLarge => "Larger than the owner's tier allows",
            Self::DocumentLimitReached => "The owner holds as many documents as the tier allows",
            Self::ReplicationNotAllowed => {
                "The owner's tier has no such copy, or the provider is out of service"
            }
            Self::ReplicaConflict => "The copy is recorded already, or was never requested",
            Self::InvalidCid => "The CID is empty or longer than 64 bytes",
            Self::NotAnExtension => "The new retention is not longer than the current one",
            Self::NotKyc => "Only KYC documents have a relationship end",
            Self::RelationshipEndEarlier => "A relationship end can only move later",
            Self::NoExpiry => "The document never expires",
            Self::NoticeTooEarly => "More than 30 days before expiry: too early for the notice",
            Self::AlreadyScheduled => "Deletion is scheduled already",
            Self::NotScheduled => "No deletion is scheduled",
            Self::DeletionNotDue => "The scheduled deletion is not due yet",
            Self::RegulatoryMinimum => "A regulatory minimum still runs",
            Self::ArweaveCopy => {
                "The document has an Arweave copy (permanent, or posted and awaiting confirmation)"
            }
            Self::PermanentRetention => "The document's retention is Permanent",
            Self::Deleted => "The document is deleted",
            Self::WalletRevoked => {
                "The wallet was replaced by recovery and can never be used again"
            }
            Self::WalletInUse => {
                "The new wallet already holds documents or belongs to another identity"
            }
            Self::TierUnchanged => "The tier is already that",
            Self::InvalidKey => "The all-zero key is not a key",
            Self::GovernanceUnavailable => "A call to ValidatorGovernance failed",
            Self::NotConfigured => "The governance role or contract address is not set",
            Self::UpgradeFailed => "The code hash is unknown",
            Self::NotTeamVault => "The caller is not TeamVault",
            Self::NotStaged => "No verified upload of this ciphertext is staged for the vault",
            Self::NoEncryptionKey => "The grantee has published no encryption key",
            Self::InvalidWrappedKey => "The wrapped key is empty or longer than 128 bytes",
        }
    }
}

/// A document was minted (after the storage service verified its upload).
#[ink::event]
#[derive(Debug)]
pub struct DocumentMinted {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// Its owner.
    #[ink(topic)]
    pub owner: Owner,
    /// Ciphertext sha256, the S3 key `docs/{hex}`.
    #[ink(topic)]
    pub sha256: Hash32,
    /// Ciphertext bytes.
    pub size: u64,
    /// The owner's tier.
    pub tier: Tier,
    /// Its class.
    pub class: DocumentClass,
    /// The retention in force.
    pub retention: RetentionOption,
    /// Its expiry, `None` if never (or not yet known, for KYC).
    pub expiry: Option<Timestamp>,
    /// An Arweave copy was requested.
    pub arweave_requested: bool,
}

/// The chosen retention was shorter than the class's regulatory floor and was upgraded.
#[ink::event]
#[derive(Debug)]
pub struct RetentionUpgraded {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// What the owner chose.
    pub chosen: RetentionOption,
    /// What applies.
    pub applied: RetentionOption,
}

/// The owner extended a document's retention.
#[ink::event]
#[derive(Debug)]
pub struct RetentionExtended {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// Before.
    pub old: RetentionOption,
    /// After.
    pub new: RetentionOption,
    /// The new expiry.
    pub expiry: Option<Timestamp>,
}

/// A KYC document's customer relationship end was set.
#[ink::event]
#[derive(Debug)]
pub struct RelationshipEnded {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// When the relationship ended.
    pub ended_at: Timestamp,
    /// The resulting expiry.
    pub expiry: Option<Timestamp>,
}

/// A deletion was scheduled: the retention executor's 30-day notice, or the owner's request.
#[ink::event]
#[derive(Debug)]
pub struct DeletionScheduled {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// When the storage may be deleted.
    pub due: Timestamp,
    /// The owner asked for it.
    pub by_owner: bool,
}

/// A scheduled deletion was cancelled by an extension.
#[ink::event]
#[derive(Debug)]
pub struct DeletionCancelled {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
}

/// The executor confirmed that the storage is deleted; the token stays as history.
#[ink::event]
#[derive(Debug)]
pub struct DocumentDeleted {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// Its ciphertext hash.
    #[ink(topic)]
    pub sha256: Hash32,
}

/// The owner asked for an Arweave copy.
#[ink::event]
#[derive(Debug)]
pub struct ArweaveRequested {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
}

/// The storage attestor recorded a secondary copy.
#[ink::event]
#[derive(Debug)]
pub struct ReplicaRecorded {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// The copy.
    pub replica: Replica,
}

/// The tier authority set a tier.
#[ink::event]
#[derive(Debug)]
pub struct TierChanged {
    /// Whose tier.
    #[ink(topic)]
    pub owner: Owner,
    /// Before.
    pub old: Tier,
    /// After.
    pub new: Tier,
}

/// An identity's wallet was rebound (recovery); the old wallet is revoked for good, and the
/// off-chain services re-wrap keys to the new wallet and end the old wallet's sessions.
#[ink::event]
#[derive(Debug)]
pub struct OwnerRebound {
    /// The identity.
    #[ink(topic)]
    pub identity: AccountId,
    /// The revoked wallet.
    #[ink(topic)]
    pub old_wallet: AccountId,
    /// The new wallet.
    #[ink(topic)]
    pub new_wallet: AccountId,
}

/// An account published (or rotated) its encryption key.
#[ink::event]
#[derive(Debug)]
pub struct EncryptionKeyPublished {
    /// The account.
    #[ink(topic)]
    pub account: AccountId,
    /// The key.
    pub key: EncryptionKey,
}

/// The storage attestor staged a verified upload for a vault's decision.
#[ink::event]
#[derive(Debug)]
pub struct UploadStaged {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Ciphertext sha256.
    #[ink(topic)]
    pub sha256: Hash32,
    /// Ciphertext bytes.
    pub size: u64,
}

/// The storage attestor discarded a staged upload the vault did not approve.
#[ink::event]
#[derive(Debug)]
pub struct UploadUnstaged {
    /// The vault.
    #[ink(topic)]
    pub vault: VaultId,
    /// Ciphertext sha256.
    #[ink(topic)]
    pub sha256: Hash32,
}

/// An owner granted read access to a document; the gateway serves the wrapped key.
#[ink::event]
#[derive(Debug)]
pub struct DocumentShared {
    /// The token.
    #[ink(topic)]
    pub id: TokenId,
    /// Who may read it.
    #[ink(topic)]
    pub grantee: AccountId,
    /// The grantee's key version the document key is wrapped to.
    pub key_version: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = 1_800_000_000_000;

    #[test]
    fn us_tax_filed_for_one_year_is_kept_seven() {
        let (option, upgraded) =
            effective_retention(DocumentClass::UsTax, RetentionOption::Minimum);
        assert_eq!((option, upgraded), (RetentionOption::RegulatoryUsTax, true));
        assert_eq!(
            expiry(DocumentClass::UsTax, option, T0, None),
            Some(T0 + 7 * YEAR)
        );
    }

    #[test]
    fn longer_choices_are_kept_as_chosen() {
        assert_eq!(
            effective_retention(DocumentClass::Financial, RetentionOption::LongTerm),
            (RetentionOption::LongTerm, false)
        );
        assert_eq!(
            effective_retention(DocumentClass::Other, RetentionOption::Minimum),
            (RetentionOption::Minimum, false)
        );
    }

    #[test]
    fn kyc_counts_from_the_end_of_the_relationship() {
        let option = RetentionOption::Extended;
        assert_eq!(expiry(DocumentClass::Kyc, option, T0, None), None);
        let end = T0 + 2 * YEAR;
        assert_eq!(
            expiry(DocumentClass::Kyc, option, T0, Some(end)),
            Some(end + 5 * YEAR)
        );
        let long = RetentionOption::LongTerm;
        assert_eq!(
            expiry(DocumentClass::Kyc, long, T0, Some(T0)),
            Some(T0 + 10 * YEAR)
        );
    }

    #[test]
    fn indefinite_and_permanent_never_expire() {
        for class in [DocumentClass::UsTax, DocumentClass::Other] {
            assert_eq!(expiry(class, RetentionOption::Indefinite, T0, None), None);
            assert_eq!(expiry(class, RetentionOption::Permanent, T0, None), None);
        }
        assert_eq!(deletion_due(None, T0), None);
    }

    #[test]
    fn regulatory_minimum_follows_the_class() {
        assert_eq!(
            regulatory_minimum_end(DocumentClass::UsTax, T0, None),
            T0 + 7 * YEAR
        );
        assert_eq!(
            regulatory_minimum_end(DocumentClass::Financial, T0, None),
            T0 + 5 * YEAR
        );
        assert_eq!(
            regulatory_minimum_end(DocumentClass::Kyc, T0, None),
            Timestamp::MAX
        );
        assert_eq!(
            regulatory_minimum_end(DocumentClass::Kyc, T0, Some(T0 + YEAR)),
            T0 + 6 * YEAR
        );
        assert_eq!(regulatory_minimum_end(DocumentClass::Other, T0, None), 0);
    }

    #[test]
    fn deletion_waits_for_expiry_and_the_notice_period() {
        assert_eq!(deletion_due(Some(T0), T0 - 40 * DAY), Some(T0));
        assert_eq!(deletion_due(Some(T0), T0 - 10 * DAY), Some(T0 + 20 * DAY));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn class() -> impl Strategy<Value = DocumentClass> {
            prop_oneof![
                Just(DocumentClass::UsTax),
                Just(DocumentClass::Financial),
                Just(DocumentClass::Kyc),
                Just(DocumentClass::Other),
            ]
        }

        fn option() -> impl Strategy<Value = RetentionOption> {
            (0..RetentionOption::ALL.len()).prop_map(|i| RetentionOption::ALL[i])
        }

        proptest! {
            /// The effective retention is never below the floor and never below the choice.
            #[test]
            fn retention_never_goes_below_the_floor(class in class(), chosen in option()) {
                let (effective, upgraded) = effective_retention(class, chosen);
                prop_assert!(effective >= class.floor());
                prop_assert!(effective >= chosen);
                prop_assert_eq!(upgraded, effective != chosen);
            }

            /// An extension never brings the expiry earlier.
            #[test]
            fn extension_never_shortens(
                class in class(),
                current in option(),
                new in option(),
                uploaded in 0..T0,
                end in proptest::option::of(0..T0),
            ) {
                if is_extension(current, new) {
                    let before = expiry(class, current, uploaded, end);
                    let after = expiry(class, new, uploaded, end);
                    match (before, after) {
                        (_, None) => {}
                        (Some(b), Some(a)) => prop_assert!(a >= b),
                        (None, Some(_)) => prop_assert!(false, "an extension made a document expire"),
                    }
                }
            }
        }
    }
}
