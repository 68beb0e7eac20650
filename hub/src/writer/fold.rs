//! The checkpointer (docs/DESIGN.md §6): folds the log into the channel table off the
//! ack path, in bounded slices between batches.
//!
//! A fold *round* starts once [`super::WriterConfig::fold_after_records`] records are
//! unfolded (or the writer is idle and a fold is due), takes the set of channels
//! touched since the last round, and writes their current committed records
//! [`super::WriterConfig::fold_slice_rows`] at a time, one slice per loop iteration
//! ([`crate::store::Store::fold`]); its last slice advances `folded_through`. So a
//! batch waits for at most one slice. The folded log records are *trimmed* a few at a
//! time by the group commits that follow ([`TRIM_PER_COMMIT`], in their transaction),
//! and in slices of [`TRIM_IDLE`] while the writer is idle, so storage stays bounded
//! without a long delete in any one slice. Folding pauses while an epoch snapshot is
//! pending (the cut state must stay rebuildable); trimming never needs to.

use std::ops::RangeInclusive;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use channel::ledger::ChannelRecord;
use channel::types::ChannelId;

use super::{Core, Fatal};
use crate::timeline::{Stat, micros};

/// Folded log records each group commit deletes in its transaction: four times
/// the one record it appends, so the log shrinks back within a quarter of a round.
pub(super) const TRIM_PER_COMMIT: u64 = 4;

/// Folded log records one idle trim slice deletes (about 0.5 ms on this machine).
pub(super) const TRIM_IDLE: u64 = 64;

/// A fold round in progress: every batch up to `through` is reflected in the rows
/// once `todo` is written.
pub(super) struct Round {
    through: u64,
    /// Channels still to write, sorted descending (popped from the end, so slices
    /// walk the key space in order).
    todo: Vec<ChannelId>,
}

impl Core {
    /// Whether a fold slice should run now. `idle`: the queue may be empty. An idle
    /// round also needs the writer quiet ([`super::WriterConfig::fold_idle_quiet`]).
    pub(super) fn fold_due(&self, idle: bool) -> bool {
        if self.snapshots_pending.load(Relaxed) > 0 {
            return false;
        }
        if self.round.is_some() {
            return true;
        }
        let unfolded = self.last_batch - self.folded_through;
        unfolded > 0
            && (unfolded >= self.config.fold_after_records
                || (idle
                    && self.last_fold.elapsed() >= self.config.fold_idle_interval
                    && self.last_commit.elapsed() >= self.config.fold_idle_quiet))
    }

    /// How long until an idle fold comes due, if records are unfolded and no snapshot
    /// is pending ([`Core::fold_due`] with `idle`).
    pub(super) fn idle_fold_in(&self) -> Option<Duration> {
        (self.snapshots_pending.load(Relaxed) == 0 && self.last_batch > self.folded_through).then(
            || {
                let since_fold = self.config.fold_idle_interval;
                let quiet = self.config.fold_idle_quiet;
                since_fold
                    .saturating_sub(self.last_fold.elapsed())
                    .max(quiet.saturating_sub(self.last_commit.elapsed()))
            },
        )
    }

    /// Write one slice of the current fold round (starting one if none). Between
    /// batches (`durable` false) the slice makes no fsync of its own: the next group
    /// commit makes it durable ([`crate::store::Store::fold_deferred`]).
    pub(super) fn fold_step(&mut self, durable: bool) -> Result<(), Fatal> {
        let round = self.round.get_or_insert_with(|| {
            let mut todo: Vec<ChannelId> = self.dirty.drain().collect();
            todo.sort_unstable_by(|a, b| b.cmp(a));
            Round {
                through: self.last_batch,
                todo,
            }
        });
        let started = Instant::now();
        // Under pressure (the log outgrows its threshold), slices grow, up to 8×:
        // a bounded log matters more than a few milliseconds of ack latency.
        let unfolded = self.last_batch - self.folded_through;
        let factor = (1 + unfolded / self.config.fold_after_records.max(1)).min(8) as usize;
        let take = round.todo.len().min(self.config.fold_slice_rows * factor);
        let ids = round.todo.split_off(round.todo.len() - take);
        let rows: Vec<ChannelRecord> = ids
            .iter()
            .rev()
            .filter_map(|&id| self.channels.record(id))
            .collect();
        debug_assert_eq!(rows.len(), ids.len(), "channels are never removed");
        let complete = round.todo.is_empty().then_some(round.through);
        let folded = if durable {
            self.store.fold(&rows, self.last_batch, complete)
        } else {
            self.store.fold_deferred(&rows, self.last_batch, complete)
        };
        let stats = match folded {
            Ok(s) => s,
            Err(e) => return Err(self.fatal(e)),
        };
        let m = &self.metrics;
        m.fold_slices.fetch_add(1, Relaxed);
        m.fold_rows.fetch_add(stats.rows as u64, Relaxed);
        self.record_slice(started.elapsed());
        if let Some(through) = complete {
            self.round = None;
            self.folded_through = through;
            self.last_fold = Instant::now();
            m.folded_through.store(through, Relaxed);
        }
        Ok(())
    }

    /// Fold until every committed batch is folded (unless a snapshot is pending),
    /// then trim every folded log record, durably: used at shutdown and when asked to
    /// fold everything.
    pub(super) fn fold_all(&mut self) -> Result<(), Fatal> {
        while self.snapshots_pending.load(Relaxed) == 0
            && (self.round.is_some() || self.folded_through < self.last_batch)
        {
            self.fold_step(true)?;
        }
        self.trim_step(true, u64::MAX)
    }

    /// Folded log records wait to be deleted.
    pub(super) fn trim_due(&self) -> bool {
        self.trimmed_through < self.folded_through
    }

    /// The folded records the next group commit deletes in its transaction, if any
    /// wait.
    pub(super) fn trim_for_commit(&self) -> Option<RangeInclusive<u64>> {
        self.trim_range(TRIM_PER_COMMIT)
    }

    /// Up to `most` folded records not deleted yet, oldest first (`None`: none wait).
    fn trim_range(&self, most: u64) -> Option<RangeInclusive<u64>> {
        let last = self
            .folded_through
            .min(self.trimmed_through.saturating_add(most));
        let range = self.trimmed_through + 1..=last;
        (!range.is_empty()).then_some(range)
    }

    /// Records that `trimmed` log records (all of `range`, which held them) are gone.
    pub(super) fn trimmed(&mut self, range: RangeInclusive<u64>, trimmed: u64) {
        debug_assert!(*range.end() <= self.folded_through, "only folded records");
        self.trimmed_through = *range.end();
        self.metrics.fold_deleted.fetch_add(trimmed, Relaxed);
        self.config
            .timeline
            .record_all(&[(Stat::FoldDeleted, trimmed)]);
    }

    /// Delete up to `most` folded log records in a transaction of their own (between
    /// batches while idle, or durably at shutdown).
    pub(super) fn trim_step(&mut self, durable: bool, most: u64) -> Result<(), Fatal> {
        let Some(range) = self.trim_range(most) else {
            return Ok(());
        };
        let started = Instant::now();
        let trimmed = match self.store.trim_log(range.clone(), durable) {
            Ok(n) => n,
            Err(e) => return Err(self.fatal(e)),
        };
        self.trimmed(range, trimmed);
        self.record_slice(started.elapsed());
        Ok(())
    }

    /// A fold or trim slice took `took` (the writer committed nothing meanwhile).
    fn record_slice(&self, took: Duration) {
        self.metrics.fold_us.observe_duration(took);
        self.config
            .timeline
            .record_all(&[(Stat::FoldSlices, 1), (Stat::FoldMaxUs, micros(took))]);
    }
}
