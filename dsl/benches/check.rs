//! Benchmark (not a test): how long `fdc check` takes on a generated 10,000-line pipeline.
//!
//! In: nothing; it generates a pipeline of many systems (five projections each, chained by
//! one-to-many relations plus a one-to-one lookup), and one single view per system with
//! nested arrays, multi-hop aggregates and conditionals, spread over several files. Out: the
//! median time (of several runs) of each stage, printed next to a raw baseline on the same
//! text in the same run: `scan` is one linear pass over the text (comments and nesting depth),
//! the floor any parser pays. The target for `check` (load + parse + check + compile) is
//! under 200 ms. Run with `cargo bench -p fdc-dsl --bench check`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fdc_dsl::syntax::{self, scan, FileId};
use fdc_dsl::{compile_with, MemoryLoader};

const TARGET_LINES: usize = 10_000;
const RUNS: usize = 9;

/// One system: five projections, their relations and a single view.
fn system(s: usize) -> String {
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
fn generate() -> (Vec<(String, String)>, usize) {
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

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let (files, lines) = generate();
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let loader = files
        .iter()
        .fold(MemoryLoader::new(), |l, (p, t)| l.with(p, t.as_str()));
    let roots = [PathBuf::from("bench")];

    // The pipeline must compile cleanly, or the numbers mean nothing.
    let compiled = match compile_with(&loader, &roots) {
        Ok(c) => c,
        Err(d) => {
            for j in d.to_json().iter().take(10) {
                eprintln!("{} {:?}:{:?} {}", j.code, j.file, j.line, j.message);
            }
            eprintln!("the generated pipeline does not compile");
            std::process::exit(1);
        }
    };
    println!(
        "generated pipeline: {lines} lines, {} KiB, {} files, {} projections, {} single views, {} warnings",
        bytes / 1024,
        files.len(),
        compiled.plan.projections.len(),
        compiled.plan.single_views.len(),
        compiled.diagnostics.items.len()
    );

    let scan_t = median(|| {
        for (_, t) in &files {
            std::hint::black_box(scan::too_deep(FileId(0), t));
            std::hint::black_box(scan::comments(FileId(0), t));
        }
    });
    let parse_t = median(|| {
        for (i, (_, t)) in files.iter().enumerate() {
            let parsed = syntax::parse(FileId(i as u32), t);
            std::hint::black_box(parsed.is_ok());
        }
    });
    let check_t = median(|| {
        let c = compile_with(&loader, &roots);
        std::hint::black_box(c.is_ok());
    });
    let fmt_t = median(|| {
        for (_, t) in &files {
            std::hint::black_box(fdc_dsl::fmt::format_source(t).map(|s| s.len()).ok());
        }
    });
    let graph_t = median(|| {
        let g = fdc_dsl::graph::render(&compiled.plan, fdc_dsl::graph::GraphFormat::Dot, None);
        std::hint::black_box(g.map(|s| s.len()).ok());
    });

    println!("median of {RUNS} runs:");
    println!("  scan (raw baseline: one linear pass)  {}", ms(scan_t));
    println!(
        "  parse (pest + AST)                    {}  ({:.1}x baseline)",
        ms(parse_t),
        parse_t.as_secs_f64() / scan_t.as_secs_f64().max(1e-9)
    );
    let verdict = if check_t < Duration::from_millis(200) {
        "within"
    } else {
        "OVER"
    };
    println!(
        "  check (load + parse + check + compile) {}  ({:.1}x baseline; target 200 ms: {verdict})",
        ms(check_t),
        check_t.as_secs_f64() / scan_t.as_secs_f64().max(1e-9)
    );
    println!(
        "  fmt (parse + format)                  {}  ({:.1}x baseline)",
        ms(fmt_t),
        fmt_t.as_secs_f64() / scan_t.as_secs_f64().max(1e-9)
    );
    println!("  graph (DOT from the plan)             {}", ms(graph_t));
}
