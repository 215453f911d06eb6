//! `fdc pause` and `fdc resume`: hold back or release the whole process, one projection or one
//! single view of a deployment.
//!
//! In: the target (`--projection P`, `--view V` or `--all`), an optional `--reason`, and
//! where the deployment is: a running process's operations endpoint (`--addr`, with the bearer
//! token from `--token-file` or `FDC_TOKEN`), or an embedded store directory (`--store`,
//! written directly while no run holds it). Out: one line saying what changed; exit 0 when
//! done, 1 when the endpoint or the store refused or failed, 2 on usage errors.
//!
//! Guarantees: the pause is kept in the deployment's store (every replica follows it within
//! its poll interval, a restart keeps it); who paused is `FDC_DEPLOYED_BY`, else the user
//! name; the token is read, sent in the `Authorization` header and never printed.
//! `fdc resume --all` removes every pause. With `--store`, names are checked against the
//! deployment record the store holds (when it holds one).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use fdc_engine::store::{PauseItem, PauseTarget};
use serde_json::{json, Value};

/// Arguments of `fdc pause` and `fdc resume`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["projection", "view", "all"])))]
#[command(group(clap::ArgGroup::new("where").required(true).args(["addr", "store"])))]
pub struct PauseArgs {
    /// A projection: its input topic is held (lag grows; nothing of it is written).
    #[arg(long)]
    pub projection: Option<String>,
    /// A single view: its triggers are kept in the store and rebuilt on resume.
    #[arg(long)]
    pub view: Option<String>,
    /// The whole process (with `resume`: every pause).
    #[arg(long)]
    pub all: bool,
    /// Why (shown by `fdc status` and `/status`).
    #[arg(long)]
    pub reason: Option<String>,
    /// The operations endpoint of a running `fdc run`, `host:port`.
    #[arg(long)]
    pub addr: Option<String>,
    /// A file holding the endpoint's bearer token (default: the `FDC_TOKEN` variable).
    #[arg(long, requires = "addr")]
    pub token_file: Option<PathBuf>,
    /// An embedded store directory (no run may hold it open): the state is written there.
    #[arg(long)]
    pub store: Option<PathBuf>,
}

impl PauseArgs {
    fn target(&self) -> PauseTarget {
        match (&self.projection, &self.view) {
            (Some(p), _) => PauseTarget::Projection(p.clone()),
            (None, Some(v)) => PauseTarget::View(v.clone()),
            (None, None) => PauseTarget::All,
        }
    }
}

/// `fdc pause` (`pause: true`) or `fdc resume`.
pub fn run(args: &PauseArgs, pause: bool) -> ExitCode {
    let result = match (&args.addr, &args.store) {
        (Some(addr), _) => over_endpoint(args, addr, pause),
        (None, Some(dir)) => on_store(args, dir, pause),
        (None, None) => Err((2, "name --addr or --store".to_string())),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn describe(t: &PauseTarget) -> String {
    match t {
        PauseTarget::All => "the whole process".to_string(),
        t => format!("{} `{}`", t.kind(), fdc_core::bounded::name(t.name())),
    }
}

fn resumed_line(resumed: &[PauseTarget]) -> String {
    if resumed.is_empty() {
        return "nothing was paused".to_string();
    }
    let names: Vec<String> = resumed.iter().map(describe).collect();
    format!("resumed {}", names.join(", "))
}

/// The token of `--token-file`, else `FDC_TOKEN` (none: the endpoint will refuse).
fn token(args: &PauseArgs) -> Result<Option<String>, (u8, String)> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            (
                2,
                format!("cannot read the token file `{}`: {e}", path.display()),
            )
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var("FDC_TOKEN").ok().filter(|t| !t.is_empty()))
}

fn over_endpoint(args: &PauseArgs, addr: &str, pause: bool) -> Result<String, (u8, String)> {
    let target = args.target();
    let mut body = json!({ "by": super::deployed::applied_by() });
    match &target {
        PauseTarget::All => body["all"] = json!(true),
        PauseTarget::Projection(p) => body["projection"] = json!(p),
        PauseTarget::View(v) => body["view"] = json!(v),
    }
    if let Some(r) = &args.reason {
        body["reason"] = json!(r);
    }
    let token = token(args)?;
    let authorization = token.map(|t| format!("Bearer {t}"));
    let path = if pause { "/pause" } else { "/resume" };
    let addr = super::status::address(Some(addr));
    let (status, answer) = super::status::request(
        &addr,
        "POST",
        path,
        authorization.as_deref(),
        &body.to_string(),
    )
    .map_err(|e| (1, e))?;
    let doc: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    if status != 200 {
        let why = doc["error"]
            .as_str()
            .map_or_else(|| answer.trim().to_string(), str::to_string);
        return Err((1, format!("{addr} answered {status}: {why}")));
    }
    if pause {
        Ok(format!("paused {}", describe(&target)))
    } else {
        let resumed: Vec<PauseTarget> = doc["resumed"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        let name = t["name"].as_str().unwrap_or_default().to_string();
                        match t["kind"].as_str() {
                            Some("projection") => PauseTarget::Projection(name),
                            Some("view") => PauseTarget::View(name),
                            _ => PauseTarget::All,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(resumed_line(&resumed))
    }
}

fn on_store(args: &PauseArgs, dir: &std::path::Path, pause: bool) -> Result<String, (u8, String)> {
    let target = args.target();
    let runtime = super::start_runtime(false, 1).map_err(|_| (1, "no runtime".to_string()))?;
    runtime.block_on(async {
        let spec = fdc_topology::StoreSpec::ExistingDirectory {
            path: dir.to_path_buf(),
            disk: super::store_dir::options(),
        };
        let opened = fdc_topology::open_store(&spec)
            .await
            .map_err(|e| (e.code, e.message))?;
        if let Some(record) = opened
            .deployments()
            .load_deployment()
            .await
            .map_err(|e| (1, e.to_string()))?
        {
            let known = match &target {
                PauseTarget::All => true,
                PauseTarget::Projection(p) => record.projections.contains_key(p),
                PauseTarget::View(v) => record.views.contains_key(v),
            };
            if !known {
                return Err((
                    2,
                    format!(
                        "the pipeline deployed on this store has no {}",
                        describe(&target)
                    ),
                ));
            }
        }
        let store = opened.pauses();
        if pause {
            let item = PauseItem {
                target: target.clone(),
                since_ms: super::deployed::now_ms(),
                by: super::deployed::applied_by(),
                reason: args.reason.clone(),
            };
            store
                .save_pause(&item)
                .await
                .map_err(|e| (1, e.to_string()))?;
            Ok(format!("paused {}", describe(&target)))
        } else {
            let resumed = fdc_engine::runtime::pause::resume(store.as_ref(), &target)
                .await
                .map_err(|e| (1, e.to_string()))?;
            Ok(resumed_line(&resumed))
        }
    })
}
