//! A node that cannot start says why, and never hangs.

use std::net::TcpListener;

use sdv_node_config::{NodeError, NodeOptions, NodeProcess};

#[tokio::test]
async fn missing_node_binary_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(dir.path().join("chain"));
    options.binary = dir.path().join("no-such-node");
    let err = NodeProcess::start(options).await.unwrap_err();
    assert!(matches!(err, NodeError::NotInstalled(_)), "{err}");
    assert!(
        err.to_string()
            .contains("cargo install contracts-node --version 0.42.0 --locked"),
        "{err}"
    );
}

#[tokio::test]
async fn rpc_port_in_use_is_refused_not_silently_replaced() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(dir.path().join("chain"));
    options.rpc_port = taken.local_addr().unwrap().port();
    let err = NodeProcess::start(options).await.unwrap_err();
    assert!(
        matches!(err, NodeError::PortInUse(p) if p == options_port(&taken)),
        "{err}"
    );
    assert!(
        err.to_string().contains("is in use by another process"),
        "{err}"
    );
}

fn options_port(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}
