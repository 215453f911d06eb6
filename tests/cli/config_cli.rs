//! `fdc run --config` end to end on configurations refused before anything connects: every
//! credential that cannot be read exits 2 with the same wording.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

#[test]
fn a_missing_password_file_exits_2_alike_for_kafka_and_mongodb() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config_cli_credentials");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("no-such-password");
    let p = missing.display();
    let cases = [
        (
            "kafka.security.sasl.password",
            format!("kafka:\n  brokers: 127.0.0.1:1\n  security:\n    sasl: {{mechanism: PLAIN, username: u, password_file: {p}}}\n"),
        ),
        (
            "mongodb.password",
            format!("kafka:\n  brokers: 127.0.0.1:1\nmongodb: {{uri: 'mongodb://127.0.0.1:1', username: u, password_file: {p}}}\n"),
        ),
    ];
    for (setting, yaml) in cases {
        let config = dir.join("fdc.yaml");
        std::fs::write(&config, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_fdc"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["run", "pipelines/fleet", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {err}");
        assert!(
            err.contains(&format!("error: setting `{setting}`: cannot read `{p}`: ")),
            "{setting}: {err}"
        );
    }
}
