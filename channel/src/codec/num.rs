//! Integer encodings in JSON (field elements: [`crate::field`] and its adapters):
//!
//! - `u64` values in JSON: emitted as a JSON number when `≤ 2^53 − 1`
//!   ([`MAX_SAFE_INTEGER`], exact in an IEEE double, so JavaScript's `JSON.parse` keeps
//!   it) and as a decimal string above; accepted as either a number or a decimal string.
//!   A JavaScript client can therefore read every `u64` field with `BigInt(v)`.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};
use std::fmt;

/// The largest integer an IEEE-754 double represents exactly (`2^53 − 1`,
/// JavaScript's `Number.MAX_SAFE_INTEGER`). `u64` values above it are sent as strings.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

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

    #[test]
    fn u64_decimal() {
        assert_eq!(u64_from_dec("18446744073709551615"), Some(u64::MAX));
        assert_eq!(u64_from_dec("18446744073709551616"), None);
        assert_eq!(u64_from_dec("0"), Some(0));
        assert_eq!(u64_from_dec(""), None);
        assert_eq!(u64_from_dec("-0"), None);
    }
}
