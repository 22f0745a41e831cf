//! The agent's signed requests to HQ: registration, heartbeats and deployment reports.
//!
//! Each is a `POST` whose headers ([`RequestAuth`]) carry an HMAC with the shared secret and an
//! Ed25519 signature by the identity key, over the node id, `POST`, the URL path
//! (`/v1/fleet/nodes/<NODE_ID>/...`), the timestamp and the sha256 of the exact body sent.

use std::time::Duration;

use sdv_fleet::{now_ms, DeploymentReport, RequestAuth};
use serde::Serialize;

use crate::{config::track_name, docker::ContainerStatus, AgentState, Error, Result};

/// The body of `register-agent`.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Where HQ reaches the agent.
    pub agent_url: String,
    /// The identity key (hex Ed25519 public key).
    pub identity_key: String,
    /// The node's track.
    pub track: &'static str,
}

/// The body of `heartbeat`.
#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    /// The node's containers.
    pub containers: Vec<ContainerStatus>,
}

/// The path of one of the node's HQ endpoints.
pub fn node_path(node_id: &str, endpoint: &str) -> String {
    format!("/v1/fleet/nodes/{node_id}/{endpoint}")
}

impl AgentState {
    /// Sends `body` to `endpoint` of the node at HQ, signed.
    ///
    /// # Errors
    ///
    /// [`Error::Http`] when HQ cannot be reached, [`Error::Hq`] when it answers with an error.
    pub async fn post_to_hq<T: Serialize>(&self, endpoint: &str, body: &T) -> Result<()> {
        let config = self.config();
        let path = node_path(&config.node_id, endpoint);
        let body = serde_json::to_vec(body)?;
        let auth = RequestAuth::sign(
            &config.node_id,
            "POST",
            &path,
            &body,
            now_ms(),
            config.keys.current(),
            Some(&config.identity),
        );
        let mut request = self
            .http()
            .post(format!("{}{path}", config.hq_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            return Err(Error::Hq(format!(
                "POST {path}: {status} {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        Ok(())
    }

    /// Registers the agent's URL, identity key and track.
    ///
    /// # Errors
    ///
    /// As [`AgentState::post_to_hq`].
    pub async fn register(&self) -> Result<()> {
        let config = self.config();
        self.post_to_hq(
            "register-agent",
            &Registration {
                agent_url: config.agent_url.clone(),
                identity_key: hex::encode(config.identity.public_key()),
                track: track_name(config.track),
            },
        )
        .await
    }

    /// Sends a heartbeat with the node's containers.
    ///
    /// # Errors
    ///
    /// [`Error::Docker`] when the containers cannot be listed, else as
    /// [`AgentState::post_to_hq`].
    pub async fn heartbeat(&self) -> Result<()> {
        let containers = self.containers().await?;
        self.post_to_hq("heartbeat", &Heartbeat { containers })
            .await
    }

    /// Sends a deployment report, trying three times.
    ///
    /// # Errors
    ///
    /// The last attempt's, as [`AgentState::post_to_hq`].
    pub async fn report(&self, report: &DeploymentReport) -> Result<()> {
        let mut attempt = 1;
        loop {
            match self.post_to_hq("verify-deployment", report).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= 3 => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "reporting the deployment to HQ");
                    tokio::time::sleep(Duration::from_secs(2 * attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// Registers after the configured delay, then again every interval (sooner, every 30 s,
/// while HQ does not answer).
pub async fn register_loop(state: AgentState) {
    tokio::time::sleep(state.config().register_delay).await;
    loop {
        let wait = match state.register().await {
            Ok(()) => {
                tracing::info!(hq = %state.config().hq_url, "registered at HQ");
                state.config().register_interval
            }
            Err(e) => {
                tracing::warn!(error = %e, "registering at HQ; retrying in 30 s");
                state
                    .config()
                    .register_interval
                    .min(Duration::from_secs(30))
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Sends a heartbeat every configured interval.
pub async fn heartbeat_loop(state: AgentState) {
    let mut interval = tokio::time::interval(state.config().heartbeat);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(e) = state.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat to HQ");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_are_under_the_fleet_api() {
        assert_eq!(
            node_path("validator-3", "register-agent"),
            "/v1/fleet/nodes/validator-3/register-agent"
        );
    }
}
