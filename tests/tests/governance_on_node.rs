//! The first contract path end to end: `cargo contract build` output instantiated on a real
//! `substrate-contracts-node`, called, and its event decoded off-chain through `sdv-types`.

use sdv_chain::{from_ink_account, CallData, Error};
use sdv_node_config::{
    accounts, contracts_dir,
    deploy::{dev_roles, load_bundle, validator_accounts},
};
use sdv_system_tests::TestContext;
use sdv_types::governance::{ReleaseProposerChanged, RoleChanged, ValidatorSetInitialized};

#[tokio::test(flavor = "multi_thread")]
async fn built_governance_instantiates_and_its_event_decodes_offchain() {
    // Given a node with the contracts deployed, and the bundle `cargo contract build` wrote.
    let ctx = TestContext::new().await;
    let bundle = load_bundle(&contracts_dir(), "validator_governance").unwrap();
    let alice = accounts::alice();

    // When a second governance instance is created from that code.
    let data = CallData::message("new")
        .arg(&validator_accounts())
        .arg(&dev_roles())
        .into_bytes();
    let created = ctx
        .chain
        .instantiate(&alice, bundle.code_hash, data, b"second".to_vec())
        .await
        .expect("instantiation with 20 validators");

    // Then its events decode through the shared types: the 20 validators, then the three
    // appointed roles and the one release proposer.
    assert_eq!(created.events.len(), 5, "{:?}", created.events);
    let roles: Vec<RoleChanged> = created.events[1..4]
        .iter()
        .map(|e| e.decode().expect("a RoleChanged event").unwrap())
        .collect();
    let appointed = dev_roles();
    assert_eq!(
        roles.iter().map(|r| r.new).collect::<Vec<_>>(),
        [
            appointed.storage_attestor,
            appointed.retention_executor,
            appointed.tier_authority
        ]
    );
    let proposer: ReleaseProposerChanged = created.events[4]
        .decode()
        .expect("a ReleaseProposerChanged event")
        .unwrap();
    assert_eq!(
        (proposer.account, proposer.allowed),
        (appointed.release_proposers[0], true)
    );
    let event: ValidatorSetInitialized = created.events[0]
        .decode()
        .expect("the signature topic is ValidatorSetInitialized's")
        .expect("the event data decodes");
    assert_eq!(event.validators, validator_accounts());
    assert_eq!(created.events[0].contract, created.address);

    // And a call answers the same set.
    let answer: Vec<sdv_types::AccountId> = ctx
        .chain
        .query(
            &alice.public_key().to_account_id(),
            &created.address,
            CallData::message("validators").into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(answer, validator_accounts());
    let is_validator: bool = ctx
        .chain
        .query(
            &alice.public_key().to_account_id(),
            &created.address,
            CallData::message("is_validator")
                .arg(&validator_accounts()[5])
                .into_bytes(),
        )
        .await
        .unwrap();
    assert!(is_validator);
}

#[tokio::test(flavor = "multi_thread")]
async fn constructor_refuses_nineteen_validators_with_its_typed_error() {
    let ctx = TestContext::new().await;
    let code_hash = ctx.deployment.contracts["validator_governance"].code_hash;
    let mut nineteen = validator_accounts();
    nineteen.pop();

    let data = CallData::message("new")
        .arg(&nineteen)
        .arg(&dev_roles())
        .into_bytes();
    let err = ctx
        .chain
        .instantiate(&accounts::alice(), code_hash, data, b"short".to_vec())
        .await
        .expect_err("19 validators must be refused");

    // The constructor answers `Result<Result<Self, Error>, LangError>`: Ok(Err(WrongValidatorCount)).
    let Error::Reverted(data) = err else {
        panic!("expected a revert, got {err}");
    };
    assert_eq!(data, vec![0, 1, 0], "Ok(Err(Error::WrongValidatorCount))");
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_governance_is_in_the_deployment_and_answers() {
    let ctx = TestContext::new().await;
    assert_eq!(ctx.deployment.genesis_hash, ctx.chain.genesis_hash());
    let governance = ctx.deployment.address("validator_governance").unwrap();
    let validators: Vec<sdv_types::AccountId> = ctx
        .chain
        .query(
            governance,
            governance,
            CallData::message("validators").into_bytes(),
        )
        .await
        .unwrap();
    let expected: Vec<_> = accounts::validators()
        .iter()
        .map(|k| k.public_key().to_account_id())
        .collect();
    assert_eq!(
        validators.iter().map(from_ink_account).collect::<Vec<_>>(),
        expected
    );
    // The deployment file round-trips.
    let path = ctx.dir().join("deployment.json");
    ctx.deployment.save(&path).unwrap();
    assert_eq!(sdv_chain::Deployment::load(&path).unwrap(), ctx.deployment);
    // Unknown names are a clear error.
    let err = ctx.deployment.address("nope").unwrap_err().to_string();
    assert_eq!(err, "the deployment has no contract named nope");
}
