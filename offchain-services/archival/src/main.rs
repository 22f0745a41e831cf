//! `sdv-archival`: the Arweave integration (8950) and the IPFS pinning service (8920) in one
//! process. Configuration: see [`sdv_archival::config`].
//!
//! - `sdv-archival` runs the services.
//! - `sdv-archival keygen FILE` writes a new Arweave wallet (a JWK, mode 600) and prints its
//!   address; it refuses to overwrite a file.
//! - `sdv-archival address FILE` prints a wallet's address.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::Context;
use sdv_archival::{api, arweave, ipfs, AppState, Config};
use sdv_arweave::wallet::Wallet;
use sqlx::postgres::PgPoolOptions;

const USAGE: &str = "usage: sdv-archival [keygen FILE | address FILE]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve().await,
        ["keygen", file] => keygen(Path::new(file)),
        ["address", file] => {
            let jwk = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            println!("{}", Wallet::from_jwk(&jwk)?.address());
            Ok(())
        }
        ["--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}

fn keygen(file: &Path) -> anyhow::Result<()> {
    let wallet = Wallet::generate()?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {} (it must not exist yet)", file.display()))?;
    out.write_all(wallet.to_jwk().as_bytes())?;
    out.sync_all()?;
    println!("{}", wallet.address());
    Ok(())
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(config.database_url.expose_str()?)
        .await
        .context("connecting to PostgreSQL")?;
    sdv_archival::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let state = AppState::new(config.clone(), pool).await?;
    let arweave_listener = tokio::net::TcpListener::bind(config.arweave_listen)
        .await
        .with_context(|| format!("listening on {}", config.arweave_listen))?;
    let ipfs_listener = tokio::net::TcpListener::bind(config.ipfs_listen)
        .await
        .with_context(|| format!("listening on {}", config.ipfs_listen))?;
    tracing::info!(
        arweave = %config.arweave_listen,
        ipfs = %config.ipfs_listen,
        gateway = %config.arweave_url,
        ipfs_node = %config.ipfs_api_url,
        wallet = %state.wallet().address(),
        "serving"
    );
    tokio::spawn(arweave::run(state.clone()));
    tokio::spawn(ipfs::run(state.clone()));
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = axum::serve(arweave_listener, api::arweave_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        r = axum::serve(ipfs_listener, api::ipfs_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        _ = term.recv() => tracing::info!("terminated"),
    }
    Ok(())
}
