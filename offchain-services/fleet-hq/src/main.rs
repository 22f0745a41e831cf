//! `sdv-fleet-hq`: the fleet's distribution server. Configuration: see
//! [`sdv_fleet_hq::config`].

use anyhow::Context;
use sdv_chain::GovernanceConnection;
use sdv_fleet_hq::{monitor, AppState, Config};
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let pool = PgPoolOptions::new()
        .max_connections(config.pg_pool_max)
        .connect(config.database_url.expose_str()?)
        .await
        .context("connecting to PostgreSQL")?;
    sdv_fleet_hq::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let governance = GovernanceConnection::new(config.node_url.clone(), config.governance.clone());
    // Connected at start, so a wrong node address fails here; later questions connect anew
    // when the node restarted.
    governance
        .get()
        .await
        .with_context(|| format!("connecting to the node at {}", config.node_url))?;
    let state = AppState::new(&config, pool, Some(std::sync::Arc::new(governance)));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        node = %config.node_url,
        signing_key = state.keys.current().id(),
        "serving"
    );
    tokio::spawn(monitor::run(state.clone(), config.alert_check));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    axum::serve(listener, sdv_fleet_hq::app(state))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}
