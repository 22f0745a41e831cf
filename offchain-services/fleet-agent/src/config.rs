//! Configuration, from the environment.
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `PORT` | 8055 | the API's port |
//! | `BIND_ADDR` | `127.0.0.1` | the address it listens on (`0.0.0.0` on a validator, behind its firewall) |
//! | `NODE_ID` | `node-primary` | this validator's name at HQ; containers of the node carry the label `sdv.node=<NODE_ID>` |
//! | `JILHQ_URL` | `http://127.0.0.1:8054` | HQ (registration, heartbeats, deployment reports) |
//! | `JILHQ_SHARED_SECRET` (or `_FILE`) | (required) | the HMAC secret shared with HQ (HQ's current signing key) |
//! | `SIGNING_KEY_ID` | `sdv-hq-signing-key-01` | that key's id |
//! | `SIGNING_SECRET_PREVIOUS` (or `_FILE`), `SIGNING_KEY_ID_PREVIOUS` | unset | the previous key, still accepted during a rotation |
//! | `REGISTRY_URL` | `127.0.0.1:5000` | the registry images are pulled from (host:port, plain HTTP) |
//! | `EXTERNAL_IP` | `127.0.0.1` | this node's address as HQ reaches it |
//! | `AGENT_URL` | `http://EXTERNAL_IP:PORT` | the URL registered at HQ |
//! | `DOCKER_HOST` | `unix:///var/run/docker.sock` | the Docker Engine's socket |
//! | `SDV_AGENT_ALLOWED_SOURCES` | `127.0.0.1` | comma-separated addresses allowed to call `POST /v1/pull` |
//! | `SDV_AGENT_TRACK` | `devnet` | the governance track this node follows (`devnet`, `testnet`, `mainnet`) |
//! | `SDV_AGENT_IDENTITY_FILE` | `./sdv-agent-identity.hex` | the Ed25519 identity seed (hex), made with mode 600 when missing |
//! | `SDV_DEPLOYMENT` | (required) | the deployment file (ValidatorGovernance's address, the node's RPC) |
//! | `SDV_NODE_URL` | the deployment's | the chain node's RPC endpoint |
//! | `SDV_AGENT_HEARTBEAT_MS` | 60000 | how often the containers are reported to HQ |
//! | `SDV_AGENT_MAX_MANIFEST_BYTES` | 65536 | the largest manifest the agent reads |

use std::{
    io::Write,
    net::{IpAddr, SocketAddr},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use sdv_config::{env_or, env_parse, Secret};
use sdv_fleet::{IdentityKey, KeyRing, SigningKey};
use sdv_types::governance::Track;

use crate::{Error, Result};

/// The HMAC key id HQ signs with unless configured otherwise.
pub const DEFAULT_KEY_ID: &str = "sdv-hq-signing-key-01";
/// Where the identity seed is kept unless `SDV_AGENT_IDENTITY_FILE` says otherwise.
pub const DEFAULT_IDENTITY_FILE: &str = "./sdv-agent-identity.hex";

/// What the agent needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// This validator's name at HQ and in the `sdv.node` label.
    pub node_id: String,
    /// HQ, without a trailing slash.
    pub hq_url: String,
    /// The keys pull commands are verified with; the current one signs requests to HQ.
    pub keys: KeyRing,
    /// The node's identity key (Ed25519).
    pub identity: Arc<IdentityKey>,
    /// The registry, `host:port`.
    pub registry: String,
    /// The URL HQ reaches the agent at.
    pub agent_url: String,
    /// The Docker Engine's unix socket path.
    pub docker_socket: PathBuf,
    /// Addresses allowed to send pull commands.
    pub allowed_sources: Vec<IpAddr>,
    /// The governance track this node follows.
    pub track: Track,
    /// The chain node's RPC endpoint.
    pub node_url: String,
    /// The deployment file.
    pub deployment: PathBuf,
    /// How often the containers are reported to HQ.
    pub heartbeat: Duration,
    /// How long after start the agent first registers.
    pub register_delay: Duration,
    /// How often it registers again.
    pub register_interval: Duration,
    /// The largest manifest read from the registry, in bytes.
    pub max_manifest_bytes: usize,
}

impl Config {
    /// A configuration with the loopback defaults, for `node_id`, HQ at `hq_url`, the
    /// registry at `registry` (`host:port`) and Docker at `docker_socket`; tests and tools
    /// adjust the public fields.
    pub fn new(
        node_id: impl Into<String>,
        hq_url: &str,
        keys: KeyRing,
        identity: IdentityKey,
        registry: impl Into<String>,
        docker_socket: impl Into<PathBuf>,
    ) -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 8055));
        Self {
            listen,
            node_id: node_id.into(),
            hq_url: hq_url.trim_end_matches('/').to_owned(),
            keys,
            identity: Arc::new(identity),
            registry: registry.into(),
            agent_url: format!("http://{listen}"),
            docker_socket: docker_socket.into(),
            allowed_sources: vec![IpAddr::from([127, 0, 0, 1])],
            track: Track::Devnet,
            node_url: "ws://127.0.0.1:9944".into(),
            deployment: PathBuf::new(),
            heartbeat: Duration::from_secs(60),
            register_delay: Duration::from_secs(3),
            register_interval: Duration::from_secs(300),
            max_manifest_bytes: 65_536,
        }
    }

    /// Reads the configuration from the environment; makes the identity file when missing.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a missing or malformed setting, [`Error::Fleet`] for a key that
    /// is too short, [`Error::Io`] when the identity file cannot be read or made.
    pub fn from_env() -> Result<Self> {
        let port: u16 = env_parse("PORT", 8055)?;
        let bind: IpAddr = parse("BIND_ADDR", &env_or("BIND_ADDR", "127.0.0.1"))?;
        let external_ip = env_or("EXTERNAL_IP", "127.0.0.1");
        let mut keys = vec![SigningKey::new(
            env_or("SIGNING_KEY_ID", DEFAULT_KEY_ID),
            Secret::require("JILHQ_SHARED_SECRET")?,
        )?];
        if let Some(previous) = Secret::from_env("SIGNING_SECRET_PREVIOUS")? {
            let id = std::env::var("SIGNING_KEY_ID_PREVIOUS").map_err(|_| {
                invalid(
                    "SIGNING_KEY_ID_PREVIOUS",
                    "must name the previous key when SIGNING_SECRET_PREVIOUS is set",
                )
            })?;
            keys.push(SigningKey::new(id, previous)?);
        }
        let deployment = std::env::var_os("SDV_DEPLOYMENT")
            .map(PathBuf::from)
            .ok_or_else(|| sdv_config::Error::Missing("SDV_DEPLOYMENT".into()))?;
        let node_url = match std::env::var("SDV_NODE_URL") {
            Ok(url) => url,
            Err(_) => sdv_chain::Deployment::load(&deployment)?.rpc_url,
        };
        let identity_file = PathBuf::from(env_or("SDV_AGENT_IDENTITY_FILE", DEFAULT_IDENTITY_FILE));
        let heartbeat_ms: u64 = env_parse("SDV_AGENT_HEARTBEAT_MS", 60_000)?;
        Ok(Self {
            listen: SocketAddr::new(bind, port),
            node_id: env_or("NODE_ID", "node-primary"),
            hq_url: env_or("JILHQ_URL", "http://127.0.0.1:8054")
                .trim_end_matches('/')
                .to_owned(),
            keys: KeyRing::new(keys)?,
            identity: Arc::new(load_identity(&identity_file)?),
            registry: env_or("REGISTRY_URL", "127.0.0.1:5000")
                .trim_end_matches('/')
                .to_owned(),
            agent_url: std::env::var("AGENT_URL")
                .unwrap_or_else(|_| format!("http://{external_ip}:{port}")),
            docker_socket: docker_socket(&env_or("DOCKER_HOST", "unix:///var/run/docker.sock"))?,
            allowed_sources: allowed_sources(&env_or("SDV_AGENT_ALLOWED_SOURCES", "127.0.0.1"))?,
            track: parse_track(&env_or("SDV_AGENT_TRACK", "devnet"))
                .ok_or_else(|| invalid("SDV_AGENT_TRACK", "must be devnet, testnet or mainnet"))?,
            node_url,
            deployment,
            heartbeat: Duration::from_millis(heartbeat_ms.max(1000)),
            register_delay: Duration::from_secs(3),
            register_interval: Duration::from_secs(300),
            max_manifest_bytes: env_parse("SDV_AGENT_MAX_MANIFEST_BYTES", 65_536)?,
        })
    }
}

fn invalid(name: &str, reason: &str) -> Error {
    Error::Config(sdv_config::Error::Invalid {
        name: name.into(),
        reason: reason.into(),
    })
}

fn parse<T: std::str::FromStr>(name: &str, text: &str) -> Result<T> {
    text.trim()
        .parse()
        .map_err(|_| invalid(name, &format!("{text:?} is malformed")))
}

/// The addresses of a comma-separated list (`SDV_AGENT_ALLOWED_SOURCES`).
///
/// # Errors
///
/// [`Error::Config`] for an entry that is not an IP address, or an empty list.
pub fn allowed_sources(text: &str) -> Result<Vec<IpAddr>> {
    let sources = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse("SDV_AGENT_ALLOWED_SOURCES", s))
        .collect::<Result<Vec<IpAddr>>>()?;
    if sources.is_empty() {
        return Err(invalid(
            "SDV_AGENT_ALLOWED_SOURCES",
            "names no address: nobody could send a pull command",
        ));
    }
    Ok(sources)
}

/// The socket path of `DOCKER_HOST` (`unix:///path` or a plain path).
///
/// # Errors
///
/// [`Error::Config`] for another scheme (the agent speaks to the local Engine only).
pub fn docker_socket(text: &str) -> Result<PathBuf> {
    if let Some(path) = text.strip_prefix("unix://") {
        return Ok(PathBuf::from(path));
    }
    if text.starts_with('/') {
        return Ok(PathBuf::from(text));
    }
    Err(invalid(
        "DOCKER_HOST",
        "must be a unix socket (unix:///var/run/docker.sock)",
    ))
}

/// The track named `devnet`, `testnet` or `mainnet`.
pub fn parse_track(text: &str) -> Option<Track> {
    match text {
        "devnet" => Some(Track::Devnet),
        "testnet" => Some(Track::Testnet),
        "mainnet" => Some(Track::Mainnet),
        _ => None,
    }
}

/// The name of a track, as pull commands and HQ write it.
pub fn track_name(track: Track) -> &'static str {
    match track {
        Track::Devnet => "devnet",
        Track::Testnet => "testnet",
        Track::Mainnet => "mainnet",
    }
}

/// Reads the identity seed (64 hex digits) from `path`, or makes a new one there (mode 600,
/// never overwriting a file).
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read or made, [`Error::Identity`] when it holds no
/// seed.
pub fn load_identity(path: &Path) -> Result<IdentityKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| Error::Identity(path.to_owned()))?;
            Ok(IdentityKey::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = IdentityKey::generate();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(hex::encode(key.seed()).as_bytes())?;
            file.sync_all()?;
            tracing::info!(file = %path.display(), "made a new identity key");
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_identity_is_made_once_with_mode_600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.hex");
        let made = load_identity(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            load_identity(&path).unwrap().public_key(),
            made.public_key()
        );
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(load_identity(&path), Err(Error::Identity(_))));
    }

    #[test]
    fn settings_are_parsed_strictly() {
        assert_eq!(
            allowed_sources("127.0.0.1, 10.0.0.7").unwrap(),
            vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from([10, 0, 0, 7])]
        );
        assert!(allowed_sources("127.0.0.1,example.org").is_err());
        assert!(allowed_sources(" , ").is_err());
        assert_eq!(
            docker_socket("unix:///tmp/d.sock").unwrap(),
            PathBuf::from("/tmp/d.sock")
        );
        assert!(docker_socket("tcp://10.0.0.1:2375").is_err());
        assert_eq!(parse_track("testnet"), Some(Track::Testnet));
        assert_eq!(parse_track("prod"), None);
        for track in [Track::Devnet, Track::Testnet, Track::Mainnet] {
            assert_eq!(parse_track(track_name(track)), Some(track));
        }
    }
}
