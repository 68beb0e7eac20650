//! Bit decompositions: `n`-bit range checks and strict comparison against a constant
//! (Zcash / bellman `to_bits_le_strict`, generalised to any bound).
//!
//! A plain `n`-bit decomposition costs `n` booleanity constraints; the packed value is a
//! linear combination of the bits, so using it in place of the original costs nothing
//! more (and [`range_check`] ties it to an existing value with one constraint).
//!
//! [`alloc_bits_le_strict`] additionally proves `value ≤ bound`: walking the bound's bits
//! from the top, it keeps a flag "every bit so far equals the bound's" and forbids a one
//! where the bound has a zero while the flag is set. Each zero of the bound costs one
//! constraint (which doubles as that bit's booleanity), each run of ones one AND (two
//! constraints for an AND of three or more bits, via "the sum equals the count").

use bellpepper_core::{ConstraintSystem, SynthesisError};
use ff::Field;
use num_bigint::BigUint;

use super::{Expr, alloc, alloc_bit, enforce, enforce_equal, mul};
use crate::field::{F, f_to_biguint};

/// Little-endian bits and their packed value `Σ 2^i · bits[i]`.
#[derive(Clone, Debug)]
pub struct Bits {
    /// Boolean variables, least significant first.
    pub bits: Vec<Expr>,
    /// `Σ 2^i · bits[i]` (a linear combination; no constraint of its own).
    pub packed: Expr,
}

fn pack(bits: &[Expr]) -> Expr {
    let mut coeff = F::ONE;
    let mut terms = Vec::with_capacity(bits.len());
    for b in bits {
        terms.push((coeff, b.clone()));
        coeff = coeff.double();
    }
    Expr::sum(terms)
}

fn bit_values(value: Option<&BigUint>, n: usize) -> Vec<Option<bool>> {
    (0..n).map(|i| value.map(|v| v.bit(i as u64))).collect()
}

/// Allocate `n` bits of `value` (`n` constraints). If `value ≥ 2^n` only its low bits are
/// allocated, so a caller equating the packed value with it sees an unsatisfied system.
pub fn alloc_bits<CS: ConstraintSystem<F>>(
    mut cs: CS,
    value: Option<&BigUint>,
    n: usize,
) -> Result<Bits, SynthesisError> {
    assert!(n < 253, "an n-bit value must not wrap the field");
    let bits = bit_values(value, n)
        .into_iter()
        .enumerate()
        .map(|(i, b)| alloc_bit(cs.namespace(|| format!("bit {i}")), "b", b))
        .collect::<Result<Vec<_>, _>>()?;
    let packed = pack(&bits);
    Ok(Bits { bits, packed })
}

/// Prove `0 ≤ x < 2^n` (`n + 1` constraints) and return the bits.
pub fn range_check<CS: ConstraintSystem<F>>(
    mut cs: CS,
    x: &Expr,
    n: usize,
) -> Result<Bits, SynthesisError> {
    let value = x.value().map(|v| f_to_biguint(&v));
    let bits = alloc_bits(cs.namespace(|| "bits"), value.as_ref(), n)?;
    enforce_equal(&mut cs, "packing", &bits.packed, x);
    Ok(bits)
}

/// AND of booleans: free for one, one constraint for two, two constraints for more.
fn and_all<CS: ConstraintSystem<F>>(mut cs: CS, items: &[Expr]) -> Result<Expr, SynthesisError> {
    match items {
        [] => unreachable!("AND of nothing"),
        [a] => Ok(a.clone()),
        [a, b] => mul(cs, "and", a, b),
        _ => {
            // flag = (Σ items == k): inv · (Σ − k) = 1 − flag and flag · (Σ − k) = 0.
            let k = F::from(items.len() as u64);
            let diff = Expr::sum(items.iter().map(|e| (F::ONE, e.clone()))).add_const(-k);
            let flag_value = diff.value().map(|d| bool::from(d.is_zero()));
            let inv_value = diff
                .value()
                .map(|d| Option::<F>::from(d.invert()).unwrap_or(F::ZERO));
            let flag = alloc(&mut cs, "flag", flag_value.map(F::from))?;
            let inv = alloc(&mut cs, "inv", inv_value)?;
            enforce(&mut cs, "inv eq", &inv, &diff, &Expr::from(1).sub(&flag));
            enforce(&mut cs, "flag eq", &flag, &diff, &Expr::zero());
            Ok(flag)
        }
    }
}

/// Constraints of [`alloc_bits_le_strict`] for `bound`.
pub fn strict_num_constraints(bound: &BigUint) -> usize {
    let n = bound.bits() as usize;
    let mut count = n;
    let mut run = 0usize;
    let mut have_prefix = false;
    for i in (0..n).rev() {
        if bound.bit(i as u64) {
            run += 1;
        } else if run > 0 {
            let items = run + usize::from(have_prefix);
            count += match items {
                1 => 0,
                2 => 1,
                _ => 2,
            };
            have_prefix = true;
            run = 0;
        }
    }
    count
}

/// Allocate the bits of `value` proving `value ≤ bound` (as integers). Returns
/// `bound.bits()` little-endian bits. `bound` must be even-terminated or not: any bound
/// works; a trailing run of ones needs no check.
pub fn alloc_bits_le_strict<CS: ConstraintSystem<F>>(
    mut cs: CS,
    value: Option<&BigUint>,
    bound: &BigUint,
) -> Result<Bits, SynthesisError> {
    let n = bound.bits() as usize;
    assert!(
        n > 0 && n <= 254,
        "bound must be a nonzero field-sized integer"
    );
    let values = bit_values(value, n);
    let mut msb_first = Vec::with_capacity(n);
    let mut prefix_equal: Option<Expr> = None;
    let mut run: Vec<Expr> = Vec::new();
    for i in (0..n).rev() {
        let mut cs = cs.namespace(|| format!("bit {i}"));
        if bound.bit(i as u64) {
            let b = alloc_bit(&mut cs, "b", values[i])?;
            run.push(b.clone());
            msb_first.push(b);
        } else {
            if !run.is_empty() {
                let items: Vec<Expr> = prefix_equal.iter().cloned().chain(run.drain(..)).collect();
                prefix_equal = Some(and_all(cs.namespace(|| "run"), &items)?);
            }
            let eq = prefix_equal.as_ref().expect("the bound's top bit is one");
            // b · (1 − b − eq) = 0: b is boolean, and b = 0 while the prefix is equal.
            let b = alloc(&mut cs, "b", values[i].map(F::from))?;
            let rest = Expr::from(1).sub(&b).sub(eq);
            enforce(&mut cs, "bounded bit", &b, &rest, &Expr::zero());
            msb_first.push(b);
        }
    }
    msb_first.reverse();
    let packed = pack(&msb_first);
    Ok(Bits {
        bits: msb_first,
        packed,
    })
}

/// Prove `x ≤ bound` and return the bits (the constraints of
/// [`alloc_bits_le_strict`] plus one packing constraint).
pub fn to_bits_le_strict<CS: ConstraintSystem<F>>(
    mut cs: CS,
    x: &Expr,
    bound: &BigUint,
) -> Result<Bits, SynthesisError> {
    let value = x.value().map(|v| f_to_biguint(&v));
    let bits = alloc_bits_le_strict(cs.namespace(|| "bits"), value.as_ref(), bound)?;
    enforce_equal(&mut cs, "packing", &bits.packed, x);
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;
    use crate::field::{f_from_biguint, modulus};
    use ff::PrimeField;
    use num_bigint::RandBigInt;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn strict_ok(value: &BigUint, bound: &BigUint) -> (bool, usize) {
        let mut cs = new_cs();
        alloc_bits_le_strict(cs.namespace(|| "s"), Some(value), bound).unwrap();
        (cs.is_satisfied(), cs.num_constraints())
    }

    #[test]
    fn range_check_accepts_below_and_rejects_at_the_bound() {
        for (v, ok) in [
            (0u128, true),
            (u64::MAX as u128, true),
            (1u128 << 64, false),
        ] {
            let mut cs = new_cs();
            let x = witness(&mut cs, "x", F::from_u128(v));
            range_check(cs.namespace(|| "r"), &x, 64).unwrap();
            assert_eq!(cs.is_satisfied(), ok, "value {v}");
            assert_eq!(cs.num_constraints(), 65);
        }
        // A field element that "wraps" (p − 1) is far from 64 bits.
        let mut cs = new_cs();
        let x = witness(&mut cs, "x", -F::ONE);
        range_check(cs.namespace(|| "r"), &x, 64).unwrap();
        assert!(!cs.is_satisfied());
    }

    #[test]
    fn strict_comparison_is_exact_at_the_edges() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let l = crate::gadgets::ecc::subgroup_order();
        let bounds = [
            l.clone() - 1u32,
            modulus() - 1u32,
            BigUint::from(0b1011_0111u32),
            BigUint::from(1u32),
        ];
        for bound in &bounds {
            let expected = strict_num_constraints(bound);
            for v in [BigUint::from(0u32), bound.clone(), bound.clone() - 1u32] {
                assert_eq!(strict_ok(&v, bound), (true, expected), "{v} <= {bound}");
            }
            let over = bound.clone() + 1u32;
            if over.bits() == bound.bits() {
                assert!(!strict_ok(&over, bound).0, "{over} > {bound}");
            }
            for _ in 0..20 {
                let v = rng.gen_biguint_below(&(BigUint::from(1u32) << bound.bits()));
                assert_eq!(strict_ok(&v, bound).0, &v <= bound, "{v} vs {bound}");
            }
        }
        // The counts the EdDSA gadget relies on.
        assert_eq!(strict_num_constraints(&(l - 1u32)), 342);
        assert_eq!(strict_num_constraints(&(modulus() - 1u32)), 331);
    }

    #[test]
    fn to_bits_strict_rejects_a_non_canonical_decomposition() {
        // x = 5 has the honest decomposition 5 and the non-canonical 5 + p (if it fits);
        // with bound p − 1 only the honest one satisfies.
        let bound = modulus() - 1u32;
        let mut cs = new_cs();
        let x = witness(&mut cs, "x", F::from(5u64));
        to_bits_le_strict(cs.namespace(|| "s"), &x, &bound).unwrap();
        assert!(cs.is_satisfied());
        let alias = modulus() + 5u32;
        assert!(alias.bits() <= 254);
        let mut cs2 = new_cs();
        let x = witness(&mut cs2, "x", f_from_biguint(&BigUint::from(5u32)));
        let bits = alloc_bits_le_strict(cs2.namespace(|| "s"), Some(&alias), &bound).unwrap();
        enforce_equal(&mut cs2, "packing", &bits.packed, &x);
        assert!(!cs2.is_satisfied());
    }
}
