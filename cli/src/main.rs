//! `sdv`: the SDV wallet and validator command line.
//!
//! Keys live encrypted in a keystore directory, or in a PKCS#11 token (guardians' hardware
//! keys), or as one share of a 2-of-3 MPC wallet ([`mpc`]); writes are signed locally, in the
//! token, or by the share with a co-signer, dry-run, submitted and awaited until
//! finalized; queries go to the indexer's API; container releases for the validator fleet go
//! through fleet HQ ([`fleet`]). Errors are one line on
//! stderr, `error: ...`, with exit status 1 (2 for malformed input, 3 for a paused upload).

mod args;
mod context;
mod demo;
mod documents;
mod fleet;
mod keystore;
mod mpc;
mod progress;
mod query;
mod token;
mod write;

use clap::Parser;

use args::{Cli, Command, Doc, Gov, Guardians, Key, Vault};
use context::Context;

/// Malformed input on the command line: exit status 2.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// An upload that stopped and can be resumed: exit status 3.
#[derive(Debug)]
pub(crate) struct Paused(pub(crate) String);

impl std::fmt::Display for Paused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Paused {}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        let code = if e.downcast_ref::<Usage>().is_some() {
            2
        } else if e.downcast_ref::<Paused>().is_some() {
            3
        } else {
            1
        };
        // One line, whatever the underlying error printed.
        let message = format!("{e:#}").replace(['\n', '\r'], " ");
        eprintln!("error: {message}");
        std::process::exit(code);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli.global);
    match cli.command {
        Command::Deployment => query::deployment(&ctx),
        Command::Key(Key::Generate { name }) => write::key_generate(&ctx, &name),
        Command::Key(Key::Import {
            name,
            uri,
            phrase,
            stdin,
        }) => write::key_import(&ctx, &name, uri, phrase, stdin),
        Command::Key(Key::HsmGenerate {
            name,
            token,
            key_label,
            module,
        }) => write::key_hsm_generate(&ctx, &name, &token, key_label.as_deref(), &module),
        Command::Key(Key::List) => query::key_list(&ctx),
        Command::Key(Key::PublishEncryption) => write::key_publish_encryption_key(&ctx).await,
        Command::Gov(gov) => match gov {
            Gov::Validators => query::validators(&ctx).await,
            Gov::Propose(kind) => write::gov_propose(&ctx, kind).await,
            Gov::Vote { id, vote } => write::gov_vote(&ctx, id, vote.approve()).await,
            Gov::Execute { id } => write::gov_execute(&ctx, id).await,
            Gov::Contest { id, reason } => write::gov_contest(&ctx, id, &reason).await,
            Gov::List {
                state,
                kind,
                limit,
                offset,
            } => query::proposals(&ctx, state, kind, limit, offset).await,
            Gov::Show { id } => query::proposal(&ctx, id).await,
        },
        Command::Doc(doc) => match doc {
            Doc::List {
                owner,
                limit,
                offset,
            } => query::documents(&ctx, owner, limit, offset).await,
            Doc::Show { id } => query::document(&ctx, id).await,
            Doc::ExtendRetention { id, retention } => {
                write::doc_extend_retention(&ctx, id, retention).await
            }
            Doc::Transfer { id, to } => write::doc_transfer(&ctx, id, &to).await,
            Doc::Upload(args) => documents::upload(&ctx, args).await,
            Doc::Download { id, out } => documents::download(&ctx, id, out).await,
        },
        Command::Vault(vault) => match vault {
            Vault::Create { admins } => write::vault_create(&ctx, &admins).await,
            Vault::Propose { vault, operation } => {
                write::vault_propose(&ctx, vault, operation).await
            }
            Vault::Vote { operation, vote } => {
                write::vault_vote(&ctx, operation, vote.approve()).await
            }
            Vault::Veto { operation, reason } => write::vault_veto(&ctx, operation, &reason).await,
            Vault::Execute { operation } => write::vault_execute(&ctx, operation).await,
            Vault::CheckIn { vault } => write::vault_check_in(&ctx, vault).await,
            Vault::Show { vault } => query::vault(&ctx, vault).await,
            Vault::Operation { operation } => query::operation(&ctx, operation).await,
        },
        Command::Guardians(g) => match g {
            Guardians::Set(set) => write::guardians_set(&ctx, set).await,
            Guardians::Accept { user } => write::guardians_accept(&ctx, &user).await,
            Guardians::Heartbeat { user } => write::guardians_heartbeat(&ctx, &user).await,
            Guardians::Initiate { user, new_wallet } => {
                write::guardians_initiate(&ctx, &user, &new_wallet).await
            }
            Guardians::Attest { recovery } => write::guardians_attest(&ctx, recovery).await,
            Guardians::Cancel { recovery } => write::guardians_cancel(&ctx, recovery).await,
            Guardians::Finalize { recovery } => write::guardians_finalize(&ctx, recovery).await,
            Guardians::Status { user } => query::guardians(&ctx, user).await,
            Guardians::Recovery { recovery } => query::recovery(&ctx, recovery).await,
        },
        Command::Mpc(command) => mpc::run(&ctx, command).await,
        Command::Fleet(fleet) => fleet::run(&ctx, fleet).await,
        Command::Demo(args) => demo::run(&ctx, &cli.global, args).await,
    }
}
