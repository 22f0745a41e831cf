//! The tables: nodes, images and pins, deployments, jobs, alerts, refusals and the audit log.
//!
//! Lists are built as JSON by PostgreSQL (`json_agg`), timestamps in ISO 8601.

use sdv_fleet::DigestSignature;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::{Error, Result};

/// The actor of requests authenticated with the admin API key.
pub const OPERATOR: &str = "operator";
/// The actor of HQ's own actions.
pub const HQ: &str = "hq";

/// Alert rules seeded by the migration.
pub mod rules {
    /// A node sent no heartbeat within the stale threshold.
    pub const MISSED_HEARTBEAT: &str = "missed_heartbeat";
    /// A node runs another digest than the one HQ pinned.
    pub const DIGEST_MISMATCH: &str = "digest_mismatch";
    /// A distribution or a pull command was refused.
    pub const REFUSED_COMMAND: &str = "refused_command";
}

/// Appends to the audit log.
pub async fn audit(
    pool: &PgPool,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    detail: Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hq_audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a refusal: an authorization decision and an audit entry.
pub async fn refusal(
    pool: &PgPool,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hq_auth_decisions (actor, action, subject, reason) VALUES ($1, $2, $3, $4)",
    )
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(reason)
    .execute(pool)
    .await?;
    audit(
        pool,
        actor,
        action,
        subject,
        json!({ "decision": "refused", "reason": reason }),
    )
    .await
}

/// Fires an alert of `rule`, when the rule is enabled and the same alert (of the same report,
/// by its nonce; a node's open missed heartbeat) is not recorded already.
pub async fn fire_alert(
    pool: &PgPool,
    rule: &str,
    node_id: Option<&str>,
    subject: Option<&str>,
    detail: Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hq_alerts (rule, node_id, subject, detail)
         SELECT name, $2, $3, $4 FROM hq_alert_rules WHERE name = $1 AND enabled
         ON CONFLICT DO NOTHING",
    )
    .bind(rule)
    .bind(node_id)
    .bind(subject)
    .bind(detail)
    .execute(pool)
    .await?;
    Ok(())
}

/// A parameter of [`json_rows`].
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// Runs `sql`, which selects rows with parameters `$1...`, and answers them as a JSON array.
pub async fn json_rows(pool: &PgPool, sql: &str, params: &[Param<'_>]) -> Result<Value> {
    let wrapped = format!("SELECT coalesce(json_agg(row_to_json(t)), '[]'::json) FROM ({sql}) t");
    let mut query = sqlx::query_scalar::<_, Value>(&wrapped);
    for param in params {
        query = match *param {
            Param::Text(text) => query.bind(text),
            Param::Int(int) => query.bind(int),
            Param::Bool(flag) => query.bind(flag),
        };
    }
    Ok(query.fetch_one(pool).await?)
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its id.
    pub node_id: String,
    /// The track it runs.
    pub track: String,
    /// Its agent's base URL.
    pub agent_url: Option<String>,
    /// Its identity key, once registered.
    pub identity_key: Option<[u8; 32]>,
}

/// The node `node_id`, if registered.
pub async fn node(pool: &PgPool, node_id: &str) -> Result<Option<Node>> {
    let row = sqlx::query(
        "SELECT n.node_id, n.track, n.metadata->>'agent_url' AS agent_url, k.public_key
         FROM hq_nodes n LEFT JOIN hq_validator_ed25519_keys k USING (node_id)
         WHERE n.node_id = $1",
    )
    .bind(node_id)
    .fetch_optional(pool)
    .await?;
    row.map(|row| node_of(&row)).transpose()
}

/// The nodes of `track`.
pub async fn nodes_of_track(pool: &PgPool, track: &str) -> Result<Vec<Node>> {
    let rows = sqlx::query(
        "SELECT n.node_id, n.track, n.metadata->>'agent_url' AS agent_url, k.public_key
         FROM hq_nodes n LEFT JOIN hq_validator_ed25519_keys k USING (node_id)
         WHERE n.track = $1 ORDER BY n.node_id",
    )
    .bind(track)
    .fetch_all(pool)
    .await?;
    rows.iter().map(node_of).collect()
}

fn node_of(row: &sqlx::postgres::PgRow) -> Result<Node> {
    let key: Option<Vec<u8>> = row.try_get("public_key")?;
    Ok(Node {
        node_id: row.try_get("node_id")?,
        track: row.try_get("track")?,
        agent_url: row.try_get("agent_url")?,
        identity_key: key
            .map(|k| {
                <[u8; 32]>::try_from(k.as_slice())
                    .map_err(|_| Error::Corrupt("an identity key is not 32 bytes".into()))
            })
            .transpose()?,
    })
}

/// A registered image digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The image's name.
    pub name: String,
    /// Its tag.
    pub tag: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// The furthest track it was promoted to.
    pub track: String,
    /// HQ's signature, once signed.
    pub signature: Option<DigestSignature>,
}

const IMAGE_COLUMNS: &str = "name, tag, digest, track, signature, signed_by";

fn image_of(row: &sqlx::postgres::PgRow) -> Result<Image> {
    let signature: Option<String> = row.try_get("signature")?;
    let signed_by: Option<String> = row.try_get("signed_by")?;
    Ok(Image {
        name: row.try_get("name")?,
        tag: row.try_get("tag")?,
        digest: row.try_get("digest")?,
        track: row.try_get("track")?,
        signature: signature
            .zip(signed_by)
            .map(|(signature, signed_by)| DigestSignature {
                signature,
                algorithm: "HMAC-SHA256".into(),
                signed_by,
            }),
    })
}

/// The image `name` with `digest`, if registered.
pub async fn image(pool: &PgPool, name: &str, digest: &str) -> Result<Option<Image>> {
    let sql = format!("SELECT {IMAGE_COLUMNS} FROM hq_images WHERE name = $1 AND digest = $2");
    let row = sqlx::query(&sql)
        .bind(name)
        .bind(digest)
        .fetch_optional(pool)
        .await?;
    row.map(|row| image_of(&row)).transpose()
}

/// The digest of `name:tag` to distribute on `track`: the one pinned there when its tag is
/// `tag`, else the most recently registered with that tag.
pub async fn image_by_tag(
    pool: &PgPool,
    name: &str,
    tag: &str,
    track: &str,
) -> Result<Option<Image>> {
    let sql = format!(
        "SELECT {IMAGE_COLUMNS} FROM hq_images i
         WHERE name = $1 AND tag = $2
         ORDER BY EXISTS (SELECT 1 FROM hq_pins p
                          WHERE p.name = i.name AND p.digest = i.digest AND p.track = $3) DESC,
                  created_at DESC, id DESC
         LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(name)
        .bind(tag)
        .bind(track)
        .fetch_optional(pool)
        .await?;
    row.map(|row| image_of(&row)).transpose()
}

/// The digest pinned for `name` on `track`.
pub async fn pinned(pool: &PgPool, name: &str, track: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT digest FROM hq_pins WHERE name = $1 AND track = $2")
            .bind(name)
            .bind(track)
            .fetch_optional(pool)
            .await?,
    )
}

/// Pins `digest` for `name` on `track`.
pub async fn pin(pool: &PgPool, name: &str, digest: &str, track: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO hq_pins (name, track, digest) VALUES ($1, $2, $3)
         ON CONFLICT (name, track) DO UPDATE SET digest = EXCLUDED.digest, pinned_at = now()",
    )
    .bind(name)
    .bind(track)
    .bind(digest)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a node's deployment state of `image`.
pub async fn set_deployment(
    pool: &PgPool,
    node_id: &str,
    image: &str,
    tag: &str,
    digest: &str,
    status: &str,
    reason: Option<&str>,
    running_digest: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hq_image_deployments
             (node_id, image, tag, digest, status, reason, running_digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (node_id, image) DO UPDATE SET
             tag = EXCLUDED.tag, digest = EXCLUDED.digest, status = EXCLUDED.status,
             reason = EXCLUDED.reason,
             running_digest = coalesce(EXCLUDED.running_digest, hq_image_deployments.running_digest),
             updated_at = now()",
    )
    .bind(node_id)
    .bind(image)
    .bind(tag)
    .bind(digest)
    .bind(status)
    .bind(reason)
    .bind(running_digest)
    .execute(pool)
    .await?;
    Ok(())
}

/// The deployment HQ recorded for `node_id` and `image`: (tag, digest).
pub async fn deployment(
    pool: &PgPool,
    node_id: &str,
    image: &str,
) -> Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT tag, digest FROM hq_image_deployments WHERE node_id = $1 AND image = $2",
    )
    .bind(node_id)
    .bind(image)
    .fetch_optional(pool)
    .await?)
}
