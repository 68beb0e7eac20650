//! Durability costs (docs/DESIGN.md §6, §10), on real files in a temporary directory
//! (set `TMPDIR` to choose the disk):
//!
//! - `group_commit/<R>`: one group commit of `R` covered ranges of 64 payments each
//!   (checkpoint every 64 vouchers), as the writer does it: `Store::append_batch`
//!   (one `Durability::Immediate` transaction) then `apply_batch` to the in-memory
//!   table. Time per iteration is the per-commit latency; throughput is payments/s.
//! - `fold_slice/<rows>`: one fold slice of 128 or 1,024 random channel rows into a
//!   table of 100,000 rows (what a batch may wait behind; the worst case: a round
//!   walks its channels in id order, so dense rounds share pages).
//! - `restart/<N>`: `Store::open` + `Store::load` of `N` channel rows plus a log tail
//!   of 100 batches (a restart with a cold redb cache). Sizes from `ZKHUB_BENCH_LOAD`
//!   (comma-separated, default `100000,1000000`).
//!
//! Run: `cargo bench -p benches --bench commit`.

use std::time::{Duration, Instant};

use channel::crypto::PublicKey;
use channel::field::Fe;
use channel::ledger::{Batch, BatchBuilder, ChannelRecord, Covered, Debit, Event, apply_batch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hub::state::Channels;
use hub::store::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HUB: u64 = 1;
const PAYMENTS_PER_RANGE: usize = 64;

fn pk(id: u32) -> PublicKey {
    PublicKey::from_xy_unchecked(Fe::from(u64::from(id) * 3 + 1), -Fe::from(u64::from(id)))
}

/// Payers' heads, to generate valid covered ranges.
struct Gen {
    rng: StdRng,
    n: u32,
    heads: Vec<(u64, u64)>,
}

impl Gen {
    fn new(n: u32) -> Self {
        Gen {
            rng: StdRng::seed_from_u64(9),
            n,
            heads: vec![(0, 0); n as usize + 1],
        }
    }

    fn opens(&self) -> Vec<Event> {
        (1..=self.n)
            .map(|c| Event::Open {
                channel: c,
                pk: pk(c),
                deposit: 1 << 40,
            })
            .collect()
    }

    fn covered(&mut self, payer: u32) -> Covered {
        let (mut seq, mut spent) = self.heads[payer as usize];
        let mut payments = Vec::with_capacity(PAYMENTS_PER_RANGE);
        for _ in 0..PAYMENTS_PER_RANGE {
            let mut to = self.rng.gen_range(1..=self.n);
            if to == payer {
                to = to % self.n + 1;
            }
            let amount = self.rng.gen_range(1..=1_000);
            payments.push((to, amount));
            seq += 1;
            spent += amount;
        }
        self.heads[payer as usize] = (seq, spent);
        Covered {
            debit: Debit {
                channel: payer,
                seq,
                spent,
                chain: Fe::from(seq),
                sig: [0x5a; 64],
            },
            payments,
        }
    }

    /// A batch of `ranges` covered ranges from distinct random payers.
    fn batch(&mut self, number: u64, ranges: usize) -> Batch {
        let mut b = BatchBuilder::new();
        let start = self.rng.gen_range(1..=self.n);
        for i in 0..ranges as u32 {
            let payer = (start + i) % self.n + 1;
            b.push_covered(self.covered(payer), false)
                .expect("no exits in this bench");
        }
        b.build(number)
    }
}

fn group_commit(c: &mut Criterion) {
    const CHANNELS: u32 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), HUB).unwrap();
    let channels = Channels::new();
    let mut wl = Gen::new(CHANNELS);
    let mut open = BatchBuilder::new();
    for e in wl.opens() {
        open.push_event(e);
    }
    let open = open.build(1);
    store.append_batch(&open).unwrap();
    apply_batch(&channels, &open).expect("the opens apply");
    let mut next = 2u64;

    let mut group = c.benchmark_group("group_commit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for ranges in [1usize, 64, 1_024, 16_384] {
        group.throughput(Throughput::Elements((ranges * PAYMENTS_PER_RANGE) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(ranges),
            &ranges,
            |b, &ranges| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let batch = wl.batch(next, ranges);
                        next += 1;
                        let t = Instant::now();
                        store.append_batch(&batch).unwrap();
                        let applied = apply_batch(&channels, &batch).expect("the batch applies");
                        total += t.elapsed();
                        assert_eq!(applied.acks.len(), ranges);
                    }
                    total
                });
            },
        );
    }
    group.finish();
    let bytes = wl.batch(0, 1_024).encode().len();
    eprintln!("(a 1,024-range batch record is {bytes} bytes)");

    // Fold slices: first fold everything, then time slices of random rows.
    let rows = channels.records();
    let last = next - 1;
    for chunk in rows.chunks(20_000) {
        store.fold(chunk, last, None).unwrap();
    }
    store.fold(&[], last, Some(last)).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut group = c.benchmark_group("fold_slice");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    for rows in [128usize, 1_024] {
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(BenchmarkId::from_parameter(rows), &rows, |b, &rows| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut ids: Vec<u32> =
                        (0..rows).map(|_| rng.gen_range(1..=CHANNELS)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    let slice: Vec<ChannelRecord> =
                        ids.iter().filter_map(|&id| channels.record(id)).collect();
                    let t = Instant::now();
                    store.fold(&slice, last, None).unwrap();
                    total += t.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

/// A store with `n` channel rows and a 100-batch log tail.
fn build_store(dir: &std::path::Path, n: u32) {
    let store = Store::open(dir, HUB).unwrap();
    let mut wl = Gen::new(n);
    let channels = Channels::with_capacity(n as usize);
    let mut number = 0;
    for chunk in wl.opens().chunks(100_000) {
        let mut b = BatchBuilder::new();
        for e in chunk {
            b.push_event(e.clone());
        }
        number += 1;
        let batch = b.build(number);
        store.append_batch(&batch).unwrap();
        apply_batch(&channels, &batch).expect("the batch applies");
    }
    // Some history, so rows carry seqs, signatures and received amounts.
    for _ in 0..50 {
        number += 1;
        let batch = wl.batch(number, 2_000);
        store.append_batch(&batch).unwrap();
        apply_batch(&channels, &batch).expect("the batch applies");
    }
    let rows = channels.records();
    for chunk in rows.chunks(50_000) {
        store.fold(chunk, number, None).unwrap();
    }
    store.fold(&[], number, Some(number)).unwrap();
    for _ in 0..100 {
        number += 1;
        store.append_batch(&wl.batch(number, 256)).unwrap();
    }
}

fn restart(c: &mut Criterion) {
    let sizes: Vec<u32> = std::env::var("ZKHUB_BENCH_LOAD")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut group = c.benchmark_group("restart");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        build_store(dir.path(), n);
        let size = std::fs::metadata(dir.path().join(hub::store::DB_FILE))
            .unwrap()
            .len();
        eprintln!(
            "built a store of {n} channels in {:?}: {} MB",
            t.elapsed(),
            size >> 20
        );
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let store = Store::open(dir.path(), HUB).unwrap();
                let loaded = store.load().unwrap();
                assert_eq!(loaded.channels.len(), n as usize);
                assert_eq!(loaded.recovery.replayed, 100);
                if std::env::var_os("ZKHUB_BENCH_VERBOSE").is_some() {
                    let r = &loaded.recovery;
                    eprintln!(
                        "rows {} in {:?}, replay {} in {:?}",
                        r.rows, r.rows_time, r.replayed, r.replay_time
                    );
                }
                loaded
            });
        });
    }
    group.finish();
}

criterion_group!(benches, group_commit, restart);
criterion_main!(benches);
