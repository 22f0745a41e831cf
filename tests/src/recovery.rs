//! `sdv-recovery` as the tests run it (key management and the recovery ceremony, its keys in
//! a SoftHSM2 token), and the two user-side parties of an MPC wallet (device and backup)
//! speaking to it over HTTP as a wallet would.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sdv_chain::AccountId;
use sdv_mpc::{Commitment, DkgParticipant, Role, Round1Message, Round2Message, Share};
use serde_json::{json, Value};

use crate::{
    hsm::SoftHsm,
    smtp::free_port,
    storage::{Process, StorageStack, NOTIFY_KEY},
    TestContext,
};

/// The token's environment for `sdv-recovery`.
fn token_env(hsm: &SoftHsm) -> Vec<(String, String)> {
    vec![
        (
            "SDV_PKCS11_MODULE".into(),
            hsm.module().display().to_string(),
        ),
        ("SDV_PKCS11_TOKEN".into(), hsm.label().to_owned()),
        ("SDV_PKCS11_PIN".into(), hsm.pin().to_owned()),
    ]
}

/// A running `sdv-recovery`.
pub struct RecoveryService {
    /// The key-management API.
    pub keys: String,
    /// The ceremony API.
    pub ceremony: String,
    env: Vec<(String, String)>,
    process: Option<Process>,
}

impl RecoveryService {
    /// The recovery key `sdv-recovery public-key` makes in `hsm`'s token (X25519 public key).
    pub fn public_key(hsm: &SoftHsm) -> [u8; 32] {
        let out = Command::new(crate::binary("sdv-recovery"))
            .arg("public-key")
            .envs(token_env(hsm))
            .output()
            .expect("sdv-recovery public-key runs");
        assert!(
            out.status.success(),
            "sdv-recovery public-key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        hex::decode(String::from_utf8_lossy(&out.stdout).trim())
            .ok()
            .and_then(|k| k.try_into().ok())
            .expect("64 hex digits")
    }

    /// The storage stack with its gateway wrapping to the recovery key of a fresh token, and
    /// `sdv-recovery` on that token (`extra` is its additional environment).
    pub async fn with_stack(
        ctx: &TestContext,
        extra: &[(&str, &str)],
    ) -> (SoftHsm, [u8; 32], StorageStack, Self) {
        let token = SoftHsm::new();
        let recovery_public = Self::public_key(&token);
        let stack = StorageStack::start_with(
            ctx,
            &[("SDV_RECOVERY_PUBLIC_KEY", &hex::encode(recovery_public))],
        )
        .await;
        let service = Self::start(&stack, &token, extra).await;
        (token, recovery_public, stack, service)
    }

    /// Starts it on `stack`'s database, indexer and notification service with the token of
    /// `hsm`; `extra` is more environment. Returns once both APIs answer.
    pub async fn start(stack: &StorageStack, hsm: &SoftHsm, extra: &[(&str, &str)]) -> Self {
        Self::start_on(
            &stack.database_url,
            &stack.indexer.api,
            &stack.notify,
            hsm,
            extra,
        )
        .await
    }

    /// Starts it on the database `database_url` with the indexer and notification service at
    /// those URLs (which need not answer: its workers then retry).
    pub async fn start_on(
        database_url: &str,
        indexer: &str,
        notify: &str,
        hsm: &SoftHsm,
        extra: &[(&str, &str)],
    ) -> Self {
        let (keys, ceremony) = (free_port(), free_port());
        let mut env = token_env(hsm);
        env.extend([
            ("DATABASE_URL".into(), database_url.to_owned()),
            ("SDV_INDEXER_URL".into(), indexer.to_owned()),
            ("SDV_NOTIFY_URL".into(), notify.to_owned()),
            ("SDV_NOTIFY_API_KEY".into(), NOTIFY_KEY.into()),
            ("SDV_KEYS_LISTEN".into(), format!("127.0.0.1:{keys}")),
            (
                "SDV_CEREMONY_LISTEN".into(),
                format!("127.0.0.1:{ceremony}"),
            ),
            ("SDV_RECOVERY_POLL_MS".into(), "500".into()),
            ("RUST_LOG".into(), "warn,sdv_recovery=info".into()),
        ]);
        let mut service = Self {
            keys: format!("http://127.0.0.1:{keys}"),
            ceremony: format!("http://127.0.0.1:{ceremony}"),
            env,
            process: None,
        };
        service.restart(extra).await;
        service
    }

    /// (Re)starts the process with `extra` replacing or adding environment.
    pub async fn restart(&mut self, extra: &[(&str, &str)]) {
        let mut command = Command::new(crate::binary("sdv-recovery"));
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        for (k, v) in &self.env {
            if !extra.iter().any(|(key, _)| key == k) {
                command.env(k, v);
            }
        }
        command.envs(extra.iter().copied());
        let mut process = Process::new(
            command.spawn().expect("the sdv-recovery binary starts"),
            "sdv-recovery",
        );
        process.wait_healthy(&[&self.keys, &self.ceremony]).await;
        self.process = Some(process);
    }

    /// Kills it with SIGKILL.
    pub fn kill_9(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_9();
        }
    }

    /// `GET` of a path of the ceremony API (status, body).
    pub async fn ceremony_get(&self, path: &str) -> (u16, Value) {
        get(&format!("{}{path}", self.ceremony)).await
    }

    /// `GET` of a path of the key-management API (status, body).
    pub async fn keys_get(&self, path: &str) -> (u16, Value) {
        get(&format!("{}{path}", self.keys)).await
    }

    /// Waits (`secs` at most) until the ceremony of `old_wallet` satisfies `until`.
    pub async fn ceremony_until(
        &self,
        old_wallet: &AccountId,
        secs: u64,
        until: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let path = format!("/v1/ceremonies/0x{}", hex::encode(old_wallet.0));
        loop {
            let (status, body) = self.ceremony_get(&path).await;
            if status == 200 && until(&body) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "the ceremony did not get there in {secs} s: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for RecoveryService {
    fn drop(&mut self) {
        self.kill_9();
    }
}

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST` of JSON to `url` (status, body).
pub async fn post(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `url` until its body says `complete`; returns its messages.
async fn complete<T: serde::de::DeserializeOwned>(url: &str) -> Vec<T> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(url).await;
        assert_eq!(status, 200, "{url}: {body}");
        if body["complete"] == true {
            return serde_json::from_value(body["messages"].clone()).expect("messages");
        }
        assert!(Instant::now() < deadline, "{url} did not complete: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One user-side participant of the key generation, through the ceremony API.
async fn participate(ceremony: String, id: String, role: Role) -> Share {
    let (mut me, round1) = DkgParticipant::start(role).expect("round 1");
    let base = format!("{ceremony}/v1/dkg/{id}");
    let (status, body) = post(&format!("{base}/round1"), &json!(round1)).await;
    assert_eq!(status, 200, "posting round 1 as {role}: {body}");
    let all: Vec<Round1Message> = complete(&format!("{base}/round1")).await;
    let outgoing = me.round2(&all).expect("round 2");
    let (status, body) = post(&format!("{base}/round2"), &json!({ "messages": outgoing })).await;
    assert_eq!(status, 200, "posting round 2 as {role}: {body}");
    let inbox: Vec<Round2Message> = complete(&format!("{base}/round2/{role}")).await;
    let share = me.finish(&inbox).expect("finishing the key generation");
    // The custodian finishes when its inbox is full, which may be a moment after ours.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = post(
            &format!("{base}/done"),
            &json!({ "role": role, "wallet": share.wallet() }),
        )
        .await;
        if status == 200 {
            break;
        }
        assert!(
            status == 409 && body["code"] == "not_finished" && Instant::now() < deadline,
            "confirming as {role}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    share
}

/// A new MPC wallet: the device and the backup run the key generation with the custodian
/// through the ceremony API, in parallel as two parties would. Returns their shares.
pub async fn create_mpc_wallet(service: &RecoveryService) -> (Share, Share) {
    let id = open_dkg(service).await;
    run_dkg(service, &id).await
}

/// Opens a key generation session; returns its id.
pub async fn open_dkg(service: &RecoveryService) -> String {
    let (status, opened) = post(&format!("{}/v1/dkg", service.ceremony), &json!({})).await;
    assert_eq!(status, 201, "opening a key generation: {opened}");
    opened["id"].as_str().expect("a session id").to_owned()
}

/// The device's and the backup's parts of session `id`, in parallel; returns their shares.
pub async fn run_dkg(service: &RecoveryService, id: &str) -> (Share, Share) {
    let id = id.to_owned();
    let device = tokio::spawn(participate(
        service.ceremony.clone(),
        id.clone(),
        Role::Device,
    ));
    let backup = tokio::spawn(participate(
        service.ceremony.clone(),
        id.clone(),
        Role::Backup,
    ));
    let (device, backup) = (device.await.unwrap(), backup.await.unwrap());
    assert_eq!(device.account(), backup.account());
    let (_, state) = service.ceremony_get(&format!("/v1/dkg/{id}")).await;
    assert_eq!(state["state"], "done", "{state}");
    (device, backup)
}

/// Signs `message` with `share` and the custodian's share (the key-management API), as a
/// wallet signs; the custodian's refusal comes back as the error.
pub async fn cosign(keys: &str, share: &Share, message: &[u8]) -> Result<[u8; 64], String> {
    cosign_for(keys, &share.account(), share, message).await
}

/// [`cosign`] for the wallet `account`, which need not be `share`'s (to show the custodian
/// refusing a share of another wallet).
pub async fn cosign_for(
    keys: &str,
    account: &[u8; 32],
    share: &Share,
    message: &[u8],
) -> Result<[u8; 64], String> {
    let account = format!("0x{}", hex::encode(account));
    let base = format!("{keys}/v1/mpc/wallets/{account}/sign");
    let (status, committed) = post(&format!("{base}/commit"), &json!({})).await;
    if status != 200 {
        return Err(format!(
            "the custodian refused to commit: {status} {committed}"
        ));
    }
    let custodian: Commitment =
        serde_json::from_value(committed["commitment"].clone()).map_err(|e| e.to_string())?;
    let (nonces, mine) = sdv_mpc::commit(share).map_err(|e| e.to_string())?;
    let commitments = vec![mine, custodian];
    let package = sdv_mpc::signing_package(&commitments, message).map_err(|e| e.to_string())?;
    let signature_share = sdv_mpc::sign(share, nonces, &package).map_err(|e| e.to_string())?;
    let (status, signed) = post(
        &base,
        &json!({
            "session": committed["session"],
            "message": hex::encode(message),
            "commitments": commitments,
            "shares": [signature_share],
        }),
    )
    .await;
    if status != 200 {
        return Err(format!("the custodian refused to sign: {status} {signed}"));
    }
    signed["signature"]
        .as_str()
        .and_then(|s| hex::decode(s.trim_start_matches("0x")).ok())
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("a malformed signature answer: {signed}"))
}

/// Sends a contract message signed by the MPC wallet of `share` with the custodian's share.
pub async fn mpc_call(
    ctx: &TestContext,
    service: &RecoveryService,
    share: &Share,
    contract: &str,
    data: sdv_chain::CallData,
) -> sdv_chain::Result<sdv_chain::Submitted> {
    let dest = ctx
        .deployment
        .address(contract)
        .expect("a deployed contract")
        .clone();
    let account = AccountId::from(share.account());
    let keys = service.keys.clone();
    ctx.chain
        .call_signed_with(&account, &dest, data.into_bytes(), |payload| async move {
            cosign(&keys, share, &payload).await
        })
        .await
}

/// Logs the MPC wallet of `share` in to `stack`'s gateway, signing with the custodian.
pub async fn mpc_login(
    stack: &StorageStack,
    service: &RecoveryService,
    share: &Share,
) -> Result<sdv_storage_client::client::GatewayClient, sdv_storage_client::Error> {
    let keys = service.keys.clone();
    sdv_storage_client::client::GatewayClient::new(&stack.gateway)?
        .login_with(
            &format!("0x{}", hex::encode(share.account())),
            sdv_storage_client::protocol::Scheme::Ed25519,
            |message| async move { cosign(&keys, share, &message).await },
        )
        .await
}
