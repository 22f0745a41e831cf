//! Signing and submitting contract calls: dry run, nonces, retries, finality, events.

use std::{
    sync::RwLock,
    time::{Duration, Instant},
};

use sdv_chain::{
    contract_events, node,
    node::runtime_types::sp_weights::weight_v2::Weight,
    subxt::{
        config::DefaultExtrinsicParamsBuilder,
        tx::{Signer, SubmittableTransaction, TxProgress},
        utils::MultiAddress,
    },
    AccountId, Chain, Client, ContractEvent, Deployment, Hash, NodeConfig,
};

use crate::{Error, Result};

/// How long and how often transient failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// The first pause.
    pub first: Duration,
    /// The longest pause (pauses double up to it).
    pub max: Duration,
    /// How long one call may keep retrying before it is reported as unavailable.
    pub deadline: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
            deadline: Duration::from_secs(120),
        }
    }
}

/// What the dry run of a call predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The weight the call needs (ref_time, proof_size).
    pub gas_required: (u64, u64),
    /// The storage deposit it charges (positive) or refunds (negative).
    pub storage_deposit: i128,
}

impl Estimate {
    /// The weight limit a call is sent with: the requirement plus the margin.
    pub fn gas_limit(&self) -> (u64, u64) {
        sdv_chain::gas_limit_for(self.gas_required)
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "weight ref_time {} proof_size {}, storage deposit {}",
            self.gas_required.0, self.gas_required.1, self.storage_deposit
        )
    }
}

/// A signed extrinsic, ready to be stored and submitted (again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Its nonce.
    pub nonce: u64,
    /// The encoded extrinsic (immortal, so the bytes stay valid).
    pub bytes: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
}

/// A call included in a finalized block, with its decoded contract events.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The contract events it emitted, in order.
    pub events: Vec<ContractEvent>,
    /// The finalized block that includes it.
    pub block_hash: Hash,
    /// The extrinsic's hash.
    pub tx_hash: Hash,
    /// The nonce it used.
    pub nonce: u64,
}

/// Signs and submits contract calls for one account.
///
/// Concurrent [`Relayer::send`]s share one nonce sequence: each takes the next nonce and is
/// handed to the node in nonce order, then they wait for finality side by side.
pub struct Relayer<S> {
    url: String,
    chain: RwLock<Chain>,
    signer: S,
    account: AccountId,
    next_nonce: tokio::sync::Mutex<Option<u64>>,
    names: Vec<(AccountId, String)>,
    retry: Retry,
}

/// How a failure is handled.
enum Failure {
    /// The node is unreachable or restarting: reconnect and retry.
    Transient(String),
    /// The node already has this extrinsic in its pool.
    InPool,
    /// The nonce was used already (by this extrinsic, or by another).
    Stale,
    /// It cannot succeed.
    Permanent(Error),
}

impl<S: Signer<NodeConfig> + Send + Sync> Relayer<S> {
    /// Connects to the node at `url` (retrying while it is not up) and signs with `signer`.
    pub async fn connect(url: &str, signer: S, retry: Retry) -> Result<Self> {
        let chain = connect_with_retry(url, &retry).await?;
        let account = signer.account_id();
        Ok(Self {
            url: url.to_owned(),
            chain: RwLock::new(chain),
            signer,
            account,
            next_nonce: tokio::sync::Mutex::new(None),
            names: Vec::new(),
            retry,
        })
    }

    /// Names the deployment's contracts, so that refusals are decoded to their typed errors.
    pub fn with_deployment(mut self, deployment: &Deployment) -> Self {
        self.names = deployment
            .contracts
            .iter()
            .map(|(name, c)| (c.address.clone(), name.clone()))
            .collect();
        self
    }

    /// The signing account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The current connection.
    pub fn chain(&self) -> Chain {
        self.chain.read().expect("the chain lock").clone()
    }

    /// Dry-runs a call: its weight and storage deposit, or the contract's refusal in words.
    pub async fn dry_run(&self, dest: &AccountId, data: &[u8]) -> Result<Estimate> {
        let dry = self
            .with_retry(|chain| {
                let data = data.to_vec();
                let origin = self.account.clone();
                let dest = dest.clone();
                async move { chain.dry_run(&origin, &dest, data).await }
            })
            .await?;
        if dry.reverted {
            return Err(self.refusal(dest, &dry.data));
        }
        Ok(Estimate {
            gas_required: dry.gas_required,
            storage_deposit: dry.storage_deposit,
        })
    }

    /// Dry-runs, signs with the next nonce, submits, waits for finality and returns the events.
    ///
    /// A refused call comes back as [`Error::Refused`] and nothing is submitted. Transient
    /// failures are retried with the same signed bytes, so the call lands at most once.
    pub async fn send(&self, dest: &AccountId, data: Vec<u8>) -> Result<Sent> {
        let estimate = self.dry_run(dest, &data).await?;
        let mut nonce = self.next_nonce.lock().await;
        let signed = self.sign_locked(&mut nonce, dest, data, &estimate).await?;
        let first = self.submit(&signed).await;
        drop(nonce);
        let result = self.land(&signed, Some(first)).await;
        if result.is_err() {
            // The nonce may not have been used; read it from the node again.
            *self.next_nonce.lock().await = None;
        }
        result
    }

    /// Signs a call with the next nonce without submitting it (the outbox stores the bytes
    /// first). Callers submit in nonce order with [`Relayer::land`].
    pub async fn sign(
        &self,
        dest: &AccountId,
        data: Vec<u8>,
        estimate: &Estimate,
    ) -> Result<Signed> {
        let mut nonce = self.next_nonce.lock().await;
        self.sign_locked(&mut nonce, dest, data, estimate).await
    }

    /// Forgets the local nonce; the next signature reads it from the node.
    pub async fn resync_nonce(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Brings a signed extrinsic to a finalized block: submits the same bytes (again) until
    /// the node has it, and if its nonce was used meanwhile, finds it in the recent blocks.
    pub async fn land(
        &self,
        signed: &Signed,
        first: Option<std::result::Result<TxProgress<NodeConfig, Client>, sdv_chain::subxt::Error>>,
    ) -> Result<Sent> {
        let started = Instant::now();
        let mut pause = self.retry.first;
        let mut attempt = first;
        loop {
            let outcome = match attempt.take() {
                Some(Ok(progress)) => self.follow(signed, progress).await,
                Some(Err(e)) => Err(classify(e)),
                None => match self.submit(signed).await {
                    Ok(progress) => self.follow(signed, progress).await,
                    Err(e) => Err(classify(e)),
                },
            };
            let reason = match outcome {
                Ok(sent) => return Ok(sent),
                Err(Failure::Permanent(e @ Error::Invalid(_))) => {
                    // Refused as invalid, perhaps because its nonce was used: by itself?
                    if matches!(self.on_chain_nonce().await, Ok(n) if n > signed.nonce) {
                        if let Ok(Some(sent)) = self.find_included(signed).await {
                            return Ok(sent);
                        }
                    }
                    return Err(e);
                }
                Err(Failure::Permanent(e)) => return Err(e),
                Err(Failure::InPool) | Err(Failure::Stale) => {
                    match self.await_inclusion(signed).await {
                        Ok(Some(sent)) => return Ok(sent),
                        Ok(None) => {
                            return Err(Error::NonceTaken {
                                nonce: signed.nonce,
                            })
                        }
                        Err(Failure::Permanent(e)) => return Err(e),
                        Err(Failure::Transient(r)) => r,
                        Err(_) => "the extrinsic is not found yet".to_owned(),
                    }
                }
                Err(Failure::Transient(r)) => r,
            };
            if started.elapsed() > self.retry.deadline {
                return Err(Error::Unavailable(reason));
            }
            tracing::warn!(nonce = signed.nonce, %reason, ?pause, "transient failure, retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.retry.max);
            self.reconnect().await;
            // Included while we were away? Then find it rather than resubmit.
            if let Ok(on_chain) = self.on_chain_nonce().await {
                if on_chain > signed.nonce {
                    match self.find_included(signed).await {
                        Ok(Some(sent)) => return Ok(sent),
                        Ok(None) => {
                            return Err(Error::NonceTaken {
                                nonce: signed.nonce,
                            })
                        }
                        Err(Failure::Permanent(e)) => return Err(e),
                        Err(_) => continue,
                    }
                }
            }
        }
    }

    /// The account's nonce as of the best block (the pool not counted).
    pub async fn on_chain_nonce(&self) -> Result<u64> {
        let chain = self.chain();
        Ok(chain
            .client()
            .tx()
            .account_nonce(&self.account)
            .await
            .map_err(sdv_chain::Error::from)?)
    }

    async fn sign_locked(
        &self,
        nonce: &mut Option<u64>,
        dest: &AccountId,
        data: Vec<u8>,
        estimate: &Estimate,
    ) -> Result<Signed> {
        let n = match *nonce {
            Some(n) => n,
            None => {
                let account = self.account.clone();
                self.with_retry(|chain| {
                    let account = account.clone();
                    async move { chain.next_nonce(&account).await }
                })
                .await?
            }
        };
        let (ref_time, proof_size) = estimate.gas_limit();
        let payload = node::tx().contracts().call(
            MultiAddress::Id(dest.clone()),
            0,
            Weight {
                ref_time,
                proof_size,
            },
            None,
            data,
        );
        // Immortal, with the nonce given: signed offline, without a round trip to the node.
        let params = DefaultExtrinsicParamsBuilder::<NodeConfig>::new()
            .nonce(n)
            .build();
        let tx = self
            .chain()
            .client()
            .tx()
            .create_partial_offline(&payload, params)
            .map_err(sdv_chain::Error::from)?
            .sign(&self.signer);
        *nonce = Some(n + 1);
        Ok(Signed {
            nonce: n,
            hash: tx.hash(),
            bytes: tx.into_encoded(),
        })
    }

    /// Submits signed bytes and starts watching them (no retry: see [`Relayer::land`]).
    pub async fn submit(
        &self,
        signed: &Signed,
    ) -> std::result::Result<TxProgress<NodeConfig, Client>, sdv_chain::subxt::Error> {
        let chain = self.chain();
        SubmittableTransaction::from_bytes(chain.client().clone(), signed.bytes.clone())
            .submit_and_watch()
            .await
    }

    async fn follow(
        &self,
        signed: &Signed,
        progress: TxProgress<NodeConfig, Client>,
    ) -> std::result::Result<Sent, Failure> {
        let in_block = progress.wait_for_finalized().await.map_err(classify)?;
        let block_hash = in_block.block_hash();
        let events = match in_block.wait_for_success().await {
            Ok(events) => events,
            Err(sdv_chain::subxt::Error::Runtime(e)) => {
                return Err(Failure::Permanent(Error::Dispatch(e.to_string())))
            }
            Err(e) => return Err(classify(e)),
        };
        let events =
            contract_events(events.iter(), &[]).map_err(|e| Failure::Permanent(Error::Chain(e)))?;
        Ok(Sent {
            events,
            block_hash,
            tx_hash: signed.hash,
            nonce: signed.nonce,
        })
    }

    /// Waits (bounded) until the account's on-chain nonce passes the extrinsic's, then finds it.
    async fn await_inclusion(&self, signed: &Signed) -> std::result::Result<Option<Sent>, Failure> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let on_chain = self
                .on_chain_nonce()
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?;
            if on_chain > signed.nonce {
                // Finality may trail the best block by a moment.
                for _ in 0..20 {
                    if let Some(sent) = self.find_included(signed).await? {
                        return Ok(Some(sent));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return Ok(None);
            }
            if Instant::now() > until {
                return Err(Failure::Transient(format!(
                    "nonce {} still not included",
                    signed.nonce
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Looks for the extrinsic in the last [`SCAN_BLOCKS`] finalized blocks.
    async fn find_included(&self, signed: &Signed) -> std::result::Result<Option<Sent>, Failure> {
        let transient = |e: sdv_chain::Error| Failure::Transient(e.to_string());
        let chain = self.chain();
        let (head, _) = chain.finalized_head().await.map_err(transient)?;
        let mut number = head;
        while head - number < SCAN_BLOCKS {
            let Some(hash) = chain.block_hash(number).await.map_err(transient)? else {
                break;
            };
            let block = chain
                .client()
                .blocks()
                .at(hash)
                .await
                .map_err(|e| transient(e.into()))?;
            let extrinsics = block.extrinsics().await.map_err(|e| transient(e.into()))?;
            for ext in extrinsics.iter() {
                if ext.hash() != signed.hash {
                    continue;
                }
                let events = ext.events().await.map_err(|e| transient(e.into()))?;
                if let Some(failed) = events
                    .find_first::<node::system::events::ExtrinsicFailed>()
                    .map_err(|e| transient(e.into()))?
                {
                    return Err(Failure::Permanent(Error::Dispatch(
                        chain.describe_dispatch(&failed.dispatch_error),
                    )));
                }
                let events = contract_events(events.iter(), &[])
                    .map_err(|e| Failure::Permanent(Error::Chain(e)))?;
                return Ok(Some(Sent {
                    events,
                    block_hash: hash,
                    tx_hash: signed.hash,
                    nonce: signed.nonce,
                }));
            }
            if number == 0 {
                break;
            }
            number -= 1;
        }
        Ok(None)
    }

    async fn reconnect(&self) {
        if let Ok(chain) = Chain::connect(&self.url).await {
            *self.chain.write().expect("the chain lock") = chain;
        }
    }

    async fn with_retry<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn(Chain) -> Fut,
        Fut: std::future::Future<Output = sdv_chain::Result<T>>,
    {
        let started = Instant::now();
        let mut pause = self.retry.first;
        loop {
            match f(self.chain()).await {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) => {
                    if started.elapsed() > self.retry.deadline {
                        return Err(Error::Unavailable(e.to_string()));
                    }
                    tracing::warn!(error = %e, ?pause, "node unavailable, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.retry.max);
                    self.reconnect().await;
                }
                Err(e) => return Err(Error::Chain(e)),
            }
        }
    }

    fn refusal(&self, dest: &AccountId, data: &[u8]) -> Error {
        let contract = self
            .names
            .iter()
            .find(|(a, _)| a == dest)
            .map(|(_, n)| n.as_str())
            .unwrap_or("");
        describe_revert(contract, data)
    }
}

/// How many finalized blocks back the relayer looks for an extrinsic whose nonce was used.
pub const SCAN_BLOCKS: u32 = 4096;

async fn connect_with_retry(url: &str, retry: &Retry) -> Result<Chain> {
    let started = Instant::now();
    let mut pause = retry.first;
    loop {
        match Chain::connect(url).await {
            Ok(chain) => return Ok(chain),
            Err(e) if started.elapsed() > retry.deadline => {
                return Err(Error::Unavailable(e.to_string()))
            }
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(retry.max);
            }
        }
    }
}

/// Whether a chain error is worth retrying after reconnecting: the node is unreachable,
/// restarting, or dropped the request.
pub fn is_transient(e: &sdv_chain::Error) -> bool {
    use sdv_chain::subxt::{error::TransactionError, Error as E};
    e.is_connection_lost()
        || matches!(e, sdv_chain::Error::Subxt(e) if matches!(
            &**e,
            E::Transaction(
                TransactionError::Dropped(_)
                    | TransactionError::Error(_)
                    | TransactionError::BlockNotFound
            )
        ))
}

fn classify(e: sdv_chain::subxt::Error) -> Failure {
    use sdv_chain::subxt::{
        error::RpcError, error::TransactionError, ext::subxt_rpcs::Error as RpcsError, Error as E,
    };
    match e {
        E::Rpc(RpcError::ClientError(RpcsError::User(u))) => {
            let detail = u.data.as_ref().map(|d| d.get()).unwrap_or_default();
            let text = format!("{}: {detail}", u.message);
            match u.code {
                1013 => Failure::InPool,
                // 1010 Invalid Transaction: "outdated" is a used nonce; the rest cannot pass.
                1010 if text.contains("outdated") || text.contains("Stale") => Failure::Stale,
                1014 => Failure::Stale,
                _ => Failure::Permanent(Error::Invalid(text)),
            }
        }
        E::Rpc(e) => Failure::Transient(e.to_string()),
        E::Io(e) => Failure::Transient(e.to_string()),
        E::Other(e) => Failure::Transient(e),
        E::Transaction(TransactionError::Invalid(r))
            if r.contains("outdated") || r.contains("Stale") =>
        {
            Failure::Stale
        }
        E::Transaction(TransactionError::Dropped(r))
        | E::Transaction(TransactionError::Error(r)) => Failure::Transient(r),
        E::Transaction(TransactionError::BlockNotFound) => {
            Failure::Transient("block not found".into())
        }
        E::Transaction(TransactionError::Invalid(r)) => Failure::Permanent(Error::Invalid(r)),
        E::Runtime(e) => Failure::Permanent(Error::Dispatch(e.to_string())),
        E::Unknown(_) => Failure::Permanent(Error::Invalid("unknown".into())),
        other => Failure::Transient(other.to_string()),
    }
}

/// The refusal of a contract, decoded to its typed error when the contract is known.
pub fn describe_revert(contract: &str, data: &[u8]) -> Error {
    let reverted = sdv_chain::Error::Reverted(data.to_vec());
    let named = match contract {
        "team_vault" => reverted
            .vault_error()
            .map(|e| (e.name().to_owned(), e.description())),
        "document_nft" => reverted
            .document_error()
            .map(|e| (e.name().to_owned(), e.description())),
        "validator_governance" => reverted
            .governance_error()
            .map(|e| (format!("{e:?}"), e.description())),
        "guardian_recovery" => reverted
            .recovery_error()
            .map(|e| (format!("{e:?}"), e.description())),
        _ => None,
    };
    let (name, description) = match named {
        Some((name, description)) => (name, description.to_owned()),
        None => (
            "Reverted".to_owned(),
            format!("the contract reverted with 0x{}", hex::encode(data)),
        ),
    };
    Error::Refused {
        contract: contract.to_owned(),
        name,
        description,
    }
}
