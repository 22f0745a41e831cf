//! Documents through the storage gateway: `doc upload` (classify, encrypt, wrap the data key,
//! upload in chunks, resume) and `doc download` (read, unwrap, decrypt).
//!
//! # Uploading, step by step
//!
//! 1. Classify the file locally from its tags and first bytes (or take `--class`), and show
//!    the class's retention floor and the retention that will apply.
//! 2. Check that the --key account's encryption key is published on DocumentNFT.
//! 3. Encrypt the file with a new data key into `<uploads dir>/<upload id>/ciphertext`, wrap
//!    the key to the owner and to the gateway's recovery key, and open the upload session.
//!    `state.json` next to the ciphertext keeps what a resume needs; the data key is in it only
//!    wrapped to the owner's own key.
//! 4. Send the chunks; after a pause (a chunk failed on every retry), `--resume` asks the
//!    gateway which chunks arrived and sends the rest.
//! 5. Complete, wait for the mint, and remove the state directory.
//!
//! # Test hooks
//!
//! Two environment variables exist for the system tests only: `SDV_RETRY_DELAYS_MS`
//! (comma-separated waits before each chunk retry, instead of 1 s, 2 s, 4 s) and
//! `SDV_UPLOAD_STOP_AFTER_CHUNKS=N` (pause, exit status 3, once N chunks were accepted).

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use sdv_storage_client::{
    classify::{self, Classification, Rules},
    client::{GatewayClient, Uploader},
    envelope::{self, DataKey, DocumentId},
    protocol::{CreateUpload, HolderRef, KeyRole, UploadState, UploadStatus, WrappedKey},
    Error as GatewayError,
};
use sdv_types::document::{DocumentClass, RetentionOption};
use serde::{Deserialize, Serialize};
use serde_json::json;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{
    args::UploadArgs, context::Context, progress::Bar, token::WalletSigner, Paused, Usage,
};

/// The spec's warning before a permanent (Arweave) upload.
const PERMANENT_WARNING: &str =
    "Arweave copies are permanent and cannot be deleted. This action is irreversible.";

/// The version of `state.json`.
const STATE_VERSION: u32 = 1;

/// What an interrupted upload keeps next to its ciphertext, in `state.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SavedUpload {
    version: u32,
    upload_id: String,
    /// The plaintext file.
    file: PathBuf,
    gateway: String,
    /// The owner, `0x` hex.
    account: String,
    /// The ciphertext's size and sha256 (hex).
    size: u64,
    sha256: String,
    name: Option<String>,
    class: String,
    /// The retention the user chose (the contract applies the class's floor).
    retention: String,
    /// The retention that applies.
    effective_retention: String,
    vault: Option<u32>,
    /// The data key wrapped to the owner's own encryption key: never the raw key.
    owner_key: WrappedKey,
}

/// `sdv doc upload`: a new upload, or `--resume`.
pub(crate) async fn upload(ctx: &Context, args: UploadArgs) -> anyhow::Result<()> {
    let dir = uploads_dir(args.uploads_dir.clone())?;
    if let Some(id) = &args.resume {
        return resume(ctx, &dir, id, args.wait_secs).await;
    }
    let file = args
        .file
        .clone()
        .expect("clap requires FILE without --resume");
    let meta = fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
    if !meta.is_file() {
        return Err(Usage(format!("{} is not a file", file.display())).into());
    }

    // Classify and show the retention that will apply.
    let classification = match args.class {
        Some(class) => Classification {
            class: class.into(),
            matched: Vec::new(),
        },
        None => classify::classify(&args.tags, &read_head(&file, Rules::builtin().scan_bytes)?),
    };
    let class = classification.class;
    let chosen = if args.permanent {
        RetentionOption::Permanent
    } else {
        args.retention
            .map(Into::into)
            .unwrap_or(RetentionOption::Standard)
    };
    let (effective, raised) = classify::apply_floor(class, chosen);
    if !ctx.json {
        print_plan(
            &classification,
            args.class.is_some(),
            chosen,
            effective,
            raised,
        );
    }
    if args.permanent {
        confirm_permanent(args.yes_permanent)?;
    }

    // The owner's encryption key must be the published one, or nobody could read the document.
    let (signer, secret) = ctx.signer_with_encryption_secret()?;
    let own_public = PublicKey::from(&secret);
    check_published(ctx, &signer, &own_public).await?;

    let gateway_url = ctx.gateway();
    let gateway = GatewayClient::new(&gateway_url)?;
    let recovery = match gateway.recovery_key().await {
        Ok(key) => Some(key),
        Err(GatewayError::Api { status: 404, .. }) => None,
        Err(e) => {
            return Err(e).with_context(|| {
                format!("asking the gateway at {gateway_url} for its recovery key")
            })
        }
    };
    if recovery.is_none() && !ctx.json {
        println!("the gateway has no recovery key: the data key is wrapped to you only");
    }

    // Encrypt into a new state directory, renamed to the upload id once the gateway gave one.
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pending = dir.join(format!(".new-{}", DocumentId::random()));
    fs::create_dir(&pending).with_context(|| format!("creating {}", pending.display()))?;
    let created = async {
        let key = DataKey::generate();
        let ciphertext = pending.join("ciphertext");
        let encrypted = envelope::encrypt_file(&file, &ciphertext, &key, DocumentId::random())
            .with_context(|| format!("encrypting {}", file.display()))?;
        let owner_key = envelope::wrapped_key(&key, &own_public, KeyRole::Owner)?;
        let mut wrapped_keys = vec![owner_key.clone()];
        if let Some(recovery) = &recovery {
            wrapped_keys.push(envelope::wrapped_key(&key, recovery, KeyRole::Recovery)?);
        }
        drop(key);
        let name = args.name.clone().or_else(|| {
            file.file_name()
                .map(|n| n.to_string_lossy().chars().take(256).collect())
        });
        let client = login(&gateway, &signer).await?;
        let request = CreateUpload {
            holder: args.vault.map_or(HolderRef::Account, HolderRef::Vault),
            size: encrypted.size,
            sha256: hex::encode(encrypted.sha256),
            class: classify::class_name(class).to_owned(),
            retention: classify::retention_name(chosen).to_owned(),
            arweave: args.permanent,
            name: name.clone(),
            wrapped_keys,
        };
        let status = client
            .create_upload(&request)
            .await
            .context("opening the upload")?;
        let saved = SavedUpload {
            version: STATE_VERSION,
            upload_id: status.upload_id.clone(),
            file: fs::canonicalize(&file).unwrap_or_else(|_| file.clone()),
            gateway: gateway_url.clone(),
            account: account_hex(&signer),
            size: encrypted.size,
            sha256: request.sha256,
            name,
            class: request.class,
            retention: request.retention,
            effective_retention: classify::retention_name(effective).to_owned(),
            vault: args.vault,
            owner_key,
        };
        anyhow::Ok((client, status, saved))
    }
    .await;
    let (client, status, saved) = match created {
        Ok(created) => created,
        Err(e) => {
            let _ = fs::remove_dir_all(&pending);
            return Err(e);
        }
    };
    let state_dir = dir.join(&status.upload_id);
    fs::rename(&pending, &state_dir)
        .and_then(|()| write_state(&state_dir, &saved))
        .with_context(|| format!("saving the upload's state in {}", state_dir.display()))?;
    if !ctx.json {
        println!(
            "upload {} opened ({} bytes encrypted)",
            saved.upload_id, saved.size
        );
    }
    send(ctx, &client, &saved, status, &state_dir, args.wait_secs).await
}

/// `sdv doc upload --resume ID`.
async fn resume(ctx: &Context, dir: &Path, id: &str, wait_secs: u64) -> anyhow::Result<()> {
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(Usage(format!("\"{id}\" is not an upload id")).into());
    }
    let state_dir = dir.join(id);
    let state_file = state_dir.join("state.json");
    let text = fs::read_to_string(&state_file).map_err(|e| {
        anyhow!(
            "no interrupted upload {id} in {} ({e}); is SDV_UPLOADS_DIR the one of the first \
             attempt?",
            dir.display()
        )
    })?;
    let saved: SavedUpload =
        serde_json::from_str(&text).with_context(|| format!("reading {}", state_file.display()))?;
    if saved.version != STATE_VERSION {
        bail!(
            "{}: unknown version {}",
            state_file.display(),
            saved.version
        );
    }
    let (signer, _) = ctx.signer_with_encryption_secret()?;
    if account_hex(&signer) != saved.account {
        bail!(
            "upload {id} belongs to {}, not to the --key account {}",
            saved.account,
            account_hex(&signer)
        );
    }
    let gateway = GatewayClient::new(&saved.gateway)?;
    let hint = |e: anyhow::Error| Paused(format!("{e:#}; {}", resume_hint(id)));
    let client = login(&gateway, &signer).await.map_err(hint)?;
    let status = client
        .upload_status(id)
        .await
        .context("asking the gateway where the upload is")
        .map_err(hint)?;
    if !ctx.json {
        println!(
            "upload {id}: the gateway has {} of {} chunks",
            status.received.len(),
            status.chunks
        );
    }
    send(ctx, &client, &saved, status, &state_dir, wait_secs).await
}

/// Sends what is missing, completes, and waits for the mint; removes the state directory once
/// the document is minted (or staged for a vault).
async fn send(
    ctx: &Context,
    client: &GatewayClient,
    saved: &SavedUpload,
    mut status: UploadStatus,
    state_dir: &Path,
    wait_secs: u64,
) -> anyhow::Result<()> {
    let id = saved.upload_id.as_str();
    if status.state == UploadState::Open {
        let label = saved.name.clone().unwrap_or_else(|| id.to_owned());
        let bar = Bar::new(&label);
        let mut uploader = Uploader::new(client.clone());
        uploader.retry_delays = retry_delays();
        let ciphertext = state_dir.join("ciphertext");
        let sent = uploader.upload(&ciphertext, &status, &bar);
        let result = match stop_after_chunks() {
            Some(n) => tokio::select! {
                r = sent => r.map_err(anyhow::Error::from),
                () = reached(&bar, n) => Err(anyhow!("stopped after {n} chunks (SDV_UPLOAD_STOP_AFTER_CHUNKS)")),
            },
            None => sent.await.map_err(anyhow::Error::from),
        };
        bar.finish();
        if let Err(e) = result {
            let paused = matches!(
                e.downcast_ref::<GatewayError>(),
                Some(GatewayError::Paused { .. })
            ) || e.downcast_ref::<GatewayError>().is_none();
            return Err(if paused {
                Paused(format!("{e:#}; {}", resume_hint(id))).into()
            } else {
                e.context(format!("upload {id} failed"))
            });
        }
        status = client
            .complete(id)
            .await
            .with_context(|| format!("completing upload {id} ({})", resume_hint(id)))?;
    }
    match status.state {
        UploadState::Stored => {}
        UploadState::Staged => {
            let _ = fs::remove_dir_all(state_dir);
            let vault = saved.vault.unwrap_or_default();
            if ctx.json {
                println!(
                    "{}",
                    json!({
                        "upload_id": id, "sha256": saved.sha256, "size": saved.size,
                        "class": saved.class, "retention": saved.effective_retention,
                        "staged_for_vault": vault,
                    })
                );
            } else {
                println!("staged for vault {vault}: sha256 {}", saved.sha256);
                println!(
                    "the vault's admins mint it with `sdv vault propose {vault} upload --sha256 \
                     0x{} --class {} --retention {}`",
                    saved.sha256,
                    saved.class.replace('_', "-"),
                    saved.retention.replace('_', "-"),
                );
            }
            return Ok(());
        }
        other => bail!("upload {id} is {other:?}: it cannot be completed"),
    }
    if !ctx.json {
        println!(
            "uploaded and verified: sha256 {}; waiting for the mint",
            saved.sha256
        );
    }
    let token_id = wait_for_mint(client, id, Duration::from_secs(wait_secs)).await?;
    let _ = fs::remove_dir_all(state_dir);
    if ctx.json {
        println!(
            "{}",
            json!({
                "token_id": token_id, "sha256": saved.sha256, "size": saved.size,
                "class": saved.class, "retention": saved.effective_retention, "upload_id": id,
            })
        );
    } else {
        println!("minted document {token_id}");
        println!("  sha256     {}", saved.sha256);
        println!("  size       {} bytes (encrypted)", saved.size);
        println!("  class      {}", saved.class);
        println!("  retention  {}", saved.effective_retention);
    }
    Ok(())
}

/// Polls the upload until its mint has a token id.
async fn wait_for_mint(client: &GatewayClient, id: &str, wait: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + wait;
    loop {
        let status = client.upload_status(id).await?;
        if let Some(mint) = &status.mint {
            if mint.status == "failed" {
                bail!(
                    "the mint of upload {id} failed: {}",
                    mint.error.as_deref().unwrap_or("no reason given")
                );
            }
            if let Some(token_id) = mint.token_id {
                return Ok(token_id);
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "upload {id} is stored but not minted after {} s; {} to wait again",
                wait.as_secs(),
                resume_hint(id)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `sdv doc download ID [--out PATH]`.
pub(crate) async fn download(ctx: &Context, id: u64, out: Option<PathBuf>) -> anyhow::Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("document-{id}")));
    let (signer, secret) = ctx.signer_with_encryption_secret()?;
    let own = hex::encode(PublicKey::from(&secret).as_bytes());
    let gateway = GatewayClient::new(&ctx.gateway())?;
    let client = login(&gateway, &signer).await?;
    let keys = client
        .document_keys(id)
        .await
        .map_err(|e| refused(e, id, &signer))?;
    let key = data_key_for(&keys, &own, &secret, id)?;

    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("document-{id}"));
    let ciphertext = out.with_file_name(format!(".{name}.{}.sdv", DocumentId::random()));
    client
        .read_document(id, &ciphertext)
        .await
        .map_err(|e| refused(e, id, &signer))?;
    let decrypted = envelope::decrypt_file(&ciphertext, &out, &key);
    let _ = fs::remove_file(&ciphertext);
    let size = decrypted.with_context(|| format!("decrypting document {id} failed"))?;
    if ctx.json {
        println!(
            "{}",
            json!({ "token_id": id, "path": out.display().to_string(), "size": size })
        );
    } else {
        println!("document {id}: {size} bytes written to {}", out.display());
    }
    Ok(())
}

/// The data key of the wrapped key whose recipient is `own_hex`.
fn data_key_for(
    keys: &[WrappedKey],
    own_hex: &str,
    secret: &StaticSecret,
    id: u64,
) -> anyhow::Result<DataKey> {
    let mine = keys
        .iter()
        .find(|k| {
            k.recipient
                .trim_start_matches("0x")
                .eq_ignore_ascii_case(own_hex)
        })
        .ok_or_else(|| {
            anyhow!(
                "document {id} has no key for your encryption key 0x{own_hex} (was it \
                 published after the upload, or shared to another key?)"
            )
        })?;
    let wrapped = hex::decode(&mine.wrapped)
        .map_err(|_| anyhow!("the gateway sent a wrapped key that is not hex"))?;
    envelope::unwrap(&wrapped, secret)
        .with_context(|| format!("your key for document {id} does not open"))
}

/// A gateway refusal of a read, in words.
fn refused(e: GatewayError, id: u64, signer: &WalletSigner) -> anyhow::Error {
    match e {
        GatewayError::Api {
            status: 403 | 404 | 410,
            error,
            code,
            ..
        } => anyhow!(
            "you ({}) may not read document {id}: {error} ({code})",
            account_hex(signer)
        ),
        e => anyhow::Error::from(e).context(format!("reading document {id}")),
    }
}

/// Logs in to the gateway as `signer` (an MPC wallet signs with its co-signer).
async fn login(gateway: &GatewayClient, signer: &WalletSigner) -> anyhow::Result<GatewayClient> {
    crate::mpc::gateway_login(gateway, signer).await
}

fn account_hex(signer: &WalletSigner) -> String {
    use sdv_chain::subxt::tx::Signer as _;
    format!("0x{}", hex::encode(signer.account_id().0))
}

fn resume_hint(id: &str) -> String {
    format!("resume with `sdv doc upload --resume {id}`")
}

/// Fails unless `own` is the encryption key DocumentNFT has for the signer.
async fn check_published(
    ctx: &Context,
    signer: &WalletSigner,
    own: &PublicKey,
) -> anyhow::Result<()> {
    let (_chain, nft) = ctx.document_nft().await?;
    let account = sdv_chain::subxt::tx::Signer::account_id(signer);
    match nft.encryption_key(&account).await? {
        None => bail!("publish your encryption key first: sdv key publish-encryption-key"),
        Some(published) if published.key != *own.as_bytes() => bail!(
            "the encryption key published for {} (0x{}) is not this key's: run `sdv key \
             publish-encryption-key` to publish it",
            account_hex(signer),
            hex::encode(published.key)
        ),
        Some(_) => Ok(()),
    }
}

/// Prints the class, the words that decided, the floor and the retention that applies.
fn print_plan(
    c: &Classification,
    given: bool,
    chosen: RetentionOption,
    effective: RetentionOption,
    raised: bool,
) {
    let class = classify::class_name(c.class);
    if given {
        println!("class: {class} (--class)");
    } else if c.matched.is_empty() {
        println!("class: {class} (no rule matched)");
    } else {
        println!("class: {class} (matched: {})", c.matched.join(", "));
    }
    let floor = classify::retention_floor(c.class);
    println!(
        "retention floor: {floor} ({})",
        classify::retention_name(floor.option)
    );
    if raised {
        println!(
            "{}: retention raised from {} to {}",
            floor_reason(c.class),
            classify::retention_name(chosen),
            classify::retention_name(effective)
        );
    } else {
        println!("retention: {}", classify::retention_name(effective));
    }
}

/// Why a class raises the retention, in a sentence.
fn floor_reason(class: DocumentClass) -> &'static str {
    match class {
        DocumentClass::UsTax => "US tax documents are kept at least 7 years",
        DocumentClass::Financial => "financial records are kept at least 5 years",
        DocumentClass::Kyc => {
            "KYC documents are kept until the end of the customer relationship + 5 years"
        }
        DocumentClass::Other => "the class has a retention floor",
    }
}

/// Asks for "yes" unless `--yes-permanent`.
fn confirm_permanent(confirmed: bool) -> anyhow::Result<()> {
    eprintln!("warning: {PERMANENT_WARNING}");
    if confirmed {
        return Ok(());
    }
    eprint!("Type \"yes\" to upload permanently: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        return Err(Usage(
            "not confirmed: type \"yes\", or pass --yes-permanent, to upload permanently".into(),
        )
        .into());
    }
    Ok(())
}

/// The first `len` bytes of a file.
fn read_head(path: &Path, len: usize) -> anyhow::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(len.min(1 << 20));
    fs::File::open(path)
        .and_then(|f| f.take(len as u64).read_to_end(&mut head))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(head)
}

fn write_state(dir: &Path, saved: &SavedUpload) -> std::io::Result<()> {
    let tmp = dir.join("state.json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(saved)?)?;
    fs::rename(tmp, dir.join("state.json"))
}

/// The state directory of interrupted uploads: `--uploads-dir`/`SDV_UPLOADS_DIR`, else
/// `$XDG_STATE_HOME/sdv/uploads`, else `$HOME/.local/state/sdv/uploads`.
fn uploads_dir(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(state).join("sdv/uploads"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("no HOME: set SDV_UPLOADS_DIR"))?;
    Ok(PathBuf::from(home).join(".local/state/sdv/uploads"))
}

/// The waits before each chunk retry: `SDV_RETRY_DELAYS_MS` (test hook), else 1 s, 2 s, 4 s.
pub(crate) fn retry_delays() -> Vec<Duration> {
    std::env::var("SDV_RETRY_DELAYS_MS")
        .ok()
        .and_then(|text| {
            text.split(',')
                .map(|ms| ms.trim().parse().ok().map(Duration::from_millis))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or_else(|| Uploader::DEFAULT_RETRY_DELAYS.to_vec())
}

/// `SDV_UPLOAD_STOP_AFTER_CHUNKS` (test hook).
fn stop_after_chunks() -> Option<u32> {
    std::env::var("SDV_UPLOAD_STOP_AFTER_CHUNKS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
}

/// Returns once `bar` counted `n` chunks.
async fn reached(bar: &Bar, n: u32) {
    while bar.chunks() < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owners_key_opens() {
        let key = DataKey::generate();
        let mine = StaticSecret::from([1; 32]);
        let other = StaticSecret::from([2; 32]);
        let keys = vec![
            envelope::wrapped_key(&key, &PublicKey::from(&other), KeyRole::Recovery).unwrap(),
            envelope::wrapped_key(&key, &PublicKey::from(&mine), KeyRole::Owner).unwrap(),
        ];
        let own = hex::encode(PublicKey::from(&mine).as_bytes());
        let opened = data_key_for(&keys, &own, &mine, 3).unwrap();
        assert_eq!(opened.as_bytes(), key.as_bytes());

        let third = StaticSecret::from([3; 32]);
        let theirs = hex::encode(PublicKey::from(&third).as_bytes());
        let e = data_key_for(&keys, &theirs, &third, 3).unwrap_err();
        assert!(
            e.to_string().contains("no key for your encryption key"),
            "{e}"
        );
    }

    #[test]
    fn the_state_file_holds_no_raw_key() {
        let key = DataKey::generate();
        let secret = StaticSecret::from([5; 32]);
        let saved = SavedUpload {
            version: STATE_VERSION,
            upload_id: "u1".into(),
            file: "/tmp/f".into(),
            gateway: "http://127.0.0.1:9015".into(),
            account: "0x00".into(),
            size: 10,
            sha256: "ab".into(),
            name: None,
            class: "us_tax".into(),
            retention: "minimum".into(),
            effective_retention: "regulatory_us_tax".into(),
            vault: None,
            owner_key: envelope::wrapped_key(&key, &PublicKey::from(&secret), KeyRole::Owner)
                .unwrap(),
        };
        let text = serde_json::to_string(&saved).unwrap();
        assert!(!text.contains(&hex::encode(key.as_bytes())));
        let back: SavedUpload = serde_json::from_str(&text).unwrap();
        let wrapped = hex::decode(back.owner_key.wrapped).unwrap();
        assert_eq!(
            envelope::unwrap(&wrapped, &secret).unwrap().as_bytes(),
            key.as_bytes()
        );
    }

    #[test]
    fn a_us_tax_form_raises_minimum_to_the_tax_floor() {
        let c = classify::classify(&[], b"Form W-9 Request for Taxpayer Identification Number");
        assert_eq!(c.class, DocumentClass::UsTax);
        let (effective, raised) = classify::apply_floor(c.class, RetentionOption::Minimum);
        assert!(raised);
        assert_eq!(classify::retention_name(effective), "regulatory_us_tax");
    }
}
