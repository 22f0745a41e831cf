//! Unit tests of ValidatorGovernance on ink!'s off-chain environment.

use crate::validator_governance::{Result, ValidatorGovernance, CODE_VERSION};
use ink::{
    env::{test, DefaultEnvironment},
    primitives::AccountId,
};
use sdv_types::{
    governance::{
        ContractRole, Error, ProposalId, ProposalKind, ProposalState, ProviderSelection, Release,
        ReplicationPolicy, Role, RoleAccounts, Tier, TierParams, Track, CONTEST_WINDOW,
        EMERGENCY_WAIT, MAX_IMAGE_LEN, MAX_REASON_LEN, MAX_RELEASE_PROPOSERS, SOFT_THRESHOLD,
        SUPERMAJORITY_THRESHOLD, VALIDATOR_COUNT, VOTING_PERIOD,
    },
    Timestamp, DAY, MB,
};

const START: Timestamp = 1_800_000_000_000;

fn validator(i: usize) -> AccountId {
    AccountId::from([i as u8; 32])
}

fn validators() -> Vec<AccountId> {
    (1..=VALIDATOR_COUNT).map(validator).collect()
}

fn outsider() -> AccountId {
    AccountId::from([99; 32])
}

fn hq() -> AccountId {
    AccountId::from([77; 32])
}

fn deployer() -> AccountId {
    AccountId::from([200; 32])
}

fn set_caller(a: AccountId) {
    test::set_caller::<DefaultEnvironment>(a);
}

fn set_time(t: Timestamp) {
    test::set_block_timestamp::<DefaultEnvironment>(t);
}

fn events() -> usize {
    test::recorded_events().count()
}

fn setup() -> ValidatorGovernance {
    set_caller(deployer());
    set_time(START);
    ValidatorGovernance::new(
        validators(),
        RoleAccounts {
            storage_attestor: Some(AccountId::from([50; 32])),
            retention_executor: None,
            tier_authority: None,
            release_proposers: vec![hq()],
        },
    )
    .expect("a valid validator set")
}

fn release(track: Track, number: u64, digest: u8) -> ProposalKind {
    ProposalKind::ApproveRelease(Release {
        image: "sdv-agent".into(),
        tag: "1.0".into(),
        digest: [digest; 32],
        track,
        number,
    })
}

fn soft_kind() -> ProposalKind {
    ProposalKind::SetProviders(ProviderSelection {
        arweave: false,
        ipfs: true,
    })
}

fn supermajority_kind() -> ProposalKind {
    ProposalKind::ReplaceValidator {
        old: validator(20),
        new: AccountId::from([21; 32]),
    }
}

fn recovery_kind() -> ProposalKind {
    ProposalKind::EmergencyRecovery {
        account: AccountId::from([40; 32]),
        new_owner: AccountId::from([41; 32]),
        identity_evidence: [1; 32],
        ownership_proof: [2; 32],
    }
}

fn propose_as(
    gov: &mut ValidatorGovernance,
    who: AccountId,
    kind: ProposalKind,
) -> Result<ProposalId> {
    set_caller(who);
    gov.propose(kind)
}

/// Votes yes by validators `from..=to`.
fn yes_votes(gov: &mut ValidatorGovernance, id: ProposalId, from: usize, to: usize) {
    for i in from..=to {
        set_caller(validator(i));
        gov.vote(id, true).expect("a validator votes once");
    }
}

// --- constructor and wiring -------------------------------------------------------------

#[ink::test]
fn new_with_twenty_validators_works() {
    let gov = setup();
    assert_eq!(gov.validators(), validators());
    assert!(gov.is_validator(validator(20)));
    assert!(!gov.is_validator(outsider()));
    assert_eq!(
        gov.tier_params(Tier::Free),
        TierParams::spec_default(Tier::Free)
    );
    assert_eq!(gov.tier_params(Tier::Free).max_document_bytes, 10 * MB);
    assert_eq!(gov.tier_params(Tier::Institutional).parallel_chunks, 8);
    assert_eq!(gov.tier_params(Tier::Premium).max_documents, None);
    assert!(!gov.replication_policy(Tier::BpohVerified).ipfs_auto);
    assert!(gov.replication_policy(Tier::Premium).ipfs_auto);
    assert_eq!(
        gov.role(Role::StorageAttestor),
        Some(AccountId::from([50; 32]))
    );
    assert_eq!(gov.release_proposers(), vec![hq()]);
    assert_eq!(gov.code_version(), CODE_VERSION);
    assert_eq!(gov.now(), START);
    // ValidatorSetInitialized, RoleChanged for the attestor, ReleaseProposerChanged for HQ.
    let emitted: Vec<_> = test::recorded_events().collect();
    assert_eq!(emitted.len(), 3);
    let signatures: Vec<_> = emitted.iter().map(|e| e.topics[0].clone()).collect();
    assert_eq!(
        signatures,
        [
            <sdv_types::governance::ValidatorSetInitialized as ink::env::Event>::SIGNATURE_TOPIC,
            <sdv_types::governance::RoleChanged as ink::env::Event>::SIGNATURE_TOPIC,
            <sdv_types::governance::ReleaseProposerChanged as ink::env::Event>::SIGNATURE_TOPIC,
        ]
        .map(|t| t.expect("SDV events are not anonymous").to_vec())
    );
}

#[ink::test]
fn wrong_validator_count_is_rejected() {
    let mut nineteen = validators();
    nineteen.pop();
    assert_eq!(
        ValidatorGovernance::new(nineteen, RoleAccounts::default()).err(),
        Some(Error::WrongValidatorCount)
    );
    let mut twenty_one = validators();
    twenty_one.push(outsider());
    assert_eq!(
        ValidatorGovernance::new(twenty_one, RoleAccounts::default()).err(),
        Some(Error::WrongValidatorCount)
    );
}

#[ink::test]
fn duplicate_validator_is_rejected() {
    let mut set = validators();
    set[7] = set[3];
    assert_eq!(
        ValidatorGovernance::new(set, RoleAccounts::default()).err(),
        Some(Error::DuplicateValidator)
    );
}

#[ink::test]
fn too_many_release_proposers_are_rejected() {
    let roles = RoleAccounts {
        release_proposers: (0..=MAX_RELEASE_PROPOSERS as u8)
            .map(|i| AccountId::from([100 + i; 32]))
            .collect(),
        ..RoleAccounts::default()
    };
    assert_eq!(
        ValidatorGovernance::new(validators(), roles).err(),
        Some(Error::TooManyReleaseProposers)
    );
}

#[ink::test]
fn wiring_is_by_the_deployer_and_only_once() {
    let mut gov = setup();
    let (nft, vault, rec) = (
        AccountId::from([60; 32]),
        AccountId::from([61; 32]),
        AccountId::from([62; 32]),
    );
    let (nft, vault, rec, unset) = (Some(nft), Some(vault), Some(rec), None);
    set_caller(validator(1));
    assert_eq!(gov.wire_contracts(nft, vault, rec), Err(Error::NotDeployer));
    assert_eq!(gov.contract_address(ContractRole::DocumentNft), None);
    set_caller(deployer());
    assert_eq!(gov.wire_contracts(nft, vault, rec), Ok(()));
    assert_eq!(gov.contract_address(ContractRole::DocumentNft), nft);
    assert_eq!(gov.contract_address(ContractRole::TeamVault), vault);
    assert_eq!(gov.contract_address(ContractRole::GuardianRecovery), rec);
    assert_eq!(
        gov.wire_contracts(rec, rec, unset),
        Err(Error::AlreadyWired)
    );
    assert_eq!(gov.contract_address(ContractRole::DocumentNft), nft);
}

// --- who may propose --------------------------------------------------------------------

#[ink::test]
fn non_validator_cannot_propose_and_nothing_changes() {
    let mut gov = setup();
    let before = events();
    for kind in [
        soft_kind(),
        supermajority_kind(),
        release(Track::Devnet, 1, 1),
    ] {
        assert_eq!(
            propose_as(&mut gov, outsider(), kind),
            Err(Error::NotAllowedToPropose)
        );
    }
    assert_eq!(gov.proposal_count(), 0);
    assert_eq!(events(), before);
}

#[ink::test]
fn release_proposer_files_releases_only_and_cannot_vote() {
    let mut gov = setup();
    let id = propose_as(&mut gov, hq(), release(Track::Devnet, 1, 1)).unwrap();
    assert_eq!(
        propose_as(&mut gov, hq(), soft_kind()),
        Err(Error::NotAllowedToPropose)
    );
    set_caller(hq());
    assert_eq!(gov.vote(id, true), Err(Error::NotValidator));
    assert_eq!(gov.proposal(id).unwrap().yes, 0);
}

#[ink::test]
fn anyone_may_petition_for_emergencies() {
    let mut gov = setup();
    assert_eq!(propose_as(&mut gov, outsider(), recovery_kind()), Ok(0));
    let access = ProposalKind::EmergencyVaultAccess {
        vault: 3,
        grantee: outsider(),
        legal_basis: [9; 32],
    };
    assert_eq!(propose_as(&mut gov, outsider(), access), Ok(1));
    let p = gov.proposal(0).unwrap();
    assert_eq!(
        (p.proposer, p.created_at, p.kind.threshold()),
        (outsider(), START, 14)
    );
}

#[ink::test]
fn invalid_proposals_are_refused() {
    let mut gov = setup();
    let v = validator(1);
    let zero = TierParams {
        max_document_bytes: 0,
        max_documents: Some(5),
        parallel_chunks: 1,
    };
    let zero_chunks = TierParams {
        max_document_bytes: MB,
        max_documents: None,
        parallel_chunks: 0,
    };
    let zero_docs = TierParams {
        max_document_bytes: MB,
        max_documents: Some(0),
        parallel_chunks: 1,
    };
    let cases = [
        ProposalKind::SetTierParams {
            tier: Tier::Free,
            params: zero,
        },
        ProposalKind::SetTierParams {
            tier: Tier::Free,
            params: zero_chunks,
        },
        ProposalKind::SetTierParams {
            tier: Tier::Free,
            params: zero_docs,
        },
        ProposalKind::SetContract {
            contract: ContractRole::Governance,
            address: outsider(),
        },
        ProposalKind::ApproveRelease(Release {
            image: "".into(),
            tag: "1".into(),
            digest: [1; 32],
            track: Track::Devnet,
            number: 1,
        }),
        ProposalKind::ApproveRelease(Release {
            image: "x".repeat(MAX_IMAGE_LEN + 1),
            tag: "1".into(),
            digest: [1; 32],
            track: Track::Devnet,
            number: 1,
        }),
        ProposalKind::EmergencyRecovery {
            account: outsider(),
            new_owner: outsider(),
            identity_evidence: [0; 32],
            ownership_proof: [0; 32],
        },
        ProposalKind::ReplaceValidator {
            old: outsider(),
            new: AccountId::from([21; 32]),
        },
        ProposalKind::ReplaceValidator {
            old: validator(1),
            new: validator(2),
        },
    ];
    for kind in cases {
        assert_eq!(
            propose_as(&mut gov, v, kind.clone()),
            Err(Error::InvalidProposal),
            "{kind:?}"
        );
    }
    assert_eq!(gov.proposal_count(), 0);
}

// --- voting -----------------------------------------------------------------------------

#[ink::test]
fn vote_errors_are_typed_and_change_nothing() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    set_caller(outsider());
    assert_eq!(gov.vote(id, true), Err(Error::NotValidator));
    set_caller(validator(2));
    assert_eq!(gov.vote(42, true), Err(Error::ProposalNotFound));
    assert_eq!(gov.vote(id, true), Ok(()));
    assert_eq!(gov.vote(id, false), Err(Error::AlreadyVoted));
    let p = gov.proposal(id).unwrap();
    assert_eq!((p.yes, p.no), (1, 0));
    assert!(gov.has_voted(id, validator(2)));
    assert!(!gov.has_voted(id, validator(3)));
}

#[ink::test]
fn soft_threshold_is_seven() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 6);
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Active));
    assert_eq!(gov.execute(id), Err(Error::NotReady));
    assert!(gov.providers().arweave, "nothing changed at 6 of 7");
    yes_votes(&mut gov, id, 7, 7);
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Ready));
    set_caller(outsider());
    assert_eq!(gov.execute(id), Ok(()));
    assert!(!gov.providers().arweave);
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Executed));
    assert_eq!(SOFT_THRESHOLD, 7);
}

#[ink::test]
fn supermajority_threshold_is_fourteen() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), supermajority_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 13);
    assert_eq!(gov.execute(id), Err(Error::NotReady));
    assert!(gov.is_validator(validator(20)));
    yes_votes(&mut gov, id, 14, 14);
    assert_eq!(gov.execute(id), Ok(()));
    assert!(!gov.is_validator(validator(20)));
    assert!(gov.is_validator(AccountId::from([21; 32])));
    assert_eq!(gov.validators().len(), VALIDATOR_COUNT);
    assert_eq!(SUPERMAJORITY_THRESHOLD, 14);
}

#[ink::test]
fn enough_no_votes_defeat_a_proposal() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    for i in 1..=13 {
        set_caller(validator(i));
        gov.vote(id, false).unwrap();
    }
    // 7 validators left: the threshold can still be met.
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Active));
    set_caller(validator(14));
    gov.vote(id, false).unwrap();
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Defeated));
    set_caller(validator(15));
    assert_eq!(gov.vote(id, true), Err(Error::VotingClosed));
    assert_eq!(gov.execute(id), Err(Error::NotReady));
}

#[ink::test]
fn executed_proposal_is_final() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 7);
    gov.execute(id).unwrap();
    assert_eq!(gov.execute(id), Err(Error::VotingClosed));
    set_caller(validator(8));
    assert_eq!(gov.vote(id, true), Err(Error::VotingClosed));
}

#[ink::test]
fn proposal_expires_after_the_voting_period() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 7);
    set_time(START + VOTING_PERIOD);
    assert_eq!(
        gov.proposal_state(id),
        Some(ProposalState::Ready),
        "the last millisecond counts"
    );
    set_time(START + VOTING_PERIOD + 1);
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Expired));
    assert_eq!(gov.execute(id), Err(Error::VotingClosed));
    set_caller(validator(9));
    assert_eq!(gov.vote(id, true), Err(Error::VotingClosed));
    assert!(gov.providers().arweave);
}

#[ink::test]
fn one_proposal_never_affects_another() {
    let mut gov = setup();
    let a = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    let b = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    yes_votes(&mut gov, a, 1, 7);
    gov.execute(a).unwrap();
    assert_eq!(gov.proposal_state(b), Some(ProposalState::Active));
    assert_eq!(gov.proposal(b).unwrap().yes, 0);
    assert!(!gov.has_voted(b, validator(1)));
}

// --- parameters, roles, addresses -------------------------------------------------------

fn pass(gov: &mut ValidatorGovernance, kind: ProposalKind) -> Result<()> {
    let id = propose_as(gov, validator(1), kind.clone())?;
    yes_votes(gov, id, 1, kind.threshold() as usize);
    set_caller(outsider());
    gov.execute(id)
}

#[ink::test]
fn parameter_changes_apply_and_emit_old_and_new() {
    let mut gov = setup();
    let params = TierParams {
        max_document_bytes: 20 * MB,
        max_documents: Some(10),
        parallel_chunks: 2,
    };
    let policy = ReplicationPolicy {
        arweave_on_request: true,
        ipfs_auto: false,
    };
    let before = events();
    pass(
        &mut gov,
        ProposalKind::SetTierParams {
            tier: Tier::Free,
            params,
        },
    )
    .unwrap();
    pass(
        &mut gov,
        ProposalKind::SetReplicationPolicy {
            tier: Tier::BpohVerified,
            policy,
        },
    )
    .unwrap();
    pass(
        &mut gov,
        ProposalKind::SetRole {
            role: Role::TierAuthority,
            account: Some(outsider()),
        },
    )
    .unwrap();
    pass(
        &mut gov,
        ProposalKind::SetRole {
            role: Role::StorageAttestor,
            account: None,
        },
    )
    .unwrap();
    pass(
        &mut gov,
        ProposalKind::SetContract {
            contract: ContractRole::TeamVault,
            address: hq(),
        },
    )
    .unwrap();
    assert_eq!(gov.tier_params(Tier::Free), params);
    assert_eq!(
        gov.tier_params(Tier::BpohVerified),
        TierParams::spec_default(Tier::BpohVerified)
    );
    assert_eq!(gov.replication_policy(Tier::BpohVerified), policy);
    assert_eq!(gov.role(Role::TierAuthority), Some(outsider()));
    assert_eq!(gov.role(Role::StorageAttestor), None);
    assert_eq!(gov.contract_address(ContractRole::TeamVault), Some(hq()));
    // Each passing proposal: created, 7 votes, executed, and its effect.
    assert_eq!(events() - before, 5 * (1 + 7 + 1 + 1));
}

#[ink::test]
fn release_proposers_are_bounded() {
    let mut gov = setup();
    for i in 0..(MAX_RELEASE_PROPOSERS as u8 - 1) {
        pass(
            &mut gov,
            ProposalKind::SetReleaseProposer {
                account: AccountId::from([110 + i; 32]),
                allowed: true,
            },
        )
        .unwrap();
    }
    assert_eq!(gov.release_proposers().len(), MAX_RELEASE_PROPOSERS);
    let one_more = ProposalKind::SetReleaseProposer {
        account: outsider(),
        allowed: true,
    };
    assert_eq!(
        propose_as(&mut gov, validator(1), one_more),
        Err(Error::TooManyReleaseProposers)
    );
    pass(
        &mut gov,
        ProposalKind::SetReleaseProposer {
            account: hq(),
            allowed: false,
        },
    )
    .unwrap();
    assert!(!gov.release_proposers().contains(&hq()));
    assert_eq!(
        propose_as(&mut gov, hq(), release(Track::Devnet, 1, 1)),
        Err(Error::NotAllowedToPropose)
    );
}

// --- releases ---------------------------------------------------------------------------

#[ink::test]
fn release_numbers_only_grow_and_tracks_promote_in_order() {
    let mut gov = setup();
    assert_eq!(
        propose_as(&mut gov, hq(), release(Track::Testnet, 1, 1)),
        Err(Error::PromotionOrderViolated)
    );
    pass(&mut gov, release(Track::Devnet, 5, 1)).unwrap();
    assert!(gov.is_release_approved("sdv-agent".into(), [1; 32], Track::Devnet));
    assert!(!gov.is_release_approved("sdv-agent".into(), [1; 32], Track::Testnet));
    assert_eq!(
        gov.approved_release_number("sdv-agent".into(), [1; 32], Track::Devnet),
        Some(5)
    );
    assert_eq!(
        gov.latest_release("sdv-agent".into(), Track::Devnet)
            .unwrap()
            .number,
        5
    );
    assert_eq!(
        propose_as(&mut gov, hq(), release(Track::Devnet, 5, 2)),
        Err(Error::ReleaseNotNewer)
    );
    assert_eq!(
        propose_as(&mut gov, hq(), release(Track::Devnet, 4, 2)),
        Err(Error::ReleaseNotNewer)
    );
    assert_eq!(
        propose_as(&mut gov, hq(), release(Track::Mainnet, 5, 1)),
        Err(Error::PromotionOrderViolated)
    );
    pass(&mut gov, release(Track::Testnet, 5, 1)).unwrap();
    pass(&mut gov, release(Track::Mainnet, 5, 1)).unwrap();
    assert!(gov.is_release_approved("sdv-agent".into(), [1; 32], Track::Mainnet));
}

#[ink::test]
fn an_older_release_cannot_execute_after_a_newer_one() {
    let mut gov = setup();
    let old = propose_as(&mut gov, hq(), release(Track::Devnet, 1, 1)).unwrap();
    let new = propose_as(&mut gov, hq(), release(Track::Devnet, 2, 2)).unwrap();
    yes_votes(&mut gov, old, 1, 7);
    yes_votes(&mut gov, new, 1, 7);
    gov.execute(new).unwrap();
    assert_eq!(gov.execute(old), Err(Error::ReleaseNotNewer));
    assert!(!gov.is_release_approved("sdv-agent".into(), [1; 32], Track::Devnet));
    assert_eq!(
        gov.proposal_state(old),
        Some(ProposalState::Ready),
        "a failed execution changed nothing"
    );
}

// --- emergency recovery -----------------------------------------------------------------

#[ink::test]
fn emergency_recovery_waits_180_days() {
    let mut gov = setup();
    let id = propose_as(&mut gov, outsider(), recovery_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 14);
    assert_eq!(gov.proposal_state(id), Some(ProposalState::Queued));
    set_time(START + EMERGENCY_WAIT - 1);
    assert_eq!(gov.execute(id), Err(Error::NotReady));
    assert_eq!(gov.emergency_recovery(id), None);
    set_time(START + EMERGENCY_WAIT);
    assert_eq!(gov.execute(id), Ok(()));
    assert_eq!(
        gov.emergency_recovery(id),
        Some((AccountId::from([40; 32]), AccountId::from([41; 32])))
    );
}

#[ink::test]
fn contest_restarts_the_votes_within_30_days_only() {
    let mut gov = setup();
    let id = propose_as(&mut gov, outsider(), recovery_kind()).unwrap();
    yes_votes(&mut gov, id, 1, 14);
    set_time(START + CONTEST_WINDOW);
    set_caller(AccountId::from([42; 32]));
    assert_eq!(gov.contest(id, "".into()), Err(Error::InvalidReason));
    assert_eq!(
        gov.contest(id, "x".repeat(MAX_REASON_LEN + 1)),
        Err(Error::InvalidReason)
    );
    assert_eq!(
        gov.contest(id, "I am the owner and I have my keys".into()),
        Ok(())
    );
    let p = gov.proposal(id).unwrap();
    assert_eq!(
        (p.yes, p.no, p.round, p.contested_at),
        (0, 0, 1, Some(START + CONTEST_WINDOW))
    );
    assert!(
        !gov.has_voted(id, validator(1)),
        "earlier votes no longer count"
    );
    set_time(START + CONTEST_WINDOW + 1);
    assert_eq!(
        gov.contest(id, "too late".into()),
        Err(Error::ContestWindowClosed)
    );
    set_time(START + EMERGENCY_WAIT);
    assert_eq!(
        gov.execute(id),
        Err(Error::NotReady),
        "the old votes do not count"
    );
    yes_votes(&mut gov, id, 1, 14);
    assert_eq!(gov.execute(id), Ok(()));
}

#[ink::test]
fn only_recovery_petitions_can_be_contested() {
    let mut gov = setup();
    let id = propose_as(&mut gov, validator(1), soft_kind()).unwrap();
    set_caller(outsider());
    assert_eq!(gov.contest(id, "no".into()), Err(Error::NotContestable));
    assert_eq!(gov.contest(9, "no".into()), Err(Error::ProposalNotFound));
}

#[ink::test]
fn emergency_vault_access_is_recorded_for_team_vault() {
    let mut gov = setup();
    let kind = ProposalKind::EmergencyVaultAccess {
        vault: 7,
        grantee: outsider(),
        legal_basis: [3; 32],
    };
    let id = propose_as(&mut gov, outsider(), kind).unwrap();
    yes_votes(&mut gov, id, 1, 13);
    assert_eq!(gov.execute(id), Err(Error::NotReady));
    assert_eq!(gov.emergency_vault_access(id), None);
    yes_votes(&mut gov, id, 14, 14);
    gov.execute(id).unwrap();
    assert_eq!(gov.emergency_vault_access(id), Some((7, outsider())));
    assert_eq!(gov.emergency_recovery(id), None);
}

#[ink::test]
fn upgrading_an_unwired_contract_fails_and_changes_nothing() {
    let mut gov = setup();
    let kind = ProposalKind::UpgradeCode {
        contract: ContractRole::DocumentNft,
        code_hash: [5; 32],
    };
    let id = propose_as(&mut gov, validator(1), kind).unwrap();
    yes_votes(&mut gov, id, 1, 14);
    assert_eq!(gov.execute(id), Err(Error::ContractNotWired));
}

// --- properties -------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Vote { validator: usize, approve: bool },
        Execute { at: Timestamp },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1..=VALIDATOR_COUNT, any::<bool>()).prop_map(|(validator, approve)| Step::Vote { validator, approve }),
            1 => (0..(EMERGENCY_WAIT + VOTING_PERIOD + 2 * DAY)).prop_map(|at| Step::Execute { at }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A proposal executes if and only if its threshold is met and its window holds,
        /// and never twice.
        #[test]
        fn executes_iff_threshold_and_window_hold(
            kind_pick in 0..3u8,
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut gov = setup();
                let kind = match kind_pick {
                    0 => soft_kind(),
                    1 => supermajority_kind(),
                    _ => recovery_kind(),
                };
                let threshold = kind.threshold() as usize;
                let (delay, id) = (kind.delay(), propose_as(&mut gov, validator(1), kind).unwrap());
                let mut voted = std::collections::BTreeMap::new();
                let mut now = START;
                let mut executed = 0;
                for step in steps {
                    match step {
                        Step::Vote { validator: v, approve } => {
                            set_caller(validator(v));
                            let yes = voted.values().filter(|a| **a).count();
                            let no = voted.len() - yes;
                            let open = executed == 0
                                && now <= START + delay + VOTING_PERIOD
                                && (yes >= threshold || no <= VALIDATOR_COUNT - threshold);
                            let result = gov.vote(id, approve);
                            if !open {
                                assert_eq!(result, Err(Error::VotingClosed));
                            } else if let std::collections::btree_map::Entry::Vacant(e) = voted.entry(v) {
                                assert_eq!(result, Ok(()));
                                e.insert(approve);
                            } else {
                                assert_eq!(result, Err(Error::AlreadyVoted));
                            }
                        }
                        Step::Execute { at } => {
                            now = now.max(START + at);
                            set_time(now);
                            set_caller(outsider());
                            let yes = voted.values().filter(|a| **a).count();
                            let window = now >= START + delay && now <= START + delay + VOTING_PERIOD;
                            let result = gov.execute(id);
                            if executed == 0 && yes >= threshold && window {
                                assert_eq!(result, Ok(()));
                                executed += 1;
                            } else {
                                assert!(result.is_err());
                            }
                        }
                    }
                }
                assert!(executed <= 1);
                assert_eq!(gov.proposal(id).unwrap().executed_at.is_some(), executed == 1);
                Ok(())
            })
            .unwrap();
        }
    }
}
