//! The `storage` group: a 500 MB document through the client path the CLI uses (encrypt,
//! log in, open, send the chunks, complete) next to the same bytes put straight into the same
//! S3 bucket, the machine's raw sha256 and AES-256-GCM speed, and the gateway's peak memory
//! next to the bound its chunks and parts set.

use std::{
    fs::File,
    io::{BufWriter, Write},
    os::unix::fs::FileExt,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use aes_gcm::{aead::AeadInPlace, Aes256Gcm, KeyInit, Nonce};
use aws_sdk_s3::{
    error::DisplayErrorContext,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use futures::{StreamExt, TryStreamExt};
use rand::RngCore;
use sdv_chain::{to_ink_account, DocumentNft};
use sdv_node_config::accounts;
use sdv_storage_client::{
    client::{GatewayClient, NoProgress, Uploader},
    envelope::{self, DataKey, DocumentId, RecoveryKey},
    protocol::{CreateUpload, HolderRef, KeyRole, Scheme, UploadState, CHUNK_SIZE, MB},
};
use sdv_system_tests::{garage::S3Config, storage::StorageStack, TestContext};
use sdv_types::{document::Holder, governance::Tier};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::bench;

/// The upload may take at most this much longer than the direct put: its throughput is at
/// least this share of the direct put's.
const GOAL_UPLOAD_VS_DIRECT: f64 = 0.70;
/// The document's size in MB: the Institutional tier's limit, which applies to the
/// ciphertext (the envelope's header and per-record nonce and tag included).
const DOCUMENT_MB: u64 = 500;
/// The Institutional tier's chunks in flight (`TierParams::spec_default`).
const INSTITUTIONAL_PARALLEL_CHUNKS: u8 = 8;
/// The gateway's S3 part size and parts stored at once (`SDV_S3_PART_MB`,
/// `SDV_S3_CONCURRENCY`, both left at their defaults by [`StorageStack`]).
const GATEWAY_PART_MB: u64 = 16;
const GATEWAY_S3_CONCURRENCY: u64 = 4;
/// The direct put's part size and parts in flight.
const DIRECT_PART_SIZE: u64 = 16 * MB;
const DIRECT_PARALLEL_PARTS: usize = 8;
/// The raw hash and cipher speeds are measured over this many bytes in memory.
const RAW_BYTES: usize = 256 * MB as usize;
/// AES-GCM is measured in records of this size, as the envelope encrypts.
const RAW_RECORD: usize = envelope::RECORD_SIZE;

/// Runs the group and prints its figures with what they are compared to.
pub(crate) async fn run() {
    sdv_system_tests::reexec_from_deps_dir("sdv-bench");
    raw_speeds();

    let ctx = TestContext::new().await;
    let stack = StorageStack::start(&ctx).await;
    let wallet = accounts::alice();
    let secret = publish_encryption_key(&ctx, &wallet).await;
    let nft = DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    );
    let holder = Holder::Account(to_ink_account(&wallet.public_key().0.into()));
    nft.set_tier(
        &accounts::roles::tier_authority(),
        holder,
        Tier::Institutional,
    )
    .await
    .expect("setting the Institutional tier");

    let dir = tempfile::Builder::new()
        .prefix("sdv-bench-storage-")
        .tempdir()
        .expect("a temporary directory");
    let rss_before = vm_kb(&stack, "VmRSS");
    // A fifth of the size first: if memory followed the file, its peak would be a fifth.
    let small = upload_once(&stack, &wallet, &secret, dir.path(), DOCUMENT_MB / 5).await;
    let rss_peak_small = vm_kb(&stack, "VmHWM");
    reset_peak_rss(&stack);
    let (gateway_cpu_before, client_cpu_before) = (cpu_seconds(&stack), own_cpu_seconds());
    let Upload {
        plaintext_len,
        encrypted,
        encrypt,
        upload,
        status,
        ciphertext_path,
    } = upload_once(&stack, &wallet, &secret, dir.path(), DOCUMENT_MB).await;
    let rss_peak = vm_kb(&stack, "VmHWM");
    let gateway_cpu = cpu_seconds(&stack) - gateway_cpu_before;
    let client_cpu = own_cpu_seconds() - client_cpu_before;
    std::fs::remove_file(&small.ciphertext_path).expect("removing the small ciphertext");

    let direct = direct_put(&stack.s3, &ciphertext_path, encrypted.size).await;

    let mb = encrypted.size as f64 / MB as f64;
    let secs = |time: Duration| format!("{:.3}", time.as_secs_f64());
    bench("upload_plaintext_bytes", plaintext_len, "bytes");
    bench("upload_ciphertext_bytes", encrypted.size, "bytes");
    bench("upload_chunks", status.chunks, "chunks");
    bench("upload_parallel_chunks", status.parallel_chunks, "chunks");
    bench("upload_encrypt_s", secs(encrypt), "s");
    bench("upload_s", secs(upload), "s");
    bench("direct_put_s", secs(direct), "s");
    let upload_rate = mb / upload.as_secs_f64();
    let direct_rate = mb / direct.as_secs_f64();
    bench("upload_gateway_cpu_s", format!("{gateway_cpu:.2}"), "s");
    bench("upload_client_cpu_s", format!("{client_cpu:.2}"), "s");
    bench("upload_mb_per_s", format!("{upload_rate:.1}"), "MB/s");
    bench("direct_put_mb_per_s", format!("{direct_rate:.1}"), "MB/s");
    let ratio = upload_rate / direct_rate;
    bench("upload_vs_direct_ratio", format!("{ratio:.3}"), "x");
    goal(
        &format!("upload_vs_direct_ratio >= {GOAL_UPLOAD_VS_DIRECT}"),
        ratio >= GOAL_UPLOAD_VS_DIRECT,
    );

    let bound = u64::from(status.parallel_chunks) * CHUNK_SIZE / MB
        + GATEWAY_S3_CONCURRENCY * GATEWAY_PART_MB;
    let mb_of_kb = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    bench("gateway_rss_before_upload_mb", mb_of_kb(rss_before), "MB");
    bench(
        "gateway_peak_rss_100mb_upload_mb",
        mb_of_kb(rss_peak_small),
        "MB",
    );
    bench("gateway_peak_rss_mb", mb_of_kb(rss_peak), "MB");
    bench("gateway_rss_bound_mb", bound, "MB");
}

/// One timed upload through the client path and its outcome.
struct Upload {
    plaintext_len: u64,
    encrypted: envelope::Encrypted,
    encrypt: Duration,
    upload: Duration,
    status: sdv_storage_client::protocol::UploadStatus,
    ciphertext_path: std::path::PathBuf,
}

/// Uploads a random document of `megabytes` MB of ciphertext for `wallet`, timed from the
/// encryption to `complete`'s answer.
async fn upload_once(
    stack: &StorageStack,
    wallet: &subxt_signer::sr25519::Keypair,
    secret: &StaticSecret,
    dir: &Path,
    megabytes: u64,
) -> Upload {
    let plaintext_path = dir.join(format!("document-{megabytes}.bin"));
    let ciphertext_path = dir.join(format!("document-{megabytes}.sdv"));
    let plaintext_len = largest_plaintext_within(megabytes * MB);
    write_random_file(&plaintext_path, plaintext_len);
    let started = Instant::now();
    let key = DataKey::generate();
    let encrypted = envelope::encrypt_file(
        &plaintext_path,
        &ciphertext_path,
        &key,
        DocumentId::random(),
    )
    .expect("encrypting the document");
    let encrypt = started.elapsed();
    let client = GatewayClient::new(&stack.gateway)
        .unwrap()
        .login(
            &format!("0x{}", hex::encode(wallet.public_key().0)),
            Scheme::Sr25519,
            |m| wallet.sign(m).0,
        )
        .await
        .expect("logging in");
    let recovery = envelope::KeyFileRecoveryKey::open(&stack.recovery_key_file).unwrap();
    let request = CreateUpload {
        holder: HolderRef::Account,
        size: encrypted.size,
        sha256: hex::encode(encrypted.sha256),
        class: "other".into(),
        retention: "standard".into(),
        arweave: false,
        name: Some("bench.bin".into()),
        wrapped_keys: vec![
            envelope::wrapped_key(&key, &PublicKey::from(secret), KeyRole::Owner).unwrap(),
            envelope::wrapped_key(&key, &recovery.public_key(), KeyRole::Recovery).unwrap(),
        ],
    };
    let status = client
        .create_upload(&request)
        .await
        .expect("opening the upload");
    assert_eq!(
        (status.tier.as_str(), status.parallel_chunks),
        ("institutional", INSTITUTIONAL_PARALLEL_CHUNKS),
        "the upload must run at the Institutional tier's parallelism"
    );
    Uploader::new(client.clone())
        .upload(&ciphertext_path, &status, &NoProgress)
        .await
        .expect("sending the chunks");
    let done = client
        .complete(&status.upload_id)
        .await
        .expect("completing the upload");
    let upload = started.elapsed();
    assert_eq!(done.state, UploadState::Stored, "the upload was not stored");
    std::fs::remove_file(&plaintext_path).expect("removing the plaintext");
    Upload {
        plaintext_len,
        encrypted,
        encrypt,
        upload,
        status,
        ciphertext_path,
    }
}

/// CPU time (user and system) `sdv-storage` used so far.
fn cpu_seconds(stack: &StorageStack) -> f64 {
    let pid = stack.storage_pid().expect("sdv-storage is running");
    cpu_seconds_of(&format!("/proc/{pid}/stat"))
}

/// This process's CPU time (user and system), all threads: the client's share of the upload.
fn own_cpu_seconds() -> f64 {
    cpu_seconds_of("/proc/self/stat")
}

/// The CPU time in a `/proc/<pid>/stat` file: after the command name (which ends with the last
/// ')'), utime and stime are the 12th and 13th fields, in clock ticks.
fn cpu_seconds_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..]
        .split(' ')
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

/// Clock ticks per second.
fn clock_ticks() -> f64 {
    // SAFETY: `sysconf` only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// Resets the gateway's peak resident size (`VmHWM`) to its current size.
fn reset_peak_rss(stack: &StorageStack) {
    let pid = stack.storage_pid().expect("sdv-storage is running");
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .expect("resetting sdv-storage's peak RSS");
}

/// The machine's speed of the two primitives the upload's encryption is made of.
fn raw_speeds() {
    let mut data = vec![0u8; RAW_BYTES];
    rand::thread_rng().fill_bytes(&mut data);
    let mb = RAW_BYTES as f64 / MB as f64;

    let started = Instant::now();
    let digest = Sha256::digest(&data);
    let sha = started.elapsed();
    std::hint::black_box(digest);

    let cipher = Aes256Gcm::new((&[7u8; 32]).into());
    let started = Instant::now();
    for (index, record) in data.chunks_mut(RAW_RECORD).enumerate() {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&(index as u64).to_le_bytes());
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", record)
            .expect("a 1 MiB record is far below AES-GCM's limit");
        std::hint::black_box(tag);
    }
    let aes = started.elapsed();

    bench("raw_bytes", RAW_BYTES, "bytes");
    bench(
        "sha256_mb_per_s",
        format!("{:.1}", mb / sha.as_secs_f64()),
        "MB/s",
    );
    bench(
        "aes_gcm_mb_per_s",
        format!("{:.1}", mb / aes.as_secs_f64()),
        "MB/s",
    );
}

/// Publishes an X25519 key for `wallet` on DocumentNFT, as the CLI does once per wallet.
async fn publish_encryption_key(
    ctx: &TestContext,
    wallet: &subxt_signer::sr25519::Keypair,
) -> StaticSecret {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let secret = envelope::encryption_secret_from_seed(&seed);
    DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    )
    .publish_encryption_key(wallet, PublicKey::from(&secret).to_bytes())
    .await
    .expect("publishing the encryption key");
    secret
}

/// The largest plaintext whose envelope (header, and a nonce and tag per 1 MiB record) is at
/// most `limit` bytes.
fn largest_plaintext_within(limit: u64) -> u64 {
    let records = limit.div_ceil(envelope::RECORD_SIZE as u64);
    let mut len = limit - envelope::HEADER_LEN as u64 - records * envelope::RECORD_OVERHEAD as u64;
    while envelope::ciphertext_len(len + 1) <= limit {
        len += 1;
    }
    assert!(envelope::ciphertext_len(len) <= limit);
    len
}

fn write_random_file(path: &Path, len: u64) {
    let mut out = BufWriter::new(File::create(path).expect("creating the plaintext"));
    let mut buffer = vec![0u8; MB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MB) as usize;
        rand::thread_rng().fill_bytes(&mut buffer[..n]);
        out.write_all(&buffer[..n]).expect("writing the plaintext");
        left -= n as u64;
    }
    out.into_inner()
        .expect("writing the plaintext")
        .sync_all()
        .expect("syncing the plaintext");
}

/// A `Vm*` line of `sdv-storage`'s `/proc/<pid>/status`, in kB.
fn vm_kb(stack: &StorageStack, field: &str) -> u64 {
    let pid = stack.storage_pid().expect("sdv-storage is running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("reading sdv-storage's /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in sdv-storage's /proc status"))
}

/// Puts the file `path` (`size` bytes) into the stack's bucket with a multipart upload,
/// [`DIRECT_PART_SIZE`] parts, [`DIRECT_PARALLEL_PARTS`] at a time, then deletes it. Returns
/// the time from the first read to the multipart upload's completion.
async fn direct_put(s3: &S3Config, path: &Path, size: u64) -> Duration {
    let client = s3.client();
    let key = format!("bench/direct-{:016x}", rand::random::<u64>());
    let file = Arc::new(File::open(path).expect("opening the ciphertext"));
    let started = Instant::now();
    let upload_id = client
        .create_multipart_upload()
        .bucket(&s3.bucket)
        .key(&key)
        .send()
        .await
        .expect("opening the multipart upload")
        .upload_id()
        .expect("an upload id")
        .to_owned();
    let parts = size.div_ceil(DIRECT_PART_SIZE);
    let mut completed: Vec<CompletedPart> = futures::stream::iter(0..parts)
        .map(|index| {
            let (client, file, key, upload_id) = (
                client.clone(),
                Arc::clone(&file),
                key.clone(),
                upload_id.clone(),
            );
            async move {
                let offset = index * DIRECT_PART_SIZE;
                let len = DIRECT_PART_SIZE.min(size - offset) as usize;
                let bytes = tokio::task::spawn_blocking(move || {
                    let mut buffer = vec![0u8; len];
                    file.read_exact_at(&mut buffer, offset).map(|()| buffer)
                })
                .await
                .expect("the reading task")?;
                let number = index as i32 + 1;
                let part = client
                    .upload_part()
                    .bucket(&s3.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(bytes))
                    // As the gateway stores its parts: CRC32-checked, payload not re-hashed
                    // by SigV4, so both sides of the comparison do the same S3 work.
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await
                    .map_err(|e| std::io::Error::other(DisplayErrorContext(e).to_string()))?;
                Ok::<_, std::io::Error>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                )
            }
        })
        .buffer_unordered(DIRECT_PARALLEL_PARTS)
        .try_collect()
        .await
        .expect("putting the parts");
    completed.sort_by_key(|part| part.part_number);
    client
        .complete_multipart_upload()
        .bucket(&s3.bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .expect("completing the multipart upload");
    let elapsed = started.elapsed();
    client
        .delete_object()
        .bucket(&s3.bucket)
        .key(&key)
        .send()
        .await
        .expect("deleting the direct put's object");
    elapsed
}

fn goal(what: &str, met: bool) {
    println!("goal: {what} ({})", if met { "met" } else { "missed" });
}
