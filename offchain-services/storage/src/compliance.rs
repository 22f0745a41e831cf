//! The compliance API (port 8100): the classification rules and retention floors the clients
//! apply. Classification happens on the client, which alone sees plaintext; the contract
//! enforces the floor whatever the client sends.

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

/// The compliance API's routes.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "healthy", "service": "sdv-compliance"})) }))
        .route("/v1/classification/rules", get(rules))
        .route("/v1/retention/floors", get(floors))
        .fallback(crate::error::not_found)
}

async fn rules() -> Json<Value> {
    Json(json!({"pending": true}))
}

async fn floors() -> Json<Value> {
    Json(json!([
        { "class": "us_tax", "minimum": "regulatory_us_tax", "years": 7, "from": "upload", "basis": "IRS: W-9s, 1099s, returns and supporting schedules" },
        { "class": "financial", "minimum": "extended", "years": 5, "from": "upload", "basis": "balance sheets, income statements, audit reports, bank statements" },
        { "class": "kyc", "minimum": "extended", "years": 5, "from": "end of the customer relationship", "basis": "KYC: the relationship plus 5 years" },
        { "class": "other", "minimum": "minimum", "years": 1, "from": "upload", "basis": "no regulatory floor" },
    ]))
}
