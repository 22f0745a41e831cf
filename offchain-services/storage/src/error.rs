//! Every error answer is JSON: `{"code": ..., "error": ...}` with a 4xx or 5xx status.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, FromRequestParts, Path, Request},
    http::{request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use sdv_storage_client::protocol::ErrorBody;
use serde::de::DeserializeOwned;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A machine-readable word.
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 503: a dependency (database, S3, node, indexer) is unavailable; the request may be
    /// retried.
    pub fn unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::warn!(%e, "{what} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what} is unavailable: {e}"),
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::unavailable("the database", e)
    }
}

impl From<crate::s3::S3Error> for ApiError {
    fn from(e: crate::s3::S3Error) -> Self {
        Self::unavailable("S3", e)
    }
}

impl From<sdv_chain::Error> for ApiError {
    fn from(e: sdv_chain::Error) -> Self {
        Self::unavailable("the node", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            error: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Any unknown route.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// A JSON body, refused with a JSON 400 when malformed.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| JsonBody(v))
            .map_err(|r: JsonRejection| ApiError::bad_request("bad_json", r.body_text()))
    }
}

/// Path parameters, refused with a JSON 400 when malformed.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathParams(v))
            .map_err(|r| ApiError::bad_request("bad_path", r.body_text()))
    }
}
