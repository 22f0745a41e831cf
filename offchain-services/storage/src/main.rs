//! `sdv-storage`: the upload gateway (9015), the storage service (8900), the compliance API
//! (8100) and the retention scheduler, in one process. Configuration: see
//! [`sdv_storage::config`].

use std::time::Duration;

use anyhow::Context;
use sdv_storage::{auth, compliance, gateway_router, retention, storage_router, AppState, Config};
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    release_large_buffers();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_env()?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(config.database_url.expose_str()?)
        .await
        .context("connecting to PostgreSQL")?;
    sdv_storage::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let state = AppState::new(config.clone(), pool).await?;

    let gateway = tokio::net::TcpListener::bind(config.gateway_listen)
        .await
        .with_context(|| format!("listening on {}", config.gateway_listen))?;
    let storage = tokio::net::TcpListener::bind(config.storage_listen)
        .await
        .with_context(|| format!("listening on {}", config.storage_listen))?;
    let compliance_listener = tokio::net::TcpListener::bind(config.compliance_listen)
        .await
        .with_context(|| format!("listening on {}", config.compliance_listen))?;
    tracing::info!(
        gateway = %config.gateway_listen,
        storage = %config.storage_listen,
        compliance = %config.compliance_listen,
        bucket = %config.s3.bucket,
        "serving"
    );
    tokio::spawn(auth::watch_revocations(
        state.clone(),
        Duration::from_millis(config.session_check_ms),
    ));
    tokio::spawn(retention::run(
        state.clone(),
        Duration::from_millis(config.retention_interval_ms),
    ));
    let shutdown = || async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = axum::serve(gateway, gateway_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        r = axum::serve(storage, storage_router(state.clone())).with_graceful_shutdown(shutdown()) => r?,
        r = axum::serve(compliance_listener, compliance::router()).with_graceful_shutdown(shutdown()) => r?,
        _ = term.recv() => tracing::info!("terminated"),
    }
    Ok(())
}

/// Chunks (5 MB) and parts (16 MB) are allocated and freed all the time, on many threads.
/// glibc's default raises its mmap threshold after such frees and then serves them from
/// per-thread arenas that keep the memory; a fixed 1 MiB threshold hands every large buffer
/// back to the system when freed, so the resident size follows the buffers in use.
fn release_large_buffers() {
    // SAFETY: `mallopt` only changes the allocator's parameters (it is thread-safe).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
