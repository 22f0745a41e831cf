//! How the local SDV chain starts.
//!
//! - [`node`]: the `substrate-contracts-node` process, its flags (everything on loopback,
//!   nothing announced), the RPC port read from its output, and restarts with the clock moved
//!   ahead by Debian's `datefudge` for timelock tests.
//! - [`accounts`]: the dev accounts and the 20 dev validators, derived from fixed seeds.
//! - [`deploy`]: the contracts in their fixed order, wired once, and the deployment file.

pub mod accounts;
pub mod deploy;
pub mod node;

pub use deploy::{cache_dir, contracts_dir, deploy, DeployError, CONTRACTS};
pub use node::{NodeError, NodeOptions, NodeProcess};
