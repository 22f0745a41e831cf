//! The HTTP API.
//!
//! | method and path | answers |
//! | --- | --- |
//! | `GET /health` | `{"status": "healthy", "service": "sdv-notify"}` (no key needed) |
//! | `PUT /v1/contacts/{account}` | the [`Contact`] set from a [`ContactUpdate`] |
//! | `GET /v1/contacts/{account}` | the [`Contact`], or 404 |
//! | `POST /v1/notices` | a [`Notice`]: 202 with its [`NoticeState`]; 200 for a key seen before |
//! | `GET /v1/notices/{idempotency_key}` | the [`NoticeState`], or 404 |
//!
//! Every route but `/health` needs the header `x-api-key`, compared in constant time. Every
//! error is JSON, `{"code": "...", "error": "..."}`: `unauthorized` (401), `bad_request`
//! (400: malformed JSON, path or value), `not_found` (404), `no_contact` (409: the account has
//! neither email nor webhook), `idempotency_key_reused` (409: the key names another notice),
//! `method_not_allowed` (405), `too_large` (413) and `unavailable` (503: the database; its
//! errors are logged, not shown).
//!
//! [`Contact`]: crate::Contact
//! [`ContactUpdate`]: crate::ContactUpdate
//! [`Notice`]: crate::Notice
//! [`NoticeState`]: crate::NoticeState

use std::sync::Arc;

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection},
        DefaultBodyLimit, FromRequest, FromRequestParts, Request, State,
    },
    http::{request::Parts, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sdv_config::Secret;
use serde::de::DeserializeOwned;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::{
    model::{Account, ContactUpdate, IdempotencyKey, Notice},
    store, Error, API_KEY_HEADER,
};

/// The largest request body.
pub const MAX_BODY: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The service's database (migrated).
    pub pool: PgPool,
    /// The key every route but `/health` requires.
    pub api_key: Secret,
    /// Notified when a notice is accepted, so the worker sends it at once.
    pub wake: Arc<Notify>,
}

/// The API's router.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/v1/contacts/{account}", get(get_contact).put(put_contact))
        .route("/v1/notices", axum::routing::post(post_notice))
        .route("/v1/notices/{idempotency_key}", get(get_notice))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_api_key,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// An error answer: a status, a code for programs and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(invalid) => Self::bad_request(invalid.to_string()),
            Error::NoContact(_) => Self::new(StatusCode::CONFLICT, "no_contact", error.to_string()),
            Error::KeyReused(_) => Self::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                error.to_string(),
            ),
            Error::Database(_) | Error::Migrate(_) => {
                tracing::error!(%error, "database error answering a request");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; try again",
                )
            }
            Error::Config(_) | Error::Corrupt(_) => {
                tracing::error!(%error, "internal error answering a request");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "error": self.message })),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body, refused with a JSON 400 (413 when too large) when malformed.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| Body(value))
            .map_err(|rejection: JsonRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("the body is larger than {MAX_BODY} bytes"),
                    )
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })
    }
}

/// A path parameter parsed as `T`, refused with a JSON 400.
struct PathParam<T>(T);

impl<S: Send + Sync, T> FromRequestParts<S> for PathParam<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(text) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|rejection: PathRejection| ApiError::bad_request(rejection.body_text()))?;
        text.parse()
            .map(PathParam)
            .map_err(|e: T::Err| ApiError::bad_request(e.to_string()))
    }
}

async fn require_api_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(API_KEY_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if state.api_key.ct_eq(given) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("a valid {API_KEY_HEADER} header is required"),
        )
        .into_response()
    }
}

async fn health(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => Json(json!({ "status": "healthy", "service": "sdv-notify" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unhealthy",
                    "service": "sdv-notify",
                    "code": "unavailable",
                    "error": "the database is unavailable",
                })),
            )
                .into_response()
        }
    }
}

async fn put_contact(
    State(state): State<AppState>,
    PathParam(account): PathParam<Account>,
    Body(update): Body<ContactUpdate>,
) -> ApiResult<Response> {
    let contact = store::put_contact(&state.pool, &account, &update).await?;
    Ok(Json(contact).into_response())
}

async fn get_contact(
    State(state): State<AppState>,
    PathParam(account): PathParam<Account>,
) -> ApiResult<Response> {
    match store::contact(&state.pool, &account).await? {
        Some(contact) => Ok(Json(contact).into_response()),
        None => Err(ApiError::not_found(format!(
            "account {account} has no contact"
        ))),
    }
}

async fn post_notice(
    State(state): State<AppState>,
    Body(notice): Body<Notice>,
) -> ApiResult<Response> {
    let accepted = store::submit(&state.pool, &notice).await?;
    if accepted.created {
        state.wake.notify_one();
        Ok((StatusCode::ACCEPTED, Json(accepted.state)).into_response())
    } else {
        Ok((StatusCode::OK, Json(accepted.state)).into_response())
    }
}

async fn get_notice(
    State(state): State<AppState>,
    PathParam(key): PathParam<IdempotencyKey>,
) -> ApiResult<Response> {
    match store::notice(&state.pool, &key).await? {
        Some(notice) => Ok(Json(notice).into_response()),
        None => Err(ApiError::not_found(format!("no notice has the key {key}"))),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};
    use sqlx::PgPool;

    use super::{router, AppState};

    const KEY: &str = "test-api-key-0123456789";

    /// Serves the API on a free loopback port; returns its base URL.
    async fn serve(pool: PgPool) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(AppState {
            pool,
            api_key: sdv_config::Secret::new(KEY),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    async fn call(
        method: reqwest::Method,
        url: String,
        key: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, url);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("a non-JSON answer ({status}): {text:?}"));
        (status, json)
    }

    fn account(byte: u8) -> String {
        format!("0x{}", hex::encode([byte; 32]))
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn every_route_but_health_needs_the_key(pool: PgPool) {
        let base = serve(pool).await;
        let (status, body) = call(reqwest::Method::GET, format!("{base}/health"), None, None).await;
        assert_eq!(
            (status, body),
            (200, json!({"status": "healthy", "service": "sdv-notify"}))
        );
        for key in [None, Some("wrong"), Some("")] {
            for (method, path) in [
                (reqwest::Method::GET, format!("/v1/contacts/{}", account(1))),
                (reqwest::Method::PUT, format!("/v1/contacts/{}", account(1))),
                (reqwest::Method::POST, "/v1/notices".to_owned()),
                (reqwest::Method::GET, "/v1/notices/k".to_owned()),
            ] {
                let (status, body) =
                    call(method, format!("{base}{path}"), key, Some("{}".into())).await;
                assert_eq!(status, 401, "{path} {key:?}: {body}");
                assert_eq!(body["code"], "unauthorized");
            }
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn malformed_requests_are_json_400s(pool: PgPool) {
        let base = serve(pool).await;
        let put = |path: String, body: &'static str| {
            call(
                reqwest::Method::PUT,
                format!("{base}{path}"),
                Some(KEY),
                Some(body.to_owned()),
            )
        };
        let contact = format!("/v1/contacts/{}", account(2));
        for (path, body) in [
            (contact.clone(), "not json"),
            (contact.clone(), r#"{"email": "a@b.c\r\nBcc: x@y.z"}"#),
            (contact.clone(), r#"{"webhook_url": "ftp://x/"}"#),
            (contact.clone(), r#"{"emial": "a@b.c"}"#),
            ("/v1/contacts/0x1234".to_owned(), r#"{"email": "a@b.c"}"#),
        ] {
            let (status, body) = put(path.clone(), body).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["code"], "bad_request");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        let notice = |kind: &str, subject: &str| {
            json!({
                "idempotency_key": "k-1", "account": account(2), "kind": kind,
                "subject": subject, "facts": [["Document", "a.pdf"]],
            })
            .to_string()
        };
        for body in [
            notice("party", "Hi"),
            notice("deletion_done", "a\nb"),
            "[]".into(),
        ] {
            let (status, answer) = call(
                reqwest::Method::POST,
                format!("{base}/v1/notices"),
                Some(KEY),
                Some(body.clone()),
            )
            .await;
            assert_eq!(status, 400, "{body}: {answer}");
        }
        let (status, body) = call(
            reqwest::Method::GET,
            format!("{base}/v1/notices/a%20b"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = call(
            reqwest::Method::GET,
            format!("{base}/nowhere"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!((status, &body["code"]), (404, &json!("not_found")));
        let (status, body) = call(
            reqwest::Method::DELETE,
            format!("{base}/v1/notices"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(status, 405, "{body}");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_notice_is_accepted_once_per_key(pool: PgPool) {
        let base = serve(pool.clone()).await;
        let notice = json!({
            "idempotency_key": "deletion:9", "account": account(3), "kind": "deletion_notice",
            "subject": "Deletion", "facts": [["Document", "a.pdf"], ["Uploaded", "2024-01-01"]],
        })
        .to_string();
        let post = |body: String| {
            call(
                reqwest::Method::POST,
                format!("{base}/v1/notices"),
                Some(KEY),
                Some(body.clone()),
            )
        };
        let (status, body) = post(notice.clone()).await;
        assert_eq!(
            (status, &body["code"]),
            (409, &json!("no_contact")),
            "{body}"
        );

        let (status, contact) = call(
            reqwest::Method::PUT,
            format!("{base}/v1/contacts/{}", account(3)),
            Some(KEY),
            Some(
                r#"{"email": "owner@example.org", "webhook_url": "http://127.0.0.1:1/hook"}"#
                    .into(),
            ),
        )
        .await;
        assert_eq!(status, 200, "{contact}");
        assert_eq!(contact["email"], "owner@example.org");

        let (status, first) = post(notice.clone()).await;
        assert_eq!(status, 202, "{first}");
        assert_eq!(first["status"], "pending");
        assert_eq!(first["facts"][1], json!(["Uploaded", "2024-01-01"]));
        let channels: Vec<&Value> = first["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| &d["channel"])
            .collect();
        assert_eq!(channels, [&json!("email"), &json!("webhook")]);

        let (status, again) = post(notice.clone()).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, first);
        let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_deliveries")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(deliveries, 2);

        let other = notice.replace("a.pdf", "b.pdf");
        let (status, body) = post(other).await;
        assert_eq!(
            (status, &body["code"]),
            (409, &json!("idempotency_key_reused"))
        );

        let (status, state) = call(
            reqwest::Method::GET,
            format!("{base}/v1/notices/deletion:9"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!((status, &state), (200, &first));
        let (status, _) = call(
            reqwest::Method::GET,
            format!("{base}/v1/notices/unknown"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(status, 404);
    }
}
