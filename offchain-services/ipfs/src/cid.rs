//! CIDs between the text form the node speaks and the binary form the chain stores.
//!
//! The node names content by CIDv1 strings in the base32 multibase (`b` followed by lowercase
//! RFC 4648 base32 without padding, e.g. `bafkrei...`); the contracts store the CID's binary
//! form (version, codec and multihash, each a varint-prefixed field), which is shorter and has
//! one spelling. [`cid_to_bytes`] and [`cid_from_bytes`] convert between the two.

use crate::{Error, Result};

/// The RFC 4648 base32 alphabet, lowercase (the multibase `b`).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The multibase prefix of lowercase base32 without padding.
pub const BASE32_PREFIX: char = 'b';

/// The CID's binary form (`<version><codec><multihash>`) of a base32 CIDv1 string.
///
/// Accepts what [`cid_from_bytes`] writes (`b` + lowercase base32) and its uppercase spelling
/// (multibase `B`). Fails with [`Error::InvalidCid`] on another multibase (a CIDv0 `Qm...` or a
/// base58btc `z...` string: ask the node for base32), a character outside the alphabet,
/// stray bits at the end, or bytes that are not a CIDv1 with a whole multihash.
pub fn cid_to_bytes(cid: &str) -> Result<Vec<u8>> {
    let invalid = |reason: &'static str| Error::InvalidCid {
        cid: cid.to_owned(),
        reason,
    };
    let (upper, body) = match cid.as_bytes().first() {
        Some(b'b') => (false, &cid[1..]),
        Some(b'B') => (true, &cid[1..]),
        Some(_) => {
            return Err(invalid(
                "not a base32 CID (it must start with the multibase prefix `b`)",
            ))
        }
        None => return Err(invalid("empty")),
    };
    let mut bytes = Vec::with_capacity(body.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let c = if upper { c.to_ascii_lowercase() } else { c };
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .ok_or_else(|| invalid("a character outside the base32 alphabet a-z, 2-7"))?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // What is left is padding: fewer than 5 bits, all zero, in canonical base32.
    if bits >= 5 || buffer != 0 {
        return Err(invalid("its base32 does not end on a whole byte"));
    }
    check_cid_v1(&bytes).map_err(invalid)?;
    Ok(bytes)
}

/// The base32 CIDv1 string (`b` + lowercase RFC 4648 base32 without padding) of a binary CID,
/// as the node writes it with `cid-base=base32`. The bytes are written as they are; use
/// [`cid_to_bytes`] to check them.
pub fn cid_from_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(1 + (bytes.len() * 8).div_ceil(5));
    text.push(BASE32_PREFIX);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(ALPHABET[(buffer >> bits) as usize & 31] as char);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        text.push(ALPHABET[(buffer << (5 - bits)) as usize & 31] as char);
    }
    text
}

/// Checks that `bytes` are `<varint 1><varint codec><varint hash code><varint len><digest>`
/// with a digest of exactly `len` bytes.
fn check_cid_v1(bytes: &[u8]) -> std::result::Result<(), &'static str> {
    let mut rest = bytes;
    let version = read_varint(&mut rest).ok_or("no CID version")?;
    if version != 1 {
        return Err("not a CIDv1");
    }
    read_varint(&mut rest).ok_or("no content codec")?;
    read_varint(&mut rest).ok_or("no multihash function")?;
    let len = read_varint(&mut rest).ok_or("no multihash digest length")?;
    if rest.is_empty() || rest.len() as u64 != len {
        return Err("the multihash digest is not as long as its length says");
    }
    Ok(())
}

/// An unsigned LEB128 varint (at most 9 bytes, as multiformats allows), advancing `input`.
fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().enumerate().take(9) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "hello world" added as a raw leaf (CIDv1, raw codec 0x55, sha2-256).
    const HELLO: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    /// sha256("hello world").
    const HELLO_SHA256: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn raw_leaf_cid_decodes_to_version_codec_and_sha256() {
        let bytes = cid_to_bytes(HELLO).unwrap();
        assert_eq!(bytes.len(), 36);
        // CIDv1, raw (0x55), sha2-256 (0x12), 32 bytes.
        assert_eq!(&bytes[..4], &[0x01, 0x55, 0x12, 0x20]);
        assert_eq!(hex(&bytes[4..]), HELLO_SHA256);
    }

    #[test]
    fn binary_cid_encodes_to_the_nodes_string() {
        let mut bytes = vec![0x01, 0x55, 0x12, 0x20];
        bytes.extend(
            (0..32).map(|i| u8::from_str_radix(&HELLO_SHA256[2 * i..2 * i + 2], 16).unwrap()),
        );
        assert_eq!(cid_from_bytes(&bytes), HELLO);
    }

    #[test]
    fn dag_pb_cid_round_trips() {
        // A CIDv1 dag-pb (0x70) root, as a chunked file gets.
        let cid = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
        let bytes = cid_to_bytes(cid).unwrap();
        assert_eq!(&bytes[..4], &[0x01, 0x70, 0x12, 0x20]);
        assert_eq!(cid_from_bytes(&bytes), cid);
    }

    #[test]
    fn uppercase_multibase_is_accepted() {
        let upper = format!("B{}", HELLO[1..].to_ascii_uppercase());
        assert_eq!(cid_to_bytes(&upper).unwrap(), cid_to_bytes(HELLO).unwrap());
    }

    #[test]
    fn every_length_round_trips() {
        // The base32 layer alone, across every remainder of 5 bytes.
        for len in 0..=41u8 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(11))
                .collect();
            let text = cid_from_bytes(&bytes);
            assert!(!text[1..].contains('='), "no padding");
            let mut decoded = Vec::new();
            let (mut buffer, mut bits) = (0u32, 0u32);
            for c in text[1..].bytes() {
                let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
                buffer = (buffer << 5) | v;
                bits += 5;
                if bits >= 8 {
                    bits -= 8;
                    decoded.push((buffer >> bits) as u8);
                    buffer &= (1 << bits) - 1;
                }
            }
            assert_eq!(decoded, bytes, "length {len}");
        }
    }

    #[test]
    fn other_multibases_are_rejected() {
        for cid in [
            "QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u",
            "zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA",
            "",
        ] {
            assert!(
                matches!(cid_to_bytes(cid), Err(Error::InvalidCid { .. })),
                "{cid:?}"
            );
        }
    }

    #[test]
    fn malformed_base32_cids_are_rejected() {
        // A character outside the alphabet (`1`, `8`, `=`), a cut-off digest, stray bits.
        let cases = [
            HELLO.replace('z', "1"),
            format!("{HELLO}="),
            HELLO[..HELLO.len() - 2].to_owned(),
            format!("{HELLO}a"),
            "b".to_owned(),
        ];
        for cid in cases {
            assert!(
                matches!(cid_to_bytes(&cid), Err(Error::InvalidCid { .. })),
                "{cid:?}"
            );
        }
    }

    #[test]
    fn a_cid_v0_in_base32_is_rejected() {
        // A bare sha2-256 multihash (what a CIDv0 is), written in base32.
        let mut bytes = vec![0x12, 0x20];
        bytes.extend([7u8; 32]);
        let text = cid_from_bytes(&bytes);
        let err = cid_to_bytes(&text).unwrap_err();
        assert!(err.to_string().contains("CIDv1"), "{err}");
    }
}
