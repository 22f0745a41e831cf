//! The keeper: executes every TeamVault operation and governance proposal that has become
//! ready, found through the indexer, so nothing waits on a person after a timelock.

use std::{collections::HashSet, sync::Arc, time::Duration};

use sdv_chain::{subxt::tx::Signer, AccountId, CallData, NodeConfig};
use serde::Deserialize;

use crate::{relay::Relayer, Error, Result};

/// What the keeper executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A TeamVault operation.
    VaultOperation(u64),
    /// A ValidatorGovernance proposal.
    Proposal(u64),
}

#[derive(Deserialize)]
struct Answer {
    data: Items,
}

#[derive(Deserialize)]
struct Items {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    id: u64,
}

/// Executes ready operations and proposals with its own account, which pays the fees.
pub struct Keeper<S> {
    relayer: Arc<Relayer<S>>,
    indexer: String,
    http: reqwest::Client,
    team_vault: AccountId,
    governance: AccountId,
    done: tokio::sync::Mutex<HashSet<Target>>,
}

impl<S: Signer<NodeConfig> + Send + Sync> Keeper<S> {
    /// A keeper reading the indexer API at `indexer` (`http://127.0.0.1:8700`).
    pub fn new(
        relayer: Arc<Relayer<S>>,
        indexer: &str,
        team_vault: AccountId,
        governance: AccountId,
    ) -> Self {
        Self {
            relayer,
            indexer: indexer.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            team_vault,
            governance,
            done: Default::default(),
        }
    }

    /// One round: executes what the indexer lists as ready and was not executed before.
    /// Returns what it executed.
    pub async fn tick(&self) -> Result<Vec<Target>> {
        let mut ready: Vec<Target> = self
            .ready("/vault-operations?state=ready&limit=500")
            .await?
            .into_iter()
            .map(Target::VaultOperation)
            .collect();
        ready.extend(
            self.ready("/governance/proposals?state=ready&limit=500")
                .await?
                .into_iter()
                .map(Target::Proposal),
        );
        let mut executed = Vec::new();
        for target in ready {
            if self.done.lock().await.contains(&target) {
                continue;
            }
            let (dest, id) = match target {
                Target::VaultOperation(id) => (&self.team_vault, id),
                Target::Proposal(id) => (&self.governance, id),
            };
            let data = CallData::message("execute").arg(&id).into_bytes();
            match self.relayer.send(dest, data).await {
                Ok(sent) => {
                    tracing::info!(?target, block = ?sent.block_hash, "executed");
                    self.done.lock().await.insert(target);
                    executed.push(target);
                }
                Err(e @ Error::Refused { .. }) => {
                    // Executed by someone else, or not ready on-chain yet: try again later.
                    tracing::info!(?target, error = %e, "not executable now");
                }
                Err(e) => tracing::warn!(?target, error = %e, "execution failed"),
            }
        }
        Ok(executed)
    }

    /// Runs a round every `every` until the process ends.
    pub async fn run(&self, every: Duration) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "keeper round failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn ready(&self, path: &str) -> Result<Vec<u64>> {
        let answer: Answer = self
            .http
            .get(format!("{}{path}", self.indexer))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer.data.items.into_iter().map(|i| i.id).collect())
    }
}
