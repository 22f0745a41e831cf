//! Typed calls of the GuardianRecovery contract.

use sdv_types::recovery::{
    Error as RecoveryError, GuardianKind, Recovery, RecoveryId, RecoveryInitiated, RecoveryState,
};
use subxt::tx::Signer;

use crate::{
    to_ink_account, AccountId, CallData, Chain, Contract, Error, NodeConfig, Result, Submitted,
};

/// The deployed GuardianRecovery contract.
#[derive(Clone)]
pub struct GuardianRecovery {
    contract: Contract,
}

impl GuardianRecovery {
    /// The contract at `address`.
    pub fn new(chain: Chain, address: AccountId) -> Self {
        Self {
            contract: Contract::new(chain, address),
        }
    }

    /// The signer names its 3 guardians.
    pub async fn set_guardians<S: Signer<NodeConfig>>(
        &self,
        user: &S,
        guardians: &[(AccountId, GuardianKind)],
    ) -> Result<Submitted> {
        let guardians: Vec<_> = guardians
            .iter()
            .map(|(a, kind)| (to_ink_account(a), *kind))
            .collect();
        self.send(user, CallData::message("set_guardians").arg(&guardians))
            .await
    }

    /// The signer accepts being `user`'s guardian.
    pub async fn accept<S: Signer<NodeConfig>>(
        &self,
        guardian: &S,
        user: &AccountId,
    ) -> Result<Submitted> {
        self.send(
            guardian,
            CallData::message("accept_guardianship").arg(&to_ink_account(user)),
        )
        .await
    }

    /// A guardian starts a recovery of `user` toward `new_wallet`; returns its id.
    pub async fn initiate<S: Signer<NodeConfig>>(
        &self,
        guardian: &S,
        user: &AccountId,
        new_wallet: &AccountId,
    ) -> Result<RecoveryId> {
        let submitted = self
            .send(
                guardian,
                CallData::message("initiate_recovery")
                    .arg(&to_ink_account(user))
                    .arg(&to_ink_account(new_wallet)),
            )
            .await?;
        submitted
            .event::<RecoveryInitiated>()?
            .map(|e| e.id)
            .ok_or_else(|| {
                Error::Dispatch("initiate_recovery emitted no RecoveryInitiated event".into())
            })
    }

    /// A guardian attests a recovery.
    pub async fn attest<S: Signer<NodeConfig>>(
        &self,
        guardian: &S,
        id: RecoveryId,
    ) -> Result<Submitted> {
        self.send(guardian, CallData::message("attest").arg(&id))
            .await
    }

    /// The wallet being recovered cancels.
    pub async fn cancel<S: Signer<NodeConfig>>(
        &self,
        user: &S,
        id: RecoveryId,
    ) -> Result<Submitted> {
        self.send(user, CallData::message("cancel_recovery").arg(&id))
            .await
    }

    /// Finalizes a recovery after its timelock (anyone).
    pub async fn finalize<S: Signer<NodeConfig>>(
        &self,
        signer: &S,
        id: RecoveryId,
    ) -> Result<Submitted> {
        self.send(signer, CallData::message("finalize_recovery").arg(&id))
            .await
    }

    /// A recovery as stored.
    pub async fn recovery(&self, id: RecoveryId) -> Result<Option<Recovery>> {
        self.query(CallData::message("recovery").arg(&id)).await
    }

    /// A recovery's state now.
    pub async fn state(&self, id: RecoveryId) -> Result<Option<RecoveryState>> {
        self.query(CallData::message("recovery_state").arg(&id))
            .await
    }
}

impl Error {
    /// The GuardianRecovery error, when the call reverted with one.
    pub fn recovery_error(&self) -> Option<RecoveryError> {
        self.contract_error()
    }
}

impl std::ops::Deref for GuardianRecovery {
    type Target = Contract;

    /// The untyped contract: `address`, `send` and `query` of any message.
    fn deref(&self) -> &Contract {
        &self.contract
    }
}
