//! ValidatorGovernance: the validator set and its events.

use crate::AccountId;

/// Number of validators in the set. A hard limit: no message changes it.
pub const VALIDATOR_COUNT: usize = 20;

/// The validator set was fixed at instantiation.
#[ink::event]
#[derive(Debug)]
pub struct ValidatorSetInitialized {
    /// The 20 validator accounts, in the order given to the constructor.
    pub validators: ink::prelude::vec::Vec<AccountId>,
}
