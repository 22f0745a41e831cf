//! Client-side envelope encryption: the gateway never sees plaintext or an unwrapped key.
//!
//! # Overview
//!
//! Each document gets a random 256-bit [`DataKey`] and a random [`DocumentId`]. The file is
//! encrypted with AES-256-GCM in records of 1 MiB of plaintext; the data key is then wrapped
//! to the X25519 public key of every party that may read it: the owner's key published in
//! DocumentNFT and readers it is shared with ([`wrap`], v1), and the [`RecoveryKey`]
//! ([`wrap_v2`], v2; see [`wrapped_key`]).
//!
//! # Ciphertext format (`SDV1`)
//!
//! ```text
//! header (32 bytes) = "SDV1" | document id (16) | record size u32 BE (1 MiB) | plaintext length u64 BE
//! record            = nonce (12, random per record) | AES-256-GCM(plaintext of up to 1 MiB) | tag (16)
//! record AAD        = "sdv-doc-v1" | document id | record index u32 BE | final flag u8 | header
//! ```
//!
//! There is one record per started MiB of plaintext, and always at least one (an empty file
//! has one empty, final record). The index and the final flag in the AAD make reordering,
//! dropping and truncating records fail authentication; the header in the AAD binds the
//! records to their document and its length, so a header from another document, or a changed
//! length, fails too.
//!
//! # Key wrap
//!
//! Two formats, told apart by their length (there is no version byte); [`unwrap`] and
//! [`RecoveryKey::unwrap`] open both, any other length is [`Error::WrappedKeyLength`].
//!
//! v1, [`WRAPPED_KEY_LEN`] = 92 bytes ([`wrap`]; owner and reader keys):
//!
//! ```text
//! shared  = X25519(ephemeral secret, recipient public)       (all-zero is refused)
//! KEK     = HKDF-SHA256(ikm = shared, salt = ephemeral public | recipient public, info = "sdv-key-wrap-v1")
//! wrapped = ephemeral public (32) | nonce (12) | AES-256-GCM(KEK, data key, AAD = "sdv-key-wrap-v1" | recipient public) (48)
//! ```
//!
//! v2, [`WRAPPED_KEY_V2_LEN`] = 72 bytes ([`wrap_v2`]; recovery keys):
//!
//! ```text
//! shared  = X25519(ephemeral secret, recipient public)       (all-zero is refused)
//! data    = SHA-256("sdv-key-wrap-v2" | ephemeral public | recipient public)     (32)
//! KEK     = AES-256-CBC(key = shared, iv = 0^16, data)                             (32, no padding)
//! wrapped = ephemeral public (32) | AES-KW RFC 3394 (KEK, data key) (40)
//! ```
//!
//! v2 exists so that a PKCS#11 token holding the recovery secret (SoftHSM 2.6, and HSMs
//! alike) can open a recovery-wrapped key and wrap it again to a new wallet entirely inside
//! itself, the data key never reaching host memory: SoftHSM 2.6 has ECDH with `CKD_NULL`
//! (the raw shared secret as an AES key) and `CKM_AES_CBC_ENCRYPT_DATA` derivation (the KEK
//! above), and `CKM_AES_KEY_WRAP`, but no HKDF, and it cannot unwrap with AES-GCM. The KDF
//! is AES-256 keyed by the shared secret used as a PRF over a hash of both public keys, so
//! the KEK is bound to the ephemeral and the recipient key; AES-KW's 64-bit integrity check
//! takes the place of the GCM tag. The token cannot check for small-order keys, so the host
//! must refuse them before asking it.
//!
//! A wallet derives its X25519 secret from its own secret seed with
//! [`encryption_secret_from_seed`], so nothing new has to be backed up.

use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use aes_gcm::{
    aead::{Aead, AeadInPlace, KeyInit, Payload},
    aes::{cipher::BlockEncrypt, Aes256, Block},
    Aes256Gcm, Nonce,
};
use hkdf::Hkdf;
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{
    protocol::{KeyRole, WrappedKey},
    Error, Result,
};

/// The first four bytes of every encrypted document.
pub const MAGIC: [u8; 4] = *b"SDV1";
/// The plaintext bytes of every record but the last.
pub const RECORD_SIZE: usize = 1_048_576;
/// The header's length.
pub const HEADER_LEN: usize = 32;
/// An AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// An AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// What a record adds to its plaintext: its nonce and tag.
pub const RECORD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// The length of a v1 wrapped data key ([`wrap`]): ephemeral public key, nonce, encrypted
/// key, tag.
pub const WRAPPED_KEY_LEN: usize = 32 + NONCE_LEN + 32 + TAG_LEN;
/// The length of a v2 wrapped data key ([`wrap_v2`]): ephemeral public key, AES-KW of the
/// key (its 32 bytes and an 8-byte integrity check).
pub const WRAPPED_KEY_V2_LEN: usize = 32 + 32 + AES_KW_OVERHEAD;
/// The longest plaintext the format holds (record indexes are `u32`): about 4 PiB.
pub const MAX_PLAINTEXT_LEN: u64 = u32::MAX as u64 * RECORD_SIZE as u64;

/// The domain of a record's associated data.
const RECORD_DOMAIN: &[u8] = b"sdv-doc-v1";
/// The domain of a key wrap (HKDF info and AAD prefix).
const KEY_WRAP_DOMAIN: &[u8] = b"sdv-key-wrap-v1";
/// The domain of a v2 key wrap (prefix of the hashed KDF input).
const KEY_WRAP_V2_DOMAIN: &[u8] = b"sdv-key-wrap-v2";
/// What AES-KW (RFC 3394) adds to the wrapped key: its integrity check value.
const AES_KW_OVERHEAD: usize = 8;
/// The HKDF info deriving a wallet's X25519 secret from its seed.
const ENCRYPTION_KEY_INFO: &[u8] = b"sdv-encryption-key-v1";
/// A record's associated data: domain, id, index, final flag, header.
const RECORD_AAD_LEN: usize = RECORD_DOMAIN.len() + 16 + 4 + 1 + HEADER_LEN;

/// A document's 256-bit AES key. Zeroized on drop; its `Debug` does not show the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Self([0; 32]);
        OsRng.fill_bytes(&mut key.0);
        key
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&self.0).into())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A document's random 16-byte id, bound into every record of its ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocumentId(pub [u8; 16]);

impl DocumentId {
    /// A new random id.
    pub fn random() -> Self {
        let mut id = [0; 16];
        OsRng.fill_bytes(&mut id);
        Self(id)
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The 32-byte header of an encrypted document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The document.
    pub id: DocumentId,
    /// The plaintext length.
    pub plaintext_len: u64,
}

impl Header {
    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..20].copy_from_slice(&self.id.0);
        bytes[20..24].copy_from_slice(&(RECORD_SIZE as u32).to_be_bytes());
        bytes[24..].copy_from_slice(&self.plaintext_len.to_be_bytes());
        bytes
    }

    /// Reads a header's bytes.
    ///
    /// # Errors
    ///
    /// [`Error::NotEncrypted`] without the magic, [`Error::UnsupportedRecordSize`] for a
    /// record size other than [`RECORD_SIZE`], [`Error::TooLarge`] for a length over
    /// [`MAX_PLAINTEXT_LEN`].
    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Result<Self> {
        if bytes[..4] != MAGIC {
            return Err(Error::NotEncrypted);
        }
        let record_size = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
        if record_size as usize != RECORD_SIZE {
            return Err(Error::UnsupportedRecordSize(record_size));
        }
        let plaintext_len = u64::from_be_bytes(bytes[24..].try_into().expect("8 bytes"));
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge(plaintext_len));
        }
        Ok(Self {
            id: DocumentId(bytes[4..20].try_into().expect("16 bytes")),
            plaintext_len,
        })
    }

    /// The number of records: one per started MiB, at least one.
    pub fn records(&self) -> u32 {
        (self.plaintext_len.div_ceil(RECORD_SIZE as u64) as u32).max(1)
    }

    /// The plaintext bytes of record `index`.
    fn record_len(&self, index: u32) -> usize {
        let start = u64::from(index) * RECORD_SIZE as u64;
        (self.plaintext_len - start).min(RECORD_SIZE as u64) as usize
    }

    /// The ciphertext's length.
    pub fn ciphertext_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.records()) * RECORD_OVERHEAD as u64 + self.plaintext_len
    }

    fn aad(&self, header: &[u8; HEADER_LEN], index: u32) -> [u8; RECORD_AAD_LEN] {
        let last = index + 1 == self.records();
        let mut aad = [0; RECORD_AAD_LEN];
        let (domain, rest) = aad.split_at_mut(RECORD_DOMAIN.len());
        domain.copy_from_slice(RECORD_DOMAIN);
        rest[..16].copy_from_slice(&self.id.0);
        rest[16..20].copy_from_slice(&index.to_be_bytes());
        rest[20] = u8::from(last);
        rest[21..].copy_from_slice(header);
        aad
    }
}

/// The ciphertext length of a plaintext of `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    Header {
        id: DocumentId([0; 16]),
        plaintext_len,
    }
    .ciphertext_len()
}

/// An encrypted file: what an upload session is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encrypted {
    /// Ciphertext bytes.
    pub size: u64,
    /// sha256 of the whole ciphertext.
    pub sha256: [u8; 32],
}

/// Encrypts `plaintext_len` bytes read from `src` into `dst`, one record in memory at a time,
/// hashing the ciphertext as it is written.
///
/// # Errors
///
/// [`Error::Io`] from either side; [`Error::SourceChanged`] when `src` does not hold exactly
/// `plaintext_len` bytes; [`Error::TooLarge`] over [`MAX_PLAINTEXT_LEN`].
pub fn encrypt_stream(
    mut src: impl Read,
    plaintext_len: u64,
    dst: impl Write + Send,
    key: &DataKey,
    id: DocumentId,
) -> Result<Encrypted> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge(plaintext_len));
    }
    let header = Header { id, plaintext_len };
    let header_bytes = header.to_bytes();
    let cipher = key.cipher();
    // Two stages on two threads: this one reads and encrypts records, the other hashes and
    // writes them, with a few records in between (memory stays bounded by them).
    let (sender, receiver) = std::sync::mpsc::sync_channel::<([u8; NONCE_LEN], Vec<u8>)>(4);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<Encrypted> {
            let mut out = HashingWriter::new(dst);
            out.write_all(&header_bytes)?;
            for (nonce, record) in receiver {
                out.write_all(&nonce)?;
                out.write_all(&record)?;
            }
            out.flush()?;
            Ok(out.finish())
        });
        let produced = (|| -> Result<()> {
            for index in 0..header.records() {
                let mut record = Zeroizing::new(vec![0; header.record_len(index)]);
                record.reserve_exact(TAG_LEN);
                src.read_exact(&mut record).map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => Error::SourceChanged,
                    _ => Error::Io(e),
                })?;
                let mut nonce = [0; NONCE_LEN];
                OsRng.fill_bytes(&mut nonce);
                cipher
                    .encrypt_in_place(
                        Nonce::from_slice(&nonce),
                        &header.aad(&header_bytes, index),
                        &mut *record,
                    )
                    .expect("a 1 MiB record is far below AES-GCM's length limit");
                // Ciphertext from here on: it leaves the zeroizing buffer.
                if sender.send((nonce, std::mem::take(&mut *record))).is_err() {
                    // The writer stopped on an error, which it reports below.
                    return Ok(());
                }
            }
            if read_full(&mut src, &mut [0; 1])? != 0 {
                return Err(Error::SourceChanged);
            }
            Ok(())
        })();
        drop(sender);
        let written = writer.join().expect("the writing thread does not panic");
        produced?;
        Ok(written?)
    })
}

/// Encrypts the file `src` into `dst` (created or replaced), streaming: memory is bounded by
/// one record. On failure `dst` is removed.
///
/// # Errors
///
/// As [`encrypt_stream`].
pub fn encrypt_file(src: &Path, dst: &Path, key: &DataKey, id: DocumentId) -> Result<Encrypted> {
    if let (Ok(a), Ok(b)) = (fs::canonicalize(src), fs::canonicalize(dst)) {
        if a == b {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the encrypted file would replace the file being encrypted",
            )
            .into());
        }
    }
    let input = File::open(src)?;
    let len = input.metadata()?.len();
    let output = File::create(dst)?;
    let result = (|| {
        let mut writer = BufWriter::new(output);
        let encrypted = encrypt_stream(&input, len, &mut writer, key, id)?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok(encrypted)
    })();
    if result.is_err() {
        let _ = fs::remove_file(dst);
    }
    result
}

/// Encrypts a byte slice in memory.
pub fn encrypt(plaintext: &[u8], key: &DataKey, id: DocumentId) -> Vec<u8> {
    let mut out = Vec::with_capacity(ciphertext_len(plaintext.len() as u64) as usize);
    encrypt_stream(plaintext, plaintext.len() as u64, &mut out, key, id)
        .expect("reading a slice and writing a Vec do not fail");
    out
}

/// Reads and checks the header at the start of `src`.
///
/// # Errors
///
/// As [`Header::from_bytes`], and [`Error::Truncated`] when `src` ends inside the header.
pub fn read_header(mut src: impl Read) -> Result<Header> {
    let mut bytes = [0; HEADER_LEN];
    let n = read_full(&mut src, &mut bytes)?;
    if n < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::NotEncrypted);
    }
    if n < HEADER_LEN {
        return Err(Error::Truncated);
    }
    Header::from_bytes(&bytes)
}

/// Decrypts `src` into `dst` record by record; returns the plaintext length.
///
/// Every record written to `dst` has been authenticated, but a failure can come after some
/// records were written: [`decrypt_file`] writes to a temporary file for that reason.
///
/// # Errors
///
/// As [`read_header`]; [`Error::Truncated`], [`Error::TrailingData`],
/// [`Error::RecordAuthentication`] for the first record that does not verify.
pub fn decrypt_stream(mut src: impl Read, mut dst: impl Write, key: &DataKey) -> Result<u64> {
    let header = read_header(&mut src)?;
    let header_bytes = header.to_bytes();
    let cipher = key.cipher();
    let mut record = Zeroizing::new(Vec::with_capacity(RECORD_SIZE + TAG_LEN));
    for index in 0..header.records() {
        let mut nonce = [0; NONCE_LEN];
        record.clear();
        record.resize(header.record_len(index) + TAG_LEN, 0);
        read_exactly(&mut src, &mut nonce)?;
        read_exactly(&mut src, &mut record)?;
        cipher
            .decrypt_in_place(
                Nonce::from_slice(&nonce),
                &header.aad(&header_bytes, index),
                &mut *record,
            )
            .map_err(|_| Error::RecordAuthentication { index })?;
        dst.write_all(&record)?;
    }
    if read_full(&mut src, &mut [0; 1])? != 0 {
        return Err(Error::TrailingData);
    }
    dst.flush()?;
    Ok(header.plaintext_len)
}

/// Decrypts the file `src` into `dst`; returns the plaintext length.
///
/// The plaintext goes to a temporary file next to `dst` (mode 0600), which is renamed to
/// `dst` only once every record verified: on failure no plaintext is left behind and an
/// existing `dst` is untouched.
///
/// # Errors
///
/// As [`decrypt_stream`].
pub fn decrypt_file(src: &Path, dst: &Path, key: &DataKey) -> Result<u64> {
    let input = File::open(src)?;
    let (tmp, output) = create_temp_next_to(dst)?;
    let result = (|| {
        let mut writer = BufWriter::new(output);
        let len = decrypt_stream(io::BufReader::new(input), &mut writer, key)?;
        writer
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        fs::rename(&tmp, dst)?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Decrypts a byte slice in memory.
///
/// # Errors
///
/// As [`decrypt_stream`].
pub fn decrypt(ciphertext: &[u8], key: &DataKey) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(ciphertext.len());
    decrypt_stream(ciphertext, &mut out, key)?;
    Ok(out)
}

/// Creates a new file next to `path` that only its owner can read, for a result that is
/// renamed to `path` once complete.
pub(crate) fn create_temp_next_to(path: &Path) -> Result<(PathBuf, File)> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    loop {
        let mut suffix = [0; 6];
        OsRng.fill_bytes(&mut suffix);
        let tmp = dir.join(format!(".{name}.{}.partial", hex::encode(suffix)));
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads until `buf` is full or the end; returns how many bytes were read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Fills `buf`; the end of `src` first is [`Error::Truncated`].
fn read_exactly(src: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    src.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::Io(e),
    })
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    fn finish(self) -> Encrypted {
        Encrypted {
            size: self.written,
            sha256: self.hasher.finalize().into(),
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Wraps `key` to `recipient`'s X25519 public key: [`WRAPPED_KEY_LEN`] bytes that only the
/// matching secret opens.
///
/// # Errors
///
/// [`Error::WeakPublicKey`] when `recipient` is of small order (the shared secret would be
/// all zeroes, and the key readable by anyone).
pub fn wrap(key: &DataKey, recipient: &PublicKey) -> Result<Vec<u8>> {
    let ephemeral = EphemeralSecret::random_from_rng(OsRng);
    let ephemeral_public = PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err(Error::WeakPublicKey);
    }
    let kek = key_wrap_kek(shared.as_bytes(), &ephemeral_public, recipient);
    let mut nonce = [0; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = Aes256Gcm::new((&*kek).into())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: key.as_bytes(),
                aad: &key_wrap_aad(recipient),
            },
        )
        .expect("32 bytes are far below AES-GCM's length limit");
    let mut wrapped = Vec::with_capacity(WRAPPED_KEY_LEN);
    wrapped.extend_from_slice(ephemeral_public.as_bytes());
    wrapped.extend_from_slice(&nonce);
    wrapped.extend_from_slice(&sealed);
    Ok(wrapped)
}

/// Opens a key wrapped to the public key of `secret`, by [`wrap`] (v1, [`WRAPPED_KEY_LEN`]
/// bytes) or [`wrap_v2`] (v2, [`WRAPPED_KEY_V2_LEN`] bytes): the length tells which.
///
/// # Errors
///
/// [`Error::WrappedKeyLength`] for any other length, [`Error::WeakPublicKey`] for an
/// ephemeral key of small order, [`Error::KeyUnwrap`] when it is wrapped to another key or
/// was changed.
pub fn unwrap(wrapped: &[u8], secret: &StaticSecret) -> Result<DataKey> {
    match wrapped.len() {
        WRAPPED_KEY_LEN => unwrap_v1(wrapped, secret),
        WRAPPED_KEY_V2_LEN => unwrap_v2(wrapped, secret),
        len => Err(Error::WrappedKeyLength(len)),
    }
}

fn unwrap_v1(wrapped: &[u8], secret: &StaticSecret) -> Result<DataKey> {
    let ephemeral_public = PublicKey::from(<[u8; 32]>::try_from(&wrapped[..32]).expect("32 bytes"));
    let shared = secret.diffie_hellman(&ephemeral_public);
    if !shared.was_contributory() {
        return Err(Error::WeakPublicKey);
    }
    open_v1(shared.as_bytes(), wrapped, &PublicKey::from(secret))
}

/// Opens a v1 wrapped key (92 bytes) to `recipient` given the X25519 shared secret of its
/// ephemeral key and the recipient's secret, computed elsewhere (in a PKCS#11 token, whose
/// secret never leaves it): the HKDF-SHA256 and AES-256-GCM steps of [`unwrap`].
///
/// # Errors
///
/// [`Error::WrappedKeyLength`] for another length, [`Error::KeyUnwrap`] when it does not open.
pub fn open_v1(shared: &[u8; 32], wrapped: &[u8], recipient: &PublicKey) -> Result<DataKey> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(Error::WrappedKeyLength(wrapped.len()));
    }
    let (ephemeral_public, rest) = wrapped.split_at(32);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let ephemeral_public =
        PublicKey::from(<[u8; 32]>::try_from(ephemeral_public).expect("32 bytes"));
    let kek = key_wrap_kek(shared, &ephemeral_public, recipient);
    let opened = Zeroizing::new(
        Aes256Gcm::new((&*kek).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &key_wrap_aad(recipient),
                },
            )
            .map_err(|_| Error::KeyUnwrap)?,
    );
    let bytes: [u8; 32] = opened.as_slice().try_into().map_err(|_| Error::KeyUnwrap)?;
    Ok(DataKey::from_bytes(bytes))
}

fn key_wrap_kek(
    shared: &[u8; 32],
    ephemeral_public: &PublicKey,
    recipient: &PublicKey,
) -> Zeroizing<[u8; 32]> {
    let mut salt = [0; 64];
    salt[..32].copy_from_slice(ephemeral_public.as_bytes());
    salt[32..].copy_from_slice(recipient.as_bytes());
    let mut kek = Zeroizing::new([0; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(KEY_WRAP_DOMAIN, kek.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    kek
}

fn key_wrap_aad(recipient: &PublicKey) -> [u8; KEY_WRAP_DOMAIN.len() + 32] {
    let mut aad = [0; KEY_WRAP_DOMAIN.len() + 32];
    aad[..KEY_WRAP_DOMAIN.len()].copy_from_slice(KEY_WRAP_DOMAIN);
    aad[KEY_WRAP_DOMAIN.len()..].copy_from_slice(recipient.as_bytes());
    aad
}

/// Wraps `key` to `recipient`'s X25519 public key in the v2 format (see the [module
/// docs](self)): [`WRAPPED_KEY_V2_LEN`] bytes that only the matching secret opens, and that a
/// PKCS#11 token holding that secret can open and wrap again without the key leaving it.
///
/// # Errors
///
/// [`Error::WeakPublicKey`] when `recipient` is of small order (the shared secret would be
/// all zeroes, and the key readable by anyone).
pub fn wrap_v2(key: &DataKey, recipient: &PublicKey) -> Result<Vec<u8>> {
    wrap_v2_with(key, recipient, &StaticSecret::random_from_rng(OsRng))
}

/// [`wrap_v2`] with a given ephemeral secret (fixed in tests).
fn wrap_v2_with(key: &DataKey, recipient: &PublicKey, ephemeral: &StaticSecret) -> Result<Vec<u8>> {
    let ephemeral_public = PublicKey::from(ephemeral);
    let shared = ephemeral.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err(Error::WeakPublicKey);
    }
    let kek = key_wrap_kek_v2(shared.as_bytes(), &ephemeral_public, recipient);
    let mut wrapped = vec![0; WRAPPED_KEY_V2_LEN];
    wrapped[..32].copy_from_slice(ephemeral_public.as_bytes());
    aes_kw::KekAes256::from(*kek)
        .wrap(key.as_bytes(), &mut wrapped[32..])
        .expect("32 bytes are a valid AES-KW input and 40 its output");
    Ok(wrapped)
}

fn unwrap_v2(wrapped: &[u8], secret: &StaticSecret) -> Result<DataKey> {
    let (ephemeral_public, sealed) = wrapped.split_at(32);
    let ephemeral_public =
        PublicKey::from(<[u8; 32]>::try_from(ephemeral_public).expect("32 bytes"));
    let recipient = PublicKey::from(secret);
    let shared = secret.diffie_hellman(&ephemeral_public);
    if !shared.was_contributory() {
        return Err(Error::WeakPublicKey);
    }
    let kek = key_wrap_kek_v2(shared.as_bytes(), &ephemeral_public, &recipient);
    let mut bytes = Zeroizing::new([0; 32]);
    aes_kw::KekAes256::from(*kek)
        .unwrap(sealed, bytes.as_mut())
        .map_err(|_| Error::KeyUnwrap)?;
    Ok(DataKey::from_bytes(*bytes))
}

/// The v2 KEK: AES-256-CBC (key = the shared secret, iv = 0) of
/// SHA-256(domain | ephemeral public | recipient public), two blocks, no padding; what
/// `CKM_AES_CBC_ENCRYPT_DATA` derives in a PKCS#11 token.
fn key_wrap_kek_v2(
    shared: &[u8; 32],
    ephemeral_public: &PublicKey,
    recipient: &PublicKey,
) -> Zeroizing<[u8; 32]> {
    let data: [u8; 32] = Sha256::new()
        .chain_update(KEY_WRAP_V2_DOMAIN)
        .chain_update(ephemeral_public.as_bytes())
        .chain_update(recipient.as_bytes())
        .finalize()
        .into();
    let aes = Aes256::new(shared.into());
    // CBC with a zero IV: C1 = E(P1), C2 = E(P2 xor C1).
    let mut first = Block::clone_from_slice(&data[..16]);
    aes.encrypt_block(&mut first);
    let mut second = Block::clone_from_slice(&data[16..]);
    for (byte, previous) in second.iter_mut().zip(first.iter()) {
        *byte ^= previous;
    }
    aes.encrypt_block(&mut second);
    let mut kek = Zeroizing::new([0; 32]);
    kek[..16].copy_from_slice(&first);
    kek[16..].copy_from_slice(&second);
    first.zeroize();
    second.zeroize();
    kek
}

/// Wraps `key` to `recipient` as the protocol carries it: [`KeyRole::Recovery`] keys with
/// [`wrap_v2`] (so that a token holding the recovery secret can open them), the others with
/// [`wrap`].
///
/// # Errors
///
/// As [`wrap`].
pub fn wrapped_key(key: &DataKey, recipient: &PublicKey, role: KeyRole) -> Result<WrappedKey> {
    let wrapped = match role {
        KeyRole::Recovery => wrap_v2(key, recipient)?,
        KeyRole::Owner | KeyRole::Reader => wrap(key, recipient)?,
    };
    Ok(WrappedKey {
        recipient: hex::encode(recipient.as_bytes()),
        role,
        wrapped: hex::encode(wrapped),
    })
}

/// An X25519 public key from 64 hex digits (with or without `0x`).
///
/// # Errors
///
/// [`Error::InvalidPublicKey`] for anything else.
pub fn parse_public_key(text: &str) -> Result<PublicKey> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(digits).map_err(|_| Error::InvalidPublicKey)?;
    let bytes = <[u8; 32]>::try_from(bytes).map_err(|_| Error::InvalidPublicKey)?;
    Ok(PublicKey::from(bytes))
}

/// A wallet's X25519 encryption secret, derived from its own secret seed:
/// HKDF-SHA256(ikm = seed, info = `sdv-encryption-key-v1`). The same seed always gives the
/// same key, so it needs no backup of its own.
pub fn encryption_secret_from_seed(seed: &[u8]) -> StaticSecret {
    let mut bytes = Zeroizing::new([0; 32]);
    Hkdf::<Sha256>::new(None, seed)
        .expand(ENCRYPTION_KEY_INFO, bytes.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    StaticSecret::from(*bytes)
}

/// The recovery key: every data key is also wrapped to it, so documents survive the loss of
/// the owner's wallet. Kept in a file today, in an HSM later, behind this trait.
pub trait RecoveryKey: Send + Sync {
    /// Its X25519 public key, which clients wrap data keys to.
    fn public_key(&self) -> PublicKey;

    /// Opens a data key wrapped to [`Self::public_key`], v1 ([`wrap`]) or v2 ([`wrap_v2`]).
    ///
    /// # Errors
    ///
    /// As [`unwrap`].
    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey>;
}

/// A [`RecoveryKey`] whose secret is read from a file: 64 hex digits (see
/// [`generate_key_file`]).
pub struct KeyFileRecoveryKey {
    secret: StaticSecret,
    public: PublicKey,
}

impl KeyFileRecoveryKey {
    /// Reads the secret from `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::InvalidKeyFile`] when it does not
    /// hold 64 hex digits (an optional `0x` and surrounding white space are allowed).
    pub fn open(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(fs::read_to_string(path)?);
        let text = text.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let invalid = |reason| Error::InvalidKeyFile {
            path: path.to_owned(),
            reason,
        };
        if digits.len() != 64 {
            return Err(invalid("expected 64 hex digits"));
        }
        let mut bytes = Zeroizing::new([0; 32]);
        hex::decode_to_slice(digits, bytes.as_mut())
            .map_err(|_| invalid("expected 64 hex digits"))?;
        Ok(Self::from_secret(StaticSecret::from(*bytes)))
    }

    /// The recovery key of `secret`.
    pub fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }
}

impl fmt::Debug for KeyFileRecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileRecoveryKey")
            .field("public", &hex::encode(self.public.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl RecoveryKey for KeyFileRecoveryKey {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey> {
        unwrap(wrapped, &self.secret)
    }
}

/// Writes a new random X25519 secret to `path` as 64 hex digits and a newline, readable only
/// by its owner (mode 0600); returns its public key. Never replaces an existing file.
///
/// # Errors
///
/// [`Error::Io`], of kind `AlreadyExists` when `path` exists.
pub fn generate_key_file(path: &Path) -> Result<PublicKey> {
    let secret = StaticSecret::random_from_rng(OsRng);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = Zeroizing::new(hex::encode(secret.as_bytes()));
    text.push('\n');
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    Ok(PublicKey::from(&secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = RECORD_SIZE;

    fn sample(len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        // Not all zeroes, so a misplaced byte shows.
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i.wrapping_mul(31) ^ (i >> 8)) as u8;
        }
        bytes
    }

    fn record_start(index: usize) -> usize {
        HEADER_LEN + index * (RECORD_OVERHEAD + MIB)
    }

    #[test]
    fn round_trips_every_boundary_size() {
        let key = DataKey::generate();
        for len in [0, 1, MIB - 1, MIB, MIB + 1, 5_000_000] {
            let plaintext = sample(len);
            let ciphertext = encrypt(&plaintext, &key, DocumentId::random());
            assert_eq!(
                ciphertext.len() as u64,
                ciphertext_len(len as u64),
                "length of {len}"
            );
            assert_eq!(decrypt(&ciphertext, &key).unwrap(), plaintext, "len {len}");
        }
    }

    #[test]
    fn record_layout_is_as_specified() {
        let key = DataKey::generate();
        let id = DocumentId::random();
        let ciphertext = encrypt(&sample(MIB + 1), &key, id);
        assert_eq!(&ciphertext[..4], b"SDV1");
        assert_eq!(&ciphertext[4..20], &id.0);
        assert_eq!(&ciphertext[20..24], &1_048_576u32.to_be_bytes());
        assert_eq!(&ciphertext[24..32], &(MIB as u64 + 1).to_be_bytes());
        // Two records: a full one, then one byte.
        assert_eq!(ciphertext.len(), 32 + (12 + MIB + 16) + (12 + 1 + 16));
        // An empty file has one empty final record.
        assert_eq!(encrypt(&[], &key, id).len(), 32 + 12 + 16);
    }

    #[test]
    fn nonces_are_fresh_per_record_and_per_encryption() {
        let key = DataKey::generate();
        let id = DocumentId::random();
        let plaintext = sample(2 * MIB);
        let a = encrypt(&plaintext, &key, id);
        let b = encrypt(&plaintext, &key, id);
        let nonce = |c: &[u8], i| c[record_start(i)..record_start(i) + NONCE_LEN].to_vec();
        assert_ne!(nonce(&a, 0), nonce(&a, 1));
        assert_ne!(nonce(&a, 0), nonce(&b, 0));
        assert_ne!(a, b);
    }

    #[test]
    fn flipped_byte_anywhere_fails() {
        let key = DataKey::generate();
        let ciphertext = encrypt(&sample(MIB + 100), &key, DocumentId::random());
        // A nonce byte, a ciphertext byte, a tag byte of each record.
        let positions = [
            record_start(0),
            record_start(0) + NONCE_LEN + 5,
            record_start(1) - 1,
            record_start(1) + 3,
            record_start(1) + NONCE_LEN,
            ciphertext.len() - 1,
        ];
        for position in positions {
            let mut tampered = ciphertext.clone();
            tampered[position] ^= 0x01;
            let err = decrypt(&tampered, &key).unwrap_err();
            assert!(
                matches!(err, Error::RecordAuthentication { .. }),
                "byte {position}: {err}"
            );
        }
    }

    #[test]
    fn changed_header_fields_fail() {
        let key = DataKey::generate();
        let ciphertext = encrypt(&sample(1000), &key, DocumentId::random());
        // Another id.
        let mut tampered = ciphertext.clone();
        tampered[7] ^= 0x80;
        assert!(matches!(
            decrypt(&tampered, &key),
            Err(Error::RecordAuthentication { index: 0 })
        ));
        // A shorter length (the record no longer fits, or fails to verify).
        let mut tampered = ciphertext.clone();
        tampered[24..32].copy_from_slice(&999u64.to_be_bytes());
        assert!(decrypt(&tampered, &key).is_err());
        // Another magic, another record size.
        let mut tampered = ciphertext.clone();
        tampered[3] = b'2';
        assert!(matches!(decrypt(&tampered, &key), Err(Error::NotEncrypted)));
        let mut tampered = ciphertext;
        tampered[20..24].copy_from_slice(&65_536u32.to_be_bytes());
        assert!(matches!(
            decrypt(&tampered, &key),
            Err(Error::UnsupportedRecordSize(65_536))
        ));
    }

    #[test]
    fn header_of_another_document_fails() {
        let key = DataKey::generate();
        let plaintext = sample(3000);
        let a = encrypt(&plaintext, &key, DocumentId::random());
        let b = encrypt(&sample(3000), &key, DocumentId::random());
        let mut swapped = b[..HEADER_LEN].to_vec();
        swapped.extend_from_slice(&a[HEADER_LEN..]);
        assert!(matches!(
            decrypt(&swapped, &key),
            Err(Error::RecordAuthentication { index: 0 })
        ));
    }

    #[test]
    fn reordered_records_fail() {
        let key = DataKey::generate();
        let ciphertext = encrypt(&sample(3 * MIB), &key, DocumentId::random());
        let record = |i| ciphertext[record_start(i)..record_start(i + 1)].to_vec();
        let mut reordered = ciphertext[..HEADER_LEN].to_vec();
        for i in [1, 0, 2] {
            reordered.extend_from_slice(&record(i));
        }
        assert!(matches!(
            decrypt(&reordered, &key),
            Err(Error::RecordAuthentication { index: 0 })
        ));
        // The last record in the place of a middle one: another index and final flag.
        let mut reordered = ciphertext[..HEADER_LEN].to_vec();
        for i in [0, 2, 1] {
            reordered.extend_from_slice(&record(i));
        }
        assert!(matches!(
            decrypt(&reordered, &key),
            Err(Error::RecordAuthentication { index: 1 })
        ));
    }

    #[test]
    fn truncation_fails() {
        let key = DataKey::generate();
        let ciphertext = encrypt(&sample(2 * MIB + 10), &key, DocumentId::random());
        // Inside a record, at a record boundary, inside the header, empty.
        for len in [ciphertext.len() - 1, record_start(2), record_start(1), 20] {
            assert!(
                matches!(decrypt(&ciphertext[..len], &key), Err(Error::Truncated)),
                "cut at {len}"
            );
        }
        assert!(matches!(decrypt(&[], &key), Err(Error::NotEncrypted)));
        // Dropping the last records and lowering the length to match fails authentication:
        // the header is bound and the new last record is not marked final.
        let mut cut = ciphertext[..record_start(2)].to_vec();
        cut[24..32].copy_from_slice(&(2 * MIB as u64).to_be_bytes());
        assert!(matches!(
            decrypt(&cut, &key),
            Err(Error::RecordAuthentication { index: 0 })
        ));
    }

    #[test]
    fn trailing_data_fails() {
        let key = DataKey::generate();
        let mut ciphertext = encrypt(b"hello", &key, DocumentId::random());
        ciphertext.push(0);
        assert!(matches!(
            decrypt(&ciphertext, &key),
            Err(Error::TrailingData)
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let ciphertext = encrypt(b"hello", &DataKey::generate(), DocumentId::random());
        let err = decrypt(&ciphertext, &DataKey::generate()).unwrap_err();
        assert!(matches!(err, Error::RecordAuthentication { index: 0 }));
        assert!(err.to_string().contains("not encrypted with this key"));
    }

    #[test]
    fn files_round_trip_and_hash_the_ciphertext() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::generate();
        for len in [0, 1, MIB, MIB + 1, 5_000_000] {
            let plain = dir.path().join(format!("plain-{len}"));
            let sealed = dir.path().join(format!("sealed-{len}"));
            let opened = dir.path().join(format!("opened-{len}"));
            let plaintext = sample(len);
            fs::write(&plain, &plaintext).unwrap();
            let encrypted = encrypt_file(&plain, &sealed, &key, DocumentId::random()).unwrap();
            let ciphertext = fs::read(&sealed).unwrap();
            assert_eq!(encrypted.size, ciphertext.len() as u64);
            assert_eq!(
                encrypted.sha256,
                <[u8; 32]>::from(Sha256::digest(&ciphertext))
            );
            assert_eq!(decrypt_file(&sealed, &opened, &key).unwrap(), len as u64);
            assert_eq!(fs::read(&opened).unwrap(), plaintext);
        }
    }

    #[test]
    fn encrypting_a_file_onto_itself_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain");
        fs::write(&path, b"precious").unwrap();
        let err = encrypt_file(&path, &path, &DataKey::generate(), DocumentId::random());
        assert!(matches!(err, Err(Error::Io(e)) if e.kind() == io::ErrorKind::InvalidInput));
        assert_eq!(fs::read(&path).unwrap(), b"precious");
    }

    #[test]
    fn failed_file_decryption_leaves_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::generate();
        let sealed = dir.path().join("sealed");
        // The first two records verify, the third does not.
        let mut ciphertext = encrypt(&sample(3 * MIB), &key, DocumentId::random());
        let last = ciphertext.len() - 1;
        ciphertext[last] ^= 1;
        fs::write(&sealed, &ciphertext).unwrap();
        let opened = dir.path().join("opened");
        let err = decrypt_file(&sealed, &opened, &key).unwrap_err();
        assert!(matches!(err, Error::RecordAuthentication { index: 2 }));
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["sealed"]);
        // An existing file of that name is not touched either.
        fs::write(&opened, b"keep me").unwrap();
        decrypt_file(&sealed, &opened, &key).unwrap_err();
        assert_eq!(fs::read(&opened).unwrap(), b"keep me");
    }

    #[test]
    fn source_that_is_not_the_announced_length_is_refused() {
        let key = DataKey::generate();
        let id = DocumentId::random();
        let err = encrypt_stream(&b"short"[..], 10, Vec::new(), &key, id).unwrap_err();
        assert!(matches!(err, Error::SourceChanged));
        let err = encrypt_stream(&b"longer"[..], 3, Vec::new(), &key, id).unwrap_err();
        assert!(matches!(err, Error::SourceChanged));
    }

    #[test]
    fn wrapped_key_opens_with_the_right_secret_only() {
        let key = DataKey::generate();
        let secret = StaticSecret::random_from_rng(OsRng);
        let wrapped = wrap(&key, &PublicKey::from(&secret)).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        assert_eq!(WRAPPED_KEY_LEN, 92);
        assert_eq!(
            unwrap(&wrapped, &secret).unwrap().as_bytes(),
            key.as_bytes()
        );

        let other = StaticSecret::random_from_rng(OsRng);
        assert!(matches!(unwrap(&wrapped, &other), Err(Error::KeyUnwrap)));

        // Any changed byte: ephemeral key, nonce, ciphertext, tag.
        for position in [0, 40, 50, WRAPPED_KEY_LEN - 1] {
            let mut tampered = wrapped.clone();
            tampered[position] ^= 1;
            assert!(unwrap(&tampered, &secret).is_err(), "byte {position}");
        }
        assert!(matches!(
            unwrap(&wrapped[..91], &secret),
            Err(Error::WrappedKeyLength(91))
        ));
    }

    #[test]
    fn wrapping_is_randomized() {
        let key = DataKey::generate();
        let recipient = PublicKey::from(&StaticSecret::random_from_rng(OsRng));
        assert_ne!(
            wrap(&key, &recipient).unwrap(),
            wrap(&key, &recipient).unwrap()
        );
    }

    #[test]
    fn small_order_keys_are_refused() {
        let key = DataKey::generate();
        // The identity and a point of order 8: every shared secret with them is zero.
        let zero = PublicKey::from([0; 32]);
        let order_eight: [u8; 32] =
            hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap()
                .try_into()
                .unwrap();
        for public in [zero, PublicKey::from(order_eight)] {
            assert!(matches!(wrap(&key, &public), Err(Error::WeakPublicKey)));
        }
        let secret = StaticSecret::random_from_rng(OsRng);
        let mut wrapped = wrap(&key, &PublicKey::from(&secret)).unwrap();
        wrapped[..32].fill(0);
        assert!(matches!(
            unwrap(&wrapped, &secret),
            Err(Error::WeakPublicKey)
        ));
    }

    fn order_eight_point() -> [u8; 32] {
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
            .unwrap()
            .try_into()
            .unwrap()
    }

    #[test]
    fn v2_wrapped_key_opens_with_the_right_secret_only() {
        let key = DataKey::generate();
        let secret = StaticSecret::random_from_rng(OsRng);
        let public = PublicKey::from(&secret);
        let wrapped = wrap_v2(&key, &public).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_V2_LEN);
        assert_eq!(WRAPPED_KEY_V2_LEN, 72);
        assert_eq!(
            unwrap(&wrapped, &secret).unwrap().as_bytes(),
            key.as_bytes()
        );
        let other = StaticSecret::random_from_rng(OsRng);
        assert!(matches!(unwrap(&wrapped, &other), Err(Error::KeyUnwrap)));
        // A fresh ephemeral key each time.
        assert_ne!(wrapped, wrap_v2(&key, &public).unwrap());
    }

    #[test]
    fn v2_any_changed_byte_fails() {
        let key = DataKey::generate();
        let secret = StaticSecret::random_from_rng(OsRng);
        let wrapped = wrap_v2(&key, &PublicKey::from(&secret)).unwrap();
        for position in 0..WRAPPED_KEY_V2_LEN {
            for bit in [0x01, 0x80] {
                let mut tampered = wrapped.clone();
                tampered[position] ^= bit;
                let opened = unwrap(&tampered, &secret);
                // Bit 255 of a public key is ignored by X25519 (RFC 7748), so flipping it
                // gives the same shared secret; it still changes the KDF input.
                assert!(
                    matches!(opened, Err(Error::KeyUnwrap | Error::WeakPublicKey)),
                    "byte {position} bit {bit:#x}: {opened:?}"
                );
            }
        }
    }

    #[test]
    fn v2_small_order_keys_are_refused() {
        let key = DataKey::generate();
        for public in [
            PublicKey::from([0; 32]),
            PublicKey::from(order_eight_point()),
        ] {
            assert!(matches!(wrap_v2(&key, &public), Err(Error::WeakPublicKey)));
            let entry = wrapped_key(&key, &public, KeyRole::Recovery);
            assert!(matches!(entry, Err(Error::WeakPublicKey)));
        }
        let secret = StaticSecret::random_from_rng(OsRng);
        let wrapped = wrap_v2(&key, &PublicKey::from(&secret)).unwrap();
        for ephemeral in [[0; 32], order_eight_point()] {
            let mut tampered = wrapped.clone();
            tampered[..32].copy_from_slice(&ephemeral);
            assert!(matches!(
                unwrap(&tampered, &secret),
                Err(Error::WeakPublicKey)
            ));
        }
    }

    #[test]
    fn v2_matches_an_independent_implementation() {
        // Computed with Python's `cryptography` 48.0 (X25519PrivateKey, hashlib.sha256,
        // Cipher(AES(shared), CBC(0^16)), keywrap.aes_key_wrap), from these fixed secrets:
        // ephemeral = 01 02 .. 20, recipient = 21 22 .. 40, data key = 80 81 .. 9f.
        let ephemeral =
            StaticSecret::from(<[u8; 32]>::try_from((1..=32).collect::<Vec<u8>>()).unwrap());
        let secret =
            StaticSecret::from(<[u8; 32]>::try_from((0x21..=0x40).collect::<Vec<u8>>()).unwrap());
        let key = DataKey::from_bytes((0x80..=0x9f).collect::<Vec<u8>>().try_into().unwrap());
        let public = PublicKey::from(&secret);
        assert_eq!(
            hex::encode(public.as_bytes()),
            "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b"
        );
        let expected = hex::decode(concat!(
            "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c",
            "224b747a7496019434897359daea196f1e59b59e034b4daa7e62d5e53cd1b435",
            "fbfee8f60458b407",
        ))
        .unwrap();
        assert_eq!(wrap_v2_with(&key, &public, &ephemeral).unwrap(), expected);
        assert_eq!(
            unwrap(&expected, &secret).unwrap().as_bytes(),
            key.as_bytes()
        );
    }

    #[test]
    fn v1_and_v2_open_side_by_side_and_other_lengths_are_refused() {
        let key = DataKey::generate();
        let secret = StaticSecret::random_from_rng(OsRng);
        let public = PublicKey::from(&secret);
        let recovery = KeyFileRecoveryKey::from_secret(secret.clone());
        for wrapped in [
            wrap(&key, &public).unwrap(),
            wrap_v2(&key, &public).unwrap(),
        ] {
            assert_eq!(
                unwrap(&wrapped, &secret).unwrap().as_bytes(),
                key.as_bytes()
            );
            assert_eq!(
                RecoveryKey::unwrap(&recovery, &wrapped).unwrap().as_bytes(),
                key.as_bytes()
            );
        }
        let v2 = wrap_v2(&key, &public).unwrap();
        for len in [0, 32, 71, 73, 91, 93] {
            let mut wrapped = v2.clone();
            wrapped.resize(len, 0);
            let err = unwrap(&wrapped, &secret).unwrap_err();
            assert!(
                matches!(err, Error::WrappedKeyLength(l) if l == len),
                "{len}"
            );
            assert_eq!(
                err.to_string(),
                format!("a wrapped key is {len} bytes, neither 92 (v1) nor 72 (v2)")
            );
        }
    }

    #[test]
    fn recovery_entries_are_v2_and_open_with_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery.key");
        let public = generate_key_file(&path).unwrap();
        let recovery = KeyFileRecoveryKey::open(&path).unwrap();
        let key = DataKey::generate();
        let entry = wrapped_key(&key, &public, KeyRole::Recovery).unwrap();
        assert_eq!(entry.role, KeyRole::Recovery);
        let wrapped = hex::decode(&entry.wrapped).unwrap();
        assert_eq!(wrapped.len(), WRAPPED_KEY_V2_LEN);
        assert_eq!(
            RecoveryKey::unwrap(&recovery, &wrapped).unwrap().as_bytes(),
            key.as_bytes()
        );
        // Keys wrapped before v2 (v1) still open.
        let old = wrap(&key, &public).unwrap();
        assert_eq!(
            RecoveryKey::unwrap(&recovery, &old).unwrap().as_bytes(),
            key.as_bytes()
        );
        // Owner and reader entries stay v1.
        for role in [KeyRole::Owner, KeyRole::Reader] {
            let entry = wrapped_key(&key, &public, role).unwrap();
            assert_eq!(hex::decode(&entry.wrapped).unwrap().len(), WRAPPED_KEY_LEN);
        }
    }

    #[test]
    fn encryption_secret_is_derived_from_the_seed() {
        let a = encryption_secret_from_seed(&[7; 32]);
        let b = encryption_secret_from_seed(&[7; 32]);
        let c = encryption_secret_from_seed(&[8; 32]);
        assert_eq!(PublicKey::from(&a), PublicKey::from(&b));
        assert_ne!(PublicKey::from(&a), PublicKey::from(&c));
        // Not the seed itself.
        assert_ne!(a.to_bytes(), [7; 32]);
        let key = DataKey::generate();
        let wrapped = wrap(&key, &PublicKey::from(&a)).unwrap();
        assert_eq!(unwrap(&wrapped, &b).unwrap().as_bytes(), key.as_bytes());
    }

    #[test]
    fn key_file_recovery_key_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery.key");
        let public = generate_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);

        let recovery = KeyFileRecoveryKey::open(&path).unwrap();
        assert_eq!(recovery.public_key(), public);
        assert!(!format!("{recovery:?}").contains(text.trim()));
        let key = DataKey::generate();
        let wrapped = wrap(&key, &public).unwrap();
        assert_eq!(
            RecoveryKey::unwrap(&recovery, &wrapped).unwrap().as_bytes(),
            key.as_bytes()
        );

        // Never overwritten.
        let err = generate_key_file(&path).unwrap_err();
        assert!(matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::AlreadyExists));
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        for text in ["", "abcd", &"zz".repeat(32), &"00".repeat(33)] {
            fs::write(&path, text).unwrap();
            assert!(
                matches!(
                    KeyFileRecoveryKey::open(&path),
                    Err(Error::InvalidKeyFile { .. })
                ),
                "{text:?}"
            );
        }
        fs::write(&path, format!("0x{}\n", "11".repeat(32))).unwrap();
        KeyFileRecoveryKey::open(&path).unwrap();
    }

    #[test]
    fn data_key_debug_hides_the_bytes() {
        let key = DataKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "DataKey(..)");
    }

    #[test]
    fn wrapped_key_helper_and_public_key_parsing_agree() {
        let secret = StaticSecret::random_from_rng(OsRng);
        let public = PublicKey::from(&secret);
        let key = DataKey::generate();
        let entry = wrapped_key(&key, &public, KeyRole::Owner).unwrap();
        assert_eq!(parse_public_key(&entry.recipient).unwrap(), public);
        assert_eq!(
            parse_public_key(&format!("0x{}", entry.recipient)).unwrap(),
            public
        );
        let wrapped = hex::decode(&entry.wrapped).unwrap();
        assert_eq!(
            unwrap(&wrapped, &secret).unwrap().as_bytes(),
            key.as_bytes()
        );
        assert!(matches!(
            parse_public_key("abcd"),
            Err(Error::InvalidPublicKey)
        ));
    }
}
