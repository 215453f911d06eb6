//! Every command that compiles a pipeline keeps its reads inside the pipeline's root (the
//! path given on the command line) unless `--allow-imports-from DIR` widens it, and never
//! quotes a file from outside; `fdc fmt` leaves out links that lead out of the directory it
//! formats.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SECRET: &str = "root:x:0:0:TOPSECRET:/root:/bin/bash\n";

/// Declares the projection the view of `MAIN` reads; lives outside the pipeline's root.
const SHARED: &str = "system shop {\n  projection customers from \"shop.customers\" as basic {\n    key id\n    id   int\n    name string\n  }\n}\n";

const MAIN: &str = "import \"../../outside/shared.fdl\"\n\nsingle view c360 {\n  root customers\n  key id = customers.id\n  name = customers.name\n}\n";

fn fdc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `work/outside/{secret.txt,shared.fdl}` and the pipeline `work/repo/p/main.fdl`.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("imports_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    std::fs::create_dir_all(dir.join("repo/p")).unwrap();
    std::fs::write(dir.join("outside/secret.txt"), SECRET).unwrap();
    std::fs::write(dir.join("outside/shared.fdl"), SHARED).unwrap();
    std::fs::write(dir.join("repo/p/main.fdl"), MAIN).unwrap();
    dir
}

#[test]
fn check_refuses_imports_outside_the_root_and_never_quotes_them() {
    let dir = scratch("check");
    let main = "import \"../../outside/secret.txt\"\nimport \"/etc/passwd\"\n";
    std::fs::write(dir.join("repo/p/main.fdl"), main).unwrap();
    let out = fdc(&dir, &["check", "repo/p"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("fdl::load::outside_root").count(), 2, "{err}");
    assert!(
        !err.contains("TOPSECRET") && !err.contains("root:x:"),
        "{err}"
    );

    // `repo` as the root covers its pipelines, not the directory beside it.
    let out = fdc(&dir, &["check", "repo", "--format", "json"]);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("fdl::load::outside_root"), "{json}");
    assert!(!json.contains("TOPSECRET"), "{json}");

    // Allowed, the text file is read but not quoted.
    let out = fdc(
        &dir,
        &["check", "repo/p", "--allow-imports-from", "outside"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("fdl::load::not_fdl"), "{err}");
    assert!(
        err.contains("fdl::load::outside_root"),
        "/etc/passwd: {err}"
    );
    assert!(!err.contains("TOPSECRET"), "{err}");
}

#[test]
fn every_command_that_compiles_a_pipeline_takes_the_option() {
    let dir = scratch("commands");
    std::fs::write(dir.join("repo/p/events.jsonl"), "").unwrap();
    std::fs::write(
        dir.join("repo/p/p.test.yaml"),
        "cases:\n  - name: nothing\n    expect: {}\n",
    )
    .unwrap();
    let store = dir.join("store").display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["check", "repo/p"],
        vec!["graph", "repo/p"],
        vec!["explain", "repo/p", "c360"],
        vec![
            "run",
            "repo/p",
            "--input",
            "repo/p/events.jsonl",
            "--store",
            &store,
        ],
        vec!["refresh", "repo/p", "c360", "--store", &store],
        vec!["inspect", "repo/p", "--store", &store, "view", "c360", "1"],
        vec!["test", "repo/p"],
    ];
    for args in &commands {
        let out = fdc(&dir, args);
        let err = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(err.contains("outside"), "{args:?}: {err}");
        let mut allowed = args.clone();
        // Options go before `inspect`'s subcommand.
        let at = if args[0] == "inspect" { 4 } else { args.len() };
        allowed.splice(at..at, ["--allow-imports-from", "outside"]);
        let out = fdc(&dir, &allowed);
        let err = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
        assert_ne!(
            out.status.code(),
            Some(2),
            "{allowed:?}: a usage error: {err}"
        );
        assert!(!err.contains("outside_root"), "{allowed:?}: {err}");
    }
    // The ones that only compile succeed.
    for args in [
        vec!["check", "repo/p", "--allow-imports-from", "outside"],
        vec!["graph", "repo/p", "--allow-imports-from", "outside"],
        vec![
            "explain",
            "repo/p",
            "c360",
            "--allow-imports-from",
            "outside",
        ],
    ] {
        let out = fdc(&dir, &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
}

#[cfg(unix)]
#[test]
fn fmt_neither_reads_nor_rewrites_links_out_of_the_directory() {
    use std::os::unix::fs::symlink;
    let dir = scratch("fmt");
    std::fs::create_dir_all(dir.join("repo/f")).unwrap();
    symlink(dir.join("outside/secret.txt"), dir.join("repo/f/evil.fdl")).unwrap();
    symlink(dir.join("outside"), dir.join("repo/f/linked")).unwrap();
    std::fs::write(dir.join("outside/messy.fdl"), "system   s {}\n").unwrap();
    for args in [vec!["fmt", "--check", "repo/f"], vec!["fmt", "repo/f"]] {
        let out = fdc(&dir, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("evil.fdl") && err.contains("linked"), "{err}");
        assert!(!err.contains("TOPSECRET"), "{err}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("outside/messy.fdl")).unwrap(),
        "system   s {}\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("outside/secret.txt")).unwrap(),
        SECRET
    );
}

#[test]
fn a_test_file_may_name_a_pipeline_elsewhere_but_never_quotes_a_non_fdl_file() {
    let dir = scratch("test_pipeline");
    std::fs::create_dir_all(dir.join("repo/t")).unwrap();
    // Elsewhere, a `.fdl` pipeline is compiled as usual (the golden tests rely on it)...
    std::fs::write(
        dir.join("repo/t/elsewhere.test.yaml"),
        "pipeline: ../../outside/shared.fdl\ncases:\n  - name: nothing\n    expect: {}\n",
    )
    .unwrap();
    let out = fdc(&dir, &["test", "repo/t"]);
    let all = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // ...but another file is refused without a word of it.
    std::fs::write(
        dir.join("repo/t/elsewhere.test.yaml"),
        "pipeline: ../../outside/secret.txt\ncases:\n  - name: nothing\n    expect: {}\n",
    )
    .unwrap();
    let out = fdc(&dir, &["test", "repo/t"]);
    let all = stderr(&out) + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("fdl::load::not_fdl"), "{all}");
    assert!(
        !all.contains("TOPSECRET") && !all.contains("root:x"),
        "{all}"
    );
}
