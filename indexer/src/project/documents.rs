//! DocumentNFT's events: documents, their history, tiers, encryption keys, shares, staged
//! uploads and wallet rebinds (migration `0002_documents.sql`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sdv_chain::{AccountId, ContractEvent};
use sdv_types::{
    document::{
        ArweaveRequested, DeletionCancelled, DeletionScheduled, DocumentDeleted, DocumentMinted,
        DocumentShared, EncryptionKeyPublished, Owner, OwnerRebound, RelationshipEnded, Replica,
        ReplicaRecorded, RetentionExtended, RetentionUpgraded, TierChanged, UploadStaged,
        UploadUnstaged,
    },
    psp34::{Approval, Id, Transfer},
};
use serde_json::{json, Value};
use sqlx::{postgres::PgRow, Postgres, Row, Transaction};

use super::{
    bytes, class_name, db_int, db_int32, decode_as, decode_batch, retention_name, tier_name, At,
    Decoded,
};
use crate::{store::IndexedBlock, Error, Result};

/// Projects the events that `document_nft` emitted in `blocks` (in chain order) into the
/// document tables, inside `tx`. Events of other contracts are skipped.
///
/// Fails with [`Error::Decode`] when an event carries one of DocumentNFT's signature topics but
/// does not decode as that event, and with [`Error::Database`] when a statement is refused; the
/// caller then rolls the whole transaction back.
pub(super) async fn project(
    tx: &mut Transaction<'_, Postgres>,
    document_nft: &AccountId,
    blocks: &[IndexedBlock],
) -> Result<()> {
    let events = decode_batch(document_nft, blocks, decode)?;
    if events.is_empty() {
        return Ok(());
    }
    let mut fold = Fold {
        documents: load_documents(tx, &events).await?,
        rebound_to: load_rebinds(tx, &events).await?,
        ..Fold::default()
    };
    for (at, event) in &events {
        fold.apply(at, event);
    }
    fold.write(tx).await
}

/// The events DocumentNFT emits (the variant names are the events' names).
#[derive(Debug)]
enum NftEvent {
    Transfer(Transfer),
    Approval(Approval),
    DocumentMinted(DocumentMinted),
    RetentionUpgraded(RetentionUpgraded),
    RetentionExtended(RetentionExtended),
    RelationshipEnded(RelationshipEnded),
    DeletionScheduled(DeletionScheduled),
    DeletionCancelled(DeletionCancelled),
    DocumentDeleted(DocumentDeleted),
    ArweaveRequested(ArweaveRequested),
    ReplicaRecorded(ReplicaRecorded),
    TierChanged(TierChanged),
    OwnerRebound(OwnerRebound),
    EncryptionKeyPublished(EncryptionKeyPublished),
    UploadStaged(UploadStaged),
    UploadUnstaged(UploadUnstaged),
    DocumentShared(DocumentShared),
}

/// Decodes `event` by its signature topic; `None` for an event DocumentNFT's projection does not
/// know (such as `CodeUpgraded`).
fn decode(event: &ContractEvent) -> Decoded<NftEvent> {
    decode_as!(
        event,
        NftEvent {
            Transfer,
            Approval,
            DocumentMinted,
            RetentionUpgraded,
            RetentionExtended,
            RelationshipEnded,
            DeletionScheduled,
            DeletionCancelled,
            DocumentDeleted,
            ArweaveRequested,
            ReplicaRecorded,
            TierChanged,
            OwnerRebound,
            EncryptionKeyPublished,
            UploadStaged,
            UploadUnstaged,
            DocumentShared,
        }
    )
}

/// One `documents` row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocumentRow {
    token_id: i64,
    owner_kind: String,
    owner: String,
    owner_wallet: Option<Vec<u8>>,
    sha256: Vec<u8>,
    size: i64,
    tier: String,
    class: String,
    retention: String,
    expiry_ms: Option<i64>,
    arweave_requested: bool,
    arweave_tx: Option<Vec<u8>>,
    arweave_item: Option<Vec<u8>>,
    arweave_permanent: bool,
    ipfs_cid: Option<Vec<u8>>,
    status: String,
    deletion_due_ms: Option<i64>,
    minted_block: i64,
    updated_block: i64,
}

const DOCUMENT_COLUMNS: &str = "token_id, owner_kind, owner, owner_wallet, sha256, size, tier, \
     class, retention, expiry_ms, arweave_requested, arweave_tx, arweave_item, \
     arweave_permanent, ipfs_cid, status, deletion_due_ms, minted_block, updated_block";

impl DocumentRow {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            token_id: row.try_get("token_id")?,
            owner_kind: row.try_get("owner_kind")?,
            owner: row.try_get("owner")?,
            owner_wallet: row.try_get("owner_wallet")?,
            sha256: row.try_get("sha256")?,
            size: row.try_get("size")?,
            tier: row.try_get("tier")?,
            class: row.try_get("class")?,
            retention: row.try_get("retention")?,
            expiry_ms: row.try_get("expiry_ms")?,
            arweave_requested: row.try_get("arweave_requested")?,
            arweave_tx: row.try_get("arweave_tx")?,
            arweave_item: row.try_get("arweave_item")?,
            arweave_permanent: row.try_get("arweave_permanent")?,
            ipfs_cid: row.try_get("ipfs_cid")?,
            status: row.try_get("status")?,
            deletion_due_ms: row.try_get("deletion_due_ms")?,
            minted_block: row.try_get("minted_block")?,
            updated_block: row.try_get("updated_block")?,
        })
    }
}

/// The token ids whose rows the batch's events update (mints insert theirs).
fn updated_tokens(events: &[(At, NftEvent)]) -> Vec<i64> {
    let ids: BTreeSet<i64> = events
        .iter()
        .filter_map(|(_, event)| match event {
            NftEvent::Transfer(Transfer {
                from: Some(_), id, ..
            }) => token_of(id),
            NftEvent::RetentionExtended(e) => Some(e.id),
            NftEvent::RelationshipEnded(e) => Some(e.id),
            NftEvent::DeletionScheduled(e) => Some(e.id),
            NftEvent::DeletionCancelled(e) => Some(e.id),
            NftEvent::DocumentDeleted(e) => Some(e.id),
            NftEvent::ArweaveRequested(e) => Some(e.id),
            NftEvent::ReplicaRecorded(e) => Some(e.id),
            _ => None,
        })
        .map(db_int)
        .collect();
    ids.into_iter().collect()
}

/// The rows of the tokens the batch updates, in one query.
async fn load_documents(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(At, NftEvent)],
) -> Result<BTreeMap<i64, DocumentRow>> {
    let ids = updated_tokens(events);
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE token_id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| DocumentRow::from_row(row).map(|d| (d.token_id, d)))
        .collect::<sqlx::Result<_>>()
        .map_err(Error::from)
}

/// The identities of the wallets that the batch's transfers move tokens to, for those wallets
/// an earlier batch recorded as rebound (new wallet -> identity), in one query.
async fn load_rebinds(
    tx: &mut Transaction<'_, Postgres>,
    events: &[(At, NftEvent)],
) -> Result<HashMap<[u8; 32], [u8; 32]>> {
    let wallets: BTreeSet<Vec<u8>> = events
        .iter()
        .filter_map(|(_, event)| match event {
            NftEvent::Transfer(Transfer {
                from: Some(_),
                to: Some(to),
                ..
            }) => Some(bytes(to).to_vec()),
            _ => None,
        })
        .collect();
    if wallets.is_empty() {
        return Ok(HashMap::new());
    }
    let wallets: Vec<Vec<u8>> = wallets.into_iter().collect();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT new_wallet, identity FROM wallet_rebinds WHERE new_wallet = ANY($1)",
    )
    .bind(&wallets)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(wallet, identity)| Some((wallet.try_into().ok()?, identity.try_into().ok()?)))
        .collect())
}

/// The batch's effect, accumulated in chain order before it is written.
#[derive(Debug, Default)]
struct Fold {
    /// Every document row the batch inserts or updates (loaded ones included).
    documents: BTreeMap<i64, DocumentRow>,
    /// Rebound wallets, from the database and the batch so far: new wallet -> identity.
    rebound_to: HashMap<[u8; 32], [u8; 32]>,
    /// The wallet of each mint's `Transfer` (from `None`), for the `DocumentMinted` after it.
    minted_to: HashMap<i64, [u8; 32]>,
    /// The last wallet the batch rebound each identity to (hex identity -> wallet, block).
    rebound_identities: BTreeMap<String, (Vec<u8>, i64)>,
    /// `wallet_rebinds` rows.
    rebinds: Vec<Rebind>,
    /// `document_history` rows.
    history: Vec<(At, i64, &'static str, Value)>,
    /// `account_tiers` rows: (owner kind, owner) -> (tier, block).
    tiers: BTreeMap<(&'static str, String), (&'static str, i64)>,
    /// `encryption_keys` rows by account.
    keys: BTreeMap<[u8; 32], PublishedKey>,
    /// Shares granted in the batch and still in force: (token, grantee) -> (version, block).
    shares: BTreeMap<(i64, [u8; 32]), (i32, i64)>,
    /// Tokens whose earlier shares are void (transferred or deleted).
    shares_voided_tokens: BTreeSet<i64>,
    /// Grantees whose earlier shares are void (their wallet was revoked).
    shares_voided_grantees: BTreeSet<[u8; 32]>,
    /// Uploads by sha256: `Some` staged, `None` gone (minted or unstaged).
    staged: BTreeMap<[u8; 32], Option<Staged>>,
}

/// A `wallet_rebinds` row.
#[derive(Debug)]
struct Rebind {
    at: At,
    identity: [u8; 32],
    old_wallet: [u8; 32],
    new_wallet: [u8; 32],
}

/// An `encryption_keys` row, but its account.
#[derive(Debug)]
struct PublishedKey {
    key: [u8; 32],
    version: i32,
    published_at_ms: i64,
    block: i64,
}

/// A `staged_uploads` row, but its sha256.
#[derive(Debug)]
struct Staged {
    vault: i64,
    size: i64,
    block: i64,
}

impl Fold {
    fn apply(&mut self, at: &At, event: &NftEvent) {
        if let Some((id, detail)) = history_detail(event) {
            self.history
                .push((at.clone(), db_int(id), event_name(event), detail));
        }
        let block = at.number;
        match event {
            NftEvent::Transfer(Transfer { from, to, id }) => {
                let (Some(id), Some(to)) = (token_of(id), to) else {
                    return;
                };
                let id = db_int(id);
                let wallet = bytes(to);
                if from.is_none() {
                    self.minted_to.insert(id, wallet);
                    return;
                }
                let identity = self.rebound_to.get(&wallet).copied().unwrap_or(wallet);
                if let Some(doc) = self.document(id, at, "Transfer") {
                    doc.owner_kind = "identity".into();
                    doc.owner = hex::encode(identity);
                    doc.owner_wallet = Some(wallet.to_vec());
                    doc.updated_block = block;
                }
                self.void_shares_of(id);
            }
            NftEvent::Approval(_) | NftEvent::RetentionUpgraded(_) => {}
            NftEvent::DocumentMinted(e) => {
                let id = db_int(e.id);
                let (owner_kind, owner) = owner_key(&e.owner);
                let owner_wallet = match e.owner {
                    Owner::Identity(identity) => Some(
                        self.minted_to
                            .remove(&id)
                            .unwrap_or(bytes(&identity))
                            .to_vec(),
                    ),
                    Owner::Vault(_) => {
                        self.staged.insert(e.sha256, None);
                        None
                    }
                };
                self.documents.insert(
                    id,
                    DocumentRow {
                        token_id: id,
                        owner_kind: owner_kind.into(),
                        owner,
                        owner_wallet,
                        sha256: e.sha256.to_vec(),
                        size: db_int(e.size),
                        tier: tier_name(e.tier).into(),
                        class: class_name(e.class).into(),
                        retention: retention_name(e.retention).into(),
                        expiry_ms: e.expiry.map(db_int),
                        arweave_requested: e.arweave_requested,
                        arweave_tx: None,
                        arweave_item: None,
                        arweave_permanent: false,
                        ipfs_cid: None,
                        status: "active".into(),
                        deletion_due_ms: None,
                        minted_block: block,
                        updated_block: block,
                    },
                );
            }
            NftEvent::RetentionExtended(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "RetentionExtended") {
                    doc.retention = retention_name(e.new).into();
                    doc.expiry_ms = e.expiry.map(db_int);
                    doc.updated_block = block;
                }
            }
            NftEvent::RelationshipEnded(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "RelationshipEnded") {
                    doc.expiry_ms = e.expiry.map(db_int);
                    doc.updated_block = block;
                }
            }
            NftEvent::DeletionScheduled(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "DeletionScheduled") {
                    doc.status = "deletion_scheduled".into();
                    doc.deletion_due_ms = Some(db_int(e.due));
                    doc.updated_block = block;
                }
            }
            NftEvent::DeletionCancelled(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "DeletionCancelled") {
                    doc.status = "active".into();
                    doc.deletion_due_ms = None;
                    doc.updated_block = block;
                }
            }
            NftEvent::DocumentDeleted(e) => {
                let id = db_int(e.id);
                if let Some(doc) = self.document(id, at, "DocumentDeleted") {
                    doc.status = "deleted".into();
                    doc.arweave_requested = false;
                    doc.arweave_tx = None;
                    doc.arweave_item = None;
                    doc.arweave_permanent = false;
                    doc.ipfs_cid = None;
                    doc.updated_block = block;
                }
                self.void_shares_of(id);
            }
            NftEvent::ArweaveRequested(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "ArweaveRequested") {
                    doc.arweave_requested = true;
                    doc.updated_block = block;
                }
            }
            NftEvent::ReplicaRecorded(e) => {
                if let Some(doc) = self.document(db_int(e.id), at, "ReplicaRecorded") {
                    match &e.replica {
                        Replica::Arweave { tx_id, item_id } => {
                            doc.arweave_tx = Some(tx_id.to_vec());
                            doc.arweave_item = item_id.map(|item| item.to_vec());
                            doc.arweave_permanent = false;
                        }
                        Replica::ArweavePermanent => doc.arweave_permanent = true,
                        Replica::Ipfs(cid) => doc.ipfs_cid = Some(cid.clone()),
                    }
                    doc.updated_block = block;
                }
            }
            NftEvent::TierChanged(e) => {
                let (kind, owner) = owner_key(&e.owner);
                self.tiers.insert((kind, owner), (tier_name(e.new), block));
            }
            NftEvent::OwnerRebound(e) => {
                let identity = hex::encode(bytes(&e.identity));
                let new_wallet = bytes(&e.new_wallet);
                self.rebound_to.insert(new_wallet, bytes(&e.identity));
                for doc in self.documents.values_mut() {
                    if doc.owner_kind == "identity" && doc.owner == identity {
                        doc.owner_wallet = Some(new_wallet.to_vec());
                        doc.updated_block = block;
                    }
                }
                self.rebound_identities
                    .insert(identity, (new_wallet.to_vec(), block));
                // The revoked wallet reads nothing any more.
                let old_wallet = bytes(&e.old_wallet);
                self.shares.retain(|(_, grantee), _| *grantee != old_wallet);
                self.shares_voided_grantees.insert(old_wallet);
                self.rebinds.push(Rebind {
                    at: at.clone(),
                    identity: bytes(&e.identity),
                    old_wallet,
                    new_wallet,
                });
            }
            NftEvent::EncryptionKeyPublished(e) => {
                self.keys.insert(
                    bytes(&e.account),
                    PublishedKey {
                        key: e.key.key,
                        version: db_int32(e.key.version),
                        published_at_ms: db_int(e.key.published_at),
                        block,
                    },
                );
            }
            NftEvent::UploadStaged(e) => {
                let staged = Staged {
                    vault: i64::from(e.vault),
                    size: db_int(e.size),
                    block,
                };
                self.staged.insert(e.sha256, Some(staged));
            }
            NftEvent::UploadUnstaged(e) => {
                self.staged.insert(e.sha256, None);
            }
            NftEvent::DocumentShared(e) => {
                self.shares.insert(
                    (db_int(e.id), bytes(&e.grantee)),
                    (db_int32(e.key_version), block),
                );
            }
        }
    }

    /// The row of token `id`, if the database or the batch has it.
    fn document(&mut self, id: i64, at: &At, event: &'static str) -> Option<&mut DocumentRow> {
        let doc = self.documents.get_mut(&id);
        if doc.is_none() {
            tracing::warn!(
                token = id,
                block = at.number,
                index = at.index,
                event,
                "DocumentNFT event for a token the database does not hold; state not updated"
            );
        }
        doc
    }

    fn void_shares_of(&mut self, id: i64) {
        self.shares.retain(|(token, _), _| *token != id);
        self.shares_voided_tokens.insert(id);
    }

    /// Writes the fold with one bulk statement per table (none for an empty one).
    async fn write(self, tx: &mut Transaction<'_, Postgres>) -> Result<()> {
        write_documents(tx, self.documents.values()).await?;
        write_rebinds(tx, &self.rebound_identities, &self.rebinds).await?;
        write_history(tx, &self.history).await?;
        write_tiers(tx, &self.tiers).await?;
        write_keys(tx, &self.keys).await?;
        write_shares(
            tx,
            &self.shares_voided_tokens,
            &self.shares_voided_grantees,
            &self.shares,
        )
        .await?;
        write_staged(tx, &self.staged).await
    }
}

async fn write_documents<'a>(
    tx: &mut Transaction<'_, Postgres>,
    rows: impl ExactSizeIterator<Item = &'a DocumentRow>,
) -> Result<()> {
    if rows.len() == 0 {
        return Ok(());
    }
    let mut c = DocumentColumns::default();
    for row in rows {
        c.token_id.push(row.token_id);
        c.owner_kind.push(row.owner_kind.as_str());
        c.owner.push(row.owner.as_str());
        c.owner_wallet.push(row.owner_wallet.as_deref());
        c.sha256.push(row.sha256.as_slice());
        c.size.push(row.size);
        c.tier.push(row.tier.as_str());
        c.class.push(row.class.as_str());
        c.retention.push(row.retention.as_str());
        c.expiry_ms.push(row.expiry_ms);
        c.arweave_requested.push(row.arweave_requested);
        c.arweave_tx.push(row.arweave_tx.as_deref());
        c.arweave_item.push(row.arweave_item.as_deref());
        c.arweave_permanent.push(row.arweave_permanent);
        c.ipfs_cid.push(row.ipfs_cid.as_deref());
        c.status.push(row.status.as_str());
        c.deletion_due_ms.push(row.deletion_due_ms);
        c.minted_block.push(row.minted_block);
        c.updated_block.push(row.updated_block);
    }
    sqlx::query(&format!(
        "INSERT INTO documents ({DOCUMENT_COLUMNS})
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bytea[], $5::bytea[],
             $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bool[],
             $12::bytea[], $13::bytea[], $14::bool[], $15::bytea[], $16::text[], $17::bigint[],
             $18::bigint[], $19::bigint[])
         ON CONFLICT (token_id) DO UPDATE SET
             owner_kind = EXCLUDED.owner_kind, owner = EXCLUDED.owner,
             owner_wallet = EXCLUDED.owner_wallet, sha256 = EXCLUDED.sha256,
             size = EXCLUDED.size, tier = EXCLUDED.tier, class = EXCLUDED.class,
             retention = EXCLUDED.retention, expiry_ms = EXCLUDED.expiry_ms,
             arweave_requested = EXCLUDED.arweave_requested, arweave_tx = EXCLUDED.arweave_tx,
             arweave_item = EXCLUDED.arweave_item, arweave_permanent = EXCLUDED.arweave_permanent, ipfs_cid = EXCLUDED.ipfs_cid,
             status = EXCLUDED.status, deletion_due_ms = EXCLUDED.deletion_due_ms,
             minted_block = EXCLUDED.minted_block, updated_block = EXCLUDED.updated_block"
    ))
    .bind(&c.token_id)
    .bind(&c.owner_kind)
    .bind(&c.owner)
    .bind(&c.owner_wallet)
    .bind(&c.sha256)
    .bind(&c.size)
    .bind(&c.tier)
    .bind(&c.class)
    .bind(&c.retention)
    .bind(&c.expiry_ms)
    .bind(&c.arweave_requested)
    .bind(&c.arweave_tx)
    .bind(&c.arweave_item)
    .bind(&c.arweave_permanent)
    .bind(&c.ipfs_cid)
    .bind(&c.status)
    .bind(&c.deletion_due_ms)
    .bind(&c.minted_block)
    .bind(&c.updated_block)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The columns of `documents`, as arrays for `UNNEST`.
#[derive(Default)]
struct DocumentColumns<'a> {
    token_id: Vec<i64>,
    owner_kind: Vec<&'a str>,
    owner: Vec<&'a str>,
    owner_wallet: Vec<Option<&'a [u8]>>,
    sha256: Vec<&'a [u8]>,
    size: Vec<i64>,
    tier: Vec<&'a str>,
    class: Vec<&'a str>,
    retention: Vec<&'a str>,
    expiry_ms: Vec<Option<i64>>,
    arweave_requested: Vec<bool>,
    arweave_tx: Vec<Option<&'a [u8]>>,
    arweave_item: Vec<Option<&'a [u8]>>,
    arweave_permanent: Vec<bool>,
    ipfs_cid: Vec<Option<&'a [u8]>>,
    status: Vec<&'a str>,
    deletion_due_ms: Vec<Option<i64>>,
    minted_block: Vec<i64>,
    updated_block: Vec<i64>,
}

/// Points every document of each rebound identity at its new wallet, and records the rebinds.
async fn write_rebinds(
    tx: &mut Transaction<'_, Postgres>,
    identities: &BTreeMap<String, (Vec<u8>, i64)>,
    rebinds: &[Rebind],
) -> Result<()> {
    if rebinds.is_empty() {
        return Ok(());
    }
    let owners: Vec<&str> = identities.keys().map(String::as_str).collect();
    let wallets: Vec<&[u8]> = identities.values().map(|(w, _)| w.as_slice()).collect();
    let blocks: Vec<i64> = identities.values().map(|(_, b)| *b).collect();
    sqlx::query(
        "UPDATE documents AS d
         SET owner_wallet = u.wallet, updated_block = GREATEST(d.updated_block, u.block)
         FROM UNNEST($1::text[], $2::bytea[], $3::bigint[]) AS u(owner, wallet, block)
         WHERE d.owner_kind = 'identity' AND d.owner = u.owner",
    )
    .bind(&owners)
    .bind(&wallets)
    .bind(&blocks)
    .execute(&mut **tx)
    .await?;

    let mut identity = Vec::with_capacity(rebinds.len());
    let mut old_wallet = Vec::with_capacity(rebinds.len());
    let mut new_wallet = Vec::with_capacity(rebinds.len());
    let mut number = Vec::with_capacity(rebinds.len());
    let mut hash = Vec::with_capacity(rebinds.len());
    let mut index = Vec::with_capacity(rebinds.len());
    for rebind in rebinds {
        identity.push(rebind.identity.as_slice());
        old_wallet.push(rebind.old_wallet.as_slice());
        new_wallet.push(rebind.new_wallet.as_slice());
        number.push(rebind.at.number);
        hash.push(rebind.at.hash.as_slice());
        index.push(rebind.at.index);
    }
    sqlx::query(
        "INSERT INTO wallet_rebinds
             (identity, old_wallet, new_wallet, block_number, block_hash, event_index)
         SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bytea[],
             $6::int[])",
    )
    .bind(&identity)
    .bind(&old_wallet)
    .bind(&new_wallet)
    .bind(&number)
    .bind(&hash)
    .bind(&index)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_history(
    tx: &mut Transaction<'_, Postgres>,
    history: &[(At, i64, &'static str, Value)],
) -> Result<()> {
    if history.is_empty() {
        return Ok(());
    }
    let mut token = Vec::with_capacity(history.len());
    let mut number = Vec::with_capacity(history.len());
    let mut hash = Vec::with_capacity(history.len());
    let mut index = Vec::with_capacity(history.len());
    let mut kind = Vec::with_capacity(history.len());
    let mut detail = Vec::with_capacity(history.len());
    for (at, id, name, value) in history {
        token.push(*id);
        number.push(at.number);
        hash.push(at.hash.as_slice());
        index.push(at.index);
        kind.push(*name);
        detail.push(value.to_string());
    }
    sqlx::query(
        "INSERT INTO document_history
             (token_id, block_number, block_hash, event_index, kind, detail)
         SELECT t, n, h, i, k, d::jsonb
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bytea[], $4::int[], $5::text[], $6::text[])
             AS u(t, n, h, i, k, d)",
    )
    .bind(&token)
    .bind(&number)
    .bind(&hash)
    .bind(&index)
    .bind(&kind)
    .bind(&detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_tiers(
    tx: &mut Transaction<'_, Postgres>,
    tiers: &BTreeMap<(&'static str, String), (&'static str, i64)>,
) -> Result<()> {
    if tiers.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = tiers.keys().map(|(k, _)| *k).collect();
    let owners: Vec<&str> = tiers.keys().map(|(_, o)| o.as_str()).collect();
    let names: Vec<&str> = tiers.values().map(|(t, _)| *t).collect();
    let blocks: Vec<i64> = tiers.values().map(|(_, b)| *b).collect();
    sqlx::query(
        "INSERT INTO account_tiers (owner_kind, owner, tier, updated_block)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (owner_kind, owner) DO UPDATE
         SET tier = EXCLUDED.tier, updated_block = EXCLUDED.updated_block",
    )
    .bind(&kinds)
    .bind(&owners)
    .bind(&names)
    .bind(&blocks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_keys(
    tx: &mut Transaction<'_, Postgres>,
    keys: &BTreeMap<[u8; 32], PublishedKey>,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let accounts: Vec<&[u8]> = keys.keys().map(|a| a.as_slice()).collect();
    let values: Vec<&[u8]> = keys.values().map(|k| k.key.as_slice()).collect();
    let versions: Vec<i32> = keys.values().map(|k| k.version).collect();
    let published: Vec<i64> = keys.values().map(|k| k.published_at_ms).collect();
    let blocks: Vec<i64> = keys.values().map(|k| k.block).collect();
    sqlx::query(
        "INSERT INTO encryption_keys (account, key, version, published_at_ms, block_number)
         SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::int[], $4::bigint[], $5::bigint[])
         ON CONFLICT (account) DO UPDATE
         SET key = EXCLUDED.key, version = EXCLUDED.version,
             published_at_ms = EXCLUDED.published_at_ms, block_number = EXCLUDED.block_number",
    )
    .bind(&accounts)
    .bind(&values)
    .bind(&versions)
    .bind(&published)
    .bind(&blocks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops the shares the batch voided (before it), then writes the batch's shares in force.
async fn write_shares(
    tx: &mut Transaction<'_, Postgres>,
    voided_tokens: &BTreeSet<i64>,
    voided_grantees: &BTreeSet<[u8; 32]>,
    shares: &BTreeMap<(i64, [u8; 32]), (i32, i64)>,
) -> Result<()> {
    if !voided_tokens.is_empty() || !voided_grantees.is_empty() {
        let tokens: Vec<i64> = voided_tokens.iter().copied().collect();
        let grantees: Vec<&[u8]> = voided_grantees.iter().map(|g| g.as_slice()).collect();
        sqlx::query("DELETE FROM document_shares WHERE token_id = ANY($1) OR grantee = ANY($2)")
            .bind(&tokens)
            .bind(&grantees)
            .execute(&mut **tx)
            .await?;
    }
    if shares.is_empty() {
        return Ok(());
    }
    let tokens: Vec<i64> = shares.keys().map(|(t, _)| *t).collect();
    let grantees: Vec<&[u8]> = shares.keys().map(|(_, g)| g.as_slice()).collect();
    let versions: Vec<i32> = shares.values().map(|(v, _)| *v).collect();
    let blocks: Vec<i64> = shares.values().map(|(_, b)| *b).collect();
    sqlx::query(
        "INSERT INTO document_shares (token_id, grantee, key_version, block_number)
         SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::int[], $4::bigint[])
         ON CONFLICT (token_id, grantee) DO UPDATE
         SET key_version = EXCLUDED.key_version, block_number = EXCLUDED.block_number",
    )
    .bind(&tokens)
    .bind(&grantees)
    .bind(&versions)
    .bind(&blocks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes the uploads the batch minted or unstaged, and writes the ones it staged.
async fn write_staged(
    tx: &mut Transaction<'_, Postgres>,
    staged: &BTreeMap<[u8; 32], Option<Staged>>,
) -> Result<()> {
    let gone: Vec<&[u8]> = staged
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|(h, _)| h.as_slice())
        .collect();
    if !gone.is_empty() {
        sqlx::query("DELETE FROM staged_uploads WHERE sha256 = ANY($1)")
            .bind(&gone)
            .execute(&mut **tx)
            .await?;
    }
    let present: Vec<(&[u8; 32], &Staged)> = staged
        .iter()
        .filter_map(|(h, s)| Some((h, s.as_ref()?)))
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    let hashes: Vec<&[u8]> = present.iter().map(|(h, _)| h.as_slice()).collect();
    let vaults: Vec<i64> = present.iter().map(|(_, s)| s.vault).collect();
    let sizes: Vec<i64> = present.iter().map(|(_, s)| s.size).collect();
    let blocks: Vec<i64> = present.iter().map(|(_, s)| s.block).collect();
    sqlx::query(
        "INSERT INTO staged_uploads (sha256, vault, size, block_number)
         SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[])
         ON CONFLICT (sha256) DO UPDATE
         SET vault = EXCLUDED.vault, size = EXCLUDED.size, block_number = EXCLUDED.block_number",
    )
    .bind(&hashes)
    .bind(&vaults)
    .bind(&sizes)
    .bind(&blocks)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The event's name, the `kind` of its history row.
fn event_name(event: &NftEvent) -> &'static str {
    match event {
        NftEvent::Transfer(_) => "Transfer",
        NftEvent::Approval(_) => "Approval",
        NftEvent::DocumentMinted(_) => "DocumentMinted",
        NftEvent::RetentionUpgraded(_) => "RetentionUpgraded",
        NftEvent::RetentionExtended(_) => "RetentionExtended",
        NftEvent::RelationshipEnded(_) => "RelationshipEnded",
        NftEvent::DeletionScheduled(_) => "DeletionScheduled",
        NftEvent::DeletionCancelled(_) => "DeletionCancelled",
        NftEvent::DocumentDeleted(_) => "DocumentDeleted",
        NftEvent::ArweaveRequested(_) => "ArweaveRequested",
        NftEvent::ReplicaRecorded(_) => "ReplicaRecorded",
        NftEvent::TierChanged(_) => "TierChanged",
        NftEvent::OwnerRebound(_) => "OwnerRebound",
        NftEvent::EncryptionKeyPublished(_) => "EncryptionKeyPublished",
        NftEvent::UploadStaged(_) => "UploadStaged",
        NftEvent::UploadUnstaged(_) => "UploadUnstaged",
        NftEvent::DocumentShared(_) => "DocumentShared",
    }
}

/// The token an event names and its fields as JSON (accounts and hashes in hex, times in
/// milliseconds, enums in lower_snake_case); `None` for an event without a token.
fn history_detail(event: &NftEvent) -> Option<(u64, Value)> {
    let account = |a: &sdv_types::AccountId| hex::encode(bytes(a));
    Some(match event {
        NftEvent::Transfer(e) => (
            token_of(&e.id)?,
            json!({
                "from": e.from.as_ref().map(account),
                "to": e.to.as_ref().map(account),
            }),
        ),
        NftEvent::Approval(e) => (
            token_of(e.id.as_ref()?)?,
            json!({
                "owner": account(&e.owner),
                "operator": account(&e.operator),
                "approved": e.approved,
            }),
        ),
        NftEvent::DocumentMinted(e) => {
            let (kind, owner) = owner_key(&e.owner);
            (
                e.id,
                json!({
                    "owner_kind": kind,
                    "owner": owner,
                    "sha256": hex::encode(e.sha256),
                    "size": e.size,
                    "tier": tier_name(e.tier),
                    "class": class_name(e.class),
                    "retention": retention_name(e.retention),
                    "expiry_ms": e.expiry,
                    "arweave_requested": e.arweave_requested,
                }),
            )
        }
        NftEvent::RetentionUpgraded(e) => (
            e.id,
            json!({
                "chosen": retention_name(e.chosen),
                "applied": retention_name(e.applied),
            }),
        ),
        NftEvent::RetentionExtended(e) => (
            e.id,
            json!({
                "old": retention_name(e.old),
                "new": retention_name(e.new),
                "expiry_ms": e.expiry,
            }),
        ),
        NftEvent::RelationshipEnded(e) => (
            e.id,
            json!({ "ended_at_ms": e.ended_at, "expiry_ms": e.expiry }),
        ),
        NftEvent::DeletionScheduled(e) => {
            (e.id, json!({ "due_ms": e.due, "by_owner": e.by_owner }))
        }
        NftEvent::DeletionCancelled(e) => (e.id, json!({})),
        NftEvent::DocumentDeleted(e) => (e.id, json!({ "sha256": hex::encode(e.sha256) })),
        NftEvent::ArweaveRequested(e) => (e.id, json!({})),
        NftEvent::ReplicaRecorded(e) => (
            e.id,
            match &e.replica {
                Replica::Arweave { tx_id, item_id } => json!({
                    "replica": "arweave",
                    "tx": hex::encode(tx_id),
                    "item": item_id.map(hex::encode),
                }),
                Replica::ArweavePermanent => json!({ "replica": "arweave_permanent" }),
                Replica::Ipfs(cid) => json!({ "replica": "ipfs", "cid": hex::encode(cid) }),
            },
        ),
        NftEvent::DocumentShared(e) => (
            e.id,
            json!({ "grantee": account(&e.grantee), "key_version": e.key_version }),
        ),
        NftEvent::TierChanged(_)
        | NftEvent::OwnerRebound(_)
        | NftEvent::EncryptionKeyPublished(_)
        | NftEvent::UploadStaged(_)
        | NftEvent::UploadUnstaged(_) => return None,
    })
}

/// A PSP34 id as a DocumentNFT token id (DocumentNFT uses `Id::U64`).
fn token_of(id: &Id) -> Option<u64> {
    match id {
        Id::U8(n) => Some(u64::from(*n)),
        Id::U16(n) => Some(u64::from(*n)),
        Id::U32(n) => Some(u64::from(*n)),
        Id::U64(n) => Some(*n),
        Id::U128(n) => u64::try_from(*n).ok(),
        Id::Bytes(_) => None,
    }
}

/// `owner_kind` and `owner`: an identity's account in hex, a vault's number.
fn owner_key(owner: &Owner) -> (&'static str, String) {
    match owner {
        Owner::Identity(identity) => ("identity", hex::encode(bytes(identity))),
        Owner::Vault(vault) => ("vault", vault.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use codec::Encode;
    use sdv_chain::Hash;
    use sdv_types::{
        document::{NOTICE_PERIOD, YEAR},
        ink::env::Event,
        signature_topic, DAY,
    };
    use sqlx::PgPool;

    use super::*;
    use crate::store::{cursor, write_batch};
    use sdv_types::{
        document::{DocumentClass, RetentionOption},
        governance::Tier,
    };

    const T0: u64 = 1_800_000_000_000;
    const GENESIS: u8 = 0xaa;
    const TEAM_VAULT: u8 = 0x7e;

    fn nft() -> AccountId {
        AccountId::from([0x4e; 32])
    }

    fn account(byte: u8) -> sdv_types::AccountId {
        sdv_types::AccountId::from([byte; 32])
    }

    fn hex_of(byte: u8) -> String {
        hex::encode([byte; 32])
    }

    /// `event` as DocumentNFT emits it (its index set by [`block`]).
    fn ev<E: Event + Encode>(event: E) -> ContractEvent {
        ContractEvent {
            contract: nft(),
            index: 0,
            topics: vec![signature_topic::<E>().unwrap()],
            data: event.encode(),
        }
    }

    fn block(number: u32, events: Vec<ContractEvent>) -> IndexedBlock {
        IndexedBlock {
            number,
            hash: Hash::repeat_byte(number as u8),
            time_ms: T0 + u64::from(number) * 6_000,
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, e)| ContractEvent {
                    index: i as u32,
                    ..e
                })
                .collect(),
        }
    }

    async fn write(pool: &PgPool, blocks: &[IndexedBlock]) -> Result<()> {
        write_batch(
            pool,
            Hash::repeat_byte(GENESIS),
            &crate::Watched {
                document_nft: Some(nft()),
                ..Default::default()
            },
            blocks,
        )
        .await
    }

    /// The two events of a mint: PSP34's `Transfer` from `None`, then `DocumentMinted`.
    fn mint(
        id: u64,
        owner: Owner,
        sha: u8,
        class: DocumentClass,
        retention: RetentionOption,
        expiry: Option<u64>,
    ) -> Vec<ContractEvent> {
        let to = match owner {
            Owner::Identity(identity) => identity,
            Owner::Vault(_) => account(TEAM_VAULT),
        };
        vec![
            ev(Transfer {
                from: None,
                to: Some(to),
                id: Id::U64(id),
            }),
            ev(DocumentMinted {
                id,
                owner,
                sha256: [sha; 32],
                size: 1000 + id,
                tier: Tier::Premium,
                class,
                retention,
                expiry,
                arweave_requested: false,
            }),
        ]
    }

    fn mint_other(id: u64, owner: u8) -> Vec<ContractEvent> {
        mint(
            id,
            Owner::Identity(account(owner)),
            id as u8,
            DocumentClass::Other,
            RetentionOption::Minimum,
            Some(T0 + YEAR),
        )
    }

    fn transfer(id: u64, from: u8, to: u8) -> ContractEvent {
        ev(Transfer {
            from: Some(account(from)),
            to: Some(account(to)),
            id: Id::U64(id),
        })
    }

    async fn document(pool: &PgPool, id: i64) -> Option<DocumentRow> {
        sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE token_id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
        .map(|row| DocumentRow::from_row(&row).unwrap())
    }

    async fn history(pool: &PgPool) -> Vec<(i64, i64, i32, String)> {
        sqlx::query_as(
            "SELECT token_id, block_number, event_index, kind FROM document_history
             ORDER BY token_id, block_number, event_index",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap()
    }

    async fn shares(pool: &PgPool) -> Vec<(i64, Vec<u8>, i32, i64)> {
        sqlx::query_as(
            "SELECT token_id, grantee, key_version, block_number FROM document_shares
             ORDER BY token_id, grantee",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn life_cycle_across_two_batches_ends_deleted_without_replicas(pool: PgPool) {
        // Given a document minted, extended and noticed for deletion in a first batch.
        let mut first = mint_other(1, 0xa1);
        first.push(ev(RetentionExtended {
            id: 1,
            old: RetentionOption::Minimum,
            new: RetentionOption::Standard,
            expiry: Some(T0 + 3 * YEAR),
        }));
        write(&pool, &[block(1, first)]).await.unwrap();
        let due = T0 + 3 * YEAR + NOTICE_PERIOD;
        write(
            &pool,
            &[block(
                2,
                vec![ev(DeletionScheduled {
                    id: 1,
                    due,
                    by_owner: false,
                })],
            )],
        )
        .await
        .unwrap();
        let doc = document(&pool, 1).await.unwrap();
        assert_eq!(doc.retention, "standard");
        assert_eq!(doc.expiry_ms, Some((T0 + 3 * YEAR) as i64));
        assert_eq!(doc.status, "deletion_scheduled");
        assert_eq!(doc.deletion_due_ms, Some(due as i64));
        assert_eq!((doc.minted_block, doc.updated_block), (1, 2));

        // When a second batch cancels, records copies, schedules again and deletes.
        write(
            &pool,
            &[
                block(3, vec![ev(DeletionCancelled { id: 1 })]),
                block(
                    4,
                    vec![
                        ev(ArweaveRequested { id: 1 }),
                        ev(ReplicaRecorded {
                            id: 1,
                            replica: Replica::Ipfs(vec![1, 2, 3]),
                        }),
                    ],
                ),
                block(
                    5,
                    vec![ev(DeletionScheduled {
                        id: 1,
                        due: due + DAY,
                        by_owner: true,
                    })],
                ),
                block(
                    6,
                    vec![ev(DocumentDeleted {
                        id: 1,
                        sha256: [1; 32],
                    })],
                ),
            ],
        )
        .await
        .unwrap();

        // Then the document is deleted, its copies cleared, its history complete.
        let doc = document(&pool, 1).await.unwrap();
        assert_eq!(doc.status, "deleted");
        assert_eq!(doc.deletion_due_ms, Some((due + DAY) as i64));
        assert!(!doc.arweave_requested);
        assert_eq!((doc.arweave_tx, doc.ipfs_cid), (None, None));
        assert_eq!((doc.minted_block, doc.updated_block), (1, 6));
        let kinds: Vec<String> = history(&pool).await.into_iter().map(|h| h.3).collect();
        assert_eq!(
            kinds,
            [
                "Transfer",
                "DocumentMinted",
                "RetentionExtended",
                "DeletionScheduled",
                "DeletionCancelled",
                "ArweaveRequested",
                "ReplicaRecorded",
                "DeletionScheduled",
                "DocumentDeleted"
            ]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_batch_that_mints_and_updates_a_token_writes_its_final_state(pool: PgPool) {
        // Given one batch that mints a KYC document and changes it in every way but deletion.
        let mut first = mint(
            7,
            Owner::Identity(account(0xa1)),
            0x77,
            DocumentClass::Kyc,
            RetentionOption::Extended,
            None,
        );
        first.push(ev(RetentionUpgraded {
            id: 7,
            chosen: RetentionOption::Minimum,
            applied: RetentionOption::Extended,
        }));
        let end = T0 + YEAR;
        let second = vec![
            ev(RelationshipEnded {
                id: 7,
                ended_at: end,
                expiry: Some(end + 5 * YEAR),
            }),
            ev(DeletionScheduled {
                id: 7,
                due: end + 5 * YEAR,
                by_owner: false,
            }),
            ev(DeletionCancelled { id: 7 }),
            ev(ArweaveRequested { id: 7 }),
            ev(ReplicaRecorded {
                id: 7,
                replica: Replica::Arweave {
                    tx_id: [0xa7; 32],
                    item_id: Some([0xa8; 32]),
                },
            }),
        ];
        let third = vec![ev(ReplicaRecorded {
            id: 7,
            replica: Replica::ArweavePermanent,
        })];

        // When it is written.
        write(&pool, &[block(1, first), block(2, second), block(3, third)])
            .await
            .unwrap();

        // Then the row holds the last state, written once.
        let expected = DocumentRow {
            token_id: 7,
            owner_kind: "identity".into(),
            owner: hex_of(0xa1),
            owner_wallet: Some(vec![0xa1; 32]),
            sha256: vec![0x77; 32],
            size: 1007,
            tier: "premium".into(),
            class: "kyc".into(),
            retention: "extended".into(),
            expiry_ms: Some((end + 5 * YEAR) as i64),
            arweave_requested: true,
            arweave_tx: Some(vec![0xa7; 32]),
            arweave_item: Some(vec![0xa8; 32]),
            arweave_permanent: true,
            ipfs_cid: None,
            status: "active".into(),
            deletion_due_ms: None,
            minted_block: 1,
            updated_block: 3,
        };
        assert_eq!(document(&pool, 7).await, Some(expected));
        assert_eq!(count(&pool, "documents").await, 1);
        assert_eq!(count(&pool, "document_history").await, 9);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn rebinding_moves_every_document_of_the_identity_to_the_new_wallet(pool: PgPool) {
        // Given identity A with a document from an earlier batch, and identity B with one.
        let (a, b, c, w2, w3) = (0xa1, 0xb1, 0xc1, 0xa2, 0xb2);
        let mut first = mint_other(1, a);
        first.extend(mint_other(3, b));
        write(&pool, &[block(1, first)]).await.unwrap();

        // When A mints another and is rebound to W2 in a second batch.
        write(
            &pool,
            &[
                block(2, mint_other(2, a)),
                block(
                    3,
                    vec![ev(OwnerRebound {
                        identity: account(a),
                        old_wallet: account(a),
                        new_wallet: account(w2),
                    })],
                ),
            ],
        )
        .await
        .unwrap();

        // Then both of A's documents (from the database and from the batch) name W2, B's not.
        for id in [1, 2] {
            let doc = document(&pool, id).await.unwrap();
            assert_eq!(
                (doc.owner.as_str(), doc.owner_wallet),
                (hex_of(a).as_str(), Some(vec![w2; 32]))
            );
            assert_eq!(doc.updated_block, 3);
        }
        let doc = document(&pool, 3).await.unwrap();
        assert_eq!(doc.owner_wallet, Some(vec![b; 32]));
        type RebindRow = (Vec<u8>, Vec<u8>, Vec<u8>, i64);
        let rebinds: Vec<RebindRow> = sqlx::query_as(
            "SELECT identity, old_wallet, new_wallet, block_number FROM wallet_rebinds",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rebinds, [(vec![a; 32], vec![a; 32], vec![w2; 32], 3)]);

        // When B's document moves to W2 (rebound earlier), A's first to the plain wallet C, and
        // A's second to W3 right after B was rebound to W3 in the same batch.
        write(
            &pool,
            &[
                block(4, vec![transfer(3, b, w2), transfer(1, w2, c)]),
                block(
                    5,
                    vec![
                        ev(OwnerRebound {
                            identity: account(b),
                            old_wallet: account(b),
                            new_wallet: account(w3),
                        }),
                        transfer(2, w2, w3),
                    ],
                ),
            ],
        )
        .await
        .unwrap();

        // Then each owner is the receiving wallet's identity, each wallet the receiving wallet.
        let owners = [(1, c, c), (2, b, w3), (3, a, w2)];
        for (id, identity, wallet) in owners {
            let doc = document(&pool, id).await.unwrap();
            assert_eq!(doc.owner_kind, "identity");
            assert_eq!(doc.owner, hex_of(identity), "token {id}");
            assert_eq!(doc.owner_wallet, Some(vec![wallet; 32]), "token {id}");
        }
        assert_eq!(count(&pool, "wallet_rebinds").await, 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn shares_hold_until_the_token_moves_or_the_grantee_is_revoked(pool: PgPool) {
        // Given a document shared with two grantees.
        let (owner, g1, g2, c) = (0xa1, 0x61, 0x62, 0xc1);
        let mut first = mint_other(1, owner);
        for (grantee, version) in [(g1, 1), (g2, 1)] {
            first.push(ev(DocumentShared {
                id: 1,
                grantee: account(grantee),
                key_version: version,
            }));
        }
        write(&pool, &[block(1, first)]).await.unwrap();
        assert_eq!(
            shares(&pool).await,
            [(1, vec![g1; 32], 1, 1), (1, vec![g2; 32], 1, 1)]
        );

        // When G1's share is renewed, then the token moves, then the new owner shares with G2.
        let share = |grantee, key_version| {
            ev(DocumentShared {
                id: 1,
                grantee: account(grantee),
                key_version,
            })
        };
        write(
            &pool,
            &[
                block(2, vec![share(g1, 2)]),
                block(3, vec![transfer(1, owner, c), share(g2, 3)]),
            ],
        )
        .await
        .unwrap();

        // Then only the new owner's share is in force.
        assert_eq!(shares(&pool).await, [(1, vec![g2; 32], 3, 3)]);

        // When G2's wallet is revoked by a rebind, its shares end.
        write(
            &pool,
            &[block(
                4,
                vec![ev(OwnerRebound {
                    identity: account(g2),
                    old_wallet: account(g2),
                    new_wallet: account(0x63),
                })],
            )],
        )
        .await
        .unwrap();
        assert_eq!(shares(&pool).await, []);
        let kinds: Vec<String> = history(&pool).await.into_iter().map(|h| h.3).collect();
        assert_eq!(kinds.iter().filter(|k| *k == "DocumentShared").count(), 4);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn history_is_in_chain_order_with_readable_details(pool: PgPool) {
        // Given two documents whose events interleave over two blocks, among events of another
        // contract (even one with DocumentNFT's signature) and events without a token.
        let vault_mint = mint(
            2,
            Owner::Vault(3),
            0x22,
            DocumentClass::UsTax,
            RetentionOption::RegulatoryUsTax,
            Some(T0 + 7 * YEAR),
        );
        let mut one = mint_other(1, 0xa1);
        one.push(ContractEvent {
            contract: AccountId::from([0x99; 32]),
            ..mint_other(5, 0xa1).remove(1)
        });
        one.push(ev(TierChanged {
            owner: Owner::Vault(3),
            old: Tier::Free,
            new: Tier::Institutional,
        }));
        one.extend(vault_mint);
        let two = vec![
            ev(DeletionScheduled {
                id: 1,
                due: T0,
                by_owner: true,
            }),
            ev(ReplicaRecorded {
                id: 2,
                replica: Replica::Ipfs(vec![0xc1, 0xd0]),
            }),
            ev(DocumentShared {
                id: 1,
                grantee: account(0x61),
                key_version: 4,
            }),
        ];

        // When they are written in one batch.
        write(&pool, &[block(1, one), block(2, two)]).await.unwrap();

        // Then each token's history lists its events in chain order, and only DocumentNFT's.
        let expected: Vec<(i64, i64, i32, String)> = [
            (1, 1, 0, "Transfer"),
            (1, 1, 1, "DocumentMinted"),
            (1, 2, 0, "DeletionScheduled"),
            (1, 2, 2, "DocumentShared"),
            (2, 1, 4, "Transfer"),
            (2, 1, 5, "DocumentMinted"),
            (2, 2, 1, "ReplicaRecorded"),
        ]
        .into_iter()
        .map(|(t, b, i, k)| (t, b, i, k.to_owned()))
        .collect();
        assert_eq!(history(&pool).await, expected);
        assert!(document(&pool, 5).await.is_none());

        // And the details name enums, accounts and hashes readably.
        let details: Vec<String> = sqlx::query_scalar(
            "SELECT detail::text FROM document_history ORDER BY block_number, event_index",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let minted: Value = serde_json::from_str(&details[3]).unwrap();
        assert_eq!(
            minted,
            json!({
                "owner_kind": "vault",
                "owner": "3",
                "sha256": hex::encode([0x22; 32]),
                "size": 1002,
                "tier": "premium",
                "class": "us_tax",
                "retention": "regulatory_us_tax",
                "expiry_ms": T0 + 7 * YEAR,
                "arweave_requested": false,
            })
        );
        let transfer: Value = serde_json::from_str(&details[0]).unwrap();
        assert_eq!(transfer, json!({ "from": null, "to": hex_of(0xa1) }));
        let replica: Value = serde_json::from_str(&details[5]).unwrap();
        assert_eq!(replica, json!({ "replica": "ipfs", "cid": "c1d0" }));
        let doc = document(&pool, 2).await.unwrap();
        assert_eq!(
            (
                doc.owner_kind.as_str(),
                doc.owner.as_str(),
                doc.owner_wallet
            ),
            ("vault", "3", None)
        );
        let tiers: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT owner_kind, owner, tier, updated_block FROM account_tiers")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            tiers,
            [("vault".into(), "3".into(), "institutional".into(), 1)]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn keys_tiers_and_staged_uploads_keep_the_latest_state(pool: PgPool) {
        // Given keys published and rotated, tiers set twice, and two uploads staged for vault 3.
        let key = |byte: u8, version| {
            ev(EncryptionKeyPublished {
                account: account(0xa1),
                key: sdv_types::document::EncryptionKey {
                    key: [byte; 32],
                    version,
                    published_at: T0 + u64::from(version),
                },
            })
        };
        let tier = |owner, old, new| ev(TierChanged { owner, old, new });
        let staged = |sha: u8| {
            ev(UploadStaged {
                vault: 3,
                sha256: [sha; 32],
                size: 500,
            })
        };
        write(
            &pool,
            &[
                block(
                    1,
                    vec![
                        key(1, 1),
                        tier(Owner::Identity(account(0xa1)), Tier::Free, Tier::Premium),
                        staged(0x51),
                        staged(0x52),
                    ],
                ),
                block(
                    2,
                    vec![
                        key(2, 2),
                        tier(
                            Owner::Identity(account(0xa1)),
                            Tier::Premium,
                            Tier::BpohVerified,
                        ),
                    ],
                ),
            ],
        )
        .await
        .unwrap();
        let staged_rows = || async {
            sqlx::query_as::<_, (Vec<u8>, i64, i64, i64)>(
                "SELECT sha256, vault, size, block_number FROM staged_uploads ORDER BY sha256",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
        };
        assert_eq!(
            staged_rows().await,
            [(vec![0x51; 32], 3, 500, 1), (vec![0x52; 32], 3, 500, 1)]
        );

        // When the vault mints the first upload and the second is unstaged.
        let mut third = mint(
            1,
            Owner::Vault(3),
            0x51,
            DocumentClass::Financial,
            RetentionOption::Extended,
            Some(T0 + 5 * YEAR),
        );
        third.push(ev(UploadUnstaged {
            vault: 3,
            sha256: [0x52; 32],
        }));
        write(&pool, &[block(3, third)]).await.unwrap();

        // Then nothing is staged, the latest key and tier are kept.
        assert_eq!(staged_rows().await, []);
        type KeyRow = (Vec<u8>, Vec<u8>, i32, i64, i64);
        let keys: Vec<KeyRow> = sqlx::query_as(
            "SELECT account, key, version, published_at_ms, block_number FROM encryption_keys",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(keys, [(vec![0xa1; 32], vec![2; 32], 2, (T0 + 2) as i64, 2)]);
        let tiers: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT owner_kind, owner, tier, updated_block FROM account_tiers")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            tiers,
            [("identity".into(), hex_of(0xa1), "bpoh_verified".into(), 2)]
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_batch_written_twice_is_refused_whole_with_its_projection(pool: PgPool) {
        // Given a first batch with a mint.
        write(&pool, &[block(1, mint_other(1, 0xa1))])
            .await
            .unwrap();
        let before = document(&pool, 1).await;

        // When a batch that mints another token and updates the first also repeats block 1.
        let mut two = mint_other(2, 0xa1);
        two.push(ev(DeletionScheduled {
            id: 1,
            due: T0,
            by_owner: true,
        }));
        let again = write(&pool, &[block(2, two), block(1, mint_other(1, 0xa1))]).await;

        // Then it is refused, and none of it is visible.
        assert!(matches!(again, Err(Error::Database(_))), "{again:?}");
        assert_eq!(cursor(&pool).await.unwrap().unwrap().block_number, 1);
        assert_eq!(document(&pool, 1).await, before);
        assert!(document(&pool, 2).await.is_none());
        assert_eq!(count(&pool, "document_history").await, 2);
        assert_eq!(count(&pool, "contract_events").await, 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_refused_projection_rolls_back_the_event_log_and_the_cursor(pool: PgPool) {
        // Given a first document.
        write(&pool, &[block(1, mint_other(1, 0xa1))])
            .await
            .unwrap();

        // When a later batch's projection fails (a second token with the same sha256, which
        // the chain never emits, breaks the UNIQUE constraint).
        let mut two = mint_other(2, 0xa1);
        two.extend(mint(
            3,
            Owner::Identity(account(0xa1)),
            1,
            DocumentClass::Other,
            RetentionOption::Minimum,
            None,
        ));
        let refused = write(&pool, &[block(2, two)]).await;

        // Then the raw events and the cursor of that batch are rolled back with it.
        assert!(matches!(refused, Err(Error::Database(_))), "{refused:?}");
        assert_eq!(cursor(&pool).await.unwrap().unwrap().block_number, 1);
        assert_eq!(count(&pool, "contract_events").await, 2);
        assert_eq!(count(&pool, "documents").await, 1);
        assert_eq!(count(&pool, "document_history").await, 2);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn an_event_that_does_not_decode_stops_the_batch(pool: PgPool) {
        // Given DocumentNFT's DocumentMinted signature over data of another layout.
        let mut bad = mint_other(1, 0xa1);
        bad[1].data.truncate(10);

        // When it is written, then nothing is, and the error names the event.
        let err = write(&pool, &[block(1, bad)]).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Decode {
                    block: 1,
                    index: 1,
                    event: "DocumentMinted",
                    ..
                }
            ),
            "{err}"
        );
        assert!(cursor(&pool).await.unwrap().is_none());
        assert_eq!(count(&pool, "contract_events").await, 0);
    }
}
