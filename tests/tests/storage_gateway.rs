//! The storage gateway end to end: the real node, PostgreSQL, Garage, indexer, relayers and
//! `sdv-storage`, driven over HTTP by the client library the CLI uses.

use std::time::{Duration, Instant};

use sdv_chain::GuardianRecovery;
use sdv_node_config::accounts;
use sdv_storage_client::{
    client::{GatewayClient, NoProgress, Uploader},
    protocol::{HolderRef, KeyRole, Scheme, UploadState, MB},
    Error,
};
use sdv_system_tests::{documents::*, storage::StorageStack, TestContext};
use sdv_types::{governance::Tier, recovery::GuardianKind};

/// Whether S3 has an object at `key`.
async fn object_exists(stack: &StorageStack, key: &str) -> bool {
    stack
        .s3
        .client()
        .head_object()
        .bucket(&stack.s3.bucket)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn object_info(stack: &StorageStack, sha: &[u8; 32]) -> serde_json::Value {
    reqwest::get(format!(
        "{}/v1/objects/{}",
        stack.storage_api,
        hex::encode(sha)
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_megabytes_resumed_after_a_dropped_connection_are_minted_once_verified() {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    set_tier(&ctx, &alice, Tier::Premium).await;
    let client = alice.login(&stack).await;

    // 60 MB of ciphertext (the envelope adds 28 bytes per MiB and a 32-byte header): 12 chunks.
    let doc = seal(60 * MB as usize - 4096);
    assert!(doc.ciphertext.len() as u64 > 59 * MB && doc.ciphertext.len() as u64 <= 60 * MB);
    let status = client
        .create_upload(&request(&stack, &alice, &doc, HolderRef::Account))
        .await
        .unwrap();
    assert_eq!(
        (status.chunks, status.parallel_chunks, status.tier.as_str()),
        (12, 4, "premium")
    );

    // The first five chunks arrive; the sixth is cut off mid-body by a dropped connection.
    for i in 0..5 {
        client
            .put_chunk(&status.upload_id, i, chunk(&doc, i))
            .await
            .unwrap();
    }
    let sixth = chunk(&doc, 5);
    let first_mb = sixth.slice(..MB as usize);
    let body = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(first_mb),
        Err(std::io::Error::other("connection dropped")),
    ]);
    let cut = reqwest::Client::new()
        .put(format!(
            "{}/v1/uploads/{}/chunks/5",
            stack.gateway, status.upload_id
        ))
        .bearer_auth(client.token().unwrap())
        .header("x-sdv-chunk-sha256", hex::encode(sha(&sixth)))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    assert!(
        cut.is_err() || !cut.unwrap().status().is_success(),
        "a cut-off chunk is not accepted"
    );

    // A corrupted chunk is refused at once, and nothing of it is kept.
    let mut corrupted = chunk(&doc, 6).to_vec();
    corrupted[1000] ^= 0xff;
    let refused = reqwest::Client::new()
        .put(format!(
            "{}/v1/uploads/{}/chunks/6",
            stack.gateway, status.upload_id
        ))
        .bearer_auth(client.token().unwrap())
        .header("x-sdv-chunk-sha256", hex::encode(sha(&chunk(&doc, 6))))
        .body(corrupted)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "chunk_hash_mismatch", "{body}");

    // Nothing is minted, nor asked to be, before the whole document is verified.
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM relayer_outbox")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(outbox, 0);
    let nft = documents(&ctx);
    assert_eq!(nft.token_by_hash(doc.sha256).await.unwrap(), None);

    // A new session (the client came back) asks what arrived and sends only the rest.
    let client = alice.login(&stack).await;
    let resumed = client.upload_status(&status.upload_id).await.unwrap();
    assert_eq!(resumed.received, vec![0, 1, 2, 3, 4]);
    assert_eq!(resumed.missing(), (5..12).collect::<Vec<_>>());
    let done = upload_all(&client, &resumed, &doc).await;
    assert_eq!(done.state, UploadState::Stored);

    // Minted by the attestor only now, with the ciphertext's hash; readable and decryptable.
    let token = minted(&client, &status.upload_id).await;
    let nft = documents(&ctx);
    let on_chain = nft
        .document(token)
        .await
        .unwrap()
        .expect("the document on-chain");
    assert_eq!(on_chain.sha256, doc.sha256);
    assert_eq!(on_chain.size, doc.ciphertext.len() as u64);
    let head = stack
        .s3
        .client()
        .head_object()
        .bucket(&stack.s3.bucket)
        .key(format!("docs/{}", hex::encode(doc.sha256)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(doc.ciphertext.len() as i64));

    assert_eq!(alice.read_and_decrypt(&client, token).await, doc.plaintext);
    let out = tempfile::NamedTempFile::new().unwrap();

    // Bob may not read it.
    let bob = User::new(&ctx, accounts::bob()).await;
    let bob_client = bob.login(&stack).await;
    let denied = bob_client
        .read_document(token, out.path())
        .await
        .unwrap_err();
    assert_eq!(api_code(&denied), (403, "not_a_reader"));

    // The same ciphertext uploaded again is stored once: one object, two references; the chain
    // refuses a second document with that hash, so that reference is released again and the
    // object stays for the document that uses it.
    let again = client
        .create_upload(&request(&stack, &alice, &doc, HolderRef::Account))
        .await
        .unwrap();
    let again = upload_all(&client, &again, &doc).await;
    assert_eq!(again.state, UploadState::Stored);
    assert_eq!(object_info(&stack, &doc.sha256).await["refcount"], 2);
    let keys = stack
        .s3
        .client()
        .list_objects_v2()
        .bucket(&stack.s3.bucket)
        .prefix(format!("docs/{}", hex::encode(doc.sha256)))
        .send()
        .await
        .unwrap();
    assert_eq!(keys.key_count(), Some(1));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let info = object_info(&stack, &doc.sha256).await;
        if info["refcount"] == 1 {
            assert_eq!(info["deleted"], false);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refused duplicate's reference was not released: {info}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let status = client.upload_status(&again.upload_id).await.unwrap();
    assert_eq!(status.mint.unwrap().status, "failed");
    assert!(stack
        .s3
        .client()
        .head_object()
        .bucket(&stack.s3.bucket)
        .key(format!("docs/{}", hex::encode(doc.sha256)))
        .send()
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn tier_limits_are_checked_before_any_byte_is_stored() {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    let client = alice.login(&stack).await;

    // Size: each tier at its cap is accepted, one byte over is refused (413) before storage.
    for (tier, cap) in [
        (None, 10 * MB),
        (Some(Tier::BpohVerified), 50 * MB),
        (Some(Tier::Premium), 100 * MB),
        (Some(Tier::Institutional), 500 * MB),
    ] {
        if let Some(tier) = tier {
            set_tier(&ctx, &alice, tier).await;
        }
        let mut at_cap = request(&stack, &alice, &raw(16), HolderRef::Account);
        at_cap.size = cap;
        let open = client
            .create_upload(&at_cap)
            .await
            .unwrap_or_else(|e| panic!("{tier:?} at {cap} bytes: {e}"));
        client.abort(&open.upload_id).await.unwrap();
        at_cap.size = cap + 1;
        let over = client.create_upload(&at_cap).await.unwrap_err();
        assert_eq!(
            api_code(&over),
            (413, "tier_size_limit"),
            "{tier:?} at {} bytes",
            cap + 1
        );
    }
    // 11 MB on the free tier (Bob) is refused, and nothing is opened in S3.
    let bob = User::new(&ctx, accounts::bob()).await;
    let bob_client = bob.login(&stack).await;
    let eleven = raw(11 * MB as usize);
    let refused = bob_client
        .create_upload(&request(&stack, &bob, &eleven, HolderRef::Account))
        .await
        .unwrap_err();
    assert_eq!(api_code(&refused), (413, "tier_size_limit"));
    let uploads = stack
        .s3
        .client()
        .list_multipart_uploads()
        .bucket(&stack.s3.bucket)
        .prefix(format!("docs/{}", hex::encode(eleven.sha256)))
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());

    // Documents: five on the free tier, the sixth refused; BPoH Verified holds 25.
    let mut ids = Vec::new();
    for _ in 0..5 {
        let doc = raw(1024);
        let status = bob_client
            .create_upload(&request(&stack, &bob, &doc, HolderRef::Account))
            .await
            .unwrap();
        let stored = upload_all(&bob_client, &status, &doc).await;
        ids.push(stored.upload_id);
    }
    let sixth = bob_client
        .create_upload(&request(&stack, &bob, &raw(1024), HolderRef::Account))
        .await
        .unwrap_err();
    assert_eq!(api_code(&sixth), (403, "tier_document_limit"));
    for id in &ids {
        minted(&bob_client, id).await;
    }
    let sixth = bob_client
        .create_upload(&request(&stack, &bob, &raw(1024), HolderRef::Account))
        .await
        .unwrap_err();
    assert_eq!(
        api_code(&sixth),
        (403, "tier_document_limit"),
        "still refused once the five are minted"
    );

    set_tier(&ctx, &bob, Tier::BpohVerified).await;
    let mut open = Vec::new();
    for _ in 5..25 {
        open.push(
            bob_client
                .create_upload(&request(&stack, &bob, &raw(1024), HolderRef::Account))
                .await
                .unwrap(),
        );
    }
    let twenty_sixth = bob_client
        .create_upload(&request(&stack, &bob, &raw(1024), HolderRef::Account))
        .await
        .unwrap_err();
    assert_eq!(api_code(&twenty_sixth), (403, "tier_document_limit"));
    for status in open {
        bob_client.abort(&status.upload_id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_manifest_stores_nothing_and_bad_requests_get_json_errors() {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    let client = alice.login(&stack).await;

    // Chunks that all verify, but a manifest for other bytes: rejected at completion.
    let doc = seal(7 * MB as usize);
    let other = seal(16);
    let mut lie = request(&stack, &alice, &doc, HolderRef::Account);
    lie.sha256 = hex::encode(other.sha256);
    let status = client.create_upload(&lie).await.unwrap();
    let file = write_temp(&doc);
    Uploader::new(client.clone())
        .upload(file.path(), &status, &NoProgress)
        .await
        .unwrap();
    let rejected = client.complete(&status.upload_id).await.unwrap_err();
    assert_eq!(api_code(&rejected), (422, "manifest_mismatch"));
    assert_eq!(
        client.upload_status(&status.upload_id).await.unwrap().state,
        UploadState::Rejected
    );
    let s3 = stack.s3.client();
    for sha in [doc.sha256, other.sha256] {
        let key = format!("docs/{}", hex::encode(sha));
        assert!(
            s3.head_object()
                .bucket(&stack.s3.bucket)
                .key(&key)
                .send()
                .await
                .is_err(),
            "{key} must not exist"
        );
        let parts = s3
            .list_multipart_uploads()
            .bucket(&stack.s3.bucket)
            .prefix(&key)
            .send()
            .await
            .unwrap();
        assert!(
            parts.uploads().is_empty(),
            "no multipart upload is left under {key}"
        );
    }
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM relayer_outbox")
        .fetch_one(&stack.pool)
        .await
        .unwrap();
    assert_eq!(outbox, 0, "nothing was sent to mint");

    // Bad requests: each a 4xx with a JSON error.
    let http = reqwest::Client::new();
    let token = client.token().unwrap().to_owned();
    let open = client
        .create_upload(&request(&stack, &alice, &seal(100), HolderRef::Account))
        .await
        .unwrap();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(format!("{}/v1/uploads", stack.gateway))
                .json(&serde_json::json!({})),
            401,
            "unauthorized",
        ),
        (
            http.post(format!("{}/v1/uploads", stack.gateway))
                .bearer_auth("0".repeat(64))
                .json(&serde_json::json!({})),
            401,
            "unauthorized",
        ),
        (
            http.post(format!("{}/v1/uploads", stack.gateway))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "bad_json",
        ),
        (
            http.post(format!("{}/v1/uploads", stack.gateway))
                .bearer_auth(&token)
                .json(&{
                    let mut r = request(&stack, &alice, &seal(10), HolderRef::Account);
                    r.class = "secret".into();
                    r
                }),
            400,
            "bad_class",
        ),
        (
            http.post(format!("{}/v1/uploads", stack.gateway))
                .bearer_auth(&token)
                .json(&{
                    let mut r = request(&stack, &alice, &seal(10), HolderRef::Account);
                    r.wrapped_keys.retain(|k| k.role != KeyRole::Recovery);
                    r
                }),
            400,
            "recovery_key_missing",
        ),
        (
            http.put(format!(
                "{}/v1/uploads/{}/chunks/9",
                stack.gateway, open.upload_id
            ))
            .bearer_auth(&token)
            .header("x-sdv-chunk-sha256", hex::encode([0u8; 32]))
            .body(vec![1u8; 10]),
            400,
            "bad_chunk_index",
        ),
        (
            http.put(format!(
                "{}/v1/uploads/{}/chunks/0",
                stack.gateway, open.upload_id
            ))
            .bearer_auth(&token)
            .body(vec![1u8; 10]),
            400,
            "bad_chunk_sha256",
        ),
        (
            http.put(format!(
                "{}/v1/uploads/{}/chunks/0",
                stack.gateway, open.upload_id
            ))
            .bearer_auth(&token)
            .header("x-sdv-chunk-sha256", hex::encode(sha(&[1u8; 10])))
            .body(vec![1u8; 10]),
            400,
            "bad_chunk_length",
        ),
        (
            http.post(format!(
                "{}/v1/uploads/{}/complete",
                stack.gateway, open.upload_id
            ))
            .bearer_auth(&token),
            409,
            "chunks_missing",
        ),
        (
            http.get(format!("{}/v1/uploads/nope", stack.gateway))
                .bearer_auth(&token),
            404,
            "not_found",
        ),
        (
            http.get(format!("{}/v1/documents/x", stack.gateway))
                .bearer_auth(&token),
            400,
            "bad_path",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "case {i}");
        let body: serde_json::Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("case {i}: not JSON: {e}"));
        assert_eq!(body["code"], code, "case {i}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "case {i}: {body}"
        );
    }

    // Login: a forged signature and a replayed challenge are refused; sessions end.
    let forged = GatewayClient::new(&stack.gateway)
        .unwrap()
        .login(&alice.account_hex(), Scheme::Sr25519, |m| {
            accounts::bob().sign(m).0
        })
        .await
        .unwrap_err();
    assert_eq!(api_code(&forged), (401, "unauthorized"));
    let sessions = client.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    let second = alice.login(&stack).await;
    assert_eq!(second.sessions().await.unwrap().len(), 2);
    second.end_session(&sessions[0].session_id).await.unwrap();
    let ended = client.upload_status(&open.upload_id).await.unwrap_err();
    assert_eq!(api_code(&ended), (401, "unauthorized"));

    // Alice names her guardians: Bob, who has a contact, is asked by mail to accept.
    stack
        .set_contact(
            &format!("0x{}", hex::encode(accounts::bob().public_key().0)),
            "bob@sdv.localhost",
        )
        .await;
    let guardians = [
        (accounts::bob(), GuardianKind::User),
        (accounts::charlie(), GuardianKind::HardwareKey),
        (accounts::dave(), GuardianKind::Custodian),
    ];
    let set: Vec<_> = guardians
        .iter()
        .map(|(k, kind)| (k.public_key().to_account_id(), *kind))
        .collect();
    GuardianRecovery::new(
        ctx.chain.clone(),
        ctx.deployment.address("guardian_recovery").unwrap().clone(),
    )
    .set_guardians(&alice.wallet, &set)
    .await
    .expect("naming the guardians");
    let mails = stack
        .smtp
        .wait_for_messages(1, Duration::from_secs(60))
        .await;
    let request = mails
        .iter()
        .find(|m| m.contains("bob@sdv.localhost"))
        .expect("a mail to Bob");
    // Long lines are quoted-printable with soft line breaks.
    let body = request.replace("=\r\n", "").replace("=\n", "");
    assert!(
        body.contains(&format!("sdv guardians accept {}", alice.account_hex())),
        "{request}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_killed_mid_upload_resumes_after_restart_with_nothing_half_written() {
    let ctx = TestContext::new().await;
    let mut stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    set_tier(&ctx, &alice, Tier::Institutional).await;
    let client = alice.login(&stack).await;
    let doc = seal(40 * MB as usize);
    let status = client
        .create_upload(&request(&stack, &alice, &doc, HolderRef::Account))
        .await
        .unwrap();
    for i in 0..4 {
        client
            .put_chunk(&status.upload_id, i, chunk(&doc, i))
            .await
            .unwrap();
    }
    // Killed while a chunk is on its way.
    let in_flight = {
        let client = client.clone();
        let id = status.upload_id.clone();
        let bytes = chunk(&doc, 4);
        tokio::spawn(async move { client.put_chunk(&id, 4, bytes).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    stack.kill_storage();
    let _ = in_flight.await;
    let key = format!("docs/{}", hex::encode(doc.sha256));
    assert!(
        stack
            .s3
            .client()
            .head_object()
            .bucket(&stack.s3.bucket)
            .key(&key)
            .send()
            .await
            .is_err(),
        "no partial object under docs/"
    );

    stack.start_storage().await;
    let status = client
        .upload_status(&status.upload_id)
        .await
        .expect("the session survives a restart");
    assert!(
        status.received.starts_with(&[0, 1, 2, 3]),
        "{:?}",
        status.received
    );
    let done = upload_all(&client, &status, &doc).await;
    assert_eq!(done.state, UploadState::Stored);
    let token = minted(&client, &done.upload_id).await;
    assert_eq!(alice.read_and_decrypt(&client, token).await, doc.plaintext);
    let spooled: Vec<_> = std::fs::read_dir(stack.spool()).unwrap().collect();
    assert!(
        spooled.is_empty(),
        "the spool is emptied once the object is stored"
    );
}

fn civil_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    format!(
        "{:04}-{month:02}-{day:02}",
        yoe + era * 400 + i64::from(month <= 2)
    )
}

const DAY_SECS: u64 = 24 * 60 * 60;

#[tokio::test(flavor = "multi_thread")]
async fn retention_notice_then_deletion_with_the_clock_moved_and_an_extension_keeps_a_document() {
    let mut ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    let client = alice.login(&stack).await;
    stack
        .set_contact(&alice.account_hex(), "alice@sdv.localhost")
        .await;

    let lease = seal(2048);
    let memo = seal(2048);
    let w9 = seal(2048);
    let lease_id = store(
        &client,
        &stack,
        &alice,
        &lease,
        "lease.pdf",
        "other",
        "minimum",
    )
    .await;
    let memo_id = store(
        &client, &stack, &alice, &memo, "memo.txt", "other", "minimum",
    )
    .await;
    // A US tax document filed for 1 year is kept 7, and Alice is told.
    let w9_id = store(
        &client,
        &stack,
        &alice,
        &w9,
        "w9-2026.pdf",
        "us_tax",
        "minimum",
    )
    .await;
    let upgraded = indexed(
        &stack,
        w9_id,
        |d| d["retention"] == "regulatory_us_tax",
        "retention raised to 7 years",
    )
    .await;
    let uploaded_at = indexed(&stack, lease_id, |_| true, "indexed").await["expiry_ms"]
        .as_i64()
        .unwrap()
        - 365 * 86_400_000;
    // Minted a few blocks after the lease: 7 years from its own upload, not 1.
    let kept = upgraded["expiry_ms"].as_i64().unwrap() - uploaded_at;
    assert!(
        (7 * 365 * 86_400_000..7 * 365 * 86_400_000 + 120_000).contains(&kept),
        "kept {kept} ms"
    );
    let mails = stack
        .smtp
        .wait_for_messages(1, Duration::from_secs(60))
        .await;
    assert!(
        mails.iter().any(|m| m.contains("w9-2026.pdf")
            && m.contains("Regulatory, US tax (7 years)")
            && m.contains("Minimum (1 year)")),
        "the upgrade notice: {mails:?}"
    );

    // 20 days before the 1-year expiry: the notice is recorded on-chain and mailed.
    ctx.move_clock_ahead(345 * DAY_SECS).await;
    let noticed = indexed(
        &stack,
        lease_id,
        |d| d["status"] == "deletion_scheduled",
        "the notice on-chain",
    )
    .await;
    indexed(
        &stack,
        memo_id,
        |d| d["status"] == "deletion_scheduled",
        "the notice on-chain",
    )
    .await;
    let due = noticed["deletion_due_ms"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let notice = loop {
        if let Some(m) = stack
            .smtp
            .messages()
            .into_iter()
            .find(|m| m.contains("lease.pdf"))
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no notice mail for lease.pdf: {:?}",
            stack.smtp.messages()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    for fact in [
        "Document: lease.pdf".to_owned(),
        "Uploaded: ".to_owned(),
        "Retention policy: Minimum (1 year)".to_owned(),
        format!("Scheduled deletion: {}", civil_date(due)),
    ] {
        assert!(
            notice.contains(&fact),
            "the notice names {fact:?}: {notice}"
        );
    }

    // Alice extends the memo during the notice: the deletion is cancelled.
    let nft = documents(&ctx);
    nft.extend_retention(
        &alice.wallet,
        memo_id,
        sdv_types::document::RetentionOption::Standard,
    )
    .await
    .expect("extending the memo's retention");
    indexed(
        &stack,
        memo_id,
        |d| d["status"] == "active",
        "the extension",
    )
    .await;

    // Past the deletion date: the lease is deleted from S3 and on-chain; the memo and the W-9
    // stay, with their objects.
    ctx.move_clock_ahead(345 * DAY_SECS + 31 * DAY_SECS).await;
    indexed(
        &stack,
        lease_id,
        |d| d["status"] == "deleted",
        "the deletion",
    )
    .await;
    assert!(
        !object_exists(&stack, &format!("docs/{}", hex::encode(lease.sha256))).await,
        "the lease's object is deleted"
    );
    assert!(
        object_exists(&stack, &format!("docs/{}", hex::encode(memo.sha256))).await,
        "the extended memo keeps its object"
    );
    assert!(
        object_exists(&stack, &format!("docs/{}", hex::encode(w9.sha256))).await,
        "the W-9 keeps its object"
    );
    let nft = documents(&ctx);
    assert_eq!(
        nft.document(memo_id).await.unwrap().unwrap().deleted_at,
        None
    );
    let out = tempfile::NamedTempFile::new().unwrap();
    let gone = client.read_document(lease_id, out.path()).await;
    assert!(
        matches!(
            &gone,
            Err(Error::Api { status: 410, .. }) | Err(Error::Api { status: 401, .. })
        ),
        "{gone:?}"
    );
    let client = alice.login(&stack).await;
    let gone = client
        .read_document(lease_id, out.path())
        .await
        .unwrap_err();
    assert_eq!(api_code(&gone), (410, "document_deleted"));
    client
        .read_document(memo_id, out.path())
        .await
        .expect("the memo is still readable");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vault_upload_waits_in_staging_until_the_vault_executes_and_is_removed_when_vetoed() {
    use sdv_chain::TeamVault;
    use sdv_types::{
        document::{DocumentClass, RetentionOption},
        vault::Operation,
    };
    let mut ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let alice = User::new(&ctx, accounts::alice()).await;
    let client = alice.login(&stack).await;
    let team = |ctx: &TestContext| {
        TeamVault::new(
            ctx.chain.clone(),
            ctx.deployment.address("team_vault").unwrap().clone(),
        )
    };
    let admins: Vec<_> = [accounts::alice(), accounts::bob(), accounts::charlie()]
        .iter()
        .map(|k| k.public_key().to_account_id())
        .collect();
    let vault = team(&ctx)
        .create_vault(&accounts::alice(), &admins)
        .await
        .unwrap();

    // Dave is no admin of it: his vault upload is refused.
    let dave = User::new(&ctx, accounts::dave()).await;
    let refused = dave
        .login(&stack)
        .await
        .create_upload(&request(&stack, &dave, &seal(10), HolderRef::Vault(vault)))
        .await
        .unwrap_err();
    assert_eq!(api_code(&refused), (403, "not_vault_admin"));

    let kept = seal(4096);
    let vetoed = seal(4096);
    for doc in [&kept, &vetoed] {
        let status = client
            .create_upload(&request(&stack, &alice, doc, HolderRef::Vault(vault)))
            .await
            .unwrap();
        let done = upload_all(&client, &status, doc).await;
        assert_eq!(done.state, UploadState::Staged);
        let deadline = Instant::now() + Duration::from_secs(90);
        while documents(&ctx)
            .staged_upload(doc.sha256)
            .await
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < deadline, "not staged on-chain within 90 s");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(
            object_exists(
                &stack,
                &format!("vaults/{vault}/staging/{}", hex::encode(doc.sha256))
            )
            .await,
            "staged in the vault's area"
        );
        assert!(
            !object_exists(&stack, &format!("docs/{}", hex::encode(doc.sha256))).await,
            "never under docs/ before the vault decides"
        );
    }

    // Alice proposes both, Bob approves both (2 of 3), Charlie vetoes one in the timelock.
    let operation = |sha256| Operation::Upload {
        sha256,
        class: DocumentClass::Other,
        retention: RetentionOption::Standard,
        arweave: false,
    };
    let kept_op = team(&ctx)
        .propose(&accounts::alice(), vault, &operation(kept.sha256))
        .await
        .unwrap();
    let vetoed_op = team(&ctx)
        .propose(&accounts::alice(), vault, &operation(vetoed.sha256))
        .await
        .unwrap();
    for id in [kept_op, vetoed_op] {
        team(&ctx).vote(&accounts::bob(), id, true).await.unwrap();
    }
    team(&ctx)
        .veto(&accounts::charlie(), vetoed_op, "not this one")
        .await
        .unwrap();
    ctx.move_clock_ahead(73 * 3600).await;
    team(&ctx)
        .execute(&accounts::ferdie(), kept_op)
        .await
        .expect("executing the kept upload");

    let kept_doc = format!("docs/{}", hex::encode(kept.sha256));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let moved = object_exists(&stack, &kept_doc).await
            && !object_exists(
                &stack,
                &format!("vaults/{vault}/staging/{}", hex::encode(kept.sha256)),
            )
            .await;
        let removed = !object_exists(
            &stack,
            &format!("vaults/{vault}/staging/{}", hex::encode(vetoed.sha256)),
        )
        .await
            && documents(&ctx)
                .staged_upload(vetoed.sha256)
                .await
                .unwrap()
                .is_none();
        if moved && removed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moved {moved}, removed {removed} after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !object_exists(&stack, &format!("docs/{}", hex::encode(vetoed.sha256))).await,
        "the vetoed upload never reaches docs/"
    );
    assert_eq!(object_info(&stack, &kept.sha256).await["refcount"], 1);
    let token = documents(&ctx)
        .token_by_hash(kept.sha256)
        .await
        .unwrap()
        .expect("the vault's document");
    // An admin reads and decrypts it.
    let client = alice.login(&stack).await;
    assert_eq!(alice.read_and_decrypt(&client, token).await, kept.plaintext);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_session_of_a_wallet_ends_when_a_recovery_revokes_it() {
    let mut ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let dave = User::new(&ctx, accounts::dave()).await;
    let first = dave.login(&stack).await;
    let second = dave.login(&stack).await;
    assert_eq!(first.sessions().await.unwrap().len(), 2);

    let recovery = |ctx: &TestContext| {
        GuardianRecovery::new(
            ctx.chain.clone(),
            ctx.deployment.address("guardian_recovery").unwrap().clone(),
        )
    };
    let guardians = [
        (accounts::alice(), GuardianKind::User),
        (accounts::bob(), GuardianKind::HardwareKey),
        (accounts::charlie(), GuardianKind::Custodian),
    ];
    let set: Vec<_> = guardians
        .iter()
        .map(|(k, kind)| (k.public_key().to_account_id(), *kind))
        .collect();
    let user = dave.wallet.public_key().to_account_id();
    recovery(&ctx)
        .set_guardians(&dave.wallet, &set)
        .await
        .unwrap();
    for (guardian, _) in &guardians {
        recovery(&ctx).accept(guardian, &user).await.unwrap();
    }
    let new_wallet =
        subxt_signer::sr25519::Keypair::from_uri(&"//DaveRecovered".parse().unwrap()).unwrap();
    let id = recovery(&ctx)
        .initiate(
            &accounts::bob(),
            &user,
            &new_wallet.public_key().to_account_id(),
        )
        .await
        .unwrap();
    recovery(&ctx)
        .attest(&accounts::charlie(), id)
        .await
        .unwrap();
    // The 24-hour timelock passes; anyone finalizes; the old wallet is revoked.
    ctx.move_clock_ahead(25 * 3600).await;
    recovery(&ctx)
        .finalize(&accounts::ferdie(), id)
        .await
        .expect("finalizing the recovery");

    let deadline = Instant::now() + Duration::from_secs(60);
    for session in [&first, &second] {
        loop {
            match session.sessions().await {
                Err(e) if api_code(&e) == (401, "unauthorized") => break,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "a session of the revoked wallet is still open"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let refused = GatewayClient::new(&stack.gateway)
        .unwrap()
        .login(&dave.account_hex(), Scheme::Sr25519, |m| {
            dave.wallet.sign(m).0
        })
        .await
        .unwrap_err();
    assert_eq!(api_code(&refused), (403, "wallet_revoked"));
}
