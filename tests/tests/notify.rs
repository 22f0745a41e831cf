//! The `sdv-notify` binary on a real PostgreSQL database and a real SMTP server (aiosmtpd):
//! notices arrive by mail and by signed webhook, once per idempotency key, and are retried
//! until the SMTP server is up, also across a restart of the service.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use sdv_system_tests::{
    binary, fresh_database, indexer::url_of, smtp::free_port, smtp::SmtpServer,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const API_KEY: &str = "notify-test-api-key-0123456789";
const WEBHOOK_SECRET: &str = "notify-test-webhook-secret-0123456789";

/// A running `sdv-notify`, killed (SIGKILL) on drop.
struct NotifyProcess {
    child: Child,
    base: String,
}

impl NotifyProcess {
    /// Starts the binary on `database_url`, handing mail to `smtp_port` on loopback, with
    /// retries `retry_ms` apart at first; waits until `/health` answers.
    async fn start(database_url: &str, smtp_port: u16, retry_ms: u64) -> Self {
        let port = free_port();
        let child = Command::new(binary("sdv-notify"))
            .env("DATABASE_URL", database_url)
            .env("SDV_NOTIFY_LISTEN", format!("127.0.0.1:{port}"))
            .env("SDV_NOTIFY_API_KEY", API_KEY)
            .env("SDV_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("SDV_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
            .env("SDV_NOTIFY_RETRY_MS", retry_ms.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sdv-notify binary starts");
        let mut process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/health", self.base)).await {
                let body: Value = response.json().await.unwrap_or_default();
                assert_eq!(body, json!({"status": "healthy", "service": "sdv-notify"}));
                return;
            }
            if let Some(status) = self.child.try_wait().expect("sdv-notify's status") {
                panic!("sdv-notify exited with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "sdv-notify did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a request with the API key (or `key`): the status and the JSON body.
    async fn call_with(
        &self,
        key: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path} answered {status} without JSON: {text:?}"));
        (status, json)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(Some(API_KEY), method, path, body).await
    }

    async fn set_contact(&self, account: &str, contact: Value) {
        let path = format!("/v1/contacts/{account}");
        let (status, body) = self.call(reqwest::Method::PUT, &path, Some(contact)).await;
        assert_eq!(status, 200, "PUT {path}: {body}");
    }

    async fn post_notice(&self, notice: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/v1/notices", Some(notice.clone()))
            .await
    }

    async fn notice(&self, key: &str) -> Value {
        let (status, body) = self
            .call(reqwest::Method::GET, &format!("/v1/notices/{key}"), None)
            .await;
        assert_eq!(status, 200, "GET notice {key}: {body}");
        body
    }

    /// Waits until the notice's state satisfies `done` (at most `timeout`); returns it.
    async fn wait_for_notice(
        &self,
        key: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.notice(key).await;
            if done(&state) {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "notice {key} did not reach the expected state in {timeout:?}: {state:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for NotifyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn account(byte: u8) -> String {
    format!("0x{}", format!("{byte:02x}").repeat(32))
}

/// The 30-day pre-deletion notice with its four facts.
fn deletion_notice(key: &str, account: &str) -> Value {
    json!({
        "idempotency_key": key,
        "account": account,
        "kind": "deletion_notice",
        "subject": "lease-2019.pdf will be deleted on 2025-07-01",
        "facts": [
            ["Document", "lease-2019.pdf"],
            ["Uploaded", "2019-06-30"],
            ["Retention policy", "Financial records (5 years)"],
            ["Scheduled deletion", "2025-07-01"],
        ],
    })
}

fn delivery<'a>(state: &'a Value, channel: &str) -> &'a Value {
    state["deliveries"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["channel"] == channel))
        .unwrap_or_else(|| panic!("no {channel} delivery in {state:#}"))
}

/// Whether the mail's body (after the headers, quoted-printable decoded when so encoded)
/// holds `line` as a line of its own.
fn body_has_line(mail: &str, line: &str) -> bool {
    let (headers, body) = mail
        .split_once("\r\n\r\n")
        .or_else(|| mail.split_once("\n\n"))
        .unwrap_or((mail, ""));
    let body = if headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        decode_quoted_printable(body)
    } else {
        body.to_owned()
    };
    body.lines().any(|l| l.trim_end() == line)
}

/// RFC 2045 quoted-printable: `=` at a line's end joins it to the next, `=XX` is a byte.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn deletion_notice_arrives_by_mail_once_per_key() {
    // Given a contact with an email address.
    let pool = fresh_database().await;
    let smtp = SmtpServer::start();
    let notify = NotifyProcess::start(&url_of(&pool).await, smtp.port(), 5000).await;
    let owner = account(0xa1);
    notify
        .set_contact(&owner, json!({ "email": "owner@example.org" }))
        .await;

    // When the deletion notice is posted.
    let notice = deletion_notice("deletion:42:2025-07-01", &owner);
    let (status, accepted) = notify.post_notice(&notice).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["idempotency_key"], "deletion:42:2025-07-01");
    assert_eq!(accepted["facts"], notice["facts"]);

    // Then one mail arrives with the subject and each fact on its line.
    let mails = smtp.wait_for_messages(1, Duration::from_secs(30)).await;
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: lease-2019.pdf will be deleted on 2025-07-01"),
        "{mail}"
    );
    assert!(mail.contains("X-RcptTo: owner@example.org"), "{mail}");
    assert!(
        mail.lines().any(|l| l.starts_with("From: ")
            && l.contains("SDV Notices")
            && l.contains("<notices@sdv.localhost>")),
        "{mail}"
    );
    assert!(body_has_line(mail, &owner), "the account is not in {mail}");
    for line in [
        "Document: lease-2019.pdf",
        "Uploaded: 2019-06-30",
        "Retention policy: Financial records (5 years)",
        "Scheduled deletion: 2025-07-01",
    ] {
        assert!(body_has_line(mail, line), "{line:?} is not in {mail}");
    }
    let state = notify
        .wait_for_notice("deletion:42:2025-07-01", Duration::from_secs(10), |s| {
            s["status"] == "sent"
        })
        .await;
    let email = delivery(&state, "email");
    assert_eq!(email["attempts"], 1, "{state:#}");
    assert!(email["sent_at_ms"].as_i64().is_some(), "{state:#}");

    // When the same key is posted again, the first notice's state is the answer and no
    // second mail is sent.
    let (status, again) = notify.post_notice(&notice).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, state);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages().len(), 1, "a duplicate mail was sent");
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_deliveries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
}

/// What the test's webhook receiver saw: the headers and the raw body of each request.
type Received = (HeaderMap, Bytes);

/// Serves a webhook on a free loopback port that answers 503 to the first `fail_first`
/// requests and 204 after; returns its URL and the requests it receives.
async fn webhook_receiver(fail_first: u32) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (sender, received) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new()
        .route(
            "/hook",
            post(
                move |State(sender): State<mpsc::UnboundedSender<Received>>,
                      headers: HeaderMap,
                      body: Bytes| async move {
                    let _ = sender.send((headers, body));
                    if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        )
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Verifies the signature independently of the service's code: HMAC-SHA256 by Python's
/// standard library over `"<timestamp>." + body`.
fn signature_verifies(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    use std::io::Write;
    const VERIFY: &str = "import hashlib, hmac, sys
body = sys.stdin.buffer.read()
mac = hmac.new(sys.argv[1].encode(), sys.argv[2].encode() + b'.' + body, hashlib.sha256)
sys.exit(0 if hmac.compare_digest('sha256=' + mac.hexdigest(), sys.argv[3]) else 1)";
    let mut child = Command::new("python3")
        .args(["-c", VERIFY, secret, timestamp, signature])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("writing the body");
    child.wait().expect("python3 finishes").success()
}

#[tokio::test]
async fn webhook_receives_signed_json_and_is_retried() {
    // Given a contact with a webhook that fails once.
    let pool = fresh_database().await;
    let smtp = SmtpServer::start();
    let notify = NotifyProcess::start(&url_of(&pool).await, smtp.port(), 200).await;
    let (hook, mut received) = webhook_receiver(1).await;
    let user = account(0xb2);
    notify
        .set_contact(&user, json!({ "webhook_url": hook }))
        .await;

    // When a recovery notice is posted.
    let notice = json!({
        "idempotency_key": "recovery:7:initiated",
        "account": user,
        "kind": "recovery_initiated",
        "subject": "A recovery of your wallet was initiated",
        "facts": [["Recovery", "7"], ["New wallet", account(0xc3)], ["Initiated by", "guardian 1"]],
    });
    let (status, body) = notify.post_notice(&notice).await;
    assert_eq!(status, 202, "{body}");

    // Then the webhook gets the signed JSON, a second time after answering 503.
    let mut requests = Vec::new();
    for _ in 0..2 {
        let request = tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .expect("the webhook was called in 30 s")
            .expect("the receiver runs");
        requests.push(request);
    }
    for (headers, body) in &requests {
        let payload: Value = serde_json::from_slice(body).expect("a JSON body");
        assert_eq!(payload["idempotency_key"], "recovery:7:initiated");
        assert_eq!(payload["account"], user);
        assert_eq!(payload["kind"], "recovery_initiated");
        assert_eq!(payload["subject"], notice["subject"]);
        assert_eq!(payload["facts"], notice["facts"]);
        let timestamp = headers["x-sdv-timestamp"].to_str().unwrap();
        assert_eq!(payload["sent_at_ms"].to_string(), timestamp);
        assert_eq!(headers["content-type"], "application/json");
        let signature = headers["x-sdv-signature"].to_str().unwrap();
        assert!(signature.starts_with("sha256="), "{signature}");
        assert!(signature_verifies(
            WEBHOOK_SECRET,
            timestamp,
            body,
            signature
        ));

        // A tampered body, another time or another secret does not verify.
        let tampered = String::from_utf8(body.to_vec())
            .unwrap()
            .replace("guardian 1", "guardian 2");
        assert!(!signature_verifies(
            WEBHOOK_SECRET,
            timestamp,
            tampered.as_bytes(),
            signature
        ));
        assert!(!signature_verifies(WEBHOOK_SECRET, "1", body, signature));
        assert!(!signature_verifies(
            "another-secret",
            timestamp,
            body,
            signature
        ));
    }
    let state = notify
        .wait_for_notice("recovery:7:initiated", Duration::from_secs(10), |s| {
            s["status"] == "sent"
        })
        .await;
    let webhook = delivery(&state, "webhook");
    assert_eq!(webhook["attempts"], 2, "{state:#}");
    assert_eq!(webhook["destination"], hook.as_str());
    assert!(smtp.messages().is_empty(), "no email was set, none is sent");
}

#[tokio::test]
async fn requests_without_the_api_key_are_refused() {
    let pool = fresh_database().await;
    let notify = NotifyProcess::start(&url_of(&pool).await, free_port(), 5000).await;
    let routes = [
        (reqwest::Method::GET, format!("/v1/contacts/{}", account(1))),
        (reqwest::Method::PUT, format!("/v1/contacts/{}", account(1))),
        (reqwest::Method::POST, "/v1/notices".to_owned()),
        (reqwest::Method::GET, "/v1/notices/deletion:1".to_owned()),
    ];
    for key in [None, Some("wrong-key"), Some("")] {
        for (method, path) in &routes {
            let (status, body) = notify
                .call_with(key, method.clone(), path, Some(json!({ "email": "a@b.c" })))
                .await;
            assert_eq!(status, 401, "{method} {path} with {key:?}: {body}");
            assert_eq!(body["code"], "unauthorized", "{body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
    // Nothing was written.
    let (status, body) = notify
        .call(
            reqwest::Method::GET,
            &format!("/v1/contacts/{}", account(1)),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn malformed_requests_are_refused_with_json() {
    let pool = fresh_database().await;
    let notify = NotifyProcess::start(&url_of(&pool).await, free_port(), 5000).await;
    let user = account(0xd4);
    let contact = format!("/v1/contacts/{user}");

    // A header injection in the email address is refused, and nothing is stored.
    let (status, body) = notify
        .call(
            reqwest::Method::PUT,
            &contact,
            Some(json!({ "email": "a@b.c\r\nBcc: x@y.z" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");
    let (status, _) = notify.call(reqwest::Method::GET, &contact, None).await;
    assert_eq!(status, 404);

    for bad in [
        json!({ "email": "a b@c.d" }),
        json!({ "webhook_url": "ftp://example.org/hook" }),
        json!({ "webhook_url": "not a url" }),
        json!("not an object"),
    ] {
        let (status, body) = notify
            .call(reqwest::Method::PUT, &contact, Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = notify
        .call(
            reqwest::Method::PUT,
            "/v1/contacts/0xnot-an-account",
            Some(json!({ "email": "a@b.c" })),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (400, &json!("bad_request")),
        "{body}"
    );

    // A notice for an account without a contact is a conflict; an unknown kind a 400.
    let (status, body) = notify
        .post_notice(&deletion_notice("deletion:1", &user))
        .await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("no_contact")),
        "{body}"
    );
    notify
        .set_contact(&user, json!({ "email": "user@example.org" }))
        .await;
    let mut unknown = deletion_notice("deletion:2", &user);
    unknown["kind"] = json!("birthday");
    let (status, body) = notify.post_notice(&unknown).await;
    assert_eq!(
        (status, &body["code"]),
        (400, &json!("bad_request")),
        "{body}"
    );

    // Bad JSON is a JSON 400, not axum's plain-text rejection.
    let response = reqwest::Client::new()
        .post(format!("{}/v1/notices", notify.base))
        .header("x-api-key", API_KEY)
        .header("content-type", "application/json")
        .body("{\"idempotency_key\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["code"], "bad_request");
}

#[tokio::test]
async fn mail_is_retried_until_the_smtp_server_is_up() {
    // Given an SMTP port where nothing listens yet.
    let pool = fresh_database().await;
    let smtp_port = free_port();
    let notify = NotifyProcess::start(&url_of(&pool).await, smtp_port, 300).await;
    let owner = account(0xe5);
    notify
        .set_contact(&owner, json!({ "email": "owner@example.org" }))
        .await;

    // When a notice is posted, its delivery fails and the error is visible.
    let (status, body) = notify
        .post_notice(&deletion_notice("deletion:5", &owner))
        .await;
    assert_eq!(status, 202, "{body}");
    let failed = notify
        .wait_for_notice("deletion:5", Duration::from_secs(20), |s| {
            delivery(s, "email")["last_error"].is_string()
        })
        .await;
    let email = delivery(&failed, "email");
    assert_ne!(email["status"], "sent", "{failed:#}");
    assert!(email["attempts"].as_u64() >= Some(1), "{failed:#}");
    assert!(email["next_attempt_at_ms"].as_i64().is_some(), "{failed:#}");
    let error = email["last_error"].as_str().unwrap();
    assert!(error.contains("SMTP"), "{error}");

    // Then once the SMTP server is up, a retry delivers the mail.
    let smtp = SmtpServer::start_on(smtp_port);
    let mails = smtp.wait_for_messages(1, Duration::from_secs(30)).await;
    assert!(
        body_has_line(&mails[0], "Document: lease-2019.pdf"),
        "{}",
        mails[0]
    );
    let sent = notify
        .wait_for_notice("deletion:5", Duration::from_secs(10), |s| {
            s["status"] == "sent"
        })
        .await;
    let email = delivery(&sent, "email");
    assert!(email["attempts"].as_u64() >= Some(2), "{sent:#}");
    assert_eq!(email["last_error"], Value::Null);
    assert_eq!(email["next_attempt_at_ms"], Value::Null);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn pending_mail_survives_a_restart_of_the_service() {
    // Given a notice whose mail failed while the SMTP server was down.
    let pool = fresh_database().await;
    let database_url = url_of(&pool).await;
    let smtp_port = free_port();
    let notify = NotifyProcess::start(&database_url, smtp_port, 2000).await;
    let owner = account(0xf6);
    notify
        .set_contact(&owner, json!({ "email": "owner@example.org" }))
        .await;
    let (status, body) = notify
        .post_notice(&deletion_notice("deletion:6", &owner))
        .await;
    assert_eq!(status, 202, "{body}");
    notify
        .wait_for_notice("deletion:6", Duration::from_secs(20), |s| {
            delivery(s, "email")["status"] == "failed"
        })
        .await;

    // When the service is killed, the SMTP server comes up and the service starts again.
    drop(notify);
    let smtp = SmtpServer::start_on(smtp_port);
    let notify = NotifyProcess::start(&database_url, smtp_port, 2000).await;

    // Then the mail is delivered, once.
    let mails = smtp.wait_for_messages(1, Duration::from_secs(30)).await;
    assert!(body_has_line(&mails[0], "Scheduled deletion: 2025-07-01"));
    let sent = notify
        .wait_for_notice("deletion:6", Duration::from_secs(10), |s| {
            s["status"] == "sent"
        })
        .await;
    assert!(delivery(&sent, "email")["attempts"].as_u64() >= Some(2));
    assert_eq!(smtp.messages().len(), 1);
}
