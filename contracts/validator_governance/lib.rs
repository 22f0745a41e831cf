//! # ValidatorGovernance
//!
//! ## Overview
//!
//! The 20 validators whose votes every other SDV contract defers to. Soft parameters (tier
//! limits, replication policy, provider selection), service roles, the other contracts'
//! addresses and fleet release approvals need 7 of 20 votes; emergency recovery of a user's
//! documents, emergency access to a team vault, validator set changes and code upgrades need
//! 14 of 20. The thresholds, the 20, the 180-day emergency wait and the 30-day contest window
//! are constants: no message changes them.
//!
//! ## Life cycle of a proposal
//!
//! 1. A validator files it with [`ValidatorGovernance::propose`]; a release proposer (the
//!    fleet HQ) may file release approvals; anyone may petition for an emergency recovery or
//!    vault access.
//! 2. Validators vote yes or no, once per round ([`ValidatorGovernance::vote`]).
//! 3. An emergency recovery petition can be contested by anyone for 30 days after filing
//!    ([`ValidatorGovernance::contest`]); a contest starts a new voting round, so the petition
//!    executes only with votes cast after the contest.
//! 4. Once the threshold is met and its earliest execution time has come (180 days after
//!    filing for an emergency recovery, at once otherwise), anyone executes it
//!    ([`ValidatorGovernance::execute`]) within the 14-day voting period.
//!
//! The state (Active, Queued, Ready, Defeated, Expired, Executed) is derived from the stored
//! timestamps and vote counts, never stored.
//!
//! ## Emergency decisions are records, not calls
//!
//! Executing an emergency recovery or vault access records the decision (the executed
//! proposal) and emits an event; GuardianRecovery and TeamVault read it and carry it out,
//! checking there what only they know (guardians or admins inactive for 180 days). Governance
//! so depends on no other contract's interface, and an upgrade of one never breaks the other.
//! Code upgrades of the other contracts are calls: governance calls their `set_code`.
//!
//! ## Error Handling
//!
//! Every state-changing message returns [`Error`] and changes nothing when it fails.
//!
//! ## Interface
//!
//! - Deployer, once: `wire_contracts`.
//! - Validators: `propose`, `vote`. Release proposers: `propose` (releases only).
//! - Anyone: `propose` (emergency petitions), `contest`, `execute`, and every query.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod validator_governance {
    use ink::{
        prelude::{string::String, vec::Vec},
        storage::Mapping,
    };
    use sdv_types::{
        governance::{
            CodeUpgraded, ContractAddressChanged, ContractRole, ContractsWired,
            EmergencyRecoveryApproved, EmergencyVaultAccessApproved, Error, PetitionContested,
            Proposal, ProposalCreated, ProposalExecuted, ProposalId, ProposalKind, ProposalState,
            ProviderSelection, ProvidersChanged, Release, ReleaseApproved, ReleaseProposerChanged,
            ReplicationPolicy, ReplicationPolicyChanged, Role, RoleAccounts, RoleChanged, Tier,
            TierParams, TierParamsChanged, Track, ValidatorReplaced, ValidatorSetInitialized,
            VoteCast, MAX_IMAGE_LEN, MAX_REASON_LEN, MAX_RELEASE_PROPOSERS, VALIDATOR_COUNT,
        },
        Hash32, VaultId,
    };

    /// The code version this build reports; an upgrade test builds version 2.
    #[cfg(not(feature = "next-version"))]
    pub const CODE_VERSION: u32 = 1;
    /// The code version this build reports; an upgrade test builds version 2.
    #[cfg(feature = "next-version")]
    pub const CODE_VERSION: u32 = 2;

    /// An approved release: image, digest, track.
    type ApprovedKey = (String, Hash32, Track);

    /// The result type of every fallible message.
    pub type Result<T> = core::result::Result<T, Error>;

    /// The contract's storage.
    #[ink(storage)]
    pub struct ValidatorGovernance {
        /// Exactly [`VALIDATOR_COUNT`] distinct accounts (constructor and `ReplaceValidator`
        /// keep this invariant).
        validators: Vec<AccountId>,
        /// The deployer until it wires the contracts, then `None`.
        deployer: Option<AccountId>,
        /// Proposals by id; ids are `0..next_id`.
        proposals: Mapping<ProposalId, Proposal>,
        /// The id the next proposal gets.
        next_id: ProposalId,
        /// The round (plus one) in which a validator last voted on a proposal.
        votes: Mapping<(ProposalId, AccountId), u8>,
        /// Limits per tier, indexed by [`Tier::index`].
        tier_params: [TierParams; 4],
        /// Replication policy per tier, indexed by [`Tier::index`].
        replication: [ReplicationPolicy; 4],
        /// Which providers are in service.
        providers: ProviderSelection,
        /// Service roles.
        storage_attestor: Option<AccountId>,
        retention_executor: Option<AccountId>,
        tier_authority: Option<AccountId>,
        /// At most [`MAX_RELEASE_PROPOSERS`] accounts.
        release_proposers: Vec<AccountId>,
        /// The other contracts.
        document_nft: Option<AccountId>,
        team_vault: Option<AccountId>,
        guardian_recovery: Option<AccountId>,
        /// The last approved release per image and track.
        latest_release: Mapping<(String, Track), Release>,
        /// Release number of every approved (image, digest, track).
        approved: Mapping<ApprovedKey, u64>,
    }

    impl ValidatorGovernance {
        /// Fixes the validator set and appoints the service roles, with the spec's default
        /// tier limits and replication policy and every provider in service.
        ///
        /// Errors: [`Error::WrongValidatorCount`] unless exactly 20 accounts are given,
        /// [`Error::DuplicateValidator`] if one appears twice,
        /// [`Error::TooManyReleaseProposers`].
        ///
        /// Emits [`ValidatorSetInitialized`], then [`RoleChanged`] for each appointed role and
        /// [`ReleaseProposerChanged`] for each release proposer.
        #[ink(constructor)]
        pub fn new(validators: Vec<AccountId>, roles: RoleAccounts) -> Result<Self> {
            if validators.len() != VALIDATOR_COUNT {
                return Err(Error::WrongValidatorCount);
            }
            for (i, v) in validators.iter().enumerate() {
                if validators[..i].contains(v) {
                    return Err(Error::DuplicateValidator);
                }
            }
            if roles.release_proposers.len() > MAX_RELEASE_PROPOSERS {
                return Err(Error::TooManyReleaseProposers);
            }
            Self::env().emit_event(ValidatorSetInitialized {
                validators: validators.clone(),
            });
            // The starting roles as changes from nothing, so that an indexer knows them.
            let appointed = [
                (Role::StorageAttestor, roles.storage_attestor),
                (Role::RetentionExecutor, roles.retention_executor),
                (Role::TierAuthority, roles.tier_authority),
            ];
            for (role, account) in appointed {
                if account.is_some() {
                    Self::env().emit_event(RoleChanged {
                        role,
                        old: None,
                        new: account,
                    });
                }
            }
            for account in &roles.release_proposers {
                Self::env().emit_event(ReleaseProposerChanged {
                    account: *account,
                    allowed: true,
                });
            }
            Ok(Self {
                validators,
                deployer: Some(Self::env().caller()),
                proposals: Mapping::default(),
                next_id: 0,
                votes: Mapping::default(),
                tier_params: Tier::ALL.map(TierParams::spec_default),
                replication: Tier::ALL.map(ReplicationPolicy::spec_default),
                providers: ProviderSelection {
                    arweave: true,
                    ipfs: true,
                },
                storage_attestor: roles.storage_attestor,
                retention_executor: roles.retention_executor,
                tier_authority: roles.tier_authority,
                release_proposers: roles.release_proposers,
                document_nft: None,
                team_vault: None,
                guardian_recovery: None,
                latest_release: Mapping::default(),
                approved: Mapping::default(),
            })
        }

        /// Records the other contracts' addresses, once. `None` leaves an address unset (a
        /// deployment without that contract); a `SetContract` proposal sets it later.
        ///
        /// The caller must be the deployer; afterwards only proposals change addresses.
        ///
        /// Errors: [`Error::NotDeployer`], [`Error::AlreadyWired`].
        ///
        /// Emits [`ContractsWired`].
        #[ink(message)]
        pub fn wire_contracts(
            &mut self,
            document_nft: Option<AccountId>,
            team_vault: Option<AccountId>,
            guardian_recovery: Option<AccountId>,
        ) -> Result<()> {
            match self.deployer {
                None => return Err(Error::AlreadyWired),
                Some(d) if d != self.env().caller() => return Err(Error::NotDeployer),
                Some(_) => {}
            }
            self.deployer = None;
            self.document_nft = document_nft;
            self.team_vault = team_vault;
            self.guardian_recovery = guardian_recovery;
            self.env().emit_event(ContractsWired {
                document_nft,
                team_vault,
                guardian_recovery,
            });
            Ok(())
        }

        /// Files a proposal and returns its id.
        ///
        /// Validators may file any kind; release proposers only `ApproveRelease`; anyone
        /// `EmergencyRecovery` and `EmergencyVaultAccess` petitions.
        ///
        /// Errors: [`Error::NotAllowedToPropose`]; [`Error::InvalidProposal`] for zero tier
        /// limits, an address change of governance itself, an empty or over-long image or tag,
        /// a recovery to the same account, a replacement whose old account is not a validator
        /// or whose new one is; [`Error::TooManyReleaseProposers`]; [`Error::ReleaseNotNewer`];
        /// [`Error::PromotionOrderViolated`].
        ///
        /// Emits [`ProposalCreated`].
        #[ink(message)]
        pub fn propose(&mut self, kind: ProposalKind) -> Result<ProposalId> {
            let caller = self.env().caller();
            self.ensure_may_propose(caller, &kind)?;
            self.ensure_valid(&kind)?;
            let id = self.next_id;
            let proposal = Proposal {
                kind,
                proposer: caller,
                created_at: self.env().block_timestamp(),
                yes: 0,
                no: 0,
                round: 0,
                contested_at: None,
                executed_at: None,
            };
            self.next_id = id.checked_add(1).ok_or(Error::InvalidProposal)?;
            self.proposals.insert(id, &proposal);
            self.env().emit_event(ProposalCreated {
                id,
                proposer: caller,
                threshold: proposal.kind.threshold(),
                eta: proposal.eta(),
                deadline: proposal.deadline(),
                kind: proposal.kind,
            });
            Ok(id)
        }

        /// Votes yes or no on a proposal, once per validator and round.
        ///
        /// The caller must be a validator.
        ///
        /// Errors: [`Error::NotValidator`], [`Error::ProposalNotFound`],
        /// [`Error::VotingClosed`] (executed, expired or defeated), [`Error::AlreadyVoted`].
        ///
        /// Emits [`VoteCast`].
        #[ink(message)]
        pub fn vote(&mut self, id: ProposalId, approve: bool) -> Result<()> {
            let caller = self.env().caller();
            self.ensure_validator(caller)?;
            let mut proposal = self.proposals.get(id).ok_or(Error::ProposalNotFound)?;
            match proposal.state(self.env().block_timestamp()) {
                ProposalState::Active | ProposalState::Queued | ProposalState::Ready => {}
                _ => return Err(Error::VotingClosed),
            }
            let marker = proposal.round.saturating_add(1);
            if self.votes.get((id, caller)) == Some(marker) {
                return Err(Error::AlreadyVoted);
            }
            if approve {
                proposal.yes = proposal.yes.saturating_add(1);
            } else {
                proposal.no = proposal.no.saturating_add(1);
            }
            self.votes.insert((id, caller), &marker);
            self.proposals.insert(id, &proposal);
            self.env().emit_event(VoteCast {
                id,
                validator: caller,
                approve,
                yes: proposal.yes,
                no: proposal.no,
                round: proposal.round,
            });
            Ok(())
        }

        /// Contests an emergency recovery petition within 30 days of its filing; its votes
        /// start over in a new round.
        ///
        /// Anyone may call this.
        ///
        /// Errors: [`Error::ProposalNotFound`], [`Error::NotContestable`],
        /// [`Error::InvalidReason`], [`Error::ContestWindowClosed`], [`Error::VotingClosed`].
        ///
        /// Emits [`PetitionContested`].
        #[ink(message)]
        pub fn contest(&mut self, id: ProposalId, reason: String) -> Result<()> {
            let caller = self.env().caller();
            let now = self.env().block_timestamp();
            let mut proposal = self.proposals.get(id).ok_or(Error::ProposalNotFound)?;
            let ends = proposal.contest_ends().ok_or(Error::NotContestable)?;
            if reason.is_empty() || reason.len() > MAX_REASON_LEN {
                return Err(Error::InvalidReason);
            }
            if now > ends {
                return Err(Error::ContestWindowClosed);
            }
            if proposal.executed_at.is_some() {
                return Err(Error::VotingClosed);
            }
            proposal.round = proposal.round.checked_add(1).ok_or(Error::VotingClosed)?;
            proposal.yes = 0;
            proposal.no = 0;
            proposal.contested_at = Some(now);
            self.proposals.insert(id, &proposal);
            self.env().emit_event(PetitionContested {
                id,
                contester: caller,
                reason,
                round: proposal.round,
            });
            Ok(())
        }

        /// Executes a proposal whose threshold is met and whose earliest execution time has
        /// come, within its voting period.
        ///
        /// Anyone may call this.
        ///
        /// Errors: [`Error::ProposalNotFound`], [`Error::NotReady`], [`Error::VotingClosed`]
        /// (executed or expired), and the checks of `propose` that the state may have
        /// invalidated since ([`Error::ReleaseNotNewer`], [`Error::InvalidProposal`],
        /// [`Error::TooManyReleaseProposers`]), [`Error::ContractNotWired`],
        /// [`Error::UpgradeFailed`].
        ///
        /// Emits [`ProposalExecuted`] and the event of its effect.
        #[ink(message)]
        pub fn execute(&mut self, id: ProposalId) -> Result<()> {
            let now = self.env().block_timestamp();
            let mut proposal = self.proposals.get(id).ok_or(Error::ProposalNotFound)?;
            match proposal.state(now) {
                ProposalState::Ready => {}
                ProposalState::Executed | ProposalState::Expired => {
                    return Err(Error::VotingClosed)
                }
                _ => return Err(Error::NotReady),
            }
            self.ensure_valid(&proposal.kind)?;
            proposal.executed_at = Some(now);
            self.proposals.insert(id, &proposal);
            self.apply(id, proposal.kind)?;
            self.env().emit_event(ProposalExecuted {
                id,
                executor: self.env().caller(),
            });
            Ok(())
        }

        /// The validator set.
        #[ink(message)]
        pub fn validators(&self) -> Vec<AccountId> {
            self.validators.clone()
        }

        /// Whether `account` is a validator.
        #[ink(message)]
        pub fn is_validator(&self, account: AccountId) -> bool {
            self.validators.contains(&account)
        }

        /// The block time the contract sees, in milliseconds since the Unix epoch: every
        /// window and timelock of the SDV contracts is measured against it.
        #[ink(message)]
        pub fn now(&self) -> Timestamp {
            self.env().block_timestamp()
        }

        /// The version of the code running (grows with upgrades).
        #[ink(message)]
        pub fn code_version(&self) -> u32 {
            CODE_VERSION
        }

        /// A proposal as stored.
        #[ink(message)]
        pub fn proposal(&self, id: ProposalId) -> Option<Proposal> {
            self.proposals.get(id)
        }

        /// A proposal's state now.
        #[ink(message)]
        pub fn proposal_state(&self, id: ProposalId) -> Option<ProposalState> {
            self.proposals
                .get(id)
                .map(|p| p.state(self.env().block_timestamp()))
        }

        /// The number of proposals filed; ids are `0..proposal_count`.
        #[ink(message)]
        pub fn proposal_count(&self) -> ProposalId {
            self.next_id
        }

        /// Whether `validator` voted on proposal `id` in its current round.
        #[ink(message)]
        pub fn has_voted(&self, id: ProposalId, validator: AccountId) -> bool {
            match self.proposals.get(id) {
                Some(p) => self.votes.get((id, validator)) == Some(p.round.saturating_add(1)),
                None => false,
            }
        }

        /// A tier's limits.
        #[ink(message)]
        pub fn tier_params(&self, tier: Tier) -> TierParams {
            self.tier_params[tier.index()]
        }

        /// A tier's replication policy.
        #[ink(message)]
        pub fn replication_policy(&self, tier: Tier) -> ReplicationPolicy {
            self.replication[tier.index()]
        }

        /// Which providers are in service.
        #[ink(message)]
        pub fn providers(&self) -> ProviderSelection {
            self.providers
        }

        /// A role's account.
        #[ink(message)]
        pub fn role(&self, role: Role) -> Option<AccountId> {
            match role {
                Role::StorageAttestor => self.storage_attestor,
                Role::RetentionExecutor => self.retention_executor,
                Role::TierAuthority => self.tier_authority,
            }
        }

        /// The release proposer accounts.
        #[ink(message)]
        pub fn release_proposers(&self) -> Vec<AccountId> {
            self.release_proposers.clone()
        }

        /// Another contract's address.
        #[ink(message)]
        pub fn contract_address(&self, contract: ContractRole) -> Option<AccountId> {
            match contract {
                ContractRole::Governance => Some(self.env().account_id()),
                ContractRole::DocumentNft => self.document_nft,
                ContractRole::TeamVault => self.team_vault,
                ContractRole::GuardianRecovery => self.guardian_recovery,
            }
        }

        /// Whether `digest` of `image` is approved for `track`.
        #[ink(message)]
        pub fn is_release_approved(&self, image: String, digest: Hash32, track: Track) -> bool {
            self.approved.contains((image, digest, track))
        }

        /// The release number under which `digest` of `image` was approved for `track`.
        #[ink(message)]
        pub fn approved_release_number(
            &self,
            image: String,
            digest: Hash32,
            track: Track,
        ) -> Option<u64> {
            self.approved.get((image, digest, track))
        }

        /// The last release approved for `image` on `track`.
        #[ink(message)]
        pub fn latest_release(&self, image: String, track: Track) -> Option<Release> {
            self.latest_release.get((image, track))
        }

        /// The decision of an executed emergency recovery petition: (account, new owner).
        #[ink(message)]
        pub fn emergency_recovery(&self, id: ProposalId) -> Option<(AccountId, AccountId)> {
            match self.proposals.get(id)? {
                Proposal {
                    kind:
                        ProposalKind::EmergencyRecovery {
                            account, new_owner, ..
                        },
                    executed_at: Some(_),
                    ..
                } => Some((account, new_owner)),
                _ => None,
            }
        }

        /// The decision of an executed emergency vault access: (vault, grantee).
        #[ink(message)]
        pub fn emergency_vault_access(&self, id: ProposalId) -> Option<(VaultId, AccountId)> {
            match self.proposals.get(id)? {
                Proposal {
                    kind: ProposalKind::EmergencyVaultAccess { vault, grantee, .. },
                    executed_at: Some(_),
                    ..
                } => Some((vault, grantee)),
                _ => None,
            }
        }

        fn ensure_validator(&self, account: AccountId) -> Result<()> {
            if self.validators.contains(&account) {
                Ok(())
            } else {
                Err(Error::NotValidator)
            }
        }

        fn ensure_may_propose(&self, caller: AccountId, kind: &ProposalKind) -> Result<()> {
            match kind {
                ProposalKind::EmergencyRecovery { .. }
                | ProposalKind::EmergencyVaultAccess { .. } => Ok(()),
                ProposalKind::ApproveRelease(_) if self.release_proposers.contains(&caller) => {
                    Ok(())
                }
                _ if self.validators.contains(&caller) => Ok(()),
                _ => Err(Error::NotAllowedToPropose),
            }
        }

        /// Checks a proposal against the current state; run at filing and again at execution.
        fn ensure_valid(&self, kind: &ProposalKind) -> Result<()> {
            match kind {
                ProposalKind::SetTierParams { params, .. } => {
                    if params.max_document_bytes == 0
                        || params.parallel_chunks == 0
                        || params.max_documents == Some(0)
                    {
                        return Err(Error::InvalidProposal);
                    }
                }
                ProposalKind::SetReleaseProposer { account, allowed } => {
                    if *allowed
                        && !self.release_proposers.contains(account)
                        && self.release_proposers.len() >= MAX_RELEASE_PROPOSERS
                    {
                        return Err(Error::TooManyReleaseProposers);
                    }
                }
                ProposalKind::SetContract { contract, .. } => {
                    if *contract == ContractRole::Governance {
                        return Err(Error::InvalidProposal);
                    }
                }
                ProposalKind::ApproveRelease(release) => self.ensure_release_valid(release)?,
                ProposalKind::EmergencyRecovery {
                    account, new_owner, ..
                } => {
                    if account == new_owner {
                        return Err(Error::InvalidProposal);
                    }
                }
                ProposalKind::ReplaceValidator { old, new } => {
                    if !self.validators.contains(old) || self.validators.contains(new) {
                        return Err(Error::InvalidProposal);
                    }
                }
                ProposalKind::SetReplicationPolicy { .. }
                | ProposalKind::SetProviders(_)
                | ProposalKind::SetRole { .. }
                | ProposalKind::EmergencyVaultAccess { .. }
                | ProposalKind::UpgradeCode { .. } => {}
            }
            Ok(())
        }

        fn ensure_release_valid(&self, release: &Release) -> Result<()> {
            let bad_text = |s: &str| s.is_empty() || s.len() > MAX_IMAGE_LEN;
            if bad_text(&release.image) || bad_text(&release.tag) {
                return Err(Error::InvalidProposal);
            }
            if let Some(latest) = self
                .latest_release
                .get((release.image.clone(), release.track))
            {
                if release.number <= latest.number {
                    return Err(Error::ReleaseNotNewer);
                }
            }
            if let Some(previous) = release.track.previous() {
                if !self
                    .approved
                    .contains((release.image.clone(), release.digest, previous))
                {
                    return Err(Error::PromotionOrderViolated);
                }
            }
            Ok(())
        }

        fn apply(&mut self, id: ProposalId, kind: ProposalKind) -> Result<()> {
            match kind {
                ProposalKind::SetTierParams { tier, params } => {
                    let old = core::mem::replace(&mut self.tier_params[tier.index()], params);
                    self.env().emit_event(TierParamsChanged {
                        tier,
                        old,
                        new: params,
                    });
                }
                ProposalKind::SetReplicationPolicy { tier, policy } => {
                    let old = core::mem::replace(&mut self.replication[tier.index()], policy);
                    self.env().emit_event(ReplicationPolicyChanged {
                        tier,
                        old,
                        new: policy,
                    });
                }
                ProposalKind::SetProviders(new) => {
                    let old = core::mem::replace(&mut self.providers, new);
                    self.env().emit_event(ProvidersChanged { old, new });
                }
                ProposalKind::SetRole { role, account } => {
                    let slot = match role {
                        Role::StorageAttestor => &mut self.storage_attestor,
                        Role::RetentionExecutor => &mut self.retention_executor,
                        Role::TierAuthority => &mut self.tier_authority,
                    };
                    let old = core::mem::replace(slot, account);
                    self.env().emit_event(RoleChanged {
                        role,
                        old,
                        new: account,
                    });
                }
                ProposalKind::SetReleaseProposer { account, allowed } => {
                    self.release_proposers.retain(|a| *a != account);
                    if allowed {
                        self.release_proposers.push(account);
                    }
                    self.env()
                        .emit_event(ReleaseProposerChanged { account, allowed });
                }
                ProposalKind::SetContract { contract, address } => {
                    let slot = match contract {
                        ContractRole::DocumentNft => &mut self.document_nft,
                        ContractRole::TeamVault => &mut self.team_vault,
                        ContractRole::GuardianRecovery => &mut self.guardian_recovery,
                        ContractRole::Governance => return Err(Error::InvalidProposal),
                    };
                    let old = core::mem::replace(slot, Some(address));
                    self.env().emit_event(ContractAddressChanged {
                        contract,
                        old,
                        new: address,
                    });
                }
                ProposalKind::ApproveRelease(release) => {
                    self.approved.insert(
                        (release.image.clone(), release.digest, release.track),
                        &release.number,
                    );
                    self.latest_release
                        .insert((release.image.clone(), release.track), &release);
                    self.env().emit_event(ReleaseApproved { id, release });
                }
                ProposalKind::EmergencyRecovery {
                    account, new_owner, ..
                } => {
                    self.env().emit_event(EmergencyRecoveryApproved {
                        id,
                        account,
                        new_owner,
                    });
                }
                ProposalKind::EmergencyVaultAccess { vault, grantee, .. } => {
                    self.env()
                        .emit_event(EmergencyVaultAccessApproved { id, vault, grantee });
                }
                ProposalKind::ReplaceValidator { old, new } => {
                    for v in self.validators.iter_mut() {
                        if *v == old {
                            *v = new;
                        }
                    }
                    self.env().emit_event(ValidatorReplaced { old, new });
                }
                ProposalKind::UpgradeCode {
                    contract,
                    code_hash,
                } => {
                    self.upgrade(contract, code_hash)?;
                    self.env().emit_event(CodeUpgraded {
                        contract,
                        code_hash,
                    });
                }
            }
            Ok(())
        }

        fn upgrade(&mut self, contract: ContractRole, code_hash: Hash32) -> Result<()> {
            let target = match contract {
                ContractRole::Governance => {
                    return self
                        .env()
                        .set_code_hash(&Hash::from(code_hash))
                        .map_err(|_| Error::UpgradeFailed);
                }
                ContractRole::DocumentNft => self.document_nft,
                ContractRole::TeamVault => self.team_vault,
                ContractRole::GuardianRecovery => self.guardian_recovery,
            }
            .ok_or(Error::ContractNotWired)?;
            let selector = ink::selector_bytes!("set_code");
            match sdv_types::call::invoke::<_, core::result::Result<(), u8>>(
                target, selector, code_hash,
            ) {
                Some(Ok(())) => Ok(()),
                _ => Err(Error::UpgradeFailed),
            }
        }
    }
}

#[cfg(test)]
mod unit_tests;
