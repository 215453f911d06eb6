//! Retrying a store call through outages without holding up a shutdown.
//!
//! In: the run's shutdown signal ([`Stop`]), a first retry delay and the attempts at most
//! ([`Retries`]). Out: a store call tried again while it fails with a retryable error
//! ([`with_retries`]). The waits and the shutdown deadline are `fdc_core::retry`'s ([`Backoff`],
//! [`Stop::bounded`]), re-exported here; every retry or backoff loop of the engine waits
//! through [`Backoff`].
//!
//! Guarantees: those of `fdc_core::retry` (a wait ends as soon as shutdown is asked for; work
//! in flight is abandoned after the grace period, with [`Interrupted`]); abandoning work is
//! safe only where its effects are idempotent and nothing was committed for it: the run loop
//! commits a batch's input positions only after the batch is durable, so an abandoned batch is
//! read again on restart, as after a crash.

use std::future::Future;
use std::time::Duration;

pub use fdc_core::retry::{Backoff, Interrupted, Stop, MAX_BACKOFF};

use crate::store::StoreError;

/// How a store call is tried again: the first wait of its [`Backoff`] and the attempts at
/// most (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    pub first: Duration,
    pub max_attempts: u32,
}

/// Runs `attempt` until it succeeds, fails with an error that is not retryable, or fails for
/// the `max_attempts`-th time: that result is returned. Between attempts it tells `on_retry`
/// the number of the attempt that failed, the coming delay and the error, then waits out a
/// [`Backoff`]. Each attempt runs under [`Stop::bounded`] and each wait ends on shutdown: then
/// [`Interrupted`].
pub async fn with_retries<T, Fut>(
    stop: &mut Stop,
    retries: Retries,
    mut on_retry: impl FnMut(u32, Duration, &StoreError),
    mut attempt: impl FnMut() -> Fut,
) -> Result<Result<T, StoreError>, Interrupted>
where
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Backoff::new(retries.first);
    let mut n: u32 = 0;
    loop {
        n += 1;
        match stop.bounded(attempt()).await? {
            Err(e) if e.retryable && (retries.max_attempts == 0 || n < retries.max_attempts) => {
                on_retry(n, backoff.delay(), &e);
                backoff.wait(stop).await?;
            }
            done => return Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::watch;

    /// A call failing with the given errors in turn, then succeeding; counts its calls.
    fn failing(
        errors: Vec<StoreError>,
    ) -> impl FnMut() -> std::future::Ready<Result<u8, StoreError>> {
        let mut errors = errors.into_iter();
        move || std::future::ready(errors.next().map_or(Ok(7), Err))
    }

    #[tokio::test(start_paused = true)]
    async fn with_retries_retries_retryable_errors_with_backoff_up_to_the_attempts() {
        let retries = Retries {
            first: Duration::from_secs(1),
            max_attempts: 0,
        };
        let down = || StoreError::retryable("write", "down");
        let mut told = Vec::new();
        let started = tokio::time::Instant::now();
        let out = with_retries(
            &mut Stop::never(),
            retries,
            |n, delay, e| told.push((n, delay.as_secs(), e.retryable)),
            failing(vec![down(), down(), down()]),
        )
        .await;
        assert_eq!(out.expect("not interrupted").expect("succeeds"), 7);
        assert_eq!(told, vec![(1, 1, true), (2, 2, true), (3, 4, true)]);
        assert_eq!(started.elapsed(), Duration::from_secs(7));

        // A fatal error is not retried; the attempts bound the retryable ones.
        let fatal = with_retries(
            &mut Stop::never(),
            retries,
            |_, _, _| panic!("not retried"),
            failing(vec![StoreError::fatal("write", "refused")]),
        )
        .await;
        assert!(fatal.expect("not interrupted").is_err_and(|e| !e.retryable));
        let mut calls = 0;
        let bounded = with_retries(
            &mut Stop::never(),
            Retries {
                max_attempts: 2,
                ..retries
            },
            |_, _, _| calls += 1,
            failing(vec![down(), down(), down()]),
        )
        .await;
        assert!(bounded
            .expect("not interrupted")
            .is_err_and(|e| e.retryable));
        assert_eq!(calls, 1, "two attempts: one retry");
    }

    #[tokio::test(start_paused = true)]
    async fn with_retries_stops_waiting_on_shutdown() {
        let (tx, rx) = watch::channel(false);
        let mut stop = Stop::new(rx, Duration::from_secs(5));
        let retries = Retries {
            first: Duration::from_secs(30),
            max_attempts: 0,
        };
        let started = tokio::time::Instant::now();
        let signal = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(true);
        };
        let always_down = || std::future::ready(Err::<u8, _>(StoreError::retryable("w", "down")));
        let (out, ()) = tokio::join!(
            with_retries(&mut stop, retries, |_, _, _| {}, always_down),
            signal
        );
        assert_eq!(out.map(|_| ()), Err(Interrupted));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
