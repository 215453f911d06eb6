//! `fdc run --config` and `fdc plan --config` against the plan deployed in MongoDB (FerretDB):
//! a run of a pipeline that differs from the stored record exits 2 before it reads a message
//! or creates a collection, and `fdc plan --config` lists the actions with the database's
//! counts.
//!
//! Needs the MongoDB-wire server of `scripts/services` (`FDC_MONGO_URI`); a missing server
//! fails. Kafka is named in the configuration but never reached: the check comes first. The
//! database is unique to the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fdc_engine::store::DeploymentStore;
use fdc_mongo::{MongoStore, MongoStoreConfig};
use fdc_plan::deployment::Deployment;

fn fdc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .args(args)
        .output()
        .unwrap()
}

/// `fdc run ...` that must end by itself within a minute (a run that went on to read Kafka
/// would not): killed and failed otherwise.
fn fdc_ends(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("FDC_KAFKA_BROKERS")
        .env_remove("FDC_MONGO_URI")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`fdc {}` did not stop by itself: it went on to run\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("production_deploy_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The deployment record of `pipeline`, as `fdc plan --write-record` saves it.
fn record_of(pipeline: &str, dir: &Path) -> Deployment {
    let file = dir.join("record.json");
    let o = fdc(&["plan", pipeline, "--write-record", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = Deployment::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    r.applied_at = Some("2026-12-01T09:00:00.000Z".into());
    r.applied_by = Some("ops".into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fdc_run_with_a_config_refuses_an_unapplied_change() {
    // Not required to be up: the check comes before the run connects to Kafka (a refused
    // run never reaches the broker).
    let brokers = support::kafka_brokers();
    let uri = support::require_mongo();
    let database = support::unique_name("it_deploy");
    let dir = scratch("refuses");
    let config = dir.join("fdc.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: \"{brokers}\"\n  group_id: {database}\n\
             mongodb:\n  uri: \"{uri}\"\n  database: {database}\n  write_concern: \"1\"\n"
        ),
    )
    .unwrap();
    let store = MongoStore::connect(MongoStoreConfig {
        uri: uri.clone(),
        database: database.clone(),
        ..MongoStoreConfig::default()
    })
    .await
    .unwrap();
    store
        .save_deployment(&record_of("tests/plans/bases/customer360", &dir))
        .await
        .unwrap();

    let changed = "tests/plans/view_fields_changed_replace/new";
    let o = fdc_ends(&["run", changed, "--config", config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("differs from the plan deployed on this store"),
        "{err}"
    );
    assert!(err.contains("by ops"), "{err}");
    assert!(err.contains("refresh single view: customer_360"), "{err}");
    assert!(
        err.contains(&format!("fdc plan {changed} --config")),
        "{err}"
    );
    // Nothing was built: no projection or view collection next to the record.
    let names = store.database().list_collection_names().await.unwrap();
    assert_eq!(names, vec!["fdc_deployment".to_string()], "{names:?}");

    // `fdc plan --config` reads the same record, with the database's counts (none stored).
    let o = fdc(&[
        "plan",
        changed,
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["deployed"]["applied_by"], "ops");
    let refresh = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "refresh")
        .expect("a refresh");
    assert_eq!(refresh["target"], "customer_360");
    assert_eq!(refresh["estimate"]["count"], 0);
    store.drop_database().await.unwrap();
}
