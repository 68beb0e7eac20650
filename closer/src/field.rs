//! The circuit's scalar field and conversions from the protocol's field type.
//!
//! `channel` computes over arkworks' `ark_bn254::Fr` ([`channel::Fe`]); Spartan2's
//! `Bn254Engine` uses halo2curves' `bn256::Fr` ([`F`]). Both are the BN254 scalar
//! field, so values cross over through their canonical 32-byte little-endian encodings.

use ark_ff::{BigInteger, PrimeField as _};
use channel::Fe;
use ff::PrimeField;
use num_bigint::BigUint;

/// The scalar field of the circuit (halo2curves `bn256::Fr`).
pub type F = spartan2::provider::bn254::types::Scalar;

/// The Spartan2 engine the close is proved with.
pub type Engine = spartan2::provider::Bn254Engine;

/// `x` as a circuit scalar.
pub fn fe_to_f(x: &Fe) -> F {
    let mut repr = <F as PrimeField>::Repr::default();
    let bytes = x.into_bigint().to_bytes_le();
    repr.as_mut()[..32].copy_from_slice(&bytes[..32]);
    // The encoding of a canonical ark element is canonical for halo2 as well.
    Option::from(F::from_repr(repr)).expect("both types are the BN254 scalar field")
}

/// `x` as a protocol field element.
pub fn f_to_fe(x: &F) -> Fe {
    Fe::from_le_bytes_mod_order(x.to_repr().as_ref())
}

/// `x` as an integer in `[0, p)`.
pub fn f_to_biguint(x: &F) -> BigUint {
    BigUint::from_bytes_le(x.to_repr().as_ref())
}

/// `n mod p` as a circuit scalar.
pub fn f_from_biguint(n: &BigUint) -> F {
    let reduced = n % modulus();
    let mut repr = <F as PrimeField>::Repr::default();
    let bytes = reduced.to_bytes_le();
    repr.as_mut()[..bytes.len()].copy_from_slice(&bytes);
    Option::from(F::from_repr(repr)).expect("reduced below the modulus")
}

/// A circuit scalar from a decimal constant (compile-time tables only).
pub fn f_from_dec(s: &str) -> F {
    let n = BigUint::parse_bytes(s.as_bytes(), 10).expect("decimal constant");
    assert!(n < modulus(), "constant not below the modulus");
    f_from_biguint(&n)
}

/// The field modulus `p`.
pub fn modulus() -> BigUint {
    BigUint::from_bytes_le(&<Fe as ark_ff::PrimeField>::MODULUS.to_bytes_le())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::Field;

    #[test]
    fn conversions_agree_on_small_and_large_values() {
        assert_eq!(fe_to_f(&Fe::from(5u64)), F::from(5u64));
        assert_eq!(fe_to_f(&-Fe::from(1u64)), -F::ONE);
        let x = F::from(0x1234_5678_9abc_def0u64).square().square();
        assert_eq!(fe_to_f(&f_to_fe(&x)), x);
        assert_eq!(f_from_biguint(&f_to_biguint(&x)), x);
        assert_eq!(f_from_dec("7"), F::from(7u64));
        assert_eq!(f_from_biguint(&modulus()), F::ZERO);
    }
}
