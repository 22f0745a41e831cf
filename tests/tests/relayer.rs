//! The relayer on a real node and real PostgreSQL: concurrent calls of one account all land;
//! a refusal comes back typed and in words with nothing submitted; an ed25519 account signs;
//! the outbox sends a call exactly once across a `kill -9` between submission and record;
//! a node restarted mid-flow is ridden out; the keeper executes a vault upload 72 hours after
//! the threshold with no admin call.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use sdv_chain::{from_ink_account, AccountId, CallData, Chain, DocumentNft, TeamVault};
use sdv_node_config::{accounts, NodeProcess};
use sdv_relayer::{outbox, Error, Key, Relayer, Retry, Scheme};
use sdv_system_tests::{fresh_database, indexer::url_of, indexer::IndexerProcess, TestContext};
use sdv_types::{
    document::{DocumentClass, RetentionOption},
    vault::{Operation, OperationState, VaultCreated},
};
use subxt_signer::sr25519::Keypair;

fn account(key: &Keypair) -> AccountId {
    key.public_key().to_account_id()
}

fn create_vault_call(admins: &[Keypair]) -> Vec<u8> {
    let admins: Vec<_> = admins
        .iter()
        .map(|k| sdv_chain::to_ink_account(&account(k)))
        .collect();
    CallData::message("create_vault").arg(&admins).into_bytes()
}

fn three_admins() -> Vec<Keypair> {
    vec![accounts::alice(), accounts::bob(), accounts::charlie()]
}

/// Every `VaultCreated` event on the chain.
async fn vaults_created(chain: &Chain) -> Vec<VaultCreated> {
    let (head, _) = chain.finalized_head().await.unwrap();
    let mut found = Vec::new();
    for number in 0..=head {
        let hash = chain.block_hash(number).await.unwrap().unwrap();
        let events = chain.events_at(hash).await.unwrap();
        for event in sdv_chain::contract_events(events.iter(), &[]).unwrap() {
            if let Some(created) = event.decode::<VaultCreated>() {
                found.push(created.unwrap());
            }
        }
    }
    found
}

async fn relayer<S>(ctx: &TestContext, signer: S) -> Relayer<S>
where
    S: sdv_chain::subxt::tx::Signer<sdv_chain::NodeConfig> + Send + Sync,
{
    Relayer::connect(&ctx.node.rpc_url(), signer, Retry::default())
        .await
        .unwrap()
        .with_deployment(&ctx.deployment)
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_calls_of_one_account_land_and_a_refusal_is_typed_and_not_submitted() {
    // Given a relayer for Dave.
    let ctx = TestContext::new().await;
    let team = ctx.deployment.address("team_vault").unwrap().clone();
    let relayer = Arc::new(relayer(&ctx, Key::Sr25519(accounts::dave())).await);

    // When 10 calls are sent at once.
    let sends = (0..10).map(|_| {
        let (relayer, team) = (relayer.clone(), team.clone());
        async move {
            relayer
                .send(&team, create_vault_call(&three_admins()))
                .await
        }
    });
    let results = futures::future::join_all(sends).await;

    // Then each landed with its own nonce and its decoded event.
    let mut vaults = Vec::new();
    let mut nonces = Vec::new();
    for sent in results {
        let sent = sent.unwrap();
        nonces.push(sent.nonce);
        let created = sent
            .events
            .iter()
            .find_map(|e| e.decode::<VaultCreated>())
            .expect("a VaultCreated event")
            .unwrap();
        vaults.push(created.vault);
    }
    nonces.sort();
    vaults.sort();
    vaults.dedup();
    assert_eq!(vaults.len(), 10);
    assert_eq!(nonces, (nonces[0]..nonces[0] + 10).collect::<Vec<_>>());
    let before = relayer.on_chain_nonce().await.unwrap();

    // When Dave executes an operation that does not exist.
    let data = CallData::message("execute").arg(&999u64).into_bytes();
    let estimate = relayer.dry_run(&team, &data).await;
    let err = relayer.send(&team, data).await.unwrap_err();

    // Then the dry run refuses with the typed name in words, and nothing was submitted.
    let expected = sdv_types::vault::Error::OperationNotFound;
    match (&estimate, &err) {
        (Err(Error::Refused { name, .. }), Error::Refused { description, .. }) => {
            assert_eq!(name, expected.name());
            assert_eq!(description, expected.description());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "team_vault refused the call: OperationNotFound: {}",
            expected.description()
        )
    );
    assert_eq!(relayer.on_chain_nonce().await.unwrap(), before);

    // And a call that succeeds is estimated before it is sent.
    let estimate = relayer
        .dry_run(&team, &create_vault_call(&three_admins()))
        .await
        .unwrap();
    assert!(
        estimate.gas_required.0 > 0 && estimate.storage_deposit > 0,
        "{estimate}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ed25519_account_signs_through_the_relayer() {
    // Given an ed25519 account funded by Alice.
    let ctx = TestContext::new().await;
    let key = Key::from_uri(Scheme::Ed25519, "//Relayer").unwrap();
    let who = sdv_chain::subxt::tx::Signer::<sdv_chain::NodeConfig>::account_id(&key);
    ctx.fund(&who).await;

    // When it creates a vault through the relayer.
    let relayer = relayer(&ctx, key).await;
    let team = ctx.deployment.address("team_vault").unwrap().clone();
    let sent = relayer
        .send(&team, create_vault_call(&three_admins()))
        .await
        .unwrap();

    // Then the vault's creator is the ed25519 account.
    let created = sent
        .events
        .iter()
        .find_map(|e| e.decode::<VaultCreated>())
        .unwrap()
        .unwrap();
    assert_eq!(from_ink_account(&created.creator), who);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_stopped_mid_flow_is_ridden_out_and_the_call_lands_once() {
    // Given a relayer for Eve, and the node stopped.
    let mut ctx = TestContext::new().await;
    let team = ctx.deployment.address("team_vault").unwrap().clone();
    let relayer = Arc::new(relayer(&ctx, Key::Sr25519(accounts::eve())).await);
    let before = vaults_created(&ctx.chain).await.len();
    ctx.node.stop().await.unwrap();

    // When a call is sent while the node is down, and the node comes back 3 seconds later.
    let sending = {
        let (relayer, team) = (relayer.clone(), team.clone());
        tokio::spawn(async move {
            relayer
                .send(&team, create_vault_call(&three_admins()))
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!sending.is_finished(), "the call waits for the node");
    let options = ctx.node.options().clone();
    ctx.node = NodeProcess::start(options).await.unwrap();

    // Then the call lands after the retries, once.
    let sent = tokio::time::timeout(Duration::from_secs(120), sending)
        .await
        .expect("the call lands within 2 minutes")
        .unwrap()
        .unwrap();
    assert!(sent
        .events
        .iter()
        .any(|e| e.decode::<VaultCreated>().is_some()));
    let chain = Chain::connect(&ctx.node.rpc_url()).await.unwrap();
    assert_eq!(vaults_created(&chain).await.len(), before + 1);
}

/// A running `sdv-relayer run`, killed with SIGKILL when dropped.
struct RelayerProcess(Child);

impl RelayerProcess {
    fn start(deployment: &Path, signer: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(sdv_system_tests::binary("sdv-relayer"));
        command
            .arg("run")
            .env("SDV_DEPLOYMENT", deployment)
            .env("SDV_RELAYER_SIGNER", signer)
            .env("SDV_RELAYER_POLL_MS", "200")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        Self(command.spawn().expect("the sdv-relayer binary starts"))
    }

    fn kill_9(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().unwrap();
    }
}

impl Drop for RelayerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_sends_exactly_once_when_the_relayer_is_killed_between_submit_and_record() {
    // Given a call enqueued, twice under one idempotency key, in the service's transactions.
    let ctx = TestContext::new().await;
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();
    let pool = fresh_database().await;
    outbox::migrate(&pool).await.unwrap();
    let db = url_of(&pool).await;
    let team = ctx.deployment.address("team_vault").unwrap().clone();
    let signer = account(&accounts::dave());
    for expected in [true, false] {
        let mut tx = pool.begin().await.unwrap();
        let new = outbox::enqueue(
            &mut tx,
            "vault-for-acme",
            &signer,
            &team,
            &create_vault_call(&three_admins()),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(new, expected);
    }
    let before = vaults_created(&ctx.chain).await.len();

    // When the relayer submits it and is killed with SIGKILL before recording the outcome.
    let marker: PathBuf = ctx.dir().join("submitted");
    let mut first = RelayerProcess::start(
        &deployment,
        "//Dave",
        &[
            ("DATABASE_URL", &db),
            (outbox::PAUSE_AFTER_SUBMIT_VAR, marker.to_str().unwrap()),
        ],
    );
    wait_for("the submission", 60, || async {
        marker.exists().then_some(())
    })
    .await;
    first.kill_9();

    // Then the outbox says signed (not finalized), though the call is on the chain.
    let entry = outbox::entry(&pool, "vault-for-acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, "signed");
    wait_for("the call on chain", 30, || async {
        (vaults_created(&ctx.chain).await.len() == before + 1).then_some(())
    })
    .await;

    // When the relayer starts again.
    let _second = RelayerProcess::start(&deployment, "//Dave", &[("DATABASE_URL", &db)]);

    // Then it records the outcome from the chain and sends nothing twice.
    let entry = wait_for("the outbox to record finality", 60, || async {
        let entry = outbox::entry(&pool, "vault-for-acme")
            .await
            .unwrap()
            .unwrap();
        assert_ne!(entry.status, "failed", "{entry:?}");
        (entry.status == "finalized").then_some(entry)
    })
    .await;
    assert!(entry.block_hash.is_some(), "{entry:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(vaults_created(&ctx.chain).await.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_keeper_executes_a_vault_upload_72_hours_after_the_threshold_with_no_admin_call() {
    // Given a 5-admin vault whose upload reached 3 of 5 votes, and the indexer following.
    let mut ctx = TestContext::new().await;
    let admins = [
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
        accounts::eve(),
    ];
    let addresses: Vec<_> = admins.iter().map(account).collect();
    let team_address = ctx.deployment.address("team_vault").unwrap().clone();
    let team = TeamVault::new(ctx.chain.clone(), team_address.clone());
    let vault = team
        .create_vault(&accounts::alice(), &addresses)
        .await
        .unwrap();
    let nft = DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    );
    nft.stage_vault_upload(&accounts::roles::storage_attestor(), vault, [9; 32], 4096)
        .await
        .unwrap();
    let upload = Operation::Upload {
        sha256: [9; 32],
        class: DocumentClass::Financial,
        retention: RetentionOption::Extended,
        arweave: false,
    };
    let id = team.propose(&admins[0], vault, &upload).await.unwrap();
    team.vote(&admins[1], id, true).await.unwrap();
    team.vote(&admins[2], id, true).await.unwrap();
    assert_eq!(team.state(id).await.unwrap(), Some(OperationState::Pending));

    // When the node's clock moves 73 hours and the keeper runs (Ferdie, no admin).
    ctx.move_clock_ahead(73 * 3600).await;
    let deployment = ctx.dir().join("deployment.json");
    let mut saved = ctx.deployment.clone();
    saved.rpc_url = ctx.node.rpc_url();
    saved.save(&deployment).unwrap();
    let pool = fresh_database().await;
    let indexer = IndexerProcess::start(&deployment, &url_of(&pool).await, 16);
    let _keeper = RelayerProcess::start(
        &deployment,
        "//Ferdie",
        &[("SDV_INDEXER_URL", &indexer.api)],
    );

    // Then the upload is executed and the document minted, by the keeper's account.
    let team = TeamVault::new(
        Chain::connect(&ctx.node.rpc_url()).await.unwrap(),
        team_address,
    );
    wait_for("the keeper to execute the upload", 120, || async {
        (team.state(id).await.unwrap() == Some(OperationState::Executed)).then_some(())
    })
    .await;
    let executed = vaults_executed_by(&ctx, &account(&accounts::ferdie())).await;
    assert_eq!(executed, 1);
}

/// How many `OperationExecuted` events came from extrinsics signed by `who`.
async fn vaults_executed_by(ctx: &TestContext, who: &AccountId) -> usize {
    let chain = Chain::connect(&ctx.node.rpc_url()).await.unwrap();
    let (head, _) = chain.finalized_head().await.unwrap();
    let mut count = 0;
    for number in 0..=head {
        let hash = chain.block_hash(number).await.unwrap().unwrap();
        let block = chain.client().blocks().at(hash).await.unwrap();
        for ext in block.extrinsics().await.unwrap().iter() {
            let signer = ext
                .address_bytes()
                .and_then(|b| b.get(1..33))
                .map(|b| AccountId::from(<[u8; 32]>::try_from(b).unwrap()));
            if signer.as_ref() != Some(who) {
                continue;
            }
            let events = ext.events().await.unwrap();
            count += sdv_chain::contract_events(events.iter(), &[])
                .unwrap()
                .iter()
                .filter(|e| e.decode::<sdv_types::vault::OperationExecuted>().is_some())
                .count();
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outbox_call_enqueued_while_the_node_restarts_lands_after_retries() {
    // Given the relayer running on an outbox, and the node stopped.
    let mut ctx = TestContext::new().await;
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();
    let pool = fresh_database().await;
    outbox::migrate(&pool).await.unwrap();
    let db = url_of(&pool).await;
    let _relayer = RelayerProcess::start(&deployment, "//Eve", &[("DATABASE_URL", &db)]);
    let before = vaults_created(&ctx.chain).await.len();
    ctx.node.stop().await.unwrap();

    // When a service enqueues a call, and the node comes back 3 seconds later.
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        "vault-during-restart",
        &account(&accounts::eve()),
        ctx.deployment.address("team_vault").unwrap(),
        &create_vault_call(&three_admins()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let options = ctx.node.options().clone();
    ctx.node = NodeProcess::start(options).await.unwrap();

    // Then the call lands once, and the outbox records it.
    wait_for("the outbox to record finality", 120, || async {
        let entry = outbox::entry(&pool, "vault-during-restart")
            .await
            .unwrap()
            .unwrap();
        assert_ne!(entry.status, "failed", "{entry:?}");
        (entry.status == "finalized").then_some(())
    })
    .await;
    let chain = Chain::connect(&ctx.node.rpc_url()).await.unwrap();
    assert_eq!(vaults_created(&chain).await.len(), before + 1);
}
