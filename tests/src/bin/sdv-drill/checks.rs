//! After the workload: wait until the services caught up, then check that the chain, the
//! database and S3 agree.
//!
//! - Every document minted on-chain (DocumentNFT read token by token, ids `1..next_id`) has its
//!   object `docs/{sha256}` in S3 (absent only once its deletion was confirmed) and its row in
//!   the indexer's `documents` with the same hash.
//! - No orphan object: the storage service writes only whole objects (an S3 multipart upload
//!   shows nothing until it completes; chunks wait in the gateway's local spool) under two
//!   prefixes (`offchain-services/storage/src/s3.rs`): `docs/{sha256}`, which the gateway
//!   serves by token id, and `vaults/{vault}/staging/{sha256}`, the area where a vault upload
//!   waits for the vault's decision, which the gateway never serves. So every `docs/` object
//!   must be a minted document's, every staging object an upload staged on-chain for that
//!   vault, and there must be nothing else. Multipart uploads still open are counted (they are
//!   invisible and expire with their session), not failed.
//! - Every `ContractEmitted` event of the four contracts, in every block up to the head, is in
//!   the indexer's `contract_events` exactly once (same block hash and event index), and the
//!   table holds nothing else.
//! - What the workload was told: every upload the gateway acknowledged is on-chain, and every
//!   vault call committed to the outbox landed exactly once (Dave's `VaultCreated` events equal
//!   the outbox's keys, every entry finalized).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use sdv_chain::{contract_events, Chain, DocumentNft};
use sdv_node_config::accounts;
use sdv_types::vault::VaultCreated;
use sqlx::Row;
use tokio::sync::Mutex;

use crate::{stack::Stack, workload::Report};

/// The contracts the indexer follows, by their deployment names.
const INDEXED_CONTRACTS: [&str; 4] = [
    "validator_governance",
    "document_nft",
    "team_vault",
    "guardian_recovery",
];

/// Polls until the relayer outbox has nothing pending or signed and the indexer's cursor is
/// at the chain's finalized head, twice in a row a second apart with the head unchanged;
/// returns that head, or what was still behind at the deadline.
pub(crate) async fn caught_up(stack: &Stack, within: Duration) -> Result<u32, String> {
    let deadline = Instant::now() + within;
    let pool = &stack.endpoints.pool;
    let mut settled: Option<u32> = None;
    loop {
        let head = stack
            .chain()
            .finalized_head()
            .await
            .map(|(n, _)| n)
            .map_err(|e| format!("reading the chain head: {e}"));
        let pending: Result<i64, _> = sqlx::query_scalar(
            "SELECT count(*) FROM relayer_outbox WHERE status IN ('pending', 'signed')",
        )
        .fetch_one(pool)
        .await;
        let cursor = sdv_indexer::store::cursor(pool).await;
        let state = match (&head, &pending, &cursor) {
            (Ok(head), Ok(0), Ok(Some(c))) if c.block_number >= *head => Ok(*head),
            _ => Err(format!(
                "chain head {head:?}, outbox calls pending or signed {pending:?}, indexer cursor {:?}",
                cursor.as_ref().map(|c| c.as_ref().map(|c| c.block_number))
            )),
        };
        match state {
            Ok(head) if settled == Some(head) => return Ok(head),
            Ok(head) => settled = Some(head),
            Err(why) => {
                settled = None;
                if Instant::now() > deadline {
                    // What is stuck in the outbox, with its signer's nonce, says why.
                    let stuck: Vec<String> = sqlx::query(
                        "SELECT idempotency_key, status, nonce, left(signer, 12) FROM relayer_outbox
                         WHERE status IN ('pending', 'signed') ORDER BY id LIMIT 10",
                    )
                    .fetch_all(pool)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} nonce {:?} signer {}..",
                            r.get::<String, _>(0),
                            r.get::<String, _>(1),
                            r.get::<Option<i64>, _>(2),
                            r.get::<String, _>(3)
                        )
                    })
                    .collect();
                    return Err(format!(
                        "{why}; stuck in the outbox: [{}]",
                        stuck.join(", ")
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Runs every check, printing each with its counts; returns the failures.
pub(crate) async fn all(stack: &Stack, report: &Report, watcher: ChainWatcher) -> Vec<String> {
    let mut failures = Vec::new();
    let chain = stack.chain();
    let deployment = &stack.endpoints.deployment;
    let nft = DocumentNft::new(
        chain.clone(),
        deployment
            .address("document_nft")
            .expect("the deployment has DocumentNFT")
            .clone(),
    );
    let pool = &stack.endpoints.pool;
    let s3 = stack.endpoints.s3.client();
    let bucket = &stack.endpoints.s3.bucket;

    // The bucket's objects.
    let mut objects: BTreeSet<String> = BTreeSet::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .expect("listing the bucket");
        objects.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match page.next_continuation_token() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let open_multipart = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .map(|m| m.uploads().len())
        .unwrap_or(0);

    // 1. Minted documents: object and row.
    let indexed: HashMap<i64, Vec<u8>> = sqlx::query("SELECT token_id, sha256 FROM documents")
        .fetch_all(pool)
        .await
        .expect("the indexer's documents")
        .into_iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<Vec<u8>, _>(1)))
        .collect();
    let mut minted: BTreeMap<[u8; 32], u64> = BTreeMap::new();
    let (mut with_object, mut with_row, mut deleted) = (0, 0, 0);
    let mut problems = Vec::new();
    for id in 1.. {
        let Some(doc) = nft
            .document(id)
            .await
            .unwrap_or_else(|e| panic!("reading document {id} on-chain: {e}"))
        else {
            break;
        };
        minted.insert(doc.sha256, id);
        let key = format!("docs/{}", hex::encode(doc.sha256));
        let has_object = objects.contains(&key);
        if doc.deleted_at.is_some() {
            deleted += 1;
            if has_object {
                problems.push(format!(
                    "document {id} is deleted but {key} is still stored"
                ));
            }
        } else if has_object {
            with_object += 1;
        } else {
            problems.push(format!("document {id} has no object {key}"));
        }
        match indexed.get(&(id as i64)) {
            Some(sha) if sha[..] == doc.sha256[..] => with_row += 1,
            Some(sha) => problems.push(format!(
                "document {id}: the indexer has sha256 {} , the chain {}",
                hex::encode(sha),
                hex::encode(doc.sha256)
            )),
            None => problems.push(format!("document {id} has no row in the indexer")),
        }
    }
    let extra_rows = indexed
        .keys()
        .filter(|id| !minted.values().any(|m| *m as i64 == **id))
        .count();
    if extra_rows > 0 {
        problems.push(format!("{extra_rows} indexed documents are not on-chain"));
    }
    verdict(
        &mut failures,
        &format!(
            "minted documents {} (deleted {deleted}), objects {with_object}, indexed {with_row}",
            minted.len()
        ),
        problems,
    );

    // 2. Orphans.
    let mut problems = Vec::new();
    let (mut docs, mut staging) = (0, 0);
    for key in &objects {
        let parts: Vec<&str> = key.split('/').collect();
        match parts.as_slice() {
            ["docs", sha] => {
                docs += 1;
                let known = hex::decode(sha)
                    .ok()
                    .and_then(|s| <[u8; 32]>::try_from(s).ok())
                    .is_some_and(|s| minted.contains_key(&s));
                if !known {
                    problems.push(format!("orphan {key}: no document minted with that hash"));
                }
            }
            ["vaults", vault, "staging", sha] => {
                staging += 1;
                let staged = match hex::decode(sha)
                    .ok()
                    .and_then(|s| <[u8; 32]>::try_from(s).ok())
                {
                    Some(s) => nft
                        .staged_upload(s)
                        .await
                        .unwrap_or_else(|e| panic!("reading a staged upload: {e}")),
                    None => None,
                };
                match staged {
                    Some(up) if up.vault.to_string() == *vault => {}
                    Some(up) => problems.push(format!(
                        "orphan {key}: staged on-chain for vault {}",
                        up.vault
                    )),
                    None => problems.push(format!("orphan {key}: nothing staged on-chain")),
                }
            }
            _ => problems.push(format!("orphan {key}: outside docs/ and vaults/*/staging/")),
        }
    }
    verdict(
        &mut failures,
        &format!(
            "objects in the bucket {}: served docs/ {docs}, vault staging (not served) {staging}, open multipart uploads (invisible) {open_multipart}, orphans {}",
            objects.len(),
            problems.len()
        ),
        problems,
    );

    // 3. Contract events, block by block, as the watcher read them from the chain.
    let (head, _) = chain.finalized_head().await.expect("the chain head");
    let log = match watcher.finish(head).await {
        Ok(log) => log,
        Err(e) => {
            verdict(&mut failures, "contract events on chain", vec![e]);
            return failures;
        }
    };
    let mut on_chain: BTreeSet<([u8; 32], u32)> = BTreeSet::new();
    let mut per_block: BTreeMap<u32, (usize, [u8; 32])> = BTreeMap::new();
    for (number, block) in &log.blocks {
        for index in &block.events {
            on_chain.insert((block.hash, *index));
        }
        if !block.events.is_empty() {
            per_block.insert(*number, (block.events.len(), block.hash));
        }
    }
    let dave_vaults = log.dave_vaults;
    let rows: Vec<(i64, Vec<u8>, i32)> =
        sqlx::query("SELECT block_number, block_hash, event_index FROM contract_events")
            .fetch_all(pool)
            .await
            .expect("the indexer's event log")
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
    let mut indexed_per_block: BTreeMap<u32, usize> = BTreeMap::new();
    let mut indexed_set: BTreeSet<([u8; 32], u32)> = BTreeSet::new();
    let mut problems = Vec::new();
    for (number, hash, index) in &rows {
        *indexed_per_block.entry(*number as u32).or_default() += 1;
        let hash: [u8; 32] = hash.as_slice().try_into().expect("32-byte block hashes");
        if !indexed_set.insert((hash, *index as u32)) {
            problems.push(format!("event {index} of block {number} indexed twice"));
        }
    }
    for (number, (count, _)) in &per_block {
        let got = indexed_per_block.get(number).copied().unwrap_or(0);
        if got != *count {
            problems.push(format!(
                "block {number}: {count} contract events on chain, {got} indexed"
            ));
        }
    }
    for (number, got) in &indexed_per_block {
        if !per_block.contains_key(number) {
            problems.push(format!(
                "block {number}: no contract event on chain, {got} indexed"
            ));
        }
    }
    let missing = on_chain.difference(&indexed_set).count();
    let extra = indexed_set.difference(&on_chain).count();
    if missing + extra > 0 {
        problems.push(format!(
            "{missing} events on chain not indexed, {extra} indexed not on chain (by block hash and index)"
        ));
    }
    verdict(
        &mut failures,
        &format!(
            "contract events on chain {} in {} blocks (head {head}), indexed {}, missing {missing}, extra {extra}",
            on_chain.len(),
            per_block.len(),
            rows.len()
        ),
        problems,
    );

    // 4. What the clients were told.
    let mut problems = Vec::new();
    let mut acked_on_chain = 0;
    for a in &report.acked {
        let ok = match a.vault {
            None => minted.contains_key(&a.sha256),
            Some(vault) => {
                let staged = nft
                    .staged_upload(a.sha256)
                    .await
                    .unwrap_or_else(|e| panic!("reading a staged upload: {e}"));
                let key = format!("vaults/{vault}/staging/{}", hex::encode(a.sha256));
                staged.is_some() && objects.contains(&key)
            }
        };
        if ok {
            acked_on_chain += 1;
        } else {
            problems.push(format!(
                "acknowledged upload {}{} is not on-chain (with its object)",
                hex::encode(a.sha256),
                a.vault
                    .map(|v| format!(" to vault {v}"))
                    .unwrap_or_default()
            ));
        }
    }
    verdict(
        &mut failures,
        &format!(
            "uploads acknowledged {}, on-chain {acked_on_chain}",
            report.acked.len()
        ),
        problems,
    );
    let mut problems = Vec::new();
    let outbox: Vec<(String, String)> = sqlx::query(
        "SELECT idempotency_key, status FROM relayer_outbox WHERE idempotency_key LIKE 'drill-vault-%'",
    )
    .fetch_all(pool)
    .await
    .expect("the outbox")
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let finalized = outbox.iter().filter(|(_, s)| s == "finalized").count();
    for (key, status) in &outbox {
        if status != "finalized" {
            problems.push(format!("outbox call {key} is {status}"));
        }
    }
    let committed: BTreeSet<&String> = report.outbox_keys.iter().collect();
    let missing_keys = committed
        .iter()
        .filter(|k| !outbox.iter().any(|(key, _)| key == **k))
        .count();
    if missing_keys > 0 {
        problems.push(format!(
            "{missing_keys} committed outbox calls are not in the outbox"
        ));
    }
    if dave_vaults != outbox.len() {
        problems.push(format!(
            "{} outbox vault calls but {dave_vaults} VaultCreated by Dave on chain",
            outbox.len()
        ));
    }
    verdict(
        &mut failures,
        &format!(
            "outbox vault calls committed {}, in the outbox {}, finalized {finalized}, landed on chain {dave_vaults}",
            committed.len(),
            outbox.len()
        ),
        problems,
    );
    let mut problems = report.anomalies.clone();
    problems.retain(|a| !a.starts_with("transfer of document"));
    verdict(
        &mut failures,
        &format!(
            "workload operations given up or ended unexpectedly {}",
            problems.len()
        ),
        problems,
    );
    failures
}

/// One block as the watcher read it: its hash and the indices of the indexed contracts'
/// `ContractEmitted` events in it.
struct Block {
    hash: [u8; 32],
    events: Vec<u32>,
}

/// What the watcher read from the chain.
#[derive(Default)]
pub(crate) struct ChainLog {
    blocks: BTreeMap<u32, Block>,
    /// `VaultCreated` events whose creator is Dave (the outbox's vault calls).
    dave_vaults: usize,
    /// Why it stopped reading, if it had to.
    broken: Option<String>,
}

/// Reads every finalized block's contract events from the node while the drill runs, block
/// after block, reconnecting after a node restart. The node keeps the state of its last 256
/// blocks only (events are state), so the chain's side of the event check is read as the
/// chain grows, not at the end.
pub(crate) struct ChainWatcher {
    log: Arc<Mutex<ChainLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ChainWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChainWatcher {
    /// Starts reading from block 0 of the node at `url`.
    pub(crate) fn start(url: String, deployment: &sdv_chain::Deployment) -> Self {
        let contracts: Vec<_> = INDEXED_CONTRACTS
            .iter()
            .map(|name| {
                deployment
                    .address(name)
                    .unwrap_or_else(|e| panic!("the deployment has {name}: {e}"))
                    .clone()
            })
            .collect();
        let log = Arc::new(Mutex::new(ChainLog::default()));
        let task = tokio::spawn(watch(url, contracts, log.clone()));
        Self { log, task }
    }

    /// Waits (60 s at most) until it read every block up to `head`, stops it and returns what
    /// it read.
    pub(crate) async fn finish(self, head: u32) -> Result<ChainLog, String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let mut log = self.log.lock().await;
                if let Some(broken) = &log.broken {
                    return Err(broken.clone());
                }
                if log.blocks.len() as u64 > u64::from(head) {
                    return Ok(std::mem::take(&mut *log));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "the chain watcher read {} of {} blocks in time",
                        log.blocks.len(),
                        head + 1
                    ));
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn watch(url: String, contracts: Vec<sdv_chain::AccountId>, log: Arc<Mutex<ChainLog>>) {
    let dave = sdv_chain::to_ink_account(&accounts::dave().public_key().to_account_id());
    let mut chain: Option<Chain> = None;
    let mut next = 0u32;
    loop {
        if chain.is_none() {
            chain = Chain::connect(&url).await.ok();
        }
        let Some(c) = chain.clone() else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let read = async {
            let (head, _) = c.finalized_head().await?;
            while next <= head {
                let hash = c.block_hash(next).await?.ok_or_else(|| {
                    sdv_chain::Error::Dispatch(format!("no block {next} below the head"))
                })?;
                let events = match c.events_at(hash).await {
                    Ok(events) => events,
                    Err(e) if e.to_string().contains("State already discarded") => {
                        return Ok(Some(format!(
                            "the chain watcher fell behind: block {next}'s events are pruned: {e}"
                        )))
                    }
                    Err(e) => return Err(e),
                };
                let found = contract_events(events.iter(), &contracts)?;
                let mut log = log.lock().await;
                for e in &found {
                    if let Some(Ok(created)) = e.decode::<VaultCreated>() {
                        if created.creator == dave {
                            log.dave_vaults += 1;
                        }
                    }
                }
                log.blocks.insert(
                    next,
                    Block {
                        hash: hash.0,
                        events: found.iter().map(|e| e.index).collect(),
                    },
                );
                next += 1;
            }
            Ok::<_, sdv_chain::Error>(None)
        }
        .await;
        match read {
            Ok(Some(broken)) => {
                log.lock().await.broken = Some(broken);
                return;
            }
            Ok(None) => {}
            Err(_) => chain = None,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints `check: <what>: ok`, or FAILED with the first problems, and records the failure.
fn verdict(failures: &mut Vec<String>, what: &str, problems: Vec<String>) {
    if problems.is_empty() {
        println!("check: {what}: ok");
        return;
    }
    println!("check: {what}: FAILED ({} problems)", problems.len());
    for p in problems.iter().take(10) {
        println!("check:   {p}");
    }
    failures.push(format!("{what}: {}", problems[0]));
}
