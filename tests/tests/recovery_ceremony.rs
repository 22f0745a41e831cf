//! The off-chain recovery ceremony end to end, on the real node, PostgreSQL, Garage, the
//! indexer, the storage and notification services, and `sdv-recovery` with its keys in a
//! SoftHSM2 token.
//!
//! An owner whose wallet is a 2-of-3 MPC wallet stores 3 documents, names 3 guardians (one a
//! hardware key in a token of its own, used through the `sdv` CLI), and loses the device. Two
//! guardians recover the identity to a new MPC wallet; the owner is told before the timelock
//! ends; the node's clock is moved past it; the ceremony, killed half-way, re-wraps every data
//! key once in the token; the new wallet reads all 3 and the old one nothing.

use std::{path::Path, time::Duration};

use rand::rngs::OsRng;
use sdv_chain::{to_ink_account, AccountId, CallData, GuardianRecovery};
use sdv_mpc::Role;
use sdv_node_config::accounts;
use sdv_storage_client::{
    envelope,
    protocol::{CreateUpload, HolderRef, KeyRole, Scheme},
};
use sdv_system_tests::{
    cli::{sdv_command, stdout_of},
    documents::{api_code, seal, submit, Sealed},
    hsm::SoftHsm,
    recovery::{cosign, cosign_for, create_mpc_wallet, mpc_call, mpc_login, RecoveryService},
    storage::StorageStack,
    TestContext,
};
use sdv_types::recovery::{GuardianKind, RecoveryState};
use subxt_signer::sr25519::Keypair;
use x25519_dalek::{PublicKey, StaticSecret};

/// The timelock (24 h) and a margin.
const PAST_TIMELOCK_SECS: u64 = 24 * 3600 + 120;

fn hex0x(account: &AccountId) -> String {
    format!("0x{}", hex::encode(account.0))
}

fn random_keypair() -> Keypair {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut OsRng, &mut seed);
    Keypair::from_secret_key(seed).expect("an sr25519 key")
}

/// Runs `sdv args` with a keystore of its own and a token PIN, for the hardware guardian;
/// asserts success and returns stdout.
fn sdv(deployment: &Path, keystore: &Path, pin: &str, args: &[&str]) -> String {
    let out = sdv_command(deployment, keystore)
        .env("SDV_PKCS11_PIN", pin)
        .args(args)
        .output()
        .expect("the sdv binary runs");
    stdout_of(out, args)
}

/// An upload of `doc` for the owner's encryption key and the recovery key in the token.
fn create(doc: &Sealed, owner_key: &PublicKey, recovery: [u8; 32], name: &str) -> CreateUpload {
    CreateUpload {
        holder: HolderRef::Account,
        size: doc.ciphertext.len() as u64,
        sha256: hex::encode(doc.sha256),
        class: "other".into(),
        retention: "standard".into(),
        arweave: false,
        name: Some(name.into()),
        wrapped_keys: vec![
            envelope::wrapped_key(&doc.key, owner_key, KeyRole::Owner).unwrap(),
            envelope::wrapped_key(&doc.key, &PublicKey::from(recovery), KeyRole::Recovery).unwrap(),
        ],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_mpc_wallet_is_recovered_and_every_data_key_rewrapped_once_in_the_token() {
    // Given the stack, with the recovery key made in the service's token.
    let mut ctx = TestContext::new().await;
    // A pause between documents, so that the ceremony can be killed half-way.
    let (service_token, recovery_public, stack, mut service) =
        RecoveryService::with_stack(&ctx, &[("SDV_CEREMONY_PACE_MS", "4000")]).await;
    let (status, published) = service.keys_get("/v1/recovery-key").await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["public_key"], hex::encode(recovery_public));
    assert_eq!(published["locked_in_token"], true, "{published}");

    // And an owner whose wallet W1 is a 2-of-3 MPC wallet: device, backup and custodian.
    let (device1, backup1) = create_mpc_wallet(&service).await;
    let w1 = AccountId::from(device1.account());
    let (_, registered) = service
        .keys_get(&format!("/v1/mpc/wallets/{}", hex0x(&w1)))
        .await;
    assert_eq!(registered["state"], "active", "{registered}");
    assert_eq!(registered["shares"].as_array().unwrap().len(), 3);
    ctx.fund(&w1).await;
    let w1_secret = StaticSecret::random_from_rng(OsRng);
    let w1_key = PublicKey::from(&w1_secret);
    mpc_call(
        &ctx,
        &service,
        &device1,
        "document_nft",
        CallData::message("publish_encryption_key").arg(&w1_key.to_bytes()),
    )
    .await
    .expect("W1 publishes its encryption key, signed by its device and the custodian");
    stack.set_contact(&hex0x(&w1), "owner@example.test").await;

    // When the owner stores 3 documents.
    let owner = mpc_login(&stack, &service, &device1)
        .await
        .expect("W1 logs in");
    let mut stored = Vec::new();
    for (i, size) in [30_000, 1_200_000, 7_000].into_iter().enumerate() {
        let doc = seal(size);
        let token = submit(
            &owner,
            &create(&doc, &w1_key, recovery_public, &format!("doc-{i}.pdf")),
            &doc,
        )
        .await;
        stored.push((token, doc));
    }
    // And a fourth whose recovery wrap was damaged on its way (the gateway cannot tell).
    let damaged = seal(5_000);
    let mut upload = create(&damaged, &w1_key, recovery_public, "damaged.pdf");
    let mut wrap = hex::decode(&upload.wrapped_keys[1].wrapped).unwrap();
    wrap[50] ^= 1;
    upload.wrapped_keys[1].wrapped = hex::encode(wrap);
    let damaged_token = submit(&owner, &upload, &damaged).await;

    // And names 3 guardians: two people and a hardware key in a token of its own.
    let (g1, g2) = (random_keypair(), random_keypair());
    let guardian_token = SoftHsm::new();
    let keystore = tempfile::tempdir().unwrap();
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();
    let run = |args: &[&str]| sdv(&deployment, keystore.path(), guardian_token.pin(), args);
    let generated = run(&[
        "--json",
        "key",
        "hsm-generate",
        "--name",
        "g3",
        "--token",
        guardian_token.label(),
    ]);
    let generated: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let g3: AccountId = generated["ss58"].as_str().unwrap().parse().unwrap();
    for g in [
        g1.public_key().to_account_id(),
        g2.public_key().to_account_id(),
        g3.clone(),
    ] {
        ctx.fund(&g).await;
        stack
            .set_contact(&hex0x(&g), &format!("{}@guardians.test", &hex0x(&g)[2..10]))
            .await;
    }
    let guardians = vec![
        (
            to_ink_account(&g1.public_key().to_account_id()),
            GuardianKind::User,
        ),
        (
            to_ink_account(&g2.public_key().to_account_id()),
            GuardianKind::User,
        ),
        (to_ink_account(&g3), GuardianKind::HardwareKey),
    ];
    mpc_call(
        &ctx,
        &service,
        &device1,
        "guardian_recovery",
        CallData::message("set_guardians").arg(&guardians),
    )
    .await
    .expect("W1 names its guardians");
    let recovery = GuardianRecovery::new(
        ctx.chain.clone(),
        ctx.deployment.address("guardian_recovery").unwrap().clone(),
    );
    recovery.accept(&g1, &w1).await.unwrap();
    recovery.accept(&g2, &w1).await.unwrap();
    run(&["--key", "g3", "guardians", "accept", &w1.to_string()]);

    // And the owner loses the device: the new wallet W2 is a new MPC wallet.
    let (device2, backup2) = create_mpc_wallet(&service).await;
    let w2 = AccountId::from(device2.account());
    ctx.fund(&w2).await;
    let w2_secret = StaticSecret::random_from_rng(OsRng);
    mpc_call(
        &ctx,
        &service,
        &device2,
        "document_nft",
        CallData::message("publish_encryption_key").arg(&PublicKey::from(&w2_secret).to_bytes()),
    )
    .await
    .expect("W2 signs with 2 of its 3 shares (device and custodian)");

    // Then one share alone cannot sign for W2, and the custodian refuses another wallet's
    // share.
    assert!(matches!(
        sdv_mpc::sign_with(&[&device2], b"a transfer"),
        Err(sdv_mpc::Error::NotEnoughSigners { have: 1, need: 2 })
    ));
    let refused = cosign_for(&service.keys, &w2.0, &device1, b"a transfer")
        .await
        .unwrap_err();
    assert!(
        refused.contains("403") && refused.contains("bad_signature_share"),
        "{refused}"
    );

    // When two guardians recover W1 to W2, the hardware guardian attesting in its token.
    let old_session = mpc_login(&stack, &service, &device1)
        .await
        .expect("W1 logs in again");
    let id = recovery.initiate(&g1, &w1, &w2).await.unwrap();
    run(&["--key", "g3", "guardians", "attest", &id.to_string()]);
    let on_chain = recovery.recovery(id).await.unwrap().expect("the recovery");
    assert!(
        on_chain
            .attestations
            .iter()
            .any(|(g, _)| *g == to_ink_account(&g3)),
        "the hardware key's attestation is on-chain: {on_chain:?}"
    );
    assert_eq!(
        recovery.state(id).await.unwrap(),
        Some(RecoveryState::Timelocked)
    );

    // Then the owner is told of the initiation while the recovery can still be cancelled.
    let mails = wait_for_mail(
        &stack,
        "owner@example.test",
        "A recovery of your wallet was initiated",
    )
    .await;
    assert!(
        mails.contains(&format!("sdv guardians cancel {id}")),
        "{mails}"
    );
    wait_for_mail(&stack, "owner@example.test", "can be cancelled until").await;
    assert_eq!(
        recovery.state(id).await.unwrap(),
        Some(RecoveryState::Timelocked),
        "the initiation mail came before the timelock ended"
    );

    // When the clock passes the timelock and the recovery is finalized.
    ctx.move_clock_ahead(PAST_TIMELOCK_SECS).await;
    let recovery = GuardianRecovery::new(
        ctx.chain.clone(),
        ctx.deployment.address("guardian_recovery").unwrap().clone(),
    );
    recovery
        .finalize(&accounts::ferdie(), id)
        .await
        .expect("finalizing after the timelock");
    wait_for_mail(&stack, "owner@example.test", "was finalized").await;

    // Then the ceremony starts, and is killed after its first document.
    let half = service
        .ceremony_until(&w1, 120, |c| c["rewrapped"].as_i64() >= Some(1))
        .await;
    service.kill_9();
    let first = half["document_states"][0].clone();
    assert_eq!(half["state"], "rewrapping", "{half}");
    assert_eq!(half["documents"], 4, "{half}");
    assert!(
        half["rewrapped"].as_i64() < Some(3),
        "killed half-way: {half}"
    );

    // And, restarted, it finishes: every document re-wrapped once, in the token.
    service.restart(&[("SDV_CEREMONY_PACE_MS", "0")]).await;
    let done = service
        .ceremony_until(&w1, 120, |c| c["state"] == "done")
        .await;
    assert_eq!(
        (
            done["documents"].clone(),
            done["rewrapped"].clone(),
            done["failed"].clone()
        ),
        (4.into(), 3.into(), 1.into()),
        "{done}"
    );
    let states = done["document_states"].as_array().unwrap();
    assert_eq!(states.len(), 4, "{done}");
    for d in states {
        if d["token_id"] == damaged_token {
            // The damaged wrap is reported for an operator, and nothing is stored for it.
            assert_eq!(d["state"], "failed", "{d}");
            assert!(
                d["error"]
                    .as_str()
                    .unwrap()
                    .contains("the token refused it"),
                "{d}"
            );
        } else {
            assert_eq!(
                (d["state"].as_str(), d["format"].as_str()),
                (Some("rewrapped"), Some("v2")),
                "{d}"
            );
        }
    }
    let damaged_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM storage_wrapped_keys WHERE sha256 = $1 AND recipient = $2",
    )
    .bind(&damaged.sha256[..])
    .bind(&PublicKey::from(&w2_secret).to_bytes()[..])
    .fetch_one(&stack.pool)
    .await
    .unwrap();
    assert_eq!(damaged_rows, 0, "no key is stored for the damaged document");
    assert!(
        states.contains(&first),
        "the first document was not done again: {first} in {done}"
    );
    assert_eq!(
        done["new_key"],
        format!("0x{}", hex::encode(PublicKey::from(&w2_secret).to_bytes()))
    );
    for (_, doc) in &stored {
        let rows: Vec<(Vec<u8>, String, Option<String>)> = sqlx::query_as(
            "SELECT recipient, role, revoked_at::text FROM storage_wrapped_keys WHERE sha256 = $1",
        )
        .bind(&doc.sha256[..])
        .fetch_all(&stack.pool)
        .await
        .unwrap();
        let new_rows: Vec<_> = rows
            .iter()
            .filter(|(r, ..)| r[..] == PublicKey::from(&w2_secret).to_bytes())
            .collect();
        assert_eq!(new_rows.len(), 1, "one wrapped key for W2: {rows:?}");
        assert_eq!(
            (new_rows[0].1.as_str(), new_rows[0].2.is_none()),
            ("owner", true)
        );
        let old = rows
            .iter()
            .find(|(r, ..)| r[..] == w1_key.to_bytes())
            .expect("W1's key row");
        assert!(old.2.is_some(), "W1's wrapped key is revoked: {rows:?}");
    }

    // Then W2 downloads and decrypts all 3 with its own key.
    let new_owner = mpc_login(&stack, &service, &device2)
        .await
        .expect("W2 logs in");
    for (token, doc) in &stored {
        let out = tempfile::NamedTempFile::new().unwrap();
        new_owner
            .read_document(*token, out.path())
            .await
            .expect("W2 reads");
        let keys = new_owner.document_keys(*token).await.unwrap();
        assert!(
            !keys
                .iter()
                .any(|k| k.recipient == hex::encode(w1_key.to_bytes())),
            "W1's revoked key is not served: {keys:?}"
        );
        let mine = keys
            .iter()
            .find(|k| k.recipient == hex::encode(PublicKey::from(&w2_secret).to_bytes()))
            .expect("W2's wrapped key");
        assert_eq!(mine.role, KeyRole::Owner);
        let data_key = envelope::unwrap(&hex::decode(&mine.wrapped).unwrap(), &w2_secret).unwrap();
        let plaintext = envelope::decrypt(&std::fs::read(out.path()).unwrap(), &data_key).unwrap();
        assert_eq!(plaintext, doc.plaintext, "document {token} decrypts for W2");
    }

    // And W1 gets nothing: its session ended, a fresh login (device and backup, without the
    // custodian) is refused, the custodian no longer signs for it, its shares are compromised.
    let (status, _) = api_code(
        &old_session
            .read_document(stored[0].0, tempfile::NamedTempFile::new().unwrap().path())
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 401, "W1's old session ended");
    let by_two = |m: Vec<u8>| {
        let (d, b) = (&device1, &backup1);
        async move { sdv_mpc::sign_with(&[d, b], &m) }
    };
    let refused = sdv_storage_client::client::GatewayClient::new(&stack.gateway)
        .unwrap()
        .login_with(&hex0x(&w1), Scheme::Ed25519, by_two)
        .await
        .unwrap_err();
    assert_eq!(api_code(&refused).0, 403, "{refused}");
    let refused = cosign(&service.keys, &backup1, b"anything")
        .await
        .unwrap_err();
    assert!(refused.contains("wallet_compromised"), "{refused}");
    let (_, w1_registry) = service
        .keys_get(&format!("/v1/mpc/wallets/{}", hex0x(&w1)))
        .await;
    assert_eq!(w1_registry["state"], "compromised", "{w1_registry}");
    assert!(
        w1_registry["shares"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "compromised"),
        "{w1_registry}"
    );
    assert_eq!(done["compromised_shares"], 3, "{done}");
    let (_, w2_registry) = service
        .keys_get(&format!("/v1/mpc/wallets/{}", hex0x(&w2)))
        .await;
    assert_eq!(w2_registry["state"], "active");
    assert_eq!(w2_registry["shares"][0]["role"], Role::Backup.to_string());
    let _ = backup2;

    // And the recovery key cannot be exported: its value is unreadable, wrapping it and
    // making it extractable are refused by the token.
    let token = sdv_keys::Token::open(
        &service_token.module(),
        service_token.label(),
        &sdv_keys::Secret::new(service_token.pin()),
    )
    .unwrap();
    let key = token.recovery_key("sdv-recovery").unwrap();
    assert_eq!(key.public_key(), recovery_public);
    let protection = key.protection().unwrap();
    assert!(protection.is_locked_in(), "{protection:?}");
}

/// Waits (60 s at most) for a mail to `to` containing `text`; returns it.
async fn wait_for_mail(stack: &StorageStack, to: &str, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(mail) = stack
            .smtp
            .messages()
            .into_iter()
            .find(|m| m.contains(&format!("X-RcptTo: {to}")) && m.contains(text))
        {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {to} with {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
