//! # DocumentNFT
//!
//! ## Overview
//!
//! One PSP34 token per stored document. A token records the ciphertext's sha256 (the S3 key
//! `docs/{sha256}`), its size, the owner's tier, the document class, the retention in force
//! and the copies that exist (S3, Arweave, IPFS). Wallets that speak PSP34 show and move
//! documents with the standard's selectors.
//!
//! Everything this contract obeys comes from ValidatorGovernance, read on every call: the
//! storage attestor, retention executor and tier authority accounts, the tier limits, the
//! replication policy, the providers in service, and the TeamVault and GuardianRecovery
//! addresses. A governance vote changes them; nothing here can.
//!
//! ## Owners are identities
//!
//! A document belongs to an owner identity (named by the first wallet it had) or to a team
//! vault. Recovery rebinds an identity to a new wallet in one constant-cost step
//! ([`DocumentNft::rebind_owner`]): every document moves with it, the old wallet is revoked for
//! good, and every token keeps its history. `owner_of` answers the current wallet; for a
//! vault's document, the TeamVault contract.
//!
//! ## Life cycle of a document
//!
//! 1. The storage service verifies an upload; the storage attestor mints the token
//!    ([`DocumentNft::mint`]) within the owner's tier limits. A retention shorter than the
//!    class's regulatory floor (US tax 7 years, financial 5, KYC the relationship's end plus
//!    5) is raised to the floor, with a [`RetentionUpgraded`] event.
//! 2. The attestor records secondary copies (an Arweave transaction, with the ANS-104 data
//!    item id when the document is bundled, its confirmation as permanent, an IPFS CID) as
//!    the tier's replication policy allows.
//! 3. The owner may extend the retention at any time, never shorten it; an extension cancels
//!    a scheduled deletion.
//! 4. From 30 days before expiry the retention executor records the notice; the deletion is
//!    due after both the expiry and the 30 days. The owner may also ask for deletion once no
//!    regulatory minimum runs.
//! 5. When it is due, the executor deletes the storage and then confirms it
//!    ([`DocumentNft::confirm_deletion`]): only then is the token recorded as deleted, its
//!    copies cleared, its hash and dates kept. A document with an Arweave copy can never be
//!    deleted.
//!
//! The status (active, deletion scheduled, deleted) is derived from stored timestamps.
//!
//! ## Error Handling
//!
//! Every state-changing message returns [`Error`] (PSP34 messages: [`PSP34Error`], with this
//! contract's error name in `Custom`) and changes nothing when it fails.
//!
//! ## Interface
//!
//! - Storage attestor: `mint`, `stage_vault_upload`, `unstage_vault_upload`, `record_replica`,
//!   `set_relationship_end`.
//! - TeamVault: `mint_staged`, and the owner's messages for vault documents.
//! - Retention executor: `notice_deletion`, `confirm_deletion`.
//! - Tier authority: `set_tier`.
//! - Owners (a vault's documents: TeamVault): PSP34 `transfer`/`approve`, `extend_retention`,
//!   `set_relationship_end`, `request_arweave`, `request_deletion`, `share`.
//! - Any account: `publish_encryption_key`.
//! - GuardianRecovery (guardian and emergency recoveries): `rebind_owner`.
//! - ValidatorGovernance: `set_code`.
//! - Anyone: every query.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod document_nft {
    use ink::{prelude::vec::Vec, storage::Mapping};
    use sdv_types::{
        document::{
            effective_retention, is_extension, regulatory_minimum_end, ArweaveCopy,
            ArweaveRequested, DeletionCancelled, DeletionScheduled, Document, DocumentClass,
            DocumentDeleted, DocumentMinted, DocumentShared, DocumentStatus, EncryptionKey,
            EncryptionKeyPublished, Error, Holder, Owner, OwnerRebound, ReadGrant,
            RelationshipEnded, Replica, ReplicaRecorded, Replicas, RetentionExtended,
            RetentionOption, RetentionUpgraded, ScheduledDeletion, StagedUpload, TierChanged,
            TokenId, UploadStaged, UploadUnstaged, MAX_CID_LEN, MAX_WRAPPED_KEY_LEN, NOTICE_PERIOD,
        },
        governance::{
            CodeUpgraded, ContractRole, ProviderSelection, ReplicationPolicy, Role, Tier,
            TierParams,
        },
        psp34::{Approval, Id, PSP34Error, PSP34Metadata, Transfer, PSP34},
        Hash32, VaultId,
    };

    /// A read grant's key: the token, its owner changes when granted, the reader.
    type GrantKey = (TokenId, u32, AccountId);

    /// The result type of every fallible message outside PSP34.
    pub type Result<T> = core::result::Result<T, Error>;

    /// The contract's storage.
    #[ink(storage)]
    pub struct DocumentNft {
        /// ValidatorGovernance, fixed at instantiation (governance upgrades keep its address).
        governance: AccountId,
        /// The id the next token gets; ids start at 1.
        next_id: TokenId,
        /// Tokens by id; ids are `1..next_id`, none is ever removed.
        documents: Mapping<TokenId, Document>,
        /// Token of every ciphertext hash ever minted.
        by_hash: Mapping<Hash32, TokenId>,
        /// Tokens per owner, deleted ones included (PSP34 `balance_of`).
        held: Mapping<Owner, u32>,
        /// Tokens of all vaults together (the TeamVault contract's PSP34 balance).
        vault_held: u32,
        /// Documents per owner not deleted (the tier limit counts these).
        live: Mapping<Owner, u32>,
        /// Tiers set by the tier authority; absent is Free.
        tiers: Mapping<Owner, Tier>,
        /// An identity's current wallet, when recovery moved it from the identity's first one.
        wallet_of: Mapping<AccountId, AccountId>,
        /// The identity a rebound wallet serves; a wallet not listed serves itself.
        identity_of: Mapping<AccountId, AccountId>,
        /// Wallets replaced by recovery: never usable again.
        revoked: Mapping<AccountId, ()>,
        /// Published X25519 keys.
        keys: Mapping<AccountId, EncryptionKey>,
        /// One operator per token, valid while the approving wallet owns it.
        token_approvals: Mapping<TokenId, (AccountId, AccountId)>,
        /// Operators for all of a wallet's tokens.
        operators: Mapping<(AccountId, AccountId), ()>,
        /// Verified uploads waiting for their vault's decision, by ciphertext hash.
        staged: Mapping<Hash32, StagedUpload>,
        /// Read access granted by owners, by token and reader.
        read_grants: Mapping<GrantKey, ReadGrant>,
        /// Per token, how many times it changed owner: grants of a previous owner (made under
        /// an earlier count) no longer apply.
        owner_changes: Mapping<TokenId, u32>,
    }

    impl DocumentNft {
        /// Creates the collection, governed by `governance`.
        #[ink(constructor)]
        pub fn new(governance: AccountId) -> Self {
            Self {
                governance,
                next_id: 1,
                documents: Mapping::default(),
                by_hash: Mapping::default(),
                held: Mapping::default(),
                vault_held: 0,
                live: Mapping::default(),
                tiers: Mapping::default(),
                wallet_of: Mapping::default(),
                identity_of: Mapping::default(),
                revoked: Mapping::default(),
                keys: Mapping::default(),
                token_approvals: Mapping::default(),
                operators: Mapping::default(),
                staged: Mapping::default(),
                read_grants: Mapping::default(),
                owner_changes: Mapping::default(),
            }
        }

        /// Mints the token of a verified upload and returns its id.
        ///
        /// The caller must be the storage attestor appointed by governance. `holder` is the
        /// owner's wallet or vault; `sha256` and `size` describe the ciphertext the storage
        /// service verified; `retention` is the owner's choice, raised to the class's floor
        /// when shorter; `arweave` asks for an Arweave copy (implied by `Permanent`).
        ///
        /// Errors: [`Error::NotAttestor`], [`Error::EmptyDocument`],
        /// [`Error::DuplicateDocument`] (minted, or staged for a vault),
        /// [`Error::WalletRevoked`], [`Error::DocumentTooLarge`]
        /// and [`Error::DocumentLimitReached`] by the owner's tier,
        /// [`Error::ReplicationNotAllowed`], [`Error::GovernanceUnavailable`].
        ///
        /// Emits [`Transfer`] (from `None`), [`DocumentMinted`], and [`RetentionUpgraded`] when
        /// the floor applied.
        #[ink(message)]
        pub fn mint(
            &mut self,
            holder: Holder,
            sha256: Hash32,
            size: u64,
            class: DocumentClass,
            retention: RetentionOption,
            arweave: bool,
        ) -> Result<TokenId> {
            self.ensure_role(Role::StorageAttestor, Error::NotAttestor)?;
            if self.staged.contains(sha256) {
                return Err(Error::DuplicateDocument);
            }
            let owner = self.resolve(holder)?;
            self.mint_for(owner, sha256, size, class, retention, arweave)
        }

        /// Stages a verified upload for a vault: the vault's admins then vote on it, and
        /// TeamVault mints it with [`DocumentNft::mint_staged`] when the decision executes.
        ///
        /// The caller must be the storage attestor.
        ///
        /// Errors: [`Error::NotAttestor`], [`Error::EmptyDocument`],
        /// [`Error::DuplicateDocument`] (minted or staged already).
        ///
        /// Emits [`UploadStaged`].
        #[ink(message)]
        pub fn stage_vault_upload(
            &mut self,
            vault: VaultId,
            sha256: Hash32,
            size: u64,
        ) -> Result<()> {
            self.ensure_role(Role::StorageAttestor, Error::NotAttestor)?;
            if size == 0 {
                return Err(Error::EmptyDocument);
            }
            if self.by_hash.contains(sha256) || self.staged.contains(sha256) {
                return Err(Error::DuplicateDocument);
            }
            let staged = StagedUpload {
                vault,
                size,
                staged_at: self.env().block_timestamp(),
            };
            self.staged.insert(sha256, &staged);
            self.env().emit_event(UploadStaged {
                vault,
                sha256,
                size,
            });
            Ok(())
        }

        /// Discards a staged upload the vault did not approve (rejected, vetoed), once the
        /// storage service deleted the staged ciphertext.
        ///
        /// The caller must be the storage attestor.
        ///
        /// Errors: [`Error::NotAttestor`], [`Error::NotStaged`].
        ///
        /// Emits [`UploadUnstaged`].
        #[ink(message)]
        pub fn unstage_vault_upload(&mut self, sha256: Hash32) -> Result<()> {
            self.ensure_role(Role::StorageAttestor, Error::NotAttestor)?;
            let staged = self.staged.get(sha256).ok_or(Error::NotStaged)?;
            self.staged.remove(sha256);
            self.env().emit_event(UploadUnstaged {
                vault: staged.vault,
                sha256,
            });
            Ok(())
        }

        /// Mints a staged upload as a vault document: the execution of the vault's upload
        /// decision.
        ///
        /// The caller must be TeamVault; the ciphertext must be staged for `vault`.
        ///
        /// Errors: [`Error::NotTeamVault`], [`Error::NotStaged`], and those of
        /// [`DocumentNft::mint`] for the vault's tier.
        ///
        /// Emits what [`DocumentNft::mint`] emits.
        #[ink(message)]
        pub fn mint_staged(
            &mut self,
            vault: VaultId,
            sha256: Hash32,
            class: DocumentClass,
            retention: RetentionOption,
            arweave: bool,
        ) -> Result<TokenId> {
            self.ensure_team_vault()?;
            let staged = self.staged.get(sha256).ok_or(Error::NotStaged)?;
            if staged.vault != vault {
                return Err(Error::NotStaged);
            }
            let id = self.mint_for(
                Owner::Vault(vault),
                sha256,
                staged.size,
                class,
                retention,
                arweave,
            )?;
            self.staged.remove(sha256);
            Ok(id)
        }

        /// Grants `grantee` read access: the document key wrapped to the grantee's published
        /// X25519 key, which the gateway serves to the grantee.
        ///
        /// The caller must be the owner's wallet (for a vault: TeamVault executing the vault's
        /// share decision).
        ///
        /// Errors: [`Error::TokenNotFound`], [`Error::NotOwner`], [`Error::Deleted`],
        /// [`Error::WalletRevoked`], [`Error::NoEncryptionKey`], [`Error::InvalidWrappedKey`].
        ///
        /// Emits [`DocumentShared`].
        #[ink(message)]
        pub fn share(
            &mut self,
            id: TokenId,
            grantee: AccountId,
            wrapped_key: Vec<u8>,
        ) -> Result<()> {
            let document = self.document_of(id)?;
            self.ensure_owner(&document)?;
            Self::ensure_not_deleted(&document)?;
            self.ensure_not_revoked(grantee)?;
            let key = self.keys.get(grantee).ok_or(Error::NoEncryptionKey)?;
            if wrapped_key.is_empty() || wrapped_key.len() > MAX_WRAPPED_KEY_LEN {
                return Err(Error::InvalidWrappedKey);
            }
            let grant = ReadGrant {
                wrapped_key,
                key_version: key.version,
                granted_at: self.env().block_timestamp(),
            };
            let epoch = self.owner_changes.get(id).unwrap_or(0);
            self.read_grants.insert((id, epoch, grantee), &grant);
            self.env().emit_event(DocumentShared {
                id,
                grantee,
                key_version: key.version,
            });
            Ok(())
        }

        /// Sets the tier of a wallet's identity or of a vault.
        ///
        /// The caller must be the tier authority appointed by governance. Upgrades and
        /// downgrades alike; documents already stored stay, the new limits apply to the next.
        ///
        /// Errors: [`Error::NotTierAuthority`], [`Error::WalletRevoked`],
        /// [`Error::TierUnchanged`].
        ///
        /// Emits [`TierChanged`].
        #[ink(message)]
        pub fn set_tier(&mut self, holder: Holder, tier: Tier) -> Result<()> {
            self.ensure_role(Role::TierAuthority, Error::NotTierAuthority)?;
            let owner = self.resolve(holder)?;
            let old = self.tier(owner);
            if old == tier {
                return Err(Error::TierUnchanged);
            }
            self.tiers.insert(owner, &tier);
            self.env().emit_event(TierChanged {
                owner,
                old,
                new: tier,
            });
            Ok(())
        }

        /// Publishes (or rotates) the caller's X25519 public key, to which document keys are
        /// wrapped.
        ///
        /// Errors: [`Error::WalletRevoked`], [`Error::InvalidKey`] for the all-zero key.
        ///
        /// Emits [`EncryptionKeyPublished`].
        #[ink(message)]
        pub fn publish_encryption_key(&mut self, key: [u8; 32]) -> Result<()> {
            let caller = self.env().caller();
            self.ensure_not_revoked(caller)?;
            if key == [0; 32] {
                return Err(Error::InvalidKey);
            }
            let version = self
                .keys
                .get(caller)
                .map_or(1, |k| k.version.saturating_add(1));
            let key = EncryptionKey {
                key,
                version,
                published_at: self.env().block_timestamp(),
            };
            self.keys.insert(caller, &key);
            self.env().emit_event(EncryptionKeyPublished {
                account: caller,
                key,
            });
            Ok(())
        }

        /// Extends a document's retention to a longer option; cancels a scheduled deletion.
        ///
        /// The caller must be the owner's wallet (for a vault: TeamVault). `Permanent` asks for
        /// an Arweave copy, which the owner's tier must allow.
        ///
        /// Errors: [`Error::TokenNotFound`], [`Error::NotOwner`], [`Error::Deleted`],
        /// [`Error::NotAnExtension`], [`Error::ReplicationNotAllowed`].
        ///
        /// Emits [`RetentionExtended`], [`ArweaveRequested`] for a new Arweave request,
        /// [`DeletionCancelled`] when a deletion was scheduled.
        #[ink(message)]
        pub fn extend_retention(&mut self, id: TokenId, retention: RetentionOption) -> Result<()> {
            let mut document = self.document_of(id)?;
            self.ensure_owner(&document)?;
            Self::ensure_not_deleted(&document)?;
            if !is_extension(document.retention, retention) {
                return Err(Error::NotAnExtension);
            }
            let newly_archived =
                retention == RetentionOption::Permanent && !document.replicas.arweave_requested;
            if newly_archived {
                self.ensure_arweave_allowed(self.tier(document.owner))?;
            }

            let old = document.retention;
            document.retention = retention;
            document.replicas.arweave_requested |= newly_archived;
            let cancelled = document.deletion.take().is_some();
            self.documents.insert(id, &document);

            self.env().emit_event(RetentionExtended {
                id,
                old,
                new: retention,
                expiry: document.expiry(),
            });
            if newly_archived {
                self.env().emit_event(ArweaveRequested { id });
            }
            if cancelled {
                self.env().emit_event(DeletionCancelled { id });
            }
            Ok(())
        }

        /// Records when a KYC document's customer relationship ended; its retention then runs
        /// until 5 years after. It can be moved later, never earlier; a scheduled deletion is
        /// cancelled (the executor notices again against the new expiry).
        ///
        /// The caller must be the owner's wallet (for a vault: TeamVault) or the storage
        /// attestor.
        ///
        /// Errors: [`Error::TokenNotFound`], [`Error::NotOwner`], [`Error::Deleted`],
        /// [`Error::NotKyc`], [`Error::RelationshipEndEarlier`].
        ///
        /// Emits [`RelationshipEnded`], and [`DeletionCancelled`] when one was scheduled.
        #[ink(message)]
        pub fn set_relationship_end(&mut self, id: TokenId, ended_at: Timestamp) -> Result<()> {
            let mut document = self.document_of(id)?;
            if self.ensure_owner(&document).is_err() {
                self.ensure_role(Role::StorageAttestor, Error::NotOwner)?;
            }
            Self::ensure_not_deleted(&document)?;
            if document.class != DocumentClass::Kyc {
                return Err(Error::NotKyc);
            }
            if document.relationship_end.is_some_and(|end| ended_at < end) {
                return Err(Error::RelationshipEndEarlier);
            }

            document.relationship_end = Some(ended_at);
            let cancelled = document.deletion.take().is_some();
            self.documents.insert(id, &document);

            self.env().emit_event(RelationshipEnded {
                id,
                ended_at,
                expiry: document.expiry(),
            });
            if cancelled {
                self.env().emit_event(DeletionCancelled { id });
            }
            Ok(())
        }

        /// Asks for an Arweave copy of a document stored before.
        ///
        /// The caller must be the owner's wallet (for a vault: TeamVault); the owner's tier must
        /// allow Arweave and Arweave must be in service.
        ///
        /// Errors: [`Error::TokenNotFound`], [`Error::NotOwner`], [`Error::Deleted`],
        /// [`Error::ReplicaConflict`] if already asked, [`Error::ReplicationNotAllowed`].
        ///
        /// Emits [`ArweaveRequested`].
        #[ink(message)]
        pub fn request_arweave(&mut self, id: TokenId) -> Result<()> {
            let mut document = self.document_of(id)?;
            self.ensure_owner(&document)?;
            Self::ensure_not_deleted(&document)?;
            if document.replicas.arweave_requested {
                return Err(Error::ReplicaConflict);
            }
            self.ensure_arweave_allowed(self.tier(document.owner))?;

            document.replicas.arweave_requested = true;
            self.documents.insert(id, &document);
            self.env().emit_event(ArweaveRequested { id });
            Ok(())
        }

        /// Records a secondary copy: an Arweave transaction once posted (with the ANS-104 data
        /// item id when the document travels inside a bundle), its confirmation as permanent,
        /// or an IPFS CID once pinned.
        ///
        /// The caller must be the storage attestor. An Arweave copy needs the owner's request;
        /// an IPFS copy needs the owner's tier to replicate to IPFS and IPFS in service.
        ///
        /// Errors: [`Error::NotAttestor`], [`Error::TokenNotFound`], [`Error::Deleted`],
        /// [`Error::ReplicaConflict`] (not requested, already recorded, or not posted before
        /// the confirmation), [`Error::InvalidCid`], [`Error::ReplicationNotAllowed`].
        ///
        /// Emits [`ReplicaRecorded`], and [`DeletionCancelled`] when an Arweave copy makes a
        /// scheduled deletion impossible.
        #[ink(message)]
        pub fn record_replica(&mut self, id: TokenId, replica: Replica) -> Result<()> {
            self.ensure_role(Role::StorageAttestor, Error::NotAttestor)?;
            let mut document = self.document_of(id)?;
            Self::ensure_not_deleted(&document)?;
            let replicas = &mut document.replicas;
            match &replica {
                Replica::Arweave { tx_id, item_id } => {
                    if !replicas.arweave_requested || replicas.arweave.is_some() {
                        return Err(Error::ReplicaConflict);
                    }
                    replicas.arweave = Some(ArweaveCopy {
                        tx_id: *tx_id,
                        item_id: *item_id,
                        permanent: false,
                    });
                }
                Replica::ArweavePermanent => match replicas.arweave.as_mut() {
                    Some(copy) if !copy.permanent => copy.permanent = true,
                    _ => return Err(Error::ReplicaConflict),
                },
                Replica::Ipfs(cid) => {
                    if cid.is_empty() || cid.len() > MAX_CID_LEN {
                        return Err(Error::InvalidCid);
                    }
                    if replicas.ipfs.is_some() {
                        return Err(Error::ReplicaConflict);
                    }
                    let tier = self.tier(document.owner);
                    let (policy, providers) = self.replication(tier)?;
                    if !(policy.ipfs_auto && providers.ipfs) {
                        return Err(Error::ReplicationNotAllowed);
                    }
                    document.replicas.ipfs = Some(cid.clone());
                }
            }

            // An Arweave copy can never be deleted, so a scheduled deletion is moot.
            let cancelled =
                matches!(replica, Replica::Arweave { .. }) && document.deletion.take().is_some();
            self.documents.insert(id, &document);
            self.env().emit_event(ReplicaRecorded { id, replica });
            if cancelled {
                self.env().emit_event(DeletionCancelled { id });
            }
            Ok(())
        }

        /// The owner asks for a document's deletion, due at once.
        ///
        /// The caller must be the owner's wallet (for a vault: TeamVault, executing the vault's
        /// decision). Refused while the class's regulatory minimum runs (for KYC: until 5 years
        /// after the relationship's recorded end) and for a document with an Arweave copy.
        ///
        /// Errors: [`Error::TokenNotFound`], [`Error::NotOwner`], [`Error::Deleted`],
        /// [`Error::AlreadyScheduled`], [`Error::PermanentRetention`], [`Error::ArweaveCopy`],
        /// [`Error::RegulatoryMinimum`].
        ///
        /// Emits [`DeletionScheduled`].
        #[ink(message)]
        pub fn request_deletion(&mut self, id: TokenId) -> Result<()> {
            let mut document = self.document_of(id)?;
            self.ensure_owner(&document)?;
            Self::ensure_deletable(&document)?;
            let now = self.env().block_timestamp();
            let minimum = regulatory_minimum_end(
                document.class,
                document.uploaded_at,
                document.relationship_end,
            );
            if now < minimum {
                return Err(Error::RegulatoryMinimum);
            }
            self.schedule(id, &mut document, now, true)
        }

        /// Records the 30-day pre-deletion notice of an expiring document. Deletion is due
        /// after both its expiry and 30 days from now.
        ///
        /// The caller must be the retention executor. Allowed from 30 days before expiry.
        ///
        /// Errors: [`Error::NotRetentionExecutor`], [`Error::TokenNotFound`],
        /// [`Error::Deleted`], [`Error::AlreadyScheduled`], [`Error::ArweaveCopy`],
        /// [`Error::NoExpiry`], [`Error::NoticeTooEarly`].
        ///
        /// Emits [`DeletionScheduled`].
        #[ink(message)]
        pub fn notice_deletion(&mut self, id: TokenId) -> Result<()> {
            self.ensure_role(Role::RetentionExecutor, Error::NotRetentionExecutor)?;
            let mut document = self.document_of(id)?;
            Self::ensure_deletable(&document)?;
            let expiry = document.expiry().ok_or(Error::NoExpiry)?;
            let now = self.env().block_timestamp();
            if now < expiry.saturating_sub(NOTICE_PERIOD) {
                return Err(Error::NoticeTooEarly);
            }
            let due = expiry.max(now.saturating_add(NOTICE_PERIOD));
            self.schedule(id, &mut document, due, false)
        }

        /// Records that the document's storage was deleted. Call it only after deleting the
        /// object, so that the chain never says deleted while the object exists. The token
        /// stays, keeping its hash and dates; its copies are cleared.
        ///
        /// The caller must be the retention executor; the deletion must be scheduled and due,
        /// and the document must have no Arweave copy and a retention other than Permanent.
        ///
        /// Errors: [`Error::NotRetentionExecutor`], [`Error::TokenNotFound`],
        /// [`Error::Deleted`], [`Error::NotScheduled`], [`Error::DeletionNotDue`],
        /// [`Error::PermanentRetention`], [`Error::ArweaveCopy`].
        ///
        /// Emits [`DocumentDeleted`].
        #[ink(message)]
        pub fn confirm_deletion(&mut self, id: TokenId) -> Result<()> {
            self.ensure_role(Role::RetentionExecutor, Error::NotRetentionExecutor)?;
            let mut document = self.document_of(id)?;
            Self::ensure_not_deleted(&document)?;
            let scheduled = document.deletion.ok_or(Error::NotScheduled)?;
            let now = self.env().block_timestamp();
            if now < scheduled.due {
                return Err(Error::DeletionNotDue);
            }
            if document.retention == RetentionOption::Permanent {
                return Err(Error::PermanentRetention);
            }
            if document.replicas.arweave.is_some() {
                return Err(Error::ArweaveCopy);
            }

            document.deleted_at = Some(now);
            document.replicas = Replicas::default();
            self.documents.insert(id, &document);
            self.count_live(document.owner, false);
            self.token_approvals.remove(id);

            self.env().emit_event(DocumentDeleted {
                id,
                sha256: document.sha256,
            });
            Ok(())
        }

        /// Moves an identity, with every document it owns, from `old_wallet` to `new_wallet`,
        /// in one step whatever the number of documents. `old_wallet` is revoked for good.
        ///
        /// The caller must be GuardianRecovery, finalizing a guardian recovery or carrying out
        /// an emergency recovery that ValidatorGovernance decided. `new_wallet` must be unused: holding no documents, serving
        /// no identity, never revoked.
        ///
        /// Errors: [`Error::NotRecoveryAuthority`], [`Error::WalletRevoked`],
        /// [`Error::WalletInUse`].
        ///
        /// Emits [`OwnerRebound`].
        #[ink(message)]
        pub fn rebind_owner(&mut self, old_wallet: AccountId, new_wallet: AccountId) -> Result<()> {
            if Some(self.env().caller()) != self.contract(ContractRole::GuardianRecovery)? {
                return Err(Error::NotRecoveryAuthority);
            }
            let identity = self.identity(old_wallet)?;
            self.ensure_not_revoked(new_wallet)?;
            if new_wallet == old_wallet
                || self.identity_of.contains(new_wallet)
                || self.held.get(Owner::Identity(new_wallet)).unwrap_or(0) > 0
            {
                return Err(Error::WalletInUse);
            }

            self.revoked.insert(old_wallet, &());
            self.identity_of.remove(old_wallet);
            self.identity_of.insert(new_wallet, &identity);
            self.wallet_of.insert(identity, &new_wallet);

            self.env().emit_event(OwnerRebound {
                identity,
                old_wallet,
                new_wallet,
            });
            Ok(())
        }

        /// Replaces this contract's code, keeping its storage.
        ///
        /// The caller must be ValidatorGovernance (a 14-of-20 `UpgradeCode` decision).
        ///
        /// Errors: [`Error::NotGovernance`], [`Error::UpgradeFailed`] for an unknown code hash.
        ///
        /// Emits [`CodeUpgraded`].
        #[ink(message)]
        pub fn set_code(&mut self, code_hash: Hash32) -> Result<()> {
            if self.env().caller() != self.governance {
                return Err(Error::NotGovernance);
            }
            self.env()
                .set_code_hash(&Hash::from(code_hash))
                .map_err(|_| Error::UpgradeFailed)?;
            self.env().emit_event(CodeUpgraded {
                contract: ContractRole::DocumentNft,
                code_hash,
            });
            Ok(())
        }

        /// A token's record.
        #[ink(message)]
        pub fn document(&self, id: TokenId) -> Option<Document> {
            self.documents.get(id)
        }

        /// A token's status, derived from its timestamps.
        #[ink(message)]
        pub fn status(&self, id: TokenId) -> Option<DocumentStatus> {
            Some(self.documents.get(id)?.status())
        }

        /// A token's expiry: `Some(None)` if it never expires.
        #[ink(message)]
        pub fn expiry(&self, id: TokenId) -> Option<Option<Timestamp>> {
            Some(self.documents.get(id)?.expiry())
        }

        /// The token minted for a ciphertext hash.
        #[ink(message)]
        pub fn token_by_hash(&self, sha256: Hash32) -> Option<TokenId> {
            self.by_hash.get(sha256)
        }

        /// The tier of a wallet's identity or of a vault (Free until the tier authority sets
        /// one; a revoked wallet has none).
        #[ink(message)]
        pub fn tier_of(&self, holder: Holder) -> Option<Tier> {
            Some(self.tier(self.resolve(holder).ok()?))
        }

        /// Documents of a wallet's identity or a vault that are not deleted.
        #[ink(message)]
        pub fn live_documents(&self, holder: Holder) -> u32 {
            self.resolve(holder)
                .map_or(0, |owner| self.live.get(owner).unwrap_or(0))
        }

        /// The identity a wallet serves; `None` for a revoked wallet.
        #[ink(message)]
        pub fn identity_of(&self, wallet: AccountId) -> Option<AccountId> {
            self.identity(wallet).ok()
        }

        /// An identity's current wallet.
        #[ink(message)]
        pub fn wallet_of(&self, identity: AccountId) -> AccountId {
            self.wallet(identity)
        }

        /// Whether recovery revoked this wallet.
        #[ink(message)]
        pub fn is_revoked(&self, wallet: AccountId) -> bool {
            self.revoked.contains(wallet)
        }

        /// Whether recovery revoked any of these wallets (one call for a whole admin set).
        #[ink(message)]
        pub fn any_revoked(&self, wallets: Vec<AccountId>) -> bool {
            wallets.iter().any(|w| self.revoked.contains(w))
        }

        /// An account's published X25519 key; `None` if it has none or was revoked.
        #[ink(message)]
        pub fn encryption_key(&self, account: AccountId) -> Option<EncryptionKey> {
            if self.revoked.contains(account) {
                return None;
            }
            self.keys.get(account)
        }

        /// The upload staged for a vault under this ciphertext hash.
        #[ink(message)]
        pub fn staged_upload(&self, sha256: Hash32) -> Option<StagedUpload> {
            self.staged.get(sha256)
        }

        /// The read access `reader` holds to a document: granted by its current owner, the
        /// document not deleted, the reader's wallet not revoked.
        #[ink(message)]
        pub fn read_grant(&self, id: TokenId, reader: AccountId) -> Option<ReadGrant> {
            let document = self.documents.get(id)?;
            if document.deleted_at.is_some() || self.revoked.contains(reader) {
                return None;
            }
            let epoch = self.owner_changes.get(id).unwrap_or(0);
            self.read_grants.get((id, epoch, reader))
        }

        /// The governance contract.
        #[ink(message)]
        pub fn governance(&self) -> AccountId {
            self.governance
        }

        fn mint_for(
            &mut self,
            owner: Owner,
            sha256: Hash32,
            size: u64,
            class: DocumentClass,
            retention: RetentionOption,
            arweave: bool,
        ) -> Result<TokenId> {
            if size == 0 {
                return Err(Error::EmptyDocument);
            }
            if self.by_hash.contains(sha256) {
                return Err(Error::DuplicateDocument);
            }
            let tier = self.tier(owner);
            self.ensure_within_limits(owner, tier, size)?;
            let (applied, upgraded) = effective_retention(class, retention);
            let arweave_requested = arweave || applied == RetentionOption::Permanent;
            if arweave_requested {
                self.ensure_arweave_allowed(tier)?;
            }
            let to = self.account_of(owner)?;

            let id = self.next_id;
            self.next_id = id.checked_add(1).ok_or(Error::DocumentLimitReached)?;
            let now = self.env().block_timestamp();
            let document = Document {
                owner,
                sha256,
                size,
                tier,
                class,
                chosen: retention,
                retention: applied,
                uploaded_at: now,
                relationship_end: None,
                deletion: None,
                deleted_at: None,
                replicas: Replicas {
                    s3: true,
                    arweave_requested,
                    arweave: None,
                    ipfs: None,
                },
            };
            let expiry = document.expiry();
            self.documents.insert(id, &document);
            self.by_hash.insert(sha256, &id);
            self.count_held(owner, true);
            self.count_live(owner, true);

            self.env().emit_event(Transfer {
                from: None,
                to: Some(to),
                id: Id::U64(id),
            });
            self.env().emit_event(DocumentMinted {
                id,
                owner,
                sha256,
                size,
                tier,
                class,
                retention: applied,
                expiry,
                arweave_requested,
            });
            if upgraded {
                self.env().emit_event(RetentionUpgraded {
                    id,
                    chosen: retention,
                    applied,
                });
            }
            Ok(id)
        }

        fn schedule(
            &mut self,
            id: TokenId,
            document: &mut Document,
            due: Timestamp,
            by_owner: bool,
        ) -> Result<()> {
            document.deletion = Some(ScheduledDeletion {
                at: self.env().block_timestamp(),
                due,
                by_owner,
            });
            self.documents.insert(id, document);
            self.env()
                .emit_event(DeletionScheduled { id, due, by_owner });
            Ok(())
        }

        fn document_of(&self, id: TokenId) -> Result<Document> {
            self.documents.get(id).ok_or(Error::TokenNotFound)
        }

        fn ensure_not_deleted(document: &Document) -> Result<()> {
            if document.deleted_at.is_some() {
                return Err(Error::Deleted);
            }
            Ok(())
        }

        fn ensure_deletable(document: &Document) -> Result<()> {
            Self::ensure_not_deleted(document)?;
            if document.deletion.is_some() {
                return Err(Error::AlreadyScheduled);
            }
            if document.retention == RetentionOption::Permanent {
                return Err(Error::PermanentRetention);
            }
            if document.replicas.arweave.is_some() {
                return Err(Error::ArweaveCopy);
            }
            Ok(())
        }

        fn ensure_team_vault(&self) -> Result<()> {
            if Some(self.env().caller()) != self.contract(ContractRole::TeamVault)? {
                return Err(Error::NotTeamVault);
            }
            Ok(())
        }

        fn ensure_not_revoked(&self, wallet: AccountId) -> Result<()> {
            if self.revoked.contains(wallet) {
                return Err(Error::WalletRevoked);
            }
            Ok(())
        }

        /// The caller acts for the document's owner: its current wallet, or TeamVault for a
        /// vault's document.
        fn ensure_owner(&self, document: &Document) -> Result<()> {
            if self.account_of(document.owner)? != self.env().caller() {
                return Err(Error::NotOwner);
            }
            Ok(())
        }

        fn ensure_role(&self, role: Role, error: Error) -> Result<()> {
            let account: Option<AccountId> = self.governance_call("role", role)?;
            if account != Some(self.env().caller()) {
                return Err(error);
            }
            Ok(())
        }

        fn ensure_within_limits(&self, owner: Owner, tier: Tier, size: u64) -> Result<()> {
            let limits: TierParams = self.governance_call("tier_params", tier)?;
            if size > limits.max_document_bytes {
                return Err(Error::DocumentTooLarge);
            }
            if let Some(max) = limits.max_documents {
                if self.live.get(owner).unwrap_or(0) >= max {
                    return Err(Error::DocumentLimitReached);
                }
            }
            Ok(())
        }

        fn ensure_arweave_allowed(&self, tier: Tier) -> Result<()> {
            let (policy, providers) = self.replication(tier)?;
            if !(policy.arweave_on_request && providers.arweave) {
                return Err(Error::ReplicationNotAllowed);
            }
            Ok(())
        }

        fn replication(&self, tier: Tier) -> Result<(ReplicationPolicy, ProviderSelection)> {
            Ok((
                self.governance_call("replication_policy", tier)?,
                self.governance_call("providers", ())?,
            ))
        }

        fn contract(&self, contract: ContractRole) -> Result<Option<AccountId>> {
            self.governance_call("contract_address", contract)
        }

        fn tier(&self, owner: Owner) -> Tier {
            self.tiers.get(owner).unwrap_or(Tier::Free)
        }

        fn identity(&self, wallet: AccountId) -> Result<AccountId> {
            self.ensure_not_revoked(wallet)?;
            Ok(self.identity_of.get(wallet).unwrap_or(wallet))
        }

        fn wallet(&self, identity: AccountId) -> AccountId {
            self.wallet_of.get(identity).unwrap_or(identity)
        }

        fn resolve(&self, holder: Holder) -> Result<Owner> {
            match holder {
                Holder::Account(wallet) => Ok(Owner::Identity(self.identity(wallet)?)),
                Holder::Vault(vault) => Ok(Owner::Vault(vault)),
            }
        }

        /// The account PSP34 names as the owner: the identity's wallet, or TeamVault.
        fn account_of(&self, owner: Owner) -> Result<AccountId> {
            match owner {
                Owner::Identity(identity) => Ok(self.wallet(identity)),
                Owner::Vault(_) => self
                    .contract(ContractRole::TeamVault)?
                    .ok_or(Error::NotConfigured),
            }
        }

        /// Counts a token in (`up`) or out of an owner's holdings.
        fn count_held(&mut self, owner: Owner, up: bool) {
            self.held
                .insert(owner, &step(self.held.get(owner).unwrap_or(0), up));
            if let Owner::Vault(_) = owner {
                self.vault_held = step(self.vault_held, up);
            }
        }

        /// Counts a document in (`up`) or out of an owner's live documents.
        fn count_live(&mut self, owner: Owner, up: bool) {
            self.live
                .insert(owner, &step(self.live.get(owner).unwrap_or(0), up));
        }

        /// Moves a token to another owner within its limits (PSP34 `transfer`).
        fn move_token(&mut self, to: AccountId, id: TokenId) -> Result<()> {
            let mut document = self.document_of(id)?;
            Self::ensure_not_deleted(&document)?;
            let from = self.account_of(document.owner)?;
            let caller = self.env().caller();
            if caller != from
                && !self.operators.contains((from, caller))
                && self.token_approvals.get(id) != Some((from, caller))
            {
                return Err(Error::NotApproved);
            }
            let new_owner = Owner::Identity(self.identity(to)?);
            if new_owner == document.owner {
                return Ok(());
            }
            self.ensure_within_limits(new_owner, self.tier(new_owner), document.size)?;

            let old_owner = core::mem::replace(&mut document.owner, new_owner);
            self.documents.insert(id, &document);
            self.count_held(old_owner, false);
            self.count_live(old_owner, false);
            self.count_held(new_owner, true);
            self.count_live(new_owner, true);
            self.owner_changes.insert(
                id,
                &self.owner_changes.get(id).unwrap_or(0).saturating_add(1),
            );
            self.token_approvals.remove(id);

            self.env().emit_event(Transfer {
                from: Some(from),
                to: Some(to),
                id: Id::U64(id),
            });
            Ok(())
        }

        /// Calls a ValidatorGovernance query.
        #[cfg(not(test))]
        fn governance_call<A, R>(&self, message: &'static str, arg: A) -> Result<R>
        where
            A: scale::Encode,
            R: scale::Decode,
        {
            sdv_types::call::invoke(self.governance, selector(message), arg)
                .ok_or(Error::GovernanceUnavailable)
        }

        /// Off-chain, governance is the unit tests' in-memory stand-in (ink!'s off-chain
        /// environment cannot call contracts); the e2e tests call the real one.
        #[cfg(test)]
        fn governance_call<A, R>(&self, message: &'static str, arg: A) -> Result<R>
        where
            A: scale::Encode,
            R: scale::Decode,
        {
            let answer = crate::unit_tests::governance_answer(message, &arg.encode());
            R::decode(&mut &answer[..]).map_err(|_| Error::GovernanceUnavailable)
        }
    }

    /// The selector of a governance message by its label.
    #[cfg(not(test))]
    fn selector(message: &str) -> [u8; 4] {
        match message {
            "role" => ink::selector_bytes!("role"),
            "tier_params" => ink::selector_bytes!("tier_params"),
            "replication_policy" => ink::selector_bytes!("replication_policy"),
            "providers" => ink::selector_bytes!("providers"),
            _ => ink::selector_bytes!("contract_address"),
        }
    }

    impl PSP34 for DocumentNft {
        /// The collection is this contract: its address.
        #[ink(message)]
        fn collection_id(&self) -> Id {
            Id::Bytes(<AccountId as AsRef<[u8]>>::as_ref(&self.env().account_id()).to_vec())
        }

        /// Tokens the wallet's identity holds, deleted ones included (for TeamVault: every
        /// vault's too); 0 for a revoked wallet.
        #[ink(message)]
        fn balance_of(&self, owner: AccountId) -> u32 {
            let Ok(identity) = self.identity(owner) else {
                return 0;
            };
            let own = self.held.get(Owner::Identity(identity)).unwrap_or(0);
            let team_vault = self.contract(ContractRole::TeamVault).ok().flatten();
            if team_vault == Some(owner) {
                own.saturating_add(self.vault_held)
            } else {
                own
            }
        }

        /// The owner's current wallet, or TeamVault for a vault's document.
        #[ink(message)]
        fn owner_of(&self, id: Id) -> Option<AccountId> {
            let document = self.documents.get(token_id(&id)?)?;
            self.account_of(document.owner).ok()
        }

        /// Always `false` for a wallet recovery revoked.
        #[ink(message)]
        fn allowance(&self, owner: AccountId, operator: AccountId, id: Option<Id>) -> bool {
            if self.revoked.contains(owner) {
                return false;
            }
            if self.operators.contains((owner, operator)) {
                return true;
            }
            let Some(id) = id.as_ref().and_then(token_id) else {
                return false;
            };
            self.token_approvals.get(id) == Some((owner, operator))
                && self.owner_of(Id::U64(id)) == Some(owner)
        }

        /// Errors: `SelfApprove`, `TokenNotExists`, `NotApproved` when the caller does not own
        /// the token, `Custom("Deleted")` for a deleted one.
        #[ink(message)]
        fn approve(
            &mut self,
            operator: AccountId,
            id: Option<Id>,
            approved: bool,
        ) -> core::result::Result<(), PSP34Error> {
            let caller = self.env().caller();
            if operator == caller {
                return Err(PSP34Error::SelfApprove);
            }
            match &id {
                Some(token) => {
                    let token = token_id(token).ok_or(PSP34Error::TokenNotExists)?;
                    let document = self
                        .documents
                        .get(token)
                        .ok_or(PSP34Error::TokenNotExists)?;
                    if self.account_of(document.owner).map_err(psp34_error)? != caller {
                        return Err(PSP34Error::NotApproved);
                    }
                    Self::ensure_not_deleted(&document).map_err(psp34_error)?;
                    if approved {
                        self.token_approvals.insert(token, &(caller, operator));
                    } else {
                        self.token_approvals.remove(token);
                    }
                }
                None if approved => {
                    self.operators.insert((caller, operator), &());
                }
                None => self.operators.remove((caller, operator)),
            }
            self.env().emit_event(Approval {
                owner: caller,
                operator,
                id,
                approved,
            });
            Ok(())
        }

        /// Moves a document to `to`'s identity, within the receiver's tier limits.
        ///
        /// Errors: `TokenNotExists`, `NotApproved`, `Custom` with [`Error`]'s name
        /// (`Deleted`, `WalletRevoked`, `DocumentTooLarge`, `DocumentLimitReached`).
        #[ink(message)]
        fn transfer(
            &mut self,
            to: AccountId,
            id: Id,
            _data: Vec<u8>,
        ) -> core::result::Result<(), PSP34Error> {
            let token = token_id(&id).ok_or(PSP34Error::TokenNotExists)?;
            self.move_token(to, token).map_err(psp34_error)
        }

        /// Every token ever minted, deleted ones included (they stay as history).
        #[ink(message)]
        fn total_supply(&self) -> u128 {
            u128::from(self.next_id.saturating_sub(1))
        }
    }

    impl PSP34Metadata for DocumentNft {
        /// Attributes as UTF-8 text: `sha256` (hex), `storage_key` (`docs/{hex}`), `size`
        /// (bytes), `class`, `retention`, `expiry` (ms since the epoch; absent if none),
        /// `status` (`active`, `deletion-scheduled`, `deleted`).
        #[ink(message)]
        fn get_attribute(&self, id: Id, key: Vec<u8>) -> Option<Vec<u8>> {
            let document = self.documents.get(token_id(&id)?)?;
            let text: Vec<u8> = match key.as_slice() {
                b"sha256" => hex(&document.sha256),
                b"storage_key" => [b"docs/".to_vec(), hex(&document.sha256)].concat(),
                b"size" => decimal(document.size),
                b"class" => class_name(document.class).to_vec(),
                b"retention" => retention_name(document.retention).to_vec(),
                b"expiry" => decimal(document.expiry()?),
                b"status" => match document.status() {
                    DocumentStatus::Active => b"active".to_vec(),
                    DocumentStatus::DeletionScheduled { .. } => b"deletion-scheduled".to_vec(),
                    DocumentStatus::Deleted { .. } => b"deleted".to_vec(),
                },
                _ => return None,
            };
            Some(text)
        }
    }

    fn token_id(id: &Id) -> Option<TokenId> {
        match id {
            Id::U64(n) => Some(*n),
            _ => None,
        }
    }

    fn psp34_error(error: Error) -> PSP34Error {
        match error {
            Error::TokenNotFound => PSP34Error::TokenNotExists,
            Error::NotApproved | Error::NotOwner => PSP34Error::NotApproved,
            other => PSP34Error::Custom(other.name().into()),
        }
    }

    fn step(n: u32, up: bool) -> u32 {
        if up {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        }
    }

    fn hex(bytes: &[u8]) -> Vec<u8> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        bytes
            .iter()
            .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]])
            .collect()
    }

    fn decimal(mut n: u64) -> Vec<u8> {
        let mut digits = Vec::new();
        loop {
            digits.push(b'0'.saturating_add((n % 10) as u8));
            n /= 10;
            if n == 0 {
                break;
            }
        }
        digits.reverse();
        digits
    }

    fn class_name(class: DocumentClass) -> &'static [u8] {
        match class {
            DocumentClass::UsTax => b"us-tax",
            DocumentClass::Financial => b"financial",
            DocumentClass::Kyc => b"kyc",
            DocumentClass::Other => b"other",
        }
    }

    fn retention_name(option: RetentionOption) -> &'static [u8] {
        match option {
            RetentionOption::Minimum => b"minimum",
            RetentionOption::Standard => b"standard",
            RetentionOption::Extended => b"extended",
            RetentionOption::RegulatoryUsTax => b"regulatory-us-tax",
            RetentionOption::LongTerm => b"long-term",
            RetentionOption::Indefinite => b"indefinite",
            RetentionOption::Permanent => b"permanent",
        }
    }
}

#[cfg(test)]
mod unit_tests;
