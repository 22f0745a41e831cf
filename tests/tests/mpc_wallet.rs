//! MPC wallets on a real node: a 2-of-3 FROST Ed25519 wallet made by distributed key
//! generation signs contract calls with any two of its shares through
//! [`Chain::call_signed_with`]; one share, a forged share or a garbage signature gets nothing
//! onto the chain.

use sdv_chain::{AccountId, CallData, Chain, DocumentNft, Error};
use sdv_mpc::{
    aggregate, commit, sign, sign_with, signing_package, verify_share, DkgParticipant, Role,
    Round1Message, Round2Message, Share, SignatureShare,
};
use sdv_system_tests::TestContext;
use serde::{de::DeserializeOwned, Serialize};

/// What the ceremony service relays: the message as JSON, and back.
fn relay<T: Serialize + DeserializeOwned>(message: &T) -> T {
    serde_json::from_str(&serde_json::to_string(message).unwrap()).unwrap()
}

/// Distributed key generation among the three roles, every message relayed as JSON.
fn dkg() -> [Share; 3] {
    let mut participants = Vec::new();
    let mut round1: Vec<Round1Message> = Vec::new();
    for role in Role::ALL {
        let (participant, message) = DkgParticipant::start(role).unwrap();
        participants.push(participant);
        round1.push(relay(&message));
    }
    let mut round2: Vec<Round2Message> = Vec::new();
    for participant in &mut participants {
        round2.extend(participant.round2(&round1).unwrap().iter().map(relay));
    }
    let shares: Vec<Share> = participants
        .into_iter()
        .map(|participant| {
            let role = participant.role();
            let inbox: Vec<_> = round2.iter().filter(|m| m.to == role).cloned().collect();
            participant.finish(&inbox).unwrap()
        })
        .collect();
    shares.try_into().unwrap()
}

/// Two parties sign `payload` the way they would on two machines: commitments, the signing
/// package and the signature shares go through the coordinator, which checks each share
/// before aggregating.
async fn two_party_sign(
    first: &Share,
    second: &Share,
    payload: Vec<u8>,
) -> Result<[u8; 64], sdv_mpc::Error> {
    let wallet = first.wallet();
    let (first_nonces, first_commitment) = commit(first)?;
    let (second_nonces, second_commitment) = commit(second)?;
    let package = relay(&signing_package(
        &[relay(&first_commitment), relay(&second_commitment)],
        &payload,
    )?);
    let shares = [
        relay(&sign(first, first_nonces, &package)?),
        relay(&sign(second, second_nonces, &package)?),
    ];
    for share in &shares {
        verify_share(&wallet, &package, share)?;
    }
    aggregate(&wallet, &package, &shares)
}

/// A wallet made by DKG, its account funded by Alice.
async fn funded_wallet(ctx: &TestContext) -> ([Share; 3], AccountId) {
    let shares = dkg();
    let account = AccountId::from(shares[0].account());
    for share in &shares {
        assert_eq!(AccountId::from(share.account()), account);
    }
    ctx.fund(&account).await;
    (shares, account)
}

fn documents(ctx: &TestContext) -> (DocumentNft, AccountId) {
    let address = ctx.deployment.address("document_nft").unwrap().clone();
    (
        DocumentNft::new(ctx.chain.clone(), address.clone()),
        address,
    )
}

fn publish(key: [u8; 32]) -> Vec<u8> {
    CallData::message("publish_encryption_key")
        .arg(&key)
        .into_bytes()
}

async fn published_key(nft: &DocumentNft, account: &AccountId) -> Option<[u8; 32]> {
    nft.encryption_key(account).await.unwrap().map(|k| k.key)
}

#[tokio::test(flavor = "multi_thread")]
async fn any_two_shares_sign_contract_calls() {
    // Given a 2-of-3 wallet made by DKG and funded.
    let ctx = TestContext::new().await;
    let (nft, address) = documents(&ctx);
    let ([device, backup, custodian], account) = funded_wallet(&ctx).await;
    let chain: &Chain = &ctx.chain;

    // When the device and the custodian sign the publication of an encryption key.
    let first_key = [0x11; 32];
    chain
        .call_signed_with(&account, &address, publish(first_key), |payload| {
            two_party_sign(&device, &custodian, payload)
        })
        .await
        .unwrap();

    // Then the contract holds the key for the wallet's account.
    assert_eq!(published_key(&nft, &account).await, Some(first_key));
    let version = nft.encryption_key(&account).await.unwrap().unwrap().version;
    assert_eq!(version, 1);

    // When the backup and the device sign a rotation.
    let second_key = [0x22; 32];
    chain
        .call_signed_with(&account, &address, publish(second_key), |payload| {
            two_party_sign(&backup, &device, payload)
        })
        .await
        .unwrap();

    // Then the rotated key is published.
    let published = nft.encryption_key(&account).await.unwrap().unwrap();
    assert_eq!((published.key, published.version), (second_key, 2));

    // And the backup with the custodian, without the device, signs too (one process).
    let third_key = [0x33; 32];
    chain
        .call_signed_with(
            &account,
            &address,
            publish(third_key),
            |payload| async move { sign_with(&[&backup, &custodian], &payload) },
        )
        .await
        .unwrap();
    assert_eq!(published_key(&nft, &account).await, Some(third_key));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_share_or_a_forged_signature_gets_nothing_on_chain() {
    // Given a funded wallet whose device and custodian published a key.
    let ctx = TestContext::new().await;
    let (nft, address) = documents(&ctx);
    let ([device, _backup, custodian], account) = funded_wallet(&ctx).await;
    let key = [0x44; 32];
    ctx.chain
        .call_signed_with(&account, &address, publish(key), |payload| {
            two_party_sign(&device, &custodian, payload)
        })
        .await
        .unwrap();
    let nonce = ctx.chain.next_nonce(&account).await.unwrap();

    // When the device alone tries to sign, it cannot.
    assert!(matches!(
        sign_with(&[&device], b"anything"),
        Err(sdv_mpc::Error::NotEnoughSigners { have: 1, need: 2 })
    ));
    let alone = &device;
    let err = ctx
        .chain
        .call_signed_with(
            &account,
            &address,
            publish([0x55; 32]),
            |payload| async move { sign_with(&[alone], &payload) },
        )
        .await
        .unwrap_err();

    // Then nothing was submitted: the key and the account's nonce are unchanged.
    assert!(
        matches!(&err, Error::Signing(m) if m.contains("signer")),
        "{err}"
    );
    assert_eq!(ctx.chain.next_nonce(&account).await.unwrap(), nonce);
    assert_eq!(published_key(&nft, &account).await, Some(key));

    // When the device's real share is aggregated with a forged custodian share, aggregation
    // names the forger.
    let wallet = device.wallet();
    let (device_nonces, device_commitment) = commit(&device).unwrap();
    let (custodian_nonces, custodian_commitment) = commit(&custodian).unwrap();
    let package =
        signing_package(&[device_commitment, custodian_commitment], b"a payload").unwrap();
    let device_share = sign(&device, device_nonces, &package).unwrap();
    let mut forged = sign(&custodian, custodian_nonces, &package).unwrap();
    forged.share[0] ^= 1;
    let forged = SignatureShare {
        role: Role::Custodian,
        share: forged.share,
    };
    assert!(matches!(
        verify_share(&wallet, &package, &forged),
        Err(sdv_mpc::Error::InvalidSignatureShare(Role::Custodian))
    ));
    assert!(matches!(
        aggregate(&wallet, &package, &[device_share, forged]),
        Err(sdv_mpc::Error::InvalidSignatureShare(Role::Custodian))
    ));

    // When a garbage signature is submitted, the node refuses the extrinsic.
    let err = ctx
        .chain
        .call_signed_with(&account, &address, publish([0x66; 32]), |_| async {
            Ok::<_, sdv_mpc::Error>([7u8; 64])
        })
        .await
        .unwrap_err();

    // Then it is an error from the node, and the key and the nonce are unchanged.
    assert!(matches!(err, Error::Subxt(_)), "{err}");
    assert_eq!(ctx.chain.next_nonce(&account).await.unwrap(), nonce);
    assert_eq!(published_key(&nft, &account).await, Some(key));
}
