//! Agents' signed requests to HQ: an HMAC with the shared secret and an Ed25519 signature by
//! the agent's identity key, over the method, path, timestamp and body hash.

use sha2::{Digest, Sha256};

use crate::{
    check_timestamp,
    keys::{verify_identity, IdentityKey, SigningKey},
    Error, Result,
};

/// The header with the request's timestamp (ms since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "x-sdv-timestamp";
/// The header with the HMAC (`<key id>:<hex>`).
pub const SIGNATURE_HEADER: &str = "x-sdv-signature";
/// The header with the identity key's Ed25519 signature (hex).
pub const IDENTITY_HEADER: &str = "x-sdv-identity-signature";
/// The header naming the node.
pub const NODE_HEADER: &str = "x-sdv-node";

/// The headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    /// The node.
    pub node_id: String,
    /// When it was signed.
    pub timestamp: i64,
    /// `<key id>:<hex HMAC>`.
    pub hmac: String,
    /// Hex Ed25519 signature, when an identity key signed.
    pub identity: Option<String>,
}

fn message(node_id: &str, method: &str, path: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    format!(
        "{node_id}\n{method}\n{path}\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    )
    .into_bytes()
}

impl RequestAuth {
    /// Signs a request with the shared `key` and, when given, the node's identity key.
    pub fn sign(
        node_id: &str,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: i64,
        key: &SigningKey,
        identity: Option<&IdentityKey>,
    ) -> Self {
        let message = message(node_id, method, path, timestamp, body);
        Self {
            node_id: node_id.to_owned(),
            timestamp,
            hmac: format!("{}:{}", key.id(), hex::encode(key.sign(&message))),
            identity: identity.map(|k| hex::encode(k.sign(&message))),
        }
    }

    /// The headers to send, as (name, value).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (NODE_HEADER, self.node_id.clone()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (SIGNATURE_HEADER, self.hmac.clone()),
        ];
        if let Some(identity) = &self.identity {
            out.push((IDENTITY_HEADER, identity.clone()));
        }
        out
    }

    /// Checks the HMAC with `keys` (any active key, constant time) and the timestamp against
    /// `now`; and the identity signature against `identity_key` when one is given (a node HQ
    /// knows must sign with the key it registered).
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSignature`], [`Error::UnknownKey`], [`Error::BadSignature`],
    /// [`Error::Stale`], [`Error::Future`].
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        keys: &crate::KeyRing,
        identity_key: Option<&[u8; 32]>,
        now: i64,
    ) -> Result<()> {
        let message = message(&self.node_id, method, path, self.timestamp, body);
        let (key_id, mac) = self.hmac.split_once(':').ok_or(Error::MalformedSignature)?;
        let mac = hex::decode(mac).map_err(|_| Error::MalformedSignature)?;
        keys.key(key_id)?.verify(&message, &mac)?;
        check_timestamp(self.timestamp, now)?;
        if let Some(public) = identity_key {
            let signature: [u8; 64] = self
                .identity
                .as_deref()
                .and_then(|s| hex::decode(s).ok())
                .and_then(|s| s.try_into().ok())
                .ok_or(Error::MalformedSignature)?;
            verify_identity(public, &message, &signature)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sdv_config::Secret;

    use super::*;
    use crate::KeyRing;

    #[test]
    fn requests_verify_with_the_secret_and_the_registered_identity_only() {
        let key = SigningKey::new("k1", Secret::new("a-shared-secret-of-bytes")).unwrap();
        let ring = KeyRing::new(vec![key.clone()]).unwrap();
        let identity = IdentityKey::generate();
        let body = br#"{"agent_url":"http://127.0.0.1:8055"}"#;
        let auth = RequestAuth::sign("node-1", "POST", "/v1/x", body, 10, &key, Some(&identity));
        let public = identity.public_key();
        auth.verify("POST", "/v1/x", body, &ring, Some(&public), 10)
            .unwrap();
        // Another body, path, node or identity: refused.
        assert!(auth
            .verify("POST", "/v1/x", b"{}", &ring, Some(&public), 10)
            .is_err());
        assert!(auth
            .verify("POST", "/v1/y", body, &ring, Some(&public), 10)
            .is_err());
        let mut renamed = auth.clone();
        renamed.node_id = "node-2".into();
        assert!(renamed
            .verify("POST", "/v1/x", body, &ring, Some(&public), 10)
            .is_err());
        let stranger = IdentityKey::generate().public_key();
        assert_eq!(
            auth.verify("POST", "/v1/x", body, &ring, Some(&stranger), 10),
            Err(Error::BadSignature)
        );
        // Without the identity signature, a node whose key is known is refused.
        let bare = RequestAuth::sign("node-1", "POST", "/v1/x", body, 10, &key, None);
        assert_eq!(
            bare.verify("POST", "/v1/x", body, &ring, Some(&public), 10),
            Err(Error::MalformedSignature)
        );
    }
}
