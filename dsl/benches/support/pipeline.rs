//! The generated 10,000-line pipeline the benchmarks measure (`dsl/benches/check.rs`,
//! `benches/lsp.rs`): many systems of five projections each, chained by one-to-many relations
//! plus a one-to-one lookup, and one single view per system with nested arrays, multi-hop
//! aggregates and conditionals, ten systems per file.

/// About this many lines in all.
pub const TARGET_LINES: usize = 10_000;

/// One system: five projections, their relations and a single view.
pub fn system(s: usize) -> String {
    let mut t = format!("// System {s}: generated.\nsystem sys{s} {{\n");
    for i in 0..5 {
        t.push_str(&format!(
            "  projection p{s}_{i} from \"sys{s}.table{i}\" as {fmt} {{\n\
             \x20   key id\n\
             \x20   id         int      <- ID\n\
             \x20   parent_id  int      <- PARENT_ID\n\
             \x20   ref        int      <- REF\n\
             \x20   name       string   <- NAME | trim\n\
             \x20   amount     decimal  <- AMOUNT | to_decimal\n\
             \x20   status     string   <- STATUS | uppercase\n\
             \x20   created    datetime <- TS | from_unix_millis\n\
             \x20   note       string?  <- NOTE | trim = \"\"\n\
             \x20   index parent_id\n\
             \x20   index ref\n\
             \x20 }}\n\n",
            fmt = ["debezium", "basic", "golden-gate", "basic", "debezium"][i]
        ));
    }
    t.push_str("}\n\n");
    for i in 0..3 {
        t.push_str(&format!(
            "relation r{s}_{i}: p{s}_{i}.id -> many p{s}_{n}.parent_id\n",
            n = i + 1
        ));
    }
    t.push_str(&format!(
        "relation look{s}: p{s}_3.ref -> one p{s}_4.id\n  where p{s}_4.status == \"ACTIVE\"\n\n"
    ));
    t.push_str(&format!(
        "single view view{s} {{\n\
         \x20 root p{s}_0\n\
         \x20 key id = p{s}_0.id\n\n\
         \x20 id       = p{s}_0.id\n\
         \x20 name     = concat(p{s}_0.name, \" \", p{s}_0.status)\n\
         \x20 note     = p{s}_0.note ?? \"none\"\n\
         \x20 band     = if p{s}_0.amount > 100.00d then \"high\" else if p{s}_0.amount > 0.00d then \"low\" else \"none\"\n\
         \x20 children = r{s}_0[] {{\n\
         \x20   id,\n\
         \x20   name,\n\
         \x20   grandchildren = r{s}_1[] {{\n\
         \x20     id,\n\
         \x20     amount,\n\
         \x20     leaves = r{s}_2[] {{ id, lookup = look{s}.name }} where amount > 0.00d sort by created desc limit 5,\n\
         \x20   }} sort by id,\n\
         \x20 }} where status != \"DELETED\" sort by created desc limit 20\n\
         \x20 child_count  = count(r{s}_0)\n\
         \x20 total        = sum(amount of r{s}_0.r{s}_1 where status == \"PAID\")\n\
         \x20 deepest_max  = max(amount of r{s}_0.r{s}_1.r{s}_2)\n\
         \x20 last_created = last(r{s}_0.created sort by created)\n\n\
         \x20 on root delete: mark deleted\n\
         \x20 publish updates to \"sv.view{s}\" with after\n\
         }}\n\n"
    ));
    t
}

/// Files of the generated pipeline (ten systems per file) and the total line count.
pub fn generate() -> (Vec<(String, String)>, usize) {
    let mut files = Vec::new();
    let mut lines = 0;
    let mut s = 0;
    while lines < TARGET_LINES {
        let mut text = String::new();
        for _ in 0..10 {
            text.push_str(&system(s));
            s += 1;
        }
        lines += text.lines().count();
        files.push((format!("bench/f{:03}.fdl", files.len()), text));
    }
    (files, lines)
}
