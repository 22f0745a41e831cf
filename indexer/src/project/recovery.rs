//! GuardianRecovery's events: guardian sets, recoveries and attestations (migration
//! `0003_governance_vaults_recovery.sql`).

use std::collections::{BTreeMap, BTreeSet};

use sdv_chain::{AccountId, ContractEvent};
use sdv_types::recovery::{
    GuardianAccepted, GuardianHeartbeat, GuardianKind, GuardiansSet, RecoveryAttested,
    RecoveryCancelled, RecoveryInitiated, RecoveryQuorumReached, WalletRecovered,
};
use sqlx::{Postgres, Transaction};

use super::{bytes, db_int, decode_as, decode_batch, insert, load, replace, At, Decoded};
use crate::{store::IndexedBlock, Result};

/// Projects the events `guardian_recovery` emitted in `blocks` into the recovery tables, in
/// `tx`.
pub(super) async fn project(
    tx: &mut Transaction<'_, Postgres>,
    guardian_recovery: &AccountId,
    blocks: &[IndexedBlock],
) -> Result<()> {
    let events = decode_batch(guardian_recovery, blocks, decode)?;
    if events.is_empty() {
        return Ok(());
    }
    let recovery_ids: BTreeSet<i64> = events
        .iter()
        .filter_map(|(_, e)| match e {
            RecoveryEvent::RecoveryAttested(RecoveryAttested { id, .. })
            | RecoveryEvent::RecoveryQuorumReached(RecoveryQuorumReached { id, .. })
            | RecoveryEvent::RecoveryCancelled(RecoveryCancelled { id, .. }) => Some(db_int(*id)),
            RecoveryEvent::WalletRecovered(WalletRecovered { id, .. }) => id.map(db_int),
            _ => None,
        })
        .collect();
    let recoveries: Vec<RecoveryRow> =
        load(tx, "recoveries", "id", recovery_ids.into_iter().collect()).await?;
    let mut users: BTreeSet<Vec<u8>> = recoveries.iter().map(|r| r.user.clone()).collect();
    for (_, event) in &events {
        match event {
            RecoveryEvent::GuardiansSet(GuardiansSet { user, .. })
            | RecoveryEvent::GuardianAccepted(GuardianAccepted { user, .. })
            | RecoveryEvent::GuardianHeartbeat(GuardianHeartbeat { user, .. })
            | RecoveryEvent::RecoveryInitiated(RecoveryInitiated { user, .. }) => {
                users.insert(bytes(user).to_vec());
            }
            RecoveryEvent::WalletRecovered(e) => {
                users.insert(bytes(&e.old_wallet).to_vec());
                users.insert(bytes(&e.new_wallet).to_vec());
            }
            _ => {}
        }
    }
    let users: Vec<Vec<u8>> = users.into_iter().collect();
    let mut guardians: Vec<GuardianRow> = load(tx, "guardians", "\"user\"", users.clone()).await?;
    guardians.sort_by_key(|g| g.position);
    let mut fold = Fold {
        recoveries: recoveries.into_iter().map(|r| (r.id, r)).collect(),
        guardians: users.into_iter().map(|u| (u, Vec::new())).collect(),
        ..Fold::default()
    };
    for guardian in guardians {
        fold.guardians
            .entry(guardian.user.clone())
            .or_default()
            .push(guardian);
    }
    for (at, event) in events {
        fold.apply(&at, event);
    }
    fold.write(tx).await
}

#[derive(Debug)]
enum RecoveryEvent {
    GuardiansSet(GuardiansSet),
    GuardianAccepted(GuardianAccepted),
    GuardianHeartbeat(GuardianHeartbeat),
    RecoveryInitiated(RecoveryInitiated),
    RecoveryAttested(RecoveryAttested),
    RecoveryQuorumReached(RecoveryQuorumReached),
    RecoveryCancelled(RecoveryCancelled),
    WalletRecovered(WalletRecovered),
}

fn decode(event: &ContractEvent) -> Decoded<RecoveryEvent> {
    decode_as!(
        event,
        RecoveryEvent {
            GuardiansSet,
            GuardianAccepted,
            GuardianHeartbeat,
            RecoveryInitiated,
            RecoveryAttested,
            RecoveryQuorumReached,
            RecoveryCancelled,
            WalletRecovered,
        }
    )
}

/// One `guardians` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "guardians")]
pub(crate) struct GuardianRow {
    pub(crate) user: Vec<u8>,
    pub(crate) position: i16,
    pub(crate) guardian: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) accepted_ms: Option<i64>,
    pub(crate) last_seen_ms: Option<i64>,
}

/// One `recoveries` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "recoveries")]
pub(crate) struct RecoveryRow {
    pub(crate) id: i64,
    pub(crate) user: Vec<u8>,
    pub(crate) initiator: Vec<u8>,
    pub(crate) new_wallet: Vec<u8>,
    pub(crate) initiated_ms: i64,
    pub(crate) eta_ms: Option<i64>,
    pub(crate) cancelled_ms: Option<i64>,
    pub(crate) finalized_ms: Option<i64>,
    pub(crate) created_block: i64,
    pub(crate) updated_block: i64,
}

/// One `recovery_attestations` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "recovery_attestations")]
pub(crate) struct AttestationRow {
    pub(crate) recovery_id: i64,
    pub(crate) guardian: Vec<u8>,
    pub(crate) attested_ms: i64,
    pub(crate) block_number: i64,
}

/// The batch's effect, folded in chain order.
#[derive(Default)]
struct Fold {
    /// The guardian set of every user the batch names (empty: none).
    guardians: BTreeMap<Vec<u8>, Vec<GuardianRow>>,
    recoveries: BTreeMap<i64, RecoveryRow>,
    /// The latest attestation of each guardian of each recovery.
    attestations: BTreeMap<(i64, Vec<u8>), AttestationRow>,
}

impl Fold {
    fn apply(&mut self, at: &At, event: RecoveryEvent) {
        match event {
            RecoveryEvent::GuardiansSet(e) => {
                let user = bytes(&e.user).to_vec();
                let set = e
                    .guardians
                    .iter()
                    .enumerate()
                    .map(|(position, g)| GuardianRow {
                        user: user.clone(),
                        position: i16::try_from(position).unwrap_or(i16::MAX),
                        guardian: bytes(&g.account).to_vec(),
                        kind: kind_name(g.kind).into(),
                        accepted_ms: g.accepted_at.map(db_int),
                        last_seen_ms: g.last_seen.map(db_int),
                    })
                    .collect();
                self.guardians.insert(user, set);
            }
            RecoveryEvent::GuardianAccepted(e) => {
                if let Some(g) = self.guardian(&e.user, &e.guardian) {
                    g.accepted_ms = Some(at.time_ms);
                    g.last_seen_ms = Some(at.time_ms);
                }
            }
            RecoveryEvent::GuardianHeartbeat(e) => self.seen(&e.user, &e.guardian, at),
            RecoveryEvent::RecoveryInitiated(e) => {
                let id = db_int(e.id);
                self.recoveries.insert(
                    id,
                    RecoveryRow {
                        id,
                        user: bytes(&e.user).to_vec(),
                        initiator: bytes(&e.guardian).to_vec(),
                        new_wallet: bytes(&e.new_wallet).to_vec(),
                        initiated_ms: at.time_ms,
                        eta_ms: None,
                        cancelled_ms: None,
                        finalized_ms: None,
                        created_block: at.number,
                        updated_block: at.number,
                    },
                );
                self.attested(id, &e.guardian, at);
                self.seen(&e.user, &e.guardian, at);
            }
            RecoveryEvent::RecoveryAttested(e) => {
                let id = db_int(e.id);
                self.attested(id, &e.guardian, at);
                let user = match self.recovery(id, at, "RecoveryAttested") {
                    Some(r) => {
                        r.updated_block = at.number;
                        r.user.clone()
                    }
                    None => return,
                };
                if let Some(g) = self
                    .guardians
                    .get_mut(&user)
                    .and_then(|set| set.iter_mut().find(|g| g.guardian == bytes(&e.guardian)))
                {
                    g.last_seen_ms = Some(at.time_ms);
                }
            }
            RecoveryEvent::RecoveryQuorumReached(e) => {
                if let Some(r) = self.recovery(db_int(e.id), at, "RecoveryQuorumReached") {
                    r.eta_ms = Some(db_int(e.eta).max(r.initiated_ms));
                    r.updated_block = at.number;
                }
            }
            RecoveryEvent::RecoveryCancelled(e) => {
                if let Some(r) = self.recovery(db_int(e.id), at, "RecoveryCancelled") {
                    r.cancelled_ms = Some(at.time_ms);
                    r.updated_block = at.number;
                }
            }
            RecoveryEvent::WalletRecovered(e) => {
                if let Some(id) = e.id {
                    if let Some(r) = self.recovery(db_int(id), at, "WalletRecovered") {
                        r.finalized_ms = Some(at.time_ms);
                        r.updated_block = at.number;
                    }
                }
                // The guardians follow the user to the new wallet, unless it has its own.
                let old = bytes(&e.old_wallet).to_vec();
                let new = bytes(&e.new_wallet).to_vec();
                let moved = self.guardians.insert(old, Vec::new()).unwrap_or_default();
                let target = self.guardians.entry(new.clone()).or_default();
                if target.is_empty() {
                    *target = moved
                        .into_iter()
                        .map(|g| GuardianRow {
                            user: new.clone(),
                            ..g
                        })
                        .collect();
                }
            }
        }
    }

    fn guardian(
        &mut self,
        user: &sdv_types::AccountId,
        guardian: &sdv_types::AccountId,
    ) -> Option<&mut GuardianRow> {
        let guardian = bytes(guardian);
        self.guardians
            .get_mut(bytes(user).as_slice())
            .and_then(|set| set.iter_mut().find(|g| g.guardian == guardian))
    }

    fn seen(&mut self, user: &sdv_types::AccountId, guardian: &sdv_types::AccountId, at: &At) {
        if let Some(g) = self.guardian(user, guardian) {
            g.last_seen_ms = Some(at.time_ms);
        }
    }

    fn attested(&mut self, id: i64, guardian: &sdv_types::AccountId, at: &At) {
        let guardian = bytes(guardian).to_vec();
        self.attestations.insert(
            (id, guardian.clone()),
            AttestationRow {
                recovery_id: id,
                guardian,
                attested_ms: at.time_ms,
                block_number: at.number,
            },
        );
    }

    fn recovery(&mut self, id: i64, at: &At, event: &'static str) -> Option<&mut RecoveryRow> {
        let recovery = self.recoveries.get_mut(&id);
        if recovery.is_none() {
            tracing::warn!(
                recovery = id,
                block = at.number,
                index = at.index,
                event,
                "GuardianRecovery event for a recovery the database does not hold"
            );
        }
        recovery
    }

    async fn write(self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        let users = self.guardians.keys().cloned().collect();
        let guardians = self.guardians.into_values().flatten().collect();
        replace(tx, "guardians", "\"user\"", users, guardians).await?;
        let ids = self.recoveries.keys().copied().collect();
        let recoveries = self.recoveries.into_values().collect();
        replace(tx, "recoveries", "id", ids, recoveries).await?;
        // An attestation again by the same guardian replaces the earlier one.
        let attestations: Vec<AttestationRow> = self.attestations.into_values().collect();
        if !attestations.is_empty() {
            let ids: Vec<i64> = attestations.iter().map(|a| a.recovery_id).collect();
            let guardians: Vec<Vec<u8>> = attestations.iter().map(|a| a.guardian.clone()).collect();
            sqlx::query(
                "DELETE FROM recovery_attestations AS a
                 USING UNNEST($1::bigint[], $2::bytea[]) AS n(id, guardian)
                 WHERE a.recovery_id = n.id AND a.guardian = n.guardian",
            )
            .bind(ids)
            .bind(guardians)
            .execute(&mut **tx)
            .await?;
        }
        insert(tx, "recovery_attestations", attestations).await
    }
}

fn kind_name(kind: GuardianKind) -> &'static str {
    match kind {
        GuardianKind::User => "user",
        GuardianKind::HardwareKey => "hardware_key",
        GuardianKind::Custodian => "custodian",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sdv_types::recovery::{Guardian, TIMELOCK};
    use sqlx::PgPool;

    use super::*;
    use crate::{
        project::testing::{account, block, contract, ev, time_of, write_both_ways},
        Watched,
    };

    const TABLES: &[&str] = &["guardians", "recoveries", "recovery_attestations"];

    pub(crate) fn watched() -> Watched {
        Watched {
            guardian_recovery: Some(contract(0x9e)),
            ..Watched::default()
        }
    }

    fn gr<E: sdv_types::ink::env::Event + codec::Encode>(event: E) -> ContractEvent {
        ev(&contract(0x9e), event)
    }

    fn guardian(byte: u8, kind: GuardianKind) -> Guardian {
        Guardian {
            account: account(byte),
            kind,
            accepted_at: None,
            last_seen: None,
        }
    }

    fn accepted(guardian: u8) -> ContractEvent {
        gr(GuardianAccepted {
            user: account(1),
            guardian: account(guardian),
            active: guardian == 13,
        })
    }

    /// User 1 appoints guardians 11, 12, 13, who accept; 11 starts a recovery to wallet 2, 12
    /// attests, the quorum is reached and the recovery finalized; a second recovery is
    /// cancelled before.
    pub(crate) fn blocks() -> Vec<IndexedBlock> {
        vec![
            block(
                1,
                vec![gr(GuardiansSet {
                    user: account(1),
                    guardians: vec![
                        guardian(11, GuardianKind::User),
                        guardian(12, GuardianKind::HardwareKey),
                        guardian(13, GuardianKind::Custodian),
                    ],
                })],
            ),
            block(2, vec![accepted(11), accepted(12), accepted(13)]),
            block(
                3,
                vec![
                    gr(RecoveryInitiated {
                        id: 0,
                        user: account(1),
                        guardian: account(13),
                        new_wallet: account(3),
                    }),
                    gr(RecoveryCancelled {
                        id: 0,
                        user: account(1),
                    }),
                ],
            ),
            block(
                4,
                vec![gr(RecoveryInitiated {
                    id: 1,
                    user: account(1),
                    guardian: account(11),
                    new_wallet: account(2),
                })],
            ),
            block(
                5,
                vec![
                    gr(RecoveryAttested {
                        id: 1,
                        guardian: account(12),
                        valid: 2,
                    }),
                    gr(RecoveryQuorumReached {
                        id: 1,
                        user: account(1),
                        eta: time_of(5) + TIMELOCK,
                    }),
                ],
            ),
            block(
                6,
                vec![gr(GuardianHeartbeat {
                    user: account(1),
                    guardian: account(13),
                })],
            ),
            block(
                7,
                vec![gr(WalletRecovered {
                    id: Some(1),
                    old_wallet: account(1),
                    new_wallet: account(2),
                    decision: None,
                })],
            ),
        ]
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn guardians_and_recoveries_follow_the_user_to_the_new_wallet(pool: PgPool) {
        write_both_ways(&pool, &watched(), &blocks(), TABLES).await;
        let t = |n| Some(time_of(n) as i64);

        // The guardians moved to wallet 2, in order, with acceptance and last activity.
        let set: Vec<GuardianRow> =
            sqlx::query_as("SELECT * FROM guardians ORDER BY \"user\", position")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.iter().all(|g| g.user == vec![2; 32]));
        let seen: Vec<(&str, Option<i64>, Option<i64>)> = set
            .iter()
            .map(|g| (g.kind.as_str(), g.accepted_ms, g.last_seen_ms))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("user", t(2), t(4)),
                ("hardware_key", t(2), t(5)),
                ("custodian", t(2), t(6)),
            ]
        );

        let recoveries: Vec<RecoveryRow> = sqlx::query_as("SELECT * FROM recoveries ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(recoveries[0].cancelled_ms, t(3));
        assert_eq!(recoveries[0].finalized_ms, None);
        let done = &recoveries[1];
        assert_eq!(
            (done.initiator.clone(), done.new_wallet.clone()),
            (vec![11; 32], vec![2; 32])
        );
        assert_eq!(done.eta_ms, Some((time_of(5) + TIMELOCK) as i64));
        assert_eq!(done.finalized_ms, t(7));
        assert_eq!(done.cancelled_ms, None);
        let attestations: Vec<(i64, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT recovery_id, guardian, attested_ms FROM recovery_attestations
             ORDER BY recovery_id, attested_ms",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            attestations,
            vec![
                (0, vec![13; 32], time_of(3) as i64),
                (1, vec![11; 32], time_of(4) as i64),
                (1, vec![12; 32], time_of(5) as i64),
            ]
        );
    }
}
