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
pub(crate) struct VaultRow {
    pub(crate) id: i64,
    pub(crate) creator: Vec<u8>,
    pub(crate) created_ms: i64,
    pub(crate) emergency_grantee: Option<Vec<u8>>,
    pub(crate) emergency_decision: Option<i64>,
    pub(crate) created_block: i64,
    pub(crate) updated_block: i64,
}

/// One `vault_admins` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_admins")]
pub(crate) struct AdminRow {
    pub(crate) vault: i64,
    pub(crate) position: i16,
    pub(crate) admin: Vec<u8>,
    pub(crate) last_active_ms: i64,
}

/// One `vault_operations` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_operations")]
pub(crate) struct OperationRow {
    pub(crate) id: i64,
    pub(crate) vault: i64,
    pub(crate) proposer: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) detail: Json<Value>,
    pub(crate) admin_count: i16,
    pub(crate) required: i16,
    pub(crate) approvals: i16,
    pub(crate) rejections: i16,
    pub(crate) proposed_ms: i64,
    pub(crate) eta_ms: Option<i64>,
    pub(crate) vetoed: bool,
    pub(crate) executed_ms: Option<i64>,
    pub(crate) executor: Option<Vec<u8>>,
    pub(crate) token: Option<i64>,
    pub(crate) created_block: i64,
    pub(crate) updated_block: i64,
}

/// One `vault_votes` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_votes")]
pub(crate) struct VoteRow {
    pub(crate) operation_id: i64,
    pub(crate) admin: Vec<u8>,
    pub(crate) approve: bool,
    pub(crate) voted_ms: i64,
    pub(crate) block_number: i64,
}

/// One `vault_vetoes` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "vault_vetoes")]
pub(crate) struct VetoRow {
    pub(crate) operation_id: i64,
    pub(crate) admin: Vec<u8>,
    pub(crate) reason: String,
    pub(crate) vetoed_ms: i64,
    pub(crate) block_number: i64,
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

#[cfg(test)]
pub(crate) mod tests {
    use sdv_types::{
        document::{DocumentClass, RetentionOption},
        vault::TIMELOCK,
    };
    use sqlx::PgPool;

    use super::*;
    use crate::{
        project::testing::{account, block, contract, ev, time_of, write_both_ways},
        Watched,
    };

    const TABLES: &[&str] = &[
        "vaults",
        "vault_admins",
        "vault_operations",
        "vault_votes",
        "vault_vetoes",
    ];

    pub(crate) fn watched() -> Watched {
        Watched {
            team_vault: Some(contract(0x7e)),
            ..Watched::default()
        }
    }

    fn tv<E: sdv_types::ink::env::Event + codec::Encode>(event: E) -> ContractEvent {
        ev(&contract(0x7e), event)
    }

    fn voted(id: u64, admin: u8, approve: bool, approvals: u8, rejections: u8) -> ContractEvent {
        tv(OperationVoted {
            id,
            admin: account(admin),
            approve,
            approvals,
            rejections,
        })
    }

    /// Vault 1 of admins 1, 2, 3: an upload approved, timelocked and executed; an admin
    /// addition vetoed; then admin 4 joins by a second, executed operation.
    pub(crate) fn blocks() -> Vec<IndexedBlock> {
        let upload = Operation::Upload {
            sha256: [0xd0; 32],
            class: DocumentClass::Financial,
            retention: RetentionOption::Standard,
            arweave: false,
        };
        vec![
            block(
                1,
                vec![tv(VaultCreated {
                    vault: 1,
                    creator: account(1),
                    admins: vec![account(1), account(2), account(3)],
                })],
            ),
            block(
                2,
                vec![
                    tv(OperationProposed {
                        id: 0,
                        vault: 1,
                        proposer: account(1),
                        operation: upload,
                        required: 2,
                    }),
                    voted(0, 1, true, 1, 0),
                ],
            ),
            block(
                3,
                vec![
                    voted(0, 2, true, 2, 0),
                    tv(OperationQueued {
                        id: 0,
                        vault: 1,
                        eta: time_of(3) + TIMELOCK,
                    }),
                    tv(OperationProposed {
                        id: 1,
                        vault: 1,
                        proposer: account(2),
                        operation: Operation::AddAdmin(account(9)),
                        required: 3,
                    }),
                    tv(OperationVetoed {
                        id: 1,
                        vault: 1,
                        admin: account(3),
                        reason: "unknown person".into(),
                    }),
                ],
            ),
            block(
                4,
                vec![
                    tv(OperationExecuted {
                        id: 0,
                        vault: 1,
                        executor: account(77),
                        token: Some(12),
                    }),
                    tv(AdminCheckedIn {
                        vault: 1,
                        admin: account(3),
                    }),
                ],
            ),
            block(
                5,
                vec![
                    tv(OperationProposed {
                        id: 2,
                        vault: 1,
                        proposer: account(1),
                        operation: Operation::AddAdmin(account(4)),
                        required: 3,
                    }),
                    voted(2, 1, true, 1, 0),
                    voted(2, 2, true, 2, 0),
                    voted(2, 3, true, 3, 0),
                    tv(OperationQueued {
                        id: 2,
                        vault: 1,
                        eta: time_of(5) + TIMELOCK,
                    }),
                ],
            ),
            block(
                6,
                vec![
                    tv(OperationExecuted {
                        id: 2,
                        vault: 1,
                        executor: account(2),
                        token: None,
                    }),
                    tv(AdminsChanged {
                        vault: 1,
                        old: vec![account(1), account(2), account(3)],
                        new: vec![account(1), account(2), account(3), account(4)],
                    }),
                ],
            ),
        ]
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn operations_votes_vetoes_and_admins_follow_the_vault(pool: PgPool) {
        write_both_ways(&pool, &watched(), &blocks(), TABLES).await;

        let ops: Vec<OperationRow> = sqlx::query_as("SELECT * FROM vault_operations ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(ops.len(), 3);
        let upload = &ops[0];
        assert_eq!(upload.kind, "upload");
        assert_eq!(upload.detail.0["class"], "financial");
        assert_eq!((upload.admin_count, upload.required), (3, 2));
        assert_eq!((upload.approvals, upload.rejections), (2, 0));
        assert_eq!(upload.eta_ms, Some((time_of(3) + TIMELOCK) as i64));
        assert_eq!(upload.executed_ms, Some(time_of(4) as i64));
        assert_eq!(upload.executor, Some(vec![77; 32]));
        assert_eq!(upload.token, Some(12));
        assert!(!upload.vetoed);
        let vetoed = &ops[1];
        assert!(vetoed.vetoed && vetoed.executed_ms.is_none());
        assert_eq!(ops[2].executor, Some(vec![2; 32]));

        let veto: (i64, Vec<u8>, String) =
            sqlx::query_as("SELECT operation_id, admin, reason FROM vault_vetoes")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(veto, (1, vec![3; 32], "unknown person".into()));
        let votes: i64 = sqlx::query_scalar("SELECT count(*) FROM vault_votes")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(votes, 5);

        // Admins in order, each last active at their latest act; the newcomer when it joined.
        let admins: Vec<(i16, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT position, admin, last_active_ms FROM vault_admins WHERE vault = 1 ORDER BY position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let t = |n| time_of(n) as i64;
        assert_eq!(
            admins,
            vec![
                (0, vec![1; 32], t(5)),
                (1, vec![2; 32], t(6)),
                (2, vec![3; 32], t(5)),
                (3, vec![4; 32], t(6)),
            ]
        );
        let (creator, updated): (Vec<u8>, i64) =
            sqlx::query_as("SELECT creator, updated_block FROM vaults WHERE id = 1")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((creator, updated), (vec![1; 32], 6));
    }
}
