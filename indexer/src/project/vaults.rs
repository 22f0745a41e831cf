//! TeamVault's events: vaults, their admins and activity, operations, votes and vetoes
//! (migration `0003_governance_vaults_recovery.sql`).

use std::collections::{BTreeMap, BTreeSet};

use sdv_chain::{AccountId, ContractEvent};
use sdv_types::vault::{
    AdminCheckedIn, AdminsChanged, EmergencyAccessGranted, Operation, OperationExecuted,
    OperationProposed, OperationQueued, OperationVetoed, OperationVoted, VaultCreated,
};
use serde_json::{json, Value};
use sqlx::{types::Json, Postgres, Transaction};

use super::{
    account_hex, bytes, class_name, db_int, db_int16, decode_as, decode_batch, insert, load,
    replace, retention_name, At, Decoded,
};
use crate::{store::IndexedBlock, Result};

/// Projects the events `team_vault` emitted in `blocks` into the vault tables, in `tx`.
pub(super) async fn project(
    tx: &mut Transaction<'_, Postgres>,
    team_vault: &AccountId,
    blocks: &[IndexedBlock],
) -> Result<()> {
    let events = decode_batch(team_vault, blocks, decode)?;
    if events.is_empty() {
        return Ok(());
    }
    let op_ids: BTreeSet<i64> = events
        .iter()
        .filter_map(|(_, e)| match e {
            VaultEvent::OperationVoted(OperationVoted { id, .. })
            | VaultEvent::OperationQueued(OperationQueued { id, .. })
            | VaultEvent::OperationVetoed(OperationVetoed { id, .. })
            | VaultEvent::OperationExecuted(OperationExecuted { id, .. }) => Some(db_int(*id)),
            _ => None,
        })
        .collect();
    let operations: Vec<OperationRow> =
        load(tx, "vault_operations", "id", op_ids.into_iter().collect()).await?;
    let mut vault_ids: BTreeSet<i64> = operations.iter().map(|o| o.vault).collect();
    vault_ids.extend(events.iter().filter_map(|(_, e)| match e {
        VaultEvent::OperationProposed(OperationProposed { vault, .. })
        | VaultEvent::AdminsChanged(AdminsChanged { vault, .. })
        | VaultEvent::AdminCheckedIn(AdminCheckedIn { vault, .. })
        | VaultEvent::EmergencyAccessGranted(EmergencyAccessGranted { vault, .. }) => {
            Some(i64::from(*vault))
        }
        _ => None,
    }));
    let vault_ids: Vec<i64> = vault_ids.into_iter().collect();
    let vaults: Vec<VaultRow> = load(tx, "vaults", "id", vault_ids.clone()).await?;
    let mut admins: Vec<AdminRow> = load(tx, "vault_admins", "vault", vault_ids).await?;
    admins.sort_by_key(|a| (a.vault, a.position));
    let mut fold = Fold {
        vaults: vaults.into_iter().map(|v| (v.id, v)).collect(),
        operations: operations.into_iter().map(|o| (o.id, o)).collect(),
        ..Fold::default()
    };
    for admin in admins {
        fold.admins.entry(admin.vault).or_default().push(admin);
    }
    for (at, event) in events {
        fold.apply(&at, event);
    }
    fold.write(tx).await
}

#[derive(Debug)]
enum VaultEvent {
    VaultCreated(VaultCreated),
    OperationProposed(OperationProposed),
    OperationVoted(OperationVoted),
    OperationQueued(OperationQueued),
    OperationVetoed(OperationVetoed),
    OperationExecuted(OperationExecuted),
    AdminsChanged(AdminsChanged),
    AdminCheckedIn(AdminCheckedIn),
    EmergencyAccessGranted(EmergencyAccessGranted),
}

fn decode(event: &ContractEvent) -> Decoded<VaultEvent> {
    decode_as!(
        event,
        VaultEvent {
            VaultCreated,
            OperationProposed,
            OperationVoted,
            OperationQueued,
            OperationVetoed,
            OperationExecuted,
            AdminsChanged,
            AdminCheckedIn,
            EmergencyAccessGranted,
        }
    )
}

/// One `vaults` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vaults")]
struct VaultRow {
    id: i64,
    creator: Vec<u8>,
    created_ms: i64,
    emergency_grantee: Option<Vec<u8>>,
    emergency_decision: Option<i64>,
    created_block: i64,
    updated_block: i64,
}

/// One `vault_admins` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_admins")]
struct AdminRow {
    vault: i64,
    position: i16,
    admin: Vec<u8>,
    last_active_ms: i64,
}

/// One `vault_operations` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_operations")]
struct OperationRow {
    id: i64,
    vault: i64,
    proposer: Vec<u8>,
    kind: String,
    detail: Json<Value>,
    admin_count: i16,
    required: i16,
    approvals: i16,
    rejections: i16,
    proposed_ms: i64,
    eta_ms: Option<i64>,
    vetoed: bool,
    executed_ms: Option<i64>,
    executor: Option<Vec<u8>>,
    token: Option<i64>,
    created_block: i64,
    updated_block: i64,
}

/// One `vault_votes` row.
#[derive(Debug, Clone, sqlx::Type)]
#[sqlx(type_name = "vault_votes")]
struct VoteRow {
    operation_id: i64,
    admin: Vec<u8>,
    approve: bool,
    voted_ms: i64,
    block_number: i64,
}

/// One `vault_vetoes` row.
#[derive(Debug, Clone, sqlx::Type)]
#[sqlx(type_name = "vault_vetoes")]
struct VetoRow {
    operation_id: i64,
    admin: Vec<u8>,
    reason: String,
    vetoed_ms: i64,
    block_number: i64,
}

/// The batch's effect, folded in chain order.
#[derive(Default)]
struct Fold {
    vaults: BTreeMap<i64, VaultRow>,
    /// The admins of every vault in `vaults`, in order.
    admins: BTreeMap<i64, Vec<AdminRow>>,
    operations: BTreeMap<i64, OperationRow>,
    votes: Vec<VoteRow>,
    vetoes: Vec<VetoRow>,
}

impl Fold {
    fn apply(&mut self, at: &At, event: VaultEvent) {
        match event {
            VaultEvent::VaultCreated(e) => {
                let id = i64::from(e.vault);
                self.vaults.insert(
                    id,
                    VaultRow {
                        id,
                        creator: bytes(&e.creator).to_vec(),
                        created_ms: at.time_ms,
                        emergency_grantee: None,
                        emergency_decision: None,
                        created_block: at.number,
                        updated_block: at.number,
                    },
                );
                self.set_admins(id, &e.admins, at);
            }
            VaultEvent::OperationProposed(e) => {
                let vault = i64::from(e.vault);
                let (kind, detail) = operation(&e.operation);
                let admin_count = self
                    .admins
                    .get(&vault)
                    .map(|a| i16::try_from(a.len()).unwrap_or(i16::MAX))
                    .filter(|n| *n > 0)
                    .unwrap_or(db_int16(e.required));
                self.operations.insert(
                    db_int(e.id),
                    OperationRow {
                        id: db_int(e.id),
                        vault,
                        proposer: bytes(&e.proposer).to_vec(),
                        kind: kind.into(),
                        detail: Json(detail),
                        admin_count,
                        required: db_int16(e.required),
                        approvals: 0,
                        rejections: 0,
                        proposed_ms: at.time_ms,
                        eta_ms: None,
                        vetoed: false,
                        executed_ms: None,
                        executor: None,
                        token: None,
                        created_block: at.number,
                        updated_block: at.number,
                    },
                );
                self.touch(vault, &e.proposer, at);
            }
            VaultEvent::OperationVoted(e) => {
                self.votes.push(VoteRow {
                    operation_id: db_int(e.id),
                    admin: bytes(&e.admin).to_vec(),
                    approve: e.approve,
                    voted_ms: at.time_ms,
                    block_number: at.number,
                });
                if let Some(op) = self.operation(db_int(e.id), at, "OperationVoted") {
                    op.approvals = db_int16(e.approvals);
                    op.rejections = db_int16(e.rejections);
                    op.updated_block = at.number;
                    let vault = op.vault;
                    self.touch(vault, &e.admin, at);
                }
            }
            VaultEvent::OperationQueued(e) => {
                if let Some(op) = self.operation(db_int(e.id), at, "OperationQueued") {
                    op.eta_ms = Some(db_int(e.eta).max(op.proposed_ms));
                    op.updated_block = at.number;
                }
            }
            VaultEvent::OperationVetoed(e) => {
                self.vetoes.push(VetoRow {
                    operation_id: db_int(e.id),
                    admin: bytes(&e.admin).to_vec(),
                    reason: e.reason.clone(),
                    vetoed_ms: at.time_ms,
                    block_number: at.number,
                });
                if let Some(op) = self.operation(db_int(e.id), at, "OperationVetoed") {
                    op.vetoed = true;
                    op.updated_block = at.number;
                }
                self.touch(i64::from(e.vault), &e.admin, at);
            }
            VaultEvent::OperationExecuted(e) => {
                if let Some(op) = self.operation(db_int(e.id), at, "OperationExecuted") {
                    op.executed_ms = Some(at.time_ms);
                    op.executor = Some(bytes(&e.executor).to_vec());
                    op.token = e.token.map(db_int);
                    op.updated_block = at.number;
                }
                self.touch(i64::from(e.vault), &e.executor, at);
            }
            VaultEvent::AdminsChanged(e) => {
                self.set_admins(i64::from(e.vault), &e.new, at);
            }
            VaultEvent::AdminCheckedIn(e) => {
                self.touch(i64::from(e.vault), &e.admin, at);
            }
            VaultEvent::EmergencyAccessGranted(e) => {
                if let Some(vault) = self.vaults.get_mut(&i64::from(e.vault)) {
                    vault.emergency_grantee = Some(bytes(&e.grantee).to_vec());
                    vault.emergency_decision = Some(db_int(e.decision));
                    vault.updated_block = at.number;
                }
            }
        }
    }

    /// Makes `admins` the vault's admin list: those who stay keep their last activity, those
    /// who join are active now (as TeamVault counts them).
    fn set_admins(&mut self, vault: i64, admins: &[sdv_types::AccountId], at: &At) {
        let old = self.admins.remove(&vault).unwrap_or_default();
        let new = admins
            .iter()
            .enumerate()
            .map(|(position, admin)| {
                let admin = bytes(admin).to_vec();
                let last_active_ms = old
                    .iter()
                    .find(|a| a.admin == admin)
                    .map_or(at.time_ms, |a| a.last_active_ms);
                AdminRow {
                    vault,
                    position: i16::try_from(position).unwrap_or(i16::MAX),
                    admin,
                    last_active_ms,
                }
            })
            .collect();
        self.admins.insert(vault, new);
        if let Some(row) = self.vaults.get_mut(&vault) {
            row.updated_block = at.number;
        }
    }

    /// Records activity of `account` in `vault` if it is one of its admins.
    fn touch(&mut self, vault: i64, account: &sdv_types::AccountId, at: &At) {
        let account = bytes(account);
        if let Some(admin) = self
            .admins
            .get_mut(&vault)
            .and_then(|admins| admins.iter_mut().find(|a| a.admin == account))
        {
            admin.last_active_ms = at.time_ms;
        }
    }

    fn operation(&mut self, id: i64, at: &At, event: &'static str) -> Option<&mut OperationRow> {
        let op = self.operations.get_mut(&id);
        if op.is_none() {
            tracing::warn!(
                operation = id,
                block = at.number,
                index = at.index,
                event,
                "TeamVault event for an operation the database does not hold; state not updated"
            );
        }
        op
    }

    async fn write(self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        let ids = self.vaults.keys().copied().collect();
        replace(tx, "vaults", "id", ids, self.vaults.into_values().collect()).await?;
        let ids = self.admins.keys().copied().collect();
        let admins = self.admins.into_values().flatten().collect();
        replace(tx, "vault_admins", "vault", ids, admins).await?;
        let ids = self.operations.keys().copied().collect();
        let operations = self.operations.into_values().collect();
        replace(tx, "vault_operations", "id", ids, operations).await?;
        insert(tx, "vault_votes", self.votes).await?;
        insert(tx, "vault_vetoes", self.vetoes).await
    }
}

/// An operation's name and arguments, as `vault_operations.kind` and `.detail` hold them.
fn operation(operation: &Operation) -> (&'static str, Value) {
    match operation {
        Operation::Upload {
            sha256,
            class,
            retention,
            arweave,
        } => (
            "upload",
            json!({
                "sha256": hex::encode(sha256),
                "class": class_name(*class),
                "retention": retention_name(*retention),
                "arweave": arweave,
            }),
        ),
        Operation::Share {
            token,
            grantee,
            wrapped_key,
        } => (
            "share",
            json!({
                "token": token,
                "grantee": account_hex(grantee),
                "wrapped_key": hex::encode(wrapped_key),
            }),
        ),
        Operation::Delete { token } => ("delete", json!({ "token": token })),
        Operation::AddAdmin(admin) => ("add_admin", json!({ "admin": account_hex(admin) })),
        Operation::RemoveAdmin(admin) => ("remove_admin", json!({ "admin": account_hex(admin) })),
        Operation::TransferOwnership(admins) => (
            "transfer_ownership",
            json!({ "admins": admins.iter().map(account_hex).collect::<Vec<_>>() }),
        ),
    }
}
