//! Poison messages: a batch the store refuses (a non-retryable error, such as a unique-index
//! violation or a document the database will not hold) is written again one message at a
//! time, so that the one message that keeps failing is dead-lettered with the reason and the
//! others go through.
//!
//! In: a built [`Engine`], the refused batch, and the run's count of consecutive refused
//! messages. Out: one [`BatchOutcome`] for the whole batch (what each message did, plus a dead
//! letter per refused message, already written to the dead-letter sink), or the error that
//! stops the run.
//!
//! Guarantees:
//! - messages are written in their batch order, each as its own batch (retryable failures are
//!   retried as usual, an outage still pauses; shutdown interrupts it as it does any batch);
//! - a message is dead-lettered only after [`ATTEMPTS`] non-retryable failures in a row, with
//!   the store's reason (which names operations and codes, never values);
//! - when every message of a batch of several is refused, or [`STREAK_LIMIT`] messages in a
//!   row are, the store is refusing everything (a bad setup, not bad messages): the run stops
//!   with the error, no dead letter of the batch is written and the batch is not committed,
//!   so nothing past it is lost;
//! - the caller commits the batch only with the outcome returned here, after which every
//!   message of it is applied, skipped or dead-lettered, as for any batch.

use super::retry::{Backoff, Stop};
use super::{BatchOutcome, Engine, Halt, RoutedBatch};
use crate::store::{DeadLetter, StoreError};

/// Attempts of one message on non-retryable errors before it is dead-lettered.
pub const ATTEMPTS: u32 = 3;
/// Consecutive refused messages after which the run stops instead.
pub const STREAK_LIMIT: u32 = 10;

fn merge(total: &mut BatchOutcome, part: BatchOutcome) {
    total.counts += part.counts;
    total.dead_letters.extend(part.dead_letters);
    total.skipped.extend(part.skipped);
    total.failed.extend(part.failed);
    total.origins.extend(part.origins);
    total.freshness.merge(part.freshness);
    if total.by_projection.len() < part.by_projection.len() {
        total.by_projection.resize(part.by_projection.len(), (0, 0));
    }
    for (t, p) in total.by_projection.iter_mut().zip(part.by_projection) {
        t.0 += p.0;
        t.1 += p.1;
    }
}

/// Writes `batch` message by message after the store refused it with `error`; `streak`
/// counts refused messages in a row across batches (reset by any message that goes through).
pub async fn isolate(
    engine: &Engine,
    batch: &RoutedBatch,
    streak: &mut u32,
    error: StoreError,
    stop: &mut Stop,
) -> Result<BatchOutcome, Halt> {
    tracing::warn!(
        error = %error,
        messages = batch.messages.len(),
        "batch refused by the store; writing its messages one by one"
    );
    let mut total = BatchOutcome::default();
    let mut refused_letters: Vec<DeadLetter> = Vec::new();
    let mut refused_messages = 0usize;
    for (i, routed) in batch.messages.iter().enumerate() {
        let single = RoutedBatch {
            messages: vec![routed.clone()],
            // Lines that were not messages at all ride with the first message.
            malformed: if i == 0 {
                batch.malformed.clone()
            } else {
                Vec::new()
            },
            // Counted with the whole batch, when it is durable.
            drift: Default::default(),
        };
        let mut attempt = 0;
        let mut backoff = Backoff::new(engine.config().retry_backoff);
        let refused = loop {
            attempt += 1;
            match engine.process_with_retry(&single, stop).await {
                Ok(outcome) => {
                    merge(&mut total, outcome);
                    *streak = 0;
                    break None;
                }
                Err(Halt::Failed(e)) if !e.retryable && attempt < ATTEMPTS => {
                    backoff.wait(stop).await?;
                }
                Err(Halt::Failed(e)) if !e.retryable => break Some(e),
                Err(halt) => return Err(halt),
            }
        };
        let Some(e) = refused else { continue };
        *streak += 1;
        refused_messages += 1;
        let everything = refused_messages == batch.messages.len() && refused_messages > 1;
        if *streak >= STREAK_LIMIT || everything {
            tracing::error!(
                refused = *streak,
                error = %e,
                "the store refuses every message: stopping instead of dead-lettering them"
            );
            return Err(Halt::Failed(e));
        }
        let m = &routed.message;
        refused_letters.extend(single.malformed);
        refused_letters.push(DeadLetter::from_message(
            m,
            format!("the store refused it {ATTEMPTS} times: {e}"),
        ));
    }
    // Written only now: a batch that stops the run leaves no dead letter behind, so its
    // restart does not dead-letter the same messages twice.
    if !refused_letters.is_empty() {
        write_letters(engine, &refused_letters, stop).await?;
        total.counts.consumed += refused_letters.len() as u64;
        total.dead_letters.extend(refused_letters);
    }
    Ok(total)
}

/// Writes dead letters, retrying while the sink is unavailable.
async fn write_letters(
    engine: &Engine,
    letters: &[DeadLetter],
    stop: &mut Stop,
) -> Result<(), Halt> {
    // Retried without a limit while the sink is unavailable (an outage pauses the run): the
    // batch cannot be committed without its dead letters.
    let write = || engine.stores().dead_letters.dead_letter(letters.to_vec());
    Ok(engine.retrying(stop, 0, write).await??)
}
