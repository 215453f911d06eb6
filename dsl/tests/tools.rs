//! `fdc graph` and `fdc explain` on the example pipelines: snapshots of the DOT and Mermaid
//! graphs and of the explanations (text and JSON), plus structural checks that would catch a
//! wrong hop order or a lost lineage even if a snapshot were accepted blindly.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use fdc_dsl::explain::{explain, ExplainError};
use fdc_dsl::graph::{render, GraphFormat};
use fdc_plan::Plan;

fn plan(name: &str) -> Plan {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pipelines")
        .join(name);
    match fdc_dsl::load(Path::new(&path)) {
        Ok(c) => c.plan,
        Err(d) => panic!("{name} does not compile: {:?}", d.to_json()),
    }
}

fn examples() -> Vec<(String, Plan)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), plan(&n))).collect()
}

#[test]
fn graphs_of_the_examples() {
    for (name, plan) in examples() {
        let dot = render(&plan, GraphFormat::Dot, None).unwrap();
        let mermaid = render(&plan, GraphFormat::Mermaid, None).unwrap();
        insta::assert_snapshot!(format!("graph_dot_{name}"), dot);
        insta::assert_snapshot!(format!("graph_mermaid_{name}"), mermaid);
        // Every projection, topic and single view appears; edges only join declared nodes.
        for p in &plan.projections {
            assert!(
                dot.contains(&format!("\"projection:{}\"", p.name)),
                "{}",
                p.name
            );
            assert!(
                dot.contains(&format!("\"topic:{}\"", p.topic)),
                "{}",
                p.topic
            );
        }
        for v in &plan.single_views {
            assert!(dot.contains(&format!("\"view:{}\"", v.name)));
            for s in &v.strategies {
                let edge = format!(
                    "\"projection:{}\" -> \"strategy:{}:{}\"",
                    s.projection, v.name, s.projection
                );
                assert!(dot.contains(&edge), "{edge}");
            }
        }
        let nodes = mermaid
            .lines()
            .filter(|l| l.trim_start().starts_with('n') && !l.contains("-->"))
            .count();
        assert!(
            !mermaid.contains("missing"),
            "an edge names an unknown node"
        );
        assert!(nodes > plan.projections.len());
    }
}

#[test]
fn graph_of_one_view_keeps_only_what_feeds_it() {
    let plan = plan("customer360");
    let v = &plan.single_views[0];
    let dot = render(&plan, GraphFormat::Dot, Some(&v.name)).unwrap();
    for p in &plan.projections {
        let fed = v.strategy(&p.name).is_some();
        assert_eq!(
            dot.contains(&format!("\"projection:{}\"", p.name)),
            fed,
            "{}",
            p.name
        );
    }
    let err = render(&plan, GraphFormat::Dot, Some("nope")).unwrap_err();
    assert!(err.to_string().contains(&v.name));
}

#[test]
fn explanations_of_the_examples() {
    for (name, plan) in examples() {
        for v in &plan.single_views {
            let e = explain(&plan, &v.name, None).unwrap();
            insta::assert_snapshot!(format!("explain_{name}_{}", v.name), e.to_text());
            insta::assert_json_snapshot!(format!("explain_json_{name}_{}", v.name), e);
            // Every strategy path ends at the root, and each hop starts where the last ended.
            for s in &e.strategies {
                for p in &s.paths {
                    if let Some(last) = p.hops.last() {
                        assert_eq!(last.to, e.root);
                        assert_eq!(p.hops[0].from, s.projection);
                        for w in p.hops.windows(2) {
                            assert_eq!(w[0].to, w[1].from);
                        }
                    }
                }
            }
            // Every mapped field has a lineage entry.
            for m in &v.mapping {
                assert!(e.fields.iter().any(|f| f.field == m.name), "{}", m.name);
            }
        }
    }
}

#[test]
fn multi_hop_strategy_and_field_lineage_of_customer_360() {
    let plan = plan("customer360");
    let e = explain(&plan, "customer_360", None).unwrap();
    let products = e
        .strategies
        .iter()
        .find(|s| s.projection == "products")
        .unwrap();
    let hops: Vec<&str> = products.paths[0]
        .hops
        .iter()
        .map(|h| h.query.as_str())
        .collect();
    assert_eq!(
        hops,
        vec![
            "find order_items where product_id $in [values of products.sku]",
            "find orders where id $in [values of order_items.order_id]",
            "find customers where id $in [values of orders.customer_id]",
        ]
    );
    assert!(products.paths[0].hops.iter().all(|h| h.index.is_some()));

    let one = explain(&plan, "customer_360", Some("billing.zip")).unwrap();
    assert_eq!(one.fields.len(), 1);
    let src = &one.fields[0].sources[0];
    assert_eq!(src.projection, "addresses");
    assert_eq!(src.topic, "crm.public.addresses");
    assert_eq!(src.format, "debezium");
    assert_eq!(src.column, vec!["ZIP"]);
    assert_eq!(src.casts, vec!["replace(\" \", \"\")"]);
    assert_eq!(src.via, vec!["customer_billing"]);

    let prefix = explain(&plan, "customer_360", Some("billing")).unwrap();
    assert_eq!(prefix.fields.len(), 5, "billing and its four fields");
    assert!(matches!(
        explain(&plan, "customer_360", Some("nope")),
        Err(ExplainError::UnknownField { .. })
    ));
    assert!(matches!(
        explain(&plan, "nope", None),
        Err(ExplainError::UnknownView { .. })
    ));
    // A near miss is answered with the close names, from the checker's similarity.
    let e = explain(&plan, "customer_360", Some("billing.zp")).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "single view `customer_360` has no field `billing.zp`; did you mean `billing.zip`"
        ),
        "{e}"
    );
    let e = explain(&plan, "customer_36", None).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "no single view named `customer_36`; did you mean `customer_360`? (single views: "
        ),
        "{e}"
    );
    let far = explain(&plan, "customer_360", Some("nope")).unwrap_err();
    assert!(!far.to_string().contains("did you mean"), "{far}");
    let e = fdc_dsl::graph::render(&plan, fdc_dsl::graph::GraphFormat::Dot, Some("custmer_360"))
        .unwrap_err();
    assert!(
        e.to_string().contains("did you mean `customer_360`?"),
        "{e}"
    );
}
