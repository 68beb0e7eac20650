//! The hub's copy of what the last accepted incremental close left: every channel's
//! leaf values and the state tree ([`ClosedState`], docs/DESIGN.md §8.2).
//!
//! The settlement layer stores only roots; the hub keeps the leaves, because every
//! withdrawal, dispute and forced exit after an incremental close opens a leaf of the
//! accepted state root, and the next close starts from it. The hub does not trust a
//! prover with it: before an incremental close is submitted, the hub computes the
//! state after that epoch itself (from its own snapshot) and refuses a proof whose new
//! root is not that state's root. After acceptance the state is saved
//! (`DATA/epochs/E/state.bin`, [`crate::store::closed_state`]).
//!
//! **Recovery.** The settlement file is written before the state file; a crash
//! between them, a lost or corrupt state file, or a hub that has never saved one, all
//! end the same way at the next start: from the newest state file whose root is the
//! accepted one (or the empty tree), the hub replays each later incremental close from
//! its epoch snapshot and checks every root against the settlement layer's record.
//! Loading a million channels' state takes about half a second, so it runs beside the
//! hub's start ([`ClosedSlot`]): payments are served at once, and only an incremental
//! close or an opening of its state waits for it.

use std::path::{Path, PathBuf};

use channel::incremental::{ClosedState, IncrementalError, IncrementalWitness};
use channel::ledger::Snapshot;
use channel::settlement::{CloseKind, Settlement};
use channel::statement::BalanceOpening;
use channel::{ChannelId, Epoch, Fe, HubId};
use tracing::{info, warn};

use crate::store::{closed_state_path, read_closed_state, write_closed_state};

/// Why the closed state could not be brought up to the settlement layer's record.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The snapshot of an epoch closed incrementally could not be read.
    #[error("the snapshot of epoch {epoch} (closed incrementally) cannot be read: {reason}")]
    Snapshot {
        /// Epoch.
        epoch: Epoch,
        /// Why.
        reason: String,
    },
    /// Replaying an accepted close from its snapshot failed.
    #[error("replaying the incremental close of epoch {epoch}: {source}")]
    Replay {
        /// Epoch.
        epoch: Epoch,
        /// Why.
        source: IncrementalError,
    },
    /// The replayed state's root is not the accepted one.
    #[error(
        "the state after epoch {0} rebuilt from its snapshot is not the root the settlement layer accepted"
    )]
    RootMismatch(Epoch),
}

/// The incremental closes the settlement layer accepted, with their roots, in epoch
/// order (they are consecutive from epoch 1: each starts from the previous one's root).
pub fn accepted_incremental(settlement: &Settlement) -> Vec<(Epoch, Fe)> {
    let latest = settlement.latest_epoch().unwrap_or(0);
    (1..=latest)
        .map_while(|e| {
            let close = settlement.epoch(e)?.close.as_ref()?;
            (close.kind == CloseKind::Incremental).then_some((e, close.balances_root))
        })
        .collect()
}

/// The latest closed state, kept in memory and saved in the data directory.
pub struct ClosedStates {
    dir: PathBuf,
    hub_id: HubId,
    /// The state after the latest accepted incremental close (genesis before any).
    latest: ClosedState,
}

impl ClosedStates {
    /// Load the state of the latest accepted incremental close from `dir`, replaying
    /// from snapshots what the saved files miss (see the module comment).
    /// `accepted`: [`accepted_incremental`] of the settlement layer.
    pub fn recover(
        dir: &Path,
        hub_id: HubId,
        accepted: &[(Epoch, Fe)],
        snapshot: impl Fn(Epoch) -> Result<Snapshot, String>,
    ) -> Result<ClosedStates, RecoveryError> {
        // The newest saved state that is the accepted one of its epoch.
        let mut start = ClosedState::genesis(hub_id);
        let mut done = 0;
        for (i, &(epoch, root)) in accepted.iter().enumerate().rev() {
            if !closed_state_path(dir, epoch).exists() {
                continue;
            }
            match read_closed_state(dir, epoch) {
                Ok(state) if state.root() == root && state.hub_id == hub_id => {
                    start = state;
                    done = i + 1;
                    break;
                }
                Ok(_) => warn!(
                    epoch,
                    "the saved closed state is not the accepted one; rebuilding"
                ),
                Err(e) => {
                    warn!(epoch, error = %e, "the saved closed state is unreadable; rebuilding")
                }
            }
        }
        let mut states = ClosedStates {
            dir: dir.to_path_buf(),
            hub_id,
            latest: start,
        };
        for &(epoch, root) in &accepted[done..] {
            let snapshot =
                snapshot(epoch).map_err(|reason| RecoveryError::Snapshot { epoch, reason })?;
            let next = states.next(&snapshot)?;
            if next.root() != root {
                return Err(RecoveryError::RootMismatch(epoch));
            }
            info!(epoch, "closed state rebuilt from the epoch snapshot");
            states.adopt(next);
        }
        Ok(states)
    }

    /// The state after closing `snapshot` (the epoch after the latest closed one).
    pub fn next(&self, snapshot: &Snapshot) -> Result<ClosedState, RecoveryError> {
        // The state does not depend on the volume's blind: any will do.
        self.close(snapshot, &Fe::from(0u64)).map(|(_, next)| next)
    }

    /// The witness of closing `snapshot` (its volume committed with `volume_blind`) and
    /// the state after it.
    pub fn close(
        &self,
        snapshot: &Snapshot,
        volume_blind: &Fe,
    ) -> Result<(IncrementalWitness, ClosedState), RecoveryError> {
        self.latest
            .close(snapshot, volume_blind)
            .map_err(|source| RecoveryError::Replay {
                epoch: snapshot.epoch,
                source,
            })
    }

    /// Make `state` (accepted by the settlement layer) the latest and save it. A save
    /// that fails is logged, not returned: the settlement layer has accepted the close,
    /// and the next start rebuilds the state from the snapshot.
    pub fn adopt(&mut self, state: ClosedState) {
        debug_assert_eq!(state.hub_id, self.hub_id);
        debug_assert_eq!(state.epoch, self.latest.epoch + 1, "closes are consecutive");
        if let Err(e) = write_closed_state(&self.dir, &state) {
            warn!(epoch = state.epoch, error = %e, "the closed state was not saved; the next start rebuilds it");
        }
        self.latest = state;
    }

    /// The state after the latest accepted incremental close (genesis before any).
    pub fn latest(&self) -> &ClosedState {
        &self.latest
    }

    /// The opening of channel `id`'s leaf in the state of incremental close `epoch`
    /// (the latest from memory, an older one from its saved file).
    pub fn opening(&self, id: ChannelId, epoch: Epoch) -> Result<BalanceOpening, String> {
        let older;
        let state = if epoch == self.latest.epoch {
            &self.latest
        } else {
            older = read_closed_state(&self.dir, epoch).map_err(|e| e.to_string())?;
            &older
        };
        state
            .balance_opening(id)
            .ok_or_else(|| format!("channel {id} is not in the state closed at epoch {epoch}"))
    }
}

/// The closed state as the operator holds it: still loading beside the hub's start,
/// or loaded (or why it is unavailable: serving payments does not depend on it).
pub enum ClosedSlot {
    /// Recovery runs on a blocking thread.
    Loading(tokio::task::JoinHandle<Result<ClosedStates, RecoveryError>>),
    /// Done.
    Ready(Result<ClosedStates, String>),
}

impl ClosedSlot {
    /// Start recovering in the background (see [`ClosedStates::recover`]).
    pub fn recover_in_background(
        dir: PathBuf,
        hub_id: HubId,
        accepted: Vec<(Epoch, Fe)>,
        snapshot: impl Fn(Epoch) -> Result<Snapshot, String> + Send + 'static,
    ) -> ClosedSlot {
        ClosedSlot::Loading(tokio::task::spawn_blocking(move || {
            ClosedStates::recover(&dir, hub_id, &accepted, snapshot)
        }))
    }

    /// The closed states, waiting for the recovery if it still runs.
    pub async fn ready(&mut self) -> Result<&mut ClosedStates, String> {
        if let ClosedSlot::Loading(handle) = self {
            let result = match handle.await {
                Ok(Ok(states)) => Ok(states),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("the recovery task failed: {e}")),
            };
            if let Err(e) = &result {
                tracing::error!(error = %e, "the incremental close's state could not be recovered");
            }
            *self = ClosedSlot::Ready(result);
        }
        match self {
            ClosedSlot::Ready(Ok(states)) => Ok(states),
            ClosedSlot::Ready(Err(e)) => Err(e.clone()),
            ClosedSlot::Loading(_) => unreachable!("replaced above"),
        }
    }
}
