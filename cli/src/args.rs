//! The command line: global options and one subcommand per user action.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sdv_types::{
    document::{DocumentClass, RetentionOption},
    governance::{ContractRole, Role, Tier, Track},
};

#[derive(Parser)]
#[command(
    name = "sdv",
    version,
    about = "Sovereign Document Vault: wallet and validator CLI",
    after_help = "Accounts are SS58 addresses, 0x + 64 hex digits, or key names of the keystore.\n\
                  The passphrase comes from SDV_PASSPHRASE, SDV_PASSPHRASE_FILE or a prompt."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand takes.
#[derive(Args)]
pub(crate) struct Global {
    /// The deployment file written by `./dev up` (RPC URL and contract addresses).
    #[arg(
        long,
        env = "SDV_DEPLOYMENT",
        default_value = ".dev-state/deployment.json",
        global = true
    )]
    pub(crate) deployment: PathBuf,
    /// The node's WebSocket URL (default: the deployment file's).
    #[arg(long = "node", env = "SDV_NODE_URL", global = true)]
    pub(crate) node: Option<String>,
    /// The indexer API's base URL (default: `indexer.url` next to the deployment file).
    #[arg(long = "indexer", env = "SDV_INDEXER_URL", global = true)]
    pub(crate) indexer: Option<String>,
    /// The storage gateway's base URL (default: `gateway.url` next to the deployment file,
    /// else `http://127.0.0.1:9015`).
    #[arg(long = "gateway", env = "SDV_GATEWAY_URL", global = true)]
    pub(crate) gateway: Option<String>,
    /// The keystore directory (default: `$XDG_CONFIG_HOME/sdv/keys`).
    #[arg(long, env = "SDV_KEYSTORE", global = true)]
    pub(crate) keystore: Option<PathBuf>,
    /// The key that signs writes.
    #[arg(long, env = "SDV_KEY", global = true)]
    pub(crate) key: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) cosigner: crate::mpc::CosignerArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Show the deployment: chain, endpoint, contract addresses.
    Deployment,
    /// Key management: generate, import, list, publish the encryption key.
    #[command(subcommand)]
    Key(Key),
    /// ValidatorGovernance: proposals, votes, contests.
    #[command(subcommand)]
    Gov(Gov),
    /// DocumentNFT: your documents, retention, transfers.
    #[command(subcommand)]
    Doc(Doc),
    /// TeamVault: multi-admin vaults.
    #[command(subcommand)]
    Vault(Vault),
    /// GuardianRecovery: guardians and wallet recovery.
    #[command(subcommand)]
    Guardians(Guardians),
    /// MPC wallets: a 2-of-3 key among this device, a backup and the custodian.
    #[command(subcommand)]
    Mpc(crate::mpc::Mpc),
    /// Validator fleet: release, approve and distribute container images through fleet HQ.
    Fleet(crate::fleet::Fleet),
    /// A guided walk through the product on the local stack (`./dev up`): a wallet, a
    /// document, a team vault veto, a guardian recovery and a fleet release.
    Demo(crate::demo::DemoArgs),
}

#[derive(Subcommand)]
pub(crate) enum Key {
    /// Generate a new key; prints its 12-word phrase once.
    Generate {
        /// The key's name.
        #[arg(long)]
        name: String,
    },
    /// Import a key from a secret phrase or a secret URI.
    Import {
        /// The key's name.
        #[arg(long)]
        name: String,
        /// A secret URI such as `//Alice` (dev keys) or `<phrase>//hard/soft`.
        #[arg(long, conflicts_with_all = ["phrase", "stdin"])]
        uri: Option<String>,
        /// The BIP-39 phrase (prefer --stdin: arguments are visible to other users).
        #[arg(long, conflicts_with = "stdin")]
        phrase: Option<String>,
        /// Read the phrase or URI from standard input.
        #[arg(long)]
        stdin: bool,
    },
    /// Generate (or find) an Ed25519 key in a PKCS#11 token and add it as key NAME.
    ///
    /// The key is generated in the token as sensitive and non-extractable and never leaves
    /// it; writes with `--key NAME` are signed inside the token. The key file holds the
    /// public key and where the key lives, no secret. The user PIN comes from
    /// `SDV_PKCS11_PIN` or the first line of the file named by `SDV_PKCS11_PIN_FILE`.
    #[command(name = "hsm-generate")]
    HsmGenerate {
        /// The key's name in the keystore.
        #[arg(long)]
        name: String,
        /// The token's label.
        #[arg(long = "token")]
        token: String,
        /// The key's label in the token (default: NAME).
        #[arg(long)]
        key_label: Option<String>,
        /// The PKCS#11 module.
        #[arg(
            long,
            env = "SDV_PKCS11_MODULE",
            default_value = crate::token::DEFAULT_MODULE
        )]
        module: PathBuf,
    },
    /// List the keys with their addresses and kinds.
    List,
    /// Publish the --key account's X25519 encryption key on DocumentNFT.
    ///
    /// Document keys are wrapped to it. It is derived from the key's secret, so it needs no
    /// backup of its own; when it is published already, nothing is sent.
    #[command(name = "publish-encryption-key")]
    PublishEncryption,
}

/// A yes or no vote.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(crate) struct VoteChoice {
    /// Approve.
    #[arg(long)]
    yes: bool,
    /// Reject.
    #[arg(long)]
    no: bool,
}

impl VoteChoice {
    pub(crate) fn approve(&self) -> bool {
        self.yes && !self.no
    }
}

#[derive(Subcommand)]
pub(crate) enum Gov {
    /// List the 20 validators (from the contract).
    Validators,
    /// File a proposal (validators; releases also the fleet HQ).
    #[command(subcommand)]
    Propose(ProposalArgs),
    /// Vote on a proposal.
    Vote {
        /// The proposal.
        id: u64,
        #[command(flatten)]
        vote: VoteChoice,
    },
    /// Execute a proposal that reached its threshold (anyone).
    Execute {
        /// The proposal.
        id: u64,
    },
    /// Contest an emergency recovery petition (anyone, within 30 days).
    Contest {
        /// The proposal.
        id: u64,
        /// Why (stored on-chain, at most 256 bytes).
        #[arg(long)]
        reason: String,
    },
    /// List proposals (from the indexer).
    List {
        /// Only proposals in this state.
        #[arg(long, value_parser = ["active", "queued", "ready", "defeated", "expired", "executed"])]
        state: Option<String>,
        /// Only this kind (`set_providers`, `approve_release`, ...).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show one proposal with its votes (from the indexer).
    Show {
        /// The proposal.
        id: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum ProposalArgs {
    /// 7-of-20: which storage providers are in service besides S3.
    SetProviders {
        #[arg(long, action = clap::ArgAction::Set)]
        arweave: bool,
        #[arg(long, action = clap::ArgAction::Set)]
        ipfs: bool,
    },
    /// 7-of-20: a tier's limits.
    SetTierParams {
        #[arg(long)]
        tier: TierArg,
        /// Largest document, in bytes.
        #[arg(long)]
        max_document_bytes: u64,
        /// Most documents per owner (omit for unlimited).
        #[arg(long)]
        max_documents: Option<u32>,
        /// Chunks an upload may send at once.
        #[arg(long)]
        parallel_chunks: u8,
    },
    /// 7-of-20: a tier's replication policy.
    SetReplicationPolicy {
        #[arg(long)]
        tier: TierArg,
        #[arg(long, action = clap::ArgAction::Set)]
        arweave_on_request: bool,
        #[arg(long, action = clap::ArgAction::Set)]
        ipfs_auto: bool,
    },
    /// 7-of-20: appoint (or clear) a service role's account.
    SetRole {
        #[arg(long)]
        role: RoleArg,
        /// The new account (omit with --clear).
        #[arg(long, required_unless_present = "clear")]
        account: Option<String>,
        /// Clear the role.
        #[arg(long)]
        clear: bool,
    },
    /// 7-of-20: allow or disallow a release proposer account.
    SetReleaseProposer {
        #[arg(long)]
        account: String,
        #[arg(long, action = clap::ArgAction::Set)]
        allowed: bool,
    },
    /// 7-of-20: the address of another SDV contract.
    SetContract {
        #[arg(long)]
        contract: ContractArg,
        #[arg(long)]
        address: String,
    },
    /// 7-of-20: approve a container release for a track.
    ApproveRelease {
        #[arg(long)]
        image: String,
        #[arg(long)]
        tag: String,
        /// sha256 of the image manifest (0x + 64 hex digits).
        #[arg(long)]
        digest: String,
        #[arg(long)]
        track: TrackArg,
        #[arg(long)]
        number: u64,
    },
    /// 14-of-20: move a user's documents to a new owner when the guardians are unreachable.
    EmergencyRecovery {
        #[arg(long)]
        account: String,
        #[arg(long)]
        new_owner: String,
        /// Hash of the legal identity evidence (0x + 64 hex digits).
        #[arg(long)]
        identity_evidence: String,
        /// Hash of the proof of prior ownership (0x + 64 hex digits).
        #[arg(long)]
        ownership_proof: String,
    },
    /// 14-of-20: grant access to a team vault whose admins are inactive.
    EmergencyVaultAccess {
        #[arg(long)]
        vault: u32,
        #[arg(long)]
        grantee: String,
        /// Hash of the legal basis (0x + 64 hex digits).
        #[arg(long)]
        legal_basis: String,
    },
    /// 14-of-20: replace one validator.
    ReplaceValidator {
        #[arg(long)]
        old: String,
        #[arg(long)]
        new: String,
    },
    /// 14-of-20: upgrade a contract's code (uploaded beforehand).
    UpgradeCode {
        #[arg(long)]
        contract: ContractArg,
        /// The new code hash (0x + 64 hex digits).
        #[arg(long)]
        code_hash: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum Doc {
    /// List an account's documents (from the indexer; default: the --key account).
    List {
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Show one document (from the indexer).
    Show {
        /// The token id.
        id: u64,
    },
    /// Extend a document's retention (owner only; extension only).
    ExtendRetention {
        /// The token id.
        id: u64,
        /// The new retention option.
        retention: RetentionArg,
    },
    /// Transfer a document to another account (PSP34 transfer).
    Transfer {
        /// The token id.
        id: u64,
        /// The receiver.
        to: String,
    },
    /// Classify, encrypt and upload a file; it is minted as a document of the --key account.
    ///
    /// The file is classified locally (its tags and first bytes) and encrypted with a new
    /// data key, wrapped to your published encryption key and to the gateway's recovery
    /// key. An interrupted upload is resumed with `--resume UPLOAD_ID`.
    Upload(UploadArgs),
    /// Download a document and decrypt it with your encryption key.
    Download {
        /// The token id.
        id: u64,
        /// Where to write the plaintext (default: `./document-<id>`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `sdv doc upload`.
#[derive(Args)]
pub(crate) struct UploadArgs {
    /// The file to upload.
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub(crate) file: Option<PathBuf>,
    /// Resume an interrupted upload (its id was printed when it paused).
    #[arg(long, value_name = "UPLOAD_ID")]
    pub(crate) resume: Option<String>,
    /// A tag (repeat); tags take part in the classification.
    #[arg(long = "tag", value_name = "T")]
    pub(crate) tags: Vec<String>,
    /// The retention option (default: standard); raised to the class's floor on-chain.
    #[arg(long, conflicts_with = "permanent")]
    pub(crate) retention: Option<RetentionArg>,
    /// The document class, instead of the local classification.
    #[arg(long)]
    pub(crate) class: Option<ClassArg>,
    /// Upload for a team vault you administer (staged for the vault's decision).
    #[arg(long)]
    pub(crate) vault: Option<u32>,
    /// Permanent retention with an Arweave copy: it can never be deleted.
    #[arg(long)]
    pub(crate) permanent: bool,
    /// Confirm --permanent without a prompt.
    #[arg(long, requires = "permanent")]
    pub(crate) yes_permanent: bool,
    /// A label for notices (default: the file name).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// How long to wait for the mint, in seconds.
    #[arg(long, default_value_t = 120)]
    pub(crate) wait_secs: u64,
    /// Where interrupted uploads keep their ciphertext and state (default:
    /// `$XDG_STATE_HOME/sdv/uploads`, else `$HOME/.local/state/sdv/uploads`).
    #[arg(long, env = "SDV_UPLOADS_DIR")]
    pub(crate) uploads_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum Vault {
    /// Create a vault with 3 to 10 admins.
    Create {
        /// An admin (repeat 3 to 10 times).
        #[arg(long = "admin", required = true)]
        admins: Vec<String>,
    },
    /// Propose an operation (admins).
    Propose {
        /// The vault.
        vault: u32,
        #[command(subcommand)]
        operation: OperationArgs,
    },
    /// Vote on an operation (admins).
    Vote {
        /// The operation.
        operation: u64,
        #[command(flatten)]
        vote: VoteChoice,
    },
    /// Veto an operation in its timelock (any admin).
    Veto {
        /// The operation.
        operation: u64,
        /// Why (stored on-chain, at most 256 bytes).
        #[arg(long)]
        reason: String,
    },
    /// Execute an operation after its timelock (anyone).
    Execute {
        /// The operation.
        operation: u64,
    },
    /// Record the signer's activity as an admin.
    CheckIn {
        /// The vault.
        vault: u32,
    },
    /// Show a vault with its admins and operations (from the indexer).
    Show {
        /// The vault.
        vault: u32,
    },
    /// Show one operation with its votes and veto (from the indexer).
    Operation {
        /// The operation.
        operation: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum OperationArgs {
    /// Mint the staged ciphertext as a vault document (majority).
    Upload {
        /// sha256 of the staged ciphertext (0x + 64 hex digits).
        #[arg(long)]
        sha256: String,
        #[arg(long)]
        class: ClassArg,
        #[arg(long)]
        retention: RetentionArg,
        /// Ask for an Arweave copy.
        #[arg(long)]
        arweave: bool,
    },
    /// Grant read access to a vault document (majority).
    Share {
        #[arg(long)]
        token: u64,
        #[arg(long)]
        grantee: String,
        /// The document key wrapped to the grantee's X25519 key (0x hex).
        #[arg(long)]
        wrapped_key: String,
    },
    /// Ask for a vault document's deletion (majority).
    Delete {
        #[arg(long)]
        token: u64,
    },
    /// Add an admin (three quarters).
    AddAdmin {
        /// The new admin.
        account: String,
    },
    /// Remove an admin (three quarters).
    RemoveAdmin {
        /// The admin.
        account: String,
    },
    /// Hand the vault to a new admin set (unanimous).
    TransferOwnership {
        /// A new admin (repeat).
        #[arg(long = "admin", required = true)]
        admins: Vec<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum Guardians {
    /// Name your 3 guardians: a user, a hardware key and a custodian.
    Set(SetGuardians),
    /// Accept being a user's guardian.
    Accept {
        /// The user.
        user: String,
    },
    /// Record that you, a user's guardian, are still reachable.
    Heartbeat {
        /// The user.
        user: String,
    },
    /// Start a recovery of a user's wallet (guardians).
    Initiate {
        /// The user whose wallet is lost.
        user: String,
        /// The wallet that takes over.
        #[arg(long)]
        new_wallet: String,
    },
    /// Attest a recovery (guardians).
    Attest {
        /// The recovery.
        recovery: u64,
    },
    /// Cancel a recovery in its timelock (the wallet being recovered).
    Cancel {
        /// The recovery.
        recovery: u64,
    },
    /// Finalize a recovery after its timelock (anyone).
    Finalize {
        /// The recovery.
        recovery: u64,
    },
    /// A user's guardians and latest recovery (from the indexer; default: the --key account).
    Status {
        /// The user.
        user: Option<String>,
    },
    /// One recovery with its attestations (from the indexer).
    Recovery {
        /// The recovery.
        recovery: u64,
    },
}

#[derive(Args)]
pub(crate) struct SetGuardians {
    /// The user guardian (another user's wallet).
    #[arg(long)]
    pub(crate) user_guardian: String,
    /// The hardware key's account.
    #[arg(long)]
    pub(crate) hardware_key: String,
    /// The institutional custodian's signatory.
    #[arg(long)]
    pub(crate) custodian: String,
}

macro_rules! value_enum {
    ($name:ident => $target:ty { $($variant:ident),* $(,)? }) => {
        #[derive(Clone, Copy, ValueEnum)]
        pub(crate) enum $name { $($variant),* }

        impl From<$name> for $target {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => <$target>::$variant),* }
            }
        }
    };
}

value_enum!(TierArg => Tier { Free, BpohVerified, Premium, Institutional });
value_enum!(RoleArg => Role { StorageAttestor, RetentionExecutor, TierAuthority });
value_enum!(ContractArg => ContractRole { Governance, DocumentNft, TeamVault, GuardianRecovery });
value_enum!(TrackArg => Track { Devnet, Testnet, Mainnet });
value_enum!(ClassArg => DocumentClass { UsTax, Financial, Kyc, Other });
value_enum!(RetentionArg => RetentionOption {
    Minimum, Standard, Extended, RegulatoryUsTax, LongTerm, Indefinite, Permanent,
});
