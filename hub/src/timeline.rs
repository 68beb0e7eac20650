//! What the hub did in each 100 ms of wall-clock time: the evidence behind a slow slice
//! of a load run (docs/PROFILE.md "Where a slow slice comes from").
//!
//! A ring of [`SLOTS`] slices (one minute) of lock-free counters and maxima, keyed by
//! Unix time so that another process on the same machine (the load generator) can line
//! its own latency slices up with the hub's. Each hot-path stage records into the slice
//! of *now*: the group commit (its `commit` with the fsync, the whole batch from first
//! dequeue to acks handed out, the commit queue's depth), the checkpointer's fold
//! slices, the verifier pool (how long a checkpoint waited for and spent in
//! verification), new connections and `hello`s, and the hub's own ack latency (a
//! checkpoint frame read from the socket to its ack written back). Served as JSON at
//! `GET /metrics/timeline`; `zkhub load` joins it to its report.
//!
//! A slot is reused every minute: the first recorder of a new slice claims it (a
//! compare-and-swap on its slice number) and clears it. A recorder racing that claim
//! may lose one observation or land it in the cleared slice; these are diagnostics, so
//! that is acceptable and nothing on the hot path ever waits.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Length of one slice.
pub const SLICE_MS: u64 = 100;
/// Slices kept (one minute).
pub const SLOTS: usize = 600;

/// The one list of what a slice counts: each entry gives the [`SliceStats`] field, its
/// [`Stat`] and whether it is a sum or a maximum; the enum, the served struct, reading a
/// slot and merging slices all come from it.
macro_rules! stats {
    ($($(#[$doc:meta])* $field:ident: $stat:ident, $kind:ident;)*) => {
        /// What a slice counts. Each is a sum or a maximum, as its name says.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Stat {
            $($(#[$doc])* $stat,)*
        }

        impl Stat {
            /// Every stat, in storage order.
            pub const ALL: &[Stat] = &[$(Stat::$stat),*];

            fn is_max(self) -> bool {
                match self {
                    $(Stat::$stat => stats!(@is_max $kind),)*
                }
            }
        }

        /// One slice as served (`GET /metrics/timeline`). Field meanings: [`Stat`].
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct SliceStats {
            /// Start of the slice, Unix time in ms.
            pub t_unix_ms: u64,
            $($(#[$doc])* pub $field: u64,)*
        }

        impl SliceStats {
            fn from_values(t_unix_ms: u64, v: &[u64; N]) -> Self {
                SliceStats {
                    t_unix_ms,
                    $($field: v[Stat::$stat as usize],)*
                }
            }

            /// Merge another slice into this one (sums add, maxima take the larger);
            /// the start stays this slice's.
            pub fn merge(&mut self, o: &SliceStats) {
                $(stats!(@merge $kind, self.$field, o.$field);)*
            }
        }
    };
    (@is_max sum) => { false };
    (@is_max max) => { true };
    (@merge sum, $a:expr, $b:expr) => { $a += $b };
    (@merge max, $a:expr, $b:expr) => { $a = $a.max($b) };
}

stats! {
    /// Group commits finished.
    commits: Commits, sum;
    /// Longest `commit` (page writes and fsync) of one group commit, µs.
    commit_max_us: CommitMaxUs, max;
    /// Longest batch: first request dequeued to acks handed out, µs.
    batch_max_us: BatchMaxUs, max;
    /// Deepest commit queue seen when a batch was gathered (requests).
    commit_queue_max: CommitQueueMax, max;
    /// Payments committed.
    payments: Payments, sum;
    /// Fold slices written.
    fold_slices: FoldSlices, sum;
    /// Longest fold slice, µs (the writer commits nothing meanwhile).
    fold_max_us: FoldMaxUs, max;
    /// Folded log records deleted (trimmed by group commits and idle slices).
    fold_deleted: FoldDeleted, sum;
    /// Checkpoints verified.
    verified: Verified, sum;
    /// Longest from a checkpoint handed to the verifier pool to its result, µs.
    verify_max_us: VerifyMaxUs, max;
    /// Connections accepted (WebSocket upgrades).
    accepted: Accepted, sum;
    /// Sessions bound by `hello`.
    hellos: Hellos, sum;
    /// Checkpoint frames acked (the hub's own latency was measured for these).
    acked: Acked, sum;
    /// Longest from a checkpoint frame read to its ack written, µs.
    ack_max_us: AckMaxUs, max;
    /// Sum of the same, µs (with `acked`, the mean).
    ack_sum_us: AckSumUs, sum;
}

const N: usize = Stat::ALL.len();

#[derive(Debug)]
struct Slot {
    /// Which slice (Unix ms / [`SLICE_MS`]) the values belong to; 0: never used.
    slice: AtomicU64,
    values: [AtomicU64; N],
}

/// The ring of slices. One per hub, shared by every stage that records.
#[derive(Debug)]
pub struct Timeline {
    slots: Box<[Slot]>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            slots: (0..SLOTS)
                .map(|_| Slot {
                    slice: AtomicU64::new(0),
                    values: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
        }
    }
}

/// The served document.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineReport {
    /// Length of a slice, ms.
    pub slice_ms: u64,
    /// The slices at or after the requested start, oldest first (idle slices, where
    /// nothing was recorded, are left out).
    pub slices: Vec<SliceStats>,
}

/// A duration in µs, as the `*_us` stats count it.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Unix time in ms (0 before 1970: a clock that wrong gives an empty timeline).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Timeline {
    /// Record `value` for `stat` in the slice of now.
    pub fn record(&self, stat: Stat, value: u64) {
        self.record_all(&[(stat, value)]);
    }

    /// Record several stats of one event in the slice of now (one clock read).
    pub fn record_all(&self, stats: &[(Stat, u64)]) {
        let now = unix_ms(SystemTime::now());
        for &(stat, value) in stats {
            self.record_at(now, stat, value);
        }
    }

    /// Record `value` for `stat` in the slice holding Unix time `now_ms`.
    pub fn record_at(&self, now_ms: u64, stat: Stat, value: u64) {
        let slice = now_ms / SLICE_MS;
        let slot = &self.slots[(slice % SLOTS as u64) as usize];
        let current = slot.slice.load(Relaxed);
        if current != slice {
            if current > slice {
                return; // a slice a minute old: its slot is taken by a newer one
            }
            if slot
                .slice
                .compare_exchange(current, slice, Relaxed, Relaxed)
                .is_ok()
            {
                for v in &slot.values {
                    v.store(0, Relaxed);
                }
            }
        }
        let cell = &slot.values[stat as usize];
        if stat.is_max() {
            cell.fetch_max(value, Relaxed);
        } else {
            cell.fetch_add(value, Relaxed);
        }
    }

    /// The slices that start at or after `since_unix_ms` (within the last minute),
    /// oldest first.
    pub fn report(&self, since_unix_ms: u64) -> TimelineReport {
        let first = since_unix_ms / SLICE_MS;
        let mut slices: Vec<SliceStats> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let slice = slot.slice.load(Relaxed);
                if slice == 0 || slice < first {
                    return None;
                }
                let values = std::array::from_fn(|i| slot.values[i].load(Relaxed));
                Some(SliceStats::from_values(slice * SLICE_MS, &values))
            })
            .collect();
        slices.sort_unstable_by_key(|s| s.t_unix_ms);
        TimelineReport {
            slice_ms: SLICE_MS,
            slices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_add_and_maxima_keep_the_largest_within_a_slice() {
        let t = Timeline::default();
        let base = 1_700_000_000_000;
        t.record_at(base + 10, Stat::Commits, 1);
        t.record_at(base + 90, Stat::Commits, 1);
        t.record_at(base + 20, Stat::CommitMaxUs, 700);
        t.record_at(base + 30, Stat::CommitMaxUs, 300);
        t.record_at(base + 150, Stat::Commits, 5);
        let r = t.report(base);
        assert_eq!(r.slices.len(), 2);
        assert_eq!(r.slices[0].t_unix_ms, base);
        assert_eq!((r.slices[0].commits, r.slices[0].commit_max_us), (2, 700));
        assert_eq!(
            (r.slices[1].t_unix_ms, r.slices[1].commits),
            (base + 100, 5)
        );
    }

    #[test]
    fn a_slot_reused_a_minute_later_starts_from_zero_and_old_slices_are_dropped() {
        let t = Timeline::default();
        let base = 1_700_000_000_000;
        t.record_at(base, Stat::FoldMaxUs, 9_000);
        let later = base + SLOTS as u64 * SLICE_MS;
        t.record_at(later, Stat::FoldSlices, 1);
        // A late observation for the old slice does not land in the new one.
        t.record_at(base, Stat::FoldMaxUs, 50_000);
        let r = t.report(base);
        assert_eq!(r.slices.len(), 1);
        assert_eq!(r.slices[0].t_unix_ms, later);
        assert_eq!((r.slices[0].fold_slices, r.slices[0].fold_max_us), (1, 0));
        assert!(t.report(later + SLICE_MS).slices.is_empty());
    }

    #[test]
    fn merging_slices_adds_counts_and_keeps_maxima() {
        let mut a = SliceStats {
            commits: 2,
            ack_max_us: 5,
            ..Default::default()
        };
        a.merge(&SliceStats {
            commits: 3,
            ack_max_us: 9,
            ..Default::default()
        });
        assert_eq!((a.commits, a.ack_max_us), (5, 9));
    }
}
