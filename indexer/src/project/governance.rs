//! ValidatorGovernance's events: the validator set, proposals, votes, contests, parameters and
//! approved releases (migration `0003_governance_vaults_recovery.sql`).

use std::collections::{BTreeMap, BTreeSet};

use sdv_chain::{AccountId, ContractEvent};
use sdv_types::governance::{
    CodeUpgraded, ContractAddressChanged, ContractRole, ContractsWired, PetitionContested,
    ProposalCreated, ProposalExecuted, ProposalKind, ProviderSelection, ProvidersChanged, Release,
    ReleaseApproved, ReleaseProposerChanged, ReplicationPolicy, ReplicationPolicyChanged, Role,
    RoleChanged, Tier, TierParams, TierParamsChanged, Track, ValidatorReplaced,
    ValidatorSetInitialized, VoteCast,
};
use serde_json::{json, Value};
use sqlx::{types::Json, Postgres, Transaction};

use super::{
    account_hex, bytes, db_int, db_int16, decode_as, decode_batch, insert, load, replace,
    tier_name, At, Decoded,
};
use crate::{store::IndexedBlock, Result};

/// Projects the events `governance` emitted in `blocks` into the governance tables, in `tx`.
pub(super) async fn project(
    tx: &mut Transaction<'_, Postgres>,
    governance: &AccountId,
    blocks: &[IndexedBlock],
) -> Result<()> {
    let events = decode_batch(governance, blocks, decode)?;
    if events.is_empty() {
        return Ok(());
    }
    let touched: Vec<i64> = events
        .iter()
        .filter_map(|(_, e)| match e {
            GovernanceEvent::VoteCast(VoteCast { id, .. })
            | GovernanceEvent::PetitionContested(PetitionContested { id, .. })
            | GovernanceEvent::ProposalExecuted(ProposalExecuted { id, .. }) => Some(db_int(*id)),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let proposals: Vec<ProposalRow> = load(tx, "governance_proposals", "id", touched).await?;
    let validators_change = events.iter().any(|(_, e)| {
        matches!(
            e,
            GovernanceEvent::ValidatorSetInitialized(_) | GovernanceEvent::ValidatorReplaced(_)
        )
    });
    let validators: Vec<ValidatorRow> = if validators_change {
        sqlx::query_as("SELECT * FROM validators")
            .fetch_all(&mut **tx)
            .await?
    } else {
        Vec::new()
    };
    let mut fold = Fold {
        proposals: proposals.into_iter().map(|p| (p.id, p)).collect(),
        validators: validators_change.then(|| {
            validators
                .into_iter()
                .map(|v| (v.account.clone(), v))
                .collect()
        }),
        ..Fold::default()
    };
    for (at, event) in events {
        fold.apply(&at, event);
    }
    fold.write(tx).await
}

/// The events ValidatorGovernance emits that the projection records (the emergency approvals
/// are read from their executed proposals).
#[derive(Debug)]
enum GovernanceEvent {
    ValidatorSetInitialized(ValidatorSetInitialized),
    ContractsWired(ContractsWired),
    ProposalCreated(ProposalCreated),
    VoteCast(VoteCast),
    PetitionContested(PetitionContested),
    ProposalExecuted(ProposalExecuted),
    TierParamsChanged(TierParamsChanged),
    ReplicationPolicyChanged(ReplicationPolicyChanged),
    ProvidersChanged(ProvidersChanged),
    RoleChanged(RoleChanged),
    ReleaseProposerChanged(ReleaseProposerChanged),
    ContractAddressChanged(ContractAddressChanged),
    ReleaseApproved(ReleaseApproved),
    ValidatorReplaced(ValidatorReplaced),
    CodeUpgraded(CodeUpgraded),
}

fn decode(event: &ContractEvent) -> Decoded<GovernanceEvent> {
    decode_as!(
        event,
        GovernanceEvent {
            ValidatorSetInitialized,
            ContractsWired,
            ProposalCreated,
            VoteCast,
            PetitionContested,
            ProposalExecuted,
            TierParamsChanged,
            ReplicationPolicyChanged,
            ProvidersChanged,
            RoleChanged,
            ReleaseProposerChanged,
            ContractAddressChanged,
            ReleaseApproved,
            ValidatorReplaced,
            CodeUpgraded,
        }
    )
}

/// One `validators` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "validators")]
pub(crate) struct ValidatorRow {
    pub(crate) account: Vec<u8>,
    pub(crate) since_block: i64,
}

/// One `governance_proposals` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "governance_proposals")]
pub(crate) struct ProposalRow {
    pub(crate) id: i64,
    pub(crate) proposer: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) detail: Json<Value>,
    pub(crate) threshold: i16,
    pub(crate) created_ms: i64,
    pub(crate) eta_ms: i64,
    pub(crate) deadline_ms: i64,
    pub(crate) yes: i16,
    pub(crate) no: i16,
    pub(crate) round: i16,
    pub(crate) contested_ms: Option<i64>,
    pub(crate) executed_ms: Option<i64>,
    pub(crate) executor: Option<Vec<u8>>,
    pub(crate) created_block: i64,
    pub(crate) updated_block: i64,
}

/// One `governance_votes` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "governance_votes")]
pub(crate) struct VoteRow {
    pub(crate) proposal_id: i64,
    pub(crate) round: i16,
    pub(crate) validator: Vec<u8>,
    pub(crate) approve: bool,
    pub(crate) voted_ms: i64,
    pub(crate) block_number: i64,
}

/// One `governance_contests` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "governance_contests")]
pub(crate) struct ContestRow {
    pub(crate) proposal_id: i64,
    pub(crate) round: i16,
    pub(crate) contester: Vec<u8>,
    pub(crate) reason: String,
    pub(crate) contested_ms: i64,
    pub(crate) block_number: i64,
}

/// One `parameters` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "parameters")]
pub(crate) struct ParameterRow {
    pub(crate) name: String,
    pub(crate) value: Json<Value>,
    pub(crate) updated_ms: i64,
    pub(crate) updated_block: i64,
}

/// One `releases` row.
#[derive(Debug, Clone, sqlx::Type, sqlx::FromRow)]
#[sqlx(type_name = "releases")]
pub(crate) struct ReleaseRow {
    pub(crate) proposal_id: i64,
    pub(crate) image: String,
    pub(crate) track: String,
    pub(crate) number: i64,
    pub(crate) tag: String,
    pub(crate) digest: Vec<u8>,
    pub(crate) approved_ms: i64,
    pub(crate) block_number: i64,
}

/// The batch's effect, folded in chain order.
#[derive(Default)]
struct Fold {
    proposals: BTreeMap<i64, ProposalRow>,
    /// The whole validator set, when the batch changes it.
    validators: Option<BTreeMap<Vec<u8>, ValidatorRow>>,
    votes: Vec<VoteRow>,
    contests: Vec<ContestRow>,
    parameters: BTreeMap<String, ParameterRow>,
    releases: Vec<ReleaseRow>,
}

impl Fold {
    fn apply(&mut self, at: &At, event: GovernanceEvent) {
        match event {
            GovernanceEvent::ValidatorSetInitialized(e) => {
                let set = self.validators.get_or_insert_with(BTreeMap::new);
                set.clear();
                for v in &e.validators {
                    set.insert(
                        bytes(v).to_vec(),
                        ValidatorRow {
                            account: bytes(v).to_vec(),
                            since_block: at.number,
                        },
                    );
                }
                // The parameters the constructor starts from (its events name the roles).
                for tier in Tier::ALL {
                    self.parameter(
                        at,
                        tier_params_name(tier),
                        tier_params(&TierParams::spec_default(tier)),
                    );
                    self.parameter(
                        at,
                        replication_name(tier),
                        replication(&ReplicationPolicy::spec_default(tier)),
                    );
                }
                let providers = ProviderSelection {
                    arweave: true,
                    ipfs: true,
                };
                self.parameter(at, "providers".into(), provider_selection(&providers));
            }
            GovernanceEvent::ContractsWired(e) => {
                let wired = [
                    (ContractRole::DocumentNft, e.document_nft),
                    (ContractRole::TeamVault, e.team_vault),
                    (ContractRole::GuardianRecovery, e.guardian_recovery),
                ];
                for (role, address) in wired {
                    if let Some(address) = address {
                        let name = format!("contract/{}", contract_name(role));
                        self.parameter(at, name, json!(account_hex(&address)));
                    }
                }
            }
            GovernanceEvent::ProposalCreated(e) => {
                let (kind, detail) = proposal_kind(&e.kind);
                let created_ms = at.time_ms;
                self.proposals.insert(
                    db_int(e.id),
                    ProposalRow {
                        id: db_int(e.id),
                        proposer: bytes(&e.proposer).to_vec(),
                        kind: kind.into(),
                        detail: Json(detail),
                        threshold: db_int16(e.threshold),
                        created_ms,
                        eta_ms: db_int(e.eta).max(created_ms),
                        deadline_ms: db_int(e.deadline).max(db_int(e.eta)).max(created_ms),
                        yes: 0,
                        no: 0,
                        round: 0,
                        contested_ms: None,
                        executed_ms: None,
                        executor: None,
                        created_block: at.number,
                        updated_block: at.number,
                    },
                );
            }
            GovernanceEvent::VoteCast(e) => {
                self.votes.push(VoteRow {
                    proposal_id: db_int(e.id),
                    round: db_int16(e.round),
                    validator: bytes(&e.validator).to_vec(),
                    approve: e.approve,
                    voted_ms: at.time_ms,
                    block_number: at.number,
                });
                if let Some(p) = self.proposal(db_int(e.id), at, "VoteCast") {
                    p.yes = db_int16(e.yes);
                    p.no = db_int16(e.no);
                    p.round = db_int16(e.round);
                    p.updated_block = at.number;
                }
            }
            GovernanceEvent::PetitionContested(e) => {
                self.contests.push(ContestRow {
                    proposal_id: db_int(e.id),
                    round: db_int16(e.round),
                    contester: bytes(&e.contester).to_vec(),
                    reason: e.reason.clone(),
                    contested_ms: at.time_ms,
                    block_number: at.number,
                });
                if let Some(p) = self.proposal(db_int(e.id), at, "PetitionContested") {
                    p.yes = 0;
                    p.no = 0;
                    p.round = db_int16(e.round);
                    p.contested_ms = Some(at.time_ms);
                    p.updated_block = at.number;
                }
            }
            GovernanceEvent::ProposalExecuted(e) => {
                if let Some(p) = self.proposal(db_int(e.id), at, "ProposalExecuted") {
                    p.executed_ms = Some(at.time_ms);
                    p.executor = Some(bytes(&e.executor).to_vec());
                    p.updated_block = at.number;
                }
            }
            GovernanceEvent::TierParamsChanged(e) => {
                self.parameter(at, tier_params_name(e.tier), tier_params(&e.new));
            }
            GovernanceEvent::ReplicationPolicyChanged(e) => {
                self.parameter(at, replication_name(e.tier), replication(&e.new));
            }
            GovernanceEvent::ProvidersChanged(e) => {
                self.parameter(at, "providers".into(), provider_selection(&e.new));
            }
            GovernanceEvent::RoleChanged(e) => {
                let name = format!("role/{}", role_name(e.role));
                self.parameter(at, name, json!(e.new.as_ref().map(account_hex)));
            }
            GovernanceEvent::ReleaseProposerChanged(e) => {
                let name = format!("release_proposer/{}", account_hex(&e.account));
                self.parameter(at, name, json!(e.allowed));
            }
            GovernanceEvent::ContractAddressChanged(e) => {
                let name = format!("contract/{}", contract_name(e.contract));
                self.parameter(at, name, json!(account_hex(&e.new)));
            }
            GovernanceEvent::CodeUpgraded(e) => {
                let name = format!("code/{}", contract_name(e.contract));
                self.parameter(at, name, json!(format!("0x{}", hex::encode(e.code_hash))));
            }
            GovernanceEvent::ReleaseApproved(e) => {
                let Release {
                    image,
                    tag,
                    digest,
                    track,
                    number,
                } = e.release;
                self.releases.push(ReleaseRow {
                    proposal_id: db_int(e.id),
                    image,
                    track: track_name(track).into(),
                    number: db_int(number),
                    tag,
                    digest: digest.to_vec(),
                    approved_ms: at.time_ms,
                    block_number: at.number,
                });
            }
            GovernanceEvent::ValidatorReplaced(e) => {
                let set = self.validators.get_or_insert_with(BTreeMap::new);
                set.remove(bytes(&e.old).as_slice());
                set.insert(
                    bytes(&e.new).to_vec(),
                    ValidatorRow {
                        account: bytes(&e.new).to_vec(),
                        since_block: at.number,
                    },
                );
            }
        }
    }

    fn proposal(&mut self, id: i64, at: &At, event: &'static str) -> Option<&mut ProposalRow> {
        let proposal = self.proposals.get_mut(&id);
        if proposal.is_none() {
            tracing::warn!(
                proposal = id,
                block = at.number,
                index = at.index,
                event,
                "governance event for a proposal the database does not hold; state not updated"
            );
        }
        proposal
    }

    fn parameter(&mut self, at: &At, name: String, value: Value) {
        self.parameters.insert(
            name.clone(),
            ParameterRow {
                name,
                value: Json(value),
                updated_ms: at.time_ms,
                updated_block: at.number,
            },
        );
    }

    async fn write(self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        let ids = self.proposals.keys().copied().collect();
        replace(
            tx,
            "governance_proposals",
            "id",
            ids,
            self.proposals.into_values().collect(),
        )
        .await?;
        insert(tx, "governance_votes", self.votes).await?;
        insert(tx, "governance_contests", self.contests).await?;
        let names = self.parameters.keys().cloned().collect();
        replace(
            tx,
            "parameters",
            "name",
            names,
            self.parameters.into_values().collect(),
        )
        .await?;
        insert(tx, "releases", self.releases).await?;
        if let Some(validators) = self.validators {
            sqlx::query("DELETE FROM validators")
                .execute(&mut **tx)
                .await?;
            insert(tx, "validators", validators.into_values().collect()).await?;
        }
        Ok(())
    }
}

fn tier_params_name(tier: Tier) -> String {
    format!("tier_params/{}", tier_name(tier))
}

fn replication_name(tier: Tier) -> String {
    format!("replication/{}", tier_name(tier))
}

pub(crate) fn tier_params(p: &TierParams) -> Value {
    json!({
        "max_document_bytes": p.max_document_bytes,
        "max_documents": p.max_documents,
        "parallel_chunks": p.parallel_chunks,
    })
}

pub(crate) fn replication(p: &ReplicationPolicy) -> Value {
    json!({ "arweave_on_request": p.arweave_on_request, "ipfs_auto": p.ipfs_auto })
}

pub(crate) fn provider_selection(p: &ProviderSelection) -> Value {
    json!({ "arweave": p.arweave, "ipfs": p.ipfs })
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::StorageAttestor => "storage_attestor",
        Role::RetentionExecutor => "retention_executor",
        Role::TierAuthority => "tier_authority",
    }
}

fn contract_name(contract: ContractRole) -> &'static str {
    match contract {
        ContractRole::Governance => "governance",
        ContractRole::DocumentNft => "document_nft",
        ContractRole::TeamVault => "team_vault",
        ContractRole::GuardianRecovery => "guardian_recovery",
    }
}

fn track_name(track: Track) -> &'static str {
    match track {
        Track::Devnet => "devnet",
        Track::Testnet => "testnet",
        Track::Mainnet => "mainnet",
    }
}

fn hash_hex(hash: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(hash))
}

/// A proposal kind's name and arguments, as `governance_proposals.kind` and `.detail` hold them.
fn proposal_kind(kind: &ProposalKind) -> (&'static str, Value) {
    match kind {
        ProposalKind::SetTierParams { tier, params } => (
            "set_tier_params",
            json!({ "tier": tier_name(*tier), "params": tier_params(params) }),
        ),
        ProposalKind::SetReplicationPolicy { tier, policy } => (
            "set_replication_policy",
            json!({ "tier": tier_name(*tier), "policy": replication(policy) }),
        ),
        ProposalKind::SetProviders(selection) => ("set_providers", provider_selection(selection)),
        ProposalKind::SetRole { role, account } => (
            "set_role",
            json!({ "role": role_name(*role), "account": account.as_ref().map(account_hex) }),
        ),
        ProposalKind::SetReleaseProposer { account, allowed } => (
            "set_release_proposer",
            json!({ "account": account_hex(account), "allowed": allowed }),
        ),
        ProposalKind::SetContract { contract, address } => (
            "set_contract",
            json!({ "contract": contract_name(*contract), "address": account_hex(address) }),
        ),
        ProposalKind::ApproveRelease(release) => (
            "approve_release",
            json!({
                "image": release.image,
                "tag": release.tag,
                "digest": hash_hex(&release.digest),
                "track": track_name(release.track),
                "number": release.number,
            }),
        ),
        ProposalKind::EmergencyRecovery {
            account,
            new_owner,
            identity_evidence,
            ownership_proof,
        } => (
            "emergency_recovery",
            json!({
                "account": account_hex(account),
                "new_owner": account_hex(new_owner),
                "identity_evidence": hash_hex(identity_evidence),
                "ownership_proof": hash_hex(ownership_proof),
            }),
        ),
        ProposalKind::EmergencyVaultAccess {
            vault,
            grantee,
            legal_basis,
        } => (
            "emergency_vault_access",
            json!({
                "vault": vault,
                "grantee": account_hex(grantee),
                "legal_basis": hash_hex(legal_basis),
            }),
        ),
        ProposalKind::ReplaceValidator { old, new } => (
            "replace_validator",
            json!({ "old": account_hex(old), "new": account_hex(new) }),
        ),
        ProposalKind::UpgradeCode {
            contract,
            code_hash,
        } => (
            "upgrade_code",
            json!({ "contract": contract_name(*contract), "code_hash": hash_hex(code_hash) }),
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sdv_types::governance::{SOFT_THRESHOLD, SUPERMAJORITY_THRESHOLD};
    use serde_json::json;
    use sqlx::PgPool;

    use super::*;
    use crate::{
        project::testing::{account, block, contract, ev, time_of, write, write_both_ways},
        Watched,
    };

    const TABLES: &[&str] = &[
        "validators",
        "governance_proposals",
        "governance_votes",
        "governance_contests",
        "parameters",
        "releases",
    ];

    pub(crate) fn watched() -> Watched {
        Watched {
            governance: Some(contract(0x60)),
            ..Watched::default()
        }
    }

    fn gov<E: sdv_types::ink::env::Event + codec::Encode>(event: E) -> ContractEvent {
        ev(&contract(0x60), event)
    }

    fn initialized() -> ContractEvent {
        gov(ValidatorSetInitialized {
            validators: (1..=20).map(account).collect(),
        })
    }

    fn release(number: u64) -> Release {
        Release {
            image: "validator-update-agent".into(),
            tag: format!("1.4.{number}"),
            digest: [number as u8; 32],
            track: Track::Testnet,
            number,
        }
    }

    /// A release approval filed in block 1, voted in blocks 2 and 3 (the seventh yes), and
    /// executed in block 4 with the release it approves.
    pub(crate) fn release_blocks() -> Vec<IndexedBlock> {
        let mut votes = Vec::new();
        for v in 1..=4u8 {
            votes.push(gov(VoteCast {
                id: 0,
                validator: account(v),
                approve: true,
                yes: v,
                no: 0,
                round: 0,
            }));
        }
        let mut more = Vec::new();
        for v in 5..=7u8 {
            more.push(gov(VoteCast {
                id: 0,
                validator: account(v),
                approve: true,
                yes: v,
                no: 0,
                round: 0,
            }));
        }
        more.push(gov(VoteCast {
            id: 0,
            validator: account(8),
            approve: false,
            yes: 7,
            no: 1,
            round: 0,
        }));
        vec![
            block(0, vec![initialized()]),
            block(
                1,
                vec![gov(ProposalCreated {
                    id: 0,
                    proposer: account(1),
                    kind: ProposalKind::ApproveRelease(release(3)),
                    threshold: SOFT_THRESHOLD,
                    eta: time_of(1),
                    deadline: time_of(1) + 1_000_000,
                })],
            ),
            block(2, votes),
            block(3, more),
            block(
                4,
                vec![
                    gov(ReleaseApproved {
                        id: 0,
                        release: release(3),
                    }),
                    gov(ProposalExecuted {
                        id: 0,
                        executor: account(9),
                    }),
                ],
            ),
        ]
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn instantiation_records_the_validators_and_the_starting_parameters(pool: PgPool) {
        write(&pool, &watched(), &[block(0, vec![initialized()])])
            .await
            .unwrap();
        let validators: i64 = sqlx::query_scalar("SELECT count(*) FROM validators")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(validators, 20);
        let free: Json<Value> =
            sqlx::query_scalar("SELECT value FROM parameters WHERE name = 'tier_params/free'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(
            free.0,
            json!({ "max_document_bytes": 10 * 1024 * 1024, "max_documents": 5, "parallel_chunks": 1 })
        );
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM parameters ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(names.len(), 9, "{names:?}");
        assert!(names.contains(&"providers".to_string()));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_release_proposal_is_followed_through_votes_to_execution(pool: PgPool) {
        write_both_ways(&pool, &watched(), &release_blocks(), TABLES).await;

        let p: ProposalRow = sqlx::query_as("SELECT * FROM governance_proposals WHERE id = 0")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(p.kind, "approve_release");
        assert_eq!(p.detail.0["tag"], "1.4.3");
        assert_eq!(p.detail.0["track"], "testnet");
        assert_eq!((p.yes, p.no, p.round), (7, 1, 0));
        assert_eq!(p.threshold, i16::from(SOFT_THRESHOLD));
        assert_eq!(p.created_ms, time_of(1) as i64);
        assert_eq!(p.executed_ms, Some(time_of(4) as i64));
        assert_eq!(p.executor, Some(vec![9; 32]));
        assert_eq!((p.created_block, p.updated_block), (1, 4));

        let votes: Vec<(Vec<u8>, bool, i64)> = sqlx::query_as(
            "SELECT validator, approve, block_number FROM governance_votes ORDER BY block_number, validator",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(votes.len(), 8);
        assert_eq!(votes[7], (vec![8; 32], false, 3));

        let releases: Vec<(String, String, i64, String)> =
            sqlx::query_as("SELECT image, track, number, tag FROM releases")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            releases,
            vec![(
                "validator-update-agent".into(),
                "testnet".into(),
                3,
                "1.4.3".into()
            )]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_contest_starts_a_new_round_and_keeps_the_earlier_votes(pool: PgPool) {
        let petition = ProposalKind::EmergencyRecovery {
            account: account(30),
            new_owner: account(31),
            identity_evidence: [1; 32],
            ownership_proof: [2; 32],
        };
        let blocks = vec![
            block(
                1,
                vec![gov(ProposalCreated {
                    id: 5,
                    proposer: account(1),
                    kind: petition,
                    threshold: SUPERMAJORITY_THRESHOLD,
                    eta: time_of(100),
                    deadline: time_of(200),
                })],
            ),
            block(
                2,
                vec![gov(VoteCast {
                    id: 5,
                    validator: account(2),
                    approve: true,
                    yes: 1,
                    no: 0,
                    round: 0,
                })],
            ),
            block(
                3,
                vec![
                    gov(PetitionContested {
                        id: 5,
                        contester: account(30),
                        reason: "I still hold my keys".into(),
                        round: 1,
                    }),
                    gov(VoteCast {
                        id: 5,
                        validator: account(2),
                        approve: false,
                        yes: 0,
                        no: 1,
                        round: 1,
                    }),
                ],
            ),
        ];
        write_both_ways(&pool, &watched(), &blocks, TABLES).await;

        let p: ProposalRow = sqlx::query_as("SELECT * FROM governance_proposals WHERE id = 5")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(p.kind, "emergency_recovery");
        assert_eq!(
            p.detail.0["new_owner"],
            format!("0x{}", hex::encode([31; 32]))
        );
        assert_eq!((p.yes, p.no, p.round), (0, 1, 1));
        assert_eq!(p.contested_ms, Some(time_of(3) as i64));
        assert_eq!(
            (p.eta_ms, p.deadline_ms),
            (time_of(100) as i64, time_of(200) as i64)
        );
        let rounds: Vec<(i16, bool)> =
            sqlx::query_as("SELECT round, approve FROM governance_votes ORDER BY round")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(rounds, vec![(0, true), (1, false)]);
        let reason: String = sqlx::query_scalar("SELECT reason FROM governance_contests")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(reason, "I still hold my keys");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn parameter_changes_replace_the_earlier_values(pool: PgPool) {
        let premium = TierParams {
            max_document_bytes: 200_000_000,
            max_documents: None,
            parallel_chunks: 4,
        };
        let blocks = vec![
            block(0, vec![initialized()]),
            block(
                1,
                vec![
                    gov(RoleChanged {
                        role: Role::StorageAttestor,
                        old: None,
                        new: Some(account(40)),
                    }),
                    gov(TierParamsChanged {
                        tier: Tier::Premium,
                        old: TierParams::spec_default(Tier::Premium),
                        new: premium,
                    }),
                ],
            ),
            block(
                2,
                vec![
                    gov(RoleChanged {
                        role: Role::StorageAttestor,
                        old: Some(account(40)),
                        new: None,
                    }),
                    gov(ProvidersChanged {
                        old: ProviderSelection {
                            arweave: true,
                            ipfs: true,
                        },
                        new: ProviderSelection {
                            arweave: false,
                            ipfs: true,
                        },
                    }),
                    gov(ValidatorReplaced {
                        old: account(3),
                        new: account(33),
                    }),
                    gov(ContractsWired {
                        document_nft: Some(account(50)),
                        team_vault: None,
                        guardian_recovery: Some(account(52)),
                    }),
                ],
            ),
        ];
        write_both_ways(&pool, &watched(), &blocks, TABLES).await;

        let value = |name: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_as::<_, (Json<Value>, i64)>(
                    "SELECT value, updated_block FROM parameters WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&pool)
                .await
                .unwrap()
                .map(|(v, b)| (v.0, b))
            }
        };
        assert_eq!(value("role/storage_attestor").await, Some((Value::Null, 2)));
        assert_eq!(
            value("tier_params/premium").await,
            Some((
                json!({ "max_document_bytes": 200_000_000, "max_documents": null, "parallel_chunks": 4 }),
                1
            ))
        );
        assert_eq!(
            value("providers").await,
            Some((json!({ "arweave": false, "ipfs": true }), 2))
        );
        assert_eq!(
            value("contract/guardian_recovery").await,
            Some((json!(format!("0x{}", hex::encode([52; 32]))), 2))
        );
        assert_eq!(value("contract/team_vault").await, None);
        let validators: Vec<Vec<u8>> = sqlx::query_scalar("SELECT account FROM validators")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(validators.len(), 20);
        assert!(validators.contains(&vec![33; 32]) && !validators.contains(&vec![3; 32]));
    }
}
