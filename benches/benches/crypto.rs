//! Crypto hot paths: Poseidon (2 and 6 inputs), EdDSA-Poseidon sign and verify, packed
//! signature decoding, and the payment chain hash.

use std::hint::black_box;

use channel::Fe;
use channel::crypto::{PrivateKey, Signature, chain_next, poseidon};
use criterion::{Criterion, criterion_group, criterion_main};
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
