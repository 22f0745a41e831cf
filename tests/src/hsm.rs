//! SoftHSM2 tokens, as the HSM tests use them.
//!
//! One SoftHSM2 configuration per test process ([`SoftHsm::shared`]): a temporary token
//! directory with a `softhsm2.conf` (file object store, errors-only log), named by
//! `SOFTHSM2_CONF`. The variable is process-wide and read at `C_Initialize`, and the tests of
//! one binary run in parallel threads of one process, so they share it: it is set once, before
//! any test loads the module.
//!
//! SoftHSM 2.6 reads its token directory only at `C_Initialize`: a token made later by
//! `softhsm2-util` is not seen by the process. So the shared configuration is made with
//! [`TOKENS`] tokens at once (`softhsm2-util --init-token --free`, each with a unique label
//! and its own PINs), before any `C_Initialize`, and each [`SoftHsm::new`] hands out the next
//! unused one. Tokens are found by label, since their slot ids are random.
//!
//! `softhsm2-util` and the module come from Debian's `softhsm2`, which `./dev test`
//! installs; without them the tests fail saying so.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
};

/// How many tokens a test process can have.
pub const TOKENS: u32 = 32;

/// Debian's SoftHSM2 PKCS#11 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The process's SoftHSM2 configuration: a token directory and the `softhsm2.conf` naming it.
pub struct SoftHsmDir {
    dir: PathBuf,
    conf: PathBuf,
}

impl SoftHsmDir {
    /// The `softhsm2.conf` (what `SOFTHSM2_CONF` names).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The token directory.
    pub fn tokendir(&self) -> PathBuf {
        self.dir.join("tokens")
    }
}

/// A fresh SoftHSM2 token of one test, initialized with a user PIN and an SO PIN.
pub struct SoftHsm {
    label: String,
    pin: String,
    so_pin: String,
}

impl SoftHsm {
    /// The process's configuration with its [`TOKENS`] tokens, made (and `SOFTHSM2_CONF`
    /// set) on first use. The directory is removed when the process exits.
    pub fn shared() -> &'static SoftHsmDir {
        static SHARED: OnceLock<SoftHsmDir> = OnceLock::new();
        SHARED.get_or_init(|| {
            assert!(
                Path::new(MODULE).exists() && which("softhsm2-util"),
                "SoftHSM2 is not installed ({MODULE}, softhsm2-util): run ./dev test, which \
                 installs Debian's softhsm2"
            );
            let dir = tempfile::Builder::new()
                .prefix("sdv-test-softhsm-")
                .tempdir()
                .expect("a temporary directory")
                .keep();
            let shared = SoftHsmDir {
                conf: dir.join("softhsm2.conf"),
                dir,
            };
            std::fs::create_dir(shared.tokendir()).expect("creating the token directory");
            std::fs::write(
                &shared.conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                     slots.removable = false\n",
                    shared.tokendir().display()
                ),
            )
            .expect("writing softhsm2.conf");
            for n in 0..TOKENS {
                Self::numbered(n).init(&shared.conf);
            }
            // Before any C_Initialize of this process: every test gets here first.
            std::env::set_var("SOFTHSM2_CONF", &shared.conf);
            remove_at_exit(&shared.dir);
            shared
        })
    }

    /// A fresh token of the [`SoftHsm::shared`] configuration, for one test.
    ///
    /// # Panics
    ///
    /// When all [`TOKENS`] are handed out.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        Self::shared();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < TOKENS,
            "all {TOKENS} SoftHSM test tokens are in use: raise TOKENS"
        );
        Self::numbered(n)
    }

    fn numbered(n: u32) -> Self {
        Self {
            // Token labels are at most 32 bytes.
            label: format!("sdv-test-{}-{n}", std::process::id()),
            pin: format!("user-pin-{n}"),
            so_pin: format!("so-pin-{n}"),
        }
    }

    /// `softhsm2-util --init-token` of this token in the free slot.
    fn init(&self, conf: &Path) {
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", conf)
            .args(["--init-token", "--free", "--label", &self.label])
            .args(["--pin", &self.pin, "--so-pin", &self.so_pin])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "running softhsm2-util: {e} (run ./dev test, which installs Debian's softhsm2)"
                )
            });
        assert!(
            output.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The PKCS#11 module.
    pub fn module(&self) -> PathBuf {
        PathBuf::from(MODULE)
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The user PIN.
    pub fn pin(&self) -> &str {
        &self.pin
    }

    /// The security officer's PIN.
    pub fn so_pin(&self) -> &str {
        &self.so_pin
    }

    /// The `softhsm2.conf` in use.
    pub fn conf(&self) -> &Path {
        Self::shared().conf()
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Removes `dir` when the process exits (statics are never dropped).
fn remove_at_exit(dir: &Path) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if DIR.set(dir.to_owned()).is_ok() {
        // SAFETY: `remove` is an `extern "C" fn()` that does not unwind.
        unsafe { libc::atexit(remove) };
    }
}
