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

// The generated pipeline, shared with the `fdc lsp` benchmark (benches/lsp.rs).
#[path = "support/pipeline.rs"]
mod pipeline;
use pipeline::generate;

const RUNS: usize = 9;

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
