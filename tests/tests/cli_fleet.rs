//! `sdv fleet` driven as an operator would: a release made from a rootfs tarball, pushed to a
//! real registry, registered, signed and pinned at `sdv-fleet-hq`, its approval filed on
//! ValidatorGovernance by the fleet HQ account; distribution refused until 7 validators
//! approved it, then reaching both agents' containers; HQ's jobs, deployments and nodes listed.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use sdv_system_tests::{
    cli::{error_line, json_args, json_of, keystore, sdv_command, stdout_of},
    docker::DockerDaemon,
    fleet::{run_app, running_digest, vote, Agent, FleetStack, ADMIN_KEY},
    TestContext,
};
use serde_json::Value;
use tempfile::TempDir;

const IMAGE: &str = "settlement-api";
const PASSPHRASE: &str = "correct horse battery staple";

/// The CLI pointed at the test's deployment, keystore, HQ, registry and Docker engine.
struct Fleet {
    deployment: PathBuf,
    keystore: TempDir,
    hq: String,
    registry: String,
    docker_host: String,
}

impl Fleet {
    fn command(&self, admin_key: Option<&str>, args: &[&str]) -> Output {
        let mut command = sdv_command(&self.deployment, self.keystore.path());
        for name in [
            "HQ_ADMIN_API_KEY",
            "HQ_ADMIN_API_KEY_FILE",
            "SDV_FLEET_HQ_URL",
        ] {
            command.env_remove(name);
        }
        command
            .env("SDV_PASSPHRASE", PASSPHRASE)
            .env("SDV_KEY", "fleet-hq")
            .env("REGISTRY_URL", &self.registry)
            .env("DOCKER_HOST", &self.docker_host)
            .env("SDV_FLEET_HQ_URL", &self.hq)
            .args(args);
        if let Some(key) = admin_key {
            command.env("HQ_ADMIN_API_KEY", key);
        }
        command.output().expect("the sdv binary runs")
    }

    /// `sdv args` with the admin key; asserts success and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        stdout_of(self.command(Some(ADMIN_KEY), args), args)
    }

    /// `sdv --json args` with the admin key, parsed.
    fn json(&self, args: &[&str]) -> Value {
        json_of(&self.ok(&json_args(args)), args)
    }

    /// `sdv args` with `admin_key`; asserts one `error:` line and returns it.
    fn fails(&self, admin_key: Option<&str>, args: &[&str]) -> String {
        error_line(self.command(admin_key, args), None, args)
    }
}

/// A tarball of a busybox rootfs whose `/release` holds `marker`, in `dir`.
fn busybox_rootfs(dir: &Path, marker: &str) -> PathBuf {
    let root = dir.join("rootfs");
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static's /bin/busybox");
    std::fs::copy(busybox, bin.join("busybox")).unwrap();
    for applet in ["sh", "sleep", "cat", "echo"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(root.join("release"), marker).unwrap();
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .stdout(Stdio::null())
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar of the rootfs failed");
    tar
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_made_with_the_cli_is_distributed_only_once_approved() {
    // Given HQ, a registry, and 2 devnet nodes running approved release 1 with their agents.
    let ctx = TestContext::new().await;
    let docker = DockerDaemon::shared();
    let FleetStack {
        deployment,
        registry,
        hq,
        repository,
        first,
        ..
    } = FleetStack::start(&ctx, IMAGE, "release 1").await;
    let run = std::process::id();
    let mut agents = Vec::new();
    for i in 0..2 {
        let node = format!("cli-node-{run}-{i}");
        run_app(
            docker,
            &format!("{repository}@{first}"),
            &node,
            &format!("cli-app-{run}-{i}"),
        );
        agents.push(Agent::start(&hq, docker, &registry, &deployment, &node, "devnet").await);
    }
    hq.wait_for_agents(2).await;

    // And the CLI with the fleet HQ account in its keystore.
    let fleet = Fleet {
        deployment,
        keystore: keystore(),
        hq: hq.url.clone(),
        registry: registry.address.clone(),
        docker_host: docker.host(),
    };
    fleet.ok(&[
        "key",
        "import",
        "--name",
        "fleet-hq",
        "--uri",
        "//sdv//fleet-hq",
    ]);

    // When release 1.1.0 is made from a rootfs tarball.
    let dir = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs(dir.path(), &format!("release 2 of run {run}"));
    let tar = tar.to_str().unwrap();
    let release_args = [
        "fleet",
        "release",
        "--service",
        IMAGE,
        "--tag",
        "1.1.0",
        "--import",
        tar,
        "--change",
        r#"CMD ["/bin/sleep","3600"]"#,
    ];
    let out = fleet.ok(&release_args);

    // Then each step is reported and the approval is filed as release 2.
    for step in [
        "[1/5] build",
        "[2/5] push",
        "[3/5] HQ",
        "[4/5] release number 2",
    ] {
        assert!(out.contains(step), "{step} missing: {out}");
    }
    assert!(out.contains("needs 7 of 20 votes"), "{out}");
    let proposal: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("proposal "))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no proposal id: {out}"));
    let second = out
        .split_whitespace()
        .find_map(|w| w.split_once('@').map(|(_, d)| d.to_owned()))
        .filter(|d| d.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no pushed digest: {out}"));
    assert_ne!(second, first);

    // When it is distributed before the validators approved it, HQ refuses with its reason.
    let distribute = [
        "fleet",
        "distribute",
        "--service",
        IMAGE,
        "--tag",
        "1.1.0",
        "--wait",
    ];
    let refused = fleet.fails(Some(ADMIN_KEY), &distribute);
    assert!(refused.contains("HQ refused to distribute"), "{refused}");
    assert!(refused.contains("has not approved"), "{refused}");
    for i in 0..2 {
        assert_eq!(running_digest(docker, &format!("cli-app-{run}-{i}")), first);
    }

    // When 7 validators approve it and it executes, distribution reaches both nodes.
    vote(&ctx, proposal, 0..7).await;
    let out = fleet.ok(&distribute);
    assert!(out.contains("succeeded"), "{out}");
    for (i, agent) in agents.iter().enumerate() {
        assert_eq!(
            running_digest(docker, &format!("cli-app-{run}-{i}")),
            second,
            "{}",
            agent.node_id
        );
        assert!(out.contains(&agent.node_id), "{out}");
    }

    // Then the jobs, deployments and nodes show it.
    let jobs = fleet.json(&["fleet", "jobs"]);
    let states: Vec<&str> = jobs["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["state"].as_str())
        .collect();
    assert_eq!(states, ["succeeded", "refused"], "{jobs}");
    let table = fleet.ok(&["fleet", "jobs"]);
    assert!(table.starts_with("JOB"), "{table}");
    assert!(table.contains("settlement-api:1.1.0"), "{table}");
    let job_id = jobs["distributions"][0]["job_id"].to_string();
    let job = fleet.ok(&["fleet", "jobs", "--job", &job_id]);
    assert!(job.contains("succeeded"), "{job}");
    let deployments = fleet.json(&["fleet", "deployments"]);
    let ours: Vec<&Value> = deployments["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["digest"] == second.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{deployments}");
    for d in ours {
        assert_eq!(d["running_digest"], second.as_str(), "{d}");
    }
    let table = fleet.ok(&["fleet", "deployments"]);
    assert!(table.contains(&second[..19]), "{table}");
    let nodes = fleet.ok(&["fleet", "nodes"]);
    for agent in &agents {
        assert!(nodes.contains(&agent.node_id), "{nodes}");
    }
    let alerts = fleet.ok(&["fleet", "alerts"]);
    assert!(alerts.contains("refused"), "{alerts}");

    // And HQ named by --hq, with the key from a file, answers the same.
    let key_file = dir.path().join("hq-admin-key");
    std::fs::write(&key_file, format!("{ADMIN_KEY}\n")).unwrap();
    let args = ["fleet", "--hq", &hq.url, "nodes"];
    let mut command = sdv_command(&fleet.deployment, fleet.keystore.path());
    command
        .env_remove("HQ_ADMIN_API_KEY")
        .env_remove("SDV_FLEET_HQ_URL")
        .env("HQ_ADMIN_API_KEY_FILE", &key_file)
        .args(args);
    let listed = stdout_of(command.output().expect("the sdv binary runs"), &args);
    assert!(listed.contains(&agents[0].node_id), "{listed}");

    // And without the admin key each command is one line saying so.
    let missing = fleet.fails(None, &["fleet", "nodes"]);
    assert!(missing.contains("HQ_ADMIN_API_KEY"), "{missing}");
    let wrong = fleet.fails(Some("not-the-key"), &["fleet", "nodes"]);
    assert!(wrong.contains("HQ:"), "{wrong}");
    for i in 0..2 {
        docker.must(&["rm", "-f", &format!("cli-app-{run}-{i}")]);
    }
}
