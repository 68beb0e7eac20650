//! EdDSA-Poseidon verification over Baby Jubjub with circomlib semantics; twin of
//! [`channel::crypto::eddsa`] (`PublicKey::verify`).
//!
//! Accepts `(R8, S)` on key `A` and message `M` iff `A` and `R8` are on the curve, `8·A`
//! is not the identity (so `A` is not of small order), `S < l`, and
//! `S·Base8 = R8 + h·(8·A)` with `h = Poseidon(R8x, R8y, Ax, Ay, M)`. The final equality
//! is enforced only when `enabled = 1`; every other constraint always holds, so a
//! disabled check still needs a well-formed (dummy) signature, see [`dummy_signature`].
//!
//! Reducing `h` modulo `l` exactly, without a second full decomposition of a scalar,
//! works as follows. `h` is split into 254 bits strictly below `p`; the integer
//! `h' = Σ_{i<251} b_i 2^i + Σ_{i≥251} b_i (2^i mod l)` is a linear combination of them,
//! congruent to `h` modulo `l` and below `2^251 + 3l`. The variable-base ladder
//! ([`ecc::signed_ladder`]) computes `(2^252 + D)·P` for a signed-digit `D ∈ (−2^251,
//! 2^251)`, and one constraint proves `D = h' − 2^252 + (q − 4)·l` for a 3-bit `q`. Both
//! sides stay within `(−p, p)` as integers (`3·2^251 + 4l < p`, checked by a test), so
//! the field equation is an integer equation, and `2^252 + D ≡ h (mod l)` exactly.

use bellpepper_core::{ConstraintSystem, SynthesisError};
use num_bigint::{BigInt, BigUint};

use super::Expr;
use super::ecc::{self, EdwardsPoint, NativePoint, SCALAR_BITS, subgroup_order};
use super::poseidon::poseidon;
use super::range::{alloc_bits, alloc_bits_le_strict, to_bits_le_strict};
use crate::field::{F, f_from_biguint, f_to_biguint, modulus};

/// Bits of `h` (a field element, strictly below `p`).
const H_BITS: usize = 254;

/// A signature's witness: the nonce point and the scalar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureWitness {
    /// `R8`.
    pub r8: NativePoint,
    /// `S` (a prover may supply any integer; the circuit enforces `S < l`).
    pub s: BigUint,
}

/// The signature used where the check is disabled (`S = 0` slots, padding): `(Base8, 0)`.
pub fn dummy_signature() -> SignatureWitness {
    SignatureWitness {
        r8: NativePoint::base8(),
        s: BigUint::from(0u32),
    }
}

/// `2^i mod l` for the bits of `h` above the ladder's range.
fn h_prime_coefficients() -> Vec<F> {
    let l = subgroup_order();
    (0..H_BITS)
        .map(|i| {
            let pow = BigUint::from(1u32) << i;
            if i < SCALAR_BITS {
                f_from_biguint(&pow)
            } else {
                f_from_biguint(&(pow % &l))
            }
        })
        .collect()
}

/// `q` such that `D = h' − 2^252 + (q − 4)·l` is odd and in `(−2^251, 2^251)`.
fn choose_q(h_prime: &BigUint) -> Option<(u64, BigInt)> {
    let l = BigInt::from(subgroup_order());
    let half = BigInt::from(1) << SCALAR_BITS;
    let x = BigInt::from(h_prime.clone()) - (BigInt::from(1) << (SCALAR_BITS + 1));
    (0u64..8).find_map(|q| {
        let d = &x + (BigInt::from(q) - 4) * &l;
        let odd = (&d % 2) != BigInt::from(0);
        (odd && d > -half.clone() && d < half).then_some((q, d))
    })
}

/// Constraints of [`verify`].
pub fn num_constraints() -> usize {
    let l = subgroup_order();
    3 // R8 on curve
        + super::range::strict_num_constraints(&(&l - 1u32)) // S < l
        + super::poseidon::num_constraints(5, 0) // h
        + super::range::strict_num_constraints(&(modulus() - 1u32)) + 1 // h bits
        + 3 // q
        + 3 + 2 + 3 * 4 + 4 // A on curve, to Montgomery, 8·A, 2·(8·A)
        + ecc::signed_ladder_num_constraints(SCALAR_BITS)
        + 2 + 6 // back to Edwards, R8 + h·8A
        + 504 // S·Base8
        + 2 // gated equality
}

/// Verify signature `sig` by key `a` on `msg` when `enabled = 1` (see the module doc).
/// `a` must be allocated by the caller; its curve membership is enforced here.
pub fn verify<CS: ConstraintSystem<F>>(
    mut cs: CS,
    enabled: &Expr,
    a: &EdwardsPoint,
    msg: &Expr,
    sig: Option<&SignatureWitness>,
) -> Result<(), SynthesisError> {
    let l = subgroup_order();
    // R8 on the curve; S < l.
    let r8 = ecc::alloc_checked_point(cs.namespace(|| "R8"), sig.map(|s| s.r8))?;
    let s_bits = alloc_bits_le_strict(cs.namespace(|| "S < l"), sig.map(|s| &s.s), &(&l - 1u32))?;
    debug_assert_eq!(s_bits.bits.len(), SCALAR_BITS);

    // h = Poseidon(R8x, R8y, Ax, Ay, M), strictly decomposed.
    let h = poseidon(
        cs.namespace(|| "h"),
        &[
            r8.x.clone(),
            r8.y.clone(),
            a.x.clone(),
            a.y.clone(),
            msg.clone(),
        ],
    )?;
    let h_bits = to_bits_le_strict(cs.namespace(|| "h bits"), &h, &(modulus() - 1u32))?;
    let coefficients = h_prime_coefficients();
    let h_prime = Expr::sum(
        coefficients
            .iter()
            .copied()
            .zip(h_bits.bits.iter().cloned()),
    );

    // D = h' − 2^252 + (q − 4)·l, q in 3 bits.
    let h_prime_value = h_prime.value().map(|v| f_to_biguint(&v));
    let q_value = match &h_prime_value {
        Some(hp) => Some(BigUint::from(
            choose_q(hp).ok_or(SynthesisError::Unsatisfiable)?.0,
        )),
        None => None,
    };
    let q = alloc_bits(cs.namespace(|| "q"), q_value.as_ref(), 3)?;
    let l_f = f_from_biguint(&l);
    let offset = f_from_biguint(&((BigUint::from(1u32) << (SCALAR_BITS + 1)) + &l * 4u32));
    let d = h_prime.add(&q.packed.scale(l_f)).add_const(-offset);

    // P = 8·A (in Montgomery form; converting A rules out x = 0, doubling rules out
    // order-2 intermediates, so 8·A is not the identity), and 2·P.
    a.assert_on_curve(cs.namespace(|| "A on curve"))?;
    let a1 = a.to_montgomery(cs.namespace(|| "A to montgomery"))?;
    let a2 = a1.double(cs.namespace(|| "2A"))?;
    let a4 = a2.double(cs.namespace(|| "4A"))?;
    let p = a4.double(cs.namespace(|| "8A"))?;
    let two_p = p.double(cs.namespace(|| "16A"))?;

    // h·P, then R8 + h·P.
    let hp = ecc::signed_ladder(cs.namespace(|| "h*8A"), &p, &two_p, &d, SCALAR_BITS)?;
    let hp = hp.to_edwards(cs.namespace(|| "h*8A to edwards"))?;
    let rhs = r8.add(cs.namespace(|| "R8 + h*8A"), &hp)?;

    // S·Base8 = R8 + h·8A when enabled.
    let lhs = ecc::fixed_base_mul_base8(cs.namespace(|| "S*Base8"), &s_bits.bits)?;
    lhs.enforce_equal_if(cs.namespace(|| "S*Base8 = R8 + h*8A"), &rhs, enabled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::field::{f_to_fe, fe_to_f};
    use bellpepper_core::test_cs::TestConstraintSystem;
    use channel::crypto::PrivateKey;
    use channel::crypto::babyjub::Point;
    use ff::Field;

    fn native(p: &Point) -> NativePoint {
        NativePoint {
            x: fe_to_f(&p.x),
            y: fe_to_f(&p.y),
        }
    }

    fn witness_of(sig: &channel::crypto::Signature) -> SignatureWitness {
        use ark_ff::{BigInteger, PrimeField};
        SignatureWitness {
            r8: native(&sig.r8),
            s: BigUint::from_bytes_le(&sig.s.into_bigint().to_bytes_le()),
        }
    }

    struct Case {
        a: NativePoint,
        msg: F,
        sig: SignatureWitness,
        enabled: bool,
    }

    fn run(case: &Case) -> TestConstraintSystem<F> {
        let mut cs = new_cs();
        let enabled = witness(&mut cs, "enabled", F::from(u64::from(case.enabled)));
        let a = EdwardsPoint::alloc(cs.namespace(|| "A"), Some(case.a)).unwrap();
        let msg = witness(&mut cs, "msg", case.msg);
        verify(
            cs.namespace(|| "eddsa"),
            &enabled,
            &a,
            &msg,
            Some(&case.sig),
        )
        .unwrap();
        cs
    }

    fn honest(seed: u8, msg: u64) -> Case {
        let key = PrivateKey([seed; 32]);
        let m = channel::Fe::from(msg);
        let sig = key.sign(&m);
        assert!(key.public().verify(&m, &sig).is_ok());
        Case {
            a: native(&key.public().0),
            msg: fe_to_f(&m),
            sig: witness_of(&sig),
            enabled: true,
        }
    }

    #[test]
    fn integer_bounds_of_the_reduction_hold() {
        let l = subgroup_order();
        let p = modulus();
        // |D − (h' − 2^252 + (q−4)l)| < p for all admissible values.
        assert!((BigUint::from(3u32) << SCALAR_BITS) + &l * 4u32 < p);
        assert!(&l * 6u32 < p);
        // Every h' < 2^251 + 3l has a q.
        for hp in [
            BigUint::from(0u32),
            BigUint::from(1u32),
            (BigUint::from(1u32) << 251) + &l * 3u32 - 1u32,
        ] {
            assert!(choose_q(&hp).is_some(), "h' = {hp}");
        }
    }

    #[test]
    fn honest_signatures_verify_and_count_is_pinned() {
        for seed in 1..4u8 {
            let cs = run(&honest(seed, 1000 + u64::from(seed)));
            assert!(cs.is_satisfied(), "{:?}", cs.which_is_unsatisfied());
            // 4 = enabled, Ax, Ay, msg are allocated by the test, not counted.
            assert_eq!(cs.num_constraints(), num_constraints());
        }
        assert_eq!(num_constraints(), 3044);
    }

    #[test]
    fn forged_signature_is_rejected() {
        let mut case = honest(1, 42);
        case.msg = F::from(43u64);
        assert!(!run(&case).is_satisfied());
        let mut case = honest(1, 42);
        case.sig.s = (&case.sig.s + 1u32) % subgroup_order();
        assert!(!run(&case).is_satisfied());
        let mut case = honest(1, 42);
        case.sig.r8 = case.sig.r8.add(&NativePoint::base8());
        assert!(!run(&case).is_satisfied());
    }

    #[test]
    fn signature_by_another_key_is_rejected() {
        let mut case = honest(1, 42);
        case.a = honest(2, 42).a;
        assert!(!run(&case).is_satisfied());
    }

    #[test]
    fn malleated_scalar_s_plus_l_is_rejected() {
        // Pick a signature with S + l < 2^251, so S + l fits the 251 bits and only the
        // bound S < l stands between it and acceptance.
        let room = (BigUint::from(1u32) << SCALAR_BITS) - subgroup_order();
        let mut case = (1..100u64)
            .map(|m| honest(3, m))
            .find(|c| c.sig.s < room)
            .expect("a small S");
        case.sig.s += subgroup_order();
        let cs = run(&case);
        assert!(!cs.is_satisfied());
        assert!(cs.which_is_unsatisfied().unwrap().contains("S < l"));
    }

    #[test]
    fn disabled_check_accepts_a_dummy_but_enabled_does_not() {
        let mut case = honest(1, 42);
        case.sig = dummy_signature();
        case.enabled = false;
        assert!(run(&case).is_satisfied());
        case.enabled = true;
        assert!(!run(&case).is_satisfied());
    }

    #[test]
    fn small_order_keys_are_rejected() {
        // The identity and (0, −1) cannot be converted; a point of order 4 or 8 dies in
        // the doublings. Torsion points: find a point of order 8 from the generator.
        let g = channel::crypto::babyjub::GENERATOR;
        let g = native(&g);
        let t8 = g.mul(&subgroup_order()); // order 8
        for t in [
            NativePoint::IDENTITY,
            t8,
            t8.add(&t8),
            t8.add(&t8).add(&t8).add(&t8),
        ] {
            let mut case = honest(1, 42);
            case.a = t;
            let mut cs = new_cs();
            let enabled = witness(&mut cs, "enabled", F::ONE);
            let a = EdwardsPoint::alloc(cs.namespace(|| "A"), Some(case.a)).unwrap();
            let msg = witness(&mut cs, "msg", case.msg);
            let r = verify(
                cs.namespace(|| "eddsa"),
                &enabled,
                &a,
                &msg,
                Some(&case.sig),
            );
            assert!(r.is_err() || !cs.is_satisfied(), "weak key {t:?} accepted");
        }
        let _ = f_to_fe;
    }
}
