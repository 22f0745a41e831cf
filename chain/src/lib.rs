//! Chain access for the Sovereign Document Vault.
//!
//! The one crate that talks to the node: it owns the subxt code generated from the metadata
//! committed in `node-config/metadata/`, and offers what every other crate needs of
//! `pallet-contracts`: upload code, instantiate, dry-run and submit calls, and find the
//! `Contracts::ContractEmitted` events of an address.
//!
//! Refresh the metadata with `./dev metadata` after a node upgrade.

mod bundle;
mod client;
mod contract;
mod deployment;
mod document;
mod error;
mod events;
mod governance;
mod recovery;
mod vault;

pub use bundle::{CallData, ContractBundle, Selector};
pub use client::{gas_limit_for, Chain, DryRun, Instantiated, Submitted, GAS_MARGIN_PERCENT};
pub use contract::Contract;
pub use deployment::{DeployedContract, Deployment};
pub use document::{DocumentNft, Mint};
pub use error::{Error, Result};
pub use events::{contract_events, ContractEvent};
pub use governance::{Governance, GovernanceConnection};
pub use recovery::GuardianRecovery;
pub use subxt;
pub use subxt_signer;
pub use vault::TeamVault;

/// Code generated from the node's metadata.
// Generated items carry the runtime's docs, not ours, and are public by design.
#[allow(missing_docs, unreachable_pub)]
#[subxt::subxt(
    runtime_metadata_path = "../node-config/metadata/contracts-node.scale",
    derive_for_all_types = "Clone, PartialEq, Eq"
)]
pub mod node {}

/// The node's transaction and block configuration.
///
/// `substrate-contracts-node` uses `MultiAddress<AccountId32, ()>`, 32-bit block numbers and
/// BLAKE2-256 hashing, which is what subxt's Polkadot configuration describes.
pub type NodeConfig = subxt::PolkadotConfig;

/// A client of the node.
pub type Client = subxt::OnlineClient<NodeConfig>;

/// An account on the chain.
pub type AccountId = subxt::utils::AccountId32;

/// A block or code hash.
pub type Hash = subxt::utils::H256;

/// The native token balance.
pub type Balance = u128;

/// Converts a chain account into the contracts' account type.
pub fn to_ink_account(account: &AccountId) -> sdv_types::AccountId {
    sdv_types::AccountId::from(account.0)
}

/// Converts a contracts' account into a chain account.
pub fn from_ink_account(account: &sdv_types::AccountId) -> AccountId {
    let bytes: &[u8; 32] = account.as_ref();
    AccountId::from(*bytes)
}
