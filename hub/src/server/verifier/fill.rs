//! When a verifier worker waits for its group of eight to fill.
//!
//! An eight-lane pass costs the same for three signatures as for eight, and fewer than
//! three are verified one by one at 3.5× a full pass's cost per signature (`cargo bench
//! -p benches --bench crypto -- verify_each`). A worker that verified whatever was queued
//! the moment it woke settled, under load, into groups of one to five: at 1.08M payments/s
//! with a checkpoint every 64 (17,000 signatures/s over two workers) the mean group was
//! five, a quarter of the wake-ups verified a single signature, and the pool took a
//! third of both cores (`perf`): 38 µs of CPU per signature where a full group costs
//! 18 µs (12 µs the equation, 5.5 µs the message hash).
//!
//! So a worker waits for a full group while more jobs are due: [`GroupFill`] keeps a
//! moving average of the gap between the jobs reaching it (measured by their
//! `queued_at`), and the worker waits while the group is short and at least one more
//! arrival is expected before the oldest queued job has waited [`MAX_WAIT`]. A lone
//! checkpoint on a quiet hub (a long gap) is verified at once; a busy pool verifies
//! full groups (the worker keeps a short tail for the next group rather than verify it
//! alone), each checkpoint waiting at most [`MAX_WAIT`] more.

use std::time::{Duration, Instant};

use super::GROUP;

/// The longest a queued job waits for its group to fill. Side by side at 1.06M
/// payments/s, 1,000 connections, eight runs each: 500 µs took the pool's CPU from
/// 1.21 to 0.99 s per 2M payments with the median p99 from 7.9 to 6.8 ms; 1 ms saved a
/// little more CPU (0.90 s) but added 0.9 ms to the median ack.
pub const MAX_WAIT: Duration = Duration::from_micros(500);

/// Gaps longer than this count as this (a pause in the load is forgotten after a few
/// arrivals instead of hundreds).
const GAP_CAP: Duration = Duration::from_millis(10);

/// The moving average's weight of the newest gap: 1 / 2^`SHIFT`.
const SHIFT: u32 = 3;

/// The arrival-gap estimate of one worker's queue.
#[derive(Debug, Clone)]
pub struct GroupFill {
    /// Moving average of the gap between arrivals, in nanoseconds; `None` before the
    /// second arrival.
    gap_ns: Option<u64>,
    last: Option<Instant>,
}

impl Default for GroupFill {
    fn default() -> Self {
        Self::new()
    }
}

impl GroupFill {
    /// No arrivals seen: the first group is verified at once.
    pub fn new() -> Self {
        GroupFill {
            gap_ns: None,
            last: None,
        }
    }

    /// A job handed over at `queued_at` reached the worker.
    pub fn arrived(&mut self, queued_at: Instant) {
        if let Some(last) = self.last {
            let gap = queued_at.saturating_duration_since(last).min(GAP_CAP);
            let gap = gap.as_nanos() as u64;
            self.gap_ns = Some(match self.gap_ns {
                None => gap,
                Some(avg) => avg - (avg >> SHIFT) + (gap >> SHIFT),
            });
        }
        self.last = Some(self.last.map_or(queued_at, |l| l.max(queued_at)));
    }

    /// The average gap between arrivals, if two have been seen.
    pub fn gap(&self) -> Option<Duration> {
        self.gap_ns.map(Duration::from_nanos)
    }

    /// Until when to wait for more jobs, holding `queued` of them, the oldest handed
    /// over at `oldest`, at `now`: `None` to verify them now (the group is full, the
    /// oldest has waited [`MAX_WAIT`], or the arrivals are too sparse for even one more
    /// before then).
    pub fn wait_until(&self, queued: usize, oldest: Instant, now: Instant) -> Option<Instant> {
        if queued == 0 || queued >= GROUP {
            return None;
        }
        let deadline = oldest + MAX_WAIT;
        let left = deadline.checked_duration_since(now)?;
        (self.gap()? <= left && !left.is_zero()).then_some(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(start: Instant, gap: Duration, n: u32) -> GroupFill {
        let mut f = GroupFill::new();
        for i in 0..n {
            f.arrived(start + gap * i);
        }
        f
    }

    #[test]
    fn a_lone_job_on_a_quiet_worker_is_verified_at_once() {
        let t = Instant::now();
        let f = GroupFill::new();
        assert_eq!(f.wait_until(1, t, t), None, "no arrivals measured yet");
        let mut f = GroupFill::new();
        f.arrived(t);
        f.arrived(t + Duration::from_secs(2));
        assert_eq!(f.wait_until(1, t, t), None, "one job every 10 ms or more");
    }

    #[test]
    fn a_busy_worker_waits_for_its_group_but_never_past_the_oldest_jobs_limit() {
        let t = Instant::now();
        let f = fed(t, Duration::from_micros(60), 40);
        let oldest = t + Duration::from_millis(3);
        assert_eq!(f.wait_until(2, oldest, oldest), Some(oldest + MAX_WAIT));
        let later = oldest + MAX_WAIT / 2;
        assert_eq!(f.wait_until(7, oldest, later), Some(oldest + MAX_WAIT));
        assert_eq!(
            f.wait_until(2, oldest, oldest + MAX_WAIT),
            None,
            "waited enough"
        );
        assert_eq!(f.wait_until(GROUP, oldest, oldest), None, "full");
        assert_eq!(f.wait_until(0, oldest, oldest), None, "nothing to verify");
    }

    #[test]
    fn a_worker_waits_only_while_another_arrival_is_due_before_the_limit() {
        let t = Instant::now();
        // 300 µs apart: worth waiting at first, not in the last 300 µs of the limit.
        let f = fed(t, Duration::from_micros(300), 60);
        assert_eq!(f.wait_until(2, t, t), Some(t + MAX_WAIT));
        let late = t + MAX_WAIT - Duration::from_micros(299);
        assert_eq!(f.wait_until(2, t, late), None);
        // 2 ms apart: none is due within the limit.
        let f = fed(t, Duration::from_millis(2), 60);
        assert_eq!(f.wait_until(7, t, t), None);
    }

    #[test]
    fn the_estimate_forgets_a_pause_within_a_few_dozen_arrivals() {
        let t = Instant::now();
        let mut f = fed(t, Duration::from_micros(50), 20);
        let resumed = t + Duration::from_secs(60);
        f.arrived(resumed);
        assert_eq!(f.gap(), Some(GAP_CAP / 8 + Duration::from_nanos(43_750)));
        assert_eq!(
            f.wait_until(1, resumed, resumed),
            None,
            "just after the pause"
        );
        for i in 1..=40 {
            f.arrived(resumed + Duration::from_micros(50) * i);
        }
        assert!(f.wait_until(1, resumed, resumed).is_some(), "{:?}", f.gap());
    }

    #[test]
    fn arrivals_out_of_order_count_as_no_gap() {
        let t = Instant::now() + Duration::from_secs(1);
        let mut f = GroupFill::new();
        f.arrived(t);
        f.arrived(t - Duration::from_micros(500));
        assert_eq!(f.gap(), Some(Duration::ZERO));
    }
}
