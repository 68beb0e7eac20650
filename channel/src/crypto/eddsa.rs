//! EdDSA over Baby Jubjub with Poseidon, exactly as circomlibjs `signPoseidon` /
//! `verifyPoseidon` (and @zk-kit/eddsa-poseidon, which agrees with it), with packing as
//! `packPoint` / `packSignature`. Keys and signatures serialize as packed lowercase hex.
//!
//! # Algorithm (circomlibjs `src/eddsa.js`)
//!
//! * `h1 = BLAKE-512(prv)` (the SHA-3 finalist BLAKE, not BLAKE2), 64 bytes.
//! * `s` = the first 32 bytes of `h1`, pruned (`[0] &= 0xF8`, `[31] &= 0x7F`,
//!   `[31] |= 0x40`), read little-endian; `A = Base8 · (s >> 3)`.
//! * Signing `M`: `r = BLAKE-512(h1[32..64] ‖ M as 32 little-endian bytes) mod l`,
//!   `R8 = Base8 · r`, `h = Poseidon(R8.x, R8.y, A.x, A.y, M)`, `S = (r + h·s) mod l`.
//! * Verifying: `S < l`, `R8` and `A` on the curve, and `S·Base8 = R8 + 8·h·A`
//!   (cofactorless, as circomlib's circuit). Beyond circomlibjs we also refuse a key `A`
//!   of small order (identity included): `8·A = O` would let any `R8 = S·Base8` pass.
//!   `R8` gets no extra check, as in circomlib: a small-order or identity `R8` cannot
//!   forge anything, since the equation still binds `S` to the discrete log of `A`.
//!
//! # Encodings
//!
//! `packPoint`: `y` as 32 little-endian bytes, with the top bit set iff
//! `x > (p − 1)/2`. Our decoder is stricter than circomlibjs's: it refuses `y >= p`
//! (circomlibjs silently reduces it) and a set sign bit with `x = 0` (which circomlibjs
//! maps to the same point as the clear bit), so every point has exactly one encoding.
//! `packSignature`: packed `R8` then `S` as 32 little-endian bytes; `S >= l` is refused.

use ark_ff::{AdditiveGroup, BigInt, Field, PrimeField};
use blake_hash::{Blake512, Digest};

use super::CryptoError;
use super::babyjub::{self, ExtendedPoint, Point, PreparedPoint, Scalar};
use super::poseidon::poseidon;
use crate::field::Fe;

/// A 32-byte private key (as circomlibjs: hashed with BLAKE-512 and pruned).
///
/// Its `Debug` output is redacted. For many signatures with one key, derive a
/// [`SigningKey`] once ([`PrivateKey::signing_key`]): it caches the scalar, the nonce
/// prefix and the public key.
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
/// A signature with `R8` as affine coordinates: `R8.x | R8.y | S`, 32 bytes each,
/// little-endian. What a Rust client sends in binary frames: the hub skips the square
/// root that unpacking `R8` costs (about 10 µs, a sixth of a checkpoint's crypto).
pub type PointSignature = [u8; 96];

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
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<PackedSignature>, D::Error> {
        let v = Option::<String>::deserialize(d)?;
        v.map(|h| {
            let bytes = hex::decode(&h).map_err(D::Error::custom)?;
            <PackedSignature>::try_from(bytes.as_slice())
                .map_err(|_| D::Error::custom("signature must be 64 bytes"))
        })
        .transpose()
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// A key from its 32 bytes (any value is a valid key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateKey(bytes)
    }

    /// A fresh key from a cryptographically secure generator.
    pub fn random<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        PrivateKey(b)
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derive the signing state once (one BLAKE-512 and one fixed-base multiplication).
    pub fn signing_key(&self) -> SigningKey {
        let h1 = blake512(&self.0);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&h1[..32]);
        s_bytes[0] &= 0xF8;
        s_bytes[31] &= 0x7F;
        s_bytes[31] |= 0x40;
        let s_limbs = le_limbs(&s_bytes);
        // A = Base8 · (s >> 3); s < 2^255 so s >> 3 < 2^252.
        let s_shr3 = shr3(&s_limbs);
        let public = PublicKey(babyjub::mul_base8_bigint(&s_shr3).to_affine());
        let mut nonce_prefix = [0u8; 32];
        nonce_prefix.copy_from_slice(&h1[32..]);
        SigningKey {
            s: Scalar::from_le_bytes_mod_order(&s_bytes),
            nonce_prefix,
            public,
        }
    }

    /// The public key `A = Base8 · (s >> 3)` (circomlibjs `prv2pub`).
    pub fn public(&self) -> PublicKey {
        self.signing_key().public
    }

    /// Sign `msg` (circomlibjs `signPoseidon`): deterministic.
    pub fn sign(&self, msg: &Fe) -> Signature {
        self.signing_key().sign(msg)
    }
}

/// A private key's derived signing state: the pruned scalar `s mod l`, the nonce prefix
/// `h1[32..64]` and the public key. Signing with it costs one BLAKE-512, one fixed-base
/// multiplication and one Poseidon(5). `Debug` is redacted.
#[derive(Clone)]
pub struct SigningKey {
    s: Scalar,
    nonce_prefix: [u8; 32],
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The signing scalar `s mod l` (tests build signatures by hand with it).
    #[cfg(test)]
    pub(crate) fn scalar(&self) -> Scalar {
        self.s
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Sign `msg` (circomlibjs `signPoseidon`): deterministic.
    pub fn sign(&self, msg: &Fe) -> Signature {
        let mut pre = [0u8; 64];
        pre[..32].copy_from_slice(&self.nonce_prefix);
        pre[32..].copy_from_slice(&fe_to_le_bytes(msg));
        let digest = blake512(&pre);
        let r = Scalar::from_le_bytes_mod_order(&digest);
        let r8 = babyjub::mul_base8(&r).to_affine();
        let a = self.public.0;
        let h = poseidon(&[r8.x, r8.y, a.x, a.y, *msg]);
        let s = r + fe_mod_l(&h) * self.s;
        Signature { r8, s }
    }
}

impl PublicKey {
    /// Verify a signature (circomlibjs `verifyPoseidon`, plus `S < l`, on-curve and
    /// non-small-order key checks).
    ///
    /// Checks `S·Base8 − h·(8·A) = R8` with `h = Poseidon(R8.x, R8.y, A.x, A.y, msg)`,
    /// by one joint chain of doublings (static odd multiples of `Base8`, a width-5 NAF
    /// for `h·(8·A)`), in projective coordinates with no inversion. To verify many
    /// signatures of one key, [`PublicKey::prepare`] a [`VerifyingKey`] (about 40% less).
    pub fn verify(&self, msg: &Fe, sig: &Signature) -> Result<(), CryptoError> {
        let a = self.0;
        if !a.is_on_curve() || !sig.r8.is_on_curve() {
            return Err(CryptoError::NotOnCurve);
        }
        let a8 = ExtendedPoint::from(a).mul_by_cofactor();
        if a8.is_identity() {
            return Err(CryptoError::WeakPublicKey);
        }
        let h = poseidon(&[sig.r8.x, sig.r8.y, a.x, a.y, *msg]);
        let lhs = babyjub::mul_base8_sub(&sig.s.into_bigint().0, &a8, &h.into_bigint().0);
        if lhs.eq_affine(&sig.r8) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// circomlibjs `packPoint`.
    pub fn pack(&self) -> [u8; 32] {
        pack_point(&self.0)
    }

    /// Inverse of [`PublicKey::pack`]; rejects non-canonical, off-curve and weak keys.
    pub fn unpack(bytes: &[u8; 32]) -> Result<Self, CryptoError> {
        let p = unpack_point(bytes)?;
        if p.is_small_order() {
            return Err(CryptoError::WeakPublicKey);
        }
        Ok(PublicKey(p))
    }

    /// A key from affine coordinates, with the checks of [`PublicKey::unpack`]: on the
    /// curve and not of small order.
    pub fn from_xy(x: Fe, y: Fe) -> Result<Self, CryptoError> {
        let p = Point { x, y };
        if !p.is_on_curve() {
            return Err(CryptoError::NotOnCurve);
        }
        if p.is_small_order() {
            return Err(CryptoError::WeakPublicKey);
        }
        Ok(PublicKey(p))
    }
}

impl PublicKey {
    /// Prepare this key for verifying many signatures (see [`VerifyingKey`]).
    pub fn prepare(&self) -> Result<VerifyingKey, CryptoError> {
        VerifyingKey::new(self)
    }
}

/// A public key prepared for verifying many signatures, as a hub does for each open
/// channel: it holds a 4 KiB table of multiples of `8·A`, so that verification costs one
/// Poseidon(5) and a joint `S·Base8 − h·(8·A)` with 64 doublings (instead of ~254).
/// Building it costs about three verifications; same results as [`PublicKey::verify`].
#[derive(Clone)]
pub struct VerifyingKey {
    pk: PublicKey,
    a8: PreparedPoint,
    /// The same table for the eight-lane verifier, where the CPU runs it.
    a8_x8: Option<Box<[super::eddsa_x8::NielsX8]>>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("pk", &self.pk)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// Check `pk` (on the curve, not of small order) and build its table.
    pub fn new(pk: &PublicKey) -> Result<Self, CryptoError> {
        if !pk.0.is_on_curve() {
            return Err(CryptoError::NotOnCurve);
        }
        let a8 = ExtendedPoint::from(pk.0).mul_by_cofactor();
        if a8.is_identity() {
            return Err(CryptoError::WeakPublicKey);
        }
        let a8 = PreparedPoint::new(&a8.to_affine());
        Ok(VerifyingKey {
            pk: *pk,
            a8_x8: super::eddsa_x8::key_table(&a8),
            a8,
        })
    }

    /// The key.
    pub fn public_key(&self) -> PublicKey {
        self.pk
    }

    /// Verify a signature: exactly [`PublicKey::verify`], faster.
    pub fn verify(&self, msg: &Fe, sig: &Signature) -> Result<(), CryptoError> {
        if !sig.r8.is_on_curve() {
            return Err(CryptoError::NotOnCurve);
        }
        self.check_equation(&self.challenge(msg, sig), sig)
    }

    /// `h = Poseidon(R8.x, R8.y, A.x, A.y, msg)`.
    pub(crate) fn challenge(&self, msg: &Fe, sig: &Signature) -> Fe {
        poseidon(&self.challenge_inputs(msg, sig))
    }

    /// The inputs of [`VerifyingKey::challenge`], to hash many at once.
    pub(crate) fn challenge_inputs(&self, msg: &Fe, sig: &Signature) -> [Fe; 5] {
        let a = self.pk.0;
        [sig.r8.x, sig.r8.y, a.x, a.y, *msg]
    }

    /// `S·Base8 − h·(8·A) = R8` for an on-curve `R8` and its challenge `h`.
    pub(crate) fn check_equation(&self, h: &Fe, sig: &Signature) -> Result<(), CryptoError> {
        let lhs =
            babyjub::mul_base8_sub_prepared(&sig.s.into_bigint().0, &self.a8, &h.into_bigint().0);
        if lhs.eq_affine(&sig.r8) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// The prepared `8·A`.
    pub(crate) fn a8(&self) -> &PreparedPoint {
        &self.a8
    }

    /// The prepared `8·A` for the eight-lane verifier (`None` where the CPU lacks it).
    pub(crate) fn a8_x8(&self) -> Option<&[super::eddsa_x8::NielsX8]> {
        self.a8_x8.as_deref()
    }
}

impl Signature {
    /// circomlibjs `packSignature`.
    pub fn pack(&self) -> PackedSignature {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&pack_point(&self.r8));
        out[32..].copy_from_slice(&limbs_to_le_bytes(&self.s.into_bigint().0));
        out
    }

    /// `R8.x | R8.y | S`, each 32 bytes little-endian (see [`PointSignature`]).
    pub fn to_point_bytes(&self) -> PointSignature {
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&fe_to_le_bytes(&self.r8.x));
        out[32..64].copy_from_slice(&fe_to_le_bytes(&self.r8.y));
        out[64..].copy_from_slice(&limbs_to_le_bytes(&self.s.into_bigint().0));
        out
    }

    /// Inverse of [`Signature::to_point_bytes`]: the same signatures as
    /// [`Signature::unpack`] accepts (every on-curve `R8` has one packed form), with
    /// the same checks: coordinates below `p`, `R8` on the curve, `S < l`.
    pub fn from_point_bytes(bytes: &PointSignature) -> Result<Self, CryptoError> {
        let coordinate = |at: usize| {
            let mut b = [0u8; 32];
            b.copy_from_slice(&bytes[at..at + 32]);
            Fe::from_bigint(BigInt::new(le_limbs(&b))).ok_or(CryptoError::BadEncoding)
        };
        let r8 = Point {
            x: coordinate(0)?,
            y: coordinate(32)?,
        };
        if !r8.is_on_curve() {
            return Err(CryptoError::NotOnCurve);
        }
        Ok(Signature {
            r8,
            s: scalar_from_le(&bytes[64..])?,
        })
    }

    /// Inverse of [`Signature::pack`]; rejects `S >= l`, non-canonical or off-curve `R8`.
    pub fn unpack(bytes: &PackedSignature) -> Result<Self, CryptoError> {
        let mut r8 = [0u8; 32];
        r8.copy_from_slice(&bytes[..32]);
        let r8 = unpack_point(&r8)?;
        Ok(Signature {
            r8,
            s: scalar_from_le(&bytes[32..])?,
        })
    }
}

/// A signature's `S` from its 32 little-endian bytes; refuses `S >= l` (malleability).
fn scalar_from_le(bytes: &[u8]) -> Result<Scalar, CryptoError> {
    let mut s = [0u8; 32];
    s.copy_from_slice(bytes);
    Scalar::from_bigint(BigInt::new(le_limbs(&s))).ok_or(CryptoError::ScalarOutOfRange)
}

/// circomlibjs `packPoint`: `y` little-endian, top bit set iff `x > (p − 1)/2`.
pub fn pack_point(p: &Point) -> [u8; 32] {
    let mut out = fe_to_le_bytes(&p.y);
    if p.x.into_bigint() > Fe::MODULUS_MINUS_ONE_DIV_TWO {
        out[31] |= 0x80;
    }
    out
}

/// Inverse of [`pack_point`] for points on the curve (of any order). Refuses `y >= p`
/// and a sign bit on `x = 0` ([`CryptoError::BadEncoding`]) and a `y` with no point
/// ([`CryptoError::NotOnCurve`]).
pub fn unpack_point(bytes: &[u8; 32]) -> Result<Point, CryptoError> {
    let mut b = *bytes;
    let sign = b[31] & 0x80 != 0;
    b[31] &= 0x7F;
    let y = Fe::from_bigint(BigInt::new(le_limbs(&b))).ok_or(CryptoError::BadEncoding)?;
    // a·x² + y² = 1 + d·x²·y²  ⇔  x² = (1 − y²) / (a − d·y²)
    let y2 = y.square();
    let den = babyjub::A - babyjub::D * y2;
    let den_inv = den.inverse().ok_or(CryptoError::NotOnCurve)?;
    let x2 = (Fe::ONE - y2) * den_inv;
    let mut x = x2.sqrt().ok_or(CryptoError::NotOnCurve)?;
    if x.into_bigint() > Fe::MODULUS_MINUS_ONE_DIV_TWO {
        x = -x;
    }
    if sign {
        if x == Fe::ZERO {
            return Err(CryptoError::BadEncoding);
        }
        x = -x;
    }
    Ok(Point { x, y })
}

/// BLAKE-512 (the SHA-3 finalist, as circomlibjs's `blake-hash`).
fn blake512(data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(&Blake512::digest(data));
    out
}

/// `x` as 32 little-endian bytes.
fn fe_to_le_bytes(x: &Fe) -> [u8; 32] {
    limbs_to_le_bytes(&x.into_bigint().0)
}

fn limbs_to_le_bytes(limbs: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, limb) in out.chunks_exact_mut(8).zip(limbs) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    out
}

fn le_limbs(bytes: &[u8; 32]) -> [u64; 4] {
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(w);
    }
    limbs
}

fn shr3(k: &[u64; 4]) -> [u64; 4] {
    [
        (k[0] >> 3) | (k[1] << 61),
        (k[1] >> 3) | (k[2] << 61),
        (k[2] >> 3) | (k[3] << 61),
        k[3] >> 3,
    ]
}

/// A BN254 scalar reduced modulo `l`.
pub(crate) fn fe_mod_l(x: &Fe) -> Scalar {
    Scalar::from_le_bytes_mod_order(&fe_to_le_bytes(x))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(42)
    }

    #[test]
    fn sign_verify_round_trip() {
        let mut r = rng();
        for _ in 0..8 {
            let prv = PrivateKey::random(&mut r);
            let pk = prv.public();
            assert!(pk.0.is_on_curve() && pk.0.is_in_subgroup());
            let msg = Fe::rand(&mut r);
            let sig = prv.sign(&msg);
            assert_eq!(sig, prv.sign(&msg), "deterministic");
            assert_eq!(sig, prv.signing_key().sign(&msg));
            assert_eq!(pk.verify(&msg, &sig), Ok(()));
            let vk = pk.prepare().unwrap();
            assert_eq!(vk.public_key(), pk);
            assert_eq!(vk.verify(&msg, &sig), Ok(()));
            assert_eq!(
                vk.verify(&(msg + Fe::ONE), &sig),
                Err(CryptoError::BadSignature)
            );
            // Through the packed forms and serde.
            let pk2 = PublicKey::unpack(&pk.pack()).unwrap();
            let sig2 = Signature::unpack(&sig.pack()).unwrap();
            assert_eq!((pk2, sig2), (pk, sig));
            let json = serde_json::to_string(&(pk, sig)).unwrap();
            let back: (PublicKey, Signature) = serde_json::from_str(&json).unwrap();
            assert_eq!(back, (pk, sig));
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let mut r = rng();
        let prv = PrivateKey::random(&mut r);
        let other = PrivateKey::random(&mut r).public();
        let pk = prv.public();
        let msg = Fe::from(1234u64);
        let sig = prv.sign(&msg);
        assert_eq!(
            pk.verify(&(msg + Fe::ONE), &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(other.verify(&msg, &sig), Err(CryptoError::BadSignature));
        let s1 = Signature {
            s: sig.s + Scalar::ONE,
            ..sig
        };
        assert_eq!(pk.verify(&msg, &s1), Err(CryptoError::BadSignature));
        let r1 = Signature {
            r8: sig.r8.add(&babyjub::BASE8),
            ..sig
        };
        assert_eq!(pk.verify(&msg, &r1), Err(CryptoError::BadSignature));
        let off = Signature {
            r8: Point {
                x: sig.r8.x,
                y: sig.r8.y + Fe::ONE,
            },
            ..sig
        };
        assert_eq!(pk.verify(&msg, &off), Err(CryptoError::NotOnCurve));
        let off_pk = PublicKey(Point {
            x: pk.0.x + Fe::ONE,
            y: pk.0.y,
        });
        assert_eq!(off_pk.verify(&msg, &sig), Err(CryptoError::NotOnCurve));
        // R8 + (point of order 2): the hash changes and the equation fails.
        let t2 = Point {
            x: Fe::ZERO,
            y: -Fe::ONE,
        };
        let tors = Signature {
            r8: sig.r8.add(&t2),
            ..sig
        };
        assert_eq!(pk.verify(&msg, &tors), Err(CryptoError::BadSignature));
    }

    #[test]
    fn small_order_keys_are_refused_even_with_a_matching_equation() {
        // With 8·A = O, R8 = S·Base8 satisfies S·Base8 = R8 + 8hA for any message.
        let s = Scalar::from(777u64);
        let sig = Signature {
            r8: babyjub::BASE8.mul(&s),
            s,
        };
        let order8 = babyjub::GENERATOR.mul_bigint(&babyjub::SUBORDER.0);
        for a in [
            Point::IDENTITY,
            Point {
                x: Fe::ZERO,
                y: -Fe::ONE,
            },
            order8,
        ] {
            assert_eq!(
                PublicKey(a).verify(&Fe::from(9u64), &sig),
                Err(CryptoError::WeakPublicKey)
            );
            assert_eq!(
                PublicKey::unpack(&pack_point(&a)),
                Err(CryptoError::WeakPublicKey)
            );
            assert_eq!(
                PublicKey::from_xy(a.x, a.y),
                Err(CryptoError::WeakPublicKey)
            );
        }
    }

    #[test]
    fn packing_is_canonical() {
        let mut r = rng();
        let prv = PrivateKey::random(&mut r);
        let sig = prv.sign(&Fe::from(1u64));
        let packed = sig.pack();

        // S >= l.
        let mut big = packed;
        let s_plus_l = {
            let mut limbs = sig.s.into_bigint();
            let carry = ark_ff::BigInteger::add_with_carry(&mut limbs, &babyjub::SUBORDER);
            assert!(!carry);
            limbs_to_le_bytes(&limbs.0)
        };
        big[32..].copy_from_slice(&s_plus_l);
        assert_eq!(Signature::unpack(&big), Err(CryptoError::ScalarOutOfRange));
        let mut max = packed;
        max[32..].copy_from_slice(&[0xff; 32]);
        assert_eq!(Signature::unpack(&max), Err(CryptoError::ScalarOutOfRange));

        // y >= p.
        let pk = prv.public();
        let y_plus_p = {
            let mut limbs = pk.0.y.into_bigint();
            let carry = ark_ff::BigInteger::add_with_carry(&mut limbs, &Fe::MODULUS);
            assert!(!carry);
            limbs.0
        };
        if y_plus_p[3] >> 63 == 0 {
            let mut enc = limbs_to_le_bytes(&y_plus_p);
            enc[31] |= pk.pack()[31] & 0x80;
            assert_eq!(PublicKey::unpack(&enc), Err(CryptoError::BadEncoding));
        }

        // Sign bit on x = 0.
        let mut id = pack_point(&Point::IDENTITY);
        assert_eq!(unpack_point(&id), Ok(Point::IDENTITY));
        id[31] |= 0x80;
        assert_eq!(unpack_point(&id), Err(CryptoError::BadEncoding));

        // Both signs round-trip, and flipping the bit gives the negated point.
        for k in 1..20u64 {
            let p = babyjub::BASE8.mul(&Scalar::from(k));
            let enc = pack_point(&p);
            assert_eq!(unpack_point(&enc), Ok(p));
            let mut flipped = enc;
            flipped[31] ^= 0x80;
            assert_eq!(unpack_point(&flipped), Ok(p.neg()));
        }

        // A y with no point.
        let no_point = (2u64..)
            .find(|&y| unpack_point(&limbs_to_le_bytes(&[y, 0, 0, 0])).is_err())
            .unwrap();
        assert_eq!(
            unpack_point(&limbs_to_le_bytes(&[no_point, 0, 0, 0])),
            Err(CryptoError::NotOnCurve)
        );
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let prv = PrivateKey::from_bytes([0xAB; 32]);
        assert_eq!(format!("{prv:?}"), "PrivateKey(<redacted>)");
        let sk = format!("{:?}", prv.signing_key());
        assert!(!sk.to_lowercase().contains("abab") && sk.starts_with("SigningKey"));
    }
}
