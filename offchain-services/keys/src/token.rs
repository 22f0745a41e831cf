//! The token: module loading, slot lookup by label, the logged-in session, and what the keys
//! share (finding and generating key pairs, reading public keys, probing protection).

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, OnceLock, Weak},
};

use cryptoki::{
    context::{CInitializeArgs, CInitializeFlags, Pkcs11},
    error::{Error as CryptokiError, RvError},
    mechanism::Mechanism,
    object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle},
    session::{Session, UserType},
    types::RawAuthPin,
};
use sdv_config::Secret;
use sha2::{Digest, Sha256};

use crate::{Error, HsmEd25519Key, HsmRecoveryKey, HsmSealingKey, Result};

/// DER of the X25519 curve OID 1.3.101.110 (`CKA_EC_PARAMS`).
pub(crate) const OID_X25519: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x6e];
/// DER of the Ed25519 curve OID 1.3.101.112 (`CKA_EC_PARAMS`).
pub(crate) const OID_ED25519: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];

/// A logged-in read/write session on one token, shared by the keys taken from it (cloning is
/// cheap and shares the session). PKCS#11 sessions are not thread-safe: calls are serialized.
///
/// The login state of a token belongs to the process, so a token has one session per process:
/// opening a token that is open already (and not dropped) returns the same session, after
/// checking that the PIN is the one it was opened with.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

struct Inner {
    session: Mutex<Session>,
    label: String,
    /// SHA-256 of the PIN the session logged in with, to check a second open's PIN.
    pin_digest: Secret,
}

/// The tokens open in this process, by module and label.
type OpenTokens = HashMap<(PathBuf, String), Weak<Inner>>;

fn pin_digest(pin: &Secret) -> Secret {
    Secret::new(Sha256::digest(pin.expose()).to_vec())
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.inner.label)
            .finish_non_exhaustive()
    }
}

/// The loaded and initialized PKCS#11 modules, by path: `C_Initialize` once per process.
fn module(path: &Path) -> Result<Pkcs11> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pkcs11) = modules.get(path) {
        return Ok(pkcs11.clone());
    }
    let failed = |source| Error::Module {
        module: path.to_owned(),
        source,
    };
    let pkcs11 = Pkcs11::new(path).map_err(failed)?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialized by someone else in this process: usable all the same.
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(e)),
    }
    modules.insert(path.to_owned(), pkcs11.clone());
    Ok(pkcs11)
}

impl Token {
    /// Loads the PKCS#11 `module` (once per process), finds the token labelled `label`, opens
    /// a read/write session and logs in as the user with `pin`. A token this process has open
    /// already is shared (see [`Token`]).
    ///
    /// # Errors
    ///
    /// [`Error::Module`] when the module cannot be loaded or initialized,
    /// [`Error::TokenNotFound`] when no slot holds a token with the label, [`Error::WrongPin`]
    /// or [`Error::PinLocked`] when the login is refused (or the PIN differs from the one an
    /// open token of the process logged in with), [`Error::Pkcs11`] otherwise (for example
    /// `CKR_USER_ALREADY_LOGGED_IN` when another library of the process logged in).
    pub fn open(module_path: &Path, label: &str, pin: &Secret) -> Result<Self> {
        let pkcs11 = module(module_path)?;
        static OPEN: OnceLock<Mutex<OpenTokens>> = OnceLock::new();
        let mut open = OPEN
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|_, inner| inner.strong_count() > 0);
        let key = (module_path.to_owned(), label.to_owned());
        let digest = pin_digest(pin);
        if let Some(inner) = open.get(&key).and_then(Weak::upgrade) {
            return if inner.pin_digest.ct_eq(digest.expose()) {
                Ok(Self { inner })
            } else {
                Err(Error::WrongPin {
                    label: label.to_owned(),
                })
            };
        }
        let slots = pkcs11
            .get_slots_with_token()
            .map_err(Error::pkcs11("C_GetSlotList"))?;
        let mut available = Vec::new();
        let mut found = None;
        for slot in slots {
            let info = pkcs11
                .get_token_info(slot)
                .map_err(Error::pkcs11("C_GetTokenInfo"))?;
            if info.label() == label {
                found = Some(slot);
                break;
            }
            available.push(info.label().to_owned());
        }
        let Some(slot) = found else {
            return Err(Error::TokenNotFound {
                label: label.to_owned(),
                available,
            });
        };
        let session = pkcs11
            .open_rw_session(slot)
            .map_err(Error::pkcs11("C_OpenSession"))?;
        let raw_pin = RawAuthPin::new(Box::new(pin.expose().to_vec()));
        match session.login_with_raw(UserType::User, &raw_pin) {
            Ok(()) => {}
            Err(CryptokiError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(Error::WrongPin {
                    label: label.to_owned(),
                })
            }
            Err(CryptokiError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(Error::PinLocked {
                    label: label.to_owned(),
                })
            }
            Err(e) => return Err(Error::pkcs11("C_Login")(e)),
        }
        let inner = Arc::new(Inner {
            session: Mutex::new(session),
            label: label.to_owned(),
            pin_digest: digest,
        });
        open.insert(key, Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The X25519 recovery key labelled `label`, generated in the token if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKey`] when several X25519 keys have the label, [`Error::KeyMissing`]
    /// when its public half is gone, [`Error::Pkcs11`] when the token refuses a call (for
    /// example `CKR_MECHANISM_INVALID` for a token without X25519).
    pub fn recovery_key(&self, label: &str) -> Result<HsmRecoveryKey> {
        let pair = self.find_or_generate(label, Curve::X25519)?;
        Ok(HsmRecoveryKey::new(self.clone(), pair))
    }

    /// The Ed25519 signing key labelled `label`, generated in the token if there is none.
    ///
    /// # Errors
    ///
    /// As [`Token::recovery_key`].
    pub fn ed25519_key(&self, label: &str) -> Result<HsmEd25519Key> {
        let pair = self.find_or_generate(label, Curve::Ed25519)?;
        Ok(HsmEd25519Key::new(self.clone(), pair))
    }

    /// The AES-256 sealing key labelled `label`, generated in the token if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKey`] when several sealing keys have the label, [`Error::Pkcs11`]
    /// when the token refuses a call.
    pub fn sealing_key(&self, label: &str) -> Result<HsmSealingKey> {
        HsmSealingKey::find_or_generate(self, label)
    }

    /// The Ed25519 signing key labelled `label`, which must exist: nothing is generated.
    ///
    /// # Errors
    ///
    /// [`Error::KeyMissing`] when the token has no such key, else as
    /// [`Token::ed25519_key`].
    pub fn existing_ed25519_key(&self, label: &str) -> Result<HsmEd25519Key> {
        let pair = self.find(label, Curve::Ed25519, false)?;
        Ok(HsmEd25519Key::new(self.clone(), pair))
    }

    /// The session, for one sequence of calls. A panic while holding it cannot leave a
    /// PKCS#11 operation half done (every call used here is single-part), so a poisoned lock
    /// is taken over.
    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find_or_generate(&self, label: &str, curve: Curve) -> Result<KeyPair> {
        self.find(label, curve, true)
    }

    /// The key pair labelled `label` of `curve`; generated when there is none and `generate`.
    fn find(&self, label: &str, curve: Curve, generate: bool) -> Result<KeyPair> {
        let session = self.session();
        let template = |class| {
            vec![
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(curve.id().to_vec()),
            ]
        };
        let privates = session
            .find_objects(&template(ObjectClass::PRIVATE_KEY))
            .map_err(Error::pkcs11("C_FindObjects"))?;
        let publics = session
            .find_objects(&template(ObjectClass::PUBLIC_KEY))
            .map_err(Error::pkcs11("C_FindObjects"))?;
        let duplicate = || Error::DuplicateKey {
            label: label.to_owned(),
            kind: curve.name(),
        };
        let (private, public) = match (privates.as_slice(), publics.as_slice()) {
            ([], []) if generate => generate_pair(&session, curve, label, true)?,
            ([], []) => {
                return Err(Error::KeyMissing {
                    label: label.to_owned(),
                    reason: "the token has no such key",
                })
            }
            ([private], [public]) => (*private, *public),
            ([_], []) => {
                return Err(Error::KeyMissing {
                    label: label.to_owned(),
                    reason: "the private key is in the token, its public key is not",
                })
            }
            ([], [_]) => {
                return Err(Error::KeyMissing {
                    label: label.to_owned(),
                    reason: "only the public key is in the token",
                })
            }
            _ => return Err(duplicate()),
        };
        let public_key = ec_point(&session, public)?;
        Ok(KeyPair {
            private,
            public_key,
            label: label.to_owned(),
        })
    }
}

/// The curves of the keys kept here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    X25519,
    Ed25519,
}

impl Curve {
    fn oid(self) -> &'static [u8; 5] {
        match self {
            Self::X25519 => &OID_X25519,
            Self::Ed25519 => &OID_ED25519,
        }
    }

    /// The `CKA_ID` of both halves: keys are found by label and curve, and SoftHSM's
    /// X25519 and Ed25519 private keys have the same key type and no `CKA_EC_PARAMS` to
    /// search by.
    fn id(self) -> &'static [u8] {
        match self {
            Self::X25519 => b"sdv-x25519",
            Self::Ed25519 => b"sdv-ed25519",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::X25519 => "X25519",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// A private key in the token and its public key's bytes.
#[derive(Debug, Clone)]
pub(crate) struct KeyPair {
    pub(crate) private: ObjectHandle,
    pub(crate) public_key: [u8; 32],
    pub(crate) label: String,
}

/// Generates a key pair: a token object (`token`) or a session object. Returns (private,
/// public). The private key is sensitive and non-extractable; X25519 keys may only derive,
/// Ed25519 keys only sign.
pub(crate) fn generate_pair(
    session: &Session,
    curve: Curve,
    label: &str,
    token: bool,
) -> Result<(ObjectHandle, ObjectHandle)> {
    let attempt = |mechanism: Mechanism<'static>, key_type: KeyType| {
        let x25519 = curve == Curve::X25519;
        let public = [
            Attribute::Token(token),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(curve.id().to_vec()),
            Attribute::KeyType(key_type),
            Attribute::EcParams(curve.oid().to_vec()),
            Attribute::Derive(x25519),
            Attribute::Verify(!x25519),
        ];
        let private = [
            Attribute::Token(token),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(curve.id().to_vec()),
            Attribute::KeyType(key_type),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Derive(x25519),
            Attribute::Sign(!x25519),
        ];
        session
            .generate_key_pair(&mechanism, &public, &private)
            .map(|(public, private)| (private, public))
            .map_err(Error::pkcs11("C_GenerateKeyPair"))
    };
    match curve {
        // PKCS#11 3.0 first; SoftHSM 2.6 knows X25519 only as an Edwards-type key.
        Curve::X25519 => attempt(Mechanism::EccMontgomeryKeyPairGen, KeyType::EC_MONTGOMERY)
            .or_else(|_| attempt(Mechanism::EccEdwardsKeyPairGen, KeyType::EC_EDWARDS)),
        Curve::Ed25519 => attempt(Mechanism::EccEdwardsKeyPairGen, KeyType::EC_EDWARDS),
    }
}

/// The 32 bytes of an X25519 or Ed25519 public key: `CKA_EC_POINT` is a DER OCTET STRING
/// (`04 20 | key`) on SoftHSM, raw on some tokens.
pub(crate) fn ec_point(session: &Session, public: ObjectHandle) -> Result<[u8; 32]> {
    let attributes = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(Error::pkcs11("C_GetAttributeValue(CKA_EC_POINT)"))?;
    let Some(Attribute::EcPoint(point)) = attributes.into_iter().next() else {
        return Err(Error::UnexpectedAttribute("CKA_EC_POINT (missing)"));
    };
    let raw = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        raw => raw,
    };
    raw.try_into()
        .map_err(|_| Error::UnexpectedAttribute("CKA_EC_POINT (not a 32-byte key)"))
}

/// Destroys a temporary object; used on every path, so a failure is only reported when the
/// operation itself succeeded.
pub(crate) fn destroy(session: &Session, object: ObjectHandle) -> Result<()> {
    session
        .destroy_object(object)
        .map_err(Error::pkcs11("C_DestroyObject"))
}

/// What the token enforces for a private key, as found by [`HsmRecoveryKey::protection`] and
/// [`HsmEd25519Key::protection`]: an audit before a ceremony, and what the tests check.
#[derive(Debug)]
pub struct KeyProtection {
    /// `C_GetAttributeValue(CKA_VALUE)` reports the value sensitive (unreadable).
    pub value_sensitive: bool,
    /// `CKA_ALWAYS_SENSITIVE`: the key was sensitive since it was made.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`: the key was never extractable.
    pub never_extractable: bool,
    /// How the token answered `C_WrapKey` of the key under a fresh session AES key
    /// (`CKM_AES_KEY_WRAP_PAD`): `Some(CKR_KEY_UNEXTRACTABLE)` is right, `None` means it
    /// wrapped it (the wrapped bytes are discarded).
    pub wrap_refused: Option<RvError>,
    /// How the token answered setting `CKA_EXTRACTABLE` to true: `Some(CKR_ATTRIBUTE_READ_ONLY)`
    /// is right, `None` means it accepted.
    pub make_extractable_refused: Option<RvError>,
}

impl KeyProtection {
    /// Whether every check shows the key cannot leave the token.
    pub fn is_locked_in(&self) -> bool {
        self.value_sensitive
            && self.always_sensitive
            && self.never_extractable
            && self.wrap_refused.is_some()
            && self.make_extractable_refused.is_some()
    }
}

/// Probes `private`'s protection (see [`KeyProtection`]).
pub(crate) fn protection(token: &Token, private: ObjectHandle) -> Result<KeyProtection> {
    let session = token.session();
    let info = session
        .get_attribute_info(private, &[AttributeType::Value])
        .map_err(Error::pkcs11("C_GetAttributeValue(CKA_VALUE)"))?;
    let value_sensitive = matches!(info.as_slice(), [AttributeInfo::Sensitive]);
    let flags = session
        .get_attributes(
            private,
            &[
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
            ],
        )
        .map_err(Error::pkcs11("C_GetAttributeValue"))?;
    let (mut always_sensitive, mut never_extractable) = (false, false);
    for attribute in flags {
        match attribute {
            Attribute::AlwaysSensitive(v) => always_sensitive = v,
            Attribute::NeverExtractable(v) => never_extractable = v,
            _ => {}
        }
    }
    let kek = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Wrap(true),
            ],
        )
        .map_err(Error::pkcs11("C_GenerateKey(AES)"))?;
    let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, kek, private);
    destroy(&session, kek)?;
    let wrap_refused = refusal(wrapped.map(drop))?;
    let make_extractable_refused =
        refusal(session.update_attributes(private, &[Attribute::Extractable(true)]))?;
    Ok(KeyProtection {
        value_sensitive,
        always_sensitive,
        never_extractable,
        wrap_refused,
        make_extractable_refused,
    })
}

fn refusal(result: std::result::Result<(), CryptokiError>) -> Result<Option<RvError>> {
    match result {
        Ok(()) => Ok(None),
        Err(CryptokiError::Pkcs11(code, _)) => Ok(Some(code)),
        Err(e) => Err(Error::pkcs11("probing the key's protection")(e)),
    }
}
