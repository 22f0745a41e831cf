//! The fleet tests' Docker engine and registry work as the agent needs them: images made
//! locally get distinct, reproducible-by-content digests in the registry, containers run
//! without a network, and a stopped registry makes pulls fail.

use sdv_system_tests::docker::{DockerDaemon, Registry};

#[test]
fn images_made_here_are_pushed_pulled_by_digest_and_run_offline() {
    let docker = DockerDaemon::shared();
    let mut registry = Registry::start();
    let reference = format!("{}/app:1", registry.address);
    let first = docker.make_image(&reference, "release 1");
    let second = docker.make_image(&format!("{}/app:2", registry.address), "release 2");
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
    assert_ne!(first, second, "another content, another digest");

    // Pulled by digest, the image's repo digests name it.
    let by_digest = format!("{}/app@{first}", registry.address);
    docker.must(&["rmi", "-f", &reference]);
    docker.must(&["pull", &by_digest]);
    let digests = docker.must(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &by_digest,
    ]);
    assert!(digests.contains(&first), "{digests}");

    // A container runs it with no network at all.
    let name = format!("engine-test-{}", std::process::id());
    docker.must(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &name,
        &by_digest,
    ]);
    let release = docker.must(&["exec", &name, "cat", "/release"]);
    assert_eq!(release, "release 1");
    docker.must(&["rm", "-f", &name]);

    // With the registry down, a pull fails.
    registry.stop();
    let failed = docker.docker(&["pull", &format!("{}/app:2", registry.address)]);
    assert!(!failed.status.success());
    registry.restart();
    docker.must(&["pull", &format!("{}/app:2", registry.address)]);
}
