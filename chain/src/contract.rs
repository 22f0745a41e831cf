//! A deployed contract: state-changing messages and queries by label.

use subxt::tx::Signer;

use crate::{AccountId, CallData, Chain, NodeConfig, Result, Submitted};

/// A deployed contract at an address.
#[derive(Clone)]
pub struct Contract {
    chain: Chain,
    address: AccountId,
}

impl Contract {
    /// The contract at `address`.
    pub fn new(chain: Chain, address: AccountId) -> Self {
        Self { chain, address }
    }

    /// Its address.
    pub fn address(&self) -> &AccountId {
        &self.address
    }

    /// The chain it lives on.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// A state-changing message, dry-run then submitted and finalized.
    pub async fn send<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        data: CallData,
    ) -> Result<Submitted> {
        self.chain
            .call(signer, &self.address, data.into_bytes())
            .await
    }

    /// A read-only message, dry-run as the contract itself.
    pub async fn query<T: codec::Decode>(&self, data: CallData) -> Result<T> {
        self.chain
            .query(&self.address, &self.address, data.into_bytes())
            .await
    }
}
