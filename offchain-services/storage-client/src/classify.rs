//! Client-side document classification: the gateway never sees plaintext, so the client
//! decides the class (and with it the regulatory retention floor) before encrypting.
//!
//! The [`Rules`] are data, with a version, so the compliance API can serve them as JSON and
//! clients can show which words decided. A document is in every class one of whose tag words
//! is among its tags or one of whose patterns occurs in its text; when several match, the
//! stricter floor wins: US tax, then financial, then KYC, then other.
//!
//! Text matching is case-insensitive, on whole words (`Form 1040` does not match
//! `Form 10400`), with runs of white space read as one space and typographic apostrophes and
//! dashes read as `'` and `-`. Only the first [`Rules::scan_bytes`] of the document are read,
//! as lossy UTF-8: text files and text-bearing formats match, compressed formats (most PDFs,
//! images) only by their tags.

use std::{fmt, sync::LazyLock};

use sdv_types::document::{effective_retention, DocumentClass, RetentionOption};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The version of [`Rules::builtin`].
pub const BUILTIN_RULES_VERSION: u32 = 1;

/// How much of a document [`Rules::builtin`] reads: 512 KiB.
pub const DEFAULT_SCAN_BYTES: usize = 512 * 1024;

/// The classification rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Incremented at every change of the words.
    pub version: u32,
    /// How many bytes at the start of a document are read for patterns.
    pub scan_bytes: usize,
    /// The words of each class.
    pub classes: Vec<ClassRules>,
}

/// The words that put a document in one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassRules {
    /// The class: `us_tax`, `financial`, `kyc` or `other`.
    #[serde(with = "class_serde")]
    pub class: DocumentClass,
    /// Tags that put a document in the class. Compared on letters and digits only, ignoring
    /// case: `W-9`, `w9` and `w_9` are one tag.
    pub tags: Vec<String>,
    /// Phrases that put a document in the class when its text contains them.
    pub patterns: Vec<String>,
}

/// A document's class and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The class.
    #[serde(with = "class_serde")]
    pub class: DocumentClass,
    /// The rule words of that class that matched (tags first), to show the user; empty for
    /// [`DocumentClass::Other`].
    pub matched: Vec<String>,
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

static BUILTIN: LazyLock<Rules> = LazyLock::new(|| Rules {
    version: BUILTIN_RULES_VERSION,
    scan_bytes: DEFAULT_SCAN_BYTES,
    classes: vec![
        ClassRules {
            class: DocumentClass::UsTax,
            tags: words(&[
                "us-tax",
                "tax",
                "taxes",
                "tax-return",
                "irs",
                "w-9",
                "w-2",
                "1099",
                "1099-misc",
                "1099-nec",
                "1099-int",
                "1099-div",
                "1040",
                "schedule-c",
            ]),
            patterns: words(&[
                "Form W-9",
                "Request for Taxpayer Identification Number",
                "Form W-2",
                "Wage and Tax Statement",
                "Form 1099",
                "1099-MISC",
                "1099-NEC",
                "1099-INT",
                "1099-DIV",
                "1099-B",
                "1099-K",
                "1099-R",
                "Form 1040",
                "U.S. Individual Income Tax Return",
                "Schedule C",
                "Profit or Loss From Business",
            ]),
        },
        ClassRules {
            class: DocumentClass::Financial,
            tags: words(&[
                "financial",
                "finance",
                "financial-statement",
                "bank-statement",
                "account-statement",
                "balance-sheet",
                "income-statement",
                "cash-flow",
                "audit",
                "audit-report",
            ]),
            patterns: words(&[
                "balance sheet",
                "income statement",
                "statement of cash flows",
                "cash flow statement",
                "statement of financial position",
                "profit and loss statement",
                "audit report",
                "independent auditor",
                "bank statement",
                "account statement",
                "statement of account",
            ]),
        },
        ClassRules {
            class: DocumentClass::Kyc,
            tags: words(&[
                "kyc",
                "aml",
                "passport",
                "id",
                "id-card",
                "identity",
                "drivers-license",
                "driver-license",
                "proof-of-address",
            ]),
            patterns: words(&[
                "passport",
                "driver's license",
                "drivers license",
                "driver license",
                "driving licence",
                "identity card",
                "date of birth",
                "proof of address",
                "know your customer",
                "identity verification",
                "customer due diligence",
            ]),
        },
    ],
});

impl Default for Rules {
    fn default() -> Self {
        Self::builtin().clone()
    }
}

impl Rules {
    /// The rules this version of the client ships with.
    pub fn builtin() -> &'static Rules {
        &BUILTIN
    }

    /// Classifies a document by its tags and the start of its content.
    pub fn classify(&self, tags: &[String], content: &[u8]) -> Classification {
        let tags: Vec<String> = tags.iter().map(|t| tag_key(t)).collect();
        let scanned = &content[..content.len().min(self.scan_bytes)];
        let text = normalize(&String::from_utf8_lossy(scanned));
        let mut best = Classification {
            class: DocumentClass::Other,
            matched: Vec::new(),
        };
        for rules in &self.classes {
            if rank(rules.class) <= rank(best.class) {
                continue;
            }
            let mut matched: Vec<String> = rules
                .tags
                .iter()
                .filter(|word| tags.contains(&tag_key(word)))
                .cloned()
                .collect();
            for pattern in &rules.patterns {
                if contains_words(&text, &normalize(pattern)) && !matched.contains(pattern) {
                    matched.push(pattern.clone());
                }
            }
            if !matched.is_empty() {
                best = Classification {
                    class: rules.class,
                    matched,
                };
            }
        }
        best
    }
}

/// Classifies a document with [`Rules::builtin`].
pub fn classify(tags: &[String], content: &[u8]) -> Classification {
    Rules::builtin().classify(tags, content)
}

/// Precedence: the stricter floor wins.
fn rank(class: DocumentClass) -> u8 {
    match class {
        DocumentClass::UsTax => 3,
        DocumentClass::Financial => 2,
        DocumentClass::Kyc => 1,
        DocumentClass::Other => 0,
    }
}

/// A tag's letters and digits, lowercase.
fn tag_key(tag: &str) -> String {
    tag.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Lowercase, one space for any white space, plain apostrophes and dashes.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' => '\'',
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c => c,
        };
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether `needle` occurs in `haystack` with no letter or digit right before or after it.
fn contains_words(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    haystack.match_indices(needle).any(|(start, _)| {
        let before = haystack[..start].chars().next_back();
        let after = haystack[start + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// A class's regulatory retention floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// The shortest retention option the class allows; [`apply_floor`] raises shorter choices
    /// to it.
    pub option: RetentionOption,
    /// The minimum in the spec's words.
    pub minimum: &'static str,
    /// The floor counts from the end of the customer relationship (KYC), not from the
    /// upload: DocumentNFT keeps the document until that end plus 5 years, whatever the
    /// option.
    pub from_relationship_end: bool,
}

impl fmt::Display for Floor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.minimum)
    }
}

/// The retention floor of `class`: US tax 7 years, financial 5 years, KYC the end of the
/// customer relationship plus 5 years, other none.
pub fn retention_floor(class: DocumentClass) -> Floor {
    let (minimum, from_relationship_end) = match class {
        DocumentClass::UsTax => ("7 years (US tax records)", false),
        DocumentClass::Financial => ("5 years (financial records)", false),
        DocumentClass::Kyc => ("the end of the customer relationship + 5 years", true),
        DocumentClass::Other => ("none", false),
    };
    Floor {
        option: class.floor(),
        minimum,
        from_relationship_end,
    }
}

/// The option a document of `class` gets when the user chooses `chosen`: the choice, or the
/// class's floor when the choice is shorter (never shorter than the choice). The flag says
/// whether it was raised. The same rule DocumentNFT applies at mint.
pub fn apply_floor(class: DocumentClass, chosen: RetentionOption) -> (RetentionOption, bool) {
    effective_retention(class, chosen)
}

/// A retention option's protocol name: `minimum`, `standard`, `extended`,
/// `regulatory_us_tax`, `long_term`, `indefinite` or `permanent`.
pub fn retention_name(option: RetentionOption) -> &'static str {
    match option {
        RetentionOption::Minimum => "minimum",
        RetentionOption::Standard => "standard",
        RetentionOption::Extended => "extended",
        RetentionOption::RegulatoryUsTax => "regulatory_us_tax",
        RetentionOption::LongTerm => "long_term",
        RetentionOption::Indefinite => "indefinite",
        RetentionOption::Permanent => "permanent",
    }
}

/// The retention option of a protocol name (case and `-` for `_` are forgiven).
///
/// # Errors
///
/// [`Error::UnknownRetention`] for any other word.
pub fn parse_retention(name: &str) -> Result<RetentionOption> {
    let key = name.trim().to_ascii_lowercase().replace('-', "_");
    RetentionOption::ALL
        .into_iter()
        .find(|o| retention_name(*o) == key)
        .ok_or_else(|| Error::UnknownRetention(name.to_owned()))
}

/// A class's protocol name: `us_tax`, `financial`, `kyc` or `other`.
pub fn class_name(class: DocumentClass) -> &'static str {
    match class {
        DocumentClass::UsTax => "us_tax",
        DocumentClass::Financial => "financial",
        DocumentClass::Kyc => "kyc",
        DocumentClass::Other => "other",
    }
}

/// The class of a protocol name (case and `-` for `_` are forgiven).
///
/// # Errors
///
/// [`Error::UnknownClass`] for any other word.
pub fn parse_class(name: &str) -> Result<DocumentClass> {
    let key = name.trim().to_ascii_lowercase().replace('-', "_");
    [
        DocumentClass::UsTax,
        DocumentClass::Financial,
        DocumentClass::Kyc,
        DocumentClass::Other,
    ]
    .into_iter()
    .find(|c| class_name(*c) == key)
    .ok_or_else(|| Error::UnknownClass(name.to_owned()))
}

/// Serde of a [`DocumentClass`] as its protocol name.
mod class_serde {
    use sdv_types::document::DocumentClass;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(class: &DocumentClass, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::class_name(*class))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DocumentClass, D::Error> {
        let name = String::deserialize(d)?;
        super::parse_class(&name).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W9: &str = "Form W-9\n(Rev. March 2024)\nDepartment of the Treasury\nInternal \
        Revenue Service\nRequest for Taxpayer\nIdentification Number and Certification\n\
        Go to www.irs.gov/FormW9 for instructions and the latest information.\n\
        1 Name of entity/individual. An entry is required.\nJOHN Q PUBLIC\n\
        Part I Taxpayer Identification Number (TIN)\nSocial security number 123-45-6789";

    const F1040: &str = "Department of the Treasury—Internal Revenue Service\n\
        Form 1040 U.S. Individual Income Tax Return 2023 OMB No. 1545-0074\n\
        Filing Status Single Married filing jointly\nYour first name and middle initial \
        Last name\nAttach Sch. B if required. 2a Tax-exempt interest";

    const BALANCE_SHEET: &str = "ACME HOLDINGS LLC\nConsolidated Balance Sheet\nAs of \
        December 31, 2023\nASSETS\nCurrent assets\nCash and cash equivalents  1,204,000\n\
        Total liabilities and stockholders' equity  9,876,000";

    const PASSPORT_OCR: &str = "UNITED STATES OF AMERICA\nPASSPORT   PASSEPORT   PASAPORTE\n\
        Type / Type / Tipo  P   Code / Code / Codigo USA   Passport No. 963545637\n\
        Surname / Nom / Apellidos\nJOHN\nGiven Names / Prenoms / Nombres\nDOE\n\
        Nationality / Nationalite / Nacionalidad\nUNITED STATES OF AMERICA\n\
        Date of birth / Date de naissance / Fecha de nacimiento\n15 Mar 1996\n\
        P<USAJOHN<<DOE<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<\n9635456374USA9603150M2703155<<<<<<<<<<<<<<<<";

    const LETTER: &str = "Dear Aunt May,\n\nThank you for the lovely scarf. The weather here \
        has been cold, and it keeps me warm on the way to the office. I hope to visit in \
        the spring.\n\nLove,\nPeter";

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn w9_is_us_tax() {
        let c = classify(&[], W9.as_bytes());
        assert_eq!(c.class, DocumentClass::UsTax);
        assert!(
            c.matched.contains(&"Form W-9".to_owned()),
            "{:?}",
            c.matched
        );
        // The title is broken over two lines in the form: still one phrase.
        assert!(c
            .matched
            .contains(&"Request for Taxpayer Identification Number".to_owned()));
    }

    #[test]
    fn form_1040_is_us_tax() {
        let c = classify(&[], F1040.as_bytes());
        assert_eq!(c.class, DocumentClass::UsTax);
        assert_eq!(
            c.matched,
            ["Form 1040", "U.S. Individual Income Tax Return"]
        );
    }

    #[test]
    fn balance_sheet_is_financial() {
        let c = classify(&[], BALANCE_SHEET.as_bytes());
        assert_eq!(c.class, DocumentClass::Financial);
        assert_eq!(c.matched, ["balance sheet"]);
    }

    #[test]
    fn passport_ocr_text_is_kyc() {
        let c = classify(&[], PASSPORT_OCR.as_bytes());
        assert_eq!(c.class, DocumentClass::Kyc);
        assert_eq!(c.matched, ["passport", "date of birth"]);
    }

    #[test]
    fn plain_letter_is_other() {
        let c = classify(&[], LETTER.as_bytes());
        assert_eq!(c.class, DocumentClass::Other);
        assert!(c.matched.is_empty());
        assert_eq!(classify(&[], b"").class, DocumentClass::Other);
    }

    #[test]
    fn tags_classify_and_are_compared_loosely() {
        let c = classify(&tags(&["W9"]), LETTER.as_bytes());
        assert_eq!(
            (c.class, c.matched),
            (DocumentClass::UsTax, vec!["w-9".to_owned()])
        );
        assert_eq!(
            classify(&tags(&["Bank Statement"]), b"").class,
            DocumentClass::Financial
        );
        assert_eq!(classify(&tags(&["KYC"]), b"").class, DocumentClass::Kyc);
        assert_eq!(classify(&tags(&["id"]), b"").class, DocumentClass::Kyc);
        assert_eq!(
            classify(&tags(&["holiday", "photos"]), b"").class,
            DocumentClass::Other
        );
    }

    #[test]
    fn stricter_floor_wins() {
        // KYC content with a financial tag: financial.
        let c = classify(&tags(&["financial"]), PASSPORT_OCR.as_bytes());
        assert_eq!(
            (c.class, c.matched),
            (DocumentClass::Financial, vec!["financial".to_owned()])
        );
        // Financial content that mentions a 1099: US tax.
        let text = format!("{BALANCE_SHEET}\nInterest reported on Form 1099-INT");
        let c = classify(&[], text.as_bytes());
        assert_eq!(c.class, DocumentClass::UsTax);
        assert_eq!(c.matched, ["Form 1099", "1099-INT"]);
        // A passport with a tax tag: US tax.
        assert_eq!(
            classify(&tags(&["tax"]), PASSPORT_OCR.as_bytes()).class,
            DocumentClass::UsTax
        );
    }

    #[test]
    fn patterns_match_whole_words_only() {
        assert_eq!(
            classify(&[], b"see Form 10400 for details").class,
            DocumentClass::Other
        );
        assert_eq!(
            classify(&[], b"Schedule Change notice").class,
            DocumentClass::Other
        );
        assert_eq!(
            classify(&[], b"passports office").class,
            DocumentClass::Other
        );
        assert_eq!(
            classify(&[], "a copy of my DRIVER\u{2019}S  LICENSE".as_bytes()).class,
            DocumentClass::Kyc
        );
        assert_eq!(classify(&[], b"(Schedule C)").class, DocumentClass::UsTax);
    }

    #[test]
    fn only_the_first_scan_bytes_are_read_and_invalid_utf8_is_tolerated() {
        let mut content = vec![0xff; DEFAULT_SCAN_BYTES];
        content.extend_from_slice(b" balance sheet");
        assert_eq!(classify(&[], &content).class, DocumentClass::Other);
        let mut content = vec![0xff, 0xfe, 0x00];
        content.extend_from_slice(b"Independent Auditor's Report");
        assert_eq!(classify(&[], &content).class, DocumentClass::Financial);
    }

    #[test]
    fn rules_serialize_as_json_and_back() {
        let json = serde_json::to_value(Rules::builtin()).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["classes"][0]["class"], "us_tax");
        assert_eq!(json["classes"][2]["class"], "kyc");
        let back: Rules = serde_json::from_value(json).unwrap();
        assert_eq!(&back, Rules::builtin());
        let bad = serde_json::json!({
            "version": 2, "scan_bytes": 10,
            "classes": [{"class": "secret", "tags": [], "patterns": []}]
        });
        assert!(serde_json::from_value::<Rules>(bad).is_err());
    }

    #[test]
    fn custom_rules_are_applied() {
        let rules = Rules {
            version: 2,
            scan_bytes: 1024,
            classes: vec![ClassRules {
                class: DocumentClass::Financial,
                tags: vec![],
                patterns: vec!["invoice".into()],
            }],
        };
        assert_eq!(
            rules.classify(&[], b"INVOICE #42").class,
            DocumentClass::Financial
        );
        assert_eq!(
            rules.classify(&[], W9.as_bytes()).class,
            DocumentClass::Other
        );
    }

    #[test]
    fn floors_are_the_specs() {
        let tax = retention_floor(DocumentClass::UsTax);
        assert_eq!(tax.option, RetentionOption::RegulatoryUsTax);
        assert_eq!(tax.to_string(), "7 years (US tax records)");
        assert_eq!(
            retention_floor(DocumentClass::Financial).option,
            RetentionOption::Extended
        );
        let kyc = retention_floor(DocumentClass::Kyc);
        assert!(kyc.from_relationship_end);
        assert_eq!(
            kyc.minimum,
            "the end of the customer relationship + 5 years"
        );
        let other = retention_floor(DocumentClass::Other);
        assert_eq!(
            (other.option, other.minimum),
            (RetentionOption::Minimum, "none")
        );
    }

    #[test]
    fn floor_raises_short_choices_and_never_shortens() {
        use RetentionOption::*;
        assert_eq!(
            apply_floor(DocumentClass::UsTax, Minimum),
            (RegulatoryUsTax, true)
        );
        assert_eq!(
            apply_floor(DocumentClass::UsTax, Extended),
            (RegulatoryUsTax, true)
        );
        assert_eq!(
            apply_floor(DocumentClass::UsTax, LongTerm),
            (LongTerm, false)
        );
        assert_eq!(
            apply_floor(DocumentClass::Financial, Standard),
            (Extended, true)
        );
        assert_eq!(apply_floor(DocumentClass::Kyc, Minimum), (Extended, true));
        for chosen in RetentionOption::ALL {
            let (effective, upgraded) = apply_floor(DocumentClass::Other, chosen);
            assert_eq!((effective, upgraded), (chosen, false));
            for class in [
                DocumentClass::UsTax,
                DocumentClass::Financial,
                DocumentClass::Kyc,
            ] {
                let (effective, upgraded) = apply_floor(class, chosen);
                assert!(effective >= chosen);
                assert_eq!(upgraded, effective != chosen);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for option in RetentionOption::ALL {
            assert_eq!(parse_retention(retention_name(option)).unwrap(), option);
        }
        assert_eq!(
            parse_retention("Regulatory-US-Tax").unwrap(),
            RetentionOption::RegulatoryUsTax
        );
        assert!(matches!(
            parse_retention("forever"),
            Err(Error::UnknownRetention(w)) if w == "forever"
        ));
        for class in [
            DocumentClass::UsTax,
            DocumentClass::Financial,
            DocumentClass::Kyc,
            DocumentClass::Other,
        ] {
            assert_eq!(parse_class(class_name(class)).unwrap(), class);
        }
        assert_eq!(parse_class("us-tax").unwrap(), DocumentClass::UsTax);
        assert!(parse_class("medical").is_err());
    }
}
