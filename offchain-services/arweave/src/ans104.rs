//! ANS-104 data items and bundles (Bundled Data v2.0, binary serialisation).
//!
//! # Data item
//!
//! | field | bytes |
//! |---|---|
//! | signature type | 2, little-endian; only 1 (Arweave) is supported |
//! | signature | 512 |
//! | owner | 512 (the RSA modulus) |
//! | target | 1 presence byte (0 or 1), then 32 if present |
//! | anchor | 1 presence byte (0 or 1), then 32 if present |
//! | number of tags | 8, little-endian |
//! | number of tag bytes | 8, little-endian |
//! | tags | the Avro encoding of `[{name, value}]`, as arbundles `serializeTags` writes it |
//! | data | the rest |
//!
//! The signature covers
//! `deepHash(["dataitem", "1", "1", owner, target, anchor, tag_bytes, data])` (absent target
//! and anchor are empty blobs), as arbundles `getSignatureData` builds it; the id is
//! sha256(signature). Tags follow the ANS-104 limits: at most 128, names of 1 to 1024
//! bytes, values of 1 to 3072 bytes; and arbundles's: at most 4096 bytes once encoded.
//!
//! # Bundle
//!
//! The item count as 32 bytes little-endian; per item its size (32 bytes little-endian) and
//! id (32 bytes); then the items back to back. A transaction carrying a bundle has the tags
//! [`Bundle::tags`] (`Bundle-Format: binary`, `Bundle-Version: 2.0.0`).

use bytes::Bytes;

use crate::deep_hash::{deep_hash, Chunk, DeepHash};
use crate::wallet::{self, Wallet, OWNER_LEN};
use crate::{
    b64url_encode, sha256, BundleError, DataItemError, Error, Result, Tag, TagError, TxId,
};

/// The signature type of Arweave (RSA-PSS 4096) signatures.
pub const SIGNATURE_TYPE_ARWEAVE: u16 = 1;
/// The most tags a data item may have.
pub const MAX_TAGS: usize = 128;
/// The longest tag name, in bytes.
pub const MAX_TAG_NAME_LEN: usize = 1024;
/// The longest tag value, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 3072;
/// The most bytes the encoded tags may take: not in the ANS-104 text, but arbundles
/// `DataItem.verify` (and so the bundlers and gateways using it) refuses more.
pub const MAX_TAG_BYTES: usize = 4096;

/// A signed ANS-104 data item (signature type 1, Arweave).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItem {
    id: TxId,
    signature: Vec<u8>,
    owner: Vec<u8>,
    target: Option<[u8; 32]>,
    anchor: Option<[u8; 32]>,
    tags: Vec<Tag>,
    raw_tags: Vec<u8>,
    data: Bytes,
}

impl DataItem {
    /// Builds and signs a data item.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTag`] when the tags break the ANS-104 limits; [`Error::Rsa`] if
    /// signing fails.
    pub fn sign(
        wallet: &Wallet,
        data: impl Into<Bytes>,
        tags: Vec<Tag>,
        target: Option<[u8; 32]>,
        anchor: Option<[u8; 32]>,
    ) -> Result<Self> {
        check_tags(&tags)?;
        let raw_tags = encode_tags(&tags);
        if raw_tags.len() > MAX_TAG_BYTES {
            return Err(TagError::EncodedTooLarge {
                len: raw_tags.len(),
            }
            .into());
        }
        let mut item = Self {
            id: [0; 32],
            signature: Vec::new(),
            owner: wallet.owner(),
            target,
            anchor,
            raw_tags,
            tags,
            data: data.into(),
        };
        item.signature = wallet.sign(&item.signature_data())?;
        item.id = sha256(&item.signature);
        Ok(item)
    }

    /// Parses a data item; its id is sha256 of the signature it carries.
    ///
    /// Strict: an unsupported signature type, a presence byte other than 0 or 1, tag bytes
    /// that are not exactly the Avro encoding of the declared number of tags, tags beyond the
    /// ANS-104 limits, or a truncated item are errors. The signature is not checked: call
    /// [`DataItem::verify`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDataItem`] saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Ok(parse_item(bytes)?)
    }

    /// Parses a data item that is claimed to have the id `id` (by a bundle header or an
    /// index); [`DataItem::verify`] then checks the claim.
    ///
    /// # Errors
    ///
    /// As [`DataItem::parse`].
    pub fn parse_with_id(bytes: &[u8], id: TxId) -> Result<Self> {
        let mut item = parse_item(bytes)?;
        item.id = id;
        Ok(item)
    }

    /// The binary form of the item.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&SIGNATURE_TYPE_ARWEAVE.to_le_bytes());
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.owner);
        for field in [&self.target, &self.anchor] {
            match field {
                Some(bytes) => {
                    out.push(1);
                    out.extend_from_slice(bytes);
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&(self.tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.raw_tags.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.raw_tags);
        out.extend_from_slice(&self.data);
        out
    }

    /// The size of [`DataItem::to_bytes`].
    pub fn encoded_len(&self) -> usize {
        2 + self.signature.len()
            + self.owner.len()
            + 1
            + self.target.map_or(0, |_| 32)
            + 1
            + self.anchor.map_or(0, |_| 32)
            + 16
            + self.raw_tags.len()
            + self.data.len()
    }

    /// The message signed: the deep hash of the item's fields.
    pub fn signature_data(&self) -> DeepHash {
        let target = self.target.as_ref().map_or(&[][..], |t| &t[..]);
        let anchor = self.anchor.as_ref().map_or(&[][..], |a| &a[..]);
        deep_hash(&Chunk::List(vec![
            Chunk::Blob(b"dataitem"),
            Chunk::Blob(b"1"),
            Chunk::Blob(b"1"),
            Chunk::Blob(&self.owner),
            Chunk::Blob(target),
            Chunk::Blob(anchor),
            Chunk::Blob(&self.raw_tags),
            Chunk::Blob(&self.data),
        ]))
    }

    /// Checks the signature against the owner, and that the id is sha256(signature).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`] or [`Error::IdMismatch`].
    pub fn verify(&self) -> Result<()> {
        wallet::verify(&self.owner, &self.signature_data(), &self.signature)?;
        let actual = sha256(&self.signature);
        if actual != self.id {
            return Err(Error::IdMismatch {
                claimed: b64url_encode(&self.id),
                actual: b64url_encode(&actual),
            });
        }
        Ok(())
    }

    /// The item's id (sha256 of the signature, or the id claimed at parsing).
    pub fn id(&self) -> TxId {
        self.id
    }

    /// The base64url id.
    pub fn id_b64url(&self) -> String {
        b64url_encode(&self.id)
    }

    /// The signature, 512 bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The owner (the signer's modulus), 512 bytes.
    pub fn owner(&self) -> &[u8] {
        &self.owner
    }

    /// The signer's address.
    pub fn owner_address(&self) -> String {
        wallet::address_of(&self.owner)
    }

    /// The target, if any.
    pub fn target(&self) -> Option<[u8; 32]> {
        self.target
    }

    /// The anchor, if any.
    pub fn anchor(&self) -> Option<[u8; 32]> {
        self.anchor
    }

    /// The tags.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The tags as encoded in the item (Avro).
    pub fn raw_tags(&self) -> &[u8] {
        &self.raw_tags
    }

    /// The data.
    pub fn data(&self) -> &Bytes {
        &self.data
    }
}

/// ANS-104 bundles: many data items in one transaction's data.
#[derive(Debug, Clone, Copy)]
pub struct Bundle;

impl Bundle {
    /// The tags of a transaction whose data is a bundle.
    pub fn tags() -> Vec<Tag> {
        vec![
            Tag::new("Bundle-Format", "binary"),
            Tag::new("Bundle-Version", "2.0.0"),
        ]
    }

    /// The binary bundle of `items`.
    pub fn build(items: &[DataItem]) -> Vec<u8> {
        let size: usize = 32
            + items
                .iter()
                .map(|item| 64 + item.encoded_len())
                .sum::<usize>();
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&u256_le(items.len() as u64));
        for item in items {
            out.extend_from_slice(&u256_le(item.encoded_len() as u64));
            out.extend_from_slice(&item.id);
        }
        for item in items {
            out.extend_from_slice(&item.to_bytes());
        }
        out
    }

    /// Parses a bundle, checking that every header's id is its item's id (sha256 of its
    /// signature) and that the items fill the bundle exactly. Signatures are not checked:
    /// call [`DataItem::verify`] on each item.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBundle`] saying what is wrong and, for an item, which one.
    pub fn parse(bytes: &[u8]) -> Result<Vec<DataItem>> {
        let count_bytes = bytes
            .get(..32)
            .ok_or(BundleError::Truncated { what: "item count" })?;
        let count = u256_le_to_u64(count_bytes)
            .ok_or(BundleError::NumberTooLarge { what: "item count" })?;
        let headers_end = count
            .checked_mul(64)
            .and_then(|len| len.checked_add(32))
            .filter(|&end| end <= bytes.len() as u64)
            .ok_or(BundleError::Truncated {
                what: "item headers",
            })? as usize;
        let headers = &bytes[32..headers_end];
        let mut items = Vec::with_capacity(count as usize);
        let mut offset = headers_end;
        for (index, header) in headers.chunks_exact(64).enumerate() {
            let size = u256_le_to_u64(&header[..32])
                .ok_or(BundleError::NumberTooLarge { what: "item size" })?;
            let end = usize::try_from(size)
                .ok()
                .and_then(|size| offset.checked_add(size))
                .filter(|&end| end <= bytes.len())
                .ok_or(BundleError::Truncated { what: "an item" })?;
            let item = parse_item(&bytes[offset..end])
                .map_err(|source| BundleError::Item { index, source })?;
            if header[32..] != item.id {
                return Err(BundleError::IdMismatch {
                    index,
                    header: b64url_encode(&header[32..]),
                    item: b64url_encode(&item.id),
                }
                .into());
            }
            items.push(item);
            offset = end;
        }
        if offset != bytes.len() {
            return Err(BundleError::TrailingBytes {
                extra: (bytes.len() - offset) as u64,
            }
            .into());
        }
        Ok(items)
    }
}

fn u256_le(value: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&value.to_le_bytes());
    bytes
}

fn u256_le_to_u64(bytes: &[u8]) -> Option<u64> {
    let (low, high) = bytes.split_at(8);
    if high.iter().any(|&b| b != 0) {
        return None;
    }
    low.try_into().ok().map(u64::from_le_bytes)
}

fn check_tags(tags: &[Tag]) -> Result<(), TagError> {
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany { count: tags.len() });
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.name.is_empty() || tag.value.is_empty() {
            return Err(TagError::Empty { index });
        }
        if tag.name.len() > MAX_TAG_NAME_LEN {
            return Err(TagError::NameTooLong {
                index,
                len: tag.name.len(),
            });
        }
        if tag.value.len() > MAX_TAG_VALUE_LEN {
            return Err(TagError::ValueTooLong {
                index,
                len: tag.value.len(),
            });
        }
    }
    Ok(())
}

/// A cursor over an item's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DataItemError> {
        if self.bytes.len() < len {
            return Err(DataItemError::Truncated { field });
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn u64_le(&mut self, field: &'static str) -> Result<u64, DataItemError> {
        let bytes = self.take(8, field)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    fn optional_32(&mut self, field: &'static str) -> Result<Option<[u8; 32]>, DataItemError> {
        match self.take(1, field)?[0] {
            0 => Ok(None),
            1 => {
                let mut value = [0u8; 32];
                value.copy_from_slice(self.take(32, field)?);
                Ok(Some(value))
            }
            value => Err(DataItemError::InvalidPresenceByte { field, value }),
        }
    }
}

fn parse_item(bytes: &[u8]) -> Result<DataItem, DataItemError> {
    let mut reader = Reader { bytes };
    let signature_type = reader.take(2, "signature type")?;
    let signature_type = u16::from_le_bytes([signature_type[0], signature_type[1]]);
    if signature_type != SIGNATURE_TYPE_ARWEAVE {
        return Err(DataItemError::UnsupportedSignatureType(signature_type));
    }
    let signature = reader.take(OWNER_LEN, "signature")?.to_vec();
    let owner = reader.take(OWNER_LEN, "owner")?.to_vec();
    let target = reader.optional_32("target")?;
    let anchor = reader.optional_32("anchor")?;
    let tag_count = reader.u64_le("number of tags")?;
    let tag_bytes_len = reader.u64_le("number of tag bytes")?;
    let tag_bytes_len = usize::try_from(tag_bytes_len).unwrap_or(usize::MAX);
    if tag_bytes_len > MAX_TAG_BYTES {
        return Err(DataItemError::InvalidTag(TagError::EncodedTooLarge {
            len: tag_bytes_len,
        }));
    }
    let raw_tags = reader.take(tag_bytes_len, "tags")?.to_vec();
    let tags = decode_tags(&raw_tags)?;
    if tags.len() as u64 != tag_count {
        return Err(DataItemError::TagCountMismatch {
            declared: tag_count,
            decoded: tags.len() as u64,
        });
    }
    check_tags(&tags).map_err(DataItemError::InvalidTag)?;
    Ok(DataItem {
        id: sha256(&signature),
        signature,
        owner,
        target,
        anchor,
        tags,
        raw_tags,
        data: Bytes::copy_from_slice(reader.bytes),
    })
}

/// Avro `long`: zig-zag, then base-128 little-endian varint.
fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// The tags as arbundles `serializeTags` writes them: nothing for no tags, else one Avro
/// array block of `{name, value}` records and the terminating empty block.
fn encode_tags(tags: &[Tag]) -> Vec<u8> {
    if tags.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    write_long(&mut out, tags.len() as i64);
    for tag in tags {
        write_bytes(&mut out, &tag.name);
        write_bytes(&mut out, &tag.value);
    }
    write_long(&mut out, 0);
    out
}

struct AvroReader<'a> {
    bytes: &'a [u8],
}

impl<'a> AvroReader<'a> {
    fn long(&mut self) -> Result<i64, DataItemError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) =
                self.bytes
                    .split_first()
                    .ok_or(DataItemError::InvalidTagEncoding {
                        reason: "a number runs past the end",
                    })?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(DataItemError::InvalidTagEncoding {
            reason: "a number is longer than 10 bytes",
        })
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DataItemError> {
        let len = usize::try_from(self.long()?).map_err(|_| DataItemError::InvalidTagEncoding {
            reason: "a negative string length",
        })?;
        if self.bytes.len() < len {
            return Err(DataItemError::InvalidTagEncoding {
                reason: "a string runs past the end",
            });
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head.to_vec())
    }
}

/// Decodes Avro array blocks of `{name, value}` until the empty block, which must end the
/// bytes. Empty bytes are no tags.
fn decode_tags(bytes: &[u8]) -> Result<Vec<Tag>, DataItemError> {
    let mut tags = Vec::new();
    if bytes.is_empty() {
        return Ok(tags);
    }
    let mut reader = AvroReader { bytes };
    loop {
        let mut count = reader.long()?;
        if count == 0 {
            break;
        }
        if count < 0 {
            // A negative count is followed by the block's size in bytes.
            count = count
                .checked_neg()
                .ok_or(DataItemError::InvalidTagEncoding {
                    reason: "a block count overflows",
                })?;
            reader.long()?;
        }
        // Each tag takes at least two bytes: refuse counts the bytes cannot hold.
        let count = count as u64;
        if count > (reader.bytes.len() / 2) as u64 {
            return Err(DataItemError::InvalidTagEncoding {
                reason: "a block holds more tags than bytes",
            });
        }
        let total = tags.len() + count as usize;
        if total > MAX_TAGS {
            return Err(DataItemError::InvalidTag(TagError::TooMany {
                count: total,
            }));
        }
        for _ in 0..count {
            tags.push(Tag {
                name: reader.bytes()?,
                value: reader.bytes()?,
            });
        }
    }
    if !reader.bytes.is_empty() {
        return Err(DataItemError::InvalidTagEncoding {
            reason: "bytes after the end of the array",
        });
    }
    Ok(tags)
}

#[cfg(test)]
mod tests;
