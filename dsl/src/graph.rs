//! The execution graph of a compiled [`Plan`], as Graphviz DOT or Mermaid (`fdc graph`).
//!
//! In: a `Plan` and optionally one single view's name. Out: text describing the flow
//! topic -> decoder (message format) -> projection -> strategy (per single view and
//! projection, with its hop chain) -> single view -> event topics, plus the projection-update
//! event topics.
//!
//! Guarantees: a pure function of the plan; nodes and edges appear in declaration order, so the
//! output is stable; every identifier and label is escaped for its format (DOT quoted strings;
//! Mermaid node ids are generated, labels quoted with `#quot;`), so any topic or name is safe.

use std::fmt::Write as _;

use fdc_plan::{Plan, StrategyPath};

/// Output syntax of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// A `--view` that names no single view of the plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no single view named `{name}`{hint} (single views: {known})")]
pub struct UnknownView {
    pub name: String,
    pub known: String,
    /// `; did you mean ...?` when close names exist, else empty.
    pub hint: String,
}

/// The kind of a graph node, which decides its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Topic,
    Decoder,
    Projection,
    Strategy,
    View,
    Events,
}

#[derive(Debug)]
struct Node {
    id: String,
    label: String,
    kind: Kind,
}

#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<(String, String, Option<String>)>,
}

impl Graph {
    fn node(&mut self, id: String, label: String, kind: Kind) -> String {
        if !self.nodes.iter().any(|n| n.id == id) {
            self.nodes.push(Node {
                id: id.clone(),
                label,
                kind,
            });
        }
        id
    }

    fn edge(&mut self, from: &str, to: &str, label: Option<&str>) {
        let e = (from.to_string(), to.to_string(), label.map(String::from));
        if !self.edges.contains(&e) {
            self.edges.push(e);
        }
    }
}

/// One strategy path as its relation chain: `line_product > order_lines > customer_orders`.
pub fn hop_chain(path: &StrategyPath) -> String {
    if path.hops.is_empty() {
        return "root: key read from the record".into();
    }
    let rels: Vec<&str> = path.hops.iter().map(|h| h.relation.as_str()).collect();
    let explicit = if path.explicit { " (explicit)" } else { "" };
    format!("via {}{explicit}", rels.join(" > "))
}

fn build(plan: &Plan, view: Option<&str>) -> Result<Graph, UnknownView> {
    let views: Vec<&fdc_plan::SingleView> = match view {
        None => plan.single_views.iter().collect(),
        Some(name) => match plan.single_view(name) {
            Some(v) => vec![v],
            None => {
                let known: Vec<&str> = plan.single_views.iter().map(|v| v.name.as_str()).collect();
                return Err(UnknownView {
                    hint: crate::explain::hint(name, known.iter().copied()),
                    name: name.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
        },
    };
    // With --view, only the projections that view depends on.
    let wanted = |p: &str| view.is_none() || views.iter().any(|v| v.strategy(p).is_some());
    let mut g = Graph::default();
    for p in plan.projections.iter().filter(|p| wanted(&p.name)) {
        let topic = g.node(format!("topic:{}", p.topic), p.topic.clone(), Kind::Topic);
        let fmt = p.format.to_string();
        let decoder = g.node(
            format!("decode:{}:{fmt}", p.topic),
            format!("decode {fmt}"),
            Kind::Decoder,
        );
        let proj = g.node(
            format!("projection:{}", p.name),
            format!("projection {}\n(system {})", p.name, p.system),
            Kind::Projection,
        );
        g.edge(&topic, &decoder, None);
        g.edge(&decoder, &proj, None);
        if let Some(ev) = &p.events {
            let out = g.node(
                format!("events:{}", ev.topic),
                ev.topic.clone(),
                Kind::Events,
            );
            g.edge(&proj, &out, Some("projection updates"));
        }
    }
    for v in &views {
        let view_id = g.node(
            format!("view:{}", v.name),
            format!("single view {}", v.name),
            Kind::View,
        );
        for s in &v.strategies {
            let lines: Vec<String> = s.paths.iter().map(hop_chain).collect();
            let strat = g.node(
                format!("strategy:{}:{}", v.name, s.projection),
                format!("strategy {}\n{}", s.projection, lines.join("\n")),
                Kind::Strategy,
            );
            g.edge(&format!("projection:{}", s.projection), &strat, None);
            g.edge(&strat, &view_id, Some("keys"));
        }
        if let Some(ev) = &v.events {
            let out = g.node(
                format!("events:{}", ev.topic),
                ev.topic.clone(),
                Kind::Events,
            );
            g.edge(&view_id, &out, Some("updates"));
        }
    }
    Ok(g)
}

/// The execution graph of `plan` (or of the single view `view` and what feeds it).
pub fn render(plan: &Plan, format: GraphFormat, view: Option<&str>) -> Result<String, UnknownView> {
    let g = build(plan, view)?;
    Ok(match format {
        GraphFormat::Dot => dot(&g),
        GraphFormat::Mermaid => mermaid(&g),
    })
}

fn dot_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn dot(g: &Graph) -> String {
    let mut s = String::from("digraph fdc {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for n in &g.nodes {
        let shape = match n.kind {
            Kind::Topic | Kind::Events => "shape=cds",
            Kind::Decoder => "shape=hexagon",
            Kind::Projection => "shape=cylinder",
            Kind::Strategy => "shape=box, style=rounded",
            Kind::View => "shape=box3d",
        };
        let _ = writeln!(
            s,
            "  {} [label={}, {shape}];",
            dot_str(&n.id),
            dot_str(&n.label)
        );
    }
    for (a, b, label) in &g.edges {
        let attrs = label
            .as_deref()
            .map(|l| format!(" [label={}]", dot_str(l)))
            .unwrap_or_default();
        let _ = writeln!(s, "  {} -> {}{attrs};", dot_str(a), dot_str(b));
    }
    s.push_str("}\n");
    s
}

fn mermaid_label(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("#quot;"),
            '\n' => o.push_str("<br/>"),
            '<' => o.push_str("#lt;"),
            '>' => o.push_str("#gt;"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn mermaid(g: &Graph) -> String {
    let mut s = String::from("flowchart LR\n");
    let id = |node: &str| {
        g.nodes
            .iter()
            .position(|n| n.id == node)
            .map(|i| format!("n{i}"))
            .unwrap_or_else(|| "missing".into())
    };
    for (i, n) in g.nodes.iter().enumerate() {
        let l = mermaid_label(&n.label);
        let shape = match n.kind {
            Kind::Topic | Kind::Events => format!(">{l}]"),
            Kind::Decoder => format!("{{{{{l}}}}}"),
            Kind::Projection => format!("[({l})]"),
            Kind::Strategy => format!("([{l}])"),
            Kind::View => format!("[[{l}]]"),
        };
        let _ = writeln!(s, "  n{i}{shape}");
    }
    for (a, b, label) in &g.edges {
        match label {
            Some(l) => {
                let _ = writeln!(s, "  {} -->|{}| {}", id(a), mermaid_label(l), id(b));
            }
            None => {
                let _ = writeln!(s, "  {} --> {}", id(a), id(b));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(dot_str("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(mermaid_label("a\"<b>\nc"), "\"a#quot;#lt;b#gt;<br/>c\"");
    }

    #[test]
    fn unknown_view_is_an_error_naming_the_known_ones() {
        let plan = Plan {
            version: fdc_plan::PLAN_VERSION,
            projections: vec![],
            single_views: vec![],
        };
        let e = render(&plan, GraphFormat::Dot, Some("nope")).unwrap_err();
        assert_eq!(e.known, "none");
        assert_eq!(
            render(&plan, GraphFormat::Mermaid, None).unwrap(),
            "flowchart LR\n"
        );
    }
}
