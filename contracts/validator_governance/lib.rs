//! # ValidatorGovernance
//!
//! ## Overview
//!
//! The set of 20 validator accounts whose votes every other SDV contract defers to.
//!
//! ## Life cycle
//!
//! 1. The deployer instantiates the contract with exactly 20 distinct validator accounts.
//! 2. Anyone reads the set with [`ValidatorGovernance::validators`] and
//!    [`ValidatorGovernance::is_validator`].
//!
//! ## Error Handling
//!
//! Every fallible message returns [`Error`]; nothing panics on bad input.
//!
//! ## Interface
//!
//! Anyone: `validators`, `is_validator`, `now`.
#![cfg_attr(not(feature = "std"), no_std, no_main)]

#[ink::contract]
mod validator_governance {
    use ink::prelude::vec::Vec;
    use sdv_types::governance::{ValidatorSetInitialized, VALIDATOR_COUNT};

    /// Errors of ValidatorGovernance.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, scale::Encode, scale::Decode)]
    #[cfg_attr(feature = "std", derive(scale_info::TypeInfo))]
    pub enum Error {
        /// The validator set does not have exactly 20 accounts.
        WrongValidatorCount,
        /// The same account appears twice in the validator set.
        DuplicateValidator,
    }

    /// The result type of every fallible message.
    pub type Result<T> = core::result::Result<T, Error>;

    /// The contract's storage.
    #[ink(storage)]
    pub struct ValidatorGovernance {
        /// Exactly [`VALIDATOR_COUNT`] distinct accounts (checked by the constructor).
        validators: Vec<AccountId>,
    }

    impl ValidatorGovernance {
        /// Fixes the validator set.
        ///
        /// Errors: [`Error::WrongValidatorCount`] unless exactly 20 accounts are given,
        /// [`Error::DuplicateValidator`] if one appears twice.
        ///
        /// Emits [`ValidatorSetInitialized`].
        #[ink(constructor)]
        pub fn new(validators: Vec<AccountId>) -> Result<Self> {
            if validators.len() != VALIDATOR_COUNT {
                return Err(Error::WrongValidatorCount);
            }
            for (i, v) in validators.iter().enumerate() {
                if validators[..i].contains(v) {
                    return Err(Error::DuplicateValidator);
                }
            }
            Self::env().emit_event(ValidatorSetInitialized {
                validators: validators.clone(),
            });
            Ok(Self { validators })
        }

        /// The validator set, in the order given at instantiation.
        #[ink(message)]
        pub fn validators(&self) -> Vec<AccountId> {
            self.validators.clone()
        }

        /// The block time the contract sees, in milliseconds since the Unix epoch: every
        /// window and timelock of the SDV contracts is measured against it.
        #[ink(message)]
        pub fn now(&self) -> Timestamp {
            self.env().block_timestamp()
        }

        /// Whether `account` is one of the validators.
        #[ink(message)]
        pub fn is_validator(&self, account: AccountId) -> bool {
            self.validators.contains(&account)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn accounts(n: u8) -> Vec<AccountId> {
            (1..=n).map(|i| AccountId::from([i; 32])).collect()
        }

        #[ink::test]
        fn new_with_twenty_validators_works() {
            let set = accounts(20);
            let gov = ValidatorGovernance::new(set.clone()).expect("20 distinct validators");
            assert_eq!(gov.validators(), set);
            assert!(gov.is_validator(set[19]));
            assert!(!gov.is_validator(AccountId::from([99; 32])));
            assert_eq!(ink::env::test::recorded_events().count(), 1);
        }

        #[ink::test]
        fn wrong_validator_count_is_rejected() {
            assert_eq!(
                ValidatorGovernance::new(accounts(19)).err(),
                Some(Error::WrongValidatorCount)
            );
            assert_eq!(
                ValidatorGovernance::new(accounts(21)).err(),
                Some(Error::WrongValidatorCount)
            );
        }

        #[ink::test]
        fn duplicate_validator_is_rejected() {
            let mut set = accounts(20);
            set[7] = set[3];
            assert_eq!(
                ValidatorGovernance::new(set).err(),
                Some(Error::DuplicateValidator)
            );
        }
    }
}
