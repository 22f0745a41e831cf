//! # TeamVault
//!
//! ## Overview
//!
//! Team vaults of 3 to 10 admins who decide together what happens to the vault's documents and
//! to the admin set. Every vault lives in this one contract (a vault is a number, not a
//! deployment): DocumentNFT names a vault's documents by that number, governance's emergency
//! decisions name it too, and the keeper watches one address.
//!
//! ## Life cycle of an operation
//!
//! 1. An admin proposes an operation ([`TeamVault::propose`]), which counts as the proposer's
//!    approval. The threshold counts against the admins at proposal time: more than half for
//!    upload, share and delete; at least three quarters for adding or removing an admin; all
//!    of them for an ownership transfer.
//! 2. The other admins approve or reject ([`TeamVault::vote`]). When rejections make the
//!    threshold unreachable the operation is defeated.
//! 3. When the threshold is met the 72-hour timelock starts; until execution any single admin
//!    may veto with a reason stored on-chain ([`TeamVault::veto`]), which cancels the
//!    operation for good. A unanimous ownership transfer has no veto.
//! 4. After the timelock anyone executes it ([`TeamVault::execute`]); the keeper does so for
//!    every ready operation, so no admin has to act again. Uploads, shares and deletions
//!    execute through DocumentNFT.
//!
//! States follow OpenZeppelin's timelock: Voting -> Pending -> Ready -> Executed, Vetoed only
//! from Pending or Ready, Executed, Vetoed and Defeated final; an operation never affects
//! another. They are derived from stored timestamps and counts.
//!
//! ## Liveness
//!
//! Each admin's last signed vault action is recorded (naming at creation or admission counts).
//! With fewer than 3 admins active in the last 90 days the vault is read-only: it refuses new
//! proposals until admins [`TeamVault::check_in`]; votes, vetoes and executions go on.
//! When no admin has acted for 180 days, a 14-of-20 governance decision grants emergency
//! access ([`TeamVault::claim_emergency_access`]).
//!
//! ## Error Handling
//!
//! Every state-changing message returns [`Error`] and changes nothing when it fails.
//!
//! ## Interface
//!
//! - Anyone: `create_vault`, `execute`, `claim_emergency_access`, every query.
//! - Admins: `propose`, `vote`, `veto`, `check_in`.
//! - ValidatorGovernance: `set_code`.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod team_vault {
    use ink::{
        prelude::{string::String, vec::Vec},
        storage::Mapping,
    };
    use sdv_types::{
        document::{Error as DocumentError, TokenId},
        governance::{CodeUpgraded, ContractRole, ProposalId as DecisionId},
        vault::{
            AdminCheckedIn, AdminsChanged, EmergencyAccessGranted, Error, Operation,
            OperationExecuted, OperationId, OperationProposed, OperationQueued, OperationState,
            OperationVetoed, OperationVoted, VaultCreated, VaultOperation, Veto, ACTIVE_QUORUM,
            ACTIVITY_WINDOW, EMERGENCY_INACTIVITY, MAX_ADMINS, MAX_VETO_REASON_LEN, MIN_ADMINS,
        },
        Hash32, VaultId,
    };

    /// The result type of every fallible message.
    pub type Result<T> = core::result::Result<T, Error>;

    /// A vault.
    #[derive(Debug, Clone, PartialEq, Eq, scale::Encode, scale::Decode)]
    #[cfg_attr(
        feature = "std",
        derive(scale_info::TypeInfo, ink::storage::traits::StorageLayout)
    )]
    pub struct Vault {
        /// Its admins: between [`MIN_ADMINS`] and [`MAX_ADMINS`] distinct accounts.
        pub admins: Vec<AccountId>,
        /// When it was created.
        pub created_at: Timestamp,
        /// The account emergency access was granted to, and the governance decision.
        pub emergency_access: Option<(AccountId, DecisionId)>,
    }

    /// The contract's storage.
    #[ink(storage)]
    pub struct TeamVault {
        /// ValidatorGovernance, fixed at instantiation.
        governance: AccountId,
        /// Vaults by number; numbers are `0..next_vault`.
        vaults: Mapping<VaultId, Vault>,
        /// The number the next vault gets.
        next_vault: VaultId,
        /// Operations by id; ids are `0..next_operation`, across all vaults.
        operations: Mapping<OperationId, VaultOperation>,
        /// The id the next operation gets.
        next_operation: OperationId,
        /// Each admin's vote on an operation (approve or reject).
        votes: Mapping<(OperationId, AccountId), bool>,
        /// Each admin's last signed vault action.
        last_active: Mapping<(VaultId, AccountId), Timestamp>,
        /// Governance decisions already used for emergency access.
        used_decisions: Mapping<DecisionId, ()>,
    }

    impl TeamVault {
        /// Creates the contract, governed by `governance`.
        #[ink(constructor)]
        pub fn new(governance: AccountId) -> Self {
            Self {
                governance,
                vaults: Mapping::default(),
                next_vault: 0,
                operations: Mapping::default(),
                next_operation: 0,
                votes: Mapping::default(),
                last_active: Mapping::default(),
                used_decisions: Mapping::default(),
            }
        }

        /// Creates a vault with `admins` and returns its number. Naming counts as each admin's
        /// first activity.
        ///
        /// Any account may create a vault (its creator need not be an admin).
        ///
        /// Errors: [`Error::AdminCountOutOfRange`] outside 3..=10,
        /// [`Error::DuplicateAdmin`], [`Error::WalletRevoked`] for an admin recovery revoked.
        ///
        /// Emits [`VaultCreated`].
        #[ink(message)]
        pub fn create_vault(&mut self, admins: Vec<AccountId>) -> Result<VaultId> {
            self.ensure_admin_set(&admins)?;
            let vault = self.next_vault;
            self.next_vault = vault.checked_add(1).ok_or(Error::InvalidOperation)?;
            let now = self.env().block_timestamp();
            for admin in &admins {
                self.last_active.insert((vault, *admin), &now);
            }
            self.vaults.insert(
                vault,
                &Vault {
                    admins: admins.clone(),
                    created_at: now,
                    emergency_access: None,
                },
            );
            self.env().emit_event(VaultCreated {
                vault,
                creator: self.env().caller(),
                admins,
            });
            Ok(vault)
        }

        /// Proposes an operation and approves it; returns its id. When the proposer's approval
        /// meets the threshold on its own, the timelock starts at once.
        ///
        /// The caller must be an admin of the vault, which must not be read-only.
        ///
        /// Errors: [`Error::VaultNotFound`], [`Error::NotAdmin`], [`Error::ReadOnly`],
        /// [`Error::InvalidOperation`] (empty wrapped key; adding an admin to a full vault,
        /// removing one from a vault of 3, or a non-admin), [`Error::AlreadyAdmin`],
        /// [`Error::AdminCountOutOfRange`], [`Error::DuplicateAdmin`],
        /// [`Error::WalletRevoked`].
        ///
        /// Emits [`OperationProposed`], and [`OperationQueued`] when the threshold is met.
        #[ink(message)]
        pub fn propose(&mut self, vault: VaultId, operation: Operation) -> Result<OperationId> {
            let caller = self.env().caller();
            let state = self.vault(vault)?;
            Self::ensure_admin(&state, caller)?;
            let now = self.env().block_timestamp();
            // The proposal is itself the proposer's activity.
            let others = state
                .admins
                .iter()
                .filter(|a| **a != caller)
                .copied()
                .collect::<Vec<_>>();
            if self.count_active(vault, &others, now).saturating_add(1) < ACTIVE_QUORUM {
                return Err(Error::ReadOnly);
            }
            self.ensure_valid(&state, &operation)?;
            self.touch(vault, caller, now);

            let required = operation.threshold().required(state.admins.len());
            let id = self.next_operation;
            self.next_operation = id.checked_add(1).ok_or(Error::InvalidOperation)?;
            let required = u8::try_from(required).map_err(|_| Error::InvalidOperation)?;
            let mut op = VaultOperation {
                vault,
                operation: operation.clone(),
                proposer: caller,
                admins: state.admins,
                required,
                approvals: 1,
                rejections: 0,
                proposed_at: now,
                queued_at: None,
                veto: None,
                executed_at: None,
            };
            self.votes.insert((id, caller), &true);
            self.env().emit_event(OperationProposed {
                id,
                vault,
                proposer: caller,
                operation,
                required,
            });
            self.queue_if_met(id, &mut op, now);
            self.operations.insert(id, &op);
            Ok(id)
        }

        /// Approves or rejects an operation in its voting phase.
        ///
        /// The caller must have been an admin when it was proposed and still be one.
        ///
        /// Errors: [`Error::OperationNotFound`], [`Error::NotAdmin`],
        /// [`Error::VotingClosed`] (queued, defeated, vetoed or executed),
        /// [`Error::AlreadyVoted`].
        ///
        /// Emits [`OperationVoted`], and [`OperationQueued`] when the threshold is met.
        #[ink(message)]
        pub fn vote(&mut self, id: OperationId, approve: bool) -> Result<()> {
            let caller = self.env().caller();
            let mut op = self.operation_of(id)?;
            let state = self.vault(op.vault)?;
            if !op.admins.contains(&caller) {
                return Err(Error::NotAdmin);
            }
            Self::ensure_admin(&state, caller)?;
            let now = self.env().block_timestamp();
            if op.state(now) != OperationState::Voting {
                return Err(Error::VotingClosed);
            }
            if self.votes.contains((id, caller)) {
                return Err(Error::AlreadyVoted);
            }

            self.touch(op.vault, caller, now);
            self.votes.insert((id, caller), &approve);
            if approve {
                op.approvals = op.approvals.saturating_add(1);
            } else {
                op.rejections = op.rejections.saturating_add(1);
            }
            self.env().emit_event(OperationVoted {
                id,
                admin: caller,
                approve,
                approvals: op.approvals,
                rejections: op.rejections,
            });
            self.queue_if_met(id, &mut op, now);
            self.operations.insert(id, &op);
            Ok(())
        }

        /// Vetoes an operation in its timelock (or ready and not yet executed), with a reason
        /// stored on-chain. The operation is cancelled for good; a resubmission needs fresh
        /// votes.
        ///
        /// The caller must be an admin of the vault.
        ///
        /// Errors: [`Error::OperationNotFound`], [`Error::NotAdmin`],
        /// [`Error::VetoNotAllowed`] for an ownership transfer, [`Error::NotVetoable`]
        /// outside Pending and Ready, [`Error::InvalidReason`].
        ///
        /// Emits [`OperationVetoed`].
        #[ink(message)]
        pub fn veto(&mut self, id: OperationId, reason: String) -> Result<()> {
            let caller = self.env().caller();
            let mut op = self.operation_of(id)?;
            let state = self.vault(op.vault)?;
            Self::ensure_admin(&state, caller)?;
            if !op.operation.vetoable() {
                return Err(Error::VetoNotAllowed);
            }
            let now = self.env().block_timestamp();
            if !matches!(
                op.state(now),
                OperationState::Pending | OperationState::Ready
            ) {
                return Err(Error::NotVetoable);
            }
            if reason.is_empty() || reason.len() > MAX_VETO_REASON_LEN {
                return Err(Error::InvalidReason);
            }

            self.touch(op.vault, caller, now);
            op.veto = Some(Veto {
                by: caller,
                reason: reason.clone(),
                at: now,
            });
            self.operations.insert(id, &op);
            self.env().emit_event(OperationVetoed {
                id,
                vault: op.vault,
                admin: caller,
                reason,
            });
            Ok(())
        }

        /// Executes a ready operation. Anyone may call it (the keeper does for every ready
        /// operation); an admin caller's activity is recorded.
        ///
        /// Errors: [`Error::OperationNotFound`], [`Error::NotReady`],
        /// [`Error::DocumentRefused`] when DocumentNFT refuses (the operation stays ready),
        /// [`Error::InvalidOperation`], [`Error::AdminCountOutOfRange`],
        /// [`Error::AlreadyAdmin`] when the admin set changed since the proposal,
        /// [`Error::NotConfigured`], [`Error::ContractUnavailable`].
        ///
        /// Emits [`OperationExecuted`], and [`AdminsChanged`] for admin operations.
        #[ink(message)]
        pub fn execute(&mut self, id: OperationId) -> Result<()> {
            let caller = self.env().caller();
            let mut op = self.operation_of(id)?;
            let now = self.env().block_timestamp();
            if op.state(now) != OperationState::Ready {
                return Err(Error::NotReady);
            }
            let mut state = self.vault(op.vault)?;
            let old_admins = state.admins.clone();

            let token = match &op.operation {
                Operation::Upload {
                    sha256,
                    class,
                    retention,
                    arweave,
                } => Some(self.document_call::<_, TokenId>(
                    "mint_staged",
                    (op.vault, *sha256, *class, *retention, *arweave),
                )?),
                Operation::Share {
                    token,
                    grantee,
                    wrapped_key,
                } => {
                    self.document_call::<_, ()>("share", (*token, *grantee, wrapped_key.clone()))?;
                    None
                }
                Operation::Delete { token } => {
                    self.document_call::<_, ()>("request_deletion", *token)?;
                    None
                }
                admin_change => {
                    self.ensure_valid(&state, admin_change)?;
                    state.admins = Self::changed_admins(&state.admins, admin_change);
                    None
                }
            };

            op.executed_at = Some(now);
            self.operations.insert(id, &op);
            if state.admins != old_admins {
                for admin in &state.admins {
                    if !old_admins.contains(admin) {
                        self.touch(op.vault, *admin, now);
                    }
                }
                self.vaults.insert(op.vault, &state);
            }
            if state.admins.contains(&caller) {
                self.touch(op.vault, caller, now);
            }

            self.env().emit_event(OperationExecuted {
                id,
                vault: op.vault,
                executor: caller,
                token,
            });
            if state.admins != old_admins {
                self.env().emit_event(AdminsChanged {
                    vault: op.vault,
                    old: old_admins,
                    new: state.admins,
                });
            }
            Ok(())
        }

        /// Records the caller's activity; allowed in read-only mode, so that admins can bring
        /// a vault back.
        ///
        /// Errors: [`Error::VaultNotFound`], [`Error::NotAdmin`].
        ///
        /// Emits [`AdminCheckedIn`].
        #[ink(message)]
        pub fn check_in(&mut self, vault: VaultId) -> Result<()> {
            let caller = self.env().caller();
            let state = self.vault(vault)?;
            Self::ensure_admin(&state, caller)?;
            self.touch(vault, caller, self.env().block_timestamp());
            self.env().emit_event(AdminCheckedIn {
                vault,
                admin: caller,
            });
            Ok(())
        }

        /// Carries out governance's 14-of-20 emergency access decision `decision` for `vault`,
        /// if no admin has acted for 180 days. Anyone may call it.
        ///
        /// Errors: [`Error::VaultNotFound`], [`Error::NoEmergencyDecision`] unless the decision
        /// is an executed emergency access for this vault, [`Error::AlreadyGranted`],
        /// [`Error::AdminsActive`], [`Error::ContractUnavailable`].
        ///
        /// Emits [`EmergencyAccessGranted`].
        #[ink(message)]
        pub fn claim_emergency_access(
            &mut self,
            vault: VaultId,
            decision: DecisionId,
        ) -> Result<()> {
            let mut state = self.vault(vault)?;
            if self.used_decisions.contains(decision) {
                return Err(Error::AlreadyGranted);
            }
            let granted: Option<(VaultId, AccountId)> =
                self.governance_call("emergency_vault_access", decision)?;
            let grantee = match granted {
                Some((v, grantee)) if v == vault => grantee,
                _ => return Err(Error::NoEmergencyDecision),
            };
            let now = self.env().block_timestamp();
            let cutoff = now.saturating_sub(EMERGENCY_INACTIVITY);
            if state
                .admins
                .iter()
                .any(|a| self.last_active.get((vault, *a)).unwrap_or(0) > cutoff)
            {
                return Err(Error::AdminsActive);
            }

            state.emergency_access = Some((grantee, decision));
            self.vaults.insert(vault, &state);
            self.used_decisions.insert(decision, &());
            self.env().emit_event(EmergencyAccessGranted {
                vault,
                grantee,
                decision,
            });
            Ok(())
        }

        /// Replaces this contract's code, keeping its storage.
        ///
        /// The caller must be ValidatorGovernance (a 14-of-20 `UpgradeCode` decision).
        ///
        /// Errors: [`Error::NotGovernance`], [`Error::UpgradeFailed`].
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
                contract: ContractRole::TeamVault,
                code_hash,
            });
            Ok(())
        }

        /// A vault.
        #[ink(message)]
        pub fn vault_info(&self, vault: VaultId) -> Option<Vault> {
            self.vaults.get(vault)
        }

        /// Whether `account` is an admin of `vault`.
        #[ink(message)]
        pub fn is_admin(&self, vault: VaultId, account: AccountId) -> bool {
            self.vaults
                .get(vault)
                .is_some_and(|v| v.admins.contains(&account))
        }

        /// An operation.
        #[ink(message)]
        pub fn operation(&self, id: OperationId) -> Option<VaultOperation> {
            self.operations.get(id)
        }

        /// An operation's state now.
        #[ink(message)]
        pub fn operation_state(&self, id: OperationId) -> Option<OperationState> {
            Some(self.operations.get(id)?.state(self.env().block_timestamp()))
        }

        /// How many operations exist (ids are `0..operation_count`).
        #[ink(message)]
        pub fn operation_count(&self) -> OperationId {
            self.next_operation
        }

        /// An admin's vote on an operation.
        #[ink(message)]
        pub fn vote_of(&self, id: OperationId, admin: AccountId) -> Option<bool> {
            self.votes.get((id, admin))
        }

        /// An admin's last signed vault action.
        #[ink(message)]
        pub fn last_active(&self, vault: VaultId, admin: AccountId) -> Option<Timestamp> {
            self.last_active.get((vault, admin))
        }

        /// Whether the vault is read-only now (fewer than 3 admins active in 90 days).
        #[ink(message)]
        pub fn is_read_only(&self, vault: VaultId) -> Option<bool> {
            let state = self.vaults.get(vault)?;
            let now = self.env().block_timestamp();
            Some(self.count_active(vault, &state.admins, now) < ACTIVE_QUORUM)
        }

        /// The governance contract.
        #[ink(message)]
        pub fn governance(&self) -> AccountId {
            self.governance
        }

        fn vault(&self, vault: VaultId) -> Result<Vault> {
            self.vaults.get(vault).ok_or(Error::VaultNotFound)
        }

        fn operation_of(&self, id: OperationId) -> Result<VaultOperation> {
            self.operations.get(id).ok_or(Error::OperationNotFound)
        }

        fn ensure_admin(vault: &Vault, account: AccountId) -> Result<()> {
            if !vault.admins.contains(&account) {
                return Err(Error::NotAdmin);
            }
            Ok(())
        }

        /// 3..=10 distinct accounts, none revoked by recovery.
        fn ensure_admin_set(&self, admins: &[AccountId]) -> Result<()> {
            if !(MIN_ADMINS..=MAX_ADMINS).contains(&admins.len()) {
                return Err(Error::AdminCountOutOfRange);
            }
            for (i, admin) in admins.iter().enumerate() {
                if admins[..i].contains(admin) {
                    return Err(Error::DuplicateAdmin);
                }
            }
            if self.document_query::<_, bool>("any_revoked", admins.to_vec())? {
                return Err(Error::WalletRevoked);
            }
            Ok(())
        }

        /// Whether `operation` can apply to the vault as it is now.
        fn ensure_valid(&self, vault: &Vault, operation: &Operation) -> Result<()> {
            match operation {
                Operation::Upload { .. } | Operation::Delete { .. } => Ok(()),
                Operation::Share { wrapped_key, .. } => {
                    if wrapped_key.is_empty() {
                        return Err(Error::InvalidOperation);
                    }
                    Ok(())
                }
                Operation::AddAdmin(account) => {
                    if vault.admins.contains(account) {
                        return Err(Error::AlreadyAdmin);
                    }
                    if vault.admins.len() >= MAX_ADMINS {
                        return Err(Error::AdminCountOutOfRange);
                    }
                    if self
                        .document_query::<_, bool>("any_revoked", ink::prelude::vec![*account])?
                    {
                        return Err(Error::WalletRevoked);
                    }
                    Ok(())
                }
                Operation::RemoveAdmin(account) => {
                    if !vault.admins.contains(account) {
                        return Err(Error::InvalidOperation);
                    }
                    if vault.admins.len() <= MIN_ADMINS {
                        return Err(Error::AdminCountOutOfRange);
                    }
                    Ok(())
                }
                Operation::TransferOwnership(admins) => self.ensure_admin_set(admins),
            }
        }

        fn changed_admins(admins: &[AccountId], operation: &Operation) -> Vec<AccountId> {
            match operation {
                Operation::AddAdmin(account) => {
                    let mut new = admins.to_vec();
                    new.push(*account);
                    new
                }
                Operation::RemoveAdmin(account) => {
                    admins.iter().copied().filter(|a| a != account).collect()
                }
                Operation::TransferOwnership(new) => new.clone(),
                _ => admins.to_vec(),
            }
        }

        fn queue_if_met(&self, id: OperationId, op: &mut VaultOperation, now: Timestamp) {
            if op.queued_at.is_none() && op.approvals >= op.required {
                op.queued_at = Some(now);
                self.env().emit_event(OperationQueued {
                    id,
                    vault: op.vault,
                    eta: op.eta().unwrap_or(now),
                });
            }
        }

        fn touch(&mut self, vault: VaultId, admin: AccountId, now: Timestamp) {
            self.last_active.insert((vault, admin), &now);
        }

        /// How many of `admins` signed a vault action in the last 90 days.
        fn count_active(&self, vault: VaultId, admins: &[AccountId], now: Timestamp) -> usize {
            let cutoff = now.saturating_sub(ACTIVITY_WINDOW);
            admins
                .iter()
                .filter(|a| self.last_active.get((vault, **a)).unwrap_or(0) >= cutoff)
                .count()
        }

        /// Calls a DocumentNFT message that returns `Result<R, DocumentError>`.
        fn document_call<A: scale::Encode, R: scale::Decode>(
            &self,
            message: &'static str,
            args: A,
        ) -> Result<R> {
            let outcome: core::result::Result<R, DocumentError> =
                self.document_query(message, args)?;
            outcome.map_err(|_| Error::DocumentRefused)
        }

        fn document_query<A: scale::Encode, R: scale::Decode>(
            &self,
            message: &'static str,
            args: A,
        ) -> Result<R> {
            let address: Option<AccountId> =
                self.governance_call("contract_address", ContractRole::DocumentNft)?;
            self.call(address.ok_or(Error::NotConfigured)?, message, args)
        }

        fn governance_call<A: scale::Encode, R: scale::Decode>(
            &self,
            message: &'static str,
            args: A,
        ) -> Result<R> {
            self.call(self.governance, message, args)
        }

        /// Calls another contract's message by label; `args` is the tuple of its arguments.
        #[cfg(not(test))]
        fn call<A: scale::Encode, R: scale::Decode>(
            &self,
            target: AccountId,
            message: &'static str,
            args: A,
        ) -> Result<R> {
            sdv_types::call::invoke(target, selector(message), args)
                .ok_or(Error::ContractUnavailable)
        }

        /// Off-chain, the other contracts are the unit tests' in-memory stand-ins (ink!'s
        /// off-chain environment cannot call contracts); the e2e tests call the real ones.
        #[cfg(test)]
        fn call<A: scale::Encode, R: scale::Decode>(
            &self,
            target: AccountId,
            message: &'static str,
            args: A,
        ) -> Result<R> {
            let answer = crate::unit_tests::contract_answer(target, message, &args.encode());
            R::decode(&mut &answer[..]).map_err(|_| Error::ContractUnavailable)
        }
    }

    /// The selector of another contract's message by its label.
    #[cfg(not(test))]
    fn selector(message: &str) -> [u8; 4] {
        match message {
            "contract_address" => ink::selector_bytes!("contract_address"),
            "emergency_vault_access" => ink::selector_bytes!("emergency_vault_access"),
            "any_revoked" => ink::selector_bytes!("any_revoked"),
            "mint_staged" => ink::selector_bytes!("mint_staged"),
            "share" => ink::selector_bytes!("share"),
            _ => ink::selector_bytes!("request_deletion"),
        }
    }
}

#[cfg(test)]
mod unit_tests;
