//! What [`crate::arlocal`] and [`crate::ipfs`] share: the npm installs `./dev test` makes, free
//! loopback ports, and a Node.js server with a watchdog.
//!
//! The installs live in `$SDV_NPM_DIR/<name>` (default `~/.cache/sdv/npm/<name>`, where
//! `ensure_npm_packages` in `node-config/scripts/lib.sh` puts them), from the `package.json`
//! files under `node-config/npm/`. A missing install is a loud failure saying how to make it.

use std::{
    fs::OpenOptions,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

/// The directory of the npm installs: `$SDV_NPM_DIR`, else `~/.cache/sdv/npm`.
pub(crate) fn npm_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SDV_NPM_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is set (the npm installs are under it)");
    PathBuf::from(home).join(".cache/sdv/npm")
}

/// `relative` inside the install of `package` (`arlocal` or `ipfs`); panics with the fix when
/// it is missing.
pub(crate) fn installed(package: &str, relative: &str) -> PathBuf {
    let path = npm_dir().join(package).join(relative);
    assert!(
        path.exists(),
        "{} is missing: the npm package {package} is not installed in {}. Run ./dev test, which \
         installs it (npm install of node-config/npm/{package}/package.json, a few minutes), or \
         point SDV_NPM_DIR at a directory holding the installs",
        path.display(),
        npm_dir().join(package).display(),
    );
    node();
    path
}

/// A file of the repository's `node-config/npm/` (a preload or a setup script).
pub(crate) fn repo_file(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../node-config/npm")
        .join(relative);
    assert!(
        path.is_file(),
        "{} is missing from the repository",
        path.display()
    );
    path
}

/// The `node` program; panics with the fix when it is not on `PATH`.
pub(crate) fn node() -> &'static str {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .any(|dir| dir.join("node").is_file());
    assert!(
        found,
        "node is not on PATH: run ./dev test, which installs Debian's nodejs and npm"
    );
    "node"
}

/// `N` distinct free loopback ports (all bound at once while chosen).
pub(crate) fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("a bound port").port())
}

/// The addresses (`ip:port`) on which some process listens on TCP port `port`, from
/// `/proc/net/tcp` and `/proc/net/tcp6`: to show that a server listens on loopback only.
pub(crate) fn listening_addresses(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; st 0A is LISTEN.
            let (Some(local), Some("0A")) = (fields.get(1), fields.get(3).copied()) else {
                continue;
            };
            let Some((ip, p)) = local.split_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() != Some(port) {
                continue;
            }
            found.push(format!("{}:{port}", decode_ip(ip, v6)));
        }
    }
    found
}

/// An address of `/proc/net/tcp*`: 32-bit words in host (little-endian) order.
fn decode_ip(hex: &str, v6: bool) -> String {
    let words: Vec<u32> = (0..hex.len() / 8)
        .filter_map(|i| u32::from_str_radix(&hex[8 * i..8 * i + 8], 16).ok())
        .collect();
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    if v6 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&bytes[..16]);
        let ip = std::net::Ipv6Addr::from(octets);
        format!("[{ip}]")
    } else {
        std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()
    }
}

/// A server and its watchdog: `sh -c 'read _; kill -KILL <pid>; sleep 1; rm -rf <dir>'`,
/// whose standard input is a pipe from the test binary. When the test binary exits, however it
/// exits, the pipe closes and the watchdog kills the server and removes its directory, as
/// [`crate::garage::GarageProcess`] does. Stopping the server kills the watchdog first.
pub(crate) struct Watched {
    server: Child,
    watchdog: Child,
}

impl Watched {
    /// Starts `command` with its output appended to `log`, and its watchdog over `dir`.
    pub(crate) fn spawn(mut command: Command, what: &str, log: &Path, dir: &Path) -> Self {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("the log file {} of {what}: {e}", log.display()));
        let server = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "read _; kill -KILL \"$1\" 2>/dev/null; sleep 1; rm -rf \"$2\"",
                "sdv-npm-watchdog",
            ])
            .arg(server.id().to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the watchdog of {what}: {e}"));
        Self { server, watchdog }
    }

    /// The server's exit status, when it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.server.try_wait().ok().flatten()
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub(crate) fn kill(mut self) {
        self.disarm();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }

    /// Asks the server to stop (SIGTERM) and waits up to `grace` for it, then kills it.
    pub(crate) async fn terminate(mut self, grace: Duration) {
        self.disarm();
        // The child is not reaped until the wait below, so its pid is still its own.
        let _ = Command::new("kill")
            .args(["-TERM", &self.server.id().to_string()])
            .status();
        let start = Instant::now();
        while self.exited().is_none() {
            if start.elapsed() > grace {
                let _ = self.server.kill();
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.server.wait();
    }

    /// Kills the watchdog first, so that it never kills a pid the server no longer owns.
    fn disarm(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // After `kill` or `terminate` both are reaped and these do nothing.
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The last 30 lines of a log, for a failure message.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
