//! The drill's workload: concurrent clients that keep writing while the faults land.
//!
//! - three uploaders (Alice, Bob, Charlie, Institutional tier) upload documents through the
//!   gateway with the client library the CLI uses, resuming across failures as the CLI does,
//!   until the mint is on-chain; every third upload of Alice's goes to a team vault (staged
//!   on-chain, its object in the vault's staging area); now and then an uploader transfers a
//!   document it minted to the next one (a direct DocumentNFT call);
//! - a service-style writer enqueues `create_vault` calls of Dave in the relayer's outbox, each
//!   with an idempotency key, in its own transactions (Dave's relayer sends them);
//! - Eve creates vaults with direct TeamVault calls.
//!
//! Every client retries what failed until its operation is done (or its deadline passes, which
//! the report lists); the report is what the checks compare the chain with.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use sdv_chain::{AccountId, Chain, DocumentNft, TeamVault};
use sdv_node_config::accounts;
use sdv_storage_client::{
    client::{GatewayClient, NoProgress, Uploader},
    envelope,
    protocol::{CreateUpload, HolderRef, KeyRole, Scheme, UploadState},
    Error,
};
use sdv_system_tests::{
    documents::{seal, set_tier, write_temp, Sealed, User},
    TestContext,
};
use sdv_types::governance::Tier;
use subxt_signer::sr25519::Keypair;
use tokio::{sync::Mutex, task::JoinHandle};
use x25519_dalek::PublicKey;

use crate::stack::Endpoints;

/// How long one client operation may take, faults included, before the client gives up on it
/// (and the report says so).
const OPERATION_DEADLINE: Duration = Duration::from_secs(150);

/// What the workload needs from the chain before it starts.
pub(crate) struct Setup {
    users: Vec<Arc<User>>,
    /// The vault Alice, Bob and Charlie administer, for vault uploads.
    vault: u32,
}

impl Setup {
    /// Publishes the uploaders' encryption keys, gives them the Institutional tier (no document
    /// limit) and creates their vault.
    pub(crate) async fn new(ctx: &TestContext, endpoints: &Endpoints) -> Self {
        let mut users = Vec::new();
        for wallet in [accounts::alice(), accounts::bob(), accounts::charlie()] {
            let user = User::new(ctx, wallet).await;
            set_tier(ctx, &user, Tier::Institutional).await;
            users.push(Arc::new(user));
        }
        let admins: Vec<AccountId> = users
            .iter()
            .map(|u| u.wallet.public_key().to_account_id())
            .collect();
        let vault = team_vault(&ctx.chain, &endpoints.deployment)
            .create_vault(&accounts::alice(), &admins)
            .await
            .expect("creating the uploaders' vault");
        Self { users, vault }
    }
}

/// A document a client got acknowledged by the gateway (`complete` answered stored or staged).
#[derive(Clone, Debug)]
pub(crate) struct Acked {
    /// The ciphertext's sha256.
    pub(crate) sha256: [u8; 32],
    /// The vault it was staged for, or `None` for a document of the uploader's own.
    pub(crate) vault: Option<u32>,
    /// Whether the client saw the mint (or stage) on-chain before its deadline.
    pub(crate) on_chain: bool,
}

/// What the workload did.
#[derive(Default)]
pub(crate) struct Report {
    /// Uploads the gateway acknowledged.
    pub(crate) acked: Vec<Acked>,
    /// Transfers that landed.
    pub(crate) transfers: u64,
    /// Idempotency keys of the vault calls committed to the outbox.
    pub(crate) outbox_keys: Vec<String>,
    /// Vaults Eve created directly.
    pub(crate) direct_vaults: u64,
    /// Operations the clients gave up on, and refusals they did not expect: each a sentence.
    pub(crate) anomalies: Vec<String>,
    /// Errors the clients retried through (the faults' visible effect): by operation, how
    /// many and the last one.
    pub(crate) retries: std::collections::BTreeMap<&'static str, (u64, String)>,
}

impl Report {
    /// Counts an error `operation` retried through.
    fn retried(&mut self, operation: &'static str, error: impl std::fmt::Display) {
        let entry = self.retries.entry(operation).or_default();
        entry.0 += 1;
        entry.1 = error.to_string();
    }

    /// Prints the workload's counts.
    pub(crate) fn print(&self) {
        let staged = self.acked.iter().filter(|a| a.vault.is_some()).count();
        let unseen = self.acked.iter().filter(|a| !a.on_chain).count();
        println!(
            "workload: uploads acknowledged {} ({} to the vault, {unseen} not seen on-chain by their client), transfers {}, outbox vault calls {}, direct vault creations {}, retried errors {}, anomalies {}",
            self.acked.len(),
            staged,
            self.transfers,
            self.outbox_keys.len(),
            self.direct_vaults,
            self.retries.values().map(|(n, _)| n).sum::<u64>(),
            self.anomalies.len()
        );
        for (operation, (n, last)) in &self.retries {
            println!("workload: retried {operation} {n} times; last error: {last}");
        }
        for a in &self.anomalies {
            println!("workload: anomaly: {a}");
        }
    }
}

/// The running workload.
pub(crate) struct Workload {
    tasks: Vec<JoinHandle<()>>,
    report: Arc<Mutex<Report>>,
    endpoints: Endpoints,
}

impl Drop for Workload {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A connection to the node, made again after a failure (the node restarts under the
/// workload).
struct ChainCell {
    url: String,
    chain: Mutex<Option<Chain>>,
}

impl ChainCell {
    async fn get(&self) -> Option<Chain> {
        let mut slot = self.chain.lock().await;
        if slot.is_none() {
            let connect = tokio::time::timeout(Duration::from_secs(10), Chain::connect(&self.url));
            *slot = connect.await.ok().and_then(Result::ok);
        }
        slot.clone()
    }

    async fn reset(&self) {
        *self.chain.lock().await = None;
    }
}

fn team_vault(chain: &Chain, deployment: &sdv_chain::Deployment) -> TeamVault {
    TeamVault::new(
        chain.clone(),
        deployment
            .address("team_vault")
            .expect("the deployment has TeamVault")
            .clone(),
    )
}

fn document_nft(chain: &Chain, deployment: &sdv_chain::Deployment) -> DocumentNft {
    DocumentNft::new(
        chain.clone(),
        deployment
            .address("document_nft")
            .expect("the deployment has DocumentNFT")
            .clone(),
    )
}

impl Workload {
    /// Starts every client; `seed` fixes their choices.
    pub(crate) fn start(endpoints: &Endpoints, setup: Setup, seed: u64) -> Self {
        let report = Arc::new(Mutex::new(Report::default()));
        let chain = Arc::new(ChainCell {
            url: endpoints.node_url.clone(),
            chain: Mutex::new(None),
        });
        let mut master = StdRng::seed_from_u64(seed);
        let mut tasks = Vec::new();
        for (i, user) in setup.users.iter().enumerate() {
            let next = setup.users[(i + 1) % setup.users.len()].clone();
            let vault = (i == 0).then_some(setup.vault);
            tasks.push(tokio::spawn(uploader(
                endpoints.clone(),
                chain.clone(),
                report.clone(),
                user.clone(),
                next,
                vault,
                StdRng::seed_from_u64(master.gen()),
            )));
        }
        tasks.push(tokio::spawn(outbox_writer(
            endpoints.clone(),
            report.clone(),
            StdRng::seed_from_u64(master.gen()),
        )));
        tasks.push(tokio::spawn(direct_vaults(
            endpoints.clone(),
            chain,
            report.clone(),
            StdRng::seed_from_u64(master.gen()),
        )));
        Self {
            tasks,
            report,
            endpoints: endpoints.clone(),
        }
    }

    /// Asks every client to stop after its current operation, waits for them, and returns
    /// what they did.
    pub(crate) async fn stop(mut self) -> Report {
        self.endpoints.stop.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + OPERATION_DEADLINE + Duration::from_secs(30);
        for task in std::mem::take(&mut self.tasks) {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, task).await.is_err() {
                self.report
                    .lock()
                    .await
                    .anomalies
                    .push("a client did not stop within its deadline".into());
            }
        }
        std::mem::take(&mut *self.report.lock().await)
    }
}

fn stopping(endpoints: &Endpoints) -> bool {
    endpoints.stop.load(Ordering::Relaxed)
}

fn done_step(endpoints: &Endpoints) {
    endpoints.step.fetch_add(1, Ordering::Relaxed);
}

async fn pause(rng: &mut StdRng, min_ms: u64, max_ms: u64) {
    tokio::time::sleep(Duration::from_millis(rng.gen_range(min_ms..max_ms))).await;
}

/// Uploads documents until the workload stops, each until its mint (or stage) is on-chain.
async fn uploader(
    endpoints: Endpoints,
    chain: Arc<ChainCell>,
    report: Arc<Mutex<Report>>,
    user: Arc<User>,
    next: Arc<User>,
    vault: Option<u32>,
    mut rng: StdRng,
) {
    let mut client: Option<GatewayClient> = None;
    let mut n = 0u64;
    while !stopping(&endpoints) {
        n += 1;
        let to_vault = vault.filter(|_| n % 3 == 0);
        // Mostly small documents (one chunk), now and then one of several chunks and S3 parts
        // in flight when a fault lands. The drill's vaults are on the free tier, whose 10 MB
        // limit per document the gateway enforces before any byte is stored (413, covered by
        // the storage tests), so their large documents stay under it.
        let largest = if to_vault.is_some() {
            10_000_000
        } else {
            12_000_000
        };
        let len = if rng.gen_bool(0.1) {
            rng.gen_range(5_500_000..largest)
        } else {
            rng.gen_range(1_000..200_000)
        };
        let doc = seal(len);
        let outcome = upload_one(
            &endpoints,
            &chain,
            &report,
            &user,
            &mut client,
            &doc,
            to_vault,
        )
        .await;
        done_step(&endpoints);
        if let Some(token) = outcome {
            if rng.gen_bool(0.3) {
                transfer(&endpoints, &chain, &report, &user, &next, token).await;
                done_step(&endpoints);
            }
        }
        pause(&mut rng, 50, 400).await;
    }
}

/// The upload request of `doc` for `user`, wrapped for `user` and the recovery key.
fn request(endpoints: &Endpoints, user: &User, doc: &Sealed, vault: Option<u32>) -> CreateUpload {
    CreateUpload {
        holder: vault.map_or(HolderRef::Account, HolderRef::Vault),
        size: doc.ciphertext.len() as u64,
        sha256: hex::encode(doc.sha256),
        class: "other".into(),
        retention: "standard".into(),
        arweave: false,
        name: Some("drill.pdf".into()),
        wrapped_keys: vec![
            envelope::wrapped_key(&doc.key, &PublicKey::from(&user.secret), KeyRole::Owner)
                .expect("wrapping to the owner"),
            envelope::wrapped_key(
                &doc.key,
                &PublicKey::from(endpoints.recovery_public),
                KeyRole::Recovery,
            )
            .expect("wrapping to the recovery key"),
        ],
    }
}

/// One upload, retried and resumed through every failure, then followed until it is on-chain:
/// the token for a document of the user's own.
async fn upload_one(
    endpoints: &Endpoints,
    chain: &ChainCell,
    report: &Mutex<Report>,
    user: &User,
    client: &mut Option<GatewayClient>,
    doc: &Sealed,
    vault: Option<u32>,
) -> Option<u64> {
    let deadline = Instant::now() + OPERATION_DEADLINE;
    let file = write_temp(doc);
    let create = request(endpoints, user, doc, vault);
    let mut upload_id: Option<String> = None;
    let mut acked = false;
    let what = format!(
        "upload {} of {}{}",
        &hex::encode(doc.sha256)[..12],
        user.account_hex(),
        vault.map(|v| format!(" to vault {v}")).unwrap_or_default()
    );
    let mut last_error = String::new();
    loop {
        if Instant::now() > deadline {
            let mut r = report.lock().await;
            r.anomalies.push(format!(
                "{what}: gave up after {} s (acknowledged {acked}); last error: {last_error}",
                OPERATION_DEADLINE.as_secs()
            ));
            if acked {
                r.acked.push(Acked {
                    sha256: doc.sha256,
                    vault,
                    on_chain: false,
                });
            }
            return None;
        }
        let result: Result<Option<u64>, Failure> = async {
            if client.is_none() {
                let fresh = GatewayClient::new(&endpoints.gateway)?
                    .login(&user.account_hex(), Scheme::Sr25519, |m| {
                        user.wallet.sign(m).0
                    })
                    .await?;
                *client = Some(fresh);
            }
            let c = client.as_ref().expect("logged in just above");
            if !acked {
                let status = match &upload_id {
                    None => {
                        let status = c.create_upload(&create).await?;
                        upload_id = Some(status.upload_id.clone());
                        status
                    }
                    Some(id) => c.upload_status(id).await?,
                };
                let status = match status.state {
                    UploadState::Open => {
                        Uploader::new(c.clone())
                            .upload(file.path(), &status, &NoProgress)
                            .await?;
                        c.complete(&status.upload_id).await?
                    }
                    _ => status,
                };
                match status.state {
                    UploadState::Stored | UploadState::Staged => acked = true,
                    other => {
                        return Err(Failure::Fatal(format!(
                            "the upload ended {other:?}: {status:?}"
                        )))
                    }
                }
            }
            // Acknowledged: wait for the chain, the source of truth.
            if let Some(id) = &upload_id {
                if let Some(mint) = c.upload_status(id).await?.mint {
                    if mint.status == "failed" {
                        return Err(Failure::Fatal(format!("the mint failed: {:?}", mint.error)));
                    }
                }
            }
            Ok(on_chain(endpoints, chain, doc.sha256, vault).await)
        }
        .await;
        match result {
            Ok(Some(token)) => {
                report.lock().await.acked.push(Acked {
                    sha256: doc.sha256,
                    vault,
                    on_chain: true,
                });
                return (token != 0).then_some(token);
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(300)).await,
            Err(Failure::Fatal(message)) => {
                let mut r = report.lock().await;
                r.anomalies.push(format!("{what}: {message}"));
                if acked {
                    r.acked.push(Acked {
                        sha256: doc.sha256,
                        vault,
                        on_chain: false,
                    });
                }
                return None;
            }
            Err(Failure::Retry(e)) => {
                if matches!(&e, Error::Api { status: 401, .. }) {
                    *client = None;
                }
                last_error = e.to_string();
                report.lock().await.retried("uploads", &e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Why an attempt of an upload did not finish it.
enum Failure {
    /// A failure the client retries through (the faults make them).
    Retry(Error),
    /// An outcome the client cannot retry: the upload (or its mint) ended otherwise.
    Fatal(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Retry(e)
    }
}

/// The token of `sha256` (a document of the uploader's own), or 0 for a vault upload staged
/// on-chain; `None` while the chain does not show it yet (or cannot be read).
async fn on_chain(
    endpoints: &Endpoints,
    chain: &ChainCell,
    sha256: [u8; 32],
    vault: Option<u32>,
) -> Option<u64> {
    let c = chain.get().await?;
    let nft = document_nft(&c, &endpoints.deployment);
    let found = match vault {
        None => nft.token_by_hash(sha256).await,
        Some(_) => nft.staged_upload(sha256).await.map(|s| s.map(|_| 0)),
    };
    match found {
        Ok(found) => found,
        Err(_) => {
            chain.reset().await;
            None
        }
    }
}

/// Transfers `token` from `from` to `to` (direct DocumentNFT call), retried through failures;
/// a refusal after a retry whose first attempt landed is recognized by the new owner.
async fn transfer(
    endpoints: &Endpoints,
    chain: &ChainCell,
    report: &Mutex<Report>,
    from: &User,
    to: &User,
    token: u64,
) {
    let deadline = Instant::now() + OPERATION_DEADLINE;
    let to_account = to.wallet.public_key().to_account_id();
    loop {
        if let Some(c) = chain.get().await {
            let nft = document_nft(&c, &endpoints.deployment);
            match nft.transfer(&from.wallet, &to_account, token).await {
                Ok(_) => {
                    report.lock().await.transfers += 1;
                    return;
                }
                Err(e) => {
                    let owner = nft.owner_of(token).await;
                    if let Ok(Some(owner)) = owner {
                        if owner == sdv_chain::to_ink_account(&to_account) {
                            report.lock().await.transfers += 1;
                            return;
                        }
                        if e.document_error().is_some() || e.psp34_error().is_some() {
                            report
                                .lock()
                                .await
                                .anomalies
                                .push(format!("transfer of document {token} refused: {e}"));
                            return;
                        }
                    }
                    report.lock().await.retried("transfers", &e);
                    chain.reset().await;
                }
            }
        }
        if Instant::now() > deadline {
            report
                .lock()
                .await
                .anomalies
                .push(format!("transfer of document {token}: gave up"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Dave's `create_vault` call as a service enqueues it in the relayer's outbox.
fn create_vault_call(admins: &[Keypair]) -> Vec<u8> {
    let admins: Vec<_> = admins
        .iter()
        .map(|k| sdv_chain::to_ink_account(&k.public_key().to_account_id()))
        .collect();
    sdv_chain::CallData::message("create_vault")
        .arg(&admins)
        .into_bytes()
}

/// Enqueues Dave's vault calls, one per idempotency key, each retried (the same key) until
/// its transaction commits: a commit whose answer was lost finds the key taken.
async fn outbox_writer(endpoints: Endpoints, report: Arc<Mutex<Report>>, mut rng: StdRng) {
    let dave = accounts::dave().public_key().to_account_id();
    let team = endpoints
        .deployment
        .address("team_vault")
        .expect("the deployment has TeamVault")
        .clone();
    let call = create_vault_call(&[accounts::dave(), accounts::eve(), accounts::ferdie()]);
    let mut n = 0u64;
    while !stopping(&endpoints) {
        n += 1;
        let key = format!("drill-vault-{n}");
        let deadline = Instant::now() + OPERATION_DEADLINE;
        loop {
            let attempt = async {
                let mut tx = endpoints.pool.begin().await?;
                sdv_relayer::outbox::enqueue(&mut tx, &key, &dave, &team, &call)
                    .await
                    .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                tx.commit().await
            }
            .await;
            match attempt {
                Ok(()) => {
                    report.lock().await.outbox_keys.push(key.clone());
                    break;
                }
                Err(e) if Instant::now() > deadline => {
                    report
                        .lock()
                        .await
                        .anomalies
                        .push(format!("enqueuing {key}: gave up: {e}"));
                    // The key may have committed; the check counts it from the outbox.
                    break;
                }
                Err(e) => {
                    report.lock().await.retried("outbox enqueues", &e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        done_step(&endpoints);
        pause(&mut rng, 300, 1200).await;
    }
}

/// Eve creates vaults with direct TeamVault calls (a node restart may make one be sent twice;
/// the checks do not count them, the indexer must index whatever lands).
async fn direct_vaults(
    endpoints: Endpoints,
    chain: Arc<ChainCell>,
    report: Arc<Mutex<Report>>,
    mut rng: StdRng,
) {
    let admins: Vec<AccountId> = [accounts::eve(), accounts::ferdie(), accounts::dave()]
        .iter()
        .map(|k| k.public_key().to_account_id())
        .collect();
    while !stopping(&endpoints) {
        if let Some(c) = chain.get().await {
            match team_vault(&c, &endpoints.deployment)
                .create_vault(&accounts::eve(), &admins)
                .await
            {
                Ok(_) => {
                    report.lock().await.direct_vaults += 1;
                    done_step(&endpoints);
                }
                Err(e) => {
                    report.lock().await.retried("direct vault creations", &e);
                    chain.reset().await;
                }
            }
        }
        pause(&mut rng, 500, 2000).await;
    }
}
