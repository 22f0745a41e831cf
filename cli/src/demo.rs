//! `sdv demo`: a guided walk through the product on the local stack that `./dev up` runs.
//!
//! Each step prints a numbered heading and what it shows, then runs this same binary as a
//! subprocess with the exact `sdv ...` command line printed before it (output streamed), then
//! the evidence: what the contracts answer and the indexer's rows. Every step checks its result
//! and the demo stops with an error at the first thing that is off. The demo's keys (fresh
//! every run, funded from the dev account Alice) live in a directory of the run's own under
//! `<state>/demo/`, so reruns on the same stack never collide.
//!
//! 1. a wallet (`sdv key generate`);
//! 2. a document uploaded with its progress, its NFT on DocumentNFT and its indexer record;
//! 3. a team vault operation vetoed, then proposed again;
//! 4. a guardian recovery, finalized after the node's clock moved past the 24-hour timelock
//!    (`sdv-devnet up --clock-file`, SIGUSR1);
//! 5. a release of the validator node image approved by 7 of 20 validators and rolled out to
//!    the fleet's agents through fleet HQ.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{anyhow, bail, ensure, Context as _};
use clap::Args;
use sdv_chain::{
    from_ink_account, node, subxt::utils::MultiAddress, AccountId, Chain, DocumentNft,
    GuardianRecovery, TeamVault,
};
use serde_json::Value;

use crate::{args::Global, context::Context};

/// How much each demo account gets from Alice for its fees (1,000 units).
const FUNDS: u128 = 1_000 * 1_000_000_000_000;

/// How far each recovery moves the node's clock: past the 24-hour timelock.
const RECOVERY_CLOCK_MOVE_SECS: u64 = 25 * 3600;

/// How long the indexer may take to show what the chain finalized.
const INDEXER_WAIT: Duration = Duration::from_secs(60);

/// How long the node may take to restart with its clock moved.
const CLOCK_WAIT: Duration = Duration::from_secs(180);

/// The validator node image the fleet runs (`./dev up` starts it as 1.0.0 on 3 nodes).
const NODE_IMAGE: &str = "sdv-node";

/// The fleet's nodes as `./dev up` registers them.
const FLEET_NODES: [&str; 3] = ["validator-1", "validator-2", "validator-3"];

/// `sdv demo`.
#[derive(Args)]
pub(crate) struct DemoArgs {
    /// Where the run keeps its keystore, files and uploads (default: a new directory under
    /// `demo/` next to the deployment file, i.e. in the stack's state directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Stop after step 4 (a stack without fleet HQ and agents).
    #[arg(long)]
    skip_fleet: bool,
}

/// One run of the demo: where its files are and how its commands run.
struct Demo<'a> {
    ctx: &'a Context,
    /// This binary.
    exe: PathBuf,
    /// The stack's state directory (the deployment file's).
    state: PathBuf,
    /// The run's directory.
    dir: PathBuf,
    /// The environment every command gets.
    env: Vec<(String, String)>,
    /// What the summary lists, in order.
    summary: Vec<String>,
    /// The step being run, for the headings.
    step: u32,
}

/// What a command printed.
struct Ran {
    stdout: String,
    stderr: String,
}

/// The steps, for the headings' "N/5".
const STEPS: u32 = 5;

/// Runs the demo.
pub(crate) async fn run(ctx: &Context, global: &Global, args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut demo = Demo::new(ctx, global, &args)?;
    demo.intro()?;
    let wallet = demo.wallet().await?;
    let document = demo.document(&wallet).await?;
    demo.vault().await?;
    demo.recovery(&wallet, document).await?;
    if args.skip_fleet {
        demo.summary
            .push("fleet rollout: skipped (--skip-fleet)".to_owned());
    } else {
        demo.fleet().await?;
    }
    println!();
    println!("=== Summary ({} s) ===", started.elapsed().as_secs());
    for line in &demo.summary {
        println!("  - {line}");
    }
    println!("demo complete: every step checked on the chain and in the indexer");
    Ok(())
}

impl<'a> Demo<'a> {
    /// A run on the stack of `global`'s deployment file: its directory made, with a keystore
    /// and a passphrase file of its own.
    fn new(ctx: &'a Context, global: &Global, args: &DemoArgs) -> anyhow::Result<Self> {
        let deployment = absolute(&global.deployment)?;
        ctx.deployment()?;
        let state = deployment
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let run_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let dir = match &args.dir {
            Some(dir) => absolute(dir)?,
            None => state.join("demo").join(format!("run-{run_id}")),
        };
        let keystore = dir.join("keys");
        std::fs::create_dir_all(&keystore)
            .with_context(|| format!("creating the demo directory {}", dir.display()))?;
        // A passphrase of the run's own, in a file only its owner reads.
        let passphrase_file = dir.join("passphrase");
        if !passphrase_file.exists() {
            let mut bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes);
            write_private(&passphrase_file, &format!("{}\n", hex::encode(bytes)))?;
        }
        let mut env = vec![
            (
                "SDV_DEPLOYMENT".to_owned(),
                deployment.display().to_string(),
            ),
            ("SDV_KEYSTORE".to_owned(), keystore.display().to_string()),
            (
                "SDV_PASSPHRASE_FILE".to_owned(),
                passphrase_file.display().to_string(),
            ),
            (
                "SDV_UPLOADS_DIR".to_owned(),
                dir.join("uploads").display().to_string(),
            ),
        ];
        for (name, value) in [
            ("SDV_NODE_URL", &global.node),
            ("SDV_INDEXER_URL", &global.indexer),
            ("SDV_GATEWAY_URL", &global.gateway),
        ] {
            if let Some(value) = value {
                env.push((name.to_owned(), value.clone()));
            }
        }
        Ok(Self {
            ctx,
            exe: std::env::current_exe().context("finding the sdv binary")?,
            state,
            dir,
            env,
            summary: Vec::new(),
            step: 0,
        })
    }

    /// What the demo is and how to run its commands by hand.
    fn intro(&self) -> anyhow::Result<()> {
        let d = self.ctx.deployment()?;
        println!("Sovereign Document Vault: a guided demo on the local stack");
        println!(
            "chain {} at {} (genesis {:?})",
            d.rpc_url,
            self.ctx.indexer()?,
            d.genesis_hash
        );
        println!(
            "Each step runs `sdv` commands you can copy. They read their settings from the \
             environment:"
        );
        for (name, value) in &self.env {
            println!("  export {name}={}", shell_quote(value));
        }
        println!("(the demo's keys and files are in {})", self.dir.display());
        Ok(())
    }

    /// Prints a step's heading and why it matters.
    fn heading(&mut self, title: &str, why: &str) {
        self.step += 1;
        println!();
        println!("=== Step {}/{STEPS}: {title} ===", self.step);
        println!("{why}");
    }

    /// Evidence: a line that says what the chain or the indexer shows.
    fn evidence(&self, text: impl AsRef<str>) {
        println!("  [check] {}", text.as_ref());
    }

    /// Runs `sdv [--key KEY] ARGS` with the demo's environment (and `extra`), printing the
    /// command line first and streaming what it prints; fails unless it succeeded.
    fn sdv(&self, key: Option<&str>, args: &[&str]) -> anyhow::Result<Ran> {
        self.sdv_with(key, args, &[])
    }

    /// [`Demo::sdv`] with `extra` environment variables.
    fn sdv_with(
        &self,
        key: Option<&str>,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Ran> {
        let (ok, ran) = self.spawn(key, args, extra)?;
        if !ok {
            let error = last_line(&ran.stderr).unwrap_or("no error line");
            bail!(
                "`{}` failed: {}",
                command_line(key, args),
                error.strip_prefix("error: ").unwrap_or(error)
            );
        }
        Ok(ran)
    }

    /// Runs a command that must be refused, and returns its `error:` line.
    fn sdv_refused(&self, key: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
        let (ok, ran) = self.spawn(key, args, &[])?;
        if ok {
            bail!(
                "`{}` succeeded, but it had to be refused",
                command_line(key, args)
            );
        }
        last_line(&ran.stderr)
            .filter(|l| l.starts_with("error: "))
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("`{}` failed without an error line", command_line(key, args)))
    }

    /// Spawns the command and echoes its stdout and stderr, indented, on stdout.
    fn spawn(
        &self,
        key: Option<&str>,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(bool, Ran)> {
        println!("$ {}", command_line(key, args));
        let mut command = Command::new(&self.exe);
        for name in [
            "SDV_KEY",
            "SDV_PASSPHRASE",
            "SDV_PASSPHRASE_FILE",
            "SDV_UPLOAD_STOP_AFTER_CHUNKS",
        ] {
            command.env_remove(name);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(key) = key {
            command.arg("--key").arg(key);
        }
        command.args(args);
        let mut child = command
            .spawn()
            .with_context(|| format!("running {}", self.exe.display()))?;
        let stderr = child.stderr.take().context("the command's stderr")?;
        let errors = std::thread::spawn(move || echo(stderr));
        let stdout = echo(child.stdout.take().context("the command's stdout")?);
        let stderr = errors
            .join()
            .map_err(|_| anyhow!("reading the command's stderr failed"))?;
        let status = child.wait().context("waiting for the command")?;
        Ok((status.success(), Ran { stdout, stderr }))
    }

    /// The indexer's answer at `path` once `ready` accepts it, waiting for the indexer to catch
    /// up with the chain.
    async fn indexed(
        &self,
        path: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.ctx.indexer()?);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + INDEXER_WAIT;
        loop {
            let last = match client
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => {
                    let body: Value = response
                        .json()
                        .await
                        .with_context(|| format!("reading the indexer's answer to {url}"))?;
                    let data = body.get("data").cloned().unwrap_or(Value::Null);
                    if ready(&data) {
                        return Ok(data);
                    }
                    data.to_string()
                }
                Ok(response) => format!("HTTP {}", response.status()),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                bail!(
                    "the indexer did not show {what} within {} s (GET {url}: {last})",
                    INDEXER_WAIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Generates fresh keys `names` in the demo's keystore (each phrase printed once) and
    /// funds them from Alice; returns their accounts.
    async fn new_keys(&self, names: &[&str]) -> anyhow::Result<Vec<AccountId>> {
        let mut accounts = Vec::new();
        for name in names {
            self.sdv(None, &["key", "generate", "--name", name])?;
            accounts.push(self.account_of(name)?);
        }
        self.fund(names, &accounts).await?;
        Ok(accounts)
    }

    /// A key's account, read from the demo's keystore.
    fn account_of(&self, name: &str) -> anyhow::Result<AccountId> {
        let keystore = crate::keystore::Keystore::new(self.dir.join("keys"));
        keystore.load(name)?.account()
    }

    /// Gives each account [`FUNDS`] from the dev account Alice, in one batch.
    async fn fund(&self, names: &[&str], accounts: &[AccountId]) -> anyhow::Result<()> {
        let (chain, _) = self.ctx.chain().await?;
        let calls = accounts
            .iter()
            .map(|account| {
                node::runtime_types::contracts_node_runtime::RuntimeCall::Balances(
                    node::runtime_types::pallet_balances::pallet::Call::transfer_keep_alive {
                        dest: MultiAddress::Id(account.clone()),
                        value: FUNDS,
                    },
                )
            })
            .collect();
        let alice = subxt_signer::sr25519::dev::alice();
        chain
            .submit(&node::tx().utility().batch_all(calls), &alice)
            .await
            .context("funding the demo's keys from Alice")?;
        for (name, account) in names.iter().zip(accounts) {
            let balance = free_balance(&chain, account).await?;
            ensure!(
                balance >= FUNDS,
                "{name} was not funded (balance {balance})"
            );
        }
        self.evidence(format!(
            "funded {} from the dev account Alice for fees: {} units each",
            names.join(", "),
            FUNDS / 1_000_000_000_000
        ));
        Ok(())
    }

    // --- step 1 ---------------------------------------------------------------------------

    /// Step 1: a new wallet `me`, funded for fees; returns its account.
    async fn wallet(&mut self) -> anyhow::Result<AccountId> {
        self.heading(
            "create a wallet",
            "Your wallet is an sr25519 key in an encrypted keystore; its 12-word phrase is \
             shown once and is the only way back to the key.",
        );
        let accounts = self.new_keys(&["me"]).await?;
        let me = accounts[0].clone();
        self.sdv(None, &["key", "list"])?;
        self.evidence(format!("wallet me: {me}"));
        self.summary.push(format!("wallet me: {me}"));
        Ok(me)
    }

    // --- step 2 ---------------------------------------------------------------------------

    /// Step 2: a document uploaded by `me`, its NFT and its indexer record; returns its token.
    async fn document(&mut self, me: &AccountId) -> anyhow::Result<u64> {
        self.heading(
            "upload a document and see its NFT",
            "The file is classified and encrypted on your machine, uploaded in chunks, and \
             minted as an NFT whose record (ciphertext hash, size, class, retention) lives on \
             DocumentNFT; the indexer mirrors it into PostgreSQL.",
        );
        // Document keys are wrapped to the wallet's published X25519 key.
        self.sdv(Some("me"), &["key", "publish-encryption-key"])?;
        let file = self.dir.join("w9-2026.txt");
        write_document(&file)?;
        let path = file.display().to_string();
        let uploaded = self.sdv(
            Some("me"),
            &[
                "doc",
                "upload",
                &path,
                "--tag",
                "tax",
                "--retention",
                "standard",
            ],
        )?;
        ensure!(
            uploaded.stderr.contains("100%"),
            "the upload printed no progress reaching 100%"
        );
        let id = value_after(&uploaded.stdout, "minted document ")
            .context("`sdv doc upload` printed no minted document")?;

        // What the contract says.
        let (_, nft) = self.ctx.document_nft().await?;
        let owner = nft
            .owner_of(id)
            .await?
            .map(|a| from_ink_account(&a))
            .with_context(|| format!("DocumentNFT has no owner for token {id}"))?;
        ensure!(
            owner == *me,
            "DocumentNFT says token {id} belongs to {owner}, not to me ({me})"
        );
        let record = nft
            .document(id)
            .await?
            .with_context(|| format!("DocumentNFT has no record of token {id}"))?;
        let sha256 = hex::encode(record.sha256);
        ensure!(
            uploaded.stdout.contains(&sha256),
            "the on-chain hash 0x{sha256} is not the uploaded ciphertext's"
        );
        self.evidence(format!("DocumentNFT owner_of({id}) = {owner} (me)"));
        self.evidence(format!(
            "DocumentNFT document({id}): sha256 0x{sha256}, {} bytes, tier {:?}, class {:?}, \
             retention {:?} (chosen {:?})",
            record.size, record.tier, record.class, record.retention, record.chosen
        ));

        // What the indexer shows, through the CLI and its API.
        let row = self
            .indexed(&format!("/documents/{id}"), "the document", |d| {
                d["token_id"].as_u64() == Some(id)
            })
            .await?;
        ensure!(
            row["owner_wallet"] == me.to_string(),
            "the indexer shows token {id} owned by {}, not by me",
            row["owner_wallet"]
        );
        self.sdv(None, &["doc", "show", &id.to_string()])?;
        let history = self
            .indexed(&format!("/documents/{id}/history"), "its history", |d| {
                !event_names(d).is_empty()
            })
            .await?;
        self.evidence(format!(
            "indexer GET /documents/{id}: owner_wallet {}, sha256 {}",
            row["owner_wallet"].as_str().unwrap_or("?"),
            row["sha256"].as_str().unwrap_or("?")
        ));
        self.evidence(format!(
            "indexer GET /documents/{id}/history: events {}",
            event_names(&history).join(", ")
        ));
        self.summary.push(format!(
            "document {id}: NFT owner {owner}, sha256 0x{sha256}"
        ));
        Ok(id)
    }

    // --- step 3 ---------------------------------------------------------------------------

    /// Step 3: a vault whose operation is vetoed, then proposed again.
    async fn vault(&mut self) -> anyhow::Result<()> {
        self.heading(
            "a team vault: a proposal vetoed, then proposed again",
            "A vault's admins decide together: an operation needs its quorum, then waits out a \
             72-hour timelock in which any single admin can veto it, with the reason stored \
             on-chain.",
        );
        let accounts = self
            .new_keys(&["admin-ana", "admin-ben", "admin-cy", "newcomer"])
            .await?;
        let newcomer = accounts[3].to_string();
        let created = self.sdv(
            Some("admin-ana"),
            &[
                "vault",
                "create",
                "--admin",
                "admin-ana",
                "--admin",
                "admin-ben",
                "--admin",
                "admin-cy",
            ],
        )?;
        let vault = value_after(&created.stdout, "vault ")
            .context("`sdv vault create` printed no vault id")?;
        let vault_arg = vault.to_string();

        // Adding an admin needs three quarters of the admins: the proposer and both others.
        let first = self.propose_new_admin(&vault_arg, &newcomer)?;
        let reason = "newcomer has not finished onboarding";
        let vetoed = self.sdv(
            Some("admin-cy"),
            &["vault", "veto", &first.to_string(), "--reason", reason],
        )?;
        ensure!(
            event_lines(&vetoed.stdout)
                .iter()
                .any(|e| e == "OperationVetoed"),
            "the veto emitted no OperationVetoed"
        );
        // Resubmitted once the reason is resolved.
        let second = self.propose_new_admin(&vault_arg, &newcomer)?;

        let (chain, d) = self.ctx.chain().await?;
        let vaults = TeamVault::new(chain, d.address("team_vault")?.clone());
        let first_state = vaults.state(first).await?;
        let second_state = vaults.state(second).await?;
        ensure!(
            first_state == Some(sdv_types::vault::OperationState::Vetoed),
            "TeamVault says operation {first} is {first_state:?}, not vetoed"
        );
        ensure!(
            second_state == Some(sdv_types::vault::OperationState::Pending),
            "TeamVault says operation {second} is {second_state:?}, not in its timelock"
        );
        self.evidence(format!("TeamVault state({first}) = {first_state:?}"));
        self.evidence(format!(
            "TeamVault state({second}) = {second_state:?} (timelock running)"
        ));
        let op = self
            .indexed(&format!("/vault-operations/{first}"), "the veto", |d| {
                d["state"] == "vetoed"
            })
            .await?;
        ensure!(
            op["veto"]["reason"] == reason,
            "the indexer shows the veto reason {}, not {reason:?}",
            op["veto"]["reason"]
        );
        self.sdv(None, &["vault", "operation", &first.to_string()])?;
        let again = self
            .indexed(
                &format!("/vault-operations/{second}"),
                "the resubmission",
                |d| d["state"].is_string() && d["state"] != "voting",
            )
            .await?;
        self.evidence(format!(
            "indexer: operation {first} vetoed by {} (\"{}\"); operation {second} is {}",
            op["veto"]["admin"]
                .as_str()
                .or(op["veto"]["vetoed_by"].as_str())
                .unwrap_or("an admin"),
            reason,
            again["state"].as_str().unwrap_or("?")
        ));
        self.sdv(None, &["vault", "show", &vault_arg])?;
        self.summary.push(format!(
            "vault {vault}: operation {first} vetoed (\"{reason}\"), resubmitted as operation \
             {second}, now in its 72-hour timelock"
        ));
        Ok(())
    }

    /// Proposes adding `newcomer` to `vault` and has the two other admins approve it; returns
    /// the operation, checked to be in its timelock.
    fn propose_new_admin(&self, vault: &str, newcomer: &str) -> anyhow::Result<u64> {
        let proposed = self.sdv(
            Some("admin-ana"),
            &["vault", "propose", vault, "add-admin", newcomer],
        )?;
        let op = value_after(&proposed.stdout, "operation ")
            .context("`sdv vault propose` printed no operation id")?;
        let op_arg = op.to_string();
        self.sdv(Some("admin-ben"), &["vault", "vote", &op_arg, "--yes"])?;
        let queued = self.sdv(Some("admin-cy"), &["vault", "vote", &op_arg, "--yes"])?;
        ensure!(
            event_lines(&queued.stdout)
                .iter()
                .any(|e| e == "OperationQueued"),
            "operation {op} did not reach its quorum (no OperationQueued)"
        );
        Ok(op)
    }

    // --- step 4 ---------------------------------------------------------------------------

    /// Step 4: `me` recovered to `me-new` by its guardians after the clock moved past the
    /// timelock; `document` moves with it.
    async fn recovery(&mut self, me: &AccountId, document: u64) -> anyhow::Result<()> {
        self.heading(
            "recover a lost wallet with guardians",
            "You name 3 guardians; if your wallet is lost, one starts a recovery toward a new \
             wallet and a second attests. After a 24-hour timelock (in which the old wallet can \
             cancel) the recovery finalizes and every document moves to the new wallet in one \
             step. The demo moves the node's clock 25 hours ahead instead of waiting.",
        );
        let accounts = self
            .new_keys(&["guardian-friend", "guardian-hw", "guardian-bank", "me-new"])
            .await?;
        let new_wallet = accounts[3].clone();
        self.sdv(
            Some("me"),
            &[
                "guardians",
                "set",
                "--user-guardian",
                "guardian-friend",
                "--hardware-key",
                "guardian-hw",
                "--custodian",
                "guardian-bank",
            ],
        )?;
        for guardian in ["guardian-friend", "guardian-hw", "guardian-bank"] {
            self.sdv(Some(guardian), &["guardians", "accept", "me"])?;
        }
        let initiated = self.sdv(
            Some("guardian-friend"),
            &["guardians", "initiate", "me", "--new-wallet", "me-new"],
        )?;
        let id = value_after(&initiated.stdout, "recovery ")
            .context("`sdv guardians initiate` printed no recovery id")?;
        let id_arg = id.to_string();
        let attested = self.sdv(Some("guardian-hw"), &["guardians", "attest", &id_arg])?;
        ensure!(
            event_lines(&attested.stdout)
                .iter()
                .any(|e| e == "RecoveryQuorumReached"),
            "the second attestation did not reach the quorum"
        );

        let before = self.recovery_evidence(id, document, "before").await?;
        ensure!(
            before == Some(sdv_types::recovery::RecoveryState::Timelocked),
            "recovery {id} is {before:?}, not in its timelock"
        );
        let refused = self.sdv_refused(Some("me-new"), &["guardians", "finalize", &id_arg])?;
        ensure!(
            refused.contains("TimelockActive"),
            "finalizing early was refused for another reason: {refused}"
        );
        self.evidence(format!(
            "finalizing now is refused: {}",
            refused.strip_prefix("error: ").unwrap_or(&refused)
        ));

        let ahead = self.move_clock(RECOVERY_CLOCK_MOVE_SECS).await?;
        self.evidence(format!(
            "the node's clock now runs {} h ahead of the real one",
            ahead / 3600
        ));
        let finalized = self.sdv(Some("me-new"), &["guardians", "finalize", &id_arg])?;
        ensure!(
            event_lines(&finalized.stdout)
                .iter()
                .any(|e| e == "WalletRecovered"),
            "finalizing emitted no WalletRecovered"
        );
        let after = self.recovery_evidence(id, document, "after").await?;
        ensure!(
            after == Some(sdv_types::recovery::RecoveryState::Finalized),
            "recovery {id} is {after:?} after finalizing"
        );
        let (_, nft) = self.ctx.document_nft().await?;
        let owner = nft
            .owner_of(document)
            .await?
            .map(|a| from_ink_account(&a))
            .context("the document has no owner after the recovery")?;
        ensure!(
            owner == new_wallet,
            "document {document} belongs to {owner} after the recovery, not to me-new"
        );
        let revoked = nft.is_revoked(me).await?;
        ensure!(revoked, "the old wallet {me} is not revoked on DocumentNFT");
        self.evidence(format!("DocumentNFT is_revoked(me) = {revoked}"));

        // The indexer followed the node across its restart.
        let shown = self
            .indexed(
                &format!("/recoveries/{id}"),
                "the finalized recovery",
                |d| d["state"] == "finalized",
            )
            .await?;
        let row = self
            .indexed(
                &format!("/documents/{document}"),
                "the document's new owner",
                |d| d["owner_wallet"] == new_wallet.to_string(),
            )
            .await?;
        self.sdv(None, &["guardians", "recovery", &id_arg])?;
        self.evidence(format!(
            "indexer GET /recoveries/{id}: state {}; GET /documents/{document}: owner_wallet {}",
            shown["state"].as_str().unwrap_or("?"),
            row["owner_wallet"].as_str().unwrap_or("?")
        ));
        println!("recovered wallet: document {document} now belongs to {new_wallet} (me-new)");
        self.summary.push(format!(
            "recovery {id}: finalized after the clock moved; recovered wallet {new_wallet} \
             (me-new) owns document {document}, the old wallet is revoked"
        ));
        Ok(())
    }

    /// Prints the recovery's state and the document's owner as the contracts say; returns the
    /// state.
    async fn recovery_evidence(
        &self,
        id: u64,
        document: u64,
        when: &str,
    ) -> anyhow::Result<Option<sdv_types::recovery::RecoveryState>> {
        let (chain, d) = self.ctx.chain().await?;
        let recoveries =
            GuardianRecovery::new(chain.clone(), d.address("guardian_recovery")?.clone());
        let state = recoveries.state(id).await?;
        let recovery = recoveries
            .recovery(id)
            .await?
            .with_context(|| format!("GuardianRecovery has no recovery {id}"))?;
        let nft = DocumentNft::new(chain, d.address("document_nft")?.clone());
        let owner = nft
            .owner_of(document)
            .await?
            .map(|a| from_ink_account(&a).to_string())
            .unwrap_or_else(|| "none".into());
        self.evidence(format!(
            "{when}: GuardianRecovery state({id}) = {state:?}, {} attestations, quorum at {}, \
             finalized at {}; DocumentNFT owner_of({document}) = {owner}",
            recovery.attestations.len(),
            recovery
                .quorum_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            recovery
                .finalized_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
        ));
        Ok(state)
    }

    /// Moves the node's clock `secs` further ahead: writes the new offset into the clock file
    /// of the stack's `sdv-devnet up --clock-file`, sends it SIGUSR1, waits for its
    /// `clock ahead N s`, and checks a block with the new time. Returns the offset.
    async fn move_clock(&self, secs: u64) -> anyhow::Result<u64> {
        let pid_file = self.state.join("devnet.pid");
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .with_context(|| {
                format!(
                    "reading {} (is the stack up? ./dev up starts it)",
                    pid_file.display()
                )
            })?
            .trim()
            .parse()
            .with_context(|| format!("{} holds no pid", pid_file.display()))?;
        // `./dev up` runs `sdv-devnet up --clock-file <state>/clock-ahead`.
        let clock_file = self.state.join("clock-ahead");
        let current: u64 = std::fs::read_to_string(&clock_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let wanted = current + secs;
        let out_file = self.state.join("devnet.out");
        let seen = std::fs::metadata(&out_file).map(|m| m.len()).unwrap_or(0);
        println!(
            "$ echo {wanted} > {} && kill -USR1 $(cat {})",
            clock_file.display(),
            pid_file.display()
        );
        std::fs::write(&clock_file, format!("{wanted}\n"))
            .with_context(|| format!("writing {}", clock_file.display()))?;
        let status = Command::new("kill")
            .arg("-USR1")
            .arg(pid.to_string())
            .status()
            .context("running kill")?;
        ensure!(
            status.success(),
            "kill -USR1 {pid} failed (sdv-devnet gone?)"
        );
        let deadline = Instant::now() + CLOCK_WAIT;
        let expected = format!("clock ahead {wanted} s");
        loop {
            let text = read_from(&out_file, seen)?;
            if let Some(line) = text.lines().find(|l| l.starts_with("clock ")) {
                println!("  {line}");
                ensure!(
                    line == expected,
                    "sdv-devnet: {line} (see {})",
                    self.state.join("devnet.log").display()
                );
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "sdv-devnet did not move the clock within {} s (see {})",
                CLOCK_WAIT.as_secs(),
                self.state.join("devnet.log").display()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The latest finalized block carries the new time.
        let (chain, _) = self.ctx.chain().await?;
        let (number, hash) = chain.finalized_head().await?;
        let block_ms = chain.timestamp_at(hash).await?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        ensure!(
            block_ms + 60_000 >= now_ms + wanted * 1000,
            "block #{number} is at {block_ms} ms, not {wanted} s ahead of now ({now_ms} ms)"
        );
        self.evidence(format!(
            "block #{number} was authored at {block_ms} ms, {:.1} h ahead of the real clock",
            block_ms.saturating_sub(now_ms) as f64 / 3_600_000.0
        ));
        Ok(wanted)
    }

    // --- step 5 ---------------------------------------------------------------------------

    /// Step 5: a node image release approved by 7 validators and rolled out to the 3 agents.
    async fn fleet(&mut self) -> anyhow::Result<()> {
        self.heading(
            "approve a validator release and roll it out",
            "A new version of the validator node image is registered and signed at fleet HQ; \
             it is deployable only once 7 of the 20 validators approved its digest on-chain. \
             HQ then sends a signed pull to every agent, and each agent checks the approval on \
             the chain itself before it replaces its node's container.",
        );
        let registry = self
            .beside("registry.url")
            .context("no registry.url in the state directory: this stack runs no fleet (./dev up starts fleet HQ, a registry and 3 agents), or pass --skip-fleet")?;
        let docker_host = self
            .beside("docker.host")
            .context("no docker.host in the state directory (the stack's Docker engine)")?;
        self.beside("fleet-hq.url")
            .context("no fleet-hq.url in the state directory")?;
        let admin_key = self.state.join("secrets").join("hq-admin-key");
        ensure!(
            admin_key.exists(),
            "no HQ admin key at {}",
            admin_key.display()
        );
        let admin_key = admin_key.display().to_string();
        let extra = [
            ("HQ_ADMIN_API_KEY_FILE", admin_key.as_str()),
            ("REGISTRY_URL", registry.as_str()),
            ("DOCKER_HOST", docker_host.as_str()),
        ];
        for (name, value) in &extra {
            println!("  export {name}={}", shell_quote(value));
        }
        let import = |name: &str, uri: &str| {
            self.sdv(None, &["key", "import", "--name", name, "--uri", uri])
                .map(|_| ())
        };
        // The dev accounts: the release proposer and the first 7 dev validators.
        import("fleet-hq", "//sdv//fleet-hq")?;
        for n in 1..=7 {
            import(&format!("validator-{n}"), &format!("//validator//{n}"))?;
        }

        let tag = format!(
            "1.1.{}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        );
        let tar = self.rootfs(&tag)?;
        let tar = tar.display().to_string();
        let released = self.sdv_with(
            Some("fleet-hq"),
            &[
                "fleet",
                "release",
                "--service",
                NODE_IMAGE,
                "--tag",
                &tag,
                "--import",
                &tar,
                "--change",
                r#"CMD ["/bin/sh","-c","trap \"exit 0\" TERM; sleep 2147483647 & wait"]"#,
            ],
            &extra,
        )?;
        let proposal = value_after(&released.stdout, "proposal ")
            .context("`sdv fleet release` printed no proposal")?;
        let digest = released
            .stdout
            .split_whitespace()
            .chain(released.stderr.split_whitespace())
            .find_map(|w| w.split_once('@').map(|(_, d)| d.to_owned()))
            .filter(|d| d.starts_with("sha256:"))
            .context("`sdv fleet release` printed no pushed digest")?;

        let proposal_arg = proposal.to_string();
        for n in 1..=7 {
            self.sdv(
                Some(&format!("validator-{n}")),
                &["gov", "vote", &proposal_arg, "--yes"],
            )?;
        }
        // Anyone executes it once it has its 7 votes: the keeper (sdv-relayer) may be first.
        let (chain, d) = self.ctx.chain().await?;
        let governance =
            sdv_chain::Governance::new(chain, d.address("validator_governance")?.clone());
        let executed = sdv_types::governance::ProposalState::Executed;
        if governance.state(proposal).await? == Some(executed) {
            self.evidence(format!(
                "the keeper executed proposal {proposal} as soon as it had its 7 votes"
            ));
        } else {
            let (ok, ran) =
                self.spawn(Some("validator-1"), &["gov", "execute", &proposal_arg], &[])?;
            let state = governance.state(proposal).await?;
            ensure!(
                state == Some(executed),
                "proposal {proposal} is {state:?} after `sdv gov execute`: {}",
                last_line(&ran.stderr).unwrap_or("no error line")
            );
            if ok {
                ensure!(
                    event_lines(&ran.stdout)
                        .iter()
                        .any(|e| e == "ReleaseApproved"),
                    "executing proposal {proposal} approved no release (events: {})",
                    event_lines(&ran.stdout).join(", ")
                );
            } else {
                self.evidence(format!(
                    "the keeper executed proposal {proposal} first; it cannot execute twice"
                ));
            }
        }
        let shown = self
            .indexed(
                &format!("/governance/proposals/{proposal}"),
                "the executed approval",
                |d| d["state"] == "executed",
            )
            .await?;
        self.sdv(None, &["gov", "show", &proposal_arg])?;
        self.evidence(format!(
            "indexer: proposal {proposal} {} with {} yes votes",
            shown["state"].as_str().unwrap_or("?"),
            shown["yes"]
        ));
        let latest = governance
            .latest_release(NODE_IMAGE, sdv_types::governance::Track::Devnet)
            .await?
            .context("ValidatorGovernance has no approved release of the node image")?;
        ensure!(
            latest.tag == tag,
            "ValidatorGovernance's latest approved release is {}, not {tag}",
            latest.tag
        );
        self.evidence(format!(
            "ValidatorGovernance latest_release({NODE_IMAGE}, devnet) = {} number {}, digest 0x{}",
            latest.tag,
            latest.number,
            hex::encode(latest.digest)
        ));

        let distribute = [
            "fleet",
            "distribute",
            "--service",
            NODE_IMAGE,
            "--tag",
            &tag,
            "--wait",
        ];
        let (ok, distributed) = self.spawn(None, &distribute, &extra)?;
        if !ok {
            let error = last_line(&distributed.stderr).unwrap_or("no error line");
            let stale = distributed.stdout.contains("restart required")
                || distributed.stderr.contains("restart required");
            bail!(
                "`{}` failed: {}{}",
                command_line(None, &distribute),
                error.strip_prefix("error: ").unwrap_or(error),
                if stale {
                    " (fleet HQ or an agent still holds its connection to the node from before \
                     the clock moved in step 4, and did not reconnect)"
                } else {
                    ""
                }
            );
        }
        ensure!(
            distributed.stdout.contains("succeeded"),
            "the distribution did not succeed"
        );
        self.sdv_with(None, &["fleet", "deployments"], &extra)?;
        let (ok, listed) = self.quiet(&["--json", "fleet", "deployments"], &extra)?;
        ensure!(ok, "`sdv fleet deployments` failed: {}", listed.trim());
        let listed: Value =
            serde_json::from_str(&listed).context("reading `sdv --json fleet deployments`")?;
        for node_id in FLEET_NODES {
            let running = listed["deployments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["node_id"] == node_id && d["digest"] == digest.as_str())
                .any(|d| d["running_digest"] == digest.as_str());
            ensure!(
                running,
                "HQ does not show {node_id} running {digest}: {listed}"
            );
            println!("agent {node_id}: running {NODE_IMAGE}:{tag} at {digest}");
        }
        self.summary.push(format!(
            "release {NODE_IMAGE}:{tag} ({digest}) approved by 7 of 20 validators (proposal \
             {proposal}) and running on {}",
            FLEET_NODES.join(", ")
        ));
        Ok(())
    }

    /// Runs `sdv ARGS` without echoing it, for what the demo reads but does not show; returns
    /// whether it succeeded and its stdout (its stderr when it failed).
    fn quiet(&self, args: &[&str], extra: &[(&str, &str)]) -> anyhow::Result<(bool, String)> {
        let out = Command::new(&self.exe)
            .env_remove("SDV_KEY")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.exe.display()))?;
        let text = if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        };
        Ok((
            out.status.success(),
            String::from_utf8_lossy(text).into_owned(),
        ))
    }

    /// A tarball of a busybox root filesystem whose `/release` names `tag`: the new node
    /// image's content.
    fn rootfs(&self, tag: &str) -> anyhow::Result<PathBuf> {
        let root = self.dir.join("rootfs");
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).context("creating the image's root filesystem")?;
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .context("no /bin/busybox (Debian's busybox-static, which ./dev up installs)")?;
        std::fs::copy(busybox, bin.join("busybox")).context("copying busybox")?;
        for applet in ["sh", "sleep", "cat", "echo"] {
            let link = bin.join(applet);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link)
                    .with_context(|| format!("linking {}", link.display()))?;
            }
        }
        std::fs::write(root.join("release"), format!("{NODE_IMAGE} {tag}\n"))?;
        let tar = self.dir.join(format!("{NODE_IMAGE}-{tag}.tar"));
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .context("running tar")?;
        ensure!(
            status.success(),
            "tar of the image's root filesystem failed"
        );
        Ok(tar)
    }

    /// The first line of the file `name` in the state directory.
    fn beside(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.state.join(name))
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_owned()))
            .filter(|l| !l.is_empty())
    }
}

/// An account's free balance.
async fn free_balance(chain: &Chain, account: &AccountId) -> anyhow::Result<u128> {
    let info = chain
        .client()
        .storage()
        .at_latest()
        .await?
        .fetch(&node::storage().system().account(account.clone()))
        .await?;
    Ok(info.map(|i| i.data.free).unwrap_or(0))
}

/// What was appended to `file` after its first `from` bytes.
fn read_from(file: &Path, from: u64) -> anyhow::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    f.seek(SeekFrom::Start(from))?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// Echoes each line of `from` on stdout, indented, and returns all of it.
fn echo(from: impl Read) -> String {
    let mut all = String::new();
    for line in BufReader::new(from).lines().map_while(Result::ok) {
        println!("    {line}");
        all.push_str(&line);
        all.push('\n');
    }
    all
}

/// `sdv [--key KEY] ARGS` as a shell line.
fn command_line(key: Option<&str>, args: &[&str]) -> String {
    let mut words = vec!["sdv".to_owned()];
    if let Some(key) = key {
        words.push("--key".into());
        words.push(shell_quote(key));
    }
    words.extend(args.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

/// `text` quoted for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The number after `prefix` at the start of a line (`vault 3`, `minted document 7`).
fn value_after(text: &str, prefix: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// The names of the events a write printed (`  event Name { ... }`).
fn event_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("event "))
        .filter_map(|e| e.split([' ', '{', '(']).next())
        .map(str::to_owned)
        .collect()
}

/// The event names in an indexer history answer (`items` of `{event, ...}` or a list).
fn event_names(data: &Value) -> Vec<String> {
    let items = data
        .get("items")
        .and_then(Value::as_array)
        .or_else(|| data.as_array());
    items
        .into_iter()
        .flatten()
        .filter_map(|i| {
            i.get("event")
                .or_else(|| i.get("event_name"))
                .or_else(|| i.get("kind"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// The last non-empty line of `text`.
fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().find(|l| !l.trim().is_empty())
}

/// `path` made absolute against the working directory.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("reading the working directory")?
            .join(path))
    }
}

/// Writes `text` into a new file only its owner may read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The demo's document: a US tax form (its words classify it as such) padded to 8 MB, so that
/// the upload takes two chunks and shows its progress.
fn write_document(path: &Path) -> anyhow::Result<()> {
    let mut text = String::from(
        "Form W-9 (Rev. March 2024)\nRequest for Taxpayer Identification Number and \
         Certification\nName: Demo Taxpayer\nTIN: 000-00-0000\n",
    );
    let line = "Line items of the demo document, for the Sovereign Document Vault walk-through.\n";
    while text.len() < 8_000_000 {
        text.push_str(line);
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_print_as_shell_lines() {
        assert_eq!(
            command_line(Some("me"), &["vault", "veto", "3", "--reason", "not yet"]),
            "sdv --key me vault veto 3 --reason 'not yet'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("/tmp/a-b.txt"), "/tmp/a-b.txt");
    }

    #[test]
    fn ids_and_events_are_read_from_the_output() {
        let out = "operation proposed: finalized in block #12 (0xab)\noperation 4\n  event \
                   OperationProposed { id: 4 }\n  event OperationQueued(4)\n";
        assert_eq!(value_after(out, "operation "), Some(4));
        assert_eq!(value_after(out, "vault "), None);
        assert_eq!(event_lines(out), ["OperationProposed", "OperationQueued"]);
        assert_eq!(
            value_after("minted document 7\n", "minted document "),
            Some(7)
        );
    }
}
