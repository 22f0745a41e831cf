//! The `sdv` binary as the CLI tests run it: a command with the test's deployment and keystore
//! and none of the CLI's settings inherited from the test process, and the checks every test
//! makes of what it printed.

use std::{
    path::Path,
    process::{Command, Output},
};

use serde_json::Value;
use tempfile::TempDir;

use crate::binary;

/// The settings the CLI reads that a test must not inherit; a test sets the ones it wants.
const INHERITED: &[&str] = &[
    "SDV_KEY",
    "SDV_PASSPHRASE",
    "SDV_PASSPHRASE_FILE",
    "SDV_NODE_URL",
    "SDV_INDEXER_URL",
    "SDV_GATEWAY_URL",
    "SDV_CEREMONY_URL",
    "SDV_KEYS_URL",
    "SDV_UPLOADS_DIR",
    "SDV_UPLOAD_STOP_AFTER_CHUNKS",
    "SDV_RETRY_DELAYS_MS",
    "SDV_PKCS11_MODULE",
    "SDV_PKCS11_PIN",
    "SDV_PKCS11_PIN_FILE",
    "SDV_FLEET_HQ_URL",
    "HQ_ADMIN_API_KEY",
    "HQ_ADMIN_API_KEY_FILE",
    "REGISTRY_URL",
    "DOCKER_HOST",
];

/// `sdv` with `deployment` and `keystore`, and none of the CLI's other settings taken from the
/// test process's environment.
pub fn sdv_command(deployment: &Path, keystore: &Path) -> Command {
    let mut command = Command::new(binary("sdv"));
    for name in INHERITED {
        command.env_remove(name);
    }
    command
        .env("SDV_DEPLOYMENT", deployment)
        .env("SDV_KEYSTORE", keystore);
    command
}

/// A fresh keystore directory of the test's own (removed on drop).
pub fn keystore() -> TempDir {
    tempfile::Builder::new()
        .prefix("sdv-test-keys-")
        .tempdir()
        .expect("a temporary keystore")
}

/// `args` after `--json`, for a command whose output is parsed.
pub fn json_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all
}

/// Asserts that `sdv args` succeeded and returns its stdout.
pub fn stdout_of(out: Output, args: &[&str]) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sdv {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Parses the stdout of `sdv --json args`.
pub fn json_of(stdout: &str, args: &[&str]) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("sdv {args:?}: {e}: {stdout}"))
}

/// Asserts that `sdv args` failed (with exit status `code` when given) and returns its stderr.
fn failure(out: &Output, code: Option<i32>, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match code {
        Some(code) => assert_eq!(out.status.code(), Some(code), "sdv {args:?}: {stderr}"),
        None => {
            assert!(!out.status.success(), "sdv {args:?} succeeded");
            assert_ne!(out.status.code(), Some(0));
        }
    }
    stderr
}

/// Asserts that `sdv args` failed (with exit status `code` when given) with one line on
/// stderr, starting with `error: `, and returns that line.
pub fn error_line(out: Output, code: Option<i32>, args: &[&str]) -> String {
    let stderr = failure(&out, code, args);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "sdv {args:?}: not one line: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_owned()
}

/// Asserts that `sdv args` failed with exit status `code` and that the last stderr line (after
/// any progress lines) starts with `error: `, and returns that line.
pub fn last_error_line(out: Output, code: i32, args: &[&str]) -> String {
    let stderr = failure(&out, Some(code), args);
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("error: "), "{stderr:?}");
    last
}
