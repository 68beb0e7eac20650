//! Merkle trees and the close statement's native side: building a 2^10 / 2^16 / 2^20
//! leaf Poseidon tree (all levels kept), verifying an inclusion proof, and computing a
//! close's public inputs (both roots) from a 1,024-channel snapshot.

use std::hint::black_box;

use channel::Fe;
use channel::crypto::PrivateKey;
use channel::ledger::{ChannelRecord, Snapshot};
use channel::merkle::{MerkleTree, verify};
use channel::statement::CloseWitness;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn leaves(n: u64) -> Vec<Fe> {
    (1..=n)
        .map(|i| Fe::from(i) * Fe::from(0x9e37_79b9_7f4a_7c15u64))
        .collect()
}

fn bench_merkle(c: &mut Criterion) {
    channel::crypto::poseidon::warm_up();
    let mut group = c.benchmark_group("merkle/build");
    group.sample_size(10);
    for log in [10u32, 16, 20] {
        let l = leaves(1 << log);
        group.bench_function(format!("2^{log} leaves"), |b| {
            b.iter_batched(|| l.clone(), MerkleTree::new, BatchSize::LargeInput)
        });
    }
    group.finish();

    let tree = MerkleTree::new(leaves(1 << 20)).unwrap();
    let proof = tree.proof(123_456).unwrap();
    let leaf = tree.leaf(123_456).unwrap();
    let root = tree.root();
    c.bench_function("merkle/verify depth 20", |b| {
        b.iter(|| verify(black_box(&root), black_box(&leaf), black_box(&proof)))
    });

    // A snapshot of 1,024 fresh channels (no signatures needed for S = 0).
    let pk = PrivateKey::from_bytes([7; 32]).public();
    let records = (1..=1024)
        .map(|id| ChannelRecord::open(id, pk, 1_000))
        .collect();
    let snapshot = Snapshot::new(1, 1, records, &Fe::from(5u64));
    let mut group = c.benchmark_group("statement");
    group.sample_size(10);
    group.bench_function("close public inputs, 1024 channels", |b| {
        b.iter(|| {
            CloseWitness::from_snapshot(black_box(&snapshot), &closer::testing::volume_blind())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_merkle);
criterion_main!(benches);
