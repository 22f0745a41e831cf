//! `sdv doc upload` and `sdv doc download` driven as a user would, against the real node and
//! the storage stack: a US tax form classified locally, its retention raised to the tax floor,
//! encrypted, uploaded in chunks, minted, and read back identical by its owner only; and an
//! upload that pauses and is resumed after the gateway restarted.

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use rand::RngCore;
use sdv_chain::{to_ink_account, DocumentNft};
use sdv_node_config::accounts;
use sdv_system_tests::{
    cli::{json_args, json_of, keystore, last_error_line, sdv_command, stdout_of},
    storage::StorageStack,
    TestContext,
};
use sdv_types::{
    document::{Holder, RetentionOption},
    governance::Tier,
};
use serde_json::Value;
use tempfile::TempDir;

const PASSPHRASE: &str = "correct horse battery staple";

/// The CLI with its environment: the deployment, the indexer, the gateway, a keystore and an
/// uploads directory of the test's own.
struct Sdv {
    deployment: PathBuf,
    indexer: String,
    gateway: String,
    keystore: TempDir,
    uploads: TempDir,
}

impl Sdv {
    fn new(stack: &StorageStack) -> Self {
        Self {
            deployment: stack.deployment.clone(),
            indexer: stack.indexer.api.clone(),
            gateway: stack.gateway.clone(),
            keystore: keystore(),
            uploads: tempfile::Builder::new()
                .prefix("sdv-test-uploads-")
                .tempdir()
                .unwrap(),
        }
    }

    fn command(&self, key: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = sdv_command(&self.deployment, self.keystore.path());
        command
            .env("SDV_INDEXER_URL", &self.indexer)
            .env("SDV_GATEWAY_URL", &self.gateway)
            .env("SDV_UPLOADS_DIR", self.uploads.path())
            .env("SDV_PASSPHRASE", PASSPHRASE)
            .envs(env.iter().copied())
            .args(args);
        if let Some(key) = key {
            command.env("SDV_KEY", key);
        }
        command.output().expect("the sdv binary runs")
    }

    /// Runs `sdv args` as `key`, asserts success, and returns stdout.
    fn ok(&self, key: Option<&str>, args: &[&str]) -> String {
        stdout_of(self.command(key, &[], args), args)
    }

    /// Runs `sdv --json args` and parses its output.
    fn json(&self, key: Option<&str>, args: &[&str]) -> Value {
        json_of(&self.ok(key, &json_args(args)), args)
    }

    /// Runs `sdv args`, asserts it failed with `code`, and returns the last stderr line, which
    /// is the `error:` line.
    fn fails(&self, key: Option<&str>, env: &[(&str, &str)], args: &[&str], code: i32) -> String {
        last_error_line(self.command(key, env, args), code, args)
    }

    fn import(&self, name: &str, uri: &str) {
        self.ok(None, &["key", "import", "--name", name, "--uri", uri]);
    }

    /// The interrupted uploads kept in the uploads directory.
    fn pending_uploads(&self) -> Vec<String> {
        std::fs::read_dir(self.uploads.path())
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

async fn set_premium(ctx: &TestContext, account: [u8; 32]) {
    nft(ctx)
        .set_tier(
            &accounts::roles::tier_authority(),
            Holder::Account(to_ink_account(&account.into())),
            Tier::Premium,
        )
        .await
        .expect("setting the tier");
}

fn nft(ctx: &TestContext) -> DocumentNft {
    DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    )
}

/// A file of about `len` bytes that starts with `text` and goes on with random bytes.
fn write_document(dir: &Path, name: &str, text: &str, len: usize) -> PathBuf {
    let mut bytes = text.as_bytes().to_vec();
    let mut rest = vec![0u8; len - bytes.len()];
    rand::thread_rng().fill_bytes(&mut rest);
    bytes.extend_from_slice(&rest);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

/// A node, the storage stack, and Alice (Premium, encryption key published) and Bob in the
/// CLI's keystore.
async fn setup() -> (TestContext, StorageStack, Sdv, TempDir) {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let sdv = Sdv::new(&stack);
    sdv.import("alice", "//Alice");
    sdv.import("bob", "//Bob");
    set_premium(&ctx, accounts::alice().public_key().0).await;
    sdv.ok(Some("alice"), &["key", "publish-encryption-key"]);
    let files = tempfile::Builder::new()
        .prefix("sdv-test-files-")
        .tempdir()
        .unwrap();
    (ctx, stack, sdv, files)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tax_form_is_kept_seven_years_and_only_its_owner_reads_it() {
    // Given Alice with a published encryption key and a 12 MB W-9 form (three chunks).
    let (ctx, _stack, sdv, files) = setup().await;
    let form = write_document(
        files.path(),
        "w9.pdf",
        "Form W-9 Request for Taxpayer Identification Number and Certification\n",
        12 * 1_048_576,
    );
    let form_arg = form.to_str().unwrap();

    // Bob has published no encryption key: he cannot upload.
    let refused = sdv.fails(Some("bob"), &[], &["doc", "upload", form_arg], 1);
    assert!(
        refused.contains("publish your encryption key first: sdv key publish-encryption-key"),
        "{refused}"
    );

    // When Alice uploads it with the shortest retention.
    let out = sdv.ok(
        Some("alice"),
        &["doc", "upload", form_arg, "--retention", "minimum"],
    );

    // Then it is classified as US tax, its retention raised to the tax floor, and minted.
    assert!(out.contains("class: us_tax"), "{out}");
    assert!(out.contains("w-9") || out.contains("W-9"), "{out}");
    assert!(
        out.contains("retention raised from minimum to regulatory_us_tax"),
        "{out}"
    );
    let token_line = out
        .lines()
        .find_map(|l| l.strip_prefix("minted document "))
        .unwrap_or_else(|| panic!("no token id in {out}"));
    let token: u64 = token_line.trim().parse().unwrap();
    assert!(out.contains("sha256"), "{out}");
    assert!(
        sdv.pending_uploads().is_empty(),
        "the state directory is removed"
    );

    let document = nft(&ctx)
        .document(token)
        .await
        .unwrap()
        .expect("the document");
    assert_eq!(document.chosen, RetentionOption::Minimum);
    assert_eq!(document.retention, RetentionOption::RegulatoryUsTax);
    let shown = sdv.json(None, &["doc", "show", &token.to_string()]);
    assert_eq!(shown["retention"], "regulatory_us_tax", "{shown}");
    assert_eq!(shown["class"], "us_tax", "{shown}");

    // And Alice reads back identical bytes.
    let copy = files.path().join("copy.pdf");
    let read = sdv.ok(
        Some("alice"),
        &[
            "doc",
            "download",
            &token.to_string(),
            "--out",
            copy.to_str().unwrap(),
        ],
    );
    assert!(
        read.contains(&format!("{} bytes", 12 * 1_048_576)),
        "{read}"
    );
    assert!(same_bytes(&form, &copy));

    // But Bob is refused, clearly, and nothing is written.
    let bobs = files.path().join("bobs.pdf");
    let refused = sdv.fails(
        Some("bob"),
        &[],
        &[
            "doc",
            "download",
            &token.to_string(),
            "--out",
            bobs.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        refused.contains(&format!("may not read document {token}")),
        "{refused}"
    );
    assert!(!bobs.exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_upload_resumes_after_the_gateway_restarted() {
    // Given Alice's 12 MB document whose upload stopped after its first chunk.
    let (_ctx, mut stack, sdv, files) = setup().await;
    let file = write_document(files.path(), "notes.txt", "meeting notes\n", 12 * 1_048_576);
    let paused = sdv.fails(
        Some("alice"),
        &[("SDV_UPLOAD_STOP_AFTER_CHUNKS", "1")],
        &["doc", "upload", file.to_str().unwrap()],
        3,
    );
    assert!(paused.contains("sdv doc upload --resume "), "{paused}");
    let pending = sdv.pending_uploads();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let upload_id = pending[0].clone();
    assert!(paused.contains(&upload_id), "{paused}");
    let state =
        std::fs::read_to_string(sdv.uploads.path().join(&upload_id).join("state.json")).unwrap();
    assert!(state.contains("owner_key"), "{state}");

    // When the gateway is down, resuming fails again and keeps the upload.
    stack.kill_storage();
    let down = sdv.fails(
        Some("alice"),
        &[("SDV_RETRY_DELAYS_MS", "50,50,50")],
        &["doc", "upload", "--resume", &upload_id],
        3,
    );
    assert!(down.contains(&format!("--resume {upload_id}")), "{down}");
    assert_eq!(sdv.pending_uploads(), vec![upload_id.clone()]);

    // And once it is back, resuming sends the rest, completes, and the document is minted.
    stack.start_storage().await;
    let done = sdv.json(Some("alice"), &["doc", "upload", "--resume", &upload_id]);
    assert_eq!(done["upload_id"], upload_id.as_str(), "{done}");
    assert_eq!(done["class"], "other", "{done}");
    assert_eq!(done["retention"], "standard", "{done}");
    let token = done["token_id"].as_u64().expect("a token id");
    assert!(sdv.pending_uploads().is_empty());

    // Then it reads back identical.
    let copy = files.path().join("copy.txt");
    sdv.ok(
        Some("alice"),
        &[
            "doc",
            "download",
            &token.to_string(),
            "--out",
            copy.to_str().unwrap(),
        ],
    );
    assert!(same_bytes(&file, &copy));
}
