//! `sdv-indexer`: mirrors the SDV contracts' finalized events into PostgreSQL.
//!
//! Configuration from the environment (or the matching flags): `DATABASE_URL`;
//! `SDV_DEPLOYMENT`, the deployment file `./dev up` writes (contract addresses, and the node's
//! URL unless `SDV_NODE_URL` is set), or the addresses one by one (`SDV_GOVERNANCE`,
//! `SDV_DOCUMENT_NFT`, `SDV_TEAM_VAULT`, `SDV_GUARDIAN_RECOVERY`, which also override the
//! file's) with `SDV_NODE_URL`; `SDV_INDEXER_LISTEN`, where the query API listens (default
//! 127.0.0.1:8700).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use sdv_chain::{AccountId, Deployment};
use sqlx::postgres::PgPoolOptions;

/// Mirrors the SDV contracts' finalized events into PostgreSQL.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The deployment file with the contracts' addresses.
    #[arg(long, env = "SDV_DEPLOYMENT")]
    deployment: Option<PathBuf>,
    /// ValidatorGovernance's address (SS58 or hex).
    #[arg(long, env = "SDV_GOVERNANCE", value_parser = parse_account)]
    governance: Option<AccountId>,
    /// DocumentNFT's address.
    #[arg(long, env = "SDV_DOCUMENT_NFT", value_parser = parse_account)]
    document_nft: Option<AccountId>,
    /// TeamVault's address.
    #[arg(long, env = "SDV_TEAM_VAULT", value_parser = parse_account)]
    team_vault: Option<AccountId>,
    /// GuardianRecovery's address.
    #[arg(long, env = "SDV_GUARDIAN_RECOVERY", value_parser = parse_account)]
    guardian_recovery: Option<AccountId>,
    /// The node's WebSocket URL (default: the deployment's).
    #[arg(long, env = "SDV_NODE_URL")]
    node_url: Option<String>,
    /// The PostgreSQL database.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Where the query API listens.
    #[arg(long, env = "SDV_INDEXER_LISTEN", default_value = "127.0.0.1:8700")]
    listen: std::net::SocketAddr,
    /// Blocks written per database transaction while catching up.
    #[arg(long, env = "SDV_INDEXER_BATCH_BLOCKS", default_value_t = sdv_indexer::follow::BATCH_BLOCKS)]
    batch_blocks: u32,
    /// Forget everything indexed so far (after the chain was replaced) and start over.
    #[arg(long)]
    reset: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let deployment = match &args.deployment {
        Some(path) => {
            Some(Deployment::load(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let node_url = args
        .node_url
        .or_else(|| deployment.as_ref().map(|d| d.rpc_url.clone()))
        .context("no node URL: set SDV_NODE_URL or SDV_DEPLOYMENT")?;
    let mut watched = deployment
        .as_ref()
        .map(sdv_indexer::Watched::from_deployment)
        .unwrap_or_default();
    let overrides = [
        (&mut watched.governance, args.governance),
        (&mut watched.document_nft, args.document_nft),
        (&mut watched.team_vault, args.team_vault),
        (&mut watched.guardian_recovery, args.guardian_recovery),
    ];
    for (slot, address) in overrides {
        if address.is_some() {
            *slot = address;
        }
    }
    anyhow::ensure!(
        !watched.addresses().is_empty(),
        "no contract to index: set SDV_DEPLOYMENT, or SDV_GOVERNANCE, SDV_DOCUMENT_NFT, \
         SDV_TEAM_VAULT and SDV_GUARDIAN_RECOVERY"
    );

    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await
        .context("connecting to PostgreSQL")?;
    sdv_indexer::migrate(&pool)
        .await
        .context("applying the migrations")?;
    if args.reset {
        sdv_indexer::reset(&pool).await?;
        tracing::warn!("reset: everything indexed before was deleted");
    }
    tracing::info!(node = %node_url, contracts = watched.addresses().len(), "indexing");
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding the API to {}", args.listen))?;
    tracing::info!(api = %listener.local_addr()?, "query API listening");
    let api = sdv_indexer::api::app(sdv_indexer::api::AppState { pool: pool.clone() });
    tokio::select! {
        served = axum::serve(listener, api) => served.context("serving the API")?,
        followed = sdv_indexer::live::run(
            &node_url,
            &pool,
            &watched,
            args.batch_blocks,
        ) => followed?,
    }
    Ok(())
}

/// An account given as SS58 or as 64 hex digits (`0x` optional).
fn parse_account(text: &str) -> Result<AccountId, String> {
    if let Ok(account) = text.parse::<AccountId>() {
        return Ok(account);
    }
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|_| format!("{text:?} is not an account (SS58 or 64 hex digits)"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(AccountId::from)
        .map_err(|_| format!("{text:?} is not an account (SS58 or 64 hex digits)"))
}

#[cfg(test)]
mod tests {
    use super::parse_account;

    #[test]
    fn accounts_are_read_as_ss58_or_hex() {
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let from_ss58 = parse_account(alice).unwrap();
        let hex = format!("0x{}", hex::encode(from_ss58.0));
        assert_eq!(parse_account(&hex).unwrap(), from_ss58);
        assert_eq!(parse_account(&hex[2..]).unwrap(), from_ss58);
        for bad in ["", "0x1234", "5Grwva", "zz"] {
            let err = parse_account(bad).unwrap_err();
            assert!(err.contains("is not an account"), "{bad}: {err}");
        }
    }
}
