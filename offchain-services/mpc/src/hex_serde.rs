//! Hex strings for bytes in JSON.

use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

/// `Vec<u8>` as a hex string.
pub(crate) mod bytes {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.trim_start_matches("0x")).map_err(D::Error::custom)
    }
}

/// `[u8; 32]` as a hex string.
pub(crate) mod array32 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(value: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim_start_matches("0x"), &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// `BTreeMap<K, [u8; 32]>` with hex string values.
pub(crate) mod map32 {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    pub(crate) fn serialize<K, S>(value: &BTreeMap<K, [u8; 32]>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize + Ord,
        S: Serializer,
    {
        let text: BTreeMap<&K, String> = value.iter().map(|(k, v)| (k, hex::encode(v))).collect();
        text.serialize(s)
    }

    pub(crate) fn deserialize<'de, K, D>(d: D) -> Result<BTreeMap<K, [u8; 32]>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        D: Deserializer<'de>,
    {
        let text = BTreeMap::<K, String>::deserialize(d)?;
        text.into_iter()
            .map(|(k, v)| {
                let mut out = [0u8; 32];
                hex::decode_to_slice(v.trim_start_matches("0x"), &mut out)
                    .map_err(D::Error::custom)?;
                Ok((k, out))
            })
            .collect()
    }
}
