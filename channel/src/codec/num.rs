//! Number encodings used on the wire, written for speed and without allocation:
//!
//! - field elements as 32 big-endian bytes (binary frames) and as canonical decimal
//!   strings (JSON), with the same acceptance rules as [`crate::field`] but without
//!   going through `BigUint`;
//! - `u64` values in JSON: emitted as a JSON number when `≤ 2^53 − 1`
//!   ([`MAX_SAFE_INTEGER`], exact in an IEEE double, so JavaScript's `JSON.parse` keeps
//!   it) and as a decimal string above; accepted as either a number or a decimal string.
//!   A JavaScript client can therefore read every `u64` field with `BigInt(v)`.

use ark_ff::{BigInt, PrimeField};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};
use std::fmt;

use crate::field::Fe;

/// The largest integer an IEEE-754 double represents exactly (`2^53 − 1`,
/// JavaScript's `Number.MAX_SAFE_INTEGER`). `u64` values above it are sent as strings.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Longest decimal field element accepted (as [`crate::field::fe_from_dec`]: leading
/// zeros are tolerated up to this length).
pub const MAX_FE_DECIMAL_LEN: usize = 80;

/// Parse 32 big-endian bytes as a field element; `None` if the value is `>= p`.
/// About 20 ns: four loads and one Montgomery multiplication, no allocation.
#[inline]
pub fn fe_from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = 24 - 8 * i;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[start..start + 8]);
        *limb = u64::from_be_bytes(word);
    }
    Fe::from_bigint(BigInt(limbs))
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

/// Parse a decimal field element: 1 to [`MAX_FE_DECIMAL_LEN`] ASCII digits, value `< p`.
/// Accepts exactly what [`crate::field::fe_from_dec`] accepts.
pub fn fe_from_dec(s: &str) -> Option<Fe> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_FE_DECIMAL_LEN {
        return None;
    }
    let mut limbs = [0u64; 4];
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        // limbs = limbs * 10 + digit, failing on overflow of 256 bits.
        let mut carry = digit as u128;
        for limb in limbs.iter_mut() {
            let t = (*limb as u128) * 10 + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        if carry != 0 {
            return None;
        }
    }
    Fe::from_bigint(BigInt(limbs))
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
            let cur = (rem << 64) | *limb as u128;
            *limb = (cur / CHUNK as u128) as u64;
            rem = cur % CHUNK as u128;
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
    let mut s = String::with_capacity(80);
    fe_write_dec(x, &mut s);
    s
}

/// Parse a canonical-enough decimal `u64`: 1 to 20 ASCII digits, no sign, no overflow.
pub fn u64_from_dec(s: &str) -> Option<u64> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in bytes {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(digit as u64)?;
    }
    Some(v)
}

/// Serde adapter for a field element as a decimal string (fast path of
/// [`crate::field::dec`]).
pub mod fe_dec {
    use super::*;

    /// Serialize as a decimal string.
    pub fn serialize<S: Serializer>(x: &Fe, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fe_to_dec(x))
    }

    /// Deserialize from a decimal string `< p`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fe, D::Error> {
        d.deserialize_str(FeVisitor)
    }

    pub(crate) struct FeVisitor;

    impl Visitor<'_> for FeVisitor {
        type Value = Fe;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field element as a decimal string below the BN254 scalar modulus")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Fe, E> {
            fe_from_dec(v).ok_or_else(|| {
                E::custom("field element must be a decimal string below the BN254 scalar modulus")
            })
        }
    }
}

/// Serde adapter for `Option<Fe>` as a decimal string, absent or `null` meaning `None`.
pub mod fe_dec_opt {
    use super::*;

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
        struct Wrap(#[serde(with = "super::fe_dec")] Fe);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde adapter for a list of field elements as decimal strings.
pub mod fe_dec_vec {
    use super::*;
    use serde::ser::SerializeSeq;

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
        struct Wrap(#[serde(with = "super::fe_dec")] Fe);
        Ok(Vec::<Wrap>::deserialize(d)?
            .into_iter()
            .map(|w| w.0)
            .collect())
    }
}

/// Serde adapter for `u64`: a number when `≤ 2^53 − 1`, else a decimal string;
/// accepts a non-negative integer number or a decimal string.
pub mod u64_json {
    use super::*;

    /// Serialize as a number (`≤ 2^53 − 1`) or a decimal string.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        if *v <= MAX_SAFE_INTEGER {
            s.serialize_u64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    /// Deserialize from a non-negative integer or a decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(U64Visitor)
    }

    pub(crate) struct U64Visitor;

    impl Visitor<'_> for U64Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a u64 as a non-negative integer or a decimal string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom("u64 must not be negative"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            u64_from_dec(v).ok_or_else(|| {
                E::custom("u64 string must be 1 to 20 decimal digits, at most 2^64 - 1")
            })
        }
    }
}

/// Serde adapter for `Option<u64>` (see [`u64_json`]); absent or `null` is `None`.
pub mod u64_json_opt {
    use super::*;

    /// Serialize `Some` as [`u64_json`] (callers skip `None`).
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::u64_json::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Deserialize a number, a decimal string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::u64_json")] u64);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

/// Serde adapter for a signed net deposit (`|D| < 2^64`): a number when
/// `|D| ≤ 2^53 − 1`, else a decimal string with an optional leading `-`.
pub mod net_json {
    use super::*;
    use crate::types::NetAmount;

    /// Serialize as a number or a decimal string.
    pub fn serialize<S: Serializer>(v: &NetAmount, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*v) {
            Ok(n) if n.unsigned_abs() <= MAX_SAFE_INTEGER => s.serialize_i64(n),
            _ => s.serialize_str(&v.to_string()),
        }
    }

    /// Deserialize from an integer or a decimal string, `|D| < 2^64`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NetAmount, D::Error> {
        d.deserialize_any(NetVisitor)
    }

    struct NetVisitor;

    impl Visitor<'_> for NetVisitor {
        type Value = NetAmount;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a net amount (|D| < 2^64) as an integer or a decimal string")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<NetAmount, E> {
            Ok(NetAmount::from(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<NetAmount, E> {
            Ok(NetAmount::from(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<NetAmount, E> {
            let (negative, digits) = match v.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, v),
            };
            let magnitude = u64_from_dec(digits).ok_or_else(|| {
                E::custom(
                    "net amount string must be an optional '-' and 1 to 20 digits, |D| < 2^64",
                )
            })?;
            let m = NetAmount::from(magnitude);
            Ok(if negative { -m } else { m })
        }
    }
}

/// Serde adapter for `u32` (channel ids): a number, or a decimal string on input.
pub mod u32_json {
    use super::*;

    /// Serialize as a number (always exact in a double).
    pub fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(*v)
    }

    /// Deserialize from a number or a decimal string, at most `2^32 − 1`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let v = d.deserialize_any(super::u64_json::U64Visitor)?;
        u32::try_from(v).map_err(|_| de::Error::custom("channel id must be at most 2^32 - 1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field;

    #[test]
    fn fe_bytes_match_field_module() {
        for x in [
            Fe::from(0u64),
            Fe::from(1u64),
            -Fe::from(1u64),
            Fe::from(u64::MAX) * Fe::from(u64::MAX),
        ] {
            let b = fe_to_be_bytes(&x);
            assert_eq!(b, field::fe_to_be_bytes(&x));
            assert_eq!(fe_from_be_bytes(&b), Some(x));
        }
        assert_eq!(fe_from_be_bytes(&[0xff; 32]), None);
        let p = field::modulus().to_bytes_be();
        let mut p32 = [0u8; 32];
        p32.copy_from_slice(&p);
        assert_eq!(fe_from_be_bytes(&p32), None, "p itself is not canonical");
        p32[31] -= 1;
        assert_eq!(fe_from_be_bytes(&p32), Some(-Fe::from(1u64)));
    }

    #[test]
    fn fe_decimal_matches_field_module() {
        let p = field::modulus();
        let pm1 = (&p - 1u32).to_str_radix(10);
        for s in ["0", "1", "00012", "18446744073709551616", pm1.as_str()] {
            assert_eq!(fe_from_dec(s), field::fe_from_dec(s).ok(), "{s}");
        }
        for s in [
            "",
            "-1",
            "+1",
            "1 ",
            "0x10",
            &p.to_str_radix(10),
            &"9".repeat(78),
            &"0".repeat(81),
        ] {
            assert_eq!(fe_from_dec(s), None, "{s}");
        }
        for x in [
            Fe::from(0u64),
            Fe::from(10u64.pow(19)),
            -Fe::from(1u64),
            Fe::from(u64::MAX),
        ] {
            assert_eq!(fe_to_dec(&x), field::fe_to_dec(&x));
        }
    }

    #[test]
    fn u64_decimal() {
        assert_eq!(u64_from_dec("18446744073709551615"), Some(u64::MAX));
        assert_eq!(u64_from_dec("18446744073709551616"), None);
        assert_eq!(u64_from_dec("0"), Some(0));
        assert_eq!(u64_from_dec(""), None);
        assert_eq!(u64_from_dec("-0"), None);
    }
}
