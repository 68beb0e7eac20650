//! Synthetic epoch snapshots with real keys and signatures, for benches and examples.

use channel::Fe;
use channel::crypto::{PrivateKey, chain_next};
use channel::ledger::{ChannelRecord, Snapshot};
use channel::types::voucher_message;

/// This process's peak resident memory in MiB (`VmHWM`), where `/proc` has it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

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

/// A hub of `channels` channels (ids `1..=channels`) closed once with nothing spent, and
/// the snapshot of its next epoch in which `touched` of them (spread over the id range,
/// `2 ≤ touched ≤ channels`) paid each other in a ring with signed vouchers; every
/// other channel is idle. The idle channels share one key (their keys are never used).
pub fn synthetic_hub(
    hub_id: u64,
    channels: u32,
    touched: u32,
) -> (channel::incremental::ClosedState, Snapshot) {
    use channel::incremental::{ClosedChannel, ClosedState};
    assert!(touched >= 2 && touched <= channels);
    let idle_key = PrivateKey([0x1d; 32]).public();
    let stride = channels / touched;
    let touched_id = |i: u32| 1 + i * stride;
    let key_of = |id: u32| {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&id.to_le_bytes());
        PrivateKey(seed)
    };
    let mut keys = vec![idle_key; channels as usize + 1];
    for i in 0..touched {
        keys[touched_id(i) as usize] = key_of(touched_id(i)).public();
    }
    let deposit = 1_000_000u64;
    let closed: Vec<ClosedChannel> = (1..=channels)
        .map(|id| ClosedChannel {
            id,
            pk: keys[id as usize],
            net_deposit: i128::from(deposit),
            spent: 0,
            received: 0,
            balance: deposit,
            blind: Fe::from(u64::from(id)),
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let state = ClosedState::from_channels(hub_id, 1, closed, threads).expect("ids in range");
    let mut records: Vec<ChannelRecord> = (1..=channels)
        .map(|id| ChannelRecord::open(id, keys[id as usize], deposit))
        .collect();
    for i in 0..touched {
        let (id, to) = (touched_id(i), touched_id((i + 1) % touched));
        let spent = u64::from(i) + 1;
        let r = &mut records[id as usize - 1];
        r.seq = 1;
        r.spent = spent;
        r.chain = chain_next(&Fe::from(0u64), 1, to, spent);
        let msg = voucher_message(hub_id, id, 1, spent, &r.chain);
        r.checkpoint_sig = Some(key_of(id).sign(&msg).pack());
        records[to as usize - 1].received += spent;
    }
    let blinds = (1..=channels)
        .map(|id| Fe::from(u64::from(id) + 7))
        .collect();
    let snapshot = Snapshot {
        hub_id,
        epoch: 2,
        channels: records,
        blinds,
    };
    (state, snapshot)
}

/// The volume blind the tests and examples close synthetic epochs with (a hub derives
/// its own from its seed: `channel::volume::volume_blind`).
pub fn volume_blind() -> Fe {
    Fe::from(0x766f_u64)
}
