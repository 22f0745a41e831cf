//! The system tests' harness.
//!
//! [`TestContext`] starts its own node on a free loopback port (read from the node's output,
//! killed on drop), deploys the contracts from their bundles, and hands out fresh PostgreSQL
//! databases on the server named by `DATABASE_URL` (which `./dev test` starts). A component that
//! cannot be had is a loud failure, never a skip.

pub mod archival;
pub mod arlocal;
pub mod cli;
pub mod docker;
pub mod documents;
pub mod fleet;
pub mod garage;
pub mod hsm;
pub mod indexer;
pub mod ipfs;
mod npm;
pub mod recovery;
pub mod smtp;
pub mod storage;

use std::sync::atomic::{AtomicU32, Ordering};

use sdv_chain::{node, subxt::utils::MultiAddress, AccountId, Chain, Deployment};
use sdv_node_config::{accounts, contracts_dir, deploy, NodeOptions, NodeProcess};
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tempfile::TempDir;

/// A node with the contracts deployed, for one test.
pub struct TestContext {
    /// The node; dropping the context kills it.
    pub node: NodeProcess,
    /// A client of the node.
    pub chain: Chain,
    /// Where the contracts are.
    pub deployment: Deployment,
    dir: TempDir,
}

impl TestContext {
    /// Starts a fresh chain and deploys every contract.
    pub async fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-chain-")
            .tempdir()
            .expect("a temporary directory");
        let node = NodeProcess::start(NodeOptions::new(dir.path().join("chain")))
            .await
            .unwrap_or_else(|e| panic!("the test node did not start: {e}"));
        let chain = Chain::connect(&node.rpc_url())
            .await
            .unwrap_or_else(|e| panic!("connecting to the test node: {e}"));
        let deployment = deploy(&chain, &accounts::alice(), &contracts_dir())
            .await
            .unwrap_or_else(|e| panic!("deploying the contracts: {e}"));
        Self {
            node,
            chain,
            deployment,
            dir,
        }
    }

    /// The test's private directory (removed on drop).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes the deployment where the binaries read it (`SDV_DEPLOYMENT`) and returns that
    /// path.
    pub fn deployment_file(&self) -> std::path::PathBuf {
        let path = self.dir().join("deployment.json");
        self.deployment
            .save(&path)
            .unwrap_or_else(|e| panic!("saving the deployment: {e}"));
        path
    }

    /// Gives `account` some of Alice's balance, for fees.
    pub async fn fund(&self, account: &AccountId) {
        self.chain
            .submit(
                &node::tx()
                    .balances()
                    .transfer_keep_alive(MultiAddress::Id(account.clone()), 1_000_000_000_000_000),
                &accounts::alice(),
            )
            .await
            .unwrap_or_else(|e| panic!("funding {account}: {e}"));
    }

    /// Restarts the node on the same chain with its clock `secs` ahead of the real one,
    /// reconnects, and authors a block so that contracts (and dry runs) see the new time.
    pub async fn move_clock_ahead(&mut self, secs: u64) {
        self.node
            .restart_with_clock_ahead(secs)
            .await
            .unwrap_or_else(|e| panic!("restarting the node with its clock moved: {e}"));
        self.chain = Chain::connect(&self.node.rpc_url())
            .await
            .unwrap_or_else(|e| panic!("reconnecting to the restarted node: {e}"));
        self.chain
            .submit(
                &sdv_chain::node::tx()
                    .system()
                    .remark(b"clock moved".to_vec()),
                &accounts::ferdie(),
            )
            .await
            .unwrap_or_else(|e| panic!("authoring a block after the clock move: {e}"));
    }
}

/// The `RUST_LOG` the harness gives the services it starts: `SDV_SERVICE_LOG` when set (to
/// watch one, e.g. `SDV_SERVICE_LOG=warn,sdv_agent=info`), else `warn`.
pub fn service_log() -> String {
    std::env::var("SDV_SERVICE_LOG").unwrap_or_else(|_| "warn".to_owned())
}

/// Where the services the harness starts write their log (standard output): shown when
/// `SDV_SERVICE_LOG` is set, else dropped.
pub fn service_stdout() -> std::process::Stdio {
    if std::env::var_os("SDV_SERVICE_LOG").is_some() {
        std::process::Stdio::inherit()
    } else {
        std::process::Stdio::null()
    }
}

/// A binary of the workspace, built next to the test executables (`./dev test` builds every
/// binary before the tests run).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(name))
        .expect("the test executable lives in target/<profile>/deps");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --bin {name}` (./dev test does)",
        path.display()
    );
    path
}

/// A fresh, empty database on the server named by `DATABASE_URL`.
pub async fn fresh_database() -> PgPool {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("DATABASE_URL is not set: run the tests with `./dev test`, which starts PostgreSQL")
    });
    let name = format!(
        "sdv_system_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL is not reachable: {e}"));
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .expect("dropping a stale test database");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("creating a test database");
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&url);
    PgPoolOptions::new()
        .max_connections(4)
        .connect(&format!("{base}/{name}"))
        .await
        .expect("connecting to the test database")
}

/// A PostgreSQL server of the test's own, on a free loopback port, that the test can stop and
/// start again (to show a service riding out a database restart). Stopped on drop.
pub struct PostgresProcess {
    bin: std::path::PathBuf,
    dir: TempDir,
    port: u16,
}

impl PostgresProcess {
    /// Creates a cluster (user `sdv`, trust authentication) and starts it.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (/usr/lib/postgresql): ./dev test installs it")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .max()
            .expect("a PostgreSQL version under /usr/lib/postgresql");
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-own-pg-")
            .tempdir()
            .expect("a temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Self { bin, dir, port };
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:", &pg.dir.path().display().to_string()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let data = pg.data().display().to_string();
        pg.run("initdb", &["-D", &data, "-U", "sdv", "--auth=trust"]);
        pg.resume();
        pg
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://sdv@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`), as a crash would.
    pub fn crash(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server (again) on the same port and data.
    pub fn resume(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-o", &options, "start"],
        );
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A PostgreSQL tool, run as the cluster's owner (`postgres` when the tests run as root,
    /// since PostgreSQL refuses root).
    fn command(&self, tool: &str) -> std::process::Command {
        let program = self.bin.join(tool);
        if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self
            .command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PostgresProcess {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// [`binary`] finds the services' binaries from an executable in `target/<profile>/deps/`,
/// where test executables live. Cargo puts a binary of this crate (`sdv-bench`, `sdv-drill`)
/// in `target/<profile>/` and a hard link of it in `deps/`, so when run from
/// `target/<profile>/` this runs that link instead, with the same arguments and environment.
/// `name` is the binary's name (`sdv-bench`).
pub fn reexec_from_deps_dir(name: &str) {
    use std::os::unix::{fs::MetadataExt, process::CommandExt};
    let exe = std::env::current_exe().expect("the executable's path");
    let dir = exe.parent().expect("the executable's directory");
    if dir.file_name().is_some_and(|dir| dir == "deps") {
        return;
    }
    let ino = std::fs::metadata(&exe)
        .expect("the executable's metadata")
        .ino();
    let prefix = format!("{}-", name.replace('-', "_"));
    let link = std::fs::read_dir(dir.join("deps"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok())
        .find(|entry| {
            entry.file_name().to_string_lossy().starts_with(&prefix)
                && entry.metadata().is_ok_and(|m| m.ino() == ino)
        })
        .map(|entry| entry.path())
        .unwrap_or_else(|| {
            panic!(
                "no hard link of {} in {}/deps: build it with `cargo build --bin {name}`",
                exe.display(),
                dir.display()
            )
        });
    let error = std::process::Command::new(link)
        .args(std::env::args_os().skip(1))
        .exec();
    panic!("running {name} from its deps directory: {error}");
}
