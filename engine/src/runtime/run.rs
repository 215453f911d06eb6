//! The run loop: a reader task reads and routes batches ahead while the engine writes the
//! current one; positions are committed behind the durable watermark.
//!
//! In: a built [`Engine`], a [`Source`], a [`MessageRouter`], a shutdown signal. Out: the [`Summary`]
//! when the input ends or shutdown is asked for.
//!
//! Guarantees: batches are written in read order, one at a time; decode and cast of the next
//! batches (up to `read_ahead`) overlap with the writes of the current one; a batch's ack is
//! handed back to the reader (which owns the source and commits) only after the batch's
//! effects are durable, and acks are committed in order. On shutdown, reading stops, batches
//! already read are finished and committed, and the loop returns. A batch that cannot be
//! written then (a store outage: waits between retries end at once; an attempt in flight gets
//! [`RuntimeConfig::shutdown_grace`](super::RuntimeConfig::shutdown_grace)) is abandoned
//! uncommitted with the batches behind it, and the run ends with
//! [`EngineError::Interrupted`]: shutdown takes a bounded time and commits nothing past the
//! durable watermark. A batch the store refuses
//! is written again message by message (`isolate`): the messages that keep failing are
//! dead-lettered, and the run stops only when the store refuses everything.
//!
//! While the writer is behind (the read-ahead is full, e.g. a batch retried through a store
//! outage) the reader calls [`Source::keep_alive`] every [`KEEP_ALIVE`], so a consumer-group
//! member keeps its membership and reports fresh gauges. Batches handed to the writer are
//! counted in an [`InFlight`] the source can wait on before giving partitions up.
//!
//! With a pause state ([`Engine::with_pause`]) the reader hands the source what to hold
//! ([`Source::hold`]: the topics of paused projections, or everything while the whole process
//! is paused) whenever the state changes, and the writer, between batches, rebuilds the kept
//! triggers of resumed single views (one chunk at a time, committed like a batch).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::retry::Stop;
use super::{Engine, EngineError, Halt, MessageRouter, RoutedBatch, Summary};
use crate::source::{Ack, InFlight, Source, KEEP_ALIVE};
use crate::store::StoreError;

/// A graceful-shutdown trigger. Keep it alive for as long as the run should go on.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(watch::channel(false).0)
    }
}

impl Shutdown {
    /// A trigger not yet pulled.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks the run to stop after the batches already read.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// A receiver for [`run`].
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Runs `engine` over `source` until the input ends or `shutdown` is triggered.
pub async fn run<S: Source + 'static>(
    engine: Arc<Engine>,
    mut source: S,
    router: Arc<dyn MessageRouter>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Summary, EngineError> {
    let batch_size = engine.config().batch_size.max(1);
    let (batch_tx, mut batch_rx) =
        mpsc::channel::<(RoutedBatch, Ack)>(engine.config().read_ahead.max(1));
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Ack>();

    let mut stop = Stop::new(shutdown.clone(), engine.config().shutdown_grace);
    let counters = engine.counters().clone();
    counters.health().started();
    let reader_counters = counters.clone();
    let in_flight = Arc::new(InFlight::default());
    source.track_in_flight(in_flight.clone());
    let reader_in_flight = in_flight.clone();
    let mut pause = engine.pause().map(|p| (p.subscribe(), p.plan().clone()));
    let role = engine.role();
    let reader = tokio::spawn(async move {
        let mut watching = true;
        let mut held = crate::source::Held::Nothing;
        loop {
            while let Ok(ack) = ack_rx.try_recv() {
                source.commit(&ack).await?;
            }
            if let Some((state, plan)) = &mut pause {
                let now = state.borrow_and_update().held(plan, role);
                if now != held {
                    tracing::info!(held = ?now, "input held by the pause state");
                    held = now;
                    source.hold(held.clone());
                }
            }
            if *shutdown.borrow() {
                reader_counters.health().stopping();
                break;
            }
            let next = if watching {
                tokio::select! {
                    r = source.next_batch(batch_size) => r?,
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            // The trigger was dropped: shutdown can no longer be asked for.
                            watching = false;
                        }
                        continue;
                    }
                }
            } else {
                source.next_batch(batch_size).await?
            };
            let Some(batch) = next else { break };
            if batch.items.is_empty() && batch.ack.positions.is_empty() {
                continue;
            }
            // Even an empty batch that moves positions goes through the writer, so that its
            // ack is committed in order, behind every batch read before it.
            let routed = RoutedBatch::route(batch.items, router.as_ref());
            // Wait for room in the read-ahead, keeping the source alive meanwhile.
            let permit = loop {
                tokio::select! {
                    permit = batch_tx.reserve() => break permit.ok(),
                    () = tokio::time::sleep(KEEP_ALIVE) => source.keep_alive().await?,
                }
            };
            let Some(permit) = permit else { break };
            reader_in_flight.started();
            permit.send((routed, batch.ack));
        }
        drop(batch_tx);
        while let Some(ack) = ack_rx.recv().await {
            source.commit(&ack).await?;
        }
        Ok::<(), StoreError>(())
    });

    let mut failure: Option<EngineError> = None;
    // Messages refused by the store in a row (see `isolate`).
    let mut refused_streak = 0u32;
    let mut drain = engine
        .drains()
        .then(|| engine.pause().map(|p| p.subscribe()))
        .flatten();
    loop {
        let next = match &mut drain {
            Some(state) => tokio::select! {
                biased;
                // The guard of the state ends inside: the run stays `Send`.
                wanted = async { state.wait_for(super::PauseSnapshot::drainable).await.is_ok() } => {
                    // The state's sender lives in the engine's control: it cannot be gone.
                    if !wanted {
                        break;
                    }
                    let start = Instant::now();
                    match engine.drain_pending(&mut stop).await {
                        Ok(Some(outcome)) => engine.commit(&outcome, start.elapsed().as_millis()),
                        // Nothing left to rebuild: `drain_pending` marked the views drained.
                        Ok(None) => {}
                        Err(Halt::Failed(e)) => {
                            failure = Some(e.into());
                            break;
                        }
                        Err(Halt::Interrupted(_)) => {
                            failure = Some(EngineError::Interrupted { pending: batch_rx.len() });
                            break;
                        }
                    }
                    continue;
                }
                b = batch_rx.recv() => b,
            },
            None => batch_rx.recv().await,
        };
        let Some((batch, ack)) = next else { break };
        let start = Instant::now();
        let result = engine
            .process_or_isolate(&batch, &mut refused_streak, &mut stop)
            .await;
        match result {
            Ok(outcome) => {
                let elapsed = start.elapsed();
                engine.commit(&outcome, elapsed.as_millis());
                counters.batch_durable(
                    &batch,
                    &outcome.origins,
                    outcome.counts.triggered,
                    elapsed.as_secs_f64(),
                    chrono::Utc::now().timestamp_millis(),
                );
                let sent = ack_tx.send(ack);
                in_flight.finished();
                if sent.is_err() {
                    break;
                }
            }
            Err(Halt::Failed(e)) => {
                failure = Some(e.into());
                break;
            }
            Err(Halt::Interrupted(_)) => {
                // This batch and those read ahead of it stay uncommitted.
                let pending = 1 + batch_rx.len();
                tracing::warn!(
                    pending,
                    "shutdown: abandoning batches that could not be written; they are read \
                     again on restart"
                );
                failure = Some(EngineError::Interrupted { pending });
                break;
            }
        }
    }
    in_flight.close();
    counters.health().stopping();
    drop(batch_rx);
    drop(ack_tx);
    let reader_result = reader
        .await
        .map_err(|e| EngineError::Internal(format!("the reader task died: {e}")))?;
    if let Some(e) = failure {
        return Err(e);
    }
    reader_result?;
    Ok(engine.counters().summary())
}
