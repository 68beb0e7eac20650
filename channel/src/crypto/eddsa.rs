//! EdDSA over Baby Jubjub with Poseidon, exactly as circomlibjs `signPoseidon` /
//! `verifyPoseidon`, with packing as `packPoint` / `packSignature`.
//! TODO(crypto helper): implement; serde of Signature/PublicKey as packed lowercase hex.

use super::babyjub::Point;

/// A 32-byte private key (as circomlibjs: hashed with BLAKE-512 and pruned).
#[derive(Clone)]
pub struct PrivateKey(pub [u8; 32]);

/// A public key `A = Base8 · (s >> 3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub Point);

/// A signature `(R8, S)` with `S < l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The nonce point `R8`.
    pub r8: Point,
    /// The scalar `S`, reduced below the subgroup order `l`.
    pub s: ark_ed_on_bn254::Fr,
}

/// A signature in circomlibjs `packSignature` form: packed `R8` (32 bytes) then `S`
/// (32 bytes, little-endian).
pub type PackedSignature = [u8; 64];

impl PublicKey {
    /// A key from coordinates read back from the hub's own storage, where it was
    /// validated on entry. Never use on untrusted input.
    pub fn from_xy_unchecked(x: crate::field::Fe, y: crate::field::Fe) -> Self {
        PublicKey(Point { x, y })
    }
}

/// Serde adapter: `Option<PackedSignature>` as lowercase hex (128 chars) or null.
pub mod serde_opt_packed_sig {
    use super::PackedSignature;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as hex or null.
    pub fn serialize<S: Serializer>(v: &Option<PackedSignature>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from hex or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PackedSignature>, D::Error> {
        let v = Option::<String>::deserialize(d)?;
        v.map(|h| {
            let bytes = hex::decode(&h).map_err(D::Error::custom)?;
            <PackedSignature>::try_from(bytes.as_slice()).map_err(|_| D::Error::custom("signature must be 64 bytes"))
        })
        .transpose()
    }
}

// ---- API the rest of the workspace relies on (bodies: crypto helper) ----

impl PrivateKey {
    /// The public key `A = Base8 · (s >> 3)` (circomlibjs `prv2pub`).
    pub fn public(&self) -> PublicKey {
        todo!("crypto helper")
    }

    /// Sign `msg` (circomlibjs `signPoseidon`): deterministic.
    pub fn sign(&self, msg: &crate::field::Fe) -> Signature {
        let _ = msg;
        todo!("crypto helper")
    }
}

impl PublicKey {
    /// Verify a signature (circomlibjs `verifyPoseidon`, plus `S < l`, on-curve and
    /// non-small-order key checks).
    pub fn verify(&self, msg: &crate::field::Fe, sig: &Signature) -> Result<(), super::CryptoError> {
        let _ = (msg, sig);
        todo!("crypto helper")
    }

    /// circomlibjs `packPoint`.
    pub fn pack(&self) -> [u8; 32] {
        todo!("crypto helper")
    }

    /// Inverse of [`PublicKey::pack`]; rejects non-canonical, off-curve and weak keys.
    pub fn unpack(bytes: &[u8; 32]) -> Result<Self, super::CryptoError> {
        let _ = bytes;
        todo!("crypto helper")
    }
}

impl Signature {
    /// circomlibjs `packSignature`.
    pub fn pack(&self) -> PackedSignature {
        todo!("crypto helper")
    }

    /// Inverse of [`Signature::pack`]; rejects `S >= l`, non-canonical or off-curve `R8`.
    pub fn unpack(bytes: &PackedSignature) -> Result<Self, super::CryptoError> {
        let _ = bytes;
        todo!("crypto helper")
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.pack()))
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let h = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut b = [0u8; 32];
        hex::decode_to_slice(h.as_bytes(), &mut b).map_err(D::Error::custom)?;
        PublicKey::unpack(&b).map_err(D::Error::custom)
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.pack()))
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let h = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        let mut b = [0u8; 64];
        hex::decode_to_slice(h.as_bytes(), &mut b).map_err(D::Error::custom)?;
        Signature::unpack(&b).map_err(D::Error::custom)
    }
}
