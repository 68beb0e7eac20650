//! Shared fixtures: a small epoch snapshot with real keys and signatures.

#![allow(dead_code)]

use channel::Fe;
use channel::crypto::{PrivateKey, chain_next};
use channel::ledger::{ChannelRecord, Snapshot};
use channel::types::voucher_message;

/// Hub id used by the fixtures.
pub const HUB: u64 = 77;
/// Epoch used by the fixtures.
pub const EPOCH: u64 = 5;

/// A channel's key from a seed byte.
pub fn key(seed: u8) -> PrivateKey {
    PrivateKey([seed; 32])
}

/// A record that has spent `spent` in one voucher to `to`, signed.
pub fn spender(
    id: u32,
    seed: u8,
    deposit: u64,
    spent: u64,
    to: u32,
    received: u64,
) -> ChannelRecord {
    let k = key(seed);
    let mut r = ChannelRecord::open(id, k.public(), deposit);
    r.received = received;
    if spent > 0 {
        r.seq = 1;
        r.spent = spent;
        r.chain = chain_next(&Fe::from(0u64), 1, to, spent);
        let msg = voucher_message(HUB, id, 1, spent, &r.chain);
        r.checkpoint_sig = Some(k.sign(&msg).pack());
    }
    r
}

/// Three channels in four slots: 1 pays 2 thirty, 3 pays 1 five, 3 idle otherwise.
pub fn snapshot3() -> Snapshot {
    let channels = vec![
        spender(1, 1, 100, 30, 2, 5),
        spender(2, 2, 0, 0, 0, 30),
        spender(4, 3, 50, 5, 1, 0),
    ];
    Snapshot::new(HUB, EPOCH, channels, &Fe::from(999u64))
}

/// [`snapshot3`] after channel 2 (a payee, D = 0, R = 30) withdrew 20 of what it was
/// paid: its net deposit is −20 and its balance 10.
pub fn snapshot3_after_withdrawal() -> Snapshot {
    let mut payee = spender(2, 2, 0, 0, 0, 30);
    payee.deposit = -20;
    let channels = vec![
        spender(1, 1, 100, 30, 2, 5),
        payee,
        spender(4, 3, 50, 5, 1, 0),
    ];
    Snapshot::new(HUB, EPOCH, channels, &Fe::from(999u64))
}

/// Two channels in two slots: 1 pays 2 ten.
pub fn snapshot2() -> Snapshot {
    let channels = vec![spender(1, 1, 100, 10, 2, 0), spender(2, 2, 20, 0, 0, 10)];
    Snapshot::new(HUB, EPOCH, channels, &Fe::from(7u64))
}

/// An incremental history, epoch 1: channels 1–4 and 6 open; 1 pays 2 thirty, 4 pays 1
/// five.
pub fn epoch1() -> Snapshot {
    let channels = vec![
        spender(1, 1, 100, 30, 2, 5),
        spender(2, 2, 0, 0, 0, 30),
        spender(3, 3, 10, 0, 0, 0),
        spender(4, 4, 50, 5, 1, 0),
        spender(6, 6, 70, 0, 0, 0),
    ];
    Snapshot::new(HUB, 1, channels, &Fe::from(11u64))
}

/// Epoch 2: 1 pays 3 fifteen more, 4 tops up 25, 5 opens; 2 and 6 stay idle.
pub fn epoch2() -> Snapshot {
    let mut topped_up = spender(4, 4, 75, 5, 1, 0);
    topped_up.deposit = 75;
    let channels = vec![
        spender(1, 1, 100, 45, 3, 5),
        spender(2, 2, 0, 0, 0, 30),
        spender(3, 3, 10, 0, 0, 15),
        topped_up,
        spender(5, 5, 40, 0, 0, 0),
        spender(6, 6, 70, 0, 0, 0),
    ];
    Snapshot::new(HUB, 2, channels, &Fe::from(22u64))
}
