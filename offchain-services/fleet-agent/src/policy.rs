//! What a pull command must satisfy before anything is pulled: why one is refused, the
//! reference rules and the rollback rule.

use std::net::IpAddr;

use axum::http::StatusCode;

/// Why a pull command was refused. Nothing about the containers changes on a refusal.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The signature, timestamp or nonce check failed.
    #[error("{0}")]
    Command(#[from] sdv_fleet::Error),
    /// The image name is not a repository name of the registry.
    #[error("{0:?} is not a repository name (lowercase letters, digits, separators)")]
    ImageName(String),
    /// The tag is not a tag.
    #[error("{0:?} is not a tag")]
    Tag(String),
    /// The command is for another track than the node's.
    #[error("the command is for track {command:?}; this node follows {node}")]
    WrongTrack {
        /// The command's track.
        command: String,
        /// The node's.
        node: &'static str,
    },
    /// ValidatorGovernance did not approve the digest for the node's track.
    #[error("{image}@{digest} is not approved on-chain for {track}")]
    NotApproved {
        /// The image.
        image: String,
        /// The digest.
        digest: String,
        /// The track.
        track: &'static str,
    },
    /// The digest is an older release than the one the node runs.
    #[error("rollback refused: release {release} is older than release {running} ({running_digest}) which the node runs")]
    Rollback {
        /// The command's release number.
        release: u64,
        /// The running release number.
        running: u64,
        /// The running digest.
        running_digest: String,
    },
    /// The command names the agent's own image.
    #[error("{0} is the agent's own image: the agent does not restart itself")]
    OwnImage(String),
    /// The registry's manifest is larger than the limit.
    #[error("the manifest is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The registry serves another manifest under the tag than the one signed.
    #[error("the registry serves {actual} under the tag, not the signed {expected}")]
    ManifestDigest {
        /// The signed digest.
        expected: String,
        /// The served manifest's sha256.
        actual: String,
    },
}

impl Refusal {
    /// The HTTP status answering it: 401 when the command is not HQ's, 403 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Command(
                sdv_fleet::Error::BadSignature
                | sdv_fleet::Error::MalformedSignature
                | sdv_fleet::Error::UnknownKey(_),
            ) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// Whether `source` may send pull commands (IPv4-mapped IPv6 addresses count as IPv4).
pub fn source_allowed(allowed: &[IpAddr], source: IpAddr) -> bool {
    allowed.contains(&source.to_canonical())
}

/// Checks a repository name as the registry's distribution spec writes it: path components of
/// lowercase letters and digits, separated by `.`, `_`, `__` or `-`, joined by `/`.
///
/// # Errors
///
/// [`Refusal::ImageName`].
pub fn check_image(image: &str) -> Result<(), Refusal> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
            && !c.contains("..")
    };
    if image.len() > 255 || !image.split('/').all(component_ok) {
        return Err(Refusal::ImageName(image.to_owned()));
    }
    Ok(())
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
///
/// # Errors
///
/// [`Refusal::Tag`].
pub fn check_tag(tag: &str) -> Result<(), Refusal> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || b"_.-".contains(&x));
    if !ok {
        return Err(Refusal::Tag(tag.to_owned()));
    }
    Ok(())
}

/// The rollback rule: a release may replace the running ones only when it is not older than
/// any of them. `running` holds the approved release numbers of the digests the node runs now
/// for the image, with the digests; digests without an approval on the track do not count.
///
/// # Errors
///
/// [`Refusal::Rollback`] naming the newest running release.
pub fn check_rollback(release: u64, running: &[(String, u64)]) -> Result<(), Refusal> {
    match running.iter().max_by_key(|(_, number)| *number) {
        Some((digest, number)) if *number > release => Err(Refusal::Rollback {
            release,
            running: *number,
            running_digest: digest.clone(),
        }),
        _ => Ok(()),
    }
}

/// The repository of an image reference: `host:port/name:tag` and `host:port/name@sha256:..`
/// both give `host:port/name`.
pub fn repository_of(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_sources_may_send_commands() {
        let allowed = [IpAddr::from([127, 0, 0, 1])];
        assert!(source_allowed(&allowed, IpAddr::from([127, 0, 0, 1])));
        assert!(!source_allowed(&allowed, IpAddr::from([127, 0, 0, 2])));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(source_allowed(&allowed, mapped));
        assert!(!source_allowed(&allowed, "::1".parse().unwrap()));
    }

    #[test]
    fn a_release_older_than_the_running_one_is_a_rollback() {
        let running = vec![("sha256:aa".to_owned(), 4), ("sha256:bb".to_owned(), 7)];
        assert!(
            check_rollback(7, &running).is_ok(),
            "the same release may be redeployed"
        );
        assert!(check_rollback(8, &running).is_ok());
        let refused = check_rollback(5, &running).unwrap_err();
        assert!(matches!(
            refused,
            Refusal::Rollback { release: 5, running: 7, ref running_digest } if running_digest == "sha256:bb"
        ));
        assert!(
            check_rollback(1, &[]).is_ok(),
            "a first deployment has nothing to roll back"
        );
    }

    #[test]
    fn references_are_checked_before_they_reach_a_url() {
        for good in ["settlement-api", "sdv/indexer", "a.b_c__d-e/f0"] {
            check_image(good).unwrap();
        }
        for bad in [
            "", "Upper", "../v2", "a//b", "a/../b", "-a", "a?b", "a b", "a..b",
        ] {
            assert!(check_image(bad).is_err(), "{bad:?}");
        }
        for good in ["1.4.2", "latest", "_x", "V1-rc.2"] {
            check_tag(good).unwrap();
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_repository_of_a_reference_drops_tag_and_digest() {
        assert_eq!(repository_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app");
        assert_eq!(
            repository_of("127.0.0.1:5000/app@sha256:0011"),
            "127.0.0.1:5000/app"
        );
        assert_eq!(repository_of("127.0.0.1:5000/app"), "127.0.0.1:5000/app");
        assert_eq!(repository_of("busybox"), "busybox");
    }

    #[test]
    fn unauthenticated_commands_answer_401_and_other_refusals_403() {
        assert_eq!(
            Refusal::from(sdv_fleet::Error::BadSignature).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            Refusal::from(sdv_fleet::Error::Replayed).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            Refusal::OwnImage("x".into()).status(),
            StatusCode::FORBIDDEN
        );
    }
}
