//! BN254 scalar field elements (`Fe`), their canonical encodings, and domain tags.
//!
//! JSON carries field elements as decimal strings; binary forms carry them as
//! 32 big-endian bytes. Both decoders reject non-canonical values (`>= p`).

use ark_ff::{BigInteger, PrimeField};
use num_bigint::BigUint;

/// A BN254 scalar field element (the base field of Baby Jubjub).
pub type Fe = ark_bn254::Fr;

/// Why a field element could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not a decimal string of digits.
    #[error("not a decimal integer")]
    NotDecimal,
    /// The integer is not below the field modulus.
    #[error("value is not below the BN254 scalar modulus")]
    NotCanonical,
}

/// The field modulus `p` as a big integer.
pub fn modulus() -> BigUint {
    BigUint::from_bytes_le(&<Fe as PrimeField>::MODULUS.to_bytes_le())
}

/// `x` as a big integer in `[0, p)`.
pub fn fe_to_biguint(x: &Fe) -> BigUint {
    BigUint::from_bytes_le(&x.into_bigint().to_bytes_le())
}

/// Decimal string of `x`.
pub fn fe_to_dec(x: &Fe) -> String {
    fe_to_biguint(x).to_str_radix(10)
}

/// Parse a canonical decimal string (no sign, no leading `+`, `< p`).
pub fn fe_from_dec(s: &str) -> Result<Fe, FieldError> {
    if s.is_empty() || s.len() > 80 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::NotDecimal);
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10).ok_or(FieldError::NotDecimal)?;
    fe_from_biguint(&n)
}

/// `n` as a field element if `n < p`.
pub fn fe_from_biguint(n: &BigUint) -> Result<Fe, FieldError> {
    if n >= &modulus() {
        return Err(FieldError::NotCanonical);
    }
    Ok(Fe::from_le_bytes_mod_order(&n.to_bytes_le()))
}

/// 32 big-endian bytes of `x`.
pub fn fe_to_be_bytes(x: &Fe) -> [u8; 32] {
    let mut out = [0u8; 32];
    let le = x.into_bigint().to_bytes_le();
    for (i, b) in le.iter().enumerate().take(32) {
        out[31 - i] = *b;
    }
    out
}

/// Parse 32 big-endian bytes, rejecting values `>= p`.
pub fn fe_from_be_bytes(bytes: &[u8; 32]) -> Result<Fe, FieldError> {
    fe_from_biguint(&BigUint::from_bytes_be(bytes))
}

/// A domain tag: the ASCII bytes of `tag` read as a big-endian integer.
pub fn domain_tag(tag: &str) -> Fe {
    debug_assert!(tag.len() < 31, "domain tags must fit in a field element");
    Fe::from_be_bytes_mod_order(tag.as_bytes())
}

/// Serde adapter: a field element as a decimal string.
pub mod dec {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as a decimal string.
    pub fn serialize<S: Serializer>(x: &Fe, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fe_to_dec(x))
    }

    /// Deserialize from a canonical decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fe, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        fe_from_dec(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_round_trip_and_canonical() {
        let x = Fe::from(123456789u64);
        assert_eq!(fe_from_dec(&fe_to_dec(&x)).unwrap(), x);
        let p = modulus().to_str_radix(10);
        assert_eq!(fe_from_dec(&p), Err(FieldError::NotCanonical));
        assert_eq!(fe_from_dec("-1"), Err(FieldError::NotDecimal));
        assert_eq!(fe_from_dec(""), Err(FieldError::NotDecimal));
    }

    #[test]
    fn bytes_round_trip() {
        let x = -Fe::from(7u64);
        assert_eq!(fe_from_be_bytes(&fe_to_be_bytes(&x)).unwrap(), x);
        assert!(fe_from_be_bytes(&[0xff; 32]).is_err());
    }

    #[test]
    fn domain_tag_is_big_endian_ascii() {
        assert_eq!(domain_tag("A"), Fe::from(0x41u64));
        assert_eq!(domain_tag("AB"), Fe::from(0x4142u64));
    }
}
