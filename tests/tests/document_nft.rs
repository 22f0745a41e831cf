//! DocumentNFT on a real node, under a real ValidatorGovernance: minting by the storage
//! attestor, tier limits read from governance, the regulatory retention floor, and the notice,
//! deletion and extension of an expiring document across moved clocks.

use sdv_chain::{to_ink_account, DocumentNft, Mint};
use sdv_node_config::accounts;
use sdv_system_tests::TestContext;
use sdv_types::{
    document::{
        DeletionCancelled, DeletionScheduled, DocumentClass, DocumentDeleted, DocumentStatus,
        Error, Holder, Replicas, RetentionOption, RetentionUpgraded, NOTICE_PERIOD, YEAR,
    },
    governance::Tier,
    psp34::{Id, Transfer},
    DAY, MB,
};
use subxt_signer::sr25519::Keypair;

const DAY_SECS: u64 = 24 * 3600;

fn documents(ctx: &TestContext) -> DocumentNft {
    let address = ctx.deployment.address("document_nft").unwrap().clone();
    DocumentNft::new(ctx.chain.clone(), address)
}

fn holder(account: &Keypair) -> Holder {
    Holder::Account(to_ink_account(&account.public_key().to_account_id()))
}

/// A verified upload of `size` bytes for `owner`, its hash derived from `n`.
fn upload(owner: &Keypair, n: u8, size: u64) -> Mint {
    Mint {
        holder: holder(owner),
        sha256: [n; 32],
        size,
        class: DocumentClass::Other,
        retention: RetentionOption::Minimum,
        arweave: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn attestor_mints_and_everyone_else_is_refused() {
    // Given the deployed contracts and the attestor governance appointed.
    let ctx = TestContext::new().await;
    let nft = documents(&ctx);
    let alice = accounts::alice();
    let mint = upload(&alice, 1, 4096);

    // When anyone else mints, even the owner, the call is refused and nothing exists.
    for signer in [
        &alice,
        &accounts::bob(),
        &accounts::roles::retention_executor(),
    ] {
        let err = nft.mint(signer, &mint).await.unwrap_err();
        assert_eq!(err.document_error(), Some(Error::NotAttestor), "{err}");
    }
    assert_eq!(nft.document(1).await.unwrap(), None);

    // Then the attestor mints token 1 to Alice, announced as a PSP34 transfer from nobody.
    let attestor = accounts::roles::storage_attestor();
    let (minted, _) = nft.mint(&attestor, &mint).await.unwrap();
    assert_eq!((minted.id, minted.size, minted.tier), (1, 4096, Tier::Free));
    let alice_id = to_ink_account(&alice.public_key().to_account_id());
    assert_eq!(nft.owner_of(1).await.unwrap(), Some(alice_id));
    assert_eq!(
        nft.balance_of(&alice.public_key().to_account_id())
            .await
            .unwrap(),
        1
    );
    let document = nft.document(1).await.unwrap().expect("token 1");
    assert_eq!(document.sha256, [1; 32]);
    assert!(document.replicas.s3);

    // And the same ciphertext cannot be minted twice.
    let err = nft.mint(&attestor, &mint).await.unwrap_err();
    assert_eq!(
        err.document_error(),
        Some(Error::DuplicateDocument),
        "{err}"
    );

    // And a PSP34 wallet sees the mint as Transfer { from: None }.
    let (again, _) = nft.mint(&attestor, &upload(&alice, 2, 1)).await.unwrap();
    assert_eq!(again.id, 2);
    let moved = nft
        .transfer(&alice, &accounts::bob().public_key().to_account_id(), 2)
        .await
        .unwrap();
    let transfer: Transfer = moved.event().unwrap().expect("a Transfer event");
    assert_eq!(transfer.id, Id::U64(2));
    assert_eq!(transfer.from, Some(alice_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn free_tier_limits_refuse_size_and_count_until_the_tier_authority_upgrades() {
    // Given a Free account (10 MB per document, 5 documents).
    let ctx = TestContext::new().await;
    let nft = documents(&ctx);
    let attestor = accounts::roles::storage_attestor();
    let bob = accounts::bob();

    // When a document is one byte over 10 MB, it is refused; exactly 10 MB is accepted.
    let err = nft
        .mint(&attestor, &upload(&bob, 1, 10 * MB + 1))
        .await
        .unwrap_err();
    assert_eq!(err.document_error(), Some(Error::DocumentTooLarge), "{err}");
    nft.mint(&attestor, &upload(&bob, 1, 10 * MB))
        .await
        .unwrap();

    // When the sixth document comes, it is refused.
    for n in 2..=5 {
        nft.mint(&attestor, &upload(&bob, n, 1024)).await.unwrap();
    }
    let err = nft
        .mint(&attestor, &upload(&bob, 6, 1024))
        .await
        .unwrap_err();
    assert_eq!(
        err.document_error(),
        Some(Error::DocumentLimitReached),
        "{err}"
    );
    assert_eq!(nft.live_documents(holder(&bob)).await.unwrap(), 5);

    // Then only the tier authority can raise the tier, and Premium takes the sixth document
    // and a 100 MB one.
    let err = nft
        .set_tier(&bob, holder(&bob), Tier::Premium)
        .await
        .unwrap_err();
    assert_eq!(err.document_error(), Some(Error::NotTierAuthority), "{err}");
    nft.set_tier(
        &accounts::roles::tier_authority(),
        holder(&bob),
        Tier::Premium,
    )
    .await
    .unwrap();
    nft.mint(&attestor, &upload(&bob, 6, 1024)).await.unwrap();
    let (big, _) = nft
        .mint(&attestor, &upload(&bob, 7, 100 * MB))
        .await
        .unwrap();
    assert_eq!(big.tier, Tier::Premium);
    assert_eq!(nft.live_documents(holder(&bob)).await.unwrap(), 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn us_tax_document_filed_for_one_year_is_kept_seven_with_an_event() {
    // Given a US tax document whose owner chose 1 year.
    let ctx = TestContext::new().await;
    let nft = documents(&ctx);
    let mint = Mint {
        class: DocumentClass::UsTax,
        ..upload(&accounts::alice(), 9, 2048)
    };

    // When the attestor mints it.
    let (_, submitted) = nft
        .mint(&accounts::roles::storage_attestor(), &mint)
        .await
        .unwrap();

    // Then the retention is raised to 7 years, and an event says so.
    let upgraded: RetentionUpgraded = submitted
        .event()
        .unwrap()
        .expect("a RetentionUpgraded event");
    assert_eq!(upgraded.chosen, RetentionOption::Minimum);
    assert_eq!(upgraded.applied, RetentionOption::RegulatoryUsTax);
    let document = nft.document(upgraded.id).await.unwrap().unwrap();
    assert_eq!(document.retention, RetentionOption::RegulatoryUsTax);
    assert_eq!(document.expiry(), Some(document.uploaded_at + 7 * YEAR));

    // And the owner cannot delete it while the 7 years run.
    let err = nft
        .request_deletion(&accounts::alice(), upgraded.id)
        .await
        .unwrap_err();
    assert_eq!(
        err.document_error(),
        Some(Error::RegulatoryMinimum),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notice_then_deletion_after_moving_the_clock_and_an_extension_cancels_a_notice() {
    // Given two one-year documents of Alice.
    let mut ctx = TestContext::new().await;
    let alice = accounts::alice();
    let attestor = accounts::roles::storage_attestor();
    let executor = accounts::roles::retention_executor();
    let nft = documents(&ctx);
    let expiring = nft
        .mint(&attestor, &upload(&alice, 1, 100))
        .await
        .unwrap()
        .0
        .id;
    let extended = nft
        .mint(&attestor, &upload(&alice, 2, 100))
        .await
        .unwrap()
        .0
        .id;
    let expiry = nft
        .document(expiring)
        .await
        .unwrap()
        .unwrap()
        .expiry()
        .unwrap();

    // When the executor gives notice a year early, it is refused.
    let err = nft.notice_deletion(&executor, expiring).await.unwrap_err();
    assert_eq!(err.document_error(), Some(Error::NoticeTooEarly), "{err}");

    // When the clock is 29 days before expiry, the notices are recorded, deletion due no
    // sooner than 30 days later.
    ctx.move_clock_ahead(336 * DAY_SECS).await;
    let nft = documents(&ctx);
    let noticed = nft.notice_deletion(&executor, expiring).await.unwrap();
    let scheduled: DeletionScheduled = noticed.event().unwrap().expect("a DeletionScheduled event");
    assert!(!scheduled.by_owner);
    assert!(
        scheduled.due >= expiry,
        "due {} before expiry {expiry}",
        scheduled.due
    );
    assert!(
        scheduled.due >= expiry - 29 * DAY + NOTICE_PERIOD,
        "due {} less than 30 days after the notice",
        scheduled.due
    );
    nft.notice_deletion(&executor, extended).await.unwrap();

    // And the owner's extension during the notice cancels it.
    let cancelled = nft
        .extend_retention(&alice, extended, RetentionOption::Standard)
        .await
        .unwrap();
    assert!(cancelled.event::<DeletionCancelled>().unwrap().is_some());
    assert_eq!(
        nft.status(extended).await.unwrap(),
        Some(DocumentStatus::Active)
    );

    // Then before the notice period ends, the deletion is refused and the document stays.
    let err = nft.confirm_deletion(&executor, expiring).await.unwrap_err();
    assert_eq!(err.document_error(), Some(Error::DeletionNotDue), "{err}");

    // Then 31 days later the executor confirms the deletion: the token stays as history with
    // its hash and dates, its copies cleared, and no longer counts against the tier.
    ctx.move_clock_ahead((336 + 31) * DAY_SECS).await;
    let nft = documents(&ctx);
    let deleted = nft.confirm_deletion(&executor, expiring).await.unwrap();
    let event: DocumentDeleted = deleted.event().unwrap().expect("a DocumentDeleted event");
    assert_eq!((event.id, event.sha256), (expiring, [1; 32]));
    let history = nft.document(expiring).await.unwrap().unwrap();
    assert!(matches!(history.status(), DocumentStatus::Deleted { .. }));
    assert_eq!(history.sha256, [1; 32]);
    assert_eq!(history.replicas, Replicas::default());
    assert_eq!(nft.live_documents(holder(&alice)).await.unwrap(), 1);

    // And the extended document's cancelled notice cannot be confirmed.
    let err = nft.confirm_deletion(&executor, extended).await.unwrap_err();
    assert_eq!(err.document_error(), Some(Error::NotScheduled), "{err}");
}
