//! The incremental close's state tree at hub scale (docs/DESIGN.md §8.2, issue 14): a
//! bulk build of 1,000,000 leaves, 1,024 random updates in that tree (one by one and as
//! one batch), saving and loading it (the restart path), and `ClosedState::close` of a
//! 1,000,000-channel snapshot in which 1,024 channels moved.
//!
//! The one-off costs (bulk build, the closed state of every channel) take seconds each
//! on 2 cores, so they are timed once and printed; criterion samples only the
//! per-epoch work, with small sample sizes.

use std::hint::black_box;
use std::time::Instant;

use channel::Fe;
use channel::crypto::{PrivateKey, chain_next};
use channel::incremental::{ClosedChannel, ClosedState};
use channel::ledger::{ChannelRecord, Snapshot};
use channel::state_tree::{ReadLimits, StateTree};
use channel::types::voucher_message;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::seq::index::sample;
use rand::{SeedableRng, rngs::StdRng};

const CHANNELS: u32 = 1_000_000;
const TOUCHED: usize = 1024;
const HUB: u64 = 9;

fn leaves() -> Vec<(u32, Fe)> {
    (1..=CHANNELS)
        .map(|p| {
            (
                p,
                Fe::from(u64::from(p)) * Fe::from(0x9e37_79b9_7f4a_7c15u64),
            )
        })
        .collect()
}

/// `TOUCHED` distinct random positions in `1..=CHANNELS`, sorted.
fn random_positions(seed: u64) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut positions: Vec<u32> = sample(&mut rng, CHANNELS as usize, TOUCHED)
        .into_iter()
        .map(|i| i as u32 + 1)
        .collect();
    positions.sort_unstable();
    positions
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    eprintln!("state_tree: {what}: {:.3} s", start.elapsed().as_secs_f64());
    out
}

fn bench_tree(c: &mut Criterion) {
    channel::crypto::poseidon::warm_up();
    let tree = timed("bulk build of 1,000,000 leaves (once)", || {
        StateTree::from_leaves(leaves()).unwrap()
    });

    let updates: Vec<(u32, Fe)> = random_positions(1)
        .into_iter()
        .map(|p| (p, Fe::from(u64::from(p) + 1)))
        .collect();
    let mut group = c.benchmark_group("state_tree/1M");
    group.sample_size(10);
    group.bench_function("set 1,024 random positions one by one", |b| {
        b.iter_batched(
            || tree.clone(),
            |mut t| {
                for (p, l) in &updates {
                    t.set(*p, *l).unwrap();
                }
                t
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("set_many 1,024 random positions", |b| {
        b.iter_batched(
            || tree.clone(),
            |mut t| {
                t.set_many(updates.iter().copied()).unwrap();
                t
            },
            BatchSize::LargeInput,
        )
    });
    let mut saved = Vec::new();
    tree.write_to(&mut saved).unwrap();
    eprintln!("state_tree: saved 1M tree: {} bytes", saved.len());
    group.bench_function("write_to (in memory)", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(saved.len());
            tree.write_to(&mut out).unwrap();
            out
        })
    });
    group.bench_function("read_from (in memory)", |b| {
        b.iter(|| StateTree::read_from(black_box(&saved[..]), ReadLimits::default()).unwrap())
    });
    group.finish();

    // The restart path through a real file (page cache warm after the write).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.tree");
    timed("write_to a file (1M tree)", || {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        tree.write_to(file).unwrap();
    });
    let loaded = timed("read_from a file (1M tree)", || {
        let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        StateTree::read_from(file, ReadLimits::default()).unwrap()
    });
    assert_eq!(loaded.root(), tree.root());
}

fn key(id: u32) -> PrivateKey {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&id.to_le_bytes());
    PrivateKey(bytes)
}

fn bench_close(c: &mut Criterion) {
    channel::crypto::poseidon::warm_up();
    // One key for the idle channels (a key costs a scalar multiplication); the touched
    // ones get their own, since they sign.
    let touched = random_positions(2);
    let idle_key = key(0).public();
    let mut records: Vec<ChannelRecord> = (1..=CHANNELS)
        .map(|id| ChannelRecord::open(id, idle_key, 1_000))
        .collect();
    for &id in &touched {
        records[id as usize - 1].pk = key(id).public();
    }
    // The state after a close of every channel, built once as a restarted closer
    // would (a first close through `ClosedState::close` takes minutes here: 4 hashes
    // per channel, 2 of them in the sequential deposits hash).
    let closed = records
        .iter()
        .map(|r| ClosedChannel {
            id: r.id,
            pk: r.pk,
            net_deposit: r.deposit,
            spent: 0,
            received: 0,
            balance: 1_000,
            blind: Fe::from(u64::from(r.id)),
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let state1 = timed(
        "ClosedState::from_channels of 1,000,000 channels (once)",
        || ClosedState::from_channels(HUB, 1, closed, threads).unwrap(),
    );

    // 512 payers pay 512 payees: 1,024 touched channels, 512 signatures to verify.
    for pair in touched.chunks(2) {
        let (from, to) = (pair[0], pair[1]);
        let payer = &mut records[from as usize - 1];
        payer.spent = 10;
        payer.seq = 1;
        payer.chain = chain_next(&Fe::from(0u64), 1, to, 10);
        let msg = voucher_message(HUB, from, 1, 10, &payer.chain);
        payer.checkpoint_sig = Some(key(from).sign(&msg).pack());
        records[to as usize - 1].received = 10;
    }
    // `Snapshot::new` derives a blind for every channel, idle or not (BLAKE3, ~0.3 µs
    // each): part of every cut's cost.
    let snapshot2 = timed(
        "Snapshot::new of 1,000,000 channels (blinds derived)",
        || Snapshot::new(HUB, 2, records, &Fe::from(77u64)),
    );
    let (witness, _) = timed(
        "close of epoch 2, 1,024 of 1,000,000 touched (once)",
        || {
            state1
                .close(&snapshot2, &closer::testing::volume_blind())
                .unwrap()
        },
    );
    assert_eq!(witness.inputs.n, TOUCHED as u64);

    let mut group = c.benchmark_group("incremental/1M channels");
    group.sample_size(10);
    group.bench_function("close, 1,024 touched", |b| {
        b.iter(|| {
            state1
                .close(black_box(&snapshot2), &closer::testing::volume_blind())
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_tree, bench_close);
criterion_main!(benches);
