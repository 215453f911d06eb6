//! `fdc status --watch [--interval S]`: a refreshing terminal view of a running `fdc run`.
//!
//! In: the operations endpoint's address and the refresh interval. Out: a full-screen view
//! (ratatui on crossterm: plain ANSI escape codes, no mouse, so it works over SSH) of the
//! process's state, topics with lag and rates, freshness per single view, stages, the
//! group's partitions and owners, retention losses and, when the `/status` document has
//! one, its `paused` section; redrawn every interval. `q`, `Esc` or Ctrl-C quits.
//!
//! Guarantees: the terminal is restored however the view ends (a guard, also on panic);
//! an unreachable endpoint is shown in the view and retried, not fatal; with a standard
//! output that is not a terminal nothing is drawn: a clear error, exit code 2. Fetches run
//! on their own thread, so keys are answered while an endpoint is slow.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::{Frame, Terminal};
use serde_json::Value;

use super::status::{
    get, partition_line, paused_lines, quantile, retention_warning, thousands, view_line,
};

/// What one frame shows.
#[derive(Debug, Default)]
pub struct Screen {
    pub addr: String,
    pub interval: Duration,
    /// The last `/status` document read.
    pub doc: Option<Value>,
    /// Why the last read failed, if it did.
    pub error: Option<String>,
    /// Messages per second per topic, between the last two reads.
    pub rates: BTreeMap<String, f64>,
    /// Epoch milliseconds of the last read.
    pub now_ms: u64,
}

/// Messages consumed per topic in `doc`.
fn consumed(doc: &Value) -> BTreeMap<String, u64> {
    doc["topics"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v["consumed"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Rates per topic from two reads `seconds` apart.
pub fn rates(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    seconds: f64,
) -> BTreeMap<String, f64> {
    if seconds <= 0.0 {
        return BTreeMap::new();
    }
    after
        .iter()
        .map(|(t, n)| {
            let was = before.get(t).copied().unwrap_or(*n);
            (t.clone(), n.saturating_sub(was) as f64 / seconds)
        })
        .collect()
}

fn bold(text: impl Into<String>) -> Span<'static> {
    Span::styled(text.into(), Style::default().add_modifier(Modifier::BOLD))
}

fn warn(text: impl Into<String>) -> Line<'static> {
    Line::from(Span::styled(
        text.into(),
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    ))
}

/// The header lines: who answers, ready or not, the last commit, the keys.
fn header(s: &Screen) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &s.doc {
        Some(doc) => {
            let ready = doc["health"]["ready"].as_bool().unwrap_or(false);
            let state = if ready {
                Span::styled("READY", Style::default().fg(Color::Green))
            } else {
                Span::styled("NOT READY", Style::default().fg(Color::Red))
            };
            let last = match doc["health"]["last_commit_ms"].as_u64() {
                Some(ms) => format!(
                    "last durable batch {:.1} s ago",
                    s.now_ms.saturating_sub(ms) as f64 / 1000.0
                ),
                None => "no durable batch yet".into(),
            };
            lines.push(Line::from(vec![
                bold(format!(
                    "fdc {} (role {}) at {}, up {} s: ",
                    doc["version"].as_str().unwrap_or("?"),
                    doc["role"].as_str().unwrap_or("?"),
                    s.addr,
                    doc["uptime_seconds"].as_u64().unwrap_or(0)
                )),
                state,
                Span::raw(format!("; {last}")),
            ]));
            if let Some(w) = doc["health"]["warning"].as_str() {
                lines.push(warn(format!("WARNING: {w}")));
            }
        }
        None => lines.push(Line::from(bold(format!("fdc at {}", s.addr)))),
    }
    if let Some(e) = &s.error {
        lines.push(warn(format!("cannot read /status: {e} (retrying)")));
    }
    lines.push(Line::from(format!(
        "refresh every {:.1} s; q quits",
        s.interval.as_secs_f64()
    )));
    lines
}

/// The topics: this member's lag, consumed, rate, dead letters.
fn topics(doc: &Value, rates: &BTreeMap<String, f64>) -> Vec<Line<'static>> {
    let mut lag: BTreeMap<String, i64> = BTreeMap::new();
    for l in doc["health"]["lag"].as_array().into_iter().flatten() {
        *lag.entry(l["topic"].as_str().unwrap_or("?").to_string())
            .or_default() += l["lag"].as_i64().unwrap_or(0);
    }
    let mut names: Vec<String> = lag.keys().cloned().collect();
    for t in doc["topics"].as_object().into_iter().flat_map(|t| t.keys()) {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|t| {
            let c = &doc["topics"][&t];
            Line::from(format!(
                "{t}: lag {}, {} consumed, {:.1}/s, {} dead-lettered",
                lag.get(&t)
                    .map_or_else(|| "-".to_string(), |l| thousands(*l)),
                thousands(c["consumed"].as_i64().unwrap_or(0)),
                rates.get(&t).copied().unwrap_or(0.0),
                thousands(c["dead_lettered"].as_i64().unwrap_or(0)),
            ))
        })
        .collect()
}

fn stage_lines(doc: &Value) -> Vec<Line<'static>> {
    doc["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let hist = &s["freshness_seconds"];
            let fresh = match (quantile(hist, 0.5), quantile(hist, 0.99)) {
                (Some(p50), Some(p99)) => format!(", freshness p50 <= {p50} s, p99 <= {p99} s"),
                _ => String::new(),
            };
            Line::from(format!(
                "{}: lag {}{fresh}",
                s["stage"].as_str().unwrap_or("?"),
                s["lag"].as_i64().map_or_else(|| "-".to_string(), thousands),
            ))
        })
        .collect()
}

fn group_lines(doc: &Value) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for g in doc["group_lag"].as_array().into_iter().flatten() {
        lines.push(Line::from(bold(format!(
            "{} ({}, {} member(s))",
            g["group"].as_str().unwrap_or("?"),
            g["state"].as_str().unwrap_or("?"),
            g["members"].as_u64().unwrap_or(0)
        ))));
        for p in g["partitions"].as_array().into_iter().flatten() {
            // The summary's line, its stall explanation shortened to fit a row.
            let mut text = partition_line(p);
            if let (Some(cut), Some(s)) =
                (text.find("; no progress"), p["stalled_seconds"].as_u64())
            {
                text.truncate(cut);
                text.push_str(&format!("; stalled {s} s: owner dead?"));
            }
            let live = p["stalled_seconds"].is_null()
                && (!p["owner"].is_null() || p["lag"].as_i64().unwrap_or(0) == 0);
            lines.push(if live { Line::from(text) } else { warn(text) });
        }
    }
    lines
}

/// Draws `s` on `frame`.
pub fn draw(frame: &mut Frame, s: &Screen) {
    let mut sections: Vec<(&str, Vec<Line<'static>>)> = vec![("", header(s))];
    if let Some(doc) = &s.doc {
        if let Some(w) = retention_warning(doc) {
            // Two rows: what was lost, then what it means.
            let lines = match w.split_once(": the single views") {
                Some((lost, rest)) => vec![warn(lost), warn(format!("the single views{rest}"))],
                None => vec![warn(w)],
            };
            sections.push(("Retention", lines));
        }
        let paused: Vec<Line<'static>> = paused_lines(doc).into_iter().map(warn).collect();
        if !paused.is_empty() {
            sections.push(("Paused", paused));
        }
        sections.push(("Topics", topics(doc, &s.rates)));
        let views: Vec<Line<'static>> = doc["views"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| Line::from(view_line(v)))
            .collect();
        sections.push(("Single views", views));
        sections.push(("Stages", stage_lines(doc)));
        let group = group_lines(doc);
        if !group.is_empty() {
            sections.push(("Consumer group", group));
        }
        let drift: Vec<Line<'static>> = super::status::drift_summary(doc, s.now_ms)
            .lines()
            .skip(1)
            .map(|l| Line::from(l.trim_start().to_owned()))
            .collect();
        if !drift.is_empty() {
            sections.push(("Source drift", drift));
        }
    }
    let constraints: Vec<Constraint> = sections
        .iter()
        .map(|(_, lines)| Constraint::Length(lines.len().max(1) as u16 + 2))
        .chain(std::iter::once(Constraint::Min(0)))
        .collect();
    let areas = Layout::vertical(constraints).split(frame.area());
    for ((title, lines), area) in sections.into_iter().zip(areas.iter()) {
        let block = if title.is_empty() {
            Block::bordered()
        } else {
            Block::bordered().title(format!(" {title} "))
        };
        frame.render_widget(Paragraph::new(lines).block(block), *area);
    }
}

/// Restores the terminal when dropped.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = execute!(std::io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// One read of `/status` on `addr`.
fn read(addr: &str) -> Result<Value, String> {
    let (code, body) = get(addr, "/status")?;
    if code != 200 {
        return Err(format!("{addr} answered {code} to /status"));
    }
    serde_json::from_str(&body)
        .map_err(|e| format!("{addr} answered a /status that is not JSON: {e}"))
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs `fdc status --watch` on `addr` (exit 0 when quit, 1 on a terminal error, 2 when the
/// standard output is not a terminal).
pub fn run(addr: &str, interval: Duration) -> ExitCode {
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "error: `fdc status --watch` needs a terminal, and the standard output is not one; \
             use `fdc status` (a summary) or `fdc status --json` in scripts"
        );
        return ExitCode::from(2);
    }
    match watch(addr, interval) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            ExitCode::from(1)
        }
    }
}

fn watch(addr: &str, interval: Duration) -> std::io::Result<()> {
    // Reads on their own thread; it ends when this function drops the receiver.
    let (tx, rx) = mpsc::channel::<(Instant, Result<Value, String>)>();
    let target = addr.to_string();
    std::thread::spawn(move || loop {
        let started = Instant::now();
        if tx.send((started, read(&target))).is_err() {
            return;
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    });
    enable_raw_mode()?;
    let _restore = Restore;
    execute!(std::io::stdout(), EnterAlternateScreen, cursor::Hide)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    let mut screen = Screen {
        addr: addr.to_string(),
        interval,
        ..Screen::default()
    };
    let mut last: Option<(Instant, BTreeMap<String, u64>)> = None;
    loop {
        while let Ok((at, result)) = rx.try_recv() {
            screen.now_ms = epoch_ms();
            match result {
                Ok(doc) => {
                    let now = consumed(&doc);
                    if let Some((then, before)) = &last {
                        screen.rates = rates(before, &now, at.duration_since(*then).as_secs_f64());
                    }
                    last = Some((at, now));
                    screen.doc = Some(doc);
                    screen.error = None;
                }
                Err(e) => screen.error = Some(e),
            }
        }
        terminal.draw(|f| draw(f, &screen))?;
        if event::poll(Duration::from_millis(100))? {
            if let Event::Key(k) = event::read()? {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                let quit = matches!(k.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc);
                if k.kind == KeyEventKind::Press && (quit || ctrl_c) {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use serde_json::json;

    use super::*;

    /// The frame as text, one line per row, trailing blanks cut.
    fn rendered(screen: &Screen, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        terminal.draw(|f| draw(f, screen)).expect("draw");
        let buffer = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..height {
            let row: String = (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            out.push_str(row.trim_end());
            out.push('\n');
        }
        out
    }

    fn document() -> Value {
        json!({
            "version": "0.1.0", "role": "all", "uptime_seconds": 90,
            "health": {"ready": true, "last_commit_ms": 99_000,
                "lag": [{"topic": "crm.orders", "partition": 0, "lag": 12300}]},
            "topics": {"crm.orders": {"consumed": 5000, "dead_lettered": 2},
                       "crm.customers": {"consumed": 700, "dead_lettered": 0}},
            "views": [{"view": "customer_360", "behind_seconds": 4.2,
                       "held_back_by": {"projection": "orders", "topic": "crm.orders",
                                        "lag": 12300},
                       "freshness_seconds": {"count": 2, "sum": 3.0,
                           "buckets": [[1.0, 1], [5.0, 2]]}},
                      {"view": "order_view", "behind_seconds": 0.0,
                       "freshness_seconds": {"count": 0, "sum": 0.0, "buckets": []}}],
            "stages": [{"stage": "ingest", "lag": 12300,
                        "freshness_seconds": {"count": 1, "sum": 0.5,
                            "buckets": [[1.0, 1]]}}],
            "group_lag": [{"group": "fdc", "state": "Stable", "members": 2, "partitions": [
                {"topic": "crm.orders", "partition": 0, "lag": 12300, "owner": "m-1 (h1)",
                 "mine": true},
                {"topic": "crm.orders", "partition": 1, "lag": 40, "owner": "m-2 (h2)",
                 "mine": false, "stalled_seconds": 12},
                {"topic": "crm.orders", "partition": 2, "lag": 7, "owner": null,
                 "mine": false}]}],
            "lost_to_retention": [{"topic": "crm.orders", "partition": 2, "messages": 300}],
            "paused": [{"projection": "orders", "since": "2026-01-01T00:00:00Z", "by": "ops"}]
        })
    }

    #[test]
    fn source_drift_gets_a_section_of_its_own() {
        let mut doc = document();
        doc["source_drift"] = json!([{"projection": "orders", "messages": 9,
            "unmapped_messages": 2, "unmapped": [{"name": "CHANNEL"}],
            "missing": [{"name": "COUPON", "missing_since_ms": 90_500}],
            "not_arriving": ["COUPON"]}]);
        let screen = Screen {
            addr: "127.0.0.1:9464".into(),
            interval: Duration::from_secs(2),
            doc: Some(doc),
            error: None,
            rates: BTreeMap::new(),
            now_ms: 100_500,
        };
        let got = rendered(&screen, 120, 40);
        assert!(got.contains("┌ Source drift ─"), "\n{got}");
        assert!(
            got.contains("│orders: 2 message(s) with columns no field maps: CHANNEL"),
            "\n{got}"
        );
        assert!(
            got.contains("│orders: mapped column(s) no longer arriving (for 10 s): COUPON"),
            "\n{got}"
        );
    }

    #[test]
    fn a_fixed_status_document_renders_this_frame() {
        let screen = Screen {
            addr: "127.0.0.1:9464".into(),
            interval: Duration::from_secs(2),
            doc: Some(document()),
            error: None,
            rates: [("crm.orders".to_string(), 250.0)].into_iter().collect(),
            now_ms: 100_500,
        };
        let expected = "\
┌──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│fdc 0.1.0 (role all) at 127.0.0.1:9464, up 90 s: READY; last durable batch 1.5 s ago                                  │
│refresh every 2.0 s; q quits                                                                                          │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Retention ───────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│retention deleted 300 message(s) before they were read (crm.orders[2]: 300)                                           │
│the single views may miss changes; a refresh is needed (`fdc refresh`)                                                │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Paused ──────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│projection: orders, since: 2026-01-01T00:00:00Z, by: ops                                                              │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Topics ──────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│crm.customers: lag -, 700 consumed, 0.0/s, 0 dead-lettered                                                            │
│crm.orders: lag 12,300, 5,000 consumed, 250.0/s, 2 dead-lettered                                                      │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Single views ────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│customer_360: 4.2 s behind, held back by orders (lag 12,300); freshness p50 <= 1 s, p99 <= 5 s                        │
│order_view: caught up                                                                                                 │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Stages ──────────────────────────────────────────────────────────────────────────────────────────────────────────────┐
│ingest: lag 12,300, freshness p50 <= 1 s, p99 <= 1 s                                                                  │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
┌ Consumer group ──────────────────────────────────────────────────────────────────────────────────────────────────────┐
│fdc (Stable, 2 member(s))                                                                                             │
│crm.orders[0]: lag 12,300, owner m-1 (h1) (this process)                                                              │
│crm.orders[1]: lag 40, owner m-2 (h2); stalled 12 s: owner dead?                                                      │
│crm.orders[2]: lag 7, unassigned: no live owner                                                                       │
└──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
";
        let got = rendered(&screen, 120, 29);
        assert_eq!(got.trim_end(), expected.trim_end(), "\n{got}");
    }

    #[test]
    fn an_unreachable_endpoint_is_shown_and_rates_come_from_two_reads() {
        let screen = Screen {
            addr: "127.0.0.1:1".into(),
            interval: Duration::from_millis(500),
            error: Some("no fdc answers at 127.0.0.1:1".into()),
            ..Screen::default()
        };
        let got = rendered(&screen, 80, 8);
        assert!(got.contains("fdc at 127.0.0.1:1"), "{got}");
        assert!(got.contains("cannot read /status: no fdc answers"), "{got}");
        assert!(got.contains("refresh every 0.5 s; q quits"), "{got}");
        let before = [("a".to_string(), 10u64)].into_iter().collect();
        let after = [("a".to_string(), 30u64), ("b".to_string(), 5u64)]
            .into_iter()
            .collect();
        let r = rates(&before, &after, 2.0);
        assert_eq!(r.get("a"), Some(&10.0));
        assert_eq!(r.get("b"), Some(&0.0), "a topic seen once has no rate yet");
        assert!(rates(&before, &after, 0.0).is_empty());
    }
}
