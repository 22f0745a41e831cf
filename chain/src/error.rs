//! Errors of chain access.

/// What can go wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node could not be reached or answered with an error.
    #[error("node: {0}")]
    Subxt(#[from] Box<subxt::Error>),
    /// An RPC request failed.
    #[error("node RPC: {0}")]
    Rpc(#[from] subxt::ext::subxt_rpcs::Error),
    /// A contract bundle could not be read.
    #[error("contract bundle {path}: {reason}")]
    Bundle {
        /// The bundle's path.
        path: String,
        /// Why it could not be used.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The deployment file is malformed.
    #[error("deployment file {path}: {source}")]
    Deployment {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The deployment file has no such contract.
    #[error("the deployment has no contract named {0}")]
    UnknownContract(String),
    /// The dry run or the extrinsic failed with a dispatch error.
    #[error("dispatch failed: {0}")]
    Dispatch(String),
    /// The contract ran and reverted; the data is the SCALE-encoded error it returned.
    #[error("contract reverted with data 0x{}", hex::encode(.0))]
    Reverted(Vec<u8>),
    /// The message returned a value that did not decode as the expected type.
    #[error("could not decode the contract's answer: {0}")]
    Decode(#[from] codec::Error),
    /// The extrinsic was included but no `Instantiated` event names the new contract.
    #[error("instantiation emitted no Instantiated event")]
    NoInstantiatedEvent,
    /// Signing an extrinsic failed (for example a threshold signature could not be made);
    /// nothing was submitted.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl Error {
    /// Whether the connection to the node is gone (a node that restarted closes it for good:
    /// a subxt client does not reconnect), so that a new connection may succeed where this
    /// one cannot. An error the node answered (a refused call, a revert) is not.
    pub fn is_connection_lost(&self) -> bool {
        use subxt::{error::RpcError, ext::subxt_rpcs::Error as RpcsError};
        match self {
            Self::Rpc(e) => !matches!(e, RpcsError::User(_)),
            Self::Subxt(e) => match &**e {
                subxt::Error::Rpc(RpcError::ClientError(RpcsError::User(_))) => false,
                subxt::Error::Rpc(_) | subxt::Error::Io(_) => true,
                _ => false,
            },
            _ => false,
        }
    }
}

impl From<subxt::Error> for Error {
    fn from(e: subxt::Error) -> Self {
        Self::Subxt(Box::new(e))
    }
}

/// The result type of chain access.
pub type Result<T, E = Error> = core::result::Result<T, E>;
