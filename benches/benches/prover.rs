//! Spartan2 NeutronNova close prover: setup, prove and verify (key in memory) for 16 and
//! 64 slots (sample size 10). Witnesses come from synthetic snapshots with real keys and
//! signatures. Larger closes: `cargo run --release -p closer --example close_bench`.

use std::hint::black_box;

use closer::circuit::FoldedClose;
use closer::verifier::{LoadedKey, verify_with_key};
use closer::{Layout, NoProgress, keys, prover, witness};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("close");
    group.sample_size(10);
    for slots in [16usize, 64] {
        let layout = Layout::for_slots(slots).expect("layout");
        let snapshot = closer::testing::synthetic_snapshot(1, 1, slots as u32);
        let dir = tempfile::tempdir().expect("tempdir");
        group.bench_function(format!("setup/{slots}"), |b| {
            b.iter(|| keys::generate(black_box(layout)).expect("setup"))
        });
        let (public, assignment) =
            witness::assignment(&snapshot, &closer::testing::volume_blind()).expect("snapshot");
        let folded = FoldedClose::new(&assignment).expect("layout");
        keys::setup(dir.path(), layout).expect("setup");
        group.bench_function(format!("prove/{slots}"), |b| {
            b.iter(|| {
                prover::prove_folded(public, &folded, dir.path(), &NoProgress).expect("prove")
            })
        });
        let proof = prover::prove_folded(public, &folded, dir.path(), &NoProgress).expect("prove");
        let (vk, path) = keys::verifier_key(dir.path(), layout, &proof.key_digest).expect("vk");
        let key = LoadedKey {
            vk,
            digest: proof.key_digest,
            path,
        };
        verify_with_key(&proof, &key).expect("verify");
        group.bench_function(format!("verify/{slots}"), |b| {
            b.iter(|| verify_with_key(black_box(&proof), &key).expect("verify"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
