//! base64url and hashing helpers shared by the modules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// A transaction or data item id: the SHA-256 of its signature.
pub type TxId = [u8; 32];

/// Encodes bytes as base64url without padding, the form Arweave uses for every binary field.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url; padding (`=`) is tolerated, other alphabets are not.
///
/// # Errors
///
/// [`Error::InvalidBase64Url`] when `text` is not base64url.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| Error::InvalidBase64Url)
}

/// Decodes a base64url id (of a transaction or a data item) into its 32 bytes.
///
/// # Errors
///
/// [`Error::InvalidBase64Url`] when `text` is not base64url, [`Error::InvalidIdLength`] when
/// it does not decode to 32 bytes.
pub fn id_from_b64url(text: &str) -> Result<TxId> {
    let bytes = b64url_decode(text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::InvalidIdLength { len: bytes.len() })
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_round_trips_and_rejects_other_alphabets() {
        let bytes = [0xfb, 0xff, 0x00, 0x01];
        assert_eq!(b64url_encode(&bytes), "-_8AAQ");
        assert_eq!(b64url_decode("-_8AAQ").unwrap(), bytes);
        assert_eq!(b64url_decode("-_8AAQ==").unwrap(), bytes);
        assert!(matches!(
            b64url_decode("+/8AAQ"),
            Err(Error::InvalidBase64Url)
        ));
    }

    #[test]
    fn id_must_be_32_bytes() {
        let id = [7u8; 32];
        assert_eq!(id_from_b64url(&b64url_encode(&id)).unwrap(), id);
        assert!(matches!(
            id_from_b64url(&b64url_encode(&[1, 2, 3])),
            Err(Error::InvalidIdLength { len: 3 })
        ));
    }
}
