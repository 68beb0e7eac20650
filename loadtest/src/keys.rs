//! Deterministic keys for load runs: the same seed gives the same channels' keys.

use channel::crypto::PrivateKey;

/// The private key of load client `index` under `seed` (BLAKE3 of a tagged seed).
pub fn key(seed: u64, role: &str, index: u64) -> PrivateKey {
    let mut h = blake3::Hasher::new();
    h.update(b"zkhub/loadtest/key/v1");
    h.update(role.as_bytes());
    h.update(&seed.to_be_bytes());
    h.update(&index.to_be_bytes());
    PrivateKey::from_bytes(*h.finalize().as_bytes())
}
