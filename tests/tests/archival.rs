//! Archival end to end: documents uploaded through the gateway of a real storage stack (node,
//! PostgreSQL, Garage, indexer, relayers, `sdv-storage`), copied by `sdv-archival` to a real
//! arlocal and a real IPFS node, and their copies recorded on-chain.

use std::time::{Duration, Instant};

use sdv_arweave::{ans104::Bundle, b64url_decode, b64url_encode, client::Gateway};
use sdv_node_config::accounts;
use sdv_storage_client::{
    client::GatewayClient,
    protocol::{HolderRef, OBJECT_SOURCE_HEADER},
};
use sdv_system_tests::{
    archival::{ArchivalOptions, ArchivalProcess},
    arlocal::{arbundles_verify_bundle, Arlocal},
    documents::*,
    garage::GarageProcess,
    ipfs::IpfsNode,
    storage::StorageStack,
    TestContext,
};
use sdv_types::{
    document::{ArweaveCopy, Error as DocumentError},
    governance::Tier,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Uploads `count` documents of `size` bytes for `user` (permanent when `permanent`, else
/// `retention` with an Arweave copy asked for) and returns their tokens with the documents.
async fn upload_archived(
    stack: &StorageStack,
    user: &User,
    sizes: &[usize],
    retention: &str,
) -> Vec<(u64, Sealed)> {
    let client = user.login(stack).await;
    let uploads = sizes.iter().map(|size| {
        let client = client.clone();
        async move {
            let doc = seal(*size);
            let mut create = request(stack, user, &doc, HolderRef::Account);
            create.retention = retention.into();
            create.arweave = true;
            let token = submit(&client, &create, &doc).await;
            (token, doc)
        }
    });
    futures::future::join_all(uploads).await
}

/// Waits until DocumentNFT shows an Arweave copy of `token` for which `until` holds.
async fn arweave_on_chain(
    ctx: &TestContext,
    token: u64,
    until: impl Fn(&ArweaveCopy) -> bool,
) -> ArweaveCopy {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let document = documents(ctx).document(token).await.unwrap().unwrap();
        if let Some(copy) = document.replicas.arweave {
            if until(&copy) {
                return copy;
            }
        }
        assert!(
            Instant::now() < deadline,
            "document {token}: the Arweave copy on-chain is {:?}",
            document.replicas.arweave
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until DocumentNFT shows an IPFS CID for `token` and returns it (binary form).
async fn cid_on_chain(ctx: &TestContext, token: u64) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let document = documents(ctx).document(token).await.unwrap().unwrap();
        if let Some(cid) = document.replicas.ipfs {
            return cid;
        }
        assert!(
            Instant::now() < deadline,
            "document {token}: no CID on-chain in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits (120 s at most) for a mail containing `text`.
async fn mail_containing(stack: &StorageStack, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Quoted-printable soft line breaks undone, so long lines compare whole.
        let mails = stack
            .smtp
            .messages()
            .into_iter()
            .map(|m| m.replace("=\r\n", ""));
        if let Some(mail) = mails.into_iter().find(|m| m.contains(text)) {
            return mail;
        }
        assert!(Instant::now() < deadline, "no mail with {text:?} in 120 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn id32(text: &Value) -> [u8; 32] {
    let bytes = b64url_decode(text.as_str().expect("an id")).expect("base64url");
    <[u8; 32]>::try_from(bytes.as_slice()).expect("32 bytes")
}

async fn premium_user(ctx: &TestContext, tier: Tier) -> User {
    let user = User::new(ctx, accounts::alice()).await;
    set_tier(ctx, &user, tier).await;
    user
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_small_permanent_documents_go_to_arweave_in_one_bundle_whose_items_verify() {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let arlocal = Arlocal::start().await;
    let ipfs = IpfsNode::start().await;
    let user = premium_user(&ctx, Tier::Premium).await;

    let sizes: Vec<usize> = (0..20).map(|i| 1000 + i * 5000).collect();
    let stored = upload_archived(&stack, &user, &sizes, "permanent").await;
    for (token, doc) in &stored {
        assert!(
            (doc.ciphertext.len() as u64) < 256 * 1024,
            "each is under the bundle threshold"
        );
        indexed(
            &stack,
            *token,
            |d| d["arweave"]["requested"] == true,
            "Arweave requested",
        )
        .await;
    }

    // Every document is queued before the first bundle (20 s after the service starts).
    let mut options = ArchivalOptions::new(&arlocal.url(), &ipfs.api_url());
    options.bundle_interval_secs = 20;
    let archival = ArchivalProcess::start(&stack, &arlocal, options).await;
    let posted = archival
        .arweave_until("/v1/arweave/documents", 120, |v| {
            v["items"].as_array().is_some_and(|items| {
                items.len() == 20 && items.iter().all(|i| i["state"] == "posted")
            })
        })
        .await;
    let items = posted["items"].as_array().unwrap();
    let tx_id = id32(&items[0]["tx_id"]);
    assert!(
        items
            .iter()
            .all(|i| i["mode"] == "bundle" && id32(&i["tx_id"]) == tx_id),
        "all 20 in one bundle transaction: {posted}"
    );
    let bundle = archival
        .arweave(&format!("/v1/arweave/bundles/{}", b64url_encode(&tx_id)))
        .await;
    assert_eq!(bundle["items"], 20, "{bundle}");

    // The bundle as the gateway serves it: 20 items, each signed by the service's wallet, each
    // id the sha256 of its signature, each the ciphertext of one of the documents.
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let data = gateway
        .data(&tx_id)
        .await
        .expect("the bundle's data by tx id");
    let parsed = Bundle::parse(&data).expect("an ANS-104 bundle");
    assert_eq!(parsed.len(), 20);
    // arbundles, the JavaScript implementation, agrees.
    let (verified, ids) = arbundles_verify_bundle(&data);
    assert!(verified, "arbundles verifies the bundle");
    assert_eq!(
        ids,
        parsed
            .iter()
            .map(|i| b64url_encode(&i.id()))
            .collect::<Vec<_>>()
    );
    for item in &parsed {
        item.verify().expect("each item's signature verifies");
        assert_eq!(
            item.id(),
            <[u8; 32]>::from(Sha256::digest(item.signature())),
            "id = sha256(signature)"
        );
        assert_eq!(
            sdv_arweave::wallet::address_of(item.owner()),
            archival.wallet_address,
            "signed by the archival wallet"
        );
        let (token, _) = stored
            .iter()
            .find(|(_, doc)| doc.ciphertext == *item.data())
            .expect("each item is one document's ciphertext");
        let row = items
            .iter()
            .find(|i| i["token_id"] == *token)
            .expect("the item's document");
        assert_eq!(id32(&row["item_id"]), item.id());
    }
    // A forged item does not verify: one flipped byte of the data.
    let mut forged = parsed[0].to_bytes();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(sdv_arweave::ans104::DataItem::parse(&forged)
        .and_then(|i| i.verify())
        .is_err());

    // On-chain: the bundle's tx id and each document's item id, then permanence once mined.
    for (token, _) in &stored {
        let row = items.iter().find(|i| i["token_id"] == *token).unwrap();
        let copy = arweave_on_chain(&ctx, *token, |_| true).await;
        assert_eq!(copy.tx_id, tx_id);
        assert_eq!(copy.item_id, Some(id32(&row["item_id"])));
        assert!(!copy.permanent, "not permanent before it is mined");
    }
    // Ten confirmations: arlocal counts the blocks above the one that holds the transaction.
    arlocal.mine(11).await;
    for (token, _) in &stored {
        arweave_on_chain(&ctx, *token, |c| c.permanent).await;
    }
    let confirmed = archival
        .arweave(&format!("/v1/arweave/bundles/{}", b64url_encode(&tx_id)))
        .await;
    assert_eq!(confirmed["state"], "confirmed", "{confirmed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_document_is_its_own_transaction_and_an_arweave_copy_outlives_its_retention() {
    let mut ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let arlocal = Arlocal::start().await;
    let ipfs = IpfsNode::start().await;
    let user = premium_user(&ctx, Tier::Institutional).await;
    stack
        .set_contact(&user.account_hex(), "alice@sdv.localhost")
        .await;
    let archival = ArchivalProcess::start(
        &stack,
        &arlocal,
        ArchivalOptions::new(&arlocal.url(), &ipfs.api_url()),
    )
    .await;

    // 1 MB, permanent: its own transaction, right away (no bundle interval to wait for).
    let permanent = upload_archived(&stack, &user, &[1024 * 1024], "permanent").await;
    // 300 KB kept 1 year, with an Arweave copy asked for.
    let yearly = upload_archived(&stack, &user, &[300 * 1024], "minimum").await;
    // 50 KB kept 1 year, no Arweave copy: pinned on IPFS only, then deleted.
    let plain = seal(50_000);
    let plain_token = store(
        &user.login(&stack).await,
        &stack,
        &user,
        &plain,
        "lease.pdf",
        "other",
        "minimum",
    )
    .await;
    let plain_cid = sdv_ipfs::cid_from_bytes(&cid_on_chain(&ctx, plain_token).await);
    assert!(ipfs.client().pin_ls(&plain_cid).await.unwrap());
    for (token, doc) in permanent.iter().chain(&yearly) {
        let row = archival
            .arweave_until(&format!("/v1/arweave/documents/{token}"), 120, |v| {
                v["state"] == "posted"
            })
            .await;
        assert_eq!(row["mode"], "transaction", "{row}");
        assert!(row["item_id"].is_null());
        let tx_id = id32(&row["tx_id"]);
        let copy = arweave_on_chain(&ctx, *token, |_| true).await;
        assert_eq!((copy.tx_id, copy.item_id), (tx_id, None));
        let data = Gateway::new(&arlocal.url())
            .unwrap()
            .data(&tx_id)
            .await
            .unwrap();
        assert_eq!(sha(&data), doc.sha256, "read back by tx id, same sha256");
    }
    // Ten confirmations: arlocal counts the blocks above the one that holds the transaction.
    arlocal.mine(11).await;
    for (token, _) in permanent.iter().chain(&yearly) {
        arweave_on_chain(&ctx, *token, |c| c.permanent).await;
    }

    // The owner cannot have it deleted.
    let (yearly_token, yearly_doc) = &yearly[0];
    let refused = documents(&ctx)
        .request_deletion(&user.wallet, *yearly_token)
        .await
        .expect_err("a document with an Arweave copy cannot be deleted");
    assert_eq!(
        refused.document_error(),
        Some(DocumentError::ArweaveCopy),
        "{refused}"
    );

    // 345 days later the notices are due (the plain document's is recorded on-chain); 31 more
    // days and the retention of both has run out. The scheduler deletes the plain document
    // (S3, its IPFS pin, the token's copies) but leaves the Arweave one (S3 copy, Arweave
    // copy, token) and tells the owner why.
    ctx.move_clock_ahead(345 * 24 * 60 * 60).await;
    indexed(
        &stack,
        plain_token,
        |d| d["status"] == "deletion_scheduled",
        "the notice",
    )
    .await;
    ctx.move_clock_ahead(376 * 24 * 60 * 60).await;
    indexed(
        &stack,
        plain_token,
        |d| d["status"] == "deleted",
        "the deletion",
    )
    .await;
    let unpinned = archival
        .ipfs_until(&format!("/v1/ipfs/pins/{plain_token}"), 60, |v| {
            v["state"] == "unpinned"
        })
        .await;
    assert_eq!(unpinned["cid"], plain_cid.as_str());
    assert!(
        !ipfs.client().pin_ls(&plain_cid).await.unwrap(),
        "the deleted document is unpinned"
    );
    let mail = mail_containing(&stack, "is kept: its Arweave copy is permanent").await;
    assert!(
        mail.contains("Arweave copies are permanent and cannot be deleted"),
        "{mail}"
    );
    assert!(
        mail.contains("Retention policy: Minimum (1 year)"),
        "{mail}"
    );
    let on_chain = documents(&ctx)
        .document(*yearly_token)
        .await
        .unwrap()
        .unwrap();
    assert!(on_chain.deleted_at.is_none() && on_chain.deletion.is_none());
    assert!(on_chain.replicas.s3, "the S3 copy stays");
    let client = user.login(&stack).await;
    assert_eq!(
        user.read_and_decrypt(&client, *yearly_token).await,
        yearly_doc.plaintext
    );
    let tx_id = on_chain.replicas.arweave.unwrap().tx_id;
    let data = Gateway::new(&arlocal.url())
        .unwrap()
        .data(&tx_id)
        .await
        .unwrap();
    assert_eq!(sha(&data), yearly_doc.sha256);
}

/// GETs document `token` from the storage service as `client`'s session; the answer's source
/// header and body.
async fn read_raw(
    stack: &StorageStack,
    client: &GatewayClient,
    token: u64,
) -> (u16, String, bytes::Bytes) {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/documents/{token}", stack.storage_api))
        .bearer_auth(client.token().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let source = response
        .headers()
        .get(OBJECT_SOURCE_HEADER)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, source, response.bytes().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_s3_down_documents_are_read_from_ipfs_then_arweave_and_lost_pins_come_back() {
    let ctx = TestContext::new().await;
    let mut garage = GarageProcess::start();
    let mut ipfs = IpfsNode::start().await;
    let arlocal = Arlocal::start().await;
    let (ipfs_url, arweave_url) = (ipfs.api_url(), arlocal.url());
    let stack = StorageStack::start_on(
        &ctx,
        garage.config(),
        &[
            ("SDV_IPFS_API_URL", ipfs_url.as_str()),
            ("SDV_ARWEAVE_URL", arweave_url.as_str()),
            ("SDV_FALLBACK_TIMEOUT_SECS", "10"),
        ],
    )
    .await;
    let owner = premium_user(&ctx, Tier::Institutional).await;
    let free = User::new(&ctx, accounts::bob()).await;
    let mut options = ArchivalOptions::new(&arweave_url, &ipfs_url);
    options.verify_interval_secs = 3;
    options.bundle_interval_secs = 5;
    let archival = ArchivalProcess::start(&stack, &arlocal, options).await;

    // 3 MB (its own Arweave transaction) and 20 KB (an item of a bundle), both pinned on IPFS.
    let stored = upload_archived(&stack, &owner, &[3 * 1024 * 1024, 20_000], "standard").await;
    let (token, doc) = (stored[0].0, &stored[0].1);
    let free_doc = seal(10_000);
    let free_token = submit(
        &free.login(&stack).await,
        &request(&stack, &free, &free_doc, HolderRef::Account),
        &free_doc,
    )
    .await;

    // A Free owner cannot ask for an Arweave copy: refused before a byte is stored.
    let mut permanent = request(&stack, &free, &free_doc, HolderRef::Account);
    permanent.retention = "permanent".into();
    let refused = free
        .login(&stack)
        .await
        .create_upload(&permanent)
        .await
        .expect_err("no Arweave copies on the Free tier");
    assert_eq!(api_code(&refused), (403, "arweave_not_allowed"));

    // The CID on-chain is the one the fixed parameters give for the ciphertext on any node.
    let binary = cid_on_chain(&ctx, token).await;
    let cid = sdv_ipfs::cid_from_bytes(&binary);
    let client = ipfs.client();
    assert_eq!(
        client
            .add_only_hash(doc.ciphertext.clone(), None)
            .await
            .unwrap()
            .cid,
        cid,
        "the CID is reproducible"
    );
    assert!(client.pin_ls(&cid).await.unwrap());
    let pin = archival.ipfs(&format!("/v1/ipfs/pins/{token}")).await;
    assert_eq!(
        (pin["state"].as_str(), pin["cid"].as_str()),
        (Some("pinned"), Some(cid.as_str()))
    );
    // A Free document is not replicated to IPFS.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let free_pin = reqwest::get(format!("{}/v1/ipfs/pins/{free_token}", archival.ipfs_api))
        .await
        .unwrap();
    assert_eq!(free_pin.status(), 404);
    assert!(documents(&ctx)
        .document(free_token)
        .await
        .unwrap()
        .unwrap()
        .replicas
        .ipfs
        .is_none());

    // Someone unpins it and the node collects its blocks: the verify cycle notices and pins
    // it again from S3.
    assert!(client.pin_rm(&cid).await.unwrap());
    client.repo_gc().await.unwrap();
    assert!(!client.pin_ls(&cid).await.unwrap());
    let repinned = archival
        .ipfs_until(&format!("/v1/ipfs/pins/{token}"), 60, |v| {
            v["repins"].as_i64() >= Some(1)
        })
        .await;
    assert_eq!(repinned["state"], "pinned", "{repinned}");
    assert!(client.pin_ls(&cid).await.unwrap(), "pinned again");

    // Both Arweave copies are on-chain and mined.
    for (token, _) in &stored {
        cid_on_chain(&ctx, *token).await;
        arweave_on_chain(&ctx, *token, |_| true).await;
    }
    arlocal.mine(1).await;

    // S3 goes down: the owner still reads the documents, from IPFS, their sha256 checked.
    garage.stop();
    let reader = owner.login(&stack).await;
    for (token, doc) in &stored {
        let (status, source, body) = read_raw(&stack, &reader, *token).await;
        assert_eq!((status, source.as_str()), (200, "ipfs"));
        assert_eq!(sha(&body), doc.sha256);
    }
    assert_eq!(owner.read_and_decrypt(&reader, token).await, doc.plaintext);
    // The Free document has no secondary copy: a clear 503.
    let bob = free.login(&stack).await;
    let (status, _, body) = read_raw(&stack, &bob, free_token).await;
    assert_eq!(status, 503);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("no CID recorded"),
        "{body}"
    );

    // IPFS goes down too: the Arweave copies answer, the transaction's data and the bundle's
    // item, each checked against the sha256 on-chain.
    ipfs.stop().await;
    for (token, doc) in &stored {
        let (status, source, body) = read_raw(&stack, &reader, *token).await;
        assert_eq!(
            (status, source.as_str()),
            (200, "arweave"),
            "document {token}"
        );
        assert_eq!(sha(&body), doc.sha256);
        assert_eq!(owner.read_and_decrypt(&reader, *token).await, doc.plaintext);
    }
    garage.restart();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_arlocal_and_ipfs_down_the_work_waits_visibly_and_completes_when_they_return() {
    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let mut arlocal = Arlocal::start().await;
    let mut ipfs = IpfsNode::start().await;
    let user = premium_user(&ctx, Tier::Premium).await;
    let mut options = ArchivalOptions::new(&arlocal.url(), &ipfs.api_url());
    options.bundle_interval_secs = 5;
    let mut archival = ArchivalProcess::start(&stack, &arlocal, options).await;
    arlocal.stop().await;
    ipfs.stop().await;

    let stored = upload_archived(&stack, &user, &[300 * 1024, 20_000], "permanent").await;
    for (token, _) in &stored {
        let row = archival
            .arweave_until(&format!("/v1/arweave/documents/{token}"), 120, |v| {
                v["attempts"].as_i64() >= Some(2)
            })
            .await;
        assert_eq!(row["state"], "queued", "{row}");
        assert!(
            row["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{row}"
        );
        let pin = archival
            .ipfs_until(&format!("/v1/ipfs/pins/{token}"), 120, |v| {
                v["attempts"].as_i64() >= Some(2)
            })
            .await;
        assert_eq!(pin["state"], "queued", "{pin}");
        assert!(
            pin["last_error"].as_str().is_some_and(|e| !e.is_empty()),
            "{pin}"
        );
    }
    let health = archival.arweave("/health").await;
    assert_eq!(health["gateway"]["reachable"], false, "{health}");
    let health = archival.ipfs("/health").await;
    assert_eq!(health["node"]["reachable"], false, "{health}");

    // The service restarts meanwhile: nothing is lost.
    archival.kill_9();
    archival.restart().await;
    arlocal.restart().await;
    ipfs.restart().await;
    for (token, doc) in &stored {
        let copy = arweave_on_chain(&ctx, *token, |_| true).await;
        let data = Gateway::new(&arlocal.url())
            .unwrap()
            .data(&copy.tx_id)
            .await
            .unwrap();
        match copy.item_id {
            None => assert_eq!(sha(&data), doc.sha256),
            Some(item) => {
                let items = Bundle::parse(&data).unwrap();
                let item = items.iter().find(|i| i.id() == item).unwrap();
                item.verify().unwrap();
                assert_eq!(sha(item.data()), doc.sha256);
            }
        }
        let cid = sdv_ipfs::cid_from_bytes(&cid_on_chain(&ctx, *token).await);
        let data = ipfs
            .client()
            .cat(&cid, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(sha(&data), doc.sha256);
    }
}
