//! A real Docker engine and registry for the fleet tests, on loopback and in temporary
//! directories: Debian's `dockerd` (20.10, API 1.41) on a socket of its own, with no bridge and
//! no iptables rules (containers run with `--network none`, the agent with the host's), and
//! Debian's `docker-registry` (2.8) on a free loopback port. Images are made here with
//! `docker import` of a small rootfs (`busybox-static`); nothing is pulled from the internet.
//!
//! Each has a watchdog, as Garage's: a `sh` reading a pipe from the test binary, which stops
//! the server (SIGTERM, then SIGKILL) and removes its directory when the test binary exits.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::smtp::free_port;

/// How long a server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A server and the watchdog that stops it when the test binary exits.
struct Watched {
    server: Child,
    watchdog: Child,
}

fn watch(server: Child, dir: &Path) -> Watched {
    let watchdog = Command::new("sh")
        .args([
            "-c",
            "read _; kill -TERM \"$1\" 2>/dev/null; i=0; \
             while kill -0 \"$1\" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.5; i=$((i+1)); done; \
             kill -KILL \"$1\" 2>/dev/null; rm -rf \"$2\" 2>/dev/null",
            "sdv-docker-watchdog",
        ])
        .arg(server.id().to_string())
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting a watchdog: {e}"));
    Watched { server, watchdog }
}

fn require(binary: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(binary).is_file();
    assert!(
        found,
        "{binary} is not installed: run ./dev test, which installs Debian's {package}"
    );
}

/// A Docker engine of the test binary's own.
pub struct DockerDaemon {
    dir: PathBuf,
    _keep: TempDir,
    _server: Watched,
}

impl DockerDaemon {
    /// The test binary's engine, started on first use.
    pub fn shared() -> &'static DockerDaemon {
        static SHARED: OnceLock<DockerDaemon> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    fn start() -> Self {
        require("dockerd", "docker.io");
        let keep = tempfile::Builder::new()
            .prefix("sdv-test-docker-")
            .tempdir()
            .expect("a temporary directory for dockerd");
        let dir = keep.path().to_owned();
        let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd's log");
        let dockerd = if Path::new("/usr/sbin/dockerd").exists() {
            PathBuf::from("/usr/sbin/dockerd")
        } else {
            PathBuf::from("dockerd")
        };
        let server = Command::new(dockerd)
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd's log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting dockerd: {e}"));
        let mut daemon = Self {
            _server: watch(server, &dir),
            dir,
            _keep: keep,
        };
        let start = Instant::now();
        while !daemon.docker(&["version"]).status.success() {
            if let Some(status) = daemon._server.server.try_wait().expect("dockerd's status") {
                panic!("dockerd exited ({status}): {}", daemon.log_tail());
            }
            assert!(
                start.elapsed() < START_TIMEOUT,
                "dockerd did not answer in {START_TIMEOUT:?}: {}",
                daemon.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        daemon
    }

    /// Its socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// `unix://<socket>`, as `DOCKER_HOST` takes it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        log.lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs the `docker` client against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running docker {args:?}: {e}"))
    }

    /// [`DockerDaemon::docker`], asserting success; returns stdout.
    pub fn must(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes an image from a rootfs of busybox and a file `/release` holding `marker` (so
    /// that each marker gives another digest), tags it `reference`, pushes it, and returns the
    /// manifest digest (`sha256:<hex>`) the registry answers for it.
    pub fn make_image(&self, reference: &str, marker: &str) -> String {
        require("busybox", "busybox-static");
        let rootfs = tempfile::tempdir().expect("a rootfs directory");
        let bin = rootfs.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static's /bin/busybox");
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        for applet in ["sh", "sleep", "cat", "echo"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        std::fs::write(rootfs.path().join("release"), marker).unwrap();
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs.path())
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar runs");
        let import = Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args([
                "import",
                "--change",
                r#"CMD ["/bin/sleep","3600"]"#,
                "-",
                reference,
            ])
            .stdin(tar.stdout.take().expect("tar's output"))
            .output()
            .expect("docker import runs");
        assert!(
            tar.wait().expect("tar's status").success(),
            "tar of the rootfs failed"
        );
        assert!(
            import.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&import.stderr)
        );
        let pushed = self.must(&["push", reference]);
        pushed
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no digest in docker push's output: {pushed}"))
    }
}

/// A Docker registry (v2) of the test's own on a free loopback port.
pub struct Registry {
    /// `127.0.0.1:<port>`, as image references name it.
    pub address: String,
    dir: TempDir,
    watched: Option<Watched>,
}

impl Registry {
    /// Starts `docker-registry` with a filesystem store in a temporary directory.
    pub fn start() -> Self {
        require("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-registry-")
            .tempdir()
            .expect("a temporary directory for the registry");
        let address = format!("127.0.0.1:{}", free_port());
        std::fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut registry = Self {
            address,
            dir,
            watched: None,
        };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .expect("the registry's log");
        let server = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting docker-registry: {e}"));
        self.watched = Some(watch(server, self.dir.path()));
        let start = Instant::now();
        while std::net::TcpStream::connect(&self.address).is_err() {
            assert!(
                start.elapsed() < START_TIMEOUT,
                "the registry did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills it (as a crash would); pulls then fail.
    pub fn stop(&mut self) {
        if let Some(mut w) = self.watched.take() {
            let _ = w.watchdog.kill();
            let _ = w.watchdog.wait();
            let _ = w.server.kill();
            let _ = w.server.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
