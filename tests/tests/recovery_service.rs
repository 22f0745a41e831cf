//! `sdv-recovery`'s APIs refuse what they must, with a JSON `{code, error}` and nothing
//! changed: the key generation's protocol breaches, the custodian's co-signing without a valid
//! share or with a used session, malformed queries, and a wrong token PIN at start.

use std::process::Command;

use sdv_mpc::{DkgParticipant, Role};
use sdv_system_tests::{
    binary,
    hsm::SoftHsm,
    indexer::url_of,
    recovery::{cosign, create_mpc_wallet, open_dkg, post, run_dkg, RecoveryService},
    smtp::free_port,
};
use serde_json::json;

async fn service(hsm: &SoftHsm) -> RecoveryService {
    let pool = sdv_system_tests::fresh_database().await;
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    RecoveryService::start_on(&url_of(&pool).await, &nowhere, &nowhere, hsm, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn key_generation_refuses_breaches_of_its_protocol() {
    let hsm = SoftHsm::new();
    let service = service(&hsm).await;
    let dkg = |id: &str, rest: &str| format!("{}/v1/dkg/{id}{rest}", service.ceremony);

    let id = open_dkg(&service).await;
    // The custodian's messages come from the service itself.
    let (_, custodian) = DkgParticipant::start(Role::Custodian).unwrap();
    let (status, body) = post(&dkg(&id, "/round1"), &json!(custodian)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("custodian_role")),
        "{body}"
    );
    // Round 2 before round 1 is complete.
    let (status, body) = post(&dkg(&id, "/round2"), &json!({ "messages": [] })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("round1_open")),
        "{body}"
    );
    // A second, different round-1 message for the same role.
    let (_, first) = DkgParticipant::start(Role::Device).unwrap();
    let (_, second) = DkgParticipant::start(Role::Device).unwrap();
    assert_eq!(post(&dkg(&id, "/round1"), &json!(first)).await.0, 200);
    assert_eq!(
        post(&dkg(&id, "/round1"), &json!(first)).await.0,
        200,
        "the same one again is fine"
    );
    let (status, body) = post(&dkg(&id, "/round1"), &json!(second)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("round1_posted")),
        "{body}"
    );
    // Malformed bodies and paths.
    let (status, body) = post(&dkg(&id, "/round1"), &json!({ "role": "device" })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = service
        .ceremony_get(&format!("/v1/dkg/{id}/round2/nobody"))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_role")),
        "{body}"
    );
    let (status, body) = service.ceremony_get("/v1/dkg/0000").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );

    // A participant that computed another wallet fails the session.
    let other = open_dkg(&service).await;
    let (device, _) = run_dkg(&service, &other).await;
    let (elsewhere, _) = create_mpc_wallet(&service).await;
    let (status, body) = post(
        &dkg(&other, "/done"),
        &json!({ "role": "device", "wallet": elsewhere.wallet() }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("wallet_mismatch")),
        "{body}"
    );
    let (_, state) = service.ceremony_get(&format!("/v1/dkg/{other}")).await;
    assert_eq!(state["state"], "failed", "{state}");
    // The wallet itself was registered by the custodian when it finished, and signs.
    let signature = cosign(&service.keys, &device, b"still usable")
        .await
        .unwrap();
    sdv_mpc::verify(&device.account(), b"still usable", &signature).unwrap();

    // Unknown routes and queries.
    let (status, body) = service.ceremony_get("/v1/ceremonies?state=bogus").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_state")),
        "{body}"
    );
    let (status, body) = service.ceremony_get("/v1/ceremonies/not-an-account").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_account")),
        "{body}"
    );
    let (status, _) = service
        .ceremony_get(&format!("/v1/ceremonies/0x{}", "11".repeat(32)))
        .await;
    assert_eq!(status, 404);
    let (status, body) = service.keys_get("/v1/nothing-here").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_custodian_signs_only_with_a_valid_share_and_a_fresh_session() {
    let hsm = SoftHsm::new();
    let service = service(&hsm).await;
    let (device, backup) = create_mpc_wallet(&service).await;
    let account = format!("0x{}", hex::encode(device.account()));
    let sign = format!("{}/v1/mpc/wallets/{account}/sign", service.keys);
    let message = b"a payload";

    // An unknown wallet.
    let (status, body) = post(
        &format!(
            "{}/v1/mpc/wallets/0x{}/sign/commit",
            service.keys,
            "22".repeat(32)
        ),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // A commitment, then a request without any other share: refused, and the session is used.
    let commit = || async { post(&format!("{sign}/commit"), &json!({})).await.1 };
    let custodian = commit().await;
    let (nonces, mine) = sdv_mpc::commit(&device).unwrap();
    let commitments = json!([mine, custodian["commitment"]]);
    let (status, body) = post(
        &sign,
        &json!({ "session": custodian["session"], "message": hex::encode(message),
                 "commitments": commitments, "shares": [] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("share_required")),
        "{body}"
    );
    let (status, body) = post(
        &sign,
        &json!({ "session": custodian["session"], "message": hex::encode(message),
                 "commitments": commitments, "shares": [] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (410, Some("unknown_session")),
        "{body}"
    );

    // A forged share (one byte flipped): refused, no signature given.
    let custodian = commit().await;
    let commitments: Vec<sdv_mpc::Commitment> = vec![
        mine.clone(),
        serde_json::from_value(custodian["commitment"].clone()).unwrap(),
    ];
    let package = sdv_mpc::signing_package(&commitments, message).unwrap();
    let mut forged = sdv_mpc::sign(&device, nonces, &package).unwrap();
    forged.share[5] ^= 1;
    let (status, body) = post(
        &sign,
        &json!({ "session": custodian["session"], "message": hex::encode(message),
                 "commitments": commitments, "shares": [forged] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("bad_signature_share")),
        "{body}"
    );
    assert!(body.get("signature").is_none());

    // Malformed message hex, and a session of another wallet.
    let custodian = commit().await;
    let (status, body) = post(
        &sign,
        &json!({ "session": custodian["session"], "message": "zz", "commitments": [], "shares": [] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("bad_message")),
        "{body}"
    );

    // And the honest path, with either user-side share.
    for share in [&device, &backup] {
        let signature = cosign(&service.keys, share, message).await.unwrap();
        sdv_mpc::verify(&share.account(), message, &signature).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_pin_stops_the_service_at_start_without_showing_the_pin() {
    let hsm = SoftHsm::new();
    let out = Command::new(binary("sdv-recovery"))
        .arg("public-key")
        .env("SDV_PKCS11_MODULE", hsm.module())
        .env("SDV_PKCS11_TOKEN", hsm.label())
        .env("SDV_PKCS11_PIN", "not-the-pin-4711")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is wrong"), "{stderr}");
    assert!(
        !stderr.contains("not-the-pin-4711"),
        "the PIN is never shown: {stderr}"
    );

    let out = Command::new(binary("sdv-recovery"))
        .arg("public-key")
        .env("SDV_PKCS11_MODULE", hsm.module())
        .env("SDV_PKCS11_TOKEN", "no-such-token")
        .env("SDV_PKCS11_PIN", hsm.pin())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no-such-token"), "{stderr}");
}
