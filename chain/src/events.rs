//! `Contracts::ContractEmitted` events and their decoding through the shared types.

use crate::{node, AccountId, NodeConfig, Result};

/// One event emitted by a contract, as the chain recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractEvent {
    /// The emitting contract.
    pub contract: AccountId,
    /// The event's index in its block.
    pub index: u32,
    /// The topics; the first one is the ink! 5 signature topic.
    pub topics: Vec<[u8; 32]>,
    /// The SCALE-encoded event.
    pub data: Vec<u8>,
}

impl ContractEvent {
    /// Decodes the event as `E` if its signature topic is `E`'s.
    pub fn decode<E>(&self) -> Option<core::result::Result<E, codec::Error>>
    where
        E: sdv_types::ink::env::Event + codec::Decode,
    {
        sdv_types::decode_event::<E>(&self.topics, &self.data)
    }
}

/// The `ContractEmitted` events of a block (or of one extrinsic's events) whose emitting
/// contract is in `contracts`; all contracts when `contracts` is empty.
pub fn contract_events(
    events: impl IntoIterator<
        Item = core::result::Result<subxt::events::EventDetails<NodeConfig>, subxt::Error>,
    >,
    contracts: &[AccountId],
) -> Result<Vec<ContractEvent>> {
    let mut found = Vec::new();
    for event in events {
        let event = event?;
        let Some(emitted) = event.as_event::<node::contracts::events::ContractEmitted>()? else {
            continue;
        };
        if !contracts.is_empty() && !contracts.contains(&emitted.contract) {
            continue;
        }
        found.push(ContractEvent {
            contract: emitted.contract,
            index: event.index(),
            topics: event.topics().iter().map(|t| t.0).collect(),
            data: emitted.data,
        });
    }
    Ok(found)
}
