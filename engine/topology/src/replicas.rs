//! The replica watcher of a `--role all` process whose triggers stay in memory: correct with
//! one replica only, so while its consumer group has several members it warns (log, `/status`,
//! `fdc status`) that `triggers.in_process: false` is needed.
//!
//! In: the Kafka client settings and the group. Out: the health's warning, updated every
//! [`REPLICAS_CHECK`]; a broker that does not answer leaves the last answer standing.

use std::sync::Arc;
use std::time::Duration;

use fdc_engine::runtime::Counters;

/// How often a `--role all` process with in-memory triggers looks at its group's members.
const REPLICAS_CHECK: Duration = Duration::from_secs(10);

/// The warning of a `--role all` process with in-memory triggers whose group has `members`
/// members (`None` when it is alone).
fn replicas_warning(members: usize) -> Option<String> {
    (members > 1).then(|| {
        format!(
            "{members} `--role all` members share the consumer group with in-memory triggers: \
             two of them can rebuild one single view at once; set `triggers.in_process: false` \
             (FDC_TRIGGERS_IN_PROCESS=false)"
        )
    })
}

/// Warns (logs, `/status`, `fdc status`) while several members share the group of a
/// `--role all` process whose triggers stay in memory (see the module docs).
pub(crate) async fn watch(
    client: fdc_kafka::KafkaClientConfig,
    group: String,
    counters: Arc<Counters>,
) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let Ok(admin) = client.client_config().create::<BaseConsumer>() else {
        return;
    };
    let admin = Arc::new(admin);
    loop {
        tokio::time::sleep(REPLICAS_CHECK).await;
        let (a, g) = (admin.clone(), group.clone());
        let members = tokio::task::spawn_blocking(move || {
            a.fetch_group_list(Some(&g), Duration::from_secs(5))
                .ok()
                .and_then(|list| {
                    list.groups()
                        .iter()
                        .find(|x| x.name() == g)
                        .map(|x| x.members().len())
                })
        })
        .await;
        // Not known now (a broker outage): the last answer stands.
        if let Ok(Some(members)) = members {
            counters.health().warn(replicas_warning(members));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_members_with_in_memory_triggers_are_warned_about() {
        assert_eq!(replicas_warning(1), None);
        assert_eq!(replicas_warning(0), None);
        let w = replicas_warning(3).unwrap();
        assert!(w.starts_with("3 `--role all` members"), "{w}");
        assert!(w.contains("triggers.in_process: false"), "{w}");
    }
}
