//! Epoch snapshots: every channel's committed record at the cut of an epoch, the
//! input of the close proof (docs/DESIGN.md §7, §8).

use serde::{Deserialize, Serialize};

use crate::crypto::poseidon;
use crate::field::Fe;
use crate::types::{ChannelId, Epoch, HubId, TAG_BLIND};

use super::state::ChannelRecord;

/// The committed state of every channel at the cut of `epoch`, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Hub id.
    pub hub_id: HubId,
    /// Epoch being closed.
    pub epoch: Epoch,
    /// Committed records, strictly increasing ids.
    pub channels: Vec<ChannelRecord>,
    /// Per-channel blinds for the balance leaves, same order as `channels`.
    #[serde(with = "crate::merkle::fe_vec_dec")]
    pub blinds: Vec<Fe>,
}

impl Snapshot {
    /// Build a snapshot; sorts by id and derives each channel's blind from `blind_seed`.
    pub fn new(
        hub_id: HubId,
        epoch: Epoch,
        mut channels: Vec<ChannelRecord>,
        blind_seed: &Fe,
    ) -> Self {
        channels.sort_by_key(|c| c.id);
        let blinds = channels
            .iter()
            .map(|c| blind(blind_seed, epoch, c.id))
            .collect();
        Snapshot {
            hub_id,
            epoch,
            channels,
            blinds,
        }
    }
}

/// The blind hiding `(S, R)` in channel `id`'s balance leaf for `epoch`:
/// `Poseidon(BLIND, seed, epoch, id)`. Derived from the hub's secret seed, so the hub
/// stores nothing per epoch and can hand each channel its blind on request.
pub fn blind(seed: &Fe, epoch: Epoch, id: ChannelId) -> Fe {
    poseidon(&[*TAG_BLIND, *seed, Fe::from(epoch), Fe::from(id)])
}
