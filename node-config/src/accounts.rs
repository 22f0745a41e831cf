//! Dev accounts and the 20 dev validators.
//!
//! All keys derive from Substrate's public dev phrase: they are for local chains only.

use std::str::FromStr;

use subxt_signer::{sr25519::Keypair, SecretUri, DEV_PHRASE};

pub use subxt_signer::sr25519::dev::{alice, bob, charlie, dave, eve, ferdie};

/// Number of dev validators; ValidatorGovernance needs exactly this many.
pub const VALIDATORS: usize = sdv_types::governance::VALIDATOR_COUNT;

/// The key of a dev account given by a secret URI such as `//Alice` or `//validator//3`.
pub fn from_uri(uri: &str) -> Result<Keypair, String> {
    let uri = SecretUri::from_str(uri).map_err(|e| format!("bad secret URI: {e}"))?;
    Keypair::from_uri(&uri).map_err(|e| format!("bad secret URI: {e}"))
}

/// Dev validator `index` (1 to 20): the dev phrase with the hard path `//validator//<index>`.
pub fn validator(index: usize) -> Keypair {
    assert!(
        (1..=VALIDATORS).contains(&index),
        "dev validators are numbered 1 to 20"
    );
    from_uri(&format!("{DEV_PHRASE}//validator//{index}")).expect("the dev phrase is valid")
}

/// The 20 dev validators, in order.
pub fn validators() -> Vec<Keypair> {
    (1..=VALIDATORS).map(validator).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_are_distinct_and_fixed() {
        let keys: Vec<_> = validators().iter().map(|k| k.public_key().0).collect();
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), VALIDATORS);
        assert_eq!(validator(1).public_key().0, keys[0]);
    }
}
