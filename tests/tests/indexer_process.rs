//! The `sdv-indexer` binary against a real node and real PostgreSQL: killed with SIGKILL 20
//! times during a backlog it ends equal to one clean run; PostgreSQL crashing mid-run is
//! ridden out; a database of another chain stops it with a clear message until `--reset`.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use sdv_chain::CallData;
use sdv_node_config::accounts;
use sdv_system_tests::{
    fresh_database,
    indexer::{dump, url_of, IndexerProcess},
    TestContext,
};

/// Contract calls per extrinsic in the backlog; each emits one event.
const CALLS_PER_BATCH: u8 = 6;
/// Extrinsics (so blocks) per signer in the backlog.
const BATCHES: u8 = 50;
/// Signers making the backlog side by side.
const SIGNERS: usize = 4;
/// Kills during the crashed run.
const KILLS: usize = 20;

#[tokio::test(flavor = "multi_thread")]
async fn killed_20_times_during_a_backlog_it_ends_equal_to_a_clean_run() {
    // Given a chain with a backlog: 4 signers x 50 extrinsics (so 200 blocks) of 6 DocumentNFT
    // calls, one event each.
    let ctx = TestContext::new().await;
    let nft = ctx.deployment.address("document_nft").unwrap().clone();
    let signers: [_; SIGNERS] = [
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
    ];
    let backlogs = signers.iter().enumerate().map(|(s, signer)| {
        let (chain, nft) = (ctx.chain.clone(), nft.clone());
        async move {
            for batch in 0..BATCHES {
                let calls = (0..CALLS_PER_BATCH)
                    .map(|i| {
                        let mut key = [7u8; 32];
                        key[..3].copy_from_slice(&[s as u8, batch, i]);
                        CallData::message("publish_encryption_key")
                            .arg(&key)
                            .into_bytes()
                    })
                    .collect();
                chain.call_batch(signer, &nft, calls).await.unwrap();
            }
        }
    });
    futures::future::join_all(backlogs).await;
    let (head, _) = ctx.chain.finalized_head().await.unwrap();
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();

    // When one indexer runs clean to the head.
    let clean = fresh_database().await;
    let mut indexer = IndexerProcess::start(&deployment, &url_of(&clean).await, 1);
    indexer.wait_for_cursor(&clean, head).await;
    drop(indexer);

    // And another is killed with SIGKILL 20 times, each time soon after its cursor moved (at
    // a varied delay, so kills land between and inside transactions), then runs to the head.
    let crashed = fresh_database().await;
    let url = url_of(&crashed).await;
    let mut progress = Vec::new();
    let mut last = None;
    for kill in 0..KILLS {
        let mut indexer = IndexerProcess::start(&deployment, &url, 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = sdv_indexer::store::cursor(&crashed)
                .await
                .ok()
                .flatten()
                .map(|c| c.block_number);
            if now != last {
                break;
            }
            indexer.assert_running();
            assert!(
                Instant::now() < deadline,
                "the indexer made no progress in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis((kill as u64 * 3) % 10)).await;
        drop(indexer);
        last = sdv_indexer::store::cursor(&crashed)
            .await
            .ok()
            .flatten()
            .map(|c| c.block_number);
        progress.push(last);
    }
    let mut indexer = IndexerProcess::start(&deployment, &url, 1);
    indexer.wait_for_cursor(&crashed, head).await;
    drop(indexer);

    eprintln!("head {head}; cursor after each kill: {progress:?}");

    // Then both databases hold the same rows, in every table: no duplicate, no gap.
    let clean_rows = dump(&clean).await;
    let crashed_rows = dump(&crashed).await;
    let events = clean_rows
        .iter()
        .filter(|r| r.starts_with("contract_events: "))
        .count();
    assert!(
        events >= SIGNERS * usize::from(BATCHES) * usize::from(CALLS_PER_BATCH),
        "the backlog holds {events} events"
    );
    assert_eq!(
        crashed_rows.len(),
        clean_rows.len(),
        "cursor after each kill: {progress:?}"
    );
    assert_eq!(crashed_rows, clean_rows);
    // And every kill landed while work remained.
    assert!(
        progress.iter().all(|c| c.is_none_or(|n| n < head)),
        "a kill came after the indexer had finished: {progress:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_mid_run_the_indexer_retries_and_catches_up() {
    // Given the indexer following a chain into a PostgreSQL of the test's own.
    let ctx = TestContext::new().await;
    let nft = ctx.deployment.address("document_nft").unwrap().clone();
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();
    let postgres = sdv_system_tests::PostgresProcess::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&postgres.url())
        .await
        .unwrap();
    let mut indexer = IndexerProcess::start(&deployment, &postgres.url(), 1);
    let (head, _) = ctx.chain.finalized_head().await.unwrap();
    indexer.wait_for_cursor(&pool, head).await;

    // When PostgreSQL crashes, new events are finalized meanwhile, and it comes back.
    postgres.crash();
    let calls: Vec<_> = (1..=50u8)
        .map(|i| {
            CallData::message("publish_encryption_key")
                .arg(&[i; 32])
                .into_bytes()
        })
        .collect();
    ctx.chain
        .call_batch(&accounts::bob(), &nft, calls)
        .await
        .unwrap();
    let (head, _) = ctx.chain.finalized_head().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The indexer has not given up while PostgreSQL was down.
    indexer.assert_running();
    postgres.resume();

    // Then the indexer retries by itself and catches up, equal to a clean run.
    indexer.wait_for_cursor(&pool, head).await;
    drop(indexer);
    let clean = fresh_database().await;
    sdv_indexer::MIGRATOR.run(&clean).await.unwrap();
    let watched = sdv_indexer::Watched::from_deployment(&ctx.deployment);
    sdv_indexer::follow::catch_up(&ctx.chain, &clean, &watched)
        .await
        .unwrap();
    assert_eq!(dump(&pool).await, dump(&clean).await);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM encryption_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 1, "Bob's key, rotated 50 times, is one row");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_of_another_chain_stops_the_binary_with_a_clear_message() {
    // Given a database that indexed one chain.
    let first = TestContext::new().await;
    let deployment = first.dir().join("deployment.json");
    first.deployment.save(&deployment).unwrap();
    let pool = fresh_database().await;
    let url = url_of(&pool).await;
    let mut indexer = IndexerProcess::start(&deployment, &url, 1);
    let (head, _) = first.chain.finalized_head().await.unwrap();
    indexer.wait_for_cursor(&pool, head).await;
    drop(indexer);
    drop(first);

    // When the indexer is pointed at a fresh chain (same dev genesis, other history).
    let second = TestContext::new().await;
    let deployment = second.dir().join("deployment.json");
    second.deployment.save(&deployment).unwrap();
    let output = Command::new(sdv_system_tests::binary("sdv-indexer"))
        .env("SDV_INDEXER_LISTEN", "127.0.0.1:0")
        .env("SDV_DEPLOYMENT", &deployment)
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();

    // Then it exits with an error saying so and how to go on, and `--reset` starts over.
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the chain was reset") && stderr.contains("reset"),
        "stderr: {stderr}"
    );
    let mut reset = IndexerProcess::start_with(&deployment, &url, 1, &["--reset"]);
    let (head, _) = second.chain.finalized_head().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The old cursor stays visible until the reset has run: wait for one on the new chain.
        if let Ok(Some(cursor)) = sdv_indexer::store::cursor(&pool).await {
            let on_new_chain = second.chain.block_hash(cursor.block_number).await.unwrap()
                == Some(cursor.block_hash);
            if on_new_chain && cursor.block_number >= head {
                break;
            }
        }
        reset.assert_running();
        assert!(
            Instant::now() < deadline,
            "the reset indexer did not index the new chain"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn without_contracts_to_index_the_binary_says_what_to_set() {
    let output = Command::new(sdv_system_tests::binary("sdv-indexer"))
        .env_remove("SDV_DEPLOYMENT")
        .env("SDV_NODE_URL", "ws://127.0.0.1:1")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no contract to index") && stderr.contains("SDV_DEPLOYMENT"),
        "stderr: {stderr}"
    );
}
