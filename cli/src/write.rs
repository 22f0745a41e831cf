//! Commands that write: new keys, and contract calls signed with the --key account.

use std::{io::Read, path::Path};

use anyhow::{bail, Context as _};
use sdv_chain::{
    from_ink_account, to_ink_account, CallData, Chain, ContractEvent, DocumentNft, Governance,
    GuardianRecovery, Submitted, TeamVault,
};
use sdv_types::{
    governance::{
        ProposalCreated, ProposalKind, ProviderSelection, Release, ReplicationPolicy, TierParams,
    },
    recovery::{GuardianKind, RecoveryInitiated},
    vault::{Operation, OperationProposed, VaultCreated},
};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{
    args::{OperationArgs, ProposalArgs, RetentionArg, SetGuardians},
    context::{bytes, hash32, passphrase, Context},
    keystore::{generate_phrase, keypair_of, TokenKeyRef},
    Usage,
};

pub(crate) fn key_generate(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let phrase = generate_phrase();
    let pass = passphrase(&format!("New passphrase for key {name}: "), true)?;
    let file = ctx.keystore.save(name, &phrase, &pass)?;
    if ctx.json {
        println!(
            "{}",
            json!({ "name": file.name, "ss58": file.ss58, "public": file.public, "phrase": *phrase })
        );
    } else {
        println!("key {} created: {}", file.name, file.ss58);
        println!("secret phrase (write it down; it is not shown again):");
        println!("  {}", *phrase);
    }
    Ok(())
}

pub(crate) fn key_import(
    ctx: &Context,
    name: &str,
    uri: Option<String>,
    phrase: Option<String>,
    stdin: bool,
) -> anyhow::Result<()> {
    let secret = Zeroizing::new(match (uri, phrase, stdin) {
        (Some(uri), _, _) => uri,
        (_, Some(phrase), _) => phrase,
        (_, _, true) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text.trim().to_owned()
        }
        _ => return Err(Usage("give --uri, --phrase or --stdin".into()).into()),
    });
    if !secret.starts_with("//") {
        // A phrase (maybe with a derivation path): the words must be valid BIP-39.
        let words = secret.split("//").next().unwrap_or_default();
        let words = words.split('/').next().unwrap_or_default().trim();
        if subxt_signer::bip39::Mnemonic::parse(words).is_err() {
            return Err(Usage("the secret is not a valid BIP-39 phrase".into()).into());
        }
    }
    keypair_of(&secret)?;
    let pass = passphrase(&format!("New passphrase for key {name}: "), true)?;
    let file = ctx.keystore.save(name, &secret, &pass)?;
    if ctx.json {
        println!(
            "{}",
            json!({ "name": file.name, "ss58": file.ss58, "public": file.public })
        );
    } else {
        println!("key {} imported: {}", file.name, file.ss58);
    }
    Ok(())
}

pub(crate) fn key_hsm_generate(
    ctx: &Context,
    name: &str,
    token: &str,
    key_label: Option<&str>,
    module: &Path,
) -> anyhow::Result<()> {
    ctx.keystore.check_new(name)?;
    let key_label = key_label.unwrap_or(name);
    let pin = crate::token::pin()?;
    let key = crate::token::open_key(module, token, key_label, &pin, true)?;
    let protection = key
        .protection()
        .with_context(|| format!("reading the protection of key {key_label:?}"))?;
    let file = ctx.keystore.save_token_key(
        name,
        key.public_key(),
        TokenKeyRef {
            module: module.to_owned(),
            token: token.to_owned(),
            key_label: key_label.to_owned(),
        },
    )?;
    let description = crate::token::describe(&protection);
    if ctx.json {
        println!(
            "{}",
            json!({
                "name": file.name,
                "scheme": file.scheme,
                "ss58": file.ss58,
                "public": file.public,
                "module": module.display().to_string(),
                "token": token,
                "key_label": key_label,
                "protection": {
                    "locked_in": protection.is_locked_in(),
                    "value_sensitive": protection.value_sensitive,
                    "always_sensitive": protection.always_sensitive,
                    "never_extractable": protection.never_extractable,
                    "wrap_refused": protection.wrap_refused.is_some(),
                    "make_extractable_refused": protection.make_extractable_refused.is_some(),
                },
            })
        );
    } else {
        println!(
            "key {} created: {} (Ed25519 key {key_label:?} in PKCS#11 token {token:?})",
            file.name, file.ss58
        );
        println!("{description}");
    }
    if !protection.is_locked_in() && ctx.json {
        eprintln!("{description}");
    }
    Ok(())
}

pub(crate) async fn key_publish_encryption_key(ctx: &Context) -> anyhow::Result<()> {
    let (signer, secret) = ctx.signer_with_encryption_secret()?;
    let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let public_hex = format!("0x{}", hex::encode(public));
    let (chain, nft) = documents(ctx).await?;
    let account = sdv_chain::subxt::tx::Signer::account_id(&signer);
    if let Some(current) = nft.encryption_key(&account).await? {
        if current.key == public {
            if ctx.json {
                println!(
                    "{}",
                    json!({
                        "action": "encryption key published",
                        "encryption_key": public_hex,
                        "version": current.version,
                        "unchanged": true,
                    })
                );
            } else {
                println!(
                    "encryption key {public_hex} is published already (version {})",
                    current.version
                );
            }
            return Ok(());
        }
    }
    let submitted = match &signer {
        // Signed with the co-signer's round trips: a refusal is an error, nothing sent.
        crate::token::WalletSigner::Mpc(mpc) => {
            let address = ctx.deployment()?.address("document_nft")?.clone();
            let data = CallData::message("publish_encryption_key").arg(&public);
            mpc.call(&chain, &address, data).await
        }
        signer => nft.publish_encryption_key(signer, public).await,
    }
    .map_err(|e| refused(Target::Document, e))?;
    if !ctx.json {
        println!("encryption key {public_hex}");
    }
    report(ctx, &chain, "encryption key published", &submitted, None).await
}

/// Which contract a call went to, to name it and decode its error.
#[derive(Clone, Copy)]
enum Target {
    Governance,
    Document,
    Psp34,
    Vault,
    Recovery,
}

/// The contract's refusal in words, or the chain error as it is.
fn refused(target: Target, e: sdv_chain::Error) -> anyhow::Error {
    let reason = match target {
        Target::Governance => e
            .governance_error()
            .map(|r| ("ValidatorGovernance", format!("{r:?}"), r.description())),
        Target::Document => e
            .document_error()
            .map(|r| ("DocumentNFT", r.name().to_owned(), r.description())),
        Target::Psp34 => e.psp34_error().map(|r| {
            let name = match r {
                sdv_types::psp34::PSP34Error::Custom(name) => name,
                other => format!("{other:?}"),
            };
            ("DocumentNFT", name, "the PSP34 transfer was refused")
        }),
        Target::Vault => e
            .vault_error()
            .map(|r| ("TeamVault", r.name().to_owned(), r.description())),
        Target::Recovery => e
            .recovery_error()
            .map(|r| ("GuardianRecovery", format!("{r:?}"), r.description())),
    };
    match reason {
        Some((contract, name, description)) => {
            anyhow::anyhow!("{contract} refused: {name}: {description}")
        }
        None => anyhow::Error::new(e),
    }
}

/// An event in one line: its name and fields, accounts as SS58.
fn describe(event: &ContractEvent) -> (String, String) {
    macro_rules! try_types {
        ($($ty:path),* $(,)?) => {
            $(
                if let Some(Ok(e)) = event.decode::<$ty>() {
                    let debug = format!("{e:?}");
                    let name = debug.split([' ', '{', '(']).next().unwrap_or_default().to_owned();
                    return (name, ss58_accounts(&debug));
                }
            )*
        };
    }
    use sdv_types::{document as d, governance as g, psp34 as p, recovery as r, vault as v};
    try_types!(
        d::DocumentMinted,
        d::RetentionUpgraded,
        d::RetentionExtended,
        d::RelationshipEnded,
        d::DeletionScheduled,
        d::DeletionCancelled,
        d::DocumentDeleted,
        d::ArweaveRequested,
        d::ReplicaRecorded,
        d::TierChanged,
        d::OwnerRebound,
        d::EncryptionKeyPublished,
        d::UploadStaged,
        d::UploadUnstaged,
        d::DocumentShared,
        g::ValidatorSetInitialized,
        g::ContractsWired,
        g::ProposalCreated,
        g::VoteCast,
        g::PetitionContested,
        g::ProposalExecuted,
        g::TierParamsChanged,
        g::ReplicationPolicyChanged,
        g::ProvidersChanged,
        g::RoleChanged,
        g::ReleaseProposerChanged,
        g::ContractAddressChanged,
        g::ReleaseApproved,
        g::EmergencyRecoveryApproved,
        g::EmergencyVaultAccessApproved,
        g::ValidatorReplaced,
        g::CodeUpgraded,
        r::GuardiansSet,
        r::GuardianAccepted,
        r::GuardianHeartbeat,
        r::RecoveryInitiated,
        r::RecoveryAttested,
        r::RecoveryQuorumReached,
        r::RecoveryCancelled,
        r::WalletRecovered,
        v::VaultCreated,
        v::OperationProposed,
        v::OperationVoted,
        v::OperationQueued,
        v::OperationVetoed,
        v::OperationExecuted,
        v::AdminsChanged,
        v::AdminCheckedIn,
        v::EmergencyAccessGranted,
        p::Transfer,
        p::Approval,
    );
    ("Unknown".into(), format!("0x{}", hex::encode(&event.data)))
}

/// Replaces each `AccountId([1, 2, ...])` of a Debug rendering with the SS58 address.
fn ss58_accounts(debug: &str) -> String {
    const OPEN: &str = "AccountId([";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("])") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let bytes: Option<Vec<u8>> = after[..end]
            .split(',')
            .map(|b| b.trim().parse().ok())
            .collect();
        match bytes.and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(b) => out.push_str(&sdv_chain::AccountId::from(b).to_string()),
            None => out.push_str(&rest[start..start + OPEN.len() + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Prints what a finalized call did: its block, a result, and its events.
async fn report(
    ctx: &Context,
    chain: &Chain,
    what: &str,
    submitted: &Submitted,
    result: Option<(&str, u64)>,
) -> anyhow::Result<()> {
    let number = chain
        .client()
        .blocks()
        .at(submitted.block_hash)
        .await
        .map(|b| b.number())
        .ok();
    let events: Vec<(String, String)> = submitted.events.iter().map(describe).collect();
    if ctx.json {
        let mut out = json!({
            "action": what,
            "block": number,
            "block_hash": format!("{:?}", submitted.block_hash),
            "events": events
                .iter()
                .map(|(name, detail)| json!({ "event": name, "detail": detail }))
                .collect::<Vec<Value>>(),
        });
        if let Some((key, id)) = result {
            out[key] = json!(id);
        }
        println!("{out}");
    } else {
        let block = number.map(|n| format!("#{n} ")).unwrap_or_default();
        println!(
            "{what}: finalized in block {block}({:?})",
            submitted.block_hash
        );
        if let Some((key, id)) = result {
            println!("{key} {id}");
        }
        for (_, detail) in events {
            println!("  event {detail}");
        }
    }
    Ok(())
}

fn find<E>(submitted: &Submitted, what: &str) -> anyhow::Result<E>
where
    E: sdv_types::ink::env::Event + codec::Decode,
{
    submitted
        .events
        .iter()
        .find_map(|e| e.decode::<E>())
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("the call emitted no {what} event"))
}

async fn governance(ctx: &Context) -> anyhow::Result<(Chain, Governance)> {
    let (chain, d) = ctx.chain().await?;
    let address = d.address("validator_governance")?.clone();
    Ok((chain.clone(), Governance::new(chain, address)))
}

async fn documents(ctx: &Context) -> anyhow::Result<(Chain, DocumentNft)> {
    let (chain, d) = ctx.chain().await?;
    let address = d.address("document_nft")?.clone();
    Ok((chain.clone(), DocumentNft::new(chain, address)))
}

async fn vaults(ctx: &Context) -> anyhow::Result<(Chain, TeamVault)> {
    let (chain, d) = ctx.chain().await?;
    let address = d.address("team_vault")?.clone();
    Ok((chain.clone(), TeamVault::new(chain, address)))
}

async fn recovery(ctx: &Context) -> anyhow::Result<(Chain, GuardianRecovery)> {
    let (chain, d) = ctx.chain().await?;
    let address = d.address("guardian_recovery")?.clone();
    Ok((chain.clone(), GuardianRecovery::new(chain, address)))
}

fn ink(ctx: &Context, text: &str) -> anyhow::Result<sdv_types::AccountId> {
    Ok(to_ink_account(&ctx.account(text)?))
}

fn proposal_kind(ctx: &Context, args: ProposalArgs) -> anyhow::Result<ProposalKind> {
    Ok(match args {
        ProposalArgs::SetProviders { arweave, ipfs } => {
            ProposalKind::SetProviders(ProviderSelection { arweave, ipfs })
        }
        ProposalArgs::SetTierParams {
            tier,
            max_document_bytes,
            max_documents,
            parallel_chunks,
        } => ProposalKind::SetTierParams {
            tier: tier.into(),
            params: TierParams {
                max_document_bytes,
                max_documents,
                parallel_chunks,
            },
        },
        ProposalArgs::SetReplicationPolicy {
            tier,
            arweave_on_request,
            ipfs_auto,
        } => ProposalKind::SetReplicationPolicy {
            tier: tier.into(),
            policy: ReplicationPolicy {
                arweave_on_request,
                ipfs_auto,
            },
        },
        ProposalArgs::SetRole {
            role,
            account,
            clear,
        } => ProposalKind::SetRole {
            role: role.into(),
            account: match (account, clear) {
                (_, true) => None,
                (Some(a), false) => Some(ink(ctx, &a)?),
                (None, false) => return Err(Usage("give --account or --clear".into()).into()),
            },
        },
        ProposalArgs::SetReleaseProposer { account, allowed } => ProposalKind::SetReleaseProposer {
            account: ink(ctx, &account)?,
            allowed,
        },
        ProposalArgs::SetContract { contract, address } => ProposalKind::SetContract {
            contract: contract.into(),
            address: ink(ctx, &address)?,
        },
        ProposalArgs::ApproveRelease {
            image,
            tag,
            digest,
            track,
            number,
        } => ProposalKind::ApproveRelease(Release {
            image,
            tag,
            digest: hash32("digest", &digest)?,
            track: track.into(),
            number,
        }),
        ProposalArgs::EmergencyRecovery {
            account,
            new_owner,
            identity_evidence,
            ownership_proof,
        } => ProposalKind::EmergencyRecovery {
            account: ink(ctx, &account)?,
            new_owner: ink(ctx, &new_owner)?,
            identity_evidence: hash32("identity evidence", &identity_evidence)?,
            ownership_proof: hash32("ownership proof", &ownership_proof)?,
        },
        ProposalArgs::EmergencyVaultAccess {
            vault,
            grantee,
            legal_basis,
        } => ProposalKind::EmergencyVaultAccess {
            vault,
            grantee: ink(ctx, &grantee)?,
            legal_basis: hash32("legal basis", &legal_basis)?,
        },
        ProposalArgs::ReplaceValidator { old, new } => ProposalKind::ReplaceValidator {
            old: ink(ctx, &old)?,
            new: ink(ctx, &new)?,
        },
        ProposalArgs::UpgradeCode {
            contract,
            code_hash,
        } => ProposalKind::UpgradeCode {
            contract: contract.into(),
            code_hash: hash32("code hash", &code_hash)?,
        },
    })
}

pub(crate) async fn gov_propose(ctx: &Context, args: ProposalArgs) -> anyhow::Result<()> {
    let kind = proposal_kind(ctx, args)?;
    let signer = ctx.signer()?;
    let (chain, gov) = governance(ctx).await?;
    let submitted = gov
        .send(&signer, CallData::message("propose").arg(&kind))
        .await
        .map_err(|e| refused(Target::Governance, e))?;
    let created: ProposalCreated = find(&submitted, "ProposalCreated")?;
    report(
        ctx,
        &chain,
        "proposed",
        &submitted,
        Some(("proposal", created.id)),
    )
    .await
}

pub(crate) async fn gov_vote(ctx: &Context, id: u64, approve: bool) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, gov) = governance(ctx).await?;
    let submitted = gov
        .vote(&signer, id, approve)
        .await
        .map_err(|e| refused(Target::Governance, e))?;
    report(ctx, &chain, "voted", &submitted, Some(("proposal", id))).await
}

pub(crate) async fn gov_execute(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, gov) = governance(ctx).await?;
    let submitted = gov
        .execute(&signer, id)
        .await
        .map_err(|e| refused(Target::Governance, e))?;
    report(ctx, &chain, "executed", &submitted, Some(("proposal", id))).await
}

pub(crate) async fn gov_contest(ctx: &Context, id: u64, reason: &str) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, gov) = governance(ctx).await?;
    let submitted = gov
        .contest(&signer, id, reason)
        .await
        .map_err(|e| refused(Target::Governance, e))?;
    report(ctx, &chain, "contested", &submitted, Some(("proposal", id))).await
}

pub(crate) async fn doc_extend_retention(
    ctx: &Context,
    id: u64,
    retention: RetentionArg,
) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, nft) = documents(ctx).await?;
    let submitted = nft
        .extend_retention(&signer, id, retention.into())
        .await
        .map_err(|e| refused(Target::Document, e))?;
    report(
        ctx,
        &chain,
        "retention extended",
        &submitted,
        Some(("document", id)),
    )
    .await
}

pub(crate) async fn doc_transfer(ctx: &Context, id: u64, to: &str) -> anyhow::Result<()> {
    let to = ctx.account(to)?;
    let signer = ctx.signer()?;
    let (chain, nft) = documents(ctx).await?;
    let submitted = nft
        .transfer(&signer, &to, id)
        .await
        .map_err(|e| refused(Target::Psp34, e))?;
    report(
        ctx,
        &chain,
        "transferred",
        &submitted,
        Some(("document", id)),
    )
    .await
}

pub(crate) async fn vault_create(ctx: &Context, admins: &[String]) -> anyhow::Result<()> {
    let admins: Vec<sdv_types::AccountId> = admins
        .iter()
        .map(|a| ink(ctx, a))
        .collect::<anyhow::Result<_>>()?;
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .send(&signer, CallData::message("create_vault").arg(&admins))
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    let created: VaultCreated = find(&submitted, "VaultCreated")?;
    report(
        ctx,
        &chain,
        "vault created",
        &submitted,
        Some(("vault", created.vault.into())),
    )
    .await
}

fn operation(ctx: &Context, args: OperationArgs) -> anyhow::Result<Operation> {
    Ok(match args {
        OperationArgs::Upload {
            sha256,
            class,
            retention,
            arweave,
        } => Operation::Upload {
            sha256: hash32("sha256", &sha256)?,
            class: class.into(),
            retention: retention.into(),
            arweave,
        },
        OperationArgs::Share {
            token,
            grantee,
            wrapped_key,
        } => Operation::Share {
            token,
            grantee: ink(ctx, &grantee)?,
            wrapped_key: bytes("wrapped key", &wrapped_key)?,
        },
        OperationArgs::Delete { token } => Operation::Delete { token },
        OperationArgs::AddAdmin { account } => Operation::AddAdmin(ink(ctx, &account)?),
        OperationArgs::RemoveAdmin { account } => Operation::RemoveAdmin(ink(ctx, &account)?),
        OperationArgs::TransferOwnership { admins } => Operation::TransferOwnership(
            admins
                .iter()
                .map(|a| ink(ctx, a))
                .collect::<anyhow::Result<_>>()?,
        ),
    })
}

pub(crate) async fn vault_propose(
    ctx: &Context,
    vault_id: u32,
    args: OperationArgs,
) -> anyhow::Result<()> {
    let op = operation(ctx, args)?;
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .send(
            &signer,
            CallData::message("propose").arg(&vault_id).arg(&op),
        )
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    let proposed: OperationProposed = find(&submitted, "OperationProposed")?;
    report(
        ctx,
        &chain,
        "operation proposed",
        &submitted,
        Some(("operation", proposed.id)),
    )
    .await
}

pub(crate) async fn vault_vote(ctx: &Context, op: u64, approve: bool) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .vote(&signer, op, approve)
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    report(ctx, &chain, "voted", &submitted, Some(("operation", op))).await
}

pub(crate) async fn vault_veto(ctx: &Context, op: u64, reason: &str) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .veto(&signer, op, reason)
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    report(ctx, &chain, "vetoed", &submitted, Some(("operation", op))).await
}

pub(crate) async fn vault_execute(ctx: &Context, op: u64) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .execute(&signer, op)
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    report(ctx, &chain, "executed", &submitted, Some(("operation", op))).await
}

pub(crate) async fn vault_check_in(ctx: &Context, vault_id: u32) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, vault) = vaults(ctx).await?;
    let submitted = vault
        .check_in(&signer, vault_id)
        .await
        .map_err(|e| refused(Target::Vault, e))?;
    report(
        ctx,
        &chain,
        "checked in",
        &submitted,
        Some(("vault", vault_id.into())),
    )
    .await
}

pub(crate) async fn guardians_set(ctx: &Context, set: SetGuardians) -> anyhow::Result<()> {
    let guardians = [
        (ctx.account(&set.user_guardian)?, GuardianKind::User),
        (ctx.account(&set.hardware_key)?, GuardianKind::HardwareKey),
        (ctx.account(&set.custodian)?, GuardianKind::Custodian),
    ];
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .set_guardians(&signer, &guardians)
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(ctx, &chain, "guardians set", &submitted, None).await
}

pub(crate) async fn guardians_accept(ctx: &Context, user: &str) -> anyhow::Result<()> {
    let user = ctx.account(user)?;
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .accept(&signer, &user)
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(ctx, &chain, "guardianship accepted", &submitted, None).await
}

pub(crate) async fn guardians_heartbeat(ctx: &Context, user: &str) -> anyhow::Result<()> {
    let user = ctx.account(user)?;
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .send(
            &signer,
            CallData::message("heartbeat").arg(&to_ink_account(&user)),
        )
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(ctx, &chain, "heartbeat recorded", &submitted, None).await
}

pub(crate) async fn guardians_initiate(
    ctx: &Context,
    user: &str,
    new_wallet: &str,
) -> anyhow::Result<()> {
    let user = ctx.account(user)?;
    let new_wallet = ctx.account(new_wallet)?;
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .send(
            &signer,
            CallData::message("initiate_recovery")
                .arg(&to_ink_account(&user))
                .arg(&to_ink_account(&new_wallet)),
        )
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    let initiated: RecoveryInitiated = find(&submitted, "RecoveryInitiated")?;
    if from_ink_account(&initiated.user) != user {
        bail!("the recovery emitted names another user");
    }
    report(
        ctx,
        &chain,
        "recovery initiated",
        &submitted,
        Some(("recovery", initiated.id)),
    )
    .await
}

pub(crate) async fn guardians_attest(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .attest(&signer, id)
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(ctx, &chain, "attested", &submitted, Some(("recovery", id))).await
}

pub(crate) async fn guardians_cancel(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .cancel(&signer, id)
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(
        ctx,
        &chain,
        "recovery cancelled",
        &submitted,
        Some(("recovery", id)),
    )
    .await
}

pub(crate) async fn guardians_finalize(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let signer = ctx.signer()?;
    let (chain, rec) = recovery(ctx).await?;
    let submitted = rec
        .finalize(&signer, id)
        .await
        .map_err(|e| refused(Target::Recovery, e))?;
    report(
        ctx,
        &chain,
        "recovery finalized",
        &submitted,
        Some(("recovery", id)),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_in_debug_output_become_ss58() {
        let alice = subxt_signer::sr25519::dev::alice().public_key().0;
        let debug = format!(
            "VoteCast {{ id: 0, validator: {:?}, approve: true }}",
            sdv_types::AccountId::from(alice)
        );
        assert_eq!(
            ss58_accounts(&debug),
            "VoteCast { id: 0, validator: 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY, approve: true }"
        );
    }
}
