//! The crate's error.

use std::path::PathBuf;

use cryptoki::error::{Error as CryptokiError, RvError};

/// What went wrong with the token or a key in it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The PKCS#11 module could not be loaded or initialized.
    #[error("PKCS#11 module {}: {source}", module.display())]
    Module {
        /// The module's path.
        module: PathBuf,
        /// The underlying error.
        source: CryptokiError,
    },
    /// No slot holds a token with this label.
    #[error("no PKCS#11 token is labelled {label:?} (tokens present: {available:?})")]
    TokenNotFound {
        /// The label asked for.
        label: String,
        /// The labels of the tokens that are present.
        available: Vec<String>,
    },
    /// The token refused the user PIN.
    #[error("the PIN of token {label:?} is wrong")]
    WrongPin {
        /// The token's label.
        label: String,
    },
    /// The token locked the user PIN after too many wrong ones.
    #[error("the user PIN of token {label:?} is locked")]
    PinLocked {
        /// The token's label.
        label: String,
    },
    /// A key's half is missing, or it is not what was expected.
    #[error("key {label:?}: {reason}")]
    KeyMissing {
        /// The key's label.
        label: String,
        /// What is missing.
        reason: &'static str,
    },
    /// More than one key of the kind has the label.
    #[error("more than one {kind} key is labelled {label:?}")]
    DuplicateKey {
        /// The key's label.
        label: String,
        /// The kind of key.
        kind: &'static str,
    },
    /// The token answered a PKCS#11 call with an error code.
    #[error("{operation} refused by the token: {}", ckr_name(*code))]
    Pkcs11 {
        /// The operation (which PKCS#11 call, for what).
        operation: &'static str,
        /// The `CKR_` code.
        code: RvError,
    },
    /// A PKCS#11 call failed before reaching the token.
    #[error("{operation}: {source}")]
    Cryptoki {
        /// The operation.
        operation: &'static str,
        /// The underlying error.
        source: CryptokiError,
    },
    /// The token returned an attribute in an unexpected form.
    #[error("unexpected {0} from the token")]
    UnexpectedAttribute(&'static str),
    /// A wrapped key of the wrong length.
    #[error("a wrapped key of {actual} bytes (expected {expected})")]
    WrappedKeyLength {
        /// The expected length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An X25519 public key of small order: every shared secret with it is zero.
    #[error("weak (small-order) X25519 public key")]
    WeakPublicKey,
    /// The wrapped key is not wrapped to this key, or was changed.
    #[error("the wrapped key does not open with this key (wrapped to another key, or changed)")]
    KeyUnwrap,
    /// A sealed value too short to be one.
    #[error("a sealed value of {0} bytes is too short")]
    SealedData(usize),
    /// An Ed25519 signature that does not verify.
    #[error("the Ed25519 signature does not verify")]
    BadSignature,
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error of `operation` from cryptoki's.
    pub(crate) fn pkcs11(operation: &'static str) -> impl FnOnce(CryptokiError) -> Self {
        move |source| match source {
            CryptokiError::Pkcs11(code, _) => Self::Pkcs11 { operation, code },
            source => Self::Cryptoki { operation, source },
        }
    }

    /// The `CKR_` code, when the token answered with one.
    pub fn code(&self) -> Option<RvError> {
        match self {
            Self::Pkcs11 { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `KeyUnextractable` -> `CKR_KEY_UNEXTRACTABLE`.
fn ckr_name(code: RvError) -> String {
    let debug = format!("{code:?}");
    let mut name = String::from("CKR");
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_as_in_the_standard() {
        assert_eq!(ckr_name(RvError::KeyUnextractable), "CKR_KEY_UNEXTRACTABLE");
        assert_eq!(ckr_name(RvError::MechanismInvalid), "CKR_MECHANISM_INVALID");
        let err = Error::Pkcs11 {
            operation: "C_WrapKey",
            code: RvError::KeyUnextractable,
        };
        assert!(err
            .to_string()
            .starts_with("C_WrapKey refused by the token: CKR_KEY_UNEXTRACTABLE"));
        assert_eq!(err.code(), Some(RvError::KeyUnextractable));
    }
}
