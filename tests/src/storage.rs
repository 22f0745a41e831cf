//! The storage stack as the tests run it: on one fresh database, the indexer, a relayer per
//! role (storage attestor, retention executor), the notification service with a real SMTP
//! server, and `sdv-storage`, against the shared Garage (or a test's own). Every process is
//! killed on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sdv_node_config::accounts;
use sqlx::PgPool;
use tempfile::TempDir;

use crate::{garage::S3Config, indexer::IndexerProcess, smtp::SmtpServer, TestContext};

/// The notification service's API key in the tests.
pub const NOTIFY_KEY: &str = "test-notify-api-key-0123456789";

/// A child process killed on drop.
pub struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    /// Takes charge of `child`, named `name` in failures.
    pub fn new(child: Child, name: &'static str) -> Self {
        Self { child, name }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL and waits.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Panics if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("a process status") {
            panic!("{} exited with {status}", self.name);
        }
    }

    /// Waits (60 s at most, while it runs) until `GET {url}/health` succeeds for every url.
    pub async fn wait_healthy(&mut self, urls: &[&String]) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for url in urls {
            loop {
                self.assert_running();
                if let Ok(r) = http.get(format!("{url}/health")).send().await {
                    if r.status().is_success() {
                        break;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "{url}/health did not answer in 60 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The stack.
pub struct StorageStack {
    /// The database every service shares.
    pub pool: PgPool,
    /// Its URL.
    pub database_url: String,
    /// The deployment file.
    pub deployment: PathBuf,
    /// The indexer.
    pub indexer: IndexerProcess,
    /// The S3 server.
    pub s3: S3Config,
    /// The SMTP server the notices go to.
    pub smtp: SmtpServer,
    /// The upload gateway's URL.
    pub gateway: String,
    /// The storage service's URL.
    pub storage_api: String,
    /// The compliance API's URL.
    pub compliance: String,
    /// The notification service's URL.
    pub notify: String,
    /// The recovery key file (X25519 secret, hex) data keys are also wrapped to, unless the
    /// stack was started with another `SDV_RECOVERY_PUBLIC_KEY` (a token's).
    pub recovery_key_file: PathBuf,
    /// The recovery public key the gateway asks uploads to wrap to.
    pub recovery_public: [u8; 32],
    storage: Option<Process>,
    storage_env: Vec<(String, String)>,
    _attestor: Process,
    _executor: Process,
    _notify: Process,
    _dir: TempDir,
}

impl StorageStack {
    /// Starts everything on `ctx`'s chain; returns once the gateway answers.
    pub async fn start(ctx: &TestContext) -> Self {
        Self::start_with(ctx, &[]).await
    }

    /// [`StorageStack::start`] with extra environment for `sdv-storage`.
    pub async fn start_with(ctx: &TestContext, storage_env: &[(&str, &str)]) -> Self {
        Self::start_on(ctx, crate::garage::shared(), storage_env).await
    }

    /// [`StorageStack::start_with`] against the S3 server `s3` (a test's own Garage, which it
    /// may stop) instead of the shared one.
    pub async fn start_on(ctx: &TestContext, s3: S3Config, storage_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sdv-storage-stack-")
            .tempdir()
            .expect("a temporary directory");
        let deployment = dir.path().join("deployment.json");
        ctx.deployment
            .save(&deployment)
            .expect("writing the deployment file");
        let pool = crate::fresh_database().await;
        let database_url = crate::indexer::url_of(&pool).await;
        let indexer = IndexerProcess::start(&deployment, &database_url, 64);
        let smtp = SmtpServer::start();

        let relayer = |name: &'static str, uri: &str| {
            let child = Command::new(crate::binary("sdv-relayer"))
                .arg("run")
                .env("SDV_DEPLOYMENT", &deployment)
                .env("SDV_RELAYER_SIGNER", uri)
                .env("SDV_RELAYER_POLL_MS", "200")
                .env("DATABASE_URL", &database_url)
                .env("RUST_LOG", crate::service_log())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("starting the {name} relayer: {e}"));
            Process { child, name }
        };
        let phrase = sdv_chain::subxt_signer::DEV_PHRASE;
        let attestor = relayer(
            "storage attestor",
            &format!("{phrase}//sdv//storage-attestor"),
        );
        let executor = relayer(
            "retention executor",
            &format!("{phrase}//sdv//retention-executor"),
        );

        let notify_port = free_port();
        let notify_url = format!("http://127.0.0.1:{notify_port}");
        let notify = Process {
            child: Command::new(crate::binary("sdv-notify"))
                .env("DATABASE_URL", &database_url)
                .env("SDV_NOTIFY_LISTEN", format!("127.0.0.1:{notify_port}"))
                .env("SDV_NOTIFY_API_KEY", NOTIFY_KEY)
                .env("SDV_SMTP_URL", format!("smtp://127.0.0.1:{}", smtp.port()))
                .env("SDV_WEBHOOK_SECRET", "test-webhook-secret")
                .env("SDV_NOTIFY_RETRY_MS", "500")
                .env("RUST_LOG", crate::service_log())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the sdv-notify binary starts"),
            name: "sdv-notify",
        };

        let recovery_key_file = dir.path().join("recovery.key");
        let recovery = sdv_storage_client::envelope::generate_key_file(&recovery_key_file)
            .expect("writing the recovery key file");
        let (gateway, storage_api, compliance) = (free_port(), free_port(), free_port());
        let attestor_account = accounts::roles::storage_attestor().public_key().0;
        let executor_account = accounts::roles::retention_executor().public_key().0;
        let mut env: Vec<(String, String)> = vec![
            ("SDV_DEPLOYMENT".into(), deployment.display().to_string()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("SDV_INDEXER_URL".into(), indexer.api.clone()),
            ("SDV_GATEWAY_LISTEN".into(), format!("127.0.0.1:{gateway}")),
            (
                "SDV_STORAGE_LISTEN".into(),
                format!("127.0.0.1:{storage_api}"),
            ),
            (
                "SDV_COMPLIANCE_LISTEN".into(),
                format!("127.0.0.1:{compliance}"),
            ),
            ("SDV_S3_ENDPOINT".into(), s3.endpoint.clone()),
            ("SDV_S3_REGION".into(), s3.region.clone()),
            ("SDV_S3_BUCKET".into(), s3.bucket.clone()),
            ("SDV_S3_ACCESS_KEY_ID".into(), s3.access_key_id.clone()),
            (
                "SDV_S3_SECRET_ACCESS_KEY".into(),
                s3.secret_access_key.clone(),
            ),
            (
                "SDV_STORAGE_SPOOL".into(),
                dir.path().join("spool").display().to_string(),
            ),
            (
                "SDV_STORAGE_ATTESTOR".into(),
                format!("0x{}", hex::encode(attestor_account)),
            ),
            (
                "SDV_RETENTION_EXECUTOR".into(),
                format!("0x{}", hex::encode(executor_account)),
            ),
            (
                "SDV_RECOVERY_PUBLIC_KEY".into(),
                hex::encode(recovery.as_bytes()),
            ),
            ("SDV_NOTIFY_URL".into(), notify_url.clone()),
            ("SDV_NOTIFY_API_KEY".into(), NOTIFY_KEY.into()),
            ("SDV_RETENTION_INTERVAL_MS".into(), "1000".into()),
            ("SDV_SESSION_CHECK_MS".into(), "1000".into()),
            ("RUST_LOG".into(), crate::service_log()),
        ];
        for (k, v) in storage_env {
            env.retain(|(key, _)| key != k);
            env.push(((*k).into(), (*v).into()));
        }
        let recovery_public = env
            .iter()
            .find(|(k, _)| k == "SDV_RECOVERY_PUBLIC_KEY")
            .and_then(|(_, v)| hex::decode(v).ok())
            .and_then(|k| k.try_into().ok())
            .expect("SDV_RECOVERY_PUBLIC_KEY is 64 hex digits");
        let mut stack = Self {
            pool,
            database_url,
            deployment,
            indexer,
            s3,
            smtp,
            gateway: format!("http://127.0.0.1:{gateway}"),
            storage_api: format!("http://127.0.0.1:{storage_api}"),
            compliance: format!("http://127.0.0.1:{compliance}"),
            notify: notify_url,
            recovery_key_file,
            recovery_public,
            storage: None,
            storage_env: env,
            _attestor: attestor,
            _executor: executor,
            _notify: notify,
            _dir: dir,
        };
        stack.start_storage().await;
        stack
    }

    /// Starts `sdv-storage` (again) and waits until its three APIs answer.
    pub async fn start_storage(&mut self) {
        let mut command = Command::new(crate::binary("sdv-storage"));
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        for (k, v) in &self.storage_env {
            command.env(k, v);
        }
        let mut process = Process {
            child: command.spawn().expect("the sdv-storage binary starts"),
            name: "sdv-storage",
        };
        process
            .wait_healthy(&[
                &self.gateway,
                &self.storage_api,
                &self.compliance,
                &self.notify,
            ])
            .await;
        self.storage = Some(process);
    }

    /// Gives `account` (`0x` hex) the mail address `email` at the notification service.
    pub async fn set_contact(&self, account: &str, email: &str) {
        reqwest::Client::new()
            .put(format!("{}/v1/contacts/{account}", self.notify))
            .header("x-api-key", NOTIFY_KEY)
            .json(&serde_json::json!({ "email": email }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap_or_else(|e| panic!("setting the contact of {account}: {e}"));
    }

    /// Kills `sdv-storage` with SIGKILL.
    pub fn kill_storage(&mut self) {
        if let Some(mut p) = self.storage.take() {
            p.kill_9();
        }
    }

    /// The process id of `sdv-storage`, while it runs.
    pub fn storage_pid(&self) -> Option<u32> {
        self.storage.as_ref().map(|p| p.child.id())
    }

    /// The spool directory of `sdv-storage`.
    pub fn spool(&self) -> PathBuf {
        self._dir.path().join("spool")
    }
}
