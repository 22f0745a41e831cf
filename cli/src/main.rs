//! `sdv`: the SDV wallet and validator command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sdv_chain::{from_ink_account, CallData, Chain, Deployment};

#[derive(Parser)]
#[command(
    name = "sdv",
    version,
    about = "Sovereign Document Vault: wallet and validator CLI"
)]
struct Cli {
    /// The deployment file written by `./dev up`.
    #[arg(
        long,
        env = "SDV_DEPLOYMENT",
        default_value = ".dev-state/deployment.json",
        global = true
    )]
    deployment: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the deployment: chain, endpoint, contract addresses.
    Deployment,
    /// ValidatorGovernance.
    #[command(subcommand)]
    Gov(Gov),
}

#[derive(Subcommand)]
enum Gov {
    /// List the 20 validators.
    Validators,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let deployment = Deployment::load(&cli.deployment)
        .with_context(|| "reading the deployment (run `./dev up` first, or pass --deployment)")?;
    match cli.command {
        Command::Deployment => {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&deployment)?);
            } else {
                println!("chain    {:?}", deployment.genesis_hash);
                println!("rpc      {}", deployment.rpc_url);
                for (name, c) in &deployment.contracts {
                    println!("{name:<22} {}", c.address);
                }
            }
        }
        Command::Gov(Gov::Validators) => {
            let chain = Chain::connect(&deployment.rpc_url)
                .await
                .with_context(|| format!("connecting to {}", deployment.rpc_url))?;
            let governance = deployment.address("validator_governance")?;
            let validators: Vec<sdv_types::AccountId> = chain
                .query(
                    governance,
                    governance,
                    CallData::message("validators").into_bytes(),
                )
                .await?;
            let validators: Vec<_> = validators.iter().map(from_ink_account).collect();
            if cli.json {
                let list: Vec<String> = validators.iter().map(|a| a.to_string()).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for (i, v) in validators.iter().enumerate() {
                    println!("{:>2}  {v}", i + 1);
                }
            }
        }
    }
    Ok(())
}
