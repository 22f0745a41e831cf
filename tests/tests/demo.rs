//! `sdv demo` on a local stack of its own: `./dev up --detach` in a state directory of the
//! test's own (`SDV_DEV_STATE`), the demo run against it, its exit status and the lines that
//! carry its results checked (the NFT's owner, the veto, the recovered wallet, the 3 agents on
//! the new digest), and `./dev down` run whatever happens.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Instant,
};

use sdv_system_tests::cli::{keystore, sdv_command};
use tempfile::TempDir;

/// The repository's root, where `./dev` lives.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

/// The end of a text, for failure messages.
fn tail(text: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A stack started by `./dev up --detach` in a temporary state directory; dropping it runs
/// `./dev down` on the same state.
struct Stack {
    state: TempDir,
}

impl Stack {
    /// Starts the stack, or fails the test with the end of what `./dev up` printed.
    fn up() -> Self {
        let state = tempfile::Builder::new()
            .prefix("sdv-test-demo-")
            .tempdir()
            .expect("a temporary state directory");
        // The guard exists before `up`, so a stack that half started is stopped too.
        let stack = Self { state };
        let out = stack.dev(&["up", "--detach"]);
        assert!(
            out.status.success(),
            "./dev up --detach failed ({}):\n{}\n{}",
            out.status,
            tail(&out.stdout, 40),
            tail(&out.stderr, 40)
        );
        assert!(
            stack.deployment().exists(),
            "./dev up wrote no deployment file"
        );
        stack
    }

    /// `./dev ARGS` with this stack's state directory.
    fn dev(&self, args: &[&str]) -> Output {
        Command::new(root().join("dev"))
            .args(args)
            .current_dir(root())
            .env("SDV_DEV_STATE", self.state.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running ./dev {args:?}: {e}"))
    }

    fn deployment(&self) -> PathBuf {
        self.state.path().join("deployment.json")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.dev(&["down"]);
        if !out.status.success() {
            eprintln!(
                "./dev down failed ({}):\n{}",
                out.status,
                tail(&out.stderr, 20)
            );
        }
    }
}

/// The whole demo on a fresh stack: every step succeeds and prints its results.
#[test]
fn the_demo_walks_through_the_product_on_a_fresh_stack() {
    let started = Instant::now();
    let stack = Stack::up();
    eprintln!("stack up in {} s", started.elapsed().as_secs());

    // When the demo runs against it (its keys live in the state directory, not here).
    let unused = keystore();
    let demo = Instant::now();
    let out = sdv_command(&stack.deployment(), unused.path())
        .arg("demo")
        .stdin(Stdio::null())
        .output()
        .expect("the sdv binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("demo ran in {} s", demo.elapsed().as_secs());

    // Then it succeeded through all five steps.
    assert!(
        out.status.success(),
        "sdv demo failed ({}): {}\n--- output ---\n{}",
        out.status,
        tail(&out.stderr, 5),
        tail(stdout.as_bytes(), 80)
    );
    for step in 1..=5 {
        assert!(
            stdout.contains(&format!("=== Step {step}/5: ")),
            "step {step} missing:\n{stdout}"
        );
    }
    // Each command is printed before it runs, and the upload shows its progress.
    assert!(stdout.contains("$ sdv --key me doc upload "), "{stdout}");
    assert!(stdout.contains("100% "), "no upload progress:\n{stdout}");

    // The NFT belongs to the new wallet, as the contract says.
    let wallet = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("[check] wallet me: "))
        .unwrap_or_else(|| panic!("no wallet line:\n{stdout}"))
        .to_owned();
    assert!(
        stdout.contains(&format!(") = {wallet} (me)")),
        "no NFT owner line for {wallet}:\n{stdout}"
    );

    // The vault's operation was vetoed with its reason, and resubmitted.
    assert!(stdout.contains("event OperationVetoed"), "{stdout}");
    assert!(
        stdout.contains("vetoed (\"newcomer has not finished onboarding\"), resubmitted"),
        "{stdout}"
    );

    // The recovery finalized after the clock moved, and the document moved with it.
    assert!(stdout.contains("TimelockActive"), "{stdout}");
    assert!(stdout.contains("clock ahead "), "{stdout}");
    let recovered = stdout
        .lines()
        .find_map(|l| l.strip_prefix("recovered wallet: "))
        .unwrap_or_else(|| panic!("no recovered wallet line:\n{stdout}"));
    assert!(!recovered.contains(&wallet), "{recovered}");
    assert!(recovered.ends_with("(me-new)"), "{recovered}");

    // The release runs on the 3 agents' nodes, all on one new digest.
    let digests: Vec<&str> = ["validator-1", "validator-2", "validator-3"]
        .iter()
        .map(|node| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("agent {node}: running ")))
                .and_then(|rest| rest.rsplit(" at ").next())
                .unwrap_or_else(|| panic!("{node} not on the new release:\n{stdout}"))
        })
        .collect();
    assert!(digests[0].starts_with("sha256:"), "{digests:?}");
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    assert!(stdout.contains("demo complete"), "{stdout}");
    eprintln!("demo test done in {} s", started.elapsed().as_secs());
}
