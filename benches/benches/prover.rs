//! Spartan2 close prover: setup, prove and verify for 16 and 64 slots (sample size 10).
//! Witnesses come from synthetic snapshots with real keys and signatures.

use std::hint::black_box;

use closer::{NoProgress, keys, prover, witness};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("close");
    group.sample_size(10);
    for slots in [16usize, 64] {
        let snapshot = closer::testing::synthetic_snapshot(1, 1, slots as u32);
        let dir = tempfile::tempdir().expect("tempdir");
        group.bench_function(format!("setup/{slots}"), |b| {
            b.iter(|| keys::generate(black_box(slots)).expect("setup"))
        });
        let (public, assignment) = witness::assignment(&snapshot).expect("snapshot");
        keys::setup(dir.path(), slots).expect("setup");
        group.bench_function(format!("prove/{slots}"), |b| {
            b.iter(|| {
                prover::prove_assignment(public, assignment.clone(), dir.path(), &NoProgress)
                    .expect("prove")
            })
        });
        let proof = prover::prove_assignment(public, assignment.clone(), dir.path(), &NoProgress)
            .expect("prove");
        let vk = keys::verifier_key(dir.path(), slots).expect("vk");
        group.bench_function(format!("verify/{slots}"), |b| {
            b.iter(|| prover::verify_with_key(black_box(&proof), &vk).expect("verify"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
