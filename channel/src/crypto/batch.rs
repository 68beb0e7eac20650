//! Batch verification of EdDSA-Poseidon signatures under prepared keys: the same
//! verdicts as [`VerifyingKey::verify`] one by one, for less work per signature.
//!
//! # What is checked
//!
//! Single verification accepts `(A, msg, R8, S)` iff `R8` is on the curve and
//! `S·Base8 − h·(8·A) = R8` with `h = Poseidon(R8.x, R8.y, A.x, A.y, msg)`; `S < l` is
//! guaranteed by the [`Signature`] type (decoders refuse `S >= l`) and `A` by
//! [`VerifyingKey::new`] (on the curve, not of small order). The equation is
//! cofactorless: its left side is always in the prime-order subgroup (`Base8` and `8·A`
//! are), so it holds only if `R8` is in that subgroup too.
//!
//! A batch therefore (1) refuses an off-curve `R8` as single verification does,
//! (2) sends every `R8` outside the prime-order subgroup to single verification (which
//! refuses it; [`torsion::in_prime_subgroup`] decides membership exactly, with one
//! exponentiation), and (3) checks the remaining `n` equations at once as a random
//! linear combination, with `z_i` uniform 128-bit values from the caller's CSPRNG:
//!
//! ```text
//! (Σ z_i·S_i)·Base8 − Σ (z_i·h_i mod l)·(8·A_i) − Σ z_i·R8_i = O
//! ```
//!
//! Every term now lies in the subgroup of prime order `l`, so if some equation fails
//! the sum vanishes with probability at most `2^-128` (no small-order component can
//! cancel between signatures: there is none). If the combination is not `O`, every
//! signature of the batch is checked alone, so the result names exactly the bad ones.
//!
//! # Cost
//!
//! The combination is one Straus chain of 128 doublings shared by the batch
//! ([`babyjub::batch_combination`]); per signature it costs one Poseidon(5), the
//! subgroup test and about 73 point additions, against 64 doublings and 71 additions
//! for a single prepared verification. Batches below [`MIN_BATCH`] signatures are
//! verified one by one.

use ark_ff::{BigInteger, PrimeField, Zero};
use rand::{CryptoRng, RngCore};

use super::CryptoError;
use super::babyjub::{self, BatchTerm, Scalar};
use super::eddsa::{Signature, VerifyingKey, fe_mod_l};
use super::torsion;
use crate::field::Fe;

/// Below this many signatures, [`verify_batch`] verifies one by one (the shared chain of
/// doublings does not pay for itself).
pub const MIN_BATCH: usize = 4;

/// One signature to verify in a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchEntry<'a> {
    /// The signer's prepared key.
    pub key: &'a VerifyingKey,
    /// The signed message.
    pub msg: Fe,
    /// The signature.
    pub sig: Signature,
}

/// Verify `entries`; the result for entry `i` is exactly
/// `entries[i].key.verify(&entries[i].msg, &entries[i].sig)` (up to a `2^-128` chance,
/// over `rng`, of accepting a bad signature whose batch holds it).
///
/// `rng` must be a cryptographically secure generator the signers cannot predict.
pub fn verify_batch<R: RngCore + CryptoRng>(
    entries: &[BatchEntry<'_>],
    rng: &mut R,
) -> Vec<Result<(), CryptoError>> {
    let mut results = vec![Ok(()); entries.len()];
    // (index, h) of the signatures that go into the combination.
    let mut candidates: Vec<(usize, Fe)> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if !e.sig.r8.is_on_curve() {
            results[i] = Err(CryptoError::NotOnCurve);
            continue;
        }
        let h = e.key.challenge(&e.msg, &e.sig);
        if entries.len() < MIN_BATCH || !torsion::in_prime_subgroup(&e.sig.r8) {
            // Alone (a batch too small to pay, or an `R8` the equation refuses).
            results[i] = e.key.check_equation(&h, &e.sig);
            continue;
        }
        candidates.push((i, h));
    }
    if candidates.is_empty() {
        return results;
    }
    if !combination_holds(entries, &candidates, rng) {
        for &(i, h) in &candidates {
            results[i] = entries[i].key.check_equation(&h, &entries[i].sig);
        }
    }
    results
}

/// Verify each entry on its own: the result for entry `i` is exactly
/// `entries[i].key.verify(&entries[i].msg, &entries[i].sig)`, with no randomness and no
/// shared equation. On CPUs with AVX-512 IFMA the work is done eight signatures per
/// pass (the challenge hashes by [`poseidon_many`](super::poseidon_many), the equations
/// by the eight-lane verifier), each lane deciding its own signature; elsewhere one by
/// one. See the `crypto` bench.
pub fn verify_each(entries: &[BatchEntry<'_>]) -> Vec<Result<(), CryptoError>> {
    let inputs: Vec<[Fe; 5]> = entries
        .iter()
        .map(|e| e.key.challenge_inputs(&e.msg, &e.sig))
        .collect();
    let mut h = vec![Fe::zero(); entries.len()];
    super::poseidon_many(&inputs, &mut h);
    let mut results: Vec<Result<(), CryptoError>> = entries
        .iter()
        .map(|e| {
            if e.sig.r8.is_on_curve() {
                Ok(())
            } else {
                Err(CryptoError::NotOnCurve)
            }
        })
        .collect();
    let eight_lanes = super::field_x8::available();
    for start in (0..entries.len()).step_by(8) {
        let end = (start + 8).min(entries.len());
        // The on-curve entries whose key has the eight-lane table.
        let mut lanes = Vec::with_capacity(8);
        let mut at = Vec::with_capacity(8);
        for i in start..end {
            let e = &entries[i];
            if results[i].is_err() {
                continue;
            }
            match e.key.a8_x8() {
                Some(table) if eight_lanes => {
                    lanes.push(super::eddsa_x8::Lane {
                        table,
                        s: e.sig.s.into_bigint().0,
                        h: h[i].into_bigint().0,
                        r8: e.sig.r8,
                    });
                    at.push(i);
                }
                _ => results[i] = e.key.check_equation(&h[i], &e.sig),
            }
        }
        if lanes.len() < super::eddsa_x8::MIN_LANES {
            for &i in &at {
                results[i] = entries[i].key.check_equation(&h[i], &entries[i].sig);
            }
        } else {
            let holds = super::eddsa_x8::check_equations(&lanes);
            for (bit, &i) in at.iter().enumerate() {
                if holds & (1 << bit) == 0 {
                    results[i] = Err(CryptoError::BadSignature);
                }
            }
        }
    }
    results
}

/// Whether `(Σ z_i·S_i)·Base8 − Σ (z_i·h_i)·(8·A_i) − Σ z_i·R8_i = O` over the
/// candidates, with fresh random nonzero 128-bit `z_i`.
fn combination_holds<R: RngCore + CryptoRng>(
    entries: &[BatchEntry<'_>],
    candidates: &[(usize, Fe)],
    rng: &mut R,
) -> bool {
    let mut b = Scalar::zero();
    let mut terms = Vec::with_capacity(candidates.len());
    for &(i, h) in candidates {
        let e = &entries[i];
        let z = loop {
            let z = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
            if z != 0 {
                break z;
            }
        };
        let zs = Scalar::from(z);
        b += zs * e.sig.s;
        terms.push(BatchTerm {
            prepared: e.key.a8(),
            c: (zs * fe_mod_l(&h)).into_bigint().0,
            r: e.sig.r8,
            z,
        });
    }
    debug_assert!(b.into_bigint().num_bits() <= 256);
    babyjub::batch_combination(&b.into_bigint().0, &terms).is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::babyjub::{BASE8, GENERATOR, Point, SUBORDER};
    use crate::crypto::eddsa::{PrivateKey, PublicKey};
    use ark_ff::{AdditiveGroup, Field, UniformRand};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    struct Fixture {
        keys: Vec<VerifyingKey>,
        signed: Vec<(usize, Fe, Signature)>,
    }

    /// `n` valid signatures over `k` keys.
    fn fixture(seed: u64, k: usize, n: usize) -> Fixture {
        let mut r = ChaCha20Rng::seed_from_u64(seed);
        let sks: Vec<_> = (0..k)
            .map(|_| PrivateKey::random(&mut r).signing_key())
            .collect();
        let keys = sks.iter().map(|s| s.public().prepare().unwrap()).collect();
        let signed = (0..n)
            .map(|i| {
                let msg = Fe::rand(&mut r);
                (i % k, msg, sks[i % k].sign(&msg))
            })
            .collect();
        Fixture { keys, signed }
    }

    impl Fixture {
        fn entries(&self) -> Vec<BatchEntry<'_>> {
            self.signed
                .iter()
                .map(|&(k, msg, sig)| BatchEntry {
                    key: &self.keys[k],
                    msg,
                    sig,
                })
                .collect()
        }
    }

    fn singles(entries: &[BatchEntry<'_>]) -> Vec<Result<(), CryptoError>> {
        entries
            .iter()
            .map(|e| e.key.verify(&e.msg, &e.sig))
            .collect()
    }

    fn batch(entries: &[BatchEntry<'_>]) -> Vec<Result<(), CryptoError>> {
        verify_batch(entries, &mut ChaCha20Rng::seed_from_u64(99))
    }

    fn order8() -> Point {
        GENERATOR.mul_bigint(&SUBORDER.0)
    }

    #[test]
    fn valid_batch_passes() {
        let f = fixture(1, 5, 40);
        assert!(batch(&f.entries()).iter().all(Result::is_ok));
        // By the combination itself, not by the one-by-one fallback.
        let entries = f.entries();
        let candidates: Vec<(usize, Fe)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.key.challenge(&e.msg, &e.sig)))
            .collect();
        let mut r = ChaCha20Rng::seed_from_u64(3);
        assert!(combination_holds(&entries, &candidates, &mut r));
        assert!(combination_holds(&entries[..1], &candidates[..1], &mut r));
        assert_eq!(batch(&[]), vec![]);
    }

    #[test]
    fn batch_with_one_bad_signature_names_exactly_it() {
        let f = fixture(2, 4, 33);
        for bad in [0, 17, 32] {
            let mut entries = f.entries();
            entries[bad].msg += Fe::ONE;
            let got = batch(&entries);
            for (i, r) in got.iter().enumerate() {
                if i == bad {
                    assert_eq!(*r, Err(CryptoError::BadSignature));
                } else {
                    assert_eq!(*r, Ok(()), "entry {i}");
                }
            }
        }
        // A wrong S (still below l) is named too.
        let mut entries = f.entries();
        entries[5].sig.s += Scalar::ONE;
        let got = batch(&entries);
        assert_eq!(got[5], Err(CryptoError::BadSignature));
        assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn batch_with_a_signature_failing_s_below_l_refuses_it_as_single_decoding_does() {
        // S + l is the malleated twin of a valid signature: `S + l` and `S` give the same
        // point, so only the `S < l` rule refuses it. It cannot enter a batch: the
        // decoders refuse it (the same `ScalarOutOfRange` for single and batch paths),
        // and the rest of the batch still verifies.
        let f = fixture(3, 3, 12);
        let (k, msg, sig) = f.signed[4];
        let mut wire = sig.to_point_bytes();
        let mut s_plus_l = sig.s.into_bigint();
        assert!(!ark_ff::BigInteger::add_with_carry(
            &mut s_plus_l,
            &SUBORDER
        ));
        for (chunk, limb) in wire[64..].chunks_exact_mut(8).zip(s_plus_l.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        assert_eq!(
            Signature::from_point_bytes(&wire),
            Err(CryptoError::ScalarOutOfRange)
        );
        let mut packed = sig.pack();
        packed[32..].copy_from_slice(&wire[64..]);
        assert_eq!(
            Signature::unpack(&packed),
            Err(CryptoError::ScalarOutOfRange)
        );
        // The equation alone would accept it: S + l ≡ S on the subgroup.
        let lhs = BASE8.mul_bigint(&s_plus_l.0);
        assert_eq!(lhs, BASE8.mul(&sig.s));
        // The decoded batch (without the refused one) passes, and with the original
        // (canonical) signature back in it, still passes.
        let entries = f.entries();
        let rest: Vec<_> = entries
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 4)
            .map(|(_, e)| *e)
            .collect();
        assert!(batch(&rest).iter().all(Result::is_ok));
        assert_eq!(f.keys[k].verify(&msg, &sig), Ok(()));
    }

    #[test]
    fn r8_with_a_small_order_component_is_refused_as_single_verify_does() {
        // A signer can make S·Base8 − h·8A = R8 − T hold for R8 = r·Base8 + T (T of small
        // order): single (cofactorless) verification refuses it. Two such signatures with
        // torsion T2 each would cancel in a cofactored or a plain random combination
        // when z_1 + z_2 is even; the subgroup test keeps the batch exact.
        let mut r = ChaCha20Rng::seed_from_u64(4);
        let sk = PrivateKey::random(&mut r).signing_key();
        let pk = sk.public();
        let vk = pk.prepare().unwrap();
        let s_priv = sk.scalar();
        let t2 = Point {
            x: Fe::ZERO,
            y: -Fe::ONE,
        };
        let torsions = [t2, order8(), order8().double()];
        let mut signed = Vec::new();
        for (j, t) in torsions.iter().chain(torsions.iter()).enumerate() {
            let msg = Fe::from(j as u64 + 1);
            let nonce = Scalar::rand(&mut r);
            let r8 = BASE8.mul(&nonce).add(t);
            assert!(r8.is_on_curve() && !r8.is_in_subgroup());
            let h = poseidon_h(&r8, &pk, &msg);
            let sig = Signature {
                r8,
                s: nonce + fe_mod_l(&h) * s_priv,
            };
            // It satisfies the cofactored equation...
            let lhs = BASE8
                .mul(&sig.s)
                .add(&pk.0.mul_bigint(&[8]).mul(&fe_mod_l(&h)).neg());
            assert_eq!(lhs.add(t), sig.r8);
            // ...and single verification refuses it.
            assert_eq!(vk.verify(&msg, &sig), Err(CryptoError::BadSignature));
            signed.push((msg, sig));
        }
        let f = fixture(5, 2, 10);
        let mut entries = f.entries();
        for (msg, sig) in &signed {
            entries.push(BatchEntry {
                key: &vk,
                msg: *msg,
                sig: *sig,
            });
        }
        // Many seeds: never accepted (a plain combination would accept half the time).
        for seed in 0..16 {
            let got = verify_batch(&entries, &mut ChaCha20Rng::seed_from_u64(seed));
            assert_eq!(got, singles(&entries), "seed {seed}");
        }
        // Why the subgroup test is needed: the two T2-torsioned signatures alone cancel
        // in a plain random combination whenever z_1 + z_2 is even.
        let pair: Vec<_> = [0, 3]
            .iter()
            .map(|&j| BatchEntry {
                key: &vk,
                msg: signed[j].0,
                sig: signed[j].1,
            })
            .collect();
        let candidates: Vec<(usize, Fe)> = pair
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.key.challenge(&e.msg, &e.sig)))
            .collect();
        let fooled = (0..32)
            .filter(|&seed| {
                combination_holds(&pair, &candidates, &mut ChaCha20Rng::seed_from_u64(seed))
            })
            .count();
        assert!(
            fooled > 0,
            "a plain combination is fooled by cancelling torsion"
        );
        assert_eq!(
            batch(&pair),
            vec![Err(CryptoError::BadSignature); 2],
            "the batch is not"
        );
        // The small-order R8 points themselves (identity included) as single verify.
        let mut entries = f.entries();
        let msg = Fe::from(7u64);
        for r8 in [Point::IDENTITY, t2, order8()] {
            let sig = Signature {
                r8,
                s: Scalar::from(3u64),
            };
            entries.push(BatchEntry { key: &vk, msg, sig });
        }
        assert_eq!(batch(&entries), singles(&entries));
    }

    #[test]
    fn off_curve_r8_is_refused_like_single_verify() {
        let f = fixture(6, 2, 8);
        let mut entries = f.entries();
        entries[3].sig.r8.y += Fe::ONE;
        let got = batch(&entries);
        assert_eq!(got[3], Err(CryptoError::NotOnCurve));
        assert_eq!(got, singles(&entries));
        assert_eq!(verify_each(&entries), got);
    }

    #[test]
    fn verify_each_names_exactly_the_bad_ones_at_every_lane_position() {
        // 19 entries: two full eight-lane passes and a remainder of three.
        let f = fixture(7, 5, 19);
        assert!(verify_each(&f.entries()).iter().all(Result::is_ok));
        assert_eq!(verify_each(&[]), vec![]);
        for bad in [0, 7, 8, 15, 16, 18] {
            let mut entries = f.entries();
            match bad % 3 {
                0 => entries[bad].msg += Fe::ONE,
                1 => entries[bad].sig.s += Scalar::ONE,
                _ => entries[bad].sig.r8 = entries[bad].sig.r8.add(&order8()),
            }
            let got = verify_each(&entries);
            assert_eq!(got, singles(&entries), "bad entry {bad}");
            assert!(got[bad].is_err(), "bad entry {bad} refused");
            assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
        }
    }

    fn poseidon_h(r8: &Point, pk: &PublicKey, msg: &Fe) -> Fe {
        crate::crypto::poseidon(&[r8.x, r8.y, pk.0.x, pk.0.y, *msg])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn batch_equals_all_single_on_random_mixes(
            seed in any::<u64>(),
            n in 0usize..24,
            tamper in proptest::collection::vec((any::<usize>(), 0u8..5), 0..5),
        ) {
            let f = fixture(seed, 3, n);
            let mut entries = f.entries();
            let mut r = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
            for (at, how) in tamper {
                if entries.is_empty() {
                    break;
                }
                let e = &mut entries[at % n];
                match how {
                    0 => e.msg += Fe::ONE,
                    1 => e.sig.s = Scalar::rand(&mut r),
                    2 => e.sig.r8 = e.sig.r8.add(&order8()),
                    3 => e.sig.r8.x += Fe::ONE,
                    _ => e.key = &f.keys[(at + 1) % f.keys.len()],
                }
            }
            prop_assert_eq!(verify_batch(&entries, &mut r), singles(&entries));
            prop_assert_eq!(verify_each(&entries), singles(&entries));
        }
    }
}
