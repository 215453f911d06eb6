//! What the checker builds: join trees, scopes, cardinalities, strategies and inferred types.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use fdc_dsl::{compile_with, Compiled, Diagnostics, MemoryLoader};
use fdc_plan::Expr;

const BASE: &str = r#"
system shop {
  projection customers from "shop.customers" as basic {
    key id
    id    int
    name  string
  }
  projection orders from "shop.orders" as basic {
    key id
    id          int
    customer_id int
    total       decimal
    status      string
    index customer_id
  }
  projection lines from "shop.lines" as basic {
    key (order_id, n)
    order_id int
    n        int
    qty      int
  }
}
relation customer_orders: customers.id -> many orders.customer_id
relation order_customer: orders.customer_id -> one customers.id
relation order_lines: orders.id -> many lines.order_id
"#;

fn compile(extra: &str) -> Result<Compiled, Diagnostics> {
    let loader = MemoryLoader::new().with("p.fdl", format!("{BASE}{extra}"));
    compile_with(&loader, &[PathBuf::from("p.fdl")])
}

fn codes(r: &Result<Compiled, Diagnostics>) -> Vec<String> {
    let d = match r {
        Ok(c) => &c.diagnostics,
        Err(d) => d,
    };
    d.items.iter().map(|i| i.code()).collect()
}

#[test]
fn the_same_navigation_is_one_join_node() {
    let c = compile(
        "single view v { root customers key id = customers.id
           a = count(customer_orders)
           b = customer_orders[] { id }
           c = sum(qty of customer_orders.order_lines)
           d = customer_orders.order_lines[] (qty) }",
    )
    .unwrap();
    let v = &c.plan.single_views[0];
    let nodes: Vec<(&str, Option<usize>)> = v
        .nodes
        .iter()
        .map(|n| (n.projection.as_str(), n.parent))
        .collect();
    assert_eq!(
        nodes,
        vec![("customers", None), ("orders", Some(0)), ("lines", Some(1))]
    );
}

#[test]
fn element_fields_shadow_root_fields_and_relations_reach_outward() {
    // Inside the orders element, `id` is the order's id; `name` is the root's (orders has no
    // `name`); `order_lines` is walked from the element.
    let c = compile(
        "single view v { root customers key id = customers.id
           o = customer_orders[] { id, name, n = count(order_lines) } }",
    )
    .unwrap();
    let Expr::Collect { node, element, .. } = &c.plan.single_views[0].mapping[0].expr else {
        panic!("not a collect");
    };
    let Expr::Object { fields } = element.as_ref() else {
        panic!("not an object");
    };
    assert_eq!(
        fields[0].expr,
        Expr::Field {
            node: *node,
            path: vec!["id".into()]
        }
    );
    assert_eq!(
        fields[1].expr,
        Expr::Field {
            node: 0,
            path: vec!["name".into()]
        }
    );
    let Expr::Aggregate { node: lines, .. } = &fields[2].expr else {
        panic!("not an aggregate");
    };
    assert_eq!(c.plan.single_views[0].nodes[*lines].parent, Some(*node));
}

#[test]
fn walking_a_relation_backwards_yields_one_only_onto_a_unique_key() {
    // From orders, `customer_orders` walks back onto customers.id (the primary key): one.
    let ok = compile(
        "single view v { root orders key id = orders.id
           customer = customer_orders.name }",
    );
    assert!(ok.is_ok(), "{:?}", codes(&ok));
    let node = &ok.unwrap().plan.single_views[0].nodes[1];
    assert!(!node.many);
    assert_eq!(node.fields, vec!["id"]);
    assert_eq!(node.parent_fields, vec!["customer_id"]);
    // From customers, `order_customer` walks back onto orders.customer_id (not unique): many.
    let err = compile(
        "single view v { root customers key id = customers.id
           x = order_customer.total }",
    );
    assert_eq!(codes(&err), vec!["fdl::check::many_as_value"]);
    let ok = compile(
        "single view v { root customers key id = customers.id
           x = count(order_customer) }",
    );
    assert!(ok.is_ok(), "{:?}", codes(&ok));
}

#[test]
fn strategies_walk_back_to_the_root_and_explicit_ones_replace_them() {
    let c = compile(
        "single view v { root customers key id = customers.id
           q = sum(qty of customer_orders.order_lines) }",
    )
    .unwrap();
    let v = &c.plan.single_views[0];
    let lines = v.strategy("lines").unwrap();
    let hops: Vec<(&str, &str)> = lines.paths[0]
        .hops
        .iter()
        .map(|h| (h.from.as_str(), h.to.as_str()))
        .collect();
    assert_eq!(hops, vec![("lines", "orders"), ("orders", "customers")]);
    assert!(v.strategy("customers").unwrap().paths[0].hops.is_empty());

    let c = compile(
        "single view v { root customers key id = customers.id
           q = sum(qty of customer_orders.order_lines)
           strategy orders via order_customer }",
    )
    .unwrap();
    let s = c.plan.single_views[0].strategy("orders").unwrap();
    assert_eq!(s.paths.len(), 1);
    assert!(s.paths[0].explicit);
    assert_eq!(s.paths[0].hops[0].relation, "order_customer");
    assert_eq!(s.paths[0].hops[0].to_fields, vec!["id"]);
}

#[test]
fn types_and_nullability_are_inferred() {
    let c = compile(
        "single view v { root customers key id = customers.id
           n = count(customer_orders)
           s = sum(customer_orders.total)
           a = avg(qty of customer_orders.order_lines)
           m = max(customer_orders.status)
           t = customers.name + \"!\"
           w = if count(customer_orders) > 1 then 1 else 2.5 }",
    );
    let c = c.unwrap();
    let types: Vec<String> = c.program.views[0]
        .field_types
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        types,
        ["int", "decimal", "float?", "string?", "string", "float"].map(String::from)
    );
    assert_eq!(c.plan.single_views[0].mapping.len(), 6);
}

#[test]
fn mapped_fields_are_not_names_in_scope() {
    let r = compile(
        "single view v { root customers key id = customers.id
           n = count(customer_orders)
           twice = n * 2 }",
    );
    assert_eq!(codes(&r), vec!["fdl::check::unknown_name"]);
}

#[test]
fn a_duplicate_in_another_file_names_its_place() {
    let loader = MemoryLoader::new().with("p/a.fdl", BASE).with(
        "p/b.fdl",
        "system other {\n  projection orders from \"x\" as basic { key id id int }\n}\n",
    );
    let d = compile_with(&loader, &[PathBuf::from("p")]).unwrap_err();
    let json = d.to_json();
    let dup = json
        .iter()
        .find(|j| j.code == "fdl::check::duplicate_projection")
        .unwrap();
    assert_eq!(dup.file.as_deref(), Some("p/b.fdl"));
    assert_eq!(dup.help.as_deref(), Some("first declared at p/a.fdl:8:14"));
}

#[test]
fn self_relations_walk_forward() {
    let c = compile(
        "system hr { projection employees from \"hr.e\" as basic {
             key id  id int  name string  manager_id int?  index manager_id } }
         relation manager: employees.manager_id -> one employees.id
         single view e { root employees key id = employees.id
           boss = manager.name
           boss_of_boss = manager.manager.name }",
    )
    .unwrap();
    let v = c.plan.single_views.iter().find(|v| v.name == "e").unwrap();
    assert_eq!(v.nodes.len(), 3);
    assert_eq!(v.nodes[2].parent, Some(1));
    // Both non-root nodes are employees: two derived paths, of one and two hops.
    let s = v.strategy("employees").unwrap();
    let lens: Vec<usize> = s.paths.iter().map(|p| p.hops.len()).collect();
    assert_eq!(lens, vec![0, 1, 2]);
    assert_eq!(
        c.program
            .views
            .iter()
            .find(|v| v.plan.name == "e")
            .unwrap()
            .field_types[0]
            .to_string(),
        "string?"
    );
}
