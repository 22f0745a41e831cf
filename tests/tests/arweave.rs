//! Arweave through `sdv-arweave` against a test's own arlocal: a large format-2 transaction
//! goes from pending to confirmed and reads back byte for byte; one beyond what gateways take
//! inline is uploaded as headers and chunks and reads back too; an ANS-104 bundle reads back
//! and its items verify (and are served by their own ids); forged items fail verification;
//! an unfunded wallet is refused. The harness mines; the client never does.

use sdv_arweave::ans104::{Bundle, DataItem};
use sdv_arweave::client::{Gateway, TxStatus, MAX_INLINE_DATA};
use sdv_arweave::tx::Transaction;
use sdv_arweave::wallet::Wallet;
use sdv_arweave::{b64url_encode, BundleError, Error, Tag};
use sdv_system_tests::arlocal::{arbundles_verify_bundle, arbundles_verify_item, Arlocal};

/// Enough winston for every test here.
const FUNDS: u128 = 1_000_000_000_000_000;

/// Deterministic, non-repeating-looking bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + usize::from(seed)) % 251) as u8)
        .collect()
}

/// A new wallet, funded on `arlocal`.
async fn funded_wallet(arlocal: &Arlocal) -> Wallet {
    let wallet = Wallet::generate().expect("an RSA-4096 wallet");
    arlocal.mint(&wallet.address(), FUNDS).await;
    arlocal.mine(1).await;
    wallet
}

/// Signs `data` with `tags` at the gateway's anchor and price.
async fn signed(gateway: &Gateway, wallet: &Wallet, data: Vec<u8>, tags: Vec<Tag>) -> Transaction {
    let anchor = gateway.tx_anchor().await.expect("an anchor");
    let reward = gateway.price(data.len() as u64).await.expect("a price");
    Transaction::sign(wallet, data, tags, anchor, reward).expect("a signed transaction")
}

#[tokio::test(flavor = "multi_thread")]
async fn large_transaction_is_pending_then_confirmed_and_reads_back_identical() {
    // Given a funded wallet on a fresh arlocal.
    let arlocal = Arlocal::start().await;
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let wallet = funded_wallet(&arlocal).await;
    let before = gateway.balance(&wallet.address()).await.unwrap();
    assert_eq!(before, FUNDS);

    // When a transaction of a little more than 1 MiB (five chunks, the last two rebalanced)
    // is signed and posted inline.
    let data = pattern(1024 * 1024 + 300, 1);
    let tags = vec![
        Tag::new("Content-Type", "application/octet-stream"),
        Tag::new("App-Name", "SDV"),
    ];
    let tx = signed(&gateway, &wallet, data.clone(), tags).await;
    tx.verify().unwrap();
    assert_eq!(gateway.status(&tx.id).await.unwrap(), TxStatus::NotFound);
    gateway
        .post(&tx)
        .await
        .expect("arlocal accepts the transaction");

    // Then it is pending until a block is mined, and confirmed after.
    assert_eq!(gateway.status(&tx.id).await.unwrap(), TxStatus::Pending);
    arlocal.mine(1).await;
    let TxStatus::Confirmed { block_height, .. } = gateway.status(&tx.id).await.unwrap() else {
        panic!("not confirmed after a block");
    };
    let info = gateway.info().await.unwrap();
    assert!(
        block_height <= info.height,
        "block {block_height} beyond the tip {}",
        info.height
    );
    arlocal.mine(2).await;
    let TxStatus::Confirmed { confirmations, .. } = gateway.status(&tx.id).await.unwrap() else {
        panic!("no longer confirmed");
    };
    assert!(
        confirmations >= 2,
        "{confirmations} confirmations after three blocks"
    );

    // And its data reads back byte for byte, its headers are the ones signed and the reward
    // was charged.
    assert_eq!(&gateway.data(&tx.id).await.unwrap()[..], &data[..]);
    let headers = Transaction::from_json(&gateway.tx(&tx.id).await.unwrap()).unwrap();
    assert_eq!(headers.id, tx.id);
    assert_eq!(headers.data_root, tx.data_root);
    assert_eq!(headers.data_size, data.len() as u64);
    assert_eq!(headers.tags, tx.tags);
    headers
        .verify()
        .expect("the stored headers carry a valid signature");
    assert_eq!(
        gateway.balance(&wallet.address()).await.unwrap(),
        FUNDS - tx.reward
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_upload_is_confirmed_and_reads_back_identical() {
    // Given a funded wallet on a fresh arlocal, and 20 MiB + 12345 bytes: more than gateways
    // take inline (arlocal: 12 MB of data, 15 MB of JSON), 81 chunks, the last two
    // rebalanced. (arlocal serves a chunked transaction's data as its distinct chunks, so
    // the data must not repeat a chunk: this pattern's period, 251, is prime to 256 KiB.)
    let arlocal = Arlocal::start().await;
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let wallet = funded_wallet(&arlocal).await;
    let data = pattern(20 * 1024 * 1024 + 12345, 4);
    assert!(data.len() > MAX_INLINE_DATA);
    let tags = vec![Tag::new("Content-Type", "application/octet-stream")];
    let tx = signed(&gateway, &wallet, data.clone(), tags).await;

    // When it is uploaded: the headers without data to `/tx`, then each chunk to `/chunk`.
    gateway
        .upload(&tx)
        .await
        .expect("arlocal accepts the headers and every chunk");

    // Then it is pending, confirmed once a block is mined, and charged.
    assert_eq!(gateway.status(&tx.id).await.unwrap(), TxStatus::Pending);
    arlocal.mine(1).await;
    assert!(matches!(
        gateway.status(&tx.id).await.unwrap(),
        TxStatus::Confirmed { .. }
    ));
    assert_eq!(
        gateway.balance(&wallet.address()).await.unwrap(),
        FUNDS - tx.reward
    );

    // And its data, put together from the chunks, reads back byte for byte, under headers
    // that are the ones signed.
    let read = gateway.data(&tx.id).await.unwrap();
    assert_eq!(read.len(), data.len());
    assert!(read[..] == data[..], "the data read back differs");
    let headers = Transaction::from_json(&gateway.tx(&tx.id).await.unwrap()).unwrap();
    assert_eq!(headers.data_root, tx.data_root);
    assert_eq!(headers.data_size, data.len() as u64);
    headers
        .verify()
        .expect("the stored headers carry a valid signature");
}

#[tokio::test(flavor = "multi_thread")]
async fn bundle_reads_back_and_every_item_verifies() {
    // Given three data items of two signers, with and without tags, target and anchor.
    let arlocal = Arlocal::start().await;
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let wallet = funded_wallet(&arlocal).await;
    let author = Wallet::generate().unwrap();
    let items = vec![
        DataItem::sign(
            &author,
            pattern(300_000, 2),
            vec![
                Tag::new("Content-Type", "application/pdf"),
                Tag::new("SDV-Document", "1"),
            ],
            None,
            Some([7; 32]),
        )
        .unwrap(),
        DataItem::sign(
            &author,
            b"a short note".to_vec(),
            vec![Tag::new("SDV-Document", "2")],
            Some([1; 32]),
            None,
        )
        .unwrap(),
        DataItem::sign(&wallet, pattern(5, 3), vec![], None, None).unwrap(),
    ];

    // When they are bundled into one transaction, posted and mined.
    let tx = signed(&gateway, &wallet, Bundle::build(&items), Bundle::tags()).await;
    gateway.post(&tx).await.expect("arlocal accepts the bundle");
    arlocal.mine(1).await;
    assert!(matches!(
        gateway.status(&tx.id).await.unwrap(),
        TxStatus::Confirmed { .. }
    ));

    // Then the transaction's data is the bundle, and every item in it verifies.
    let read = Bundle::parse(&gateway.data(&tx.id).await.unwrap()).expect("a valid bundle");
    assert_eq!(read, items);
    for item in &read {
        item.verify()
            .unwrap_or_else(|e| panic!("item {}: {e}", item.id_b64url()));
    }
    assert_eq!(read[0].owner_address(), author.address());
    assert_eq!(read[2].owner_address(), wallet.address());

    // And arlocal, which unbundles ANS-104 transactions, serves each item's data by its id.
    for item in &items {
        let data = gateway
            .data(&item.id())
            .await
            .unwrap_or_else(|e| panic!("item {}: {e}", item.id_b64url()));
        assert_eq!(
            &data[..],
            &item.data()[..],
            "data of item {}",
            item.id_b64url()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_items_fail_verification() {
    // Given a bundle of two items as arlocal stores and serves it.
    let arlocal = Arlocal::start().await;
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let wallet = funded_wallet(&arlocal).await;
    let items = vec![
        DataItem::sign(
            &wallet,
            b"the original document".to_vec(),
            vec![Tag::new("SDV-Document", "9")],
            None,
            None,
        )
        .unwrap(),
        DataItem::sign(&wallet, b"another".to_vec(), vec![], None, None).unwrap(),
    ];
    let tx = signed(&gateway, &wallet, Bundle::build(&items), Bundle::tags()).await;
    gateway.post(&tx).await.unwrap();
    arlocal.mine(1).await;
    let bundle = gateway.data(&tx.id).await.unwrap().to_vec();
    let item = &Bundle::parse(&bundle).unwrap()[0];
    item.verify().unwrap();
    let bytes = item.to_bytes();

    // When one byte of the signature is flipped, the item no longer verifies.
    let mut forged = bytes.clone();
    forged[2 + 17] ^= 0x01;
    let forged = DataItem::parse(&forged).unwrap();
    assert!(
        matches!(forged.verify(), Err(Error::InvalidSignature)),
        "{:?}",
        forged.verify()
    );

    // When one byte of the data is changed, it no longer verifies either.
    let mut forged = bytes.clone();
    *forged.last_mut().unwrap() ^= 0x20;
    let forged = DataItem::parse(&forged).unwrap();
    assert_eq!(&forged.data()[..], b"the original documenT");
    assert!(
        matches!(forged.verify(), Err(Error::InvalidSignature)),
        "{:?}",
        forged.verify()
    );

    // And in the bundle, a changed data byte is refused at parsing: the header's id still
    // names the original item, whose signature no longer matches; a changed signature byte
    // changes the item's id away from its header's.
    let mut forged_bundle = bundle.clone();
    *forged_bundle.last_mut().unwrap() ^= 0x01;
    let parsed = Bundle::parse(&forged_bundle).unwrap();
    assert!(parsed[1].verify().is_err(), "a changed data byte verifies");
    let mut forged_bundle = bundle.clone();
    forged_bundle[32 + 2 * 64 + 2 + 5] ^= 0x01;
    assert!(matches!(
        Bundle::parse(&forged_bundle),
        Err(Error::InvalidBundle(BundleError::IdMismatch {
            index: 0,
            ..
        }))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn unfunded_wallet_is_refused() {
    // Given a wallet arlocal never funded.
    let arlocal = Arlocal::start().await;
    let gateway = Gateway::new(&arlocal.url()).unwrap();
    let wallet = Wallet::generate().unwrap();
    assert_eq!(gateway.balance(&wallet.address()).await.unwrap(), 0);

    // When it posts a transaction.
    let tx = signed(&gateway, &wallet, b"no money".to_vec(), vec![]).await;
    let refused = gateway
        .post(&tx)
        .await
        .expect_err("an unfunded post was accepted");

    // Then the gateway's refusal comes back with its status and body, and nothing is stored.
    match &refused {
        Error::Gateway {
            method: "POST",
            path,
            status,
            body,
        } => {
            assert_eq!(path, "/tx");
            assert_eq!(*status, 410, "body: {body}");
            assert!(body.contains("enough tokens"), "body: {body}");
        }
        other => panic!("expected a gateway refusal, got {other:?}"),
    }
    let message = refused.to_string();
    assert!(
        message.contains("410") && message.contains("enough tokens"),
        "{message}"
    );
    arlocal.mine(1).await;
    assert_eq!(gateway.status(&tx.id).await.unwrap(), TxStatus::NotFound);
    assert!(matches!(
        gateway.data(&tx.id).await,
        Err(Error::Gateway { status: 404, .. })
    ));
}

/// Items and a bundle signed here, with a wallet generated here, verify with arbundles (the
/// JavaScript implementation arlocal indexes bundles with); a forged item does not.
#[test]
fn items_and_bundles_signed_here_verify_with_arbundles() {
    let wallet = Wallet::generate().expect("an RSA-4096 wallet");
    let tags = vec![
        Tag::new("Content-Type", "application/octet-stream"),
        Tag::new("SDV-Ciphertext-SHA256", "ab".repeat(32)),
    ];
    let one = DataItem::sign(
        &wallet,
        vec![7u8; 300_000],
        tags,
        Some([1; 32]),
        Some([2; 32]),
    )
    .unwrap();
    let two = DataItem::sign(&wallet, &b"second"[..], vec![], None, None).unwrap();
    assert!(arbundles_verify_item(&one.to_bytes()));
    let mut forged = one.to_bytes();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(!arbundles_verify_item(&forged), "a changed data byte");

    let (ok, ids) = arbundles_verify_bundle(&Bundle::build(&[one.clone(), two.clone()]));
    assert!(ok, "arbundles verifies the bundle");
    assert_eq!(ids, [b64url_encode(&one.id()), b64url_encode(&two.id())]);
}
