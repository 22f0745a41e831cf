//! What a command needs: the deployment, the node, the indexer, the keystore and the signer.

use std::{path::PathBuf, str::FromStr};

use anyhow::{bail, Context as _};
use sdv_chain::{AccountId, Chain, Deployment};
use zeroize::Zeroizing;

use crate::{
    args::Global,
    keystore::{needs_secret, Keystore},
    token::{TokenSigner, WalletSigner},
    Usage,
};

/// The gateway's address when neither --gateway nor `gateway.url` names one.
pub(crate) const DEFAULT_GATEWAY: &str = "http://127.0.0.1:9015";

/// The resolved global options.
pub(crate) struct Context {
    deployment_path: PathBuf,
    node: Option<String>,
    indexer: Option<String>,
    gateway: Option<String>,
    key: Option<String>,
    pub(crate) keystore: Keystore,
    /// Who co-signs with an MPC key.
    pub(crate) cosigner: crate::mpc::CosignerArgs,
    pub(crate) json: bool,
}

impl Context {
    pub(crate) fn new(global: &Global) -> Self {
        Self {
            deployment_path: global.deployment.clone(),
            node: global.node.clone(),
            indexer: global.indexer.clone(),
            gateway: global.gateway.clone(),
            key: global.key.clone(),
            cosigner: global.cosigner.clone(),
            keystore: Keystore::new(
                global
                    .keystore
                    .clone()
                    .unwrap_or_else(Keystore::default_dir),
            ),
            json: global.json,
        }
    }

    /// The deployment file.
    pub(crate) fn deployment(&self) -> anyhow::Result<Deployment> {
        Deployment::load(&self.deployment_path)
            .map_err(|e| anyhow::anyhow!("{e} (run `./dev up` first, or pass --deployment)"))
    }

    /// A connection to the node.
    pub(crate) async fn chain(&self) -> anyhow::Result<(Chain, Deployment)> {
        let deployment = self.deployment()?;
        let url = self
            .node
            .clone()
            .unwrap_or_else(|| deployment.rpc_url.clone());
        let chain = Chain::connect(&url)
            .await
            .with_context(|| format!("connecting to the node at {url}"))?;
        Ok((chain, deployment))
    }

    /// The indexer API's base URL.
    pub(crate) fn indexer(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.indexer {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let file = self
            .deployment_path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join("indexer.url");
        match std::fs::read_to_string(&file) {
            Ok(url) if !url.trim().is_empty() => Ok(url.trim().trim_end_matches('/').to_owned()),
            _ => bail!(
                "no indexer: pass --indexer URL or set SDV_INDEXER_URL (or run `./dev up`, \
                 which writes {})",
                file.display()
            ),
        }
    }

    /// The URL in the file `name` next to the deployment file (as `./dev up` writes them),
    /// if there is one.
    pub(crate) fn beside_deployment(&self, name: &str) -> Option<String> {
        let file = self
            .deployment_path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join(name);
        std::fs::read_to_string(file)
            .ok()
            .map(|url| url.trim().trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty())
    }

    /// The storage gateway's base URL: --gateway, else `gateway.url` next to the deployment
    /// file, else [`DEFAULT_GATEWAY`].
    pub(crate) fn gateway(&self) -> String {
        if let Some(url) = &self.gateway {
            return url.trim_end_matches('/').to_owned();
        }
        let file = self
            .deployment_path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .join("gateway.url");
        match std::fs::read_to_string(file) {
            Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
            _ => DEFAULT_GATEWAY.to_owned(),
        }
    }

    /// The deployment's DocumentNFT contract, with the connection to the node.
    pub(crate) async fn document_nft(&self) -> anyhow::Result<(Chain, sdv_chain::DocumentNft)> {
        let (chain, d) = self.chain().await?;
        let address = d.address("document_nft")?.clone();
        Ok((chain.clone(), sdv_chain::DocumentNft::new(chain, address)))
    }

    /// An account named on the command line: SS58, 0x-hex, or a key name.
    pub(crate) fn account(&self, text: &str) -> anyhow::Result<AccountId> {
        if let Some(hex_digits) = text.strip_prefix("0x") {
            if let Ok(bytes) = hex::decode(hex_digits) {
                if let Ok(bytes) = <[u8; 32]>::try_from(bytes) {
                    return Ok(AccountId::from(bytes));
                }
            }
        } else if let Ok(account) = AccountId::from_str(text) {
            return Ok(account);
        } else if self.keystore.contains(text) {
            return self.keystore.load(text)?.account();
        }
        Err(Usage(format!(
            "\"{text}\" is not an account (SS58, 0x + 64 hex digits, or a key name)"
        ))
        .into())
    }

    /// The name of the signing key.
    fn key_name(&self) -> anyhow::Result<&str> {
        self.key
            .as_deref()
            .ok_or_else(|| Usage("no key: pass --key NAME or set SDV_KEY".into()).into())
    }

    /// The signing key's account (no passphrase needed).
    pub(crate) fn own_account(&self) -> anyhow::Result<AccountId> {
        self.keystore.load(self.key_name()?)?.account()
    }

    /// The signer of chain writes: a keystore key unlocked with the passphrase, or a token
    /// key opened with the token's PIN and checked with a probe signature.
    pub(crate) fn signer(&self) -> anyhow::Result<WalletSigner> {
        let name = self.key_name()?;
        // Fail on an unknown key before asking for a passphrase or a PIN.
        let file = self.keystore.load(name)?;
        if let Some(token) = file.token()? {
            return Ok(WalletSigner::Token(TokenSigner::open(
                name,
                token,
                file.public_bytes()?,
            )?));
        }
        if file.mpc()?.is_some() {
            let (signer, _) = crate::mpc::MpcSigner::open_blocking(self, name)?;
            return Ok(WalletSigner::Mpc(signer));
        }
        let passphrase = passphrase(&format!("Passphrase for key {name}: "), false)?;
        Ok(WalletSigner::Sr25519(
            self.keystore.unlock(name, &passphrase)?,
        ))
    }

    /// The signing key and its X25519 encryption secret, unlocked with the passphrase: an
    /// sr25519 key with the secret derived from it (see
    /// [`crate::keystore::encryption_secret`]), or an MPC key with its co-signer and the
    /// secret of its key file; a token key is refused.
    pub(crate) fn signer_with_encryption_secret(
        &self,
    ) -> anyhow::Result<(WalletSigner, x25519_dalek::StaticSecret)> {
        let name = self.key_name()?;
        let file = self.keystore.load(name)?;
        if let Some(token) = file.token()? {
            return Err(needs_secret(name, token));
        }
        if file.mpc()?.is_some() {
            let (signer, secret) = crate::mpc::MpcSigner::open_blocking(self, name)?;
            return Ok((WalletSigner::Mpc(signer), secret));
        }
        let passphrase = passphrase(&format!("Passphrase for key {name}: "), false)?;
        let (keypair, secret) = self.keystore.unlock_secret(name, &passphrase)?;
        Ok((
            WalletSigner::Sr25519(keypair),
            crate::keystore::encryption_secret(&secret)?,
        ))
    }
}

/// The passphrase: `SDV_PASSPHRASE`, the file named by `SDV_PASSPHRASE_FILE`, or a prompt
/// (asked twice when `confirm`).
pub(crate) fn passphrase(prompt: &str, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("SDV_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    if let Some(path) = std::env::var_os("SDV_PASSPHRASE_FILE").map(PathBuf::from) {
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading SDV_PASSPHRASE_FILE {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return Ok(Zeroizing::new(line.to_owned()));
    }
    let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(|_| {
        anyhow::anyhow!(
            "no passphrase: set SDV_PASSPHRASE or SDV_PASSPHRASE_FILE, or run in a terminal"
        )
    })?);
    if confirm {
        let second = Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ")?);
        if *first != *second {
            bail!("the passphrases differ");
        }
    }
    Ok(first)
}

/// A 32-byte hash given as 0x + 64 hex digits.
pub(crate) fn hash32(what: &str, text: &str) -> anyhow::Result<[u8; 32]> {
    text.strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Usage(format!("{what} \"{text}\" is not 0x + 64 hex digits")).into())
}

/// Bytes given as 0x + hex digits.
pub(crate) fn bytes(what: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    text.strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .ok_or_else(|| Usage(format!("{what} \"{text}\" is not 0x + hex digits")).into())
}
