//! The HTTP API.
//!
//! | method and path | who | answers |
//! | --- | --- | --- |
//! | `GET /health` | anyone | `{"status": "healthy", "service": "sdv-fleet-hq"}` |
//! | `GET /v1/registry/images?track=` | operator | the registered digests |
//! | `POST /v1/registry/images` | operator | registers `{name, tag, digest, track}` (201) |
//! | `POST /v1/registry/images/{name}/sign` | operator | signs and pins `{digest}` on its track |
//! | `POST /v1/registry/images/{name}/verify` | operator | whether `{digest}`'s stored signature verifies |
//! | `POST /v1/registry/images/{name}/promote` | operator | `{digest, to}`: one track on, once governance approved it |
//! | `POST /v1/registry/release` | operator | register, sign and pin in one (201) |
//! | `GET /v1/registry/image-manifest?track=` | agents (HMAC) | the pinned, signed digests |
//! | `POST /v1/fleet/distribute` | operator | `{image, tag, track, nodes?}`: 202 `{job_id}`, or 403 refused |
//! | `GET /v1/fleet/distribute/{job_id}` | operator | the job, with each node's outcome |
//! | `GET /v1/fleet/distributions` | operator | the last 50 jobs |
//! | `GET /v1/fleet/agents` | operator | the agents' addresses |
//! | `GET /v1/fleet/nodes` | operator | the nodes, `healthy` from their heartbeats |
//! | `POST /v1/fleet/push-image` | operator | records the intent to run an image on nodes |
//! | `GET /v1/fleet/deployments` | operator | what each node was told to run and reported |
//! | `GET /v1/fleet/alerts` | operator | fired alerts |
//! | `GET /v1/audit?limit=` | operator | the audit log, newest first |
//! | `POST /v1/fleet/nodes/{node_id}/register-agent` | agent | `{agent_url, identity_key, track}` |
//! | `POST /v1/fleet/nodes/{node_id}/heartbeat` | agent | records a heartbeat |
//! | `POST /v1/fleet/nodes/{node_id}/verify-deployment` | agent | a signed [`sdv_fleet::DeploymentReport`] |
//!
//! Operators send the admin key as `x-api-key` (compared in constant time). Agents sign each
//! request with [`sdv_fleet::RequestAuth`]: the HMAC of HQ's key ring over the method, the
//! path (without the query) and the body, plus, once the node registered, its identity key's
//! Ed25519 signature. Every refusal is recorded in `hq_auth_decisions` and the audit log.
//!
//! Errors are JSON `{"error": "...", "code": "..."}`: `unauthorized` (401), `refused` (403: a
//! policy refusal, recorded), `bad_request` (400), `not_found` (404), `conflict` (409),
//! `method_not_allowed` (405), `too_large` (413), `unavailable` (503: the database; logged,
//! not shown) and `chain_unavailable` (502).

mod agents;
mod audit;
mod auth;
mod distribution;
mod fleet;
mod registry;
#[cfg(test)]
mod tests;

use axum::{
    extract::{rejection::JsonRejection, DefaultBodyLimit, FromRequest, Request, State},
    http::StatusCode,
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::{store, AppState, Error, SERVICE};

/// The largest request body.
pub const MAX_BODY: usize = 256 * 1024;

/// The whole API: the operators' routes behind the admin key, the agents' signed routes and
/// `/health`.
pub fn app(state: AppState) -> Router {
    let operator = Router::new()
        .merge(registry::router())
        .merge(distribution::router())
        .merge(fleet::router())
        .merge(audit::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(agents::router())
        .merge(operator)
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
    extra: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    fn refused(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "refused", message)
    }

    fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// Adds fields to the JSON answer.
    fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Protocol(e) => Self::bad_request(e.to_string()),
            Error::Chain(e) => {
                tracing::warn!(error = %e, "the chain could not be asked");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "chain_unavailable",
                    "the chain could not be asked",
                )
            }
            Error::Database(_) | Error::Migrate(_) | Error::Corrupt(_) => {
                tracing::error!(%error, "database error answering a request");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable",
                )
            }
            Error::Config(_) | Error::Setting { .. } => {
                tracing::error!(%error, "configuration error answering a request");
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
        let mut body = json!({ "error": self.message, "code": self.code });
        if let (Some(Value::Object(extra)), Value::Object(body)) = (self.extra, &mut body) {
            body.extend(extra);
        }
        (self.status, Json(body)).into_response()
    }
}

/// The handlers' result.
type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejection is an [`ApiError`].
struct Body<T>(T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::BytesRejection(r))
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "the body is too large",
                ))
            }
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Records a refusal by `actor` of `action` and answers it with `error`.
async fn refuse(
    state: &AppState,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    error: ApiError,
) -> ApiError {
    if let Err(e) = store::refusal(&state.pool, actor, action, subject, &error.message).await {
        tracing::error!(error = %e, action, "recording a refusal");
    }
    error
}

async fn health(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => Json(json!({ "status": "healthy", "service": SERVICE })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unhealthy",
                    "service": SERVICE,
                    "code": "unavailable",
                    "error": "the database is unavailable",
                })),
            )
                .into_response()
        }
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
