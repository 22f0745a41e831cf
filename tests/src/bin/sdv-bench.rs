//! `sdv-bench`: benchmarks that need the real node. `./dev bench <group>` runs it.
//!
//! Every figure is one line `bench: <name> = <value> <unit>`, printed next to what it is
//! measured against in the same run.

use sdv_chain::{node, CallData, Chain, DryRun, Governance};
use sdv_node_config::{accounts, contracts_dir, deploy::load_bundle, CONTRACTS};
use sdv_system_tests::TestContext;
use sdv_types::governance::{ProposalKind, Release, Track};

#[tokio::main]
async fn main() {
    let group = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "contracts".into());
    match group.as_str() {
        "contracts" => contracts().await,
        other => {
            eprintln!("unknown benchmark group {other} (groups: contracts)");
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
    let ctx = TestContext::new().await;
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
}

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
    assert!(!result.reverted, "the benchmarked call must succeed");
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
