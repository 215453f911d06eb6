use std::collections::HashMap;
use std::time::Duration;

use super::settings::BatchSettings;
use super::*;
use fdc_core::secret::Secret;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const FULL: &str = r#"
kafka:
  brokers: "k1:9092,k2:9092"
  group_id: customer360
  client_id: fdc-a
  auto_offset_reset: latest
  topics:
    crm.orders: prod.crm.orders
  delivery_timeout_ms: 20000
  security:
    sasl:
      mechanism: SCRAM-SHA-512
      username: svc
      password_env: KAFKA_PW
    tls:
      ca_location: /etc/kafka/ca.pem
  properties:
    fetch.min.bytes: "1024"
mongodb:
  uri: mongodb://db1:27017/?replicaSet=rs0
  database: c360
  username: app
  password_env: MONGO_PW
  tls:
    ca_file: /etc/mongo/ca.pem
batch:
  max_messages: 2000
  linger_ms: 50
dead_letter:
  topic: c360.dlq
events:
  enabled: false
"#;

#[test]
fn a_full_configuration_parses_into_adapter_settings() {
    let e = env(&[("KAFKA_PW", "kpass"), ("MONGO_PW", "mpass")]);
    let c = parse(FULL, &e).unwrap();
    let k = c.kafka.as_ref().unwrap();
    assert_eq!(k.client.brokers, "k1:9092,k2:9092");
    assert_eq!(k.group_id, "customer360");
    assert_eq!(k.auto_offset_reset, "latest");
    assert_eq!(k.topics.to_broker("crm.orders"), "prod.crm.orders");
    assert_eq!(k.delivery_timeout, Duration::from_secs(20));
    let rd = k.client.client_config();
    assert_eq!(rd.get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(rd.get("sasl.password"), Some("kpass"));
    assert_eq!(rd.get("ssl.ca.location"), Some("/etc/kafka/ca.pem"));
    assert_eq!(rd.get("fetch.min.bytes"), Some("1024"));
    let m = c.mongodb.as_ref().unwrap();
    assert_eq!(m.database, "c360");
    assert_eq!(m.password.as_ref().map(Secret::expose), Some("mpass"));
    assert_eq!(
        m.tls.as_ref().and_then(|t| t.ca_file.clone()),
        Some("/etc/mongo/ca.pem".into())
    );
    assert_eq!(c.batch.max_messages, 2000);
    assert_eq!(c.batch.linger, Duration::from_millis(50));
    assert_eq!(c.dead_letter_topic, "c360.dlq");
    assert!(!c.events);
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("kpass") && !shown.contains("mpass"),
        "{shown}"
    );
}

#[test]
fn an_empty_configuration_has_the_defaults_and_no_services() {
    let c = parse("", &env(&[])).unwrap();
    assert_eq!((c.kafka.is_some(), c.mongodb.is_some()), (false, false));
    assert_eq!(c.batch, BatchSettings::default());
    assert_eq!(c.dead_letter_topic, "fdc.dead-letters");
    assert!(c.events);
    assert!(c.triggers_in_process);
    assert_eq!(
        c.max_clock_skew,
        Some(fdc_engine::runtime::DEFAULT_MAX_CLOCK_SKEW)
    );
}

#[test]
fn the_clock_skew_bound_is_set_by_the_file_or_the_environment_and_0_turns_it_off() {
    let c = parse("ingest: {max_clock_skew_ms: 5000}", &env(&[])).unwrap();
    assert_eq!(c.max_clock_skew, Some(Duration::from_secs(5)));
    let c = parse("", &env(&[("FDC_INGEST_MAX_CLOCK_SKEW_MS", "0")])).unwrap();
    assert_eq!(c.max_clock_skew, None);
    let err = parse("ingest: {max_clock_skew_ms: -1}", &env(&[])).unwrap_err();
    assert!(err.to_string().contains("max_clock_skew_ms"), "{err}");
}

#[test]
fn triggers_leave_the_process_when_the_file_or_the_environment_says_so() {
    let c = parse("triggers: {in_process: false}", &env(&[])).unwrap();
    assert!(!c.triggers_in_process);
    let c = parse("", &env(&[("FDC_TRIGGERS_IN_PROCESS", "false")])).unwrap();
    assert!(!c.triggers_in_process);
    let err = parse("triggers: {in_process: maybe}", &env(&[])).unwrap_err();
    assert!(err.to_string().contains("in_process"), "{err}");
}

#[test]
fn environment_variables_override_the_file() {
    let e = env(&[
        ("FDC_KAFKA_BROKERS", "other:9093"),
        ("FDC_KAFKA_GROUP_ID", "g2"),
        ("FDC_MONGO_URI", "mongodb://other:27017"),
        ("FDC_MONGO_PASSWORD", "fromenv"),
        ("FDC_BATCH_MAX_MESSAGES", "10"),
        ("FDC_BATCH_LINGER_MS", "5"),
        ("FDC_EVENTS_ENABLED", "yes"),
        ("FDC_DEAD_LETTER_TOPIC", "dlq2"),
        ("KAFKA_PW", "kpass"),
    ]);
    let c = parse(FULL, &e).unwrap();
    let k = c.kafka.unwrap();
    assert_eq!(
        (k.client.brokers.as_str(), k.group_id.as_str()),
        ("other:9093", "g2")
    );
    let m = c.mongodb.unwrap();
    assert_eq!(m.uri, "mongodb://other:27017");
    assert_eq!(m.password.as_ref().map(Secret::expose), Some("fromenv"));
    assert_eq!(c.batch.max_messages, 10);
    assert_eq!(c.batch.linger, Duration::from_millis(5));
    assert!(c.events);
    assert_eq!(c.dead_letter_topic, "dlq2");
}

#[test]
fn the_environment_alone_configures_the_services() {
    let e = env(&[
        ("FDC_KAFKA_BROKERS", "127.0.0.1:9092"),
        ("FDC_MONGO_URI", "mongodb://127.0.0.1:27017"),
        ("FDC_KAFKA_SASL_MECHANISM", "PLAIN"),
        ("FDC_KAFKA_SASL_USERNAME", "u"),
        ("FDC_KAFKA_SASL_PASSWORD", "p4ss"),
    ]);
    let c = parse("", &e).unwrap();
    let k = c.kafka.unwrap();
    assert_eq!(k.group_id, "fdc");
    let sasl = k.client.sasl.unwrap();
    assert_eq!(
        sasl.password.map(|p| p.expose().to_string()).as_deref(),
        Some("p4ss")
    );
    assert_eq!(c.mongodb.unwrap().database, "fdc");
}

#[test]
fn schema_errors_name_the_setting_and_the_variable_never_the_value() {
    let text =
        "kafka:\n  brokers: \"not a broker list\"\n  securty: {}\nbatch:\n  max_messages: 0\n";
    let err = parse(text, &env(&[("FDC_BATCH_LINGER_MS", "soon")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("at /kafka/brokers:"), "{err}");
    assert!(err.contains("securty"), "{err}");
    assert!(err.contains("at /batch/max_messages:"), "{err}");
    assert!(
        err.contains("at /batch/linger_ms (set by FDC_BATCH_LINGER_MS):"),
        "{err}"
    );
    assert!(
        !err.contains("not a broker list") && !err.contains("soon"),
        "{err}"
    );
}

#[test]
fn a_password_put_in_the_wrong_place_is_not_echoed() {
    let text = "mongodb:\n  uri: mongodb://x\n  password: hunter2\n";
    let err = parse(text, &env(&[])).unwrap_err().to_string();
    assert!(
        err.contains("/mongodb") && err.contains("password"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unreadable_credentials_and_bad_yaml_are_clear_errors() {
    let text =
        "kafka:\n  brokers: b:1\n  security:\n    sasl: {mechanism: PLAIN, password_env: NOPE}\n";
    let err = parse(text, &env(&[])).unwrap_err().to_string();
    assert_eq!(
        err,
        "setting `kafka.security.sasl.password`: the environment variable `NOPE` is not set"
    );
    let dir = std::env::temp_dir().join(format!("fdc-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, "fromfile\n").unwrap();
    let text = format!(
        "kafka:\n  brokers: b:1\n  security:\n    sasl: {{mechanism: PLAIN, password_file: {}}}\n",
        file.display()
    );
    let c = parse(&text, &env(&[])).unwrap();
    let pw = c.kafka.unwrap().client.sasl.unwrap().password.unwrap();
    assert_eq!(pw.expose(), "fromfile");
    let both = "mongodb: {uri: 'mongodb://x', password_env: A, password_file: /b}\n";
    assert!(parse(both, &env(&[("A", "a")])).is_err());
    assert!(matches!(
        parse("kafka: [", &env(&[])),
        Err(ConfigError::Yaml(_))
    ));
    assert!(matches!(
        load(Some(&dir.join("missing.yaml")), &env(&[])),
        Err(ConfigError::Read { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_override_points_at_a_setting_of_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    for (var, pointer, _) in env::OVERRIDES {
        let mut node = &schema;
        for part in pointer.trim_start_matches('/').split('/') {
            node = node
                .get("properties")
                .and_then(|p| p.get(part))
                .unwrap_or_else(|| panic!("{var}: {pointer} is not in the schema"));
        }
    }
    let docs = include_str!("../../docs/configuration.md");
    for (var, _, _) in env::OVERRIDES {
        assert!(docs.contains(var), "{var} is not documented");
    }
}

#[test]
fn a_missing_credential_file_is_one_error_for_kafka_and_mongodb() {
    let missing = std::env::temp_dir().join(format!("fdc-no-such-password-{}", std::process::id()));
    let p = missing.display();
    let cases = [
        (
            "kafka.security.sasl.password",
            format!("kafka:\n  brokers: b:1\n  security:\n    sasl: {{mechanism: PLAIN, password_file: {p}}}\n"),
        ),
        (
            "kafka.security.tls.key_password",
            format!("kafka:\n  brokers: b:1\n  security:\n    tls: {{key_password_file: {p}}}\n"),
        ),
        (
            "mongodb.password",
            format!("mongodb: {{uri: 'mongodb://x', password_file: {p}}}\n"),
        ),
    ];
    let reason = std::fs::read_to_string(&missing).unwrap_err().to_string();
    for (setting, text) in cases {
        let err = parse(&text, &env(&[])).unwrap_err();
        assert!(
            matches!(err, ConfigError::Secret { .. }),
            "{setting}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("setting `{setting}`: cannot read `{p}`: {reason}")
        );
    }
    let unset = "mongodb: {uri: 'mongodb://x', password_env: NOPE}\n";
    assert_eq!(
        parse(unset, &env(&[])).unwrap_err().to_string(),
        "setting `mongodb.password`: the environment variable `NOPE` is not set"
    );
}

#[test]
fn a_key_given_twice_is_refused_with_its_path_and_line() {
    let text = "kafka:\n  brokers: a:1\n  security:\n    sasl:\n      mechanism: PLAIN\n      password_env: A\n      password_env: B\nmongodb: {uri: 'mongodb://x'}\n";
    let err = parse(text, &env(&[("A", "a"), ("B", "b")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the setting `kafka.security.sasl.password_env` is given twice"),
        "{err}"
    );
    assert!(err.contains("line 7"), "{err}");
    let top = "events: {enabled: true}\nbatch: {max_messages: 1}\nevents: {enabled: false}\n";
    let err = parse(top, &env(&[])).unwrap_err().to_string();
    assert!(
        err.contains("`events` is given twice") && err.contains("line 3"),
        "{err}"
    );
    // In a list too, and never quoting a value.
    let listed =
        "kafka:\n  brokers: a:1\n  properties: {sasl.password: hunter2, sasl.password: hunter3}\n";
    let err = parse(listed, &env(&[])).unwrap_err().to_string();
    assert!(err.contains("`kafka.properties.sasl.password`"), "{err}");
    assert!(!err.contains("hunter"), "{err}");
    // Distinct keys in distinct mappings are fine.
    assert!(parse(
        "batch: {max_messages: 1}\nevents: {enabled: true}\n",
        &env(&[])
    )
    .is_ok());
}

#[test]
fn oversized_or_deeply_nested_configurations_are_refused_before_parsing() {
    // ~200 KB of nested brackets: the YAML parser alone took about a minute on this.
    let deep = format!("kafka: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let err = parse(&deep, &env(&[])).unwrap_err();
    assert!(
        matches!(err, ConfigError::TooDeep { line: 1, limit } if limit == yaml::MAX_DEPTH),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("nests more than 32 levels deep (at line 1)"));
    let mut blocks = String::new();
    for i in 0..200 {
        blocks.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
    }
    assert!(matches!(
        parse(&blocks, &env(&[])),
        Err(ConfigError::TooDeep { line: 33, .. })
    ));
    let dashes = format!("{}1\n", "- ".repeat(100_000));
    assert!(matches!(
        parse(&dashes, &env(&[])),
        Err(ConfigError::TooDeep { .. })
    ));
    let big = format!("# {}\n", "x".repeat(yaml::MAX_BYTES));
    let err = parse(&big, &env(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
    // Brackets in quoted text and comments do not count; real nesting within the limit passes.
    let fine = format!(
        "# {}\nkafka:\n  brokers: a:1\n  client_id: \"{}\"\n  properties: {{a: '[[[[', b: \"{{{{\"}}\n",
        "[".repeat(100),
        "[".repeat(100)
    );
    assert!(
        parse(&fine, &env(&[])).is_ok(),
        "{:?}",
        parse(&fine, &env(&[]))
    );
}

#[test]
fn the_operations_token_and_the_pause_settings_are_read() {
    let c = parse("", &env(&[])).unwrap();
    assert_eq!(c.http_token, None);
    assert!(!c.start_paused);
    assert_eq!(c.pause_poll, fdc_engine::runtime::DEFAULT_PAUSE_POLL);
    let c = parse(
        "http: {token_env: OPS_TOKEN}\nstart_paused: true\npause: {poll_ms: 250}",
        &env(&[("OPS_TOKEN", "s3cret")]),
    )
    .unwrap();
    assert_eq!(c.http_token.as_ref().map(|t| t.expose()), Some("s3cret"));
    assert!(c.start_paused);
    assert_eq!(c.pause_poll, Duration::from_millis(250));
    // The token is never shown, not even in the settings' debug form.
    assert!(!format!("{c:?}").contains("s3cret"));
    let err = parse("http: {token_env: OPS_TOKEN}", &env(&[])).unwrap_err();
    assert!(err.to_string().contains("http.token"), "{err}");
    assert!(parse("http: {token_env: A, token_file: /b}", &env(&[("A", "x")])).is_err());
    assert!(parse("pause: {poll_ms: 1}", &env(&[])).is_err());
}
