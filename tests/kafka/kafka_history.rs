//! `fdc_kafka::history` against the broker of `scripts/services`: one ask for several topics
//! answers each on its own. A topic that retention trimmed shows its deleted offsets, one
//! that holds everything shows none, and a topic missing on the broker gets its reason
//! without spoiling the others' answers.
//!
//! Needs a broker at `FDC_KAFKA_BROKERS` (default `127.0.0.1:9092`); a missing broker fails.

use crate::kafka_common::*;
use crate::support;

use fdc_kafka::{KafkaClientConfig, TopicMap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ask_answers_every_topic_on_its_own() {
    let brokers = support::require_kafka();
    let prefix = support::unique_name("it_history");
    let mut map = TopicMap::default();
    for t in ["trimmed", "whole", "missing"] {
        map.renames.insert(t.to_string(), format!("{prefix}.{t}"));
    }
    let made: Vec<String> = ["trimmed", "whole"]
        .iter()
        .map(|t| map.to_broker(t).to_string())
        .collect();
    create_topics(&brokers, &made, 1).await;
    let messages: Vec<fdc_engine::change::Message> = ["trimmed", "whole"]
        .iter()
        .flat_map(|t| {
            (0..5).map(move |i| fdc_engine::change::Message {
                topic: t.to_string(),
                partition: 0,
                offset: 0,
                key: Some(format!("k{i}").into_bytes()),
                value: Some(b"{}".to_vec()),
                headers: vec![],
                timestamp: None,
            })
        })
        .collect();
    produce(&producer(&brokers), &map, &messages).await;
    delete_records(&brokers, &[(map.to_broker("trimmed"), 0, 3)]).await;

    let topics: Vec<String> = ["trimmed", "missing", "whole"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    let answers = fdc_kafka::history::topic_histories(
        &KafkaClientConfig::new(&brokers),
        &map,
        &format!("{prefix}.group"),
        &topics,
    )
    .await
    .expect("the ask");
    assert_eq!(answers.len(), 3);
    let trimmed = answers[0].as_ref().expect("trimmed");
    assert_eq!(trimmed.topic, "trimmed");
    assert_eq!((trimmed.deleted(), trimmed.deleted_after_read()), (3, 0));
    assert_eq!(trimmed.partitions[0].end, 5);
    let missing = answers[1].as_ref().expect_err("missing");
    assert!(
        missing.contains("does not exist on the broker"),
        "{missing}"
    );
    let whole = answers[2].as_ref().expect("whole");
    assert_eq!((whole.deleted(), whole.partitions[0].end), (0, 5));
    assert_eq!(whole.cleanup_policy.as_deref(), Some("delete"));
}
