//! Waiting between attempts without holding up a shutdown: the part of retrying that an
//! adapter may use too (it needs no runtime type).
//!
//! In: the run's shutdown signal ([`Stop`]) and a first retry delay. Out: waits between
//! attempts that double up to [`MAX_BACKOFF`] or a lower cap ([`Backoff`]), and work run under
//! a deadline that starts when shutdown is asked for ([`Stop::bounded`]). The runtime's retry
//! loop of a store call (`fdc_engine::runtime::retry::with_retries`) is built on these; an
//! adapter's own short waits (the MongoDB trigger collection's lock wait) use [`Backoff`].
//!
//! Guarantees:
//! - a wait between two attempts ends as soon as shutdown is asked for, with [`Interrupted`];
//! - work started before shutdown may go on for the stop's grace period after it, then it is
//!   abandoned (dropped) with [`Interrupted`]; work started after shutdown gets the grace
//!   period from its start. So a writer stuck on an unreachable database stops within the grace
//!   period plus one check, whatever the driver's own time-outs;
//! - abandoning work is safe only where its effects are idempotent and nothing was committed
//!   for it: the run loop commits a batch's input positions only after the batch is durable,
//!   so an abandoned batch is read again on restart, as after a crash.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Shutdown was asked for before the work could finish; nothing of it was committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("shutdown was asked for before the work could finish")]
pub struct Interrupted;

/// The shutdown signal as a writer sees it, with the grace period it gives work in flight.
#[derive(Debug, Clone)]
pub struct Stop {
    signal: Option<watch::Receiver<bool>>,
    grace: Duration,
}

impl Stop {
    /// A stop that never fires (tools that run to completion, tests).
    pub fn never() -> Stop {
        Stop {
            signal: None,
            grace: Duration::MAX,
        }
    }

    /// Follows `signal` (true: shutdown asked for); work in flight gets `grace` after it.
    pub fn new(signal: watch::Receiver<bool>, grace: Duration) -> Stop {
        Stop {
            signal: Some(signal),
            grace,
        }
    }

    /// Whether shutdown has been asked for.
    pub fn is_set(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| *s.borrow())
    }

    /// Resolves when shutdown is asked for; never when it cannot be any more (the trigger
    /// was dropped) or for [`Stop::never`].
    pub async fn fired(&mut self) {
        match self.signal.as_mut() {
            Some(signal) => {
                if signal.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Runs `work` to its end, unless shutdown is asked for and `work` then takes longer than
    /// the grace period: it is dropped and [`Interrupted`] returned.
    pub async fn bounded<T>(&mut self, work: impl Future<Output = T>) -> Result<T, Interrupted> {
        tokio::pin!(work);
        if !self.is_set() {
            tokio::select! {
                out = &mut work => return Ok(out),
                () = self.fired() => {}
            }
        }
        match tokio::time::timeout(self.grace, work).await {
            Ok(out) => Ok(out),
            Err(_) => Err(Interrupted),
        }
    }
}

/// Waits between attempts: the first delay, doubled after each wait up to [`MAX_BACKOFF`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `first` (at least one millisecond).
    pub fn new(first: Duration) -> Backoff {
        Backoff::capped(first, MAX_BACKOFF)
    }

    /// Starts at `first` and doubles up to `max` instead of [`MAX_BACKOFF`] (both at least
    /// one millisecond; `first` at most `max`): for short waits on another writer.
    pub fn capped(first: Duration, max: Duration) -> Backoff {
        let max = max.max(Duration::from_millis(1));
        Backoff {
            next: first.clamp(Duration::from_millis(1), max),
            max,
        }
    }

    /// The delay the next [`Backoff::wait`] sleeps.
    pub fn delay(&self) -> Duration {
        self.next
    }

    /// Sleeps the current delay and doubles it; ends early with [`Interrupted`] when shutdown
    /// is asked for (also when it already was).
    pub async fn wait(&mut self, stop: &mut Stop) -> Result<(), Interrupted> {
        if stop.is_set() {
            return Err(Interrupted);
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            () = stop.fired() => Err(Interrupted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(10));
        let mut stop = Stop::never();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let mut seen = Vec::new();
        rt.block_on(async {
            for _ in 0..4 {
                seen.push(b.delay().as_secs());
                b.wait(&mut stop).await.expect("never stopped");
            }
        });
        assert_eq!(seen, vec![10, 20, 30, 30]);
        assert_eq!(
            Backoff::new(Duration::ZERO).delay(),
            Duration::from_millis(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_capped_backoff_doubles_up_to_its_own_cap() {
        let mut b = Backoff::capped(Duration::from_millis(1), Duration::from_millis(50));
        let mut stop = Stop::never();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(b.delay().as_millis());
            b.wait(&mut stop).await.expect("never stopped");
        }
        assert_eq!(seen, vec![1, 2, 4, 8, 16, 32, 50, 50]);
        let b = Backoff::capped(Duration::from_secs(9), Duration::from_millis(50));
        assert_eq!(b.delay(), Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_when_shutdown_is_asked_for() {
        let (tx, rx) = watch::channel(false);
        let mut stop = Stop::new(rx, Duration::from_secs(5));
        let mut b = Backoff::new(Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        {
            let wait = b.wait(&mut stop);
            tokio::pin!(wait);
            tokio::select! {
                r = &mut wait => panic!("the wait ended before shutdown: {r:?}"),
                () = tokio::time::sleep(Duration::from_secs(1)) => tx.send_replace(true),
            };
            assert_eq!(wait.await, Err(Interrupted));
        }
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        // Once shutdown is set, no wait sleeps at all.
        assert_eq!(b.wait(&mut stop).await, Err(Interrupted));
    }

    #[tokio::test(start_paused = true)]
    async fn work_in_flight_gets_the_grace_period_then_is_abandoned() {
        let (tx, rx) = watch::channel(false);
        let mut stop = Stop::new(rx, Duration::from_secs(5));
        // Finishes within the grace period: its result is kept.
        let quick = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            7
        };
        let signal = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(true);
        };
        let (out, ()) = tokio::join!(stop.bounded(quick), signal);
        assert_eq!(out, Ok(7));
        // Hangs (an unreachable database): abandoned after the grace period.
        let started = tokio::time::Instant::now();
        let hung = stop.bounded(std::future::pending::<()>()).await;
        assert_eq!(hung, Err(Interrupted));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_trigger_or_never_does_not_interrupt() {
        let (tx, rx) = watch::channel(false);
        let mut stop = Stop::new(rx, Duration::from_secs(1));
        drop(tx);
        let work = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            1
        };
        assert_eq!(stop.bounded(work).await, Ok(1));
        let mut never = Stop::never();
        assert!(!never.is_set());
        assert_eq!(never.bounded(async { 2 }).await, Ok(2));
    }
}
