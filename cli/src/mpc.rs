//! MPC wallets: a 2-of-3 FROST Ed25519 key shared among the user's device, a backup share and
//! the custodian service (`sdv-recovery`); the account is the group's Ed25519 public key and no
//! party ever holds the key.
//!
//! # Key generation
//!
//! `sdv mpc create` opens a key generation session on the ceremony API, prints
//! `dkg session: <id>` on stderr at once, and runs the device's part; the backup runs
//! `sdv mpc join --dkg <id> --role backup` (on another machine, or with another keystore); the
//! custodian takes part inside the service. Each party's key file (scheme `ed25519-mpc`) holds
//! its share and a fresh X25519 encryption secret (for document keys), both encrypted under
//! the passphrase like an sr25519 secret, with the account and the wallet's public data
//! readable.
//!
//! # Signing
//!
//! A share signs with a co-signer: the custodian through the key-management API (default), or
//! another share of the same wallet in the local keystore (`--cosigner-key`). With
//! `--cosigner none`, or a custodian that cannot be reached, only one share is at hand and
//! nothing is signed or sent.

use std::{io::Write as _, time::Duration};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use rand::rngs::OsRng;
use sdv_chain::{AccountId, Chain};
use sdv_mpc::{Commitment, DkgParticipant, Role, Round1Message, Round2Message, Share};
use sdv_storage_client::{client::GatewayClient, protocol::Scheme};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::{
    context::{passphrase, Context},
    keystore::MpcKeyRef,
    token::WalletSigner,
    Usage,
};

/// The ceremony API's address when neither --ceremony nor `ceremony.url` names one.
pub(crate) const DEFAULT_CEREMONY: &str = "http://127.0.0.1:8130";
/// The key-management API's address when neither --keys-url nor `keys.url` names one.
pub(crate) const DEFAULT_KEYS: &str = "http://127.0.0.1:8935";

/// How long a party waits for the others during the key generation (the service keeps a
/// session this long).
const DKG_WAIT: Duration = Duration::from_secs(600);
/// How often the ceremony API is polled.
const POLL: Duration = Duration::from_millis(250);
/// How long one request to the services may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The co-signer options of writes signed with an MPC key (`--key` naming an `ed25519-mpc`
/// key file).
#[derive(Args, Clone)]
pub(crate) struct CosignerArgs {
    /// Who co-signs with an MPC key: the custodian service, or none (then nothing can be
    /// signed: 2 of 3 shares are needed).
    #[arg(long, value_enum, default_value_t = CosignerKind::Custodian, global = true)]
    pub(crate) cosigner: CosignerKind,
    /// Co-sign with this other share of the same MPC wallet in the keystore instead of the
    /// custodian (device and backup together).
    #[arg(long = "cosigner-key", global = true, conflicts_with = "cosigner")]
    pub(crate) cosigner_key: Option<String>,
    /// The key-management API of the custodian (default: `keys.url` next to the deployment
    /// file, else `http://127.0.0.1:8935`).
    #[arg(long = "keys-url", env = "SDV_KEYS_URL", global = true)]
    pub(crate) keys_url: Option<String>,
}

/// Who co-signs with an MPC key.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CosignerKind {
    /// The custodian service, through its key-management API.
    Custodian,
    /// No co-signer: signing is refused.
    None,
}

/// The MPC wallet commands.
#[derive(Subcommand)]
pub(crate) enum Mpc {
    /// Create an MPC wallet: this device's part of the key generation with the custodian and
    /// the backup.
    ///
    /// Prints `dkg session: <id>` on stderr as soon as the session is open: the backup joins
    /// with `sdv mpc join --dkg <id> --role backup`. Then waits for the other parties, and
    /// writes key NAME (scheme ed25519-mpc) with the device's share.
    Create {
        /// The key's name in the keystore.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        ceremony: CeremonyArg,
    },
    /// Join a key generation that `sdv mpc create` opened, as the backup (or the device).
    Join {
        /// The key's name in the keystore.
        #[arg(long)]
        name: String,
        /// The session id `sdv mpc create` printed.
        #[arg(long)]
        dkg: String,
        /// The share this party holds.
        #[arg(long, value_enum, default_value_t = UserRole::Backup)]
        role: UserRole,
        #[command(flatten)]
        ceremony: CeremonyArg,
    },
    /// Show an MPC key: its account, its role and the wallet's state in the custodian's
    /// registry.
    Show {
        /// The key's name in the keystore.
        #[arg(long)]
        name: String,
    },
}

/// The ceremony API option.
#[derive(Args)]
pub(crate) struct CeremonyArg {
    /// The ceremony API of the custodian (default: `ceremony.url` next to the deployment
    /// file, else `http://127.0.0.1:8130`).
    #[arg(long = "ceremony", env = "SDV_CEREMONY_URL")]
    ceremony: Option<String>,
}

/// A user-side share.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum UserRole {
    /// The user's device.
    Device,
    /// The backup share.
    Backup,
}

impl From<UserRole> for Role {
    fn from(role: UserRole) -> Self {
        match role {
            UserRole::Device => Role::Device,
            UserRole::Backup => Role::Backup,
        }
    }
}

/// Runs an `sdv mpc` command.
pub(crate) async fn run(ctx: &Context, command: Mpc) -> anyhow::Result<()> {
    match command {
        Mpc::Create { name, ceremony } => {
            let url = ceremony_url(ctx, ceremony);
            create(ctx, &name, Role::Device, &url, None).await
        }
        Mpc::Join {
            name,
            dkg,
            role,
            ceremony,
        } => {
            let url = ceremony_url(ctx, ceremony);
            create(ctx, &name, role.into(), &url, Some(dkg)).await
        }
        Mpc::Show { name } => show(ctx, &name).await,
    }
}

fn ceremony_url(ctx: &Context, arg: CeremonyArg) -> String {
    arg.ceremony
        .map(|u| u.trim_end_matches('/').to_owned())
        .or_else(|| ctx.beside_deployment("ceremony.url"))
        .unwrap_or_else(|| DEFAULT_CEREMONY.to_owned())
}

fn keys_url(ctx: &Context) -> String {
    ctx.cosigner
        .keys_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_owned())
        .or_else(|| ctx.beside_deployment("keys.url"))
        .unwrap_or_else(|| DEFAULT_KEYS.to_owned())
}

/// What the key file encrypts: the share and the X25519 encryption secret.
#[derive(Serialize, Deserialize)]
struct MpcSecret<T> {
    share: T,
    encryption_secret: String,
}

/// An unlocked MPC key: its share and its encryption secret.
struct UnlockedShare {
    name: String,
    share: Share,
    encryption: StaticSecret,
}

/// Decrypts the MPC key `name`.
fn unlock(ctx: &Context, name: &str) -> anyhow::Result<UnlockedShare> {
    let pass = passphrase(&format!("Passphrase for key {name}: "), false)?;
    let (file, secret) = ctx.keystore.unlock_mpc(name, &pass)?;
    let mut parsed: MpcSecret<Share> =
        serde_json::from_slice(&secret).with_context(|| format!("key file {name}: bad secret"))?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    let decoded = hex::decode_to_slice(&parsed.encryption_secret, bytes.as_mut());
    parsed.encryption_secret.zeroize();
    decoded.with_context(|| format!("key file {name}: bad encryption secret"))?;
    let encryption = StaticSecret::from(*bytes);
    if file.public_bytes()? != parsed.share.account() {
        bail!("key file {name}: the share is not the key file's wallet's");
    }
    Ok(UnlockedShare {
        name: name.to_owned(),
        share: parsed.share,
        encryption,
    })
}

/// Runs this party's part of a key generation (opening the session when `dkg` is `None`) and
/// writes key `name`.
async fn create(
    ctx: &Context,
    name: &str,
    role: Role,
    ceremony: &str,
    dkg: Option<String>,
) -> anyhow::Result<()> {
    ctx.keystore.check_new(name)?;
    // Ask before the ceremony, so that the share is never computed without a way to keep it.
    let pass = passphrase(&format!("New passphrase for key {name}: "), true)?;
    let api = Api::new(ceremony)?;
    let id = match dkg {
        Some(id) => id,
        None => {
            let opened: Value = api
                .post("/v1/dkg", &json!({}))
                .await
                .context("opening a key generation session")?;
            opened["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("the ceremony API answered no session id"))?
        }
    };
    eprintln!("dkg session: {id}");
    if role == Role::Device {
        eprintln!("the backup joins with: sdv mpc join --name NAME --dkg {id} --role backup");
    }
    std::io::stderr().flush().ok();
    let share = participate(&api, &id, role).await?;

    let encryption = StaticSecret::random_from_rng(OsRng);
    let encryption_key = PublicKey::from(&encryption).to_bytes();
    let secret = Zeroizing::new(serde_json::to_vec(&MpcSecret {
        share: &share,
        encryption_secret: hex::encode(encryption.to_bytes()),
    })?);
    let file = ctx.keystore.save_mpc_key(
        name,
        MpcKeyRef {
            role,
            wallet: share.wallet(),
            encryption_key: format!("0x{}", hex::encode(encryption_key)),
        },
        &secret,
        &pass,
    )?;
    if ctx.json {
        println!(
            "{}",
            json!({
                "name": file.name,
                "scheme": file.scheme,
                "ss58": file.ss58,
                "public": file.public,
                "role": role,
                "dkg": id,
                "encryption_key": format!("0x{}", hex::encode(encryption_key)),
            })
        );
    } else {
        println!(
            "key {} created: {} ({role} share of a 2-of-3 MPC wallet)",
            file.name, file.ss58
        );
        println!(
            "the wallet's key exists in no single place: the device, the backup and the \
             custodian each hold one share, and any two sign together"
        );
    }
    Ok(())
}

/// One user-side participant of the key generation, through the ceremony API.
async fn participate(api: &Api, id: &str, role: Role) -> anyhow::Result<Share> {
    let base = format!("/v1/dkg/{id}");
    let (mut me, round1) = DkgParticipant::start(role)?;
    let _: Value = api
        .post(&format!("{base}/round1"), &round1)
        .await
        .with_context(|| format!("joining key generation {id} as {role}"))?;
    let all: Vec<Round1Message> = api.complete(&format!("{base}/round1")).await?;
    let outgoing = me.round2(&all).context("key generation round 2")?;
    let _: Value = api
        .post(&format!("{base}/round2"), &json!({ "messages": outgoing }))
        .await
        .context("sending the round-2 messages")?;
    let inbox: Vec<Round2Message> = api.complete(&format!("{base}/round2/{role}")).await?;
    let share = me.finish(&inbox).context("finishing the key generation")?;
    // The custodian finishes when its inbox is full, which may be a moment after this party.
    let deadline = tokio::time::Instant::now() + DKG_WAIT;
    loop {
        match api
            .post::<Value>(
                &format!("{base}/done"),
                &json!({ "role": role, "wallet": share.wallet() }),
            )
            .await
        {
            Ok(_) => return Ok(share),
            Err(ApiError::Refused { code, .. })
                if code == "not_finished" && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(POLL).await;
            }
            Err(e) => return Err(anyhow::Error::from(e).context("confirming the wallet")),
        }
    }
}

/// `sdv mpc show`.
async fn show(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let file = ctx.keystore.load(name)?;
    let Some(mpc) = file.mpc()? else {
        return Err(Usage(format!("key {name} is not an MPC key ({})", file.kind())).into());
    };
    let url = keys_url(ctx);
    let path = format!("/v1/mpc/wallets/{}", file.public);
    let registry = match Api::new(&url) {
        Ok(api) => api.get::<Value>(&path).await,
        Err(e) => Err(e),
    };
    if ctx.json {
        let registry = match &registry {
            Ok(state) => state.clone(),
            Err(e) => json!({ "error": e.to_string() }),
        };
        println!(
            "{}",
            json!({
                "name": file.name,
                "ss58": file.ss58,
                "public": file.public,
                "role": mpc.role,
                "encryption_key": mpc.encryption_key,
                "verifying_shares": mpc.wallet.verifying_shares.iter()
                    .map(|(role, key)| (role.as_str(), format!("0x{}", hex::encode(key))))
                    .collect::<std::collections::BTreeMap<_, _>>(),
                "registry": registry,
            })
        );
        return Ok(());
    }
    println!("key {}: {} ({})", file.name, file.ss58, file.public);
    println!("share: {} (2 of 3 shares sign)", mpc.role);
    println!("encryption key: {}", mpc.encryption_key);
    match registry {
        Ok(state) => {
            println!(
                "registry ({url}): {}{}",
                state["state"].as_str().unwrap_or("unknown"),
                state["compromised_reason"]
                    .as_str()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            for share in state["shares"].as_array().into_iter().flatten() {
                println!(
                    "  {}: {}",
                    share["role"].as_str().unwrap_or("?"),
                    share["state"].as_str().unwrap_or("?")
                );
            }
        }
        Err(e) => println!("registry ({url}): unavailable: {e}"),
    }
    Ok(())
}

/// A share of an MPC wallet that signs with a co-signer.
pub(crate) struct MpcSigner {
    account: AccountId,
    share: Box<Share>,
    cosigner: Cosigner,
}

/// The other share of a signature.
enum Cosigner {
    /// The custodian, through the key-management API.
    Custodian(Api),
    /// Another share of the wallet, unlocked from the keystore.
    Local(Box<Share>),
}

impl MpcSigner {
    /// Unlocks the MPC key `name` with its encryption secret and finds its co-signer: another
    /// key of the keystore (`--cosigner-key`), or the custodian, whose registry must know the
    /// wallet as active. With `--cosigner none` or an unreachable custodian, fails: one share
    /// cannot sign.
    pub(crate) async fn open(ctx: &Context, name: &str) -> anyhow::Result<(Self, StaticSecret)> {
        let mine = unlock(ctx, name)?;
        let account = AccountId::from(mine.share.account());
        let only_one = |why: String| {
            anyhow::anyhow!(
                "2 of 3 shares are needed to sign for {account}; only the {} share of key {} \
                 is at hand ({why}); nothing was signed or sent",
                mine.share.role(),
                mine.name
            )
        };
        let cosigner = if let Some(other) = &ctx.cosigner.cosigner_key {
            let theirs = unlock(ctx, other)?;
            if theirs.share.account() != mine.share.account() {
                return Err(Usage(format!(
                    "key {other} is a share of another wallet ({}), not of {account}",
                    AccountId::from(theirs.share.account())
                ))
                .into());
            }
            if theirs.share.role() == mine.share.role() {
                return Err(Usage(format!(
                    "keys {name} and {other} hold the same share ({}): the co-signer must \
                     hold another one",
                    mine.share.role()
                ))
                .into());
            }
            Cosigner::Local(Box::new(theirs.share))
        } else {
            match ctx.cosigner.cosigner {
                CosignerKind::None => return Err(only_one("--cosigner none".into())),
                CosignerKind::Custodian => {
                    let url = keys_url(ctx);
                    let api = Api::new(&url)?;
                    let path = format!("/v1/mpc/wallets/0x{}", hex::encode(account.0));
                    match api.get::<Value>(&path).await {
                        Ok(state) if state["state"] == "compromised" => bail!(
                            "the custodian refuses to co-sign for {account}: the wallet is \
                             compromised ({}); nothing was sent",
                            state["compromised_reason"].as_str().unwrap_or("revoked")
                        ),
                        Ok(_) => Cosigner::Custodian(api),
                        Err(ApiError::Unreachable(e)) => {
                            return Err(only_one(format!(
                                "the custodian at {url} is not reachable: {e}"
                            )))
                        }
                        Err(e) => bail!(
                            "the custodian at {url} will not co-sign for {account}: {e}; \
                             nothing was sent"
                        ),
                    }
                }
            }
        };
        let signer = Self {
            account,
            share: Box::new(mine.share),
            cosigner,
        };
        Ok((signer, mine.encryption))
    }

    /// [`MpcSigner::open`] for the synchronous callers: blocks this thread on the registry
    /// request.
    pub(crate) fn open_blocking(ctx: &Context, name: &str) -> anyhow::Result<(Self, StaticSecret)> {
        let handle = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| handle.block_on(Self::open(ctx, name)))
    }

    /// The wallet's account.
    pub(crate) fn account(&self) -> &AccountId {
        &self.account
    }

    /// A signature of `message` by the wallet: this share and the co-signer's.
    pub(crate) async fn sign(&self, message: &[u8]) -> anyhow::Result<[u8; 64]> {
        let signature = match &self.cosigner {
            Cosigner::Local(other) => sdv_mpc::sign_with(&[&self.share, other], message)?,
            Cosigner::Custodian(api) => self.cosign(api, message).await?,
        };
        sdv_mpc::verify(&self.account.0, message, &signature)
            .context("the aggregated signature does not verify")?;
        Ok(signature)
    }

    /// Signs `message` with the custodian (FROST rounds through the key-management API).
    async fn cosign(&self, api: &Api, message: &[u8]) -> anyhow::Result<[u8; 64]> {
        let base = format!("/v1/mpc/wallets/0x{}/sign", hex::encode(self.account.0));
        let refused = |e: ApiError| match e {
            ApiError::Unreachable(e) => anyhow::anyhow!(
                "2 of 3 shares are needed to sign for {}; only the {} share is at hand (the \
                 custodian at {} is not reachable: {e})",
                self.account,
                self.share.role(),
                api.base
            ),
            e => anyhow::anyhow!("the custodian refused to co-sign for {}: {e}", self.account),
        };
        let committed: Committed = api
            .post(&format!("{base}/commit"), &json!({}))
            .await
            .map_err(refused)?;
        let (nonces, mine) = sdv_mpc::commit(&self.share)?;
        let commitments = vec![mine, committed.commitment];
        let package = sdv_mpc::signing_package(&commitments, message)?;
        let share = sdv_mpc::sign(&self.share, nonces, &package)?;
        let signed: Value = api
            .post(
                &base,
                &json!({
                    "session": committed.session,
                    "message": hex::encode(message),
                    "commitments": commitments,
                    "shares": [share],
                }),
            )
            .await
            .map_err(refused)?;
        signed["signature"]
            .as_str()
            .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("the custodian answered no signature: {signed}"))
    }

    /// [`MpcSigner::sign`] for the synchronous signer interface of chain writes: blocks this
    /// thread on the co-signing round trips. A co-signer that fails now (it was checked when
    /// the signer was made) ends the command with the error before anything is sent.
    pub(crate) fn sign_blocking(&self, payload: &[u8]) -> [u8; 64] {
        let handle = tokio::runtime::Handle::current();
        let signed = tokio::task::block_in_place(|| handle.block_on(self.sign(payload)));
        signed.unwrap_or_else(|e| {
            let message = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("error: {message}; nothing was sent");
            std::process::exit(1)
        })
    }

    /// Sends a contract call signed by the wallet; a co-signer's refusal is
    /// [`sdv_chain::Error::Signing`] and nothing is sent.
    pub(crate) async fn call(
        &self,
        chain: &Chain,
        dest: &AccountId,
        data: sdv_chain::CallData,
    ) -> sdv_chain::Result<sdv_chain::Submitted> {
        chain
            .call_signed_with(
                &self.account,
                dest,
                data.into_bytes(),
                |payload| async move { self.sign(&payload).await.map_err(|e| format!("{e:#}")) },
            )
            .await
    }
}

/// The answer of `/sign/commit`.
#[derive(Deserialize)]
struct Committed {
    session: String,
    commitment: Commitment,
}

/// Logs `signer` in to the gateway: an sr25519 key with its own signature, an Ed25519 key
/// (token or MPC wallet) with its signature.
pub(crate) async fn gateway_login(
    gateway: &GatewayClient,
    signer: &WalletSigner,
) -> anyhow::Result<GatewayClient> {
    use sdv_chain::subxt::tx::Signer as _;
    let account = format!("0x{}", hex::encode(signer.account_id().0));
    let client = match signer {
        WalletSigner::Sr25519(keypair) => {
            gateway
                .login(&account, Scheme::Sr25519, |m| keypair.sign(m).0)
                .await
        }
        WalletSigner::Mpc(mpc) => {
            gateway
                .login_with(&account, Scheme::Ed25519, |message| async move {
                    mpc.sign(&message).await.map_err(|e| format!("{e:#}"))
                })
                .await
        }
        _ => bail!(
            "key {account} signs chain writes only: logging in to the gateway needs a keystore \
             (sr25519) key or an MPC key"
        ),
    };
    client.with_context(|| format!("logging in to the gateway at {}", gateway.base_url()))
}

/// A failed request to the custodian's APIs.
#[derive(Debug)]
enum ApiError {
    /// No answer: the service is down or the address is wrong.
    Unreachable(String),
    /// The service refused: its status and `{code, error}`.
    Refused {
        status: u16,
        code: String,
        error: String,
    },
    /// An answer that is not what the API defines.
    Malformed(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(e) => write!(f, "no answer: {e}"),
            Self::Refused {
                status,
                code,
                error,
            } => write!(f, "{error} ({code}, HTTP {status})"),
            Self::Malformed(e) => write!(f, "an unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// A JSON client of the ceremony or key-management API.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(base: &str) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ApiError::Unreachable(e.to_string()))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        Self::answer(self.http.get(format!("{}{path}", self.base)).send().await).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        Self::answer(
            self.http
                .post(format!("{}{path}", self.base))
                .json(body)
                .send()
                .await,
        )
        .await
    }

    async fn answer<T: DeserializeOwned>(
        sent: reqwest::Result<reqwest::Response>,
    ) -> Result<T, ApiError> {
        let response = sent.map_err(|e| ApiError::Unreachable(without_url(e)))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| ApiError::Malformed(format!("HTTP {status}: {}", without_url(e))))?;
        if !status.is_success() {
            return Err(ApiError::Refused {
                status: status.as_u16(),
                code: body["code"].as_str().unwrap_or("unknown").to_owned(),
                error: body["error"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| body.to_string()),
            });
        }
        serde_json::from_value(body).map_err(|e| ApiError::Malformed(e.to_string()))
    }

    /// Polls `path` until its answer says `complete`; returns its messages.
    async fn complete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Vec<T>> {
        let deadline = tokio::time::Instant::now() + DKG_WAIT;
        loop {
            let answer: Value = self
                .get(path)
                .await
                .with_context(|| format!("waiting for the other parties ({path})"))?;
            if answer["complete"] == true {
                return serde_json::from_value(answer["messages"].clone())
                    .with_context(|| format!("the messages of {path}"));
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the other parties did not take part within {} s ({path})",
                    DKG_WAIT.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A request error in words, without the URL (which the caller names).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::{Keystore, SCHEME_MPC};

    /// The three shares of a new wallet, generated in one process.
    fn shares() -> Vec<Share> {
        let (parties, round1): (Vec<_>, Vec<_>) = Role::ALL
            .into_iter()
            .map(|role| DkgParticipant::start(role).unwrap())
            .unzip();
        let mut parties = parties;
        let round2: Vec<Round2Message> = parties
            .iter_mut()
            .flat_map(|p| p.round2(&round1).unwrap())
            .collect();
        parties
            .into_iter()
            .map(|p| {
                let role = p.role();
                let inbox: Vec<_> = round2.iter().filter(|m| m.to == role).cloned().collect();
                p.finish(&inbox).unwrap()
            })
            .collect()
    }

    #[test]
    fn an_mpc_key_file_keeps_its_share_encrypted_and_is_no_sr25519_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Keystore::new(dir.path().to_owned());
        let share = shares().remove(0);
        let secret = serde_json::to_vec(&MpcSecret {
            share: &share,
            encryption_secret: hex::encode([9u8; 32]),
        })
        .unwrap();
        let file = store
            .save_mpc_key(
                "w",
                MpcKeyRef {
                    role: share.role(),
                    wallet: share.wallet(),
                    encryption_key: format!("0x{}", hex::encode([1u8; 32])),
                },
                &secret,
                "pass",
            )
            .unwrap();
        assert_eq!(file.scheme, SCHEME_MPC);
        assert_eq!(file.public_bytes().unwrap(), share.account());
        let text = std::fs::read_to_string(dir.path().join("w.json")).unwrap();
        assert!(!text.contains("key_package") && !text.contains(&hex::encode([9u8; 32])));

        let (_, opened) = store.unlock_mpc("w", "pass").unwrap();
        let opened: MpcSecret<Share> = serde_json::from_slice(&opened).unwrap();
        assert_eq!(opened.share.wallet(), share.wallet());
        assert_eq!(
            store.unlock_mpc("w", "wrong").unwrap_err().to_string(),
            "wrong passphrase for key w"
        );
        let err = store.unlock("w", "pass").unwrap_err().to_string();
        assert!(err.contains("share of an MPC wallet"), "{err}");
        assert!(store.load("w").unwrap().kind().contains("device share"));
    }

    #[test]
    fn device_and_backup_shares_sign_for_the_wallet_and_one_cannot() {
        let all = shares();
        let message = b"a payload";
        let signature = sdv_mpc::sign_with(&[&all[0], &all[1]], message).unwrap();
        sdv_mpc::verify(&all[0].account(), message, &signature).unwrap();
        assert!(matches!(
            sdv_mpc::sign_with(&[&all[0]], message),
            Err(sdv_mpc::Error::NotEnoughSigners { have: 1, need: 2 })
        ));
    }
}
