//! The `substrate-contracts-node` process.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};

/// The node's binary name, as `cargo install contracts-node --version 0.42.0` installs it.
pub const NODE_BINARY: &str = "substrate-contracts-node";

/// The preload library of Debian's `datefudge`, which moves the node's clock.
pub const DATEFUDGE_LIB: &str = "/usr/lib/x86_64-linux-gnu/datefudge/datefudge.so";

/// How long the node may take to open its RPC port.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The log line that carries the RPC address.
const RPC_LINE: &str = "Running JSON-RPC server: addr=";

/// Why the node could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node binary is not installed.
    #[error(
        "{0} not found: run `./dev up` (it installs the node), or \
         `cargo install contracts-node --version 0.42.0 --locked`, or set SDV_NODE_BIN"
    )]
    NotInstalled(String),
    /// The clock cannot be moved without datefudge.
    #[error("{DATEFUDGE_LIB} not found: install Debian's datefudge (`apt-get install datefudge`)")]
    NoDatefudge,
    /// The node exited before it opened its RPC port.
    #[error("the node exited before it served RPC ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// Its exit status.
        status: String,
        /// Its log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// The requested RPC port is taken; the node would have fallen back to another one.
    #[error(
        "RPC port 127.0.0.1:{0} is in use by another process: stop it, or choose another \
         port (0 picks a free one)"
    )]
    PortInUse(u16),
    /// The node did not open its RPC port in time.
    #[error("the node did not serve RPC within {0:?}; see {1}")]
    Timeout(Duration, String),
    /// A file or process operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How to start the node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The node binary (`SDV_NODE_BIN`, default `substrate-contracts-node` on `PATH`).
    pub binary: PathBuf,
    /// The chain's base path; a restart on the same path keeps the chain.
    pub base_path: PathBuf,
    /// The RPC port on 127.0.0.1; 0 lets the node choose a free one.
    pub rpc_port: u16,
    /// How far ahead of the real clock the node's clock runs, in seconds.
    pub clock_ahead_secs: u64,
}

impl NodeOptions {
    /// Options for a node on `base_path` with any free RPC port and the real clock.
    pub fn new(base_path: impl Into<PathBuf>) -> Self {
        let binary = std::env::var_os("SDV_NODE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(NODE_BINARY));
        Self {
            binary,
            base_path: base_path.into(),
            rpc_port: 0,
            clock_ahead_secs: 0,
        }
    }

    /// The command line: a dev chain on its own base path, instant finality, RPC on
    /// loopback, and nothing announced beyond this machine.
    pub fn args(&self) -> Vec<String> {
        [
            "--dev",
            "--base-path",
            &self.base_path.display().to_string(),
            "--rpc-port",
            &self.rpc_port.to_string(),
            "--finalize-delay-sec",
            "0",
            "--no-mdns",
            "--listen-addr",
            "/ip4/127.0.0.1/tcp/0",
            "--no-prometheus",
            "--no-telemetry",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// A running node. Dropping it kills the process.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    options: NodeOptions,
    rpc_port: u16,
    log: PathBuf,
}

impl NodeProcess {
    /// Starts the node and waits until it serves RPC.
    pub async fn start(mut options: NodeOptions) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&options.base_path)?;
        let log = options.base_path.join("node.log");
        let mut command = Command::new(&options.binary);
        command
            .args(options.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if options.clock_ahead_secs > 0 {
            if !Path::new(DATEFUDGE_LIB).exists() {
                return Err(NodeError::NoDatefudge);
            }
            command
                .env("LD_PRELOAD", DATEFUDGE_LIB)
                .env("DATEFUDGE", format!("-{}", options.clock_ahead_secs));
        }
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                NodeError::NotInstalled(options.binary.display().to_string())
            }
            _ => NodeError::Io(e),
        })?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .await?;
        let (port_tx, port_rx) = oneshot::channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut port_tx = Some(port_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = parse_rpc_port(&line) {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port);
                    }
                }
                let _ = file.write_all(line.as_bytes()).await;
                let _ = file.write_all(b"\n").await;
            }
            let _ = file.flush().await;
        });
        let port = match tokio::time::timeout(START_TIMEOUT, port_rx).await {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => {
                // The log ended without the RPC line: the node exited.
                let status = child.wait().await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(NodeError::Exited {
                    status: status.to_string(),
                    log: log.display().to_string(),
                    tail: tail(&log, 15),
                });
            }
            Err(_) => {
                let _ = child.kill().await;
                return Err(NodeError::Timeout(START_TIMEOUT, log.display().to_string()));
            }
        };
        if options.rpc_port != 0 && port != options.rpc_port {
            // The node falls back to a random port when the requested one is taken; a caller
            // that asked for a port must not silently get another one.
            let _ = child.kill().await;
            return Err(NodeError::PortInUse(options.rpc_port));
        }
        options.rpc_port = port;
        Ok(Self {
            child,
            options,
            rpc_port: port,
            log,
        })
    }

    /// The WebSocket RPC endpoint.
    pub fn rpc_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.rpc_port)
    }

    /// The RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.rpc_port
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The node's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The options it runs with.
    pub fn options(&self) -> &NodeOptions {
        &self.options
    }

    /// Stops the node: SIGTERM, then SIGKILL if it has not exited in time.
    pub async fn stop(&mut self) -> Result<(), NodeError> {
        if let Some(pid) = self.child.id() {
            let _ = signal::kill(Pid::from_raw(pid as i32), signal::Signal::SIGTERM);
            if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
                .await
                .is_err()
            {
                self.child.kill().await?;
            }
        }
        Ok(())
    }

    /// Restarts the node on the same base path and RPC port with its clock `secs` ahead of
    /// the real one. Block time never goes back, so the offset only ever grows on one chain.
    pub async fn restart_with_clock_ahead(&mut self, secs: u64) -> Result<(), NodeError> {
        self.stop().await?;
        let mut options = self.options.clone();
        options.clock_ahead_secs = secs;
        *self = Self::start(options).await?;
        Ok(())
    }
}

fn parse_rpc_port(line: &str) -> Option<u16> {
    let rest = &line[line.find(RPC_LINE)? + RPC_LINE.len()..];
    let first = rest.split([',', ' ']).next()?;
    first.rsplit(':').next()?.trim().parse().ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_port_is_read_from_the_log_line() {
        let line = "2026-11-21 22:41:44.248  INFO main sc_rpc_server: Running JSON-RPC server: \
                    addr=127.0.0.1:42969,[::1]:33913";
        assert_eq!(parse_rpc_port(line), Some(42969));
        assert_eq!(parse_rpc_port("Idle (0 peers)"), None);
    }

    #[test]
    fn flags_keep_everything_on_loopback() {
        let args = NodeOptions::new("/tmp/x").args().join(" ");
        for flag in [
            "--no-mdns",
            "--no-prometheus",
            "--no-telemetry",
            "/ip4/127.0.0.1/tcp/0",
        ] {
            assert!(args.contains(flag), "{flag} missing from {args}");
        }
    }
}
