//! `fdc-dsl` stays free of async runtimes, Kafka and MongoDB: it only turns text into a plan.

#[test]
fn dsl_depends_on_no_runtime_kafka_or_mongodb_crate() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    for banned in [
        "tokio",
        "async-std",
        "rdkafka",
        "mongodb",
        "futures",
        "fdc-engine",
    ] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(banned)),
            "fdc-dsl must not depend on {banned}"
        );
    }
    assert!(
        deps.contains("fdc-plan"),
        "the manifest was not parsed: {deps}"
    );
}
