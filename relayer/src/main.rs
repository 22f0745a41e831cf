//! `sdv-relayer run`: the outbox worker and the keeper for one signing account.
//!
//! Settings: `SDV_DEPLOYMENT` (the deployment file; its `rpc_url` unless `SDV_NODE_URL`),
//! `SDV_RELAYER_SIGNER` or `SDV_RELAYER_SIGNER_FILE` (the account's secret URI, never logged),
//! `SDV_RELAYER_SCHEME` (`sr25519` or `ed25519`), `DATABASE_URL` (the outbox; off when unset),
//! `SDV_INDEXER_URL` (the keeper; off when unset), `SDV_RELAYER_POLL_MS` (default 1000).
//! Test hook: `SDV_RELAYER_PAUSE_AFTER_SUBMIT=<file>` (see `outbox::PAUSE_AFTER_SUBMIT_VAR`).

use std::{sync::Arc, time::Duration};

use anyhow::{bail, Context};
use sdv_chain::Deployment;
use sdv_relayer::{keeper::Keeper, outbox, Relayer, RelayerConfig, Retry};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run().await {
        eprintln!("sdv-relayer: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("run") => {}
        Some("--help") | Some("-h") | None => {
            println!("usage: sdv-relayer run   (settings from the environment; see the README)");
            return Ok(());
        }
        Some(other) => bail!("unknown command {other:?}; usage: sdv-relayer run"),
    }
    let config = RelayerConfig::from_env()?;
    let key = config.key()?;
    let deployment = Deployment::load(&config.deployment)?;
    let url = std::env::var("SDV_NODE_URL").unwrap_or_else(|_| deployment.rpc_url.clone());
    let poll = Duration::from_millis(sdv_config::env_parse("SDV_RELAYER_POLL_MS", 1000u64)?);
    let relayer = Arc::new(
        Relayer::connect(&url, key, Retry::default())
            .await
            .with_context(|| format!("connecting to the node at {url}"))?
            .with_deployment(&deployment),
    );
    tracing::info!(account = %relayer.account(), "relaying");

    let database = std::env::var("DATABASE_URL").ok();
    let indexer = std::env::var("SDV_INDEXER_URL").ok();
    if database.is_none() && indexer.is_none() {
        bail!("nothing to do: set DATABASE_URL (outbox) and/or SDV_INDEXER_URL (keeper)");
    }
    let outbox_task = async {
        let Some(url) = &database else {
            return std::future::pending::<anyhow::Result<()>>().await;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .context("connecting to DATABASE_URL")?;
        outbox::migrate(&pool).await?;
        let pause = std::env::var_os(outbox::PAUSE_AFTER_SUBMIT_VAR).map(Into::into);
        outbox::Outbox::new(pool, relayer.clone())
            .pause_after_submit(pause)
            .run(poll)
            .await?;
        Ok(())
    };
    let keeper_task = async {
        let Some(api) = &indexer else {
            return std::future::pending::<anyhow::Result<()>>().await;
        };
        let keeper = Keeper::new(
            relayer.clone(),
            api,
            deployment.address("team_vault")?.clone(),
            deployment.address("validator_governance")?.clone(),
        );
        keeper.run(poll).await;
        Ok(())
    };
    tokio::select! {
        r = outbox_task => r,
        r = keeper_task => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
