//! Pull commands: what HQ tells an agent to run, signed, fresh and used once.

use std::{collections::HashMap, sync::Mutex};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::{check_timestamp, Error, KeyRing, Result, REPLAY_WINDOW_MS};

/// What a pull command asks for: the image, tag and digest to run on `track`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Image name in the registry (`settlement-api`).
    pub image: String,
    /// Tag (`1.4.2`).
    pub tag: String,
    /// The manifest digest HQ pinned (`sha256:<hex>`).
    pub digest: String,
    /// The governance track the node runs (`devnet`, `testnet`, `mainnet`).
    pub track: String,
}

/// A signed pull command. The HMAC covers the canonical JSON of
/// `{image, tag, digest, track, timestamp, nonce}` in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCommand {
    /// What to pull.
    #[serde(flatten)]
    pub request: PullRequest,
    /// When HQ signed it (ms since the Unix epoch).
    pub timestamp: i64,
    /// 16 random bytes (hex), used once.
    pub nonce: String,
    /// The signing key's id.
    pub key_id: String,
    /// HMAC-SHA256 (hex).
    pub signature: String,
}

/// The signed part, in its fixed order.
#[derive(Serialize)]
struct Signed<'a> {
    image: &'a str,
    tag: &'a str,
    digest: &'a str,
    track: &'a str,
    timestamp: i64,
    nonce: &'a str,
}

fn signed_bytes(request: &PullRequest, timestamp: i64, nonce: &str) -> Vec<u8> {
    serde_json::to_vec(&Signed {
        image: &request.image,
        tag: &request.tag,
        digest: &request.digest,
        track: &request.track,
        timestamp,
        nonce,
    })
    .expect("a struct of strings serializes")
}

impl PullCommand {
    /// Signs `request` at `timestamp` with the ring's current key and a fresh nonce.
    pub fn sign(keys: &KeyRing, request: PullRequest, timestamp: i64) -> Self {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let key = keys.current();
        let signature = hex::encode(key.sign(&signed_bytes(&request, timestamp, &nonce)));
        Self {
            request,
            timestamp,
            nonce,
            key_id: key.id().to_owned(),
            signature,
        }
    }

    /// Checks the signature (constant time, with the key it names), the timestamp against
    /// `now` and the nonce against `seen`, which remembers it on success.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`], [`Error::MalformedSignature`], [`Error::BadSignature`],
    /// [`Error::Stale`], [`Error::Future`], [`Error::Replayed`].
    pub fn verify(&self, keys: &KeyRing, now: i64, seen: &NonceCache) -> Result<()> {
        let signature = hex::decode(&self.signature).map_err(|_| Error::MalformedSignature)?;
        keys.key(&self.key_id)?.verify(
            &signed_bytes(&self.request, self.timestamp, &self.nonce),
            &signature,
        )?;
        check_timestamp(self.timestamp, now)?;
        seen.insert(&self.nonce, self.timestamp, now)
    }
}

/// The nonces of the replay window: a nonce is accepted once while its command is fresh, and
/// forgotten once its timestamp left the window (after which the timestamp check refuses it).
#[derive(Debug, Default)]
pub struct NonceCache(Mutex<HashMap<String, i64>>);

impl NonceCache {
    /// Records `nonce` of a command stamped `timestamp`.
    ///
    /// # Errors
    ///
    /// [`Error::Replayed`] when it is recorded already.
    pub fn insert(&self, nonce: &str, timestamp: i64, now: i64) -> Result<()> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, t| now - *t <= REPLAY_WINDOW_MS);
        if seen.contains_key(nonce) {
            return Err(Error::Replayed);
        }
        seen.insert(nonce.to_owned(), timestamp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sdv_config::Secret;

    use super::*;
    use crate::SigningKey;

    fn ring(id: &str, secret: &str) -> KeyRing {
        KeyRing::new(vec![SigningKey::new(id, Secret::new(secret)).unwrap()]).unwrap()
    }

    fn request() -> PullRequest {
        PullRequest {
            image: "settlement-api".into(),
            tag: "1.4.2".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            track: "testnet".into(),
        }
    }

    #[test]
    fn a_signed_command_verifies_once_within_the_window() {
        let keys = ring("k1", "a-secret-of-enough-bytes");
        let now = 1_800_000_000_000;
        let command = PullCommand::sign(&keys, request(), now);
        let seen = NonceCache::default();
        command.verify(&keys, now + 1000, &seen).unwrap();
        assert_eq!(
            command.verify(&keys, now + 2000, &seen),
            Err(Error::Replayed)
        );
    }

    #[test]
    fn forged_stale_future_and_foreign_commands_are_refused() {
        let keys = ring("k1", "a-secret-of-enough-bytes");
        let now = 1_800_000_000_000;
        let seen = NonceCache::default();
        let mut forged = PullCommand::sign(&keys, request(), now);
        forged.request.digest = format!("sha256:{}", "cd".repeat(32));
        assert_eq!(forged.verify(&keys, now, &seen), Err(Error::BadSignature));
        let stale = PullCommand::sign(&keys, request(), now - REPLAY_WINDOW_MS - 1);
        assert_eq!(stale.verify(&keys, now, &seen), Err(Error::Stale(1)));
        let future = PullCommand::sign(&keys, request(), now + REPLAY_WINDOW_MS + 5);
        assert_eq!(future.verify(&keys, now, &seen), Err(Error::Future(5)));
        let other = ring("k1", "another-secret-of-enough-bytes");
        let foreign = PullCommand::sign(&other, request(), now);
        assert_eq!(foreign.verify(&keys, now, &seen), Err(Error::BadSignature));
        let unknown = PullCommand::sign(&ring("k9", "a-secret-of-enough-bytes"), request(), now);
        assert_eq!(
            unknown.verify(&keys, now, &seen),
            Err(Error::UnknownKey("k9".into()))
        );
        let mut malformed = PullCommand::sign(&keys, request(), now);
        malformed.signature = "zz".into();
        assert_eq!(
            malformed.verify(&keys, now, &seen),
            Err(Error::MalformedSignature)
        );
    }

    #[test]
    fn a_rotated_ring_still_verifies_commands_of_the_previous_key() {
        let old = ring("k1", "the-first-secret-0001");
        let now = 1_800_000_000_000;
        let command = PullCommand::sign(&old, request(), now);
        let rotated = KeyRing::new(vec![
            SigningKey::new("k2", Secret::new("the-second-secret-02")).unwrap(),
            SigningKey::new("k1", Secret::new("the-first-secret-0001")).unwrap(),
        ])
        .unwrap();
        command
            .verify(&rotated, now, &NonceCache::default())
            .unwrap();
        assert_eq!(PullCommand::sign(&rotated, request(), now).key_id, "k2");
        // A third key is refused: two at most.
        let three = (1..=3)
            .map(|i| SigningKey::new(format!("k{i}"), Secret::new("sixteen-bytes-key!")).unwrap())
            .collect();
        assert!(KeyRing::new(three).is_err());
    }

    #[test]
    fn the_wire_form_is_flat_json() {
        let keys = ring("k1", "a-secret-of-enough-bytes");
        let command = PullCommand::sign(&keys, request(), 5);
        let json = serde_json::to_value(&command).unwrap();
        assert_eq!(json["image"], "settlement-api");
        assert_eq!(json["timestamp"], 5);
        let back: PullCommand = serde_json::from_value(json).unwrap();
        assert_eq!(back, command);
    }
}
