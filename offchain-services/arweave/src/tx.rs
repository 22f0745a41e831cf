//! Signed format-2 Arweave transactions.
//!
//! A format-2 transaction commits to its data through `data_root` and `data_size` (see
//! [`crate::merkle`]); the signature covers
//! `deepHash(["2", owner, target, quantity, reward, last_tx, [[name, value], ...], data_size, data_root])`,
//! as arweave-js `Transaction.getSignatureData` builds it, and the id is sha256(signature).
//! The data itself travels inline in the JSON of `POST /tx` ([`Transaction::to_json`]), or
//! the headers go without it ([`Transaction::to_header_json`]) and the data follows chunk by
//! chunk ([`crate::client::Gateway::upload`]).

use bytes::Bytes;
use serde_json::{json, Value};

use crate::deep_hash::{deep_hash, Chunk, DeepHash};
use crate::wallet::{self, Wallet};
use crate::{b64url_decode, b64url_encode, merkle, sha256, Error, Result, TagError, TxId};

/// Arweave nodes refuse transactions whose tag names and values exceed 2048 bytes in total.
pub const MAX_TRANSACTION_TAG_BYTES: usize = 2048;

/// A tag: a name and a value, both byte strings (usually UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The tag's name.
    pub name: Vec<u8>,
    /// The tag's value.
    pub value: Vec<u8>,
}

impl Tag {
    /// A tag from anything that becomes bytes (`&str`, `String`, `Vec<u8>`).
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A signed format-2 transaction carrying data (no transfer: empty target, quantity 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// sha256(signature).
    pub id: TxId,
    /// The anchor: a recent block hash or the owner's last transaction (`/tx_anchor`).
    pub last_tx: Vec<u8>,
    /// The signer's modulus, 512 bytes.
    pub owner: Vec<u8>,
    /// The tags, in order.
    pub tags: Vec<Tag>,
    /// The recipient of a transfer; empty for data transactions.
    pub target: Vec<u8>,
    /// Winston transferred to `target`.
    pub quantity: u128,
    /// The Merkle root of the data (empty when there is no data).
    pub data_root: Vec<u8>,
    /// The size of the data in bytes.
    pub data_size: u64,
    /// The data (empty in headers read back from `/tx/{id}`).
    pub data: Bytes,
    /// The fee in winston (`/price/{bytes}`).
    pub reward: u128,
    /// RSA-PSS signature of [`Transaction::signature_data`], 512 bytes.
    pub signature: Vec<u8>,
}

impl Transaction {
    /// Builds and signs a data transaction.
    ///
    /// `last_tx` is the anchor from [`crate::client::Gateway::tx_anchor`], `reward` the price
    /// from [`crate::client::Gateway::price`] for `data.len()` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTag`] when the tags exceed [`MAX_TRANSACTION_TAG_BYTES`];
    /// [`Error::Rsa`] if signing fails.
    pub fn sign(
        wallet: &Wallet,
        data: impl Into<Bytes>,
        tags: Vec<Tag>,
        last_tx: Vec<u8>,
        reward: u128,
    ) -> Result<Self> {
        check_tags(&tags)?;
        let data = data.into();
        let data_root = if data.is_empty() {
            Vec::new()
        } else {
            merkle::data_root(&data).to_vec()
        };
        let mut tx = Self {
            id: [0; 32],
            last_tx,
            owner: wallet.owner(),
            tags,
            target: Vec::new(),
            quantity: 0,
            data_root,
            data_size: data.len() as u64,
            data,
            reward,
            signature: Vec::new(),
        };
        tx.signature = wallet.sign(&tx.signature_data())?;
        tx.id = sha256(&tx.signature);
        Ok(tx)
    }

    /// The message signed: the deep hash of the format-2 fields.
    pub fn signature_data(&self) -> DeepHash {
        let quantity = self.quantity.to_string();
        let reward = self.reward.to_string();
        let data_size = self.data_size.to_string();
        let tags = self
            .tags
            .iter()
            .map(|tag| Chunk::List(vec![Chunk::Blob(&tag.name), Chunk::Blob(&tag.value)]))
            .collect();
        deep_hash(&Chunk::List(vec![
            Chunk::Blob(b"2"),
            Chunk::Blob(&self.owner),
            Chunk::Blob(&self.target),
            Chunk::Blob(quantity.as_bytes()),
            Chunk::Blob(reward.as_bytes()),
            Chunk::Blob(&self.last_tx),
            Chunk::List(tags),
            Chunk::Blob(data_size.as_bytes()),
            Chunk::Blob(&self.data_root),
        ]))
    }

    /// Checks the signature, that the id is sha256(signature) and, when the data is present,
    /// that `data_root` and `data_size` describe it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSignature`], [`Error::InvalidOwnerLength`], [`Error::IdMismatch`] or
    /// [`Error::DataRootMismatch`].
    pub fn verify(&self) -> Result<()> {
        wallet::verify(&self.owner, &self.signature_data(), &self.signature)?;
        let actual = sha256(&self.signature);
        if actual != self.id {
            return Err(Error::IdMismatch {
                claimed: b64url_encode(&self.id),
                actual: b64url_encode(&actual),
            });
        }
        if !self.data.is_empty()
            && (self.data.len() as u64 != self.data_size
                || merkle::data_root(&self.data)[..] != self.data_root[..])
        {
            return Err(Error::DataRootMismatch);
        }
        if self.data_size == 0 && !self.data_root.is_empty() {
            return Err(Error::DataRootMismatch);
        }
        Ok(())
    }

    /// The base64url id.
    pub fn id_b64url(&self) -> String {
        b64url_encode(&self.id)
    }

    /// The transaction in the gateway's JSON form (`POST /tx`): binary fields and the data in
    /// base64url, numbers as decimal strings, `format` as the number 2.
    pub fn to_json(&self) -> Value {
        self.json_with_data(&self.data)
    }

    /// The transaction's headers in the gateway's JSON form: [`Transaction::to_json`] with
    /// `data` the empty string, `data_root` and `data_size` kept. This is what arweave-js
    /// `TransactionUploader` posts to `/tx` before uploading the data to `/chunk`; the
    /// signature does not cover the data, so it still verifies.
    pub fn to_header_json(&self) -> Value {
        self.json_with_data(&[])
    }

    fn json_with_data(&self, data: &[u8]) -> Value {
        let tags: Vec<Value> = self
            .tags
            .iter()
            .map(|tag| json!({ "name": b64url_encode(&tag.name), "value": b64url_encode(&tag.value) }))
            .collect();
        json!({
            "format": 2,
            "id": b64url_encode(&self.id),
            "last_tx": b64url_encode(&self.last_tx),
            "owner": b64url_encode(&self.owner),
            "tags": tags,
            "target": b64url_encode(&self.target),
            "quantity": self.quantity.to_string(),
            "data": b64url_encode(data),
            "data_size": self.data_size.to_string(),
            "data_root": b64url_encode(&self.data_root),
            "reward": self.reward.to_string(),
            "signature": b64url_encode(&self.signature),
        })
    }

    /// Reads a format-2 transaction from the gateway's JSON (`GET /tx/{id}` gives the headers,
    /// with empty `data`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTransactionJson`] naming the first field that is missing or malformed.
    pub fn from_json(value: &Value) -> Result<Self> {
        let format = value
            .get("format")
            .and_then(|f| f.as_u64().or_else(|| f.as_str()?.parse().ok()));
        if format != Some(2) {
            return Err(Error::InvalidTransactionJson {
                field: "format",
                reason: "is not 2",
            });
        }
        let text = |field: &'static str| -> Result<&str> {
            match value.get(field) {
                None | Some(Value::Null) => Ok(""),
                Some(Value::String(text)) => Ok(text),
                Some(_) => Err(Error::InvalidTransactionJson {
                    field,
                    reason: "is not a string",
                }),
            }
        };
        let binary = |field: &'static str| -> Result<Vec<u8>> {
            b64url_decode(text(field)?).map_err(|_| Error::InvalidTransactionJson {
                field,
                reason: "is not base64url",
            })
        };
        let number = |field: &'static str| -> Result<u128> {
            let text = text(field)?;
            if text.is_empty() {
                return Ok(0);
            }
            text.parse().map_err(|_| Error::InvalidTransactionJson {
                field,
                reason: "is not a decimal number",
            })
        };
        let id = binary("id")?
            .try_into()
            .map_err(|_| Error::InvalidTransactionJson {
                field: "id",
                reason: "is not 32 bytes",
            })?;
        let tags = match value.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tags)) => tags
                .iter()
                .map(|tag| {
                    let part = |key: &str| {
                        tag.get(key)
                            .and_then(Value::as_str)
                            .and_then(|text| b64url_decode(text).ok())
                            .ok_or(Error::InvalidTransactionJson {
                                field: "tags",
                                reason: "holds a tag without base64url name and value",
                            })
                    };
                    Ok(Tag {
                        name: part("name")?,
                        value: part("value")?,
                    })
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(Error::InvalidTransactionJson {
                    field: "tags",
                    reason: "is not an array",
                })
            }
        };
        let data_size =
            u64::try_from(number("data_size")?).map_err(|_| Error::InvalidTransactionJson {
                field: "data_size",
                reason: "is too large",
            })?;
        Ok(Self {
            id,
            last_tx: binary("last_tx")?,
            owner: binary("owner")?,
            tags,
            target: binary("target")?,
            quantity: number("quantity")?,
            data_root: binary("data_root")?,
            data_size,
            data: Bytes::from(binary("data")?),
            reward: number("reward")?,
            signature: binary("signature")?,
        })
    }
}

fn check_tags(tags: &[Tag]) -> Result<()> {
    let total: usize = tags
        .iter()
        .map(|tag| tag.name.len() + tag.value.len())
        .sum();
    if total > MAX_TRANSACTION_TAG_BYTES {
        return Err(TagError::TransactionTagsTooLarge { total }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::tests::test_wallet;

    fn signed(data: &'static [u8]) -> Transaction {
        let tags = vec![
            Tag::new("Content-Type", "text/plain"),
            Tag::new("App-Name", "SDV"),
        ];
        Transaction::sign(&test_wallet(), data, tags, vec![9; 48], 12_345).unwrap()
    }

    #[test]
    fn signed_transaction_verifies_and_round_trips_through_json() {
        let tx = signed(b"hello arweave");
        tx.verify().unwrap();
        assert_eq!(tx.id, sha256(&tx.signature));
        let json = tx.to_json();
        assert_eq!(json["format"], 2);
        assert_eq!(json["quantity"], "0");
        assert_eq!(json["reward"], "12345");
        assert_eq!(json["data_size"], "13");
        assert_eq!(json["target"], "");
        assert_eq!(json["data"], b64url_encode(b"hello arweave"));
        assert_eq!(Transaction::from_json(&json).unwrap(), tx);
    }

    #[test]
    fn header_json_is_the_transaction_without_its_data() {
        let tx = signed(b"hello arweave");
        let header = tx.to_header_json();
        assert_eq!(header["data"], "");
        assert_eq!(header["data_size"], "13");
        assert_eq!(header["data_root"], b64url_encode(&tx.data_root));
        assert!(!tx.data_root.is_empty());
        let mut full = tx.to_json();
        full["data"] = "".into();
        assert_eq!(header, full, "only `data` differs");
        let read = Transaction::from_json(&header).unwrap();
        assert!(read.data.is_empty());
        assert_eq!(
            read,
            Transaction {
                data: Bytes::new(),
                ..tx
            }
        );
        read.verify()
            .expect("the signature does not cover the data");
    }

    #[test]
    fn tampering_is_detected() {
        let tx = signed(b"hello arweave");
        let mut forged = tx.clone();
        forged.reward += 1;
        assert!(matches!(forged.verify(), Err(Error::InvalidSignature)));
        let mut forged = tx.clone();
        forged.tags[0].value = b"text/html".to_vec();
        assert!(matches!(forged.verify(), Err(Error::InvalidSignature)));
        let mut forged = tx.clone();
        forged.data = Bytes::from_static(b"hello arweavE");
        assert!(matches!(forged.verify(), Err(Error::DataRootMismatch)));
        let mut forged = tx.clone();
        forged.id[0] ^= 1;
        assert!(matches!(forged.verify(), Err(Error::IdMismatch { .. })));
    }

    #[test]
    fn empty_data_has_an_empty_data_root() {
        let tx = signed(b"");
        assert!(tx.data_root.is_empty());
        assert_eq!(tx.data_size, 0);
        tx.verify().unwrap();
    }

    #[test]
    fn oversized_tags_are_refused() {
        let tags = vec![Tag::new("a", vec![b'x'; 2048])];
        assert!(matches!(
            Transaction::sign(&test_wallet(), &b"x"[..], tags, vec![], 0),
            Err(Error::InvalidTag(TagError::TransactionTagsTooLarge {
                total: 2049
            }))
        ));
    }

    #[test]
    fn malformed_json_is_an_error() {
        let mut json = signed(b"x").to_json();
        json["owner"] = "not base64!".into();
        assert!(matches!(
            Transaction::from_json(&json),
            Err(Error::InvalidTransactionJson { field: "owner", .. })
        ));
        assert!(matches!(
            Transaction::from_json(&serde_json::json!({"format": 1})),
            Err(Error::InvalidTransactionJson {
                field: "format",
                ..
            })
        ));
    }
}
