//! `sdv fleet`: container releases for the validator fleet, through `sdv-fleet-hq`.
//!
//! A release goes out in two commands, each step printed as it completes:
//!
//! 1. `sdv fleet release` makes the image with the local `docker` client (`docker import` of a
//!    rootfs tarball, a tag of a local image, or `docker build` of a directory; nothing is
//!    pulled), tags it `REGISTRY/NAME:TAG`, pushes it, reads its manifest digest, has HQ
//!    register, sign and pin it (`POST /v1/registry/release`), and files the
//!    `ApproveRelease` proposal on ValidatorGovernance signed with `--key` (a release
//!    proposer), numbered one past the latest approved release of the image on the track.
//! 2. Once 7 of the 20 validators approved it and it executed, `sdv fleet distribute` asks HQ
//!    to send the signed pull command to the track's agents, and with `--wait` follows the job
//!    until every node reported. HQ refuses an unapproved or unsigned release, and the command
//!    prints its reason.
//!
//! `sdv fleet jobs | deployments | nodes | alerts` show what HQ knows. Every HQ route used here
//! is an operator's: the admin key comes from `HQ_ADMIN_API_KEY` or the first line of the file
//! named by `HQ_ADMIN_API_KEY_FILE`, never from an argument, and is never printed.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use sdv_chain::Governance;
use sdv_types::governance::{ProposalKind, Release, VALIDATOR_COUNT};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{args::TrackArg, context::Context, Usage};

/// HQ's address when neither --hq, `SDV_FLEET_HQ_URL` nor `fleet-hq.url` names one.
pub(crate) const DEFAULT_HQ: &str = "http://127.0.0.1:8054";
/// The registry when neither --registry nor `REGISTRY_URL` names one.
pub(crate) const DEFAULT_REGISTRY: &str = "127.0.0.1:5000";
/// The file next to the deployment file that names HQ's address.
const HQ_URL_FILE: &str = "fleet-hq.url";
/// How often `--wait` asks HQ about the job.
const POLL: Duration = Duration::from_millis(500);

/// `sdv fleet`: the options every fleet command takes and the command.
#[derive(Args)]
pub(crate) struct Fleet {
    /// HQ's base URL (default: `fleet-hq.url` next to the deployment file, else
    /// `http://127.0.0.1:8054`). The admin key comes from HQ_ADMIN_API_KEY or
    /// HQ_ADMIN_API_KEY_FILE.
    #[arg(long = "hq", env = "SDV_FLEET_HQ_URL", global = true)]
    hq: Option<String>,
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Build, push, register, sign and pin an image, and file its approval proposal.
    Release(ReleaseArgs),
    /// Ask HQ to distribute an approved, signed release to the track's nodes.
    Distribute(DistributeArgs),
    /// Distribution jobs, newest first, or one job with each node's outcome.
    Jobs {
        /// The job to show.
        #[arg(long)]
        job: Option<i64>,
    },
    /// What each node was told to run and what it reported running.
    Deployments,
    /// The nodes, their agents and whether their heartbeats are recent.
    Nodes,
    /// Fired alerts, newest first.
    Alerts {
        /// Only the unresolved ones.
        #[arg(long)]
        open: bool,
    },
}

/// Where the image of a release comes from.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Source {
    /// A rootfs tarball to `docker import`.
    #[arg(long = "import", value_name = "ROOTFS_TAR")]
    import: Option<PathBuf>,
    /// A local image to tag.
    #[arg(long = "image", value_name = "LOCAL_IMAGE")]
    image: Option<String>,
    /// A directory with a Dockerfile to `docker build`.
    #[arg(long = "build", value_name = "DIR")]
    build: Option<PathBuf>,
}

#[derive(Args)]
struct ReleaseArgs {
    /// The image's name (the service), e.g. `settlement-api`.
    #[arg(long)]
    service: String,
    /// The tag, e.g. `1.1.0`.
    #[arg(long)]
    tag: String,
    /// The track the release is for.
    #[arg(long, default_value = "devnet")]
    track: TrackArg,
    #[command(flatten)]
    source: Source,
    /// A Dockerfile instruction applied by `docker import` (repeatable), e.g.
    /// `CMD ["/bin/app"]`.
    #[arg(long = "change", requires = "import")]
    change: Vec<String>,
    /// The registry the fleet pulls from (`host:port`).
    #[arg(long, env = "REGISTRY_URL", default_value = DEFAULT_REGISTRY)]
    registry: String,
}

#[derive(Args)]
struct DistributeArgs {
    /// The image's name (the service).
    #[arg(long)]
    service: String,
    /// The tag registered at HQ.
    #[arg(long)]
    tag: String,
    /// The track whose nodes receive it.
    #[arg(long, default_value = "devnet")]
    track: TrackArg,
    /// Only these nodes (comma-separated ids); default: every node of the track.
    #[arg(long, value_delimiter = ',')]
    nodes: Option<Vec<String>>,
    /// Follow the job until every node reported, and fail unless all succeeded.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300, requires = "wait")]
    timeout: u64,
}

/// Runs a fleet command.
pub(crate) async fn run(ctx: &Context, fleet: Fleet) -> anyhow::Result<()> {
    let hq = Hq::new(ctx, fleet.hq.as_deref())?;
    match fleet.command {
        FleetCommand::Release(args) => release(ctx, &hq, args).await,
        FleetCommand::Distribute(args) => distribute(ctx, &hq, args).await,
        FleetCommand::Jobs { job: Some(id) } => job(ctx, &hq, id).await,
        FleetCommand::Jobs { job: None } => jobs(ctx, &hq).await,
        FleetCommand::Deployments => deployments(ctx, &hq).await,
        FleetCommand::Nodes => nodes(ctx, &hq).await,
        FleetCommand::Alerts { open } => alerts(ctx, &hq, open).await,
    }
}

/// HQ's operator API.
struct Hq {
    url: String,
    key: Zeroizing<String>,
    http: reqwest::Client,
}

impl Hq {
    /// HQ at --hq, `SDV_FLEET_HQ_URL`, `fleet-hq.url` or [`DEFAULT_HQ`], with the admin key.
    fn new(ctx: &Context, hq: Option<&str>) -> anyhow::Result<Self> {
        let url = hq
            .map(|u| u.trim_end_matches('/').to_owned())
            .or_else(|| ctx.beside_deployment(HQ_URL_FILE))
            .unwrap_or_else(|| DEFAULT_HQ.to_owned());
        Ok(Self {
            url,
            key: admin_key()?,
            http: reqwest::Client::new(),
        })
    }

    /// Sends an operator's request: HQ's status and JSON answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("x-api-key", self.key.as_str());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("HQ at {} does not answer", self.url))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .with_context(|| format!("HQ answered {status} without JSON"))?;
        Ok((status, answer))
    }

    /// [`Hq::send`], failing with HQ's message unless it succeeded.
    async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (status, answer) = self.send(method, path, body).await?;
        if !status.is_success() {
            bail!("HQ: {} ({status})", message(&answer));
        }
        Ok(answer)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.ok(Method::GET, path, None).await
    }
}

/// A track as HQ names it: `devnet`, `testnet`, `mainnet`.
fn name_of(track: TrackArg) -> String {
    track
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// HQ's error message.
fn message(answer: &Value) -> &str {
    answer["error"].as_str().unwrap_or("no message")
}

/// The operators' key: `HQ_ADMIN_API_KEY`, or the first line of `HQ_ADMIN_API_KEY_FILE`.
fn admin_key() -> anyhow::Result<Zeroizing<String>> {
    if let Some(key) = std::env::var("HQ_ADMIN_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        return Ok(Zeroizing::new(key));
    }
    if let Some(path) = std::env::var_os("HQ_ADMIN_API_KEY_FILE").map(PathBuf::from) {
        let text = Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading HQ_ADMIN_API_KEY_FILE {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default().trim();
        if line.is_empty() {
            bail!("HQ_ADMIN_API_KEY_FILE {} is empty", path.display());
        }
        return Ok(Zeroizing::new(line.to_owned()));
    }
    bail!("no HQ admin key: set HQ_ADMIN_API_KEY or HQ_ADMIN_API_KEY_FILE")
}

/// Prints a step: on stdout, or on stderr when stdout is JSON.
fn step(ctx: &Context, n: u8, text: &str) {
    if ctx.json {
        eprintln!("[{n}/5] {text}");
    } else {
        println!("[{n}/5] {text}");
    }
}

/// Runs the `docker` client (with the caller's `DOCKER_HOST`) and returns its stdout.
fn docker(args: &[&str], stdin: Option<&Path>) -> anyhow::Result<String> {
    let mut command = Command::new("docker");
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            command.stdin(file);
        }
        None => {
            command.stdin(Stdio::null());
        }
    }
    let out = command
        .output()
        .context("running the docker client (is it installed?)")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        bail!("docker {} failed: {}", args[0], last.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes the local image `reference` from the release's source; says how.
fn make_image(args: &ReleaseArgs, reference: &str) -> anyhow::Result<String> {
    let source = &args.source;
    if let Some(tar) = &source.import {
        if !tar.is_file() {
            return Err(Usage(format!("{} is not a file", tar.display())).into());
        }
        let mut argv = vec!["import"];
        for change in &args.change {
            argv.extend(["--change", change]);
        }
        argv.extend(["-", reference]);
        docker(&argv, Some(tar))?;
        Ok(format!("imported {} as {reference}", tar.display()))
    } else if let Some(image) = &source.image {
        docker(&["tag", image, reference], None)?;
        Ok(format!("tagged {image} as {reference}"))
    } else if let Some(dir) = &source.build {
        if !dir.is_dir() {
            return Err(Usage(format!("{} is not a directory", dir.display())).into());
        }
        let dir = dir.display().to_string();
        docker(&["build", "--quiet", "--tag", reference, &dir], None)?;
        Ok(format!("built {dir} as {reference}"))
    } else {
        Err(Usage("give --import, --image or --build".into()).into())
    }
}

/// The manifest digest in `docker push`'s output (`TAG: digest: sha256:<hex> size: N`).
fn pushed_digest(output: &str) -> Option<String> {
    output
        .lines()
        .filter(|l| l.contains("digest:"))
        .flat_map(str::split_whitespace)
        .find(|w| parse_digest(w).is_some())
        .map(str::to_owned)
}

/// The manifest digest the registry answers for `name:tag` (`Docker-Content-Digest`).
async fn registry_digest(registry: &str, name: &str, tag: &str) -> anyhow::Result<String> {
    let url = format!("http://{registry}/v2/{name}/manifests/{tag}");
    let response = reqwest::Client::new()
        .head(&url)
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.oci.image.manifest.v1+json",
        )
        .send()
        .await
        .with_context(|| format!("the registry at {registry} does not answer"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("the registry answered {status} for {name}:{tag}");
    }
    response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .filter(|d| parse_digest(d).is_some())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the registry named no digest for {name}:{tag}"))
}

/// `sha256:<64 lower-case hex digits>` as 32 bytes.
fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let hex_digits = text.strip_prefix("sha256:")?;
    if hex_digits.len() != 64 || hex_digits != hex_digits.to_ascii_lowercase() {
        return None;
    }
    hex::decode(hex_digits).ok()?.try_into().ok()
}

async fn release(ctx: &Context, hq: &Hq, args: ReleaseArgs) -> anyhow::Result<()> {
    let track = args.track.into();
    let track_name = name_of(args.track);
    // Everything that can fail without side effects first: the signer and the chain.
    let signer = ctx.signer()?;
    let (chain, deployment) = ctx.chain().await?;
    let governance = Governance::new(chain, deployment.address("validator_governance")?.clone());
    let registry = args.registry.trim_end_matches('/');
    let registry = registry
        .strip_prefix("http://")
        .or_else(|| registry.strip_prefix("https://"))
        .unwrap_or(registry);
    let reference = format!("{registry}/{}:{}", args.service, args.tag);

    let made = make_image(&args, &reference)?;
    step(ctx, 1, &format!("build: {made}"));

    let pushed = docker(&["push", &reference], None)?;
    let digest = match pushed_digest(&pushed) {
        Some(digest) => digest,
        None => registry_digest(registry, &args.service, &args.tag).await?,
    };
    let bytes = parse_digest(&digest).context("the pushed digest is not sha256")?;
    step(
        ctx,
        2,
        &format!("push: {registry}/{}@{digest}", args.service),
    );

    let body = json!({
        "name": args.service,
        "tag": args.tag,
        "digest": digest,
        "track": track_name,
    });
    let registered = hq
        .ok(Method::POST, "/v1/registry/release", Some(&body))
        .await?;
    let signed_by = registered["signature"]["signed_by"]
        .as_str()
        .unwrap_or("HQ's key");
    step(
        ctx,
        3,
        &format!("HQ: registered, signed ({signed_by}) and pinned on {track_name}"),
    );

    let latest = governance
        .latest_release(&args.service, track)
        .await
        .context("asking ValidatorGovernance for the latest release")?;
    let number = latest.as_ref().map_or(0, |r| r.number) + 1;
    let previous = latest.map_or_else(
        || "none approved yet".to_owned(),
        |r| format!("latest approved: {}, tag {}", r.number, r.tag),
    );
    step(ctx, 4, &format!("release number {number} ({previous})"));

    let kind = ProposalKind::ApproveRelease(Release {
        image: args.service.clone(),
        tag: args.tag.clone(),
        digest: bytes,
        track,
        number,
    });
    let threshold = kind.threshold();
    let proposal = governance
        .propose(&signer, &kind)
        .await
        .map_err(governance_refused)?;
    step(
        ctx,
        5,
        &format!(
            "approval proposal {proposal}: needs {threshold} of {VALIDATOR_COUNT} votes \
             (`sdv gov vote {proposal} --yes`, then `sdv gov execute {proposal}`)"
        ),
    );
    if ctx.json {
        println!(
            "{}",
            json!({
                "image": args.service,
                "tag": args.tag,
                "track": track_name,
                "reference": reference,
                "digest": digest,
                "signed_by": signed_by,
                "number": number,
                "proposal": proposal,
                "threshold": threshold,
                "validators": VALIDATOR_COUNT,
            })
        );
    } else {
        println!("proposal {proposal}");
    }
    Ok(())
}

/// ValidatorGovernance's refusal as one line.
fn governance_refused(e: sdv_chain::Error) -> anyhow::Error {
    match e.governance_error() {
        Some(r) => anyhow::anyhow!("ValidatorGovernance refused: {r:?}: {}", r.description()),
        None => anyhow::Error::new(e).context("filing the approval proposal"),
    }
}

async fn distribute(ctx: &Context, hq: &Hq, args: DistributeArgs) -> anyhow::Result<()> {
    let track = name_of(args.track);
    let subject = format!("{}:{}", args.service, args.tag);
    let mut body = json!({ "image": args.service, "tag": args.tag, "track": track });
    if let Some(nodes) = &args.nodes {
        body["nodes"] = json!(nodes);
    }
    let (status, answer) = hq
        .send(Method::POST, "/v1/fleet/distribute", Some(&body))
        .await?;
    if status == StatusCode::FORBIDDEN {
        let job = answer["job_id"]
            .as_i64()
            .map(|id| format!(" (job {id})"))
            .unwrap_or_default();
        bail!(
            "HQ refused to distribute {subject} on {track}: {}{job}",
            message(&answer)
        );
    }
    if !status.is_success() {
        bail!("HQ: {} ({status})", message(&answer));
    }
    let id = answer["job_id"]
        .as_i64()
        .context("HQ answered without a job id")?;
    let nodes = answer["nodes"].as_array().map_or(0, Vec::len);
    if !args.wait {
        if ctx.json {
            println!("{answer}");
        } else {
            println!(
                "distribution job {id}: {subject} ({}) to {nodes} node(s) on {track}",
                text(&answer["digest"])
            );
        }
        return Ok(());
    }
    if !ctx.json {
        println!(
            "distribution job {id}: {subject} ({}) to {nodes} node(s) on {track}; waiting",
            text(&answer["digest"])
        );
    }
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let job = loop {
        let job = hq.get(&format!("/v1/fleet/distribute/{id}")).await?;
        if !matches!(job["state"].as_str(), Some("queued" | "running")) {
            break job;
        }
        if Instant::now() >= deadline {
            bail!(
                "distribution job {id} is still {} after {} s (`sdv fleet jobs --job {id}`)",
                text(&job["state"]),
                args.timeout
            );
        }
        tokio::time::sleep(POLL).await;
    };
    if ctx.json {
        println!("{job}");
    } else {
        print_results(&job);
    }
    let state = job["state"].as_str().unwrap_or("unknown");
    if state != "succeeded" {
        let results = job["results"].as_object();
        let ok = results.map_or(0, |r| r.values().filter(|v| v["outcome"] == "ok").count());
        let all = results.map_or(0, serde_json::Map::len);
        bail!("distribution job {id} {state}: {ok} of {all} node(s) deployed {subject}");
    }
    if !ctx.json {
        println!("distribution job {id} succeeded");
    }
    Ok(())
}

/// Each node's outcome of a job.
fn print_results(job: &Value) {
    let Some(results) = job["results"].as_object() else {
        return;
    };
    let rows = results
        .iter()
        .map(|(node, result)| {
            vec![
                node.clone(),
                text(&result["outcome"]),
                text(&result["report"]["running_digest"]),
                text(&result["reason"]),
            ]
        })
        .collect();
    table(&["NODE", "OUTCOME", "RUNNING", "REASON"], rows);
}

async fn jobs(ctx: &Context, hq: &Hq) -> anyhow::Result<()> {
    let answer = hq.get("/v1/fleet/distributions").await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = rows_of(&answer["distributions"], |j| {
        let nodes = j["nodes"].as_array().map_or(0, Vec::len);
        vec![
            text(&j["job_id"]),
            text(&j["state"]),
            format!("{}:{}", text(&j["image"]), text(&j["tag"])),
            short(&j["digest"]),
            text(&j["track"]),
            nodes.to_string(),
            time(&j["created_at"]),
            text(&j["reason"]),
        ]
    });
    table(
        &[
            "JOB", "STATE", "IMAGE", "DIGEST", "TRACK", "NODES", "CREATED", "REASON",
        ],
        rows,
    );
    Ok(())
}

async fn job(ctx: &Context, hq: &Hq, id: i64) -> anyhow::Result<()> {
    let job = hq.get(&format!("/v1/fleet/distribute/{id}")).await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&job)?);
        return Ok(());
    }
    println!(
        "job {id}: {} {}:{} ({}) on {}",
        text(&job["state"]),
        text(&job["image"]),
        text(&job["tag"]),
        text(&job["digest"]),
        text(&job["track"])
    );
    println!(
        "created {} by {}, finished {}",
        time(&job["created_at"]),
        text(&job["created_by"]),
        time(&job["finished_at"])
    );
    if !job["reason"].is_null() {
        println!("reason: {}", text(&job["reason"]));
    }
    print_results(&job);
    Ok(())
}

async fn deployments(ctx: &Context, hq: &Hq) -> anyhow::Result<()> {
    let answer = hq.get("/v1/fleet/deployments").await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = rows_of(&answer["deployments"], |d| {
        vec![
            text(&d["node_id"]),
            text(&d["track"]),
            format!("{}:{}", text(&d["image"]), text(&d["tag"])),
            text(&d["status"]),
            short(&d["digest"]),
            short(&d["running_digest"]),
            time(&d["updated_at"]),
            text(&d["reason"]),
        ]
    });
    table(
        &[
            "NODE", "TRACK", "IMAGE", "STATUS", "DIGEST", "RUNNING", "UPDATED", "REASON",
        ],
        rows,
    );
    Ok(())
}

async fn nodes(ctx: &Context, hq: &Hq) -> anyhow::Result<()> {
    let answer = hq.get("/v1/fleet/nodes").await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = rows_of(&answer["nodes"], |n| {
        vec![
            text(&n["node_id"]),
            text(&n["track"]),
            if n["healthy"] == true { "yes" } else { "no" }.to_owned(),
            time(&n["last_heartbeat"]),
            text(&n["agent_url"]),
        ]
    });
    table(
        &["NODE", "TRACK", "HEALTHY", "LAST HEARTBEAT", "AGENT"],
        rows,
    );
    Ok(())
}

async fn alerts(ctx: &Context, hq: &Hq, open: bool) -> anyhow::Result<()> {
    let path = if open {
        "/v1/fleet/alerts?open=true"
    } else {
        "/v1/fleet/alerts"
    };
    let answer = hq.get(path).await?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let rows = rows_of(&answer["alerts"], |a| {
        vec![
            text(&a["id"]),
            text(&a["rule"]),
            text(&a["severity"]),
            text(&a["node_id"]),
            text(&a["subject"]),
            time(&a["fired_at"]),
            time(&a["resolved_at"]),
        ]
    });
    table(
        &[
            "ID", "RULE", "SEVERITY", "NODE", "SUBJECT", "FIRED", "RESOLVED",
        ],
        rows,
    );
    Ok(())
}

/// One row per item of the array `items`.
fn rows_of(items: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    items
        .as_array()
        .map(|items| items.iter().map(row).collect())
        .unwrap_or_default()
}

/// A value as a table cell: strings bare, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A digest shortened to `sha256:` and 12 hex digits.
fn short(value: &Value) -> String {
    match value.as_str() {
        Some(d) if d.starts_with("sha256:") && d.len() > 19 => d[..19].to_owned(),
        _ => text(value),
    }
}

/// A timestamp to the second, `2026-11-22 13:50:52`.
fn time(value: &Value) -> String {
    match value.as_str() {
        Some(t) if t.len() >= 19 => t[..19].replace('T', " "),
        _ => text(value),
    }
}

/// Prints `rows` under `headers`, columns padded to their widest cell.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("none");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                if i == last {
                    (*cell).to_owned()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_output_names_the_manifest_digest() {
        let hex = "ab".repeat(32);
        let output = format!(
            "The push refers to repository [127.0.0.1:5000/settlement-api]\n\
             5f70bf18a086: Pushed\n1.1.0: digest: sha256:{hex} size: 527\n"
        );
        assert_eq!(pushed_digest(&output), Some(format!("sha256:{hex}")));
        assert_eq!(pushed_digest("5f70bf18a086: Pushed\n"), None);
    }

    #[test]
    fn only_lower_case_sha256_digests_parse() {
        let hex = "0f".repeat(32);
        assert_eq!(parse_digest(&format!("sha256:{hex}")), Some([0x0f; 32]));
        assert_eq!(
            parse_digest(&format!("sha256:{}", hex.to_uppercase())),
            None
        );
        assert_eq!(parse_digest(&format!("sha512:{hex}")), None);
        assert_eq!(parse_digest("sha256:0f"), None);
    }
}
