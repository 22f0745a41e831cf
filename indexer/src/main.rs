//! `sdv-indexer`: mirrors the SDV contracts' finalized events into PostgreSQL.
//!
//! Configuration from the environment: `DATABASE_URL`; `SDV_DEPLOYMENT`, the deployment file
//! `./dev up` writes (contract addresses, and the node's URL unless `SDV_NODE_URL` is set);
//! `SDV_INDEXER_LISTEN`, where the query API listens (default 127.0.0.1:8700).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use sdv_chain::Deployment;
use sqlx::postgres::PgPoolOptions;

/// Mirrors the SDV contracts' finalized events into PostgreSQL.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The deployment file with the contracts' addresses.
    #[arg(long, env = "SDV_DEPLOYMENT")]
    deployment: PathBuf,
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
    let deployment = Deployment::load(&args.deployment)
        .with_context(|| format!("reading {}", args.deployment.display()))?;
    let node_url = args.node_url.unwrap_or(deployment.rpc_url.clone());
    let watched = sdv_indexer::Watched::from_deployment(&deployment);

    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.database_url)
        .await
        .context("connecting to PostgreSQL")?;
    sdv_indexer::MIGRATOR
        .run(&pool)
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
