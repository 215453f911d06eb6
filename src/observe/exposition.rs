//! The runtime's observations as the Prometheus text format (version 0.0.4) and as the JSON
//! status document of `/status`.
//!
//! In: the engine's [`Counters`] (counts, per-topic counts, histograms, health). Out: the text
//! of `/metrics` and the JSON of `/status`.
//!
//! Guarantees: every family has one `# HELP` and one `# TYPE` line and all its samples right
//! after them; label values are escaped (`\\`, `"`, newline); histogram buckets are cumulative
//! with a final `+Inf` bucket equal to `_count`; counters end in `_total`. Metric names and
//! labels carry topic, partition and view names only, never keys or values.

use std::fmt::Write as _;

use fdc_engine::runtime::freshness::Stage;
use fdc_engine::runtime::{Counters, HistogramSnapshot};
use fdc_engine::source::PartitionLag;
use serde_json::json;

/// The Content-Type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as Prometheus writes it.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// Writes the text of families one by one.
struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl ToString) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", value.to_string());
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: impl ToString) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) {
        self.family(name, "histogram", help);
        self.histogram_samples(name, &[], h);
    }

    /// The samples of one labelled series of a histogram family declared before.
    fn histogram_samples(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (bound, count) in &h.buckets {
            let le = number(*bound);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, count);
        }
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&bucket, &l, h.count);
        self.sample(&format!("{name}_sum"), labels, number(h.sum));
        self.sample(&format!("{name}_count"), labels, h.count);
    }
}

/// The `/metrics` text of `counters`.
pub fn render(counters: &Counters) -> String {
    let s = counters.summary();
    let topics = counters.topics();
    let h = counters.histograms();
    let health = counters.health().snapshot();
    let mut w = Writer { out: String::new() };

    w.family(
        "fdc_build_info",
        "gauge",
        "The fdc version running (always 1).",
    );
    w.sample(
        "fdc_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    type Field = fn(&fdc_engine::runtime::TopicCounts) -> u64;
    let per_topic: [(&str, &str, Field); 5] = [
        (
            "fdc_messages_consumed_total",
            "Messages read whose batch is durable, per input topic.",
            |c| c.consumed,
        ),
        (
            "fdc_messages_skipped_total",
            "Messages skipped by their format (tombstones, declared skips), per input topic.",
            |c| c.skipped,
        ),
        (
            "fdc_messages_dead_lettered_total",
            "Messages dead-lettered with a reason, per input topic.",
            |c| c.dead_lettered,
        ),
        (
            "fdc_changes_applied_total",
            "Changes applied to projections (replays included), per input topic.",
            |c| c.applied,
        ),
        (
            "fdc_changes_stale_total",
            "Changes skipped because the projection holds a newer version, per input topic.",
            |c| c.stale,
        ),
    ];
    for (name, help, field) in per_topic {
        w.family(name, "counter", help);
        for (topic, c) in &topics {
            w.sample(name, &[("topic", topic)], field(c));
        }
    }
    w.counter(
        "fdc_single_views_triggered_total",
        "Single-view keys triggered by the strategies (deduplicated per batch).",
        s.triggered,
    );
    w.family(
        "fdc_single_views_total",
        "counter",
        "Single views rebuilt, by outcome.",
    );
    for (outcome, n) in [
        ("inserted", s.views.inserted),
        ("updated", s.views.updated),
        ("unchanged", s.views.unchanged),
        ("deleted", s.views.deleted),
        ("failed", s.views.failed),
    ] {
        w.sample("fdc_single_views_total", &[("outcome", outcome)], n);
    }
    w.counter(
        "fdc_mapping_errors_total",
        "Mapping-function calls that got bad input (their value became null).",
        s.views.mapping_errors,
    );
    w.counter("fdc_events_total", "Events published.", s.events);
    w.counter(
        "fdc_batches_total",
        "Batches whose effects are durable and offsets committed.",
        s.batches,
    );
    w.counter(
        "fdc_batch_retries_total",
        "Batch attempts that failed with a retryable error (store or broker unavailable).",
        health.retries,
    );
    w.histogram(
        "fdc_batch_size_messages",
        "Messages per durable batch.",
        &h.batch_size,
    );
    w.histogram(
        "fdc_batch_duration_seconds",
        "Time to make a batch's effects durable, retries included.",
        &h.batch_seconds,
    );
    w.histogram(
        "fdc_end_to_end_latency_seconds",
        "From a message's timestamp to its batch's single views being written.",
        &h.end_to_end_seconds,
    );
    w.histogram(
        "fdc_strategy_fanout_keys",
        "Single-view keys triggered per batch.",
        &h.fanout,
    );
    w.family(
        "fdc_consumer_lag_messages",
        "gauge",
        "Messages after the committed offset, per assigned partition.",
    );
    for l in &health.lag {
        let partition = l.partition.to_string();
        w.sample(
            "fdc_consumer_lag_messages",
            &[("topic", &l.topic), ("partition", &partition)],
            l.lag,
        );
    }
    w.gauge(
        "fdc_ready",
        "1 when running, the source connected, the store reachable and no batch retrying.",
        u8::from(health.ready),
    );
    w.gauge(
        "fdc_paused",
        "1 while a failed batch is being retried (consumption paused).",
        u8::from(health.retrying),
    );
    w.gauge(
        "fdc_store_up",
        "1 when the store answered its last probe.",
        u8::from(health.store_reachable),
    );
    if let Some(up) = health.source_connected {
        w.gauge(
            "fdc_source_up",
            "1 when some Kafka broker answered in the last statistics.",
            u8::from(up),
        );
    }
    if let Some(ms) = health.last_commit_ms {
        w.gauge(
            "fdc_last_commit_timestamp_seconds",
            "When the last batch became durable (Unix time).",
            number(ms as f64 / 1000.0),
        );
    }
    render_freshness(&mut w, counters, now_ms());
    render_source_drift(&mut w, counters);
    w.out
}

/// The source drift per projection (names of columns are never labels: they come from input).
fn render_source_drift(w: &mut Writer, counters: &Counters) {
    let drift = counters.source_drift().snapshot();
    type Field = fn(&fdc_engine::store::SourceDrift) -> u64;
    let families: [(&str, &str, &str, Field); 4] = [
        (
            "fdc_source_columns_unmapped_total",
            "counter",
            "Messages that carried at least one source column no field of the projection maps.",
            |d| d.unmapped_messages,
        ),
        (
            "fdc_source_columns_missing_total",
            "counter",
            "Inserts and updates whose row image lacked at least one column the projection maps.",
            |d| d.missing_messages,
        ),
        (
            "fdc_source_columns_unmapped",
            "gauge",
            "Distinct unmapped source columns seen since the start (at most 20 are told apart).",
            |d| d.unmapped.len() as u64,
        ),
        (
            "fdc_source_columns_not_arriving",
            "gauge",
            "Mapped source columns the last row image that could carry them lacked.",
            |d| d.gone().count() as u64,
        ),
    ];
    for (name, kind, help, field) in families {
        w.family(name, kind, help);
        for d in &drift {
            w.sample(name, &[("projection", &d.projection)], field(d));
        }
    }
}

/// The `/status` section of the source drift: per projection that read messages, its counts,
/// the sample of unmapped column names and the mapped columns that were missing, with times.
fn source_drift_status(counters: &Counters) -> serde_json::Value {
    let drift: Vec<serde_json::Value> = counters
        .source_drift()
        .snapshot()
        .into_iter()
        .filter(|d| d.messages > 0)
        .map(|d| {
            let not_arriving: Vec<&str> = d.gone().map(|c| c.name.as_str()).collect();
            json!({
                "projection": d.projection,
                "messages": d.messages,
                "unmapped_messages": d.unmapped_messages,
                "missing_messages": d.missing_messages,
                "unmapped": d.unmapped.iter().map(|c| json!({
                    "name": c.name,
                    "messages": c.messages,
                    "first_seen_ms": c.first_seen_ms,
                    "last_seen_ms": c.last_seen_ms,
                })).collect::<Vec<_>>(),
                "unmapped_overflow": d.unmapped_overflow,
                "missing": d.mapped.iter().map(|c| json!({
                    "name": c.name,
                    "missing_messages": c.missing_messages,
                    "last_seen_ms": c.last_seen_ms,
                    "missing_since_ms": c.missing_since_ms,
                })).collect::<Vec<_>>(),
                "not_arriving": not_arriving,
                "since_ms": d.first_ms,
                "updated_ms": d.updated_ms,
            })
        })
        .collect();
    json!(drift)
}

/// Epoch milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The lag the views' freshness is judged by: the whole group's on the input topics when
/// known (a killed member's partitions included), else this member's.
fn input_lag(counters: &Counters) -> Vec<PartitionLag> {
    let health = counters.health();
    let group: Vec<PartitionLag> = health
        .group_lag()
        .into_iter()
        .filter(|(stage, _)| *stage == Stage::Ingest)
        .flat_map(|(_, g)| g.partitions)
        .map(|p| PartitionLag {
            topic: p.topic,
            partition: p.partition,
            lag: p.lag,
        })
        .collect();
    if group.is_empty() {
        health.snapshot().lag
    } else {
        group
    }
}

/// The freshness, stage, group and retention families of `/metrics`.
fn render_freshness(w: &mut Writer, counters: &Counters, now_ms: i64) {
    let health = counters.health();
    let freshness = counters.freshness();
    let views = freshness.views(&input_lag(counters), now_ms);
    w.family(
        "fdc_view_freshness_seconds",
        "histogram",
        "Age of the newest source change a single view reflects, at each rebuild of the view.",
    );
    for v in &views {
        w.histogram_samples(
            "fdc_view_freshness_seconds",
            &[("view", &v.view)],
            &v.freshness_seconds,
        );
    }
    w.family(
        "fdc_view_behind_seconds",
        "gauge",
        "How far behind a single view is now: 0 when no input has a lag, else the age of the \
         newest source change it reflects.",
    );
    for v in &views {
        if let Some(s) = v.behind_seconds {
            w.sample("fdc_view_behind_seconds", &[("view", &v.view)], number(s));
        }
    }
    let stages = freshness.stages();
    w.family(
        "fdc_stage_freshness_seconds",
        "histogram",
        "Age of the newest source change (triggers: trigger publication) a stage wrote, per \
         durable batch.",
    );
    for s in &stages {
        w.histogram_samples(
            "fdc_stage_freshness_seconds",
            &[("stage", s.stage)],
            &s.freshness_seconds,
        );
    }
    w.family(
        "fdc_stage_lag_messages",
        "gauge",
        "Messages after the committed offsets of this member's partitions, per stage.",
    );
    for (stage, lag, _) in health.stage_lag() {
        w.sample("fdc_stage_lag_messages", &[("stage", stage.name())], lag);
    }
    let groups = health.group_lag();
    w.family(
        "fdc_group_lag_messages",
        "gauge",
        "Messages after the group's committed offset, per partition of the group's topics, \
         whoever owns it.",
    );
    for (stage, g) in &groups {
        for p in &g.partitions {
            let partition = p.partition.to_string();
            w.sample(
                "fdc_group_lag_messages",
                &[
                    ("stage", stage.name()),
                    ("topic", &p.topic),
                    ("partition", &partition),
                ],
                p.lag,
            );
        }
    }
    w.family(
        "fdc_group_partitions_without_live_owner",
        "gauge",
        "Partitions of the group with messages waiting and no owner, or whose owner makes no \
         progress (a killed member, until its session times out).",
    );
    for (stage, g) in &groups {
        let n = g
            .partitions
            .iter()
            .filter(|p| p.lag > 0 && (p.owner.is_none() || p.stalled_seconds.is_some()))
            .count();
        w.sample(
            "fdc_group_partitions_without_live_owner",
            &[("stage", stage.name())],
            n,
        );
    }
    w.family(
        "fdc_messages_lost_to_retention_total",
        "counter",
        "Messages deleted by retention below the group's committed offset before they were \
         read (single views may miss changes: refresh them).",
    );
    for l in health.lost_to_retention() {
        let partition = l.partition.to_string();
        w.sample(
            "fdc_messages_lost_to_retention_total",
            &[("topic", &l.topic), ("partition", &partition)],
            l.messages,
        );
    }
}

/// The freshness sections of `/status`: `views` (none in an `ingest` process, which rebuilds
/// no view), `stages`, `group_lag`, `lost_to_retention`.
fn freshness_status(counters: &Counters, role: &str, now_ms: i64) -> serde_json::Value {
    let health = counters.health();
    let lags = health.stage_lag();
    let stages: Vec<serde_json::Value> = Stage::ALL
        .into_iter()
        .filter_map(|stage| {
            let fresh = counters
                .freshness()
                .stages()
                .into_iter()
                .find(|s| s.stage == stage.name());
            let lag = lags.iter().find(|l| l.0 == stage);
            if fresh.is_none() && lag.is_none() {
                return None;
            }
            Some(json!({
                "stage": stage.name(),
                "lag": lag.map(|l| l.1),
                "partitions": lag.map(|l| l.2),
                "newest_source_ms": fresh.as_ref().and_then(|f| f.newest_source_ms),
                "freshness_seconds": fresh.map(|f| f.freshness_seconds),
            }))
        })
        .collect();
    let groups: Vec<serde_json::Value> = health
        .group_lag()
        .into_iter()
        .map(|(stage, g)| {
            let mut v = json!(g);
            v["stage"] = json!(stage.name());
            v
        })
        .collect();
    let views = if role == "ingest" {
        Vec::new()
    } else {
        counters.freshness().views(&input_lag(counters), now_ms)
    };
    json!({
        "views": views,
        "stages": stages,
        "group_lag": groups,
        "lost_to_retention": health.lost_to_retention(),
    })
}

/// The `/status` document: what runs, since when, health, lag, counts and latencies.
pub fn status(counters: &Counters, uptime_seconds: u64, role: &str) -> serde_json::Value {
    let health = counters.health().snapshot();
    let mut doc = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "role": role,
        "uptime_seconds": uptime_seconds,
        "health": health,
        "summary": counters.summary(),
        "topics": counters.topics(),
        "histograms": counters.histograms(),
        "source_drift": source_drift_status(counters),
    });
    if let (Some(doc), serde_json::Value::Object(more)) = (
        doc.as_object_mut(),
        freshness_status(counters, role, now_ms()),
    ) {
        doc.extend(more);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn numbers_use_the_prometheus_spelling() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(3.0), "3");
    }

    /// Parses the exposition strictly enough to catch malformed output: every sample belongs
    /// to the family declared just before it, each family is declared once, values parse.
    /// `(name, type, [(series, value)])`.
    type Family = (String, String, Vec<(String, f64)>);

    fn families(text: &str) -> Vec<Family> {
        let mut out: Vec<Family> = Vec::new();
        let mut help_seen = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                assert!(!out.iter().any(|f| f.0 == name), "{name} declared twice");
                help_seen = Some(name);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().unwrap_or_default().to_string();
                assert_eq!(help_seen.take().as_deref(), Some(name.as_str()), "{line}");
                out.push((name, parts.next().unwrap_or_default().to_string(), vec![]));
            } else {
                let (series, value) = line.rsplit_once(' ').expect("sample line");
                let family = out.last_mut().expect("a sample before any family");
                let metric = series.split('{').next().unwrap_or_default();
                assert!(
                    metric == family.0
                        || (family.1 == "histogram"
                            && [
                                format!("{}_bucket", family.0),
                                format!("{}_sum", family.0),
                                format!("{}_count", family.0),
                            ]
                            .contains(&metric.to_string())),
                    "{metric} under {}",
                    family.0
                );
                let v: f64 = if value == "+Inf" {
                    f64::INFINITY
                } else {
                    value.parse().expect("a number")
                };
                family.2.push((series.to_string(), v));
            }
        }
        out
    }

    fn value(text: &str, series: &str) -> f64 {
        families(text)
            .into_iter()
            .flat_map(|f| f.2)
            .find(|(s, _)| s == series)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
    }

    #[test]
    fn a_fresh_engine_exposes_well_formed_zeroes_and_is_not_ready() {
        let c = Counters::default();
        let text = render(&c);
        let fams = families(&text);
        for (name, kind, _) in &fams {
            if kind == "counter" {
                assert!(name.ends_with("_total"), "{name}");
            }
        }
        assert_eq!(value(&text, "fdc_batches_total"), 0.0);
        assert_eq!(value(&text, "fdc_ready"), 0.0);
        assert_eq!(
            value(&text, "fdc_batch_size_messages_bucket{le=\"+Inf\"}"),
            0.0
        );
        assert!(!text.contains("fdc_source_up"), "no source: no gauge");
    }

    #[test]
    fn a_durable_batch_counts_per_topic_and_fills_the_histograms() {
        use fdc_engine::change::Message;
        use fdc_engine::runtime::{Routed, RoutedBatch};
        let message = |topic: &str, timestamp| Routed {
            message: Message {
                topic: topic.into(),
                partition: 0,
                offset: 0,
                key: None,
                value: None,
                headers: vec![],
                timestamp,
            },
            outcomes: vec![],
        };
        let batch = RoutedBatch {
            messages: vec![
                message("crm.a", Some(1_000)),
                message("crm.a", None),
                message("crm \"b\"", Some(2_000)),
            ],
            malformed: vec![],
            drift: Default::default(),
        };
        let c = Counters::default();
        c.batch_durable(&batch, &[], 4, 0.02, 3_000);
        let text = render(&c);
        assert_eq!(
            value(&text, "fdc_messages_consumed_total{topic=\"crm.a\"}"),
            2.0
        );
        assert_eq!(
            value(
                &text,
                "fdc_messages_consumed_total{topic=\"crm \\\"b\\\"\"}"
            ),
            1.0
        );
        // Two messages had a timestamp: 2 s and 1 s before the batch was durable.
        assert_eq!(value(&text, "fdc_end_to_end_latency_seconds_count"), 2.0);
        assert_eq!(value(&text, "fdc_end_to_end_latency_seconds_sum"), 3.0);
        assert_eq!(
            value(&text, "fdc_end_to_end_latency_seconds_bucket{le=\"1\"}"),
            1.0
        );
        assert_eq!(value(&text, "fdc_batch_size_messages_sum"), 3.0);
        assert_eq!(
            value(&text, "fdc_strategy_fanout_keys_bucket{le=\"5\"}"),
            1.0
        );
        assert_eq!(
            value(&text, "fdc_strategy_fanout_keys_bucket{le=\"1\"}"),
            0.0
        );
        assert!(value(&text, "fdc_last_commit_timestamp_seconds") == 3.0);
    }

    #[test]
    fn retries_pause_and_readiness_show_in_the_text() {
        let c = Counters::default();
        c.health().started();
        assert_eq!(value(&render(&c), "fdc_ready"), 1.0);
        c.batch_retrying(1, 200, "store unavailable");
        let text = render(&c);
        assert_eq!(value(&text, "fdc_ready"), 0.0);
        assert_eq!(value(&text, "fdc_paused"), 1.0);
        assert_eq!(value(&text, "fdc_batch_retries_total"), 1.0);
        c.batch_succeeded();
        assert_eq!(value(&render(&c), "fdc_paused"), 0.0);
        let doc = status(&c, 5, "all");
        assert_eq!(doc["health"]["retries"], 1);
        assert_eq!(doc["health"]["last_error"], "store unavailable");
    }

    #[test]
    fn freshness_per_view_and_per_stage_is_exposed_well_formed() {
        use fdc_engine::runtime::freshness::BatchFreshness;
        let plan: fdc_plan::Plan =
            serde_json::from_str(include_str!("../../engine/tests/fixtures/shop.plan.json"))
                .expect("plan");
        let c = Counters::default();
        c.freshness().know_plan(&plan);
        let mut fresh = BatchFreshness {
            ingest: Some(1_000),
            ..BatchFreshness::default()
        };
        fresh.view(0, Some(1_000), true);
        c.freshness().batch_durable(&plan, &fresh, 31_000);
        let text = render(&c);
        let view = |series: &str| value(&text, &format!("{series}{{view=\"customer_360\"}}"));
        assert_eq!(view("fdc_view_freshness_seconds_sum"), 30.0);
        assert_eq!(view("fdc_view_freshness_seconds_count"), 1.0);
        assert_eq!(
            value(
                &text,
                "fdc_view_freshness_seconds_bucket{view=\"customer_360\",le=\"10\"}"
            ),
            0.0
        );
        assert_eq!(
            value(
                &text,
                "fdc_view_freshness_seconds_bucket{view=\"customer_360\",le=\"30\"}"
            ),
            1.0
        );
        assert_eq!(view("fdc_view_behind_seconds"), 0.0, "no lag: caught up");
        assert_eq!(
            value(&text, "fdc_stage_freshness_seconds_count{stage=\"ingest\"}"),
            1.0
        );
        assert!(text.contains("# TYPE fdc_messages_lost_to_retention_total counter"));
        let doc = status(&c, 1, "all");
        assert_eq!(doc["views"][0]["view"], "customer_360");
        assert_eq!(doc["views"][0]["newest_source_ms"], 1_000);
        assert_eq!(doc["views"][1]["freshness_seconds"]["count"], 0);
        assert_eq!(doc["stages"][0]["stage"], "ingest");
        assert_eq!(doc["stages"][1]["stage"], "aggregate");
        assert_eq!(doc["group_lag"], json!([]));
        assert_eq!(doc["lost_to_retention"], json!([]));
        let ingest = status(&c, 1, "ingest");
        assert_eq!(
            ingest["views"],
            json!([]),
            "an ingest process rebuilds no view"
        );
        assert_eq!(ingest["stages"], doc["stages"]);
    }
}
