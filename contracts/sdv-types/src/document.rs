//! DocumentNFT: document classes, retention options and the regulatory floors of the spec's
//! section 6, as pure functions the contract and the off-chain services share.

use crate::{Timestamp, DAY};

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
