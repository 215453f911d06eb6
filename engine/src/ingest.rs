//! The router (decode + cast; not the `ingest` role of split processes): from a raw
//! [`Message`] to one [`MessageOutcome`] per projection bound to the message's topic.
//!
//! In: a [`Plan`] (prepared once into a [`Router`]: topics indexed, casts compiled, functions
//! resolved) and, per message, the message. Out: for each projection reading the topic, in plan
//! order, typed [`Change`]s, a skip, or a dead letter with the reason; a message on a topic no
//! projection reads gives one dead letter with no projection.
//!
//! Guarantees:
//! - the value is parsed once however many projections share the topic (the key and headers
//!   only when a decoder needs them), keeping only what some projection of the topic reads
//!   (the rest is syntax-checked and skipped); row images are borrowed, only declared fields
//!   are copied;
//! - a primary-key change (before and after keys differ) becomes a delete of the old key then
//!   an upsert of the new key;
//! - an upsert whose message key names its record (`basic`, Debezium: [`Decoded::named_key`])
//!   is applied only when each primary-key field the key holds, cast like the row's field,
//!   equals the after image's; otherwise it is dead-lettered naming the key fields that differ;
//! - a before image that does not cast is dropped, not fatal (the projection writer then reads
//!   the stored record as the old image); everything else that fails dead-letters the message;
//! - reasons name the format, the image, fields and types, never values;
//! - with a clock skew ([`Router::with_max_clock_skew`]), a change whose version is a time
//!   (not a log position) further ahead of the clock than the skew is dead-lettered.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdc_plan::{Format, Plan};

use crate::cast::{CastError, CompiledProjection, PrepareError};
use crate::change::{Change, Message, MessageOutcome, Op, Origin};
use crate::decode::shape::Shape;
use crate::decode::{self, Decode, Decoded, Operation, ParsedMessage};
use crate::drift::{BatchDrift, DriftColumns};
use crate::value::{Map, Value};

/// One projection as the router sees it.
#[derive(Debug, Clone)]
struct ProjectionRoute {
    cast: CompiledProjection,
    format: Format,
    /// What its row images are compared with (source drift).
    drift: DriftColumns,
}

/// The projections of one topic and what their decoders read of a message.
#[derive(Debug, Clone)]
struct Topic {
    /// Indexes into `Router::routes`, in plan order.
    projections: Vec<usize>,
    /// The union of what the projections need of the value and of the key.
    value_shape: Shape,
    key_shape: Shape,
}

/// Routes messages to the projections of a plan. Build once per plan.
#[derive(Debug, Clone)]
pub struct Router {
    topics: HashMap<String, Topic>,
    routes: Vec<ProjectionRoute>,
    /// How far ahead of the clock a version that is a time may be, in milliseconds (`None`:
    /// not checked).
    max_clock_skew_ms: Option<u64>,
}

/// The bound a timed version must not pass, with the skew it came from (for the reason).
#[derive(Debug, Clone, Copy)]
struct Horizon {
    limit_ms: u128,
    skew_ms: u64,
}

impl Router {
    /// Prepares every projection of `plan`.
    pub fn new(plan: &Plan) -> Result<Router, PrepareError> {
        let mut topics: HashMap<String, Topic> = HashMap::new();
        let mut routes = Vec::with_capacity(plan.projections.len());
        for (index, projection) in plan.projections.iter().enumerate() {
            let cast = CompiledProjection::new(index, projection)?;
            let (value_shape, key_shape) = decode::shapes(&projection.format, &cast.row_shape());
            let topic = topics
                .entry(projection.topic.clone())
                .or_insert_with(|| Topic {
                    projections: Vec::new(),
                    value_shape: Shape::nothing(),
                    key_shape: Shape::nothing(),
                });
            topic.projections.push(index);
            topic.value_shape.merge(&value_shape);
            topic.key_shape.merge(&key_shape);
            routes.push(ProjectionRoute {
                cast,
                format: projection.format.clone(),
                drift: DriftColumns::of(projection),
            });
        }
        Ok(Router {
            topics,
            routes,
            max_clock_skew_ms: None,
        })
    }

    /// Dead-letters a change whose version is a time (the `basic` Kafka timestamp, Debezium
    /// `ts_ms`; not a log position) more than `skew` ahead of this process's clock: applied,
    /// such a version would make every later change of its record stale. `None` (the default
    /// of [`Router::new`], for deterministic tests) checks nothing.
    pub fn with_max_clock_skew(mut self, skew: Option<Duration>) -> Router {
        self.max_clock_skew_ms = skew.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// Whether some projection reads `topic`.
    pub fn reads(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// The compiled cast of projection `index` (as numbered in the plan).
    pub fn projection(&self, index: usize) -> Option<&CompiledProjection> {
        self.routes.get(index).map(|r| &r.cast)
    }

    /// Decodes and casts `message` for every projection bound to its topic.
    pub fn route(&self, message: &Message) -> Vec<MessageOutcome> {
        self.route_observed(message, None)
    }

    /// [`Router::route`], counting the message's source drift into `drift` when given.
    pub fn route_observed(
        &self,
        message: &Message,
        drift: Option<&mut BatchDrift>,
    ) -> Vec<MessageOutcome> {
        let now_ms = self.max_clock_skew_ms.map(|_| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
        });
        self.route_at_observed(message, now_ms.unwrap_or(0), drift)
    }

    /// [`Router::route`] with the clock reading `now_ms` (epoch milliseconds).
    pub fn route_at(&self, message: &Message, now_ms: u128) -> Vec<MessageOutcome> {
        self.route_at_observed(message, now_ms, None)
    }

    /// [`Router::route_at`], counting the message's source drift into `drift` when given.
    pub fn route_at_observed(
        &self,
        message: &Message,
        now_ms: u128,
        drift: Option<&mut BatchDrift>,
    ) -> Vec<MessageOutcome> {
        let Some(topic) = self.topics.get(&message.topic) else {
            return vec![MessageOutcome::DeadLetter {
                projection: None,
                reason: format!(
                    "no projection reads topic `{}`",
                    crate::bounded::name(&message.topic)
                ),
            }];
        };
        let parsed = ParsedMessage::with_shapes(message, &topic.value_shape, &topic.key_shape);
        self.route_parsed(topic, &parsed, now_ms, drift)
    }

    fn route_parsed(
        &self,
        topic: &Topic,
        parsed: &ParsedMessage<'_>,
        now_ms: u128,
        mut drift: Option<&mut BatchDrift>,
    ) -> Vec<MessageOutcome> {
        let horizon = self.max_clock_skew_ms.map(|skew_ms| Horizon {
            limit_ms: now_ms.saturating_add(u128::from(skew_ms)),
            skew_ms,
        });
        topic
            .projections
            .iter()
            .map(|&i| decode_and_cast(&self.routes[i], parsed, horizon, drift.as_deref_mut()))
            .collect()
    }
}

fn decode_and_cast(
    route: &ProjectionRoute,
    parsed: &ParsedMessage<'_>,
    horizon: Option<Horizon>,
    drift: Option<&mut BatchDrift>,
) -> MessageOutcome {
    let projection = route.cast.index;
    let decoded = decode::decode(&route.format, parsed);
    if let (Some(drift), Ok(Decode::Change(d))) = (drift, &decoded) {
        drift.observe(projection, &route.drift, d, parsed.skipped_columns());
    }
    match decoded {
        Err(e) => MessageOutcome::DeadLetter {
            projection: Some(projection),
            reason: e.to_string(),
        },
        Ok(Decode::Skip(reason)) => MessageOutcome::Skipped { projection, reason },
        Ok(Decode::Change(d)) if d.timed && horizon.is_some_and(|h| d.version.0 > h.limit_ms) => {
            let skew = horizon.map_or(0, |h| h.skew_ms);
            MessageOutcome::DeadLetter {
                projection: Some(projection),
                reason: format!(
                    "{}: the version (a timestamp) is more than {skew} ms ahead of the clock \
                     (ingest.max_clock_skew_ms); applied, it would make every later change \
                     of the record stale",
                    route.format.name()
                ),
            }
        }
        Ok(Decode::Change(d)) => match changes(
            route,
            d,
            parsed.message,
            decode::source_time::source_ms(&route.format, parsed),
        ) {
            Ok(changes) => MessageOutcome::Changes(changes),
            Err(reason) => MessageOutcome::DeadLetter {
                projection: Some(projection),
                reason,
            },
        },
    }
}

/// Casts a decoded change into the projection's changes, or gives the dead-letter reason.
fn changes(
    route: &ProjectionRoute,
    d: Decoded<'_>,
    message: &Message,
    source_ms: Option<i64>,
) -> Result<Vec<Change>, String> {
    let cast = &route.cast;
    let format = route.format.name();
    let fail = |image: &str, e: CastError| format!("{format}: {image}: {e}");
    let change = |op, key, before, after| Change {
        projection: cast.index,
        op,
        key,
        before,
        after,
        version: d.version,
        origin: Origin {
            source_ms,
            ..Origin::of(message)
        },
    };
    // A before image that fails to cast is dropped (the writer reads the stored record).
    let before: Option<Map> = d.before.and_then(|b| cast.cast_row(b).ok());
    match d.operation {
        Operation::Delete => {
            let key = match (&before, d.before, d.key) {
                (Some(record), _, _) => cast.key_of(record).map_err(|e| fail("before image", e))?,
                (None, Some(b), _) => cast.cast_key(b).map_err(|e| fail("before image", e))?,
                (None, None, Some(k)) => cast.cast_key(k).map_err(|e| fail("message key", e))?,
                (None, None, None) => {
                    return Err(format!("{format}: a delete without a before image or key"))
                }
            };
            Ok(vec![change(Op::Delete, key, before, None)])
        }
        Operation::Upsert => {
            let Some(after_image) = d.after else {
                return Err(format!("{format}: an upsert without an after image"));
            };
            let after = cast
                .cast_row(after_image)
                .map_err(|e| fail("after image", e))?;
            let key = cast.key_of(&after).map_err(|e| fail("after image", e))?;
            let old_key = match (&before, d.before) {
                (Some(record), _) => cast.key_of(record).ok(),
                (None, Some(b)) => cast.cast_key(b).ok(),
                (None, None) => None,
            };
            if let Some(named) = d.named_key {
                // The message key names the record (basic, Debezium): cast like the row's key
                // fields, it must be the row's key, or the row would overwrite another record.
                // Only the key fields the message key holds are compared (see
                // `cast_key_fields_held`).
                let held = cast
                    .cast_key_fields_held(named)
                    .map_err(|e| fail("message key", e))?;
                let names: Vec<&str> = cast.key_fields().collect();
                let names_key = |k: &[Value]| held.iter().all(|(p, v)| k.get(*p) == Some(v));
                let differ: Vec<String> = held
                    .iter()
                    .filter(|(position, v)| key.get(*position) != Some(v))
                    .filter_map(|(position, _)| names.get(*position))
                    .map(|f| format!("`{f}`"))
                    .collect();
                // A key change keyed by the old key (the before image's) names the record too.
                let names_old = old_key.as_deref().is_some_and(names_key);
                if !differ.is_empty() && !names_old {
                    return Err(format!(
                        "{format}: the message key names another record than the after image \
                         (key field {} differs)",
                        differ.join(", ")
                    ));
                }
            }
            match old_key {
                Some(old) if old != key => Ok(vec![
                    change(Op::Delete, old, before, None),
                    change(Op::Upsert, key, None, Some(after)),
                ]),
                _ => Ok(vec![change(Op::Upsert, key, before, Some(after))]),
            }
        }
    }
}

#[cfg(test)]
mod tests;
