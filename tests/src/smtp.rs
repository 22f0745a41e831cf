//! A real SMTP server for the tests: aiosmtpd on a free loopback port, storing every mail it
//! accepts in a Maildir that the test reads.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// `python3 -m aiosmtpd` with the Maildir handler, killed on drop.
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl SmtpServer {
    /// Starts the server on a free loopback port and waits until it accepts connections.
    /// Panics when python3 or aiosmtpd is missing (the tests never skip).
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts the server on `port` (one a test chose before, to start the server late).
    pub fn start_on(port: u16) -> Self {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd.handlers, aiosmtpd.main"])
            .output()
            .unwrap_or_else(|e| panic!("python3 is required for the SMTP tests: {e}"));
        assert!(
            probe.status.success(),
            "aiosmtpd is required for the SMTP tests (apt-get install python3-aiosmtpd, or \
             pip install aiosmtpd): {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let dir = tempfile::Builder::new()
            .prefix("sdv-test-smtp-")
            .tempdir()
            .expect("a temporary directory");
        let log = std::fs::File::create(dir.path().join("aiosmtpd.log")).expect("a log file");
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 -m aiosmtpd: {e}"));
        let mut server = Self { child, port, dir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("aiosmtpd's status") {
                panic!("aiosmtpd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {} within 15 s: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw RFC 822 text of every mail delivered so far, oldest first. aiosmtpd adds the
    /// envelope as `X-MailFrom` and `X-RcptTo` headers.
    pub fn messages(&self) -> Vec<String> {
        let maildir = self.dir.path().join("maildir");
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| {
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }

    /// Waits until at least `n` mails arrived; returns them all. Panics after `timeout`.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} mails arrived within {timeout:?}; aiosmtpd's log: {}",
                messages.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
