//! Typed calls of the DocumentNFT contract.

use sdv_types::{
    document::{
        Document, DocumentClass, DocumentMinted, DocumentStatus, EncryptionKey,
        Error as DocumentError, Holder, Replica, RetentionOption, TokenId,
    },
    governance::Tier,
    psp34::{Id, PSP34Error},
    Hash32,
};
use subxt::tx::Signer;

use crate::{
    to_ink_account, AccountId, CallData, Chain, Contract, Error, NodeConfig, Result, Submitted,
};

/// The deployed DocumentNFT contract.
#[derive(Clone)]
pub struct DocumentNft {
    contract: Contract,
}

/// What the storage attestor mints: a verified upload and its owner's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mint {
    /// The owner's wallet or vault.
    pub holder: Holder,
    /// sha256 of the ciphertext.
    pub sha256: Hash32,
    /// Ciphertext bytes.
    pub size: u64,
    /// The client's classification.
    pub class: DocumentClass,
    /// The owner's retention choice.
    pub retention: RetentionOption,
    /// An Arweave copy is requested.
    pub arweave: bool,
}

impl Mint {
    /// The `mint` message with these arguments.
    pub fn call_data(&self) -> CallData {
        CallData::message("mint")
            .arg(&self.holder)
            .arg(&self.sha256)
            .arg(&self.size)
            .arg(&self.class)
            .arg(&self.retention)
            .arg(&self.arweave)
    }
}

impl DocumentNft {
    /// The contract at `address`.
    pub fn new(chain: Chain, address: AccountId) -> Self {
        Self {
            contract: Contract::new(chain, address),
        }
    }

    /// Mints a verified upload (storage attestor only) and returns its [`DocumentMinted`]
    /// event with everything the call emitted.
    pub async fn mint<S: Signer<NodeConfig>>(
        &self,
        attestor: &S,
        mint: &Mint,
    ) -> Result<(DocumentMinted, Submitted)> {
        let submitted = self.send(attestor, mint.call_data()).await?;
        let minted = submitted
            .event::<DocumentMinted>()?
            .ok_or_else(|| Error::Dispatch("mint emitted no DocumentMinted event".into()))?;
        Ok((minted, submitted))
    }

    /// Stages a verified upload for a vault's decision (storage attestor only).
    pub async fn stage_vault_upload<S: Signer<NodeConfig>>(
        &self,
        attestor: &S,
        vault: sdv_types::VaultId,
        sha256: Hash32,
        size: u64,
    ) -> Result<Submitted> {
        self.send(
            attestor,
            CallData::message("stage_vault_upload")
                .arg(&vault)
                .arg(&sha256)
                .arg(&size),
        )
        .await
    }

    /// Sets a tier (tier authority only).
    pub async fn set_tier<S: Signer<NodeConfig>>(
        &self,
        authority: &S,
        holder: Holder,
        tier: Tier,
    ) -> Result<Submitted> {
        self.send(
            authority,
            CallData::message("set_tier").arg(&holder).arg(&tier),
        )
        .await
    }

    /// Extends a document's retention (owner only).
    pub async fn extend_retention<S: Signer<NodeConfig>>(
        &self,
        owner: &S,
        id: TokenId,
        retention: RetentionOption,
    ) -> Result<Submitted> {
        self.send(
            owner,
            CallData::message("extend_retention")
                .arg(&id)
                .arg(&retention),
        )
        .await
    }

    /// Records the pre-deletion notice (retention executor only).
    pub async fn notice_deletion<S: Signer<NodeConfig>>(
        &self,
        executor: &S,
        id: TokenId,
    ) -> Result<Submitted> {
        self.send(executor, CallData::message("notice_deletion").arg(&id))
            .await
    }

    /// The owner asks for deletion.
    pub async fn request_deletion<S: Signer<NodeConfig>>(
        &self,
        owner: &S,
        id: TokenId,
    ) -> Result<Submitted> {
        self.send(owner, CallData::message("request_deletion").arg(&id))
            .await
    }

    /// Confirms that the storage was deleted (retention executor only).
    pub async fn confirm_deletion<S: Signer<NodeConfig>>(
        &self,
        executor: &S,
        id: TokenId,
    ) -> Result<Submitted> {
        self.send(executor, CallData::message("confirm_deletion").arg(&id))
            .await
    }

    /// Records a secondary copy (storage attestor only).
    pub async fn record_replica<S: Signer<NodeConfig>>(
        &self,
        attestor: &S,
        id: TokenId,
        replica: &Replica,
    ) -> Result<Submitted> {
        self.send(
            attestor,
            CallData::message("record_replica").arg(&id).arg(replica),
        )
        .await
    }

    /// Publishes the signer's X25519 public key.
    pub async fn publish_encryption_key<S: Signer<NodeConfig>>(
        &self,
        account: &S,
        key: [u8; 32],
    ) -> Result<Submitted> {
        self.send(
            account,
            CallData::message("publish_encryption_key").arg(&key),
        )
        .await
    }

    /// PSP34 `transfer` of a document to `to`.
    pub async fn transfer<S: Signer<NodeConfig>>(
        &self,
        owner: &S,
        to: &AccountId,
        id: TokenId,
    ) -> Result<Submitted> {
        self.send(
            owner,
            CallData::message("PSP34::transfer")
                .arg(&to_ink_account(to))
                .arg(&Id::U64(id))
                .arg(&Vec::<u8>::new()),
        )
        .await
    }

    /// A document's record.
    pub async fn document(&self, id: TokenId) -> Result<Option<Document>> {
        self.query(CallData::message("document").arg(&id)).await
    }

    /// A document's status.
    pub async fn status(&self, id: TokenId) -> Result<Option<DocumentStatus>> {
        self.query(CallData::message("status").arg(&id)).await
    }

    /// Documents of a holder not deleted.
    pub async fn live_documents(&self, holder: Holder) -> Result<u32> {
        self.query(CallData::message("live_documents").arg(&holder))
            .await
    }

    /// An account's published encryption key.
    pub async fn encryption_key(&self, account: &AccountId) -> Result<Option<EncryptionKey>> {
        self.query(CallData::message("encryption_key").arg(&to_ink_account(account)))
            .await
    }

    /// The token of a ciphertext hash.
    pub async fn token_by_hash(&self, sha256: Hash32) -> Result<Option<TokenId>> {
        self.query(CallData::message("token_by_hash").arg(&sha256))
            .await
    }

    /// The upload staged for a vault under a ciphertext hash.
    pub async fn staged_upload(
        &self,
        sha256: Hash32,
    ) -> Result<Option<sdv_types::document::StagedUpload>> {
        self.query(CallData::message("staged_upload").arg(&sha256))
            .await
    }

    /// A holder's tier (`None` for a vault that does not exist or a revoked wallet).
    pub async fn tier_of(&self, holder: Holder) -> Result<Option<Tier>> {
        self.query(CallData::message("tier_of").arg(&holder)).await
    }

    /// Whether a wallet was replaced by a recovery.
    pub async fn is_revoked(&self, wallet: &AccountId) -> Result<bool> {
        self.query(CallData::message("is_revoked").arg(&to_ink_account(wallet)))
            .await
    }

    /// PSP34 `owner_of`.
    pub async fn owner_of(&self, id: TokenId) -> Result<Option<sdv_types::AccountId>> {
        self.query(CallData::message("PSP34::owner_of").arg(&Id::U64(id)))
            .await
    }

    /// PSP34 `balance_of`.
    pub async fn balance_of(&self, owner: &AccountId) -> Result<u32> {
        self.query(CallData::message("PSP34::balance_of").arg(&to_ink_account(owner)))
            .await
    }
}

impl Error {
    /// The DocumentNFT error, when the call reverted with one.
    pub fn document_error(&self) -> Option<DocumentError> {
        self.contract_error()
    }

    /// The PSP34 error, when a PSP34 message reverted with one.
    pub fn psp34_error(&self) -> Option<PSP34Error> {
        self.contract_error()
    }
}

impl std::ops::Deref for DocumentNft {
    type Target = Contract;

    /// The untyped contract: `address`, `send` and `query` of any message.
    fn deref(&self) -> &Contract {
        &self.contract
    }
}
