//! The `sdv-indexer` binary as the tests run it, and what they read of its database and API.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use sqlx::PgPool;

/// A running `sdv-indexer`, killed with SIGKILL when dropped (also when a test fails).
pub struct IndexerProcess {
    child: Child,
    /// The query API's base URL (`http://127.0.0.1:<port>`).
    pub api: String,
}

impl IndexerProcess {
    /// Starts the binary on `deployment` and `database_url`, writing `batch_blocks` blocks per
    /// transaction, with its API on a free loopback port.
    pub fn start(deployment: &Path, database_url: &str, batch_blocks: u32) -> Self {
        Self::start_with(deployment, database_url, batch_blocks, &[])
    }

    /// [`IndexerProcess::start`] with command-line arguments (`--reset`).
    pub fn start_with(
        deployment: &Path,
        database_url: &str,
        batch_blocks: u32,
        args: &[&str],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(crate::binary("sdv-indexer"))
            .env("SDV_DEPLOYMENT", deployment)
            .env("DATABASE_URL", database_url)
            .env("SDV_INDEXER_BATCH_BLOCKS", batch_blocks.to_string())
            .env("SDV_INDEXER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", crate::service_log())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sdv-indexer binary starts");
        Self {
            child,
            api: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Panics if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("the indexer's status") {
            panic!("the indexer exited with {status}");
        }
    }

    /// Waits until the database's cursor reaches `head` (at most 120 s).
    pub async fn wait_for_cursor(&mut self, pool: &PgPool, head: u32) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            // Before the binary applied the migrations there is no cursor table yet.
            if let Ok(Some(cursor)) = sdv_indexer::store::cursor(pool).await {
                if cursor.block_number >= head {
                    return;
                }
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "the indexer did not reach block {head} in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GETs `path` from the API: the status and the JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::get(format!("{}{path}", self.api))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path} answered no JSON: {e}"));
        (status, body)
    }

    /// GETs `path` and returns its `data`, asserting a 200 at block `at_least` or later.
    pub async fn data(&self, path: &str, at_least: u32) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        assert!(
            body["at_block"].as_u64() >= Some(u64::from(at_least)),
            "GET {path} answered at an older block: {body}"
        );
        body["data"].clone()
    }
}

impl Drop for IndexerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL of a database made by [`crate::fresh_database`].
pub async fn url_of(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("the database's name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL, set by ./dev test");
    let base = base
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(base);
    format!("{base}/{name}")
}

/// Every row of every table the indexer writes, as `table: row JSON`, in a canonical order:
/// two databases with equal dumps hold the same index.
pub async fn dump(pool: &PgPool) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables
         WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations'
         ORDER BY tablename",
    )
    .fetch_all(pool)
    .await
    .expect("the indexer's tables");
    let mut rows = Vec::new();
    for table in tables {
        let mut these: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT '{table}: ' || to_jsonb(t)::text FROM {table} AS t"
        ))
        .fetch_all(pool)
        .await
        .expect("reading a table");
        these.sort();
        rows.extend(these);
    }
    rows
}
