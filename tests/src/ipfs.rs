//! An IPFS node, as the tests run it.
//!
//! [`IpfsNode`] is a js-ipfs node of the test's own, set up the way `./dev up` sets one up
//! (`start_ipfs` in `node-config/scripts/lib.sh`): `jsipfs init --profile test` of a repository
//! in a temporary directory, then `node-config/npm/ipfs/configure.cjs` with free loopback
//! ports for its swarm, RPC API, gateway and gRPC endpoint, and no peers, bootstrap,
//! discovery, routing or pubsub. It serves the Kubo RPC API that [`sdv_ipfs::IpfsClient`]
//! speaks. A test can stop it and start it again on the same repository and ports.
//!
//! The program comes from the npm install in `$SDV_NPM_DIR/ipfs` (default
//! `~/.cache/sdv/npm/ipfs`) that `./dev test` makes; without it the start panics saying so.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use sdv_ipfs::IpfsClient;
use tempfile::TempDir;

use crate::npm::{self, Watched};

/// How long `init` or a start may take; each takes about 5 s alone, longer when several tests
/// start nodes at once.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a node may take to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// The daemon's `jsipfs` program inside the install.
const JSIPFS: &str = "node_modules/.bin/jsipfs";

/// The loopback ports of one node, kept across restarts.
#[derive(Clone, Copy)]
struct Ports {
    swarm: u16,
    api: u16,
    gateway: u16,
    grpc: u16,
}

/// A js-ipfs node of the test's own, killed when dropped.
pub struct IpfsNode {
    dir: TempDir,
    ports: Ports,
    running: Option<Watched>,
}

impl IpfsNode {
    /// Initializes a fresh repository, configures it for loopback and starts the daemon,
    /// waiting until its RPC API answers `id`.
    pub async fn start() -> Self {
        let jsipfs = npm::installed("ipfs", JSIPFS);
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-ipfs-")
            .tempdir()
            .expect("a temporary directory for the IPFS node");
        let [swarm, api, gateway, grpc] = npm::free_ports::<4>();
        let node = Self {
            dir,
            ports: Ports {
                swarm,
                api,
                gateway,
                grpc,
            },
            running: None,
        };

        let init = tokio::time::timeout(
            START_TIMEOUT,
            tokio::process::Command::new(npm::node())
                .arg(&jsipfs)
                .args(["init", "--profile", "test"])
                .env("IPFS_PATH", node.repo())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("`jsipfs init` did not finish within {START_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("running `jsipfs init`: {e}"));
        assert!(
            init.status.success(),
            "`jsipfs init --profile test` failed ({}): {}{}",
            init.status,
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
        let configure = tokio::process::Command::new(npm::node())
            .arg(npm::repo_file("ipfs/configure.cjs"))
            .arg(node.repo())
            .args([swarm, api, gateway, grpc].map(|p| p.to_string()))
            .output()
            .await
            .unwrap_or_else(|e| panic!("running configure.cjs: {e}"));
        assert!(
            configure.status.success(),
            "configure.cjs failed ({}): {}",
            configure.status,
            String::from_utf8_lossy(&configure.stderr)
        );

        let mut node = node;
        node.spawn().await;
        node
    }

    /// The URL of its RPC API, `http://127.0.0.1:<port>`; the same across restarts.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.api)
    }

    /// A client of its RPC API.
    pub fn client(&self) -> IpfsClient {
        IpfsClient::new(&self.api_url()).expect("a client of the node's RPC API")
    }

    /// Its directory: the repository `repo/` and the daemon's output `daemon.log` (removed on
    /// drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every port it listens on: swarm, RPC API, gateway, gRPC.
    pub fn ports(&self) -> [u16; 4] {
        let p = self.ports;
        [p.swarm, p.api, p.gateway, p.grpc]
    }

    /// Where some process listens on any of its ports (`ip:port`, from `/proc/net/tcp*`): to
    /// show that it listens on loopback only.
    pub fn listening_addresses(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .flat_map(npm::listening_addresses)
            .collect()
    }

    /// Stops the daemon (SIGTERM, a clean shutdown that releases the repository's lock; killed
    /// after 15 s) and waits for it: its API then refuses connections. The repository and
    /// ports are kept for [`Self::restart`]. Does nothing when it is stopped already.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.terminate(STOP_GRACE).await;
        }
    }

    /// Starts the daemon again on the same repository and ports (stopping it first if it runs)
    /// and waits until it answers: its blocks and pins are those it had.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// `IPFS_PATH=repo node jsipfs daemon`, then waits until it says "Daemon is ready" (its
    /// API answers a little before the gateway and gRPC listen) and `POST /api/v0/id` answers.
    async fn spawn(&mut self) {
        let jsipfs = npm::installed("ipfs", JSIPFS);
        // A daemon that had to be killed leaves its lock (a directory) behind, and the next
        // one refuses the repository until the lock is 20 s old; none runs now.
        let lock = self.repo().join("repo.lock");
        if lock.exists() {
            std::fs::remove_dir_all(&lock)
                .unwrap_or_else(|e| panic!("removing the stale lock {}: {e}", lock.display()));
        }
        // The log is appended to across restarts: only what this run writes counts.
        let log_start = std::fs::metadata(self.log_file()).map_or(0, |m| m.len() as usize);
        let mut command = Command::new(npm::node());
        command
            .arg(jsipfs)
            .arg("daemon")
            .env("IPFS_PATH", self.repo());
        self.running = Some(Watched::spawn(
            command,
            "the IPFS daemon",
            &self.log_file(),
            self.dir.path(),
        ));
        let client = self.client();
        let start = Instant::now();
        loop {
            let said_ready = std::fs::read(self.log_file()).is_ok_and(|log| {
                log.get(log_start..)
                    .is_some_and(|new| String::from_utf8_lossy(new).contains("Daemon is ready"))
            });
            if said_ready && client.id().await.is_ok() {
                return;
            }
            if let Some(status) = self.running.as_mut().and_then(Watched::exited) {
                panic!(
                    "the IPFS daemon exited ({status}) before its API at {} answered; the end \
                     of its log:\n{}",
                    self.api_url(),
                    npm::log_tail(&self.log_file())
                );
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "the IPFS daemon's API at {} did not answer within {START_TIMEOUT:?}; the \
                     end of its log:\n{}",
                    self.api_url(),
                    npm::log_tail(&self.log_file())
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for IpfsNode {
    fn drop(&mut self) {
        // Before the directory goes; the repository is thrown away, so no clean shutdown.
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }
}
