//! The compliance API (port 8100): the classification rules and retention floors the clients
//! apply. Classification happens on the client, which alone sees plaintext; DocumentNFT
//! enforces the floor whatever the client sends.

use axum::{routing::get, Json, Router};
use sdv_storage_client::classify::{class_name, retention_floor, retention_name, Rules};
use sdv_types::document::DocumentClass;
use serde_json::{json, Value};

/// The compliance API's routes.
pub fn router() -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(json!({"status": "healthy", "service": "sdv-compliance"})) }),
        )
        .route("/v1/classification/rules", get(rules))
        .route("/v1/retention/floors", get(floors))
        .fallback(crate::error::not_found)
}

async fn rules() -> Json<Value> {
    Json(serde_json::to_value(Rules::builtin()).unwrap_or_default())
}

async fn floors() -> Json<Value> {
    let classes = [
        DocumentClass::UsTax,
        DocumentClass::Financial,
        DocumentClass::Kyc,
        DocumentClass::Other,
    ];
    Json(Value::Array(
        classes
            .into_iter()
            .map(|class| {
                let floor = retention_floor(class);
                json!({
                    "class": class_name(class),
                    "minimum_option": retention_name(floor.option),
                    "minimum": floor.minimum,
                    "from_relationship_end": floor.from_relationship_end,
                })
            })
            .collect(),
    ))
}
