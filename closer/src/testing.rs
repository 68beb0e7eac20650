//! Synthetic epoch snapshots with real keys and signatures, for benches and examples.

use channel::Fe;
use channel::crypto::{PrivateKey, chain_next};
use channel::ledger::{ChannelRecord, Snapshot};
use channel::types::voucher_message;

/// A snapshot of `n` channels (ids `1..=n`, `n ≥ 2`) where channel `i` paid channel
/// `i + 1` (cyclically) `i` units in one signed voucher, so `Σ R = Σ S`.
pub fn synthetic_snapshot(hub_id: u64, epoch: u64, n: u32) -> Snapshot {
    assert!(n >= 2);
    let mut channels: Vec<ChannelRecord> = (1..=n)
        .map(|id| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&id.to_le_bytes());
            let key = PrivateKey(seed);
            let to = id % n + 1;
            let spent = u64::from(id);
            let mut r = ChannelRecord::open(id, key.public(), 1_000_000);
            r.seq = 1;
            r.spent = spent;
            r.chain = chain_next(&Fe::from(0u64), 1, to, spent);
            r.checkpoint_sig = Some(
                key.sign(&voucher_message(hub_id, id, 1, spent, &r.chain))
                    .pack(),
            );
            r
        })
        .collect();
    for id in 1..=n {
        let to = id % n + 1;
        channels[(to - 1) as usize].received += u64::from(id);
    }
    Snapshot::new(hub_id, epoch, channels, &Fe::from(0x5eedu64))
}
