//! The image registry: register, sign (which pins), verify, promote, release.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{refuse, ApiError, ApiResult, Body};
use crate::{
    governance, next_track, parse_track,
    store::{self, Image, Param, OPERATOR},
    track_name, AppState, Error,
};

/// The registry's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/registry/images", get(list).post(register))
        .route("/v1/registry/images/{name}/sign", post(sign))
        .route("/v1/registry/images/{name}/verify", post(verify))
        .route("/v1/registry/images/{name}/promote", post(promote))
        .route("/v1/registry/release", post(release))
}

/// An image digest to register.
#[derive(Debug, Deserialize)]
struct NewImage {
    name: String,
    tag: String,
    digest: String,
    track: String,
}

/// A digest of the image in the path.
#[derive(Debug, Deserialize)]
struct DigestRequest {
    digest: String,
}

/// A promotion of the image in the path.
#[derive(Debug, Deserialize)]
struct PromoteRequest {
    digest: String,
    to: String,
}

/// The list's filter.
#[derive(Debug, Deserialize)]
struct TrackQuery {
    track: Option<String>,
}

fn track_of(name: &str) -> ApiResult<&'static str> {
    parse_track(name)
        .map(track_name)
        .ok_or_else(|| ApiError::bad_request("track is devnet, testnet or mainnet"))
}

fn check_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    ok.then_some(()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name:?} is not an image name (lower-case letters, digits, '.', '_', '-')"
        ))
    })
}

fn check_tag(tag: &str) -> ApiResult<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then_some(())
        .ok_or_else(|| ApiError::bad_request(format!("{tag:?} is not a tag")))
}

fn check_digest(digest: &str) -> ApiResult<()> {
    sdv_fleet::parse_digest(digest).map_err(Error::from)?;
    if digest != digest.to_ascii_lowercase() {
        return Err(ApiError::bad_request(
            "a digest is written in lower-case hex",
        ));
    }
    Ok(())
}

fn image_json(image: &Image) -> Value {
    json!({
        "name": image.name,
        "tag": image.tag,
        "digest": image.digest,
        "track": image.track,
        "signed": image.signature.is_some(),
        "signature": image.signature,
    })
}

async fn registered(state: &AppState, name: &str, digest: &str) -> ApiResult<Image> {
    store::image(&state.pool, name, digest)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{name}@{digest} is not registered")))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<TrackQuery>,
) -> ApiResult<Json<Value>> {
    let track = query.track.as_deref().map(track_of).transpose()?;
    let images = store::json_rows(
        &state.pool,
        "SELECT i.name, i.tag, i.digest, i.track, i.signature IS NOT NULL AS signed, i.signed_by,
                i.signed_at, i.created_at,
                coalesce((SELECT array_agg(p.track ORDER BY p.track) FROM hq_pins p
                          WHERE p.name = i.name AND p.digest = i.digest), '{}') AS pinned_on
         FROM hq_images i WHERE ($1::text IS NULL OR i.track = $1)
         ORDER BY i.name, i.created_at DESC",
        &[Param::Text(track)],
    )
    .await?;
    Ok(Json(json!({ "images": images })))
}

/// Registers `image`; false when exactly this digest, tag and track were registered already.
async fn insert(state: &AppState, image: &NewImage, track: &str) -> ApiResult<bool> {
    check_name(&image.name)?;
    check_tag(&image.tag)?;
    check_digest(&image.digest)?;
    let inserted = sqlx::query(
        "INSERT INTO hq_images (name, tag, digest, track) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name, digest) DO NOTHING",
    )
    .bind(&image.name)
    .bind(&image.tag)
    .bind(&image.digest)
    .bind(track)
    .execute(&state.pool)
    .await
    .map_err(Error::from)?
    .rows_affected()
        == 1;
    if !inserted {
        let existing = registered(state, &image.name, &image.digest).await?;
        if existing.tag != image.tag || existing.track != track {
            return Err(ApiError::conflict(format!(
                "{}@{} is registered already as tag {} on {}",
                image.name, image.digest, existing.tag, existing.track
            )));
        }
    }
    Ok(inserted)
}

async fn register(
    State(state): State<AppState>,
    Body(request): Body<NewImage>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let track = track_of(&request.track)?;
    if !insert(&state, &request, track).await? {
        return Err(ApiError::conflict(format!(
            "{}@{} is registered already",
            request.name, request.digest
        )));
    }
    store::audit(
        &state.pool,
        OPERATOR,
        "register-image",
        Some(&request.name),
        json!({ "tag": request.tag, "digest": request.digest, "track": track }),
    )
    .await?;
    let image = registered(&state, &request.name, &request.digest).await?;
    Ok((StatusCode::CREATED, Json(image_json(&image))))
}

/// Signs `image`'s digest with the current key and pins it on its track.
async fn sign_and_pin(state: &AppState, image: &Image) -> ApiResult<Image> {
    let signature = state.keys.sign_digest(&image.digest);
    sqlx::query(
        "UPDATE hq_images SET signature = $3, signed_by = $4, signed_at = now()
         WHERE name = $1 AND digest = $2",
    )
    .bind(&image.name)
    .bind(&image.digest)
    .bind(&signature.signature)
    .bind(&signature.signed_by)
    .execute(&state.pool)
    .await
    .map_err(Error::from)?;
    store::pin(&state.pool, &image.name, &image.digest, &image.track).await?;
    store::audit(
        &state.pool,
        OPERATOR,
        "sign-image",
        Some(&image.name),
        json!({
            "tag": image.tag,
            "digest": image.digest,
            "track": image.track,
            "signed_by": signature.signed_by,
            "pinned": true,
        }),
    )
    .await?;
    Ok(Image {
        signature: Some(signature),
        ..image.clone()
    })
}

async fn sign(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(request): Body<DigestRequest>,
) -> ApiResult<Json<Value>> {
    let image = registered(&state, &name, &request.digest).await?;
    let signed = sign_and_pin(&state, &image).await?;
    Ok(Json(image_json(&signed)))
}

async fn verify(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(request): Body<DigestRequest>,
) -> ApiResult<Json<Value>> {
    let image = registered(&state, &name, &request.digest).await?;
    let (valid, reason) = match &image.signature {
        None => (false, Some("the digest is not signed".to_owned())),
        Some(signature) => match state.keys.verify_digest(&image.digest, signature) {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        },
    };
    store::audit(
        &state.pool,
        OPERATOR,
        "verify-image",
        Some(&name),
        json!({ "digest": image.digest, "valid": valid, "reason": reason }),
    )
    .await?;
    Ok(Json(json!({
        "name": name,
        "digest": image.digest,
        "valid": valid,
        "reason": reason,
        "signed_by": image.signature.as_ref().map(|s| &s.signed_by),
    })))
}

async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Body(request): Body<PromoteRequest>,
) -> ApiResult<Json<Value>> {
    const ACTION: &str = "promote-image";
    let to = parse_track(&request.to)
        .ok_or_else(|| ApiError::bad_request("to is devnet, testnet or mainnet"))?;
    let image = registered(&state, &name, &request.digest).await?;
    let subject = format!("{name}@{}", image.digest);
    let from = parse_track(&image.track)
        .ok_or_else(|| Error::Corrupt(format!("track {:?}", image.track)))?;
    let refused = |reason: String| {
        refuse(
            &state,
            OPERATOR,
            ACTION,
            Some(&subject),
            ApiError::refused(reason),
        )
    };
    if next_track(from) != Some(to) {
        return Err(refused(format!(
            "promotion goes one step (devnet, testnet, mainnet): {name} is on {}, not {}",
            track_name(from),
            to.previous().map_or("none", track_name)
        ))
        .await);
    }
    if image.signature.is_none() {
        return Err(refused(format!("{subject} is not signed")).await);
    }
    let Some(chain) = &state.governance else {
        return Err(refused("no chain is configured: governance cannot be asked".into()).await);
    };
    let number = match governance::approved_release(chain, &name, &image.digest, to).await {
        Ok(Some(number)) => number,
        Ok(None) => {
            return Err(refused(format!(
                "ValidatorGovernance has not approved {subject} for {}",
                track_name(to)
            ))
            .await)
        }
        Err(e) => {
            return Err(refused(format!("governance could not be asked: {e}")).await);
        }
    };
    let to_name = track_name(to);
    sqlx::query("UPDATE hq_images SET track = $3 WHERE name = $1 AND digest = $2")
        .bind(&name)
        .bind(&image.digest)
        .bind(to_name)
        .execute(&state.pool)
        .await
        .map_err(Error::from)?;
    sqlx::query(
        "INSERT INTO hq_promotions (name, digest, from_track, to_track, release_number, promoted_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&name)
    .bind(&image.digest)
    .bind(&image.track)
    .bind(to_name)
    .bind(number as i64)
    .bind(OPERATOR)
    .execute(&state.pool)
    .await
    .map_err(Error::from)?;
    store::pin(&state.pool, &name, &image.digest, to_name).await?;
    store::audit(
        &state.pool,
        OPERATOR,
        ACTION,
        Some(&subject),
        json!({ "from": image.track, "to": to_name, "release_number": number }),
    )
    .await?;
    Ok(Json(json!({
        "name": name,
        "digest": image.digest,
        "from": image.track,
        "to": to_name,
        "release_number": number,
    })))
}

async fn release(
    State(state): State<AppState>,
    Body(request): Body<NewImage>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let track = track_of(&request.track)?;
    let created = insert(&state, &request, track).await?;
    let image = registered(&state, &request.name, &request.digest).await?;
    let signed = sign_and_pin(&state, &image).await?;
    store::audit(
        &state.pool,
        OPERATOR,
        "release",
        Some(&request.name),
        json!({ "tag": request.tag, "digest": request.digest, "track": track, "registered": created }),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(image_json(&signed))))
}
