//! The S3 bucket, through `aws-sdk-s3` (Garage on loopback: region `garage`, path-style).
//!
//! Keys: `docs/{sha256}` of the ciphertext for stored documents, `vaults/{vault}/staging/{sha256}`
//! for a vault upload waiting for the vault's decision. An object appears under a key only when
//! its multipart upload completes, so no partial object is ever visible.

use aws_sdk_s3::{
    config::{BehaviorVersion, Credentials, Region},
    error::ProvideErrorMetadata,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
    Client,
};
use bytes::Bytes;
use sdv_config::Secret;

/// Where the bucket is and how to reach it.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint, e.g. `http://127.0.0.1:3900`.
    pub endpoint: String,
    /// The region (`garage`).
    pub region: String,
    /// The bucket (`jil-sdv`).
    pub bucket: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: Secret,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .finish()
    }
}

impl S3Config {
    /// From `SDV_S3_ENDPOINT`, `SDV_S3_REGION`, `SDV_S3_BUCKET` (loopback Garage defaults),
    /// `SDV_S3_ACCESS_KEY_ID` and `SDV_S3_SECRET_ACCESS_KEY` (or `_FILE`).
    pub fn from_env() -> anyhow::Result<Self> {
        use anyhow::Context;
        use sdv_config::env_or;
        Ok(Self {
            endpoint: env_or("SDV_S3_ENDPOINT", "http://127.0.0.1:3900"),
            region: env_or("SDV_S3_REGION", "garage"),
            bucket: env_or("SDV_S3_BUCKET", "jil-sdv"),
            access_key_id: std::env::var("SDV_S3_ACCESS_KEY_ID")
                .context("SDV_S3_ACCESS_KEY_ID is not set")?,
            secret_access_key: Secret::require("SDV_S3_SECRET_ACCESS_KEY")?,
        })
    }
}

/// What went wrong with S3.
#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} {key}: {message}")]
pub struct S3Error {
    /// The operation.
    pub operation: &'static str,
    /// The key.
    pub key: String,
    /// The service's code and message, or the transport's error.
    pub message: String,
    /// The service's error code, when it answered.
    pub code: Option<String>,
}

/// The key of a stored document.
pub fn doc_key(sha256: &[u8; 32]) -> String {
    format!("docs/{}", hex::encode(sha256))
}

/// The key of a vault upload waiting for the vault's decision.
pub fn staging_key(vault: u32, sha256: &[u8; 32]) -> String {
    format!("vaults/{vault}/staging/{}", hex::encode(sha256))
}

/// The bucket.
#[derive(Clone)]
pub struct Bucket {
    client: Client,
    bucket: String,
}

fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    key: &str,
    e: aws_sdk_s3::error::SdkError<E>,
) -> S3Error {
    let code = e.code().map(str::to_owned);
    let message = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => {
            // Transport errors: the source chain says what happened.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    S3Error {
        operation,
        key: key.to_owned(),
        message,
        code,
    }
}

impl Bucket {
    /// A client of the bucket.
    pub fn new(config: &S3Config) -> Self {
        let secret = String::from_utf8_lossy(config.secret_access_key.expose()).into_owned();
        let credentials = Credentials::new(&config.access_key_id, secret, None, None, "sdv-config");
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(&config.endpoint)
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        Self {
            client: Client::from_conf(s3),
            bucket: config.bucket.clone(),
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.bucket
    }

    /// Starts a multipart upload to `key`; returns its upload id.
    pub async fn create_multipart(&self, key: &str) -> Result<String, S3Error> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| error("CreateMultipartUpload", key, e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| S3Error {
            operation: "CreateMultipartUpload",
            key: key.to_owned(),
            message: "no upload id in the answer".into(),
            code: None,
        })
    }

    /// Stores part `number` (1-based) of a multipart upload; returns its ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            // The part is covered by its CRC32 checksum; the gateway verified the sha256 of
            // every chunk, so SigV4 need not hash the payload a second time.
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| error("UploadPart", key, e))?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    /// Completes a multipart upload from its parts (ascending part numbers).
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), S3Error> {
        let parts = parts
            .iter()
            .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| error("CompleteMultipartUpload", key, e))?;
        Ok(())
    }

    /// Abandons a multipart upload and its parts. An upload that no longer exists is not an
    /// error.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(error("AbortMultipartUpload", key, e)),
        }
    }

    /// The size of the object at `key`, `None` when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, S3Error> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(error("HeadObject", key, e)),
        }
    }

    /// The object at `key` as a stream, with its size.
    pub async fn get(&self, key: &str) -> Result<Option<(u64, ByteStream)>, S3Error> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some((
                out.content_length().unwrap_or(0).max(0) as u64,
                out.body,
            ))),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(error("GetObject", key, e)),
        }
    }

    /// Copies `from` to `to` inside the bucket (the server copies; no bytes pass through us).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(format!("{}/{from}", self.bucket))
            .send()
            .await
            .map_err(|e| error("CopyObject", to, e))?;
        Ok(())
    }

    /// Deletes the object at `key` (deleting a missing object is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), S3Error> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| error("DeleteObject", key, e))?;
        Ok(())
    }

    /// The keys under `prefix` (every page).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| error("ListObjectsV2", prefix, e))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) => token = Some(next.to_owned()),
                None => return Ok(keys),
            }
        }
    }

    /// The keys of the multipart uploads in progress under `prefix`.
    pub async fn list_multipart(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| error("ListMultipartUploads", prefix, e))?;
        Ok(out
            .uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect())
    }
}
