//! Garage as the tests run it: a server of the test's own answers S3 with the key it made and
//! refuses a wrong secret; stopped, it is unreachable; restarted, it has the same objects on the
//! same endpoint. The shared server (`./dev test`'s, or one per test binary) answers too.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use sdv_system_tests::garage::{self, GarageProcess, S3Config};

/// Puts `body` at `key` in the configured bucket.
async fn put(s3: &aws_sdk_s3::Client, config: &S3Config, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(&config.bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT {key}: {e:?}"));
}

/// The bytes at `key` in the configured bucket.
async fn get(s3: &aws_sdk_s3::Client, config: &S3Config, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(&config.bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("the object's body")
        .to_vec()
}

/// The keys under `prefix` in the configured bucket (an authenticated ListObjectsV2).
async fn list(s3: &aws_sdk_s3::Client, config: &S3Config, prefix: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(&config.bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListObjectsV2 {prefix}: {e:?}"))
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn its_own_garage_serves_the_key_goes_down_on_stop_and_comes_back_with_its_data() {
    // Given a Garage of the test's own, with its key and bucket.
    let mut garage = GarageProcess::start();
    let config = garage.config();
    let s3 = config.client();

    // Then the bucket is empty, takes an object and returns its bytes.
    assert_eq!(list(&s3, &config, "").await, Vec::<String>::new());
    let body = b"ciphertext of a document".repeat(1000);
    put(&s3, &config, "docs/one", &body).await;
    assert_eq!(get(&s3, &config, "docs/one").await, body);
    assert_eq!(list(&s3, &config, "docs/").await, ["docs/one"]);

    // And a wrong secret is refused.
    let wrong = S3Config {
        secret_access_key: "0".repeat(64),
        ..config.clone()
    };
    let refused = wrong
        .client()
        .list_objects_v2()
        .bucket(&config.bucket)
        .send()
        .await;
    assert!(refused.is_err(), "a wrong secret was accepted");

    // When it is stopped, S3 requests fail.
    garage.stop();
    assert_eq!(garage.pid(), None);
    let down = tokio::time::timeout(
        Duration::from_secs(60),
        s3.get_object()
            .bucket(&config.bucket)
            .key("docs/one")
            .send(),
    )
    .await
    .expect("a request to a stopped Garage ends within 60 s");
    assert!(down.is_err(), "a stopped Garage answered");

    // When it is restarted, it is on the same endpoint with the same key and object.
    garage.restart();
    assert_eq!(garage.config(), config);
    assert_eq!(get(&s3, &config, "docs/one").await, body);
    put(&s3, &config, "docs/two", b"after the restart").await;
    assert_eq!(list(&s3, &config, "docs/").await, ["docs/one", "docs/two"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shared_s3_server_answers_with_its_key() {
    let config = garage::shared();
    let s3 = config.client();
    let prefix = format!("tests/garage/{}/", std::process::id());
    put(&s3, &config, &format!("{prefix}probe"), b"probe").await;
    assert_eq!(get(&s3, &config, &format!("{prefix}probe")).await, b"probe");
    assert_eq!(
        list(&s3, &config, &prefix).await,
        [format!("{prefix}probe")]
    );
}

#[test]
fn the_secret_is_not_printed() {
    let config = S3Config {
        endpoint: "http://127.0.0.1:1".into(),
        region: garage::REGION.into(),
        bucket: garage::DEFAULT_BUCKET.into(),
        access_key_id: "GKexample".into(),
        secret_access_key: "very-secret-value".into(),
    };
    let printed = format!("{config:?}");
    assert!(printed.contains("GKexample"), "{printed}");
    assert!(!printed.contains("very-secret-value"), "{printed}");
}
