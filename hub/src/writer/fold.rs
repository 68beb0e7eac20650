//! The checkpointer (docs/DESIGN.md §6): folds the log into the channel table off the
//! ack path, in bounded slices between batches.
//!
//! A fold *round* starts once [`super::WriterConfig::fold_after_records`] records are
//! unfolded (or the writer is idle and a fold is due), takes the set of channels
//! touched since the last round, and writes their current committed records
//! [`super::WriterConfig::fold_slice_rows`] at a time, one slice per loop iteration
//! ([`crate::store::Store::fold`]); its last slice deletes the folded records. So a
//! batch waits for at most one slice, and storage stays bounded. Folding pauses while
//! an epoch snapshot is pending (the cut state must stay rebuildable).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use channel::ledger::ChannelRecord;
use channel::types::ChannelId;

use super::{Core, Fatal};
use crate::timeline::{Stat, micros};

/// A fold round in progress: every batch up to `through` is reflected in the rows
/// once `todo` is written.
pub(super) struct Round {
    through: u64,
    /// Channels still to write, sorted descending (popped from the end, so slices
    /// walk the key space in order).
    todo: Vec<ChannelId>,
}

impl Core {
    /// Whether a fold slice should run now. `idle`: the queue may be empty.
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
                || (idle && self.last_fold.elapsed() >= self.config.fold_idle_interval))
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
        m.fold_deleted.fetch_add(stats.deleted, Relaxed);
        let took = started.elapsed();
        m.fold_us.observe_duration(took);
        self.config.timeline.record_all(&[
            (Stat::FoldSlices, 1),
            (Stat::FoldDeleted, stats.deleted),
            (Stat::FoldMaxUs, micros(took)),
        ]);
        if let Some(through) = complete {
            self.round = None;
            self.folded_through = through;
            self.last_fold = Instant::now();
            m.folded_through.store(through, Relaxed);
        }
        Ok(())
    }

    /// Fold until every committed batch is folded (unless a snapshot is pending),
    /// durably: used at shutdown and when asked to fold everything.
    pub(super) fn fold_all(&mut self) -> Result<(), Fatal> {
        while self.snapshots_pending.load(Relaxed) == 0
            && (self.round.is_some() || self.folded_through < self.last_batch)
        {
            self.fold_step(true)?;
        }
        Ok(())
    }
}
