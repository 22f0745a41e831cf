//! A guardian whose Ed25519 account key lives in a PKCS#11 token (SoftHSM2): the `sdv` binary
//! adds the key with `sdv key hsm-generate` and signs the guardian's extrinsics inside the
//! token, against a real node with the contracts deployed. The key file holds no secret, a
//! wrong PIN fails before anything is sent, and the commands that need an sr25519 secret
//! refuse the token key.

use std::{path::PathBuf, process::Output};

use sdv_chain::{to_ink_account, AccountId, CallData, GuardianRecovery};
use sdv_node_config::accounts;
use sdv_system_tests::{
    cli::{error_line, json_args, json_of, keystore, sdv_command, stdout_of},
    hsm::SoftHsm,
    TestContext,
};
use sdv_types::recovery::{Guardian, GuardianKind, RecoveryState};
use serde_json::Value;
use tempfile::TempDir;

const PASSPHRASE: &str = "correct horse battery staple";

/// The `sdv` binary with the test's deployment, keystore and token PIN.
struct Sdv {
    deployment: PathBuf,
    keystore: TempDir,
    pin: String,
}

impl Sdv {
    fn new(ctx: &TestContext, hsm: &SoftHsm) -> Self {
        Self {
            deployment: ctx.deployment_file(),
            keystore: keystore(),
            pin: hsm.pin().to_owned(),
        }
    }

    /// Runs `sdv args` as `key` with `pin` for the token; the test process's
    /// `SOFTHSM2_CONF` (set by [`SoftHsm::shared`]) names the tokens.
    fn run(&self, key: Option<&str>, pin: &str, args: &[&str]) -> Output {
        let mut command = sdv_command(&self.deployment, self.keystore.path());
        command
            .env("SDV_PASSPHRASE", PASSPHRASE)
            .env("SDV_PKCS11_PIN", pin)
            .args(args);
        if let Some(key) = key {
            command.env("SDV_KEY", key);
        }
        command.output().expect("the sdv binary runs")
    }

    /// Runs `sdv --json args` as `key`, asserts success and parses its output.
    fn json(&self, key: Option<&str>, args: &[&str]) -> Value {
        let stdout = stdout_of(self.run(key, &self.pin, &json_args(args)), args);
        json_of(&stdout, args)
    }

    /// Runs `sdv args` as `key` with `pin`, asserts a failure with exit status `code` and one
    /// `error:` line on stderr, and returns that line.
    fn fails(&self, key: &str, pin: &str, code: i32, args: &[&str]) -> String {
        error_line(self.run(Some(key), pin, args), Some(code), args)
    }

    fn import(&self, name: &str, uri: &str) {
        self.json(None, &["key", "import", "--name", name, "--uri", uri]);
    }
}

/// The guardians of `user` as the contract stores them.
async fn guardians(rec: &GuardianRecovery, user: &AccountId) -> Vec<Guardian> {
    rec.query(CallData::message("guardians").arg(&to_ink_account(user)))
        .await
        .unwrap()
}

fn ss58(key: &subxt_signer::sr25519::Keypair) -> AccountId {
    key.public_key().to_account_id()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardian_signs_acceptance_and_attestation_inside_its_token() {
    // Given a node with the contracts, a SoftHSM token, and the CLI's keystore with Alice,
    // Charlie, Dave and Eve.
    let hsm = SoftHsm::new();
    let ctx = TestContext::new().await;
    let sdv = Sdv::new(&ctx, &hsm);
    for (name, uri) in [
        ("alice", "//Alice"),
        ("charlie", "//Charlie"),
        ("dave", "//Dave"),
        ("eve", "//Eve"),
    ] {
        sdv.import(name, uri);
    }
    let rec = GuardianRecovery::new(
        ctx.chain.clone(),
        ctx.deployment.address("guardian_recovery").unwrap().clone(),
    );
    let dave = ss58(&accounts::dave());

    // When the guardian's key is generated in the token.
    let generated = sdv.json(
        None,
        &[
            "key",
            "hsm-generate",
            "--name",
            "hardware",
            "--token",
            hsm.label(),
            "--module",
            hsm.module().to_str().unwrap(),
        ],
    );

    // Then the token says that the key is sensitive and never extractable.
    let protection = &generated["protection"];
    assert_eq!(protection["locked_in"], true, "{generated}");
    assert_eq!(protection["value_sensitive"], true, "{generated}");
    assert_eq!(protection["always_sensitive"], true, "{generated}");
    assert_eq!(protection["never_extractable"], true, "{generated}");
    assert_eq!(generated["scheme"], "ed25519-pkcs11");
    let token_account: AccountId = generated["ss58"].as_str().unwrap().parse().unwrap();
    let public = hex::decode(
        generated["public"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    assert_eq!(token_account.0.as_slice(), public.as_slice());

    // And its key file holds only public fields: no cipher, nonce, ciphertext or PIN.
    let text = std::fs::read_to_string(sdv.keystore.path().join("hardware.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let mut fields: Vec<&str> = file
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["name", "pkcs11", "public", "scheme", "ss58"],
        "{text}"
    );
    let mut location: Vec<&str> = file["pkcs11"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    location.sort_unstable();
    assert_eq!(location, ["key_label", "module", "token"], "{text}");
    assert_eq!(file["pkcs11"]["token"], hsm.label());
    assert_eq!(file["pkcs11"]["key_label"], "hardware");
    assert!(!text.contains(hsm.pin()), "{text}");
    let listed = sdv.json(None, &["key", "list"]);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "hardware")
        .unwrap();
    assert!(
        entry["kind"].as_str().unwrap().contains("PKCS#11"),
        "{listed}"
    );
    assert_eq!(listed[0]["scheme"], "sr25519", "{listed}");

    // Given the token account funded by Alice, and Dave naming Alice, the token key and
    // Charlie as guardians.
    ctx.fund(&token_account).await;
    sdv.json(
        Some("dave"),
        &[
            "guardians",
            "set",
            "--user-guardian",
            "alice",
            "--hardware-key",
            "hardware",
            "--custodian",
            "charlie",
        ],
    );

    // When the token guardian accepts, signing in the token.
    sdv.json(Some("hardware"), &["guardians", "accept", "dave"]);

    // Then the contract has the acceptance from the token key's account.
    let set = guardians(&rec, &dave).await;
    let hardware = set
        .iter()
        .find(|g| g.account == to_ink_account(&token_account))
        .expect("the token account is a guardian");
    assert_eq!(hardware.kind, GuardianKind::HardwareKey);
    assert!(hardware.accepted_at.is_some(), "{set:?}");
    let others: Vec<_> = set.iter().filter(|g| g.accepted_at.is_none()).collect();
    assert_eq!(others.len(), 2, "{set:?}");

    // And the others accept, and the token guardian's heartbeat is recorded.
    sdv.json(Some("alice"), &["guardians", "accept", "dave"]);
    sdv.json(Some("charlie"), &["guardians", "accept", "dave"]);
    sdv.json(Some("hardware"), &["guardians", "heartbeat", "dave"]);
    assert!(guardians(&rec, &dave)
        .await
        .iter()
        .all(|g| g.accepted_at.is_some() && g.last_seen.is_some()));

    // Given Dave's wallet lost: Alice starts a recovery toward Eve.
    let initiated = sdv.json(
        Some("alice"),
        &["guardians", "initiate", "dave", "--new-wallet", "eve"],
    );
    let id = initiated["recovery"].as_u64().unwrap();
    let before = rec.recovery(id).await.unwrap().unwrap();
    assert_eq!(before.attestations.len(), 1);
    let nonce = ctx.chain.next_nonce(&token_account).await.unwrap();

    // When the token guardian attests with a wrong PIN, it fails before anything is sent.
    let line = sdv.fails(
        "hardware",
        "not-the-pin",
        1,
        &["guardians", "attest", &id.to_string()],
    );
    assert!(line.contains("PIN") && line.contains("wrong"), "{line}");
    assert!(!line.contains("not-the-pin"), "{line}");
    assert_eq!(rec.recovery(id).await.unwrap().unwrap(), before);
    assert_eq!(
        rec.state(id).await.unwrap(),
        Some(RecoveryState::Collecting)
    );
    assert_eq!(ctx.chain.next_nonce(&token_account).await.unwrap(), nonce);

    // When it attests with its PIN, signing in the token.
    sdv.json(Some("hardware"), &["guardians", "attest", &id.to_string()]);

    // Then the recovery has the token account's attestation and reached its quorum.
    let after = rec.recovery(id).await.unwrap().unwrap();
    assert_eq!(after.attestations.len(), 2, "{after:?}");
    assert_eq!(after.attestations[1].0, to_ink_account(&token_account));
    assert!(after.quorum_at.is_some(), "{after:?}");
    assert_eq!(
        rec.state(id).await.unwrap(),
        Some(RecoveryState::Timelocked)
    );

    // And what needs an sr25519 secret refuses the token key, as a usage error.
    for args in [
        &["key", "publish-encryption-key"][..],
        &["doc", "download", "1"][..],
    ] {
        let line = sdv.fails("hardware", hsm.pin(), 2, args);
        assert!(line.contains("never leaves the token"), "{args:?}: {line}");
    }
}
