//! Crypto hot paths: Poseidon (2, 5 and 6 inputs), EdDSA-Poseidon sign and verify, batch
//! verification (per signature, by batch size), the prime-subgroup test, packed
//! signature decoding, and the payment chain hash.

use std::hint::black_box;

use channel::Fe;
use channel::crypto::{
    BatchEntry, PrivateKey, Signature, chain_next, poseidon, poseidon_many, verify_batch,
    verify_each,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn bench_crypto(c: &mut Criterion) {
    channel::crypto::poseidon::warm_up();
    channel::crypto::babyjub::warm_up();
    let mut rng = StdRng::seed_from_u64(1);

    let two = [Fe::from(1u64), Fe::from(2u64)];
    c.bench_function("poseidon/2", |b| b.iter(|| poseidon(black_box(&two))));
    let six: Vec<Fe> = (1..=6u64)
        .map(|i| Fe::from(i) * Fe::from(0x1234_5678_9abc_def1u64))
        .collect();
    c.bench_function("poseidon/6", |b| b.iter(|| poseidon(black_box(&six))));
    let five = &six[..5];
    c.bench_function("poseidon/5", |b| b.iter(|| poseidon(black_box(five))));

    // Many hashes of one arity at once (eight per AVX-512 IFMA pass where the CPU has it;
    // one by one elsewhere): per hash, as the verifier pool hashes vouchers and challenges.
    let mut many = c.benchmark_group("poseidon_many");
    let batch6: Vec<[Fe; 6]> = (0..64u64)
        .map(|k| {
            std::array::from_fn(|i| Fe::from(k * 7 + i as u64) * Fe::from(0x1234_5678_9abc_def1u64))
        })
        .collect();
    for n in [8usize, 64] {
        let mut out = vec![Fe::from(0u64); n];
        many.throughput(Throughput::Elements(n as u64));
        many.bench_with_input(BenchmarkId::new("6", n), &n, |b, &n| {
            b.iter(|| poseidon_many(black_box(&batch6[..n]), &mut out))
        });
        let batch5: Vec<[Fe; 5]> = batch6[..n]
            .iter()
            .map(|x| std::array::from_fn(|i| x[i]))
            .collect();
        many.bench_with_input(BenchmarkId::new("5", n), &n, |b, _| {
            b.iter(|| poseidon_many(black_box(&batch5), &mut out))
        });
    }
    many.finish();

    let prv = PrivateKey::random(&mut rng);
    let sk = prv.signing_key();
    let pk = sk.public();
    let msg = poseidon(&six);
    c.bench_function("eddsa/sign (PrivateKey)", |b| {
        b.iter(|| prv.sign(black_box(&msg)))
    });
    c.bench_function("eddsa/sign (SigningKey)", |b| {
        b.iter(|| sk.sign(black_box(&msg)))
    });
    let sig = sk.sign(&msg);
    c.bench_function("eddsa/verify", |b| {
        b.iter(|| pk.verify(black_box(&msg), black_box(&sig)))
    });
    let vk = pk.prepare().expect("valid key");
    c.bench_function("eddsa/verify (VerifyingKey)", |b| {
        b.iter(|| vk.verify(black_box(&msg), black_box(&sig)))
    });
    c.bench_function("eddsa/prepare VerifyingKey", |b| {
        b.iter(|| black_box(&pk).prepare())
    });
    channel::crypto::torsion::warm_up();
    c.bench_function("babyjub/in_prime_subgroup (pairing)", |b| {
        b.iter(|| channel::crypto::torsion::in_prime_subgroup(black_box(&sig.r8)))
    });
    c.bench_function("babyjub/is_in_subgroup (l·P)", |b| {
        b.iter(|| black_box(&sig.r8).is_in_subgroup())
    });

    // Batch verification, per signature: 16 channels' prepared keys, as a verifier
    // worker holds them.
    let signers: Vec<_> = (0..16)
        .map(|_| PrivateKey::random(&mut rng).signing_key())
        .collect();
    let keys: Vec<_> = signers
        .iter()
        .map(|s| s.public().prepare().expect("valid key"))
        .collect();
    let mut all_entries = Vec::new();
    let mut group = c.benchmark_group("eddsa/verify_batch");
    for n in [1usize, 4, 16, 64, 256] {
        let signed: Vec<(usize, Fe, Signature)> = (0..n)
            .map(|i| {
                let m = Fe::from(i as u64 + 1) * msg;
                (i % 16, m, signers[i % 16].sign(&m))
            })
            .collect();
        let entries: Vec<BatchEntry<'_>> = signed
            .iter()
            .map(|&(k, msg, sig)| BatchEntry {
                key: &keys[k],
                msg,
                sig,
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &entries, |b, e| {
            let mut r = StdRng::seed_from_u64(7);
            b.iter(|| verify_batch(black_box(e), &mut r))
        });
        all_entries.push((n, entries));
    }
    group.finish();

    // Each signature on its own, eight per pass (the verifier pool's path): per signature.
    let mut group = c.benchmark_group("eddsa/verify_each");
    for (n, entries) in &all_entries {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), entries, |b, e| {
            b.iter(|| verify_each(black_box(e)))
        });
    }
    group.finish();

    let packed = sig.pack();
    c.bench_function("eddsa/unpack signature", |b| {
        b.iter(|| Signature::unpack(black_box(&packed)))
    });

    let prev = msg;
    c.bench_function("chain_next", |b| {
        b.iter(|| chain_next(black_box(&prev), 42, 7, 1_000))
    });
}

criterion_group!(benches, bench_crypto);
criterion_main!(benches);
