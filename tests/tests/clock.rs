//! Time travel for timelock tests: the node restarted on the same chain under `datefudge`.

use sdv_chain::CallData;
use sdv_system_tests::TestContext;
use sdv_types::HOUR;

async fn contract_now(ctx: &TestContext) -> u64 {
    let governance = ctx.deployment.address("validator_governance").unwrap();
    ctx.chain
        .query(
            governance,
            governance,
            CallData::message("now").into_bytes(),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_reads_the_clock_moved_73_hours_ahead() {
    // Given a chain with the contracts, and the time a contract reads now.
    let mut ctx = TestContext::new().await;
    let before = contract_now(&ctx).await;
    let governance = ctx
        .deployment
        .address("validator_governance")
        .unwrap()
        .clone();

    // When the node restarts on the same base path with its clock 73 hours ahead (and a
    // block is authored).
    ctx.move_clock_ahead(73 * 3600).await;

    // Then the chain kept its state and the contract reads a time 73 hours later.
    let after = contract_now(&ctx).await;
    assert_eq!(
        ctx.deployment.address("validator_governance").unwrap(),
        &governance
    );
    let moved = after - before;
    assert!(
        (73 * HOUR..74 * HOUR).contains(&moved),
        "the clock moved {moved} ms, expected 73 hours"
    );
}
