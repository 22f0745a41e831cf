//! `sdv-recovery`: the key-management API (8935) and the recovery ceremony (8130) in one
//! process. Configuration: see [`sdv_recovery::config`].
//!
//! - `sdv-recovery` runs the services.
//! - `sdv-recovery public-key` opens the token, makes the recovery key when it has none, and
//!   prints its X25519 public key (hex): what the storage gateway is given as
//!   `SDV_RECOVERY_PUBLIC_KEY`.

use anyhow::Context;
use sdv_recovery::{api, ceremony, notices, AppState, Config, TokenConfig};
use sqlx::postgres::PgPoolOptions;

const USAGE: &str = "usage: sdv-recovery [public-key]";

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
        ["public-key"] => {
            let token = TokenConfig::from_env()?;
            let key = token.open()?.recovery_key(&token.recovery_key_label)?;
            println!("{}", hex::encode(key.public_key()));
            Ok(())
        }
        ["--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => anyhow::bail!("{USAGE}"),
    }
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
    sdv_recovery::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let state = AppState::new(config.clone(), pool)?;
    let keys = tokio::net::TcpListener::bind(config.keys_listen)
        .await
        .with_context(|| format!("listening on {}", config.keys_listen))?;
    let ceremony_listener = tokio::net::TcpListener::bind(config.ceremony_listen)
        .await
        .with_context(|| format!("listening on {}", config.ceremony_listen))?;
    tracing::info!(
        keys = %config.keys_listen,
        ceremony = %config.ceremony_listen,
        token = %config.token.label,
        recovery_key = %hex::encode(state.recovery_key().public_key()),
        "serving"
    );
    tokio::spawn(ceremony::run(state.clone()));
    tokio::spawn(notices::run(state.clone()));
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = axum::serve(keys, api::keys_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        r = axum::serve(ceremony_listener, api::ceremony_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        _ = term.recv() => tracing::info!("terminated"),
    }
    Ok(())
}
