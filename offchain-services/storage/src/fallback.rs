//! Reads from a document's secondary copies when S3 fails: its IPFS copy (by the CID recorded
//! on-chain), then its Arweave copy (by the transaction id, and the data item's id inside a
//! bundle). Whatever comes back is checked against the ciphertext's sha256 recorded on-chain;
//! a copy that does not match is refused and the next one tried.
//!
//! The copy is held in memory while it is checked, since nothing may be sent before it is.

use bytes::Bytes;
use sdv_arweave::{ans104::Bundle, client::Gateway};
use sdv_ipfs::IpfsClient;
use sha2::{Digest, Sha256};

use crate::{parse_hash, read::IndexedDocument, AppState};

/// The ciphertext of `document` from its first secondary copy that answers with the right
/// sha256, and which copy it was (`ipfs` or `arweave`); else why each failed.
pub async fn read(
    state: &AppState,
    document: &IndexedDocument,
) -> Result<(&'static str, Bytes), String> {
    let mut failures = Vec::new();
    let config = state.config();
    match (
        config.ipfs_api_url.as_deref(),
        document.json["ipfs_cid"].as_str(),
    ) {
        (Some(url), Some(cid)) => match from_ipfs(url, cid, config.fallback_timeout).await {
            Ok(data) if matches(&data, &document.sha256) => return Ok(("ipfs", data)),
            Ok(_) => failures.push("IPFS: the content does not match the sha256".to_owned()),
            Err(e) => failures.push(format!("IPFS: {e}")),
        },
        (None, Some(_)) => failures.push("IPFS: no node configured (SDV_IPFS_API_URL)".to_owned()),
        (_, None) => failures.push("IPFS: no CID recorded".to_owned()),
    }
    let arweave = &document.json["arweave"];
    match (
        config.arweave_url.as_deref(),
        arweave["tx"].as_str().and_then(parse_hash),
    ) {
        (Some(url), Some(tx)) => {
            let item = arweave["item"].as_str().and_then(parse_hash);
            match from_arweave(url, &tx, item.as_ref()).await {
                Ok(data) if matches(&data, &document.sha256) => return Ok(("arweave", data)),
                Ok(_) => failures.push("Arweave: the content does not match the sha256".to_owned()),
                Err(e) => failures.push(format!("Arweave: {e}")),
            }
        }
        (None, Some(_)) => {
            failures.push("Arweave: no gateway configured (SDV_ARWEAVE_URL)".to_owned())
        }
        (_, None) => failures.push("Arweave: no copy recorded".to_owned()),
    }
    Err(failures.join("; "))
}

fn matches(data: &[u8], sha256: &[u8; 32]) -> bool {
    Sha256::digest(data).as_slice() == sha256
}

async fn from_ipfs(
    url: &str,
    cid_hex: &str,
    timeout: std::time::Duration,
) -> Result<Bytes, String> {
    let binary = hex::decode(cid_hex.strip_prefix("0x").unwrap_or(cid_hex))
        .map_err(|_| format!("the recorded CID {cid_hex} is not hex"))?;
    let cid = sdv_ipfs::cid_from_bytes(&binary);
    IpfsClient::new(url)
        .map_err(|e| e.to_string())?
        .cat(&cid, timeout)
        .await
        .map_err(|e| format!("reading {cid}: {e}"))
}

async fn from_arweave(url: &str, tx: &[u8; 32], item: Option<&[u8; 32]>) -> Result<Bytes, String> {
    let gateway = Gateway::new(url).map_err(|e| e.to_string())?;
    let data = gateway.data(tx).await.map_err(|e| {
        format!(
            "reading transaction {}: {e}",
            sdv_arweave::b64url_encode(tx)
        )
    })?;
    let Some(item) = item else {
        return Ok(data);
    };
    // A bundled copy: the data item inside the bundle, whose signature and id must verify.
    let items = Bundle::parse(&data).map_err(|e| format!("the bundle does not parse: {e}"))?;
    let found = items.into_iter().find(|i| &i.id() == item).ok_or_else(|| {
        format!(
            "the bundle has no item {}",
            sdv_arweave::b64url_encode(item)
        )
    })?;
    found
        .verify()
        .map_err(|e| format!("the data item does not verify: {e}"))?;
    Ok(Bytes::from(found.data().to_vec()))
}
