//! The registry's manifest, checked against the signed digest before anything is pulled.

use sha2::{Digest, Sha256};

use crate::{policy::Refusal, Error, Stop};

/// The manifest media types the agent accepts: Docker v2 and OCI, single images and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json";

/// Fetches the manifest `registry` (`host:port`) serves for `image:tag`, reading at most
/// `limit + 1` bytes, and checks that its sha256 is `digest`: a different image pushed under
/// the tag after HQ signed is refused. Returns the manifest.
///
/// # Errors
///
/// [`Stop::Refused`] with [`Refusal::ManifestTooLarge`] or [`Refusal::ManifestDigest`];
/// [`Stop::Failed`] when the registry cannot be reached or does not serve the tag.
pub async fn fetch_verified_manifest(
    http: &reqwest::Client,
    registry: &str,
    image: &str,
    tag: &str,
    digest: &str,
    limit: usize,
) -> Result<Vec<u8>, Stop> {
    let url = format!("http://{registry}/v2/{image}/manifests/{tag}");
    let mut response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT)
        .send()
        .await
        .map_err(|e| Error::Registry(format!("GET {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(Error::Registry(format!("GET {url}: {}", response.status())).into());
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Refusal::ManifestTooLarge { limit }.into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Registry(format!("GET {url}: {e}")))?
    {
        let room = limit + 1 - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() > limit {
            return Err(Refusal::ManifestTooLarge { limit }.into());
        }
    }
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if actual != digest {
        return Err(Refusal::ManifestDigest {
            expected: digest.to_owned(),
            actual,
        }
        .into());
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    //! Against the real registry (`docker-registry`, Distribution 2.8), started per test on a
    //! free port with its own storage, images pushed through its HTTP API.

    use std::{
        net::TcpListener,
        process::{Child, Command, Stdio},
        time::Duration,
    };

    use super::*;

    struct Registry {
        child: Child,
        addr: String,
        _dir: tempfile::TempDir,
    }

    impl Drop for Registry {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    async fn start_registry() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed (Debian package docker-registry)");
        let registry = Registry {
            child,
            addr,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("http://{}/v2/", registry.addr))
                .send()
                .await
                .is_ok()
            {
                return registry;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the registry did not start on {}", registry.addr);
    }

    fn sha(bytes: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
    }

    async fn push_blob(http: &reqwest::Client, addr: &str, image: &str, blob: &[u8]) -> String {
        let digest = sha(blob);
        let started = http
            .post(format!("http://{addr}/v2/{image}/blobs/uploads/"))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 202);
        let location = started.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://{addr}{location}")
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = http
            .put(format!("{location}{separator}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 201, "{}", done.text().await.unwrap());
        digest
    }

    /// Pushes a one-layer image under `image:tag` and returns its manifest's digest.
    async fn push_image(addr: &str, image: &str, tag: &str, layer: &[u8]) -> String {
        let http = reqwest::Client::new();
        let layer_digest = push_blob(&http, addr, image, layer).await;
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}},"config":{{}}}}"#
        );
        let config_digest = push_blob(&http, addr, image, config.as_bytes()).await;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar","size":{},"digest":"{layer_digest}"}}]}}"#,
            config.len(),
            layer.len()
        );
        let put = http
            .put(format!("http://{addr}/v2/{image}/manifests/{tag}"))
            .header(
                "content-type",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
        sha(manifest.as_bytes())
    }

    #[tokio::test]
    async fn the_signed_manifest_is_accepted_and_a_retagged_one_refused() {
        let registry = start_registry().await;
        let http = reqwest::Client::new();
        let signed = push_image(&registry.addr, "sdv/app", "1", b"first layer").await;
        let manifest =
            fetch_verified_manifest(&http, &registry.addr, "sdv/app", "1", &signed, 65_536)
                .await
                .unwrap();
        assert_eq!(sha(&manifest), signed);

        // Another image pushed under the same tag after HQ signed: refused.
        let other = push_image(&registry.addr, "sdv/app", "1", b"another layer").await;
        assert_ne!(other, signed);
        let refused =
            fetch_verified_manifest(&http, &registry.addr, "sdv/app", "1", &signed, 65_536)
                .await
                .unwrap_err();
        assert!(
            matches!(
                refused,
                Stop::Refused(Refusal::ManifestDigest { ref expected, ref actual })
                    if *expected == signed && *actual == other
            ),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_manifest_over_the_limit_is_refused_and_a_missing_tag_fails() {
        let registry = start_registry().await;
        let http = reqwest::Client::new();
        let digest = push_image(&registry.addr, "app", "2", b"layer").await;
        let refused = fetch_verified_manifest(&http, &registry.addr, "app", "2", &digest, 64)
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                Stop::Refused(Refusal::ManifestTooLarge { limit: 64 })
            ),
            "{refused:?}"
        );
        let missing = fetch_verified_manifest(&http, &registry.addr, "app", "9", &digest, 65_536)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, Stop::Failed(Error::Registry(_))),
            "{missing:?}"
        );
    }
}
