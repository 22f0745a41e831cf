//! Typed calls of the ValidatorGovernance contract.

use sdv_types::governance::{
    Error as GovernanceError, Proposal, ProposalCreated, ProposalId, ProposalKind, ProposalState,
    ProviderSelection, Release, ReplicationPolicy, Tier, TierParams, Track,
};
use sdv_types::Hash32;
use subxt::tx::Signer;

use crate::{AccountId, CallData, Chain, Contract, Error, NodeConfig, Result, Submitted};

/// The deployed ValidatorGovernance contract.
#[derive(Clone)]
pub struct Governance {
    contract: Contract,
}

impl Governance {
    /// The contract at `address`.
    pub fn new(chain: Chain, address: AccountId) -> Self {
        Self {
            contract: Contract::new(chain, address),
        }
    }

    /// Files a proposal and returns its id.
    pub async fn propose<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        kind: &ProposalKind,
    ) -> Result<ProposalId> {
        let submitted = self
            .send(signer, CallData::message("propose").arg(kind))
            .await?;
        submitted
            .events
            .iter()
            .find_map(|e| e.decode::<ProposalCreated>())
            .transpose()?
            .map(|e| e.id)
            .ok_or_else(|| Error::Dispatch("propose emitted no ProposalCreated event".into()))
    }

    /// Votes on a proposal.
    pub async fn vote<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        id: ProposalId,
        approve: bool,
    ) -> Result<Submitted> {
        self.send(signer, CallData::message("vote").arg(&id).arg(&approve))
            .await
    }

    /// Contests an emergency recovery petition.
    pub async fn contest<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        id: ProposalId,
        reason: &str,
    ) -> Result<Submitted> {
        self.send(signer, CallData::message("contest").arg(&id).arg(&reason))
            .await
    }

    /// Executes a ready proposal.
    pub async fn execute<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        id: ProposalId,
    ) -> Result<Submitted> {
        self.send(signer, CallData::message("execute").arg(&id))
            .await
    }

    /// A proposal as stored.
    pub async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>> {
        self.query(CallData::message("proposal").arg(&id)).await
    }

    /// A proposal's state now.
    pub async fn state(&self, id: ProposalId) -> Result<Option<ProposalState>> {
        self.query(CallData::message("proposal_state").arg(&id))
            .await
    }

    /// The account holding a service role.
    pub async fn role(&self, role: sdv_types::governance::Role) -> Result<Option<AccountId>> {
        let account: Option<sdv_types::AccountId> =
            self.query(CallData::message("role").arg(&role)).await?;
        Ok(account.as_ref().map(crate::from_ink_account))
    }

    /// A tier's limits as governance sets them.
    pub async fn tier_params(&self, tier: Tier) -> Result<TierParams> {
        self.query(CallData::message("tier_params").arg(&tier))
            .await
    }

    /// A tier's replication policy (Arweave on request, IPFS automatically).
    pub async fn replication_policy(&self, tier: Tier) -> Result<ReplicationPolicy> {
        self.query(CallData::message("replication_policy").arg(&tier))
            .await
    }

    /// The storage providers in service.
    pub async fn providers(&self) -> Result<ProviderSelection> {
        self.query(CallData::message("providers")).await
    }

    /// The release number under which `digest` of `image` was approved for `track`; `None`
    /// when governance has not approved it (the fleet deploys only approved digests).
    pub async fn approved_release_number(
        &self,
        image: &str,
        digest: Hash32,
        track: Track,
    ) -> Result<Option<u64>> {
        self.query(
            CallData::message("approved_release_number")
                .arg(&image.to_owned())
                .arg(&digest)
                .arg(&track),
        )
        .await
    }

    /// The last release approved for `image` on `track`.
    pub async fn latest_release(&self, image: &str, track: Track) -> Result<Option<Release>> {
        self.query(
            CallData::message("latest_release")
                .arg(&image.to_owned())
                .arg(&track),
        )
        .await
    }
}

impl Error {
    /// The contract's typed error, when the call reverted with one.
    pub fn contract_error<E: codec::Decode>(&self) -> Option<E> {
        let Error::Reverted(data) = self else {
            return None;
        };
        // A reverted message answers `Result<Result<T, E>, LangError>::Ok(Err(e))`.
        match data.as_slice() {
            [0, 1, rest @ ..] => E::decode(&mut &rest[..]).ok(),
            _ => None,
        }
    }

    /// The ValidatorGovernance error, when the call reverted with one.
    pub fn governance_error(&self) -> Option<GovernanceError> {
        self.contract_error()
    }
}

impl std::ops::Deref for Governance {
    type Target = Contract;

    /// The untyped contract: `address`, `send` and `query` of any message.
    fn deref(&self) -> &Contract {
        &self.contract
    }
}

/// ValidatorGovernance on a node that may restart, for a long-running service that asks it
/// now and then: connected on first use, and connected anew (once per question) when the
/// connection was lost, so the service outlives the node's restarts without being restarted.
pub struct GovernanceConnection {
    node_url: String,
    address: AccountId,
    connected: tokio::sync::Mutex<Option<Governance>>,
}

impl GovernanceConnection {
    /// The contract at `address` on the node at `node_url`; nothing is connected yet.
    pub fn new(node_url: impl Into<String>, address: AccountId) -> Self {
        Self {
            node_url: node_url.into(),
            address,
            connected: tokio::sync::Mutex::new(None),
        }
    }

    /// The contract on the current connection, connecting when there is none.
    ///
    /// # Errors
    ///
    /// [`Error`] when the node cannot be reached.
    pub async fn get(&self) -> Result<Governance> {
        let mut connected = self.connected.lock().await;
        if let Some(governance) = connected.as_ref() {
            return Ok(governance.clone());
        }
        let chain = Chain::connect(&self.node_url).await?;
        let governance = Governance::new(chain, self.address.clone());
        *connected = Some(governance.clone());
        Ok(governance)
    }

    /// [`Governance::approved_release_number`], asked again on a new connection when the
    /// current one was lost.
    ///
    /// # Errors
    ///
    /// [`Error`] when the node cannot be reached or the query fails.
    pub async fn approved_release_number(
        &self,
        image: &str,
        digest: Hash32,
        track: Track,
    ) -> Result<Option<u64>> {
        match self
            .get()
            .await?
            .approved_release_number(image, digest, track)
            .await
        {
            Err(e) if e.is_connection_lost() => {
                tracing::info!(node = %self.node_url, error = %e, "the node connection was lost; connecting again");
                *self.connected.lock().await = None;
                self.get()
                    .await?
                    .approved_release_number(image, digest, track)
                    .await
            }
            answer => answer,
        }
    }
}
