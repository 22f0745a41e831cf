//! One run: the stack of its own, the workload, the faults, the catch-up and the checks.

use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use sdv_chain::Chain;
use sdv_node_config::{accounts, NodeProcess};
use sdv_system_tests::{
    garage::GarageProcess, smtp::SmtpServer, storage::Process, PostgresProcess, TestContext,
};
use sqlx::{postgres::PgPoolOptions, Connection, PgConnection, PgPool};
use tempfile::TempDir;

use crate::{checks, workload};

/// The notification service's API key in the drill.
const NOTIFY_KEY: &str = "drill-notify-api-key-0123456789";
/// Faults drawn at random after every kind was injected once.
const EXTRA_FAULTS: usize = 4;
/// How long the services have to catch up once the workload stops.
const CATCH_UP: Duration = Duration::from_secs(150);

/// A service of the stack: how it was started (program, arguments, environment, log), so that
/// it is started again the same way after a `kill -9`, and the running process.
pub(crate) struct Service {
    /// Its name in the drill's output.
    pub(crate) name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The URLs whose `/health` answers once it is up (none for a relayer).
    health: Vec<String>,
    log: PathBuf,
    process: Option<Process>,
}

impl Service {
    fn new(
        name: &'static str,
        program: &str,
        args: &[&str],
        env: Vec<(String, String)>,
        health: Vec<String>,
        logs: &Path,
    ) -> Self {
        Self {
            name,
            program: sdv_system_tests::binary(program),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env,
            health,
            log: logs.join(format!("{name}.log")),
            process: None,
        }
    }

    /// Starts it (its log appended to the run's log directory) and waits until it answers.
    pub(crate) async fn start(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("a service log file");
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a service log file"))
            .stderr(log);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name));
        let mut process = Process::new(child, self.name);
        let urls: Vec<&String> = self.health.iter().collect();
        process.wait_healthy(&urls).await;
        if urls.is_empty() {
            // A relayer has no API: it is up when it has not exited after a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            process.assert_running();
        }
        self.process = Some(process);
    }

    /// Kills it with SIGKILL.
    pub(crate) fn kill_9(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_9();
        }
    }

    /// Whether it still runs; `false` (and the end of its log) when it exited by itself.
    fn exited(&mut self) -> Option<String> {
        let p = self.process.as_mut()?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.assert_running())) {
            Ok(()) => None,
            Err(_) => Some(format!(
                "{} exited by itself; the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            )),
        }
    }
}

/// What the workload and the checks need to reach the stack; cheap to clone, the same across
/// restarts (every service keeps its port).
#[derive(Clone)]
pub(crate) struct Endpoints {
    /// The node's WebSocket RPC URL.
    pub(crate) node_url: String,
    /// The deployment.
    pub(crate) deployment: sdv_chain::Deployment,
    /// The database every service shares.
    pub(crate) pool: PgPool,
    /// The upload gateway.
    pub(crate) gateway: String,
    /// The indexer's API.
    pub(crate) indexer: String,
    /// The S3 store.
    pub(crate) s3: sdv_system_tests::garage::S3Config,
    /// The recovery public key uploads wrap their data key to.
    pub(crate) recovery_public: [u8; 32],
    /// Workload steps done so far (every finished client operation counts one).
    pub(crate) step: Arc<AtomicU64>,
    /// Set when the workload is to stop.
    pub(crate) stop: Arc<AtomicBool>,
}

impl Endpoints {
    /// The current workload step.
    pub(crate) fn step(&self) -> u64 {
        self.step.load(Ordering::Relaxed)
    }
}

/// The stack of one run.
pub(crate) struct Stack {
    ctx: TestContext,
    pg: PostgresProcess,
    garage: GarageProcess,
    /// The services, in the order they are started.
    pub(crate) services: Vec<Service>,
    /// How to reach it.
    pub(crate) endpoints: Endpoints,
    _smtp: SmtpServer,
    dir: TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Stack {
    /// Starts the node (and deploys), PostgreSQL, Garage, SMTP, then the indexer, the three
    /// relayers, `sdv-notify` and `sdv-storage`, configured as
    /// [`sdv_system_tests::storage::StorageStack`] configures them.
    async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sdv-drill-")
            .tempdir()
            .expect("a temporary directory");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("the log directory");
        let ctx = TestContext::new().await;
        let pg = tokio::task::block_in_place(PostgresProcess::start);
        let garage = tokio::task::block_in_place(GarageProcess::start);
        let s3 = garage.config();
        let smtp = tokio::task::block_in_place(SmtpServer::start);

        let mut admin = PgConnection::connect(&pg.url())
            .await
            .expect("the drill's PostgreSQL answers");
        sqlx::query("CREATE DATABASE sdv_drill")
            .execute(&mut admin)
            .await
            .expect("creating the drill's database");
        let base = pg.url();
        let database_url = format!(
            "{}/sdv_drill",
            base.rsplit_once('/').map(|(b, _)| b).unwrap_or(&base)
        );
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&database_url)
            .await
            .expect("connecting to the drill's database");
        sdv_relayer::outbox::migrate(&pool)
            .await
            .expect("the relayer outbox's tables");

        let deployment = ctx.deployment_file().display().to_string();
        let env = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
            let mut all = vec![
                ("SDV_DEPLOYMENT".to_owned(), deployment.clone()),
                ("DATABASE_URL".to_owned(), database_url.clone()),
                ("RUST_LOG".to_owned(), sdv_system_tests::service_log()),
            ];
            all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            all
        };

        let indexer_port = free_port();
        let indexer_url = format!("http://127.0.0.1:{indexer_port}");
        let mut services = vec![Service::new(
            "sdv-indexer",
            "sdv-indexer",
            &[],
            env(&[
                ("SDV_INDEXER_BATCH_BLOCKS", "64".into()),
                ("SDV_INDEXER_LISTEN", format!("127.0.0.1:{indexer_port}")),
            ]),
            vec![indexer_url.clone()],
            &logs,
        )];
        let phrase = sdv_chain::subxt_signer::DEV_PHRASE;
        for (name, uri) in [
            (
                "sdv-relayer (storage attestor)",
                format!("{phrase}//sdv//storage-attestor"),
            ),
            (
                "sdv-relayer (retention executor)",
                format!("{phrase}//sdv//retention-executor"),
            ),
            ("sdv-relayer (Dave, vault calls)", "//Dave".to_owned()),
        ] {
            services.push(Service::new(
                name,
                "sdv-relayer",
                &["run"],
                env(&[
                    ("SDV_RELAYER_SIGNER", uri),
                    ("SDV_RELAYER_POLL_MS", "200".into()),
                ]),
                vec![],
                &logs,
            ));
        }
        let notify_port = free_port();
        let notify_url = format!("http://127.0.0.1:{notify_port}");
        services.push(Service::new(
            "sdv-notify",
            "sdv-notify",
            &[],
            env(&[
                ("SDV_NOTIFY_LISTEN", format!("127.0.0.1:{notify_port}")),
                ("SDV_NOTIFY_API_KEY", NOTIFY_KEY.into()),
                ("SDV_SMTP_URL", format!("smtp://127.0.0.1:{}", smtp.port())),
                ("SDV_WEBHOOK_SECRET", "drill-webhook-secret".into()),
                ("SDV_NOTIFY_RETRY_MS", "500".into()),
            ]),
            vec![notify_url.clone()],
            &logs,
        ));
        let recovery =
            sdv_storage_client::envelope::generate_key_file(&dir.path().join("recovery.key"))
                .expect("writing the recovery key file");
        let (gateway, storage_api, compliance) = (free_port(), free_port(), free_port());
        let gateway_url = format!("http://127.0.0.1:{gateway}");
        let hex_account =
            |k: subxt_signer::sr25519::Keypair| format!("0x{}", hex::encode(k.public_key().0));
        services.push(Service::new(
            "sdv-storage",
            "sdv-storage",
            &[],
            env(&[
                ("SDV_INDEXER_URL", indexer_url.clone()),
                ("SDV_GATEWAY_LISTEN", format!("127.0.0.1:{gateway}")),
                ("SDV_STORAGE_LISTEN", format!("127.0.0.1:{storage_api}")),
                ("SDV_COMPLIANCE_LISTEN", format!("127.0.0.1:{compliance}")),
                ("SDV_S3_ENDPOINT", s3.endpoint.clone()),
                ("SDV_S3_REGION", s3.region.clone()),
                ("SDV_S3_BUCKET", s3.bucket.clone()),
                ("SDV_S3_ACCESS_KEY_ID", s3.access_key_id.clone()),
                ("SDV_S3_SECRET_ACCESS_KEY", s3.secret_access_key.clone()),
                (
                    "SDV_STORAGE_SPOOL",
                    dir.path().join("spool").display().to_string(),
                ),
                (
                    "SDV_STORAGE_ATTESTOR",
                    hex_account(accounts::roles::storage_attestor()),
                ),
                (
                    "SDV_RETENTION_EXECUTOR",
                    hex_account(accounts::roles::retention_executor()),
                ),
                ("SDV_RECOVERY_PUBLIC_KEY", hex::encode(recovery.as_bytes())),
                ("SDV_NOTIFY_URL", notify_url.clone()),
                ("SDV_NOTIFY_API_KEY", NOTIFY_KEY.into()),
                ("SDV_RETENTION_INTERVAL_MS", "1000".into()),
                ("SDV_SESSION_CHECK_MS", "1000".into()),
            ]),
            vec![
                gateway_url.clone(),
                format!("http://127.0.0.1:{storage_api}"),
                format!("http://127.0.0.1:{compliance}"),
            ],
            &logs,
        ));
        for service in &mut services {
            service.start().await;
        }
        let endpoints = Endpoints {
            node_url: ctx.node.rpc_url(),
            deployment: ctx.deployment.clone(),
            pool,
            gateway: gateway_url,
            indexer: indexer_url,
            s3,
            recovery_public: *recovery.as_bytes(),
            step: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        Self {
            ctx,
            pg,
            garage,
            services,
            endpoints,
            _smtp: smtp,
            dir,
        }
    }

    /// The node's chain client.
    pub(crate) fn chain(&self) -> &Chain {
        &self.ctx.chain
    }

    /// Services that exited by themselves, with the end of their logs.
    fn exited(&mut self) -> Vec<String> {
        self.services
            .iter_mut()
            .filter_map(Service::exited)
            .collect()
    }

    /// Injects `fault`, printing it with the workload step, and undoes it (restarts what it
    /// stopped) after a random pause.
    async fn inject(&mut self, fault: Fault, rng: &mut StdRng) {
        let step = self.endpoints.step();
        let pause = Duration::from_millis(rng.gen_range(200..2500));
        match fault {
            Fault::Kill(i) => {
                let service = &mut self.services[i];
                println!("fault: kill -9 {} at step {step}", service.name);
                service.kill_9();
                tokio::time::sleep(pause).await;
                service.start().await;
            }
            Fault::Postgres => {
                println!(
                    "fault: PostgreSQL stopped (immediate) for {} ms at step {step}",
                    pause.as_millis()
                );
                tokio::task::block_in_place(|| self.pg.crash());
                tokio::time::sleep(pause).await;
                tokio::task::block_in_place(|| self.pg.resume());
            }
            Fault::Node => {
                println!(
                    "fault: node stopped for {} ms and restarted on its base path at step {step}",
                    pause.as_millis()
                );
                self.ctx
                    .node
                    .stop()
                    .await
                    .unwrap_or_else(|e| panic!("stopping the node: {e}"));
                tokio::time::sleep(pause).await;
                let options = self.ctx.node.options().clone();
                self.ctx.node = NodeProcess::start(options)
                    .await
                    .unwrap_or_else(|e| panic!("restarting the node: {e}"));
                self.ctx.chain = Chain::connect(&self.ctx.node.rpc_url())
                    .await
                    .unwrap_or_else(|e| panic!("reconnecting to the restarted node: {e}"));
            }
            Fault::S3 => {
                let down = Duration::from_millis(rng.gen_range(2000..6000));
                println!(
                    "fault: S3 (Garage) down for {} ms at step {step}",
                    down.as_millis()
                );
                tokio::task::block_in_place(|| self.garage.stop());
                tokio::time::sleep(down).await;
                tokio::task::block_in_place(|| self.garage.restart());
            }
        }
    }

    /// The run's directory (service logs under `logs/`), kept when the run fails.
    fn keep(self) -> PathBuf {
        let Self {
            ctx,
            pg,
            garage,
            services,
            endpoints,
            _smtp,
            dir,
        } = self;
        drop(services);
        drop(endpoints);
        drop((ctx, pg, garage, _smtp));
        dir.keep()
    }
}

/// A fault the drill injects.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `kill -9` of the service at this index, then its restart.
    Kill(usize),
    /// PostgreSQL crashed (`pg_ctl stop -m immediate`), then started on the same data and port.
    Postgres,
    /// The node stopped, then started on the same base path and port.
    Node,
    /// Garage killed for a few seconds, then started on the same directory and ports.
    S3,
}

/// One run with `seed`: its failures (none when it passed).
pub(crate) async fn run(seed: u64) -> Vec<String> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stack = Stack::start().await;
    println!(
        "drill: stack up in {:.0} s: node {}, indexer {}, gateway {}, S3 {}",
        started.elapsed().as_secs_f64(),
        stack.endpoints.node_url,
        stack.endpoints.indexer,
        stack.endpoints.gateway,
        stack.endpoints.s3.endpoint
    );
    let watcher = checks::ChainWatcher::start(
        stack.endpoints.node_url.clone(),
        &stack.endpoints.deployment,
    );
    let setup = workload::Setup::new(&stack.ctx, &stack.endpoints).await;
    let workload = workload::Workload::start(&stack.endpoints, setup, rng.gen());

    // Every fault kind once, in a random order, then a few more drawn at random, each after a
    // random stretch of workload.
    let mut faults: Vec<Fault> = (0..stack.services.len()).map(Fault::Kill).collect();
    faults.extend([Fault::Postgres, Fault::Node, Fault::S3]);
    faults.shuffle(&mut rng);
    let kinds = faults.clone();
    for _ in 0..EXTRA_FAULTS {
        faults.push(*kinds.choose(&mut rng).expect("fault kinds"));
    }
    let mut failures = Vec::new();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for fault in faults {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..4000))).await;
        stack.inject(fault, &mut rng).await;
        failures.extend(stack.exited());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let report = workload.stop().await;
    report.print();

    let catch_up = Instant::now();
    match checks::caught_up(&stack, CATCH_UP).await {
        Ok(head) => println!(
            "check: caught up in {:.1} s: indexer at the chain head {head}, outbox drained: ok",
            catch_up.elapsed().as_secs_f64()
        ),
        Err(e) => {
            println!("check: caught up: FAILED: {e}");
            failures.push(format!(
                "not caught up within {} s: {e}",
                CATCH_UP.as_secs()
            ));
        }
    }
    failures.extend(stack.exited());
    failures.extend(checks::all(&stack, &report, watcher).await);
    println!("drill: run took {:.0} s", started.elapsed().as_secs_f64());
    if !failures.is_empty() {
        let dir = stack.keep();
        println!(
            "drill: the run's service logs are kept in {}/logs",
            dir.display()
        );
    }
    failures
}
