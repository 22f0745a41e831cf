//! Unit tests of TeamVault on ink!'s off-chain environment.
//!
//! That environment cannot call contracts, so under `cfg(test)` the contract asks
//! [`contract_answer`], an in-memory stand-in of ValidatorGovernance and DocumentNFT held per
//! thread, which the tests reset ([`setup`]) and change ([`fleet`]).

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
};

use crate::team_vault::{Result, TeamVault, Vault};
use ink::{
    env::{test, DefaultEnvironment},
    primitives::AccountId,
};
use scale::{Decode, DecodeAll, Encode};
use sdv_types::{
    document::{DocumentClass, Error as DocumentError, RetentionOption, TokenId},
    governance::{ContractRole, ProposalId as DecisionId},
    vault::{
        AdminCheckedIn, AdminsChanged, EmergencyAccessGranted, Error, Operation, OperationExecuted,
        OperationId, OperationProposed, OperationQueued, OperationState, OperationVetoed,
        OperationVoted, VaultCreated, VaultOperation, Veto, ACTIVITY_WINDOW, EMERGENCY_INACTIVITY,
        MAX_ADMINS, MAX_VETO_REASON_LEN, MIN_ADMINS, TIMELOCK,
    },
    Hash32, Timestamp, VaultId, DAY, HOUR,
};

// --- the stand-ins of ValidatorGovernance and DocumentNFT ----------------------------------

/// A call TeamVault made to DocumentNFT, as the stand-in recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DocumentCall {
    MintStaged {
        vault: VaultId,
        sha256: Hash32,
        class: DocumentClass,
        retention: RetentionOption,
        arweave: bool,
    },
    Share {
        token: TokenId,
        grantee: AccountId,
        wrapped_key: Vec<u8>,
    },
    RequestDeletion {
        token: TokenId,
    },
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
    /// Executed emergency vault access decisions: decision -> (vault, grantee).
    decisions: BTreeMap<DecisionId, (VaultId, AccountId)>,
    /// Wallets revoked by recovery.
    revoked: BTreeSet<AccountId>,
    /// Verified uploads staged for a vault: (vault, sha256).
    staged: BTreeSet<(VaultId, Hash32)>,
    /// The id the next minted document gets.
    next_token: TokenId,
    /// What `share` answers instead of `Ok(())`.
    share_refusal: Option<DocumentError>,
    /// What `request_deletion` answers instead of `Ok(())`.
    deletion_refusal: Option<DocumentError>,
    /// Every `mint_staged`, `share` and `request_deletion` call, oldest first.
    calls: Vec<DocumentCall>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            governance_available: true,
            nft_available: true,
            document_nft: Some(nft_address()),
            decisions: BTreeMap::new(),
            revoked: BTreeSet::new(),
            staged: BTreeSet::new(),
            next_token: 1,
            share_refusal: None,
            deletion_refusal: None,
            calls: Vec::new(),
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
            "contract_address" | "emergency_vault_access" => {
                ensure_target(target, governance_address(), "ValidatorGovernance", message);
                if !f.governance_available {
                    return Vec::new();
                }
                if message == "contract_address" {
                    match arguments::<ContractRole>(message, args) {
                        ContractRole::Governance => Some(governance_address()),
                        ContractRole::DocumentNft => f.document_nft,
                        ContractRole::TeamVault => Some(vault_address()),
                        ContractRole::GuardianRecovery => None,
                    }
                    .encode()
                } else {
                    let decision = arguments::<DecisionId>(message, args);
                    f.decisions.get(&decision).copied().encode()
                }
            }
            "any_revoked" | "mint_staged" | "share" | "request_deletion" => {
                ensure_target(target, nft_address(), "DocumentNFT", message);
                if !f.nft_available {
                    return Vec::new();
                }
                match message {
                    "any_revoked" => arguments::<Vec<AccountId>>(message, args)
                        .iter()
                        .any(|a| f.revoked.contains(a))
                        .encode(),
                    "mint_staged" => {
                        let (vault, sha256, class, retention, arweave) =
                            arguments::<(VaultId, Hash32, DocumentClass, RetentionOption, bool)>(
                                message, args,
                            );
                        f.calls.push(DocumentCall::MintStaged {
                            vault,
                            sha256,
                            class,
                            retention,
                            arweave,
                        });
                        let answer: core::result::Result<TokenId, DocumentError> =
                            if f.staged.remove(&(vault, sha256)) {
                                let id = f.next_token;
                                f.next_token += 1;
                                Ok(id)
                            } else {
                                Err(DocumentError::NotStaged)
                            };
                        answer.encode()
                    }
                    "share" => {
                        let (token, grantee, wrapped_key) =
                            arguments::<(TokenId, AccountId, Vec<u8>)>(message, args);
                        f.calls.push(DocumentCall::Share {
                            token,
                            grantee,
                            wrapped_key,
                        });
                        f.share_refusal.map_or(Ok(()), Err).encode()
                    }
                    _ => {
                        let token = arguments::<TokenId>(message, args);
                        f.calls.push(DocumentCall::RequestDeletion { token });
                        f.deletion_refusal.map_or(Ok(()), Err).encode()
                    }
                }
            }
            other => panic!("TeamVault calls no message `{other}`"),
        }
    })
}

/// Stages a verified upload of `sha256` for `vault` at the stand-in DocumentNFT.
fn stage(vault: VaultId, sha256: Hash32) {
    fleet(|f| f.staged.insert((vault, sha256)));
}

fn document_calls() -> Vec<DocumentCall> {
    fleet(|f| f.calls.clone())
}

// --- accounts, time, events ----------------------------------------------------------------

const START: Timestamp = 1_800_000_000_000;

fn account(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

/// The `i`th admin, `i` from 1.
fn admin(i: usize) -> AccountId {
    account(u8::try_from(i).expect("a small admin number"))
}

/// Admins `1..=n`.
fn admins(n: usize) -> Vec<AccountId> {
    (1..=n).map(admin).collect()
}

/// An account that is no admin yet, `k` from 1.
fn newcomer(k: usize) -> AccountId {
    account(30 + u8::try_from(k).expect("a small newcomer number"))
}

fn stranger() -> AccountId {
    account(99)
}

fn deployer() -> AccountId {
    account(100)
}

fn reader() -> AccountId {
    account(77)
}

fn grantee() -> AccountId {
    account(88)
}

fn nft_address() -> AccountId {
    account(70)
}

fn vault_address() -> AccountId {
    account(90)
}

fn governance_address() -> AccountId {
    account(200)
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

/// A fresh contract and stand-ins with their defaults, at [`START`].
fn setup() -> TeamVault {
    reset_fleet();
    set_time(START);
    test::set_callee::<DefaultEnvironment>(vault_address());
    set_caller(deployer());
    TeamVault::new(governance_address())
}

/// A fresh contract with one vault of admins `1..=n`, created at [`START`].
fn with_vault(n: usize) -> (TeamVault, VaultId) {
    let mut tv = setup();
    set_caller(deployer());
    let vault = tv.create_vault(admins(n)).expect("a valid admin set");
    (tv, vault)
}

// --- actions -------------------------------------------------------------------------------

fn sha(n: u8) -> Hash32 {
    [n; 32]
}

/// An upload of the ciphertext `sha(n)`.
fn upload(n: u8) -> Operation {
    Operation::Upload {
        sha256: sha(n),
        class: DocumentClass::Financial,
        retention: RetentionOption::Extended,
        arweave: true,
    }
}

fn share(token: TokenId) -> Operation {
    Operation::Share {
        token,
        grantee: reader(),
        wrapped_key: vec![7; 48],
    }
}

fn delete(token: TokenId) -> Operation {
    Operation::Delete { token }
}

fn create_as(tv: &mut TeamVault, who: AccountId, set: Vec<AccountId>) -> Result<VaultId> {
    set_caller(who);
    tv.create_vault(set)
}

fn propose_as(
    tv: &mut TeamVault,
    who: AccountId,
    vault: VaultId,
    op: Operation,
) -> Result<OperationId> {
    set_caller(who);
    tv.propose(vault, op)
}

fn vote_as(tv: &mut TeamVault, who: AccountId, id: OperationId, approve: bool) -> Result<()> {
    set_caller(who);
    tv.vote(id, approve)
}

fn veto_as(tv: &mut TeamVault, who: AccountId, id: OperationId, reason: &str) -> Result<()> {
    set_caller(who);
    tv.veto(id, reason.into())
}

fn execute_as(tv: &mut TeamVault, who: AccountId, id: OperationId) -> Result<()> {
    set_caller(who);
    tv.execute(id)
}

fn check_in_as(tv: &mut TeamVault, who: AccountId, vault: VaultId) -> Result<()> {
    set_caller(who);
    tv.check_in(vault)
}

fn claim_as(
    tv: &mut TeamVault,
    who: AccountId,
    vault: VaultId,
    decision: DecisionId,
) -> Result<()> {
    set_caller(who);
    tv.claim_emergency_access(vault, decision)
}

/// Approvals by admins `from..=to`.
fn approve(tv: &mut TeamVault, id: OperationId, from: usize, to: usize) {
    for i in from..=to {
        vote_as(tv, admin(i), id, true).expect("an admin approves once");
    }
}

/// `op` proposed by admin 1 and approved by admins `2..=approvals`; it must be queued then.
fn queued(tv: &mut TeamVault, vault: VaultId, op: Operation, approvals: usize) -> OperationId {
    let id = propose_as(tv, admin(1), vault, op).expect("admin 1 proposes");
    approve(tv, id, 2, approvals);
    assert_eq!(
        state(tv, id),
        OperationState::Pending,
        "queued by the votes"
    );
    id
}

/// `op` queued by `approvals` approvals and past its timelock.
fn ready(tv: &mut TeamVault, vault: VaultId, op: Operation, approvals: usize) -> OperationId {
    let id = queued(tv, vault, op, approvals);
    wait(TIMELOCK);
    assert_eq!(state(tv, id), OperationState::Ready);
    id
}

fn state(tv: &TeamVault, id: OperationId) -> OperationState {
    tv.operation_state(id).expect("the operation exists")
}

fn record(tv: &TeamVault, id: OperationId) -> VaultOperation {
    tv.operation(id).expect("the operation exists")
}

fn vault_admins(tv: &TeamVault, vault: VaultId) -> Vec<AccountId> {
    tv.vault_info(vault).expect("the vault exists").admins
}

fn reason(len: usize) -> String {
    "r".repeat(len)
}

// --- construction and queries --------------------------------------------------------------

#[ink::test]
fn new_contract_knows_its_governance_and_holds_nothing() {
    // Given / When
    let tv = setup();
    // Then
    assert_eq!(tv.governance(), governance_address());
    assert_eq!(tv.operation_count(), 0);
    assert_eq!(tv.vault_info(0), None);
    assert!(!tv.is_admin(0, admin(1)));
    assert_eq!(tv.operation(0), None);
    assert_eq!(tv.operation_state(0), None);
    assert_eq!(tv.vote_of(0, admin(1)), None);
    assert_eq!(tv.last_active(0, admin(1)), None);
    assert_eq!(tv.is_read_only(0), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn queries_report_vaults_admins_operations_and_votes() {
    // Given
    let (mut tv, vault) = with_vault(4);
    wait(HOUR);
    let id = propose_as(&mut tv, admin(2), vault, upload(1)).unwrap();
    vote_as(&mut tv, admin(3), id, false).unwrap();
    // When / Then
    assert_eq!(
        tv.vault_info(vault),
        Some(Vault {
            admins: admins(4),
            created_at: START,
            emergency_access: None,
        })
    );
    assert!(tv.is_admin(vault, admin(4)));
    assert!(!tv.is_admin(vault, admin(5)));
    assert!(!tv.is_admin(vault + 1, admin(1)));
    assert_eq!(tv.operation_count(), 1);
    assert_eq!(tv.operation(id).map(|o| o.proposer), Some(admin(2)));
    assert_eq!(tv.operation(id + 1), None);
    assert_eq!(tv.operation_state(id), Some(OperationState::Voting));
    assert_eq!(tv.vote_of(id, admin(2)), Some(true));
    assert_eq!(tv.vote_of(id, admin(3)), Some(false));
    assert_eq!(tv.vote_of(id, admin(4)), None);
    assert_eq!(tv.last_active(vault, admin(1)), Some(START));
    assert_eq!(tv.last_active(vault, admin(2)), Some(START + HOUR));
    assert_eq!(tv.last_active(vault, stranger()), None);
    assert_eq!(tv.is_read_only(vault), Some(false));
    assert_eq!(tv.governance(), governance_address());
}

// --- create_vault --------------------------------------------------------------------------

#[ink::test]
fn vault_of_three_admins_is_created_and_announced() {
    // Given
    let mut tv = setup();
    // When
    let vault = create_as(&mut tv, admin(1), admins(3));
    // Then
    assert_eq!(vault, Ok(0));
    assert_eq!(
        tv.vault_info(0),
        Some(Vault {
            admins: admins(3),
            created_at: START,
            emergency_access: None,
        })
    );
    for a in admins(3) {
        assert!(tv.is_admin(0, a));
        assert_eq!(
            tv.last_active(0, a),
            Some(START),
            "naming counts as activity"
        );
    }
    assert_eq!(tv.is_read_only(0), Some(false));
    let event = last::<VaultCreated>();
    assert_eq!(event.vault, 0);
    assert_eq!(event.creator, admin(1));
    assert_eq!(event.admins, admins(3));
    assert_eq!(event_count(), 1);
}

#[ink::test]
fn vault_of_ten_admins_is_created() {
    // Given
    let mut tv = setup();
    // When
    let vault = create_as(&mut tv, admin(1), admins(MAX_ADMINS));
    // Then
    assert_eq!(vault, Ok(0));
    assert_eq!(vault_admins(&tv, 0), admins(10));
    assert_eq!(last::<VaultCreated>().admins, admins(10));
}

#[ink::test]
fn vault_of_two_admins_is_refused_and_nothing_is_created() {
    // Given
    let mut tv = setup();
    // When
    let result = create_as(&mut tv, admin(1), admins(MIN_ADMINS - 1));
    // Then
    assert_eq!(result, Err(Error::AdminCountOutOfRange));
    assert_eq!(tv.vault_info(0), None);
    assert_eq!(tv.last_active(0, admin(1)), None);
    assert_eq!(event_count(), 0);
    assert_eq!(
        create_as(&mut tv, admin(1), admins(3)),
        Ok(0),
        "number 0 unused"
    );
}

#[ink::test]
fn vault_of_eleven_admins_is_refused() {
    let mut tv = setup();
    let result = create_as(&mut tv, admin(1), admins(MAX_ADMINS + 1));
    assert_eq!(result, Err(Error::AdminCountOutOfRange));
    assert_eq!(tv.vault_info(0), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn vault_without_admins_is_refused() {
    let mut tv = setup();
    assert_eq!(
        create_as(&mut tv, admin(1), Vec::new()),
        Err(Error::AdminCountOutOfRange)
    );
}

#[ink::test]
fn vault_naming_an_admin_twice_is_refused() {
    // Given
    let mut tv = setup();
    // When
    let result = create_as(
        &mut tv,
        admin(1),
        vec![admin(1), admin(2), admin(3), admin(2)],
    );
    // Then
    assert_eq!(result, Err(Error::DuplicateAdmin));
    assert_eq!(tv.vault_info(0), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn vault_naming_a_revoked_wallet_is_refused() {
    // Given
    let mut tv = setup();
    fleet(|f| f.revoked.insert(admin(3)));
    // When
    let result = create_as(&mut tv, admin(1), admins(4));
    // Then
    assert_eq!(result, Err(Error::WalletRevoked));
    assert_eq!(tv.vault_info(0), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn vaults_are_numbered_from_zero_up() {
    // Given
    let mut tv = setup();
    // When
    let numbers = [
        create_as(&mut tv, admin(1), admins(3)),
        create_as(&mut tv, admin(1), vec![admin(4), admin(5), admin(6)]),
        create_as(&mut tv, admin(1), admins(5)),
    ];
    // Then
    assert_eq!(numbers, [Ok(0), Ok(1), Ok(2)]);
    assert_eq!(vault_admins(&tv, 1), vec![admin(4), admin(5), admin(6)]);
    assert!(!tv.is_admin(1, admin(1)));
    assert!(tv.is_admin(2, admin(5)));
    let created: Vec<VaultId> = emitted::<VaultCreated>().iter().map(|e| e.vault).collect();
    assert_eq!(created, vec![0, 1, 2]);
}

#[ink::test]
fn creator_need_not_be_an_admin() {
    // Given
    let mut tv = setup();
    // When
    let vault = create_as(&mut tv, stranger(), admins(3)).unwrap();
    // Then
    assert!(!tv.is_admin(vault, stranger()));
    assert_eq!(tv.last_active(vault, stranger()), None);
    assert_eq!(last::<VaultCreated>().creator, stranger());
}

#[ink::test]
fn vault_cannot_be_created_while_document_nft_is_not_configured() {
    // Given
    let mut tv = setup();
    fleet(|f| f.document_nft = None);
    // When / Then
    assert_eq!(
        create_as(&mut tv, admin(1), admins(3)),
        Err(Error::NotConfigured)
    );
    assert_eq!(tv.vault_info(0), None);
}

#[ink::test]
fn vault_cannot_be_created_while_governance_or_document_nft_is_unavailable() {
    // Given
    let mut tv = setup();
    fleet(|f| f.governance_available = false);
    // When / Then
    assert_eq!(
        create_as(&mut tv, admin(1), admins(3)),
        Err(Error::ContractUnavailable)
    );
    // Given
    fleet(|f| {
        f.governance_available = true;
        f.nft_available = false;
    });
    // When / Then
    assert_eq!(
        create_as(&mut tv, admin(1), admins(3)),
        Err(Error::ContractUnavailable)
    );
    assert_eq!(tv.vault_info(0), None);
    assert_eq!(event_count(), 0);
}

// --- propose -------------------------------------------------------------------------------

#[ink::test]
fn proposal_records_the_operation_and_counts_as_the_proposers_approval() {
    // Given
    let (mut tv, vault) = with_vault(5);
    wait(2 * HOUR);
    // When
    let id = propose_as(&mut tv, admin(2), vault, upload(1));
    // Then
    assert_eq!(id, Ok(0));
    assert_eq!(
        record(&tv, 0),
        VaultOperation {
            vault,
            operation: upload(1),
            proposer: admin(2),
            admins: admins(5),
            required: 3,
            approvals: 1,
            rejections: 0,
            proposed_at: START + 2 * HOUR,
            queued_at: None,
            veto: None,
            executed_at: None,
        }
    );
    assert_eq!(state(&tv, 0), OperationState::Voting);
    assert_eq!(tv.vote_of(0, admin(2)), Some(true));
    assert_eq!(tv.operation_count(), 1);
    assert_eq!(tv.last_active(vault, admin(2)), Some(START + 2 * HOUR));
    assert_eq!(tv.last_active(vault, admin(1)), Some(START));
    let event = last::<OperationProposed>();
    assert_eq!(
        (
            event.id,
            event.vault,
            event.proposer,
            event.operation,
            event.required
        ),
        (0, vault, admin(2), upload(1), 3)
    );
    assert!(emitted::<OperationQueued>().is_empty());
}

#[ink::test]
fn operation_ids_run_across_vaults() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let other = create_as(&mut tv, deployer(), vec![admin(4), admin(5), admin(6)]).unwrap();
    // When
    let ids = [
        propose_as(&mut tv, admin(1), vault, upload(1)),
        propose_as(&mut tv, admin(4), other, upload(2)),
        propose_as(&mut tv, admin(2), vault, delete(9)),
    ];
    // Then
    assert_eq!(ids, [Ok(0), Ok(1), Ok(2)]);
    assert_eq!(record(&tv, 1).vault, other);
    assert_eq!(tv.operation_count(), 3);
}

#[ink::test]
fn non_admin_proposal_is_refused_and_changes_nothing() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let events = event_count();
    // When
    let result = propose_as(&mut tv, stranger(), vault, upload(1));
    // Then
    assert_eq!(result, Err(Error::NotAdmin));
    assert_eq!(tv.operation_count(), 0);
    assert_eq!(tv.operation(0), None);
    assert_eq!(tv.vote_of(0, stranger()), None);
    assert_eq!(tv.last_active(vault, stranger()), None);
    assert_eq!(event_count(), events);
}

#[ink::test]
fn admin_of_another_vault_cannot_propose() {
    let (mut tv, vault) = with_vault(3);
    let other = create_as(&mut tv, deployer(), vec![admin(4), admin(5), admin(6)]).unwrap();
    assert_eq!(
        propose_as(&mut tv, admin(4), vault, upload(1)),
        Err(Error::NotAdmin)
    );
    assert_eq!(
        propose_as(&mut tv, admin(1), other, upload(1)),
        Err(Error::NotAdmin)
    );
}

#[ink::test]
fn proposal_to_a_missing_vault_is_refused() {
    let (mut tv, vault) = with_vault(3);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault + 1, upload(1)),
        Err(Error::VaultNotFound)
    );
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn share_with_an_empty_wrapped_key_is_invalid_and_changes_nothing() {
    // Given
    let (mut tv, vault) = with_vault(3);
    wait(HOUR);
    let events = event_count();
    let op = Operation::Share {
        token: 1,
        grantee: reader(),
        wrapped_key: Vec::new(),
    };
    // When
    let result = propose_as(&mut tv, admin(1), vault, op);
    // Then
    assert_eq!(result, Err(Error::InvalidOperation));
    assert_eq!(tv.operation_count(), 0);
    assert_eq!(tv.last_active(vault, admin(1)), Some(START), "not touched");
    assert_eq!(event_count(), events);
}

#[ink::test]
fn adding_an_existing_admin_is_refused() {
    let (mut tv, vault) = with_vault(4);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(admin(3))),
        Err(Error::AlreadyAdmin)
    );
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn eleventh_admin_is_refused() {
    // Given
    let (mut tv, vault) = with_vault(MAX_ADMINS);
    // When
    let result = propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(newcomer(1)));
    // Then
    assert_eq!(result, Err(Error::AdminCountOutOfRange));
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn adding_a_revoked_wallet_is_refused() {
    let (mut tv, vault) = with_vault(4);
    fleet(|f| f.revoked.insert(newcomer(1)));
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(newcomer(1))),
        Err(Error::WalletRevoked)
    );
}

#[ink::test]
fn adding_an_admin_while_document_nft_is_unreachable_is_refused() {
    let (mut tv, vault) = with_vault(4);
    fleet(|f| f.nft_available = false);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(newcomer(1))),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.nft_available = true;
        f.document_nft = None;
    });
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(newcomer(1))),
        Err(Error::NotConfigured)
    );
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn removing_an_admin_from_a_vault_of_three_is_refused() {
    let (mut tv, vault) = with_vault(MIN_ADMINS);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::RemoveAdmin(admin(3))),
        Err(Error::AdminCountOutOfRange)
    );
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn removing_a_non_admin_is_invalid() {
    let (mut tv, vault) = with_vault(5);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, Operation::RemoveAdmin(stranger())),
        Err(Error::InvalidOperation)
    );
}

#[ink::test]
fn ownership_transfer_to_two_or_eleven_admins_is_refused() {
    let (mut tv, vault) = with_vault(4);
    let two = Operation::TransferOwnership(vec![newcomer(1), newcomer(2)]);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, two),
        Err(Error::AdminCountOutOfRange)
    );
    let eleven = Operation::TransferOwnership((1..=11).map(newcomer).collect());
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, eleven),
        Err(Error::AdminCountOutOfRange)
    );
    assert_eq!(tv.operation_count(), 0);
}

#[ink::test]
fn ownership_transfer_to_a_set_with_duplicates_is_refused() {
    let (mut tv, vault) = with_vault(4);
    let op = Operation::TransferOwnership(vec![newcomer(1), newcomer(2), newcomer(1)]);
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, op),
        Err(Error::DuplicateAdmin)
    );
}

#[ink::test]
fn ownership_transfer_to_a_revoked_wallet_is_refused() {
    let (mut tv, vault) = with_vault(4);
    fleet(|f| f.revoked.insert(newcomer(2)));
    let op = Operation::TransferOwnership((1..=3).map(newcomer).collect());
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, op),
        Err(Error::WalletRevoked)
    );
}

#[ink::test]
fn required_approvals_follow_each_threshold_for_every_vault_size() {
    // (admins, majority, three quarters, unanimous), worked out by hand.
    let table = [
        (3, 2, 3, 3),
        (4, 3, 3, 4),
        (5, 3, 4, 5),
        (6, 4, 5, 6),
        (7, 4, 6, 7),
        (8, 5, 6, 8),
        (9, 5, 7, 9),
        (10, 6, 8, 10),
    ];
    for (n, majority, three_quarters, unanimous) in table {
        // Given
        let (mut tv, vault) = with_vault(n);
        let admin_change = if n < MAX_ADMINS {
            Operation::AddAdmin(newcomer(1))
        } else {
            Operation::RemoveAdmin(admin(n))
        };
        // When
        let ids = [
            propose_as(&mut tv, admin(1), vault, upload(1)).unwrap(),
            propose_as(&mut tv, admin(1), vault, admin_change).unwrap(),
            propose_as(
                &mut tv,
                admin(1),
                vault,
                Operation::TransferOwnership(admins(3)),
            )
            .unwrap(),
        ];
        // Then
        let required: Vec<u8> = ids.iter().map(|id| record(&tv, *id).required).collect();
        assert_eq!(
            required,
            vec![majority, three_quarters, unanimous],
            "{n} admins"
        );
    }
}

#[ink::test]
fn required_approvals_count_the_admins_at_proposal_time() {
    // Given a vault of 4 admins with an ownership transfer proposed (4 approvals needed)
    let (mut tv, vault) = with_vault(4);
    let transfer = propose_as(
        &mut tv,
        admin(2),
        vault,
        Operation::TransferOwnership(admins(3)),
    )
    .unwrap();
    // When a fifth admin joins
    let add = ready(&mut tv, vault, Operation::AddAdmin(admin(5)), 3);
    execute_as(&mut tv, stranger(), add).unwrap();
    assert_eq!(vault_admins(&tv, vault), admins(5));
    // Then the earlier proposal still counts against the four, a new one against the five
    assert_eq!(record(&tv, transfer).required, 4);
    assert_eq!(record(&tv, transfer).admins, admins(4));
    let later = propose_as(
        &mut tv,
        admin(2),
        vault,
        Operation::TransferOwnership(admins(3)),
    )
    .unwrap();
    assert_eq!(record(&tv, later).required, 5);
    assert_eq!(record(&tv, later).admins, admins(5));
    approve(&mut tv, transfer, 1, 1);
    approve(&mut tv, transfer, 3, 4);
    assert_eq!(state(&tv, transfer), OperationState::Pending);
}

// --- vote ----------------------------------------------------------------------------------

#[ink::test]
fn upload_in_a_vault_of_five_is_queued_at_the_third_approval() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    wait(HOUR);
    vote_as(&mut tv, admin(2), id, true).unwrap();
    assert_eq!(state(&tv, id), OperationState::Voting);
    assert!(emitted::<OperationQueued>().is_empty());
    // When
    wait(HOUR);
    let result = vote_as(&mut tv, admin(3), id, true);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(record(&tv, id).approvals, 3);
    assert_eq!(record(&tv, id).queued_at, Some(now()));
    let queued = last::<OperationQueued>();
    assert_eq!(
        (queued.id, queued.vault, queued.eta),
        (id, vault, now() + 72 * HOUR)
    );
    assert_eq!(emitted::<OperationQueued>().len(), 1);
    let voted = last::<OperationVoted>();
    assert_eq!(
        (
            voted.id,
            voted.admin,
            voted.approve,
            voted.approvals,
            voted.rejections
        ),
        (id, admin(3), true, 3, 0)
    );
    assert_eq!(tv.vote_of(id, admin(3)), Some(true));
    assert_eq!(tv.last_active(vault, admin(3)), Some(now()));
}

#[ink::test]
fn admin_addition_in_a_vault_of_five_is_queued_at_the_fourth_approval() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, Operation::AddAdmin(newcomer(1))).unwrap();
    approve(&mut tv, id, 2, 3);
    assert_eq!(state(&tv, id), OperationState::Voting);
    // When
    vote_as(&mut tv, admin(4), id, true).unwrap();
    // Then
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(last::<OperationQueued>().eta, START + TIMELOCK);
}

#[ink::test]
fn admin_removal_in_a_vault_of_five_is_queued_at_the_fourth_approval() {
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, Operation::RemoveAdmin(admin(5))).unwrap();
    approve(&mut tv, id, 2, 3);
    assert_eq!(state(&tv, id), OperationState::Voting);
    vote_as(&mut tv, admin(4), id, true).unwrap();
    assert_eq!(state(&tv, id), OperationState::Pending);
}

#[ink::test]
fn ownership_transfer_in_a_vault_of_five_is_queued_only_at_the_fifth_approval() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let op = Operation::TransferOwnership((1..=3).map(newcomer).collect());
    let id = propose_as(&mut tv, admin(1), vault, op).unwrap();
    approve(&mut tv, id, 2, 4);
    assert_eq!(state(&tv, id), OperationState::Voting);
    // When
    vote_as(&mut tv, admin(5), id, true).unwrap();
    // Then
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(record(&tv, id).approvals, 5);
}

#[ink::test]
fn voting_twice_is_refused() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    vote_as(&mut tv, admin(2), id, false).unwrap();
    let before = record(&tv, id);
    let events = event_count();
    // When / Then
    assert_eq!(
        vote_as(&mut tv, admin(2), id, true),
        Err(Error::AlreadyVoted)
    );
    assert_eq!(
        vote_as(&mut tv, admin(1), id, true),
        Err(Error::AlreadyVoted)
    );
    assert_eq!(record(&tv, id), before);
    assert_eq!(tv.vote_of(id, admin(2)), Some(false));
    assert_eq!(event_count(), events);
}

#[ink::test]
fn voting_on_a_queued_operation_is_closed() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = queued(&mut tv, vault, upload(1), 3);
    // When / Then
    assert_eq!(
        vote_as(&mut tv, admin(4), id, true),
        Err(Error::VotingClosed)
    );
    assert_eq!(
        vote_as(&mut tv, admin(5), id, false),
        Err(Error::VotingClosed)
    );
    assert_eq!(record(&tv, id).approvals, 3);
    assert_eq!(tv.vote_of(id, admin(4)), None);
    wait(TIMELOCK);
    assert_eq!(
        vote_as(&mut tv, admin(4), id, true),
        Err(Error::VotingClosed)
    );
}

#[ink::test]
fn rejection_is_recorded_and_announced() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    // When
    vote_as(&mut tv, admin(2), id, false).unwrap();
    // Then
    assert_eq!(record(&tv, id).rejections, 1);
    assert_eq!(record(&tv, id).approvals, 1);
    assert_eq!(tv.vote_of(id, admin(2)), Some(false));
    let voted = last::<OperationVoted>();
    assert_eq!(
        (voted.approve, voted.approvals, voted.rejections),
        (false, 1, 1)
    );
    assert_eq!(state(&tv, id), OperationState::Voting);
}

#[ink::test]
fn admin_added_after_the_proposal_cannot_vote_on_it() {
    // Given
    let (mut tv, vault) = with_vault(4);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    let add = ready(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    execute_as(&mut tv, stranger(), add).unwrap();
    assert!(tv.is_admin(vault, newcomer(1)));
    // When
    let result = vote_as(&mut tv, newcomer(1), id, true);
    // Then
    assert_eq!(result, Err(Error::NotAdmin));
    assert_eq!(record(&tv, id).approvals, 1);
    assert_eq!(tv.vote_of(id, newcomer(1)), None);
}

#[ink::test]
fn removed_admin_cannot_vote() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    let remove = ready(&mut tv, vault, Operation::RemoveAdmin(admin(5)), 4);
    execute_as(&mut tv, stranger(), remove).unwrap();
    // When
    let result = vote_as(&mut tv, admin(5), id, true);
    // Then
    assert_eq!(result, Err(Error::NotAdmin));
    assert_eq!(tv.vote_of(id, admin(5)), None);
}

#[ink::test]
fn stranger_cannot_vote_and_missing_operation_is_not_found() {
    let (mut tv, vault) = with_vault(3);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    assert_eq!(vote_as(&mut tv, stranger(), id, true), Err(Error::NotAdmin));
    assert_eq!(
        vote_as(&mut tv, admin(2), id + 1, true),
        Err(Error::OperationNotFound)
    );
}

#[ink::test]
fn rejections_that_make_the_threshold_unreachable_defeat_the_operation() {
    // Given an upload in a vault of five (3 approvals needed)
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    vote_as(&mut tv, admin(2), id, false).unwrap();
    vote_as(&mut tv, admin(3), id, false).unwrap();
    assert_eq!(
        state(&tv, id),
        OperationState::Voting,
        "3 may still approve"
    );
    // When
    vote_as(&mut tv, admin(4), id, false).unwrap();
    // Then
    assert_eq!(state(&tv, id), OperationState::Defeated);
    assert_eq!(
        vote_as(&mut tv, admin(5), id, true),
        Err(Error::VotingClosed)
    );
    wait(TIMELOCK);
    assert_eq!(state(&tv, id), OperationState::Defeated);
    assert_eq!(execute_as(&mut tv, stranger(), id), Err(Error::NotReady));
    assert_eq!(
        veto_as(&mut tv, admin(5), id, "no"),
        Err(Error::NotVetoable)
    );
}

#[ink::test]
fn a_single_rejection_defeats_an_ownership_transfer() {
    let (mut tv, vault) = with_vault(3);
    let op = Operation::TransferOwnership((1..=3).map(newcomer).collect());
    let id = propose_as(&mut tv, admin(1), vault, op).unwrap();
    vote_as(&mut tv, admin(2), id, false).unwrap();
    assert_eq!(state(&tv, id), OperationState::Defeated);
    assert_eq!(
        vote_as(&mut tv, admin(3), id, true),
        Err(Error::VotingClosed)
    );
}

// --- timelock and execute ------------------------------------------------------------------

#[ink::test]
fn execution_waits_for_the_full_timelock() {
    // Given
    let (mut tv, vault) = with_vault(3);
    stage(vault, sha(1));
    let id = queued(&mut tv, vault, upload(1), 2);
    let queued_at = now();
    // When: one millisecond early
    set_time(queued_at + 72 * HOUR - 1);
    // Then
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(execute_as(&mut tv, stranger(), id), Err(Error::NotReady));
    assert!(document_calls().is_empty());
    // When: exactly at the end of the timelock
    set_time(queued_at + 72 * HOUR);
    // Then
    assert_eq!(state(&tv, id), OperationState::Ready);
    assert_eq!(execute_as(&mut tv, stranger(), id), Ok(()));
    assert_eq!(state(&tv, id), OperationState::Executed);
    assert_eq!(record(&tv, id).executed_at, Some(queued_at + 72 * HOUR));
}

#[ink::test]
fn operation_in_voting_cannot_be_executed() {
    let (mut tv, vault) = with_vault(3);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    wait(TIMELOCK * 2);
    assert_eq!(execute_as(&mut tv, admin(1), id), Err(Error::NotReady));
    assert_eq!(
        execute_as(&mut tv, admin(1), id + 1),
        Err(Error::OperationNotFound)
    );
}

#[ink::test]
fn stranger_executes_an_upload_which_mints_the_staged_document() {
    // Given
    let (mut tv, vault) = with_vault(5);
    stage(vault, sha(1));
    let id = ready(&mut tv, vault, upload(1), 3);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        document_calls(),
        vec![DocumentCall::MintStaged {
            vault,
            sha256: sha(1),
            class: DocumentClass::Financial,
            retention: RetentionOption::Extended,
            arweave: true,
        }]
    );
    let executed = last::<OperationExecuted>();
    assert_eq!(
        (
            executed.id,
            executed.vault,
            executed.executor,
            executed.token
        ),
        (id, vault, stranger(), Some(1))
    );
    assert_eq!(state(&tv, id), OperationState::Executed);
    assert_eq!(vault_admins(&tv, vault), admins(5), "admins unchanged");
    assert!(emitted::<AdminsChanged>().is_empty());
    assert_eq!(tv.last_active(vault, stranger()), None);
}

#[ink::test]
fn second_upload_gets_the_next_token() {
    let (mut tv, vault) = with_vault(3);
    stage(vault, sha(1));
    stage(vault, sha(2));
    let first = queued(&mut tv, vault, upload(1), 2);
    let second = queued(&mut tv, vault, upload(2), 2);
    wait(TIMELOCK);
    execute_as(&mut tv, stranger(), second).unwrap();
    execute_as(&mut tv, stranger(), first).unwrap();
    let tokens: Vec<_> = emitted::<OperationExecuted>()
        .iter()
        .map(|e| (e.id, e.token))
        .collect();
    assert_eq!(tokens, vec![(second, Some(1)), (first, Some(2))]);
}

#[ink::test]
fn refused_upload_stays_ready_and_executes_once_staged() {
    // Given an upload whose ciphertext is not staged
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, upload(1), 2);
    wait(HOUR);
    let before = record(&tv, id);
    let events = event_count();
    // When
    let result = execute_as(&mut tv, admin(3), id);
    // Then
    assert_eq!(result, Err(Error::DocumentRefused));
    assert_eq!(state(&tv, id), OperationState::Ready);
    assert_eq!(record(&tv, id), before);
    assert_eq!(event_count(), events);
    assert_eq!(tv.last_active(vault, admin(3)), Some(START), "not touched");
    // When it is staged later
    stage(vault, sha(1));
    wait(DAY);
    // Then it executes
    assert_eq!(execute_as(&mut tv, admin(3), id), Ok(()));
    assert_eq!(last::<OperationExecuted>().token, Some(1));
    assert_eq!(document_calls().len(), 2);
}

#[ink::test]
fn upload_staged_for_another_vault_is_refused() {
    let (mut tv, vault) = with_vault(3);
    stage(vault + 1, sha(1));
    let id = ready(&mut tv, vault, upload(1), 2);
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::DocumentRefused)
    );
    assert_eq!(state(&tv, id), OperationState::Ready);
}

#[ink::test]
fn execution_while_document_nft_is_unconfigured_or_unavailable_fails_and_stays_ready() {
    // Given
    let (mut tv, vault) = with_vault(3);
    stage(vault, sha(1));
    let id = ready(&mut tv, vault, upload(1), 2);
    // When / Then
    fleet(|f| f.document_nft = None);
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::NotConfigured)
    );
    fleet(|f| {
        f.document_nft = Some(nft_address());
        f.nft_available = false;
    });
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::ContractUnavailable)
    );
    fleet(|f| {
        f.nft_available = true;
        f.governance_available = false;
    });
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::ContractUnavailable)
    );
    assert_eq!(state(&tv, id), OperationState::Ready);
    assert!(emitted::<OperationExecuted>().is_empty());
    // When both come back
    fleet(|f| f.governance_available = true);
    // Then
    assert_eq!(execute_as(&mut tv, stranger(), id), Ok(()));
}

#[ink::test]
fn share_executes_through_document_nft() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, share(4), 2);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        document_calls(),
        vec![DocumentCall::Share {
            token: 4,
            grantee: reader(),
            wrapped_key: vec![7; 48],
        }]
    );
    assert_eq!(last::<OperationExecuted>().token, None);
    assert_eq!(state(&tv, id), OperationState::Executed);
}

#[ink::test]
fn refused_share_stays_ready() {
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.share_refusal = Some(DocumentError::NoEncryptionKey));
    let id = ready(&mut tv, vault, share(4), 2);
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::DocumentRefused)
    );
    assert_eq!(state(&tv, id), OperationState::Ready);
    fleet(|f| f.share_refusal = None);
    assert_eq!(execute_as(&mut tv, stranger(), id), Ok(()));
}

#[ink::test]
fn delete_executes_through_document_nft() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, delete(6), 2);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        document_calls(),
        vec![DocumentCall::RequestDeletion { token: 6 }]
    );
    assert_eq!(last::<OperationExecuted>().token, None);
}

#[ink::test]
fn refused_deletion_stays_ready() {
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.deletion_refusal = Some(DocumentError::RegulatoryMinimum));
    let id = ready(&mut tv, vault, delete(6), 2);
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::DocumentRefused)
    );
    assert_eq!(state(&tv, id), OperationState::Ready);
}

#[ink::test]
fn executed_admin_addition_adds_the_admin_who_counts_as_active_at_once() {
    // Given
    let (mut tv, vault) = with_vault(4);
    let id = ready(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    let mut expected = admins(4);
    expected.push(newcomer(1));
    assert_eq!(vault_admins(&tv, vault), expected);
    assert!(tv.is_admin(vault, newcomer(1)));
    assert_eq!(tv.last_active(vault, newcomer(1)), Some(now()));
    let changed = last::<AdminsChanged>();
    assert_eq!(
        (changed.vault, changed.old, changed.new),
        (vault, admins(4), expected)
    );
    assert_eq!(last::<OperationExecuted>().token, None);
    assert!(document_calls().is_empty());
}

#[ink::test]
fn executed_admin_removal_removes_the_admin() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = ready(&mut tv, vault, Operation::RemoveAdmin(admin(2)), 4);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    let expected = vec![admin(1), admin(3), admin(4), admin(5)];
    assert_eq!(vault_admins(&tv, vault), expected);
    assert!(!tv.is_admin(vault, admin(2)));
    let changed = last::<AdminsChanged>();
    assert_eq!((changed.old, changed.new), (admins(5), expected));
}

#[ink::test]
fn executed_ownership_transfer_hands_the_vault_to_the_new_admins() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let new: Vec<AccountId> = (1..=4).map(newcomer).collect();
    let id = ready(&mut tv, vault, Operation::TransferOwnership(new.clone()), 3);
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(vault_admins(&tv, vault), new);
    for a in admins(3) {
        assert!(!tv.is_admin(vault, a));
    }
    for a in &new {
        assert_eq!(tv.last_active(vault, *a), Some(now()));
    }
    let changed = last::<AdminsChanged>();
    assert_eq!((changed.old, changed.new), (admins(3), new));
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, upload(1)),
        Err(Error::NotAdmin)
    );
    assert!(propose_as(&mut tv, newcomer(1), vault, upload(1)).is_ok());
}

#[ink::test]
fn executing_twice_is_not_ready() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, delete(1), 2);
    execute_as(&mut tv, stranger(), id).unwrap();
    let events = event_count();
    // When
    let result = execute_as(&mut tv, stranger(), id);
    // Then
    assert_eq!(result, Err(Error::NotReady));
    assert_eq!(document_calls().len(), 1);
    assert_eq!(event_count(), events);
}

#[ink::test]
fn admin_addition_that_no_longer_fits_fails_at_execution_and_stays_ready() {
    // Given two additions proposed in a vault of nine (7 approvals each)
    let (mut tv, vault) = with_vault(9);
    let first = queued(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 7);
    let second = queued(&mut tv, vault, Operation::AddAdmin(newcomer(2)), 7);
    wait(TIMELOCK);
    execute_as(&mut tv, stranger(), first).unwrap();
    assert_eq!(vault_admins(&tv, vault).len(), MAX_ADMINS);
    let events = event_count();
    // When
    let result = execute_as(&mut tv, stranger(), second);
    // Then
    assert_eq!(result, Err(Error::AdminCountOutOfRange));
    assert_eq!(state(&tv, second), OperationState::Ready);
    assert_eq!(vault_admins(&tv, vault).len(), MAX_ADMINS);
    assert!(!tv.is_admin(vault, newcomer(2)));
    assert_eq!(event_count(), events);
}

#[ink::test]
fn admin_changes_made_stale_by_an_earlier_execution_fail() {
    // Given a vault of four with the same addition twice and two removals queued
    let (mut tv, vault) = with_vault(4);
    let add = queued(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    let add_again = queued(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    let remove = queued(&mut tv, vault, Operation::RemoveAdmin(admin(4)), 3);
    let remove_again = queued(&mut tv, vault, Operation::RemoveAdmin(admin(4)), 3);
    let remove_other = queued(&mut tv, vault, Operation::RemoveAdmin(admin(3)), 3);
    wait(TIMELOCK);
    // When / Then
    execute_as(&mut tv, stranger(), add).unwrap();
    assert_eq!(
        execute_as(&mut tv, stranger(), add_again),
        Err(Error::AlreadyAdmin)
    );
    execute_as(&mut tv, stranger(), remove).unwrap();
    assert_eq!(
        execute_as(&mut tv, stranger(), remove_again),
        Err(Error::InvalidOperation)
    );
    execute_as(&mut tv, stranger(), remove_other).unwrap();
    assert_eq!(
        vault_admins(&tv, vault),
        vec![admin(1), admin(2), newcomer(1)]
    );
    for id in [add_again, remove_again] {
        assert_eq!(state(&tv, id), OperationState::Ready);
    }
}

#[ink::test]
fn removal_that_would_leave_two_admins_fails_at_execution() {
    let (mut tv, vault) = with_vault(4);
    let first = queued(&mut tv, vault, Operation::RemoveAdmin(admin(4)), 3);
    let second = queued(&mut tv, vault, Operation::RemoveAdmin(admin(3)), 3);
    wait(TIMELOCK);
    execute_as(&mut tv, stranger(), first).unwrap();
    assert_eq!(
        execute_as(&mut tv, stranger(), second),
        Err(Error::AdminCountOutOfRange)
    );
    assert_eq!(vault_admins(&tv, vault), admins(3));
}

#[ink::test]
fn admin_addition_of_a_wallet_revoked_meanwhile_fails_at_execution() {
    let (mut tv, vault) = with_vault(4);
    let id = ready(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    fleet(|f| f.revoked.insert(newcomer(1)));
    assert_eq!(
        execute_as(&mut tv, stranger(), id),
        Err(Error::WalletRevoked)
    );
    assert_eq!(state(&tv, id), OperationState::Ready);
    assert!(!tv.is_admin(vault, newcomer(1)));
}

#[ink::test]
fn newly_added_admin_counts_towards_the_activity_quorum() {
    // Given a vault of four whose admins last acted when adding a fifth
    let (mut tv, vault) = with_vault(4);
    let id = ready(&mut tv, vault, Operation::AddAdmin(newcomer(1)), 3);
    let last_vote = START;
    execute_as(&mut tv, stranger(), id).unwrap();
    let admitted = now();
    // When the four are inactive but the newcomer is not
    set_time(last_vote + ACTIVITY_WINDOW + 1);
    assert!(admitted + ACTIVITY_WINDOW >= now());
    assert_eq!(tv.is_read_only(vault), Some(true));
    check_in_as(&mut tv, admin(1), vault).unwrap();
    assert_eq!(tv.is_read_only(vault), Some(true), "two active");
    check_in_as(&mut tv, admin(2), vault).unwrap();
    // Then the newcomer makes the third
    assert_eq!(tv.is_read_only(vault), Some(false));
    assert!(propose_as(&mut tv, admin(4), vault, upload(1)).is_ok());
}

#[ink::test]
fn executing_admin_activity_is_recorded() {
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, delete(1), 2);
    execute_as(&mut tv, admin(3), id).unwrap();
    assert_eq!(tv.last_active(vault, admin(3)), Some(now()));
    assert_eq!(last::<OperationExecuted>().executor, admin(3));
}

#[ink::test]
fn admin_executing_its_own_removal_is_not_recorded_as_active() {
    let (mut tv, vault) = with_vault(4);
    let id = ready(&mut tv, vault, Operation::RemoveAdmin(admin(4)), 3);
    execute_as(&mut tv, admin(4), id).unwrap();
    assert_eq!(tv.last_active(vault, admin(4)), Some(START));
    assert!(!tv.is_admin(vault, admin(4)));
}

// --- veto ----------------------------------------------------------------------------------

#[ink::test]
fn non_admin_cannot_veto() {
    let (mut tv, vault) = with_vault(3);
    let id = queued(&mut tv, vault, upload(1), 2);
    assert_eq!(veto_as(&mut tv, stranger(), id, "no"), Err(Error::NotAdmin));
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(
        veto_as(&mut tv, admin(1), id + 1, "no"),
        Err(Error::OperationNotFound)
    );
}

#[ink::test]
fn operation_in_voting_cannot_be_vetoed() {
    let (mut tv, vault) = with_vault(5);
    let id = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    assert_eq!(
        veto_as(&mut tv, admin(2), id, "no"),
        Err(Error::NotVetoable)
    );
    assert_eq!(record(&tv, id).veto, None);
}

#[ink::test]
fn pending_operation_is_vetoed_at_hour_71_with_its_reason_stored() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = queued(&mut tv, vault, upload(1), 3);
    set_time(START + 71 * HOUR);
    assert_eq!(state(&tv, id), OperationState::Pending);
    // When
    let result = veto_as(&mut tv, admin(5), id, "wrong file");
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        record(&tv, id).veto,
        Some(Veto {
            by: admin(5),
            reason: "wrong file".into(),
            at: START + 71 * HOUR,
        })
    );
    assert_eq!(state(&tv, id), OperationState::Vetoed);
    let event = last::<OperationVetoed>();
    assert_eq!(
        (event.id, event.vault, event.admin, event.reason),
        (id, vault, admin(5), "wrong file".to_string())
    );
    assert_eq!(tv.last_active(vault, admin(5)), Some(START + 71 * HOUR));
}

#[ink::test]
fn ready_operation_is_vetoed_before_execution() {
    let (mut tv, vault) = with_vault(3);
    stage(vault, sha(1));
    let id = ready(&mut tv, vault, upload(1), 2);
    wait(5 * DAY);
    assert_eq!(veto_as(&mut tv, admin(1), id, "changed my mind"), Ok(()));
    assert_eq!(state(&tv, id), OperationState::Vetoed);
    assert_eq!(execute_as(&mut tv, stranger(), id), Err(Error::NotReady));
    assert!(document_calls().is_empty());
}

#[ink::test]
fn executed_operation_cannot_be_vetoed() {
    let (mut tv, vault) = with_vault(3);
    let id = ready(&mut tv, vault, delete(1), 2);
    execute_as(&mut tv, stranger(), id).unwrap();
    assert_eq!(
        veto_as(&mut tv, admin(2), id, "late"),
        Err(Error::NotVetoable)
    );
    assert_eq!(record(&tv, id).veto, None);
}

#[ink::test]
fn veto_reason_must_have_one_to_256_bytes() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let id = queued(&mut tv, vault, upload(1), 2);
    let events = event_count();
    // When / Then
    assert_eq!(
        veto_as(&mut tv, admin(3), id, ""),
        Err(Error::InvalidReason)
    );
    assert_eq!(
        veto_as(&mut tv, admin(3), id, &reason(MAX_VETO_REASON_LEN + 1)),
        Err(Error::InvalidReason)
    );
    // 129 two-byte characters are 258 bytes
    assert_eq!(
        veto_as(&mut tv, admin(3), id, &"é".repeat(129)),
        Err(Error::InvalidReason)
    );
    assert_eq!(state(&tv, id), OperationState::Pending);
    assert_eq!(event_count(), events);
    assert_eq!(
        veto_as(&mut tv, admin(3), id, &reason(MAX_VETO_REASON_LEN)),
        Ok(())
    );
    assert_eq!(record(&tv, id).veto.map(|v| v.reason.len()), Some(256));
}

#[ink::test]
fn reason_of_128_two_byte_characters_fits() {
    let (mut tv, vault) = with_vault(3);
    let id = queued(&mut tv, vault, upload(1), 2);
    assert_eq!(veto_as(&mut tv, admin(3), id, &"é".repeat(128)), Ok(()));
}

#[ink::test]
fn ownership_transfer_cannot_be_vetoed() {
    // Given
    let (mut tv, vault) = with_vault(3);
    let op = Operation::TransferOwnership((1..=3).map(newcomer).collect());
    let id = queued(&mut tv, vault, op, 3);
    // When / Then
    assert_eq!(
        veto_as(&mut tv, admin(2), id, "no"),
        Err(Error::VetoNotAllowed)
    );
    wait(TIMELOCK);
    assert_eq!(
        veto_as(&mut tv, admin(2), id, "no"),
        Err(Error::VetoNotAllowed)
    );
    assert_eq!(execute_as(&mut tv, stranger(), id), Ok(()));
}

#[ink::test]
fn vetoed_operation_can_neither_execute_nor_take_votes_nor_be_vetoed_again() {
    // Given
    let (mut tv, vault) = with_vault(5);
    stage(vault, sha(1));
    let id = queued(&mut tv, vault, upload(1), 3);
    veto_as(&mut tv, admin(4), id, "no").unwrap();
    // When the timelock would have run out
    wait(TIMELOCK);
    // Then
    assert_eq!(state(&tv, id), OperationState::Vetoed);
    assert_eq!(execute_as(&mut tv, stranger(), id), Err(Error::NotReady));
    assert_eq!(
        vote_as(&mut tv, admin(5), id, true),
        Err(Error::VotingClosed)
    );
    assert_eq!(
        veto_as(&mut tv, admin(5), id, "also no"),
        Err(Error::NotVetoable)
    );
    assert_eq!(record(&tv, id).veto.map(|v| v.by), Some(admin(4)));
    assert!(document_calls().is_empty());
}

#[ink::test]
fn resubmission_after_a_veto_is_a_new_operation_needing_fresh_votes() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let vetoed = queued(&mut tv, vault, upload(1), 3);
    veto_as(&mut tv, admin(4), vetoed, "no").unwrap();
    // When
    let again = propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    // Then
    assert_ne!(again, vetoed);
    let op = record(&tv, again);
    assert_eq!((op.approvals, op.rejections, op.queued_at), (1, 0, None));
    assert_eq!(state(&tv, again), OperationState::Voting);
    assert_eq!(tv.vote_of(again, admin(2)), None);
    assert_eq!(tv.vote_of(again, admin(3)), None);
    approve(&mut tv, again, 2, 3);
    assert_eq!(state(&tv, again), OperationState::Pending);
    assert_eq!(state(&tv, vetoed), OperationState::Vetoed);
}

#[ink::test]
fn veto_of_one_operation_never_changes_another() {
    // Given two pending operations of the same vault
    let (mut tv, vault) = with_vault(3);
    let vetoed = queued(&mut tv, vault, delete(1), 2);
    let other = queued(&mut tv, vault, delete(2), 2);
    let before = record(&tv, other);
    // When
    veto_as(&mut tv, admin(3), vetoed, "no").unwrap();
    // Then
    assert_eq!(record(&tv, other), before);
    assert_eq!(state(&tv, other), OperationState::Pending);
    wait(TIMELOCK);
    assert_eq!(execute_as(&mut tv, stranger(), other), Ok(()));
    assert_eq!(
        document_calls(),
        vec![DocumentCall::RequestDeletion { token: 2 }]
    );
}

#[ink::test]
fn removed_admin_cannot_veto() {
    let (mut tv, vault) = with_vault(4);
    let remove = ready(&mut tv, vault, Operation::RemoveAdmin(admin(4)), 3);
    let id = queued(&mut tv, vault, delete(1), 3);
    execute_as(&mut tv, stranger(), remove).unwrap();
    assert_eq!(veto_as(&mut tv, admin(4), id, "no"), Err(Error::NotAdmin));
}

// --- liveness ------------------------------------------------------------------------------

#[ink::test]
fn vault_turns_read_only_90_days_and_1_ms_after_the_last_activity() {
    // Given
    let (mut tv, vault) = with_vault(3);
    // When / Then
    set_time(START + ACTIVITY_WINDOW);
    assert_eq!(tv.is_read_only(vault), Some(false));
    set_time(START + 90 * DAY + 1);
    assert_eq!(tv.is_read_only(vault), Some(true));
    let events = event_count();
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, upload(1)),
        Err(Error::ReadOnly)
    );
    assert_eq!(tv.operation_count(), 0);
    assert_eq!(tv.last_active(vault, admin(1)), Some(START));
    assert_eq!(event_count(), events);
}

#[ink::test]
fn proposal_at_exactly_90_days_is_accepted() {
    let (mut tv, vault) = with_vault(3);
    set_time(START + ACTIVITY_WINDOW);
    assert!(propose_as(&mut tv, admin(1), vault, upload(1)).is_ok());
}

#[ink::test]
fn check_in_is_allowed_in_read_only_mode() {
    // Given
    let (mut tv, vault) = with_vault(3);
    set_time(START + ACTIVITY_WINDOW + 1);
    // When
    let result = check_in_as(&mut tv, admin(2), vault);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(tv.last_active(vault, admin(2)), Some(now()));
    let event = last::<AdminCheckedIn>();
    assert_eq!((event.vault, event.admin), (vault, admin(2)));
}

#[ink::test]
fn two_check_ins_let_a_third_admin_propose() {
    // Given a read-only vault of four
    let (mut tv, vault) = with_vault(4);
    set_time(START + ACTIVITY_WINDOW + 1);
    // When
    check_in_as(&mut tv, admin(1), vault).unwrap();
    check_in_as(&mut tv, admin(2), vault).unwrap();
    assert_eq!(tv.is_read_only(vault), Some(true), "two of three");
    // Then the third admin's own proposal makes the quorum
    let id = propose_as(&mut tv, admin(3), vault, upload(1));
    assert_eq!(id, Ok(0));
    assert_eq!(tv.is_read_only(vault), Some(false));
}

#[ink::test]
fn one_check_in_is_not_enough_for_another_admins_proposal() {
    let (mut tv, vault) = with_vault(4);
    set_time(START + ACTIVITY_WINDOW + 1);
    check_in_as(&mut tv, admin(1), vault).unwrap();
    assert_eq!(
        propose_as(&mut tv, admin(2), vault, upload(1)),
        Err(Error::ReadOnly)
    );
    assert_eq!(
        propose_as(&mut tv, admin(1), vault, upload(1)),
        Err(Error::ReadOnly)
    );
    assert_eq!(tv.last_active(vault, admin(2)), Some(START));
}

#[ink::test]
fn votes_vetoes_and_executions_go_on_in_read_only_mode() {
    // Given operations queued or voting when the vault turns read-only
    let (mut tv, vault) = with_vault(5);
    stage(vault, sha(1));
    let to_execute = queued(&mut tv, vault, upload(1), 3);
    let to_vote = propose_as(&mut tv, admin(1), vault, upload(2)).unwrap();
    let to_veto = queued(&mut tv, vault, delete(3), 3);
    set_time(START + ACTIVITY_WINDOW + 1);
    assert_eq!(tv.is_read_only(vault), Some(true));
    // When / Then
    assert_eq!(vote_as(&mut tv, admin(4), to_vote, true), Ok(()));
    assert_eq!(veto_as(&mut tv, admin(5), to_veto, "no"), Ok(()));
    assert_eq!(execute_as(&mut tv, stranger(), to_execute), Ok(()));
    assert_eq!(state(&tv, to_execute), OperationState::Executed);
    assert_eq!(tv.is_read_only(vault), Some(true), "two active");
}

#[ink::test]
fn every_signed_vault_action_updates_last_active() {
    // Given
    let (mut tv, vault) = with_vault(5);
    let id = queued(&mut tv, vault, delete(1), 3);
    let other = queued(&mut tv, vault, delete(2), 3);
    // When / Then
    wait(HOUR);
    propose_as(&mut tv, admin(1), vault, upload(1)).unwrap();
    assert_eq!(tv.last_active(vault, admin(1)), Some(now()));
    wait(HOUR);
    vote_as(&mut tv, admin(2), 2, true).unwrap();
    assert_eq!(tv.last_active(vault, admin(2)), Some(now()));
    wait(HOUR);
    veto_as(&mut tv, admin(3), other, "no").unwrap();
    assert_eq!(tv.last_active(vault, admin(3)), Some(now()));
    wait(HOUR);
    check_in_as(&mut tv, admin(4), vault).unwrap();
    assert_eq!(tv.last_active(vault, admin(4)), Some(now()));
    wait(TIMELOCK);
    execute_as(&mut tv, admin(5), id).unwrap();
    assert_eq!(tv.last_active(vault, admin(5)), Some(now()));
}

#[ink::test]
fn activity_in_one_vault_does_not_count_in_another() {
    let (mut tv, vault) = with_vault(3);
    let other = create_as(&mut tv, deployer(), admins(3)).unwrap();
    set_time(START + ACTIVITY_WINDOW + 1);
    for i in 1..=3 {
        check_in_as(&mut tv, admin(i), vault).unwrap();
    }
    assert_eq!(tv.is_read_only(vault), Some(false));
    assert_eq!(tv.is_read_only(other), Some(true));
    assert_eq!(tv.last_active(other, admin(1)), Some(START));
}

#[ink::test]
fn check_in_by_a_non_admin_or_to_a_missing_vault_is_refused() {
    let (mut tv, vault) = with_vault(3);
    let events = event_count();
    assert_eq!(
        check_in_as(&mut tv, stranger(), vault),
        Err(Error::NotAdmin)
    );
    assert_eq!(
        check_in_as(&mut tv, admin(1), vault + 1),
        Err(Error::VaultNotFound)
    );
    assert_eq!(tv.last_active(vault, stranger()), None);
    assert_eq!(event_count(), events);
}

// --- claim_emergency_access ----------------------------------------------------------------

#[ink::test]
fn emergency_access_without_a_decision_is_refused() {
    let (mut tv, vault) = with_vault(3);
    set_time(START + EMERGENCY_INACTIVITY + 1);
    assert_eq!(
        claim_as(&mut tv, stranger(), vault, 7),
        Err(Error::NoEmergencyDecision)
    );
}

#[ink::test]
fn emergency_decision_for_another_vault_is_refused() {
    let (mut tv, vault) = with_vault(3);
    create_as(&mut tv, deployer(), admins(3)).unwrap();
    fleet(|f| f.decisions.insert(7, (vault + 1, grantee())));
    set_time(START + EMERGENCY_INACTIVITY + 1);
    assert_eq!(
        claim_as(&mut tv, stranger(), vault, 7),
        Err(Error::NoEmergencyDecision)
    );
    assert_eq!(tv.vault_info(vault).unwrap().emergency_access, None);
}

#[ink::test]
fn emergency_access_is_refused_while_an_admin_acted_within_180_days() {
    // Given a decision, and one admin who checked in a day after creation
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.decisions.insert(7, (vault, grantee())));
    set_time(START + DAY);
    check_in_as(&mut tv, admin(3), vault).unwrap();
    // When / Then: 180 days after the others, 1 ms short of 180 days after admin 3
    set_time(START + DAY + EMERGENCY_INACTIVITY - 1);
    assert_eq!(
        claim_as(&mut tv, stranger(), vault, 7),
        Err(Error::AdminsActive)
    );
    assert_eq!(tv.vault_info(vault).unwrap().emergency_access, None);
    assert!(emitted::<EmergencyAccessGranted>().is_empty());
    // When every admin has been inactive 180 days
    set_time(START + DAY + EMERGENCY_INACTIVITY + 1);
    // Then the same decision still works
    assert_eq!(claim_as(&mut tv, stranger(), vault, 7), Ok(()));
}

#[ink::test]
fn emergency_access_is_granted_after_180_days_of_inactivity() {
    // Given
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.decisions.insert(7, (vault, grantee())));
    set_time(START + EMERGENCY_INACTIVITY + 1);
    // When
    let result = claim_as(&mut tv, stranger(), vault, 7);
    // Then
    assert_eq!(result, Ok(()));
    assert_eq!(
        tv.vault_info(vault),
        Some(Vault {
            admins: admins(3),
            created_at: START,
            emergency_access: Some((grantee(), 7)),
        })
    );
    let event = last::<EmergencyAccessGranted>();
    assert_eq!(
        (event.vault, event.grantee, event.decision),
        (vault, grantee(), 7)
    );
}

#[ink::test]
fn exactly_180_days_of_inactivity_suffice_for_emergency_access() {
    // Given
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.decisions.insert(7, (vault, grantee())));
    // When / Then: 1 ms short of 180 days, then exactly 180 days
    set_time(START + EMERGENCY_INACTIVITY - 1);
    assert_eq!(
        claim_as(&mut tv, stranger(), vault, 7),
        Err(Error::AdminsActive)
    );
    set_time(START + 180 * DAY);
    assert_eq!(claim_as(&mut tv, stranger(), vault, 7), Ok(()));
}

#[ink::test]
fn emergency_decision_is_used_once() {
    // Given
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.decisions.insert(7, (vault, grantee())));
    set_time(START + EMERGENCY_INACTIVITY + 1);
    claim_as(&mut tv, stranger(), vault, 7).unwrap();
    let events = event_count();
    // When / Then
    assert_eq!(
        claim_as(&mut tv, grantee(), vault, 7),
        Err(Error::AlreadyGranted)
    );
    assert_eq!(event_count(), events);
}

#[ink::test]
fn emergency_access_while_governance_is_unavailable_fails() {
    let (mut tv, vault) = with_vault(3);
    fleet(|f| {
        f.decisions.insert(7, (vault, grantee()));
        f.governance_available = false;
    });
    set_time(START + EMERGENCY_INACTIVITY + 1);
    assert_eq!(
        claim_as(&mut tv, stranger(), vault, 7),
        Err(Error::ContractUnavailable)
    );
    assert_eq!(tv.vault_info(vault).unwrap().emergency_access, None);
    fleet(|f| f.governance_available = true);
    assert_eq!(claim_as(&mut tv, stranger(), vault, 7), Ok(()));
}

#[ink::test]
fn emergency_access_to_a_missing_vault_is_refused() {
    let (mut tv, vault) = with_vault(3);
    fleet(|f| f.decisions.insert(7, (vault + 1, grantee())));
    assert_eq!(
        claim_as(&mut tv, stranger(), vault + 1, 7),
        Err(Error::VaultNotFound)
    );
}

// --- set_code ------------------------------------------------------------------------------

#[ink::test]
fn only_governance_may_replace_the_code() {
    // `set_code_hash` is unimplemented off-chain: governance's own call is an e2e test.
    let (mut tv, _) = with_vault(3);
    let events = event_count();
    for caller in [stranger(), admin(1), deployer(), nft_address()] {
        set_caller(caller);
        assert_eq!(tv.set_code([9; 32]), Err(Error::NotGovernance));
    }
    assert_eq!(event_count(), events);
}

// --- properties ----------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Whether `approvals` of `n` admins meet threshold `kind` (0 majority, 1 three quarters,
    /// 2 unanimous), written out independently of `Threshold::required`.
    fn meets(kind: u8, approvals: usize, n: usize) -> bool {
        match kind {
            0 => approvals * 2 > n,
            1 => approvals * 4 >= 3 * n,
            _ => approvals == n,
        }
    }

    fn operation_of_kind(kind: u8, n: usize) -> Operation {
        match kind {
            0 => upload(1),
            1 if n < MAX_ADMINS => Operation::AddAdmin(newcomer(1)),
            1 => Operation::RemoveAdmin(admin(n)),
            _ => Operation::TransferOwnership((1..=3).map(newcomer).collect()),
        }
    }

    /// What happens to the two operations, and time passing.
    #[derive(Debug, Clone)]
    enum Step {
        Vote {
            op: usize,
            who: usize,
            approve: bool,
        },
        Veto {
            op: usize,
            who: usize,
            reason: usize,
        },
        Execute {
            op: usize,
            who: usize,
        },
        Wait(Timestamp),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0..2usize, 0..16usize, proptest::bool::weighted(0.8))
                .prop_map(|(op, who, approve)| Step::Vote { op, who, approve }),
            2 => (0..2usize, 0..16usize, prop_oneof![8 => 1..=256usize, 1 => Just(0usize), 1 => Just(257usize)])
                .prop_map(|(op, who, reason)| Step::Veto { op, who, reason }),
            3 => (0..2usize, 0..16usize).prop_map(|(op, who)| Step::Execute { op, who }),
            3 => (0..=100 * HOUR).prop_map(Step::Wait),
        ]
    }

    /// The two operations: an upload (staged or not), a share, a deletion, an addition or a
    /// removal.
    fn kind() -> impl Strategy<Value = u8> {
        0..6u8
    }

    fn operation(kind: u8, n: usize, slot: usize) -> Operation {
        let k = u8::try_from(slot).expect("two slots");
        match kind {
            0 | 1 => upload(k + 1),
            2 => share(u64::from(k) + 1),
            3 => delete(u64::from(k) + 1),
            4 => Operation::AddAdmin(newcomer(slot + 1)),
            _ => Operation::RemoveAdmin(admin(n - slot)),
        }
    }

    fn is_final(state: OperationState) -> bool {
        matches!(
            state,
            OperationState::Executed | OperationState::Vetoed | OperationState::Defeated
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// An operation is queued exactly when the approvals, the proposer's included, meet
        /// its threshold; it is defeated exactly when the rejections leave it unreachable.
        #[test]
        fn operation_is_queued_exactly_when_its_threshold_is_met(
            n in MIN_ADMINS..=MAX_ADMINS,
            kind in 0..3u8,
            order in Just((2..=MAX_ADMINS).collect::<Vec<_>>()).prop_shuffle(),
            votes in proptest::collection::vec(any::<bool>(), 0..MAX_ADMINS),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let (mut tv, vault) = with_vault(n);
                let id = propose_as(&mut tv, admin(1), vault, operation_of_kind(kind, n))
                    .expect("a valid proposal");
                let required = (1..=n).find(|a| meets(kind, *a, n)).expect("n meets all");
                assert_eq!(usize::from(record(&tv, id).required), required);
                let (mut approvals, mut rejections) = (1usize, 0usize);
                let voters = order.iter().copied().filter(|i| *i <= n);
                for (voter, approve) in voters.zip(votes.iter().copied()) {
                    let closed = meets(kind, approvals, n) || !meets(kind, n - rejections, n);
                    let result = vote_as(&mut tv, admin(voter), id, approve);
                    if closed {
                        assert_eq!(result, Err(Error::VotingClosed));
                    } else {
                        assert_eq!(result, Ok(()));
                        if approve {
                            approvals += 1;
                        } else {
                            rejections += 1;
                        }
                    }
                    let op = record(&tv, id);
                    assert_eq!(
                        (usize::from(op.approvals), usize::from(op.rejections)),
                        (approvals, rejections)
                    );
                    let expected = if meets(kind, approvals, n) {
                        OperationState::Pending
                    } else if !meets(kind, n - rejections, n) {
                        OperationState::Defeated
                    } else {
                        OperationState::Voting
                    };
                    assert_eq!(state(&tv, id), expected);
                    assert_eq!(op.queued_at.is_some(), meets(kind, approvals, n));
                    assert_eq!(
                        emitted::<OperationQueued>().len(),
                        usize::from(meets(kind, approvals, n))
                    );
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }

        /// Whatever admins and strangers do to two operations of a vault, and whenever:
        /// Executed, Vetoed and Defeated are final; Vetoed only follows Pending or Ready;
        /// Executed only follows Ready; Ready comes no earlier than the end of the timelock; a
        /// step on one operation never changes the other's record; a failed step changes
        /// nothing.
        #[test]
        fn operation_states_follow_the_timelock_rules(
            n in 4..=7usize,
            kinds in (kind(), kind()),
            proposers in (1..=7usize, 1..=7usize),
            steps in proptest::collection::vec(step(), 1..80),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let (mut tv, vault) = with_vault(n);
                // Everyone who may act: the admins, two newcomers, a stranger.
                let mut people = admins(n);
                people.extend([newcomer(1), newcomer(2), stranger()]);
                let proposer = [admin(1 + (proposers.0 - 1) % n), admin(1 + (proposers.1 - 1) % n)];
                let kinds = [kinds.0, kinds.1];
                let mut ids = [0; 2];
                for slot in 0..2 {
                    let op = operation(kinds[slot], n, slot);
                    if kinds[slot] == 0 {
                        if let Operation::Upload { sha256, .. } = op {
                            stage(vault, sha256);
                        }
                    }
                    ids[slot] = propose_as(&mut tv, proposer[slot], vault, op)
                        .expect("a valid proposal");
                }
                let initial = ids.map(|id| record(&tv, id));
                for step in steps {
                    let before = ids.map(|id| record(&tv, id));
                    let states = ids.map(|id| state(&tv, id));
                    let vault_before = tv.vault_info(vault);
                    let events = event_count();
                    let (target, result) = match step {
                        Step::Vote { op, who, approve } => {
                            let who = people[who % people.len()];
                            (Some(op), vote_as(&mut tv, who, ids[op], approve))
                        }
                        Step::Veto { op, who, reason: len } => {
                            let who = people[who % people.len()];
                            (Some(op), veto_as(&mut tv, who, ids[op], &reason(len)))
                        }
                        Step::Execute { op, who } => {
                            let who = people[who % people.len()];
                            (Some(op), execute_as(&mut tv, who, ids[op]))
                        }
                        Step::Wait(ms) => {
                            wait(ms);
                            (None, Ok(()))
                        }
                    };
                    let after = ids.map(|id| record(&tv, id));
                    let now_states = ids.map(|id| state(&tv, id));
                    if result.is_err() {
                        assert_eq!(after, before, "a failed {step:?} changed a record");
                        assert_eq!(tv.vault_info(vault), vault_before);
                        assert_eq!(event_count(), events, "a failed {step:?} emitted");
                    }
                    for slot in 0..2 {
                        let (was, is) = (states[slot], now_states[slot]);
                        if target != Some(slot) {
                            assert_eq!(after[slot], before[slot], "{step:?} changed the other");
                        }
                        if is_final(was) {
                            assert_eq!(is, was, "{step:?} left a final state");
                            assert_eq!(after[slot], before[slot]);
                        }
                        if is == OperationState::Vetoed && was != OperationState::Vetoed {
                            assert!(
                                matches!(was, OperationState::Pending | OperationState::Ready),
                                "vetoed from {was:?}"
                            );
                        }
                        if is == OperationState::Executed && was != OperationState::Executed {
                            assert_eq!(was, OperationState::Ready);
                        }
                        let eta = after[slot].queued_at.map(|at| at + TIMELOCK);
                        match is {
                            OperationState::Ready => {
                                assert!(now() >= eta.expect("queued"));
                            }
                            OperationState::Pending => {
                                assert!(now() < eta.expect("queued"));
                            }
                            OperationState::Voting | OperationState::Defeated => {
                                assert_eq!(after[slot].queued_at, None);
                            }
                            _ => {}
                        }
                        let (a, i) = (&after[slot], &initial[slot]);
                        assert_eq!(
                            (&a.vault, &a.operation, &a.proposer, &a.admins, a.required, a.proposed_at),
                            (&i.vault, &i.operation, &i.proposer, &i.admins, i.required, i.proposed_at),
                            "an immutable field changed"
                        );
                    }
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }
    }
}
