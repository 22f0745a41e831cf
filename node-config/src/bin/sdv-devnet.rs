//! `sdv-devnet`: starts a local chain, deploys the SDV contracts and writes the deployment
//! file; or refreshes the committed chain metadata.

use std::path::PathBuf;

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
        /// Where to write the node's pid.
        #[arg(long)]
        node_pid_file: Option<PathBuf>,
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
        } => up(base_path, rpc_port, deployment, node_pid_file).await,
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
) -> anyhow::Result<()> {
    let mut options = NodeOptions::new(&base_path);
    options.rpc_port = rpc_port;
    let mut node = NodeProcess::start(options).await?;
    if let (Some(file), Some(pid)) = (&node_pid_file, node.pid()) {
        std::fs::write(file, pid.to_string()).context("writing the node pid file")?;
    }
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

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping the node");
    node.stop().await?;
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
