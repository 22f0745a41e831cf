//! Deployment reports: what an agent ran, signed by its identity key.

use serde::{Deserialize, Serialize};

use crate::{keys::verify_identity, Error, IdentityKey, Result};

/// How a pull command ended on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The containers run the new digest.
    Deployed,
    /// The command was refused; nothing changed.
    Refused,
    /// The pull or restart failed; the containers are as they were.
    Failed,
}

/// An agent's report of one pull command, signed by its identity key over the canonical JSON
/// of every field but `signature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentReport {
    /// The node.
    pub node_id: String,
    /// The image.
    pub image: String,
    /// The tag.
    pub tag: String,
    /// The digest the command named.
    pub digest: String,
    /// The digest the node runs now (the pulled one when deployed).
    pub running_digest: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// Why, for a refusal or failure.
    pub reason: Option<String>,
    /// Containers restarted.
    pub containers: Vec<String>,
    /// The command's nonce (which command this answers).
    pub nonce: String,
    /// When (ms since the Unix epoch).
    pub timestamp: i64,
    /// Ed25519 signature (hex) by the node's identity key.
    #[serde(default)]
    pub signature: String,
}

impl DeploymentReport {
    fn signed_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.signature = String::new();
        serde_json::to_vec(&unsigned).expect("a report serializes")
    }

    /// Signs the report with `key`.
    pub fn sign(mut self, key: &IdentityKey) -> Self {
        self.signature = hex::encode(key.sign(&self.signed_bytes()));
        self
    }

    /// Checks the signature against the node's identity key `public`.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSignature`], [`Error::BadSignature`].
    pub fn verify(&self, public: &[u8; 32]) -> Result<()> {
        let signature: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::MalformedSignature)?;
        verify_identity(public, &self.signed_bytes(), &signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_verifies_only_unchanged_and_with_its_nodes_key() {
        let key = IdentityKey::generate();
        let report = DeploymentReport {
            node_id: "validator-3".into(),
            image: "settlement-api".into(),
            tag: "1.4.2".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            running_digest: Some(format!("sha256:{}", "ab".repeat(32))),
            outcome: Outcome::Deployed,
            reason: None,
            containers: vec!["settlement-api".into()],
            nonce: "00".repeat(16),
            timestamp: 7,
            signature: String::new(),
        }
        .sign(&key);
        report.verify(&key.public_key()).unwrap();
        let mut changed = report.clone();
        changed.outcome = Outcome::Failed;
        assert_eq!(changed.verify(&key.public_key()), Err(Error::BadSignature));
        let other = IdentityKey::generate();
        assert_eq!(report.verify(&other.public_key()), Err(Error::BadSignature));
    }
}
