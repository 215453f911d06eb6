//! `fdc preview` without services: its usage errors (each exits 1 with one `error:` line and
//! nothing on stdout) and the committed schema of its JSON report. The preview itself runs in
//! `tests/production/production_preview.rs` (Kafka + FerretDB).
//!
//! Regenerate the schema after a deliberate change of `fdc_plan::preview` with
//! `FDC_BLESS=1 cargo test --features integration --test cli preview_cli::` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fdc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(root())
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the target dir, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("preview_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_committed_schema_is_generated_from_the_report_type() {
    let schema = schemars::schema_for!(fdc_plan::preview::Report);
    let fresh = format!("{}\n", serde_json::to_string_pretty(&schema).unwrap());
    let path = root().join("schemas/preview-report.schema.json");
    if std::env::var_os("FDC_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} differs (FDC_BLESS=1 to regenerate, then review)",
        path.display()
    );
}

#[test]
fn bad_options_exit_1_with_a_clear_error_and_print_nothing() {
    let dir = scratch("bad_options");
    let config = dir.join("fdc.yaml");
    std::fs::write(
        &config,
        "kafka:\n  brokers: \"127.0.0.1:1\"\n  group_id: g\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let broken = dir.join("broken.fdl");
    std::fs::write(&broken, "single view {").unwrap();
    let pipeline = "pipelines/customer360";
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["preview", pipeline, "--config", config, "--limit", "0"],
            "--limit must be at least 1",
        ),
        (
            vec!["preview", pipeline, "--config", config, "--last", "0"],
            "--last must be at least 1",
        ),
        (
            vec![
                "preview",
                pipeline,
                "--config",
                config,
                "--from-beginning",
                "--last",
                "3",
            ],
            "cannot be used with",
        ),
        (vec!["preview", pipeline], "--config <FILE>"),
        (
            vec!["preview", pipeline, "--config", config, "--format", "yaml"],
            "invalid value 'yaml'",
        ),
        (
            vec!["preview", pipeline, "--config", config, "--view", "nope"],
            "no single view `nope` in `pipelines/customer360` (its views: customer_360)",
        ),
        (
            vec!["preview", broken.to_str().unwrap(), "--config", config],
            "does not compile",
        ),
    ];
    #[cfg(feature = "production")]
    {
        cases.push((
            vec!["preview", pipeline, "--config", config],
            "must configure `kafka` and `mongodb`",
        ));
        cases.push((
            vec!["preview", pipeline, "--config", "no/such/fdc.yaml"],
            "no/such/fdc.yaml",
        ));
    }
    #[cfg(not(feature = "production"))]
    cases.push((
        vec!["preview", pipeline, "--config", config],
        "--features production",
    ));
    for (args, message) in cases {
        let out = fdc(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let help = fdc(&["preview", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("--from-beginning"));
}
