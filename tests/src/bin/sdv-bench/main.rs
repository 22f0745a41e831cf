//! `sdv-bench`: benchmarks that need the real node. `./dev bench <group>` runs it.
//!
//! Every figure is one line `bench: <name> = <value> <unit>`, printed next to what it is
//! measured against in the same run.

mod backlog;
mod fleet;
mod indexer;
mod relayer;
mod storage;

use sdv_chain::{
    node, to_ink_account, CallData, Chain, DocumentNft, DryRun, Governance, GuardianRecovery, Mint,
    TeamVault,
};
use sdv_node_config::{accounts, contracts_dir, deploy::load_bundle, CONTRACTS};
use sdv_system_tests::TestContext;
use sdv_types::{
    document::{DocumentClass, Holder, Replica, RetentionOption},
    governance::{ProposalKind, Release, Tier, Track},
    psp34::Id,
    recovery::GuardianKind,
    vault::Operation,
};

#[tokio::main]
async fn main() {
    let group = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "contracts".into());
    match group.as_str() {
        "contracts" => contracts().await,
        "fleet" => fleet::run().await,
        "indexer" => indexer::run().await,
        "relayer" => relayer::run().await,
        "storage" => storage::run().await,
        other => {
            eprintln!(
                "unknown benchmark group {other} (groups: contracts, fleet, indexer, relayer, storage)"
            );
            std::process::exit(2);
        }
    }
}

fn bench(name: &str, value: impl std::fmt::Display, unit: &str) {
    println!("bench: {name} = {value} {unit}");
}

/// Each contract's optimized Wasm size next to the node's code size limit, and each message's
/// weight (ref_time, proof_size) measured by dry runs on the node next to a block's maximum.
async fn contracts() {
    let mut ctx = TestContext::new().await;
    let api = ctx.chain.client().constants();
    let max_code_len = api
        .at(&node::constants().contracts().max_code_len())
        .expect("the node declares MaxCodeLen");
    let max_block = api
        .at(&node::constants().system().block_weights())
        .expect("the node declares BlockWeights")
        .max_block;
    bench("node_max_code_len_bytes", max_code_len, "bytes");
    for name in CONTRACTS {
        let bundle = load_bundle(&contracts_dir(), name).expect("the contract bundle");
        bench(&format!("{name}_wasm_bytes"), bundle.wasm.len(), "bytes");
    }
    bench("node_max_block_ref_time", max_block.ref_time, "ps");
    bench("node_max_block_proof_size", max_block.proof_size, "bytes");

    let address = ctx
        .deployment
        .address("validator_governance")
        .unwrap()
        .clone();
    let gov = Governance::new(ctx.chain.clone(), address.clone());
    let v = accounts::validators();
    let hq = accounts::roles::fleet_hq();
    let kind = ProposalKind::ApproveRelease(Release {
        image: "sdv-agent".into(),
        tag: "1.0.0".into(),
        digest: [0xab; 32],
        track: Track::Devnet,
        number: 1,
    });
    let propose = dry(
        &ctx.chain,
        &hq,
        &address,
        CallData::message("propose").arg(&kind),
    )
    .await;
    report("validator_governance_propose", &propose, max_block.ref_time);
    let id = gov.propose(&hq, &kind).await.unwrap();
    let vote = CallData::message("vote").arg(&id).arg(&true);
    report(
        "validator_governance_vote",
        &dry(&ctx.chain, &v[0], &address, vote).await,
        max_block.ref_time,
    );
    for signer in &v[..7] {
        gov.vote(signer, id, true).await.unwrap();
    }
    let execute = CallData::message("execute").arg(&id);
    report(
        "validator_governance_execute",
        &dry(&ctx.chain, &accounts::bob(), &address, execute).await,
        max_block.ref_time,
    );
    document_nft(&ctx, max_block.ref_time).await;
    team_vault(&mut ctx, max_block.ref_time).await;
    guardian_recovery(&mut ctx, max_block.ref_time).await;
}

/// GuardianRecovery's messages for a user with 3 guardians and 2 documents, each dry-run where
/// it succeeds; finalization includes DocumentNFT's rebinding (constant whatever the number of
/// documents) after moving the node's clock past the 24-hour timelock.
async fn guardian_recovery(ctx: &mut TestContext, max_ref_time: u64) {
    let address = ctx.deployment.address("guardian_recovery").unwrap().clone();
    let recovery = GuardianRecovery::new(ctx.chain.clone(), address.clone());
    let nft = DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    );
    let user = accounts::ferdie();
    let user_id = user.public_key().to_account_id();
    let guardians = [accounts::alice(), accounts::bob(), accounts::charlie()];
    let kinds = [
        GuardianKind::User,
        GuardianKind::HardwareKey,
        GuardianKind::Custodian,
    ];
    let set: Vec<_> = guardians
        .iter()
        .map(|k| k.public_key().to_account_id())
        .zip(kinds)
        .collect();
    let ink_set: Vec<_> = set.iter().map(|(a, k)| (to_ink_account(a), *k)).collect();
    let new_wallet = accounts::from_uri("//Ferdie//recovered").unwrap();
    let new_id = new_wallet.public_key().to_account_id();
    let report_dry = |name: &'static str, dry: DryRun| {
        report(&format!("guardian_recovery_{name}"), &dry, max_ref_time)
    };
    for n in [0xa1, 0xa2] {
        let mint = Mint {
            holder: Holder::Account(to_ink_account(&user_id)),
            sha256: [n; 32],
            size: 1024,
            class: DocumentClass::Other,
            retention: RetentionOption::Standard,
            arweave: false,
        };
        nft.mint(&accounts::roles::storage_attestor(), &mint)
            .await
            .unwrap();
    }
    report_dry(
        "set_guardians",
        dry(
            &ctx.chain,
            &user,
            &address,
            CallData::message("set_guardians").arg(&ink_set),
        )
        .await,
    );
    recovery.set_guardians(&user, &set).await.unwrap();
    report_dry(
        "accept_guardianship",
        dry(
            &ctx.chain,
            &guardians[0],
            &address,
            CallData::message("accept_guardianship").arg(&to_ink_account(&user_id)),
        )
        .await,
    );
    for g in &guardians {
        recovery.accept(g, &user_id).await.unwrap();
    }
    let initiate = CallData::message("initiate_recovery")
        .arg(&to_ink_account(&user_id))
        .arg(&to_ink_account(&new_id));
    report_dry(
        "initiate_recovery",
        dry(&ctx.chain, &guardians[0], &address, initiate).await,
    );
    let id = recovery
        .initiate(&guardians[0], &user_id, &new_id)
        .await
        .unwrap();
    report_dry(
        "attest_to_quorum",
        dry(
            &ctx.chain,
            &guardians[1],
            &address,
            CallData::message("attest").arg(&id),
        )
        .await,
    );
    recovery.attest(&guardians[1], id).await.unwrap();
    report_dry(
        "cancel_recovery",
        dry(
            &ctx.chain,
            &user,
            &address,
            CallData::message("cancel_recovery").arg(&id),
        )
        .await,
    );
    ctx.move_clock_ahead(97 * 3600).await;
    report_dry(
        "finalize_recovery",
        dry(
            &ctx.chain,
            &accounts::eve(),
            &address,
            CallData::message("finalize_recovery").arg(&id),
        )
        .await,
    );
}

/// TeamVault's messages on a 5-admin vault, each dry-run where it succeeds; the upload's
/// execution includes its call into DocumentNFT (and DocumentNFT's into governance).
async fn team_vault(ctx: &mut TestContext, max_ref_time: u64) {
    let address = ctx.deployment.address("team_vault").unwrap().clone();
    let vaults = TeamVault::new(ctx.chain.clone(), address.clone());
    let nft = DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    );
    let admins = [
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
        accounts::eve(),
    ];
    let addresses: Vec<_> = admins
        .iter()
        .map(|k| k.public_key().to_account_id())
        .collect();
    let ink_admins: Vec<_> = addresses.iter().map(to_ink_account).collect();
    let report_dry =
        |name: &'static str, dry: DryRun| report(&format!("team_vault_{name}"), &dry, max_ref_time);
    report_dry(
        "create_vault",
        dry(
            &ctx.chain,
            &admins[0],
            &address,
            CallData::message("create_vault").arg(&ink_admins),
        )
        .await,
    );
    let vault = vaults.create_vault(&admins[0], &addresses).await.unwrap();
    let attestor = accounts::roles::storage_attestor();
    nft.stage_vault_upload(&attestor, vault, [0xee; 32], MB_10)
        .await
        .unwrap();
    let upload = Operation::Upload {
        sha256: [0xee; 32],
        class: DocumentClass::Other,
        retention: RetentionOption::Standard,
        arweave: false,
    };
    report_dry(
        "propose",
        dry(
            &ctx.chain,
            &admins[0],
            &address,
            CallData::message("propose").arg(&vault).arg(&upload),
        )
        .await,
    );
    let id = vaults.propose(&admins[0], vault, &upload).await.unwrap();
    vaults.vote(&admins[1], id, true).await.unwrap();
    report_dry(
        "vote_that_queues",
        dry(
            &ctx.chain,
            &admins[2],
            &address,
            CallData::message("vote").arg(&id).arg(&true),
        )
        .await,
    );
    vaults.vote(&admins[2], id, true).await.unwrap();
    report_dry(
        "veto",
        dry(
            &ctx.chain,
            &admins[3],
            &address,
            CallData::message("veto")
                .arg(&id)
                .arg(&"a reason of 32 bytes for a veto."),
        )
        .await,
    );
    report_dry(
        "check_in",
        dry(
            &ctx.chain,
            &admins[4],
            &address,
            CallData::message("check_in").arg(&vault),
        )
        .await,
    );
    ctx.move_clock_ahead(73 * 3600).await;
    report_dry(
        "execute_upload",
        dry(
            &ctx.chain,
            &accounts::ferdie(),
            &address,
            CallData::message("execute").arg(&id),
        )
        .await,
    );
}

/// DocumentNFT's messages, each dry-run in a state where it succeeds. Every message that
/// needs a role or a limit makes one or two calls into ValidatorGovernance, included here.
async fn document_nft(ctx: &TestContext, max_ref_time: u64) {
    let address = ctx.deployment.address("document_nft").unwrap().clone();
    let nft = DocumentNft::new(ctx.chain.clone(), address.clone());
    let attestor = accounts::roles::storage_attestor();
    let executor = accounts::roles::retention_executor();
    let authority = accounts::roles::tier_authority();
    let alice = accounts::alice();
    let alice_holder = Holder::Account(to_ink_account(&alice.public_key().to_account_id()));
    let upload = |n: u8, retention| Mint {
        holder: alice_holder,
        sha256: [n; 32],
        size: MB_10,
        class: DocumentClass::Other,
        retention,
        arweave: false,
    };
    let measure = |name: &'static str, signer, data| {
        let address = address.clone();
        async move {
            let name = format!("document_nft_{name}");
            report(
                &name,
                &dry(&ctx.chain, signer, &address, data).await,
                max_ref_time,
            );
        }
    };

    measure(
        "mint",
        &attestor,
        upload(1, RetentionOption::Minimum).call_data(),
    )
    .await;
    let id = nft
        .mint(&attestor, &upload(1, RetentionOption::Indefinite))
        .await
        .unwrap()
        .0
        .id;
    let bob = to_ink_account(&accounts::bob().public_key().to_account_id());
    measure(
        "transfer",
        &alice,
        CallData::message("PSP34::transfer")
            .arg(&bob)
            .arg(&Id::U64(id))
            .arg(&Vec::<u8>::new()),
    )
    .await;
    measure(
        "set_tier",
        &authority,
        CallData::message("set_tier")
            .arg(&alice_holder)
            .arg(&Tier::Premium),
    )
    .await;
    measure(
        "publish_encryption_key",
        &alice,
        CallData::message("publish_encryption_key").arg(&[7u8; 32]),
    )
    .await;
    nft.set_tier(
        &accounts::roles::tier_authority(),
        alice_holder,
        Tier::Premium,
    )
    .await
    .unwrap();
    measure(
        "extend_retention",
        &alice,
        CallData::message("extend_retention")
            .arg(&id)
            .arg(&RetentionOption::Permanent),
    )
    .await;
    measure(
        "record_replica_ipfs",
        &attestor,
        CallData::message("record_replica")
            .arg(&id)
            .arg(&Replica::Ipfs(vec![1; 36])),
    )
    .await;
    measure(
        "request_deletion",
        &alice,
        CallData::message("request_deletion").arg(&id),
    )
    .await;
    nft.request_deletion(&alice, id).await.unwrap();
    measure(
        "confirm_deletion",
        &executor,
        CallData::message("confirm_deletion").arg(&id),
    )
    .await;
    let owner_of = CallData::message("PSP34::owner_of").arg(&Id::U64(id));
    measure("owner_of", &alice, owner_of).await;
}

/// The largest Free document, 10 MB.
const MB_10: u64 = 10 * sdv_types::MB;

async fn dry(
    chain: &Chain,
    signer: &subxt_signer::sr25519::Keypair,
    dest: &sdv_chain::AccountId,
    data: CallData,
) -> DryRun {
    let result = chain
        .dry_run(
            &signer.public_key().to_account_id(),
            dest,
            data.into_bytes(),
        )
        .await
        .expect("the dry run");
    assert!(
        !result.reverted,
        "the benchmarked call must succeed; it reverted with {:?}",
        result.data
    );
    result
}

fn report(name: &str, dry: &DryRun, max_ref_time: u64) {
    bench(&format!("{name}_ref_time"), dry.gas_consumed.0, "ps");
    bench(&format!("{name}_proof_size"), dry.gas_consumed.1, "bytes");
    bench(
        &format!("{name}_block_share"),
        format!(
            "{:.4}",
            dry.gas_consumed.0 as f64 * 100.0 / max_ref_time as f64
        ),
        "% of max block ref_time",
    );
}
