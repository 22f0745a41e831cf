//! Contract events from a real node into a real PostgreSQL database, decoded back through the
//! shared types.

use sdv_chain::{to_ink_account, DocumentNft, Mint};
use sdv_indexer::{follow::catch_up, store, Watched, MIGRATOR};
use sdv_node_config::accounts;
use sdv_system_tests::{fresh_database, TestContext};
use sdv_types::{
    document::{DocumentClass, Holder, RetentionOption},
    governance::ValidatorSetInitialized,
    signature_topic,
};

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
    let watched = Watched {
        governance: Some(governance),
        ..Watched::default()
    };
    let head = catch_up(&ctx.chain, &pool, &watched).await.unwrap();
    let again = catch_up(&ctx.chain, &pool, &watched).await.unwrap();

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
    catch_up(&first.chain, &pool, &Watched::default())
        .await
        .unwrap();
    drop(first);

    let second = TestContext::new().await;
    let err = catch_up(&second.chain, &pool, &Watched::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("point the indexer at a fresh database"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn document_events_are_projected_into_the_document_tables() {
    // Given a document minted to Alice and moved to Bob, and a key Bob published.
    let ctx = TestContext::new().await;
    let pool = fresh_database().await;
    MIGRATOR.run(&pool).await.unwrap();
    let address = ctx.deployment.address("document_nft").unwrap().clone();
    let nft = DocumentNft::new(ctx.chain.clone(), address.clone());
    let (alice, bob) = (accounts::alice(), accounts::bob());
    let bob_id = bob.public_key().to_account_id();
    let mint = Mint {
        holder: Holder::Account(to_ink_account(&alice.public_key().to_account_id())),
        sha256: [5; 32],
        size: 4096,
        class: DocumentClass::Other,
        retention: RetentionOption::Minimum,
        arweave: false,
    };
    let (minted, _) = nft
        .mint(&accounts::roles::storage_attestor(), &mint)
        .await
        .unwrap();
    nft.transfer(&alice, &bob_id, minted.id).await.unwrap();
    nft.publish_encryption_key(&bob, [9; 32]).await.unwrap();

    // When the chain is indexed with DocumentNFT's projection.
    let watched = Watched {
        document_nft: Some(address.clone()),
        ..Watched::default()
    };
    catch_up(&ctx.chain, &pool, &watched).await.unwrap();

    // Then the document belongs to Bob, its history holds the mint and the move, and Bob's
    // key is recorded.
    let (owner, wallet, retention, status): (String, Vec<u8>, String, String) = sqlx::query_as(
        "SELECT owner, owner_wallet, retention, status FROM documents WHERE token_id = $1",
    )
    .bind(minted.id as i64)
    .fetch_one(&pool)
    .await
    .unwrap();
    let bob_hex: String = bob_id.0.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(owner, bob_hex);
    assert_eq!(wallet, bob_id.0.to_vec());
    assert_eq!((retention.as_str(), status.as_str()), ("minimum", "active"));
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM document_history ORDER BY block_number, event_index")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(kinds, ["Transfer", "DocumentMinted", "Transfer"]);
    let version: i32 = sqlx::query_scalar("SELECT version FROM encryption_keys WHERE account = $1")
        .bind(bob_id.0.to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 1);
}
