//! `Batch::decode` (the hub's log record) never panics and never allocates beyond its
//! input: arbitrary bytes, and tape-driven mutations of real encoded batches
//! (counts, event tags, field elements at or above p, truncation at and around
//! record boundaries, splices). Whatever decodes must encode to the same bytes (a
//! log record has exactly one encoding, so a replayed record is the same batch).
//!
//! `ZKHUB_FUZZ_CASES` sets the executions (default: a few seconds).

mod fuzz_support;

use channel::crypto::PrivateKey;
use channel::field::Fe;
use channel::ledger::{Batch, Debit, Event};
use fuzz_support::{Tape, fuzz};
use proptest::prelude::*;

/// Real batches: every event kind, debits with real signatures, credits.
fn seeds() -> Vec<Vec<u8>> {
    let k = PrivateKey([3; 32]);
    let debit = |channel, seq| Debit {
        channel,
        seq,
        spent: seq * 10,
        chain: Fe::from(seq * 7919),
        sig: k.sign(&Fe::from(seq)).pack(),
    };
    let batches = [
        Batch::default(),
        Batch {
            number: 1,
            events: vec![
                Event::Open {
                    channel: 1,
                    pk: k.public(),
                    deposit: 1_000,
                },
                Event::TopUp {
                    channel: 1,
                    amount: 5,
                },
                Event::Withdraw {
                    channel: 1,
                    amount: 3,
                },
                Event::Exit { channel: 1 },
            ],
            debits: vec![],
            credits: vec![],
        },
        Batch {
            number: u64::MAX,
            events: vec![],
            debits: vec![debit(1, 64), debit(2, u64::MAX)],
            credits: vec![(1, 10), (2, u64::MAX), (u32::MAX, 1)],
        },
        Batch {
            number: 7,
            events: vec![Event::Exit { channel: 9 }],
            debits: vec![debit(9, 1)],
            credits: vec![(3, 10)],
        },
    ];
    batches.iter().map(Batch::encode).collect()
}

/// Offsets where records start in an encoded batch (header fields, then items).
fn boundaries(b: &[u8]) -> Vec<usize> {
    let mut out = vec![0, 1, 9, 13, 17, 21];
    let Ok(batch) = Batch::decode(b) else {
        return out;
    };
    let mut at = 21;
    for e in &batch.events {
        out.push(at);
        at += match e {
            Event::Open { .. } => 1 + 4 + 64 + 8,
            Event::TopUp { .. } | Event::Withdraw { .. } => 1 + 4 + 8,
            Event::Exit { .. } => 1 + 4,
        };
    }
    for _ in &batch.debits {
        out.push(at);
        at += 116;
    }
    for _ in &batch.credits {
        out.push(at);
        at += 12;
    }
    out
}

fn mutate(seed: &[u8], others: &[Vec<u8>], t: &mut Tape) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..t.range(1, 3) {
        let bounds = boundaries(&b);
        match t.below(7) {
            0 if b.len() >= 21 => {
                // A count field: off by one, huge, or random.
                let at = [9, 13, 17][t.below(3)];
                let n = u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"));
                let n = match t.below(4) {
                    0 => n.wrapping_add(1),
                    1 => n.wrapping_sub(1),
                    2 => u32::MAX,
                    _ => t.u32(),
                };
                b[at..at + 4].copy_from_slice(&n.to_be_bytes());
            }
            1 => {
                // An event tag or the version byte.
                let at = bounds[t.below(bounds.len())].min(b.len().saturating_sub(1));
                if !b.is_empty() {
                    b[at] = t.u8() % 6;
                }
            }
            2 if b.len() >= 32 => {
                // A 32-byte value at or above the field modulus.
                let at = t.below(b.len() - 31);
                let fill = [0xff, 0x30, 0x31][t.below(3)];
                b[at..at + 32].fill(fill);
            }
            3 => {
                let at = bounds[t.below(bounds.len())];
                let at = (at + t.below(3)).saturating_sub(1).min(b.len());
                b.truncate(at);
            }
            4 => {
                let o = &others[t.below(others.len())];
                let from = t.below(o.len() + 1);
                let to = from + t.below(o.len() - from + 1);
                let at = t.below(b.len() + 1);
                b.splice(at..at, o[from..to].iter().copied());
            }
            5 if !b.is_empty() => {
                let at = t.below(b.len());
                b[at] ^= 1 << (t.u8() % 8);
            }
            _ => b.push(t.u8()),
        }
    }
    b
}

fn check(data: &[u8]) {
    if let Ok(batch) = Batch::decode(data) {
        assert_eq!(
            batch.encode(),
            data,
            "a batch record has exactly one encoding"
        );
    }
}

#[test]
fn fuzz_batch_decode_arbitrary() {
    fuzz(
        "batch/arbitrary",
        100_000,
        prop::collection::vec(any::<u8>(), 0..400),
        |data| check(&data),
    );
}

#[test]
fn fuzz_batch_decode_mutated() {
    let seeds = seeds();
    fuzz(
        "batch/mutated",
        100_000,
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 0..48),
        ),
        |(which, tape)| {
            let seed = &seeds[which.index(seeds.len())];
            check(&mutate(seed, &seeds, &mut Tape::new(&tape)));
        },
    );
}

#[test]
fn seeds_round_trip_and_mutations_reach_both_outcomes() {
    let seeds = seeds();
    for s in &seeds {
        assert_eq!(&Batch::decode(s).expect("seed decodes").encode(), s);
    }
    let (mut ok, mut err) = (0, 0);
    for i in 0..3000u32 {
        let tape: Vec<u8> = (0..24)
            .map(|j| (i.wrapping_mul(2654435761) >> (j % 25)) as u8)
            .collect();
        let m = mutate(
            &seeds[i as usize % seeds.len()],
            &seeds,
            &mut Tape::new(&tape),
        );
        if Batch::decode(&m).is_ok() {
            ok += 1;
        } else {
            err += 1;
        }
    }
    assert!(
        ok > 30 && err > 300,
        "mutations: {ok} decode, {err} refused"
    );
}
