//! The write routes of the operations endpoint (`POST /pause`, `POST /resume`) and what the
//! read-only routes show of the pause state.
//!
//! In: a request's `Authorization` header and JSON body (`{"projection": P} | {"view": V} |
//! {"all": true}`, optional `"reason"` and `"by"`), the process's pause control (through its
//! counters). Out: the item saved or the targets resumed (JSON), the `pause` section of
//! `/status`, and the pause gauges of `/metrics`.
//!
//! Guarantees: without a configured token the write routes answer 403 (saying how to set one)
//! and change nothing; a missing or wrong bearer token answers 401. The token is compared in
//! constant time (for tokens of equal length) and never printed or logged. The body is bounded
//! by the server (8 KiB); names from it are checked against the plan before anything is saved,
//! and only bounded names reach an answer or a log.

use std::fmt::Write as _;

use fdc_core::secret::Secret;
use fdc_engine::runtime::{Counters, PauseControl};
use fdc_engine::store::{PauseItem, PauseTarget};
use serde_json::{json, Value};

use super::http::Response;

/// What a write route is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub target: PauseTarget,
    pub reason: Option<String>,
    pub by: Option<String>,
}

/// Longest reason or author kept.
const MAX_TEXT: usize = 512;

fn json_response(status: u16, body: Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: format!("{body}\n"),
    }
}

fn error(status: u16, message: impl Into<String>) -> Response {
    json_response(status, json!({ "error": message.into() }))
}

/// Equal bytes, in a time that does not depend on where they first differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// `Ok` when `authorization` (the header's value) carries `token`; else the refusal.
pub fn authorize(token: Option<&Secret>, authorization: Option<&str>) -> Result<(), Response> {
    let Some(token) = token else {
        return Err(error(
            403,
            "the write routes are off: set `http.token_env` (an environment variable) or \
             `http.token_file` (a file) in fdc.yaml to the bearer token callers must send",
        ));
    };
    let given = authorization
        .map(str::trim)
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(g) if same(g.as_bytes(), token.expose().as_bytes()) => Ok(()),
        Some(_) => Err(error(401, "the bearer token is not the configured one")),
        None => Err(error(401, "send `Authorization: Bearer <token>`")),
    }
}

/// Reads a write route's body.
pub fn parse(body: &str) -> Result<Request, String> {
    let v: Value = serde_json::from_str(if body.trim().is_empty() { "{}" } else { body })
        .map_err(|_| "the body is not JSON".to_string())?;
    let Some(o) = v.as_object() else {
        return Err("the body is not a JSON object".into());
    };
    let text = |name: &str| -> Result<Option<String>, String> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= MAX_TEXT => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(format!("`{name}` is longer than {MAX_TEXT} characters")),
            Some(_) => Err(format!("`{name}` is not a string")),
        }
    };
    let mut targets = Vec::new();
    if let Some(p) = text("projection")? {
        targets.push(PauseTarget::Projection(p));
    }
    if let Some(v) = text("view")? {
        targets.push(PauseTarget::View(v));
    }
    match o.get("all") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => targets.push(PauseTarget::All),
        Some(_) => return Err("`all` is not a boolean".into()),
    }
    for k in o.keys() {
        if !["projection", "view", "all", "reason", "by"].contains(&k.as_str()) {
            return Err(format!("unknown field `{}`", fdc_core::bounded::name(k)));
        }
    }
    if targets.len() != 1 {
        return Err("name exactly one of `projection`, `view` or `all: true`".into());
    }
    Ok(Request {
        target: targets.remove(0),
        reason: text("reason")?,
        by: text("by")?,
    })
}

/// `POST /pause` or `POST /resume` (`pause`: which), authorized and parsed already.
pub async fn apply(control: &PauseControl, pause: bool, request: Request) -> Response {
    if let Err(e) = control.check_target(&request.target) {
        return error(404, e);
    }
    if pause {
        let item = PauseItem {
            target: request.target,
            since_ms: crate::commands::deployed::now_ms(),
            by: request
                .by
                .unwrap_or_else(|| "the operations endpoint".to_string()),
            reason: request.reason,
        };
        match control.pause(&item).await {
            Ok(()) => json_response(200, json!({ "paused": item_json(&item) })),
            Err(e) => error(503, format!("the pause was not saved: {e}")),
        }
    } else {
        match control.resume(&request.target).await {
            Ok(resumed) => json_response(
                200,
                json!({ "resumed": resumed.iter().map(target_json).collect::<Vec<_>>() }),
            ),
            Err(e) => error(503, format!("the resume was not saved: {e}")),
        }
    }
}

/// A write route on a process without a pause state (it reads no input).
pub fn no_control() -> Response {
    error(503, "this process has no pause state (it reads no input)")
}

fn target_json(t: &PauseTarget) -> Value {
    json!({ "kind": t.kind(), "name": t.name() })
}

/// An item as `/status` and the write routes show it.
pub fn item_json(i: &PauseItem) -> Value {
    json!({
        "kind": i.target.kind(),
        "name": i.target.name(),
        "since_ms": i.since_ms,
        "since": fdc_core::store::record::millis_to_rfc3339(i.since_ms),
        "by": i.by,
        "reason": i.reason,
    })
}

/// The `pause` section of `/status`: the items, the kept triggers per view waiting to be
/// rebuilt, and the triggers kept since the start.
pub fn status(counters: &Counters) -> Value {
    let Some(control) = counters.pause() else {
        return Value::Null;
    };
    let s = control.snapshot();
    json!({
        "items": s.items.iter().map(item_json).collect::<Vec<_>>(),
        "pending_triggers": s.pending,
        "triggers_kept": control.kept_totals(),
    })
}

/// The pause gauges of `/metrics` (Prometheus text), after the exposition's own.
pub fn metrics(counters: &Counters) -> String {
    let Some(control) = counters.pause() else {
        return String::new();
    };
    let s = control.snapshot();
    let mut out = String::new();
    let label = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    out.push_str(
        "# HELP fdc_paused_items 1 per pause in force (kind all, projection or view; set by \
         fdc pause). Unlike fdc_paused, which means a failed batch is being retried.\n\
         # TYPE fdc_paused_items gauge\n",
    );
    for i in &s.items {
        let _ = writeln!(
            out,
            "fdc_paused_items{{kind=\"{}\",name=\"{}\"}} 1",
            i.target.kind(),
            label(i.target.name())
        );
    }
    out.push_str(
        "# HELP fdc_pending_triggers Triggers of a paused single view kept in the store, \
         rebuilt on resume.\n# TYPE fdc_pending_triggers gauge\n",
    );
    for (view, n) in &s.pending {
        let _ = writeln!(out, "fdc_pending_triggers{{view=\"{}\"}} {n}", label(view));
    }
    out.push_str(
        "# HELP fdc_triggers_kept_total Triggers kept for a paused single view since the \
         start.\n# TYPE fdc_triggers_kept_total counter\n",
    );
    for (view, n) in control.kept_totals() {
        let _ = writeln!(
            out,
            "fdc_triggers_kept_total{{view=\"{}\"}} {n}",
            label(&view)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_required_and_compared() {
        let token = Secret::new("s3cret");
        assert_eq!(
            authorize(None, Some("Bearer s3cret")).unwrap_err().status,
            403
        );
        assert!(authorize(None, None)
            .unwrap_err()
            .body
            .contains("http.token_env"));
        assert_eq!(authorize(Some(&token), None).unwrap_err().status, 401);
        assert_eq!(
            authorize(Some(&token), Some("Bearer nope"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            authorize(Some(&token), Some("Bearer s3cre"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            authorize(Some(&token), Some("Basic s3cret"))
                .unwrap_err()
                .status,
            401
        );
        assert!(authorize(Some(&token), Some("Bearer s3cret")).is_ok());
        let refused = authorize(Some(&token), Some("Bearer wrong")).unwrap_err();
        assert!(!refused.body.contains("s3cret"), "{}", refused.body);
    }

    #[test]
    fn bodies_name_exactly_one_target() {
        assert_eq!(
            parse(r#"{"projection":"orders","reason":"repair","by":"ada"}"#).unwrap(),
            Request {
                target: PauseTarget::Projection("orders".into()),
                reason: Some("repair".into()),
                by: Some("ada".into()),
            }
        );
        assert_eq!(parse(r#"{"all":true}"#).unwrap().target, PauseTarget::All);
        assert_eq!(
            parse(r#"{"view":"c360"}"#).unwrap().target,
            PauseTarget::View("c360".into())
        );
        for bad in [
            "",
            "[]",
            "nope",
            r#"{"projection":"a","view":"b"}"#,
            r#"{"all":"yes"}"#,
            r#"{"projection":1}"#,
            r#"{"projection":"a","extra":1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
