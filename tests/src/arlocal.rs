//! arlocal, a local Arweave gateway, as the tests run it.
//!
//! [`Arlocal`] is an arlocal of the test's own: its SQLite database in a temporary directory,
//! a free loopback port, started the way `./dev up` starts one (`start_arlocal` in
//! `node-config/scripts/lib.sh`): `node -r node-config/npm/arlocal/loopback.cjs` so that it
//! listens on 127.0.0.1 only (arlocal itself listens on every interface), `--persist` so that
//! a restart keeps its database. It never mines by itself: a test mines with [`Arlocal::mine`]
//! when it wants transactions confirmed, and funds wallets with [`Arlocal::mint`].
//!
//! The program comes from the npm install in `$SDV_NPM_DIR/arlocal` (default
//! `~/.cache/sdv/npm/arlocal`) that `./dev test` makes; without it the start panics saying so.
//!
//! One quirk of arlocal: it orders blocks by a creation time of whole seconds, so after a
//! restart its height is that of the last block by that order, which can be below the height
//! before when several blocks were mined in the last second. Balances and transactions are
//! kept.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::npm::{self, Watched};

/// How long arlocal may take to answer `/info`; it takes about 1.5 s.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// An arlocal of the test's own, killed when dropped.
pub struct Arlocal {
    dir: TempDir,
    port: u16,
    http: reqwest::Client,
    running: Option<Watched>,
}

impl Arlocal {
    /// Starts arlocal on a fresh database and a free loopback port and waits until it answers
    /// `GET /info`.
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-arlocal-")
            .tempdir()
            .expect("a temporary directory for arlocal");
        let [port] = npm::free_ports::<1>();
        let mut arlocal = Self {
            dir,
            port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            running: None,
        };
        arlocal.spawn().await;
        arlocal
    }

    /// Its base URL, `http://127.0.0.1:<port>`; the same across restarts.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its directory: the database `db/`, the server's output `arlocal.log`, arlocal's request
    /// log `logs` (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where some process listens on its port (`ip:port`, from `/proc/net/tcp*`): to show that
    /// it listens on loopback only.
    pub fn listening_addresses(&self) -> Vec<String> {
        npm::listening_addresses(self.port)
    }

    /// Mines `n` blocks (`GET /mine/<n>`): every pending transaction is confirmed in the first.
    pub async fn mine(&self, n: u32) {
        self.get(&format!("/mine/{n}")).await;
    }

    /// Adds `winston` to the balance of the wallet `address` (`GET /mint/<address>/<winston>`).
    pub async fn mint(&self, address: &str, winston: u128) {
        self.get(&format!("/mint/{address}/{winston}")).await;
    }

    /// The balance of the wallet `address`, in winston.
    pub async fn balance(&self, address: &str) -> u128 {
        let text = self.get(&format!("/wallet/{address}/balance")).await;
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("arlocal's balance of {address} is not a number: {text}"))
    }

    /// Its current block height (`/info`).
    pub async fn height(&self) -> u64 {
        let text = self.get("/info").await;
        let info: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("arlocal's /info is not JSON ({e}): {text}"));
        info["height"]
            .as_u64()
            .unwrap_or_else(|| panic!("arlocal's /info has no height: {text}"))
    }

    /// Kills arlocal (SIGKILL, as a crash would) and waits for it: requests are then refused.
    /// The database and the port are kept for [`Self::restart`]. Does nothing when it is
    /// stopped already.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }

    /// Starts arlocal again on the same port and database (stopping it first if it runs) and
    /// waits until it answers: its wallets and transactions are those it had.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// `GET <url><path>`; panics unless arlocal answers 200.
    async fn get(&self, path: &str) -> String {
        let url = format!("{}{path}", self.url());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} on arlocal: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "GET {url} on arlocal: {status}: {text}"
        );
        text
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("arlocal.log")
    }

    /// `node -r loopback.cjs arlocal/bin/index.js <port> --dbpath db --persist`, in its
    /// directory (arlocal takes the database path relative to its working directory and
    /// writes its request log `logs` there), then waits for `/info`.
    async fn spawn(&mut self) {
        let program = npm::installed("arlocal", "node_modules/arlocal/bin/index.js");
        let preload = npm::repo_file("arlocal/loopback.cjs");
        let mut command = Command::new(npm::node());
        command
            .arg("-r")
            .arg(preload)
            .arg(program)
            .arg(self.port.to_string())
            .args(["--dbpath", "db", "--persist"])
            .current_dir(self.dir.path());
        self.running = Some(Watched::spawn(
            command,
            "arlocal",
            &self.log_file(),
            self.dir.path(),
        ));
        let start = Instant::now();
        let info = format!("{}/info", self.url());
        loop {
            let answered = self
                .http
                .get(&info)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return;
            }
            if let Some(status) = self.running.as_mut().and_then(Watched::exited) {
                panic!(
                    "arlocal exited ({status}) before it answered {info}; the end of its log:\n{}",
                    npm::log_tail(&self.log_file())
                );
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "arlocal did not answer {info} within {START_TIMEOUT:?}; the end of its log:\n{}",
                    npm::log_tail(&self.log_file())
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Arlocal {
    fn drop(&mut self) {
        // Before the directory goes.
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }
}

/// What arbundles, the JavaScript ANS-104 implementation arlocal indexes bundles with, makes of
/// a bundle: whether it verifies (every item's signature, and each id the sha256 of its
/// signature), and the items' ids (base64url) in order. An independent check of bundles this
/// repository builds.
pub fn arbundles_verify_bundle(bundle: &[u8]) -> (bool, Vec<String>) {
    const SCRIPT: &str = r#"
const { unbundleData } = require('arbundles');
const bundle = unbundleData(require('fs').readFileSync(process.argv[1]));
bundle.verify().then(
  (ok) => console.log(JSON.stringify({ ok, ids: bundle.getIds() })),
  (e) => console.log(JSON.stringify({ ok: false, ids: [], error: String(e) })));
"#;
    let answer = arbundles(SCRIPT, bundle);
    let ids = answer["ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (answer["ok"] == true, ids)
}

/// Whether arbundles verifies one ANS-104 data item (its signature, and that its id is the
/// sha256 of its signature).
pub fn arbundles_verify_item(item: &[u8]) -> bool {
    const SCRIPT: &str = r#"
const { DataItem } = require('arbundles');
DataItem.verify(require('fs').readFileSync(process.argv[1])).then(
  (ok) => console.log(JSON.stringify({ ok })),
  (e) => console.log(JSON.stringify({ ok: false, error: String(e) })));
"#;
    arbundles(SCRIPT, item)["ok"] == true
}

/// Runs `script` with the arbundles of the arlocal install on `bytes` (written to a file whose
/// path is `process.argv[1]`); its JSON answer.
fn arbundles(script: &str, bytes: &[u8]) -> serde_json::Value {
    let modules = npm::installed("arlocal", "node_modules");
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::io::Write::write_all(&mut file, bytes).expect("writing the bytes for arbundles");
    let out = Command::new(npm::node())
        .arg("-e")
        .arg(script)
        .arg(file.path())
        .env("NODE_PATH", &modules)
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "node with arbundles failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "arbundles answered {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
