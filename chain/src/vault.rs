//! Typed calls of the TeamVault contract.

use sdv_types::{
    vault::{
        Error as VaultError, Operation, OperationId, OperationProposed, OperationState,
        VaultCreated, VaultOperation,
    },
    VaultId,
};
use subxt::tx::Signer;

use crate::{
    to_ink_account, AccountId, CallData, Chain, Contract, Error, NodeConfig, Result, Submitted,
};

/// The deployed TeamVault contract.
#[derive(Clone)]
pub struct TeamVault {
    contract: Contract,
}

impl TeamVault {
    /// The contract at `address`.
    pub fn new(chain: Chain, address: AccountId) -> Self {
        Self {
            contract: Contract::new(chain, address),
        }
    }

    /// Creates a vault and returns its number.
    pub async fn create_vault<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        admins: &[AccountId],
    ) -> Result<VaultId> {
        let admins: Vec<_> = admins.iter().map(to_ink_account).collect();
        let submitted = self
            .send(signer, CallData::message("create_vault").arg(&admins))
            .await?;
        submitted
            .event::<VaultCreated>()?
            .map(|e| e.vault)
            .ok_or_else(|| Error::Dispatch("create_vault emitted no VaultCreated event".into()))
    }

    /// Proposes an operation and returns its id.
    pub async fn propose<S: Signer<NodeConfig>>(
        &self,
        admin: &S,
        vault: VaultId,
        operation: &Operation,
    ) -> Result<OperationId> {
        let submitted = self
            .send(
                admin,
                CallData::message("propose").arg(&vault).arg(operation),
            )
            .await?;
        submitted
            .event::<OperationProposed>()?
            .map(|e| e.id)
            .ok_or_else(|| Error::Dispatch("propose emitted no OperationProposed event".into()))
    }

    /// Approves or rejects an operation.
    pub async fn vote<S: Signer<NodeConfig>>(
        &self,
        admin: &S,
        id: OperationId,
        approve: bool,
    ) -> Result<Submitted> {
        self.send(admin, CallData::message("vote").arg(&id).arg(&approve))
            .await
    }

    /// Vetoes an operation in its timelock.
    pub async fn veto<S: Signer<NodeConfig>>(
        &self,
        admin: &S,
        id: OperationId,
        reason: &str,
    ) -> Result<Submitted> {
        self.send(admin, CallData::message("veto").arg(&id).arg(&reason))
            .await
    }

    /// Executes a ready operation (anyone).
    pub async fn execute<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        id: OperationId,
    ) -> Result<Submitted> {
        self.send(signer, CallData::message("execute").arg(&id))
            .await
    }

    /// Records an admin's activity.
    pub async fn check_in<S: Signer<NodeConfig>>(
        &self,
        admin: &S,
        vault: VaultId,
    ) -> Result<Submitted> {
        self.send(admin, CallData::message("check_in").arg(&vault))
            .await
    }

    /// An operation as stored.
    pub async fn operation(&self, id: OperationId) -> Result<Option<VaultOperation>> {
        self.query(CallData::message("operation").arg(&id)).await
    }

    /// An operation's state now.
    pub async fn state(&self, id: OperationId) -> Result<Option<OperationState>> {
        self.query(CallData::message("operation_state").arg(&id))
            .await
    }

    /// Whether an account administers a vault.
    pub async fn is_admin(&self, vault: VaultId, account: &AccountId) -> Result<bool> {
        self.query(
            CallData::message("is_admin")
                .arg(&vault)
                .arg(&crate::to_ink_account(account)),
        )
        .await
    }

    /// Whether the vault is read-only now.
    pub async fn is_read_only(&self, vault: VaultId) -> Result<Option<bool>> {
        self.query(CallData::message("is_read_only").arg(&vault))
            .await
    }
}

impl Error {
    /// The TeamVault error, when the call reverted with one.
    pub fn vault_error(&self) -> Option<VaultError> {
        self.contract_error()
    }
}

impl std::ops::Deref for TeamVault {
    type Target = Contract;

    /// The untyped contract: `address`, `send` and `query` of any message.
    fn deref(&self) -> &Contract {
        &self.contract
    }
}
