//! The indexer binary and its query API against a real node and real PostgreSQL: what each of
//! the four contracts emits appears in the API after finalization, with the chain's values.

use sdv_chain::{
    to_ink_account, AccountId, DocumentNft, Governance, GuardianRecovery, Mint, TeamVault,
};
use sdv_node_config::accounts;
use sdv_system_tests::{
    fresh_database,
    indexer::{url_of, IndexerProcess},
    TestContext,
};
use sdv_types::{
    document::{DocumentClass, Holder, RetentionOption},
    governance::{ProposalKind, Release, Track},
    recovery::GuardianKind,
    vault::Operation,
};
use serde_json::{json, Value};
use subxt_signer::sr25519::Keypair;

fn id(key: &Keypair) -> AccountId {
    key.public_key().to_account_id()
}

fn ss58(key: &Keypair) -> String {
    id(key).to_string()
}

/// The `items` of a page.
fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("a page of items")
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_every_contract_appear_in_the_api_after_finalization() {
    // Given a chain with the four contracts, and the indexer binary following it.
    let ctx = TestContext::new().await;
    let deployment = ctx.dir().join("deployment.json");
    ctx.deployment.save(&deployment).unwrap();
    let pool = fresh_database().await;
    let mut indexer = IndexerProcess::start(&deployment, &url_of(&pool).await, 256);
    let address = |name: &str| ctx.deployment.address(name).unwrap().clone();
    let gov = Governance::new(ctx.chain.clone(), address("validator_governance"));
    let nft = DocumentNft::new(ctx.chain.clone(), address("document_nft"));
    let vaults = TeamVault::new(ctx.chain.clone(), address("team_vault"));
    let recovery = GuardianRecovery::new(ctx.chain.clone(), address("guardian_recovery"));
    let (alice, bob, charlie, dave) = (
        accounts::alice(),
        accounts::bob(),
        accounts::charlie(),
        accounts::dave(),
    );

    // When governance approves a release with 7 votes.
    let release = Release {
        image: "validator-update-agent".into(),
        tag: "1.4.2".into(),
        digest: [0xab; 32],
        track: Track::Devnet,
        number: 1,
    };
    let proposal = gov
        .propose(
            &accounts::roles::fleet_hq(),
            &ProposalKind::ApproveRelease(release),
        )
        .await
        .unwrap();
    for validator in &accounts::validators()[..7] {
        gov.vote(validator, proposal, true).await.unwrap();
    }
    gov.execute(&bob, proposal).await.unwrap();
    // And DocumentNFT mints a document to Alice, who publishes her key.
    let mint = Mint {
        holder: Holder::Account(to_ink_account(&id(&alice))),
        sha256: [0x5d; 32],
        size: 123_456,
        class: DocumentClass::UsTax,
        retention: RetentionOption::RegulatoryUsTax,
        arweave: false,
    };
    let (minted, _) = nft
        .mint(&accounts::roles::storage_attestor(), &mint)
        .await
        .unwrap();
    nft.publish_encryption_key(&alice, [0x11; 32])
        .await
        .unwrap();
    // And a vault of Alice, Bob and Charlie, where Alice proposes adding Dave and Bob votes.
    let vault = vaults
        .create_vault(&alice, &[id(&alice), id(&bob), id(&charlie)])
        .await
        .unwrap();
    let operation = vaults
        .propose(
            &alice,
            vault,
            &Operation::AddAdmin(to_ink_account(&id(&dave))),
        )
        .await
        .unwrap();
    vaults.vote(&bob, operation, true).await.unwrap();
    // And Alice names three guardians, of whom Bob accepts.
    recovery
        .set_guardians(
            &alice,
            &[
                (id(&bob), GuardianKind::User),
                (id(&charlie), GuardianKind::HardwareKey),
                (id(&dave), GuardianKind::Custodian),
            ],
        )
        .await
        .unwrap();
    recovery.accept(&bob, &id(&alice)).await.unwrap();

    // Then, once the indexer reached the finalized head, the API answers at that block.
    let (head, _) = ctx.chain.finalized_head().await.unwrap();
    indexer.wait_for_cursor(&pool, head).await;

    // Governance: the executed proposal, its 7 votes, the release and the starting roles.
    let p = indexer
        .data(&format!("/governance/proposals/{proposal}"), head)
        .await;
    assert_eq!(p["kind"], "approve_release");
    assert_eq!(p["state"], "executed");
    assert_eq!(p["yes"], 7);
    assert_eq!(p["proposer"], ss58(&accounts::roles::fleet_hq()));
    assert_eq!(p["executor"], ss58(&bob));
    assert_eq!(p["votes"].as_array().unwrap().len(), 7);
    let releases = indexer
        .data("/releases?image=validator-update-agent&track=devnet", head)
        .await;
    assert_eq!(items(&releases).len(), 1);
    assert_eq!(items(&releases)[0]["tag"], "1.4.2");
    assert_eq!(
        items(&releases)[0]["digest"],
        format!("sha256:{}", "ab".repeat(32))
    );
    let attestor = indexer
        .data("/parameters?prefix=role/storage_attestor", head)
        .await;
    let attestor_hex = format!("0x{}", hex_of(&id(&accounts::roles::storage_attestor())));
    assert_eq!(items(&attestor)[0]["value"], json!(attestor_hex));
    let validators = indexer.data("/governance/validators?limit=500", head).await;
    assert_eq!(items(&validators).len(), 20);

    // DocumentNFT: the document with the chain's values, and Alice's key.
    let on_chain = nft.document(minted.id).await.unwrap().unwrap();
    let doc = indexer
        .data(&format!("/documents/{}", minted.id), head)
        .await;
    assert_eq!(doc["owner_wallet"], ss58(&alice));
    assert_eq!(doc["size"], 123_456);
    assert_eq!(doc["class"], "us_tax");
    assert_eq!(doc["sha256"], format!("0x{}", "5d".repeat(32)));
    assert_eq!(doc["expiry_ms"].as_u64(), on_chain.expiry());
    let key = indexer
        .data(&format!("/accounts/{}/encryption-key", ss58(&alice)), head)
        .await;
    assert_eq!(key["key"], format!("0x{}", "11".repeat(32)));
    assert_eq!(key["version"], 1);

    // TeamVault: the vault's admins and the operation with Bob's vote, as the chain holds it.
    let v = indexer.data(&format!("/vaults/{vault}"), head).await;
    let admins: Vec<&str> = v["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["admin"].as_str().unwrap())
        .collect();
    assert_eq!(admins, [ss58(&alice), ss58(&bob), ss58(&charlie)]);
    let chain_op = vaults.operation(operation).await.unwrap().unwrap();
    let op = indexer
        .data(&format!("/vault-operations/{operation}"), head)
        .await;
    assert_eq!(op["kind"], "add_admin");
    assert_eq!(op["approvals"], chain_op.approvals);
    assert_eq!(op["required"], chain_op.required);
    assert_eq!(op["state"], "voting");
    let voters: Vec<&str> = op["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["admin"].as_str().unwrap())
        .collect();
    assert!(voters.contains(&ss58(&bob).as_str()), "{op}");

    // GuardianRecovery: Alice's three guardians, Bob accepted, the set not yet active.
    let set = indexer
        .data(&format!("/accounts/{}/guardians", ss58(&alice)), head)
        .await;
    let guardians = set["guardians"].as_array().unwrap();
    assert_eq!(guardians.len(), 3);
    assert_eq!(guardians[0]["guardian"], ss58(&bob));
    assert!(guardians[0]["accepted_ms"].is_u64());
    assert!(guardians[1]["accepted_ms"].is_null());
    assert_eq!(guardians[2]["kind"], "custodian");
    assert_eq!(set["active"], false);
    assert_eq!(set["latest_recovery"], Value::Null);
    let guarded = indexer
        .data(&format!("/accounts/{}/guarding", ss58(&bob)), head)
        .await;
    assert_eq!(items(&guarded)[0]["user"], ss58(&alice));

    // And a malformed id is a 400 with a message from the running binary too.
    let (status, body) = indexer.get("/vaults/not-a-number").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string());
}

fn hex_of(account: &AccountId) -> String {
    account.0.iter().map(|b| format!("{b:02x}")).collect()
}
