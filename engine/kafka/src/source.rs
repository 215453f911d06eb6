//! The Kafka source: a consumer-group member over the ingestion topics of a plan.
//!
//! In: a [`KafkaSourceConfig`] (client settings, group id, topics, linger). Out: batches of
//! [`Message`]s (topic as the plan names it, partition, offset, key and value bytes, headers,
//! timestamp in epoch milliseconds), each with an [`Ack`] holding, per partition it read, the
//! next offset to read.
//!
//! Guarantees:
//! - offsets are committed only by [`Source::commit`], synchronously, with the positions the
//!   runtime acknowledges (behind its durable watermark); the client never auto-commits nor
//!   auto-stores offsets;
//! - every ack position carries the assignment epoch of its partition; a position whose
//!   partition was revoked after it was read (even if assigned again since) is dropped, not
//!   committed: the next owner resumes from the last committed offset, at or before it;
//! - on assignment the consumer resumes from the committed offsets (Kafka's default), or from
//!   `auto.offset.reset` (`earliest` unless configured) for a new group;
//! - a failed commit is not an error of the run: its positions are retried with the next
//!   commit (offsets are cumulative), and at worst messages are delivered again;
//! - an empty batch has an empty ack (it must not move past batches still in flight);
//! - [`KafkaSource::gauges`] reports the lag of each assigned partition behind its committed
//!   offset (every `stats_interval`, from the broker's high watermarks, also while the
//!   pipeline is paused and does not poll) and whether any broker answers (librdkafka's
//!   statistics); and, asked every few seconds off the read path (`group`), the whole
//!   group's lag per partition with its owner, and the messages retention deleted before
//!   they were read: below the committed offset of a partition before it was assigned
//!   (checked at each assignment), or under this member's read position (a jump in the
//!   offsets received, judged against the earliest offset at the next ask, see `group`);
//! - partitions are given up only after the batches already handed to the writer are
//!   finished (the revocation waits on the run's [`InFlight`], at most [`REVOKE_WAIT`]), and
//!   messages of a partition revoked while a batch was being read are left out of it: the
//!   next owner never races a write of this member;
//! - while the pipeline is paused, [`Source::keep_alive`] pauses the assigned partitions and
//!   polls, so the member stays in its group (`max.poll.interval.ms`) and its statistics stay
//!   fresh; the next read resumes them, and a message received meanwhile is kept for it;
//! - what [`Source::hold`] names (a paused projection's topic, or everything) is paused in the
//!   consumer on the next read: the member keeps its partitions and its place in the group,
//!   polls on, and its lag keeps being reported; a message of a held partition received
//!   before the pause took effect is kept (not delivered, its offset not acknowledged) and
//!   delivered first once the partition is released;
//! - with [`KafkaSourceConfig::until_end`] (an initial load) the end of every partition is
//!   taken on the first read, and the source ends (`Ok(None)`) once each partition was read
//!   up to it by this member or committed up to it by the group: the backlog as of the start
//!   is loaded, later messages are left for the steady state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::time::Instant;

use super::config::{KafkaClientConfig, TopicMap};
use super::group::{self, GroupState};
use fdc_core::change::Message;
use fdc_core::source::{Ack, Held, InFlight, Source, SourceBatch, SourceItem};
use fdc_core::source::{GroupLag, PartitionLag, RetentionLoss, SourceGauges};
use fdc_core::store::StoreError;

/// Settings of a [`KafkaSource`].
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSourceConfig {
    pub client: KafkaClientConfig,
    /// Consumer group (`group.id`): replicas with the same group split the partitions.
    pub group_id: String,
    /// The plan's ingestion topics ([`fdc_plan::Plan::topics`]).
    pub topics: Vec<String>,
    /// Renames from plan topics to broker topics.
    pub topic_map: TopicMap,
    /// Longest wait for a batch to fill: a batch is returned when it holds `max` messages or
    /// when this much time has passed since the call began.
    pub linger: Duration,
    /// Where a new group starts (`auto.offset.reset`): `earliest` or `latest`.
    pub auto_offset_reset: String,
    /// How often librdkafka reports statistics (lag, broker states) to [`KafkaSource::gauges`].
    pub stats_interval: Duration,
    /// End at the end of the backlog as of the first read (see the module docs).
    pub until_end: bool,
}

impl KafkaSourceConfig {
    /// Settings with the defaults: linger 100 ms, new groups start at the earliest offset.
    pub fn new(client: KafkaClientConfig, group_id: &str, topics: Vec<String>) -> Self {
        KafkaSourceConfig {
            client,
            group_id: group_id.into(),
            topics,
            topic_map: TopicMap::default(),
            linger: Duration::from_millis(100),
            auto_offset_reset: "earliest".into(),
            stats_interval: Duration::from_secs(2),
            until_end: false,
        }
    }
}

/// Partitions currently assigned, with the epoch of their assignment.
#[derive(Debug, Default)]
struct Assignment {
    epochs: HashMap<(String, i32), u64>,
    next_epoch: u64,
    revocations: u64,
    /// Per assigned (broker topic, partition): lag behind the committed offset, from the last
    /// statistics.
    lag: BTreeMap<(String, i32), i64>,
    /// Whether some broker was up in the last statistics (`None`: none yet).
    brokers_up: Option<bool>,
    /// Per (broker topic, partition): the committed offset, from this member's commits or,
    /// before its first, from the statistics.
    committed: BTreeMap<(String, i32), i64>,
}

/// Longest wait of a revocation for the batches in flight to finish.
pub const REVOKE_WAIT: Duration = Duration::from_secs(60);

/// How often, at least, the whole group's lag is asked (`group::watch`).
const GROUP_INTERVAL: Duration = Duration::from_secs(5);

/// How long [`Source::keep_alive`] polls.
const KEEP_ALIVE_POLL: Duration = Duration::from_millis(100);

/// Tracks assignments from the rebalance callbacks (run by librdkafka inside `recv`).
struct Tracker {
    state: Arc<Mutex<Assignment>>,
    /// The run's batches in flight, once the run gave them.
    in_flight: Arc<OnceLock<Arc<InFlight>>>,
    /// The group's lag and what retention took (`group`), checked at assignment.
    group: Arc<Mutex<GroupState>>,
    topic_map: TopicMap,
}

impl Tracker {
    /// Blocks the revocation until the batches in flight are finished (see the module docs).
    fn drain_in_flight(&self) {
        let Some(in_flight) = self.in_flight.get() else {
            return;
        };
        if in_flight.count() == 0 {
            return;
        }
        // Blocking is possible only where other workers can run the writer meanwhile.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            tracing::debug!("kafka revocation does not wait for batches in flight here");
            return;
        }
        let started = std::time::Instant::now();
        let idle = tokio::task::block_in_place(|| in_flight.wait_idle(REVOKE_WAIT));
        if idle {
            tracing::info!(
                millis = started.elapsed().as_millis() as u64,
                "batches in flight finished before giving partitions up"
            );
        } else {
            tracing::warn!(
                seconds = REVOKE_WAIT.as_secs(),
                "batches still in flight when giving partitions up; their next owner may \
                 rebuild concurrently"
            );
        }
    }
}

impl ClientContext for Tracker {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Ok(mut s) = self.state.lock() else { return };
        // The bootstrap and internal entries have no node id; real brokers do.
        let up = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0)
            .any(|b| b.state == "UP");
        s.brokers_up = Some(up);
        let mut lag = BTreeMap::new();
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                let key = (topic.clone(), *partition);
                if *partition >= 0 && s.epochs.contains_key(&key) {
                    if p.consumer_lag >= 0 {
                        lag.insert(key.clone(), p.consumer_lag);
                    } else if let Some(known) = s.lag.get(&key) {
                        // Not known to the client (nothing committed, nothing consumed: a
                        // held partition): the watermark refresh's value stays.
                        lag.insert(key.clone(), *known);
                    }
                }
                if *partition >= 0 && p.committed_offset >= 0 {
                    s.committed.entry(key).or_insert(p.committed_offset);
                }
            }
        }
        s.lag = lag;
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if let Ok(mut s) = self.state.lock() {
                s.brokers_up = Some(false);
            }
        }
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

/// Keeps the lag fresh while the runtime does not poll the consumer (librdkafka delivers its
/// statistics only on polls, and a paused pipeline does not poll): every `interval`, the high
/// watermark of each assigned partition is asked from the broker and the lag is that minus
/// the committed offset. A partition the group never committed counts from its low watermark
/// when the group starts from the earliest offset (`earliest`: everything retained waits,
/// e.g. behind a paused projection), and is not reported otherwise. Ends when the consumer is
/// dropped.
async fn refresh_lag(
    consumer: std::sync::Weak<StreamConsumer<Tracker>>,
    state: Arc<Mutex<Assignment>>,
    interval: Duration,
    earliest: bool,
) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(c) = consumer.upgrade() else { return };
        let partitions: Vec<((String, i32), Option<i64>)> = match state.lock() {
            Ok(s) => s
                .epochs
                .keys()
                .map(|k| (k.clone(), s.committed.get(k).copied()))
                .collect(),
            Err(_) => return,
        };
        let fresh = tokio::task::spawn_blocking(move || {
            let mut lag = BTreeMap::new();
            for ((topic, partition), committed) in partitions {
                if committed.is_none() && !earliest {
                    continue;
                }
                if let Ok((low, high)) =
                    c.fetch_watermarks(&topic, partition, Duration::from_secs(1))
                {
                    let from = committed.unwrap_or(low);
                    lag.insert((topic, partition), (high - from).max(0));
                }
            }
            lag
        })
        .await;
        if let (Ok(fresh), Ok(mut s)) = (fresh, state.lock()) {
            for (k, v) in fresh {
                if s.epochs.contains_key(&k) {
                    s.lag.insert(k, v);
                }
            }
        }
    }
}

/// The gauges of a [`KafkaSource`] (see [`KafkaSource::gauges`]).
struct KafkaGauges {
    state: Arc<Mutex<Assignment>>,
    topic_map: TopicMap,
    group: Arc<Mutex<GroupState>>,
}

impl SourceGauges for KafkaGauges {
    fn lag(&self) -> Vec<PartitionLag> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        s.lag
            .iter()
            .filter(|(k, _)| s.epochs.contains_key(*k))
            .map(|((topic, partition), lag)| PartitionLag {
                topic: self.topic_map.to_plan(topic).to_string(),
                partition: *partition,
                lag: *lag,
            })
            .collect()
    }

    fn connected(&self) -> Option<bool> {
        self.state.lock().ok().and_then(|s| s.brokers_up)
    }

    fn group_lag(&self) -> Option<GroupLag> {
        self.group.lock().ok().and_then(|g| g.last.clone())
    }

    fn lost_to_retention(&self) -> Vec<RetentionLoss> {
        self.group
            .lock()
            .map(|g| g.lost.values().cloned().collect())
            .unwrap_or_default()
    }
}

impl ConsumerContext for Tracker {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.drain_in_flight();
            if let Ok(mut s) = self.state.lock() {
                for e in tpl.elements() {
                    s.epochs.remove(&(e.topic().to_string(), e.partition()));
                }
                s.revocations += 1;
            }
            tracing::info!(
                partitions = tpl.count(),
                "kafka partitions revoked; their uncommitted positions are dropped"
            );
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                // Before the first read of the partitions: what retention took from them.
                group::retention_overtaken(consumer, tpl, &self.group, &self.topic_map);
                if let Ok(mut s) = self.state.lock() {
                    for e in tpl.elements() {
                        s.next_epoch += 1;
                        let epoch = s.next_epoch;
                        s.epochs
                            .insert((e.topic().to_string(), e.partition()), epoch);
                    }
                }
                tracing::info!(partitions = tpl.count(), "kafka partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "kafka rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// A message received while paused: its (broker topic, partition), the epoch of that
/// partition when received, and the message.
type Stashed = ((String, i32), u64, Message);

/// A consumer-group member reading the plan's topics. See the module docs.
pub struct KafkaSource {
    consumer: Arc<StreamConsumer<Tracker>>,
    state: Arc<Mutex<Assignment>>,
    config: KafkaSourceConfig,
    /// Positions whose commit failed, retried with the next commit.
    pending: BTreeMap<(String, i32), i64>,
    in_flight: Arc<OnceLock<Arc<InFlight>>>,
    /// Whether `keep_alive` paused the assigned partitions.
    paused: bool,
    /// Messages received by `keep_alive`, or of held partitions, delivered first by the next
    /// read that may deliver them.
    stash: VecDeque<Stashed>,
    /// What a pause holds ([`Source::hold`]), and whether partitions were paused for it.
    held: Held,
    holding: bool,
    /// With `until_end`: the backlog's end per (broker topic, partition) still to reach.
    backlog: Option<Backlog>,
    /// The group's lag and the retention losses (read by the gauges).
    group: Arc<Mutex<GroupState>>,
    /// Per (broker topic, partition): the assignment epoch and the offset after the last
    /// message received, to see jumps ([`KafkaSource::note_read`]). A lock held only by the
    /// reading task (`received` takes `&self` while a message borrows the consumer).
    expected: Mutex<HashMap<(String, i32), (u64, i64)>>,
}

/// The end of the backlog, and what is left of it.
#[derive(Debug, Default)]
struct Backlog {
    /// Per (broker topic, partition) not reached yet: the offset to reach.
    left: BTreeMap<(String, i32), i64>,
    /// When the group's committed offsets were last asked for.
    asked: Option<Instant>,
}

impl Backlog {
    /// This member read `partition` up to `next`.
    fn reached(&mut self, key: &(String, i32), next: i64) {
        if self.left.get(key).is_some_and(|end| next >= *end) {
            self.left.remove(key);
        }
    }
}

/// The end offset of every partition of `topics` (broker names), and the partitions that
/// already hold nothing to read.
fn backlog_ends(
    consumer: &StreamConsumer<Tracker>,
    topics: &[String],
) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
    let timeout = Duration::from_secs(10);
    let mut ends = BTreeMap::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
                if high > low {
                    ends.insert((topic.clone(), p.id()), high);
                }
            }
        }
    }
    Ok(ends)
}

/// The ack stream name of a partition read in an assignment epoch: `topic:partition:epoch`
/// (topic names cannot hold `:`).
fn stream_name(topic: &str, partition: i32, epoch: u64) -> String {
    format!("{topic}:{partition}:{epoch}")
}

fn parse_stream(stream: &str) -> Option<(String, i32, u64)> {
    let mut parts = stream.rsplitn(3, ':');
    let epoch = parts.next()?.parse().ok()?;
    let partition = parts.next()?.parse().ok()?;
    let topic = parts.next()?;
    Some((topic.to_string(), partition, epoch))
}

/// Errors after which consuming cannot go on (bad credentials or permissions).
pub(crate) fn is_fatal(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::InvalidConfig
        )
    )
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the topics (partitions are assigned by the
    /// group on the first reads).
    pub fn connect(config: KafkaSourceConfig) -> Result<KafkaSource, StoreError> {
        let op = "create kafka consumer";
        if config.topics.is_empty() {
            return Err(StoreError::fatal(op, "the pipeline has no ingestion topic"));
        }
        let mut c = config.client.client_config();
        c.set("group.id", &config.group_id)
            .set("auto.offset.reset", &config.auto_offset_reset)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "statistics.interval.ms",
                config.stats_interval.as_millis().max(1).to_string(),
            );
        let state = Arc::new(Mutex::new(Assignment::default()));
        let in_flight = Arc::new(OnceLock::new());
        let group = Arc::new(Mutex::new(GroupState::default()));
        let consumer: StreamConsumer<Tracker> = c
            .create_with_context(Tracker {
                state: state.clone(),
                in_flight: in_flight.clone(),
                group: group.clone(),
                topic_map: config.topic_map.clone(),
            })
            .map_err(|e| StoreError::fatal(op, config.client.describe(&e)))?;
        let topics: Vec<&str> = config
            .topics
            .iter()
            .map(|t| config.topic_map.to_broker(t))
            .collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| StoreError::fatal("subscribe to kafka topics", e))?;
        tracing::info!(
            group = %config.group_id,
            topics = topics.len(),
            "kafka source subscribed"
        );
        let consumer = Arc::new(consumer);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(refresh_lag(
                Arc::downgrade(&consumer),
                state.clone(),
                config.stats_interval,
                config.auto_offset_reset == "earliest",
            ));
            let assigned = state.clone();
            handle.spawn(group::watch(
                Arc::downgrade(&consumer),
                config.group_id.clone(),
                topics.iter().map(|t| t.to_string()).collect(),
                config.topic_map.clone(),
                group.clone(),
                move || {
                    assigned
                        .lock()
                        .map(|s| s.epochs.keys().cloned().collect())
                        .unwrap_or_default()
                },
                config.stats_interval.max(GROUP_INTERVAL),
            ));
        }
        Ok(KafkaSource {
            consumer,
            state,
            config,
            pending: BTreeMap::new(),
            in_flight,
            paused: false,
            stash: VecDeque::new(),
            held: Held::Nothing,
            holding: false,
            backlog: None,
            group,
            expected: Mutex::new(HashMap::new()),
        })
    }

    /// The partitions assigned now, as `(broker topic, partition)`.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = self
            .state
            .lock()
            .map(|s| s.epochs.keys().cloned().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Lag and connectivity, read when metrics are scraped.
    pub fn gauges(&self) -> Arc<dyn SourceGauges> {
        Arc::new(KafkaGauges {
            state: self.state.clone(),
            topic_map: self.config.topic_map.clone(),
            group: self.group.clone(),
        })
    }

    /// How many revocations this member has seen.
    pub fn revocations(&self) -> u64 {
        self.state.lock().map(|s| s.revocations).unwrap_or(0)
    }

    /// With `until_end`: whether every partition's end (taken on the first call) was read by
    /// this member or committed by the group (asked at most every `stats_interval`).
    async fn backlog_done(&mut self) -> Result<bool, StoreError> {
        let op = "find the end of the kafka backlog";
        if self.backlog.is_none() {
            let consumer = self.consumer.clone();
            let topics: Vec<String> = self
                .config
                .topics
                .iter()
                .map(|t| self.config.topic_map.to_broker(t).to_string())
                .collect();
            let ends = match tokio::task::spawn_blocking(move || backlog_ends(&consumer, &topics))
                .await
                .map_err(|e| StoreError::fatal(op, e))?
            {
                Ok(ends) => ends,
                Err(e) => {
                    // Asked again on the next read.
                    tracing::warn!(error = %self.config.client.describe(&e), "{op}");
                    return Ok(false);
                }
            };
            tracing::info!(
                partitions = ends.len(),
                messages_at_most = ends.values().sum::<i64>(),
                "initial load: reading the backlog up to the partitions' current ends"
            );
            self.backlog = Some(Backlog {
                left: ends,
                asked: None,
            });
        }
        let Some(backlog) = &mut self.backlog else {
            return Ok(false);
        };
        if backlog.left.is_empty() {
            return Ok(true);
        }
        if backlog
            .asked
            .is_some_and(|t| t.elapsed() < self.config.stats_interval)
        {
            return Ok(false);
        }
        backlog.asked = Some(Instant::now());
        // Assigned partitions: the consumer's position also skips offsets that are not
        // messages (transaction markers).
        if let Ok(positions) = self.consumer.position() {
            for e in positions.elements() {
                if let Offset::Offset(next) = e.offset() {
                    backlog.reached(&(e.topic().to_string(), e.partition()), next);
                }
            }
        }
        if backlog.left.is_empty() {
            return Ok(true);
        }
        // Partitions other members own, or that this one owned before a restart.
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in backlog.left.keys() {
            tpl.add_partition(topic, *partition);
        }
        let consumer = self.consumer.clone();
        let committed = tokio::task::spawn_blocking(move || {
            consumer.committed_offsets(tpl, Duration::from_secs(10))
        })
        .await
        .map_err(|e| StoreError::fatal(op, e))?;
        // Not known now: asked again later.
        if let Ok(committed) = committed {
            for e in committed.elements() {
                if let Offset::Offset(next) = e.offset() {
                    backlog.reached(&(e.topic().to_string(), e.partition()), next);
                }
            }
        }
        Ok(backlog.left.is_empty())
    }

    /// The assigned partitions as a list for pause and resume.
    fn assigned_list(&self) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in self.assignment() {
            tpl.add_partition(&topic, partition);
        }
        tpl
    }

    /// Whether messages of `broker_topic` are held by the pause state.
    fn is_held(&self, broker_topic: &str) -> bool {
        self.held.holds(self.config.topic_map.to_plan(broker_topic))
    }

    /// Pauses the assigned partitions that are held and resumes the others (when something
    /// was held before), so a pause or resume takes effect on the next read.
    fn apply_hold(&mut self) {
        if self.held == Held::Nothing && !self.holding {
            return;
        }
        let mut held = TopicPartitionList::new();
        let mut free = TopicPartitionList::new();
        for (topic, partition) in self.assignment() {
            if self.is_held(&topic) {
                held.add_partition(&topic, partition);
            } else {
                free.add_partition(&topic, partition);
            }
        }
        if held.count() > 0 {
            if let Err(e) = self.consumer.pause(&held) {
                tracing::warn!(error = %e, "held kafka partitions not paused");
            }
        }
        if free.count() > 0 {
            if let Err(e) = self.consumer.resume(&free) {
                tracing::warn!(error = %e, "released kafka partitions not resumed");
            }
        }
        self.holding = self.held != Held::Nothing;
    }

    fn epoch_of(&self, topic: &str, partition: i32) -> Option<u64> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.epochs.get(&(topic.to_string(), partition)).copied())
    }

    /// A received message with its partition and the partition's epoch, read after the
    /// rebalance callbacks that ran inside `recv`.
    fn received(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Stashed {
        let key = (m.topic().to_string(), m.partition());
        let epoch = self.epoch_of(&key.0, key.1).unwrap_or(0);
        self.note_read(&key, epoch, m.offset());
        (key, epoch, self.convert(m))
    }

    /// Notes that `offset` of partition `key` was received in assignment `epoch`: a jump over
    /// offsets since the previous message of the same assignment is handed to the group
    /// watcher, which tells a retention loss from compaction at its next ask
    /// ([`GroupState::skipped`]). The first message of an assignment is not compared: a
    /// committed offset overtaken by retention is found at assignment.
    fn note_read(&self, key: &(String, i32), epoch: u64, offset: i64) {
        let Ok(mut expected) = self.expected.lock() else {
            return;
        };
        let next = offset + 1;
        let Some(entry) = expected.get_mut(key) else {
            expected.insert(key.clone(), (epoch, next));
            return;
        };
        let (was_epoch, was_next) = std::mem::replace(entry, (epoch, next));
        if was_epoch == epoch && offset > was_next {
            if let Ok(mut g) = self.group.lock() {
                g.skipped(key, was_next, offset, std::time::Instant::now());
            }
        }
    }

    fn convert(&self, m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
        message_of(&self.config.topic_map, m)
    }
}

/// The message of a received Kafka message, its topic named as the plan names it.
pub(crate) fn message_of(
    topic_map: &TopicMap,
    m: &rdkafka::message::BorrowedMessage<'_>,
) -> Message {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Message {
        topic: topic_map.to_plan(m.topic()).to_string(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers,
        timestamp: m.timestamp().to_millis(),
    }
}

#[async_trait]
impl Source for KafkaSource {
    async fn next_batch(&mut self, max: usize) -> Result<Option<SourceBatch>, StoreError> {
        if self.config.until_end && self.backlog_done().await? {
            tracing::info!("the backlog as of the start is read: the source ends");
            return Ok(None);
        }
        if self.paused {
            self.paused = false;
            if let Err(e) = self.consumer.resume(&self.assigned_list()) {
                tracing::warn!(error = %e, "kafka partitions not resumed");
            }
        }
        self.apply_hold();
        let deadline = Instant::now() + self.config.linger;
        // Each item with its (broker topic, partition) and that partition's epoch when read.
        let mut read: Vec<((String, i32), u64, Message)> = Vec::new();
        let mut still_held = VecDeque::new();
        while read.len() < max.max(1) {
            let Some(stashed) = self.stash.pop_front() else {
                break;
            };
            if self.is_held(&stashed.0 .0) {
                still_held.push_back(stashed);
            } else {
                read.push(stashed);
            }
        }
        still_held.append(&mut self.stash);
        self.stash = still_held;
        while read.len() < max.max(1) {
            let received = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => break,
                Ok(r) => r,
            };
            match received {
                Ok(m) if self.is_held(m.topic()) => {
                    let stashed = self.received(&m);
                    self.stash.push_back(stashed);
                }
                Ok(m) => read.push(self.received(&m)),
                Err(e) if is_fatal(&e) => {
                    return Err(StoreError::fatal(
                        "consume from kafka",
                        self.config.client.describe(&e),
                    ))
                }
                Err(e) => {
                    // librdkafka recovers from transport and leader errors by itself.
                    tracing::warn!(error = %self.config.client.describe(&e), "kafka consumer error");
                    break;
                }
            }
        }
        // A partition revoked (even if assigned again) since its messages were read belongs to
        // its next owner: they are left out, and its position is not acknowledged.
        let before = read.len();
        read.retain(|(key, epoch, _)| self.epoch_of(&key.0, key.1) == Some(*epoch));
        if read.len() < before {
            tracing::info!(
                messages = before - read.len(),
                "messages of revoked kafka partitions left out of the batch"
            );
        }
        // Per (broker topic, partition): (epoch at read time, next offset).
        let mut reached: BTreeMap<(String, i32), (u64, i64)> = BTreeMap::new();
        let mut items = Vec::with_capacity(read.len());
        for (key, epoch, message) in read {
            let next = message.offset + 1;
            if let Some(b) = &mut self.backlog {
                b.reached(&key, next);
            }
            let entry = reached.entry(key).or_insert((epoch, next));
            *entry = (epoch, entry.1.max(next));
            items.push(SourceItem::Message(message));
        }
        if !items.is_empty() {
            tracing::debug!(
                messages = items.len(),
                partitions = reached.len(),
                "kafka batch read"
            );
        }
        let positions = reached
            .into_iter()
            .map(|((t, p), (epoch, next))| (stream_name(&t, p, epoch), next))
            .collect();
        Ok(Some(SourceBatch {
            items,
            ack: Ack { positions },
        }))
    }

    fn track_in_flight(&mut self, in_flight: Arc<InFlight>) {
        let _ = self.in_flight.set(in_flight);
    }

    fn hold(&mut self, held: Held) {
        self.held = held;
    }

    async fn keep_alive(&mut self) -> Result<(), StoreError> {
        // Partitions assigned since the last call are paused too.
        let assigned = self.assigned_list();
        if assigned.count() > 0 {
            if let Err(e) = self.consumer.pause(&assigned) {
                tracing::warn!(error = %e, "kafka partitions not paused");
            }
            self.paused = true;
        }
        // Polling serves the group's heartbeats, rebalances and statistics.
        match tokio::time::timeout(KEEP_ALIVE_POLL, self.consumer.recv()).await {
            Ok(Ok(m)) => {
                let stashed = self.received(&m);
                self.stash.push_back(stashed);
            }
            Ok(Err(e)) if is_fatal(&e) => {
                return Err(StoreError::fatal(
                    "consume from kafka",
                    self.config.client.describe(&e),
                ))
            }
            Ok(Err(_)) | Err(_) => {}
        }
        Ok(())
    }

    async fn commit(&mut self, ack: &Ack) -> Result<(), StoreError> {
        let mut dropped = 0usize;
        for (stream, next) in &ack.positions {
            let Some((topic, partition, epoch)) = parse_stream(stream) else {
                return Err(StoreError::fatal(
                    "commit kafka offsets",
                    "an ack position that this source did not make",
                ));
            };
            if self.epoch_of(&topic, partition) != Some(epoch) {
                dropped += 1;
                continue;
            }
            let slot = self.pending.entry((topic, partition)).or_insert(*next);
            *slot = (*slot).max(*next);
        }
        if dropped > 0 {
            tracing::info!(
                dropped,
                "positions of revoked kafka partitions not committed"
            );
        }
        // Positions of partitions revoked while their commit was pending are dropped too.
        let assigned: Vec<(String, i32)> = self.assignment();
        self.pending.retain(|k, _| assigned.contains(k));
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &self.pending {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| StoreError::fatal("commit kafka offsets", e))?;
        }
        let consumer = self.consumer.clone();
        let partitions = tpl.count();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| StoreError::fatal("commit kafka offsets", e))?;
        tracing::debug!(
            partitions,
            ok = result.is_ok(),
            micros = started.elapsed().as_micros() as u64,
            "kafka offsets committed"
        );
        match result {
            Ok(()) => {
                if let Ok(mut s) = self.state.lock() {
                    for (k, next) in &self.pending {
                        s.committed.insert(k.clone(), *next);
                    }
                }
                self.pending.clear();
                Ok(())
            }
            Err(e) if is_fatal(&e) => Err(StoreError::fatal(
                "commit kafka offsets",
                self.config.client.describe(&e),
            )),
            Err(e) => {
                tracing::warn!(
                    error = %self.config.client.describe(&e),
                    "kafka offset commit failed; retried with the next commit"
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_round_trip_through_dotted_topics() {
        let s = stream_name("crm.orders-v2_x", 7, 42);
        assert_eq!(parse_stream(&s), Some(("crm.orders-v2_x".into(), 7, 42)));
        assert_eq!(parse_stream("file:/x"), None);
        assert_eq!(parse_stream("t:x:1"), None);
    }

    #[test]
    fn a_source_needs_topics() {
        let cfg = KafkaSourceConfig::new(KafkaClientConfig::new("127.0.0.1:1"), "g", vec![]);
        let err = KafkaSource::connect(cfg).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no ingestion topic")));
    }
}
