//! Who may call: operators by the admin key, agents by signed requests.

use axum::{
    extract::{Request, State},
    http::HeaderMap,
    middleware::Next,
    response::{IntoResponse, Response},
};
use sdv_fleet::{RequestAuth, IDENTITY_HEADER, NODE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

use super::{refuse, ApiError};
use crate::AppState;

/// The header with the admin API key.
pub(crate) const API_KEY_HEADER: &str = "x-api-key";
/// Who sent a request without a valid admin key.
const ANONYMOUS: &str = "anonymous";

/// Lets a request through when it carries the admin key; records every refusal.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let action = format!("{} {}", request.method(), request.uri().path());
    let error = match request.headers().get(API_KEY_HEADER) {
        Some(given) if state.admin_key.ct_eq(given.as_bytes()) => {
            return next.run(request).await;
        }
        Some(_) => ApiError::unauthorized("Invalid admin API key"),
        None => ApiError::unauthorized("Admin API key required"),
    };
    refuse(&state, ANONYMOUS, &action, None, error)
        .await
        .into_response()
}

/// The signed-request headers, when the node, timestamp and HMAC headers are all present.
pub(crate) fn request_auth(headers: &HeaderMap) -> Option<RequestAuth> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    Some(RequestAuth {
        node_id: text(NODE_HEADER)?.to_owned(),
        timestamp: text(TIMESTAMP_HEADER)?.parse().ok()?,
        hmac: text(SIGNATURE_HEADER)?.to_owned(),
        identity: text(IDENTITY_HEADER).map(str::to_owned),
    })
}

/// The actor name of a node (`anonymous` when the request named none).
pub(crate) fn node_actor(node_id: &str) -> String {
    if node_id.is_empty() {
        ANONYMOUS.to_owned()
    } else {
        format!("node:{node_id}")
    }
}
