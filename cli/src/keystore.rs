//! The key files: one JSON file per key name, its secret encrypted with a passphrase.
//!
//! The secret (a BIP-39 phrase or a secret URI such as `//Alice`) is encrypted with
//! XChaCha20-Poly1305 under a key that Argon2id derives from the passphrase and a random salt.
//! The public key and address stay readable, so accounts can be named without the passphrase.

use std::{
    fs,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{bail, Context};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::{
    aead::{Aead, KeyInit},
    XChaCha20Poly1305, XNonce,
};
use hmac::Hmac;
use rand::RngCore;
use sdv_storage_client::envelope::encryption_secret_from_seed;
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use subxt_signer::{sr25519::Keypair, ExposeSecret, SecretUri};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, Zeroizing};

use crate::Usage;

/// Argon2id cost: 19 MiB, 2 passes, 1 lane (OWASP's recommendation for Argon2id).
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// The key derivation recorded in a key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Kdf {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

/// The scheme of a key whose sr25519 secret is in the key file, passphrase-encrypted.
pub(crate) const SCHEME_SR25519: &str = "sr25519";
/// The scheme of an Ed25519 key that lives in a PKCS#11 token; its file holds no secret.
pub(crate) const SCHEME_TOKEN: &str = "ed25519-pkcs11";
/// The scheme of one share of a 2-of-3 MPC wallet (see [`crate::mpc`]): the file holds the
/// share and an X25519 encryption secret, passphrase-encrypted like an sr25519 secret.
pub(crate) const SCHEME_MPC: &str = "ed25519-mpc";

/// The public part of an MPC key: which share it is and the wallet it belongs to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MpcKeyRef {
    /// The share's role: `device` or `backup`.
    pub(crate) role: sdv_mpc::Role,
    /// The wallet's account and each role's verifying share.
    pub(crate) wallet: sdv_mpc::WalletPublic,
    /// The X25519 public key of the file's encryption secret (0x + 64 hex digits).
    pub(crate) encryption_key: String,
}

/// Where a token key lives: the PKCS#11 module, the token's label and the key's label.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TokenKeyRef {
    /// The PKCS#11 module (a shared library) that drives the token.
    pub(crate) module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token).
    pub(crate) token: String,
    /// The key's `CKA_LABEL` in the token.
    pub(crate) key_label: String,
}

/// One key file: an sr25519 key with its encrypted secret, or a token key's public part.
///
/// The secret fields are absent in a token key's file; the token fields are absent in the
/// files of sr25519 keys (so files written before token keys existed read as they are).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    pub(crate) name: String,
    pub(crate) scheme: String,
    pub(crate) public: String,
    pub(crate) ss58: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cipher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pkcs11: Option<TokenKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mpc: Option<MpcKeyRef>,
}

impl KeyFile {
    /// The key's account.
    pub(crate) fn account(&self) -> anyhow::Result<sdv_chain::AccountId> {
        sdv_chain::AccountId::from_str(&self.ss58)
            .map_err(|e| anyhow::anyhow!("key file {}: bad address: {e}", self.name))
    }

    /// Where the key lives, when it is a token key.
    pub(crate) fn token(&self) -> anyhow::Result<Option<&TokenKeyRef>> {
        match (self.scheme.as_str(), &self.pkcs11) {
            (SCHEME_TOKEN, Some(token)) => Ok(Some(token)),
            (SCHEME_TOKEN, None) => bail!(
                "key file {}: a {SCHEME_TOKEN} key without its module, token and key label",
                self.name
            ),
            _ => Ok(None),
        }
    }

    /// The share and wallet, when it is an MPC key.
    pub(crate) fn mpc(&self) -> anyhow::Result<Option<&MpcKeyRef>> {
        match (self.scheme.as_str(), &self.mpc) {
            (SCHEME_MPC, Some(mpc)) => Ok(Some(mpc)),
            (SCHEME_MPC, None) => bail!(
                "key file {}: a {SCHEME_MPC} key without its role and wallet",
                self.name
            ),
            _ => Ok(None),
        }
    }

    /// The public key's 32 bytes.
    pub(crate) fn public_bytes(&self) -> anyhow::Result<[u8; 32]> {
        self.public
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| anyhow::anyhow!("key file {}: bad public key", self.name))
    }

    /// What kind of key it is, in words.
    pub(crate) fn kind(&self) -> String {
        match &self.pkcs11 {
            Some(token) if self.scheme == SCHEME_TOKEN => {
                format!("ed25519 in PKCS#11 token {:?}", token.token)
            }
            _ => match &self.mpc {
                Some(mpc) if self.scheme == SCHEME_MPC => {
                    format!("ed25519 MPC wallet, {} share of 2-of-3", mpc.role)
                }
                _ => self.scheme.clone(),
            },
        }
    }
}

/// The key directory.
pub(crate) struct Keystore {
    dir: PathBuf,
}

impl Keystore {
    /// The keystore in `dir` (created on first write).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The default directory: `$XDG_CONFIG_HOME/sdv/keys` or `~/.config/sdv/keys`.
    pub(crate) fn default_dir() -> PathBuf {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        config.join("sdv").join("keys")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Whether a key of that name exists (a malformed name never does).
    pub(crate) fn contains(&self, name: &str) -> bool {
        valid_name(name) && self.path(name).is_file()
    }

    /// Every key, by name.
    pub(crate) fn list(&self) -> anyhow::Result<Vec<KeyFile>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                keys.push(read(&path)?);
            }
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    /// The key file `name`.
    pub(crate) fn load(&self, name: &str) -> anyhow::Result<KeyFile> {
        if !self.contains(name) {
            bail!(
                "no key named {name} in {} (see `sdv key list`)",
                self.dir.display()
            );
        }
        read(&self.path(name))
    }

    /// Encrypts `secret` (a phrase or secret URI) under `passphrase` and writes key `name`.
    pub(crate) fn save(
        &self,
        name: &str,
        secret: &str,
        passphrase: &str,
    ) -> anyhow::Result<KeyFile> {
        self.check_new(name)?;
        let keypair = keypair_of(secret)?;
        let (kdf, nonce, ciphertext) = encrypt(secret.as_bytes(), passphrase)?;
        let account = sdv_chain::AccountId::from(keypair.public_key().0);
        let file = KeyFile {
            name: name.into(),
            scheme: SCHEME_SR25519.into(),
            public: format!("0x{}", hex::encode(keypair.public_key().0)),
            ss58: account.to_string(),
            kdf: Some(kdf),
            cipher: Some("xchacha20poly1305".into()),
            nonce: Some(hex::encode(nonce)),
            ciphertext: Some(hex::encode(ciphertext)),
            pkcs11: None,
            mpc: None,
        };
        self.write(&file)?;
        Ok(file)
    }

    /// Writes key `name` for an Ed25519 key with the `public` key that lives in a token: its
    /// public key, address and where it lives, no secret.
    pub(crate) fn save_token_key(
        &self,
        name: &str,
        public: [u8; 32],
        token: TokenKeyRef,
    ) -> anyhow::Result<KeyFile> {
        self.check_new(name)?;
        let file = KeyFile {
            name: name.into(),
            scheme: SCHEME_TOKEN.into(),
            public: format!("0x{}", hex::encode(public)),
            ss58: sdv_chain::AccountId::from(public).to_string(),
            kdf: None,
            cipher: None,
            nonce: None,
            ciphertext: None,
            pkcs11: Some(token),
            mpc: None,
        };
        self.write(&file)?;
        Ok(file)
    }

    /// Writes key `name` for a share of an MPC wallet: `secret` (the share and the encryption
    /// secret, see [`crate::mpc`]) encrypted under `passphrase` like an sr25519 secret, and
    /// the wallet's public data readable.
    pub(crate) fn save_mpc_key(
        &self,
        name: &str,
        mpc: MpcKeyRef,
        secret: &[u8],
        passphrase: &str,
    ) -> anyhow::Result<KeyFile> {
        self.check_new(name)?;
        let (kdf, nonce, ciphertext) = encrypt(secret, passphrase)?;
        let account = mpc.wallet.account;
        let file = KeyFile {
            name: name.into(),
            scheme: SCHEME_MPC.into(),
            public: format!("0x{}", hex::encode(account)),
            ss58: sdv_chain::AccountId::from(account).to_string(),
            kdf: Some(kdf),
            cipher: Some("xchacha20poly1305".into()),
            nonce: Some(hex::encode(nonce)),
            ciphertext: Some(hex::encode(ciphertext)),
            pkcs11: None,
            mpc: Some(mpc),
        };
        self.write(&file)?;
        Ok(file)
    }

    /// Decrypts the secret of the MPC key `name` with `passphrase`.
    pub(crate) fn unlock_mpc(
        &self,
        name: &str,
        passphrase: &str,
    ) -> anyhow::Result<(KeyFile, Zeroizing<Vec<u8>>)> {
        let file = self.load(name)?;
        if file.mpc()?.is_none() {
            bail!("key {name} is not an MPC key ({})", file.kind());
        }
        let secret = decrypt(&file, passphrase)?;
        Ok((file, secret))
    }

    /// Fails unless `name` is a valid name that no key has.
    pub(crate) fn check_new(&self, name: &str) -> anyhow::Result<()> {
        if !valid_name(name) {
            return Err(Usage(format!(
                "\"{name}\" is not a key name (1 to 64 letters, digits, '-' or '_')"
            ))
            .into());
        }
        if self.contains(name) {
            bail!("a key named {name} exists already");
        }
        Ok(())
    }

    fn write(&self, file: &KeyFile) -> anyhow::Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        write_private(&self.path(&file.name), &serde_json::to_vec_pretty(file)?)
    }

    /// Decrypts key `name` with `passphrase`.
    pub(crate) fn unlock(&self, name: &str, passphrase: &str) -> anyhow::Result<Keypair> {
        Ok(self.unlock_secret(name, passphrase)?.0)
    }

    /// Decrypts key `name` with `passphrase`: its key pair and its secret phrase or URI.
    pub(crate) fn unlock_secret(
        &self,
        name: &str,
        passphrase: &str,
    ) -> anyhow::Result<(Keypair, Zeroizing<String>)> {
        let file = self.load(name)?;
        if let Some(token) = file.token()? {
            return Err(needs_secret(name, token));
        }
        if file.mpc()?.is_some() {
            bail!(
                "key {name} is a share of an MPC wallet, not an sr25519 key: it signs with a \
                 co-signer (see `sdv mpc show --name {name}`)"
            );
        }
        let secret = decrypt(&file, passphrase)?;
        let secret = std::str::from_utf8(&secret).context("key file: bad secret")?;
        let keypair = keypair_of(secret)?;
        if format!("0x{}", hex::encode(keypair.public_key().0)) != file.public {
            bail!("key file {name}: the secret does not match the public key");
        }
        Ok((keypair, Zeroizing::new(secret.to_owned())))
    }
}

/// The refusal of a command that needs an sr25519 secret, for a token key (a usage error).
pub(crate) fn needs_secret(name: &str, token: &TokenKeyRef) -> anyhow::Error {
    Usage(format!(
        "key {name} is an Ed25519 key in PKCS#11 token {:?} and its secret never leaves the \
         token: it signs chain writes only; this command needs a keystore (sr25519) key's \
         secret (the encryption key, the gateway login)",
        token.token
    ))
    .into()
}

/// The sr25519 key of a phrase or secret URI (`//Alice` derives from the dev phrase).
pub(crate) fn keypair_of(secret: &str) -> anyhow::Result<Keypair> {
    let uri = SecretUri::from_str(secret.trim())
        .map_err(|_| Usage("not a valid secret phrase or URI".into()))?;
    Keypair::from_uri(&uri).map_err(|_| Usage("not a valid secret phrase or URI".into()).into())
}

/// The account's X25519 encryption secret, derived from its secret phrase or URI with
/// [`encryption_secret_from_seed`] so that the same secret always gives the same key.
///
/// The seed is the sr25519 mini-secret of the phrase (the first 32 bytes of its BIP-39 seed
/// with the URI's password, as Substrate derives it; or the `0x` hex seed itself), followed,
/// for each derivation junction of the URI, by `1` (hard) or `0` (soft) and the junction's 32
/// bytes. Without junctions it is exactly the 32-byte mini-secret. The phrase's spelling
/// (spaces, case of the URI) does not matter, only the key it names.
pub(crate) fn encryption_secret(secret: &str) -> anyhow::Result<StaticSecret> {
    let uri = SecretUri::from_str(secret.trim())
        .map_err(|_| Usage("not a valid secret phrase or URI".into()))?;
    let mut seed = Zeroizing::new(Vec::with_capacity(32 + 33 * uri.junctions.len()));
    let phrase = uri.phrase.expose_secret();
    if let Some(digits) = phrase.strip_prefix("0x") {
        let mut mini = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits, mini.as_mut())
            .map_err(|_| Usage("the hex seed is not 32 bytes of hex".into()))?;
        seed.extend_from_slice(mini.as_ref());
    } else {
        let mnemonic = subxt_signer::bip39::Mnemonic::from_str(phrase)
            .map_err(|_| Usage("not a valid secret phrase or URI".into()))?;
        let (mut entropy, len) = mnemonic.to_entropy_array();
        let password = uri.password.as_ref().map(|p| p.expose_secret());
        let salt = Zeroizing::new(format!("mnemonic{}", password.unwrap_or("")));
        let mut big_seed = Zeroizing::new([0u8; 64]);
        let derived = pbkdf2::pbkdf2::<Hmac<Sha512>>(
            &entropy[..len],
            salt.as_bytes(),
            2048,
            big_seed.as_mut(),
        );
        entropy.zeroize();
        derived.map_err(|_| anyhow::anyhow!("deriving the seed failed"))?;
        seed.extend_from_slice(&big_seed[..32]);
    }
    for junction in &uri.junctions {
        seed.push(u8::from(junction.is_hard()));
        seed.extend_from_slice(junction.inner());
    }
    Ok(encryption_secret_from_seed(&seed))
}

/// A new random 12-word BIP-39 phrase.
pub(crate) fn generate_phrase() -> Zeroizing<String> {
    let mut entropy = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut entropy);
    let phrase = subxt_signer::bip39::Mnemonic::from_entropy(&entropy)
        .expect("16 bytes are valid BIP-39 entropy")
        .to_string();
    entropy.zeroize();
    Zeroizing::new(phrase)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Encrypts `secret` under `passphrase`: a fresh Argon2id salt and XChaCha20-Poly1305 nonce;
/// returns the key derivation, the nonce and the ciphertext.
fn encrypt(secret: &[u8], passphrase: &str) -> anyhow::Result<(Kdf, [u8; 24], Vec<u8>)> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let kdf = Kdf {
        algorithm: "argon2id".into(),
        m_cost_kib: M_COST_KIB,
        t_cost: T_COST,
        p_cost: P_COST,
        salt: hex::encode(salt),
    };
    let key = derive(&kdf, passphrase)?;
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), secret)
        .map_err(|_| anyhow::anyhow!("encrypting the key failed"))?;
    Ok((kdf, nonce, ciphertext))
}

/// Decrypts the secret of `file` with `passphrase`.
fn decrypt(file: &KeyFile, passphrase: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let name = &file.name;
    let (Some(kdf), Some(cipher), Some(nonce), Some(ciphertext)) =
        (&file.kdf, &file.cipher, &file.nonce, &file.ciphertext)
    else {
        bail!("key file {name}: no encrypted secret");
    };
    if kdf.algorithm != "argon2id" || cipher != "xchacha20poly1305" {
        bail!("key {name} uses an unknown key derivation or cipher");
    }
    let key = derive(kdf, passphrase)?;
    let nonce = hex::decode(nonce).context("key file: bad nonce")?;
    let ciphertext = hex::decode(ciphertext).context("key file: bad ciphertext")?;
    if nonce.len() != 24 {
        bail!("key file {name}: bad nonce");
    }
    let cipher = XChaCha20Poly1305::new(key.as_ref().into());
    Ok(Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(&nonce), ciphertext.as_slice())
            .map_err(|_| anyhow::anyhow!("wrong passphrase for key {name}"))?,
    ))
}

fn derive(kdf: &Kdf, passphrase: &str) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let salt = hex::decode(&kdf.salt).context("key file: bad salt")?;
    let params = Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| anyhow::anyhow!("key file: bad argon2 parameters: {e}"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &salt, key.as_mut())
        .map_err(|e| anyhow::anyhow!("deriving the key failed: {e}"))?;
    Ok(key)
}

fn read(path: &Path) -> anyhow::Result<KeyFile> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("key file {}", path.display()))
}

/// Writes a file only its owner can read (mode 0600), atomically.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_and_rejects_a_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().join("keys"));
        let file = store.save("alice", "//Alice", "secret").unwrap();
        assert_eq!(
            file.ss58,
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        let key = store.unlock("alice", "secret").unwrap();
        assert_eq!(
            key.public_key().0,
            subxt_signer::sr25519::dev::alice().public_key().0
        );
        let err = store.unlock("alice", "wrong").unwrap_err();
        assert_eq!(err.to_string(), "wrong passphrase for key alice");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("keys/alice.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn token_key_file_holds_no_secret_and_refuses_unlocking() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().join("keys"));
        let token = TokenKeyRef {
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            token: "guardian".into(),
            key_label: "g".into(),
        };
        let file = store.save_token_key("g", [7; 32], token).unwrap();
        assert_eq!(file.scheme, SCHEME_TOKEN);
        assert_eq!(file.public_bytes().unwrap(), [7; 32]);
        let text = fs::read_to_string(dir.path().join("keys/g.json")).unwrap();
        for secret_field in ["kdf", "cipher", "nonce", "ciphertext"] {
            assert!(!text.contains(secret_field), "{text}");
        }
        let loaded = store.load("g").unwrap();
        assert_eq!(loaded.token().unwrap().unwrap().token, "guardian");
        let err = store.unlock("g", "any").unwrap_err();
        assert!(err.downcast_ref::<Usage>().is_some(), "{err}");
        assert!(err.to_string().contains("never leaves the token"), "{err}");
    }

    #[test]
    fn key_files_without_token_fields_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().to_owned());
        let file = store.save("alice", "//Alice", "secret").unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.path().join("alice.json")).unwrap())
                .unwrap();
        assert!(json.get("pkcs11").is_none());
        json.as_object_mut().unwrap().remove("pkcs11");
        fs::write(dir.path().join("alice.json"), json.to_string()).unwrap();
        assert!(store.load("alice").unwrap().token().unwrap().is_none());
        assert_eq!(
            store.unlock("alice", "secret").unwrap().public_key().0,
            file.public_bytes().unwrap()
        );
    }

    #[test]
    fn encryption_secret_of_a_phrase_is_its_mini_secret_derived() {
        let phrase = generate_phrase();
        // The seed is the sr25519 mini-secret: the same key pair comes from it.
        let secret = SecretUri::from_str(&phrase).unwrap();
        let mnemonic =
            subxt_signer::bip39::Mnemonic::from_str(secret.phrase.expose_secret()).unwrap();
        let (entropy, len) = mnemonic.to_entropy_array();
        let mut big_seed = [0u8; 64];
        pbkdf2::pbkdf2::<Hmac<Sha512>>(&entropy[..len], b"mnemonic", 2048, &mut big_seed).unwrap();
        let mini: [u8; 32] = big_seed[..32].try_into().unwrap();
        assert_eq!(
            Keypair::from_secret_key(mini).unwrap().public_key().0,
            keypair_of(&phrase).unwrap().public_key().0
        );
        let expected = encryption_secret_from_seed(&mini);
        assert_eq!(
            encryption_secret(&phrase).unwrap().to_bytes(),
            expected.to_bytes()
        );
        // Spelled with other white space: the same key.
        let spaced = format!("  {}  ", phrase.split(' ').collect::<Vec<_>>().join("   "));
        assert_eq!(
            encryption_secret(&spaced).unwrap().to_bytes(),
            expected.to_bytes()
        );
        // The hex form of the mini-secret names the same key.
        let hex_uri = format!("0x{}", hex::encode(mini));
        assert_eq!(
            encryption_secret(&hex_uri).unwrap().to_bytes(),
            expected.to_bytes()
        );
    }

    #[test]
    fn encryption_secret_depends_on_derivation_and_password() {
        let keys: Vec<[u8; 32]> = [
            "//Alice",
            "//Bob",
            "/Alice",
            "//Alice///pw",
            subxt_signer::DEV_PHRASE,
        ]
        .iter()
        .map(|uri| encryption_secret(uri).unwrap().to_bytes())
        .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            encryption_secret("//Alice").unwrap().to_bytes(),
            encryption_secret(&format!("{}//Alice", subxt_signer::DEV_PHRASE))
                .unwrap()
                .to_bytes()
        );
        assert!(encryption_secret("not a phrase").is_err());
    }

    #[test]
    fn generated_phrase_is_a_valid_key() {
        let phrase = generate_phrase();
        assert_eq!(phrase.split_whitespace().count(), 12);
        keypair_of(&phrase).unwrap();
    }

    #[test]
    fn dev_validator_uri_matches_node_config() {
        let key = keypair_of("//validator//1").unwrap();
        let expected = keypair_of(&format!("{}//validator//1", subxt_signer::DEV_PHRASE)).unwrap();
        assert_eq!(key.public_key().0, expected.public_key().0);
    }
}
