//! Distribution: the checks before an image goes out, the fan-out of signed pull commands to
//! the agents, and the record of what each node reported.

use std::time::Duration;

use futures::future::join_all;
use sdv_fleet::{now_ms, DeploymentReport, Outcome, PullCommand, PullRequest};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    governance, parse_track,
    store::{self, rules, Image, Node, HQ},
    track_name, AppState, Error, Result, Track,
};

/// What an operator asks to distribute.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The image's name.
    pub image: String,
    /// Its tag.
    pub tag: String,
    /// The track whose nodes run it.
    pub track: Track,
    /// The target nodes; every node of the track when `None`.
    pub nodes: Option<Vec<String>>,
}

/// A distribution that passed every check, ready to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// The image.
    pub image: Image,
    /// The track.
    pub track: Track,
    /// The nodes it goes to.
    pub nodes: Vec<Node>,
}

/// How a checked distribution request ended.
#[derive(Debug)]
pub enum Decision {
    /// Accepted: the job, queued.
    Accepted(Job),
    /// Refused and recorded: the job's id and why.
    Refused {
        /// The refused job's id.
        job_id: i64,
        /// Why.
        reason: String,
    },
}

/// One node's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeResult {
    /// `ok`, `refused` or `failed`.
    pub outcome: &'static str,
    /// Why, unless ok.
    pub reason: Option<String>,
    /// The agent's signed report, when it sent one.
    pub report: Option<DeploymentReport>,
}

impl NodeResult {
    fn failed(reason: impl Into<String>) -> Self {
        Self {
            outcome: "failed",
            reason: Some(reason.into()),
            report: None,
        }
    }
}

/// Checks a distribution and records it as a queued job, or as a refused one (with an
/// authorization decision, an audit entry and a `refused_command` alert). The checks, in order:
/// the image is registered with this tag, signed, its signature verifies with the ring, it was
/// promoted to the track, the target nodes are registered on the track, and ValidatorGovernance
/// approved the digest for the track (asked on-chain now; no chain refuses).
pub async fn decide(state: &AppState, actor: &str, request: &Distribution) -> Result<Decision> {
    let track = track_name(request.track);
    let image = store::image_by_tag(&state.pool, &request.image, &request.tag, track).await?;
    let refusal = match check(state, request, image.as_ref()).await? {
        Ok((image, nodes, release)) => {
            let job = queue(state, actor, request, image, nodes, Some(release)).await?;
            return Ok(Decision::Accepted(job));
        }
        Err(reason) => reason,
    };
    let digest = image.as_ref().map(|i| i.digest.as_str());
    let job_id = insert_job(
        state,
        actor,
        request,
        digest,
        "refused",
        Some(&refusal),
        &[],
    )
    .await?;
    let subject = format!("{}:{}", request.image, request.tag);
    store::refusal(&state.pool, actor, "distribute", Some(&subject), &refusal).await?;
    store::fire_alert(
        &state.pool,
        rules::REFUSED_COMMAND,
        None,
        Some(&subject),
        json!({ "job_id": job_id, "track": track, "digest": digest, "reason": refusal }),
    )
    .await?;
    Ok(Decision::Refused {
        job_id,
        reason: refusal,
    })
}

/// Records a checked distribution of `image` to `nodes` as a queued job (with an audit entry).
/// Only [`decide`] calls it outside the tests: it does not check.
pub(crate) async fn queue(
    state: &AppState,
    actor: &str,
    request: &Distribution,
    image: Image,
    nodes: Vec<Node>,
    release: Option<u64>,
) -> Result<Job> {
    let id = insert_job(
        state,
        actor,
        request,
        Some(&image.digest),
        "queued",
        None,
        &nodes,
    )
    .await?;
    store::audit(
        &state.pool,
        actor,
        "distribute",
        Some(&format!("{}:{}", image.name, image.tag)),
        json!({
            "job_id": id,
            "digest": image.digest,
            "track": track_name(request.track),
            "release_number": release,
            "nodes": nodes.iter().map(|n| &n.node_id).collect::<Vec<_>>(),
        }),
    )
    .await?;
    Ok(Job {
        id,
        image,
        track: request.track,
        nodes,
    })
}

/// The checks of [`decide`]: the image, its nodes and release number, or why not.
async fn check(
    state: &AppState,
    request: &Distribution,
    image: Option<&Image>,
) -> Result<Result<(Image, Vec<Node>, u64), String>> {
    let track = track_name(request.track);
    let name = format!("{}:{}", request.image, request.tag);
    let Some(image) = image else {
        return Ok(Err(format!("{name} is not registered")));
    };
    let Some(signature) = &image.signature else {
        return Ok(Err(format!("{name} ({}) is not signed", image.digest)));
    };
    if let Err(e) = state.keys.verify_digest(&image.digest, signature) {
        return Ok(Err(format!(
            "the signature of {name} ({}) does not verify: {e}",
            image.digest
        )));
    }
    let promoted = parse_track(&image.track)
        .ok_or_else(|| Error::Corrupt(format!("track {:?}", image.track)))?;
    if promoted < request.track {
        return Ok(Err(format!(
            "{name} is promoted to {} only, not {track}",
            image.track
        )));
    }
    let nodes = match &request.nodes {
        None => store::nodes_of_track(&state.pool, track).await?,
        Some(ids) => {
            let mut nodes = Vec::with_capacity(ids.len());
            for id in ids {
                match store::node(&state.pool, id).await? {
                    Some(node) if node.track == track => nodes.push(node),
                    Some(node) => {
                        return Ok(Err(format!("node {id} runs {}, not {track}", node.track)))
                    }
                    None => return Ok(Err(format!("node {id} is not registered"))),
                }
            }
            nodes.dedup_by(|a, b| a.node_id == b.node_id);
            nodes
        }
    };
    if nodes.is_empty() {
        return Ok(Err(format!("no node is registered on {track}")));
    }
    let Some(chain) = &state.governance else {
        return Ok(Err(
            "no chain is configured: governance cannot be asked".into()
        ));
    };
    match governance::approved_release(chain, &image.name, &image.digest, request.track).await {
        Ok(Some(number)) => Ok(Ok((image.clone(), nodes, number))),
        Ok(None) => Ok(Err(format!(
            "ValidatorGovernance has not approved {name} ({}) for {track}",
            image.digest
        ))),
        Err(e) => Ok(Err(format!("governance could not be asked: {e}"))),
    }
}

async fn insert_job(
    state: &AppState,
    actor: &str,
    request: &Distribution,
    digest: Option<&str>,
    job_state: &str,
    reason: Option<&str>,
    nodes: &[Node],
) -> Result<i64> {
    let ids: Vec<&str> = nodes.iter().map(|n| n.node_id.as_str()).collect();
    Ok(sqlx::query_scalar(
        "INSERT INTO hq_distribution_jobs
             (image, tag, digest, track, state, reason, nodes, created_by, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 CASE WHEN $5 IN ('queued', 'running') THEN NULL ELSE now() END)
         RETURNING id",
    )
    .bind(&request.image)
    .bind(&request.tag)
    .bind(digest)
    .bind(track_name(request.track))
    .bind(job_state)
    .bind(reason)
    .bind(&ids)
    .bind(actor)
    .fetch_one(&state.pool)
    .await?)
}

/// Sends the job's pull command to every node at once, each within the per-node timeout,
/// records each outcome as it arrives, and ends the job `succeeded` (every node ok), `failed`
/// (none) or `partial`. Answers the final state.
pub async fn run(state: &AppState, job: Job) -> Result<&'static str> {
    sqlx::query("UPDATE hq_distribution_jobs SET state = 'running' WHERE id = $1")
        .bind(job.id)
        .execute(&state.pool)
        .await?;
    let outcomes = join_all(job.nodes.iter().map(|node| async {
        let result = pull(state, &job, node).await;
        if let Err(e) = record_outcome(state, &job, node, &result).await {
            tracing::error!(error = %e, job = job.id, node = %node.node_id, "recording an outcome");
        }
        (node.node_id.clone(), result)
    }))
    .await;
    let ok = outcomes.iter().filter(|(_, r)| r.outcome == "ok").count();
    let final_state = match ok {
        n if n == outcomes.len() => "succeeded",
        0 => "failed",
        _ => "partial",
    };
    let results: serde_json::Map<String, Value> = outcomes
        .into_iter()
        .map(|(id, result)| (id, serde_json::to_value(result).unwrap_or(Value::Null)))
        .collect();
    let results = Value::Object(results);
    sqlx::query(
        "UPDATE hq_distribution_jobs SET state = $2, results = $3, finished_at = now()
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(final_state)
    .bind(&results)
    .execute(&state.pool)
    .await?;
    store::audit(
        &state.pool,
        HQ,
        "distribution-finished",
        Some(&format!("{}:{}", job.image.name, job.image.tag)),
        json!({ "job_id": job.id, "state": final_state, "results": results }),
    )
    .await?;
    Ok(final_state)
}

/// Runs `job` in the background; a failure to record is logged.
pub fn spawn(state: AppState, job: Job) {
    tokio::spawn(async move {
        let id = job.id;
        match run(&state, job).await {
            Ok(final_state) => tracing::info!(job = id, state = final_state, "distribution done"),
            Err(e) => tracing::error!(job = id, error = %e, "distribution could not be recorded"),
        }
    });
}

/// Sends one node its pull command and reads its answer.
async fn pull(state: &AppState, job: &Job, node: &Node) -> NodeResult {
    let Some(agent_url) = &node.agent_url else {
        return NodeResult::failed("the node registered no agent URL");
    };
    let command = PullCommand::sign(
        &state.keys,
        PullRequest {
            image: job.image.name.clone(),
            tag: job.image.tag.clone(),
            digest: job.image.digest.clone(),
            track: track_name(job.track).into(),
        },
        now_ms(),
    );
    let url = format!("{}/v1/pull", agent_url.trim_end_matches('/'));
    let exchange = async {
        let response = state.http.post(&url).json(&command).send().await?;
        let status = response.status();
        Ok::<_, reqwest::Error>((status, response.bytes().await?))
    };
    let (status, body) = match tokio::time::timeout(state.node_timeout, exchange).await {
        Err(_) => {
            return NodeResult::failed(format!(
                "timeout: no answer within {} ms",
                millis(state.node_timeout)
            ))
        }
        Ok(Err(e)) => return NodeResult::failed(format!("unreachable: {e}")),
        Ok(Ok(answer)) => answer,
    };
    if let Ok(report) = serde_json::from_slice::<DeploymentReport>(&body) {
        return from_report(node, &command, report);
    }
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
    if status.is_client_error() {
        NodeResult {
            outcome: "refused",
            reason: Some(format!("the agent refused ({status}): {message}")),
            report: None,
        }
    } else {
        NodeResult::failed(format!("the agent answered {status}: {message}"))
    }
}

fn from_report(node: &Node, command: &PullCommand, report: DeploymentReport) -> NodeResult {
    let Some(key) = node.identity_key else {
        return NodeResult::failed("the node has no identity key to check its report");
    };
    if let Err(e) = report.verify(&key) {
        return NodeResult::failed(format!("the agent's report does not verify: {e}"));
    }
    if report.node_id != node.node_id || report.nonce != command.nonce {
        return NodeResult::failed("the agent's report answers another node or command");
    }
    let (outcome, reason) = match report.outcome {
        Outcome::Deployed => ("ok", None),
        Outcome::Refused => (
            "refused",
            Some(report.reason.clone().unwrap_or_else(|| "refused".into())),
        ),
        Outcome::Failed => (
            "failed",
            Some(report.reason.clone().unwrap_or_else(|| "failed".into())),
        ),
    };
    NodeResult {
        outcome,
        reason,
        report: Some(report),
    }
}

async fn record_outcome(
    state: &AppState,
    job: &Job,
    node: &Node,
    result: &NodeResult,
) -> Result<()> {
    if let Some(report) = &result.report {
        record_report(state, node, report).await?;
        return Ok(());
    }
    let status = if result.outcome == "refused" {
        "refused"
    } else {
        "failed"
    };
    store::set_deployment(
        &state.pool,
        &node.node_id,
        &job.image.name,
        &job.image.tag,
        &job.image.digest,
        status,
        result.reason.as_deref(),
        None,
    )
    .await?;
    if status == "refused" {
        store::fire_alert(
            &state.pool,
            rules::REFUSED_COMMAND,
            Some(&node.node_id),
            Some(&job.image.name),
            json!({ "job_id": job.id, "digest": job.image.digest, "reason": result.reason }),
        )
        .await?;
    }
    Ok(())
}

/// What a deployment report changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The deployment's status now.
    pub status: &'static str,
    /// The digest the node should run: the one pinned for its track, else the commanded one.
    pub expected_digest: String,
    /// Whether the node runs the expected digest.
    pub matches: bool,
}

/// Records a verified report of `node`: its deployment's status, a `digest_mismatch` alert when
/// it runs another digest than the one pinned for its track, a `refused_command` alert when it
/// refused, and an audit entry.
pub async fn record_report(
    state: &AppState,
    node: &Node,
    report: &DeploymentReport,
) -> Result<Recorded> {
    let pinned = store::pinned(&state.pool, &report.image, &node.track).await?;
    let expected = pinned.unwrap_or_else(|| report.digest.clone());
    let matches = report.running_digest.as_deref() == Some(expected.as_str());
    let status = match report.outcome {
        Outcome::Deployed if matches && report.digest == expected => "deployed",
        Outcome::Deployed => "mismatch",
        Outcome::Refused => "refused",
        Outcome::Failed => "failed",
    };
    store::set_deployment(
        &state.pool,
        &node.node_id,
        &report.image,
        &report.tag,
        &report.digest,
        status,
        report.reason.as_deref(),
        report.running_digest.as_deref(),
    )
    .await?;
    let detail = json!({
        "image": report.image,
        "tag": report.tag,
        "digest": report.digest,
        "running_digest": report.running_digest,
        "expected_digest": expected,
        "outcome": report.outcome,
        "reason": report.reason,
        "nonce": report.nonce,
    });
    if report.outcome == Outcome::Deployed && status == "mismatch" {
        store::fire_alert(
            &state.pool,
            rules::DIGEST_MISMATCH,
            Some(&node.node_id),
            Some(&report.image),
            detail.clone(),
        )
        .await?;
    }
    if report.outcome == Outcome::Refused {
        store::fire_alert(
            &state.pool,
            rules::REFUSED_COMMAND,
            Some(&node.node_id),
            Some(&report.image),
            detail.clone(),
        )
        .await?;
    }
    store::audit(
        &state.pool,
        &format!("node:{}", node.node_id),
        "deployment-report",
        Some(&report.image),
        json!({ "status": status, "report": detail }),
    )
    .await?;
    Ok(Recorded {
        status,
        expected_digest: expected,
        matches,
    })
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}
