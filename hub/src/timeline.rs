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

/// What a slice counts. Each field is a sum or a maximum, as its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    /// Group commits finished.
    Commits,
    /// Longest `commit` (page writes and fsync) of one group commit, µs.
    CommitMaxUs,
    /// Longest batch: first request dequeued to acks handed out, µs.
    BatchMaxUs,
    /// Deepest commit queue seen when a batch was gathered (requests).
    CommitQueueMax,
    /// Payments committed.
    Payments,
    /// Fold slices written.
    FoldSlices,
    /// Longest fold slice, µs (the writer commits nothing meanwhile).
    FoldMaxUs,
    /// Log records deleted by folds.
    FoldDeleted,
    /// Checkpoints verified.
    Verified,
    /// Longest from a checkpoint handed to the verifier pool to its result, µs.
    VerifyMaxUs,
    /// Connections accepted (WebSocket upgrades).
    Accepted,
    /// Sessions bound by `hello`.
    Hellos,
    /// Checkpoint frames acked (the hub's own latency was measured for these).
    Acked,
    /// Longest from a checkpoint frame read to its ack written, µs.
    AckMaxUs,
    /// Sum of the same, µs (with `Acked`, the mean).
    AckSumUs,
}

impl Stat {
    /// Every stat, in storage order.
    pub const ALL: [Stat; 15] = [
        Stat::Commits,
        Stat::CommitMaxUs,
        Stat::BatchMaxUs,
        Stat::CommitQueueMax,
        Stat::Payments,
        Stat::FoldSlices,
        Stat::FoldMaxUs,
        Stat::FoldDeleted,
        Stat::Verified,
        Stat::VerifyMaxUs,
        Stat::Accepted,
        Stat::Hellos,
        Stat::Acked,
        Stat::AckMaxUs,
        Stat::AckSumUs,
    ];

    fn is_max(self) -> bool {
        matches!(
            self,
            Stat::CommitMaxUs
                | Stat::BatchMaxUs
                | Stat::CommitQueueMax
                | Stat::FoldMaxUs
                | Stat::VerifyMaxUs
                | Stat::AckMaxUs
        )
    }
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

/// One slice as served (`GET /metrics/timeline`). Field meanings: [`Stat`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceStats {
    /// Start of the slice, Unix time in ms.
    pub t_unix_ms: u64,
    /// [`Stat::Commits`].
    pub commits: u64,
    /// [`Stat::CommitMaxUs`].
    pub commit_max_us: u64,
    /// [`Stat::BatchMaxUs`].
    pub batch_max_us: u64,
    /// [`Stat::CommitQueueMax`].
    pub commit_queue_max: u64,
    /// [`Stat::Payments`].
    pub payments: u64,
    /// [`Stat::FoldSlices`].
    pub fold_slices: u64,
    /// [`Stat::FoldMaxUs`].
    pub fold_max_us: u64,
    /// [`Stat::FoldDeleted`].
    pub fold_deleted: u64,
    /// [`Stat::Verified`].
    pub verified: u64,
    /// [`Stat::VerifyMaxUs`].
    pub verify_max_us: u64,
    /// [`Stat::Accepted`].
    pub accepted: u64,
    /// [`Stat::Hellos`].
    pub hellos: u64,
    /// [`Stat::Acked`].
    pub acked: u64,
    /// [`Stat::AckMaxUs`].
    pub ack_max_us: u64,
    /// [`Stat::AckSumUs`].
    pub ack_sum_us: u64,
}

impl SliceStats {
    fn from_values(t_unix_ms: u64, v: [u64; N]) -> Self {
        let [
            commits,
            commit_max_us,
            batch_max_us,
            commit_queue_max,
            payments,
            fold_slices,
            fold_max_us,
            fold_deleted,
            verified,
            verify_max_us,
            accepted,
            hellos,
            acked,
            ack_max_us,
            ack_sum_us,
        ] = v;
        SliceStats {
            t_unix_ms,
            commits,
            commit_max_us,
            batch_max_us,
            commit_queue_max,
            payments,
            fold_slices,
            fold_max_us,
            fold_deleted,
            verified,
            verify_max_us,
            accepted,
            hellos,
            acked,
            ack_max_us,
            ack_sum_us,
        }
    }

    /// Merge another slice into this one (sums add, maxima take the larger); the
    /// start stays this slice's.
    pub fn merge(&mut self, o: &SliceStats) {
        self.commits += o.commits;
        self.commit_max_us = self.commit_max_us.max(o.commit_max_us);
        self.batch_max_us = self.batch_max_us.max(o.batch_max_us);
        self.commit_queue_max = self.commit_queue_max.max(o.commit_queue_max);
        self.payments += o.payments;
        self.fold_slices += o.fold_slices;
        self.fold_max_us = self.fold_max_us.max(o.fold_max_us);
        self.fold_deleted += o.fold_deleted;
        self.verified += o.verified;
        self.verify_max_us = self.verify_max_us.max(o.verify_max_us);
        self.accepted += o.accepted;
        self.hellos += o.hellos;
        self.acked += o.acked;
        self.ack_max_us = self.ack_max_us.max(o.ack_max_us);
        self.ack_sum_us += o.ack_sum_us;
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

/// Unix time in ms (0 before 1970: a clock that wrong gives an empty timeline).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Timeline {
    /// Record `value` for `stat` in the slice of now.
    pub fn record(&self, stat: Stat, value: u64) {
        self.record_at(unix_ms(SystemTime::now()), stat, value);
    }

    /// Record a duration in µs.
    pub fn record_duration(&self, stat: Stat, d: Duration) {
        self.record(stat, u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
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
                Some(SliceStats::from_values(slice * SLICE_MS, values))
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
