//! `sdv-notify`: the notification service (notices by mail and signed webhook).
//!
//! Settings from the environment: `SDV_NOTIFY_LISTEN` (default 127.0.0.1:8400),
//! `DATABASE_URL`, `SDV_NOTIFY_API_KEY` (or `_FILE`; required), `SDV_SMTP_URL` (default
//! `smtp://127.0.0.1:25`; plain SMTP, loopback hosts only), `SDV_MAIL_FROM` (default
//! `SDV Notices <notices@sdv.localhost>`), `SDV_WEBHOOK_SECRET` (or `_FILE`; required),
//! `SDV_NOTIFY_RETRY_MS` (default 5000). Secrets are never logged.

use std::sync::Arc;

use anyhow::Context;
use sdv_notify::{api, worker::Worker, Config};
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run().await {
        eprintln!("sdv-notify: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(config.database_url.expose_str()?)
        .await
        .context("connecting to DATABASE_URL")?;
    sdv_notify::migrate(&pool)
        .await
        .context("applying the migrations")?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the API to {}", config.listen))?;
    tracing::info!(
        api = %listener.local_addr()?,
        smtp = %format!("{}:{}", config.smtp.host, config.smtp.port),
        from = %config.mail_from,
        retry_base_ms = config.retry_base.as_millis(),
        "sdv-notify listening"
    );
    let wake = Arc::new(tokio::sync::Notify::new());
    let app = api::router(api::AppState {
        pool: pool.clone(),
        api_key: config.api_key.clone(),
        wake: wake.clone(),
    });
    let worker = Worker::new(pool, &config);
    tokio::select! {
        served = axum::serve(listener, app) => served.context("serving the API")?,
        () = worker.run(wake) => {}
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    Ok(())
}
