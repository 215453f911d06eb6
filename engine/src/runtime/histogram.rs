//! Lock-free fixed-bucket histograms (the Prometheus kind: cumulative buckets, a count, a sum).
//!
//! In: observations (`f64`, in the histogram's unit). Out: a [`HistogramSnapshot`] with, per
//! upper bound, how many observations were at or below it, plus the total count and sum.
//!
//! Guarantees: observing never blocks nor allocates; a snapshot's buckets are cumulative and
//! non-decreasing, and its last bucket (`+Inf`) equals its count. Concurrent observations may
//! land between the reads of one snapshot, so a snapshot taken during writes can be off by the
//! observations in flight, never inconsistent in its cumulative shape.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Bucket bounds of batch sizes (messages per batch).
pub const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];
/// Bucket bounds of durations in seconds, from 1 ms to 10 minutes.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0,
];
/// Bucket bounds of fan-outs (single-view keys triggered per batch).
pub const FANOUT_BUCKETS: &[f64] = &[
    0.0, 1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0,
];

/// A histogram with fixed upper bounds (see the module docs).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the overflow (`+Inf`) slot; not cumulative.
    slots: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum as `f64` bits.
    sum: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations at or below it)`, cumulative; the `+Inf` bucket is `count`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// A histogram over `bounds` (strictly increasing).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            slots: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Records one observation (NaN is ignored).
    pub fn observe(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let slot = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(s) = self.slots.get(slot) {
            s.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut current = self.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
    }

    /// The histogram now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, slot) in self.bounds.iter().zip(&self.slots) {
            running += slot.load(Ordering::Relaxed);
            buckets.push((*bound, running));
        }
        let overflow = self
            .slots
            .last()
            .map(|s| s.load(Ordering::Relaxed))
            .unwrap_or(0);
        HistogramSnapshot {
            buckets,
            // Consistent with the buckets even while observations land.
            count: running + overflow,
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 3.0, 10.0, 11.0, f64::NAN] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (10.0, 4)]);
        assert_eq!(s.count, 5);
        assert!((s.sum - 25.5).abs() < 1e-9);
    }

    #[test]
    fn the_shipped_bounds_are_strictly_increasing() {
        for bounds in [BATCH_SIZE_BUCKETS, SECONDS_BUCKETS, FANOUT_BUCKETS] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        }
    }
}
