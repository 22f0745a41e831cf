//! The indexer benchmark's chain: a node base path kept between runs, whose blocks hold at least
//! [`MIN_EVENTS`] DocumentNFT events made by real contract calls.
//!
//! The first run deploys the contracts on a new chain, publishes encryption keys in
//! `Utility::batch_all` extrinsics from several signers at once (each call emits one
//! `EncryptionKeyPublished`), and records what it made in a marker file. Later runs restart the
//! node on the same base path and reuse the chain when the marker, the chain and the contract
//! bundles still agree; otherwise the chain is made again.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use sdv_chain::{AccountId, CallData, Chain, Deployment, Hash};
use sdv_node_config::{
    accounts, contracts_dir, deploy, deploy::load_bundle, NodeOptions, NodeProcess, CONTRACTS,
};
use serde::{Deserialize, Serialize};
use subxt_signer::sr25519::Keypair;

/// Events the backlog holds at least.
pub(crate) const MIN_EVENTS: u64 = 100_000;

/// `publish_encryption_key` calls per extrinsic; each emits one event. Each call is charged
/// about 1.2 ms of weight, and 1,000 calls exceed the node's per-extrinsic weight limit (the
/// pool refuses them); 700 fit, so the node seals about one extrinsic per block.
const CALLS_PER_EXTRINSIC: u64 = 700;

/// Progress is printed every this many events while the backlog is made.
const PROGRESS_EVERY: u64 = 10_000;

/// What the kept chain holds, written once its backlog is complete.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    /// The chain's genesis hash.
    genesis_hash: Hash,
    /// The finalized head once the backlog was made.
    last_block: u32,
    /// Its hash: a chain made again (same dev genesis) has another one.
    last_block_hash: Hash,
    /// DocumentNFT events the backlog's calls emitted.
    events: u64,
}

/// The kept chain with its node running.
pub(crate) struct Backlog {
    /// The node on the kept base path; dropping it kills the process.
    pub(crate) node: NodeProcess,
    /// A client of the node.
    pub(crate) chain: Chain,
    /// Where the contracts are on this chain.
    pub(crate) deployment: Deployment,
    /// Where the chain is kept (the node's base path is its `chain` folder).
    pub(crate) dir: PathBuf,
}

impl Backlog {
    /// Reuses the kept chain, or makes it (again) when it is missing or no longer valid.
    pub(crate) async fn open() -> Self {
        let dir = kept_dir();
        match Self::reuse(&dir).await {
            Some(kept) => kept,
            None => Self::generate(&dir).await,
        }
    }

    /// The kept chain, if its marker, deployment, contract bundles and blocks agree.
    async fn reuse(dir: &Path) -> Option<Self> {
        let remake = |why: String| -> Option<Self> {
            eprintln!("bench: {why}; making the kept chain at {}", dir.display());
            None
        };
        let (marker, deployment) = match read_kept(dir) {
            Ok(kept) => kept,
            Err(why) => return remake(why),
        };
        let (mut node, chain) = match start_node(dir).await {
            Ok(started) => started,
            Err(why) => return remake(why),
        };
        let last = chain
            .block_hash(marker.last_block)
            .await
            .expect("reading a block hash of the kept chain");
        if chain.genesis_hash() != marker.genesis_hash || last != Some(marker.last_block_hash) {
            node.stop()
                .await
                .expect("stopping the node of the kept chain");
            return remake("the chain is not the one its marker describes".into());
        }
        eprintln!(
            "bench: reusing the kept chain at {} ({} events up to block {})",
            dir.display(),
            marker.events,
            marker.last_block
        );
        Some(Self {
            node,
            chain,
            deployment,
            dir: dir.to_owned(),
        })
    }

    /// Makes the chain from nothing: deploys the contracts, publishes the backlog's keys and
    /// writes the marker last (an interrupted run leaves no marker, so the next one starts over).
    async fn generate(dir: &Path) -> Self {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .unwrap_or_else(|e| panic!("removing the old kept chain {}: {e}", dir.display()));
        }
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let (node, chain) = start_node(dir)
            .await
            .unwrap_or_else(|e| panic!("starting a new chain: {e}"));
        let deployment = deploy(&chain, &accounts::alice(), &contracts_dir())
            .await
            .unwrap_or_else(|e| panic!("deploying the contracts on the kept chain: {e}"));
        deployment
            .save(&dir.join(DEPLOYMENT))
            .unwrap_or_else(|e| panic!("writing the kept chain's deployment: {e}"));
        let nft = deployment
            .address("document_nft")
            .expect("the deployment has DocumentNFT")
            .clone();
        let events = publish_keys(&chain, &nft).await;
        let (last_block, last_block_hash) = chain
            .finalized_head()
            .await
            .expect("reading the finalized head");
        let marker = Marker {
            genesis_hash: chain.genesis_hash(),
            last_block,
            last_block_hash,
            events,
        };
        let text = serde_json::to_vec_pretty(&marker).expect("the marker serializes");
        std::fs::write(dir.join(MARKER), text)
            .unwrap_or_else(|e| panic!("writing the kept chain's marker: {e}"));
        eprintln!(
            "bench: kept chain made at {}: {events} events up to block {last_block}",
            dir.display()
        );
        Self {
            node,
            chain,
            deployment,
            dir: dir.to_owned(),
        }
    }
}

/// The marker file, in the kept directory.
const MARKER: &str = "backlog.json";

/// The deployment file, in the kept directory.
const DEPLOYMENT: &str = "deployment.json";

/// Where the chain is kept: `SDV_BENCH_CHAIN`, or `bench-chain` in the cache directory `./dev`
/// uses (`SDV_CACHE`, default `$HOME/.cache/sdv`).
fn kept_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SDV_BENCH_CHAIN") {
        return PathBuf::from(dir);
    }
    sdv_node_config::cache_dir().join("bench-chain")
}

/// The node's base path in the kept directory `dir`.
pub(crate) fn base_path(dir: &Path) -> PathBuf {
    dir.join("chain")
}

/// Starts the node on the kept chain and connects to it.
async fn start_node(dir: &Path) -> Result<(NodeProcess, Chain), String> {
    let node = NodeProcess::start(NodeOptions::new(base_path(dir)))
        .await
        .map_err(|e| format!("the node did not start: {e}"))?;
    let chain = Chain::connect(&node.rpc_url())
        .await
        .map_err(|e| format!("connecting to the node: {e}"))?;
    Ok((node, chain))
}

/// The marker and deployment of the kept chain in `dir`, if they describe a complete backlog
/// of today's contract bundles; otherwise why not.
fn read_kept(dir: &Path) -> Result<(Marker, Deployment), String> {
    let text = std::fs::read(dir.join(MARKER)).map_err(|_| "no kept chain".to_owned())?;
    let marker: Marker =
        serde_json::from_slice(&text).map_err(|e| format!("the marker does not parse ({e})"))?;
    if marker.events < MIN_EVENTS {
        return Err(format!(
            "the kept chain holds only {} events",
            marker.events
        ));
    }
    let deployment = Deployment::load(&dir.join(DEPLOYMENT)).map_err(|e| e.to_string())?;
    if !bundles_deployed(&deployment) {
        return Err("the contract bundles changed since the chain was made".into());
    }
    Ok((marker, deployment))
}

/// Whether every contract of the deployment runs the code of today's bundle.
fn bundles_deployed(deployment: &Deployment) -> bool {
    CONTRACTS.iter().all(|name| {
        let bundle = load_bundle(&contracts_dir(), name)
            .unwrap_or_else(|e| panic!("loading the contract bundles: {e}"));
        deployment
            .contracts
            .get(*name)
            .is_some_and(|c| c.code_hash == bundle.code_hash)
    })
}

/// The signers of the backlog, each submitting its extrinsics one after the other while the
/// others do the same: the dev accounts, funded at genesis.
fn signers() -> Vec<Keypair> {
    vec![
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
        accounts::eve(),
        accounts::ferdie(),
    ]
}

/// Publishes at least [`MIN_EVENTS`] encryption keys on DocumentNFT, [`CALLS_PER_EXTRINSIC`]
/// per extrinsic, and returns the number of events the finalized calls emitted.
async fn publish_keys(chain: &Chain, nft: &AccountId) -> u64 {
    let extrinsics = MIN_EVENTS.div_ceil(CALLS_PER_EXTRINSIC);
    let next = &AtomicU64::new(0);
    let made = &AtomicU64::new(0);
    let started = Instant::now();
    let per_signer = signers().into_iter().map(|signer| async move {
        loop {
            let extrinsic = next.fetch_add(1, Ordering::Relaxed);
            if extrinsic >= extrinsics {
                return;
            }
            let calls = (0..CALLS_PER_EXTRINSIC)
                .map(|call| {
                    CallData::message("publish_encryption_key")
                        .arg(&key(extrinsic, call))
                        .into_bytes()
                })
                .collect();
            let submitted = chain
                .call_batch(&signer, nft, calls)
                .await
                .unwrap_or_else(|e| panic!("publishing the backlog's keys: {e}"));
            let emitted = submitted.events.len() as u64;
            let before = made.fetch_add(emitted, Ordering::Relaxed);
            if (before + emitted) / PROGRESS_EVERY > before / PROGRESS_EVERY {
                eprintln!(
                    "bench: backlog {} of {MIN_EVENTS} events made ({:.0} s)",
                    before + emitted,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    });
    futures::future::join_all(per_signer).await;
    made.load(Ordering::Relaxed)
}

/// A distinct non-zero key for call `call` of extrinsic `extrinsic`.
fn key(extrinsic: u64, call: u64) -> [u8; 32] {
    let mut key = [7; 32];
    key[..8].copy_from_slice(&extrinsic.to_le_bytes());
    key[8..16].copy_from_slice(&call.to_le_bytes());
    key
}
