//! Contract events from a real node into a real PostgreSQL database, decoded back through the
//! shared types.

use sdv_chain::to_ink_account;
use sdv_indexer::{follow::catch_up, store, MIGRATOR};
use sdv_node_config::accounts;
use sdv_system_tests::{fresh_database, TestContext};
use sdv_types::{governance::ValidatorSetInitialized, signature_topic};

#[tokio::test(flavor = "multi_thread")]
async fn deployment_event_is_mirrored_into_postgres() {
    // Given a chain with the contracts deployed and an empty database.
    let ctx = TestContext::new().await;
    let pool = fresh_database().await;
    MIGRATOR.run(&pool).await.unwrap();
    let governance = ctx
        .deployment
        .address("validator_governance")
        .unwrap()
        .clone();

    // When the finalized chain is written to the database, twice (the second run resumes).
    let head = catch_up(&ctx.chain, &pool, std::slice::from_ref(&governance))
        .await
        .unwrap();
    let again = catch_up(&ctx.chain, &pool, &[governance]).await.unwrap();

    // Then the cursor is at the finalized head, and the one ValidatorSetInitialized event is
    // stored once and decodes to the 20 dev validators.
    assert_eq!(again, head);
    let cursor = store::cursor(&pool).await.unwrap().unwrap();
    assert_eq!(cursor.block_number, head);
    assert_eq!(cursor.genesis_hash, ctx.chain.genesis_hash());
    let signature = signature_topic::<ValidatorSetInitialized>().unwrap();
    let rows = store::events_by_signature(&pool, signature).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let event: ValidatorSetInitialized = sdv_types::decode_event(&[signature], &rows[0].1)
        .unwrap()
        .unwrap();
    let expected: Vec<_> = accounts::validators()
        .iter()
        .map(|k| to_ink_account(&k.public_key().to_account_id()))
        .collect();
    assert_eq!(event.validators, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_of_another_chain_is_refused() {
    let first = TestContext::new().await;
    let pool = fresh_database().await;
    MIGRATOR.run(&pool).await.unwrap();
    catch_up(&first.chain, &pool, &[]).await.unwrap();
    drop(first);

    let second = TestContext::new().await;
    let err = catch_up(&second.chain, &pool, &[]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("point the indexer at a fresh database"),
        "{err}"
    );
}
