//! `sdv-devnet`: starts a local chain, deploys the SDV contracts and writes the deployment
//! file; or refreshes the committed chain metadata.
//!
//! `up --clock-file PATH` lets another process move the chain's clock ahead: it writes the
//! number of seconds the clock should run ahead of the real one into PATH and sends SIGUSR1;
//! the node restarts on the same base path and RPC port under datefudge, a block is authored
//! at the new time, and `clock ahead <secs> s` is printed on stdout. The offset only ever
//! grows (block time never goes back).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use sdv_chain::Chain;
use sdv_node_config::{accounts, contracts_dir, deploy, NodeOptions, NodeProcess};

#[derive(Parser)]
#[command(about = "Local SDV chain: start, deploy, refresh metadata")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the node, deploy the contracts, write the deployment file, stay up until
    /// interrupted (Ctrl-C or SIGTERM), then stop the node.
    Up {
        /// The chain's base path (kept between runs).
        #[arg(long)]
        base_path: PathBuf,
        /// RPC port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        rpc_port: u16,
        /// Where to write the deployment file.
        #[arg(long)]
        deployment: PathBuf,
        /// Where to write the node's pid (rewritten when the node restarts).
        #[arg(long)]
        node_pid_file: Option<PathBuf>,
        /// The file holding how many seconds the node's clock runs ahead of the real one: on
        /// SIGUSR1 it is read and the node restarts with that offset (written as 0 for a new
        /// chain; a kept chain restarts with the offset it holds).
        #[arg(long)]
        clock_file: Option<PathBuf>,
    },
    /// Fetch the runtime metadata (V15) of a running node into a file for subxt codegen.
    Metadata {
        /// The node's RPC endpoint.
        #[arg(long, default_value = "ws://127.0.0.1:9944", conflicts_with = "spawn")]
        url: String,
        /// Start a temporary node instead of connecting to one.
        #[arg(long)]
        spawn: bool,
        /// The metadata file.
        #[arg(long, default_value = "node-config/metadata/contracts-node.scale")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up {
            base_path,
            rpc_port,
            deployment,
            node_pid_file,
            clock_file,
        } => up(base_path, rpc_port, deployment, node_pid_file, clock_file).await,
        Command::Metadata { url, spawn, out } => {
            if spawn {
                let dir = tempfile::tempdir()?;
                let mut node = NodeProcess::start(NodeOptions::new(dir.path())).await?;
                let result = metadata(&node.rpc_url(), &out).await;
                node.stop().await?;
                result
            } else {
                metadata(&url, &out).await
            }
        }
    }
}

async fn up(
    base_path: PathBuf,
    rpc_port: u16,
    deployment_path: PathBuf,
    node_pid_file: Option<PathBuf>,
    clock_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut options = NodeOptions::new(&base_path);
    options.rpc_port = rpc_port;
    // A new chain starts at the real time; a kept one goes on with the offset it had, or its
    // next block would be older than its last.
    let kept_chain = base_path.join("chains").exists();
    if let Some(file) = &clock_file {
        if kept_chain {
            options.clock_ahead_secs = read_clock_file(file).unwrap_or(0);
        }
        write_clock_file(file, options.clock_ahead_secs)?;
    }
    let mut node = NodeProcess::start(options).await?;
    write_node_pid(&node, node_pid_file.as_deref())?;
    eprintln!(
        "node: {} (log {})",
        node.rpc_url(),
        node.log_path().display()
    );
    let chain = Chain::connect(&node.rpc_url()).await?;
    let deployment = deploy(&chain, &accounts::alice(), &contracts_dir()).await?;
    deployment.save(&deployment_path)?;
    println!("{}", serde_json::to_string_pretty(&deployment)?);
    println!("deployment file: {}", deployment_path.display());
    println!("ready");

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = usr1.recv() => {
                let Some(file) = &clock_file else {
                    eprintln!("SIGUSR1 ignored: sdv-devnet up runs without --clock-file");
                    continue;
                };
                match move_clock(&mut node, file, node_pid_file.as_deref()).await {
                    Ok(secs) => println!("clock ahead {secs} s"),
                    Err(e) => {
                        // The node may be down now: say so where the mover waits, and stop.
                        println!("clock move failed: {}", format!("{e:#}").replace('\n', " "));
                        node.stop().await?;
                        return Err(e.context("moving the clock"));
                    }
                }
            }
        }
    }
    eprintln!("stopping the node");
    node.stop().await?;
    Ok(())
}

/// Restarts `node` with the offset in `file` (an offset below the current one is refused:
/// block time never goes back), rewrites the pid file, and authors a block so that contracts
/// and dry runs see the new time. Returns the offset in effect.
async fn move_clock(
    node: &mut NodeProcess,
    file: &Path,
    pid_file: Option<&Path>,
) -> anyhow::Result<u64> {
    let current = node.options().clock_ahead_secs;
    let wanted = read_clock_file(file)?;
    if wanted < current {
        // Refused without touching the node: the chain goes on at the offset it has.
        eprintln!(
            "clock move to {wanted} s refused: the clock runs {current} s ahead already and \
             block time never goes back"
        );
        write_clock_file(file, current)?;
        return Ok(current);
    }
    if wanted == current {
        return Ok(current);
    }
    eprintln!("restarting the node with its clock {wanted} s ahead");
    node.restart_with_clock_ahead(wanted)
        .await
        .context("restarting the node under datefudge")?;
    write_node_pid(node, pid_file)?;
    let chain = Chain::connect(&node.rpc_url())
        .await
        .context("connecting to the restarted node")?;
    chain
        .submit(
            &sdv_chain::node::tx()
                .system()
                .remark(b"clock moved".to_vec()),
            &accounts::ferdie(),
        )
        .await
        .context("authoring a block at the new time")?;
    Ok(wanted)
}

/// The offset in the clock file: a number of seconds (surrounding whitespace allowed).
fn read_clock_file(file: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the clock file {}", file.display()))?;
    text.trim().parse().with_context(|| {
        format!(
            "the clock file {} holds {:?}, not a number of seconds",
            file.display(),
            text.trim()
        )
    })
}

/// Writes the offset in effect into the clock file.
fn write_clock_file(file: &Path, secs: u64) -> anyhow::Result<()> {
    std::fs::write(file, format!("{secs}\n"))
        .with_context(|| format!("writing the clock file {}", file.display()))
}

/// Writes the node's pid into `file`, if one was named.
fn write_node_pid(node: &NodeProcess, file: Option<&Path>) -> anyhow::Result<()> {
    if let (Some(file), Some(pid)) = (file, node.pid()) {
        std::fs::write(file, pid.to_string()).context("writing the node pid file")?;
    }
    Ok(())
}

async fn metadata(url: &str, out: &PathBuf) -> anyhow::Result<()> {
    use codec::Decode;
    use sdv_chain::subxt::ext::subxt_rpcs::client::{rpc_params, RpcClient};
    let rpc = RpcClient::from_insecure_url(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    // `Metadata_metadata_at_version(15)` answers `Option<OpaqueMetadata>`.
    let version = hex::encode(15u32.to_le_bytes());
    let answer: String = rpc
        .request(
            "state_call",
            rpc_params!["Metadata_metadata_at_version", format!("0x{version}")],
        )
        .await?;
    let bytes = hex::decode(answer.trim_start_matches("0x"))?;
    let metadata = Option::<Vec<u8>>::decode(&mut &bytes[..])?
        .context("the node does not serve metadata V15")?;
    std::fs::write(out, &metadata).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {} bytes of metadata to {}",
        metadata.len(),
        out.display()
    );
    Ok(())
}
