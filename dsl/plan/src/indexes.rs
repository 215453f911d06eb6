//! The one rule of which secondary indexes a projection's collection has.
//!
//! In: a [`Plan`] (or one projection's key, declared indexes and queried field tuples). Out:
//! the field tuples each projection needs an index on, with their uniqueness.
//!
//! Guarantees:
//! - the engine creates exactly these (the MongoDB adapter's indexes, the embedded store's
//!   unique indexes: `fdc_engine::store::ProjectionLayout::secondary_indexes` calls
//!   [`secondary`]) and the deployment record ([`crate::deployment`]) records exactly these,
//!   so `fdc plan` names the indexes a run would create or no longer need;
//! - pure and deterministic: the order is the declared indexes, then the queried tuples in
//!   plan order; each tuple once.

use crate::Plan;

/// The field tuples the engine queries on `projection` with `$in`: the join fields of every
/// non-root join node over it, a view's key fields when it is the view's root, and the `to`
/// fields of every strategy hop onto it; each tuple once, empty tuples left out.
pub fn queried(plan: &Plan, projection: &str) -> Vec<Vec<String>> {
    let mut queried: Vec<Vec<String>> = Vec::new();
    let mut add = |fields: &Vec<String>| {
        if !fields.is_empty() && !queried.contains(fields) {
            queried.push(fields.clone());
        }
    };
    for v in &plan.single_views {
        for n in &v.nodes {
            if n.projection == projection && n.parent.is_some() {
                add(&n.fields);
            }
        }
        if v.nodes.first().is_some_and(|r| r.projection == projection) {
            add(&v.key.iter().map(|k| k.field.clone()).collect());
        }
        for s in &v.strategies {
            for path in &s.paths {
                for hop in &path.hops {
                    if hop.to == projection {
                        add(&hop.to_fields);
                    }
                }
            }
        }
    }
    queried
}

/// The secondary indexes kept for a projection with primary key `key`, declared indexes
/// `declared` (fields, unique) and queried tuples `queried`, in order: the declared ones, then
/// the queried tuples; each tuple once (its first occurrence decides whether its index is
/// unique), the primary key's tuple and empty tuples left out.
pub fn secondary<'a>(
    key: &[String],
    declared: &'a [(Vec<String>, bool)],
    queried: &'a [Vec<String>],
) -> Vec<(&'a [String], bool)> {
    let mut out: Vec<(&[String], bool)> = Vec::new();
    let wanted = declared
        .iter()
        .map(|(f, u)| (f, *u))
        .chain(queried.iter().map(|f| (f, false)));
    for (fields, unique) in wanted {
        if fields.is_empty() || fields == key || out.iter().any(|(f, _)| *f == fields.as_slice()) {
            continue;
        }
        out.push((fields, unique));
    }
    out
}

/// An index's fields and whether it is unique.
pub type IndexFields = (Vec<String>, bool);

/// Every projection's secondary indexes under [`secondary`], by projection in plan order:
/// `(projection, [(fields, unique)])`.
pub fn of_plan(plan: &Plan) -> Vec<(String, Vec<IndexFields>)> {
    plan.projections
        .iter()
        .map(|p| {
            let declared: Vec<IndexFields> = p
                .indexes
                .iter()
                .map(|i| (i.fields.clone(), i.unique))
                .collect();
            let queried = queried(plan, &p.name);
            let indexes = secondary(&p.key, &declared, &queried)
                .into_iter()
                .map(|(f, u)| (f.to_vec(), u))
                .collect();
            (p.name.clone(), indexes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn declared_first_each_tuple_once_key_and_empty_left_out() {
        let key = v(&["id"]);
        let declared = vec![(v(&["email"]), true), (v(&["a", "b"]), false)];
        let queried = vec![v(&["id"]), v(&["email"]), v(&[]), v(&["c"]), v(&["a", "b"])];
        let got = secondary(&key, &declared, &queried);
        let want: Vec<(&[String], bool)> = vec![
            (&declared[0].0, true),
            (&declared[1].0, false),
            (&queried[3], false),
        ];
        assert_eq!(got, want);
    }
}
