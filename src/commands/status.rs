//! `fdc status [--addr HOST:PORT] [--json]`: what a running `fdc run` is doing and how far
//! behind it is.
//!
//! In: the address of a running process's operations endpoint (`--addr`, else
//! `FDC_HTTP_LISTEN`, else `127.0.0.1:9464`; a listen address `0.0.0.0:P` is asked on
//! loopback). Out: a human summary (readiness and why not, lag per topic, counts, latencies)
//! or, with `--json`, the endpoint's `/status` document as is. Exit code: 0 ready, 1 not ready
//! or not reachable, 2 usage.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// The default address (the documented port of the operations endpoint).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Arguments of `fdc status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The operations endpoint, `host:port` or `http://host:port` (default: `FDC_HTTP_LISTEN`,
    /// else 127.0.0.1:9464).
    #[arg(long)]
    pub addr: Option<String>,
    /// Print the `/status` JSON document instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Keep a refreshing view open in the terminal (`q` or Ctrl-C quits).
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// Seconds between refreshes of `--watch`.
    #[arg(long, default_value_t = 2.0, requires = "watch", value_parser = parse_interval)]
    pub interval: f64,
}

/// A `--interval`: positive seconds, at most an hour.
fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err("expected seconds between 0 and 3600, e.g. 0.5 or 5".into()),
    }
}

/// The `host:port` to connect to.
fn target(addr: Option<&str>, env: Option<String>) -> String {
    let raw = addr.map(str::to_string).or(env);
    let raw = raw.as_deref().unwrap_or(DEFAULT_ADDR).trim();
    let raw = raw.strip_prefix("http://").unwrap_or(raw);
    let raw = raw.trim_end_matches('/');
    match raw.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => raw.to_string(),
    }
}

/// The `host:port` of an operations endpoint: `addr`, else `FDC_HTTP_LISTEN`, else the
/// default (what `fdc status`, `fdc pause` and `fdc resume` connect to).
pub fn address(addr: Option<&str>) -> String {
    target(addr, std::env::var("FDC_HTTP_LISTEN").ok())
}

/// `GET path` on `addr`; the status code and body.
pub(crate) fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    request(addr, "GET", path, None, "")
}

/// `method path` on `addr` with `body` (JSON) and an `Authorization` header when given; the
/// status code and body.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(5);
    let socket = addr
        .to_socket_addrs()
        .map_err(|e| format!("bad address `{addr}`: {e}"))?
        .next()
        .ok_or_else(|| format!("bad address `{addr}`"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout)
        .map_err(|e| format!("no fdc answers at {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{authorization}{content}Connection: \
         close\r\n\r\n{body}"
    )
    .map_err(|e| format!("cannot ask {addr}: {e}"))?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .map_err(|e| format!("cannot read the answer of {addr}: {e}"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr} did not answer HTTP"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr} did not answer HTTP"))?;
    Ok((status, body.to_string()))
}

/// An upper-bound estimate of a quantile from cumulative buckets (`None`: no observation).
pub fn quantile(histogram: &Value, q: f64) -> Option<f64> {
    let count = histogram["count"].as_u64()?;
    if count == 0 {
        return None;
    }
    let rank = (q * count as f64).ceil() as u64;
    for b in histogram["buckets"].as_array()? {
        let bound = b[0].as_f64()?;
        if b[1].as_u64()? >= rank {
            return Some(bound);
        }
    }
    Some(f64::INFINITY)
}

fn seconds(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s.is_infinite() => "> 600 s".into(),
        Some(s) if s < 1.0 => format!("<= {} ms", (s * 1000.0).round()),
        Some(s) => format!("<= {s} s"),
    }
}

/// The human summary of a `/status` document.
pub fn summary(doc: &Value, now_ms: u64) -> String {
    let h = &doc["health"];
    let s = &doc["summary"];
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let mut out = String::new();
    let ready = h["ready"].as_bool().unwrap_or(false);
    let mut state = if ready {
        "READY".to_string()
    } else {
        "NOT READY".to_string()
    };
    if !ready {
        let mut why = Vec::new();
        if h["started"] != Value::Bool(true) {
            why.push("not started");
        }
        if h["stopping"] == Value::Bool(true) {
            why.push("stopping");
        }
        if h["store_reachable"] == Value::Bool(false) {
            why.push("store unreachable");
        }
        if h["retrying"] == Value::Bool(true) {
            why.push("paused: a batch is being retried");
        }
        if h["source_connected"] == Value::Bool(false) {
            why.push("no kafka broker answers");
        }
        state = format!("{state} ({})", why.join(", "));
    }
    out.push_str(&format!(
        "fdc {} (role {}), up {} s: {state}\n",
        doc["version"].as_str().unwrap_or("?"),
        doc["role"].as_str().unwrap_or("?"),
        n(&doc["uptime_seconds"])
    ));
    match h["last_commit_ms"].as_u64() {
        Some(ms) => out.push_str(&format!(
            "last durable batch: {:.1} s ago\n",
            now_ms.saturating_sub(ms) as f64 / 1000.0
        )),
        None => out.push_str("last durable batch: none yet\n"),
    }
    if let Some(w) = h["warning"].as_str() {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    if n(&h["retries"]) > 0 {
        out.push_str(&format!(
            "retried batches: {}; last error: {}\n",
            n(&h["retries"]),
            h["last_error"].as_str().unwrap_or("-")
        ));
    }
    let lag = h["lag"].as_array().cloned().unwrap_or_default();
    if lag.is_empty() {
        out.push_str("consumer lag: not reported (no partition assigned yet, or not Kafka)\n");
    } else {
        let mut per_topic: std::collections::BTreeMap<String, (i64, usize)> = Default::default();
        for l in &lag {
            let e = per_topic
                .entry(l["topic"].as_str().unwrap_or("?").to_string())
                .or_default();
            e.0 += l["lag"].as_i64().unwrap_or(0);
            e.1 += 1;
        }
        let total: i64 = per_topic.values().map(|v| v.0).sum();
        out.push_str(&format!("consumer lag: {total} message(s) behind\n"));
        for (topic, (behind, partitions)) in per_topic {
            out.push_str(&format!(
                "  {topic}: {behind} over {partitions} partition(s)\n"
            ));
        }
    }
    out.push_str(&format!(
        "messages: {} consumed, {} changes applied, {} stale, {} skipped, {} dead-lettered\n",
        n(&s["consumed"]),
        n(&s["applied"]),
        n(&s["stale"]),
        n(&s["skipped"]),
        n(&s["dead_lettered"])
    ));
    if let Some(topics) = doc["topics"].as_object() {
        for (topic, c) in topics {
            out.push_str(&format!(
                "  {topic}: {} consumed, {} skipped, {} dead-lettered\n",
                n(&c["consumed"]),
                n(&c["skipped"]),
                n(&c["dead_lettered"])
            ));
        }
    }
    out.push_str(&format!(
        "single views: {} inserted, {} updated, {} unchanged, {} deleted, {} failed \
         ({} triggered)\n",
        n(&s["views_inserted"]),
        n(&s["views_updated"]),
        n(&s["views_unchanged"]),
        n(&s["views_deleted"]),
        n(&s["views_failed"]),
        n(&s["triggered"])
    ));
    let hist = &doc["histograms"];
    out.push_str(&format!(
        "batches: {}; batch latency p50 {}, p99 {}; end-to-end latency p50 {}, p99 {}\n",
        n(&s["batches"]),
        seconds(quantile(&hist["batch_seconds"], 0.5)),
        seconds(quantile(&hist["batch_seconds"], 0.99)),
        seconds(quantile(&hist["end_to_end_seconds"], 0.5)),
        seconds(quantile(&hist["end_to_end_seconds"], 0.99)),
    ));
    out.push_str(&freshness_summary(doc));
    out
}

/// `n` with thousands separators (`12,300`).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// One view's line: "customer_360: 4.2 s behind, held back by orders (lag 12,300)".
pub fn view_line(v: &Value) -> String {
    let name = v["view"].as_str().unwrap_or("?");
    let behind = match v["behind_seconds"].as_f64() {
        Some(0.0) => "caught up".to_string(),
        Some(s) => format!("{s:.1} s behind"),
        None => "behind (by how much is unknown until its inputs' first change)".to_string(),
    };
    let held = match v["held_back_by"].as_object() {
        Some(h) => format!(
            ", held back by {} (lag {})",
            h.get("projection").and_then(Value::as_str).unwrap_or("?"),
            thousands(h.get("lag").and_then(Value::as_i64).unwrap_or(0))
        ),
        None => String::new(),
    };
    let hist = &v["freshness_seconds"];
    let fresh = if hist["count"].as_u64().unwrap_or(0) > 0 {
        format!(
            "; freshness p50 {}, p99 {}",
            seconds(quantile(hist, 0.5)),
            seconds(quantile(hist, 0.99))
        )
    } else {
        String::new()
    };
    format!("{name}: {behind}{held}{fresh}")
}

/// A group partition's line: lag and owner, and whether it has a live owner.
pub fn partition_line(p: &Value) -> String {
    let lag = p["lag"].as_i64().unwrap_or(0);
    let place = format!(
        "{}[{}]",
        p["topic"].as_str().unwrap_or("?"),
        p["partition"].as_i64().unwrap_or(-1)
    );
    let owner = match p["owner"].as_str() {
        Some(o) if p["mine"] == Value::Bool(true) => format!("owner {o} (this process)"),
        Some(o) => format!("owner {o}"),
        None if lag > 0 => "unassigned: no live owner".to_string(),
        None => "unassigned".to_string(),
    };
    let stalled = match p["stalled_seconds"].as_u64() {
        Some(s) => format!(
            "; no progress for {s} s: its owner may be dead (the group moves its partitions \
             when the owner's session times out)"
        ),
        None => String::new(),
    };
    format!("{place}: lag {}, {owner}{stalled}", thousands(lag))
}

/// The retention warning, when retention deleted unread messages.
pub fn retention_warning(doc: &Value) -> Option<String> {
    let lost = doc["lost_to_retention"].as_array()?;
    let total: i64 = lost.iter().filter_map(|l| l["messages"].as_i64()).sum();
    if total <= 0 {
        return None;
    }
    let parts: Vec<String> = lost
        .iter()
        .map(|l| {
            format!(
                "{}[{}]: {}",
                l["topic"].as_str().unwrap_or("?"),
                l["partition"].as_i64().unwrap_or(-1),
                thousands(l["messages"].as_i64().unwrap_or(0))
            )
        })
        .collect();
    Some(format!(
        "retention deleted {} message(s) before they were read ({}): the single views may \
         miss changes; a refresh is needed (`fdc refresh`)",
        thousands(total),
        parts.join(", ")
    ))
}

/// The `paused` section, when the document has one (any shape: items as text).
pub fn paused_lines(doc: &Value) -> Vec<String> {
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}: {}", text(v)))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join("; "),
            other => other.to_string(),
        }
    }
    match &doc["paused"] {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(text).collect(),
        Value::Object(m) => m.iter().map(|(k, v)| format!("{k}: {}", text(v))).collect(),
        other => vec![text(other)],
    }
}

/// The freshness part of the summary: views, stages, the group's lag and retention losses.
fn freshness_summary(doc: &Value) -> String {
    let mut out = String::new();
    if let Some(w) = retention_warning(doc) {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    let views = doc["views"].as_array().cloned().unwrap_or_default();
    if !views.is_empty() {
        out.push_str("freshness per single view:\n");
        for v in &views {
            out.push_str(&format!("  {}\n", view_line(v)));
        }
    }
    for s in doc["stages"].as_array().cloned().unwrap_or_default() {
        let mut parts = Vec::new();
        if let Some(lag) = s["lag"].as_i64() {
            parts.push(format!("lag {}", thousands(lag)));
        }
        let hist = &s["freshness_seconds"];
        if hist["count"].as_u64().unwrap_or(0) > 0 {
            parts.push(format!(
                "freshness p50 {}, p99 {}",
                seconds(quantile(hist, 0.5)),
                seconds(quantile(hist, 0.99))
            ));
        }
        let line = format!(
            "stage {}: {}",
            s["stage"].as_str().unwrap_or("?"),
            parts.join("; ")
        );
        out.push_str(&line);
        out.push('\n');
    }
    for g in doc["group_lag"].as_array().cloned().unwrap_or_default() {
        let partitions = g["partitions"].as_array().cloned().unwrap_or_default();
        let total: i64 = partitions.iter().filter_map(|p| p["lag"].as_i64()).sum();
        out.push_str(&format!(
            "group {} ({}, {} member(s)): {} message(s) behind\n",
            g["group"].as_str().unwrap_or("?"),
            g["state"].as_str().unwrap_or("?"),
            g["members"].as_u64().unwrap_or(0),
            thousands(total)
        ));
        for p in &partitions {
            out.push_str(&format!("  {}\n", partition_line(p)));
        }
    }
    out
}

/// Runs `fdc status`.
pub fn run(args: &StatusArgs) -> ExitCode {
    let addr = target(args.addr.as_deref(), std::env::var("FDC_HTTP_LISTEN").ok());
    if args.watch {
        return super::status_watch::run(&addr, Duration::from_secs_f64(args.interval));
    }
    let (code, body) = match get(&addr, "/status") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if code != 200 {
        eprintln!("error: {addr} answered {code} to /status: is it an fdc endpoint?");
        return ExitCode::from(1);
    }
    let doc: Value = match serde_json::from_str(&body) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {addr} answered a /status that is not JSON: {e}");
            return ExitCode::from(1);
        }
    };
    let text = if args.json {
        format!("{doc}\n")
    } else {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        summary(&doc, now_ms) + &paused_summary(&doc, now_ms) + &drift_summary(&doc, now_ms)
    };
    if let Err(code) = crate::output::print(&text) {
        return code;
    }
    if doc["health"]["ready"] == Value::Bool(true) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What `/status` says is paused by an operator (`fdc pause`), since when, by whom and why,
/// and the triggers kept for paused single views; empty when nothing is.
pub fn paused_summary(doc: &Value, now_ms: u64) -> String {
    let p = &doc["pause"];
    let items = p["items"].as_array().cloned().unwrap_or_default();
    let kept: Vec<(String, u64)> = p["pending_triggers"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(v, n)| n.as_u64().filter(|n| *n > 0).map(|n| (v.clone(), n)))
                .collect()
        })
        .unwrap_or_default();
    if items.is_empty() && kept.is_empty() {
        return String::new();
    }
    let mut out = String::from("paused by an operator:\n");
    for i in &items {
        let what = match (i["kind"].as_str(), i["name"].as_str()) {
            (Some("all"), _) => "the whole process (nothing is consumed)".to_string(),
            (Some(kind), Some(name)) => format!("{kind} {name}"),
            _ => "?".to_string(),
        };
        let ago = i["since_ms"]
            .as_u64()
            .map(|t| format!("{:.0} s ago", now_ms.saturating_sub(t) as f64 / 1000.0))
            .unwrap_or_default();
        let since = i["since"].as_str().unwrap_or("?");
        let by = i["by"].as_str().unwrap_or("?");
        out.push_str(&format!("  {what}: since {since} ({ago}) by {by}"));
        if let Some(r) = i["reason"].as_str() {
            out.push_str(&format!(": {r}"));
        }
        out.push('\n');
    }
    for (view, n) in kept {
        out.push_str(&format!(
            "  {view}: {n} trigger(s) kept, rebuilt on resume\n"
        ));
    }
    out
}

/// What `/status` says of the source drift, briefly: per projection whose messages carried
/// columns no field maps or lack mapped ones, the names; empty when none drifted.
pub fn drift_summary(doc: &Value, now_ms: u64) -> String {
    let drift = doc["source_drift"].as_array().cloned().unwrap_or_default();
    let names = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c[key].as_str().or(c.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = String::new();
    for d in &drift {
        let unmapped = d["unmapped_messages"].as_u64().unwrap_or(0);
        let gone = names(&d["not_arriving"], "name");
        if unmapped == 0 && gone.is_empty() {
            continue;
        }
        if out.is_empty() {
            out.push_str("source drift (see `fdc plan --store/--config`):\n");
        }
        let projection = d["projection"].as_str().unwrap_or("?");
        if unmapped > 0 {
            let more = if d["unmapped_overflow"] == Value::Bool(true) {
                ", …"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {projection}: {unmapped} message(s) with columns no field maps: {}{more}\n",
                names(&d["unmapped"], "name").join(", ")
            ));
        }
        if !gone.is_empty() {
            let since = d["missing"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["missing_since_ms"].as_u64())
                .min()
                .map(|t| format!(" (for {:.0} s)", now_ms.saturating_sub(t) as f64 / 1000.0))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {projection}: mapped column(s) no longer arriving{since}: {}\n",
                gone.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_names_drifted_columns_briefly() {
        let doc = json!({"source_drift": [
            {"projection": "orders", "messages": 9, "unmapped_messages": 3,
             "unmapped": [{"name": "COUPON"}, {"name": "TIER"}], "unmapped_overflow": true,
             "missing": [{"name": "FAX", "missing_since_ms": 10_000}], "not_arriving": ["FAX"]},
            {"projection": "customers", "messages": 4, "unmapped_messages": 0,
             "unmapped": [], "missing": [], "not_arriving": []}
        ]});
        assert_eq!(
            drift_summary(&doc, 40_000),
            "source drift (see `fdc plan --store/--config`):\n\
             \x20 orders: 3 message(s) with columns no field maps: COUPON, TIER, …\n\
             \x20 orders: mapped column(s) no longer arriving (for 30 s): FAX\n"
        );
        assert_eq!(drift_summary(&json!({}), 0), "");
    }

    #[test]
    fn addresses_accept_urls_and_listen_addresses() {
        assert_eq!(target(None, None), DEFAULT_ADDR);
        assert_eq!(target(Some("http://h:1/"), None), "h:1");
        assert_eq!(target(None, Some("0.0.0.0:9464".into())), "127.0.0.1:9464");
        assert_eq!(target(Some("a:2"), Some("b:3".into())), "a:2");
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let h = json!({"count": 4, "buckets": [[0.1, 1], [1.0, 3], [10.0, 3]]});
        assert_eq!(quantile(&h, 0.5), Some(1.0));
        assert_eq!(quantile(&h, 0.25), Some(0.1));
        assert_eq!(quantile(&h, 0.99), Some(f64::INFINITY));
        assert_eq!(quantile(&json!({"count": 0, "buckets": []}), 0.5), None);
    }

    #[test]
    fn the_summary_says_why_it_is_not_ready_and_how_far_behind_it_is() {
        let doc = json!({
            "version": "0.1.0", "role": "all", "uptime_seconds": 12,
            "health": {"ready": false, "started": true, "stopping": false,
                "store_reachable": false, "source_connected": true, "retrying": true,
                "retries": 3, "last_commit_ms": 10_000, "last_error": "mongo down",
                "lag": [{"topic": "t", "partition": 0, "lag": 5},
                        {"topic": "t", "partition": 1, "lag": 2}]},
            "summary": {"consumed": 9, "batches": 2},
            "topics": {"t": {"consumed": 9, "skipped": 0, "dead_lettered": 1}},
            "histograms": {}
        });
        let s = summary(&doc, 12_500);
        assert!(
            s.contains("NOT READY (store unreachable, paused: a batch is being retried)"),
            "{s}"
        );
        assert!(s.contains("last durable batch: 2.5 s ago"), "{s}");
        assert!(
            s.contains("retried batches: 3; last error: mongo down"),
            "{s}"
        );
        assert!(s.contains("consumer lag: 7 message(s) behind"), "{s}");
        assert!(s.contains("  t: 7 over 2 partition(s)"), "{s}");
        assert!(
            s.contains("  t: 9 consumed, 0 skipped, 1 dead-lettered"),
            "{s}"
        );
    }

    #[test]
    fn the_summary_names_what_holds_each_view_back_and_who_owns_the_lag() {
        let doc = json!({
            "health": {"ready": true, "lag": []}, "summary": {}, "histograms": {},
            "views": [{"view": "customer_360", "behind_seconds": 4.2,
                       "held_back_by": {"projection": "orders", "topic": "crm.orders",
                                        "lag": 12300},
                       "freshness_seconds": {"count": 1, "sum": 4.0,
                           "buckets": [[5.0, 1]]}},
                      {"view": "order_view", "behind_seconds": null}],
            "stages": [{"stage": "ingest", "lag": 12300, "freshness_seconds": null},
                       {"stage": "aggregate", "lag": null,
                        "freshness_seconds": {"count": 1, "sum": 4.0, "buckets": [[5.0, 1]]}}],
            "group_lag": [{"group": "g", "state": "Stable", "members": 2, "partitions": [
                {"topic": "t", "partition": 0, "lag": 5, "owner": "m-1 (h)", "mine": true},
                {"topic": "t", "partition": 1, "lag": 9, "owner": "m-2 (h)", "mine": false,
                 "stalled_seconds": 12},
                {"topic": "t", "partition": 2, "lag": 1, "owner": null, "mine": false},
                {"topic": "t", "partition": 3, "lag": 0, "owner": null, "mine": false}]}],
            "lost_to_retention": [{"topic": "t", "partition": 2, "messages": 1500}]
        });
        let s = summary(&doc, 0);
        for expected in [
            "  customer_360: 4.2 s behind, held back by orders (lag 12,300); freshness p50 <= 5 s",
            "  order_view: behind (by how much is unknown",
            "stage ingest: lag 12,300\n",
            "stage aggregate: freshness p50 <= 5 s, p99 <= 5 s\n",
            "group g (Stable, 2 member(s)): 15 message(s) behind",
            "  t[0]: lag 5, owner m-1 (h) (this process)\n",
            "  t[1]: lag 9, owner m-2 (h); no progress for 12 s: its owner may be dead",
            "  t[2]: lag 1, unassigned: no live owner\n",
            "  t[3]: lag 0, unassigned\n",
            "WARNING: retention deleted 1,500 message(s) before they were read (t[2]: 1,500): \
             the single views may miss changes; a refresh is needed",
        ] {
            assert!(s.contains(expected), "{expected}\n{s}");
        }
        assert_eq!(
            (
                thousands(0),
                thousands(999),
                thousands(1000),
                thousands(-1234567)
            ),
            (
                "0".into(),
                "999".into(),
                "1,000".into(),
                "-1,234,567".into()
            )
        );
    }

    #[test]
    fn the_summary_shows_what_an_operator_paused() {
        let doc = json!({"pause": {
            "items": [{"kind": "projection", "name": "orders", "since_ms": 10_000,
                       "since": "1970-01-01T00:00:10.000Z", "by": "ada", "reason": "repair"},
                      {"kind": "all", "name": "", "since_ms": 11_000,
                       "since": "1970-01-01T00:00:11.000Z", "by": "grace", "reason": null}],
            "pending_triggers": {"c360": 4, "other": 0},
            "triggers_kept": {"c360": 4}
        }});
        let s = paused_summary(&doc, 20_000);
        assert!(
            s.contains(
                "projection orders: since 1970-01-01T00:00:10.000Z (10 s ago) by ada: repair"
            ),
            "{s}"
        );
        assert!(s.contains("the whole process (nothing is consumed)"), "{s}");
        assert!(s.contains("c360: 4 trigger(s) kept"), "{s}");
        assert!(!s.contains("other"), "{s}");
        assert_eq!(paused_summary(&json!({"pause": null}), 0), "");
    }
}
