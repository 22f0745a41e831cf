//! `sdv-drill`: the fault drill. `./dev drill [--runs N] [--seed S]` runs it.
//!
//! Each run starts a stack of its own on loopback with the system tests' harness (a node with
//! the contracts deployed, a PostgreSQL cluster and a Garage of the run's own, the indexer, the
//! relayers, `sdv-notify` and `sdv-storage`), runs a mixed workload of concurrent clients, and
//! injects faults at random points chosen by a seeded RNG: `kill -9` of each service then its
//! restart as it was started, a PostgreSQL crash and restart, a node restart, and S3 down for a
//! while. Once the workload stops and the services caught up, it checks that the chain, the
//! database and S3 agree (see [`checks`]). Every fault is printed as `fault: <what> at step
//! <n>`, every check as `check: ...`, and the run ends with `drill: passed` or `drill: FAILED:
//! <reasons>` (exit status 1).
//!
//! The seed fixes the faults' order, kinds, delays and the workload's choices; the services'
//! own timing is not under its control, so a seed reproduces the schedule, not every
//! interleaving.

mod checks;
mod stack;
mod workload;

use std::time::{Duration, Instant};

use futures::FutureExt;

/// What the command line asks for.
struct Args {
    runs: u32,
    seed: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        runs: 3,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(1),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--runs" => args.runs = value("--runs") as u32,
            "--seed" => args.seed = value("--seed"),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if args.runs == 0 {
        usage("--runs must be at least 1");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("sdv-drill: {problem}");
    }
    eprintln!("usage: sdv-drill [--runs N (default 3)] [--seed S (default: from the clock)]");
    std::process::exit(2);
}

fn main() {
    sdv_system_tests::reexec_from_deps_dir("sdv-drill");
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(drill(args));
    // Services that outlive a run are killed by their handles' drops inside `drill`; the
    // runtime's shutdown must not wait on workload tasks stuck in a request.
    runtime.shutdown_timeout(Duration::from_secs(5));
    std::process::exit(code);
}

/// Runs the runs one after the other, each on fresh state, stopping at the first failure.
async fn drill(args: Args) -> i32 {
    for run in 0..args.runs {
        let seed = args.seed.wrapping_add(u64::from(run));
        println!(
            "drill: run {}/{} seed {seed} (reproduce with --runs 1 --seed {seed})",
            run + 1,
            args.runs
        );
        let started = Instant::now();
        // A run is a task of its own: a panic in the harness (a service that will not start)
        // becomes this run's failure, and unwinding drops, hence kills, what it started.
        let outcome = tokio::spawn(async move {
            std::panic::AssertUnwindSafe(stack::run(seed))
                .catch_unwind()
                .await
        })
        .await;
        let failures = match outcome {
            Ok(Ok(failures)) => failures,
            Ok(Err(panic)) => vec![format!("panic: {}", panic_message(&panic))],
            Err(e) => vec![format!("the run's task failed: {e}")],
        };
        let secs = started.elapsed().as_secs_f64();
        if failures.is_empty() {
            println!("drill: run {} passed in {secs:.0} s", run + 1);
        } else {
            println!(
                "drill: FAILED: {} (run {} seed {seed}, {secs:.0} s)",
                failures.join("; "),
                run + 1
            );
            return 1;
        }
    }
    println!("drill: passed");
    0
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into())
}
