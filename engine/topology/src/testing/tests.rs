use std::path::{Path, PathBuf};

use super::report::{human, json, junit, Totals};
use super::*;
use fdc_engine::testkit::shop_plan;

fn file(text: &str) -> TestFile {
    parse(Path::new("t.test.yaml"), text).expect("valid test file")
}

async fn run(text: &str) -> Vec<CaseResult> {
    run_file(&shop_plan(), &file(text), None).await
}

#[test]
fn the_first_difference_has_a_path_and_both_values() {
    let e = serde_json::json!({"a": [{"total": "12.50"}], "b": 1});
    let a = serde_json::json!({"a": [{"total": "12.5"}], "b": 1.0});
    let d = first_difference("v[1]", &e, &a).expect("differs");
    assert_eq!(d.path, "v[1].a[0].total");
    assert_eq!(
        (d.expected.as_str(), d.actual.as_str()),
        ("\"12.50\"", "\"12.5\"")
    );
    assert_eq!(first_difference("v", &e["b"], &a["b"]), None, "2 == 2.0");
    let d = first_difference(
        "v",
        &serde_json::json!({"x": 1}),
        &serde_json::json!({"x": 1, "y": 2}),
    )
    .expect("an extra field differs");
    assert_eq!((d.path.as_str(), d.expected.as_str()), ("v.y", "(missing)"));
    let d = first_difference("v", &serde_json::json!([1, 2]), &serde_json::json!([1]))
        .expect("a shorter array differs");
    assert_eq!((d.path.as_str(), d.actual.as_str()), ("v[1]", "(missing)"));
}

#[test]
fn differences_lists_every_differing_path_in_document_order() {
    let e = serde_json::json!({"a": 1, "b": {"c": "x", "d": [1, 2, 3]}, "e": true});
    let a = serde_json::json!({"a": 2, "b": {"c": "y", "d": [1, 5]}, "f": null});
    let paths: Vec<(String, String, String)> = differences("v", &e, &a)
        .into_iter()
        .map(|d| (d.path, d.expected, d.actual))
        .collect();
    let owned = |p: &str, e: &str, a: &str| (p.to_owned(), e.to_owned(), a.to_owned());
    assert_eq!(
        paths,
        vec![
            owned("v.a", "1", "2"),
            owned("v.b.c", "\"x\"", "\"y\""),
            owned("v.b.d[1]", "2", "5"),
            owned("v.b.d[2]", "3", "(missing)"),
            owned("v.e", "true", "(missing)"),
            owned("v.f", "(missing)", "null"),
        ]
    );
    assert!(differences("v", &e, &e).is_empty());
}

#[test]
fn schema_errors_name_the_place() {
    let err = parse(
        Path::new("x.test.yaml"),
        "cases:\n  - name: a\n    expect: {views: {v: [{key: 1}]}}\n    bogus: 1\n",
    )
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("x.test.yaml"), "{text}");
    assert!(text.contains("/cases/0"), "{text}");
    let err = parse(Path::new("y.test.yaml"), "cases: [").expect_err("not YAML");
    assert!(matches!(err, LoadError::Yaml { .. }), "{err}");
    let err = parse(
        Path::new("z.test.yaml"),
        "cases:\n  - name: no expectation\n",
    )
    .expect_err("a case needs an expectation");
    assert!(matches!(err, LoadError::Schema { .. }), "{err}");
}

const ORDERS: &str = r#"
cases:
  - name: an order reaches its customer
    given:
      customers: [{id: 1, name: Ann, country: IT}]
    when:
      - {projection: orders, op: insert, after: {id: 5, customer_id: 1, status: PAID, total: "3.50"}}
    expect:
      views:
        customer_360:
          - key: 1
            fields: {customer_id: 1, name: Ann, order_count: 1, spent: "3.50"}
          - key: [2]
            absent: true
      projections:
        orders:
          - key: {id: 5}
            document: {id: 5, customer_id: 1, status: PAID, total: "3.50"}
  - name: a wrong expectation fails with a path
    given:
      customers: [{id: 1, name: Ann, country: IT}]
    when:
      - {projection: orders, op: insert, after: {id: 5, customer_id: 1, status: PAID, total: "3.50"}}
    expect:
      views:
        customer_360:
          - key: 1
            fields: {spent: "3.5"}
"#;

#[tokio::test]
async fn cases_pass_and_fail_with_readable_differences() {
    let results = run(ORDERS).await;
    assert_eq!(results.len(), 2);
    assert!(results[0].passed(), "{:?}", results[0]);
    assert!(!results[1].passed());
    assert_eq!(
        results[1].failures[0].to_string(),
        "customer_360[1].spent: expected \"3.5\", got \"3.50\""
    );
}

/// One run reports every differing path of every document, projection record and event,
/// not the first one of a case.
#[tokio::test]
async fn every_difference_of_a_case_is_reported() {
    let text = r#"
cases:
  - name: many wrong expectations
    given:
      customers: [{id: 1, name: Ann, country: IT}, {id: 2, name: Bob, country: FR}]
    when:
      - {projection: orders, op: insert, after: {id: 5, customer_id: 1, status: PAID, total: "3.50"}}
      - {projection: orders, op: insert, after: {id: 6, customer_id: 2, status: PAID, total: "4.00"}}
    expect:
      views:
        customer_360:
          - key: 1
            fields: {name: Anne, order_count: 2, spent: "3.5"}
          - key: 2
            fields: {name: Bobby}
      projections:
        orders:
          - key: {id: 5}
            document: {id: 5, customer_id: 9, status: OPEN, total: "3.50"}
      events:
        - {kind: single_view_update, view: customer_360, op: insert, key: {customer_id: 1}}
        - {kind: single_view_update, view: customer_360, op: insert, key: {customer_id: 2}}
"#;
    let results = run(text).await;
    let paths: Vec<&str> = results[0]
        .failures
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec![
            "customer_360[1].name",
            "customer_360[1].order_count",
            "customer_360[1].spent",
            "customer_360[2].name",
            "orders[5].customer_id",
            "orders[5].status",
            "events[0].op",
            "events[1].op",
        ],
        "{:#?}",
        results[0].failures
    );
    let h = human(&[FileResult {
        path: PathBuf::from("t.test.yaml"),
        error: None,
        cases: results.clone(),
    }]);
    assert!(
        h.contains(
            "  FAIL  many wrong expectations (8 difference(s); - expected, + actual)\n        \
             customer_360[1].name\n          - \"Anne\"\n          + \"Ann\"\n"
        ),
        "{h}"
    );
    let j = json(&[FileResult {
        path: PathBuf::from("t.test.yaml"),
        error: None,
        cases: results.clone(),
    }]);
    assert_eq!(
        j["files"][0]["cases"][0]["failures"]
            .as_array()
            .map(Vec::len),
        Some(8)
    );
    let x = junit(&[FileResult {
        path: PathBuf::from("t.test.yaml"),
        error: None,
        cases: results,
    }]);
    assert!(x.contains("orders[5].status: expected"), "{x}");
    assert!(x.contains("events[1].op: expected"), "{x}");
}

#[tokio::test]
async fn unexpected_dead_letters_fail_and_expected_ones_pass() {
    let text = r#"
cases:
  - name: poison unexpected
    when:
      - {raw: "not json"}
    expect: {}
  - name: poison expected
    when:
      - {raw: "not json"}
      - {topic: shop.orders, key: {id: 1}, value: {id: "x", status: PAID, total: "1"}}
    expect:
      dead_letters: {count: 2, reasons: ["not JSON"]}
"#;
    let results = run(text).await;
    assert!(!results[0].passed());
    assert_eq!(results[0].failures[0].path, "dead letters");
    assert!(results[1].passed(), "{:?}", results[1]);
}

#[tokio::test]
async fn strategy_cases_compare_triggered_keys_exactly() {
    let text = r#"
cases:
  - name: moving an order triggers both customers
    given:
      customers: [{id: 1, name: A}, {id: 2, name: B}]
      orders: [{id: 5, customer_id: 1, status: PAID, total: "1"}]
    when:
      - {projection: orders, op: update, after: {id: 5, customer_id: 2, status: PAID, total: "1"}}
    expect_triggers:
      customer_360: [[1], [2]]
      order_view: [5]
  - name: a wrong trigger list fails
    given:
      customers: [{id: 1, name: A}, {id: 2, name: B}]
      orders: [{id: 5, customer_id: 1, status: PAID, total: "1"}]
    when:
      - {projection: orders, op: update, after: {id: 5, customer_id: 2, status: PAID, total: "1"}}
    expect_triggers:
      customer_360: [[2]]
"#;
    let results = run(text).await;
    assert!(results[0].passed(), "{:?}", results[0]);
    assert_eq!(
        results[1].failures[0].to_string(),
        "triggers of customer_360: expected [[2]], got [[1], [2]]"
    );
}

#[tokio::test]
async fn stale_messages_exhaustive_views_and_filters() {
    let text = r#"
cases:
  - name: out of order
    batch: all
    when:
      - {projection: customers, op: insert, after: {id: 1, name: New}, version: 9}
      - {projection: customers, op: update, after: {id: 1, name: Old}, version: 3}
    expect:
      stale: 1
      exhaustive: true
      views:
        customer_360:
          - key: 1
            fields: {name: New}
  - name: exhaustive catches unlisted documents
    when:
      - {projection: customers, op: insert, after: {id: 1, name: A}}
      - {projection: customers, op: insert, after: {id: 2, name: B}}
    expect:
      exhaustive: true
      views:
        customer_360:
          - {key: 1, fields: {name: A}}
"#;
    let results = run(text).await;
    assert!(results[0].passed(), "{:?}", results[0]);
    assert_eq!(results[1].failures.len(), 1, "{:?}", results[1]);
    assert_eq!(results[1].failures[0].path, "customer_360[2]");
    let only = run_file(&shop_plan(), &file(text), Some("exhaustive")).await;
    assert_eq!(only.len(), 1);
}

#[tokio::test]
async fn bad_cases_are_errors_not_failures() {
    let text = r#"
cases:
  - name: unknown projection
    given:
      nope: [{id: 1}]
    expect: {}
"#;
    let results = run(text).await;
    let error = results[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("no projection `nope`"), "{error}");
}

#[tokio::test]
async fn reports_count_and_junit_is_well_formed() {
    let results = vec![FileResult {
        path: PathBuf::from("p/a.test.yaml"),
        error: None,
        cases: run(ORDERS).await,
    }];
    let t = Totals::of(&results);
    assert_eq!((t.passed, t.failed, t.errors, t.ok()), (1, 1, 0, false));
    let h = human(&results);
    assert!(h.contains("FAIL  a wrong expectation"), "{h}");
    assert!(h.contains("FAILED: 1 passed, 1 failed"), "{h}");
    let j = json(&results);
    assert_eq!(
        j["files"][0]["cases"][1]["failures"][0]["path"],
        "customer_360[1].spent"
    );
    let x = junit(&results);
    assert!(
        x.contains("<testsuite name=\"p/a.test.yaml\" tests=\"2\" failures=\"1\""),
        "{x}"
    );
    assert!(x.contains("expected &quot;3.5&quot;"), "{x}");
    // Every opened element is closed.
    assert_eq!(x.matches("<testcase").count(), 2);
    assert_eq!(
        x.matches("<testsuite ").count(),
        x.matches("</testsuite>").count()
    );
}

#[test]
fn discovery_finds_test_files_in_a_tree() {
    let dir = std::env::temp_dir().join(format!("fdc-testing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a/b")).expect("dirs");
    std::fs::create_dir_all(dir.join("target")).expect("dirs");
    std::fs::create_dir_all(dir.join("fixtures")).expect("dirs");
    for f in [
        "a/x.test.yaml",
        "a/b/y.test.yaml",
        "a/other.yaml",
        "target/z.test.yaml",
        "fixtures/.fdcignore",
        "fixtures/w.test.yaml",
    ] {
        std::fs::write(dir.join(f), "").expect("write");
    }
    let found = discover(&dir).expect("found");
    assert_eq!(
        found,
        vec![dir.join("a/b/y.test.yaml"), dir.join("a/x.test.yaml")]
    );
    assert!(discover(&dir.join("missing")).is_err());
    // A marked directory is searched when named.
    assert_eq!(
        discover(&dir.join("fixtures")).expect("found"),
        vec![dir.join("fixtures/w.test.yaml")]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A compact change encoded in each format decodes back to the same change.
#[test]
fn compact_changes_round_trip_through_every_format() {
    use fdc_engine::change::{MessageOutcome, Op};
    use fdc_engine::source::SourceItem;
    use fdc_engine::value::Value;
    use fdc_plan::{CustomFormat, Format, MessagePart, MessagePath};

    let path = |part: MessagePart, p: &[&str]| MessagePath {
        part,
        path: p.iter().map(|s| s.to_string()).collect(),
    };
    let custom = Format::Custom(Box::new(CustomFormat {
        name: "mine".into(),
        operation: Some(path(MessagePart::Header("op".into()), &[])),
        inserts: vec!["I".into()],
        updates: vec!["U".into()],
        deletes: vec!["D".into()],
        skips: vec![],
        before: Some(path(MessagePart::Value, &["data", "old"])),
        after: path(MessagePart::Value, &["data", "new"]),
        position: Some(path(MessagePart::Value, &["seq"])),
    }));
    for format in [Format::Basic, Format::Debezium, Format::GoldenGate, custom] {
        let mut plan = shop_plan();
        plan.projections[0].format = format.clone();
        let router = fdc_engine::ingest::Router::new(&plan).expect("router");
        let row = serde_json::json!({"id": 4, "name": "Ann", "country": "IT"});
        for (op, version) in [("insert", 3_u128), ("update", 4), ("delete", 5)] {
            let message = if op == "delete" {
                serde_json::json!({"projection": "customers", "op": op, "before": row, "version": version})
            } else {
                serde_json::json!({"projection": "customers", "op": op, "after": row, "version": version})
            };
            let item = encode::item(&plan, &message, 1).expect("encodes");
            let SourceItem::Message(m) = item else {
                panic!("{format:?} {op}: not a message")
            };
            let outcomes = router.route(&m);
            let Some(MessageOutcome::Changes(changes)) = outcomes.first() else {
                panic!("{format:?} {op}: {outcomes:?}")
            };
            let c = &changes[0];
            assert_eq!(c.key, vec![Value::Int(4)], "{format:?} {op}");
            assert_eq!(c.version.0, version, "{format:?} {op}");
            let want = if op == "delete" {
                Op::Delete
            } else {
                Op::Upsert
            };
            assert_eq!(c.op, want, "{format:?} {op}");
            if op != "delete" {
                let after = c.after.as_ref().expect("after");
                assert_eq!(after.get("name"), Some(&Value::String("Ann".into())));
            }
        }
    }
    let err = encode::item(
        &shop_plan(),
        &serde_json::json!({"projection": "nope", "op": "insert", "after": {}}),
        2,
    )
    .expect_err("unknown projection");
    assert!(err.contains("message 2") && err.contains("nope"), "{err}");
}
