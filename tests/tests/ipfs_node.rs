//! A real IPFS node (js-ipfs) through `sdv-ipfs`, the client the archival service uses: the
//! pinned CID parameters give the same CID for the same bytes, every time and without storing
//! (`only-hash`); content reads back identically; pins are listed, removed and added; unpinned
//! content is gone after garbage collection; a stopped node is "unreachable"; a restarted node
//! keeps its pins. And arlocal, the local Arweave gateway: on loopback only, mining and
//! minting through the harness.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sdv_ipfs::{cid_from_bytes, cid_to_bytes, Error};
use sdv_system_tests::{arlocal::Arlocal, ipfs::IpfsNode};

/// "hello world" (11 bytes) with the pinned parameters: one raw block, CIDv1, sha2-256.
const HELLO_CID: &str = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
/// How long a `cat` of content the node lacks may look for it.
const CAT_TIMEOUT: Duration = Duration::from_secs(2);

/// 1 MiB that is the same on every run (xorshift from a fixed seed): four chunks.
fn payload() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Every address is on 127.0.0.1, and there is at least one.
fn assert_loopback_only(what: &str, addresses: &[String]) {
    assert!(!addresses.is_empty(), "{what} listens nowhere");
    for address in addresses {
        assert!(
            address.starts_with("127.0.0.1:"),
            "{what} listens on {address}, not only on loopback: {addresses:?}"
        );
    }
}

#[tokio::test]
async fn hello_world_gets_its_reproducible_cid() {
    // Given a fresh node,
    let started = Instant::now();
    let node = IpfsNode::start().await;
    eprintln!("IPFS node (init and start) up in {:?}", started.elapsed());
    let ipfs = node.client();

    // when "hello world" is hashed without storing, then added,
    let only_hash = ipfs.add_only_hash("hello world", Some(11)).await.unwrap();
    let added = ipfs.add("hello world", Some(11)).await.unwrap();

    // then both give the CID every node gives it, which converts to its binary form and back,
    assert_eq!(only_hash.cid, HELLO_CID);
    assert_eq!(added.cid, HELLO_CID);
    assert_eq!(added.size, 11);
    assert_eq!(
        cid_from_bytes(&cid_to_bytes(&added.cid).unwrap()),
        HELLO_CID
    );
    // and the content reads back.
    let read = ipfs.cat(HELLO_CID, CAT_TIMEOUT).await.unwrap();
    assert_eq!(&read[..], b"hello world");
    assert!(ipfs.pin_ls(HELLO_CID).await.unwrap(), "add pins");
}

#[tokio::test]
async fn the_same_payload_gets_the_same_cid_every_time() {
    let node = IpfsNode::start().await;
    let ipfs = node.client();
    let data = payload();

    // Hashed without storing: nothing is stored or pinned.
    let only_hash = ipfs
        .add_only_hash(data.clone(), Some(data.len() as u64))
        .await
        .unwrap();
    assert!(
        !ipfs.pin_ls(&only_hash.cid).await.unwrap(),
        "only-hash pins nothing"
    );

    // Added twice, once in one piece and once as a stream of uneven pieces of unknown length.
    let first = ipfs
        .add(data.clone(), Some(data.len() as u64))
        .await
        .unwrap();
    let pieces: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let second = ipfs
        .add_stream(futures::stream::iter(pieces), None)
        .await
        .unwrap();

    assert_eq!(first.cid, second.cid);
    assert_eq!(first.cid, only_hash.cid);
    assert!(
        first.cid.starts_with("bafy"),
        "four chunks make a dag-pb root: {}",
        first.cid
    );
    assert!(first.size >= data.len() as u64, "{first:?}");
    let read = ipfs.cat(&first.cid, CAT_TIMEOUT).await.unwrap();
    assert!(read[..] == data[..], "cat returns the bytes added");

    // The streaming read gives the same bytes.
    let mut streamed = Vec::new();
    let mut chunks = Box::pin(ipfs.cat_stream(&first.cid, CAT_TIMEOUT).await.unwrap());
    while let Some(chunk) = futures::StreamExt::next(&mut chunks).await {
        streamed.extend_from_slice(&chunk.unwrap());
    }
    assert!(streamed == data, "cat_stream returns the bytes added");
}

#[tokio::test]
async fn pins_are_listed_removed_and_added_again() {
    let node = IpfsNode::start().await;
    let ipfs = node.client();
    let cid = ipfs.add("pinned", None).await.unwrap().cid;

    assert!(ipfs.pin_ls(&cid).await.unwrap(), "add pins");
    assert!(ipfs.pin_rm(&cid).await.unwrap(), "the pin is removed");
    assert!(
        !ipfs.pin_ls(&cid).await.unwrap(),
        "not pinned is false, not an error"
    );
    assert!(
        !ipfs.pin_rm(&cid).await.unwrap(),
        "removing a pin that is not there is Ok(false)"
    );
    ipfs.pin_add(&cid).await.unwrap();
    assert!(ipfs.pin_ls(&cid).await.unwrap(), "pinned again");
    ipfs.pin_add(&cid).await.unwrap();
    assert!(ipfs.pin_ls(&cid).await.unwrap(), "pinning twice is fine");

    // A CID the node does not know is not pinned either.
    let unknown = cid_from_bytes(&{
        let mut b = vec![0x01, 0x55, 0x12, 0x20];
        b.extend([0xab; 32]);
        b
    });
    assert!(!ipfs.pin_ls(&unknown).await.unwrap());
    // A malformed argument is the node's refusal, not "not pinned".
    let err = ipfs.pin_ls("not-a-cid").await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");
}

#[tokio::test]
async fn unpinned_content_is_gone_after_garbage_collection() {
    // Given content that is kept and content that is unpinned,
    let node = IpfsNode::start().await;
    let ipfs = node.client();
    let kept = ipfs.add("kept", None).await.unwrap().cid;
    let data = payload();
    let dropped = ipfs
        .add(data.clone(), Some(data.len() as u64))
        .await
        .unwrap()
        .cid;
    assert!(ipfs.pin_rm(&dropped).await.unwrap());

    // when garbage is collected,
    let removed = ipfs.repo_gc().await.unwrap();

    // then the unpinned blocks (a root and four leaves) are removed,
    assert!(removed >= 5, "removed {removed} blocks");
    // reading them fails as the node's answer within about the timeout, not a hang,
    let started = Instant::now();
    let err = ipfs.cat(&dropped, CAT_TIMEOUT).await.unwrap_err();
    assert!(matches!(err, Error::Api { .. }), "{err:?}");
    assert!(!err.is_unreachable());
    assert!(
        started.elapsed() < CAT_TIMEOUT + Duration::from_secs(3),
        "cat gave up after {:?}",
        started.elapsed()
    );
    // and the pinned content is untouched.
    assert_eq!(&ipfs.cat(&kept, CAT_TIMEOUT).await.unwrap()[..], b"kept");
    assert_eq!(ipfs.repo_gc().await.unwrap(), 0, "nothing left to collect");
}

#[tokio::test]
async fn a_stopped_node_is_unreachable() {
    let mut node = IpfsNode::start().await;
    let ipfs = node.client();
    assert!(ipfs.version().await.unwrap().version.starts_with("0.18"));

    node.stop().await;

    for err in [
        ipfs.id().await.unwrap_err(),
        ipfs.add("x", None).await.unwrap_err(),
        ipfs.pin_ls(HELLO_CID).await.unwrap_err(),
        ipfs.cat(HELLO_CID, CAT_TIMEOUT).await.unwrap_err(),
    ] {
        assert!(err.is_unreachable(), "{err:?}");
        assert!(matches!(err, Error::Unreachable { .. }));
    }
}

#[tokio::test]
async fn a_restarted_node_keeps_its_pinned_content() {
    // Given pinned content,
    let mut node = IpfsNode::start().await;
    let ipfs = node.client();
    let data = payload();
    let cid = ipfs
        .add(data.clone(), Some(data.len() as u64))
        .await
        .unwrap()
        .cid;
    let url = node.api_url();

    // when the node is stopped and started again,
    let started = Instant::now();
    node.restart().await;
    eprintln!("IPFS node restarted in {:?}", started.elapsed());

    // then it answers at the same URL, with the content pinned, through garbage collection.
    assert_eq!(node.api_url(), url);
    assert!(ipfs.pin_ls(&cid).await.unwrap());
    ipfs.repo_gc().await.unwrap();
    let read = ipfs.cat(&cid, CAT_TIMEOUT).await.unwrap();
    assert!(read[..] == data[..], "the content survives the restart");
}

#[tokio::test]
async fn the_ipfs_node_listens_on_loopback_only() {
    let node = IpfsNode::start().await;
    let addresses = node.listening_addresses();
    assert_loopback_only("the IPFS node", &addresses);
    assert_eq!(
        addresses.len(),
        4,
        "swarm, API, gateway, gRPC: {addresses:?}"
    );
}

#[tokio::test]
async fn arlocal_listens_on_loopback_only_and_mines_and_mints() {
    // Given a fresh arlocal,
    let started = Instant::now();
    let mut arlocal = Arlocal::start().await;
    eprintln!("arlocal up in {:?}", started.elapsed());
    assert_loopback_only("arlocal", &arlocal.listening_addresses());
    assert_eq!(arlocal.height().await, 0);
    let address = "5QmqT3mBxBvLhE2pqRyKJwRk4HGIjSVRd0Chwx0yVkk";
    assert_eq!(arlocal.balance(address).await, 0);

    // when a wallet is funded and blocks are mined,
    arlocal.mint(address, 1_000_000_000_000_000).await;
    arlocal.mine(1).await;
    arlocal.mine(2).await;

    // then the balance and the height show it,
    assert_eq!(arlocal.balance(address).await, 1_000_000_000_000_000);
    assert_eq!(arlocal.height().await, 3);

    // and a restart keeps the wallet, on the same URL and still on loopback only.
    let url = arlocal.url();
    arlocal.restart().await;
    assert_eq!(arlocal.url(), url);
    assert_loopback_only("arlocal after a restart", &arlocal.listening_addresses());
    assert_eq!(arlocal.balance(address).await, 1_000_000_000_000_000);

    // Stopped, it refuses connections.
    arlocal.stop().await;
    let refused = reqwest::get(format!("{url}/info")).await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");
}
