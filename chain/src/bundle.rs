//! Contract bundles (`.contract` files written by `cargo contract build`) and call data.

use std::path::Path;

use codec::Encode;
use serde::Deserialize;

use crate::{Error, Hash, Result};

/// The 4-byte selector of an ink! constructor or message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector(pub [u8; 4]);

impl Selector {
    /// The selector ink! 5 gives an inherent constructor or message of that name: the first
    /// four bytes of its BLAKE2b-256 hash.
    pub fn from_label(label: &str) -> Self {
        use blake2::{digest::consts::U32, Blake2b, Digest};
        let hash = Blake2b::<U32>::digest(label.as_bytes());
        Self([hash[0], hash[1], hash[2], hash[3]])
    }
}

/// The input of a constructor or message: its selector followed by its SCALE-encoded arguments.
#[derive(Debug, Clone)]
pub struct CallData(Vec<u8>);

impl CallData {
    /// Starts the call data of `selector`.
    pub fn new(selector: Selector) -> Self {
        Self(selector.0.to_vec())
    }

    /// Starts the call data of the message or constructor called `label`.
    pub fn message(label: &str) -> Self {
        Self::new(Selector::from_label(label))
    }

    /// Appends one argument.
    pub fn arg<T: Encode>(mut self, arg: &T) -> Self {
        arg.encode_to(&mut self.0);
        self
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[derive(Deserialize)]
struct RawBundle {
    source: RawSource,
    contract: RawContract,
    spec: RawSpec,
}

#[derive(Deserialize)]
struct RawSource {
    hash: String,
    wasm: String,
}

#[derive(Deserialize)]
struct RawContract {
    name: String,
}

#[derive(Deserialize)]
struct RawSpec {
    constructors: Vec<RawLabelled>,
    messages: Vec<RawLabelled>,
}

#[derive(Deserialize)]
struct RawLabelled {
    label: String,
    selector: String,
}

/// A built contract: its name, Wasm code and the selectors its metadata declares.
#[derive(Debug, Clone)]
pub struct ContractBundle {
    /// The contract's crate name.
    pub name: String,
    /// The optimized Wasm code.
    pub wasm: Vec<u8>,
    /// The code hash the bundle declares.
    pub code_hash: Hash,
    selectors: Vec<(String, Selector)>,
}

impl ContractBundle {
    /// Reads a `.contract` bundle.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Bundle {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let raw: RawBundle = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let wasm = decode_hex(&raw.source.wasm).map_err(|e| bad(format!("source.wasm: {e}")))?;
        let hash = decode_hex(&raw.source.hash).map_err(|e| bad(format!("source.hash: {e}")))?;
        let code_hash: [u8; 32] = hash
            .try_into()
            .map_err(|_| bad("source.hash is not 32 bytes".into()))?;
        let mut selectors = Vec::new();
        for item in raw.spec.constructors.iter().chain(&raw.spec.messages) {
            let bytes = decode_hex(&item.selector).map_err(|e| bad(format!("selector: {e}")))?;
            let selector: [u8; 4] = bytes
                .try_into()
                .map_err(|_| bad(format!("selector of {} is not 4 bytes", item.label)))?;
            selectors.push((item.label.clone(), Selector(selector)));
        }
        Ok(Self {
            name: raw.contract.name,
            wasm,
            code_hash: Hash::from(code_hash),
            selectors,
        })
    }

    /// The selector of the constructor or message called `label`, as the metadata declares it.
    pub fn selector(&self, label: &str) -> Option<Selector> {
        self.selectors
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| *s)
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, hex::FromHexError> {
    hex::decode(s.trim_start_matches("0x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_of_new_matches_ink() {
        // ink! 5 documents `new` as 0x9bae9d5e.
        assert_eq!(Selector::from_label("new").0, [0x9b, 0xae, 0x9d, 0x5e]);
    }

    #[test]
    fn call_data_appends_encoded_arguments() {
        let data = CallData::message("new").arg(&7u32).into_bytes();
        assert_eq!(data, vec![0x9b, 0xae, 0x9d, 0x5e, 7, 0, 0, 0]);
    }
}
