//! Cryptography, interoperable with circomlibjs 0.1.7 and @zk-kit/eddsa-poseidon:
//! Poseidon (circomlib parameters), Baby Jubjub, EdDSA-Poseidon, and the payment chain hash.

pub mod babyjub;
pub mod batch;
pub mod chain;
pub mod eddsa;
mod eddsa_x8;
mod field_x8;
pub mod poseidon;
pub mod poseidon_x8;
pub mod torsion;

pub use batch::{BatchEntry, verify_batch, verify_each};
pub use chain::chain_next;
pub use eddsa::{PackedSignature, PrivateKey, PublicKey, Signature, SigningKey, VerifyingKey};
/// Fewer signatures than this are verified one by one even on the eight-lane path.
pub use eddsa_x8::MIN_LANES as EIGHT_LANE_MIN_GROUP;
pub use poseidon::poseidon;
pub use poseidon_x8::poseidon_many;

/// Why a key, point or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The signature equation does not hold.
    #[error("signature does not verify")]
    BadSignature,
    /// `S` is not below the subgroup order `l` (malleable signature).
    #[error("signature scalar S is not below the subgroup order")]
    ScalarOutOfRange,
    /// A point is not on the Baby Jubjub curve.
    #[error("point is not on the curve")]
    NotOnCurve,
    /// The public key is the identity or of small order.
    #[error("public key is the identity or of small order")]
    WeakPublicKey,
    /// A packed encoding is malformed or not canonical.
    #[error("non-canonical or malformed encoding")]
    BadEncoding,
}

/// Whether this CPU runs the eight-lane paths ([`poseidon_many`], [`verify_each`]: AVX-512
/// IFMA); elsewhere they work one by one.
pub fn eight_lanes_available() -> bool {
    field_x8::available()
}

/// Build every lazily computed table now (Poseidon constants, the `Base8` tables, and
/// their eight-lane forms where the CPU runs them: a few milliseconds), so that the
/// first request does not pay for them.
pub fn warm_up() {
    poseidon::warm_up();
    poseidon_x8::warm_up();
    babyjub::warm_up();
    eddsa_x8::warm_up();
}
