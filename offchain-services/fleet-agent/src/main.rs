//! `sdv-agent`: the validator update agent (8055). Configuration: see
//! [`sdv_agent::config`]; the image and its run flags: see the crate docs of [`sdv_agent`].
//!
//! - `sdv-agent` serves.
//! - `sdv-agent identity` prints the identity key (hex), making it when missing.

use std::net::SocketAddr;

use anyhow::Context;
use sdv_agent::{config, hq, AgentState, ChainApprovals, Config, Engine};
use sdv_chain::Deployment;

const USAGE: &str = "usage: sdv-agent [identity]";

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
        ["identity"] => {
            let file = config::DEFAULT_IDENTITY_FILE;
            let path = std::env::var("SDV_AGENT_IDENTITY_FILE").unwrap_or_else(|_| file.into());
            let key = config::load_identity(path.as_ref())?;
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
    let deployment = Deployment::load(&config.deployment)
        .with_context(|| format!("reading {}", config.deployment.display()))?;
    let governance = ChainApprovals::new(
        config.node_url.clone(),
        deployment.address("validator_governance")?.clone(),
    );
    let engine = Engine::new(&config.docker_socket);
    let state = AgentState::new(config.clone(), engine, governance)?;
    if let Err(e) = state.engine().ping().await {
        tracing::warn!(error = %e, socket = %config.docker_socket.display(), "Docker is not reachable yet");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(
        listen = %config.listen,
        node = %config.node_id,
        track = config::track_name(config.track),
        hq = %config.hq_url,
        registry = %config.registry,
        identity = %hex::encode(config.identity.public_key()),
        "serving"
    );
    tokio::spawn(hq::register_loop(state.clone()));
    tokio::spawn(hq::heartbeat_loop(state.clone()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let app = sdv_agent::router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::select! {
        r = axum::serve(listener, app) => r?,
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = term.recv() => tracing::info!("terminated"),
    }
    Ok(())
}
