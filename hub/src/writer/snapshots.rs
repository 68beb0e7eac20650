//! Epoch snapshots (docs/DESIGN.md §6, §7): a cut is recorded durably at a batch
//! boundary, then a background thread materialises the snapshot file from a read
//! transaction taken right after it ([`snapshot::take_snapshot`]). Cuts whose file
//! was not written before a restart are resumed on start.

use std::sync::atomic::Ordering::Relaxed;

use super::{Core, Fatal};
use crate::store::{EpochRecord, SnapshotError, snapshot};

impl Core {
    /// Materialise epoch `cut`'s snapshot from `txn` (taken at the cut) on a
    /// background thread; folding pauses until it is written.
    pub(super) fn spawn_snapshot(&mut self, cut: EpochRecord, txn: redb::ReadTransaction) {
        self.snapshots_pending.fetch_add(1, Relaxed);
        let store = self.store.clone();
        let seed = self.config.blind_seed;
        let listener = self.listener.clone();
        let pending = self.snapshots_pending.clone();
        let metrics = self.metrics.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("zkhub-snapshot-{}", cut.epoch))
            .spawn(move || {
                let result = snapshot::take_snapshot(&store, txn, &cut, &seed);
                match &result {
                    Ok(meta) => {
                        metrics.snapshots.fetch_add(1, Relaxed);
                        // Folding may pass this cut now: say so before telling anyone
                        // the snapshot is written, so that a fold requested on that
                        // news is not skipped as "snapshot pending".
                        pending.fetch_sub(1, Relaxed);
                        listener.snapshot_written(cut.epoch, Ok(meta));
                    }
                    // Folding stays paused (the cut state must stay rebuildable);
                    // the snapshot is retried on restart.
                    Err(e) => listener.snapshot_written(cut.epoch, Err(e)),
                }
            });
        match spawned {
            Ok(t) => self.snapshot_threads.push(t),
            Err(e) => {
                let err = SnapshotError::Io {
                    path: snapshot::snapshot_path(self.store.dir(), cut.epoch),
                    source: e,
                };
                self.listener.snapshot_written(cut.epoch, Err(&err));
            }
        }
    }

    /// On start: write the snapshot of a cut that has none yet, from the current
    /// state (nothing has folded past the cut, see [`crate::store::Store::fold`]).
    pub(super) fn resume_snapshot(&mut self, cut: EpochRecord) -> Result<(), Fatal> {
        match self.store.begin_read() {
            Ok(txn) => {
                self.spawn_snapshot(cut, txn);
                Ok(())
            }
            Err(e) => {
                let err = SnapshotError::Load(e);
                self.listener.snapshot_written(cut.epoch, Err(&err));
                // Without the snapshot, folding would destroy the cut state.
                self.snapshots_pending.fetch_add(1, Relaxed);
                Ok(())
            }
        }
    }

    /// Wait for every snapshot thread (on shutdown or after a failure).
    pub(super) fn join_snapshots(&mut self) {
        for t in self.snapshot_threads.drain(..) {
            let _ = t.join();
        }
    }
}
