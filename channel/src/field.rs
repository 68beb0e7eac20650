//! BN254 scalar field elements (`Fe`), their canonical encodings, and domain tags.
//!
//! Binary forms carry a field element as 32 big-endian bytes, JSON as a canonical
//! decimal string. Both decoders refuse non-canonical values (`>= p`), run on the
//! element's four limbs and allocate nothing. [`dec`], [`dec_opt`] and [`dec_vec`] are
//! the serde adapters for the decimal form. The `BigUint` versions of the conversions
//! survive only as the tests' oracle (`oracle` below).

use ark_ff::{BigInt, PrimeField};
use std::fmt;

/// A BN254 scalar field element (the base field of Baby Jubjub).
pub type Fe = ark_bn254::Fr;

/// Longest decimal field element accepted (leading zeros are tolerated up to it).
pub const MAX_FE_DECIMAL_LEN: usize = 80;

/// Why a field element could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not a decimal string of 1 to [`MAX_FE_DECIMAL_LEN`] digits.
    #[error("not a decimal integer")]
    NotDecimal,
    /// The integer is not below the field modulus.
    #[error("value is not below the BN254 scalar modulus")]
    NotCanonical,
}

/// Parse 32 big-endian bytes, refusing values `>= p`.
/// About 20 ns: four loads and one Montgomery multiplication, no allocation.
#[inline]
pub fn fe_from_be_bytes(bytes: &[u8; 32]) -> Result<Fe, FieldError> {
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = 24 - 8 * i;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[start..start + 8]);
        *limb = u64::from_be_bytes(word);
    }
    Fe::from_bigint(BigInt(limbs)).ok_or(FieldError::NotCanonical)
}

/// 32 big-endian bytes of `x` (no allocation).
#[inline]
pub fn fe_to_be_bytes(x: &Fe) -> [u8; 32] {
    let limbs = x.into_bigint().0;
    let mut out = [0u8; 32];
    for (i, limb) in limbs.iter().enumerate() {
        let start = 24 - 8 * i;
        out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// Parse a decimal field element: 1 to [`MAX_FE_DECIMAL_LEN`] ASCII digits (no sign),
/// value `< p`.
pub fn fe_from_dec(s: &str) -> Result<Fe, FieldError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_FE_DECIMAL_LEN {
        return Err(FieldError::NotDecimal);
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(FieldError::NotDecimal);
    }
    let mut limbs = [0u64; 4];
    for &b in bytes {
        // limbs = limbs * 10 + digit, failing on overflow of 256 bits.
        let mut carry = u128::from(b - b'0');
        for limb in limbs.iter_mut() {
            let t = u128::from(*limb) * 10 + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        if carry != 0 {
            return Err(FieldError::NotCanonical);
        }
    }
    Fe::from_bigint(BigInt(limbs)).ok_or(FieldError::NotCanonical)
}

/// The canonical decimal string of `x` (no leading zeros), appended to `out`.
pub fn fe_write_dec(x: &Fe, out: &mut String) {
    const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19, the largest power of ten in a u64
    let mut limbs = x.into_bigint().0;
    // Split into base-10^19 digits, least significant first (at most 5 for 254 bits).
    let mut chunks = [0u64; 5];
    let mut n = 0;
    while limbs.iter().any(|&l| l != 0) {
        let mut rem: u128 = 0;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / u128::from(CHUNK)) as u64;
            rem = cur % u128::from(CHUNK);
        }
        debug_assert!(n < chunks.len());
        chunks[n] = rem as u64;
        n += 1;
    }
    if n == 0 {
        out.push('0');
        return;
    }
    use fmt::Write;
    // Infallible: writing to a String cannot fail.
    let _ = write!(out, "{}", chunks[n - 1]);
    for chunk in chunks[..n - 1].iter().rev() {
        let _ = write!(out, "{chunk:019}");
    }
}

/// The canonical decimal string of `x`.
pub fn fe_to_dec(x: &Fe) -> String {
    let mut s = String::with_capacity(MAX_FE_DECIMAL_LEN);
    fe_write_dec(x, &mut s);
    s
}

/// `x` as a `u64` if it is below `2^64`.
pub fn fe_to_u64(x: &Fe) -> Option<u64> {
    let [low, rest @ ..] = x.into_bigint().0;
    rest.iter().all(|&l| l == 0).then_some(low)
}

/// A domain tag: the ASCII bytes of `tag` read as a big-endian integer.
pub fn domain_tag(tag: &str) -> Fe {
    debug_assert!(tag.len() < 31, "domain tags must fit in a field element");
    Fe::from_be_bytes_mod_order(tag.as_bytes())
}

/// Serde adapter: a field element as a canonical decimal string.
pub mod dec {
    use super::*;
    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    /// Serialize as a decimal string.
    pub fn serialize<S: Serializer>(x: &Fe, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fe_to_dec(x))
    }

    /// Deserialize from a decimal string `< p`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fe, D::Error> {
        d.deserialize_str(FeVisitor)
    }

    struct FeVisitor;

    impl Visitor<'_> for FeVisitor {
        type Value = Fe;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field element as a decimal string below the BN254 scalar modulus")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Fe, E> {
            fe_from_dec(v).map_err(|_| {
                E::custom("field element must be a decimal string below the BN254 scalar modulus")
            })
        }
    }
}

/// Serde adapter: `Option<Fe>` as a decimal string, absent or `null` meaning `None`.
pub mod dec_opt {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as a decimal string (callers skip `None`).
    pub fn serialize<S: Serializer>(x: &Option<Fe>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_str(&fe_to_dec(x)),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from a decimal string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Fe>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::dec")] Fe);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde adapter: a list of field elements as decimal strings.
pub mod dec_vec {
    use super::*;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize as an array of decimal strings.
    pub fn serialize<S: Serializer>(v: &[Fe], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&fe_to_dec(x))?;
        }
        seq.end()
    }

    /// Deserialize an array of decimal strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fe>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::dec")] Fe);
        Ok(Vec::<Wrap>::deserialize(d)?
            .into_iter()
            .map(|w| w.0)
            .collect())
    }
}

/// The `BigUint` conversions the fast bodies above replaced, kept as their tests'
/// oracle: plain, obviously right, and slow.
#[cfg(test)]
mod oracle {
    use super::{Fe, FieldError};
    use ark_ff::{BigInteger, PrimeField};
    use num_bigint::BigUint;

    pub fn modulus() -> BigUint {
        BigUint::from_bytes_le(&<Fe as PrimeField>::MODULUS.to_bytes_le())
    }

    pub fn fe_to_dec(x: &Fe) -> String {
        BigUint::from_bytes_le(&x.into_bigint().to_bytes_le()).to_str_radix(10)
    }

    fn fe_from_biguint(n: &BigUint) -> Result<Fe, FieldError> {
        if n >= &modulus() {
            return Err(FieldError::NotCanonical);
        }
        Ok(Fe::from_le_bytes_mod_order(&n.to_bytes_le()))
    }

    pub fn fe_from_dec(s: &str) -> Result<Fe, FieldError> {
        if s.is_empty() || s.len() > 80 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::NotDecimal);
        }
        let n = BigUint::parse_bytes(s.as_bytes(), 10).ok_or(FieldError::NotDecimal)?;
        fe_from_biguint(&n)
    }

    pub fn fe_to_be_bytes(x: &Fe) -> [u8; 32] {
        let mut out = [0u8; 32];
        let le = x.into_bigint().to_bytes_le();
        for (i, b) in le.iter().enumerate().take(32) {
            out[31 - i] = *b;
        }
        out
    }

    pub fn fe_from_be_bytes(bytes: &[u8; 32]) -> Result<Fe, FieldError> {
        fe_from_biguint(&BigUint::from_bytes_be(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Fe> {
        vec![
            Fe::from(0u64),
            Fe::from(1u64),
            Fe::from(123_456_789u64),
            Fe::from(10u64.pow(19)),
            Fe::from(u64::MAX),
            Fe::from(u64::MAX) * Fe::from(u64::MAX),
            -Fe::from(7u64),
            -Fe::from(1u64),
        ]
    }

    #[test]
    fn fast_bytes_match_the_biguint_oracle() {
        for x in samples() {
            let b = fe_to_be_bytes(&x);
            assert_eq!(b, oracle::fe_to_be_bytes(&x));
            assert_eq!(fe_from_be_bytes(&b), Ok(x));
            assert_eq!(oracle::fe_from_be_bytes(&b), Ok(x));
        }
        assert_eq!(fe_from_be_bytes(&[0xff; 32]), Err(FieldError::NotCanonical));
        let mut p = [0u8; 32];
        p.copy_from_slice(&oracle::modulus().to_bytes_be());
        assert_eq!(fe_from_be_bytes(&p), Err(FieldError::NotCanonical));
        assert_eq!(oracle::fe_from_be_bytes(&p), Err(FieldError::NotCanonical));
        p[31] -= 1;
        assert_eq!(fe_from_be_bytes(&p), Ok(-Fe::from(1u64)));
    }

    #[test]
    fn fast_decimal_matches_the_biguint_oracle() {
        for x in samples() {
            assert_eq!(fe_to_dec(&x), oracle::fe_to_dec(&x));
            assert_eq!(fe_from_dec(&fe_to_dec(&x)), Ok(x));
        }
        let p = oracle::modulus();
        let pm1 = (&p - 1u32).to_str_radix(10);
        let accepted = ["0", "1", "00012", "18446744073709551616", pm1.as_str()];
        let refused = [
            "",
            "-1",
            "+1",
            "1 ",
            "0x10",
            &p.to_str_radix(10),
            &"9".repeat(78),
            &"0".repeat(81),
        ];
        for s in accepted.iter().chain(refused.iter()) {
            assert_eq!(fe_from_dec(s), oracle::fe_from_dec(s), "{s}");
        }
        for s in refused {
            assert!(fe_from_dec(s).is_err(), "{s}");
        }
        assert_eq!(
            fe_from_dec(&p.to_str_radix(10)),
            Err(FieldError::NotCanonical)
        );
        assert_eq!(fe_from_dec("-1"), Err(FieldError::NotDecimal));
    }

    #[test]
    fn small_values_fit_u64() {
        assert_eq!(fe_to_u64(&Fe::from(u64::MAX)), Some(u64::MAX));
        assert_eq!(fe_to_u64(&(Fe::from(u64::MAX) + Fe::from(1u64))), None);
        assert_eq!(fe_to_u64(&-Fe::from(1u64)), None);
    }

    #[test]
    fn domain_tag_is_big_endian_ascii() {
        assert_eq!(domain_tag("A"), Fe::from(0x41u64));
        assert_eq!(domain_tag("AB"), Fe::from(0x4142u64));
    }
}
