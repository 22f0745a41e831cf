//! ValidatorGovernance on a real node: 7-of-20 releases, the 14-of-20 emergency recovery
//! petition across moved clocks, typed refusals, and a code upgrade that keeps state.

use sdv_chain::{to_ink_account, CallData, Governance};
use sdv_node_config::{accounts, deploy::load_bundle, deploy::next_version_contracts_dir};
use sdv_system_tests::TestContext;
use sdv_types::{
    governance::{
        ContractRole, Error, ProposalKind, ProposalState, ProviderSelection, Release,
        ReleaseApproved, Tier, TierParams, Track,
    },
    MB,
};
use subxt_signer::sr25519::Keypair;

const DAY_SECS: u64 = 24 * 3600;

fn governance(ctx: &TestContext) -> Governance {
    let address = ctx
        .deployment
        .address("validator_governance")
        .unwrap()
        .clone();
    Governance::new(ctx.chain.clone(), address)
}

fn validators() -> Vec<Keypair> {
    accounts::validators()
}

fn agent_release(number: u64) -> ProposalKind {
    ProposalKind::ApproveRelease(Release {
        image: "sdv-agent".into(),
        tag: format!("1.0.{number}"),
        digest: [0xab; 32],
        track: Track::Devnet,
        number,
    })
}

async fn votes(gov: &Governance, id: u64, voters: &[Keypair]) {
    for v in voters {
        gov.vote(v, id, true)
            .await
            .expect("a validator's first vote");
    }
}

async fn approved(gov: &Governance) -> bool {
    gov.query(
        CallData::message("is_release_approved")
            .arg(&"sdv-agent")
            .arg(&[0xabu8; 32])
            .arg(&Track::Devnet),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn release_is_refused_at_six_votes_and_approved_at_seven() {
    // Given the fleet HQ's release proposal.
    let ctx = TestContext::new().await;
    let gov = governance(&ctx);
    let hq = accounts::roles::fleet_hq();
    let id = gov.propose(&hq, &agent_release(1)).await.unwrap();
    let v = validators();

    // When 6 validators vote yes, execution is refused and nothing is approved.
    votes(&gov, id, &v[..6]).await;
    let err = gov.execute(&accounts::bob(), id).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::NotReady), "{err}");
    assert!(!approved(&gov).await);
    assert_eq!(gov.state(id).await.unwrap(), Some(ProposalState::Active));

    // Then the 7th vote makes it executable by anyone, and the release is approved.
    votes(&gov, id, &v[6..7]).await;
    let executed = gov.execute(&accounts::bob(), id).await.unwrap();
    let event: ReleaseApproved = executed
        .events
        .iter()
        .find_map(|e| e.decode())
        .expect("a ReleaseApproved event")
        .unwrap();
    assert_eq!((event.id, event.release.number), (id, 1));
    assert!(approved(&gov).await);
    assert_eq!(gov.state(id).await.unwrap(), Some(ProposalState::Executed));

    // And the same release number can never be approved again.
    let err = gov.propose(&hq, &agent_release(1)).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::ReleaseNotNewer));
}

#[tokio::test(flavor = "multi_thread")]
async fn non_validators_are_refused_with_typed_errors_and_nothing_changes() {
    let ctx = TestContext::new().await;
    let gov = governance(&ctx);
    let alice = accounts::alice();
    let kind = ProposalKind::SetProviders(ProviderSelection {
        arweave: false,
        ipfs: false,
    });
    let id = gov.propose(&validators()[0], &kind).await.unwrap();
    let count: u64 = gov
        .query(CallData::message("proposal_count"))
        .await
        .unwrap();

    let refused = [
        gov.propose(&alice, &kind).await.unwrap_err(),
        gov.propose(&accounts::roles::fleet_hq(), &kind)
            .await
            .unwrap_err(),
    ];
    for err in &refused {
        assert_eq!(
            err.governance_error(),
            Some(Error::NotAllowedToPropose),
            "{err}"
        );
    }
    for signer in [&alice, &accounts::roles::fleet_hq()] {
        let err = gov.vote(signer, id, true).await.unwrap_err();
        assert_eq!(err.governance_error(), Some(Error::NotValidator), "{err}");
    }
    let wire = CallData::message("wire_contracts")
        .arg(&Some([1u8; 32]))
        .arg(&Some([2u8; 32]))
        .arg(&Some([3u8; 32]))
        .into_bytes();
    let err = ctx
        .chain
        .call(&validators()[0], gov.address(), wire)
        .await
        .unwrap_err();
    // The deployment wired the contracts: wiring is sealed for everyone.
    assert_eq!(err.governance_error(), Some(Error::AlreadyWired), "{err}");
    let wired: Option<sdv_types::AccountId> = gov
        .query(CallData::message("contract_address").arg(&ContractRole::DocumentNft))
        .await
        .unwrap();
    assert_eq!(
        wired.map(|a| sdv_chain::from_ink_account(&a)),
        ctx.deployment.address("document_nft").ok().cloned()
    );

    let after: u64 = gov
        .query(CallData::message("proposal_count"))
        .await
        .unwrap();
    assert_eq!(after, count);
    let p = gov.proposal(id).await.unwrap().unwrap();
    assert_eq!((p.yes, p.no), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_recovery_waits_180_days_and_restarts_after_a_contest() {
    // Given a petition to recover Dave's documents to Eve, and 14 yes votes.
    let mut ctx = TestContext::new().await;
    let petition = ProposalKind::EmergencyRecovery {
        account: to_ink_account(&accounts::dave().public_key().to_account_id()),
        new_owner: to_ink_account(&accounts::eve().public_key().to_account_id()),
        identity_evidence: [7; 32],
        ownership_proof: [8; 32],
    };
    let gov = governance(&ctx);
    let id = gov.propose(&accounts::charlie(), &petition).await.unwrap();
    votes(&gov, id, &validators()[..14]).await;

    // Then it cannot execute before 180 days.
    let err = gov.execute(&accounts::bob(), id).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::NotReady));
    assert_eq!(gov.state(id).await.unwrap(), Some(ProposalState::Queued));

    // When Dave contests within 30 days, the votes start over.
    gov.contest(&accounts::dave(), id, "I still hold my keys")
        .await
        .unwrap();
    let p = gov.proposal(id).await.unwrap().unwrap();
    assert_eq!((p.yes, p.round), (0, 1));

    // And after 30 days nobody can contest any more.
    ctx.move_clock_ahead(31 * DAY_SECS).await;
    let gov = governance(&ctx);
    let err = gov
        .contest(&accounts::ferdie(), id, "late")
        .await
        .unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::ContestWindowClosed));

    // When the validators vote again, it still waits for day 180.
    votes(&gov, id, &validators()[..14]).await;
    let err = gov.execute(&accounts::bob(), id).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::NotReady));

    // Then after 180 days it executes with the votes cast after the contest.
    ctx.move_clock_ahead(181 * DAY_SECS).await;
    let gov = governance(&ctx);
    gov.execute(&accounts::bob(), id).await.unwrap();
    let decision: Option<(sdv_types::AccountId, sdv_types::AccountId)> = gov
        .query(CallData::message("emergency_recovery").arg(&id))
        .await
        .unwrap();
    let ProposalKind::EmergencyRecovery {
        account, new_owner, ..
    } = petition
    else {
        unreachable!()
    };
    assert_eq!(decision, Some((account, new_owner)));
}

#[tokio::test(flavor = "multi_thread")]
async fn code_upgrade_through_fourteen_votes_keeps_proposals_and_parameters() {
    // Given a changed tier parameter and a pending proposal with 3 votes.
    let ctx = TestContext::new().await;
    let gov = governance(&ctx);
    let v = validators();
    let params = TierParams {
        max_document_bytes: 12 * MB,
        max_documents: Some(6),
        parallel_chunks: 1,
    };
    let change = gov
        .propose(
            &v[0],
            &ProposalKind::SetTierParams {
                tier: Tier::Free,
                params,
            },
        )
        .await
        .unwrap();
    votes(&gov, change, &v[..7]).await;
    gov.execute(&accounts::bob(), change).await.unwrap();
    let pending = gov
        .propose(&accounts::roles::fleet_hq(), &agent_release(1))
        .await
        .unwrap();
    votes(&gov, pending, &v[..3]).await;
    let before_pending = gov.proposal(pending).await.unwrap();

    // An upgrade to code the chain does not have fails as a whole and changes nothing.
    let bogus = ProposalKind::UpgradeCode {
        contract: ContractRole::Governance,
        code_hash: [9; 32],
    };
    let failing = gov.propose(&v[2], &bogus).await.unwrap();
    votes(&gov, failing, &v[..14]).await;
    let err = gov.execute(&accounts::bob(), failing).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::UpgradeFailed), "{err}");
    assert_eq!(
        gov.state(failing).await.unwrap(),
        Some(ProposalState::Ready)
    );

    // When version 2 of the code is uploaded and a 14-of-20 upgrade executes.
    let next = load_bundle(&next_version_contracts_dir(), "validator_governance").unwrap();
    assert_ne!(
        next.code_hash,
        ctx.deployment.contracts["validator_governance"].code_hash
    );
    let code_hash = ctx
        .chain
        .upload_code(&accounts::alice(), &next.wasm)
        .await
        .unwrap();
    let upgrade = ProposalKind::UpgradeCode {
        contract: ContractRole::Governance,
        code_hash: code_hash.0,
    };
    let id = gov.propose(&v[1], &upgrade).await.unwrap();
    votes(&gov, id, &v[..13]).await;
    let err = gov.execute(&accounts::bob(), id).await.unwrap_err();
    assert_eq!(err.governance_error(), Some(Error::NotReady));
    let version: u32 = gov.query(CallData::message("code_version")).await.unwrap();
    assert_eq!(version, 1);
    votes(&gov, id, &v[13..14]).await;
    gov.execute(&accounts::bob(), id).await.unwrap();

    // Then the new code runs with every proposal and parameter kept.
    let version: u32 = gov.query(CallData::message("code_version")).await.unwrap();
    assert_eq!(version, 2);
    let kept: TierParams = gov
        .query(CallData::message("tier_params").arg(&Tier::Free))
        .await
        .unwrap();
    assert_eq!(kept, params);
    assert_eq!(gov.proposal(pending).await.unwrap(), before_pending);
    assert_eq!(
        gov.state(change).await.unwrap(),
        Some(ProposalState::Executed)
    );
    let count: u64 = gov
        .query(CallData::message("proposal_count"))
        .await
        .unwrap();
    assert_eq!(count, 4);
    // And the pending proposal goes on under the new code.
    votes(&gov, pending, &v[3..7]).await;
    gov.execute(&accounts::bob(), pending).await.unwrap();
    assert!(approved(&gov).await);
}
