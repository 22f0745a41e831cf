//! GuardianRecovery on a real node, with DocumentNFT, TeamVault and ValidatorGovernance: the
//! whole guardian recovery across moved clocks (an attestation expiring after 72 hours, the
//! 24-hour timelock), documents owned by the new wallet with their history, the old wallet
//! refused everywhere, and the owner cancelling a malicious recovery.

use sdv_chain::{
    from_ink_account, to_ink_account, AccountId, DocumentNft, GuardianRecovery, Mint, TeamVault,
};
use sdv_node_config::accounts;
use sdv_system_tests::TestContext;
use sdv_types::{
    document::{DocumentClass, Error as DocumentError, Holder, OwnerRebound, RetentionOption},
    psp34::PSP34Error,
    recovery::{Error, GuardianKind, RecoveryQuorumReached, RecoveryState, WalletRecovered},
    vault::Error as VaultError,
};
use subxt_signer::sr25519::Keypair;

const HOUR_SECS: u64 = 3600;

fn recovery(ctx: &TestContext) -> GuardianRecovery {
    GuardianRecovery::new(
        ctx.chain.clone(),
        ctx.deployment.address("guardian_recovery").unwrap().clone(),
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

/// Alice (a user), Bob (a hardware key) and Charlie (a custodian) guard `user`, and accept.
async fn guarded(ctx: &TestContext, user: &Keypair) -> [Keypair; 3] {
    let rec = recovery(ctx);
    let guardians = [accounts::alice(), accounts::bob(), accounts::charlie()];
    let kinds = [
        GuardianKind::User,
        GuardianKind::HardwareKey,
        GuardianKind::Custodian,
    ];
    let set: Vec<_> = guardians.iter().map(account).zip(kinds).collect();
    rec.set_guardians(user, &set).await.unwrap();
    for g in &guardians {
        rec.accept(g, &account(user)).await.unwrap();
    }
    guardians
}

/// The storage attestor mints ciphertext `n` (a financial document kept 5 years) to `owner`.
async fn try_mint(ctx: &TestContext, owner: &Keypair, n: u8) -> sdv_chain::Result<u64> {
    let mint = Mint {
        holder: Holder::Account(to_ink_account(&account(owner))),
        sha256: [n; 32],
        size: 2048,
        class: DocumentClass::Financial,
        retention: RetentionOption::Extended,
        arweave: false,
    };
    let (minted, _) = documents(ctx)
        .mint(&accounts::roles::storage_attestor(), &mint)
        .await?;
    Ok(minted.id)
}

async fn mint(ctx: &TestContext, owner: &Keypair, n: u8) -> u64 {
    try_mint(ctx, owner, n).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn guardians_recover_a_wallet_and_its_documents_keep_their_history() {
    // Given Dave's two documents (one extended), his three accepted guardians, and a new
    // wallet for him.
    let mut ctx = TestContext::new().await;
    let dave = accounts::dave();
    let new_wallet = accounts::from_uri("//Dave//recovered").unwrap();
    let (first, second) = (mint(&ctx, &dave, 1).await, mint(&ctx, &dave, 2).await);
    documents(&ctx)
        .extend_retention(&dave, second, RetentionOption::LongTerm)
        .await
        .unwrap();
    let before = [
        documents(&ctx).document(first).await.unwrap().unwrap(),
        documents(&ctx).document(second).await.unwrap().unwrap(),
    ];
    let [alice, bob, charlie] = guarded(&ctx, &dave).await;

    // When Alice initiates and nobody attests within 72 hours, her attestation expires and
    // the recovery with it.
    let rec = recovery(&ctx);
    let expired = rec
        .initiate(&alice, &account(&dave), &account(&new_wallet))
        .await
        .unwrap();
    let err = rec.attest(&alice, expired).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::AlreadyAttested), "{err}");
    ctx.move_clock_ahead(73 * HOUR_SECS).await;
    let rec = recovery(&ctx);
    assert_eq!(
        rec.state(expired).await.unwrap(),
        Some(RecoveryState::Expired)
    );
    let err = rec.attest(&bob, expired).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::NotCollecting), "{err}");

    // Then a new initiation by Bob and Charlie's attestation make 2 valid ones: the 24-hour
    // timelock starts, and finalizing early is refused.
    let id = rec
        .initiate(&bob, &account(&dave), &account(&new_wallet))
        .await
        .unwrap();
    assert_ne!(id, expired);
    let quorum = rec.attest(&charlie, id).await.unwrap();
    let quorum: RecoveryQuorumReached = quorum.event().unwrap().expect("quorum");
    assert_eq!(
        rec.state(id).await.unwrap(),
        Some(RecoveryState::Timelocked)
    );
    let err = rec.finalize(&accounts::ferdie(), id).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::TimelockActive), "{err}");

    // When 24 hours have passed, anyone finalizes.
    ctx.move_clock_ahead(98 * HOUR_SECS).await;
    let rec = recovery(&ctx);
    let finalized = rec.finalize(&accounts::ferdie(), id).await.unwrap();
    let recovered: WalletRecovered = finalized.event().unwrap().expect("WalletRecovered");
    assert_eq!(
        (
            from_ink_account(&recovered.old_wallet),
            from_ink_account(&recovered.new_wallet)
        ),
        (account(&dave), account(&new_wallet))
    );
    assert!(
        quorum.eta
            <= rec
                .recovery(id)
                .await
                .unwrap()
                .unwrap()
                .finalized_at
                .unwrap()
    );
    let rebound: OwnerRebound = finalized
        .event()
        .unwrap()
        .expect("DocumentNFT's OwnerRebound");
    assert_eq!(from_ink_account(&rebound.new_wallet), account(&new_wallet));

    // Then both documents belong to the new wallet, their records unchanged.
    let nft = documents(&ctx);
    for (id, record) in [first, second].into_iter().zip(&before) {
        assert_eq!(
            nft.owner_of(id)
                .await
                .unwrap()
                .map(|a| from_ink_account(&a)),
            Some(account(&new_wallet))
        );
        assert_eq!(&nft.document(id).await.unwrap().unwrap(), record);
    }
    assert_eq!(nft.balance_of(&account(&new_wallet)).await.unwrap(), 2);
    assert_eq!(nft.balance_of(&account(&dave)).await.unwrap(), 0);

    // And the old wallet is refused everywhere: documents, keys, guardians, vaults.
    let err = nft
        .transfer(&dave, &account(&accounts::eve()), first)
        .await
        .unwrap_err();
    assert_eq!(err.psp34_error(), Some(PSP34Error::NotApproved), "{err}");
    let err = nft
        .publish_encryption_key(&dave, [5; 32])
        .await
        .unwrap_err();
    assert_eq!(
        err.document_error(),
        Some(DocumentError::WalletRevoked),
        "{err}"
    );
    let err = try_mint(&ctx, &dave, 9).await.unwrap_err();
    assert_eq!(
        err.document_error(),
        Some(DocumentError::WalletRevoked),
        "{err}"
    );
    let guardians: Vec<_> = [&alice, &bob, &charlie]
        .iter()
        .map(|k| (account(k), GuardianKind::User))
        .collect();
    let err = rec.set_guardians(&dave, &guardians).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::WalletRevoked), "{err}");
    let vault = TeamVault::new(
        ctx.chain.clone(),
        ctx.deployment.address("team_vault").unwrap().clone(),
    );
    let admins = [account(&dave), account(&alice), account(&bob)];
    let err = vault.create_vault(&alice, &admins).await.unwrap_err();
    assert_eq!(err.vault_error(), Some(VaultError::WalletRevoked), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_cancels_a_malicious_recovery_during_the_timelock() {
    // Given Eve's document and guardians, two of whom collude toward Ferdie's wallet.
    let ctx = TestContext::new().await;
    let eve = accounts::eve();
    let document = mint(&ctx, &eve, 3).await;
    let [alice, bob, _] = guarded(&ctx, &eve).await;
    let rec = recovery(&ctx);
    let id = rec
        .initiate(&alice, &account(&eve), &account(&accounts::ferdie()))
        .await
        .unwrap();
    rec.attest(&bob, id).await.unwrap();
    assert_eq!(
        rec.state(id).await.unwrap(),
        Some(RecoveryState::Timelocked)
    );

    // When someone else tries to cancel, it is refused; Eve cancels.
    let err = rec.cancel(&alice, id).await.unwrap_err();
    assert_eq!(
        err.recovery_error(),
        Some(Error::NotRecoveredWallet),
        "{err}"
    );
    rec.cancel(&eve, id).await.unwrap();

    // Then the recovery can never finalize, and Eve keeps her document.
    assert_eq!(rec.state(id).await.unwrap(), Some(RecoveryState::Cancelled));
    let err = rec.finalize(&accounts::ferdie(), id).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::RecoveryClosed), "{err}");
    let err = rec.attest(&accounts::charlie(), id).await.unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::NotCollecting), "{err}");
    assert_eq!(
        documents(&ctx)
            .owner_of(document)
            .await
            .unwrap()
            .map(|a| from_ink_account(&a)),
        Some(account(&eve))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_recovery_runs_on_governances_decision_once_guardians_are_silent_180_days() {
    // Given Dave's document, guardians who accepted and then went silent, and a petition to
    // recover Dave's wallet that 14 validators approve.
    let mut ctx = TestContext::new().await;
    let dave = accounts::dave();
    let new_wallet = accounts::from_uri("//Dave//emergency").unwrap();
    let document = mint(&ctx, &dave, 4).await;
    guarded(&ctx, &dave).await;
    let gov = sdv_chain::Governance::new(
        ctx.chain.clone(),
        ctx.deployment
            .address("validator_governance")
            .unwrap()
            .clone(),
    );
    let petition = sdv_types::governance::ProposalKind::EmergencyRecovery {
        account: to_ink_account(&account(&dave)),
        new_owner: to_ink_account(&account(&new_wallet)),
        identity_evidence: [7; 32],
        ownership_proof: [8; 32],
    };
    let decision = gov.propose(&accounts::ferdie(), &petition).await.unwrap();
    for validator in &accounts::validators()[..14] {
        gov.vote(validator, decision, true).await.unwrap();
    }

    // When the decision has not executed yet, GuardianRecovery refuses to act on it.
    let rec = recovery(&ctx);
    let err = rec
        .send(
            &accounts::ferdie(),
            sdv_chain::CallData::message("execute_emergency_recovery").arg(&decision),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.recovery_error(),
        Some(Error::NoEmergencyDecision),
        "{err}"
    );

    // When 181 days pass (the 180-day wait and the 30-day contest window are over, and no
    // guardian acted), governance executes the decision and GuardianRecovery carries it out.
    ctx.move_clock_ahead(181 * 24 * HOUR_SECS).await;
    let gov = sdv_chain::Governance::new(
        ctx.chain.clone(),
        ctx.deployment
            .address("validator_governance")
            .unwrap()
            .clone(),
    );
    gov.execute(&accounts::bob(), decision).await.unwrap();
    let rec = recovery(&ctx);
    let executed = rec
        .send(
            &accounts::ferdie(),
            sdv_chain::CallData::message("execute_emergency_recovery").arg(&decision),
        )
        .await
        .unwrap();
    let recovered: WalletRecovered = executed.event().unwrap().expect("WalletRecovered");
    assert_eq!((recovered.id, recovered.decision), (None, Some(decision)));

    // Then the document belongs to the new wallet, and the decision cannot be used twice.
    assert_eq!(
        documents(&ctx)
            .owner_of(document)
            .await
            .unwrap()
            .map(|a| from_ink_account(&a)),
        Some(account(&new_wallet))
    );
    let err = rec
        .send(
            &accounts::ferdie(),
            sdv_chain::CallData::message("execute_emergency_recovery").arg(&decision),
        )
        .await
        .unwrap_err();
    assert_eq!(err.recovery_error(), Some(Error::AlreadyExecuted), "{err}");
}
