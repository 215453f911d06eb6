//! Benchmark (not a test): how long `fdc lsp` takes to publish diagnostics after an edit in a
//! generated 10,000-line pipeline.
//!
//! In: nothing; it writes the pipeline of `dsl/benches/check.rs` (same generator) to a
//! temporary directory, starts the real `fdc lsp` binary, opens one of the files and edits
//! it repeatedly (a changed string literal, alternating, so every edit really changes the
//! program). Out: the median time from sending `didChange` to receiving the
//! `publishDiagnostics` of that version, printed next to the baseline: `fdc check`'s own
//! compile (`fdc_dsl::compile_with`) of the same files, in this process. Target: under 100 ms.
//! Run with `cargo bench --bench lsp`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed unwrap is a failed run

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "../dsl/benches/support/pipeline.rs"]
mod pipeline;

#[path = "../tests/lsp_client/frame.rs"]
mod frame;
use frame::{frame, read_frame};

const RUNS: usize = 15;

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let (files, lines) = pipeline::generate();
    let dir: PathBuf = std::env::temp_dir().join(format!("fdc-lsp-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for (name, text) in &files {
        let file = Path::new(name).file_name().unwrap();
        let p = dir.join(file);
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    println!(
        "generated pipeline: {lines} lines in {} files ({})",
        files.len(),
        dir.display()
    );

    // Baseline: `fdc check`'s compile of the same files.
    let roots = [dir.clone()];
    let check = median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let c = fdc_dsl::compile_with(&fdc_dsl::FsLoader, &roots);
                assert!(c.is_ok(), "the generated pipeline should compile");
                t.elapsed()
            })
            .collect(),
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        stdin.write_all(frame(&v).as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    send(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }),
    );
    while read_frame(&mut out).unwrap().get("id").is_none() {}
    send(json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    let edited = &paths[0];
    let text = std::fs::read_to_string(edited).unwrap();
    let u = uri(edited);
    let wait_for = |out: &mut BufReader<_>, version: i64| loop {
        let v = read_frame(out).expect("fdc lsp exited");
        if v["method"] == "textDocument/publishDiagnostics"
            && v["params"]["uri"] == u.as_str()
            && v["params"]["version"] == version
        {
            return;
        }
    };
    let t = Instant::now();
    send(
        json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": { "uri": u, "languageId": "fdl", "version": 1, "text": text } } }),
    );
    wait_for(&mut out, 1);
    let open = t.elapsed();

    let mut edits = Vec::new();
    for run in 0..RUNS {
        let version = run as i64 + 2;
        let changed = text.replacen("\"sv.view0\"", &format!("\"sv.view0.v{run}\""), 1);
        let t = Instant::now();
        send(
            json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": u, "version": version },
            "contentChanges": [{ "text": changed }] } }),
        );
        wait_for(&mut out, version);
        edits.push(t.elapsed());
    }
    let edit = median(edits);
    send(json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null }));
    send(json!({ "jsonrpc": "2.0", "method": "exit", "params": null }));
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!("median of {RUNS} runs:");
    println!(
        "  baseline: fdc check's compile (in process)      {}",
        ms(check)
    );
    println!(
        "  fdc lsp: open, diagnostics published            {}",
        ms(open)
    );
    let verdict = if edit < Duration::from_millis(100) {
        "within"
    } else {
        "OVER"
    };
    println!(
        "  fdc lsp: edit -> diagnostics published           {}  ({:.2}x baseline; target 100 ms: {verdict})",
        ms(edit),
        edit.as_secs_f64() / check.as_secs_f64().max(1e-9)
    );
}
