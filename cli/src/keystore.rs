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

/// One key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeyFile {
    pub(crate) name: String,
    pub(crate) scheme: String,
    pub(crate) public: String,
    pub(crate) ss58: String,
    kdf: Kdf,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

impl KeyFile {
    /// The key's account.
    pub(crate) fn account(&self) -> anyhow::Result<sdv_chain::AccountId> {
        sdv_chain::AccountId::from_str(&self.ss58)
            .map_err(|e| anyhow::anyhow!("key file {}: bad address: {e}", self.name))
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
        if !valid_name(name) {
            return Err(Usage(format!(
                "\"{name}\" is not a key name (1 to 64 letters, digits, '-' or '_')"
            ))
            .into());
        }
        if self.contains(name) {
            bail!("a key named {name} exists already");
        }
        let keypair = keypair_of(secret)?;
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
            .encrypt(XNonce::from_slice(&nonce), secret.as_bytes())
            .map_err(|_| anyhow::anyhow!("encrypting the key failed"))?;
        let account = sdv_chain::AccountId::from(keypair.public_key().0);
        let file = KeyFile {
            name: name.into(),
            scheme: "sr25519".into(),
            public: format!("0x{}", hex::encode(keypair.public_key().0)),
            ss58: account.to_string(),
            kdf,
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        };
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        write_private(&self.path(name), &serde_json::to_vec_pretty(&file)?)?;
        Ok(file)
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
        if file.kdf.algorithm != "argon2id" || file.cipher != "xchacha20poly1305" {
            bail!("key {name} uses an unknown key derivation or cipher");
        }
        let key = derive(&file.kdf, passphrase)?;
        let nonce = hex::decode(&file.nonce).context("key file: bad nonce")?;
        let ciphertext = hex::decode(&file.ciphertext).context("key file: bad ciphertext")?;
        if nonce.len() != 24 {
            bail!("key file {name}: bad nonce");
        }
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let secret = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(&nonce), ciphertext.as_slice())
                .map_err(|_| anyhow::anyhow!("wrong passphrase for key {name}"))?,
        );
        let secret = std::str::from_utf8(&secret).context("key file: bad secret")?;
        let keypair = keypair_of(secret)?;
        if format!("0x{}", hex::encode(keypair.public_key().0)) != file.public {
            bail!("key file {name}: the secret does not match the public key");
        }
        Ok((keypair, Zeroizing::new(secret.to_owned())))
    }
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
