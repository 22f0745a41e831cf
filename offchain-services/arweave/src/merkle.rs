//! The format-2 `data_root`: data cut into chunks, a Merkle tree over them, and each
//! chunk's proof, exactly as arweave-js `lib/merkle.ts` computes them.
//!
//! # Chunking
//!
//! Data is cut into [`MAX_CHUNK_SIZE`] (256 KiB) chunks. When what would remain after a full
//! chunk is more than zero but less than [`MIN_CHUNK_SIZE`] (32 KiB), the last two chunks
//! share the remainder instead: the first takes `ceil(rest / 2)` bytes. Data whose size is a
//! multiple of 256 KiB (including empty data) ends with an empty chunk, which is part of the
//! tree (it changes the root) but has no proof and is never uploaded.
//!
//! # Tree
//!
//! A leaf's id is `sha256(sha256(data_hash) ++ sha256(note(max_byte_range)))`; a branch's
//! is `sha256(sha256(left.id) ++ sha256(right.id) ++ sha256(note(left.max_byte_range)))`,
//! where a *note* is a 32-byte big-endian integer. Leaves are paired left to right, layer by
//! layer; an odd last node moves up unchanged. The root's id is the `data_root`.

use crate::sha256;

/// The largest chunk: 256 KiB.
pub const MAX_CHUNK_SIZE: usize = 256 * 1024;
/// The smallest chunk but the last: 32 KiB.
pub const MIN_CHUNK_SIZE: usize = 32 * 1024;

/// One chunk of the data: its hash and the byte range it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// sha256 of the chunk's bytes.
    pub data_hash: [u8; 32],
    /// Offset of its first byte.
    pub min_byte_range: u64,
    /// Offset one past its last byte.
    pub max_byte_range: u64,
}

/// The proof that a chunk belongs to a `data_root`, as `POST /chunk` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The offset of the chunk's last byte.
    pub offset: u64,
    /// The path from the root to the leaf: per branch the two child ids and the split
    /// offset, then the leaf's data hash and end offset.
    pub proof: Vec<u8>,
}

/// The chunks of some data, their proofs and the root, as arweave-js
/// `generateTransactionChunks` returns them (a trailing empty chunk is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionChunks {
    /// The root of the tree.
    pub data_root: [u8; 32],
    /// The chunks, in order.
    pub chunks: Vec<Chunk>,
    /// One proof per chunk.
    pub proofs: Vec<Proof>,
}

/// Cuts `data` into chunks as arweave-js `chunkData` does.
pub fn chunk_data(data: &[u8]) -> Vec<Chunk> {
    let mut chunks = Vec::with_capacity(data.len() / MAX_CHUNK_SIZE + 1);
    let mut rest = data;
    let mut cursor = 0u64;
    let mut push = |bytes: &[u8], cursor: &mut u64| {
        let min = *cursor;
        *cursor += bytes.len() as u64;
        chunks.push(Chunk {
            data_hash: sha256(bytes),
            min_byte_range: min,
            max_byte_range: *cursor,
        });
    };
    while rest.len() >= MAX_CHUNK_SIZE {
        let next = rest.len() - MAX_CHUNK_SIZE;
        let size = if next > 0 && next < MIN_CHUNK_SIZE {
            rest.len().div_ceil(2)
        } else {
            MAX_CHUNK_SIZE
        };
        let (chunk, tail) = rest.split_at(size);
        push(chunk, &mut cursor);
        rest = tail;
    }
    push(rest, &mut cursor);
    chunks
}

/// The `data_root` of `data` (for empty data, the root of its one empty chunk; a transaction
/// without data has an empty `data_root` instead).
pub fn data_root(data: &[u8]) -> [u8; 32] {
    build_tree(&chunk_data(data)).id()
}

/// The chunks, proofs and root of `data`, as arweave-js `generateTransactionChunks`.
pub fn transaction_chunks(data: &[u8]) -> TransactionChunks {
    let mut chunks = chunk_data(data);
    let root = build_tree(&chunks);
    let mut proofs = Vec::with_capacity(chunks.len());
    collect_proofs(&root, Vec::new(), &mut proofs);
    if chunks
        .last()
        .is_some_and(|last| last.min_byte_range == last.max_byte_range)
    {
        chunks.pop();
        proofs.pop();
    }
    TransactionChunks {
        data_root: root.id(),
        chunks,
        proofs,
    }
}

enum Node {
    Leaf {
        id: [u8; 32],
        data_hash: [u8; 32],
        max_byte_range: u64,
    },
    Branch {
        id: [u8; 32],
        byte_range: u64,
        max_byte_range: u64,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl Node {
    fn id(&self) -> [u8; 32] {
        match self {
            Node::Leaf { id, .. } | Node::Branch { id, .. } => *id,
        }
    }

    fn max_byte_range(&self) -> u64 {
        match self {
            Node::Leaf { max_byte_range, .. } | Node::Branch { max_byte_range, .. } => {
                *max_byte_range
            }
        }
    }
}

/// A 32-byte big-endian integer.
fn note(value: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&value.to_be_bytes());
    bytes
}

fn hash_all(parts: &[&[u8]]) -> [u8; 32] {
    let hashes: Vec<u8> = parts.iter().flat_map(|part| sha256(part)).collect();
    sha256(&hashes)
}

/// Builds the tree; `chunks` is never empty ([`chunk_data`] returns at least one chunk).
fn build_tree(chunks: &[Chunk]) -> Node {
    let mut layer: Vec<Node> = chunks
        .iter()
        .map(|chunk| Node::Leaf {
            id: hash_all(&[&chunk.data_hash, &note(chunk.max_byte_range)]),
            data_hash: chunk.data_hash,
            max_byte_range: chunk.max_byte_range,
        })
        .collect();
    while layer.len() > 1 {
        let mut next = Vec::with_capacity(layer.len().div_ceil(2));
        let mut nodes = layer.into_iter();
        while let Some(left) = nodes.next() {
            match nodes.next() {
                None => next.push(left),
                Some(right) => {
                    let byte_range = left.max_byte_range();
                    next.push(Node::Branch {
                        id: hash_all(&[&left.id(), &right.id(), &note(byte_range)]),
                        byte_range,
                        max_byte_range: right.max_byte_range(),
                        left: Box::new(left),
                        right: Box::new(right),
                    });
                }
            }
        }
        layer = next;
    }
    layer.pop().unwrap_or(Node::Leaf {
        id: hash_all(&[&sha256(&[]), &note(0)]),
        data_hash: sha256(&[]),
        max_byte_range: 0,
    })
}

fn collect_proofs(node: &Node, path: Vec<u8>, proofs: &mut Vec<Proof>) {
    match node {
        Node::Leaf {
            data_hash,
            max_byte_range,
            ..
        } => {
            let mut proof = path;
            proof.extend_from_slice(data_hash);
            proof.extend_from_slice(&note(*max_byte_range));
            proofs.push(Proof {
                offset: max_byte_range.saturating_sub(1),
                proof,
            });
        }
        Node::Branch {
            byte_range,
            left,
            right,
            ..
        } => {
            let mut path = path;
            path.extend_from_slice(&left.id());
            path.extend_from_slice(&right.id());
            path.extend_from_slice(&note(*byte_range));
            collect_proofs(left, path.clone(), proofs);
            collect_proofs(right, path, proofs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{b64url_encode, sha256};

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn sizes(data: &[u8]) -> Vec<u64> {
        chunk_data(data)
            .iter()
            .map(|c| c.max_byte_range - c.min_byte_range)
            .collect()
    }

    // Roots, chunk sizes, proof offsets and sha256(concatenated proofs) computed by
    // arweave-js 1.15.7 `lib/merkle` (`generateTransactionChunks`) over bytes `i % 251`.
    const VECTORS: &[(usize, &str, &[u64], &str)] = &[
        (
            0,
            "x9bUbvLyiRlsOOqClNkKV0LAohFd-PfXfb_XoYosfQI",
            &[],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            1,
            "Ht_yZhXGBDUZfLv4OD6we7FkrjcpDpGPwQZEZgEJVfk",
            &[0],
            "02eceb606a2177f51918639f1a3efc5785e295698f8082459fed8a3c5316fecd",
        ),
        (
            262144,
            "gty7KB2baLFp7OGxuV2wBeX3NippS1tNVlMOZryIq5o",
            &[262143],
            "370e70a54376af1ae9351f345148579ea6ab245c8eaafaf5f976eb3dd939c7f6",
        ),
        (
            262145,
            "kJKkN6QWAcUM_WQUxeNXnnwKy0fp7myUNNob6XNlOPA",
            &[131072, 262144],
            "6070ba89d579d48fa38d79241a3918e999ca988b407fc79a1e17451c1c8aa650",
        ),
        (
            600000,
            "O5pWr9emcTCZCog2mLsx1oILM5LhWt31xz_16qteDow",
            &[262143, 524287, 599999],
            "a27f67cca2352c05dd48be918c067c42456957df726792e9c9f4ea64aaaf6252",
        ),
        (
            1048576,
            "TC33LkX2IUcxXUtMWUkcA-4lhuheDxub6pgtOVoXP68",
            &[262143, 524287, 786431, 1048575],
            "3678836b6580f146b36ac16f49a1027b0e2207941743a7e81d3562de6f1f0503",
        ),
        (
            786532,
            "iFXsKntEZpujQXLn9YYzK4vhusSsrCDnNI3gzpRGzwA",
            &[262143, 524287, 655409, 786531],
            "a078e0fb49edd0e217b288c9cf8002e7a136d90b8a016c0bb65e3be10ca7cbc0",
        ),
    ];

    #[test]
    fn roots_and_proofs_match_arweave_js() {
        for (len, root, offsets, proofs_hash) in VECTORS {
            let data = pattern(*len);
            let chunks = transaction_chunks(&data);
            assert_eq!(
                b64url_encode(&chunks.data_root),
                *root,
                "data_root of {len} bytes"
            );
            assert_eq!(
                b64url_encode(&data_root(&data)),
                *root,
                "data_root of {len} bytes"
            );
            let got: Vec<u64> = chunks.proofs.iter().map(|p| p.offset).collect();
            assert_eq!(got, *offsets, "proof offsets of {len} bytes");
            let all: Vec<u8> = chunks.proofs.iter().flat_map(|p| p.proof.clone()).collect();
            assert_eq!(hex(&sha256(&all)), *proofs_hash, "proofs of {len} bytes");
            assert_eq!(chunks.chunks.len(), chunks.proofs.len());
        }
    }

    // Chunk sizes and roots from arweave-js `chunkData` / `computeRootHash`, including the
    // rebalancing of the last two chunks when less than 32 KiB would remain.
    #[test]
    fn chunking_matches_arweave_js() {
        assert_eq!(sizes(&pattern(262145)), [131073, 131072]);
        assert_eq!(sizes(&pattern(262144 + 32767)), [147456, 147455]);
        assert_eq!(sizes(&pattern(262144 + 32768)), [262144, 32768]);
        assert_eq!(sizes(&pattern(600000)), [262144, 262144, 75712]);
        assert_eq!(
            sizes(&pattern(3 * 262144 + 100)),
            [262144, 262144, 131122, 131122]
        );
        assert_eq!(sizes(&pattern(262144)), [262144, 0]);
        assert_eq!(sizes(&[]), [0]);
        assert_eq!(
            b64url_encode(&data_root(&pattern(262144 + 32767))),
            "ftgH8HjzmYUv7zYP-oTk5XovsehoyoBTxQA8t2waFIQ"
        );
        assert_eq!(
            b64url_encode(&data_root(&pattern(262144 + 32768))),
            "qk73Qz9Ymp1tr4dzJw_hTDS1VoVwBeLLNwkytN1sBYY"
        );
        assert_eq!(
            b64url_encode(&data_root(&pattern(1000))),
            "OBN0lHZnrFrskv9s1HKU7VRRDXrzQ3sOgMniX5cGavM"
        );
    }
}
