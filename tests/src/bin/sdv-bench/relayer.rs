//! The `relayer` group: sustained submitted-and-finalized contract calls per second through
//! the relayer from one account and from four, next to a bare subxt loop (sign, submit, wait
//! for finality, with the same nonce handling and concurrency but no dry run) in the same run.

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use sdv_chain::{
    node, node::runtime_types::sp_weights::weight_v2::Weight,
    subxt::config::DefaultExtrinsicParamsBuilder, subxt::utils::MultiAddress, AccountId, CallData,
    NodeConfig,
};
use sdv_node_config::accounts;
use sdv_relayer::{Key, Relayer, Retry};
use sdv_system_tests::TestContext;
use subxt_signer::sr25519::Keypair;

use crate::bench;

/// Calls per measurement.
const CALLS: usize = 200;
/// Calls in flight at once (per measurement, over all its accounts).
const IN_FLIGHT: usize = 32;
/// The relayer may take at most this many times the bare loop's time per call.
const GOAL_RATIO: f64 = 1.2;

/// A DocumentNFT call that succeeds every time: publishing an X25519 key.
fn call(n: usize, salt: u8) -> Vec<u8> {
    let mut key = [0x5au8; 32];
    key[..8].copy_from_slice(&(n as u64).to_le_bytes());
    key[8] = salt;
    CallData::message("publish_encryption_key")
        .arg(&key)
        .into_bytes()
}

pub(crate) async fn run() {
    let ctx = TestContext::new().await;
    let nft = ctx.deployment.address("document_nft").unwrap().clone();
    let url = ctx.node.rpc_url();

    // Warm up the node (code cache, connections) with a few calls, not counted.
    let warm = Relayer::connect(&url, Key::Sr25519(accounts::ferdie()), Retry::default())
        .await
        .unwrap();
    for n in 0..4 {
        warm.send(&nft, call(n, 0xff)).await.unwrap();
    }

    // The bare loop first, so that a chain growing over the run does not favour it.
    let bare = bare_rate(&ctx, &nft, &accounts::ferdie(), 3).await;
    let one = relayer_rate(&url, &nft, &[accounts::alice()], 1).await;
    let four = relayer_rate(
        &url,
        &nft,
        &[
            accounts::bob(),
            accounts::charlie(),
            accounts::dave(),
            accounts::eve(),
        ],
        2,
    )
    .await;
    let ratio = bare / one;
    bench("relayer_calls_per_s_1acct", format!("{one:.1}"), "calls/s");
    bench("relayer_calls_per_s_4acct", format!("{four:.1}"), "calls/s");
    bench("bare_submit_calls_per_s", format!("{bare:.1}"), "calls/s");
    bench("relayer_vs_bare_ratio", format!("{ratio:.3}"), "x");
    let met = if ratio <= GOAL_RATIO { "met" } else { "missed" };
    println!("goal: relayer_vs_bare_ratio <= {GOAL_RATIO} ({met})");
}

/// [`CALLS`] calls through relayers of `keys`, [`IN_FLIGHT`] at once, spread evenly.
async fn relayer_rate(url: &str, nft: &AccountId, keys: &[Keypair], salt: u8) -> f64 {
    let mut relayers = Vec::new();
    for key in keys {
        relayers.push(Arc::new(
            Relayer::connect(url, Key::Sr25519(key.clone()), Retry::default())
                .await
                .unwrap(),
        ));
    }
    let started = Instant::now();
    futures::stream::iter(0..CALLS)
        .map(|n| {
            let relayer = relayers[n % relayers.len()].clone();
            let nft = nft.clone();
            async move { relayer.send(&nft, call(n, salt)).await.unwrap() }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    CALLS as f64 / started.elapsed().as_secs_f64()
}

/// [`CALLS`] calls of one account with plain subxt: the weight of one dry run for all,
/// explicit nonces handed out in order (immortal, signed offline, as the relayer
/// does), submit and watch, wait for finality and success.
async fn bare_rate(ctx: &TestContext, nft: &AccountId, key: &Keypair, salt: u8) -> f64 {
    let chain = &ctx.chain;
    let who = key.public_key().to_account_id();
    let dry = chain.dry_run(&who, nft, call(0, salt)).await.unwrap();
    let limit = Weight {
        ref_time: dry.gas_required.0 * 11 / 10,
        proof_size: dry.gas_required.1 * 11 / 10,
    };
    let nonce = tokio::sync::Mutex::new(chain.next_nonce(&who).await.unwrap());
    let started = Instant::now();
    futures::stream::iter(0..CALLS)
        .map(|n| {
            let (nonce, limit) = (&nonce, limit.clone());
            async move {
                let payload = node::tx().contracts().call(
                    MultiAddress::Id(nft.clone()),
                    0,
                    limit,
                    None,
                    call(n, salt),
                );
                let progress = {
                    let mut next = nonce.lock().await;
                    let params = DefaultExtrinsicParamsBuilder::<NodeConfig>::new()
                        .nonce(*next)
                        .build();
                    let tx = chain
                        .client()
                        .tx()
                        .create_partial_offline(&payload, params)
                        .unwrap()
                        .sign(key);
                    *next += 1;
                    tx.submit_and_watch().await.unwrap()
                };
                progress
                    .wait_for_finalized_success()
                    .await
                    .expect("the bare call succeeds");
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    CALLS as f64 / started.elapsed().as_secs_f64()
}
