//! Epoch snapshots: every channel's committed record at the cut of an epoch, the
//! input of the close proof (docs/DESIGN.md §7, §8).

use serde::{Deserialize, Serialize};

use crate::field::Fe;
use crate::types::{ChannelId, Epoch, HubId};

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
    #[serde(with = "crate::field::dec_vec")]
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
        // One blind per channel, idle or not: on every core for a large hub.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = channels.len().div_ceil(threads).max(4096);
        let blinds = std::thread::scope(|scope| {
            let parts: Vec<_> = channels
                .chunks(per)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|c| blind(blind_seed, epoch, c.id))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("deriving blinds does not panic"))
                .collect()
        });
        Snapshot {
            hub_id,
            epoch,
            channels,
            blinds,
        }
    }
}

/// The blind hiding `(S, R)` in channel `id`'s balance leaf for `epoch`: BLAKE3 keyed
/// by the hub's secret seed over `"zkhub/blind/v2" ‖ epoch ‖ id`, 64 bytes of output
/// reduced modulo the field order (bias below 2^-250). A pseudorandom function of the
/// seed, so the hub stores nothing per epoch and can hand each channel its blind on
/// request. BLAKE3, not Poseidon: blinds are witness values that no circuit recomputes,
/// and a cut derives one per channel, idle or not — about 0.3 µs each against ~20 µs for
/// a Poseidon hash, so a million channels' cut no longer spends tens of seconds here.
pub fn blind(seed: &Fe, epoch: Epoch, id: ChannelId) -> Fe {
    let mut hasher = blake3::Hasher::new_keyed(&crate::field::fe_to_be_bytes(seed));
    hasher.update(b"zkhub/blind/v2");
    hasher.update(&epoch.to_le_bytes());
    hasher.update(&id.to_le_bytes());
    let mut wide = [0u8; 64];
    hasher.finalize_xof().fill(&mut wide);
    <Fe as ark_ff::PrimeField>::from_le_bytes_mod_order(&wide)
}
