//! Unit tests of GuardianRecovery on ink!'s off-chain environment.
//!
//! That environment cannot call contracts, so under `cfg(test)` the contract asks
//! [`contract_answer`], an in-memory stand-in of ValidatorGovernance and DocumentNFT held per
//! thread, which the tests reset ([`setup`]) and change ([`fleet`]).

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
};

use crate::guardian_recovery::{GuardianRecovery, Result};
use ink::{
    env::{test, DefaultEnvironment},
    primitives::AccountId,
};
use scale::{Decode, DecodeAll, Encode};
use sdv_types::{
    document::Error as DocumentError,
    governance::{ContractRole, ProposalId as DecisionId},
    recovery::{
        Error, Guardian, GuardianAccepted, GuardianHeartbeat, GuardianKind, GuardiansSet, Recovery,
        RecoveryAttested, RecoveryCancelled, RecoveryId, RecoveryInitiated, RecoveryQuorumReached,
        RecoveryState, WalletRecovered, ATTESTATION_TTL, GUARDIANS, QUORUM, TIMELOCK,
        UNREACHABLE_AFTER,
    },
    Timestamp, DAY, HOUR,
};

// --- the stand-ins of ValidatorGovernance and DocumentNFT ----------------------------------

/// A `rebind_owner` call GuardianRecovery made to DocumentNFT, as the stand-in recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rebind {
    old: AccountId,
    new: AccountId,
    /// Whether the stand-in answered `Ok(())` (and so revoked `old`).
    accepted: bool,
}

/// What the stand-ins of ValidatorGovernance and DocumentNFT answer. Tests change it with
/// [`fleet`].
#[derive(Debug, Clone)]
struct Fleet {
    /// `false`: every governance call fails (its answer does not decode).
    governance_available: bool,
    /// `false`: every DocumentNFT call fails (its answer does not decode).
    nft_available: bool,
    /// What governance's `contract_address(DocumentNft)` answers.
    document_nft: Option<AccountId>,
    /// Executed emergency recovery decisions: decision -> (user, new wallet).
    decisions: BTreeMap<DecisionId, (AccountId, AccountId)>,
    /// Wallets revoked by recovery.
    revoked: BTreeSet<AccountId>,
    /// What `rebind_owner` answers instead of `Ok(())`.
    rebind_refusal: Option<DocumentError>,
    /// Every `rebind_owner` call, oldest first.
    rebinds: Vec<Rebind>,
    /// The wallets of every `any_revoked` call, oldest first.
    revocation_queries: Vec<Vec<AccountId>>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            governance_available: true,
            nft_available: true,
            document_nft: Some(nft_address()),
            decisions: BTreeMap::new(),
            revoked: BTreeSet::new(),
            rebind_refusal: None,
            rebinds: Vec::new(),
            revocation_queries: Vec::new(),
        }
    }
}

thread_local! {
    static FLEET: RefCell<Fleet> = RefCell::new(Fleet::default());
}

/// Puts the stand-ins back to their defaults.
fn reset_fleet() {
    FLEET.with(|f| *f.borrow_mut() = Fleet::default());
}

/// Reads or changes the stand-ins' state.
fn fleet<R>(change: impl FnOnce(&mut Fleet) -> R) -> R {
    FLEET.with(|f| change(&mut f.borrow_mut()))
}

/// Decodes a message's arguments, which must be exactly one `T` (a tuple for several).
fn arguments<T: Decode>(message: &str, args: &[u8]) -> T {
    <T as DecodeAll>::decode_all(&mut &args[..])
        .unwrap_or_else(|e| panic!("`{message}` receives badly encoded arguments: {e}"))
}

fn ensure_target(target: AccountId, expected: AccountId, contract: &str, message: &str) {
    assert_eq!(
        target, expected,
        "`{message}` is a {contract} message, called on the wrong contract"
    );
}

/// What the other contracts answer, for the off-chain environment (which cannot call
/// contracts): the SCALE encoding of the real message's return value.
pub(crate) fn contract_answer(target: AccountId, message: &str, args: &[u8]) -> Vec<u8> {
    FLEET.with(|f| {
        let mut f = f.borrow_mut();
        match message {
            "contract_address" | "emergency_recovery" => {
                ensure_target(target, governance_address(), "ValidatorGovernance", message);
                if !f.governance_available {
                    return Vec::new();
                }
                if message == "contract_address" {
                    match arguments::<ContractRole>(message, args) {
                        ContractRole::DocumentNft => f.document_nft.encode(),
                        other => panic!("GuardianRecovery needs no address of {other:?}"),
                    }
                } else {
                    let decision = arguments::<DecisionId>(message, args);
                    f.decisions.get(&decision).copied().encode()
                }
            }
            "any_revoked" | "rebind_owner" => {
                ensure_target(target, nft_address(), "DocumentNFT", message);
                if !f.nft_available {
                    return Vec::new();
                }
                if message == "any_revoked" {
                    let wallets = arguments::<Vec<AccountId>>(message, args);
                    let answer = wallets.iter().any(|w| f.revoked.contains(w));
                    f.revocation_queries.push(wallets);
                    answer.encode()
                } else {
                    let (old, new) = arguments::<(AccountId, AccountId)>(message, args);
                    let answer: core::result::Result<(), DocumentError> =
                        f.rebind_refusal.map_or(Ok(()), Err);
                    if answer.is_ok() {
                        // As DocumentNFT does: the old wallet is revoked for good.
                        f.revoked.insert(old);
                    }
                    f.rebinds.push(Rebind {
                        old,
                        new,
                        accepted: answer.is_ok(),
                    });
                    answer.encode()
                }
            }
            other => panic!("GuardianRecovery calls no message `{other}`"),
        }
    })
}

/// Every `rebind_owner` call so far, refused ones included.
fn rebind_calls() -> Vec<Rebind> {
    fleet(|f| f.rebinds.clone())
}

/// The `rebind_owner` calls DocumentNFT accepted.
fn accepted_rebinds() -> Vec<Rebind> {
    rebind_calls().into_iter().filter(|r| r.accepted).collect()
}

fn revoke(wallet: AccountId) {
    fleet(|f| f.revoked.insert(wallet));
}

fn decide(decision: DecisionId, user: AccountId, new_wallet: AccountId) {
    fleet(|f| f.decisions.insert(decision, (user, new_wallet)));
}

// --- accounts, time, events ----------------------------------------------------------------

const START: Timestamp = 1_800_000_000_000;

/// The kinds of the standard set's guardians 1, 2 and 3.
const KINDS: [GuardianKind; GUARDIANS] = [
    GuardianKind::User,
    GuardianKind::HardwareKey,
    GuardianKind::Custodian,
];

fn account(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

/// The user whose wallet gets lost.
fn user() -> AccountId {
    account(1)
}

fn other_user() -> AccountId {
    account(2)
}

/// The `i`th guardian, `i` from 1; the standard set is guardians 1 to 3.
fn guardian(i: usize) -> AccountId {
    account(10 + u8::try_from(i).expect("a small guardian number"))
}

fn guardians() -> Vec<AccountId> {
    (1..=GUARDIANS).map(guardian).collect()
}

/// Guardians 1, 2 and 3 as a user, a hardware key and a custodian.
fn guardian_set() -> Vec<(AccountId, GuardianKind)> {
    guardians().into_iter().zip(KINDS).collect()
}

/// The user's fresh wallet.
fn new_wallet() -> AccountId {
    account(50)
}

/// A wallet colluding guardians would like to hand the user's documents to.
fn attacker() -> AccountId {
    account(66)
}

fn stranger() -> AccountId {
    account(99)
}

fn deployer() -> AccountId {
    account(100)
}

fn nft_address() -> AccountId {
    account(70)
}

fn recovery_address() -> AccountId {
    account(90)
}

fn governance_address() -> AccountId {
    account(200)
}

/// Everyone whose guardian set the tests look at.
fn people() -> Vec<AccountId> {
    let mut all = vec![user(), other_user()];
    all.extend((1..=5).map(guardian));
    all.extend([new_wallet(), attacker(), stranger()]);
    all
}

fn set_caller(a: AccountId) {
    test::set_caller::<DefaultEnvironment>(a);
}

fn set_time(t: Timestamp) {
    test::set_block_timestamp::<DefaultEnvironment>(t);
}

fn now() -> Timestamp {
    ink::env::block_timestamp::<DefaultEnvironment>()
}

fn wait(ms: Timestamp) {
    set_time(now() + ms);
}

fn event_count() -> usize {
    test::recorded_events().count()
}

/// Every recorded event of type `E`, oldest first, recognized by its signature topic.
fn emitted<E: ink::env::Event + Decode>() -> Vec<E> {
    let signature =
        sdv_types::signature_topic::<E>().expect("the contract's events have a signature");
    test::recorded_events()
        .filter(|e| e.topics.first().map(Vec::as_slice) == Some(&signature[..]))
        .map(|e| E::decode(&mut &e.data[..]).expect("the event decodes"))
        .collect()
}

/// The last recorded event of type `E`.
fn last<E: ink::env::Event + Decode>() -> E {
    emitted::<E>().pop().expect("the event was emitted")
}

/// Everything a call could change: the guardian sets of [`people`], the recoveries, the
/// latest recoveries, the events, and the rebinds DocumentNFT accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    guardians: Vec<Vec<Guardian>>,
    active: Vec<bool>,
    latest: Vec<Option<RecoveryId>>,
    recoveries: Vec<Option<Recovery>>,
    events: usize,
    rebinds: Vec<Rebind>,
}

fn snapshot(gr: &GuardianRecovery) -> Snapshot {
    let people = people();
    Snapshot {
        guardians: people.iter().map(|p| gr.guardians(*p)).collect(),
        active: people.iter().map(|p| gr.is_active(*p)).collect(),
        latest: people.iter().map(|p| gr.latest_recovery(*p)).collect(),
        recoveries: (0..6).map(|id| gr.recovery(id)).collect(),
        events: event_count(),
        rebinds: accepted_rebinds(),
    }
}

/// Asserts that a refused call left everything as it was.
fn assert_unchanged(gr: &GuardianRecovery, before: &Snapshot) {
    assert_eq!(&snapshot(gr), before, "a refused call changed something");
}

/// A fresh contract and stand-ins with their defaults, at [`START`].
fn setup() -> GuardianRecovery {
    reset_fleet();
    set_time(START);
    test::set_callee::<DefaultEnvironment>(recovery_address());
    set_caller(deployer());
    GuardianRecovery::new(governance_address())
}

/// A fresh contract where the user named guardians 1 to 3 at [`START`], none accepted yet.
fn with_guardians() -> GuardianRecovery {
    let mut gr = setup();
    set_guardians_as(&mut gr, user(), guardian_set()).expect("a valid set");
    gr
}

/// A fresh contract where the user's guardians 1 to 3 were named and accepted at [`START`].
fn with_active_guardians() -> GuardianRecovery {
    let mut gr = with_guardians();
    for g in guardians() {
        accept_as(&mut gr, g, user()).expect("a named guardian accepts");
    }
    assert!(gr.is_active(user()));
    gr
}

// --- actions -------------------------------------------------------------------------------

fn set_guardians_as(
    gr: &mut GuardianRecovery,
    who: AccountId,
    set: Vec<(AccountId, GuardianKind)>,
) -> Result<()> {
    set_caller(who);
    gr.set_guardians(set)
}

fn accept_as(gr: &mut GuardianRecovery, who: AccountId, user: AccountId) -> Result<()> {
    set_caller(who);
    gr.accept_guardianship(user)
}

fn heartbeat_as(gr: &mut GuardianRecovery, who: AccountId, user: AccountId) -> Result<()> {
    set_caller(who);
    gr.heartbeat(user)
}

fn initiate_as(
    gr: &mut GuardianRecovery,
    who: AccountId,
    user: AccountId,
    new_wallet: AccountId,
) -> Result<RecoveryId> {
    set_caller(who);
    gr.initiate_recovery(user, new_wallet)
}

fn attest_as(gr: &mut GuardianRecovery, who: AccountId, id: RecoveryId) -> Result<()> {
    set_caller(who);
    gr.attest(id)
}

fn cancel_as(gr: &mut GuardianRecovery, who: AccountId, id: RecoveryId) -> Result<()> {
    set_caller(who);
    gr.cancel_recovery(id)
}

fn finalize_as(gr: &mut GuardianRecovery, who: AccountId, id: RecoveryId) -> Result<()> {
    set_caller(who);
    gr.finalize_recovery(id)
}

fn emergency_as(gr: &mut GuardianRecovery, who: AccountId, decision: DecisionId) -> Result<()> {
    set_caller(who);
    gr.execute_emergency_recovery(decision)
}

/// Guardian 1 starts a recovery of the user toward [`new_wallet`], now.
fn initiated(gr: &mut GuardianRecovery) -> RecoveryId {
    initiate_as(gr, guardian(1), user(), new_wallet()).expect("guardian 1 initiates")
}

/// A recovery initiated by guardian 1 and, an hour later, attested by guardian 2: its
/// timelock runs from now.
fn with_quorum(gr: &mut GuardianRecovery) -> RecoveryId {
    let id = initiated(gr);
    wait(HOUR);
    attest_as(gr, guardian(2), id).expect("guardian 2 attests");
    assert_eq!(state(gr, id), RecoveryState::Timelocked);
    id
}

/// A recovery whose timelock ended just now.
fn ready(gr: &mut GuardianRecovery) -> RecoveryId {
    let id = with_quorum(gr);
    wait(TIMELOCK);
    assert_eq!(state(gr, id), RecoveryState::Ready);
    id
}

fn state(gr: &GuardianRecovery, id: RecoveryId) -> RecoveryState {
    gr.recovery_state(id).expect("the recovery exists")
}

fn record(gr: &GuardianRecovery, id: RecoveryId) -> Recovery {
    gr.recovery(id).expect("the recovery exists")
}

/// The user's guardian `account`.
fn guardian_of(gr: &GuardianRecovery, user: AccountId, account: AccountId) -> Guardian {
    gr.guardians(user)
        .into_iter()
        .find(|g| g.account == account)
        .expect("a guardian of the user")
}

// --- construction and queries --------------------------------------------------------------

#[ink::test]
fn new_contract_knows_its_governance_and_holds_nothing() {
    // Given / When
    let gr = setup();
    // Then
    assert_eq!(gr.governance(), governance_address());
    assert_eq!(gr.guardians(user()), Vec::new());
    assert!(!gr.is_active(user()));
    assert_eq!(gr.recovery(0), None);
    assert_eq!(gr.recovery_state(0), None);
    assert_eq!(gr.latest_recovery(user()), None);
    assert_eq!(event_count(), 0);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn queries_report_guardians_activity_recoveries_and_states() {
    // Given
    let mut gr = with_active_guardians();
    set_guardians_as(
        &mut gr,
        other_user(),
        vec![
            (guardian(1), GuardianKind::User),
            (guardian(4), GuardianKind::User),
            (guardian(5), GuardianKind::Custodian),
        ],
    )
    .unwrap();
    wait(HOUR);
    let id = initiated(&mut gr);
    // When / Then
    assert_eq!(
        gr.guardians(user()),
        guardians()
            .into_iter()
            .zip(KINDS)
            .map(|(account, kind)| Guardian {
                account,
                kind,
                accepted_at: Some(START),
                last_seen: Some(if account == guardian(1) {
                    START + HOUR
                } else {
                    START
                }),
            })
            .collect::<Vec<_>>()
    );
    assert!(gr.is_active(user()));
    assert!(!gr.is_active(other_user()), "nobody accepted yet");
    assert!(!gr.is_active(stranger()), "no guardians at all");
    assert_eq!(gr.guardians(other_user()).len(), GUARDIANS);
    assert_eq!(
        gr.recovery(id),
        Some(Recovery {
            user: user(),
            new_wallet: new_wallet(),
            attestations: vec![(guardian(1), START + HOUR)],
            quorum_at: None,
            cancelled_at: None,
            finalized_at: None,
        })
    );
    assert_eq!(gr.recovery(id + 1), None);
    assert_eq!(gr.recovery_state(id), Some(RecoveryState::Collecting));
    assert_eq!(gr.recovery_state(id + 1), None);
    assert_eq!(gr.latest_recovery(user()), Some(id));
    assert_eq!(gr.latest_recovery(other_user()), None);
    assert_eq!(gr.latest_recovery(new_wallet()), None);
    assert_eq!(gr.governance(), governance_address());
}

// --- set_guardians -------------------------------------------------------------------------

#[ink::test]
fn three_guardians_of_each_kind_are_stored_unaccepted_and_announced() {
    // Given
    let mut gr = setup();
    // When
    let result = set_guardians_as(&mut gr, user(), guardian_set());
    // Then
    assert_eq!(result, Ok(()));
    let expected: Vec<Guardian> = guardian_set()
        .into_iter()
        .map(|(account, kind)| Guardian {
            account,
            kind,
            accepted_at: None,
            last_seen: None,
        })
        .collect();
    assert_eq!(gr.guardians(user()), expected);
    let kinds: Vec<GuardianKind> = gr.guardians(user()).iter().map(|g| g.kind).collect();
    assert_eq!(kinds, KINDS.to_vec());
    assert!(!gr.is_active(user()), "no guardian accepted yet");
    let event = last::<GuardiansSet>();
    assert_eq!((event.user, event.guardians), (user(), expected));
    assert_eq!(event_count(), 1);
    let mut asked = guardians();
    asked.push(user());
    assert_eq!(
        fleet(|f| f.revocation_queries.clone()),
        vec![asked],
        "one question about the guardians and the user"
    );
}

#[ink::test]
fn two_or_four_guardians_are_refused_and_nothing_is_stored() {
    // Given
    let mut gr = setup();
    let before = snapshot(&gr);
    let four: Vec<_> = (1..=4).map(|i| (guardian(i), GuardianKind::User)).collect();
    // When / Then
    for set in [Vec::new(), four[..2].to_vec(), four.clone()] {
        assert_eq!(
            set_guardians_as(&mut gr, user(), set),
            Err(Error::WrongGuardianCount)
        );
    }
    assert_unchanged(&gr, &before);
    assert!(fleet(|f| f.revocation_queries.is_empty()));
}

#[ink::test]
fn guardian_named_twice_is_refused() {
    // Given
    let mut gr = setup();
    let before = snapshot(&gr);
    // When / Then: the same account twice, whether with the same kind or another
    for kind in KINDS {
        let set = vec![
            (guardian(1), GuardianKind::User),
            (guardian(2), GuardianKind::HardwareKey),
            (guardian(1), kind),
        ];
        assert_eq!(
            set_guardians_as(&mut gr, user(), set),
            Err(Error::DuplicateGuardian)
        );
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn user_naming_themselves_as_guardian_is_refused() {
    // Given
    let mut gr = setup();
    let before = snapshot(&gr);
    // When
    let result = set_guardians_as(
        &mut gr,
        user(),
        vec![
            (guardian(1), GuardianKind::User),
            (user(), GuardianKind::HardwareKey),
            (guardian(2), GuardianKind::Custodian),
        ],
    );
    // Then
    assert_eq!(result, Err(Error::SelfGuardian));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn revoked_guardian_is_refused() {
    // Given
    let mut gr = setup();
    revoke(guardian(2));
    let before = snapshot(&gr);
    // When
    let result = set_guardians_as(&mut gr, user(), guardian_set());
    // Then
    assert_eq!(result, Err(Error::WalletRevoked));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn revoked_user_cannot_name_guardians() {
    // Given
    let mut gr = setup();
    revoke(user());
    let before = snapshot(&gr);
    // When
    let result = set_guardians_as(&mut gr, user(), guardian_set());
    // Then
    assert_eq!(result, Err(Error::WalletRevoked));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn replacing_guardians_keeps_the_acceptance_of_those_kept_with_the_same_kind() {
    // Given an active set, guardian 1 last seen an hour after START
    let mut gr = with_active_guardians();
    wait(HOUR);
    heartbeat_as(&mut gr, guardian(1), user()).unwrap();
    wait(DAY);
    // When: guardian 1 kept as is, guardian 2 kept as another kind, guardian 3 replaced by 4
    let result = set_guardians_as(
        &mut gr,
        user(),
        vec![
            (guardian(1), GuardianKind::User),
            (guardian(2), GuardianKind::Custodian),
            (guardian(4), GuardianKind::HardwareKey),
        ],
    );
    // Then
    assert_eq!(result, Ok(()));
    let expected = vec![
        Guardian {
            account: guardian(1),
            kind: GuardianKind::User,
            accepted_at: Some(START),
            last_seen: Some(START + HOUR),
        },
        Guardian {
            account: guardian(2),
            kind: GuardianKind::Custodian,
            accepted_at: None,
            last_seen: None,
        },
        Guardian {
            account: guardian(4),
            kind: GuardianKind::HardwareKey,
            accepted_at: None,
            last_seen: None,
        },
    ];
    assert_eq!(gr.guardians(user()), expected);
    assert!(
        !gr.is_active(user()),
        "a kind change needs a new acceptance"
    );
    assert_eq!(last::<GuardiansSet>().guardians, expected);
    assert_eq!(
        heartbeat_as(&mut gr, guardian(3), user()),
        Err(Error::NotGuardian),
        "guardian 3 was dropped"
    );
    assert_eq!(
        accept_as(&mut gr, guardian(1), user()),
        Err(Error::AlreadyAccepted)
    );
    // When the changed and the new guardian accept
    accept_as(&mut gr, guardian(2), user()).unwrap();
    assert!(!gr.is_active(user()));
    accept_as(&mut gr, guardian(4), user()).unwrap();
    // Then
    assert!(gr.is_active(user()));
    assert!(last::<GuardianAccepted>().active);
}

#[ink::test]
fn naming_the_same_set_again_keeps_it_active() {
    // Given
    let mut gr = with_active_guardians();
    let set = gr.guardians(user());
    wait(DAY);
    // When
    let result = set_guardians_as(&mut gr, user(), guardian_set());
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(gr.guardians(user()), set);
    assert!(gr.is_active(user()));
}

#[ink::test]
fn guardians_cannot_be_replaced_while_a_recovery_runs() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    let other_set = vec![
        (guardian(3), GuardianKind::User),
        (guardian(4), GuardianKind::User),
        (guardian(5), GuardianKind::User),
    ];
    // When / Then: while collecting, during the timelock and once ready
    let refuse = |gr: &mut GuardianRecovery| {
        let before = snapshot(gr);
        assert_eq!(
            set_guardians_as(gr, user(), other_set.clone()),
            Err(Error::RecoveryInProgress)
        );
        assert_unchanged(gr, &before);
    };
    refuse(&mut gr);
    wait(HOUR);
    attest_as(&mut gr, guardian(3), id).unwrap();
    assert_eq!(state(&gr, id), RecoveryState::Timelocked);
    refuse(&mut gr);
    wait(TIMELOCK);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
    refuse(&mut gr);
}

#[ink::test]
fn guardians_can_be_replaced_once_the_recovery_is_cancelled() {
    // Given
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    cancel_as(&mut gr, user(), id).unwrap();
    let set = vec![
        (guardian(1), GuardianKind::User),
        (guardian(4), GuardianKind::User),
        (guardian(5), GuardianKind::User),
    ];
    // When
    let result = set_guardians_as(&mut gr, user(), set);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(gr.guardians(user())[1].account, guardian(4));
}

#[ink::test]
fn guardians_can_be_replaced_once_the_recovery_expired() {
    // Given a recovery whose only attestation expires at START + 72h
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    let set = vec![
        (guardian(1), GuardianKind::User),
        (guardian(4), GuardianKind::User),
        (guardian(5), GuardianKind::User),
    ];
    // When / Then: one millisecond before, the recovery still runs
    set_time(START + ATTESTATION_TTL - 1);
    assert_eq!(
        set_guardians_as(&mut gr, user(), set.clone()),
        Err(Error::RecoveryInProgress)
    );
    // When / Then: at expiry the set can be replaced
    set_time(START + ATTESTATION_TTL);
    assert_eq!(state(&gr, id), RecoveryState::Expired);
    assert_eq!(set_guardians_as(&mut gr, user(), set), Ok(()));
}

#[ink::test]
fn naming_guardians_fails_while_document_nft_is_unconfigured_or_unavailable() {
    // Given
    let mut gr = setup();
    let before = snapshot(&gr);
    // When / Then
    fleet(|f| f.document_nft = None);
    assert_eq!(
        set_guardians_as(&mut gr, user(), guardian_set()),
        Err(Error::NotConfigured)
    );
    fleet(|f| {
        f.document_nft = Some(nft_address());
        f.governance_available = false;
    });
    assert_eq!(
        set_guardians_as(&mut gr, user(), guardian_set()),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.governance_available = true;
        f.nft_available = false;
    });
    assert_eq!(
        set_guardians_as(&mut gr, user(), guardian_set()),
        Err(Error::ContractUnavailable)
    );
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn a_guardian_may_guard_several_users_independently() {
    // Given guardian 1 guards the user (active) and the other user
    let mut gr = with_active_guardians();
    set_guardians_as(
        &mut gr,
        other_user(),
        vec![
            (guardian(1), GuardianKind::HardwareKey),
            (guardian(4), GuardianKind::User),
            (guardian(5), GuardianKind::User),
        ],
    )
    .unwrap();
    // When
    let result = accept_as(&mut gr, guardian(1), other_user());
    // Then
    assert_eq!(result, Ok(()));
    assert!(guardian_of(&gr, other_user(), guardian(1))
        .accepted_at
        .is_some());
    assert!(!gr.is_active(other_user()));
    assert!(gr.is_active(user()));
    assert_eq!(
        accept_as(&mut gr, guardian(4), user()),
        Err(Error::NotGuardian),
        "guardian 4 guards only the other user"
    );
}

// --- accept_guardianship -------------------------------------------------------------------

#[ink::test]
fn the_set_is_active_only_once_the_third_guardian_accepts() {
    // Given
    let mut gr = with_guardians();
    // When / Then
    for (n, g) in guardians().into_iter().enumerate() {
        wait(HOUR);
        assert!(!gr.is_active(user()));
        assert_eq!(accept_as(&mut gr, g, user()), Ok(()));
        let accepted = guardian_of(&gr, user(), g);
        assert_eq!(accepted.accepted_at, Some(now()));
        assert_eq!(
            accepted.last_seen,
            Some(now()),
            "accepting is a sign of life"
        );
        let event = last::<GuardianAccepted>();
        assert_eq!(
            (event.user, event.guardian, event.active),
            (user(), g, n + 1 == GUARDIANS)
        );
    }
    assert!(gr.is_active(user()));
    let active: Vec<bool> = emitted::<GuardianAccepted>()
        .iter()
        .map(|e| e.active)
        .collect();
    assert_eq!(active, vec![false, false, true]);
}

#[ink::test]
fn stranger_cannot_accept_guardianship() {
    // Given
    let mut gr = with_guardians();
    let before = snapshot(&gr);
    // When / Then
    for who in [stranger(), user(), new_wallet(), guardian(4)] {
        assert_eq!(accept_as(&mut gr, who, user()), Err(Error::NotGuardian));
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn accepting_for_a_user_without_guardians_is_refused() {
    // Given
    let mut gr = with_guardians();
    let before = snapshot(&gr);
    // When
    let result = accept_as(&mut gr, guardian(1), other_user());
    // Then
    assert_eq!(result, Err(Error::NotGuardian));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn accepting_twice_is_refused_and_changes_nothing() {
    // Given
    let mut gr = with_guardians();
    accept_as(&mut gr, guardian(2), user()).unwrap();
    wait(DAY);
    let before = snapshot(&gr);
    // When
    let result = accept_as(&mut gr, guardian(2), user());
    // Then
    assert_eq!(result, Err(Error::AlreadyAccepted));
    assert_unchanged(&gr, &before);
    assert_eq!(
        guardian_of(&gr, user(), guardian(2)).last_seen,
        Some(START),
        "a refused acceptance is no sign of life"
    );
}

// --- heartbeat -----------------------------------------------------------------------------

#[ink::test]
fn heartbeat_records_the_guardians_last_sign_of_life() {
    // Given
    let mut gr = with_active_guardians();
    wait(30 * DAY);
    // When
    let result = heartbeat_as(&mut gr, guardian(2), user());
    // Then
    assert_eq!(result, Ok(()));
    let g2 = guardian_of(&gr, user(), guardian(2));
    assert_eq!(g2.last_seen, Some(START + 30 * DAY));
    assert_eq!(g2.accepted_at, Some(START), "acceptance unchanged");
    assert_eq!(guardian_of(&gr, user(), guardian(1)).last_seen, Some(START));
    assert_eq!(guardian_of(&gr, user(), guardian(3)).last_seen, Some(START));
    let event = last::<GuardianHeartbeat>();
    assert_eq!((event.user, event.guardian), (user(), guardian(2)));
}

#[ink::test]
fn heartbeat_of_a_guardian_who_has_not_accepted_is_recorded_without_acceptance() {
    // Given
    let mut gr = with_guardians();
    wait(HOUR);
    // When
    let result = heartbeat_as(&mut gr, guardian(3), user());
    // Then
    assert_eq!(result, Ok(()));
    let g3 = guardian_of(&gr, user(), guardian(3));
    assert_eq!((g3.accepted_at, g3.last_seen), (None, Some(START + HOUR)));
    assert!(!gr.is_active(user()));
}

#[ink::test]
fn heartbeat_by_a_non_guardian_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    wait(HOUR);
    let before = snapshot(&gr);
    // When / Then
    for who in [stranger(), user(), guardian(4)] {
        assert_eq!(heartbeat_as(&mut gr, who, user()), Err(Error::NotGuardian));
    }
    assert_eq!(
        heartbeat_as(&mut gr, guardian(1), other_user()),
        Err(Error::NotGuardian),
        "the other user has no guardians"
    );
    assert_unchanged(&gr, &before);
}

// --- initiate_recovery ---------------------------------------------------------------------

#[ink::test]
fn guardian_initiates_a_recovery_with_its_attestation() {
    // Given
    let mut gr = with_active_guardians();
    wait(HOUR);
    // When
    let result = initiate_as(&mut gr, guardian(2), user(), new_wallet());
    // Then
    assert_eq!(result, Ok(0));
    assert_eq!(
        record(&gr, 0),
        Recovery {
            user: user(),
            new_wallet: new_wallet(),
            attestations: vec![(guardian(2), START + HOUR)],
            quorum_at: None,
            cancelled_at: None,
            finalized_at: None,
        }
    );
    assert_eq!(record(&gr, 0).valid_attestations(now()), 1);
    assert_eq!(state(&gr, 0), RecoveryState::Collecting);
    assert_eq!(gr.latest_recovery(user()), Some(0));
    assert_eq!(
        guardian_of(&gr, user(), guardian(2)).last_seen,
        Some(START + HOUR)
    );
    assert_eq!(guardian_of(&gr, user(), guardian(1)).last_seen, Some(START));
    let event = last::<RecoveryInitiated>();
    assert_eq!(
        (event.id, event.user, event.guardian, event.new_wallet),
        (0, user(), guardian(2), new_wallet())
    );
    assert!(emitted::<RecoveryAttested>().is_empty());
    assert!(emitted::<RecoveryQuorumReached>().is_empty());
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn recovery_by_a_non_guardian_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let before = snapshot(&gr);
    // When / Then: strangers, the user, the new wallet, a guardian of nobody
    for who in [stranger(), user(), new_wallet(), attacker(), guardian(4)] {
        assert_eq!(
            initiate_as(&mut gr, who, user(), new_wallet()),
            Err(Error::NotGuardian)
        );
    }
    // When / Then: a user without guardians
    assert_eq!(
        initiate_as(&mut gr, guardian(1), other_user(), new_wallet()),
        Err(Error::NotGuardian)
    );
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn recovery_before_every_guardian_accepted_is_refused() {
    // Given two of three guardians accepted
    let mut gr = with_guardians();
    accept_as(&mut gr, guardian(1), user()).unwrap();
    accept_as(&mut gr, guardian(2), user()).unwrap();
    let before = snapshot(&gr);
    // When / Then: by an accepted and by the unaccepted guardian
    for g in guardians() {
        assert_eq!(
            initiate_as(&mut gr, g, user(), new_wallet()),
            Err(Error::GuardiansNotActive)
        );
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn recovery_toward_the_user_or_a_guardian_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    wait(HOUR);
    let before = snapshot(&gr);
    // When / Then: the user's own wallet, the initiator's, another guardian's
    for target in [user(), guardian(1), guardian(2), guardian(3)] {
        assert_eq!(
            initiate_as(&mut gr, guardian(1), user(), target),
            Err(Error::InvalidNewWallet)
        );
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn recovery_toward_a_revoked_wallet_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    revoke(new_wallet());
    let before = snapshot(&gr);
    // When
    let result = initiate_as(&mut gr, guardian(1), user(), new_wallet());
    // Then
    assert_eq!(result, Err(Error::InvalidNewWallet));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn recovery_of_a_revoked_user_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    revoke(user());
    let before = snapshot(&gr);
    // When
    let result = initiate_as(&mut gr, guardian(1), user(), new_wallet());
    // Then
    assert_eq!(result, Err(Error::WalletRevoked));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn second_recovery_while_one_runs_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    // When / Then: while collecting, during the timelock and once ready
    let refuse = |gr: &mut GuardianRecovery| {
        let before = snapshot(gr);
        for g in guardians() {
            for target in [new_wallet(), attacker()] {
                assert_eq!(
                    initiate_as(gr, g, user(), target),
                    Err(Error::RecoveryInProgress)
                );
            }
        }
        assert_unchanged(gr, &before);
    };
    refuse(&mut gr);
    wait(HOUR);
    attest_as(&mut gr, guardian(2), id).unwrap();
    refuse(&mut gr);
    wait(TIMELOCK);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
    refuse(&mut gr);
}

#[ink::test]
fn recovery_ids_run_across_users() {
    // Given both users have active sets sharing guardian 1
    let mut gr = with_active_guardians();
    set_guardians_as(
        &mut gr,
        other_user(),
        vec![
            (guardian(1), GuardianKind::User),
            (guardian(4), GuardianKind::User),
            (guardian(5), GuardianKind::User),
        ],
    )
    .unwrap();
    for g in [guardian(1), guardian(4), guardian(5)] {
        accept_as(&mut gr, g, other_user()).unwrap();
    }
    // When
    let first = initiate_as(&mut gr, guardian(1), user(), new_wallet());
    let second = initiate_as(&mut gr, guardian(1), other_user(), attacker());
    // Then
    assert_eq!((first, second), (Ok(0), Ok(1)));
    assert_eq!(gr.latest_recovery(user()), Some(0));
    assert_eq!(gr.latest_recovery(other_user()), Some(1));
    assert_eq!(record(&gr, 1).user, other_user());
    let ids: Vec<RecoveryId> = emitted::<RecoveryInitiated>()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![0, 1]);
}

#[ink::test]
fn recovery_fails_while_document_nft_is_unconfigured_or_unavailable() {
    // Given
    let mut gr = with_active_guardians();
    let before = snapshot(&gr);
    // When / Then
    fleet(|f| f.document_nft = None);
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), new_wallet()),
        Err(Error::NotConfigured)
    );
    fleet(|f| {
        f.document_nft = Some(nft_address());
        f.governance_available = false;
    });
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), new_wallet()),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.governance_available = true;
        f.nft_available = false;
    });
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), new_wallet()),
        Err(Error::ContractUnavailable)
    );
    assert_unchanged(&gr, &before);
    // When the contracts answer again, number 0 is still free
    fleet(|f| f.nft_available = true);
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), new_wallet()),
        Ok(0)
    );
}

// --- attest --------------------------------------------------------------------------------

#[ink::test]
fn second_guardians_attestation_reaches_quorum_and_starts_the_timelock() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    wait(5 * HOUR);
    // When
    let result = attest_as(&mut gr, guardian(3), id);
    // Then
    assert_eq!(result, Ok(()));
    let quorum = START + 5 * HOUR;
    let r = record(&gr, id);
    assert_eq!(
        r.attestations,
        vec![(guardian(1), START), (guardian(3), quorum)]
    );
    assert_eq!(r.quorum_at, Some(quorum));
    assert_eq!(r.valid_attestations(now()), QUORUM);
    assert_eq!(state(&gr, id), RecoveryState::Timelocked);
    assert_eq!(
        guardian_of(&gr, user(), guardian(3)).last_seen,
        Some(quorum)
    );
    let attested = last::<RecoveryAttested>();
    assert_eq!(
        (attested.id, attested.guardian, attested.valid),
        (id, guardian(3), 2)
    );
    let reached = last::<RecoveryQuorumReached>();
    assert_eq!(
        (reached.id, reached.user, reached.eta),
        (id, user(), quorum + TIMELOCK)
    );
    assert_eq!(emitted::<RecoveryQuorumReached>().len(), 1);
}

#[ink::test]
fn a_second_attestation_by_the_same_guardian_is_refused() {
    // Given the initiator attested at START
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    // When / Then: the initiator attests again, up to its attestation's last millisecond
    for at in [START, START + HOUR, START + ATTESTATION_TTL - 1] {
        set_time(at);
        let before = snapshot(&gr);
        assert_eq!(
            attest_as(&mut gr, guardian(1), id),
            Err(Error::AlreadyAttested)
        );
        assert_unchanged(&gr, &before);
        assert_eq!(state(&gr, id), RecoveryState::Collecting);
    }
    assert_eq!(guardian_of(&gr, user(), guardian(1)).last_seen, Some(START));
}

#[ink::test]
fn attestation_by_a_non_guardian_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    wait(HOUR);
    let before = snapshot(&gr);
    // When / Then
    for who in [stranger(), user(), new_wallet(), attacker(), guardian(4)] {
        assert_eq!(attest_as(&mut gr, who, id), Err(Error::NotGuardian));
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn attestation_of_a_missing_recovery_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    let before = snapshot(&gr);
    // When
    let result = attest_as(&mut gr, guardian(2), id + 1);
    // Then
    assert_eq!(result, Err(Error::RecoveryNotFound));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn attestation_after_the_quorum_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    // When / Then: the third guardian, and guardian 2 again, during the timelock and once ready
    for _ in 0..2 {
        let before = snapshot(&gr);
        for g in [guardian(3), guardian(2), guardian(1)] {
            assert_eq!(attest_as(&mut gr, g, id), Err(Error::NotCollecting));
        }
        assert_unchanged(&gr, &before);
        wait(TIMELOCK);
    }
    assert_eq!(state(&gr, id), RecoveryState::Ready);
}

#[ink::test]
fn attestation_one_millisecond_before_the_first_expires_still_reaches_quorum() {
    // Given the initiator attested at START
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    let quorum = START + ATTESTATION_TTL - 1;
    set_time(quorum);
    // When
    let result = attest_as(&mut gr, guardian(2), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(record(&gr, id).quorum_at, Some(quorum));
    assert_eq!(last::<RecoveryAttested>().valid, 2);
    // Then the quorum holds once the initiator's attestation expired a millisecond later
    wait(1);
    assert_eq!(record(&gr, id).valid_attestations(now()), 1);
    assert_eq!(state(&gr, id), RecoveryState::Timelocked);
    set_time(quorum + TIMELOCK);
    assert_eq!(finalize_as(&mut gr, stranger(), id), Ok(()));
}

/// The brief imagined a second guardian attesting at exactly `t0 + 72h` while the
/// recovery keeps collecting. It cannot: at that moment the initiator's attestation, the only
/// one, has expired, so the recovery is Expired (final, as `RecoveryState::Expired` documents)
/// and the late attestation is refused. An expired attestation therefore never helps a quorum:
/// it takes a new recovery.
#[ink::test]
fn an_expired_attestation_is_not_counted() {
    // Given the initiator attested at t0 = START
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    set_time(START + ATTESTATION_TTL - 1);
    assert_eq!(record(&gr, id).valid_attestations(now()), 1);
    assert_eq!(state(&gr, id), RecoveryState::Collecting);
    // When: the second guardian attests at exactly t0 + 72h
    set_time(START + ATTESTATION_TTL);
    let before = snapshot(&gr);
    let result = attest_as(&mut gr, guardian(2), id);
    // Then
    assert_eq!(record(&gr, id).valid_attestations(now()), 0);
    assert_eq!(state(&gr, id), RecoveryState::Expired);
    assert_eq!(result, Err(Error::NotCollecting));
    assert_unchanged(&gr, &before);
    // Then neither the third guardian nor the initiator, re-attesting, revives it
    for g in [guardian(3), guardian(1)] {
        assert_eq!(attest_as(&mut gr, g, id), Err(Error::NotCollecting));
    }
    assert_unchanged(&gr, &before);
    assert_eq!(record(&gr, id).quorum_at, None);
    assert!(emitted::<RecoveryQuorumReached>().is_empty());
}

#[ink::test]
fn expired_recovery_is_final_and_a_new_one_can_be_started() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    set_time(START + ATTESTATION_TTL + DAY);
    assert_eq!(state(&gr, id), RecoveryState::Expired);
    let before = snapshot(&gr);
    // When / Then: it can be neither attested, cancelled nor finalized
    assert_eq!(
        attest_as(&mut gr, guardian(2), id),
        Err(Error::NotCollecting)
    );
    assert_eq!(cancel_as(&mut gr, user(), id), Err(Error::NotCancellable));
    assert_eq!(
        finalize_as(&mut gr, stranger(), id),
        Err(Error::RecoveryClosed)
    );
    assert_unchanged(&gr, &before);
    // When a guardian starts again
    let again = initiate_as(&mut gr, guardian(2), user(), new_wallet());
    // Then
    assert_eq!(again, Ok(id + 1));
    assert_eq!(gr.latest_recovery(user()), Some(id + 1));
    assert_eq!(state(&gr, id), RecoveryState::Expired, "the old one stays");
    assert_eq!(record(&gr, id), before.recoveries[0].clone().unwrap());
    wait(HOUR);
    assert_eq!(attest_as(&mut gr, guardian(1), id + 1), Ok(()));
    assert_eq!(state(&gr, id + 1), RecoveryState::Timelocked);
}

// --- cancel_recovery -----------------------------------------------------------------------

#[ink::test]
fn user_cancels_a_collecting_recovery() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    wait(HOUR);
    // When
    let result = cancel_as(&mut gr, user(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(record(&gr, id).cancelled_at, Some(START + HOUR));
    assert_eq!(state(&gr, id), RecoveryState::Cancelled);
    let event = last::<RecoveryCancelled>();
    assert_eq!((event.id, event.user), (id, user()));
    assert_eq!(
        attest_as(&mut gr, guardian(2), id),
        Err(Error::NotCollecting),
        "its attestation is void"
    );
}

#[ink::test]
fn user_cancels_up_to_the_last_millisecond_of_the_timelock() {
    // Given
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    let quorum = now();
    set_time(quorum + TIMELOCK - 1);
    assert_eq!(state(&gr, id), RecoveryState::Timelocked);
    // When
    let result = cancel_as(&mut gr, user(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(state(&gr, id), RecoveryState::Cancelled);
    set_time(quorum + TIMELOCK);
    assert_eq!(state(&gr, id), RecoveryState::Cancelled, "final");
    assert_eq!(
        finalize_as(&mut gr, stranger(), id),
        Err(Error::RecoveryClosed)
    );
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn cancelling_a_ready_recovery_is_refused() {
    // Given the timelock ended just now
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    let before = snapshot(&gr);
    // When
    let result = cancel_as(&mut gr, user(), id);
    // Then
    assert_eq!(result, Err(Error::NotCancellable));
    assert_unchanged(&gr, &before);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
}

#[ink::test]
fn only_the_wallet_being_recovered_can_cancel() {
    // Given
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    let before = snapshot(&gr);
    // When / Then
    let mut others = guardians();
    others.extend([new_wallet(), stranger(), governance_address(), deployer()]);
    for who in others {
        assert_eq!(cancel_as(&mut gr, who, id), Err(Error::NotRecoveredWallet));
    }
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn cancelling_a_missing_recovery_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    let before = snapshot(&gr);
    // When
    let result = cancel_as(&mut gr, user(), id + 1);
    // Then
    assert_eq!(result, Err(Error::RecoveryNotFound));
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn cancelled_or_finalized_recovery_cannot_be_cancelled() {
    // Given a cancelled recovery
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    cancel_as(&mut gr, user(), id).unwrap();
    wait(HOUR);
    let before = snapshot(&gr);
    // When / Then
    assert_eq!(cancel_as(&mut gr, user(), id), Err(Error::NotCancellable));
    assert_unchanged(&gr, &before);
    // Given a finalized one
    let next = initiated(&mut gr);
    wait(HOUR);
    attest_as(&mut gr, guardian(3), next).unwrap();
    wait(TIMELOCK);
    finalize_as(&mut gr, stranger(), next).unwrap();
    let before = snapshot(&gr);
    // When / Then
    assert_eq!(cancel_as(&mut gr, user(), next), Err(Error::NotCancellable));
    assert_unchanged(&gr, &before);
}

/// FRAME `pallet-recovery`'s malicious recovery: two guardians collude toward an attacker's
/// wallet; the owner, still holding the wallet, closes it during the delay.
#[ink::test]
fn malicious_recovery_fails() {
    // Given guardians 1 and 2 collude toward the attacker's wallet
    let mut gr = with_active_guardians();
    let id = initiate_as(&mut gr, guardian(1), user(), attacker()).unwrap();
    wait(HOUR);
    attest_as(&mut gr, guardian(2), id).unwrap();
    let quorum = now();
    assert_eq!(state(&gr, id), RecoveryState::Timelocked);
    // When the owner sees RecoveryQuorumReached and cancels 12 hours later
    assert_eq!(last::<RecoveryQuorumReached>().user, user());
    wait(12 * HOUR);
    assert_eq!(cancel_as(&mut gr, user(), id), Ok(()));
    // Then the recovery can never finalize
    set_time(quorum + TIMELOCK);
    assert_eq!(
        finalize_as(&mut gr, attacker(), id),
        Err(Error::RecoveryClosed)
    );
    assert!(rebind_calls().is_empty(), "DocumentNFT never asked");
    assert!(emitted::<WalletRecovered>().is_empty());
    assert_eq!(gr.guardians(attacker()), Vec::new());
    assert!(gr.is_active(user()));
    // Then its attestations are void
    assert_eq!(
        attest_as(&mut gr, guardian(3), id),
        Err(Error::NotCollecting)
    );
    assert_eq!(state(&gr, id), RecoveryState::Cancelled);
    let event = last::<RecoveryCancelled>();
    assert_eq!((event.id, event.user), (id, user()));
    // Then a fresh recovery can be started and runs on fresh attestations
    let fresh = initiate_as(&mut gr, guardian(3), user(), new_wallet());
    assert_eq!(fresh, Ok(id + 1));
    assert_eq!(record(&gr, id + 1).attestations, vec![(guardian(3), now())]);
    assert_eq!(state(&gr, id + 1), RecoveryState::Collecting);
}

// --- finalize_recovery ---------------------------------------------------------------------

#[ink::test]
fn finalize_before_the_timelock_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    set_time(record(&gr, id).quorum_at.unwrap() + TIMELOCK - 1);
    let before = snapshot(&gr);
    // When
    let result = finalize_as(&mut gr, stranger(), id);
    // Then
    assert_eq!(result, Err(Error::TimelockActive));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn collecting_recovery_cannot_be_finalized() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    wait(TIMELOCK + HOUR);
    let before = snapshot(&gr);
    // When
    let result = finalize_as(&mut gr, guardian(1), id);
    // Then
    assert_eq!(result, Err(Error::TimelockActive));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn finalizing_a_missing_recovery_is_refused() {
    let mut gr = with_active_guardians();
    let before = snapshot(&gr);
    assert_eq!(
        finalize_as(&mut gr, stranger(), 0),
        Err(Error::RecoveryNotFound)
    );
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn stranger_finalizes_at_the_end_of_the_timelock() {
    // Given the quorum was reached an hour after START
    let mut gr = with_active_guardians();
    let id = with_quorum(&mut gr);
    let end = record(&gr, id).quorum_at.unwrap() + TIMELOCK;
    let set = gr.guardians(user());
    set_time(end);
    // When
    let result = finalize_as(&mut gr, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        rebind_calls(),
        vec![Rebind {
            old: user(),
            new: new_wallet(),
            accepted: true,
        }]
    );
    let event = last::<WalletRecovered>();
    assert_eq!(
        (event.id, event.old_wallet, event.new_wallet, event.decision),
        (Some(id), user(), new_wallet(), None)
    );
    assert_eq!(state(&gr, id), RecoveryState::Finalized);
    assert_eq!(record(&gr, id).finalized_at, Some(end));
    assert_eq!(gr.guardians(new_wallet()), set, "the guardians carry over");
    assert!(gr.is_active(new_wallet()));
    assert_eq!(gr.guardians(user()), Vec::new());
    assert!(!gr.is_active(user()));
    assert_eq!(gr.latest_recovery(user()), Some(id));
}

#[ink::test]
fn recovered_old_wallet_is_refused_everywhere() {
    // Given a finalized recovery
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    finalize_as(&mut gr, stranger(), id).unwrap();
    wait(HOUR);
    let before = snapshot(&gr);
    // When / Then: the old wallet names guardians (DocumentNFT revoked it)
    assert_eq!(
        set_guardians_as(&mut gr, user(), guardian_set()),
        Err(Error::WalletRevoked)
    );
    // When / Then: its former guardians act for it (they guard the new wallet now)
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), attacker()),
        Err(Error::NotGuardian)
    );
    assert_eq!(
        heartbeat_as(&mut gr, guardian(1), user()),
        Err(Error::NotGuardian)
    );
    assert_eq!(
        accept_as(&mut gr, guardian(1), user()),
        Err(Error::NotGuardian)
    );
    assert_eq!(attest_as(&mut gr, guardian(3), id), Err(Error::NotGuardian));
    assert_eq!(cancel_as(&mut gr, user(), id), Err(Error::NotCancellable));
    assert_unchanged(&gr, &before);
    // When / Then: a recovery toward the old wallet is refused too
    assert_eq!(
        initiate_as(&mut gr, guardian(1), new_wallet(), user()),
        Err(Error::InvalidNewWallet)
    );
    assert_unchanged(&gr, &before);
    // When / Then: the guardians can recover the new wallet
    assert_eq!(
        initiate_as(&mut gr, guardian(1), new_wallet(), attacker()),
        Ok(id + 1)
    );
}

#[ink::test]
fn finalizing_twice_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    finalize_as(&mut gr, stranger(), id).unwrap();
    let before = snapshot(&gr);
    // When / Then
    for who in [stranger(), new_wallet(), guardian(1)] {
        assert_eq!(finalize_as(&mut gr, who, id), Err(Error::RecoveryClosed));
    }
    assert_unchanged(&gr, &before);
    assert_eq!(rebind_calls().len(), 1);
}

#[ink::test]
fn cancelled_recovery_cannot_be_finalized() {
    // Given
    let mut gr = with_active_guardians();
    let id = initiated(&mut gr);
    cancel_as(&mut gr, user(), id).unwrap();
    wait(TIMELOCK + HOUR);
    let before = snapshot(&gr);
    // When
    let result = finalize_as(&mut gr, stranger(), id);
    // Then
    assert_eq!(result, Err(Error::RecoveryClosed));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn document_nft_refusal_leaves_the_recovery_ready() {
    // Given
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    fleet(|f| f.rebind_refusal = Some(DocumentError::WalletInUse));
    let before = snapshot(&gr);
    // When
    let result = finalize_as(&mut gr, stranger(), id);
    // Then
    assert_eq!(result, Err(Error::DocumentRefused));
    assert_unchanged(&gr, &before);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
    assert_eq!(gr.guardians(new_wallet()), Vec::new());
    assert_eq!(
        rebind_calls(),
        vec![Rebind {
            old: user(),
            new: new_wallet(),
            accepted: false,
        }]
    );
    // When DocumentNFT accepts later
    fleet(|f| f.rebind_refusal = None);
    wait(DAY);
    // Then
    assert_eq!(finalize_as(&mut gr, stranger(), id), Ok(()));
    assert_eq!(accepted_rebinds().len(), 1);
}

#[ink::test]
fn finalize_fails_while_document_nft_is_unconfigured_or_unavailable() {
    // Given
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    let before = snapshot(&gr);
    // When / Then
    fleet(|f| f.document_nft = None);
    assert_eq!(
        finalize_as(&mut gr, stranger(), id),
        Err(Error::NotConfigured)
    );
    fleet(|f| {
        f.document_nft = Some(nft_address());
        f.governance_available = false;
    });
    assert_eq!(
        finalize_as(&mut gr, stranger(), id),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.governance_available = true;
        f.nft_available = false;
    });
    assert_eq!(
        finalize_as(&mut gr, stranger(), id),
        Err(Error::ContractUnavailable)
    );
    assert_unchanged(&gr, &before);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
    assert!(rebind_calls().is_empty());
}

// --- execute_emergency_recovery ------------------------------------------------------------

#[ink::test]
fn emergency_recovery_without_a_decision_is_refused() {
    // Given
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    set_time(START + UNREACHABLE_AFTER + DAY);
    let before = snapshot(&gr);
    // When
    let result = emergency_as(&mut gr, stranger(), 8);
    // Then
    assert_eq!(result, Err(Error::NoEmergencyDecision));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn emergency_recovery_is_refused_while_a_guardian_was_seen_within_180_days() {
    // Given every guardian was last seen at START
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    set_time(START + UNREACHABLE_AFTER - 1);
    let before = snapshot(&gr);
    // When
    let result = emergency_as(&mut gr, stranger(), 7);
    // Then
    assert_eq!(result, Err(Error::GuardiansReachable));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn one_recent_heartbeat_keeps_the_guardians_reachable() {
    // Given guardian 3 showed a sign of life 100 days after START
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    set_time(START + 100 * DAY);
    heartbeat_as(&mut gr, guardian(3), user()).unwrap();
    // When / Then: 180 days after the others' last sign of life
    set_time(START + UNREACHABLE_AFTER);
    assert_eq!(
        emergency_as(&mut gr, stranger(), 7),
        Err(Error::GuardiansReachable)
    );
    // When / Then: 180 days after guardian 3's
    set_time(START + 100 * DAY + UNREACHABLE_AFTER);
    assert_eq!(emergency_as(&mut gr, stranger(), 7), Ok(()));
}

/// The check is `last_seen > now - 180 days`: a guardian last seen exactly 180 days ago
/// counts as unreachable.
#[ink::test]
fn exactly_180_days_of_silence_make_a_guardian_unreachable() {
    // Given every guardian was last seen at START
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    // When
    set_time(START + UNREACHABLE_AFTER);
    let result = emergency_as(&mut gr, stranger(), 7);
    // Then
    assert_eq!(result, Ok(()));
}

#[ink::test]
fn emergency_recovery_after_180_days_of_silence_rebinds_the_wallet() {
    // Given
    let mut gr = with_active_guardians();
    let set = gr.guardians(user());
    decide(7, user(), new_wallet());
    set_time(START + UNREACHABLE_AFTER + DAY);
    // When
    let result = emergency_as(&mut gr, stranger(), 7);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        rebind_calls(),
        vec![Rebind {
            old: user(),
            new: new_wallet(),
            accepted: true,
        }]
    );
    let event = last::<WalletRecovered>();
    assert_eq!(
        (event.id, event.old_wallet, event.new_wallet, event.decision),
        (None, user(), new_wallet(), Some(7))
    );
    assert_eq!(gr.guardians(new_wallet()), set, "the guardians carry over");
    assert_eq!(gr.guardians(user()), Vec::new());
    assert_eq!(gr.latest_recovery(user()), None, "no guardian recovery");
    assert_eq!(gr.recovery(0), None);
    assert_eq!(
        set_guardians_as(&mut gr, user(), guardian_set()),
        Err(Error::WalletRevoked)
    );
}

#[ink::test]
fn user_without_guardians_is_recovered_at_once() {
    // Given
    let mut gr = setup();
    decide(3, user(), new_wallet());
    // When
    let result = emergency_as(&mut gr, stranger(), 3);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(accepted_rebinds().len(), 1);
    assert_eq!(last::<WalletRecovered>().decision, Some(3));
    assert_eq!(gr.guardians(new_wallet()), Vec::new());
}

#[ink::test]
fn named_guardians_who_never_accepted_count_as_unreachable() {
    // Given guardians named at START, none accepted
    let mut gr = with_guardians();
    decide(3, user(), new_wallet());
    // When
    let result = emergency_as(&mut gr, stranger(), 3);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(gr.guardians(new_wallet()).len(), GUARDIANS);
}

#[ink::test]
fn emergency_decision_is_carried_out_once() {
    // Given
    let mut gr = setup();
    decide(7, user(), new_wallet());
    emergency_as(&mut gr, stranger(), 7).unwrap();
    let before = snapshot(&gr);
    // When / Then: even with governance unreachable, the reuse is recognized first
    assert_eq!(
        emergency_as(&mut gr, stranger(), 7),
        Err(Error::AlreadyExecuted)
    );
    fleet(|f| f.governance_available = false);
    assert_eq!(
        emergency_as(&mut gr, user(), 7),
        Err(Error::AlreadyExecuted)
    );
    assert_unchanged(&gr, &before);
    assert_eq!(rebind_calls().len(), 1);
}

/// Collecting or Timelocked recoveries always have a guardian seen within 72 hours, so only
/// a Ready recovery nobody finalized can run while every guardian is silent.
#[ink::test]
fn emergency_recovery_is_refused_while_a_recovery_runs() {
    // Given a recovery left Ready and guardians silent for 180 days since
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    decide(7, user(), attacker());
    set_time(START + HOUR + UNREACHABLE_AFTER);
    assert_eq!(state(&gr, id), RecoveryState::Ready);
    let before = snapshot(&gr);
    // When
    let result = emergency_as(&mut gr, stranger(), 7);
    // Then
    assert_eq!(result, Err(Error::RecoveryInProgress));
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
}

#[ink::test]
fn emergency_refusal_by_document_nft_records_nothing() {
    // Given
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    set_time(START + UNREACHABLE_AFTER);
    fleet(|f| f.rebind_refusal = Some(DocumentError::WalletRevoked));
    let before = snapshot(&gr);
    // When
    let result = emergency_as(&mut gr, stranger(), 7);
    // Then
    assert_eq!(result, Err(Error::DocumentRefused));
    assert_unchanged(&gr, &before);
    // When DocumentNFT accepts later, the decision is still unused
    fleet(|f| f.rebind_refusal = None);
    assert_eq!(emergency_as(&mut gr, stranger(), 7), Ok(()));
    assert_eq!(accepted_rebinds().len(), 1);
}

#[ink::test]
fn emergency_recovery_fails_while_a_contract_is_unconfigured_or_unavailable() {
    // Given
    let mut gr = with_active_guardians();
    decide(7, user(), new_wallet());
    set_time(START + UNREACHABLE_AFTER);
    let before = snapshot(&gr);
    // When / Then
    fleet(|f| f.governance_available = false);
    assert_eq!(
        emergency_as(&mut gr, stranger(), 7),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.governance_available = true;
        f.document_nft = None;
    });
    assert_eq!(
        emergency_as(&mut gr, stranger(), 7),
        Err(Error::NotConfigured)
    );
    fleet(|f| {
        f.document_nft = Some(nft_address());
        f.nft_available = false;
    });
    assert_eq!(
        emergency_as(&mut gr, stranger(), 7),
        Err(Error::ContractUnavailable)
    );
    assert_unchanged(&gr, &before);
    assert!(rebind_calls().is_empty());
    // When every contract answers again, the decision is still unused
    fleet(|f| f.nft_available = true);
    assert_eq!(emergency_as(&mut gr, stranger(), 7), Ok(()));
}

// --- set_code ------------------------------------------------------------------------------

#[ink::test]
fn only_governance_may_replace_the_code() {
    // `set_code_hash` is unimplemented off-chain: governance's own call is an e2e test.
    let mut gr = with_active_guardians();
    let before = snapshot(&gr);
    for caller in [stranger(), user(), guardian(1), deployer(), nft_address()] {
        set_caller(caller);
        assert_eq!(gr.set_code([9; 32]), Err(Error::NotGovernance));
    }
    assert_unchanged(&gr, &before);
}

// --- properties ----------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// What happens to one recovery of the user, and time passing.
    #[derive(Debug, Clone)]
    enum Step {
        /// Guardian `0..3` (1 to 3) attests.
        Attest(usize),
        /// The user cancels.
        Cancel,
        /// Someone finalizes; DocumentNFT refuses if `refuse`.
        Finalize {
            who: usize,
            refuse: bool,
        },
        /// Guardian `0..3` (1 to 3) shows a sign of life.
        Heartbeat(usize),
        Wait(Timestamp),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..GUARDIANS).prop_map(Step::Attest),
            1 => Just(Step::Cancel),
            3 => (0..6usize, proptest::bool::weighted(0.2))
                .prop_map(|(who, refuse)| Step::Finalize { who, refuse }),
            2 => (0..GUARDIANS).prop_map(Step::Heartbeat),
            4 => (0..100 * HOUR).prop_map(Step::Wait),
        ]
    }

    /// An account that may finalize: anyone.
    fn finalizer(who: usize) -> AccountId {
        [
            stranger(),
            user(),
            new_wallet(),
            guardian(1),
            guardian(2),
            guardian(3),
        ][who]
    }

    /// The recovery as the rules describe it, kept apart from the contract: attestations by
    /// guardian number, and when the quorum, cancellation and finalization happened.
    #[derive(Debug, Clone, Default)]
    struct Model {
        attestations: BTreeMap<usize, Timestamp>,
        quorum_at: Option<Timestamp>,
        cancelled: bool,
        finalized: bool,
    }

    impl Model {
        fn valid(&self, now: Timestamp) -> usize {
            self.attestations
                .values()
                .filter(|at| now - **at < ATTESTATION_TTL)
                .count()
        }

        fn state(&self, now: Timestamp) -> RecoveryState {
            if self.finalized {
                RecoveryState::Finalized
            } else if self.cancelled {
                RecoveryState::Cancelled
            } else if let Some(q) = self.quorum_at {
                if now - q >= TIMELOCK {
                    RecoveryState::Ready
                } else {
                    RecoveryState::Timelocked
                }
            } else if self.valid(now) > 0 {
                RecoveryState::Collecting
            } else {
                RecoveryState::Expired
            }
        }

        fn attest(&mut self, g: usize, now: Timestamp) -> Result<()> {
            if self.finalized {
                // The guardians belong to the new wallet now.
                return Err(Error::NotGuardian);
            }
            if self.state(now) != RecoveryState::Collecting {
                return Err(Error::NotCollecting);
            }
            if self
                .attestations
                .get(&g)
                .is_some_and(|at| now - at < ATTESTATION_TTL)
            {
                return Err(Error::AlreadyAttested);
            }
            self.attestations.insert(g, now);
            if self.valid(now) >= QUORUM {
                self.quorum_at = Some(now);
            }
            Ok(())
        }

        fn cancel(&mut self, now: Timestamp) -> Result<()> {
            match self.state(now) {
                RecoveryState::Collecting | RecoveryState::Timelocked => {
                    self.cancelled = true;
                    Ok(())
                }
                _ => Err(Error::NotCancellable),
            }
        }

        fn finalize(&mut self, refuse: bool, now: Timestamp) -> Result<()> {
            match self.state(now) {
                RecoveryState::Ready if refuse => Err(Error::DocumentRefused),
                RecoveryState::Ready => {
                    self.finalized = true;
                    Ok(())
                }
                RecoveryState::Collecting | RecoveryState::Timelocked => Err(Error::TimelockActive),
                _ => Err(Error::RecoveryClosed),
            }
        }

        fn heartbeat(&self) -> Result<()> {
            if self.finalized {
                Err(Error::NotGuardian)
            } else {
                Ok(())
            }
        }
    }

    fn is_final(state: RecoveryState) -> bool {
        matches!(
            state,
            RecoveryState::Finalized | RecoveryState::Cancelled | RecoveryState::Expired
        )
    }

    /// The one-based guardian number of a guardian's account.
    fn number(account: AccountId) -> usize {
        (1..=GUARDIANS)
            .find(|i| guardian(*i) == account)
            .expect("a guardian of the user")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the guardians, the user and anyone do to one recovery, and whenever:
        /// every call answers as the rules say; Finalized only follows Ready and comes no
        /// earlier than the end of the timelock; Cancelled only follows Collecting or
        /// Timelocked; Finalized, Cancelled and Expired are final; the quorum is recorded
        /// only when two attestations made within 72 hours of each other are valid;
        /// DocumentNFT rebinds exactly once if and only if the recovery is Finalized; a
        /// failed call changes nothing.
        #[test]
        fn recovery_states_follow_the_quorum_and_timelock_rules(
            initiator in 0..GUARDIANS,
            start in 0..100 * HOUR,
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut gr = with_active_guardians();
                wait(start);
                let id = initiate_as(&mut gr, guardian(initiator + 1), user(), new_wallet())
                    .expect("an active guardian initiates");
                let mut model = Model::default();
                model.attestations.insert(initiator, now());
                for step in steps {
                    let before = snapshot(&gr);
                    let was = state(&gr, id);
                    let finalized_before = model.finalized;
                    let (expected, result) = match step.clone() {
                        Step::Attest(g) => (
                            model.attest(g, now()),
                            attest_as(&mut gr, guardian(g + 1), id),
                        ),
                        Step::Cancel => (model.cancel(now()), cancel_as(&mut gr, user(), id)),
                        Step::Finalize { who, refuse } => {
                            fleet(|f| {
                                f.rebind_refusal = refuse.then_some(DocumentError::WalletInUse);
                            });
                            let expected = model.finalize(refuse, now());
                            let result = finalize_as(&mut gr, finalizer(who), id);
                            fleet(|f| f.rebind_refusal = None);
                            (expected, result)
                        }
                        Step::Heartbeat(g) => (
                            model.heartbeat(),
                            heartbeat_as(&mut gr, guardian(g + 1), user()),
                        ),
                        Step::Wait(ms) => {
                            wait(ms);
                            (Ok(()), Ok(()))
                        }
                    };
                    assert_eq!(result, expected, "{step:?} at {}", now());
                    let is = state(&gr, id);
                    let r = record(&gr, id);
                    assert_eq!(is, model.state(now()), "after {step:?}");
                    assert_eq!((r.user, r.new_wallet), (user(), new_wallet()));
                    if result.is_err() {
                        assert_eq!(snapshot(&gr), before, "a failed {step:?} changed something");
                    }
                    // Transitions.
                    if is_final(was) {
                        assert_eq!(is, was, "{step:?} left the final {was:?}");
                        assert_eq!(Some(&r), before.recoveries[0].as_ref());
                    }
                    if is == RecoveryState::Finalized && was != RecoveryState::Finalized {
                        assert_eq!(was, RecoveryState::Ready);
                        let q = r.quorum_at.expect("a quorum before finalization");
                        assert!(now() >= q + TIMELOCK, "finalized inside the timelock");
                        assert_eq!(r.finalized_at, Some(now()));
                    }
                    if is == RecoveryState::Cancelled && was != RecoveryState::Cancelled {
                        assert!(
                            matches!(was, RecoveryState::Collecting | RecoveryState::Timelocked),
                            "cancelled from {was:?}"
                        );
                        assert_eq!(r.cancelled_at, Some(now()));
                    }
                    // The quorum needs two attestations within 72 hours of each other, both
                    // valid when it was reached.
                    match r.quorum_at {
                        Some(q) => {
                            let valid: Vec<_> = r
                                .attestations
                                .iter()
                                .filter(|(_, at)| *at <= q && q < at + ATTESTATION_TTL)
                                .collect();
                            assert!(valid.len() >= QUORUM, "quorum at {q} without two valid");
                            assert!(valid.iter().any(|(_, at)| *at == q));
                        }
                        None => {
                            for (i, (_, a)) in r.attestations.iter().enumerate() {
                                for (_, b) in &r.attestations[..i] {
                                    assert!(
                                        a.abs_diff(*b) >= ATTESTATION_TTL,
                                        "two attestations within 72 hours without a quorum"
                                    );
                                }
                            }
                        }
                    }
                    // The record's attestations are the model's, at most one per guardian.
                    let mut recorded: Vec<(usize, Timestamp)> = r
                        .attestations
                        .iter()
                        .map(|(g, at)| (number(*g) - 1, *at))
                        .collect();
                    recorded.sort_unstable();
                    let modelled: Vec<(usize, Timestamp)> =
                        model.attestations.iter().map(|(g, at)| (*g, *at)).collect();
                    assert_eq!(recorded, modelled);
                    // DocumentNFT rebinds once, exactly for the finalized recovery.
                    let rebinds = accepted_rebinds();
                    assert_eq!(rebinds.len(), usize::from(is == RecoveryState::Finalized));
                    for rebind in rebinds {
                        assert_eq!((rebind.old, rebind.new), (user(), new_wallet()));
                    }
                    assert_eq!(
                        emitted::<WalletRecovered>().len(),
                        usize::from(is == RecoveryState::Finalized)
                    );
                    // Signs of life.
                    if let (Step::Heartbeat(g) | Step::Attest(g), Ok(())) = (&step, &result) {
                        let seen = guardian_of(&gr, user(), guardian(g + 1)).last_seen;
                        assert_eq!(seen, Some(now()));
                    }
                    if model.finalized && !finalized_before {
                        assert_eq!(gr.guardians(user()), Vec::new());
                        assert_eq!(gr.guardians(new_wallet()), before.guardians[0]);
                    }
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }

        /// Whatever lists the user names, and whoever accepts in between: a list is taken
        /// exactly when it has 3 distinct guardians other than the user; a kept guardian
        /// keeps its acceptance and last sign of life only if its kind is unchanged; the set
        /// is active exactly when all three accepted.
        #[test]
        fn guardian_sets_keep_only_the_acceptance_of_unchanged_guardians(
            rounds in proptest::collection::vec(
                (proptest::collection::vec((0..6usize, 0..GUARDIANS), 2..=4), 0..8u8),
                1..10,
            ),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut gr = setup();
                // Account 0 is the user, 1 to 5 are guardians.
                let pool = |i: usize| if i == 0 { user() } else { guardian(i) };
                let mut model: Vec<Guardian> = Vec::new();
                for (list, accepting) in rounds {
                    wait(HOUR);
                    let named: Vec<(AccountId, GuardianKind)> =
                        list.iter().map(|(a, k)| (pool(*a), KINDS[*k])).collect();
                    let expected = if named.len() != GUARDIANS {
                        Err(Error::WrongGuardianCount)
                    } else if named.iter().any(|(a, _)| *a == user()) {
                        Err(Error::SelfGuardian)
                    } else if named[1..]
                        .iter()
                        .enumerate()
                        .any(|(i, (a, _))| named[..=i].iter().any(|(b, _)| b == a))
                    {
                        Err(Error::DuplicateGuardian)
                    } else {
                        Ok(())
                    };
                    let before = snapshot(&gr);
                    let result = set_guardians_as(&mut gr, user(), named.clone());
                    match expected {
                        // Both errors apply to a duplicated user: either is right.
                        Err(Error::SelfGuardian) => assert!(
                            matches!(result, Err(Error::SelfGuardian | Error::DuplicateGuardian)),
                            "{named:?}: {result:?}"
                        ),
                        _ => assert_eq!(result, expected, "{named:?}"),
                    }
                    if result.is_err() {
                        assert_eq!(snapshot(&gr), before);
                    } else {
                        model = named
                            .iter()
                            .map(|(account, kind)| {
                                model
                                    .iter()
                                    .find(|g| g.account == *account && g.kind == *kind)
                                    .copied()
                                    .unwrap_or(Guardian {
                                        account: *account,
                                        kind: *kind,
                                        accepted_at: None,
                                        last_seen: None,
                                    })
                            })
                            .collect();
                        assert_eq!(last::<GuardiansSet>().guardians, model);
                    }
                    assert_eq!(gr.guardians(user()), model);
                    // Some guardians accept (those already accepted are refused).
                    wait(HOUR);
                    for (slot, g) in model.iter_mut().enumerate() {
                        if accepting & (1 << slot) == 0 {
                            continue;
                        }
                        let result = accept_as(&mut gr, g.account, user());
                        if g.accepted_at.is_some() {
                            assert_eq!(result, Err(Error::AlreadyAccepted));
                        } else {
                            assert_eq!(result, Ok(()));
                            g.accepted_at = Some(now());
                            g.last_seen = Some(now());
                        }
                    }
                    assert_eq!(gr.guardians(user()), model);
                    assert_eq!(
                        gr.is_active(user()),
                        !model.is_empty() && model.iter().all(|g| g.accepted_at.is_some())
                    );
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }
    }
}

// --- the new wallet's own guardians ----------------------------------------------------------

#[ink::test]
fn a_new_wallet_with_guardians_of_its_own_is_refused() {
    let mut gr = with_active_guardians();
    let others = vec![
        (account(90), GuardianKind::User),
        (account(91), GuardianKind::HardwareKey),
        (account(92), GuardianKind::Custodian),
    ];
    set_guardians_as(&mut gr, new_wallet(), others).expect("the new wallet names guardians");
    let before = snapshot(&gr);
    assert_eq!(
        initiate_as(&mut gr, guardian(1), user(), new_wallet()),
        Err(Error::InvalidNewWallet)
    );
    assert_unchanged(&gr, &before);
}

#[ink::test]
fn guardians_named_by_the_new_wallet_during_the_recovery_are_kept() {
    let mut gr = with_active_guardians();
    let id = ready(&mut gr);
    let own = vec![
        (account(90), GuardianKind::User),
        (account(91), GuardianKind::HardwareKey),
        (account(92), GuardianKind::Custodian),
    ];
    set_guardians_as(&mut gr, new_wallet(), own).expect("the new wallet names guardians");
    finalize_as(&mut gr, stranger(), id).expect("ready");
    let kept: Vec<AccountId> = gr
        .guardians(new_wallet())
        .iter()
        .map(|g| g.account)
        .collect();
    assert_eq!(kept, vec![account(90), account(91), account(92)]);
    assert!(gr.guardians(user()).is_empty());
}
