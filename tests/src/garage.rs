//! Garage, the S3 store of the document bytes, as the tests run it.
//!
//! [`GarageProcess`] is a single-node Garage of the test's own, set up the way `./dev` sets one
//! up (`garage_start` in `node-config/scripts/lib.sh`): config, data, metadata and log in a
//! temporary directory, every port a free loopback one, a layout of one node in zone `dc1`, the
//! access key `sdv` and the bucket [`DEFAULT_BUCKET`] that the key may read, write and own. A
//! test can stop it and start it again on the same directory and ports ("S3 is down").
//!
//! [`shared`] is the S3 server for tests that only need one: the one `./dev test` started (it
//! exports the `SDV_S3_*` variables), else one [`GarageProcess`] started once per test binary.
//! Tests sharing it share its bucket, so each writes under a key prefix of its own.
//!
//! A Garage that cannot be had is a loud failure (a panic saying why), never a skip.

use std::{
    fmt,
    fs::{File, OpenOptions},
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use tempfile::TempDir;

/// The bucket `./dev` and [`GarageProcess`] create unless `SDV_S3_BUCKET` names another.
pub const DEFAULT_BUCKET: &str = "jil-sdv";
/// The region Garage is configured with (`s3_region`).
pub const REGION: &str = "garage";
/// The name of the access key created on a fresh Garage.
const KEY_NAME: &str = "sdv";
/// How long a start (or restart) may take before the test fails; it takes about a second.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What an S3 client needs to reach the store: the `SDV_S3_*` variables.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// `SDV_S3_ENDPOINT`, e.g. `http://127.0.0.1:3900` (path-style requests).
    pub endpoint: String,
    /// `SDV_S3_REGION` (`garage`).
    pub region: String,
    /// `SDV_S3_BUCKET`.
    pub bucket: String,
    /// `SDV_S3_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `SDV_S3_SECRET_ACCESS_KEY`; never printed.
    pub secret_access_key: String,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl S3Config {
    /// The configuration in the `SDV_S3_*` variables, or `None` when `SDV_S3_ENDPOINT` is
    /// unset. Panics when it is set but another one is missing.
    pub fn from_env() -> Option<Self> {
        let endpoint = std::env::var("SDV_S3_ENDPOINT").ok()?;
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("SDV_S3_ENDPOINT is set but {name} is not: set every SDV_S3_* variable (./dev test does)")
            })
        };
        Some(Self {
            endpoint,
            region: var("SDV_S3_REGION"),
            bucket: var("SDV_S3_BUCKET"),
            access_key_id: var("SDV_S3_ACCESS_KEY_ID"),
            secret_access_key: var("SDV_S3_SECRET_ACCESS_KEY"),
        })
    }

    /// An S3 client of the store: static credentials, path-style requests to the endpoint.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let credentials = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "sdv-system-tests",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

/// The S3 server for tests that need one but not one of their own.
///
/// When `./dev test` runs the tests it exports `SDV_S3_*` for the Garage it started, and this
/// returns that. Otherwise (`cargo test` alone) the first call starts a [`GarageProcess`] that
/// the test binary keeps in a `static` for the rest of its run. Statics are never dropped, so
/// its `Drop` never runs; the process's watchdog (see [`GarageProcess`]) kills it and removes
/// its directory when the test binary exits, however it exits.
pub fn shared() -> S3Config {
    static SHARED: OnceLock<(S3Config, Option<GarageProcess>)> = OnceLock::new();
    SHARED
        .get_or_init(|| match S3Config::from_env() {
            Some(config) => (config, None),
            None => {
                let garage = GarageProcess::start();
                (garage.config(), Some(garage))
            }
        })
        .0
        .clone()
}

/// A single-node Garage of the test's own, killed (SIGKILL) when dropped.
///
/// Besides the server, each run of it has a watchdog, `sh -c 'read _; kill -KILL <pid>; ...'`,
/// whose standard input is a pipe from the test binary. The pipe closes when the test binary
/// exits, normally or not (a `static` never dropped, a panic with `abort`, SIGKILL), and the
/// watchdog then kills the server and removes its directory: no Garage outlives its test binary,
/// without `prctl(PR_SET_PDEATHSIG)`. [`GarageProcess::stop`] and drop kill the watchdog first.
pub struct GarageProcess {
    bin: PathBuf,
    dir: TempDir,
    ports: Ports,
    config: S3Config,
    running: Option<Running>,
}

/// The loopback ports of one Garage, kept across restarts.
#[derive(Clone, Copy)]
struct Ports {
    rpc: u16,
    s3: u16,
    admin: u16,
}

/// The server and its watchdog.
struct Running {
    server: Child,
    watchdog: Child,
}

impl GarageProcess {
    /// Writes a config, starts the server, and sets up the layout, the key `sdv` and the bucket
    /// [`DEFAULT_BUCKET`], the key allowed to read, write and own it.
    pub fn start() -> Self {
        let bin = garage_bin();
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-garage-")
            .tempdir()
            .expect("a temporary directory for Garage");
        let ports = free_ports();
        write_config(dir.path(), ports);
        let mut garage = Self {
            bin,
            dir,
            ports,
            config: S3Config {
                endpoint: format!("http://127.0.0.1:{}", ports.s3),
                region: REGION.to_owned(),
                bucket: DEFAULT_BUCKET.to_owned(),
                access_key_id: String::new(),
                secret_access_key: String::new(),
            },
            running: None,
        };
        garage.spawn();
        garage.wait_until("answers `garage status`", |g| g.cli(&["status"]).is_ok());

        let node = garage.must(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().unwrap_or_default().to_owned();
        garage.must(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.must(&["layout", "apply", "--version", "1"]);
        garage.must(&["key", "create", KEY_NAME]);
        garage.must(&["bucket", "create", DEFAULT_BUCKET]);
        garage.must(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            DEFAULT_BUCKET,
            "--key",
            KEY_NAME,
        ]);
        garage.config.access_key_id = garage
            .must(&["key", "info", "--key-id", KEY_NAME])
            .trim()
            .to_owned();
        garage.config.secret_access_key = garage
            .must(&["key", "info", "--secret-key", KEY_NAME])
            .trim()
            .to_owned();
        garage.wait_until("is healthy", Self::healthy);
        garage
    }

    /// How to reach its S3 API with the key `sdv`; the same before and after a restart.
    pub fn config(&self) -> S3Config {
        self.config.clone()
    }

    /// Its directory: `garage.toml`, `garage.log`, `meta/`, `data/` (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.server.id())
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it; S3 requests then fail
    /// with a refused connection. Does nothing when it is stopped already.
    pub fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            // The watchdog first, so that it can never kill a pid the server no longer owns.
            let _ = running.watchdog.kill();
            let _ = running.watchdog.wait();
            let _ = running.server.kill();
            running
                .server
                .wait()
                .expect("waiting for the killed Garage");
        }
    }

    /// Starts the server again on the same directory and ports (stopping it first if it runs),
    /// and waits until it is healthy: its objects, key and bucket are those it had.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_until("is healthy again after a restart", Self::healthy);
    }

    fn config_file(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("garage.log")
    }

    /// Starts `garage server` (log appended to `garage.log`) and its watchdog.
    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .expect("Garage's log file");
        let server = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_file())
            .arg("server")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("Garage's log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} server: {e}", self.bin.display()));
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "read _; kill -KILL \"$1\" 2>/dev/null; sleep 1; rm -rf \"$2\"",
                "sdv-garage-watchdog",
            ])
            .arg(server.id().to_string())
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the watchdog of Garage: {e}"));
        self.running = Some(Running { server, watchdog });
    }

    /// Polls `ready` every 100 ms; panics (with the end of the log) when the server exits or
    /// `START_TIMEOUT` passes first.
    fn wait_until(&mut self, what: &str, ready: impl Fn(&Self) -> bool) {
        let start = Instant::now();
        loop {
            if ready(self) {
                return;
            }
            let exited = self
                .running
                .as_mut()
                .and_then(|r| r.server.try_wait().expect("Garage's status"));
            if let Some(status) = exited {
                panic!(
                    "Garage exited ({status}) before it {what}; the end of its log:\n{}",
                    self.log_tail()
                );
            }
            if start.elapsed() > START_TIMEOUT {
                panic!(
                    "Garage did not say it {what} within {START_TIMEOUT:?}; the end of its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /health` on the admin API answers 200 ("Garage is fully operational") once the
    /// layout is applied and every partition has its quorum.
    fn healthy(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.ports.admin));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .lines()
            .next()
            .is_some_and(|status| status.split(' ').nth(1) == Some("200"))
    }

    /// The Garage CLI against this server: its standard output, or why it failed.
    fn cli(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_file())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// [`Self::cli`], panicking with Garage's message on failure.
    fn must(&self, args: &[&str]) -> String {
        self.cli(args)
            .unwrap_or_else(|e| panic!("`garage {}` failed: {}", args.join(" "), e.trim()))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for GarageProcess {
    fn drop(&mut self) {
        // As `stop`, without a panic that would abort a test already unwinding.
        if let Some(mut running) = self.running.take() {
            let _ = running.watchdog.kill();
            let _ = running.watchdog.wait();
            let _ = running.server.kill();
            let _ = running.server.wait();
        }
    }
}

/// The `garage` binary: on `PATH`, else in `~/.cargo/bin` (where `./dev` installs it).
fn garage_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("garage"));
    let in_cargo =
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/garage"));
    on_path
        .chain(in_cargo)
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "garage is not installed (not on PATH nor in ~/.cargo/bin): ./dev test installs it"
            )
        })
}

/// Three distinct free loopback ports (all bound at once while chosen).
fn free_ports() -> Ports {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("a bound port").port();
    Ports {
        rpc: port(0),
        s3: port(1),
        admin: port(2),
    }
}

/// `garage.toml` as `./dev` writes it: SQLite metadata, one replica, loopback only, a random
/// RPC secret; mode 0600 since it holds the secret. Path-style S3 only, so no `root_domain`;
/// `/health` needs no admin token and the CLI talks RPC, so there is none.
fn write_config(dir: &Path, ports: Ports) {
    let mut secret = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut secret))
        .expect("32 random bytes from /dev/urandom");
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let config = format!(
        r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
        dir = dir.display(),
        rpc = ports.rpc,
        s3 = ports.s3,
        admin = ports.admin,
    );
    OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(dir.join("garage.toml"))
        .and_then(|mut f| f.write_all(config.as_bytes()))
        .expect("writing garage.toml");
}
