//! `fdc apply --store` through the binary: for each kind of change (the golden variants of
//! `tests/plans/`), the base pipeline runs over its input, the changed one is applied, and the
//! store then equals a clean run of the changed pipeline over the same input (projections and
//! views exported and compared, timestamps of the records' metadata aside); `fdc run` of the
//! changed pipeline then starts. Also: `--dry-run` is `fdc plan`, a re-ingest without input is
//! refused naming the projection, a crash in the middle of a refresh resumes to the same final
//! state, `--only` leaves the record unfinished so that `fdc run` refuses, and a fresh heartbeat
//! of a run refuses the apply unless `--ignore-running`; and a differential test over seeded
//! random streams (`FDC_APPLY_DIFFERENTIAL_SEEDS`, default 2, per change kind).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[path = "../../engine/topology/tests/shop/mod.rs"]
mod shop;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fdc_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fdc"));
    c.current_dir(root())
        .env("NO_COLOR", "1")
        .env("FDC_DEPLOYED_BY", "ci-bot")
        .env_remove("FDC_TEST_APPLY_ABORT_AFTER_CURSORS")
        .env_remove("FDC_HEARTBEAT_MS")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn fdc(args: &[&str]) -> Output {
    fdc_env(args, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apply_cli_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The base pipeline and input of a golden variant.
fn base_of(variant: &str) -> (String, &'static str) {
    let base = std::fs::read_to_string(root().join("tests/plans").join(variant).join("base"))
        .unwrap()
        .trim()
        .to_owned();
    let input = if base.ends_with("fleet") {
        "pipelines/fleet/events.jsonl"
    } else {
        "pipelines/customer360/events.jsonl"
    };
    (base, input)
}

/// A store on which `pipeline` ran over `input`.
fn deployed(dir: &Path, pipeline: &str, input: &str) -> PathBuf {
    let store = dir.join("store");
    let o = fdc(&["run", pipeline, "--input", input, "--store", s(&store)]);
    assert!(o.status.success(), "{}", stderr(&o));
    store
}

/// Projections and views of `pipeline` in `store`, exported by `fdc run --export` over no
/// input (which also proves that the run starts): per file, its lines as JSON with sorted
/// keys and without the records' `created_at` / `updated_at`, sorted.
fn exported(pipeline: &str, store: &Path, out: &Path) -> BTreeMap<String, Vec<String>> {
    let o = fdc(&[
        "run",
        pipeline,
        "--input",
        "/dev/null",
        "--store",
        s(store),
        "--export",
        s(out),
    ]);
    assert!(o.status.success(), "fdc run refused: {}", stderr(&o));
    let mut files = BTreeMap::new();
    for sub in ["projections", "views"] {
        for entry in std::fs::read_dir(out.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let mut lines: Vec<String> = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    if let Some(meta) = v.pointer_mut("/record/__meta") {
                        let m = meta.as_object_mut().unwrap();
                        m.remove("created_at");
                        m.remove("updated_at");
                    }
                    sorted(&v).to_string()
                })
                .collect();
            lines.sort();
            files.insert(
                format!("{sub}/{}", path.file_name().unwrap().to_str().unwrap()),
                lines,
            );
        }
    }
    files
}

/// `v` with every object's keys sorted (documents compare whatever their field order).
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let ordered: BTreeMap<&String, serde_json::Value> =
                m.iter().map(|(k, x)| (k, sorted(x))).collect();
            serde_json::Value::Object(ordered.into_iter().map(|(k, x)| (k.clone(), x)).collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// What a clean run of `pipeline` over `input` stores.
fn clean(dir: &Path, pipeline: &str, input: &str) -> BTreeMap<String, Vec<String>> {
    let store = dir.join("clean");
    let o = fdc(&["run", pipeline, "--input", input, "--store", s(&store)]);
    assert!(o.status.success(), "{}", stderr(&o));
    exported(pipeline, &store, &dir.join("clean-export"))
}

/// Runs the base of `variant`, applies its new pipeline, and compares with a clean run.
fn applies_like_a_clean_run(variant: &str, expect_in_stderr: &[&str]) {
    let dir = scratch(variant);
    let (base, input) = base_of(variant);
    let new = format!("tests/plans/{variant}/new");
    let store = deployed(&dir, &base, input);
    let before = exported(&base, &store, &dir.join("before"));
    let plan = fdc(&["plan", &new, "--store", s(&store)]);
    let o = fdc(&["apply", &new, "--store", s(&store), "--input", input]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{variant}: {err}");
    // It printed the plan it performed, as `fdc plan` prints it.
    assert_eq!(o.stdout, plan.stdout, "{variant}");
    assert!(err.contains("applied:"), "{variant}: {err}");
    for e in expect_in_stderr {
        assert!(err.contains(e), "{variant}: `{e}` not in {err}");
    }
    let applied = exported(&new, &store, &dir.join("applied"));
    let clean = clean(&dir, &new, input);
    assert_eq!(
        applied, clean,
        "{variant}: the applied store differs from a clean run"
    );
    if !["view_removed", "indexes_changed"].contains(&variant) {
        assert_ne!(
            before, clean,
            "{variant}: the change must change the stored data"
        );
    }
    // Applied: the same apply has nothing left to do.
    let again = fdc(&["apply", &new, "--store", s(&store)]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!stderr(&again).contains("applied:"), "{}", stderr(&again));
}

#[test]
fn a_changed_view_mapping_is_refreshed() {
    applies_like_a_clean_run(
        "view_fields_changed_replace",
        &["refresh single view: customer_360"],
    );
}

#[test]
fn added_merge_fields_are_refreshed() {
    applies_like_a_clean_run(
        "merge_fields_added_and_changed",
        &["refresh fields of single view: vehicle_status"],
    );
}

#[test]
fn a_field_removed_from_a_merge_view_leaves_every_document() {
    applies_like_a_clean_run(
        "merge_field_removed",
        &["refresh single view: vehicle_status"],
    );
}

#[test]
fn an_added_view_is_built() {
    applies_like_a_clean_run("view_added", &["build single view: order_summary"]);
}

#[test]
fn a_removed_view_is_left_alone() {
    applies_like_a_clean_run(
        "view_removed",
        &["leave removed single view's collection: driver_card"],
    );
}

#[test]
fn changed_casts_are_reingested_then_the_views_refreshed() {
    applies_like_a_clean_run(
        "projection_casts_and_fields_changed",
        &[
            "re-ingest projection: addresses",
            "re-ingest projection: orders",
            "refresh single view: customer_360",
        ],
    );
}

#[test]
fn a_changed_format_and_delete_mode_are_reingested() {
    applies_like_a_clean_run(
        "format_and_delete_mode_changed",
        &[
            "re-ingest projection: alerts",
            "re-ingest projection: trips",
        ],
    );
}

#[test]
fn a_changed_view_key_and_write_mode_are_refreshed() {
    applies_like_a_clean_run("view_key_and_write_mode_changed", &[]);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let dir = scratch("dry_run");
    let (base, input) = base_of("merge_fields_added_and_changed");
    let new = "tests/plans/merge_fields_added_and_changed/new";
    let store = deployed(&dir, &base, input);
    let plan = fdc(&["plan", new, "--store", s(&store)]);
    let dry = fdc(&["apply", new, "--store", s(&store), "--dry-run"]);
    assert_eq!(plan.status.code(), Some(2));
    assert_eq!(dry.status.code(), Some(2));
    assert_eq!(plan.stdout, dry.stdout);
    // Nothing was applied: the changed pipeline is still refused.
    let o = fdc(&["run", new, "--input", "/dev/null", "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_reingest_without_input_is_refused_naming_the_projections() {
    let dir = scratch("no_input");
    let (base, input) = base_of("projection_casts_and_fields_changed");
    let new = "tests/plans/projection_casts_and_fields_changed/new";
    let store = deployed(&dir, &base, input);
    let o = fdc(&["apply", new, "--store", s(&store)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("`addresses`, `orders`"), "{err}");
    assert!(err.contains("--input FILE"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    let o = fdc(&["run", new, "--input", "/dev/null", "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("is not finished"), "{}", stderr(&o));
}

#[test]
fn indexes_are_dropped_and_created() {
    applies_like_a_clean_run(
        "indexes_changed",
        &[
            "drop index: addresses(customer_id, kind)",
            "drop index: customers(email)",
            "create index: customers(email)",
            "create index: orders(status)",
        ],
    );
    // `customers(email)` is no longer unique: a second customer with Ada's email is stored
    // (the old unique index, had it stayed, would refuse it).
    let dir = root().join(Path::new(env!("CARGO_TARGET_TMPDIR")).join("apply_cli_indexes_changed"));
    let first = std::fs::read_to_string(root().join("pipelines/customer360/events.jsonl"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .replace(r#""CUSTOMER_ID": 1"#, r#""CUSTOMER_ID": 9"#);
    assert!(first.contains(r#""CUSTOMER_ID": 9"#));
    let more = dir.join("twin.jsonl");
    std::fs::write(&more, format!("{first}\n")).unwrap();
    let new = "tests/plans/indexes_changed/new";
    let o = fdc(&[
        "run",
        new,
        "--input",
        s(&more),
        "--store",
        s(&dir.join("store")),
        "--print",
        "projections",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(printed.matches("ada@example.com").count(), 2, "{printed}");
}

#[test]
fn prune_drops_a_removed_views_collection() {
    let dir = scratch("prune");
    let (base, input) = base_of("view_removed_prune");
    let new = "tests/plans/view_removed_prune/new";
    let store = deployed(&dir, &base, input);
    let o = fdc(&["apply", new, "--store", s(&store), "--prune"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("drop removed single view's collection: driver_card"),
        "{err}"
    );
    // The old pipeline's view of it is empty now (the new one has no such view).
    let o = fdc(&[
        "run",
        &base,
        "--input",
        "/dev/null",
        "--store",
        s(&store),
        "--print",
        "views",
        "--mark-applied",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(!printed.contains("\"driver_card\""), "{printed}");
    assert!(printed.contains("\"vehicle_status\""), "{printed}");
}

#[test]
fn a_removed_views_pause_and_kept_triggers_are_forgotten() {
    use fdc_core::store::PauseStore;
    let dir = scratch("forget");
    let (base, input) = base_of("view_removed");
    let new = "tests/plans/view_removed/new";
    // Deployed over nothing, driver_card paused, then the input: its triggers are kept.
    let store = deployed(&dir, &base, "/dev/null");
    let o = fdc(&["pause", "--view", "driver_card", "--store", s(&store)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fdc(&["run", &base, "--input", input, "--store", s(&store)]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("trigger(s) of paused views kept"), "{err}");
    let pending = || {
        let opened = fdc_embedded::EmbeddedStore::open(&store).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            (
                opened.count_pending("driver_card").await.unwrap(),
                opened.load_pauses().await.unwrap().len(),
            )
        })
    };
    let (kept, paused) = pending();
    assert!(kept > 0 && paused == 1, "{kept} kept, {paused} paused");

    let o = fdc(&["apply", new, "--store", s(&store)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "removed single view driver_card: its {kept} kept trigger(s) are forgotten"
        )),
        "{err}"
    );
    assert!(
        err.contains("removed single view driver_card: its pause is lifted"),
        "{err}"
    );
    assert_eq!(pending(), (0, 0));
}

#[test]
fn a_crash_in_the_middle_of_a_refresh_resumes_to_the_same_state() {
    let variant = "projection_casts_and_fields_changed";
    let dir = scratch("crash");
    let (base, input) = base_of(variant);
    let new = format!("tests/plans/{variant}/new");
    let store = deployed(&dir, &base, input);
    // One root per page: the refresh saves a cursor per root; abort after the second.
    let args = [
        "apply",
        new.as_str(),
        "--store",
        s(&store),
        "--input",
        input,
        "--page",
        "1",
    ];
    let o = fdc_env(&args, &[("FDC_TEST_APPLY_ABORT_AFTER_CURSORS", "2")]);
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "{}", stderr(&o));
    }
    assert!(stderr(&o).contains("aborting after 2"), "{}", stderr(&o));
    // Unfinished: fdc run refuses, naming the apply.
    let r = fdc(&["run", &new, "--input", "/dev/null", "--store", s(&store)]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("is not finished"), "{}", stderr(&r));
    // Another target plan is refused, naming the unfinished one.
    let other = fdc(&[
        "apply",
        "tests/plans/view_fields_changed_replace/new",
        "--store",
        s(&store),
    ]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(
        stderr(&other).contains("toward another plan"),
        "{}",
        stderr(&other)
    );
    // Again: resumes (the re-ingests are done, the refresh goes on from its cursor).
    let o = fdc(&args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("resuming the apply"), "{err}");
    assert!(
        err.contains("resuming the refresh of customer_360 after"),
        "{err}"
    );
    assert!(!err.contains("re-ingest projection: addresses"), "{err}");
    let applied = exported(&new, &store, &dir.join("applied"));
    assert_eq!(applied, clean(&dir, &new, input));
}

#[test]
fn only_naming_every_view_of_the_plan_completes_the_apply() {
    let dir = scratch("only");
    let (base, input) = base_of("view_added");
    let new = "tests/plans/view_added/new";
    let store = deployed(&dir, &base, input);
    let o = fdc(&["apply", new, "--store", s(&store), "--only", "nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = fdc(&[
        "apply",
        new,
        "--store",
        s(&store),
        "--only",
        "order_summary",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("build single view: order_summary"), "{err}");
    assert!(err.contains("applied: 1 action(s) done"), "{err}");
    // All of this plan's actions concern the view: the apply is complete.
    let r = fdc(&["run", new, "--input", "/dev/null", "--store", s(&store)]);
    assert!(r.status.success(), "{}", stderr(&r));
}

/// An `fdc run` of `pipeline` on `store` blocked on a FIFO input, returned once it has
/// written its first heartbeat (it logs it; the record cannot be read meanwhile: the run holds
/// the store's lock).
fn blocked_run(dir: &Path, pipeline: &str, store: &Path, beat_ms: &str) -> std::process::Child {
    use std::io::BufRead;
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_fdc"))
        .current_dir(root())
        .env("FDC_HEARTBEAT_MS", beat_ms)
        .args(["run", pipeline, "--input", s(&fifo), "--store", s(store)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("heartbeat written") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run logs its first heartbeat");
    child
}

/// Kills the blocked run, as a crash: its heartbeat stays in the record.
fn kill_after_first_beat(mut child: std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The heartbeat interval of the applies that must see the killed run's beat as fresh.
const MINUTE: (&str, &str) = ("FDC_HEARTBEAT_MS", "60000");

#[test]
fn a_fresh_heartbeat_refuses_the_apply_unless_ignored_and_a_stale_one_does_not() {
    let dir = scratch("heartbeat");
    let (base, input) = base_of("merge_fields_added_and_changed");
    let new = "tests/plans/merge_fields_added_and_changed/new";
    let store = deployed(&dir, &base, input);
    let child = blocked_run(&dir, &base, &store, "60000");
    kill_after_first_beat(child);
    let o = fdc_env(&["apply", new, "--store", s(&store)], &[MINUTE]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("wrote a heartbeat"), "{err}");
    assert!(err.contains("(pid "), "{err}");
    assert!(err.contains("--ignore-running"), "{err}");
    // Stale after three intervals: reported, not blocking. The killed run's beat may be only
    // milliseconds old on a fast machine, so wait past three 100 ms intervals since it.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let o = fdc_env(
        &["apply", new, "--store", s(&store)],
        &[("FDC_HEARTBEAT_MS", "100")],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("taken as stopped"), "{err}");
}

#[test]
fn ignore_running_applies_despite_a_fresh_heartbeat() {
    let dir = scratch("heartbeat_ignored");
    let (base, input) = base_of("merge_fields_added_and_changed");
    let new = "tests/plans/merge_fields_added_and_changed/new";
    let store = deployed(&dir, &base, input);
    let child = blocked_run(&dir, &base, &store, "60000");
    kill_after_first_beat(child);
    let o = fdc_env(
        &["apply", new, "--store", s(&store), "--ignore-running"],
        &[MINUTE],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("applying anyway"), "{err}");
    // A graceful run removes its heartbeat: the next apply is not refused.
    let o = fdc(&["run", new, "--input", "/dev/null", "--store", s(&store)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fdc(&["apply", new, "--store", s(&store)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("heartbeat"), "{}", stderr(&o));
}

/// Random streams for the differential test: the customer360 example's messages (several
/// formats, deletes, bad lines) plus a synthetic backlog, sampled with the differential tests'
/// seeded generator: lines dropped, repeated (re-deliveries) and moved (out of order).
fn random_stream(seed: u64, path: &Path) {
    let mut rng = shop::Rng::seeded(seed);
    let example =
        std::fs::read_to_string(root().join("pipelines/customer360/events.jsonl")).unwrap();
    let mut lines: Vec<&str> = Vec::new();
    let pool: Vec<&str> = example.lines().filter(|l| !l.trim().is_empty()).collect();
    for l in &pool {
        if !rng.chance(15) {
            lines.push(l);
        }
        if rng.chance(10) {
            lines.push(pool[rng.below(pool.len() as u64) as usize]);
        }
    }
    for _ in 0..lines.len() / 4 {
        let (a, b) = (
            rng.below(lines.len() as u64) as usize,
            rng.below(lines.len() as u64) as usize,
        );
        lines.swap(a, b);
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn applied_stores_equal_clean_runs_over_random_streams() {
    let seeds: u64 = std::env::var("FDC_APPLY_DIFFERENTIAL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    for variant in [
        "projection_casts_and_fields_changed",
        "view_fields_changed_replace",
        "view_key_and_write_mode_changed",
        "view_added",
    ] {
        let (base, _) = base_of(variant);
        let new = format!("tests/plans/{variant}/new");
        for seed in 0..seeds {
            let dir = scratch(&format!("differential_{variant}_{seed}"));
            let stream = dir.join("stream.jsonl");
            random_stream(seed, &stream);
            let input = s(&stream);
            let store = deployed(&dir, &base, input);
            let o = fdc(&["apply", &new, "--store", s(&store), "--input", input]);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{variant} seed {seed}: {}",
                stderr(&o)
            );
            let applied = exported(&new, &store, &dir.join("applied"));
            assert_eq!(
                applied,
                clean(&dir, &new, input),
                "{variant} seed {seed}: the applied store differs from a clean run"
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Copies the directory `from` to `to` (a pipeline's `.fdl` files).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn a_reingest_removes_the_records_the_new_definition_no_longer_makes() {
    // `zip` becomes an int: the addresses whose ZIP holds letters ("CB2 1ST") no longer cast,
    // so a clean run of the new pipeline has no record for them; the records the old
    // definition stored for them must not survive the re-ingest.
    let dir = scratch("reingest_removes");
    let input = "pipelines/customer360/events.jsonl";
    let new = dir.join("new");
    copy_dir(&root().join("tests/plans/bases/customer360"), &new);
    let crm = new.join("crm.fdl");
    let text = std::fs::read_to_string(&crm).unwrap();
    let changed = text.replace(
        r#"zip         string <- ZIP | replace(" ", "")"#,
        r#"zip         int    <- ZIP | replace(" ", "")"#,
    );
    assert_ne!(text, changed);
    std::fs::write(&crm, changed).unwrap();
    let store = deployed(&dir, "tests/plans/bases/customer360", input);
    let o = fdc(&["apply", s(&new), "--store", s(&store), "--input", input]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("2 dead-lettered"), "{err}");
    let applied = exported(s(&new), &store, &dir.join("applied"));
    let clean = clean(&dir, s(&new), input);
    assert_eq!(applied, clean);
    assert!(
        !clean["projections/addresses.jsonl"]
            .iter()
            .any(|l| l.contains("CB2")),
        "{:?}",
        clean["projections/addresses.jsonl"]
    );
}

#[test]
fn a_partial_apply_is_recorded_and_fdc_run_refuses_until_the_rest_is_applied() {
    // Two view actions: `order_summary` added (view_added) and `customer_360` changed
    // (view_fields_changed_replace), in one pipeline.
    let dir = scratch("partial");
    let input = "pipelines/customer360/events.jsonl";
    let new = dir.join("new");
    copy_dir(&root().join("tests/plans/view_added/new"), &new);
    std::fs::copy(
        root().join("tests/plans/view_fields_changed_replace/new/customer_360.fdl"),
        new.join("customer_360.fdl"),
    )
    .unwrap();
    let new = s(&new).to_owned();
    let store = deployed(&dir, "tests/plans/bases/customer360", input);
    let o = fdc(&[
        "apply",
        &new,
        "--store",
        s(&store),
        "--only",
        "order_summary",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("build single view: order_summary"), "{err}");
    assert!(!err.contains("refresh single view: customer_360"), "{err}");
    assert!(
        err.contains("partly applied: 1 of 2 action(s) done"),
        "{err}"
    );
    // Neither plan runs on the mixed store.
    for pipeline in [new.as_str(), "tests/plans/bases/customer360"] {
        let r = fdc(&[
            "run",
            pipeline,
            "--input",
            "/dev/null",
            "--store",
            s(&store),
        ]);
        assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
        assert!(stderr(&r).contains("is not finished"), "{}", stderr(&r));
    }
    // The rest: the built view is not built again.
    let o = fdc(&["apply", &new, "--store", s(&store)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("resuming the apply"), "{err}");
    assert!(!err.contains("build single view: order_summary"), "{err}");
    assert!(err.contains("refresh single view: customer_360"), "{err}");
    let applied = exported(&new, &store, &dir.join("applied"));
    assert_eq!(applied, clean(&dir, &new, input));
}
