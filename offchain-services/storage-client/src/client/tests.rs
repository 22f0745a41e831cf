//! The client and the uploader against a small gateway served on a loopback port.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering::SeqCst},
        Mutex,
    },
    time::Instant,
};

use axum::{
    extract::{DefaultBodyLimit, Path as UrlPath, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response as AxumResponse},
    routing::{get, post, put},
    Json, Router,
};
use sha2::Sha512;

use super::*;

const TOKEN: &str = "test-token";
const ACCOUNT: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const CHALLENGE: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// A gateway whose chunk answers are scripted.
#[derive(Default)]
struct TestGateway {
    /// Per chunk, the refusals to answer before accepting it.
    script: Mutex<HashMap<u32, Vec<(StatusCode, &'static str)>>>,
    /// Requests per chunk.
    attempts: Mutex<HashMap<u32, u32>>,
    /// The sha256 of each accepted chunk.
    received: Mutex<BTreeMap<u32, [u8; 32]>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// How long each chunk request takes.
    delay: Duration,
    /// The challenge asks to sign another message.
    evil_challenge: bool,
    /// The document served, and the hash header served with it.
    document: Vec<u8>,
    document_sha256: String,
}

impl TestGateway {
    fn scripted(index: u32, refusals: &[(StatusCode, &'static str)]) -> Self {
        Self {
            script: Mutex::new(HashMap::from([(index, refusals.to_vec())])),
            ..Self::default()
        }
    }

    fn attempts(&self, index: u32) -> u32 {
        self.attempts
            .lock()
            .unwrap()
            .get(&index)
            .copied()
            .unwrap_or(0)
    }
}

fn refusal(status: StatusCode, code: &str) -> AxumResponse {
    let body = ErrorBody {
        code: code.into(),
        error: format!("test refusal {code}"),
    };
    (status, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {TOKEN}").as_str())
}

/// Decrements the in-flight count even when the client gives up on the request.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

async fn put_chunk_handler(
    State(gw): State<Arc<TestGateway>>,
    UrlPath((_upload_id, index)): UrlPath<(String, u32)>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumResponse {
    if !authorized(&headers) {
        return refusal(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let now = gw.in_flight.fetch_add(1, SeqCst) + 1;
    let _guard = InFlight(&gw.in_flight);
    gw.max_in_flight.fetch_max(now, SeqCst);
    tokio::time::sleep(gw.delay).await;
    *gw.attempts.lock().unwrap().entry(index).or_default() += 1;
    let scripted = gw
        .script
        .lock()
        .unwrap()
        .get_mut(&index)
        .filter(|s| !s.is_empty())
        .map(|s| s.remove(0));
    if let Some((status, code)) = scripted {
        return refusal(status, code);
    }
    let sha256: [u8; 32] = Sha256::digest(&body).into();
    let announced = headers
        .get(CHUNK_SHA256_HEADER)
        .and_then(|v| v.to_str().ok());
    if announced != Some(hex::encode(sha256).as_str()) {
        return refusal(StatusCode::BAD_REQUEST, "chunk_hash_mismatch");
    }
    let received = {
        let mut received = gw.received.lock().unwrap();
        received.insert(index, sha256);
        received.len() as u32
    };
    Json(ChunkReceipt {
        index,
        received,
        chunks: 0,
    })
    .into_response()
}

async fn challenge_handler(
    State(gw): State<Arc<TestGateway>>,
    Json(request): Json<ChallengeRequest>,
) -> Json<Challenge> {
    let message = if gw.evil_challenge {
        "Transfer everything to Mallory".to_owned()
    } else {
        login_message(&request.account, CHALLENGE)
    };
    Json(Challenge {
        challenge: CHALLENGE.into(),
        message,
        expires_at_ms: 0,
    })
}

/// The test wallet's "signature": sha512 of the message.
fn test_sign(message: &[u8]) -> [u8; 64] {
    Sha512::digest(message).into()
}

async fn login_handler(Json(request): Json<LoginRequest>) -> AxumResponse {
    let expected = test_sign(login_message(&request.account, &request.challenge).as_bytes());
    if request.scheme != Scheme::Sr25519 || request.signature != hex::encode(expected) {
        return refusal(StatusCode::UNAUTHORIZED, "bad_signature");
    }
    Json(Login {
        token: TOKEN.into(),
        session_id: "s1".into(),
        account: request.account,
    })
    .into_response()
}

async fn sessions_handler(headers: HeaderMap) -> AxumResponse {
    if !authorized(&headers) {
        return refusal(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    Json(vec![SessionInfo {
        session_id: "s1".into(),
        created_at_ms: 1,
        last_seen_ms: 2,
        current: true,
    }])
    .into_response()
}

async fn document_handler(State(gw): State<Arc<TestGateway>>) -> AxumResponse {
    (
        [(OBJECT_SHA256_HEADER, gw.document_sha256.clone())],
        gw.document.clone(),
    )
        .into_response()
}

/// Serves `gateway` on a loopback port; returns it and a client logged in to it.
async fn serve(gateway: TestGateway) -> (Arc<TestGateway>, GatewayClient) {
    let gateway = Arc::new(gateway);
    let app = Router::new()
        .route("/v1/auth/challenge", post(challenge_handler))
        .route("/v1/auth/login", post(login_handler))
        .route("/v1/auth/sessions", get(sessions_handler))
        .route(
            "/v1/uploads",
            get(|| async { (StatusCode::BAD_GATEWAY, "<html>Bad   Gateway</html>") }),
        )
        .route(
            "/v1/uploads/{upload_id}",
            get(|| async { refusal(StatusCode::NOT_FOUND, "upload_not_found") }),
        )
        .route(
            "/v1/uploads/{upload_id}/chunks/{index}",
            put(put_chunk_handler),
        )
        .route("/v1/documents/{token_id}", get(document_handler))
        .route(
            "/v1/recovery-key",
            get(|| async {
                Json(RecoveryKeyInfo {
                    public_key: "ab".repeat(32),
                })
            }),
        )
        .layer(DefaultBodyLimit::max(2 * CHUNK_SIZE as usize))
        .with_state(Arc::clone(&gateway));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = GatewayClient::new(&url).unwrap().with_token(TOKEN);
    (gateway, client)
}

/// Records what the uploader reports.
#[derive(Default)]
struct Recorder {
    started: Mutex<Option<(u64, u64)>>,
    advanced: AtomicUsize,
    retries: Mutex<Vec<(u32, u32, Duration)>>,
}

impl Progress for Recorder {
    fn started(&self, total: u64, already: u64) {
        *self.started.lock().unwrap() = Some((total, already));
    }

    fn advanced(&self, bytes: u64) {
        self.advanced.fetch_add(bytes as usize, SeqCst);
    }

    fn retrying(&self, index: u32, attempt: u32, delay: Duration, error: &str) {
        assert!(!error.is_empty());
        self.retries.lock().unwrap().push((index, attempt, delay));
    }
}

/// A "ciphertext" file of `size` bytes and the sha256 of each of its chunks.
fn ciphertext_file(dir: &tempfile::TempDir, size: u64) -> (PathBuf, Vec<[u8; 32]>) {
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + i / 4093) as u8).collect();
    let path = dir.path().join("document.sdv");
    std::fs::write(&path, &bytes).unwrap();
    let hashes = bytes
        .chunks(CHUNK_SIZE as usize)
        .map(|c| Sha256::digest(c).into())
        .collect();
    (path, hashes)
}

fn open_status(size: u64, received: Vec<u32>, parallel_chunks: u8) -> UploadStatus {
    UploadStatus {
        upload_id: "up-1".into(),
        state: UploadState::Open,
        size,
        sha256: String::new(),
        chunk_size: CHUNK_SIZE,
        chunks: chunk_count(size),
        received,
        tier: "free".into(),
        parallel_chunks,
        expires_at_ms: 0,
        mint: None,
    }
}

fn fast(client: GatewayClient) -> Uploader {
    let mut uploader = Uploader::new(client);
    uploader.retry_delays = vec![
        Duration::from_millis(20),
        Duration::from_millis(40),
        Duration::from_millis(80),
    ];
    uploader
}

#[tokio::test]
async fn uploader_sends_the_missing_chunks_intact() {
    let dir = tempfile::tempdir().unwrap();
    let size = 2 * CHUNK_SIZE + 1000;
    let (path, hashes) = ciphertext_file(&dir, size);
    let (gateway, client) = serve(TestGateway::default()).await;
    let progress = Recorder::default();

    fast(client)
        .upload(&path, &open_status(size, vec![1], 2), &progress)
        .await
        .unwrap();

    let received = gateway.received.lock().unwrap().clone();
    assert_eq!(received, BTreeMap::from([(0, hashes[0]), (2, hashes[2])]));
    assert_eq!(gateway.attempts(1), 0);
    assert_eq!(*progress.started.lock().unwrap(), Some((size, CHUNK_SIZE)));
    assert_eq!(progress.advanced.load(SeqCst) as u64, CHUNK_SIZE + 1000);
    assert!(progress.retries.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failed_chunk_is_retried_with_backoff_then_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (path, hashes) = ciphertext_file(&dir, 1000);
    let refusals = [
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        (StatusCode::TOO_MANY_REQUESTS, "slow_down"),
    ];
    let (gateway, client) = serve(TestGateway::scripted(0, &refusals)).await;
    let progress = Recorder::default();

    let started = Instant::now();
    fast(client)
        .upload(&path, &open_status(1000, vec![], 1), &progress)
        .await
        .unwrap();

    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(gateway.attempts(0), 4);
    assert_eq!(gateway.received.lock().unwrap()[&0], hashes[0]);
    assert_eq!(
        *progress.retries.lock().unwrap(),
        [
            (0, 1, Duration::from_millis(20)),
            (0, 2, Duration::from_millis(40)),
            (0, 3, Duration::from_millis(80)),
        ]
    );
}

#[tokio::test]
async fn three_failed_retries_pause_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = ciphertext_file(&dir, 1000);
    let refusals = [(StatusCode::SERVICE_UNAVAILABLE, "unavailable"); 4];
    let (gateway, client) = serve(TestGateway::scripted(0, &refusals)).await;
    let progress = Recorder::default();

    let err = fast(client)
        .upload(&path, &open_status(1000, vec![], 1), &progress)
        .await
        .unwrap_err();

    let Error::Paused {
        index,
        attempts,
        ref last_error,
    } = err
    else {
        panic!("not paused: {err}");
    };
    assert_eq!((index, attempts), (0, 4));
    assert!(last_error.contains("unavailable"), "{last_error}");
    assert!(err.to_string().contains("check the connection and resume"));
    assert_eq!(gateway.attempts(0), 4);
    assert_eq!(progress.retries.lock().unwrap().len(), 3);
    assert!(gateway.received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn default_backoff_is_one_two_four_seconds() {
    let client = GatewayClient::new("http://127.0.0.1:1").unwrap();
    assert_eq!(
        Uploader::new(client).retry_delays,
        [1, 2, 4].map(Duration::from_secs)
    );
}

#[tokio::test]
async fn unreachable_gateway_pauses_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = ciphertext_file(&dir, 10);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = GatewayClient::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_token(TOKEN);
    let progress = Recorder::default();

    let err = fast(client)
        .upload(&path, &open_status(10, vec![], 1), &progress)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            Error::Paused {
                index: 0,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(progress.retries.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn final_refusals_stop_the_upload_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = ciphertext_file(&dir, 1000);
    for (status, code) in [
        (StatusCode::BAD_REQUEST, "chunk_hash_mismatch"),
        (StatusCode::FORBIDDEN, "not_owner"),
        (StatusCode::CONFLICT, "upload_not_open"),
        (StatusCode::GONE, "upload_expired"),
        (StatusCode::PAYLOAD_TOO_LARGE, "chunk_too_large"),
    ] {
        let (gateway, client) = serve(TestGateway::scripted(0, &[(status, code)])).await;
        let progress = Recorder::default();

        let err = fast(client)
            .upload(&path, &open_status(1000, vec![], 1), &progress)
            .await
            .unwrap_err();

        match &err {
            Error::Api {
                status: s, code: c, ..
            } => assert_eq!((*s, c.as_str()), (status.as_u16(), code)),
            _ => panic!("{code}: {err}"),
        }
        assert_eq!(gateway.attempts(0), 1, "{code}");
        assert!(progress.retries.lock().unwrap().is_empty(), "{code}");
    }
}

#[tokio::test]
async fn parallel_chunks_bound_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let size = 6 * CHUNK_SIZE + 10;
    let (path, hashes) = ciphertext_file(&dir, size);
    for parallel in [1, 3] {
        let (gateway, client) = serve(TestGateway {
            delay: Duration::from_millis(60),
            ..TestGateway::default()
        })
        .await;

        fast(client)
            .upload(&path, &open_status(size, vec![], parallel), &NoProgress)
            .await
            .unwrap();

        assert_eq!(
            gateway.max_in_flight.load(SeqCst),
            usize::from(parallel),
            "parallel_chunks {parallel}"
        );
        let received: Vec<_> = gateway.received.lock().unwrap().values().copied().collect();
        assert_eq!(received, hashes);
    }
}

#[tokio::test]
async fn upload_checks_the_session_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = ciphertext_file(&dir, 1000);
    let (gateway, client) = serve(TestGateway::default()).await;
    let uploader = fast(client);

    let err = uploader
        .upload(&path, &open_status(999, vec![], 1), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::FileSizeMismatch {
            file: 1000,
            upload: 999
        }
    ));

    let mut stored = open_status(1000, vec![0], 1);
    stored.state = UploadState::Stored;
    let err = uploader
        .upload(&path, &stored, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::UploadNotOpen {
            state: UploadState::Stored
        }
    ));
    assert_eq!(gateway.attempts(0), 0);

    // Nothing missing: nothing sent.
    uploader
        .upload(&path, &open_status(1000, vec![0], 1), &NoProgress)
        .await
        .unwrap();
    assert_eq!(gateway.attempts(0), 0);
}

#[tokio::test]
async fn login_signs_the_protocol_message_and_carries_the_token() {
    let (_, client) = serve(TestGateway::default()).await;
    let anonymous = GatewayClient::new(client.base_url().as_str()).unwrap();
    assert!(matches!(
        anonymous.sessions().await,
        Err(Error::NotLoggedIn)
    ));

    let mut signed = Vec::new();
    let logged_in = anonymous
        .login(ACCOUNT, Scheme::Sr25519, |message| {
            signed = message.to_vec();
            test_sign(message)
        })
        .await
        .unwrap();

    assert_eq!(signed, login_message(ACCOUNT, CHALLENGE).into_bytes());
    assert_eq!(logged_in.token(), Some(TOKEN));
    assert_eq!(logged_in.session().unwrap().session_id, "s1");
    let sessions = logged_in.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].current);
    assert!(!format!("{logged_in:?}").contains(TOKEN));

    let err = anonymous
        .login(ACCOUNT, Scheme::Ed25519, test_sign)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 401, ref code, .. } if code == "bad_signature"));
}

#[tokio::test]
async fn login_refuses_to_sign_another_message() {
    let (_, client) = serve(TestGateway {
        evil_challenge: true,
        ..TestGateway::default()
    })
    .await;
    let err = client
        .login(ACCOUNT, Scheme::Sr25519, |_| panic!("must not sign"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse(_)), "{err}");
}

#[tokio::test]
async fn error_answers_become_api_errors() {
    let (_, client) = serve(TestGateway::default()).await;

    let err = client.upload_status("nope").await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 404, code, .. } if code == "upload_not_found"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "the gateway refused (404 upload_not_found): test refusal upload_not_found"
    );

    // Not the protocol's body (a proxy's page): the status stands in for the code.
    let err = client.list_uploads().await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { status: 502, code, error } if code == "http_502" && error == "<html>Bad Gateway</html>"),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn read_document_streams_and_verifies_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let document: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
    let sha256 = hex::encode(Sha256::digest(&document));
    let (_, client) = serve(TestGateway {
        document: document.clone(),
        document_sha256: sha256.clone(),
        ..TestGateway::default()
    })
    .await;
    let dst = dir.path().join("doc.sdv");

    let downloaded = client.read_document(7, &dst).await.unwrap();

    assert_eq!(downloaded.size, document.len() as u64);
    assert_eq!(hex::encode(downloaded.sha256), sha256);
    assert_eq!(std::fs::read(&dst).unwrap(), document);
}

#[tokio::test]
async fn read_document_with_a_wrong_hash_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, client) = serve(TestGateway {
        document: b"tampered".to_vec(),
        document_sha256: hex::encode(Sha256::digest(b"original")),
        ..TestGateway::default()
    })
    .await;
    let dst = dir.path().join("doc.sdv");

    let err = client.read_document(7, &dst).await.unwrap_err();

    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // No hash header at all.
    let (_, client) = serve(TestGateway::default()).await;
    let err = client.read_document(7, &dst).await.unwrap_err();
    assert!(matches!(err, Error::InvalidResponse(_)), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn recovery_key_is_parsed() {
    let (_, client) = serve(TestGateway::default()).await;
    let anonymous = GatewayClient::new(client.base_url().as_str()).unwrap();
    let key = anonymous.recovery_key().await.unwrap();
    assert_eq!(key.as_bytes(), &[0xab; 32]);
}

#[test]
fn urls_keep_the_base_path_and_encode_segments() {
    let client = GatewayClient::new("http://gateway.local:8800/sdv/").unwrap();
    assert_eq!(
        client.url(&["v1", "uploads", "a/b c"]).as_str(),
        "http://gateway.local:8800/sdv/v1/uploads/a%2Fb%20c"
    );
    let client = GatewayClient::new("http://127.0.0.1:8800").unwrap();
    assert_eq!(
        client.url(&["v1", "recovery-key"]).as_str(),
        "http://127.0.0.1:8800/v1/recovery-key"
    );
    for bad in ["gateway", "ftp://host/", "mailto:a@b"] {
        assert!(
            matches!(GatewayClient::new(bad), Err(Error::InvalidUrl { .. })),
            "{bad}"
        );
    }
}
