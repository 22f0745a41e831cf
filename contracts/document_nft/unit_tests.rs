//! Unit tests of DocumentNFT on ink!'s off-chain environment.
//!
//! That environment cannot call contracts, so under `cfg(test)` the contract asks
//! [`governance_answer`], an in-memory stand-in of ValidatorGovernance held per thread, which
//! the tests reset ([`setup`]) and change ([`governance`]).

use std::cell::RefCell;

use crate::document_nft::{DocumentNft, Result};
use ink::{
    env::{test, DefaultEnvironment},
    primitives::AccountId,
};
use scale::{Decode, DecodeAll, Encode};
use sdv_types::{
    document::{
        ArweaveCopy, ArweaveRequested, DeletionCancelled, DeletionScheduled, Document,
        DocumentClass, DocumentDeleted, DocumentMinted, DocumentShared, DocumentStatus,
        EncryptionKey, EncryptionKeyPublished, Error, Holder, Owner, OwnerRebound, ReadGrant,
        RelationshipEnded, Replica, ReplicaRecorded, Replicas, RetentionExtended, RetentionOption,
        RetentionUpgraded, ScheduledDeletion, StagedUpload, TierChanged, TokenId, UploadStaged,
        KYC_AFTER_RELATIONSHIP, MAX_CID_LEN, MAX_WRAPPED_KEY_LEN, NOTICE_PERIOD, YEAR,
    },
    governance::{ContractRole, ProviderSelection, ReplicationPolicy, Role, Tier, TierParams},
    psp34::{Approval, Id, PSP34Error, PSP34Metadata, Transfer, PSP34},
    Hash32, Timestamp, VaultId, DAY, MB,
};

// --- the stand-in of ValidatorGovernance -------------------------------------------------

/// What the stand-in of ValidatorGovernance answers. Tests change it with [`governance`].
#[derive(Debug, Clone)]
struct Governance {
    attestor: Option<AccountId>,
    executor: Option<AccountId>,
    tier_authority: Option<AccountId>,
    tier_params: [TierParams; 4],
    replication: [ReplicationPolicy; 4],
    providers: ProviderSelection,
    team_vault: Option<AccountId>,
    guardian_recovery: Option<AccountId>,
    /// `false`: every call fails (its answer does not decode), as when governance cannot be
    /// reached.
    available: bool,
}

impl Default for Governance {
    /// The spec's parameters and the test accounts' roles.
    fn default() -> Self {
        Self {
            attestor: Some(attestor()),
            executor: Some(executor()),
            tier_authority: Some(tier_authority()),
            tier_params: Tier::ALL.map(TierParams::spec_default),
            replication: Tier::ALL.map(ReplicationPolicy::spec_default),
            providers: ProviderSelection {
                arweave: true,
                ipfs: true,
            },
            team_vault: Some(team_vault()),
            guardian_recovery: Some(guardian_recovery()),
            available: true,
        }
    }
}

thread_local! {
    static GOVERNANCE: RefCell<Governance> = RefCell::new(Governance::default());
}

/// Puts the stand-in back to its defaults.
fn reset_governance() {
    GOVERNANCE.with(|g| *g.borrow_mut() = Governance::default());
}

/// Changes the stand-in's state.
fn governance<R>(change: impl FnOnce(&mut Governance) -> R) -> R {
    GOVERNANCE.with(|g| change(&mut g.borrow_mut()))
}

/// Decodes a message's argument, which must be exactly one `T`.
fn argument<T: Decode>(arg: &[u8]) -> T {
    <T as DecodeAll>::decode_all(&mut &arg[..])
        .expect("governance receives a well-encoded argument")
}

/// What governance answers, for the off-chain environment (which cannot call contracts): the
/// SCALE encoding of the real message's return value.
pub(crate) fn governance_answer(message: &str, arg: &[u8]) -> Vec<u8> {
    GOVERNANCE.with(|g| {
        let g = g.borrow();
        if !g.available {
            return Vec::new();
        }
        match message {
            "role" => match argument::<Role>(arg) {
                Role::StorageAttestor => g.attestor,
                Role::RetentionExecutor => g.executor,
                Role::TierAuthority => g.tier_authority,
            }
            .encode(),
            "tier_params" => g.tier_params[argument::<Tier>(arg).index()].encode(),
            "replication_policy" => g.replication[argument::<Tier>(arg).index()].encode(),
            "providers" => {
                assert!(arg.is_empty(), "`providers` takes no argument");
                g.providers.encode()
            }
            "contract_address" => match argument::<ContractRole>(arg) {
                ContractRole::Governance => Some(governance_address()),
                ContractRole::DocumentNft => Some(nft_address()),
                ContractRole::TeamVault => g.team_vault,
                ContractRole::GuardianRecovery => g.guardian_recovery,
            }
            .encode(),
            other => panic!("ValidatorGovernance has no message `{other}`"),
        }
    })
}

// --- accounts, time, events ----------------------------------------------------------------

const START: Timestamp = 1_800_000_000_000;

fn account(n: u8) -> AccountId {
    AccountId::from([n; 32])
}

fn alice() -> AccountId {
    account(1)
}

fn bob() -> AccountId {
    account(2)
}

fn carol() -> AccountId {
    account(3)
}

fn dave() -> AccountId {
    account(4)
}

fn erin() -> AccountId {
    account(5)
}

fn stranger() -> AccountId {
    account(99)
}

fn attestor() -> AccountId {
    account(50)
}

fn executor() -> AccountId {
    account(51)
}

fn tier_authority() -> AccountId {
    account(52)
}

fn team_vault() -> AccountId {
    account(60)
}

fn guardian_recovery() -> AccountId {
    account(61)
}

fn governance_address() -> AccountId {
    account(70)
}

fn nft_address() -> AccountId {
    account(80)
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

/// A fresh contract and a stand-in governance with its defaults, at [`START`].
fn setup() -> DocumentNft {
    reset_governance();
    set_time(START);
    test::set_callee::<DefaultEnvironment>(nft_address());
    set_caller(governance_address());
    DocumentNft::new(governance_address())
}

// --- actions -------------------------------------------------------------------------------

/// The arguments of `mint`.
#[derive(Debug, Clone, Copy)]
struct Upload {
    holder: Holder,
    sha256: Hash32,
    size: u64,
    class: DocumentClass,
    retention: RetentionOption,
    arweave: bool,
}

/// A 1 MB `Other` document kept for the `Minimum`, without Arweave, for `owner`; `n` names its
/// ciphertext.
fn upload(owner: AccountId, n: u8) -> Upload {
    Upload {
        holder: Holder::Account(owner),
        sha256: sha(n),
        size: MB,
        class: DocumentClass::Other,
        retention: RetentionOption::Minimum,
        arweave: false,
    }
}

fn sha(n: u8) -> Hash32 {
    [n; 32]
}

fn try_mint(nft: &mut DocumentNft, caller: AccountId, u: Upload) -> Result<TokenId> {
    set_caller(caller);
    nft.mint(u.holder, u.sha256, u.size, u.class, u.retention, u.arweave)
}

fn mint(nft: &mut DocumentNft, u: Upload) -> TokenId {
    try_mint(nft, attestor(), u).expect("the attestor mints")
}

fn set_tier(nft: &mut DocumentNft, holder: Holder, tier: Tier) {
    set_caller(tier_authority());
    nft.set_tier(holder, tier)
        .expect("the tier authority sets tiers");
}

fn premium(nft: &mut DocumentNft, owner: AccountId) {
    set_tier(nft, Holder::Account(owner), Tier::Premium);
}

fn doc(nft: &DocumentNft, id: TokenId) -> Document {
    nft.document(id).expect("the token exists")
}

/// An Arweave transaction `[tx; 32]` whose own data is the document.
fn arweave(tx: u8) -> Replica {
    Replica::Arweave {
        tx_id: [tx; 32],
        item_id: None,
    }
}

/// The ANS-104 data item `[item; 32]` inside the bundle transaction `[tx; 32]`.
fn bundled(tx: u8, item: u8) -> Replica {
    Replica::Arweave {
        tx_id: [tx; 32],
        item_id: Some([item; 32]),
    }
}

fn record(nft: &mut DocumentNft, id: TokenId, replica: Replica) -> Result<()> {
    set_caller(attestor());
    nft.record_replica(id, replica)
}

fn notice(nft: &mut DocumentNft, id: TokenId) -> Result<()> {
    set_caller(executor());
    nft.notice_deletion(id)
}

fn confirm(nft: &mut DocumentNft, id: TokenId) -> Result<()> {
    set_caller(executor());
    nft.confirm_deletion(id)
}

fn request_deletion(nft: &mut DocumentNft, caller: AccountId, id: TokenId) -> Result<()> {
    set_caller(caller);
    nft.request_deletion(id)
}

fn extend(
    nft: &mut DocumentNft,
    caller: AccountId,
    id: TokenId,
    retention: RetentionOption,
) -> Result<()> {
    set_caller(caller);
    nft.extend_retention(id, retention)
}

fn rebind(nft: &mut DocumentNft, old: AccountId, new: AccountId) -> Result<()> {
    set_caller(guardian_recovery());
    nft.rebind_owner(old, new)
}

fn transfer(
    nft: &mut DocumentNft,
    caller: AccountId,
    to: AccountId,
    id: TokenId,
) -> core::result::Result<(), PSP34Error> {
    set_caller(caller);
    nft.transfer(to, Id::U64(id), Vec::new())
}

/// Deletes an `Other` document at once: the owner asks, the executor confirms.
fn delete_now(nft: &mut DocumentNft, owner: AccountId, id: TokenId) {
    request_deletion(nft, owner, id).expect("no regulatory minimum");
    confirm(nft, id).expect("due at once");
}

fn attribute(nft: &DocumentNft, id: TokenId, key: &str) -> Option<String> {
    nft.get_attribute(Id::U64(id), key.as_bytes().to_vec())
        .map(|text| String::from_utf8(text).expect("attributes are UTF-8"))
}

/// The PSP34 error carrying a DocumentNFT error's name.
fn custom(error: Error) -> PSP34Error {
    PSP34Error::Custom(error.name().into())
}

// --- construction and queries --------------------------------------------------------------

#[ink::test]
fn new_collection_is_empty_and_knows_its_governance() {
    let nft = setup();
    assert_eq!(nft.governance(), governance_address());
    assert_eq!(nft.total_supply(), 0);
    assert_eq!(nft.balance_of(alice()), 0);
    assert_eq!(nft.balance_of(team_vault()), 0);
    assert_eq!(nft.owner_of(Id::U64(1)), None);
    assert_eq!(nft.document(1), None);
    assert_eq!(nft.status(1), None);
    assert_eq!(nft.expiry(1), None);
    assert_eq!(nft.token_by_hash(sha(1)), None);
    assert_eq!(nft.tier_of(Holder::Account(alice())), Some(Tier::Free));
    assert_eq!(nft.tier_of(Holder::Vault(1)), Some(Tier::Free));
    assert_eq!(nft.live_documents(Holder::Account(alice())), 0);
    assert_eq!(nft.identity_of(alice()), Some(alice()));
    assert_eq!(nft.wallet_of(alice()), alice());
    assert!(!nft.is_revoked(alice()));
    assert_eq!(nft.encryption_key(alice()), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn collection_id_is_the_contract_address() {
    let nft = setup();
    assert_eq!(
        nft.collection_id(),
        Id::Bytes(<AccountId as AsRef<[u8]>>::as_ref(&nft_address()).to_vec())
    );
}

// --- mint ----------------------------------------------------------------------------------

#[ink::test]
fn attestor_mints_a_document_owned_by_the_wallet() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(id, 1);
    assert_eq!(
        doc(&nft, id),
        Document {
            owner: Owner::Identity(alice()),
            sha256: sha(1),
            size: MB,
            tier: Tier::Free,
            class: DocumentClass::Other,
            chosen: RetentionOption::Minimum,
            retention: RetentionOption::Minimum,
            uploaded_at: START,
            relationship_end: None,
            deletion: None,
            deleted_at: None,
            replicas: Replicas {
                s3: true,
                arweave_requested: false,
                arweave: None,
                ipfs: None,
            },
        }
    );
    assert_eq!(nft.owner_of(Id::U64(id)), Some(alice()));
    assert_eq!(nft.balance_of(alice()), 1);
    assert_eq!(nft.total_supply(), 1);
    assert_eq!(nft.token_by_hash(sha(1)), Some(id));
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert_eq!(nft.expiry(id), Some(Some(START + YEAR)));
    assert_eq!(nft.live_documents(Holder::Account(alice())), 1);

    let t = last::<Transfer>();
    assert_eq!((t.from, t.to, t.id), (None, Some(alice()), Id::U64(1)));
    let m = last::<DocumentMinted>();
    assert_eq!(
        (m.id, m.owner, m.sha256, m.size, m.tier, m.class),
        (
            1,
            Owner::Identity(alice()),
            sha(1),
            MB,
            Tier::Free,
            DocumentClass::Other
        )
    );
    assert_eq!(
        (m.retention, m.expiry, m.arweave_requested),
        (RetentionOption::Minimum, Some(START + YEAR), false)
    );
    assert!(emitted::<RetentionUpgraded>().is_empty());
    assert_eq!(event_count(), 2);

    assert_eq!(mint(&mut nft, upload(bob(), 2)), 2);
    assert_eq!(nft.total_supply(), 2);
}

#[ink::test]
fn only_the_attestor_mints() {
    let mut nft = setup();
    for caller in [
        alice(),
        stranger(),
        executor(),
        tier_authority(),
        governance_address(),
    ] {
        assert_eq!(
            try_mint(&mut nft, caller, upload(alice(), 1)),
            Err(Error::NotAttestor)
        );
    }
    governance(|g| g.attestor = None);
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 1)),
        Err(Error::NotAttestor)
    );
    assert_eq!(nft.total_supply(), 0);
    assert_eq!(nft.token_by_hash(sha(1)), None);
    assert_eq!(event_count(), 0);
}

#[ink::test]
fn a_new_attestor_appointed_by_governance_mints() {
    let mut nft = setup();
    governance(|g| g.attestor = Some(carol()));
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 1)),
        Err(Error::NotAttestor)
    );
    assert_eq!(try_mint(&mut nft, carol(), upload(alice(), 1)), Ok(1));
}

#[ink::test]
fn empty_document_is_refused() {
    let mut nft = setup();
    let empty = Upload {
        size: 0,
        ..upload(alice(), 1)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), empty),
        Err(Error::EmptyDocument)
    );
    assert_eq!(nft.total_supply(), 0);
}

#[ink::test]
fn same_ciphertext_cannot_be_minted_twice() {
    let mut nft = setup();
    mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 1)),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(bob(), 1)),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(nft.total_supply(), 1);
    assert_eq!(nft.balance_of(bob()), 0);
}

#[ink::test]
fn deleted_ciphertext_still_cannot_be_minted_again() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    delete_now(&mut nft, alice(), id);
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 1)),
        Err(Error::DuplicateDocument)
    );
}

#[ink::test]
fn free_tier_accepts_10_mb_and_refuses_one_byte_more() {
    let mut nft = setup();
    let too_large = Upload {
        size: 10 * MB + 1,
        ..upload(alice(), 1)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), too_large),
        Err(Error::DocumentTooLarge)
    );
    assert_eq!(nft.total_supply(), 0);
    let id = mint(
        &mut nft,
        Upload {
            size: 10 * MB,
            ..upload(alice(), 1)
        },
    );
    assert_eq!(doc(&nft, id).size, 10 * MB);
}

#[ink::test]
fn free_tier_holds_five_documents() {
    let mut nft = setup();
    for n in 1..=5 {
        mint(&mut nft, upload(alice(), n));
    }
    let events = event_count();
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 6)),
        Err(Error::DocumentLimitReached)
    );
    assert_eq!(event_count(), events);
    assert_eq!(nft.total_supply(), 5);
    // Another owner's limit is their own.
    assert_eq!(try_mint(&mut nft, attestor(), upload(bob(), 6)), Ok(6));
}

#[ink::test]
fn premium_tier_lifts_the_count_and_raises_the_size_limit() {
    let mut nft = setup();
    for n in 1..=5 {
        mint(&mut nft, upload(alice(), n));
    }
    premium(&mut nft, alice());
    assert_eq!(try_mint(&mut nft, attestor(), upload(alice(), 6)), Ok(6));
    let large = Upload {
        size: 100 * MB,
        ..upload(alice(), 7)
    };
    assert_eq!(try_mint(&mut nft, attestor(), large), Ok(7));
    assert_eq!(doc(&nft, 7).tier, Tier::Premium);
    assert_eq!(doc(&nft, 1).tier, Tier::Free);
    let too_large = Upload {
        size: 100 * MB + 1,
        ..upload(alice(), 8)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), too_large),
        Err(Error::DocumentTooLarge)
    );
    assert_eq!(nft.live_documents(Holder::Account(alice())), 7);
}

#[ink::test]
fn tier_limits_come_from_governance() {
    let mut nft = setup();
    governance(|g| {
        g.tier_params[Tier::Free.index()] = TierParams {
            max_document_bytes: MB,
            max_documents: Some(1),
            parallel_chunks: 1,
        }
    });
    let large = Upload {
        size: MB + 1,
        ..upload(alice(), 1)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), large),
        Err(Error::DocumentTooLarge)
    );
    mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 2)),
        Err(Error::DocumentLimitReached)
    );
}

#[ink::test]
fn deleted_documents_stop_counting_against_the_limit() {
    let mut nft = setup();
    for n in 1..=5 {
        mint(&mut nft, upload(alice(), n));
    }
    delete_now(&mut nft, alice(), 1);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 4);
    assert_eq!(try_mint(&mut nft, attestor(), upload(alice(), 6)), Ok(6));
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 7)),
        Err(Error::DocumentLimitReached)
    );
    // PSP34 balances keep deleted tokens as history.
    assert_eq!(nft.balance_of(alice()), 6);
}

#[ink::test]
fn vault_documents_count_against_the_vault_tier() {
    let mut nft = setup();
    let vault = Holder::Vault(7);
    let in_vault = |n| Upload {
        holder: vault,
        ..upload(alice(), n)
    };
    for n in 1..=5 {
        mint(&mut nft, in_vault(n));
    }
    assert_eq!(
        try_mint(&mut nft, attestor(), in_vault(6)),
        Err(Error::DocumentLimitReached)
    );
    // The uploader's own limit and another vault's are separate.
    assert_eq!(try_mint(&mut nft, attestor(), upload(alice(), 7)), Ok(6));
    let other_vault = Upload {
        holder: Holder::Vault(8),
        ..upload(alice(), 8)
    };
    assert_eq!(try_mint(&mut nft, attestor(), other_vault), Ok(7));

    set_tier(&mut nft, vault, Tier::Premium);
    assert_eq!(nft.tier_of(vault), Some(Tier::Premium));
    assert_eq!(nft.tier_of(Holder::Account(alice())), Some(Tier::Free));
    assert_eq!(try_mint(&mut nft, attestor(), in_vault(6)), Ok(8));

    assert_eq!(doc(&nft, 1).owner, Owner::Vault(7));
    assert_eq!(nft.owner_of(Id::U64(1)), Some(team_vault()));
    assert_eq!(nft.owner_of(Id::U64(7)), Some(team_vault()));
    assert_eq!(nft.live_documents(vault), 6);
    assert_eq!(nft.live_documents(Holder::Vault(8)), 1);
    assert_eq!(nft.balance_of(team_vault()), 7);
    assert_eq!(nft.balance_of(alice()), 1);
    let t = emitted::<Transfer>();
    assert_eq!((t[0].from, t[0].to), (None, Some(team_vault())));
    assert_eq!(last::<DocumentMinted>().owner, Owner::Vault(7));
}

#[ink::test]
fn team_vault_acts_for_vault_documents() {
    let mut nft = setup();
    let id = mint(
        &mut nft,
        Upload {
            holder: Holder::Vault(7),
            ..upload(alice(), 1)
        },
    );
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Standard),
        Err(Error::NotOwner)
    );
    assert_eq!(
        extend(&mut nft, team_vault(), id, RetentionOption::Standard),
        Ok(())
    );
    assert_eq!(
        transfer(&mut nft, alice(), bob(), id),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(transfer(&mut nft, team_vault(), bob(), id), Ok(()));
    assert_eq!(doc(&nft, id).owner, Owner::Identity(bob()));
    assert_eq!(nft.owner_of(Id::U64(id)), Some(bob()));
    assert_eq!(nft.balance_of(team_vault()), 0);
    assert_eq!(nft.live_documents(Holder::Vault(7)), 0);
    assert_eq!(nft.balance_of(bob()), 1);
    let t = last::<Transfer>();
    assert_eq!((t.from, t.to), (Some(team_vault()), Some(bob())));
}

#[ink::test]
fn vault_documents_need_a_configured_team_vault() {
    let mut nft = setup();
    let vault_doc = Upload {
        holder: Holder::Vault(7),
        ..upload(alice(), 1)
    };
    let id = mint(&mut nft, vault_doc);
    governance(|g| g.team_vault = None);
    let another = Upload {
        holder: Holder::Vault(7),
        ..upload(alice(), 2)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), another),
        Err(Error::NotConfigured)
    );
    assert_eq!(
        extend(&mut nft, team_vault(), id, RetentionOption::Standard),
        Err(Error::NotConfigured)
    );
    assert_eq!(nft.owner_of(Id::U64(id)), None);
    assert_eq!(nft.balance_of(team_vault()), 0);
    assert_eq!(nft.total_supply(), 1);
}

#[ink::test]
fn us_tax_kept_for_the_minimum_is_raised_to_seven_years() {
    let mut nft = setup();
    let id = mint(
        &mut nft,
        Upload {
            class: DocumentClass::UsTax,
            ..upload(alice(), 1)
        },
    );
    let document = doc(&nft, id);
    assert_eq!(document.chosen, RetentionOption::Minimum);
    assert_eq!(document.retention, RetentionOption::RegulatoryUsTax);
    assert_eq!(nft.expiry(id), Some(Some(START + 7 * YEAR)));
    let upgraded = last::<RetentionUpgraded>();
    assert_eq!(
        (upgraded.id, upgraded.chosen, upgraded.applied),
        (
            id,
            RetentionOption::Minimum,
            RetentionOption::RegulatoryUsTax
        )
    );
    let minted = last::<DocumentMinted>();
    assert_eq!(minted.retention, RetentionOption::RegulatoryUsTax);
    assert_eq!(minted.expiry, Some(START + 7 * YEAR));
}

#[ink::test]
fn other_documents_keep_the_minimum_without_upgrade() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(doc(&nft, id).retention, RetentionOption::Minimum);
    assert!(emitted::<RetentionUpgraded>().is_empty());
}

#[ink::test]
fn financial_and_kyc_documents_are_kept_at_least_five_years() {
    let mut nft = setup();
    let financial = mint(
        &mut nft,
        Upload {
            class: DocumentClass::Financial,
            retention: RetentionOption::Standard,
            ..upload(alice(), 1)
        },
    );
    assert_eq!(doc(&nft, financial).retention, RetentionOption::Extended);
    assert_eq!(nft.expiry(financial), Some(Some(START + 5 * YEAR)));
    let kyc = mint(
        &mut nft,
        Upload {
            class: DocumentClass::Kyc,
            ..upload(alice(), 2)
        },
    );
    assert_eq!(doc(&nft, kyc).retention, RetentionOption::Extended);
    // Until the relationship ends, a KYC document does not expire.
    assert_eq!(nft.expiry(kyc), Some(None));
    assert_eq!(emitted::<RetentionUpgraded>().len(), 2);
    // A choice above the floor is kept as is.
    let long = mint(
        &mut nft,
        Upload {
            class: DocumentClass::UsTax,
            retention: RetentionOption::LongTerm,
            ..upload(alice(), 3)
        },
    );
    assert_eq!(doc(&nft, long).retention, RetentionOption::LongTerm);
    assert_eq!(emitted::<RetentionUpgraded>().len(), 2);
}

// --- governance outage -----------------------------------------------------------------------

#[ink::test]
fn unreachable_governance_refuses_what_needs_it() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let vault_doc = mint(
        &mut nft,
        Upload {
            holder: Holder::Vault(7),
            ..upload(alice(), 2)
        },
    );
    governance(|g| g.available = false);
    let unavailable: Result<()> = Err(Error::GovernanceUnavailable);
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 3)),
        Err(Error::GovernanceUnavailable)
    );
    set_caller(tier_authority());
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::Premium),
        unavailable
    );
    assert_eq!(
        record(&mut nft, id, Replica::Ipfs(vec![1; 36])),
        unavailable
    );
    assert_eq!(notice(&mut nft, id), unavailable);
    assert_eq!(confirm(&mut nft, id), unavailable);
    assert_eq!(rebind(&mut nft, alice(), dave()), unavailable);
    set_caller(alice());
    assert_eq!(nft.request_arweave(id), unavailable);
    assert_eq!(
        extend(&mut nft, team_vault(), vault_doc, RetentionOption::Standard),
        unavailable
    );
    assert_eq!(
        transfer(&mut nft, alice(), bob(), id),
        Err(custom(Error::GovernanceUnavailable))
    );
    // What needs no governance still works.
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Standard),
        Ok(())
    );
    set_caller(alice());
    assert_eq!(nft.publish_encryption_key([7; 32]), Ok(()));
    assert_eq!(nft.owner_of(Id::U64(id)), Some(alice()));
    assert_eq!(nft.owner_of(Id::U64(vault_doc)), None);
    assert_eq!(nft.total_supply(), 2);

    governance(|g| g.available = true);
    assert_eq!(nft.owner_of(Id::U64(vault_doc)), Some(team_vault()));
}

// --- replication ---------------------------------------------------------------------------

#[ink::test]
fn free_tier_cannot_ask_for_arweave() {
    let mut nft = setup();
    let with_arweave = Upload {
        arweave: true,
        ..upload(alice(), 1)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), with_arweave),
        Err(Error::ReplicationNotAllowed)
    );
    let permanent = Upload {
        retention: RetentionOption::Permanent,
        ..upload(alice(), 1)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), permanent),
        Err(Error::ReplicationNotAllowed)
    );
    assert_eq!(nft.total_supply(), 0);
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(alice());
    assert_eq!(nft.request_arweave(id), Err(Error::ReplicationNotAllowed));
    assert!(!doc(&nft, id).replicas.arweave_requested);
}

#[ink::test]
fn premium_tier_mints_with_arweave_and_permanent_implies_it() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let asked = mint(
        &mut nft,
        Upload {
            arweave: true,
            ..upload(alice(), 1)
        },
    );
    assert!(doc(&nft, asked).replicas.arweave_requested);
    assert!(last::<DocumentMinted>().arweave_requested);
    let permanent = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Permanent,
            ..upload(alice(), 2)
        },
    );
    assert!(doc(&nft, permanent).replicas.arweave_requested);
    assert_eq!(nft.expiry(permanent), Some(None));
    let minted = last::<DocumentMinted>();
    assert_eq!((minted.arweave_requested, minted.expiry), (true, None));
}

#[ink::test]
fn arweave_out_of_service_is_not_allowed() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    governance(|g| g.providers.arweave = false);
    let with_arweave = Upload {
        arweave: true,
        ..upload(alice(), 2)
    };
    assert_eq!(
        try_mint(&mut nft, attestor(), with_arweave),
        Err(Error::ReplicationNotAllowed)
    );
    set_caller(alice());
    assert_eq!(nft.request_arweave(id), Err(Error::ReplicationNotAllowed));
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Permanent),
        Err(Error::ReplicationNotAllowed)
    );
    assert_eq!(doc(&nft, id).retention, RetentionOption::Minimum);
    // A tier whose policy has no Arweave is refused too.
    governance(|g| {
        g.providers.arweave = true;
        g.replication[Tier::Premium.index()].arweave_on_request = false;
    });
    set_caller(alice());
    assert_eq!(nft.request_arweave(id), Err(Error::ReplicationNotAllowed));
}

#[ink::test]
fn owner_asks_for_arweave_once() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(stranger());
    assert_eq!(nft.request_arweave(id), Err(Error::NotOwner));
    set_caller(alice());
    assert_eq!(nft.request_arweave(99), Err(Error::TokenNotFound));
    assert_eq!(nft.request_arweave(id), Ok(()));
    assert_eq!(last::<ArweaveRequested>().id, id);
    assert!(doc(&nft, id).replicas.arweave_requested);
    assert_eq!(nft.request_arweave(id), Err(Error::ReplicaConflict));
    assert_eq!(emitted::<ArweaveRequested>().len(), 1);
}

#[ink::test]
fn arweave_copy_needs_a_request_and_is_recorded_once() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        record(&mut nft, id, arweave(9)),
        Err(Error::ReplicaConflict)
    );
    assert_eq!(
        record(&mut nft, id, Replica::ArweavePermanent),
        Err(Error::ReplicaConflict)
    );
    set_caller(alice());
    nft.request_arweave(id).expect("premium may ask");
    assert_eq!(
        record(&mut nft, id, Replica::ArweavePermanent),
        Err(Error::ReplicaConflict)
    );
    assert_eq!(record(&mut nft, id, bundled(9, 7)), Ok(()));
    let recorded = last::<ReplicaRecorded>();
    assert_eq!((recorded.id, recorded.replica), (id, bundled(9, 7)));
    assert_eq!(
        doc(&nft, id).replicas.arweave,
        Some(ArweaveCopy {
            tx_id: [9; 32],
            item_id: Some([7; 32]),
            permanent: false
        })
    );
    assert_eq!(
        record(&mut nft, id, arweave(8)),
        Err(Error::ReplicaConflict)
    );
    assert_eq!(record(&mut nft, id, Replica::ArweavePermanent), Ok(()));
    assert_eq!(last::<ReplicaRecorded>().replica, Replica::ArweavePermanent);
    assert_eq!(
        doc(&nft, id).replicas.arweave,
        Some(ArweaveCopy {
            tx_id: [9; 32],
            item_id: Some([7; 32]),
            permanent: true
        })
    );
    assert_eq!(
        record(&mut nft, id, Replica::ArweavePermanent),
        Err(Error::ReplicaConflict)
    );
    assert_eq!(emitted::<ReplicaRecorded>().len(), 2);
}

#[ink::test]
fn arweave_copy_of_a_whole_transaction_has_no_data_item() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(
        &mut nft,
        Upload {
            arweave: true,
            ..upload(alice(), 1)
        },
    );
    assert_eq!(record(&mut nft, id, arweave(9)), Ok(()));
    assert_eq!(last::<ReplicaRecorded>().replica, arweave(9));
    assert_eq!(
        doc(&nft, id).replicas.arweave,
        Some(ArweaveCopy {
            tx_id: [9; 32],
            item_id: None,
            permanent: false
        })
    );
    // A second copy, bundled or not, is a conflict.
    assert_eq!(
        record(&mut nft, id, bundled(9, 7)),
        Err(Error::ReplicaConflict)
    );
}

#[ink::test]
fn only_the_attestor_records_replicas_of_existing_documents() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    for caller in [alice(), executor(), stranger()] {
        set_caller(caller);
        assert_eq!(
            nft.record_replica(id, Replica::Ipfs(vec![1; 36])),
            Err(Error::NotAttestor)
        );
    }
    assert_eq!(
        record(&mut nft, 99, Replica::Ipfs(vec![1; 36])),
        Err(Error::TokenNotFound)
    );
    assert_eq!(doc(&nft, id).replicas.ipfs, None);
}

#[ink::test]
fn ipfs_copy_follows_the_tier_policy_and_providers() {
    let mut nft = setup();
    let free = mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        record(&mut nft, free, Replica::Ipfs(vec![1; 36])),
        Err(Error::ReplicationNotAllowed)
    );
    premium(&mut nft, bob());
    let paid = mint(&mut nft, upload(bob(), 2));
    governance(|g| g.providers.ipfs = false);
    assert_eq!(
        record(&mut nft, paid, Replica::Ipfs(vec![1; 36])),
        Err(Error::ReplicationNotAllowed)
    );
    governance(|g| g.providers.ipfs = true);
    assert_eq!(record(&mut nft, paid, Replica::Ipfs(vec![1; 36])), Ok(()));
    assert_eq!(doc(&nft, paid).replicas.ipfs, Some(vec![1; 36]));
    assert_eq!(
        last::<ReplicaRecorded>().replica,
        Replica::Ipfs(vec![1; 36])
    );
    assert_eq!(
        record(&mut nft, paid, Replica::Ipfs(vec![2; 36])),
        Err(Error::ReplicaConflict)
    );
    assert_eq!(doc(&nft, paid).replicas.ipfs, Some(vec![1; 36]));
}

#[ink::test]
fn ipfs_cid_has_1_to_64_bytes() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        record(&mut nft, id, Replica::Ipfs(Vec::new())),
        Err(Error::InvalidCid)
    );
    assert_eq!(
        record(&mut nft, id, Replica::Ipfs(vec![1; MAX_CID_LEN + 1])),
        Err(Error::InvalidCid)
    );
    assert_eq!(doc(&nft, id).replicas.ipfs, None);
    assert_eq!(
        record(&mut nft, id, Replica::Ipfs(vec![1; MAX_CID_LEN])),
        Ok(())
    );
    let short = mint(&mut nft, upload(alice(), 2));
    assert_eq!(record(&mut nft, short, Replica::Ipfs(vec![1])), Ok(()));
}

// --- retention -----------------------------------------------------------------------------

#[ink::test]
fn owner_extends_the_retention() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_time(START + 100 * DAY);
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::LongTerm),
        Ok(())
    );
    let document = doc(&nft, id);
    assert_eq!(document.retention, RetentionOption::LongTerm);
    assert_eq!(document.chosen, RetentionOption::Minimum);
    // Counted from the upload, not from the extension.
    assert_eq!(nft.expiry(id), Some(Some(START + 10 * YEAR)));
    let extended = last::<RetentionExtended>();
    assert_eq!(
        (extended.id, extended.old, extended.new, extended.expiry),
        (
            id,
            RetentionOption::Minimum,
            RetentionOption::LongTerm,
            Some(START + 10 * YEAR)
        )
    );
    assert!(emitted::<ArweaveRequested>().is_empty());
    assert!(emitted::<DeletionCancelled>().is_empty());
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Indefinite),
        Ok(())
    );
    assert_eq!(nft.expiry(id), Some(None));
}

#[ink::test]
fn only_the_owner_extends() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    for caller in [stranger(), attestor(), executor(), bob()] {
        assert_eq!(
            extend(&mut nft, caller, id, RetentionOption::Standard),
            Err(Error::NotOwner)
        );
    }
    assert_eq!(
        extend(&mut nft, alice(), 99, RetentionOption::Standard),
        Err(Error::TokenNotFound)
    );
    assert_eq!(doc(&nft, id).retention, RetentionOption::Minimum);
    assert!(emitted::<RetentionExtended>().is_empty());
}

#[ink::test]
fn retention_never_shortens() {
    let mut nft = setup();
    let id = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Extended,
            ..upload(alice(), 1)
        },
    );
    for option in [
        RetentionOption::Minimum,
        RetentionOption::Standard,
        RetentionOption::Extended,
    ] {
        assert_eq!(
            extend(&mut nft, alice(), id, option),
            Err(Error::NotAnExtension)
        );
    }
    assert_eq!(doc(&nft, id).retention, RetentionOption::Extended);
    // A floor-upgraded document cannot be "extended" to its own floor either.
    let tax = mint(
        &mut nft,
        Upload {
            class: DocumentClass::UsTax,
            ..upload(alice(), 2)
        },
    );
    assert_eq!(
        extend(&mut nft, alice(), tax, RetentionOption::Extended),
        Err(Error::NotAnExtension)
    );
    assert_eq!(
        extend(&mut nft, alice(), tax, RetentionOption::RegulatoryUsTax),
        Err(Error::NotAnExtension)
    );
}

#[ink::test]
fn extension_to_permanent_asks_for_arweave_when_the_tier_allows() {
    let mut nft = setup();
    let free = mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        extend(&mut nft, alice(), free, RetentionOption::Permanent),
        Err(Error::ReplicationNotAllowed)
    );
    assert_eq!(doc(&nft, free).retention, RetentionOption::Minimum);

    premium(&mut nft, bob());
    let paid = mint(&mut nft, upload(bob(), 2));
    assert_eq!(
        extend(&mut nft, bob(), paid, RetentionOption::Permanent),
        Ok(())
    );
    let document = doc(&nft, paid);
    assert_eq!(document.retention, RetentionOption::Permanent);
    assert!(document.replicas.arweave_requested);
    assert_eq!(last::<ArweaveRequested>().id, paid);

    // Already requested: no second request.
    let asked = mint(
        &mut nft,
        Upload {
            arweave: true,
            ..upload(bob(), 3)
        },
    );
    assert_eq!(
        extend(&mut nft, bob(), asked, RetentionOption::Permanent),
        Ok(())
    );
    assert_eq!(emitted::<ArweaveRequested>().len(), 1);
}

#[ink::test]
fn extension_cancels_a_scheduled_deletion() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_time(START + YEAR - NOTICE_PERIOD);
    notice(&mut nft, id).expect("within the notice window");
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::DeletionScheduled { due: START + YEAR })
    );
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Standard),
        Ok(())
    );
    assert_eq!(last::<DeletionCancelled>().id, id);
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert_eq!(doc(&nft, id).deletion, None);
    set_time(START + YEAR + DAY);
    assert_eq!(confirm(&mut nft, id), Err(Error::NotScheduled));
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
}

// --- KYC relationship end ------------------------------------------------------------------

fn kyc(nft: &mut DocumentNft, owner: AccountId, n: u8, retention: RetentionOption) -> TokenId {
    mint(
        nft,
        Upload {
            class: DocumentClass::Kyc,
            retention,
            ..upload(owner, n)
        },
    )
}

#[ink::test]
fn relationship_end_is_for_kyc_documents_only() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(alice());
    assert_eq!(nft.set_relationship_end(id, START), Err(Error::NotKyc));
    assert_eq!(
        nft.set_relationship_end(99, START),
        Err(Error::TokenNotFound)
    );
    assert!(emitted::<RelationshipEnded>().is_empty());
}

#[ink::test]
fn kyc_expires_five_years_after_the_relationship_ends() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::Minimum);
    let end = START + 2 * YEAR;
    set_caller(alice());
    assert_eq!(nft.set_relationship_end(id, end), Ok(()));
    assert_eq!(doc(&nft, id).relationship_end, Some(end));
    assert_eq!(nft.expiry(id), Some(Some(end + KYC_AFTER_RELATIONSHIP)));
    assert_eq!(nft.expiry(id), Some(Some(START + 7 * YEAR)));
    let ended = last::<RelationshipEnded>();
    assert_eq!(
        (ended.id, ended.ended_at, ended.expiry),
        (id, end, Some(START + 7 * YEAR))
    );
}

#[ink::test]
fn kyc_keeps_a_later_option_expiry() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::LongTerm);
    set_caller(alice());
    assert_eq!(nft.set_relationship_end(id, START + YEAR), Ok(()));
    assert_eq!(nft.expiry(id), Some(Some(START + 10 * YEAR)));
}

#[ink::test]
fn relationship_end_only_moves_later() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::Extended);
    set_caller(alice());
    nft.set_relationship_end(id, START + 2 * YEAR)
        .expect("first end");
    assert_eq!(
        nft.set_relationship_end(id, START + 2 * YEAR - 1),
        Err(Error::RelationshipEndEarlier)
    );
    assert_eq!(doc(&nft, id).relationship_end, Some(START + 2 * YEAR));
    assert_eq!(nft.set_relationship_end(id, START + 2 * YEAR), Ok(()));
    assert_eq!(nft.set_relationship_end(id, START + 3 * YEAR), Ok(()));
    assert_eq!(nft.expiry(id), Some(Some(START + 8 * YEAR)));
}

#[ink::test]
fn attestor_may_record_a_relationship_end_and_a_stranger_may_not() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::Extended);
    for caller in [stranger(), executor(), tier_authority()] {
        set_caller(caller);
        assert_eq!(nft.set_relationship_end(id, START), Err(Error::NotOwner));
    }
    assert_eq!(doc(&nft, id).relationship_end, None);
    set_caller(attestor());
    assert_eq!(nft.set_relationship_end(id, START), Ok(()));
    assert_eq!(nft.expiry(id), Some(Some(START + 5 * YEAR)));
}

#[ink::test]
fn relationship_end_cancels_a_scheduled_deletion() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::Extended);
    set_caller(alice());
    nft.set_relationship_end(id, START).expect("first end");
    set_time(START + 5 * YEAR);
    notice(&mut nft, id).expect("expired");
    set_caller(alice());
    assert_eq!(nft.set_relationship_end(id, START + YEAR), Ok(()));
    assert_eq!(last::<DeletionCancelled>().id, id);
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert_eq!(nft.expiry(id), Some(Some(START + 6 * YEAR)));
}

// --- the executor's notice ------------------------------------------------------------------

#[ink::test]
fn only_the_retention_executor_gives_notice() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_time(START + YEAR);
    for caller in [alice(), attestor(), stranger()] {
        set_caller(caller);
        assert_eq!(nft.notice_deletion(id), Err(Error::NotRetentionExecutor));
    }
    governance(|g| g.executor = None);
    assert_eq!(notice(&mut nft, id), Err(Error::NotRetentionExecutor));
    governance(|g| g.executor = Some(executor()));
    assert_eq!(notice(&mut nft, 99), Err(Error::TokenNotFound));
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert!(emitted::<DeletionScheduled>().is_empty());
}

#[ink::test]
fn documents_that_never_expire_get_no_notice() {
    let mut nft = setup();
    let indefinite = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Indefinite,
            ..upload(alice(), 1)
        },
    );
    let open_kyc = kyc(&mut nft, alice(), 2, RetentionOption::Extended);
    set_time(START + 100 * YEAR);
    assert_eq!(notice(&mut nft, indefinite), Err(Error::NoExpiry));
    assert_eq!(notice(&mut nft, open_kyc), Err(Error::NoExpiry));
}

#[ink::test]
fn notice_opens_30_days_before_expiry_and_is_due_at_expiry() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let expiry = START + YEAR;
    set_time(expiry - NOTICE_PERIOD - 1);
    assert_eq!(notice(&mut nft, id), Err(Error::NoticeTooEarly));
    set_time(expiry - NOTICE_PERIOD);
    assert_eq!(notice(&mut nft, id), Ok(()));
    assert_eq!(
        doc(&nft, id).deletion,
        Some(ScheduledDeletion {
            at: expiry - NOTICE_PERIOD,
            due: expiry,
            by_owner: false,
        })
    );
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::DeletionScheduled { due: expiry })
    );
    let scheduled = last::<DeletionScheduled>();
    assert_eq!(
        (scheduled.id, scheduled.due, scheduled.by_owner),
        (id, expiry, false)
    );
    assert_eq!(notice(&mut nft, id), Err(Error::AlreadyScheduled));
    set_caller(alice());
    assert_eq!(nft.request_deletion(id), Err(Error::AlreadyScheduled));
}

#[ink::test]
fn late_notice_still_gives_30_days() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let late = START + YEAR + 10 * DAY;
    set_time(late);
    assert_eq!(notice(&mut nft, id), Ok(()));
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::DeletionScheduled {
            due: late + NOTICE_PERIOD
        })
    );
    set_time(late + NOTICE_PERIOD - 1);
    assert_eq!(confirm(&mut nft, id), Err(Error::DeletionNotDue));
    set_time(late + NOTICE_PERIOD);
    assert_eq!(confirm(&mut nft, id), Ok(()));
}

#[ink::test]
fn an_arweave_copy_blocks_the_notice() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let posted = mint(
        &mut nft,
        Upload {
            arweave: true,
            ..upload(alice(), 1)
        },
    );
    record(&mut nft, posted, arweave(9)).expect("requested");
    let permanent = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Permanent,
            ..upload(alice(), 2)
        },
    );
    record(&mut nft, permanent, arweave(8)).expect("requested");
    record(&mut nft, permanent, Replica::ArweavePermanent).expect("posted");
    set_time(START + 2 * YEAR);
    assert_eq!(notice(&mut nft, posted), Err(Error::ArweaveCopy));
    assert_eq!(notice(&mut nft, permanent), Err(Error::PermanentRetention));
    assert_eq!(nft.status(posted), Some(DocumentStatus::Active));
}

// --- confirmed deletion ----------------------------------------------------------------------

#[ink::test]
fn only_the_retention_executor_confirms() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    request_deletion(&mut nft, alice(), id).expect("no minimum");
    for caller in [alice(), attestor(), stranger()] {
        set_caller(caller);
        assert_eq!(nft.confirm_deletion(id), Err(Error::NotRetentionExecutor));
    }
    assert_eq!(confirm(&mut nft, 99), Err(Error::TokenNotFound));
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::DeletionScheduled { due: START })
    );
}

#[ink::test]
fn confirmation_needs_a_due_schedule() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(confirm(&mut nft, id), Err(Error::NotScheduled));
    set_time(START + YEAR - NOTICE_PERIOD);
    notice(&mut nft, id).expect("in the window");
    set_time(START + YEAR - 1);
    assert_eq!(confirm(&mut nft, id), Err(Error::DeletionNotDue));
    assert_eq!(nft.live_documents(Holder::Account(alice())), 1);
    set_time(START + YEAR);
    assert_eq!(confirm(&mut nft, id), Ok(()));
}

#[ink::test]
fn confirmed_deletion_clears_the_copies_and_keeps_the_history() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Indefinite,
            class: DocumentClass::Kyc,
            ..upload(alice(), 1)
        },
    );
    record(&mut nft, id, Replica::Ipfs(vec![3; 36])).expect("premium pins");
    set_caller(alice());
    nft.set_relationship_end(id, START).expect("owner");
    nft.approve(bob(), Some(Id::U64(id)), true)
        .expect("owner approves");
    let deleted_at = START + 5 * YEAR;
    set_time(deleted_at);
    request_deletion(&mut nft, alice(), id).expect("the minimum ran out");
    assert_eq!(confirm(&mut nft, id), Ok(()));

    let document = doc(&nft, id);
    assert_eq!(document.deleted_at, Some(deleted_at));
    assert_eq!(document.replicas, Replicas::default());
    assert_eq!(document.sha256, sha(1));
    assert_eq!(document.uploaded_at, START);
    assert_eq!(document.relationship_end, Some(START));
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::Deleted { at: deleted_at })
    );
    assert_eq!(attribute(&nft, id, "status").as_deref(), Some("deleted"));
    let deleted = last::<DocumentDeleted>();
    assert_eq!((deleted.id, deleted.sha256), (id, sha(1)));
    assert_eq!(nft.live_documents(Holder::Account(alice())), 0);
    // The token stays as history.
    assert_eq!(nft.balance_of(alice()), 1);
    assert_eq!(nft.total_supply(), 1);
    assert_eq!(nft.owner_of(Id::U64(id)), Some(alice()));
    assert_eq!(nft.token_by_hash(sha(1)), Some(id));
    // Its token approval went with it.
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));

    let events = event_count();
    assert_eq!(confirm(&mut nft, id), Err(Error::Deleted));
    assert_eq!(notice(&mut nft, id), Err(Error::Deleted));
    assert_eq!(
        record(&mut nft, id, Replica::Ipfs(vec![4; 36])),
        Err(Error::Deleted)
    );
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Permanent),
        Err(Error::Deleted)
    );
    assert_eq!(request_deletion(&mut nft, alice(), id), Err(Error::Deleted));
    set_caller(alice());
    assert_eq!(nft.request_arweave(id), Err(Error::Deleted));
    assert_eq!(
        nft.set_relationship_end(id, START + YEAR),
        Err(Error::Deleted)
    );
    set_caller(attestor());
    assert_eq!(
        nft.set_relationship_end(id, START + YEAR),
        Err(Error::Deleted)
    );
    assert_eq!(
        transfer(&mut nft, alice(), bob(), id),
        Err(custom(Error::Deleted))
    );
    assert_eq!(event_count(), events);
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::Deleted { at: deleted_at })
    );
}

#[ink::test]
fn an_arweave_copy_recorded_after_scheduling_cancels_the_deletion() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Indefinite,
            arweave: true,
            ..upload(alice(), 1)
        },
    );
    request_deletion(&mut nft, alice(), id).expect("not posted yet");
    record(&mut nft, id, arweave(9)).expect("requested");
    assert_eq!(emitted::<DeletionCancelled>().len(), 1);
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert_eq!(confirm(&mut nft, id), Err(Error::NotScheduled));
    assert_eq!(
        request_deletion(&mut nft, alice(), id),
        Err(Error::ArweaveCopy)
    );
    assert!(doc(&nft, id).replicas.arweave.is_some());
    assert!(emitted::<DocumentDeleted>().is_empty());
}

#[ink::test]
fn a_permanent_document_is_never_deletable_even_before_its_arweave_copy() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Permanent,
            ..upload(alice(), 1)
        },
    );
    assert!(doc(&nft, id).replicas.arweave.is_none());
    assert_eq!(
        request_deletion(&mut nft, alice(), id),
        Err(Error::PermanentRetention)
    );
    assert_eq!(notice(&mut nft, id), Err(Error::PermanentRetention));
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
}

// --- the owner's deletion request -------------------------------------------------------------

#[ink::test]
fn owner_deletes_a_document_without_regulatory_minimum_at_once() {
    let mut nft = setup();
    let id = mint(
        &mut nft,
        Upload {
            retention: RetentionOption::Indefinite,
            ..upload(alice(), 1)
        },
    );
    set_time(START + DAY);
    assert_eq!(request_deletion(&mut nft, alice(), id), Ok(()));
    assert_eq!(
        doc(&nft, id).deletion,
        Some(ScheduledDeletion {
            at: START + DAY,
            due: START + DAY,
            by_owner: true,
        })
    );
    let scheduled = last::<DeletionScheduled>();
    assert_eq!(
        (scheduled.id, scheduled.due, scheduled.by_owner),
        (id, START + DAY, true)
    );
    assert_eq!(confirm(&mut nft, id), Ok(()));
    assert_eq!(
        nft.status(id),
        Some(DocumentStatus::Deleted { at: START + DAY })
    );
}

#[ink::test]
fn only_the_owner_requests_deletion() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    for caller in [bob(), executor(), attestor()] {
        assert_eq!(request_deletion(&mut nft, caller, id), Err(Error::NotOwner));
    }
    assert_eq!(
        request_deletion(&mut nft, alice(), 99),
        Err(Error::TokenNotFound)
    );
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
}

#[ink::test]
fn us_tax_and_financial_minimums_hold_against_the_owner() {
    let mut nft = setup();
    let tax = mint(
        &mut nft,
        Upload {
            class: DocumentClass::UsTax,
            ..upload(alice(), 1)
        },
    );
    let financial = mint(
        &mut nft,
        Upload {
            class: DocumentClass::Financial,
            retention: RetentionOption::LongTerm,
            ..upload(alice(), 2)
        },
    );
    set_time(START + 5 * YEAR - 1);
    assert_eq!(
        request_deletion(&mut nft, alice(), financial),
        Err(Error::RegulatoryMinimum)
    );
    set_time(START + 5 * YEAR);
    assert_eq!(request_deletion(&mut nft, alice(), financial), Ok(()));
    set_time(START + 7 * YEAR - 1);
    assert_eq!(
        request_deletion(&mut nft, alice(), tax),
        Err(Error::RegulatoryMinimum)
    );
    set_time(START + 7 * YEAR);
    assert_eq!(request_deletion(&mut nft, alice(), tax), Ok(()));
}

#[ink::test]
fn kyc_minimum_runs_until_five_years_after_the_relationship() {
    let mut nft = setup();
    let id = kyc(&mut nft, alice(), 1, RetentionOption::Extended);
    set_time(START + 50 * YEAR);
    assert_eq!(
        request_deletion(&mut nft, alice(), id),
        Err(Error::RegulatoryMinimum)
    );
    let end = START + 50 * YEAR;
    set_caller(alice());
    nft.set_relationship_end(id, end).expect("owner");
    set_time(end + KYC_AFTER_RELATIONSHIP - 1);
    assert_eq!(
        request_deletion(&mut nft, alice(), id),
        Err(Error::RegulatoryMinimum)
    );
    set_time(end + KYC_AFTER_RELATIONSHIP);
    assert_eq!(request_deletion(&mut nft, alice(), id), Ok(()));
}

#[ink::test]
fn an_arweave_copy_blocks_the_owners_request() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(
        &mut nft,
        Upload {
            arweave: true,
            ..upload(alice(), 1)
        },
    );
    record(&mut nft, id, arweave(9)).expect("requested");
    assert_eq!(
        request_deletion(&mut nft, alice(), id),
        Err(Error::ArweaveCopy)
    );
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
}

// --- tiers -----------------------------------------------------------------------------------

#[ink::test]
fn tier_authority_sets_tiers_up_and_down() {
    let mut nft = setup();
    for caller in [alice(), attestor(), stranger(), governance_address()] {
        set_caller(caller);
        assert_eq!(
            nft.set_tier(Holder::Account(alice()), Tier::Premium),
            Err(Error::NotTierAuthority)
        );
    }
    set_caller(tier_authority());
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::Free),
        Err(Error::TierUnchanged)
    );
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::Premium),
        Ok(())
    );
    assert_eq!(nft.tier_of(Holder::Account(alice())), Some(Tier::Premium));
    let changed = last::<TierChanged>();
    assert_eq!(
        (changed.owner, changed.old, changed.new),
        (Owner::Identity(alice()), Tier::Free, Tier::Premium)
    );
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::Premium),
        Err(Error::TierUnchanged)
    );
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::BpohVerified),
        Ok(())
    );
    let changed = last::<TierChanged>();
    assert_eq!(
        (changed.old, changed.new),
        (Tier::Premium, Tier::BpohVerified)
    );
    assert_eq!(nft.set_tier(Holder::Vault(3), Tier::Institutional), Ok(()));
    assert_eq!(last::<TierChanged>().owner, Owner::Vault(3));
    assert_eq!(nft.tier_of(Holder::Vault(3)), Some(Tier::Institutional));
    assert_eq!(nft.tier_of(Holder::Account(bob())), Some(Tier::Free));
    assert_eq!(emitted::<TierChanged>().len(), 3);
}

#[ink::test]
fn a_downgrade_keeps_stored_documents_and_limits_the_next() {
    let mut nft = setup();
    premium(&mut nft, alice());
    for n in 1..=7 {
        mint(&mut nft, upload(alice(), n));
    }
    set_tier(&mut nft, Holder::Account(alice()), Tier::Free);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 7);
    assert_eq!(doc(&nft, 7).tier, Tier::Premium);
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 8)),
        Err(Error::DocumentLimitReached)
    );
}

// --- encryption keys --------------------------------------------------------------------------

#[ink::test]
fn accounts_publish_and_rotate_their_encryption_key() {
    let mut nft = setup();
    set_caller(alice());
    assert_eq!(nft.publish_encryption_key([0; 32]), Err(Error::InvalidKey));
    assert_eq!(nft.encryption_key(alice()), None);
    assert_eq!(nft.publish_encryption_key([7; 32]), Ok(()));
    let first = EncryptionKey {
        key: [7; 32],
        version: 1,
        published_at: START,
    };
    assert_eq!(nft.encryption_key(alice()), Some(first));
    let published = last::<EncryptionKeyPublished>();
    assert_eq!((published.account, published.key), (alice(), first));

    set_time(START + DAY);
    assert_eq!(nft.publish_encryption_key([0; 32]), Err(Error::InvalidKey));
    assert_eq!(nft.encryption_key(alice()), Some(first));
    assert_eq!(nft.publish_encryption_key([8; 32]), Ok(()));
    let second = EncryptionKey {
        key: [8; 32],
        version: 2,
        published_at: START + DAY,
    };
    assert_eq!(nft.encryption_key(alice()), Some(second));
    assert_eq!(last::<EncryptionKeyPublished>().key, second);
    assert_eq!(nft.encryption_key(bob()), None);
}

#[ink::test]
fn a_revoked_wallet_has_no_key_and_cannot_publish() {
    let mut nft = setup();
    set_caller(alice());
    nft.publish_encryption_key([7; 32]).expect("a key");
    rebind(&mut nft, alice(), dave()).expect("recovery");
    assert_eq!(nft.encryption_key(alice()), None);
    set_caller(alice());
    assert_eq!(
        nft.publish_encryption_key([9; 32]),
        Err(Error::WalletRevoked)
    );
    set_caller(dave());
    assert_eq!(nft.publish_encryption_key([9; 32]), Ok(()));
    assert_eq!(nft.encryption_key(dave()).map(|k| k.version), Some(1));
}

// --- recovery --------------------------------------------------------------------------------

#[ink::test]
fn only_guardian_recovery_rebinds() {
    let mut nft = setup();
    mint(&mut nft, upload(alice(), 1));
    for caller in [
        alice(),
        stranger(),
        governance_address(),
        attestor(),
        team_vault(),
    ] {
        set_caller(caller);
        assert_eq!(
            nft.rebind_owner(alice(), dave()),
            Err(Error::NotRecoveryAuthority)
        );
    }
    governance(|g| g.guardian_recovery = None);
    assert_eq!(
        rebind(&mut nft, alice(), dave()),
        Err(Error::NotRecoveryAuthority)
    );
    assert!(!nft.is_revoked(alice()));
    assert_eq!(nft.owner_of(Id::U64(1)), Some(alice()));
    assert!(emitted::<OwnerRebound>().is_empty());
}

#[ink::test]
fn rebind_moves_every_document_to_the_new_wallet() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let ids: Vec<TokenId> = (1..=3)
        .map(|n| mint(&mut nft, upload(alice(), n)))
        .collect();
    let before: Vec<Document> = ids.iter().map(|id| doc(&nft, *id)).collect();

    assert_eq!(rebind(&mut nft, alice(), dave()), Ok(()));
    let rebound = last::<OwnerRebound>();
    assert_eq!(
        (rebound.identity, rebound.old_wallet, rebound.new_wallet),
        (alice(), alice(), dave())
    );
    for id in &ids {
        assert_eq!(nft.owner_of(Id::U64(*id)), Some(dave()));
    }
    // The records themselves are untouched: they name the identity.
    let after: Vec<Document> = ids.iter().map(|id| doc(&nft, *id)).collect();
    assert_eq!(after, before);
    assert_eq!(nft.balance_of(alice()), 0);
    assert_eq!(nft.balance_of(dave()), 3);
    assert_eq!(nft.identity_of(dave()), Some(alice()));
    assert_eq!(nft.identity_of(alice()), None);
    assert_eq!(nft.wallet_of(alice()), dave());
    assert!(nft.is_revoked(alice()));
    assert!(!nft.is_revoked(dave()));
    assert_eq!(nft.live_documents(Holder::Account(dave())), 3);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 0);
    assert_eq!(nft.tier_of(Holder::Account(dave())), Some(Tier::Premium));
    assert_eq!(nft.tier_of(Holder::Account(alice())), None);

    // The new wallet acts as the owner; the old one no longer does.
    assert_eq!(
        extend(&mut nft, alice(), ids[0], RetentionOption::Standard),
        Err(Error::NotOwner)
    );
    assert_eq!(
        extend(&mut nft, dave(), ids[0], RetentionOption::Standard),
        Ok(())
    );
    assert_eq!(
        transfer(&mut nft, alice(), bob(), ids[1]),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(transfer(&mut nft, dave(), bob(), ids[1]), Ok(()));
    let t = last::<Transfer>();
    assert_eq!((t.from, t.to), (Some(dave()), Some(bob())));
    // New uploads for the new wallet count under the same identity and tier.
    let more = mint(&mut nft, upload(dave(), 9));
    assert_eq!(doc(&nft, more).owner, Owner::Identity(alice()));
    assert_eq!(doc(&nft, more).tier, Tier::Premium);
    assert_eq!(nft.balance_of(dave()), 3);
}

#[ink::test]
fn a_revoked_wallet_can_never_be_used_again() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(bob(), 1));
    rebind(&mut nft, alice(), dave()).expect("recovery");
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(alice(), 2)),
        Err(Error::WalletRevoked)
    );
    assert_eq!(
        transfer(&mut nft, bob(), alice(), id),
        Err(custom(Error::WalletRevoked))
    );
    set_caller(tier_authority());
    assert_eq!(
        nft.set_tier(Holder::Account(alice()), Tier::Premium),
        Err(Error::WalletRevoked)
    );
    assert_eq!(rebind(&mut nft, alice(), erin()), Err(Error::WalletRevoked));
    assert_eq!(rebind(&mut nft, bob(), alice()), Err(Error::WalletRevoked));
    assert_eq!(nft.balance_of(alice()), 0);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 0);
    assert_eq!(nft.owner_of(Id::U64(id)), Some(bob()));
}

#[ink::test]
fn the_new_wallet_must_be_unused() {
    let mut nft = setup();
    mint(&mut nft, upload(alice(), 1));
    mint(&mut nft, upload(bob(), 2));
    assert_eq!(rebind(&mut nft, alice(), bob()), Err(Error::WalletInUse));
    assert_eq!(rebind(&mut nft, alice(), alice()), Err(Error::WalletInUse));
    rebind(&mut nft, carol(), dave()).expect("carol's recovery");
    // dave now serves carol's identity.
    assert_eq!(rebind(&mut nft, alice(), dave()), Err(Error::WalletInUse));
    assert!(!nft.is_revoked(alice()));
    assert_eq!(nft.owner_of(Id::U64(1)), Some(alice()));
    assert_eq!(emitted::<OwnerRebound>().len(), 1);
}

#[ink::test]
fn a_wallet_whose_documents_are_all_deleted_still_holds_them() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(bob(), 1));
    delete_now(&mut nft, bob(), id);
    assert_eq!(rebind(&mut nft, alice(), bob()), Err(Error::WalletInUse));
}

#[ink::test]
fn recoveries_chain() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let id = mint(&mut nft, upload(alice(), 1));
    rebind(&mut nft, alice(), dave()).expect("first recovery");
    assert_eq!(rebind(&mut nft, dave(), erin()), Ok(()));
    let rebound = last::<OwnerRebound>();
    assert_eq!(
        (rebound.identity, rebound.old_wallet, rebound.new_wallet),
        (alice(), dave(), erin())
    );
    assert_eq!(nft.owner_of(Id::U64(id)), Some(erin()));
    assert_eq!(nft.identity_of(erin()), Some(alice()));
    assert_eq!(nft.identity_of(dave()), None);
    assert_eq!(nft.wallet_of(alice()), erin());
    assert!(nft.is_revoked(alice()));
    assert!(nft.is_revoked(dave()));
    assert_eq!(nft.balance_of(dave()), 0);
    assert_eq!(nft.balance_of(erin()), 1);
    assert_eq!(nft.tier_of(Holder::Account(erin())), Some(Tier::Premium));
    assert_eq!(
        try_mint(&mut nft, attestor(), upload(dave(), 2)),
        Err(Error::WalletRevoked)
    );
    assert_eq!(
        extend(&mut nft, erin(), id, RetentionOption::Standard),
        Ok(())
    );
    assert_eq!(rebind(&mut nft, erin(), dave()), Err(Error::WalletRevoked));
}

#[ink::test]
fn approvals_by_the_old_wallet_do_not_survive_recovery() {
    let mut nft = setup();
    let one = mint(&mut nft, upload(alice(), 1));
    let two = mint(&mut nft, upload(alice(), 2));
    set_caller(alice());
    nft.approve(bob(), Some(Id::U64(one)), true).expect("owner");
    nft.approve(carol(), None, true).expect("owner");
    rebind(&mut nft, alice(), dave()).expect("recovery");
    assert!(!nft.allowance(dave(), bob(), Some(Id::U64(one))));
    assert!(!nft.allowance(dave(), carol(), None));
    assert!(!nft.allowance(alice(), carol(), None));
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(one))));
    assert_eq!(
        transfer(&mut nft, bob(), bob(), one),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(
        transfer(&mut nft, carol(), carol(), two),
        Err(PSP34Error::NotApproved)
    );
}

// --- code upgrade ----------------------------------------------------------------------------

#[ink::test]
fn only_governance_upgrades_the_code() {
    let mut nft = setup();
    for caller in [
        alice(),
        stranger(),
        guardian_recovery(),
        attestor(),
        team_vault(),
    ] {
        set_caller(caller);
        assert_eq!(nft.set_code([5; 32]), Err(Error::NotGovernance));
    }
    assert_eq!(event_count(), 0);
}

// --- PSP34 -----------------------------------------------------------------------------------

#[ink::test]
fn approve_is_for_the_owner_of_an_existing_token() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let events = event_count();
    set_caller(alice());
    assert_eq!(
        nft.approve(alice(), Some(Id::U64(id)), true),
        Err(PSP34Error::SelfApprove)
    );
    assert_eq!(
        nft.approve(alice(), None, true),
        Err(PSP34Error::SelfApprove)
    );
    assert_eq!(
        nft.approve(bob(), Some(Id::U64(99)), true),
        Err(PSP34Error::TokenNotExists)
    );
    assert_eq!(
        nft.approve(bob(), Some(Id::U8(1)), true),
        Err(PSP34Error::TokenNotExists)
    );
    set_caller(carol());
    assert_eq!(
        nft.approve(bob(), Some(Id::U64(id)), true),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(event_count(), events);
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));
}

#[ink::test]
fn a_deleted_token_cannot_be_approved() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    delete_now(&mut nft, alice(), id);
    set_caller(alice());
    assert_eq!(
        nft.approve(bob(), Some(Id::U64(id)), true),
        Err(custom(Error::Deleted))
    );
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));
}

#[ink::test]
fn approvals_per_token_and_for_all() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(alice());
    assert_eq!(nft.approve(bob(), Some(Id::U64(id)), true), Ok(()));
    let approval = last::<Approval>();
    assert_eq!(
        (
            approval.owner,
            approval.operator,
            approval.id,
            approval.approved
        ),
        (alice(), bob(), Some(Id::U64(id)), true)
    );
    assert!(nft.allowance(alice(), bob(), Some(Id::U64(id))));
    assert!(!nft.allowance(alice(), bob(), None));
    assert!(!nft.allowance(alice(), carol(), Some(Id::U64(id))));
    assert!(!nft.allowance(carol(), bob(), Some(Id::U64(id))));
    assert_eq!(nft.approve(bob(), Some(Id::U64(id)), false), Ok(()));
    assert!(!last::<Approval>().approved);
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));

    assert_eq!(nft.approve(carol(), None, true), Ok(()));
    assert_eq!(last::<Approval>().id, None);
    assert!(nft.allowance(alice(), carol(), None));
    assert!(nft.allowance(alice(), carol(), Some(Id::U64(id))));
    assert_eq!(nft.approve(carol(), None, false), Ok(()));
    assert!(!nft.allowance(alice(), carol(), None));
    assert_eq!(emitted::<Approval>().len(), 4);
}

#[ink::test]
fn owner_transfers_a_document() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(transfer(&mut nft, alice(), bob(), id), Ok(()));
    let t = last::<Transfer>();
    assert_eq!(
        (t.from, t.to, t.id),
        (Some(alice()), Some(bob()), Id::U64(id))
    );
    assert_eq!(nft.owner_of(Id::U64(id)), Some(bob()));
    assert_eq!(doc(&nft, id).owner, Owner::Identity(bob()));
    assert_eq!(nft.balance_of(alice()), 0);
    assert_eq!(nft.balance_of(bob()), 1);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 0);
    assert_eq!(nft.live_documents(Holder::Account(bob())), 1);
    assert_eq!(nft.total_supply(), 1);
    // The new owner acts on it; the old one no longer does.
    assert_eq!(
        extend(&mut nft, alice(), id, RetentionOption::Standard),
        Err(Error::NotOwner)
    );
    assert_eq!(
        extend(&mut nft, bob(), id, RetentionOption::Standard),
        Ok(())
    );
}

#[ink::test]
fn transfer_errors_follow_the_standard() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(alice());
    assert_eq!(
        nft.transfer(bob(), Id::U64(99), Vec::new()),
        Err(PSP34Error::TokenNotExists)
    );
    assert_eq!(
        nft.transfer(bob(), Id::U32(1), Vec::new()),
        Err(PSP34Error::TokenNotExists)
    );
    assert_eq!(
        transfer(&mut nft, stranger(), bob(), id),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(
        transfer(&mut nft, bob(), bob(), id),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(nft.owner_of(Id::U64(id)), Some(alice()));
    assert_eq!(emitted::<Transfer>().len(), 1);
}

#[ink::test]
fn transfer_to_the_owner_itself_changes_nothing() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let events = event_count();
    assert_eq!(transfer(&mut nft, alice(), alice(), id), Ok(()));
    assert_eq!(event_count(), events);
    assert_eq!(nft.balance_of(alice()), 1);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 1);
}

#[ink::test]
fn an_approved_operator_transfers_once_and_the_approval_is_cleared() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    set_caller(alice());
    nft.approve(bob(), Some(Id::U64(id)), true).expect("owner");
    assert_eq!(transfer(&mut nft, bob(), carol(), id), Ok(()));
    let t = last::<Transfer>();
    assert_eq!((t.from, t.to), (Some(alice()), Some(carol())));
    assert_eq!(nft.owner_of(Id::U64(id)), Some(carol()));
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));
    assert!(!nft.allowance(carol(), bob(), Some(Id::U64(id))));
    assert_eq!(
        transfer(&mut nft, bob(), bob(), id),
        Err(PSP34Error::NotApproved)
    );
    // Back with alice, the old approval does not revive.
    assert_eq!(transfer(&mut nft, carol(), alice(), id), Ok(()));
    assert!(!nft.allowance(alice(), bob(), Some(Id::U64(id))));
    assert_eq!(
        transfer(&mut nft, bob(), bob(), id),
        Err(PSP34Error::NotApproved)
    );
}

#[ink::test]
fn an_operator_for_all_moves_any_of_the_owners_documents() {
    let mut nft = setup();
    let one = mint(&mut nft, upload(alice(), 1));
    let two = mint(&mut nft, upload(alice(), 2));
    let bobs = mint(&mut nft, upload(bob(), 3));
    set_caller(alice());
    nft.approve(carol(), None, true).expect("owner");
    assert_eq!(transfer(&mut nft, carol(), dave(), one), Ok(()));
    assert_eq!(transfer(&mut nft, carol(), carol(), two), Ok(()));
    assert_eq!(
        transfer(&mut nft, carol(), carol(), bobs),
        Err(PSP34Error::NotApproved)
    );
    assert_eq!(nft.owner_of(Id::U64(one)), Some(dave()));
    assert_eq!(nft.owner_of(Id::U64(two)), Some(carol()));
    assert_eq!(nft.balance_of(alice()), 0);
}

#[ink::test]
fn the_receivers_tier_limits_apply_to_a_transfer() {
    let mut nft = setup();
    for n in 1..=5 {
        mint(&mut nft, upload(bob(), n));
    }
    premium(&mut nft, alice());
    let small = mint(&mut nft, upload(alice(), 6));
    let large = mint(
        &mut nft,
        Upload {
            size: 20 * MB,
            ..upload(alice(), 7)
        },
    );
    assert_eq!(
        transfer(&mut nft, alice(), bob(), small),
        Err(custom(Error::DocumentLimitReached))
    );
    assert_eq!(
        transfer(&mut nft, alice(), carol(), large),
        Err(custom(Error::DocumentTooLarge))
    );
    assert_eq!(nft.owner_of(Id::U64(small)), Some(alice()));
    assert_eq!(nft.owner_of(Id::U64(large)), Some(alice()));
    assert_eq!(nft.balance_of(bob()), 5);
    assert_eq!(nft.balance_of(alice()), 2);
    assert_eq!(transfer(&mut nft, alice(), carol(), small), Ok(()));
}

#[ink::test]
fn a_transfer_to_a_recovered_wallet_reaches_its_identity() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    rebind(&mut nft, bob(), dave()).expect("bob's recovery");
    assert_eq!(
        transfer(&mut nft, alice(), bob(), id),
        Err(custom(Error::WalletRevoked))
    );
    assert_eq!(transfer(&mut nft, alice(), dave(), id), Ok(()));
    assert_eq!(doc(&nft, id).owner, Owner::Identity(bob()));
    assert_eq!(nft.owner_of(Id::U64(id)), Some(dave()));
    assert_eq!(nft.balance_of(dave()), 1);
}

#[ink::test]
fn total_supply_counts_every_token_ever_minted() {
    let mut nft = setup();
    for n in 1..=3 {
        mint(&mut nft, upload(alice(), n));
    }
    delete_now(&mut nft, alice(), 2);
    assert_eq!(nft.total_supply(), 3);
    assert_eq!(nft.balance_of(alice()), 3);
}

#[ink::test]
fn attributes_describe_the_document() {
    let mut nft = setup();
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = (i as u8) * 8;
    }
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let id = mint(
        &mut nft,
        Upload {
            sha256: hash,
            size: 1_234_567,
            class: DocumentClass::UsTax,
            ..upload(alice(), 0)
        },
    );
    assert_eq!(attribute(&nft, id, "sha256"), Some(hex.clone()));
    assert_eq!(
        attribute(&nft, id, "storage_key"),
        Some(format!("docs/{hex}"))
    );
    assert_eq!(attribute(&nft, id, "size").as_deref(), Some("1234567"));
    assert_eq!(attribute(&nft, id, "class").as_deref(), Some("us-tax"));
    assert_eq!(
        attribute(&nft, id, "retention").as_deref(),
        Some("regulatory-us-tax")
    );
    assert_eq!(
        attribute(&nft, id, "expiry"),
        Some((START + 7 * YEAR).to_string())
    );
    assert_eq!(attribute(&nft, id, "status").as_deref(), Some("active"));
    assert_eq!(attribute(&nft, id, "owner"), None);
    assert_eq!(attribute(&nft, 99, "size"), None);
    assert_eq!(nft.get_attribute(Id::U8(1), b"size".to_vec()), None);

    set_time(START + 7 * YEAR);
    notice(&mut nft, id).expect("expired");
    assert_eq!(
        attribute(&nft, id, "status").as_deref(),
        Some("deletion-scheduled")
    );
}

#[ink::test]
fn attributes_name_every_class_and_option() {
    let mut nft = setup();
    premium(&mut nft, alice());
    let classes = [
        (DocumentClass::UsTax, "us-tax"),
        (DocumentClass::Financial, "financial"),
        (DocumentClass::Kyc, "kyc"),
        (DocumentClass::Other, "other"),
    ];
    for (n, (class, name)) in (1u8..).zip(classes) {
        let id = mint(
            &mut nft,
            Upload {
                class,
                ..upload(alice(), n)
            },
        );
        assert_eq!(attribute(&nft, id, "class").as_deref(), Some(name));
    }
    let options = [
        (RetentionOption::Minimum, "minimum"),
        (RetentionOption::Standard, "standard"),
        (RetentionOption::Extended, "extended"),
        (RetentionOption::RegulatoryUsTax, "regulatory-us-tax"),
        (RetentionOption::LongTerm, "long-term"),
        (RetentionOption::Indefinite, "indefinite"),
        (RetentionOption::Permanent, "permanent"),
    ];
    for (n, (retention, name)) in (10u8..).zip(options) {
        let id = mint(
            &mut nft,
            Upload {
                retention,
                ..upload(alice(), n)
            },
        );
        assert_eq!(attribute(&nft, id, "retention").as_deref(), Some(name));
        let expiry = retention.duration().map(|d| (START + d).to_string());
        assert_eq!(attribute(&nft, id, "expiry"), expiry);
    }
}

// --- staged vault uploads ------------------------------------------------------------------

/// The arguments of `mint_staged`.
#[derive(Debug, Clone, Copy)]
struct StagedMint {
    vault: VaultId,
    sha256: Hash32,
    class: DocumentClass,
    retention: RetentionOption,
    arweave: bool,
}

/// The staged ciphertext `n` minted for `vault` as an `Other` document kept for the `Minimum`,
/// without Arweave.
fn staged(vault: VaultId, n: u8) -> StagedMint {
    StagedMint {
        vault,
        sha256: sha(n),
        class: DocumentClass::Other,
        retention: RetentionOption::Minimum,
        arweave: false,
    }
}

fn try_stage(
    nft: &mut DocumentNft,
    caller: AccountId,
    vault: VaultId,
    n: u8,
    size: u64,
) -> Result<()> {
    set_caller(caller);
    nft.stage_vault_upload(vault, sha(n), size)
}

/// The attestor stages the 1 MB ciphertext `n` for `vault`.
fn stage(nft: &mut DocumentNft, vault: VaultId, n: u8) {
    try_stage(nft, attestor(), vault, n, MB).expect("the attestor stages");
}

fn try_mint_staged(nft: &mut DocumentNft, caller: AccountId, s: StagedMint) -> Result<TokenId> {
    set_caller(caller);
    nft.mint_staged(s.vault, s.sha256, s.class, s.retention, s.arweave)
}

/// Stages the 1 MB ciphertext `n` for `vault` and has TeamVault mint it.
fn mint_vault_doc(nft: &mut DocumentNft, vault: VaultId, n: u8) -> TokenId {
    stage(nft, vault, n);
    try_mint_staged(nft, team_vault(), staged(vault, n)).expect("TeamVault mints it")
}

#[ink::test]
fn attestor_stages_a_vault_upload() {
    let mut nft = setup();
    set_time(START + DAY);
    assert_eq!(try_stage(&mut nft, attestor(), 7, 1, 3 * MB), Ok(()));
    assert_eq!(
        nft.staged_upload(sha(1)),
        Some(StagedUpload {
            vault: 7,
            size: 3 * MB,
            staged_at: START + DAY,
        })
    );
    let e = last::<UploadStaged>();
    assert_eq!((e.vault, e.sha256, e.size), (7, sha(1), 3 * MB));
    assert_eq!(event_count(), 1);
    // Nothing is minted yet.
    assert_eq!(nft.staged_upload(sha(2)), None);
    assert_eq!(nft.token_by_hash(sha(1)), None);
    assert_eq!(nft.total_supply(), 0);
    assert_eq!(nft.live_documents(Holder::Vault(7)), 0);
    assert_eq!(nft.balance_of(team_vault()), 0);

    // Tier limits apply when the vault mints, not when the upload is staged.
    assert_eq!(try_stage(&mut nft, attestor(), 7, 2, 20 * MB), Ok(()));
    assert_eq!(nft.staged_upload(sha(2)).map(|s| s.size), Some(20 * MB));
    assert_eq!(emitted::<UploadStaged>().len(), 2);
}

#[ink::test]
fn only_the_attestor_stages() {
    let mut nft = setup();
    for caller in [
        alice(),
        stranger(),
        executor(),
        tier_authority(),
        team_vault(),
        guardian_recovery(),
        governance_address(),
    ] {
        assert_eq!(
            try_stage(&mut nft, caller, 7, 1, MB),
            Err(Error::NotAttestor)
        );
    }
    governance(|g| g.attestor = None);
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 1, MB),
        Err(Error::NotAttestor)
    );
    governance(|g| g.attestor = Some(carol()));
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 1, MB),
        Err(Error::NotAttestor)
    );
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(event_count(), 0);
    assert_eq!(try_stage(&mut nft, carol(), 7, 1, MB), Ok(()));
    assert_eq!(nft.staged_upload(sha(1)).map(|s| s.vault), Some(7));
}

#[ink::test]
fn an_empty_upload_is_not_staged() {
    let mut nft = setup();
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 1, 0),
        Err(Error::EmptyDocument)
    );
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(event_count(), 0);
    assert_eq!(try_stage(&mut nft, attestor(), 7, 1, 1), Ok(()));
}

#[ink::test]
fn a_minted_or_staged_ciphertext_is_not_staged_again() {
    let mut nft = setup();
    mint(&mut nft, upload(alice(), 1));
    let deleted = mint(&mut nft, upload(alice(), 2));
    delete_now(&mut nft, alice(), deleted);
    let events = event_count();
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 1, MB),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 2, MB),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(nft.staged_upload(sha(2)), None);

    set_time(START + DAY);
    stage(&mut nft, 7, 3);
    set_time(START + 2 * DAY);
    for vault in [7, 8] {
        assert_eq!(
            try_stage(&mut nft, attestor(), vault, 3, 2 * MB),
            Err(Error::DuplicateDocument)
        );
    }
    // The first staging stands.
    assert_eq!(
        nft.staged_upload(sha(3)),
        Some(StagedUpload {
            vault: 7,
            size: MB,
            staged_at: START + DAY,
        })
    );
    assert_eq!(event_count(), events + 1);

    // Minted from the stage, the ciphertext is still a duplicate.
    try_mint_staged(&mut nft, team_vault(), staged(7, 3)).expect("staged for vault 7");
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 3, MB),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(nft.staged_upload(sha(3)), None);
}

#[ink::test]
fn staging_needs_governance() {
    let mut nft = setup();
    governance(|g| g.available = false);
    assert_eq!(
        try_stage(&mut nft, attestor(), 7, 1, MB),
        Err(Error::GovernanceUnavailable)
    );
    assert_eq!(nft.staged_upload(sha(1)), None);
}

#[ink::test]
fn the_attestor_cannot_mint_a_staged_ciphertext() {
    let mut nft = setup();
    stage(&mut nft, 7, 1);
    for holder in [Holder::Account(alice()), Holder::Vault(7), Holder::Vault(8)] {
        assert_eq!(
            try_mint(
                &mut nft,
                attestor(),
                Upload {
                    holder,
                    ..upload(alice(), 1)
                }
            ),
            Err(Error::DuplicateDocument)
        );
    }
    // The stage is untouched and still minted by the vault's decision.
    assert_eq!(nft.staged_upload(sha(1)).map(|s| s.vault), Some(7));
    assert_eq!(nft.total_supply(), 0);
    assert_eq!(emitted::<Transfer>().len(), 0);
    assert_eq!(try_mint_staged(&mut nft, team_vault(), staged(7, 1)), Ok(1));
}

#[ink::test]
fn team_vault_mints_a_staged_upload_for_its_vault() {
    let mut nft = setup();
    mint(&mut nft, upload(alice(), 9));
    assert_eq!(try_stage(&mut nft, attestor(), 7, 1, 3 * MB), Ok(()));
    set_time(START + DAY);
    let events = event_count();
    let id = try_mint_staged(&mut nft, team_vault(), staged(7, 1)).expect("staged for vault 7");
    assert_eq!(id, 2);
    assert_eq!(
        doc(&nft, id),
        Document {
            owner: Owner::Vault(7),
            sha256: sha(1),
            size: 3 * MB,
            tier: Tier::Free,
            class: DocumentClass::Other,
            chosen: RetentionOption::Minimum,
            retention: RetentionOption::Minimum,
            uploaded_at: START + DAY,
            relationship_end: None,
            deletion: None,
            deleted_at: None,
            replicas: Replicas {
                s3: true,
                arweave_requested: false,
                arweave: None,
                ipfs: None,
            },
        }
    );
    assert_eq!(nft.owner_of(Id::U64(id)), Some(team_vault()));
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(nft.token_by_hash(sha(1)), Some(id));
    assert_eq!(nft.live_documents(Holder::Vault(7)), 1);
    assert_eq!(nft.live_documents(Holder::Account(alice())), 1);
    assert_eq!(nft.balance_of(team_vault()), 1);
    assert_eq!(nft.balance_of(alice()), 1);
    assert_eq!(nft.total_supply(), 2);
    assert_eq!(nft.status(id), Some(DocumentStatus::Active));
    assert_eq!(nft.expiry(id), Some(Some(START + DAY + YEAR)));

    let t = last::<Transfer>();
    assert_eq!(
        (t.from, t.to, t.id),
        (None, Some(team_vault()), Id::U64(id))
    );
    let m = last::<DocumentMinted>();
    assert_eq!(
        (m.id, m.owner, m.sha256, m.size, m.tier, m.class),
        (
            id,
            Owner::Vault(7),
            sha(1),
            3 * MB,
            Tier::Free,
            DocumentClass::Other
        )
    );
    assert_eq!(
        (m.retention, m.expiry, m.arweave_requested),
        (RetentionOption::Minimum, Some(START + DAY + YEAR), false)
    );
    assert!(emitted::<RetentionUpgraded>().is_empty());
    assert_eq!(event_count(), events + 2);

    // The stage is consumed: it cannot be minted again, by TeamVault or the attestor.
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::NotStaged)
    );
    assert_eq!(
        try_mint(
            &mut nft,
            attestor(),
            Upload {
                holder: Holder::Vault(7),
                ..upload(alice(), 1)
            }
        ),
        Err(Error::DuplicateDocument)
    );
    assert_eq!(nft.total_supply(), 2);

    // TeamVault acts for the vault's new document.
    assert_eq!(
        extend(&mut nft, team_vault(), id, RetentionOption::Standard),
        Ok(())
    );
}

#[ink::test]
fn only_team_vault_mints_staged_uploads() {
    let mut nft = setup();
    stage(&mut nft, 7, 1);
    let events = event_count();
    for caller in [
        attestor(),
        alice(),
        stranger(),
        executor(),
        tier_authority(),
        guardian_recovery(),
        governance_address(),
        nft_address(),
    ] {
        assert_eq!(
            try_mint_staged(&mut nft, caller, staged(7, 1)),
            Err(Error::NotTeamVault)
        );
    }
    // Without a TeamVault address in governance, nobody mints staged uploads.
    governance(|g| g.team_vault = None);
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::NotTeamVault)
    );
    // A TeamVault governance appointed anew replaces the old one.
    governance(|g| g.team_vault = Some(carol()));
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::NotTeamVault)
    );
    assert_eq!(event_count(), events);
    assert_eq!(nft.total_supply(), 0);
    assert_eq!(nft.staged_upload(sha(1)).map(|s| s.vault), Some(7));
    assert_eq!(try_mint_staged(&mut nft, carol(), staged(7, 1)), Ok(1));
    assert_eq!(nft.owner_of(Id::U64(1)), Some(carol()));
}

#[ink::test]
fn mint_staged_needs_governance() {
    let mut nft = setup();
    stage(&mut nft, 7, 1);
    governance(|g| g.available = false);
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::GovernanceUnavailable)
    );
    assert!(nft.staged_upload(sha(1)).is_some());
    governance(|g| g.available = true);
    assert_eq!(try_mint_staged(&mut nft, team_vault(), staged(7, 1)), Ok(1));
}

#[ink::test]
fn mint_staged_needs_an_upload_staged_for_that_vault() {
    let mut nft = setup();
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::NotStaged)
    );
    // A ciphertext minted directly was never staged.
    mint(&mut nft, upload(alice(), 2));
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 2)),
        Err(Error::NotStaged)
    );
    stage(&mut nft, 7, 1);
    let events = event_count();
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(8, 1)),
        Err(Error::NotStaged)
    );
    assert_eq!(nft.staged_upload(sha(1)).map(|s| s.vault), Some(7));
    assert_eq!(event_count(), events);
    assert_eq!(nft.live_documents(Holder::Vault(8)), 0);
    assert_eq!(try_mint_staged(&mut nft, team_vault(), staged(7, 1)), Ok(2));
    assert_eq!(doc(&nft, 2).owner, Owner::Vault(7));
}

#[ink::test]
fn the_vault_tier_limits_staged_uploads_and_a_refusal_keeps_the_stage() {
    let mut nft = setup();
    for n in 1..=5 {
        mint_vault_doc(&mut nft, 7, n);
    }
    assert_eq!(nft.live_documents(Holder::Vault(7)), 5);
    stage(&mut nft, 7, 6);
    let events = event_count();
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 6)),
        Err(Error::DocumentLimitReached)
    );
    // Refused, the upload stays staged for a retry, and nothing else changed.
    assert_eq!(nft.staged_upload(sha(6)).map(|s| s.vault), Some(7));
    assert_eq!(nft.token_by_hash(sha(6)), None);
    assert_eq!(nft.total_supply(), 5);
    assert_eq!(nft.live_documents(Holder::Vault(7)), 5);
    assert_eq!(event_count(), events);
    // Another vault and the uploader have limits of their own.
    assert_eq!(mint_vault_doc(&mut nft, 8, 7), 6);
    assert_eq!(mint(&mut nft, upload(alice(), 8)), 7);

    set_tier(&mut nft, Holder::Vault(7), Tier::Premium);
    assert_eq!(try_mint_staged(&mut nft, team_vault(), staged(7, 6)), Ok(8));
    assert_eq!(nft.staged_upload(sha(6)), None);
    assert_eq!(doc(&nft, 8).tier, Tier::Premium);
    assert_eq!(nft.live_documents(Holder::Vault(7)), 6);
    assert_eq!(nft.balance_of(team_vault()), 7);
}

#[ink::test]
fn a_deleted_vault_document_frees_a_slot_for_a_staged_upload() {
    let mut nft = setup();
    for n in 1..=5 {
        mint_vault_doc(&mut nft, 7, n);
    }
    stage(&mut nft, 7, 6);
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 6)),
        Err(Error::DocumentLimitReached)
    );
    delete_now(&mut nft, team_vault(), 1);
    assert_eq!(try_mint_staged(&mut nft, team_vault(), staged(7, 6)), Ok(6));
    assert_eq!(nft.live_documents(Holder::Vault(7)), 5);
}

#[ink::test]
fn a_staged_upload_too_large_or_asking_for_arweave_waits_for_the_vault_tier() {
    let mut nft = setup();
    assert_eq!(try_stage(&mut nft, attestor(), 7, 1, 10 * MB + 1), Ok(()));
    stage(&mut nft, 7, 2);
    let events = event_count();
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::DocumentTooLarge)
    );
    let archived = StagedMint {
        arweave: true,
        ..staged(7, 2)
    };
    let permanent = StagedMint {
        retention: RetentionOption::Permanent,
        ..staged(7, 2)
    };
    for refused in [archived, permanent] {
        assert_eq!(
            try_mint_staged(&mut nft, team_vault(), refused),
            Err(Error::ReplicationNotAllowed)
        );
    }
    assert!(nft.staged_upload(sha(1)).is_some());
    assert!(nft.staged_upload(sha(2)).is_some());
    assert_eq!(event_count(), events);

    set_tier(&mut nft, Holder::Vault(7), Tier::Premium);
    let large = try_mint_staged(&mut nft, team_vault(), staged(7, 1)).expect("premium");
    assert_eq!(doc(&nft, large).size, 10 * MB + 1);
    let id = try_mint_staged(&mut nft, team_vault(), permanent).expect("premium");
    let document = doc(&nft, id);
    assert_eq!(document.retention, RetentionOption::Permanent);
    assert!(document.replicas.arweave_requested);
    assert!(last::<DocumentMinted>().arweave_requested);
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(nft.staged_upload(sha(2)), None);
}

#[ink::test]
fn mint_staged_raises_the_retention_to_the_floor() {
    let mut nft = setup();
    stage(&mut nft, 7, 1);
    let id = try_mint_staged(
        &mut nft,
        team_vault(),
        StagedMint {
            class: DocumentClass::UsTax,
            ..staged(7, 1)
        },
    )
    .expect("staged");
    let document = doc(&nft, id);
    assert_eq!(document.chosen, RetentionOption::Minimum);
    assert_eq!(document.retention, RetentionOption::RegulatoryUsTax);
    assert_eq!(nft.expiry(id), Some(Some(START + 7 * YEAR)));
    let upgraded = last::<RetentionUpgraded>();
    assert_eq!(
        (upgraded.id, upgraded.chosen, upgraded.applied),
        (
            id,
            RetentionOption::Minimum,
            RetentionOption::RegulatoryUsTax
        )
    );
    let minted = last::<DocumentMinted>();
    assert_eq!(
        (minted.owner, minted.retention, minted.expiry),
        (
            Owner::Vault(7),
            RetentionOption::RegulatoryUsTax,
            Some(START + 7 * YEAR)
        )
    );
    // Transfer, DocumentMinted, RetentionUpgraded after UploadStaged.
    assert_eq!(event_count(), 4);

    stage(&mut nft, 7, 2);
    let financial = try_mint_staged(
        &mut nft,
        team_vault(),
        StagedMint {
            class: DocumentClass::Financial,
            retention: RetentionOption::LongTerm,
            ..staged(7, 2)
        },
    )
    .expect("staged");
    assert_eq!(doc(&nft, financial).retention, RetentionOption::LongTerm);
    assert_eq!(emitted::<RetentionUpgraded>().len(), 1);
}

// --- sharing -------------------------------------------------------------------------------

fn publish(nft: &mut DocumentNft, account: AccountId, key: [u8; 32]) {
    set_caller(account);
    nft.publish_encryption_key(key).expect("a valid key");
}

fn try_share(
    nft: &mut DocumentNft,
    caller: AccountId,
    id: TokenId,
    grantee: AccountId,
    wrapped_key: Vec<u8>,
) -> Result<()> {
    set_caller(caller);
    nft.share(id, grantee, wrapped_key)
}

/// A document key wrapped to an X25519 key: a 32-byte ephemeral key, 24-byte nonce, 48-byte
/// sealed key.
fn wrapped(n: u8) -> Vec<u8> {
    vec![n; 104]
}

#[ink::test]
fn owner_shares_a_document_with_a_published_key() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    let other = mint(&mut nft, upload(alice(), 2));
    publish(&mut nft, bob(), [7; 32]);
    set_time(START + DAY);
    publish(&mut nft, bob(), [8; 32]);
    assert_eq!(nft.encryption_key(bob()).map(|k| k.version), Some(2));
    set_time(START + 2 * DAY);
    let events = event_count();
    assert_eq!(try_share(&mut nft, alice(), id, bob(), wrapped(1)), Ok(()));
    assert_eq!(
        nft.read_grant(id, bob()),
        Some(ReadGrant {
            wrapped_key: wrapped(1),
            key_version: 2,
            granted_at: START + 2 * DAY,
        })
    );
    let shared = last::<DocumentShared>();
    assert_eq!(
        (shared.id, shared.grantee, shared.key_version),
        (id, bob(), 2)
    );
    assert_eq!(event_count(), events + 1);
    // The grant is for that document and that reader only.
    assert_eq!(nft.read_grant(other, bob()), None);
    assert_eq!(nft.read_grant(id, carol()), None);
    assert_eq!(nft.read_grant(id, alice()), None);
    // Sharing changes no ownership.
    assert_eq!(nft.owner_of(Id::U64(id)), Some(alice()));
    assert_eq!(nft.balance_of(bob()), 0);
}

#[ink::test]
fn sharing_again_replaces_the_grant() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    publish(&mut nft, carol(), [9; 32]);
    try_share(&mut nft, alice(), id, bob(), wrapped(1)).expect("shared");
    try_share(&mut nft, alice(), id, carol(), wrapped(3)).expect("shared");
    assert_eq!(nft.read_grant(id, bob()).map(|g| g.key_version), Some(1));

    set_time(START + DAY);
    publish(&mut nft, bob(), [8; 32]);
    set_time(START + 2 * DAY);
    assert_eq!(try_share(&mut nft, alice(), id, bob(), wrapped(2)), Ok(()));
    assert_eq!(
        nft.read_grant(id, bob()),
        Some(ReadGrant {
            wrapped_key: wrapped(2),
            key_version: 2,
            granted_at: START + 2 * DAY,
        })
    );
    // Another reader's grant is untouched.
    assert_eq!(
        nft.read_grant(id, carol()),
        Some(ReadGrant {
            wrapped_key: wrapped(3),
            key_version: 1,
            granted_at: START,
        })
    );
    let shared = emitted::<DocumentShared>();
    assert_eq!(shared.len(), 3);
    assert_eq!(
        (shared[2].id, shared[2].grantee, shared[2].key_version),
        (id, bob(), 2)
    );
}

#[ink::test]
fn wrapped_keys_have_1_to_128_bytes() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    let events = event_count();
    for invalid in [Vec::new(), vec![1; MAX_WRAPPED_KEY_LEN + 1]] {
        assert_eq!(
            try_share(&mut nft, alice(), id, bob(), invalid),
            Err(Error::InvalidWrappedKey)
        );
    }
    assert_eq!(MAX_WRAPPED_KEY_LEN, 128);
    assert_eq!(nft.read_grant(id, bob()), None);
    assert_eq!(event_count(), events);
    assert_eq!(try_share(&mut nft, alice(), id, bob(), vec![1]), Ok(()));
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), vec![2; MAX_WRAPPED_KEY_LEN]),
        Ok(())
    );
    assert_eq!(
        nft.read_grant(id, bob()).map(|g| g.wrapped_key),
        Some(vec![2; 128])
    );
    // A refused key leaves the earlier grant in place.
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), Vec::new()),
        Err(Error::InvalidWrappedKey)
    );
    assert_eq!(
        nft.read_grant(id, bob()).map(|g| g.wrapped_key),
        Some(vec![2; 128])
    );
}

#[ink::test]
fn the_grantee_needs_a_published_key() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), wrapped(1)),
        Err(Error::NoEncryptionKey)
    );
    // The key is checked before the wrapped key.
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), Vec::new()),
        Err(Error::NoEncryptionKey)
    );
    assert_eq!(nft.read_grant(id, bob()), None);
    assert!(emitted::<DocumentShared>().is_empty());
    publish(&mut nft, bob(), [7; 32]);
    assert_eq!(try_share(&mut nft, alice(), id, bob(), wrapped(1)), Ok(()));
}

#[ink::test]
fn only_the_owners_wallet_shares() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    for caller in [
        bob(),
        stranger(),
        attestor(),
        executor(),
        team_vault(),
        guardian_recovery(),
        governance_address(),
    ] {
        assert_eq!(
            try_share(&mut nft, caller, id, bob(), wrapped(1)),
            Err(Error::NotOwner)
        );
    }
    // An operator may move the document, not share it.
    set_caller(alice());
    nft.approve(carol(), None, true).expect("owner");
    assert_eq!(
        try_share(&mut nft, carol(), id, bob(), wrapped(1)),
        Err(Error::NotOwner)
    );
    assert_eq!(nft.read_grant(id, bob()), None);
    assert!(emitted::<DocumentShared>().is_empty());

    // After a transfer the new owner shares, the old one no longer.
    transfer(&mut nft, alice(), carol(), id).expect("owner");
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), wrapped(1)),
        Err(Error::NotOwner)
    );
    assert_eq!(try_share(&mut nft, carol(), id, bob(), wrapped(1)), Ok(()));

    // After recovery the new wallet shares, the revoked one no longer.
    rebind(&mut nft, carol(), dave()).expect("carol's recovery");
    assert_eq!(
        try_share(&mut nft, carol(), id, bob(), wrapped(2)),
        Err(Error::NotOwner)
    );
    assert_eq!(try_share(&mut nft, dave(), id, bob(), wrapped(2)), Ok(()));
    assert_eq!(
        nft.read_grant(id, bob()).map(|g| g.wrapped_key),
        Some(wrapped(2))
    );
}

#[ink::test]
fn team_vault_shares_vault_documents() {
    let mut nft = setup();
    let id = mint_vault_doc(&mut nft, 7, 1);
    publish(&mut nft, bob(), [7; 32]);
    for caller in [alice(), attestor(), stranger(), bob(), governance_address()] {
        assert_eq!(
            try_share(&mut nft, caller, id, bob(), wrapped(1)),
            Err(Error::NotOwner)
        );
    }
    assert_eq!(nft.read_grant(id, bob()), None);
    assert_eq!(
        try_share(&mut nft, team_vault(), id, bob(), wrapped(1)),
        Ok(())
    );
    assert_eq!(
        nft.read_grant(id, bob()),
        Some(ReadGrant {
            wrapped_key: wrapped(1),
            key_version: 1,
            granted_at: START,
        })
    );
    let shared = last::<DocumentShared>();
    assert_eq!(
        (shared.id, shared.grantee, shared.key_version),
        (id, bob(), 1)
    );

    // Without a TeamVault address, nobody acts for the vault.
    governance(|g| g.team_vault = None);
    assert_eq!(
        try_share(&mut nft, team_vault(), id, bob(), wrapped(2)),
        Err(Error::NotConfigured)
    );
    governance(|g| g.available = false);
    assert_eq!(
        try_share(&mut nft, team_vault(), id, bob(), wrapped(2)),
        Err(Error::GovernanceUnavailable)
    );
    assert_eq!(
        nft.read_grant(id, bob()).map(|g| g.wrapped_key),
        Some(wrapped(1))
    );
    assert_eq!(emitted::<DocumentShared>().len(), 1);
}

#[ink::test]
fn a_missing_token_is_not_shared() {
    let mut nft = setup();
    publish(&mut nft, bob(), [7; 32]);
    for id in [0, 1, 99] {
        for caller in [alice(), team_vault()] {
            assert_eq!(
                try_share(&mut nft, caller, id, bob(), wrapped(1)),
                Err(Error::TokenNotFound)
            );
        }
        assert_eq!(nft.read_grant(id, bob()), None);
    }
}

#[ink::test]
fn a_deleted_document_is_not_shared() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    // A document scheduled for deletion may still be shared.
    request_deletion(&mut nft, alice(), id).expect("no regulatory minimum");
    assert_eq!(
        try_share(&mut nft, alice(), id, carol(), wrapped(1)),
        Err(Error::NoEncryptionKey)
    );
    assert_eq!(try_share(&mut nft, alice(), id, bob(), wrapped(1)), Ok(()));
    confirm(&mut nft, id).expect("due");
    let events = event_count();
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), wrapped(2)),
        Err(Error::Deleted)
    );
    // Ownership is checked first.
    assert_eq!(
        try_share(&mut nft, stranger(), id, bob(), wrapped(2)),
        Err(Error::NotOwner)
    );
    assert_eq!(event_count(), events);
}

#[ink::test]
fn a_revoked_grantee_is_not_shared_with() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    rebind(&mut nft, bob(), erin()).expect("bob's recovery");
    let events = event_count();
    // Even with a key published before its recovery.
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), wrapped(1)),
        Err(Error::WalletRevoked)
    );
    assert_eq!(
        try_share(&mut nft, alice(), id, bob(), Vec::new()),
        Err(Error::WalletRevoked)
    );
    assert_eq!(nft.read_grant(id, bob()), None);
    assert_eq!(event_count(), events);
    // The new wallet has to publish a key of its own.
    assert_eq!(
        try_share(&mut nft, alice(), id, erin(), wrapped(1)),
        Err(Error::NoEncryptionKey)
    );
    publish(&mut nft, erin(), [9; 32]);
    assert_eq!(try_share(&mut nft, alice(), id, erin(), wrapped(1)), Ok(()));
    assert_eq!(nft.read_grant(id, erin()).map(|g| g.key_version), Some(1));
}

#[ink::test]
fn sharing_needs_no_governance_for_a_wallets_document() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, bob(), [7; 32]);
    governance(|g| g.available = false);
    assert_eq!(try_share(&mut nft, alice(), id, bob(), wrapped(1)), Ok(()));
}

// --- properties --------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn class() -> impl Strategy<Value = DocumentClass> {
        prop_oneof![
            Just(DocumentClass::UsTax),
            Just(DocumentClass::Financial),
            Just(DocumentClass::Kyc),
            Just(DocumentClass::Other),
        ]
    }

    fn option() -> impl Strategy<Value = RetentionOption> {
        (0..RetentionOption::ALL.len()).prop_map(|i| RetentionOption::ALL[i])
    }

    fn tier() -> impl Strategy<Value = Tier> {
        (0..Tier::ALL.len()).prop_map(|i| Tier::ALL[i])
    }

    /// What the executor, the owner and the attestor may do to a document, and time passing.
    #[derive(Debug, Clone)]
    enum Step {
        Wait(Timestamp),
        Notice,
        Confirm,
        Request,
        Extend(RetentionOption),
        EndRelationship,
        RecordArweave,
        RecordPermanent,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0..3 * YEAR).prop_map(Step::Wait),
            1 => (0..2 * NOTICE_PERIOD).prop_map(Step::Wait),
            3 => Just(Step::Notice),
            3 => Just(Step::Confirm),
            2 => Just(Step::Request),
            1 => option().prop_map(Step::Extend),
            1 => Just(Step::EndRelationship),
            1 => Just(Step::RecordArweave),
            1 => Just(Step::RecordPermanent),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A minted document is kept at least as long as its class's floor and the owner's
        /// choice; the upgrade is announced exactly when it happens.
        #[test]
        fn minted_retention_is_never_below_the_floor_or_the_choice(
            class in class(),
            chosen in option(),
            tier in tier(),
            arweave in any::<bool>(),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut nft = setup();
                if tier != Tier::Free {
                    set_tier(&mut nft, Holder::Account(alice()), tier);
                }
                let result = try_mint(&mut nft, attestor(), Upload {
                    class,
                    retention: chosen,
                    arweave,
                    ..upload(alice(), 1)
                });
                let Ok(id) = result else {
                    assert_eq!(result, Err(Error::ReplicationNotAllowed));
                    assert!(arweave || chosen == RetentionOption::Permanent);
                    assert!(!ReplicationPolicy::spec_default(tier).arweave_on_request);
                    return Ok(());
                };
                let document = doc(&nft, id);
                assert!(document.retention >= class.floor());
                assert!(document.retention >= chosen);
                assert_eq!(document.chosen, chosen);
                assert_eq!(
                    emitted::<RetentionUpgraded>().len(),
                    usize::from(document.retention != chosen)
                );
                if let (Some(duration), Some(expiry)) = (chosen.duration(), document.expiry()) {
                    assert!(expiry >= START + duration);
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }

        /// Whatever extensions the owner asks for, whenever, the retention option never
        /// shortens and the expiry never comes earlier (nor appears for a document that did
        /// not expire).
        #[test]
        fn extensions_never_bring_the_expiry_earlier(
            class in class(),
            initial in option(),
            end in proptest::option::of(0..20 * YEAR),
            steps in proptest::collection::vec((option(), 0..3 * YEAR), 1..20),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut nft = setup();
                premium(&mut nft, alice());
                let id = mint(&mut nft, Upload {
                    class,
                    retention: initial,
                    ..upload(alice(), 1)
                });
                if let (DocumentClass::Kyc, Some(end)) = (class, end) {
                    set_caller(alice());
                    nft.set_relationship_end(id, START + end).expect("a KYC document");
                }
                for (option, wait) in steps {
                    set_time(now() + wait);
                    let before = doc(&nft, id);
                    let result = extend(&mut nft, alice(), id, option);
                    let after = doc(&nft, id);
                    assert!(after.retention >= before.retention);
                    if option > before.retention {
                        assert_eq!(result, Ok(()));
                        assert_eq!(after.retention, option);
                    } else {
                        assert_eq!(result, Err(Error::NotAnExtension));
                        assert_eq!(after, before);
                    }
                    match (before.expiry(), after.expiry()) {
                        (Some(b), Some(a)) => assert!(a >= b),
                        (None, Some(_)) => panic!("an extension made a document expire"),
                        (_, None) => {}
                    }
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }

        /// Once an Arweave copy is recorded (posted or permanent), no interleaving of time,
        /// notices, requests, extensions and confirmations deletes the document, and the copy
        /// stays recorded.
        #[test]
        fn a_document_with_an_arweave_copy_is_never_deleted(
            class in class(),
            retention in option(),
            recorded_first in proptest::bool::weighted(0.75),
            permanent_first in any::<bool>(),
            steps in proptest::collection::vec(step(), 1..40),
        ) {
            test::run_test::<DefaultEnvironment, _>(|_| {
                let mut nft = setup();
                premium(&mut nft, alice());
                let id = mint(&mut nft, Upload {
                    class,
                    retention,
                    arweave: true,
                    ..upload(alice(), 1)
                });
                let mut copy = false;
                if recorded_first {
                    record(&mut nft, id, arweave(9)).expect("requested");
                    copy = true;
                    if permanent_first {
                        record(&mut nft, id, Replica::ArweavePermanent).expect("posted");
                    }
                }
                for step in steps {
                    let result = match step {
                        Step::Wait(t) => {
                            set_time(now() + t);
                            Ok(())
                        }
                        Step::Notice => notice(&mut nft, id),
                        Step::Confirm => confirm(&mut nft, id),
                        Step::Request => request_deletion(&mut nft, alice(), id),
                        Step::Extend(option) => extend(&mut nft, alice(), id, option),
                        Step::EndRelationship => {
                            set_caller(alice());
                            nft.set_relationship_end(id, now())
                        }
                        Step::RecordArweave => record(&mut nft, id, arweave(9)),
                        Step::RecordPermanent => record(&mut nft, id, Replica::ArweavePermanent),
                    };
                    if matches!(step, Step::RecordArweave) && result.is_ok() {
                        copy = true;
                    }
                    let document = doc(&nft, id);
                    if copy {
                        assert!(
                            !matches!(document.status(), DocumentStatus::Deleted { .. }),
                            "a document with an Arweave copy was deleted"
                        );
                        assert!(document.replicas.arweave.is_some());
                        if matches!(step, Step::Confirm) {
                            assert!(result.is_err());
                        }
                    }
                }
                Ok(())
            })
            .expect("the off-chain test runs");
        }
    }
}

// --- unstaging and the lifetime of read grants ----------------------------------------------

#[ink::test]
fn attestor_unstages_an_upload_the_vault_did_not_approve() {
    let mut nft = setup();
    stage(&mut nft, 7, 1);
    for caller in [alice(), team_vault(), executor()] {
        set_caller(caller);
        assert_eq!(nft.unstage_vault_upload(sha(1)), Err(Error::NotAttestor));
    }
    set_caller(attestor());
    assert_eq!(nft.unstage_vault_upload(sha(2)), Err(Error::NotStaged));
    assert!(nft.staged_upload(sha(1)).is_some());

    assert_eq!(nft.unstage_vault_upload(sha(1)), Ok(()));
    let event = last::<sdv_types::document::UploadUnstaged>();
    assert_eq!((event.vault, event.sha256), (7, sha(1)));
    assert_eq!(nft.staged_upload(sha(1)), None);
    assert_eq!(
        try_mint_staged(&mut nft, team_vault(), staged(7, 1)),
        Err(Error::NotStaged)
    );
    // The hash is free again: it can be staged anew.
    stage(&mut nft, 7, 1);
    assert!(nft.staged_upload(sha(1)).is_some());
}

#[ink::test]
fn a_transfer_ends_the_previous_owners_grants() {
    let mut nft = setup();
    let id = mint(&mut nft, upload(alice(), 1));
    publish(&mut nft, carol(), [7; 32]);
    try_share(&mut nft, alice(), id, carol(), wrapped(1)).expect("the owner shares");
    assert!(nft.read_grant(id, carol()).is_some());

    transfer(&mut nft, alice(), bob(), id).expect("the owner transfers");
    assert_eq!(nft.read_grant(id, carol()), None);

    try_share(&mut nft, bob(), id, carol(), wrapped(2)).expect("the new owner shares");
    assert_eq!(nft.read_grant(id, carol()).unwrap().wrapped_key, wrapped(2));
}

#[ink::test]
fn grants_end_with_deletion_and_with_the_readers_revocation() {
    let mut nft = setup();
    let deleted = mint(&mut nft, upload(alice(), 1));
    let kept = mint(&mut nft, upload(alice(), 2));
    publish(&mut nft, carol(), [7; 32]);
    for id in [deleted, kept] {
        try_share(&mut nft, alice(), id, carol(), wrapped(1)).expect("the owner shares");
    }
    delete_now(&mut nft, alice(), deleted);
    assert_eq!(nft.read_grant(deleted, carol()), None);
    assert!(nft.read_grant(kept, carol()).is_some());

    rebind(&mut nft, carol(), dave()).expect("recovery");
    assert_eq!(nft.read_grant(kept, carol()), None);
}
