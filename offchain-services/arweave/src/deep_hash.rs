//! Arweave's `deepHash`: a SHA-384 hash of nested lists of byte strings.
//!
//! `deepHash(blob) = sha384(sha384("blob" ++ len) ++ sha384(blob))` and
//! `deepHash(list) = fold(sha384("list" ++ count), |acc, x| sha384(acc ++ deepHash(x)))`,
//! with lengths and counts in decimal ASCII, as arweave-js `lib/deepHash.ts` computes it.

use sha2::{Digest, Sha384};

/// The output of [`deep_hash`].
pub type DeepHash = [u8; 48];

/// An input of [`deep_hash`]: a byte string or a list of inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// A byte string.
    Blob(&'a [u8]),
    /// A list.
    List(Vec<Chunk<'a>>),
}

/// The deep hash of `chunk`.
pub fn deep_hash(chunk: &Chunk<'_>) -> DeepHash {
    match chunk {
        Chunk::Blob(bytes) => {
            let tag = sha384(&[b"blob", bytes.len().to_string().as_bytes()]);
            sha384(&[&tag, &sha384(&[bytes])])
        }
        Chunk::List(items) => {
            let tag = sha384(&[b"list", items.len().to_string().as_bytes()]);
            items
                .iter()
                .fold(tag, |acc, item| sha384(&[&acc, &deep_hash(item)]))
        }
    }
}

fn sha384(parts: &[&[u8]]) -> DeepHash {
    let mut hasher = Sha384::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    // Expected values computed by arweave-js 1.15.7 `lib/deepHash`.
    #[test]
    fn matches_arweave_js() {
        assert_eq!(
            hex(&deep_hash(&Chunk::Blob(b""))),
            "fbf00cc444f5fea9dc3bedf62a13fba8ae87e7445fc910567a23bec4eb82fadb1143c433069314d8362983dc3c2e4a38"
        );
        assert_eq!(
            hex(&deep_hash(&Chunk::Blob(b"abc"))),
            "71115a30152ebcffb6defbb643abc8ef76f01fe323f1d62340646085960f6e347cb2d8e9a46ddee655b3012c6131d4e0"
        );
        assert_eq!(
            hex(&deep_hash(&Chunk::List(vec![]))),
            "a69e7d37fdc7f040a9ec16aae84de24fab4a653dac4de0bd247e36bab9fe45d9289c5a04a893c95285812f5cefc9707a"
        );
        let data = pattern(1000);
        let nested = Chunk::List(vec![
            Chunk::Blob(b"2"),
            Chunk::Blob(b"owner"),
            Chunk::List(vec![
                Chunk::List(vec![Chunk::Blob(b"a"), Chunk::Blob(b"b")]),
                Chunk::List(vec![Chunk::Blob(b"c"), Chunk::Blob(b"")]),
            ]),
            Chunk::Blob(&data),
        ]);
        assert_eq!(
            hex(&deep_hash(&nested)),
            "615e25df49375780d409a159d014f942b5f4065b2aa4289a165b482d9a2c164a648ebee0a2698e2c9f981ffd2085425e"
        );
    }
}
