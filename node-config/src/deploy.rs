//! Deployment of the SDV contracts on a chain, in a fixed order.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use sdv_chain::{
    node, subxt::utils::MultiAddress, to_ink_account, CallData, Chain, ContractBundle,
    DeployedContract, Deployment,
};
use sdv_types::governance::RoleAccounts;
use subxt_signer::sr25519::Keypair;

use crate::accounts;

/// The contracts, in deployment order: each one only needs the ones before it.
pub const CONTRACTS: &[&str] = &[
    "validator_governance",
    "document_nft",
    "team_vault",
    "guardian_recovery",
];

/// Balance given to each dev validator and role account so it can pay fees (1,000 units of
/// 10^12).
pub const VALIDATOR_FUNDS: u128 = 1_000 * 1_000_000_000_000;

/// Why a deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A contract bundle is missing.
    #[error(
        "contract bundle {0} not found: build the contracts with `./dev build-contracts` \
         (or `cargo contract build --release` in contracts/<name>), or set SDV_CONTRACTS_DIR"
    )]
    MissingBundle(String),
    /// The chain refused a step.
    #[error("deploying {contract}: {source}")]
    Chain {
        /// The contract being deployed.
        contract: String,
        /// What the chain said.
        source: sdv_chain::Error,
    },
}

/// The build cache `./dev` uses: `SDV_CACHE`, default `$HOME/.cache/sdv`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SDV_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/sdv")
        })
}

/// Where the contract bundles are: `SDV_CONTRACTS_DIR`, or the `ink` folder of the contracts'
/// build directory in [`cache_dir`], which `./dev` uses.
pub fn contracts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SDV_CONTRACTS_DIR") {
        return PathBuf::from(dir);
    }
    cache_dir().join("target-contracts/ink")
}

/// Where the bundles built with the `next-version` feature are (for upgrade tests):
/// `SDV_CONTRACTS_NEXT_DIR`, or beside [`contracts_dir`]'s build directory.
pub fn next_version_contracts_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SDV_CONTRACTS_NEXT_DIR") {
        return PathBuf::from(dir);
    }
    let dir = contracts_dir();
    let build = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    build.with_file_name("target-contracts-next").join("ink")
}

/// The bundle of contract `name` in `dir`.
pub fn bundle_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name).join(format!("{name}.contract"))
}

/// Loads the bundle of contract `name` from `dir`.
pub fn load_bundle(dir: &Path, name: &str) -> Result<ContractBundle, DeployError> {
    let path = bundle_path(dir, name);
    if !path.exists() {
        return Err(DeployError::MissingBundle(path.display().to_string()));
    }
    ContractBundle::load(&path).map_err(|source| DeployError::Chain {
        contract: name.into(),
        source,
    })
}

/// Funds the dev validators, uploads and instantiates every contract in [`CONTRACTS`] order,
/// and returns the deployment.
pub async fn deploy(
    chain: &Chain,
    deployer: &Keypair,
    dir: &Path,
) -> Result<Deployment, DeployError> {
    let fail = |contract: &str| {
        let contract = contract.to_owned();
        move |source| DeployError::Chain { contract, source }
    };
    fund_dev_accounts(chain, deployer)
        .await
        .map_err(fail("validator funding"))?;

    let mut contracts = BTreeMap::new();
    for name in CONTRACTS {
        let bundle = load_bundle(dir, name)?;
        let code_hash = chain
            .upload_code(deployer, &bundle.wasm)
            .await
            .map_err(fail(name))?;
        let data = constructor_input(name, &contracts);
        let instantiated = chain
            .instantiate(deployer, code_hash, data, Vec::new())
            .await
            .map_err(fail(name))?;
        tracing::info!(contract = name, address = %instantiated.address, "deployed");
        contracts.insert(
            name.to_string(),
            DeployedContract {
                address: instantiated.address,
                code_hash,
            },
        );
    }
    wire(chain, deployer, &contracts)
        .await
        .map_err(fail("validator_governance wiring"))?;
    Ok(Deployment {
        genesis_hash: chain.genesis_hash(),
        rpc_url: chain.url().to_owned(),
        contracts,
    })
}

/// The dev validators as the contracts see them.
pub fn validator_accounts() -> Vec<sdv_types::AccountId> {
    accounts::validators()
        .iter()
        .map(|k| to_ink_account(&k.public_key().to_account_id()))
        .collect()
}

/// The dev role accounts ValidatorGovernance is instantiated with.
pub fn dev_roles() -> RoleAccounts {
    let ink = |k: Keypair| Some(to_ink_account(&k.public_key().to_account_id()));
    RoleAccounts {
        storage_attestor: ink(accounts::roles::storage_attestor()),
        retention_executor: ink(accounts::roles::retention_executor()),
        tier_authority: ink(accounts::roles::tier_authority()),
        release_proposers: vec![ink(accounts::roles::fleet_hq()).expect("some")],
    }
}

/// The constructor call of contract `name`, given the contracts deployed before it.
fn constructor_input(name: &str, deployed: &BTreeMap<String, DeployedContract>) -> Vec<u8> {
    let address = |contract: &str| to_ink_account(&deployed[contract].address);
    match name {
        "validator_governance" => CallData::message("new")
            .arg(&validator_accounts())
            .arg(&dev_roles())
            .into_bytes(),
        "document_nft" | "team_vault" | "guardian_recovery" => CallData::message("new")
            .arg(&address("validator_governance"))
            .into_bytes(),
        other => unreachable!("no constructor input for {other}"),
    }
}

/// The deployer's one-time wiring of the other contracts' addresses into governance.
async fn wire(
    chain: &Chain,
    deployer: &Keypair,
    deployed: &BTreeMap<String, DeployedContract>,
) -> sdv_chain::Result<()> {
    let address = |contract: &str| deployed.get(contract).map(|c| to_ink_account(&c.address));
    let data = CallData::message("wire_contracts")
        .arg(&address("document_nft"))
        .arg(&address("team_vault"))
        .arg(&address("guardian_recovery"))
        .into_bytes();
    chain
        .call(deployer, &deployed["validator_governance"].address, data)
        .await?;
    Ok(())
}

async fn fund_dev_accounts(chain: &Chain, funder: &Keypair) -> sdv_chain::Result<()> {
    let calls = accounts::validators()
        .iter()
        .chain(accounts::roles::all().iter())
        .map(|k| {
            node::runtime_types::contracts_node_runtime::RuntimeCall::Balances(
                node::runtime_types::pallet_balances::pallet::Call::transfer_keep_alive {
                    dest: MultiAddress::Id(k.public_key().to_account_id()),
                    value: VALIDATOR_FUNDS,
                },
            )
        })
        .collect();
    chain
        .submit(&node::tx().utility().batch_all(calls), funder)
        .await?;
    Ok(())
}
