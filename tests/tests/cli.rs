//! The `sdv` binary driven as a user would: keys imported into a keystore of the test's own,
//! writes signed by the CLI against a real node, queries answered by a running indexer. One
//! full flow per contract (governance propose, vote, execute; a document listed, extended and
//! transferred; a vault's operation vetoed, and another executed after its 72-hour timelock; a
//! recovery cancelled by the owner, and another finalized after its 24-hour timelock), and the
//! errors a user meets, each one line on stderr with a non-zero exit.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use sdv_chain::{to_ink_account, DocumentNft, Mint};
use sdv_node_config::accounts;
use sdv_system_tests::{
    binary,
    cli::{error_line, json_args, json_of, keystore, sdv_command, stdout_of},
    fresh_database,
    indexer::IndexerProcess,
    TestContext,
};
use sdv_types::document::{DocumentClass, Holder, RetentionOption};
use serde_json::Value;
use sqlx::PgPool;
use tempfile::TempDir;

const PASSPHRASE: &str = "correct horse battery staple";

/// The CLI with its environment: the deployment, a keystore, the indexer.
struct Sdv {
    deployment: PathBuf,
    keystore: TempDir,
    indexer: Option<String>,
}

impl Sdv {
    fn new(ctx: &TestContext, indexer: Option<&IndexerProcess>) -> Self {
        Self {
            deployment: ctx.deployment_file(),
            keystore: keystore(),
            indexer: indexer.map(|i| i.api.clone()),
        }
    }

    fn command(&self, key: Option<&str>, passphrase: &str, args: &[&str]) -> Output {
        let mut command = sdv_command(&self.deployment, self.keystore.path());
        command.env("SDV_PASSPHRASE", passphrase).args(args);
        if let Some(url) = &self.indexer {
            command.env("SDV_INDEXER_URL", url);
        }
        if let Some(key) = key {
            command.env("SDV_KEY", key);
        }
        command.output().expect("the sdv binary runs")
    }

    /// Runs `sdv args` as `key`, asserts success, and returns stdout.
    fn ok(&self, key: Option<&str>, args: &[&str]) -> String {
        stdout_of(self.command(key, PASSPHRASE, args), args)
    }

    /// Runs `sdv --json args` and parses its output.
    fn json(&self, key: Option<&str>, args: &[&str]) -> Value {
        json_of(&self.ok(key, &json_args(args)), args)
    }

    /// Runs `sdv args` with `passphrase`, asserts a failure with one `error:` line on stderr,
    /// and returns that line.
    fn fails(&self, key: Option<&str>, passphrase: &str, args: &[&str]) -> String {
        error_line(self.command(key, passphrase, args), None, args)
    }

    /// Imports a dev key from its secret URI.
    fn import(&self, name: &str, uri: &str) {
        self.ok(None, &["key", "import", "--name", name, "--uri", uri]);
    }
}

/// A node with the contracts, an indexer on a fresh database, and the CLI pointed at both.
async fn stack() -> (TestContext, PgPool, IndexerProcess, Sdv) {
    let ctx = TestContext::new().await;
    let pool = fresh_database().await;
    let url = sdv_system_tests::indexer::url_of(&pool).await;
    let indexer = IndexerProcess::start(&ctx.deployment_file(), &url, 16);
    let sdv = Sdv::new(&ctx, Some(&indexer));
    (ctx, pool, indexer, sdv)
}

/// Waits until the indexer holds every finalized block.
async fn caught_up(ctx: &TestContext, pool: &PgPool, indexer: &mut IndexerProcess) {
    let (head, _) = ctx.chain.finalized_head().await.unwrap();
    indexer.wait_for_cursor(pool, head).await;
}

fn ss58(key: &subxt_signer::sr25519::Keypair) -> String {
    key.public_key().to_account_id().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn validators_propose_vote_and_execute_through_the_cli() {
    // Given seven dev validators' keys imported into the keystore.
    let (ctx, pool, mut indexer, sdv) = stack().await;
    for n in 1..=7 {
        sdv.import(&format!("v{n}"), &format!("//validator//{n}"));
    }
    let listed = sdv.json(None, &["key", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 7);
    assert_eq!(listed[0]["ss58"], ss58(&accounts::validator(1)));
    let validators = sdv.ok(None, &["gov", "validators"]);
    assert!(validators.contains(&ss58(&accounts::validator(7))));

    // When validator 1 proposes new providers and seven validators vote yes.
    let proposed = sdv.json(
        Some("v1"),
        &[
            "gov",
            "propose",
            "set-providers",
            "--arweave",
            "true",
            "--ipfs",
            "false",
        ],
    );
    let id = proposed["proposal"].as_u64().unwrap().to_string();
    assert!(proposed["block"].as_u64().is_some());
    assert_eq!(proposed["events"][0]["event"], "ProposalCreated");
    for n in 1..=7 {
        let voted = sdv.ok(Some(&format!("v{n}")), &["gov", "vote", &id, "--yes"]);
        assert!(voted.contains("VoteCast"), "{voted}");
    }
    // And anyone executes it.
    let executed = sdv.json(Some("v2"), &["gov", "execute", &id]);
    let events: Vec<&str> = executed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"ProvidersChanged"), "{events:?}");

    // Then the indexer, through the CLI, shows it executed with its seven votes.
    caught_up(&ctx, &pool, &mut indexer).await;
    let shown = sdv.json(None, &["gov", "show", &id]);
    assert_eq!(shown["state"], "executed", "{shown}");
    assert_eq!(shown["yes"], 7);
    assert_eq!(shown["votes"].as_array().unwrap().len(), 7);
    let listed = sdv.json(None, &["gov", "list", "--state", "executed"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let text = sdv.ok(None, &["gov", "show", &id]);
    assert!(text.contains("state: executed"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_lists_extends_and_transfers_a_document_through_the_cli() {
    // Given a document the storage attestor minted to Alice.
    let (ctx, pool, mut indexer, sdv) = stack().await;
    sdv.import("alice", "//Alice");
    sdv.import("bob", "//Bob");
    let nft = DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    );
    let alice = accounts::alice().public_key().to_account_id();
    let (minted, _) = nft
        .mint(
            &accounts::roles::storage_attestor(),
            &Mint {
                holder: Holder::Account(to_ink_account(&alice)),
                sha256: [7; 32],
                size: 1024,
                class: DocumentClass::Other,
                retention: RetentionOption::Minimum,
                arweave: false,
            },
        )
        .await
        .unwrap();
    let id = minted.id.to_string();
    caught_up(&ctx, &pool, &mut indexer).await;

    // When Alice lists and shows her documents.
    let mine = sdv.json(Some("alice"), &["doc", "list"]);
    assert_eq!(mine["items"][0]["token_id"], minted.id, "{mine}");
    let shown = sdv.json(None, &["doc", "show", &id]);
    assert_eq!(shown["retention"], "minimum", "{shown}");
    assert!(sdv
        .ok(None, &["doc", "list", "--owner", &alice.to_string()])
        .contains(&format!("token_id={id}")));

    // And extends its retention, then gives it to Bob.
    let extended = sdv.ok(
        Some("alice"),
        &["doc", "extend-retention", &id, "long-term"],
    );
    assert!(extended.contains("RetentionExtended"), "{extended}");
    let moved = sdv.json(Some("alice"), &["doc", "transfer", &id, "bob"]);
    assert_eq!(moved["document"], minted.id);

    // Then the indexer shows Bob's document with the longer retention.
    caught_up(&ctx, &pool, &mut indexer).await;
    let shown = sdv.json(None, &["doc", "show", &id]);
    assert_eq!(shown["owner_wallet"], ss58(&accounts::bob()), "{shown}");
    assert_eq!(shown["retention"], "long_term", "{shown}");
    let bobs = sdv.json(Some("bob"), &["doc", "list"]);
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1, "{bobs}");
    let alices = sdv.json(Some("alice"), &["doc", "list"]);
    assert_eq!(alices["items"].as_array().unwrap().len(), 0, "{alices}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_admins_create_propose_vote_and_veto_through_the_cli() {
    // Given Alice, Bob and Charlie's keys.
    let (ctx, pool, mut indexer, sdv) = stack().await;
    for (name, uri) in [
        ("alice", "//Alice"),
        ("bob", "//Bob"),
        ("charlie", "//Charlie"),
    ] {
        sdv.import(name, uri);
    }

    // When Alice creates a vault with the three of them as admins.
    let created = sdv.json(
        Some("alice"),
        &[
            "vault", "create", "--admin", "alice", "--admin", "bob", "--admin", "charlie",
        ],
    );
    let vault = created["vault"].as_u64().unwrap().to_string();
    // And proposes Dave as a fourth admin, which Bob and Charlie approve.
    let dave = ss58(&accounts::dave());
    let proposed = sdv.json(
        Some("alice"),
        &["vault", "propose", &vault, "add-admin", &dave],
    );
    let op = proposed["operation"].as_u64().unwrap().to_string();
    sdv.ok(Some("bob"), &["vault", "vote", &op, "--yes"]);
    let queued = sdv.ok(Some("charlie"), &["vault", "vote", &op, "--yes"]);
    assert!(queued.contains("OperationQueued"), "{queued}");
    // Then it waits out its 72-hour timelock: executing now is refused in words.
    let refused = sdv.fails(Some("alice"), PASSPHRASE, &["vault", "execute", &op]);
    assert!(
        refused.starts_with("error: TeamVault refused: "),
        "{refused}"
    );

    // When Bob vetoes it with a reason.
    let vetoed = sdv.ok(
        Some("bob"),
        &["vault", "veto", &op, "--reason", "Dave left the team"],
    );
    assert!(vetoed.contains("OperationVetoed"), "{vetoed}");

    // Then the vault shows three admins and the vetoed operation with its reason.
    caught_up(&ctx, &pool, &mut indexer).await;
    let shown = sdv.json(None, &["vault", "show", &vault]);
    assert_eq!(shown["admins"].as_array().unwrap().len(), 3, "{shown}");
    assert_eq!(shown["operations"][0]["state"], "vetoed", "{shown}");
    let operation = sdv.json(None, &["vault", "operation", &op]);
    assert_eq!(
        operation["veto"]["reason"], "Dave left the team",
        "{operation}"
    );
    // The proposal counts as Alice's approval; Bob and Charlie voted.
    assert_eq!(operation["approvals"], 3, "{operation}");
    assert_eq!(
        operation["votes"].as_array().unwrap().len(),
        2,
        "{operation}"
    );
    let text = sdv.ok(None, &["vault", "show", &vault]);
    assert!(text.contains("vetoed"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn guardians_recover_and_the_owner_cancels_through_the_cli() {
    // Given Dave, his three guardians and the wallet Eve.
    let (ctx, pool, mut indexer, sdv) = stack().await;
    // When Dave names Alice, Bob and Charlie, and they accept.
    guardians_of_dave(&sdv);
    caught_up(&ctx, &pool, &mut indexer).await;
    let status = sdv.json(Some("dave"), &["guardians", "status"]);
    assert_eq!(status["active"], true, "{status}");
    assert_eq!(status["guardians"].as_array().unwrap().len(), 3);

    // And Alice starts a recovery toward Eve, which Bob attests.
    let initiated = sdv.json(
        Some("alice"),
        &["guardians", "initiate", "dave", "--new-wallet", "eve"],
    );
    let recovery = initiated["recovery"].as_u64().unwrap().to_string();
    let attested = sdv.ok(Some("bob"), &["guardians", "attest", &recovery]);
    assert!(attested.contains("RecoveryQuorumReached"), "{attested}");

    // Then the status shows the recovery in its timelock with two attestations.
    caught_up(&ctx, &pool, &mut indexer).await;
    let status = sdv.json(None, &["guardians", "status", "dave"]);
    let latest = &status["latest_recovery"];
    assert_eq!(latest["valid_attestations"], 2, "{status}");
    assert_eq!(latest["new_wallet"], ss58(&accounts::eve()));
    let timelocked = latest["state"].as_str().unwrap().to_owned();
    // Finalizing is refused until the 24-hour timelock has passed.
    let refused = sdv.fails(
        Some("eve"),
        PASSPHRASE,
        &["guardians", "finalize", &recovery],
    );
    assert!(
        refused.starts_with("error: GuardianRecovery refused: TimelockActive: "),
        "{refused}"
    );

    // When Dave, who still holds his wallet, cancels it.
    let cancelled = sdv.ok(Some("dave"), &["guardians", "cancel", &recovery]);
    assert!(cancelled.contains("RecoveryCancelled"), "{cancelled}");

    // Then the recovery is cancelled.
    caught_up(&ctx, &pool, &mut indexer).await;
    let shown = sdv.json(None, &["guardians", "recovery", &recovery]);
    assert_ne!(shown["state"], timelocked.as_str(), "{shown}");
    assert_eq!(shown["state"], "cancelled", "{shown}");
    assert!(shown["cancelled_ms"].is_number());
}

#[tokio::test(flavor = "multi_thread")]
async fn user_errors_are_one_line_in_words_with_a_non_zero_exit() {
    // Given Alice's key (not a validator) and no indexer.
    let ctx = TestContext::new().await;
    let sdv = Sdv::new(&ctx, None);
    sdv.import("alice", "//Alice");

    // A wrong passphrase.
    let line = sdv.fails(
        Some("alice"),
        "not the passphrase",
        &["gov", "vote", "0", "--yes"],
    );
    assert_eq!(line, "error: wrong passphrase for key alice");

    // An unknown key.
    let line = sdv.fails(Some("mallory"), PASSPHRASE, &["gov", "vote", "0", "--yes"]);
    assert!(line.starts_with("error: no key named mallory"), "{line}");

    // A malformed address.
    let line = sdv.fails(Some("alice"), PASSPHRASE, &["doc", "transfer", "0", "xyz"]);
    assert_eq!(
        line,
        "error: \"xyz\" is not an account (SS58, 0x + 64 hex digits, or a key name)"
    );
    let line = sdv.fails(None, PASSPHRASE, &["guardians", "status", "0x1234"]);
    assert!(line.contains("is not an account"), "{line}");

    // A call the contract refuses: Alice is no validator.
    let line = sdv.fails(Some("alice"), PASSPHRASE, &["gov", "vote", "0", "--yes"]);
    assert_eq!(
        line,
        "error: ValidatorGovernance refused: NotValidator: Only a validator may do this"
    );
    let line = sdv.fails(
        Some("alice"),
        PASSPHRASE,
        &[
            "gov",
            "propose",
            "set-providers",
            "--arweave",
            "true",
            "--ipfs",
            "true",
        ],
    );
    assert!(
        line.starts_with("error: ValidatorGovernance refused: "),
        "{line}"
    );

    // A query without an indexer says how to name one.
    let line = sdv.fails(None, PASSPHRASE, &["doc", "show", "0"]);
    assert!(line.contains("--indexer"), "{line}");
}

#[test]
fn a_generated_phrase_imports_from_stdin_to_the_same_account() {
    use std::io::Write;
    // Given a key generated in one keystore.
    let keys = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: Option<&str>| {
        let mut child = Command::new(binary("sdv"))
            .env("SDV_KEYSTORE", keys.path())
            .env("SDV_PASSPHRASE", PASSPHRASE)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).unwrap();
        }
        drop(stdin);
        child.wait_with_output().unwrap()
    };
    let out = run(&["--json", "key", "generate", "--name", "fresh"], None);
    assert!(out.status.success(), "{out:?}");
    let generated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let phrase = generated["phrase"].as_str().unwrap();
    assert_eq!(phrase.split_whitespace().count(), 12);

    // When its phrase is imported again from standard input under another name.
    let out = run(
        &["--json", "key", "import", "--name", "again", "--stdin"],
        Some(phrase),
    );
    assert!(out.status.success(), "{out:?}");
    let imported: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Then both name the same account, and the key files never hold the phrase in clear.
    assert_eq!(imported["ss58"], generated["ss58"]);
    for name in ["fresh", "again"] {
        let file = std::fs::read_to_string(keys.path().join(format!("{name}.json"))).unwrap();
        assert!(!file.contains(phrase), "{name} holds the phrase in clear");
    }

    // And a phrase that is not BIP-39 is refused in one line.
    let out = run(
        &["key", "import", "--name", "bad", "--stdin"],
        Some("not a real phrase at all"),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: the secret is not a valid BIP-39 phrase"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_operation_executes_after_its_timelock_through_the_cli() {
    // Given a vault of Alice, Bob and Charlie whose admins approved adding Dave.
    let mut ctx = TestContext::new().await;
    let mut sdv = Sdv::new(&ctx, None);
    for (name, uri) in [
        ("alice", "//Alice"),
        ("bob", "//Bob"),
        ("charlie", "//Charlie"),
        ("ferdie", "//Ferdie"),
    ] {
        sdv.import(name, uri);
    }
    let created = sdv.json(
        Some("alice"),
        &[
            "vault", "create", "--admin", "alice", "--admin", "bob", "--admin", "charlie",
        ],
    );
    let vault = created["vault"].as_u64().unwrap().to_string();
    let dave = ss58(&accounts::dave());
    let proposed = sdv.json(
        Some("alice"),
        &["vault", "propose", &vault, "add-admin", &dave],
    );
    let op = proposed["operation"].as_u64().unwrap().to_string();
    sdv.ok(Some("bob"), &["vault", "vote", &op, "--yes"]);
    sdv.ok(Some("charlie"), &["vault", "vote", &op, "--yes"]);

    // When the node's clock moves past the 72-hour timelock and Ferdie (anyone) executes it.
    ctx.move_clock_ahead(73 * 3600).await;
    let mut saved = ctx.deployment.clone();
    saved.rpc_url = ctx.node.rpc_url();
    saved.save(&sdv.deployment).unwrap();
    let executed = sdv.ok(Some("ferdie"), &["vault", "execute", &op]);
    assert!(executed.contains("OperationExecuted"), "{executed}");
    assert!(executed.contains("AdminsChanged"), "{executed}");

    // Then the indexer shows Dave as the fourth admin and the operation executed.
    let pool = fresh_database().await;
    let mut indexer = IndexerProcess::start(
        &sdv.deployment,
        &sdv_system_tests::indexer::url_of(&pool).await,
        16,
    );
    sdv.indexer = Some(indexer.api.clone());
    caught_up(&ctx, &pool, &mut indexer).await;
    let shown = sdv.json(None, &["vault", "show", &vault]);
    let admins: Vec<&str> = shown["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["admin"].as_str().unwrap())
        .collect();
    assert!(admins.contains(&dave.as_str()), "{shown}");
    assert_eq!(admins.len(), 4, "{shown}");
    let operation = sdv.json(None, &["vault", "operation", &op]);
    assert_eq!(operation["state"], "executed", "{operation}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recovery_finalizes_after_its_timelock_through_the_cli() {
    // Given Dave's accepted guardians and a recovery toward Eve that reached its quorum.
    let mut ctx = TestContext::new().await;
    let mut sdv = Sdv::new(&ctx, None);
    guardians_of_dave(&sdv);
    let initiated = sdv.json(
        Some("bob"),
        &["guardians", "initiate", "dave", "--new-wallet", "eve"],
    );
    let recovery = initiated["recovery"].as_u64().unwrap().to_string();
    sdv.ok(Some("charlie"), &["guardians", "attest", &recovery]);

    // When the node's clock moves past the 24-hour timelock and Eve finalizes.
    ctx.move_clock_ahead(25 * 3600).await;
    let mut saved = ctx.deployment.clone();
    saved.rpc_url = ctx.node.rpc_url();
    saved.save(&sdv.deployment).unwrap();
    let finalized = sdv.ok(Some("eve"), &["guardians", "finalize", &recovery]);
    assert!(finalized.contains("WalletRecovered"), "{finalized}");

    // Then the indexer shows the recovery finalized, and the old wallet can no longer act.
    let pool = fresh_database().await;
    let mut indexer = IndexerProcess::start(
        &sdv.deployment,
        &sdv_system_tests::indexer::url_of(&pool).await,
        16,
    );
    sdv.indexer = Some(indexer.api.clone());
    caught_up(&ctx, &pool, &mut indexer).await;
    let status = sdv.json(None, &["guardians", "status", "dave"]);
    assert_eq!(status["latest_recovery"]["state"], "finalized", "{status}");
    let refused = sdv.fails(
        Some("dave"),
        PASSPHRASE,
        &[
            "vault", "create", "--admin", "dave", "--admin", "alice", "--admin", "bob",
        ],
    );
    assert!(
        refused.starts_with("error: TeamVault refused: "),
        "{refused}"
    );
}

/// Imports Alice, Bob, Charlie, Dave and Eve; Dave names Alice (user), Bob (hardware key) and
/// Charlie (custodian) as guardians, and the three accept.
fn guardians_of_dave(sdv: &Sdv) {
    for (name, uri) in [
        ("alice", "//Alice"),
        ("bob", "//Bob"),
        ("charlie", "//Charlie"),
        ("dave", "//Dave"),
        ("eve", "//Eve"),
    ] {
        sdv.import(name, uri);
    }
    sdv.ok(
        Some("dave"),
        &[
            "guardians",
            "set",
            "--user-guardian",
            "alice",
            "--hardware-key",
            "bob",
            "--custodian",
            "charlie",
        ],
    );
    for g in ["alice", "bob", "charlie"] {
        sdv.ok(Some(g), &["guardians", "accept", "dave"]);
    }
}
