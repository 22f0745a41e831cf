//! Commands that read: the deployment, the keystore, the validators, and the indexer's API.

use anyhow::Context as _;
use sdv_chain::{from_ink_account, CallData};
use serde_json::{json, Value};

use crate::context::Context;

pub(crate) fn deployment(ctx: &Context) -> anyhow::Result<()> {
    let deployment = ctx.deployment()?;
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&deployment)?);
    } else {
        println!("chain    {:?}", deployment.genesis_hash);
        println!("rpc      {}", deployment.rpc_url);
        for (name, c) in &deployment.contracts {
            println!("{name:<22} {}", c.address);
        }
    }
    Ok(())
}

pub(crate) fn key_list(ctx: &Context) -> anyhow::Result<()> {
    let keys = ctx.keystore.list()?;
    if ctx.json {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| {
                let mut entry = json!({
                    "name": k.name,
                    "scheme": k.scheme,
                    "kind": k.kind(),
                    "ss58": k.ss58,
                    "public": k.public,
                });
                if let Some(token) = &k.pkcs11 {
                    entry["pkcs11"] = json!(token);
                }
                entry
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&keys)?);
    } else if keys.is_empty() {
        println!("no keys (create one with `sdv key generate --name NAME`)");
    } else {
        for k in keys {
            println!("{:<20} {}  {}", k.name, k.ss58, k.kind());
        }
    }
    Ok(())
}

pub(crate) async fn validators(ctx: &Context) -> anyhow::Result<()> {
    let (chain, deployment) = ctx.chain().await?;
    let governance = deployment.address("validator_governance")?;
    let validators: Vec<sdv_types::AccountId> = chain
        .query(
            governance,
            governance,
            CallData::message("validators").into_bytes(),
        )
        .await?;
    let validators: Vec<_> = validators.iter().map(from_ink_account).collect();
    if ctx.json {
        let list: Vec<String> = validators.iter().map(|a| a.to_string()).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for (i, v) in validators.iter().enumerate() {
            println!("{:>2}  {v}", i + 1);
        }
    }
    Ok(())
}

/// GETs `path` from the indexer and returns the answer's `data`.
async fn get(ctx: &Context, path: &str) -> anyhow::Result<Value> {
    let base = ctx.indexer()?;
    let url = format!("{base}{path}");
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("the indexer at {base} does not answer"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the indexer answered {status} without JSON"))?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no message");
        anyhow::bail!("indexer: {message} ({status})");
    }
    Ok(body["data"].clone())
}

/// A value on one line: objects as `key=value, ...` without nulls, arrays in brackets.
fn compact(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join("; ")
        ),
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| format!("{k}={}", compact(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// An object as `key: value` lines; arrays of objects one item a line.
fn print_object(value: &Value, indent: &str) {
    let Value::Object(map) = value else {
        println!("{indent}{}", compact(value));
        return;
    };
    for (key, v) in map {
        match v {
            Value::Array(items) if items.iter().any(Value::is_object) => {
                println!("{indent}{key}:");
                for item in items {
                    println!("{indent}  - {}", compact(item));
                }
            }
            Value::Object(_) if key == "latest_recovery" => {
                println!("{indent}{key}:");
                print_object(v, &format!("{indent}  "));
            }
            _ => println!("{indent}{key}: {}", compact(v)),
        }
    }
}

fn print_page(ctx: &Context, data: &Value, empty: &str) -> anyhow::Result<()> {
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(data)?);
        return Ok(());
    }
    let items = data["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("{empty}");
    }
    for item in items {
        println!("{}", compact(&item));
    }
    Ok(())
}

fn print_answer(ctx: &Context, data: &Value) -> anyhow::Result<()> {
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(data)?);
    } else {
        print_object(data, "");
    }
    Ok(())
}

pub(crate) async fn proposals(
    ctx: &Context,
    state: Option<String>,
    kind: Option<String>,
    limit: u32,
    offset: u32,
) -> anyhow::Result<()> {
    let mut path = format!("/governance/proposals?limit={limit}&offset={offset}");
    if let Some(state) = state {
        path.push_str(&format!("&state={state}"));
    }
    if let Some(kind) = kind {
        if !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(crate::Usage(format!("\"{kind}\" is not a proposal kind")).into());
        }
        path.push_str(&format!("&kind={kind}"));
    }
    let data = get(ctx, &path).await?;
    print_page(ctx, &data, "no proposals")
}

pub(crate) async fn proposal(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let mut data = get(ctx, &format!("/governance/proposals/{id}")).await?;
    let votes = get(ctx, &format!("/governance/proposals/{id}/votes")).await?;
    data["votes"] = votes.get("items").cloned().unwrap_or(votes);
    print_answer(ctx, &data)
}

pub(crate) async fn documents(
    ctx: &Context,
    owner: Option<String>,
    limit: u32,
    offset: u32,
) -> anyhow::Result<()> {
    let owner = match owner {
        Some(owner) => ctx.account(&owner)?,
        None => ctx.own_account()?,
    };
    let data = get(
        ctx,
        &format!("/accounts/{owner}/documents?limit={limit}&offset={offset}"),
    )
    .await?;
    print_page(ctx, &data, "no documents")
}

pub(crate) async fn document(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let data = get(ctx, &format!("/documents/{id}")).await?;
    print_answer(ctx, &data)
}

pub(crate) async fn vault(ctx: &Context, id: u32) -> anyhow::Result<()> {
    let mut data = get(ctx, &format!("/vaults/{id}")).await?;
    let ops = get(ctx, &format!("/vaults/{id}/operations?limit=500")).await?;
    data["operations"] = ops.get("items").cloned().unwrap_or(ops);
    print_answer(ctx, &data)
}

pub(crate) async fn operation(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let data = get(ctx, &format!("/vault-operations/{id}")).await?;
    print_answer(ctx, &data)
}

pub(crate) async fn guardians(ctx: &Context, user: Option<String>) -> anyhow::Result<()> {
    let user = match user {
        Some(user) => ctx.account(&user)?,
        None => ctx.own_account()?,
    };
    let data = get(ctx, &format!("/accounts/{user}/guardians")).await?;
    print_answer(ctx, &data)
}

pub(crate) async fn recovery(ctx: &Context, id: u64) -> anyhow::Result<()> {
    let data = get(ctx, &format!("/recoveries/{id}")).await?;
    print_answer(ctx, &data)
}
