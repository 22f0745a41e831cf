//! The `indexer` group: catch-up throughput over the kept chain's backlog next to a bare fetch
//! loop over the same blocks, the write path alone, and the live lag from finality to the API.

use std::{
    ops::RangeInclusive,
    time::{Duration, Instant},
};

use sdv_chain::{AccountId, CallData, Chain};
use sdv_indexer::{
    api,
    follow::{self, BATCH_BLOCKS},
    live, store,
    store::IndexedBlock,
    Watched, MIGRATOR,
};
use sdv_node_config::{accounts, NodeOptions, NodeProcess};
use sdv_system_tests::fresh_database;
use serde::Deserialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{
    backlog::{base_path, Backlog, MIN_EVENTS},
    bench,
};

/// Catch-up may take at most this many times the bare fetch loop's time.
const GOAL_CATCHUP_RATIO: f64 = 1.25;
/// The write path's goal, in rows per second.
const GOAL_WRITE_ROWS_PER_S: f64 = 50_000.0;
/// The live lag's goal for the 99th percentile, in milliseconds.
const GOAL_LAG_P99_MS: f64 = 1_000.0;

/// Live lag samples measured, after [`LAG_WARMUP`] that are not.
const LAG_SAMPLES: usize = 200;
/// Live lag samples made first to warm connections and caches, not counted.
const LAG_WARMUP: usize = 5;
/// How often the API is asked whether a block is visible.
const POLL_EVERY: Duration = Duration::from_millis(2);
/// How long a block may take to become visible before the benchmark gives up.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the group and prints its figures with their goals.
pub(crate) async fn run() {
    let backlog = Backlog::open().await;
    let chain = backlog.chain.clone();
    let watched = Watched::from_deployment(&backlog.deployment);
    let addresses = watched.addresses();
    let (head, _) = chain
        .finalized_head()
        .await
        .expect("reading the finalized head");
    let range = 0..=head;

    // The bare loop runs before and after the catch-up; the faster run is the reference, so
    // that a cold node cache counts against the indexer, never for it.
    let (bare_first, blocks) = bare_fetch(&chain, &addresses, range.clone()).await;
    let fetched_events: usize = blocks.iter().map(|b| b.events.len()).sum();

    let catchup_db = fresh_database().await;
    MIGRATOR
        .run(&catchup_db)
        .await
        .expect("migrating the catch-up database");
    let started = Instant::now();
    let caught_up = follow::catch_up_in_batches(&chain, &catchup_db, &watched, BATCH_BLOCKS)
        .await
        .unwrap_or_else(|e| panic!("the indexer's catch-up failed: {e}"));
    let catchup = started.elapsed();
    assert_eq!(
        caught_up, head,
        "the catch-up ended at another block than the bare fetch loop's last"
    );
    let events = count(&catchup_db, "contract_events").await;
    assert!(
        events >= MIN_EVENTS,
        "the backlog must hold at least {MIN_EVENTS} events; the indexer wrote {events}: remove \
         the kept chain ({}) to make it again",
        backlog.dir.display()
    );
    assert_eq!(
        events, fetched_events as u64,
        "the indexer wrote another number of events than the bare loop fetched"
    );

    let (bare_second, _) = bare_fetch(&chain, &addresses, range).await;
    let bare = bare_first.min(bare_second);

    bench("indexer_backlog_blocks", head + 1, "blocks");
    bench("indexer_backlog_events", events, "events");
    let secs = |time: Duration| format!("{:.3}", time.as_secs_f64());
    bench("bare_fetch_first_s", secs(bare_first), "s");
    bench("bare_fetch_second_s", secs(bare_second), "s");
    // The reference: the faster of the two runs.
    bench("bare_fetch_s", secs(bare), "s");
    bench("indexer_catchup_s", secs(catchup), "s");
    bench(
        "indexer_catchup_events_per_s",
        format!("{:.0}", per_s(events, catchup)),
        "events/s",
    );
    bench(
        "bare_fetch_events_per_s",
        format!("{:.0}", per_s(events, bare)),
        "events/s",
    );
    let ratio = catchup.as_secs_f64() / bare.as_secs_f64();
    bench("indexer_catchup_ratio", format!("{ratio:.3}"), "x");
    goal(
        &format!("indexer_catchup_ratio <= {GOAL_CATCHUP_RATIO}"),
        ratio <= GOAL_CATCHUP_RATIO,
    );

    let (rows, write) = write_path(&chain, &watched, &blocks).await;
    drop(blocks);
    let rows_per_s = per_s(rows, write);
    bench("indexer_write_rows", rows, "rows");
    bench("indexer_write_s", secs(write), "s");
    bench(
        "indexer_write_rows_per_s",
        format!("{rows_per_s:.0}"),
        "rows/s",
    );
    goal(
        &format!("indexer_write_rows_per_s >= {GOAL_WRITE_ROWS_PER_S}"),
        rows_per_s >= GOAL_WRITE_ROWS_PER_S,
    );

    let mut lags = live_lag(backlog, &catchup_db, &watched).await;
    drop_database(catchup_db).await;
    lags.sort();
    let p50 = millis(percentile(&lags, 50));
    let p99 = millis(percentile(&lags, 99));
    bench("indexer_lag_samples", lags.len(), "blocks");
    bench("indexer_lag_p50_ms", format!("{p50:.1}"), "ms");
    bench("indexer_lag_p99_ms", format!("{p99:.1}"), "ms");
    goal(
        &format!("indexer_lag_p99_ms < {GOAL_LAG_P99_MS}"),
        p99 < GOAL_LAG_P99_MS,
    );
}

/// The node's limit: the blocks of `range` fetched as the indexer fetches them
/// ([`follow::fetch_blocks`]: one stream, [`follow::FETCH_CONCURRENCY`] in flight), written
/// nowhere. Returns the time it took and the blocks.
async fn bare_fetch(
    chain: &Chain,
    addresses: &[AccountId],
    range: RangeInclusive<u32>,
) -> (Duration, Vec<IndexedBlock>) {
    let started = Instant::now();
    let blocks = follow::fetch_blocks(chain, addresses, range)
        .await
        .unwrap_or_else(|e| panic!("the bare fetch loop failed: {e}"));
    (started.elapsed(), blocks)
}

/// Writes the already fetched and decoded `blocks` into a fresh database with
/// [`store::write_batch`], [`BATCH_BLOCKS`] blocks per transaction, and returns the rows written
/// and the time it took.
///
/// Rows counted: every row the batches left in the indexer's tables, that is one row per raw
/// event in `contract_events` plus the typed rows (a table folded per key, such as
/// `encryption_keys`, keeps one row per account however many events rewrote it; rewrites are not
/// counted). The cursor row is not counted.
async fn write_path(chain: &Chain, watched: &Watched, blocks: &[IndexedBlock]) -> (u64, Duration) {
    let db = fresh_database().await;
    MIGRATOR
        .run(&db)
        .await
        .expect("migrating the write path's database");
    let started = Instant::now();
    for batch in blocks.chunks(BATCH_BLOCKS as usize) {
        store::write_batch(&db, chain.genesis_hash(), watched, batch)
            .await
            .unwrap_or_else(|e| panic!("the write path failed: {e}"));
    }
    let elapsed = started.elapsed();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()
         AND tablename NOT IN ('_sqlx_migrations', 'chain_cursor')",
    )
    .fetch_all(&db)
    .await
    .expect("listing the indexer's tables");
    let mut rows = 0;
    for table in tables {
        rows += count(&db, &table).await;
    }
    drop_database(db).await;
    (rows, elapsed)
}

/// Runs the live indexer and its API on the caught-up database `db`, then makes
/// [`LAG_SAMPLES`] blocks, one contract call each, and returns for each the time from the
/// block's finality (seen by a subscription of this process) to its visibility in the API's
/// `GET /health`.
///
/// The calls go to a copy of the kept chain, so the kept one stays as it was made and every
/// run measures the same backlog.
async fn live_lag(backlog: Backlog, db: &PgPool, watched: &Watched) -> Vec<Duration> {
    let Backlog {
        node: mut kept,
        deployment,
        dir,
        ..
    } = backlog;
    kept.stop()
        .await
        .expect("stopping the node of the kept chain");
    let copy = tempfile::Builder::new()
        .prefix("sdv-bench-live-chain-")
        .tempdir()
        .expect("a temporary directory");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(base_path(&dir))
        .arg(base_path(copy.path()))
        .status()
        .expect("running cp");
    assert!(status.success(), "copying the kept chain failed");
    let mut node = NodeProcess::start(NodeOptions::new(base_path(copy.path())))
        .await
        .unwrap_or_else(|e| panic!("the node on the copied chain did not start: {e}"));
    let chain = Chain::connect(&node.rpc_url())
        .await
        .unwrap_or_else(|e| panic!("connecting to the node on the copied chain: {e}"));

    let indexer = tokio::spawn({
        let (url, db, watched) = (node.rpc_url(), db.clone(), watched.clone());
        async move { live::run(&url, &db, &watched, BATCH_BLOCKS).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the API to a free loopback port");
    let api = format!(
        "http://{}",
        listener.local_addr().expect("the API's address")
    );
    let server = tokio::spawn({
        let app = api::app(api::AppState { pool: db.clone() });
        async move { axum::serve(listener, app).await }
    });

    let mut finalized = chain
        .client()
        .blocks()
        .subscribe_finalized()
        .await
        .expect("subscribing to finalized blocks");
    let (mut last, _) = chain
        .finalized_head()
        .await
        .expect("reading the finalized head");
    let http = reqwest::Client::new();
    wait_visible(&http, &api, last).await;

    let nft = deployment
        .address("document_nft")
        .expect("the deployment has DocumentNFT")
        .clone();
    let signer = accounts::alice();
    let mut lags = Vec::with_capacity(LAG_SAMPLES);
    for sample in 0..LAG_WARMUP + LAG_SAMPLES {
        let data = CallData::message("publish_encryption_key")
            .arg(&[sample as u8 | 1; 32])
            .into_bytes();
        let call = tokio::spawn({
            let (chain, signer, nft) = (chain.clone(), signer.clone(), nft.clone());
            async move { chain.call(&signer, &nft, data).await }
        });
        let block = loop {
            let block = finalized
                .next()
                .await
                .expect("the finalized block subscription ended")
                .expect("a finalized block");
            if block.number() > last {
                break block;
            }
        };
        let finalized_at = Instant::now();
        last = block.number();
        wait_visible(&http, &api, last).await;
        let lag = finalized_at.elapsed();
        let submitted = call
            .await
            .expect("the call task")
            .unwrap_or_else(|e| panic!("the live lag's call failed: {e}"));
        assert_eq!(
            submitted.block_hash,
            block.hash(),
            "each sample's block must be its call's block (the node seals one block per call)"
        );
        if sample >= LAG_WARMUP {
            lags.push(lag);
        }
    }
    assert!(
        !indexer.is_finished(),
        "the live indexer stopped: {:?}",
        indexer.await
    );
    indexer.abort();
    server.abort();
    node.stop()
        .await
        .expect("stopping the node of the copied chain");
    lags
}

/// Polls the API at `api` every [`POLL_EVERY`] until its `at_block` reaches `block`.
async fn wait_visible(http: &reqwest::Client, api: &str, block: u32) {
    let deadline = Instant::now() + VISIBLE_TIMEOUT;
    while health_block(http, api).await.is_none_or(|at| at < block) {
        assert!(
            Instant::now() < deadline,
            "block {block} was not visible in the API within {VISIBLE_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// The API's `GET /health` answer.
#[derive(Deserialize)]
struct Health {
    /// The last block the database holds.
    at_block: Option<u32>,
}

/// The `at_block` of `GET /health`.
async fn health_block(http: &reqwest::Client, api: &str) -> Option<u32> {
    let response = http
        .get(format!("{api}/health"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET /health: {e}"));
    assert_eq!(response.status(), 200, "GET /health answered an error");
    response
        .json::<Health>()
        .await
        .unwrap_or_else(|e| panic!("GET /health answered no health: {e}"))
        .at_block
}

/// The rows of `table`.
async fn count(db: &PgPool, table: &str) -> u64 {
    let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("counting the rows of {table}: {e}"));
    rows as u64
}

/// Drops a database made by [`fresh_database`] once its pool is closed.
async fn drop_database(db: PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db)
        .await
        .expect("the database's name");
    db.close().await;
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL is set");
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL is not reachable: {e}"));
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("dropping the benchmark database {name}: {e}"));
}

fn per_s(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn millis(time: Duration) -> f64 {
    time.as_secs_f64() * 1_000.0
}

/// The nearest-rank `p`th percentile of sorted `values`.
fn percentile(values: &[Duration], p: usize) -> Duration {
    let rank = (values.len() * p).div_ceil(100).max(1);
    values[rank - 1]
}

/// Prints whether a goal was met in this run.
fn goal(what: &str, met: bool) {
    println!("goal: {what} ({})", if met { "met" } else { "missed" });
}
