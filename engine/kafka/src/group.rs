//! The whole consumer group as the broker sees it: every partition of the pipeline's topics
//! with the group's committed offset, its end, its lag and its owner; and the partitions whose
//! committed position retention has overtaken.
//!
//! In: a consumer (any client of the cluster; the group id is its own), the broker topics,
//! and the jumps in offsets this member read ([`GroupState::skipped`]).
//! Out: a [`GroupLag`] (asked every few seconds by [`watch`], off the read path) and the
//! [`RetentionLoss`] of each partition whose messages retention deleted before they were read:
//! at assignment, a committed offset below the earliest retained one
//! ([`retention_overtaken`]); while reading, a jump over offsets that the next ask finds below
//! the earliest retained one (the consumer's position was out of range and librdkafka reset
//! it, e.g. under a long pause; [`GroupState::settle_gaps`]). A jump still above the earliest
//! offset is compaction or a transaction marker, not a loss, and is forgotten.
//!
//! Guarantees: only metadata, offsets, watermarks and the group's member list are read, never
//! messages; a failed ask leaves the last answer in place (logged at debug level); owners come
//! from the members' assignments (decoded from the consumer protocol, [`decode_assignment`]),
//! so a member killed without leaving still owns its partitions until its session times out:
//! such partitions show as stalled (their committed offset does not move while messages
//! wait).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use fdc_core::source::{GroupLag, GroupPartition, RetentionLoss};

use super::config::TopicMap;

/// Longest wait of each broker request of a group ask.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// A partition whose committed offset has not moved for this long while messages wait is
/// reported stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// Reads a big-endian consumer-protocol structure.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        self.take(2)
            .and_then(|b| b.try_into().ok())
            .map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
    }
}

/// The `(topic, partition)`s of a member's assignment in the consumer protocol
/// (`ConsumerProtocolAssignment`: version, then per topic its name and partitions; the user
/// data after them is ignored). `None` when the bytes are not one.
pub fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut r = Reader { bytes };
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(r.i16()?).ok()?;
        let name = std::str::from_utf8(r.take(len)?).ok()?.to_string();
        let partitions = r.i32()?;
        for _ in 0..partitions.max(0) {
            out.push((name.clone(), r.i32()?));
        }
    }
    Some(out)
}

/// What the watcher keeps between asks.
#[derive(Debug, Default)]
pub(crate) struct GroupState {
    /// The last answer.
    pub(crate) last: Option<GroupLag>,
    /// Per (broker topic, partition): the committed offset last seen and since when.
    seen: BTreeMap<(String, i32), (Option<i64>, Instant)>,
    /// Per (broker topic, partition): what retention took, and the committed offset of the
    /// last detection (a partition assigned again before a commit is not counted twice).
    pub(crate) lost: BTreeMap<(String, i32), RetentionLoss>,
    /// Jumps in the offsets this member read, not judged yet (at most [`MAX_GAPS`]).
    gaps: Vec<Gap>,
}

/// At most this many unjudged jumps are kept between two asks (a compacted topic can jump at
/// every message); later ones are dropped until the next ask (a reset by retention is one
/// jump per partition, and the first ones are kept).
pub(crate) const MAX_GAPS: usize = 4096;

/// Offsets `from..to` of a partition that a member reading it did not receive, seen at `at`.
#[derive(Debug, Clone)]
struct Gap {
    key: (String, i32),
    from: i64,
    to: i64,
    at: Instant,
}

impl GroupState {
    /// This member read `to` on partition `key` right after `from - 1` in the same assignment:
    /// offsets `from..to` were not delivered.
    pub(crate) fn skipped(&mut self, key: &(String, i32), from: i64, to: i64, at: Instant) {
        if to > from && self.gaps.len() < MAX_GAPS {
            self.gaps.push(Gap {
                key: key.clone(),
                from,
                to,
                at,
            });
        }
    }

    /// Judges the jumps seen before `asked_at` against the earliest offsets asked then
    /// (`earliest`: per broker partition): the part of a jump below the earliest retained
    /// offset was deleted by retention before it was read (counted, logged); the rest of the
    /// jump, and jumps above it, are compaction or transaction markers (forgotten). Jumps seen
    /// after `asked_at` wait for the next ask (an earliest offset asked before the deletion
    /// could not tell).
    pub(crate) fn settle_gaps(
        &mut self,
        earliest: &BTreeMap<(String, i32), i64>,
        asked_at: Instant,
        topic_map: &TopicMap,
        now_ms: i64,
    ) {
        let (judged, later): (Vec<Gap>, Vec<Gap>) = std::mem::take(&mut self.gaps)
            .into_iter()
            .partition(|g| g.at <= asked_at);
        self.gaps = later;
        for gap in judged {
            let Some(&low) = earliest.get(&gap.key) else {
                continue;
            };
            let lost = gap.to.min(low) - gap.from;
            if lost <= 0 {
                continue;
            }
            let loss = self
                .lost
                .entry(gap.key.clone())
                .or_insert_with(|| RetentionLoss {
                    topic: topic_map.to_plan(&gap.key.0).to_string(),
                    partition: gap.key.1,
                    messages: 0,
                    committed: -1,
                    earliest: low,
                    detected_ms: 0,
                });
            loss.messages += lost;
            loss.committed = gap.from;
            loss.earliest = low;
            loss.detected_ms = now_ms;
            tracing::warn!(
                topic = %loss.topic,
                partition = loss.partition,
                position = gap.from,
                earliest = low,
                skipped = lost,
                "retention deleted messages this member had not read yet (its position was \
                 reset to the earliest retained offset); single views may miss changes (run \
                 `fdc refresh`)"
            );
        }
    }
}

/// A partition's offsets as asked: (broker topic, partition), committed, earliest, end.
pub(crate) type Offsets = ((String, i32), Option<i64>, i64, i64);

/// One ask's raw answer, before owners and stalls are named.
struct Asked {
    state: String,
    members: usize,
    /// Per (broker topic, partition): committed, earliest, end.
    offsets: Vec<Offsets>,
    /// Per (broker topic, partition): the owner's member id and host.
    owners: BTreeMap<(String, i32), (String, String)>,
}

/// The consumer's group's committed offset and the earliest and end offsets of every
/// partition of `tpl`: the committed offsets in one request, the earliest and the end in one
/// request per broker each (the special times `Beginning` and `End`), not two requests per
/// partition. A partition the broker gave no offsets for is left out.
pub(crate) fn partition_offsets<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    tpl: &TopicPartitionList,
) -> KafkaResult<Vec<Offsets>> {
    let committed = consumer.committed_offsets(tpl.clone(), ASK_TIMEOUT)?;
    let mut ends = [Offset::Beginning, Offset::End].map(|_| BTreeMap::new());
    for (i, at) in [Offset::Beginning, Offset::End].into_iter().enumerate() {
        let mut asked = tpl.clone();
        asked.set_all_offsets(at)?;
        for e in consumer.offsets_for_times(asked, ASK_TIMEOUT)?.elements() {
            if let (Offset::Offset(n), Some(map)) = (e.offset(), ends.get_mut(i)) {
                map.insert((e.topic().to_string(), e.partition()), n);
            }
        }
    }
    let [low, high] = ends;
    let mut offsets = Vec::new();
    for e in committed.elements() {
        let key = (e.topic().to_string(), e.partition());
        let (Some(low), Some(high)) = (low.get(&key), high.get(&key)) else {
            continue;
        };
        let committed = match e.offset() {
            Offset::Offset(n) if n >= 0 => Some(n),
            _ => None,
        };
        offsets.push((key, committed, *low, *high));
    }
    Ok(offsets)
}

fn ask<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    group: &str,
    topics: &[String],
) -> KafkaResult<Asked> {
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), ASK_TIMEOUT)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let offsets = partition_offsets(consumer, &tpl)?;
    let list = consumer.fetch_group_list(Some(group), ASK_TIMEOUT)?;
    let mut owners = BTreeMap::new();
    let (mut state, mut members) = ("Dead".to_string(), 0);
    if let Some(g) = list.groups().iter().find(|g| g.name() == group) {
        state = g.state().to_string();
        members = g.members().len();
        for m in g.members() {
            let host = m.client_host().trim_start_matches('/').to_string();
            for tp in m
                .assignment()
                .and_then(decode_assignment)
                .unwrap_or_default()
            {
                owners.insert(tp, (m.id().to_string(), host.clone()));
            }
        }
    }
    Ok(Asked {
        state,
        members,
        offsets,
        owners,
    })
}

/// Names owners and stalls of an ask at `now` (`mine`: this member's partitions).
fn name(
    group: &str,
    asked: Asked,
    seen: &mut BTreeMap<(String, i32), (Option<i64>, Instant)>,
    mine: &BTreeSet<(String, i32)>,
    topic_map: &TopicMap,
    now: Instant,
    now_ms: i64,
) -> GroupLag {
    let mut partitions = Vec::new();
    for (key, committed, low, end) in asked.offsets {
        let lag = (end - committed.unwrap_or(low).max(low)).max(0);
        let since = match seen.get(&key) {
            Some((c, since)) if *c == committed => *since,
            _ => now,
        };
        seen.insert(key.clone(), (committed, since));
        let still = now.saturating_duration_since(since);
        let owner = asked.owners.get(&key);
        partitions.push(GroupPartition {
            topic: topic_map.to_plan(&key.0).to_string(),
            partition: key.1,
            committed,
            end,
            lag,
            owner: owner.map(|(id, host)| format!("{id} ({host})")),
            mine: mine.contains(&key),
            stalled_seconds: (lag > 0 && still >= STALL_AFTER).then_some(still.as_secs()),
        });
    }
    GroupLag {
        group: group.to_string(),
        state: asked.state,
        members: asked.members,
        as_of_ms: now_ms,
        partitions,
    }
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Asks the group's lag every `interval` (off the read path, on a blocking thread) until the
/// consumer is dropped; `mine` tells this member's partitions.
pub(crate) async fn watch<C, K>(
    consumer: Weak<K>,
    group: String,
    topics: Vec<String>,
    topic_map: TopicMap,
    state: Arc<Mutex<GroupState>>,
    mine: impl Fn() -> BTreeSet<(String, i32)> + Send + Sync + 'static,
    interval: Duration,
) where
    C: ConsumerContext + 'static,
    K: Consumer<C> + Send + Sync + 'static,
{
    let mine = Arc::new(mine);
    loop {
        let Some(c) = consumer.upgrade() else { return };
        let asked_at = Instant::now();
        let (group2, topics2, map, state2, mine2) = (
            group.clone(),
            topics.clone(),
            topic_map.clone(),
            state.clone(),
            mine.clone(),
        );
        let _ = tokio::task::spawn_blocking(move || match ask(c.as_ref(), &group2, &topics2) {
            Ok(asked) => {
                let mine = mine2();
                let earliest: BTreeMap<(String, i32), i64> = asked
                    .offsets
                    .iter()
                    .map(|(key, _, low, _)| (key.clone(), *low))
                    .collect();
                if let Ok(mut s) = state2.lock() {
                    s.settle_gaps(&earliest, asked_at, &map, epoch_ms());
                    let lag = name(
                        &group2,
                        asked,
                        &mut s.seen,
                        &mine,
                        &map,
                        Instant::now(),
                        epoch_ms(),
                    );
                    s.last = Some(lag);
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not ask the consumer group's lag"),
        })
        .await;
        tokio::time::sleep(interval).await;
    }
}

/// At assignment: compares each assigned partition's committed offset with its earliest
/// retained offset; a committed offset below it means retention deleted messages this group
/// never read (the consumer resets to `auto.offset.reset`). Records and logs each such loss.
pub(crate) fn retention_overtaken<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    assigned: &TopicPartitionList,
    state: &Mutex<GroupState>,
    topic_map: &TopicMap,
) {
    let committed = match consumer.committed_offsets(assigned.clone(), ASK_TIMEOUT) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "could not read committed offsets at assignment");
            return;
        }
    };
    for e in committed.elements() {
        let Offset::Offset(committed) = e.offset() else {
            continue;
        };
        let Ok((low, _)) = consumer.fetch_watermarks(e.topic(), e.partition(), ASK_TIMEOUT) else {
            continue;
        };
        if committed < 0 || committed >= low {
            continue;
        }
        let key = (e.topic().to_string(), e.partition());
        let Ok(mut s) = state.lock() else { return };
        let loss = s.lost.entry(key).or_insert_with(|| RetentionLoss {
            topic: topic_map.to_plan(e.topic()).to_string(),
            partition: e.partition(),
            messages: 0,
            committed: -1,
            earliest: low,
            detected_ms: 0,
        });
        if loss.committed == committed {
            continue;
        }
        loss.messages += low - committed;
        loss.committed = committed;
        loss.earliest = low;
        loss.detected_ms = epoch_ms();
        tracing::warn!(
            topic = %loss.topic,
            partition = loss.partition,
            committed,
            earliest = low,
            skipped = low - committed,
            "the committed position was overtaken by retention: messages were deleted before \
             they were read; single views may miss changes (run `fdc refresh`)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1i16.to_be_bytes());
        b.extend((topics.len() as i32).to_be_bytes());
        for (name, partitions) in topics {
            b.extend((name.len() as i16).to_be_bytes());
            b.extend(name.as_bytes());
            b.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend(0i32.to_be_bytes()); // user data
        b
    }

    #[test]
    fn assignments_decode_and_garbage_does_not() {
        let bytes = assignment(&[("a", &[0, 2]), ("b.c", &[1])]);
        assert_eq!(
            decode_assignment(&bytes),
            Some(vec![("a".into(), 0), ("a".into(), 2), ("b.c".into(), 1)])
        );
        for cut in 0..bytes.len() - 4 {
            assert!(decode_assignment(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        // A count far beyond the bytes fails without allocating for it.
        let mut huge = 0i16.to_be_bytes().to_vec();
        huge.extend(i32::MAX.to_be_bytes());
        assert_eq!(decode_assignment(&huge), None);
        assert_eq!(decode_assignment(&[]), None);
    }

    #[test]
    fn jumps_below_the_earliest_offset_are_retention_losses_and_others_are_forgotten() {
        let key = |p| ("broker.t".to_string(), p);
        let map = TopicMap::default();
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        let mut s = GroupState::default();
        // Partition 0: read up to 9, then 40 (the position reset to the earliest, 40).
        s.skipped(&key(0), 10, 40, t0);
        // Partition 1: compaction left no message at 5..7; the earliest offset is 0.
        s.skipped(&key(1), 5, 7, t0);
        // Partition 2: a jump seen after the ask: judged by the next one.
        s.skipped(&key(2), 3, 8, later);
        // Not a jump.
        s.skipped(&key(3), 4, 4, t0);
        let earliest: BTreeMap<_, _> = [(key(0), 40), (key(1), 0), (key(2), 8), (key(3), 9)]
            .into_iter()
            .collect();
        s.settle_gaps(&earliest, t0, &map, 7);
        assert_eq!(s.lost.len(), 1, "{:?}", s.lost);
        let l = &s.lost[&key(0)];
        assert_eq!((l.messages, l.committed, l.earliest), (30, 10, 40));
        assert_eq!(
            (l.topic.as_str(), l.partition, l.detected_ms),
            ("broker.t", 0, 7)
        );
        assert_eq!(s.gaps.len(), 1, "the later jump waits");
        // The next ask judges it; retention since then took part of the jump only.
        let earliest: BTreeMap<_, _> = [(key(2), 6)].into_iter().collect();
        s.settle_gaps(&earliest, later, &map, 8);
        assert_eq!(s.lost[&key(2)].messages, 3);
        assert!(s.gaps.is_empty());
        // A second reset of partition 0 adds to its count.
        s.skipped(&key(0), 50, 70, later);
        let earliest: BTreeMap<_, _> = [(key(0), 90)].into_iter().collect();
        s.settle_gaps(&earliest, later, &map, 9);
        assert_eq!(s.lost[&key(0)].messages, 50, "30 + the 20 of the jump");
        // Bounded: jumps beyond MAX_GAPS are not kept.
        for i in 0..MAX_GAPS as i64 + 10 {
            s.skipped(&key(1), 2 * i, 2 * i + 1, later);
        }
        assert_eq!(s.gaps.len(), MAX_GAPS);
    }

    #[test]
    fn owners_lag_and_stalls_are_named() {
        let key = |p| ("broker.t".to_string(), p);
        let asked = |c0: Option<i64>| Asked {
            state: "Stable".into(),
            members: 2,
            offsets: vec![
                (key(0), c0, 0, 10),
                (key(1), None, 4, 6),
                (key(2), Some(9), 0, 9),
            ],
            owners: [(key(0), ("m-1".to_string(), "10.0.0.1".to_string()))]
                .into_iter()
                .collect(),
        };
        let map = TopicMap::default();
        let mine: BTreeSet<_> = [key(2)].into_iter().collect();
        let mut seen = BTreeMap::new();
        let t0 = Instant::now();
        let g = name("g", asked(Some(3)), &mut seen, &mine, &map, t0, 1);
        assert_eq!((g.state.as_str(), g.members), ("Stable", 2));
        let p = &g.partitions;
        assert_eq!(
            (p[0].lag, p[0].owner.as_deref()),
            (7, Some("m-1 (10.0.0.1)"))
        );
        assert_eq!(
            (p[1].lag, p[1].owner.as_deref()),
            (2, None),
            "from the earliest"
        );
        assert!(p[2].mine && p[2].lag == 0);
        assert!(p.iter().all(|p| p.stalled_seconds.is_none()));
        // The committed offset of partition 0 does not move: stalled after STALL_AFTER.
        let later = t0 + STALL_AFTER + Duration::from_secs(2);
        let g = name("g", asked(Some(3)), &mut seen, &mine, &map, later, 2);
        assert_eq!(
            g.partitions[0].stalled_seconds,
            Some(STALL_AFTER.as_secs() + 2)
        );
        assert_eq!(g.partitions[2].stalled_seconds, None, "nothing waits");
        // It moves: no longer stalled.
        let g = name("g", asked(Some(4)), &mut seen, &mine, &map, later, 3);
        assert_eq!(g.partitions[0].stalled_seconds, None);
    }
}
