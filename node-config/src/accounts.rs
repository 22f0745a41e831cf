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

/// The service roles' dev accounts: `//sdv//<role>` on the dev phrase.
pub mod roles {
    use super::*;

    /// Mints documents after verified uploads.
    pub fn storage_attestor() -> Keypair {
        role("storage-attestor")
    }

    /// Records retention notices and deletions.
    pub fn retention_executor() -> Keypair {
        role("retention-executor")
    }

    /// Sets account tiers.
    pub fn tier_authority() -> Keypair {
        role("tier-authority")
    }

    /// The fleet HQ: proposes releases.
    pub fn fleet_hq() -> Keypair {
        role("fleet-hq")
    }

    /// Every role account.
    pub fn all() -> Vec<Keypair> {
        vec![
            storage_attestor(),
            retention_executor(),
            tier_authority(),
            fleet_hq(),
        ]
    }

    fn role(name: &str) -> Keypair {
        from_uri(&format!("{DEV_PHRASE}//sdv//{name}")).expect("the dev phrase is valid")
    }
}
