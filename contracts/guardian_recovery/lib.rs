//! # GuardianRecovery
//!
//! ## Overview
//!
//! A user who lost their wallet gets their documents back through 2 of their 3 guardians, with
//! a 24-hour window in which the old wallet can stop a recovery it did not ask for; or, when
//! every guardian has been unreachable for 180 days, through a 14-of-20 decision of
//! ValidatorGovernance. Either way DocumentNFT rebinds the user's owner identity to the new
//! wallet in one constant-cost call: every document moves with its history, and the old
//! wallet is revoked for good.
//!
//! ## Life cycle of a recovery
//!
//! 1. The user names exactly 3 guardians, each a user account, a hardware key or an
//!    institutional custodian ([`GuardianRecovery::set_guardians`]); each must accept
//!    ([`GuardianRecovery::accept_guardianship`]) before the set is active.
//! 2. Any guardian initiates a recovery toward a new wallet, which is its attestation
//!    ([`GuardianRecovery::initiate_recovery`]); a second guardian attests independently
//!    ([`GuardianRecovery::attest`]). Attestations count for 72 hours: unlike FRAME
//!    `pallet-recovery` vouches, an old one cannot complete a new quorum.
//! 3. At 2 valid attestations the 24-hour timelock starts; the old wallet can cancel until it
//!    ends ([`GuardianRecovery::cancel_recovery`]), which voids the attestations for good.
//! 4. After the timelock anyone finalizes ([`GuardianRecovery::finalize_recovery`]).
//!
//! Every guardian action, and an explicit [`GuardianRecovery::heartbeat`], records the
//! guardian's last sign of life, so "unreachable for 180 days" is a fact this contract checks
//! before carrying out governance's emergency decision
//! ([`GuardianRecovery::execute_emergency_recovery`]).
//!
//! States (Collecting, Expired, Timelocked, Ready, Cancelled, Finalized) are derived from
//! stored timestamps. Revocation is recorded once, in DocumentNFT where ownership rebinds;
//! this contract and TeamVault ask it.
//!
//! ## Error Handling
//!
//! Every state-changing message returns [`Error`] and changes nothing when it fails.
//!
//! ## Interface
//!
//! - Users: `set_guardians`; the wallet being recovered: `cancel_recovery`.
//! - Guardians: `accept_guardianship`, `heartbeat`, `initiate_recovery`, `attest`.
//! - Anyone: `finalize_recovery`, `execute_emergency_recovery`, every query.
//! - ValidatorGovernance: `set_code`.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod guardian_recovery {
    use ink::{prelude::vec::Vec, storage::Mapping};
    use sdv_types::{
        document::Error as DocumentError,
        governance::{CodeUpgraded, ContractRole, ProposalId as DecisionId},
        recovery::{
            Error, Guardian, GuardianAccepted, GuardianHeartbeat, GuardianKind, GuardiansSet,
            Recovery, RecoveryAttested, RecoveryCancelled, RecoveryId, RecoveryInitiated,
            RecoveryQuorumReached, RecoveryState, WalletRecovered, GUARDIANS, QUORUM,
            UNREACHABLE_AFTER,
        },
        Hash32,
    };

    /// The result type of every fallible message.
    pub type Result<T> = core::result::Result<T, Error>;

    /// The contract's storage.
    #[ink(storage)]
    pub struct GuardianRecovery {
        /// ValidatorGovernance, fixed at instantiation.
        governance: AccountId,
        /// Each user's guardians: exactly [`GUARDIANS`] distinct accounts, none the user.
        guardians: Mapping<AccountId, Vec<Guardian>>,
        /// Recoveries by id; ids are `0..next_id`.
        recoveries: Mapping<RecoveryId, Recovery>,
        /// The id the next recovery gets.
        next_id: RecoveryId,
        /// Each user's latest recovery (in progress or not).
        latest: Mapping<AccountId, RecoveryId>,
        /// Governance decisions carried out.
        executed_decisions: Mapping<DecisionId, ()>,
    }

    impl GuardianRecovery {
        /// Creates the contract, governed by `governance`.
        #[ink(constructor)]
        pub fn new(governance: AccountId) -> Self {
            Self {
                governance,
                guardians: Mapping::default(),
                recoveries: Mapping::default(),
                next_id: 0,
                latest: Mapping::default(),
                executed_decisions: Mapping::default(),
            }
        }

        /// Names (or replaces) the caller's 3 guardians. A guardian kept from the previous set
        /// with the same kind keeps its acceptance; a new one must accept.
        ///
        /// The caller is the user; no recovery of the user may be in progress.
        ///
        /// Errors: [`Error::WrongGuardianCount`], [`Error::DuplicateGuardian`],
        /// [`Error::SelfGuardian`], [`Error::WalletRevoked`] for a revoked user or guardian,
        /// [`Error::RecoveryInProgress`], [`Error::ContractUnavailable`].
        ///
        /// Emits [`GuardiansSet`].
        #[ink(message)]
        pub fn set_guardians(&mut self, guardians: Vec<(AccountId, GuardianKind)>) -> Result<()> {
            let user = self.env().caller();
            if guardians.len() != GUARDIANS {
                return Err(Error::WrongGuardianCount);
            }
            for (i, (account, _)) in guardians.iter().enumerate() {
                if *account == user {
                    return Err(Error::SelfGuardian);
                }
                if guardians[..i].iter().any(|(a, _)| a == account) {
                    return Err(Error::DuplicateGuardian);
                }
            }
            let now = self.env().block_timestamp();
            self.ensure_no_recovery(user, now)?;
            let mut everyone: Vec<AccountId> = guardians.iter().map(|(a, _)| *a).collect();
            everyone.push(user);
            self.ensure_none_revoked(everyone)?;

            let previous = self.guardians.get(user).unwrap_or_default();
            let set: Vec<Guardian> = guardians
                .into_iter()
                .map(|(account, kind)| {
                    previous
                        .iter()
                        .find(|g| g.account == account && g.kind == kind)
                        .copied()
                        .unwrap_or(Guardian {
                            account,
                            kind,
                            accepted_at: None,
                            last_seen: None,
                        })
                })
                .collect();
            self.guardians.insert(user, &set);
            self.env().emit_event(GuardiansSet {
                user,
                guardians: set,
            });
            Ok(())
        }

        /// The caller accepts being `user`'s guardian.
        ///
        /// Errors: [`Error::NotGuardian`], [`Error::AlreadyAccepted`].
        ///
        /// Emits [`GuardianAccepted`].
        #[ink(message)]
        pub fn accept_guardianship(&mut self, user: AccountId) -> Result<()> {
            let caller = self.env().caller();
            let mut set = self.guardians.get(user).ok_or(Error::NotGuardian)?;
            let now = self.env().block_timestamp();
            let guardian = set
                .iter_mut()
                .find(|g| g.account == caller)
                .ok_or(Error::NotGuardian)?;
            if guardian.accepted_at.is_some() {
                return Err(Error::AlreadyAccepted);
            }
            guardian.accepted_at = Some(now);
            guardian.last_seen = Some(now);
            let active = Self::is_active_set(&set);
            self.guardians.insert(user, &set);
            self.env().emit_event(GuardianAccepted {
                user,
                guardian: caller,
                active,
            });
            Ok(())
        }

        /// The caller, a guardian of `user`, shows it is reachable.
        ///
        /// Errors: [`Error::NotGuardian`].
        ///
        /// Emits [`GuardianHeartbeat`].
        #[ink(message)]
        pub fn heartbeat(&mut self, user: AccountId) -> Result<()> {
            let caller = self.env().caller();
            let mut set = self.guardians.get(user).ok_or(Error::NotGuardian)?;
            Self::seen(&mut set, caller, self.env().block_timestamp())?;
            self.guardians.insert(user, &set);
            self.env().emit_event(GuardianHeartbeat {
                user,
                guardian: caller,
            });
            Ok(())
        }

        /// Starts a recovery of `user` toward `new_wallet`, with the caller's attestation; returns
        /// its id.
        ///
        /// The caller must be a guardian of `user`, whose set must be active, with no recovery
        /// in progress. `new_wallet` must be a fresh wallet: not the user, not a guardian, with
        /// no guardians of its own, not revoked.
        ///
        /// Errors: [`Error::NotGuardian`], [`Error::GuardiansNotActive`],
        /// [`Error::RecoveryInProgress`], [`Error::InvalidNewWallet`], [`Error::WalletRevoked`]
        /// when the user was revoked, [`Error::ContractUnavailable`].
        ///
        /// Emits [`RecoveryInitiated`].
        #[ink(message)]
        pub fn initiate_recovery(
            &mut self,
            user: AccountId,
            new_wallet: AccountId,
        ) -> Result<RecoveryId> {
            let caller = self.env().caller();
            let mut set = self.guardians.get(user).ok_or(Error::NotGuardian)?;
            if !set.iter().any(|g| g.account == caller) {
                return Err(Error::NotGuardian);
            }
            if !Self::is_active_set(&set) {
                return Err(Error::GuardiansNotActive);
            }
            let now = self.env().block_timestamp();
            self.ensure_no_recovery(user, now)?;
            if new_wallet == user
                || set.iter().any(|g| g.account == new_wallet)
                || self.guardians.contains(new_wallet)
            {
                return Err(Error::InvalidNewWallet);
            }
            // One call on the way that succeeds; a second only to tell which one was revoked.
            if self.revoked(ink::prelude::vec![user, new_wallet])? {
                if self.revoked(ink::prelude::vec![user])? {
                    return Err(Error::WalletRevoked);
                }
                return Err(Error::InvalidNewWallet);
            }

            let id = self.next_id;
            self.next_id = id.checked_add(1).ok_or(Error::RecoveryNotFound)?;
            Self::seen(&mut set, caller, now)?;
            self.guardians.insert(user, &set);
            self.recoveries.insert(
                id,
                &Recovery {
                    user,
                    new_wallet,
                    attestations: ink::prelude::vec![(caller, now)],
                    quorum_at: None,
                    cancelled_at: None,
                    finalized_at: None,
                },
            );
            self.latest.insert(user, &id);
            self.env().emit_event(RecoveryInitiated {
                id,
                user,
                guardian: caller,
                new_wallet,
            });
            Ok(id)
        }

        /// Attests a recovery, once per guardian. When this makes 2 valid attestations the
        /// 24-hour timelock starts. (A recovery collects only while an attestation is valid,
        /// so with a quorum of 2 every accepted attestation completes it.)
        ///
        /// The caller must be a guardian of the recovered user.
        ///
        /// Errors: [`Error::RecoveryNotFound`], [`Error::NotGuardian`],
        /// [`Error::NotCollecting`], [`Error::AlreadyAttested`].
        ///
        /// Emits [`RecoveryAttested`], and [`RecoveryQuorumReached`] at quorum.
        #[ink(message)]
        pub fn attest(&mut self, id: RecoveryId) -> Result<()> {
            let caller = self.env().caller();
            let mut recovery = self.recovery_of(id)?;
            let mut set = self
                .guardians
                .get(recovery.user)
                .ok_or(Error::NotGuardian)?;
            if !set.iter().any(|g| g.account == caller) {
                return Err(Error::NotGuardian);
            }
            let now = self.env().block_timestamp();
            if recovery.state(now) != RecoveryState::Collecting {
                return Err(Error::NotCollecting);
            }
            if recovery.attestations.iter().any(|(g, _)| *g == caller) {
                return Err(Error::AlreadyAttested);
            }

            Self::seen(&mut set, caller, now)?;
            self.guardians.insert(recovery.user, &set);
            recovery.attestations.push((caller, now));
            let valid = recovery.valid_attestations(now);
            let quorum = valid >= QUORUM;
            if quorum {
                recovery.quorum_at = Some(now);
            }
            self.recoveries.insert(id, &recovery);
            self.env().emit_event(RecoveryAttested {
                id,
                guardian: caller,
                valid: u8::try_from(valid).unwrap_or(u8::MAX),
            });
            if quorum {
                self.env().emit_event(RecoveryQuorumReached {
                    id,
                    user: recovery.user,
                    eta: now.saturating_add(sdv_types::recovery::TIMELOCK),
                });
            }
            Ok(())
        }

        /// The wallet being recovered cancels the recovery, before its timelock ends. The
        /// record stays; its attestations are void.
        ///
        /// Errors: [`Error::RecoveryNotFound`], [`Error::NotRecoveredWallet`],
        /// [`Error::NotCancellable`] once Ready or final.
        ///
        /// Emits [`RecoveryCancelled`].
        #[ink(message)]
        pub fn cancel_recovery(&mut self, id: RecoveryId) -> Result<()> {
            let mut recovery = self.recovery_of(id)?;
            if self.env().caller() != recovery.user {
                return Err(Error::NotRecoveredWallet);
            }
            let now = self.env().block_timestamp();
            if !matches!(
                recovery.state(now),
                RecoveryState::Collecting | RecoveryState::Timelocked
            ) {
                return Err(Error::NotCancellable);
            }
            recovery.cancelled_at = Some(now);
            self.recoveries.insert(id, &recovery);
            self.env().emit_event(RecoveryCancelled {
                id,
                user: recovery.user,
            });
            Ok(())
        }

        /// Finalizes a recovery after its timelock: DocumentNFT rebinds the user's identity,
        /// with every document, to the new wallet and revokes the old one; the guardians
        /// carry over to the new wallet. Anyone may call it.
        ///
        /// Errors: [`Error::RecoveryNotFound`], [`Error::TimelockActive`] before Ready,
        /// [`Error::RecoveryClosed`] once final or expired, [`Error::DocumentRefused`],
        /// [`Error::NotConfigured`], [`Error::ContractUnavailable`].
        ///
        /// Emits [`WalletRecovered`].
        #[ink(message)]
        pub fn finalize_recovery(&mut self, id: RecoveryId) -> Result<()> {
            let mut recovery = self.recovery_of(id)?;
            let now = self.env().block_timestamp();
            match recovery.state(now) {
                RecoveryState::Ready => {}
                RecoveryState::Collecting | RecoveryState::Timelocked => {
                    return Err(Error::TimelockActive)
                }
                _ => return Err(Error::RecoveryClosed),
            }
            self.rebind(recovery.user, recovery.new_wallet)?;

            recovery.finalized_at = Some(now);
            self.recoveries.insert(id, &recovery);
            self.move_guardians(recovery.user, recovery.new_wallet);
            self.env().emit_event(WalletRecovered {
                id: Some(id),
                old_wallet: recovery.user,
                new_wallet: recovery.new_wallet,
                decision: None,
            });
            Ok(())
        }

        /// Carries out governance's 14-of-20 emergency recovery `decision` (after its 180-day
        /// wait and 30-day contest window), if every guardian of the user has been silent for
        /// 180 days (a user without guardians has none to wait for). Anyone may call it.
        ///
        /// Errors: [`Error::AlreadyExecuted`], [`Error::NoEmergencyDecision`],
        /// [`Error::GuardiansReachable`], [`Error::RecoveryInProgress`],
        /// [`Error::DocumentRefused`], [`Error::NotConfigured`],
        /// [`Error::ContractUnavailable`].
        ///
        /// Emits [`WalletRecovered`].
        #[ink(message)]
        pub fn execute_emergency_recovery(&mut self, decision: DecisionId) -> Result<()> {
            if self.executed_decisions.contains(decision) {
                return Err(Error::AlreadyExecuted);
            }
            let decided: Option<(AccountId, AccountId)> =
                self.call(self.governance, "emergency_recovery", decision)?;
            let (user, new_wallet) = decided.ok_or(Error::NoEmergencyDecision)?;
            let now = self.env().block_timestamp();
            let cutoff = now.saturating_sub(UNREACHABLE_AFTER);
            let set = self.guardians.get(user).unwrap_or_default();
            if set.iter().any(|g| g.last_seen.unwrap_or(0) > cutoff) {
                return Err(Error::GuardiansReachable);
            }
            self.ensure_no_recovery(user, now)?;
            self.rebind(user, new_wallet)?;

            self.executed_decisions.insert(decision, &());
            self.move_guardians(user, new_wallet);
            self.env().emit_event(WalletRecovered {
                id: None,
                old_wallet: user,
                new_wallet,
                decision: Some(decision),
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
                contract: ContractRole::GuardianRecovery,
                code_hash,
            });
            Ok(())
        }

        /// A user's guardians.
        #[ink(message)]
        pub fn guardians(&self, user: AccountId) -> Vec<Guardian> {
            self.guardians.get(user).unwrap_or_default()
        }

        /// Whether every guardian of `user` has accepted.
        #[ink(message)]
        pub fn is_active(&self, user: AccountId) -> bool {
            self.guardians
                .get(user)
                .is_some_and(|set| Self::is_active_set(&set))
        }

        /// A recovery.
        #[ink(message)]
        pub fn recovery(&self, id: RecoveryId) -> Option<Recovery> {
            self.recoveries.get(id)
        }

        /// A recovery's state now.
        #[ink(message)]
        pub fn recovery_state(&self, id: RecoveryId) -> Option<RecoveryState> {
            Some(self.recoveries.get(id)?.state(self.env().block_timestamp()))
        }

        /// A user's latest recovery.
        #[ink(message)]
        pub fn latest_recovery(&self, user: AccountId) -> Option<RecoveryId> {
            self.latest.get(user)
        }

        /// The governance contract.
        #[ink(message)]
        pub fn governance(&self) -> AccountId {
            self.governance
        }

        fn recovery_of(&self, id: RecoveryId) -> Result<Recovery> {
            self.recoveries.get(id).ok_or(Error::RecoveryNotFound)
        }

        fn is_active_set(set: &[Guardian]) -> bool {
            set.len() == GUARDIANS && set.iter().all(|g| g.accepted_at.is_some())
        }

        fn seen(set: &mut [Guardian], guardian: AccountId, now: Timestamp) -> Result<()> {
            let g = set
                .iter_mut()
                .find(|g| g.account == guardian)
                .ok_or(Error::NotGuardian)?;
            g.last_seen = Some(now);
            Ok(())
        }

        fn ensure_no_recovery(&self, user: AccountId, now: Timestamp) -> Result<()> {
            let running = self
                .latest
                .get(user)
                .and_then(|id| self.recoveries.get(id))
                .is_some_and(|r| r.in_progress(now));
            if running {
                return Err(Error::RecoveryInProgress);
            }
            Ok(())
        }

        fn ensure_none_revoked(&self, wallets: Vec<AccountId>) -> Result<()> {
            if self.revoked(wallets)? {
                return Err(Error::WalletRevoked);
            }
            Ok(())
        }

        /// The old wallet's guardians protect the new one, unless the new wallet named its own
        /// since the recovery began.
        fn move_guardians(&mut self, old: AccountId, new: AccountId) {
            if let Some(set) = self.guardians.take(old) {
                if !self.guardians.contains(new) {
                    self.guardians.insert(new, &set);
                }
            }
        }

        fn document_nft(&self) -> Result<AccountId> {
            let address: Option<AccountId> = self.call(
                self.governance,
                "contract_address",
                ContractRole::DocumentNft,
            )?;
            address.ok_or(Error::NotConfigured)
        }

        fn revoked(&self, wallets: Vec<AccountId>) -> Result<bool> {
            self.call(self.document_nft()?, "any_revoked", wallets)
        }

        fn rebind(&self, old: AccountId, new: AccountId) -> Result<()> {
            let outcome: core::result::Result<(), DocumentError> =
                self.call(self.document_nft()?, "rebind_owner", (old, new))?;
            outcome.map_err(|_| Error::DocumentRefused)
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
            "emergency_recovery" => ink::selector_bytes!("emergency_recovery"),
            "any_revoked" => ink::selector_bytes!("any_revoked"),
            _ => ink::selector_bytes!("rebind_owner"),
        }
    }
}

#[cfg(test)]
mod unit_tests;
