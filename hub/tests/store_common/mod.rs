//! Shared helpers of the `store_*` tests: a deterministic generator of channels and
//! covered ranges (no crypto: the store never verifies, so keys are arbitrary curve
//! coordinates and signatures are fake bytes), a reference [`Ledger`] kept in step,
//! and a recording [`CommitListener`].

#![allow(dead_code)]

use std::sync::Mutex;
use std::sync::mpsc;

use channel::crypto::PublicKey;
use channel::field::Fe;
use channel::ledger::{
    Applied, Batch, BatchBuilder, ChannelRecord, Covered, Debit, Event, Ledger, apply_batch,
};
use channel::types::{ChannelId, Epoch};
use hub::store::{CommitError, SnapshotError, SnapshotMeta};
use hub::writer::CommitListener;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Deposit of every generated channel.
pub const DEPOSIT: u64 = 1_000_000_000;

/// A temp dir, on tmpfs when available (fsync is then free: tests that need many
/// commits stay fast; durability itself is tested with real files elsewhere).
pub fn fast_tempdir() -> tempfile::TempDir {
    if std::path::Path::new("/dev/shm").is_dir()
        && let Ok(d) = tempfile::tempdir_in("/dev/shm")
    {
        return d;
    }
    tempfile::tempdir().expect("tempdir")
}

/// An arbitrary (unvalidated) key for channel `id`.
pub fn fake_pk(id: ChannelId) -> PublicKey {
    PublicKey::from_xy_unchecked(
        Fe::from(u64::from(id) * 7 + 1),
        -Fe::from(u64::from(id) + 3),
    )
}

/// Generates opens and covered ranges, tracking each payer's head.
pub struct Gen {
    rng: StdRng,
    /// Channels opened so far are `1..=opened`.
    pub opened: u32,
    heads: Vec<(u64, u64)>,
}

impl Gen {
    /// A generator with seed `seed`.
    pub fn new(seed: u64) -> Self {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            opened: 0,
            heads: vec![(0, 0)],
        }
    }

    /// Open `n` more channels.
    pub fn open(&mut self, n: u32) -> Vec<Event> {
        (0..n)
            .map(|_| {
                self.opened += 1;
                self.heads.push((0, 0));
                Event::Open {
                    channel: self.opened,
                    pk: fake_pk(self.opened),
                    deposit: DEPOSIT,
                }
            })
            .collect()
    }

    /// A covered range of `k` payments by `payer` to random other channels.
    pub fn covered_by(&mut self, payer: ChannelId, k: usize) -> Covered {
        assert!(self.opened >= 2 && payer >= 1 && payer <= self.opened);
        let mut payments = Vec::with_capacity(k);
        let (mut seq, mut spent) = self.heads[payer as usize];
        for _ in 0..k {
            let mut to = self.rng.gen_range(1..=self.opened);
            if to == payer {
                to = if to == self.opened { 1 } else { to + 1 };
            }
            let amount = self.rng.gen_range(1..=100);
            payments.push((to, amount));
            seq += 1;
            spent += amount;
        }
        self.heads[payer as usize] = (seq, spent);
        let mut sig = [0u8; 64];
        sig[..8].copy_from_slice(&seq.to_be_bytes());
        sig[8..12].copy_from_slice(&payer.to_be_bytes());
        Covered {
            debit: Debit {
                channel: payer,
                seq,
                spent,
                chain: Fe::from(seq) * Fe::from(u64::from(payer) + 1_000_003),
                sig,
            },
            payments,
        }
    }

    /// A covered range of `k` payments by a random payer.
    pub fn covered(&mut self, k: usize) -> Covered {
        let payer = self.rng.gen_range(1..=self.opened);
        self.covered_by(payer, k)
    }

    /// A random batch of `ranges` covered ranges (numbered `number`).
    pub fn batch(&mut self, number: u64, ranges: usize, payments_per_range: usize) -> Batch {
        let mut b = BatchBuilder::new();
        for _ in 0..ranges {
            b.push_covered(self.covered(payments_per_range), false)
                .expect("no exits in this workload");
        }
        b.build(number)
    }

    /// A batch opening `n` channels.
    pub fn open_batch(&mut self, number: u64, n: u32) -> Batch {
        let mut b = BatchBuilder::new();
        for e in self.open(n) {
            b.push_event(e);
        }
        b.build(number)
    }
}

/// Apply `batch` to the reference model too.
pub fn apply_ref(reference: &Ledger, batch: &Batch) -> Applied {
    apply_batch(reference, batch).expect("the reference model takes every workload batch")
}

/// A snapshot outcome as the recorder reports it.
pub type SnapshotOutcome = (Epoch, Result<SnapshotMeta, String>);

/// Everything the writer told its listener.
#[derive(Default)]
pub struct Recorder {
    /// `(batch, applied)` in order.
    pub committed: Mutex<Vec<(u64, Applied)>>,
    /// Failures.
    pub failures: Mutex<Vec<String>>,
    /// Snapshot outcomes.
    pub snapshots: Mutex<Option<mpsc::Sender<SnapshotOutcome>>>,
}

impl Recorder {
    /// A recorder and a receiver of snapshot outcomes.
    pub fn new() -> (Self, mpsc::Receiver<SnapshotOutcome>) {
        let (tx, rx) = mpsc::channel();
        let r = Recorder {
            snapshots: Mutex::new(Some(tx)),
            ..Default::default()
        };
        (r, rx)
    }

    /// The latest acked seq per channel.
    pub fn acks(&self) -> std::collections::BTreeMap<ChannelId, u64> {
        let mut out = std::collections::BTreeMap::new();
        for (_, a) in self.committed.lock().unwrap().iter() {
            for &(c, s) in &a.acks {
                let e = out.entry(c).or_insert(0);
                assert!(s > *e, "acks of a channel increase");
                *e = s;
            }
        }
        out
    }
}

impl CommitListener for Recorder {
    fn committed(&self, batch_number: u64, applied: Applied) {
        self.committed.lock().unwrap().push((batch_number, applied));
    }
    fn failed(&self, err: &CommitError) {
        self.failures.lock().unwrap().push(err.to_string());
    }
    fn snapshot_written(&self, epoch: Epoch, result: Result<&SnapshotMeta, &SnapshotError>) {
        if let Some(tx) = self.snapshots.lock().unwrap().as_ref() {
            let _ = tx.send((epoch, result.copied().map_err(|e| e.to_string())));
        }
    }
}

/// Records of a loaded table, sorted.
pub fn sorted(mut v: Vec<ChannelRecord>) -> Vec<ChannelRecord> {
    v.sort_by_key(|r| r.id);
    v
}
