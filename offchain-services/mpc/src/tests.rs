//! Unit tests: key generation, signing, and the refusals.

use super::*;

/// Runs the key generation among the three roles in one process.
fn dkg_messages() -> (Vec<DkgParticipant>, Vec<Round1Message>, Vec<Round2Message>) {
    let mut participants = Vec::new();
    let mut round1 = Vec::new();
    for role in Role::ALL {
        let (p, m) = DkgParticipant::start(role).expect("round 1");
        participants.push(p);
        round1.push(m);
    }
    let mut round2 = Vec::new();
    for p in &mut participants {
        round2.extend(p.round2(&round1).expect("round 2"));
    }
    (participants, round1, round2)
}

fn inbox(round2: &[Round2Message], to: Role) -> Vec<Round2Message> {
    round2.iter().filter(|m| m.to == to).cloned().collect()
}

fn dkg() -> Vec<Share> {
    let (participants, _, round2) = dkg_messages();
    participants
        .into_iter()
        .map(|p| {
            let to = p.role();
            p.finish(&inbox(&round2, to)).expect("finish")
        })
        .collect()
}

fn share_of(shares: &[Share], role: Role) -> &Share {
    shares.iter().find(|s| s.role() == role).expect("share")
}

#[test]
fn dkg_gives_every_role_the_same_wallet() {
    let shares = dkg();
    assert_eq!(shares.len(), 3);
    let wallet = shares[0].wallet();
    for (share, role) in shares.iter().zip(Role::ALL) {
        assert_eq!(share.role(), role);
        assert_eq!(share.wallet(), wallet);
        assert_eq!(share.account(), wallet.account);
    }
    assert_eq!(
        wallet.verifying_shares.keys().copied().collect::<Vec<_>>(),
        Role::ALL.to_vec()
    );
    let again = WalletPublic::from_public_key_package(&wallet.to_public_key_package().unwrap());
    assert_eq!(again.unwrap(), wallet);
}

#[test]
fn every_pair_of_roles_signs_plain_ed25519() {
    let shares = dkg();
    let account = shares[0].account();
    let key = ed25519_zebra::VerificationKey::try_from(account).unwrap();
    for (a, b) in [
        (Role::Device, Role::Backup),
        (Role::Device, Role::Custodian),
        (Role::Backup, Role::Custodian),
    ] {
        let message = format!("signed by {a} and {b}");
        let signature = sign_with(
            &[share_of(&shares, a), share_of(&shares, b)],
            message.as_bytes(),
        )
        .unwrap();
        key.verify(
            &ed25519_zebra::Signature::from(signature),
            message.as_bytes(),
        )
        .expect("plain Ed25519 verification");
        verify(&account, message.as_bytes(), &signature).unwrap();
        assert!(matches!(
            verify(&account, b"another message", &signature),
            Err(Error::InvalidSignature)
        ));
    }
}

#[test]
fn message_based_signing_between_two_parties_works() {
    let shares = dkg();
    let (device, custodian) = (
        share_of(&shares, Role::Device),
        share_of(&shares, Role::Custodian),
    );
    let wallet = device.wallet();
    let (device_nonces, device_commitment) = commit(device).unwrap();
    let (custodian_nonces, custodian_commitment) = commit(custodian).unwrap();
    let package =
        signing_package(&[device_commitment, custodian_commitment], b"a message").unwrap();
    let package: SigningPackage =
        serde_json::from_str(&serde_json::to_string(&package).unwrap()).unwrap();
    assert_eq!(package.message(), b"a message");
    assert_eq!(package.signers(), vec![Role::Device, Role::Custodian]);
    let device_share = sign(device, device_nonces, &package).unwrap();
    verify_share(&wallet, &package, &device_share).expect("the device's share verifies");
    let custodian_share = sign(custodian, custodian_nonces, &package).unwrap();
    verify_share(&wallet, &package, &custodian_share).unwrap();
    let signature = aggregate(&wallet, &package, &[device_share, custodian_share]).unwrap();
    verify(&wallet.account, b"a message", &signature).unwrap();
}

#[test]
fn one_share_cannot_sign() {
    let shares = dkg();
    let device = share_of(&shares, Role::Device);
    assert!(matches!(
        sign_with(&[device], b"m"),
        Err(Error::NotEnoughSigners { have: 1, need: 2 })
    ));
    let (_, commitment) = commit(device).unwrap();
    assert!(matches!(
        signing_package(std::slice::from_ref(&commitment), b"m"),
        Err(Error::NotEnoughSigners { have: 1, need: 2 })
    ));
    assert!(matches!(
        signing_package(&[commitment.clone(), commitment], b"m"),
        Err(Error::DuplicateRole(Role::Device))
    ));
    assert!(matches!(
        sign_with(&[device, device], b"m"),
        Err(Error::DuplicateRole(Role::Device))
    ));
}

#[test]
fn forged_signature_share_is_caught() {
    let shares = dkg();
    let (device, backup) = (
        share_of(&shares, Role::Device),
        share_of(&shares, Role::Backup),
    );
    let wallet = device.wallet();
    let (device_nonces, device_commitment) = commit(device).unwrap();
    let (backup_nonces, backup_commitment) = commit(backup).unwrap();
    let package = signing_package(&[device_commitment, backup_commitment], b"m").unwrap();
    let device_share = sign(device, device_nonces, &package).unwrap();
    let mut forged = sign(backup, backup_nonces, &package).unwrap();
    forged.share[0] ^= 1;
    assert!(matches!(
        verify_share(&wallet, &package, &forged),
        Err(Error::InvalidSignatureShare(Role::Backup))
    ));
    assert!(matches!(
        aggregate(&wallet, &package, &[device_share.clone(), forged]),
        Err(Error::InvalidSignatureShare(Role::Backup))
    ));
    // A share claimed by another signer of the package does not verify either.
    let stolen = SignatureShare {
        role: Role::Backup,
        share: device_share.share.clone(),
    };
    assert!(matches!(
        verify_share(&wallet, &package, &stolen),
        Err(Error::InvalidSignatureShare(Role::Backup))
    ));
    assert!(matches!(
        aggregate(&wallet, &package, &[device_share]),
        Err(Error::NotEnoughSigners { have: 1, need: 2 })
    ));
}

#[test]
fn nonces_are_bound_to_their_role() {
    let shares = dkg();
    let (device, backup) = (
        share_of(&shares, Role::Device),
        share_of(&shares, Role::Backup),
    );
    let (device_nonces, device_commitment) = commit(device).unwrap();
    let (_, backup_commitment) = commit(backup).unwrap();
    let package = signing_package(&[device_commitment, backup_commitment], b"m").unwrap();
    assert!(matches!(
        sign(backup, device_nonces, &package),
        Err(Error::NoncesOfAnotherRole {
            nonces: Role::Device,
            share: Role::Backup
        })
    ));
    let custodian = share_of(&shares, Role::Custodian);
    let (custodian_nonces, _) = commit(custodian).unwrap();
    assert!(matches!(
        sign(custodian, custodian_nonces, &package),
        Err(Error::NotASigner(Role::Custodian))
    ));
}

#[test]
fn tampered_round2_message_is_refused() {
    let (participants, _, round2) = dkg_messages();
    let mut messages = inbox(&round2, Role::Device);
    let last = messages[0].sealed.len() - 1;
    messages[0].sealed[last] ^= 1;
    let from = messages[0].from;
    let device = participants.into_iter().next().unwrap();
    assert!(matches!(
        device.finish(&messages),
        Err(Error::SealBroken { from: f, to: Role::Device }) if f == from
    ));
}

#[test]
fn round2_message_relabelled_with_another_sender_is_refused() {
    let (participants, _, round2) = dkg_messages();
    let mut messages = inbox(&round2, Role::Device);
    let (a, b) = (messages[0].from, messages[1].from);
    messages[0].from = b;
    messages[1].from = a;
    let device = participants.into_iter().next().unwrap();
    assert!(matches!(
        device.finish(&messages),
        Err(Error::SealBroken {
            to: Role::Device,
            ..
        })
    ));
}

#[test]
fn round2_message_addressed_to_another_role_is_refused() {
    let (participants, _, round2) = dkg_messages();
    let mut messages = inbox(&round2, Role::Device);
    messages[0] = inbox(&round2, Role::Backup)[0].clone();
    let device = participants.into_iter().next().unwrap();
    assert!(matches!(
        device.finish(&messages),
        Err(Error::NotAddressedToMe {
            to: Role::Backup,
            me: Role::Device
        })
    ));
}

#[test]
fn round2_message_readdressed_does_not_open() {
    let (participants, _, round2) = dkg_messages();
    let mut messages = inbox(&round2, Role::Device);
    let mut readdressed = inbox(&round2, Role::Backup)
        .into_iter()
        .find(|m| m.from == Role::Custodian)
        .unwrap();
    readdressed.to = Role::Device;
    messages.retain(|m| m.from != Role::Custodian);
    messages.push(readdressed);
    let device = participants.into_iter().next().unwrap();
    assert!(matches!(
        device.finish(&messages),
        Err(Error::SealBroken {
            from: Role::Custodian,
            to: Role::Device
        })
    ));
}

#[test]
fn round2_message_from_itself_or_missing_is_refused() {
    let (participants, _, round2) = dkg_messages();
    let mut participants = participants.into_iter();
    let device = participants.next().unwrap();
    let mut messages = inbox(&round2, Role::Device);
    messages[0].from = Role::Device;
    assert!(matches!(
        device.finish(&messages),
        Err(Error::WrongSender {
            from: Role::Device,
            me: Role::Device
        })
    ));
    let backup = participants.next().unwrap();
    let messages = &inbox(&round2, Role::Backup)[..1];
    assert!(matches!(
        backup.finish(messages),
        Err(Error::MissingRole(_))
    ));
}

#[test]
fn round1_refuses_duplicates_missing_roles_and_small_order_keys() {
    let mut participants = Vec::new();
    let mut round1 = Vec::new();
    for role in Role::ALL {
        let (p, m) = DkgParticipant::start(role).unwrap();
        participants.push(p);
        round1.push(m);
    }
    let device = &mut participants[0];
    let duplicated = vec![round1[0].clone(), round1[1].clone(), round1[1].clone()];
    assert!(matches!(
        device.round2(&duplicated),
        Err(Error::DuplicateRole(Role::Backup))
    ));
    assert!(matches!(
        device.round2(&round1[..2]),
        Err(Error::MissingRole(Role::Custodian))
    ));
    let mut small_order = round1.clone();
    small_order[2].transport_key = [0u8; 32];
    assert!(matches!(
        device.round2(&small_order),
        Err(Error::InvalidTransportKey(Role::Custodian))
    ));
    let mut altered = round1.clone();
    altered[0].transport_key = round1[1].transport_key;
    assert!(matches!(
        device.round2(&altered),
        Err(Error::OwnRound1Altered(Role::Device))
    ));
    // Its own message may be left out.
    assert_eq!(device.round2(&round1[1..]).unwrap().len(), 2);
    assert!(matches!(
        device.round2(&round1),
        Err(Error::DkgOutOfOrder(_))
    ));
}

#[test]
fn share_round_trips_through_json_and_debug_hides_the_secret() {
    let shares = dkg();
    let share = &shares[1];
    let secret = hex::encode(share.key_package().signing_share().serialize());
    let json = serde_json::to_string(share).unwrap();
    let back: Share = serde_json::from_str(&json).unwrap();
    assert_eq!(back.role(), Role::Backup);
    assert_eq!(back.wallet(), share.wallet());
    assert_eq!(back.key_package(), share.key_package());
    let debug = format!("{share:?} {back:?}");
    assert!(!debug.contains(&secret), "Debug shows the secret: {debug}");
    assert!(debug.contains(&hex::encode(share.account())));
    // The restored share signs.
    let signature = sign_with(&[&back, &shares[2]], b"m").unwrap();
    verify(&share.account(), b"m", &signature).unwrap();
    // A share relabelled with another role is refused.
    let relabelled = json.replacen("\"backup\"", "\"device\"", 1);
    assert!(serde_json::from_str::<Share>(&relabelled).is_err());
}

#[test]
fn messages_round_trip_through_json() {
    let (_, round1, round2) = dkg_messages();
    let json = serde_json::to_string(&round1).unwrap();
    assert!(json.contains("\"role\":\"device\""));
    assert_eq!(
        serde_json::from_str::<Vec<Round1Message>>(&json).unwrap(),
        round1
    );
    let json = serde_json::to_string(&round2).unwrap();
    assert_eq!(
        serde_json::from_str::<Vec<Round2Message>>(&json).unwrap(),
        round2
    );

    let shares = dkg();
    let (nonces, commitment) = commit(&shares[0]).unwrap();
    let (other_nonces, other) = commit(&shares[2]).unwrap();
    let json = serde_json::to_string(&commitment).unwrap();
    assert_eq!(
        serde_json::from_str::<Commitment>(&json).unwrap(),
        commitment
    );
    let package = signing_package(&[commitment, other], b"m").unwrap();
    let share = sign(&shares[0], nonces, &package).unwrap();
    drop(other_nonces);
    let json = serde_json::to_string(&share).unwrap();
    assert_eq!(
        serde_json::from_str::<SignatureShare>(&json).unwrap(),
        share
    );
    let wallet = shares[0].wallet();
    let json = serde_json::to_string(&wallet).unwrap();
    assert!(json.contains("\"custodian\":\""), "{json}");
    assert_eq!(serde_json::from_str::<WalletPublic>(&json).unwrap(), wallet);
}

#[test]
fn roles_parse_and_display() {
    for role in Role::ALL {
        assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
    }
    assert_eq!(Role::Custodian.index(), 3);
    assert!(matches!(
        "guardian".parse::<Role>(),
        Err(Error::UnknownRole(_))
    ));
}
