//! MPC wallets in the `sdv` CLI, against the real node, the storage stack and `sdv-recovery`
//! (the custodian, its keys in a SoftHSM2 token): the device and the backup create a 2-of-3
//! wallet as two processes with two keystores; the device signs with the custodian (publishing
//! its encryption key, logging in to the gateway to upload and read back a document); with one
//! share at hand nothing is signed or sent; and the device signs with the backup instead.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use sdv_chain::{to_ink_account, AccountId, DocumentNft};
use sdv_node_config::accounts;
use sdv_system_tests::{
    cli::{error_line, keystore, sdv_command, stdout_of},
    recovery::RecoveryService,
    TestContext,
};
use sdv_types::{document::Holder, governance::Tier};
use serde_json::Value;
use tempfile::TempDir;

const PASSPHRASE: &str = "correct horse battery staple";

/// The CLI's environment: the deployment, the indexer, the gateway, the custodian's two APIs
/// and an uploads directory.
struct Env {
    deployment: PathBuf,
    indexer: String,
    gateway: String,
    ceremony: String,
    keys: String,
    uploads: TempDir,
}

impl Env {
    fn command(&self, keystore: &Path, args: &[&str]) -> Command {
        let mut command = sdv_command(&self.deployment, keystore);
        command
            .env("SDV_INDEXER_URL", &self.indexer)
            .env("SDV_GATEWAY_URL", &self.gateway)
            .env("SDV_CEREMONY_URL", &self.ceremony)
            .env("SDV_KEYS_URL", &self.keys)
            .env("SDV_UPLOADS_DIR", self.uploads.path())
            .env("SDV_PASSPHRASE", PASSPHRASE)
            .args(args);
        command
    }

    fn run(&self, keystore: &Path, args: &[&str]) -> Output {
        self.command(keystore, args)
            .output()
            .expect("the sdv binary runs")
    }

    /// Runs `sdv args`, asserts success, and returns stdout.
    fn ok(&self, keystore: &Path, args: &[&str]) -> String {
        stdout_of(self.run(keystore, args), args)
    }

    /// Runs `sdv args`, asserts it failed with status 1 and one `error:` line, and returns it.
    fn fails(&self, keystore: &Path, args: &[&str]) -> String {
        error_line(self.run(keystore, args), Some(1), args)
    }
}

fn key_file(keystore: &Path, name: &str) -> (String, Value) {
    let text = std::fs::read_to_string(keystore.join(format!("{name}.json"))).unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (text, json)
}

fn nft(ctx: &TestContext) -> DocumentNft {
    DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mpc_wallet_made_by_device_and_backup_signs_only_with_two_shares() {
    // Given the stack and the custodian (`sdv-recovery`, its keys in a token).
    let ctx = TestContext::new().await;
    let (_token, _, stack, service) = RecoveryService::with_stack(&ctx, &[]).await;
    let env = Env {
        deployment: stack.deployment.clone(),
        indexer: stack.indexer.api.clone(),
        gateway: stack.gateway.clone(),
        ceremony: service.ceremony.clone(),
        keys: service.keys.clone(),
        uploads: keystore(),
    };
    let (device_keys, backup_keys) = (keystore(), keystore());

    // When the device creates the wallet and the backup, another process with its own
    // keystore, joins the session the device printed.
    let mut device = env
        .command(device_keys.path(), &["mpc", "create", "--name", "w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sdv mpc create starts");
    let mut device_err = BufReader::new(device.stderr.take().unwrap());
    let mut line = String::new();
    let session = loop {
        line.clear();
        assert!(
            device_err.read_line(&mut line).unwrap() > 0,
            "sdv mpc create ended without a session id"
        );
        if let Some(id) = line.trim().strip_prefix("dkg session: ") {
            break id.to_owned();
        }
    };
    let backup = env.ok(
        backup_keys.path(),
        &[
            "mpc", "join", "--name", "wb", "--dkg", &session, "--role", "backup",
        ],
    );
    let status = device.wait().unwrap();
    let mut device_out = String::new();
    device
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut device_out)
        .unwrap();
    let mut rest = String::new();
    device_err.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "sdv mpc create: {rest}{device_out}");

    // Then both key files name the same account, and hold no plaintext secret.
    let (device_text, device_file) = key_file(device_keys.path(), "w");
    let (backup_text, backup_file) = key_file(backup_keys.path(), "wb");
    assert_eq!(device_file["scheme"], "ed25519-mpc");
    assert_eq!(device_file["mpc"]["role"], "device");
    assert_eq!(backup_file["mpc"]["role"], "backup");
    assert_eq!(device_file["public"], backup_file["public"]);
    assert_eq!(device_file["ss58"], backup_file["ss58"]);
    let ss58 = device_file["ss58"].as_str().unwrap().to_owned();
    assert!(device_out.contains(&ss58), "{device_out}");
    assert!(device_out.contains("no single place"), "{device_out}");
    assert!(backup.contains(&ss58), "{backup}");
    for text in [&device_text, &backup_text] {
        for secret in ["key_package", "encryption_secret"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("ciphertext"), "{text}");
    }
    let account: AccountId = ss58.parse().unwrap();
    let shown = env.ok(
        device_keys.path(),
        &["--json", "mpc", "show", "--name", "w"],
    );
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["role"], "device", "{shown}");
    assert_eq!(shown["registry"]["state"], "active", "{shown}");

    // Given the wallet has funds and Premium storage.
    ctx.fund(&account).await;
    nft(&ctx)
        .set_tier(
            &accounts::roles::tier_authority(),
            Holder::Account(to_ink_account(&account)),
            Tier::Premium,
        )
        .await
        .expect("setting the tier");

    // When only the device's share is at hand: no co-signer, or a custodian that is down.
    let device_ks = device_keys.path();
    let alone = env.fails(
        device_ks,
        &[
            "--key",
            "w",
            "--cosigner",
            "none",
            "key",
            "publish-encryption-key",
        ],
    );
    assert!(
        alone.contains(&format!("2 of 3 shares are needed to sign for {ss58}")),
        "{alone}"
    );
    assert!(alone.contains("only the device share"), "{alone}");
    let mut down = env.command(device_ks, &["--key", "w", "key", "publish-encryption-key"]);
    let down = down
        .env("SDV_KEYS_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    let down = String::from_utf8_lossy(&down.stderr);
    assert!(down.contains("2 of 3 shares are needed"), "{down}");
    assert!(down.contains("not reachable"), "{down}");
    // Then nothing changed on-chain.
    assert!(nft(&ctx).encryption_key(&account).await.unwrap().is_none());

    // When the device signs with the custodian.
    let published = env.ok(device_ks, &["--key", "w", "key", "publish-encryption-key"]);
    assert!(
        published.contains("encryption key published"),
        "{published}"
    );

    // Then DocumentNFT has the key file's encryption key.
    let key = nft(&ctx)
        .encryption_key(&account)
        .await
        .unwrap()
        .expect("an encryption key");
    assert_eq!(
        format!("0x{}", hex::encode(key.key)),
        device_file["mpc"]["encryption_key"].as_str().unwrap()
    );
    assert_eq!(key.version, 1);

    // And a contract write signed through the same co-signing succeeds.
    let alice = accounts::alice().public_key().to_account_id().to_string();
    let bob = accounts::bob().public_key().to_account_id().to_string();
    let vault = env.ok(
        device_ks,
        &[
            "--key", "w", "vault", "create", "--admin", "w", "--admin", &alice, "--admin", &bob,
        ],
    );
    assert!(vault.contains("vault created"), "{vault}");

    // And the wallet uploads a document through the gateway and reads it back identical.
    let files = keystore();
    let original = files.path().join("note.txt");
    let mut bytes = b"a note kept by an MPC wallet\n".to_vec();
    bytes.extend((0..40_000u32).map(|i| (i % 251) as u8));
    std::fs::write(&original, &bytes).unwrap();
    let uploaded = env.ok(
        device_ks,
        &["--key", "w", "doc", "upload", original.to_str().unwrap()],
    );
    let token_id = uploaded
        .lines()
        .find_map(|l| l.strip_prefix("minted document "))
        .unwrap_or_else(|| panic!("no token id in {uploaded}"))
        .trim()
        .to_owned();
    let copy = files.path().join("copy.txt");
    env.ok(
        device_ks,
        &[
            "--key",
            "w",
            "doc",
            "download",
            &token_id,
            "--out",
            copy.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);

    // But with one share at hand the gateway login is refused too, and nothing is written.
    let refused_copy = files.path().join("refused.txt");
    let refused = env.fails(
        device_ks,
        &[
            "--key",
            "w",
            "--cosigner",
            "none",
            "doc",
            "download",
            &token_id,
            "--out",
            refused_copy.to_str().unwrap(),
        ],
    );
    assert!(refused.contains("2 of 3 shares are needed"), "{refused}");
    assert!(!refused_copy.exists());

    // When the backup's key file is copied next to the device's, the two sign without the
    // custodian: a chain write and a gateway login.
    std::fs::copy(
        backup_keys.path().join("wb.json"),
        device_ks.join("wb.json"),
    )
    .unwrap();
    let set = env.ok(
        device_ks,
        &[
            "--key",
            "w",
            "--cosigner-key",
            "wb",
            "guardians",
            "set",
            "--user-guardian",
            &accounts::alice().public_key().to_account_id().to_string(),
            "--hardware-key",
            &accounts::bob().public_key().to_account_id().to_string(),
            "--custodian",
            &accounts::charlie().public_key().to_account_id().to_string(),
        ],
    );
    assert!(set.contains("guardians set"), "{set}");
    let copy2 = files.path().join("copy2.txt");
    env.ok(
        device_ks,
        &[
            "--key",
            "w",
            "--cosigner-key",
            "wb",
            "doc",
            "download",
            &token_id,
            "--out",
            copy2.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&copy2).unwrap(), bytes);
}
