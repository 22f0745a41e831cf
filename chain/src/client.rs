//! The node client: upload, instantiate, dry-run and call contracts.

use std::{fmt::Display, future::Future};

use codec::Decode;
use subxt::{
    backend::{legacy::LegacyRpcMethods, rpc::RpcClient},
    blocks::ExtrinsicEvents,
    events::Events,
    tx::{Payload, Signer, TxProgress},
    utils::{MultiAddress, MultiSignature},
};

use crate::{
    contract_events, node,
    node::runtime_types::{
        pallet_contracts::primitives::Code, sp_runtime::DispatchError,
        sp_weights::weight_v2::Weight,
    },
    AccountId, Client, ContractEvent, Error, Hash, NodeConfig, Result,
};

/// Extra gas, in percent of the dry run's `gas_required`, given to a submitted call.
///
/// The dry run runs on the latest block; state may move a little before inclusion.
pub const GAS_MARGIN_PERCENT: u64 = 10;

/// ink!'s `ReturnFlags::REVERT`: the call reverted its state changes.
const REVERT_FLAG: u32 = 1;

/// A connection to the node.
#[derive(Clone)]
pub struct Chain {
    client: Client,
    rpc: LegacyRpcMethods<NodeConfig>,
    url: String,
}

/// What a dry run of a call reports.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Weight the call consumed.
    pub gas_consumed: (u64, u64),
    /// Weight the call needs as a limit (ref_time, proof_size).
    pub gas_required: (u64, u64),
    /// Storage deposit charged (positive) or refunded (negative).
    pub storage_deposit: i128,
    /// The message's raw return data, `Result<T, LangError>` encoded.
    pub data: Vec<u8>,
    /// Whether the contract reverted.
    pub reverted: bool,
}

impl DryRun {
    /// Decodes the message's return value, unwrapping ink!'s `LangError` layer.
    pub fn decode<T: Decode>(&self) -> Result<T> {
        let outer = Result::<T, sdv_types::ink::LangError>::decode(&mut &self.data[..])?;
        outer.map_err(|e| Error::Dispatch(format!("ink! language error: {e:?}")))
    }
}

/// A contract instantiated on the chain.
#[derive(Debug, Clone)]
pub struct Instantiated {
    /// The new contract's account.
    pub address: AccountId,
    /// The contract events emitted by the constructor.
    pub events: Vec<ContractEvent>,
    /// The finalized block that includes it.
    pub block_hash: Hash,
}

/// A call included in a finalized block.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The contract events it emitted, in order.
    pub events: Vec<ContractEvent>,
    /// The finalized block that includes it.
    pub block_hash: Hash,
    /// The weight limit it was sent with (ref_time, proof_size).
    pub gas_limit: (u64, u64),
}

impl Submitted {
    /// The first event of type `E` it emitted.
    ///
    /// Errors: [`Error::Decode`] when an event has `E`'s signature but does not decode.
    pub fn event<E>(&self) -> Result<Option<E>>
    where
        E: sdv_types::ink::env::Event + codec::Decode,
    {
        Ok(self
            .events
            .iter()
            .find_map(|e| e.decode::<E>())
            .transpose()?)
    }
}

impl Chain {
    /// Connects to the node at `url` (`ws://127.0.0.1:9944`).
    pub async fn connect(url: &str) -> Result<Self> {
        let rpc = RpcClient::from_insecure_url(url).await?;
        let client = Client::from_rpc_client(rpc.clone()).await?;
        Ok(Self {
            client,
            rpc: LegacyRpcMethods::new(rpc),
            url: url.to_owned(),
        })
    }

    /// The number and hash of the last finalized block.
    pub async fn finalized_head(&self) -> Result<(u32, Hash)> {
        let hash = self.rpc.chain_get_finalized_head().await?;
        let header = self
            .rpc
            .chain_get_header(Some(hash))
            .await?
            .ok_or_else(|| Error::Dispatch(format!("no header for finalized block {hash:?}")))?;
        Ok((header.number, hash))
    }

    /// The hash of block `number` of the best chain, if it exists.
    pub async fn block_hash(&self, number: u32) -> Result<Option<Hash>> {
        Ok(self.rpc.chain_get_block_hash(Some(number.into())).await?)
    }

    /// All events of block `hash`.
    pub async fn events_at(&self, hash: Hash) -> Result<Events<NodeConfig>> {
        Ok(self.client.events().at(hash).await?)
    }

    /// The time of block `hash` (the timestamp pallet's `now`), in milliseconds since the Unix
    /// epoch; 0 for genesis.
    pub async fn timestamp_at(&self, hash: Hash) -> Result<u64> {
        Ok(self
            .client
            .storage()
            .at(hash)
            .fetch_or_default(&crate::node::storage().timestamp().now())
            .await?)
    }

    /// The next nonce of `account` as the node sees it: on-chain transactions and those
    /// waiting in its pool (`system_accountNextIndex`).
    pub async fn next_nonce(&self, account: &AccountId) -> Result<u64> {
        Ok(self.rpc.system_account_next_index(account).await?)
    }

    /// The subxt client, for what this type does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.client.genesis_hash()
    }

    /// Uploads Wasm code and returns its hash. Uploading code that is already stored is a no-op.
    pub async fn upload_code<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        wasm: &[u8],
    ) -> Result<Hash> {
        let tx = node::tx().contracts().upload_code(
            wasm.to_vec(),
            None,
            node::runtime_types::pallet_contracts::wasm::Determinism::Enforced,
        );
        match self.submit(&tx, signer).await {
            Ok(_) => {}
            Err(Error::Dispatch(reason)) if reason.contains("CodeAlreadyExists") => {}
            Err(e) => return Err(e),
        }
        Ok(Hash::from(sp_blake2_256(wasm)))
    }

    /// Instantiates stored code with the constructor input `data` and `salt`.
    ///
    /// Dry-runs first: a constructor that fails comes back as [`Error::Reverted`] with the
    /// contract's encoded error, and nothing is submitted.
    pub async fn instantiate<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        code_hash: Hash,
        data: Vec<u8>,
        salt: Vec<u8>,
    ) -> Result<Instantiated> {
        let api = node::apis().contracts_api().instantiate(
            signer.account_id(),
            0,
            None,
            None,
            Code::Existing(code_hash),
            data.clone(),
            salt.clone(),
        );
        let dry = self.runtime_call(api).await?;
        let outcome = dry.result.map_err(|e| self.dispatch_error(&e))?;
        if outcome.result.flags.bits & REVERT_FLAG != 0 {
            return Err(Error::Reverted(outcome.result.data));
        }
        let gas_limit = with_margin(&dry.gas_required);
        let tx = node::tx()
            .contracts()
            .instantiate(0, gas_limit, None, code_hash, data, salt);
        let (events, block_hash) = self.submit(&tx, signer).await?;
        let address = events
            .find_first::<node::contracts::events::Instantiated>()?
            .ok_or(Error::NoInstantiatedEvent)?
            .contract;
        Ok(Instantiated {
            address,
            events: contract_events(events.iter(), &[])?,
            block_hash,
        })
    }

    /// Dry-runs a call of contract `dest` by `origin` on the latest block.
    pub async fn dry_run(
        &self,
        origin: &AccountId,
        dest: &AccountId,
        data: Vec<u8>,
    ) -> Result<DryRun> {
        let api =
            node::apis()
                .contracts_api()
                .call(origin.clone(), dest.clone(), 0, None, None, data);
        let dry = self.runtime_call(api).await?;
        let value = dry.result.map_err(|e| self.dispatch_error(&e))?;
        let deposit = match dry.storage_deposit {
            node::runtime_types::pallet_contracts::primitives::StorageDeposit::Charge(v) => {
                v as i128
            }
            node::runtime_types::pallet_contracts::primitives::StorageDeposit::Refund(v) => {
                -(v as i128)
            }
        };
        Ok(DryRun {
            gas_consumed: (dry.gas_consumed.ref_time, dry.gas_consumed.proof_size),
            gas_required: (dry.gas_required.ref_time, dry.gas_required.proof_size),
            storage_deposit: deposit,
            reverted: value.flags.bits & REVERT_FLAG != 0,
            data: value.data,
        })
    }

    /// Calls a read-only message and decodes its answer.
    pub async fn query<T: Decode>(
        &self,
        origin: &AccountId,
        dest: &AccountId,
        data: Vec<u8>,
    ) -> Result<T> {
        let dry = self.dry_run(origin, dest, data).await?;
        if dry.reverted {
            return Err(Error::Reverted(dry.data));
        }
        dry.decode()
    }

    /// Dry-runs, then submits a call and waits until it is finalized.
    ///
    /// A call the contract refuses comes back as [`Error::Reverted`] from the dry run; nothing
    /// is submitted then.
    pub async fn call<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        dest: &AccountId,
        data: Vec<u8>,
    ) -> Result<Submitted> {
        let (tx, gas_limit) = self.prepare_call(&signer.account_id(), dest, data).await?;
        let (events, block_hash) = self.submit(&tx, signer).await?;
        Ok(Submitted {
            events: contract_events(events.iter(), &[])?,
            block_hash,
            gas_limit,
        })
    }

    /// Dry-runs, then submits a contract call signed by an Ed25519 account whose signature
    /// `sign` makes (for example a threshold signature), and waits until it is finalized.
    ///
    /// `sign` receives the bytes to sign (subxt's signer payload, already hashed when longer
    /// than 256 bytes) and returns the 64-byte Ed25519 signature, sent as
    /// `MultiSignature::Ed25519`.
    ///
    /// Errors: [`Error::Reverted`] from the dry run and [`Error::Signing`] when `sign` fails;
    /// nothing is submitted then. A signature the node refuses is an [`Error::Subxt`].
    pub async fn call_signed_with<F, Fut, E>(
        &self,
        account: &AccountId,
        dest: &AccountId,
        data: Vec<u8>,
        sign: F,
    ) -> Result<Submitted>
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = core::result::Result<[u8; 64], E>>,
        E: Display,
    {
        let (tx, gas_limit) = self.prepare_call(account, dest, data).await?;
        let (events, block_hash) = self.submit_signed_with(&tx, account, sign).await?;
        Ok(Submitted {
            events: contract_events(events.iter(), &[])?,
            block_hash,
            gas_limit,
        })
    }

    /// Dry-runs a call by `origin` and builds the `Contracts::call` extrinsic with the weight
    /// the dry run requires plus the margin; returns it with that weight limit.
    async fn prepare_call(
        &self,
        origin: &AccountId,
        dest: &AccountId,
        data: Vec<u8>,
    ) -> Result<(impl Payload, (u64, u64))> {
        let dry = self.dry_run(origin, dest, data.clone()).await?;
        if dry.reverted {
            return Err(Error::Reverted(dry.data));
        }
        let gas_limit = with_margin(&Weight {
            ref_time: dry.gas_required.0,
            proof_size: dry.gas_required.1,
        });
        let limit = (gas_limit.ref_time, gas_limit.proof_size);
        let tx =
            node::tx()
                .contracts()
                .call(MultiAddress::Id(dest.clone()), 0, gas_limit, None, data);
        Ok((tx, limit))
    }

    /// Submits many calls of one contract in one extrinsic (`Utility::batch_all`), each with
    /// the weight the first one's dry run requires plus the margin: for calls that cost the
    /// same, such as load generation. All or none are applied.
    pub async fn call_batch<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        dest: &AccountId,
        calls: Vec<Vec<u8>>,
    ) -> Result<Submitted> {
        let Some(first) = calls.first() else {
            return Err(Error::Dispatch("an empty batch".into()));
        };
        let dry = self
            .dry_run(&signer.account_id(), dest, first.clone())
            .await?;
        if dry.reverted {
            return Err(Error::Reverted(dry.data));
        }
        let gas_limit = with_margin(&Weight {
            ref_time: dry.gas_required.0,
            proof_size: dry.gas_required.1,
        });
        let limit = (gas_limit.ref_time, gas_limit.proof_size);
        let calls = calls
            .into_iter()
            .map(|data| {
                node::runtime_types::contracts_node_runtime::RuntimeCall::Contracts(
                    node::runtime_types::pallet_contracts::pallet::Call::call {
                        dest: MultiAddress::Id(dest.clone()),
                        value: 0,
                        gas_limit: gas_limit.clone(),
                        storage_deposit_limit: None,
                        data,
                    },
                )
            })
            .collect();
        let (events, block_hash) = self
            .submit(&node::tx().utility().batch_all(calls), signer)
            .await?;
        Ok(Submitted {
            events: contract_events(events.iter(), &[])?,
            block_hash,
            gas_limit: limit,
        })
    }

    /// Signs and submits an extrinsic, waits for finality and for success.
    pub async fn submit<P: Payload, S: Signer<NodeConfig>>(
        &self,
        payload: &P,
        signer: &S,
    ) -> Result<(ExtrinsicEvents<NodeConfig>, Hash)> {
        let progress = self
            .client
            .tx()
            .sign_and_submit_then_watch_default(payload, signer)
            .await?;
        finalized_success(progress).await
    }

    /// Submits an extrinsic of an Ed25519 `account` whose signature `sign` makes, waits for
    /// finality and for success.
    ///
    /// The nonce and mortality are the defaults of [`Chain::submit`]. `sign` receives the
    /// signer payload (hashed by subxt when longer than 256 bytes) and returns the 64-byte
    /// Ed25519 signature.
    ///
    /// Errors: [`Error::Signing`] when `sign` fails (nothing is submitted then),
    /// [`Error::Dispatch`] when the extrinsic fails, [`Error::Subxt`] when the node refuses it.
    pub async fn submit_signed_with<P, F, Fut, E>(
        &self,
        payload: &P,
        account: &AccountId,
        sign: F,
    ) -> Result<(ExtrinsicEvents<NodeConfig>, Hash)>
    where
        P: Payload,
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = core::result::Result<[u8; 64], E>>,
        E: Display,
    {
        let mut partial = self
            .client
            .tx()
            .create_partial(payload, account, Default::default())
            .await?;
        let signature = sign(partial.signer_payload())
            .await
            .map_err(|e| Error::Signing(e.to_string()))?;
        let progress = partial
            .sign_with_account_and_signature(account, &MultiSignature::Ed25519(signature))
            .submit_and_watch()
            .await?;
        finalized_success(progress).await
    }

    /// Calls a runtime API on the latest block.
    async fn runtime_call<P: subxt::runtime_api::Payload>(
        &self,
        payload: P,
    ) -> Result<P::ReturnType> {
        Ok(self
            .client
            .runtime_api()
            .at_latest()
            .await?
            .call(payload)
            .await?)
    }

    fn dispatch_error(&self, e: &DispatchError) -> Error {
        Error::Dispatch(self.describe_dispatch(e))
    }

    /// A runtime dispatch error in words, as `Pallet::Error` from the node's metadata.
    pub fn describe_dispatch(&self, e: &DispatchError) -> String {
        match e {
            DispatchError::Module(m) => self
                .client
                .metadata()
                .pallet_by_index(m.index)
                .and_then(|p| {
                    p.error_variant_by_index(m.error[0])
                        .map(|v| format!("{}::{}", p.name(), v.name))
                })
                .unwrap_or_else(|| format!("module {} error {:?}", m.index, m.error)),
            other => format!("{other:?}"),
        }
    }
}

/// Waits until a submitted extrinsic is finalized and checks that it succeeded.
async fn finalized_success(
    progress: TxProgress<NodeConfig, Client>,
) -> Result<(ExtrinsicEvents<NodeConfig>, Hash)> {
    let in_block = progress.wait_for_finalized().await?;
    let block_hash = in_block.block_hash();
    match in_block.wait_for_success().await {
        Ok(events) => Ok((events, block_hash)),
        Err(subxt::Error::Runtime(e)) => Err(Error::Dispatch(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

fn with_margin(w: &Weight) -> Weight {
    let (ref_time, proof_size) = gas_limit_for((w.ref_time, w.proof_size));
    Weight {
        ref_time,
        proof_size,
    }
}

/// The weight limit a call is sent with: what its dry run requires (ref_time, proof_size)
/// plus [`GAS_MARGIN_PERCENT`].
pub fn gas_limit_for((ref_time, proof_size): (u64, u64)) -> (u64, u64) {
    (
        ref_time + ref_time * GAS_MARGIN_PERCENT / 100,
        proof_size + proof_size * GAS_MARGIN_PERCENT / 100,
    )
}

fn sp_blake2_256(data: &[u8]) -> [u8; 32] {
    use blake2::{digest::consts::U32, Blake2b, Digest};
    Blake2b::<U32>::digest(data).into()
}
