//! Deployment records (`fdc_plan::deployment`) as properties over the example pipelines:
//! a record diffed with itself is empty, is the same in every compile and survives JSON;
//! formatting needs nothing; and random edits of a compiled plan never panic, give an action
//! exactly when the plan fingerprint changes, and no action when they only reorder or rename
//! what the store does not see.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use fdc_dsl::{compile_with, pipelines, FsLoader, MemoryLoader};
use fdc_plan::deployment::diff::{diff, DiffOptions};
use fdc_plan::deployment::Deployment;
use fdc_plan::{Call, DeleteMode, Plan, Type, WriteMode};
use proptest::prelude::*;

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    let found = pipelines(&FsLoader, &root);
    assert!(found.len() >= 2, "{found:?}");
    found
}

fn record(dir: &Path) -> (Plan, Deployment) {
    let c = compile_with(&FsLoader, &[dir.to_path_buf()]).unwrap();
    let texts: Vec<&str> = c
        .diagnostics
        .sources
        .files
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    let r = Deployment::new(&c.plan, &texts);
    (c.plan, r)
}

#[test]
fn a_record_diffed_with_itself_is_empty_stable_and_survives_json() {
    for dir in examples() {
        let (_, a) = record(&dir);
        let (_, b) = record(&dir);
        assert_eq!(a.to_json(), b.to_json(), "{}", dir.display());
        let changes = diff(&a, &b, &DiffOptions::default());
        assert!(changes.actions.is_empty() && changes.unchanged.is_empty());
        let back = Deployment::from_json(&a.to_json()).unwrap();
        assert_eq!(back, a);
        assert!(!a.views.is_empty() && !a.indexes.is_empty());
    }
}

#[test]
fn formatted_examples_have_another_text_hash_and_need_nothing() {
    for dir in examples() {
        let (_, old) = record(&dir);
        let mut loader = MemoryLoader::new();
        let mut formatted_any = false;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let text = if name.ends_with(".fdl") {
                let formatted = fdc_dsl::fmt::format_source(&text).unwrap();
                // A comment at the top changes the text whatever the formatter did.
                formatted_any = true;
                format!("// reformatted\n{formatted}")
            } else {
                text
            };
            loader = loader.with(&name, text);
        }
        assert!(formatted_any);
        let c = compile_with(&loader, &[PathBuf::from(".")]).unwrap();
        let texts: Vec<&str> = c
            .diagnostics
            .sources
            .files
            .iter()
            .map(|f| f.text.as_str())
            .collect();
        let new = Deployment::new(&c.plan, &texts);
        assert_ne!(old.text_hash, new.text_hash);
        assert_eq!(
            old.plan_fingerprint,
            new.plan_fingerprint,
            "{}",
            dir.display()
        );
        let changes = diff(&old, &new, &DiffOptions::default());
        assert!(changes.actions.is_empty(), "{:?}", changes.actions);
        assert_eq!(changes.unchanged.len(), 1, "{:?}", changes.unchanged);
    }
}

/// One edit of a compiled plan. Indexes are taken modulo the lengths.
#[derive(Debug, Clone)]
enum Edit {
    // What the store does not see: must need nothing.
    ReverseProjections,
    ReverseViews,
    ReverseFields(usize),
    ReverseMapping(usize),
    RenameRelations(usize),
    // What it sees: must give an action.
    AddCast(usize, usize),
    ChangeType(usize, usize),
    RemoveField(usize, usize),
    ChangeTopic(usize),
    ToggleDelete(usize),
    RemoveProjection(usize),
    RemoveView(usize),
    RemoveMapping(usize, usize),
    ToggleWrite(usize),
    ToggleUnique(usize, usize),
    // A plan no checker would produce: must not panic.
    BreakNode(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let n = 0..64usize;
    prop_oneof![
        Just(Edit::ReverseProjections),
        Just(Edit::ReverseViews),
        n.clone().prop_map(Edit::ReverseFields),
        n.clone().prop_map(Edit::ReverseMapping),
        n.clone().prop_map(Edit::RenameRelations),
        (n.clone(), n.clone()).prop_map(|(a, b)| Edit::AddCast(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Edit::ChangeType(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Edit::RemoveField(a, b)),
        n.clone().prop_map(Edit::ChangeTopic),
        n.clone().prop_map(Edit::ToggleDelete),
        n.clone().prop_map(Edit::RemoveProjection),
        n.clone().prop_map(Edit::RemoveView),
        (n.clone(), n.clone()).prop_map(|(a, b)| Edit::RemoveMapping(a, b)),
        n.clone().prop_map(Edit::ToggleWrite),
        (n.clone(), n.clone()).prop_map(|(a, b)| Edit::ToggleUnique(a, b)),
        (n.clone(), n).prop_map(|(a, b)| Edit::BreakNode(a, b)),
    ]
}

/// Applies `e`; returns whether the store sees it (`None`: the edit did not apply, or it
/// may or may not be seen).
fn apply(plan: &mut Plan, e: &Edit) -> Option<bool> {
    let np = plan.projections.len();
    let nv = plan.single_views.len();
    match *e {
        Edit::ReverseProjections => {
            plan.projections.reverse();
            Some(false)
        }
        Edit::ReverseViews => {
            plan.single_views.reverse();
            Some(false)
        }
        Edit::ReverseFields(p) if np > 0 => {
            plan.projections[p % np].fields.reverse();
            Some(false)
        }
        Edit::ReverseMapping(v) if nv > 0 => {
            plan.single_views[v % nv].mapping.reverse();
            Some(false)
        }
        Edit::RenameRelations(v) if nv > 0 => {
            let view = &mut plan.single_views[v % nv];
            for n in &mut view.nodes {
                if let Some(r) = &mut n.relation {
                    r.push_str("_renamed");
                }
            }
            for s in &mut view.strategies {
                for p in &mut s.paths {
                    for h in &mut p.hops {
                        h.relation.push_str("_renamed");
                    }
                }
            }
            Some(false)
        }
        Edit::AddCast(p, f) if np > 0 && !plan.projections[p % np].fields.is_empty() => {
            let proj = &mut plan.projections[p % np];
            let nf = proj.fields.len();
            proj.fields[f % nf].casts.push(Call {
                function: "trim".into(),
                args: vec![],
            });
            Some(true)
        }
        Edit::ChangeType(p, f) if np > 0 && !plan.projections[p % np].fields.is_empty() => {
            let proj = &mut plan.projections[p % np];
            let nf = proj.fields.len();
            let field = &mut proj.fields[f % nf];
            field.ty = if field.ty == Type::Any {
                Type::String
            } else {
                Type::Any
            };
            Some(true)
        }
        Edit::RemoveField(p, f) if np > 0 && !plan.projections[p % np].fields.is_empty() => {
            let proj = &mut plan.projections[p % np];
            let nf = proj.fields.len();
            proj.fields.remove(f % nf);
            Some(true)
        }
        Edit::ChangeTopic(p) if np > 0 => {
            plan.projections[p % np].topic.push_str(".v2");
            Some(true)
        }
        Edit::ToggleDelete(p) if np > 0 => {
            let proj = &mut plan.projections[p % np];
            proj.delete = match proj.delete {
                DeleteMode::Soft => DeleteMode::Hard,
                DeleteMode::Hard => DeleteMode::Soft,
            };
            Some(true)
        }
        Edit::RemoveProjection(p) if np > 0 => {
            plan.projections.remove(p % np);
            Some(true)
        }
        Edit::RemoveView(v) if nv > 0 => {
            plan.single_views.remove(v % nv);
            // Its indexes may stay (another view queries them) or go: seen either way.
            Some(true)
        }
        Edit::RemoveMapping(v, m) if nv > 0 && !plan.single_views[v % nv].mapping.is_empty() => {
            let view = &mut plan.single_views[v % nv];
            let nm = view.mapping.len();
            view.mapping.remove(m % nm);
            Some(true)
        }
        Edit::ToggleWrite(v) if nv > 0 => {
            let view = &mut plan.single_views[v % nv];
            view.write = match view.write {
                WriteMode::Replace => WriteMode::Merge,
                WriteMode::Merge => WriteMode::Replace,
            };
            Some(true)
        }
        Edit::ToggleUnique(p, i) if np > 0 && !plan.projections[p % np].indexes.is_empty() => {
            let proj = &mut plan.projections[p % np];
            let ni = proj.indexes.len();
            let ix = &mut proj.indexes[i % ni];
            ix.unique = !ix.unique;
            // Seen unless an earlier declared index on the same fields decides uniqueness.
            None
        }
        Edit::BreakNode(v, n) if nv > 0 => {
            let view = &mut plan.single_views[v % nv];
            if !view.nodes.is_empty() {
                let nn = view.nodes.len();
                view.nodes[n % nn].parent = Some(n);
            }
            view.nodes.truncate(n % 3);
            None
        }
        _ => None,
    }
}

fn examples_compiled() -> &'static Vec<Plan> {
    static PLANS: std::sync::OnceLock<Vec<Plan>> = std::sync::OnceLock::new();
    PLANS.get_or_init(|| examples().iter().map(|d| record(d).0).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_plan_edits_never_panic_and_give_actions_exactly_when_the_plan_changes(
        which in any::<usize>(),
        edits in prop::collection::vec(edit(), 1..4),
        prune in any::<bool>(),
    ) {
        let plans = examples_compiled();
        let base = &plans[which % plans.len()];
        let mut edited = base.clone();
        // Whether the store sees the edits: known for one edit, or for edits it never sees
        // (two seen edits may cancel out, as a toggle done twice).
        let verdicts: Vec<Option<bool>> = edits.iter().map(|e| apply(&mut edited, e)).collect();
        let seen = match verdicts.as_slice() {
            [one] => *one,
            all if all.iter().all(|v| *v == Some(false)) => Some(false),
            _ => None,
        };
        let old = Deployment::new(base, &["old"]);
        let new = Deployment::new(&edited, &["new"]);
        let options = DiffOptions { prune, ..DiffOptions::default() };
        for (a, b) in [(&old, &new), (&new, &old)] {
            let changes = diff(a, b, &options);
            prop_assert_eq!(
                changes.actions.is_empty(),
                a.plan_fingerprint == b.plan_fingerprint,
                "{:?}", changes
            );
            for (i, action) in changes.actions.iter().enumerate() {
                prop_assert!(action.after.iter().all(|&j| j < i), "{:?}", action);
            }
            let json = serde_json::to_string(&changes).unwrap();
            prop_assert!(!json.is_empty());
        }
        if let Some(seen) = seen {
            prop_assert_eq!(seen, old.plan_fingerprint != new.plan_fingerprint, "{:?}", edits);
        }
        prop_assert!(diff(&new, &new, &options).actions.is_empty());
        prop_assert_eq!(Deployment::from_json(&new.to_json()).unwrap(), new);
    }
}
