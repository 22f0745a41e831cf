//! TeamVault on a real node, with DocumentNFT and ValidatorGovernance: a 5-admin vault's upload
//! after 3 votes and the 72-hour timelock, a veto in hour 71, resubmission with fresh votes, the
//! 10-admin cap, typed refusals of non-admins, and read-only mode after 90 days.

use sdv_chain::{from_ink_account, AccountId, DocumentNft, TeamVault};
use sdv_node_config::accounts;
use sdv_system_tests::TestContext;
use sdv_types::{
    document::{DocumentClass, Owner, RetentionOption},
    vault::{
        Error, Operation, OperationExecuted, OperationQueued, OperationState, OperationVetoed,
        TIMELOCK,
    },
    Hash32,
};
use subxt_signer::sr25519::Keypair;

const HOUR_SECS: u64 = 3600;
const DAY_SECS: u64 = 24 * HOUR_SECS;

fn vaults(ctx: &TestContext) -> TeamVault {
    TeamVault::new(
        ctx.chain.clone(),
        ctx.deployment.address("team_vault").unwrap().clone(),
    )
}

fn documents(ctx: &TestContext) -> DocumentNft {
    DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    )
}

fn account(key: &Keypair) -> AccountId {
    key.public_key().to_account_id()
}

/// Alice, Bob, Charlie, Dave and Eve.
fn five_admins() -> Vec<Keypair> {
    vec![
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
        accounts::eve(),
    ]
}

fn upload(sha256: Hash32) -> Operation {
    Operation::Upload {
        sha256,
        class: DocumentClass::Financial,
        retention: RetentionOption::Extended,
        arweave: false,
    }
}

async fn five_admin_vault(ctx: &TestContext) -> (Vec<Keypair>, u32) {
    let admins = five_admins();
    let addresses: Vec<_> = admins.iter().map(account).collect();
    let vault = vaults(ctx)
        .create_vault(&accounts::alice(), &addresses)
        .await
        .unwrap();
    (admins, vault)
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_executes_after_three_votes_and_72_hours_and_a_veto_in_hour_71_cancels() {
    // Given a 5-admin vault and two uploads the storage attestor verified and staged.
    let mut ctx = TestContext::new().await;
    let (admins, vault) = five_admin_vault(&ctx).await;
    let attestor = accounts::roles::storage_attestor();
    let nft = documents(&ctx);
    for sha in [[1; 32], [2; 32]] {
        nft.stage_vault_upload(&attestor, vault, sha, 4096)
            .await
            .unwrap();
    }
    let team = vaults(&ctx);

    // When Alice proposes each and Bob approves, 2 of 5 is not enough.
    let kept = team
        .propose(&admins[0], vault, &upload([1; 32]))
        .await
        .unwrap();
    let vetoed = team
        .propose(&admins[0], vault, &upload([2; 32]))
        .await
        .unwrap();
    for id in [kept, vetoed] {
        team.vote(&admins[1], id, true).await.unwrap();
    }
    assert_eq!(
        team.state(kept).await.unwrap(),
        Some(OperationState::Voting)
    );
    let err = team.execute(&accounts::ferdie(), kept).await.unwrap_err();
    assert_eq!(err.vault_error(), Some(Error::NotReady), "{err}");

    // When Charlie approves, 3 of 5 (>50%) queues them for 72 hours.
    let queued = team.vote(&admins[2], kept, true).await.unwrap();
    let queued: OperationQueued = queued.event().unwrap().expect("an OperationQueued event");
    team.vote(&admins[2], vetoed, true).await.unwrap();
    let queued_at = team
        .operation(kept)
        .await
        .unwrap()
        .unwrap()
        .queued_at
        .unwrap();
    assert_eq!(queued.eta, queued_at + TIMELOCK);
    assert_eq!(
        team.state(kept).await.unwrap(),
        Some(OperationState::Pending)
    );

    // When in hour 71 Dave vetoes one, with a reason stored on-chain.
    ctx.move_clock_ahead(71 * HOUR_SECS).await;
    let team = vaults(&ctx);
    let reason = "not the signed version of the audit report";
    let veto = team.veto(&admins[3], vetoed, reason).await.unwrap();
    let event: OperationVetoed = veto.event().unwrap().expect("an OperationVetoed event");
    assert_eq!(event.reason, reason);
    let stored = team.operation(vetoed).await.unwrap().unwrap().veto.unwrap();
    assert_eq!(
        (from_ink_account(&stored.by), stored.reason.as_str()),
        (account(&admins[3]), reason)
    );
    let err = team.execute(&accounts::ferdie(), kept).await.unwrap_err();
    assert_eq!(
        err.vault_error(),
        Some(Error::NotReady),
        "still in its timelock: {err}"
    );

    // Then after 72 hours anyone executes the other: DocumentNFT mints it to the vault.
    ctx.move_clock_ahead(73 * HOUR_SECS).await;
    let team = vaults(&ctx);
    let nft = documents(&ctx);
    let executed = team.execute(&accounts::ferdie(), kept).await.unwrap();
    let executed: OperationExecuted = executed
        .event()
        .unwrap()
        .expect("an OperationExecuted event");
    let token = executed.token.expect("the minted token");
    let document = nft.document(token).await.unwrap().unwrap();
    assert_eq!(document.owner, Owner::Vault(vault));
    assert_eq!((document.sha256, document.size), ([1; 32], 4096));
    assert_eq!(
        nft.owner_of(token)
            .await
            .unwrap()
            .map(|a| from_ink_account(&a)),
        Some(team.address().clone())
    );

    // And the vetoed one never executes; resubmitted, it starts over with fresh votes.
    let err = team.execute(&accounts::ferdie(), vetoed).await.unwrap_err();
    assert_eq!(err.vault_error(), Some(Error::NotReady), "{err}");
    assert_eq!(
        team.state(vetoed).await.unwrap(),
        Some(OperationState::Vetoed)
    );
    let again = team
        .propose(&admins[0], vault, &upload([2; 32]))
        .await
        .unwrap();
    let fresh = team.operation(again).await.unwrap().unwrap();
    assert_ne!(again, vetoed);
    assert_eq!((fresh.approvals, fresh.queued_at), (1, None));
    assert_eq!(
        team.state(again).await.unwrap(),
        Some(OperationState::Voting)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eleventh_admin_is_refused_and_non_admins_get_typed_errors() {
    // Given a vault of 10 admins (Alice, Bob and 8 validator accounts).
    let ctx = TestContext::new().await;
    let team = vaults(&ctx);
    let mut admins: Vec<AccountId> = vec![account(&accounts::alice()), account(&accounts::bob())];
    admins.extend(accounts::validators()[..8].iter().map(account));
    let vault = team
        .create_vault(&accounts::alice(), &admins)
        .await
        .unwrap();

    // When 11 admins are named at creation, or an 11th is proposed, it is refused.
    let mut eleven = admins.clone();
    eleven.push(account(&accounts::charlie()));
    let err = team
        .create_vault(&accounts::alice(), &eleven)
        .await
        .unwrap_err();
    assert_eq!(
        err.vault_error(),
        Some(Error::AdminCountOutOfRange),
        "{err}"
    );
    let add = Operation::AddAdmin(sdv_chain::to_ink_account(&account(&accounts::charlie())));
    let err = team
        .propose(&accounts::alice(), vault, &add)
        .await
        .unwrap_err();
    assert_eq!(
        err.vault_error(),
        Some(Error::AdminCountOutOfRange),
        "{err}"
    );

    // Then a non-admin is refused every admin message with a typed error, and nothing changes.
    let id = team
        .propose(&accounts::alice(), vault, &upload([7; 32]))
        .await
        .unwrap();
    let count: u64 = team
        .query(sdv_chain::CallData::message("operation_count"))
        .await
        .unwrap();
    let before = team.operation(id).await.unwrap();
    let ferdie = accounts::ferdie();
    let refusals = [
        team.propose(&ferdie, vault, &upload([8; 32]))
            .await
            .map(|_| ()),
        team.vote(&ferdie, id, true).await.map(|_| ()),
        team.veto(&ferdie, id, "no").await.map(|_| ()),
        team.check_in(&ferdie, vault).await.map(|_| ()),
    ];
    for refusal in refusals {
        let err = refusal.unwrap_err();
        assert_eq!(err.vault_error(), Some(Error::NotAdmin), "{err}");
    }
    let after: u64 = team
        .query(sdv_chain::CallData::message("operation_count"))
        .await
        .unwrap();
    assert_eq!(after, count);
    assert_eq!(team.operation(id).await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_is_read_only_after_90_days_until_three_admins_are_active() {
    // Given a 5-admin vault whose admins have not acted for 91 days.
    let mut ctx = TestContext::new().await;
    let (admins, vault) = five_admin_vault(&ctx).await;
    ctx.move_clock_ahead(91 * DAY_SECS).await;
    let team = vaults(&ctx);
    assert_eq!(team.is_read_only(vault).await.unwrap(), Some(true));

    // When an admin proposes, the vault refuses: read-only.
    let err = team
        .propose(&admins[0], vault, &upload([3; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.vault_error(), Some(Error::ReadOnly), "{err}");

    // When Alice checks in (allowed while read-only), Bob's proposal still makes only 2.
    team.check_in(&admins[0], vault).await.unwrap();
    let err = team
        .propose(&admins[1], vault, &upload([3; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.vault_error(), Some(Error::ReadOnly), "{err}");

    // Then once Charlie checks in too, Bob's proposal is the third activity and is accepted.
    team.check_in(&admins[2], vault).await.unwrap();
    let id = team
        .propose(&admins[1], vault, &upload([3; 32]))
        .await
        .unwrap();
    assert_eq!(team.state(id).await.unwrap(), Some(OperationState::Voting));
    assert_eq!(team.is_read_only(vault).await.unwrap(), Some(false));
}
