//! The latency monitor (latency.c): with `latency-monitor-threshold` set
//! (milliseconds, 0: off), every event at least that slow is kept as a
//! per-second sample in a 160-slot history per event class, read with
//! LATENCY LATEST / HISTORY / RESET. Classes recorded here, as Redis
//! names them: `command` and `fast-command` (a command's execution),
//! `expire-cycle` (a shard's active expiry pass), `eviction-cycle` (the
//! evictions one command waited for).
//!
//! LATENCY HISTOGRAM reads the per-command histograms INFO latencystats
//! uses (`latency-tracking`), not this monitor.

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Redis `LATENCY_TS_LEN`: samples kept per event class.
pub const TS_LEN: usize = 160;

/// One event class's history (Redis `struct latencyTimeSeries`).
#[derive(Clone)]
pub struct Series {
    /// (unix seconds, milliseconds); time 0 marks an empty slot.
    samples: [(u64, u64); TS_LEN],
    /// Next slot to write.
    idx: usize,
    /// All-time highest latency.
    pub max: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [(0, 0); TS_LEN],
            idx: 0,
            max: 0,
        }
    }

    /// latency.c `latencyAddSample`: one sample per second, the highest.
    fn add(&mut self, now_s: u64, ms: u64) {
        self.max = self.max.max(ms);
        let prev = (self.idx + TS_LEN - 1) % TS_LEN;
        if self.samples[prev].0 == now_s {
            self.samples[prev].1 = self.samples[prev].1.max(ms);
            return;
        }
        self.samples[self.idx] = (now_s, ms);
        self.idx = (self.idx + 1) % TS_LEN;
    }

    /// The newest sample.
    pub fn latest(&self) -> (u64, u64) {
        self.samples[(self.idx + TS_LEN - 1) % TS_LEN]
    }

    /// Every sample, oldest first.
    pub fn history(&self) -> Vec<(u64, u64)> {
        (0..TS_LEN)
            .map(|j| self.samples[(self.idx + j) % TS_LEN])
            .filter(|(time, _)| *time != 0)
            .collect()
    }
}

#[derive(Default)]
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    pub fn set_threshold(&self, ms: u64) {
        self.threshold_ms.store(ms, Ordering::Relaxed);
    }

    /// `latencyAddSampleIfNeeded`: records `took` under `event` when the
    /// monitor is on and it reached the threshold.
    pub fn add_if_needed(&self, event: &'static str, took: Duration) {
        let threshold = self.threshold_ms.load(Ordering::Relaxed);
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        if threshold == 0 || ms < threshold {
            return;
        }
        let now_s = crate::server::unix_ms() / 1000;
        self.events
            .lock()
            .entry(event)
            .or_insert_with(Series::new)
            .add(now_s, ms);
    }

    /// A command's execution: `fast-command` for commands flagged fast.
    pub fn add_command(&self, fast: bool, took: Duration) {
        self.add_if_needed(if fast { "fast-command" } else { "command" }, took);
    }

    /// Every event class with its history.
    pub fn events(&self) -> Vec<(&'static str, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(name, series)| (*name, series.clone()))
            .collect()
    }

    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let event = std::str::from_utf8(event).ok()?;
        self.events.lock().get(event).cloned()
    }

    /// `latencyResetEvent`: drops one class (case-insensitively) or, with
    /// `None`, all; returns how many.
    pub fn reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.events.lock();
        let before = events.len();
        events.retain(|name, _| event.is_some_and(|e| !name.as_bytes().eq_ignore_ascii_case(e)));
        before - events.len()
    }
}

/// latency.c `fillCommandCDF`: buckets of 1024 ns doubling up to the one
/// holding the highest value, each as (its highest equivalent value in
/// microseconds, calls at or below it), those adding no calls left out.
pub fn command_cdf(histogram: &Histogram<u64>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let total = histogram.len();
    let mut previous = 0;
    let mut level: u64 = 1024;
    while previous < total {
        let top = histogram.highest_equivalent(level);
        let cumulative = histogram.count_between(0, top);
        if cumulative > previous {
            out.push((top / 1000, cumulative));
        }
        previous = cumulative;
        match level.checked_mul(2) {
            Some(next) => level = next,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_the_highest_kept() {
        let mut s = Series::new();
        s.add(100, 5);
        s.add(100, 9);
        s.add(100, 7);
        s.add(101, 3);
        assert_eq!(s.history(), [(100, 9), (101, 3)]);
        assert_eq!(s.latest(), (101, 3));
        assert_eq!(s.max, 9);
        for t in 0..200 {
            s.add(1000 + t, t);
        }
        let h = s.history();
        assert_eq!(h.len(), TS_LEN);
        assert_eq!(h[0], (1040, 40));
        assert_eq!(s.latest(), (1199, 199));
    }

    #[test]
    fn the_monitor_keeps_what_reaches_the_threshold() {
        let m = LatencyMonitor::default();
        m.add_command(false, Duration::from_millis(50));
        assert!(m.events().is_empty(), "off at threshold 0");
        m.set_threshold(10);
        m.add_command(false, Duration::from_millis(9));
        m.add_command(true, Duration::from_millis(10));
        m.add_if_needed("expire-cycle", Duration::from_millis(30));
        let names: Vec<_> = m.events().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["expire-cycle", "fast-command"]);
        assert_eq!(m.series(b"fast-command").unwrap().latest().1, 10);
        assert_eq!(m.reset(Some(b"EXPIRE-CYCLE")), 1);
        assert_eq!(m.reset(None), 1);
        assert_eq!(m.reset(None), 0);
    }

    #[test]
    fn cdf_buckets_match_redis_labels() {
        let mut h = crate::server::new_latency_histogram();
        for v in [500u64, 900, 1500, 40_000, 40_000, 250_000] {
            h.record(v).unwrap();
        }
        // Redis prints 1 2 4 8 16 33 66 132 264 for these buckets.
        assert_eq!(command_cdf(&h), [(1, 2), (2, 3), (66, 5), (264, 6)]);
    }
}
