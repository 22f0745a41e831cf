//! Documents as the tests store them: users with published encryption keys, documents sealed
//! as the CLI seals them, and uploads through the gateway until the mint is final.

use std::time::{Duration, Instant};

use rand::RngCore;
use sdv_chain::{to_ink_account, DocumentNft};
use sdv_node_config::accounts;
use sdv_storage_client::{
    client::{GatewayClient, NoProgress, Uploader},
    envelope::{self, DataKey, DocumentId},
    protocol::{CreateUpload, HolderRef, KeyRole, Scheme, UploadStatus, CHUNK_SIZE},
    Error,
};
use sdv_types::{document::Holder, governance::Tier};
use subxt_signer::sr25519::Keypair;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::{storage::StorageStack, TestContext};

/// A user: a wallet and the X25519 encryption key it published on DocumentNFT.
pub struct User {
    /// The wallet.
    pub wallet: Keypair,
    /// Its X25519 encryption secret.
    pub secret: StaticSecret,
}

impl User {
    /// Publishes a fresh encryption key for `wallet`.
    pub async fn new(ctx: &TestContext, wallet: Keypair) -> Self {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        let secret = envelope::encryption_secret_from_seed(&seed);
        documents(ctx)
            .publish_encryption_key(&wallet, PublicKey::from(&secret).to_bytes())
            .await
            .expect("publishing the encryption key");
        Self { wallet, secret }
    }

    /// The wallet as `0x` hex.
    pub fn account_hex(&self) -> String {
        format!("0x{}", hex::encode(self.wallet.public_key().0))
    }

    /// Logs in to the gateway of `stack`.
    pub async fn login(&self, stack: &StorageStack) -> GatewayClient {
        GatewayClient::new(&stack.gateway)
            .unwrap()
            .login(&self.account_hex(), Scheme::Sr25519, |m| {
                self.wallet.sign(m).0
            })
            .await
            .expect("logging in")
    }

    /// Reads document `token` through `client` once the indexer shows it, unwraps this user's
    /// copy of its data key and returns the plaintext.
    pub async fn read_and_decrypt(&self, client: &GatewayClient, token: u64) -> Vec<u8> {
        let out = tempfile::NamedTempFile::new().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(e) = client.read_document(token, out.path()).await {
            assert!(Instant::now() < deadline, "reading document {token}: {e}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let keys = client.document_keys(token).await.unwrap();
        let mine = keys
            .iter()
            .find(|k| k.role == KeyRole::Owner)
            .expect("the owner's wrapped key");
        let data_key =
            envelope::unwrap(&hex::decode(&mine.wrapped).unwrap(), &self.secret).unwrap();
        envelope::decrypt(&std::fs::read(out.path()).unwrap(), &data_key).unwrap()
    }
}

/// A document encrypted for `user` (and the recovery key), as the CLI would make it.
pub struct Sealed {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The ciphertext the gateway stores.
    pub ciphertext: Vec<u8>,
    /// The ciphertext's sha256.
    pub sha256: [u8; 32],
    /// The data key.
    pub key: DataKey,
}

/// `plaintext_len` random bytes sealed under a fresh data key.
pub fn seal(plaintext_len: usize) -> Sealed {
    let mut plaintext = vec![0u8; plaintext_len];
    rand::thread_rng().fill_bytes(&mut plaintext);
    let key = DataKey::generate();
    let ciphertext = envelope::encrypt(&plaintext, &key, DocumentId::random());
    let sha256 = sha(&ciphertext);
    Sealed {
        plaintext,
        ciphertext,
        sha256,
        key,
    }
}

/// Raw bytes of exactly `len` (for limit tests, where the size is what matters).
pub fn raw(len: usize) -> Sealed {
    let mut ciphertext = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut ciphertext);
    let sha256 = sha(&ciphertext);
    Sealed {
        plaintext: Vec::new(),
        ciphertext,
        sha256,
        key: DataKey::generate(),
    }
}

/// The sha256 of `bytes`.
pub fn sha(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// The upload request of `doc` for `user`, wrapped for `user` and the recovery key.
pub fn request(stack: &StorageStack, user: &User, doc: &Sealed, holder: HolderRef) -> CreateUpload {
    CreateUpload {
        holder,
        size: doc.ciphertext.len() as u64,
        sha256: hex::encode(doc.sha256),
        class: "other".into(),
        retention: "standard".into(),
        arweave: false,
        name: Some("contract.pdf".into()),
        wrapped_keys: vec![
            envelope::wrapped_key(&doc.key, &PublicKey::from(&user.secret), KeyRole::Owner)
                .unwrap(),
            envelope::wrapped_key(
                &doc.key,
                &PublicKey::from(stack.recovery_public),
                KeyRole::Recovery,
            )
            .unwrap(),
        ],
    }
}

/// `doc`'s ciphertext in a temporary file.
pub fn write_temp(doc: &Sealed) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &doc.ciphertext).unwrap();
    file
}

/// Chunk `index` of `doc`'s ciphertext.
pub fn chunk(doc: &Sealed, index: u32) -> bytes::Bytes {
    let start = index as usize * CHUNK_SIZE as usize;
    let end = (start + CHUNK_SIZE as usize).min(doc.ciphertext.len());
    bytes::Bytes::copy_from_slice(&doc.ciphertext[start..end])
}

/// The status and code of a refusal.
pub fn api_code(e: &Error) -> (u16, &str) {
    match e {
        Error::Api { status, code, .. } => (*status, code.as_str()),
        other => panic!("expected a refusal, got {other}"),
    }
}

/// Sends every chunk of `doc` and completes the upload.
pub async fn upload_all(
    client: &GatewayClient,
    status: &UploadStatus,
    doc: &Sealed,
) -> UploadStatus {
    let file = write_temp(doc);
    Uploader::new(client.clone())
        .upload(file.path(), status, &NoProgress)
        .await
        .expect("uploading the chunks");
    client
        .complete(&status.upload_id)
        .await
        .expect("completing the upload")
}

/// Waits until the upload's mint is final on-chain and returns the token id.
pub async fn minted(client: &GatewayClient, upload_id: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let status = client.upload_status(upload_id).await.unwrap();
        if let Some(mint) = &status.mint {
            assert_ne!(mint.status, "failed", "the mint failed: {:?}", mint.error);
            if let Some(id) = mint.token_id {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "no mint within 90 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// DocumentNFT on `ctx`'s chain (made anew after a clock move reconnects).
pub fn documents(ctx: &TestContext) -> DocumentNft {
    DocumentNft::new(
        ctx.chain.clone(),
        ctx.deployment.address("document_nft").unwrap().clone(),
    )
}

/// Sets `user`'s tier as the tier authority.
pub async fn set_tier(ctx: &TestContext, user: &User, tier: Tier) {
    documents(ctx)
        .set_tier(
            &accounts::roles::tier_authority(),
            Holder::Account(to_ink_account(&user.wallet.public_key().0.into())),
            tier,
        )
        .await
        .expect("setting the tier");
}

/// Uploads `doc` for `user` with `class` and `retention` and waits for its token.
pub async fn store(
    client: &GatewayClient,
    stack: &StorageStack,
    user: &User,
    doc: &Sealed,
    name: &str,
    class: &str,
    retention: &str,
) -> u64 {
    let mut create = request(stack, user, doc, HolderRef::Account);
    create.name = Some(name.into());
    create.class = class.into();
    create.retention = retention.into();
    submit(client, &create, doc).await
}

/// Uploads `doc` as `create` says and waits for its token.
pub async fn submit(client: &GatewayClient, create: &CreateUpload, doc: &Sealed) -> u64 {
    let status = client.create_upload(create).await.unwrap();
    let done = upload_all(client, &status, doc).await;
    minted(client, &done.upload_id).await
}

/// Waits (120 s at most) until the indexer shows document `token` such that `until` holds.
pub async fn indexed(
    stack: &StorageStack,
    token: u64,
    until: impl Fn(&serde_json::Value) -> bool,
    what: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/documents/{token}", stack.indexer.api)).await {
            if r.status().is_success() {
                let body: serde_json::Value = r.json().await.unwrap();
                if until(&body["data"]) {
                    return body["data"].clone();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "document {token}: {what} within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
