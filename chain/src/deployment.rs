//! The deployment file: where the contracts of one chain live.
//!
//! `./dev up` writes it; every service and the CLI read it.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::{AccountId, Error, Hash, Result};

/// One deployed contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedContract {
    /// The contract's account.
    pub address: AccountId,
    /// The hash of its Wasm code.
    pub code_hash: Hash,
}

/// The contracts of one chain, with how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain's genesis hash: a deployment is only valid on that chain.
    pub genesis_hash: Hash,
    /// The node's WebSocket RPC endpoint.
    pub rpc_url: String,
    /// The contracts by crate name.
    pub contracts: BTreeMap<String, DeployedContract>,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Deployment {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes the deployment file atomically (a reader never sees half of it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_string_pretty(self).expect("a deployment always serializes");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The address of the contract called `name`.
    pub fn address(&self, name: &str) -> Result<&AccountId> {
        self.contracts
            .get(name)
            .map(|c| &c.address)
            .ok_or_else(|| Error::UnknownContract(name.into()))
    }
}
