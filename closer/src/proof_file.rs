//! The close proof file: what `zkhub close` writes and `zkhub verify` and the settlement
//! layer read. Layout (version 1, all integers little-endian; see also
//! `docs/PROOF_FORMAT.md`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `ZKHUBCLS` |
//! | 8 | 2 | format version, `1` |
//! | 10 | 2 | reserved, `0` |
//! | 12 | 4 | slot count `N` (a power of two ≥ 2): selects the circuit and its keys |
//! | 16 | 160 | public inputs, 5 × 32-byte little-endian canonical field elements: `hub_id, epoch, n, deposits_root, balances_root` |
//! | 176 | 4 | proof length `L` |
//! | 180 | `L` | Spartan2 0.9 `SpartanZkSNARK<Bn254Engine>`, `bincode` 1.3 default encoding |
//!
//! Nothing may follow the proof. `hub_id`, `epoch` and `n` must be below `2^64`; `n ≤ N`.

use channel::field::Fe;
use channel::statement::PublicInputs;
use ff::PrimeField;

use crate::error::CloseError;
use crate::field::{F, f_to_fe};
use crate::witness::public_scalars;

/// File magic.
pub const MAGIC: [u8; 8] = *b"ZKHUBCLS";
/// Current format version.
pub const VERSION: u16 = 1;
/// Bytes before the proof.
pub const HEADER_LEN: usize = 180;
/// Largest proof accepted when reading (a sanity bound; real proofs are far smaller).
pub const MAX_PROOF_LEN: usize = 64 << 20;
/// Largest slot count accepted when reading.
pub const MAX_SLOTS: u32 = 1 << 24;

/// A close proof: the circuit size, its public inputs and the Spartan2 proof bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseProof {
    /// Slot count `N` of the circuit.
    pub slots: u32,
    /// Public inputs.
    pub public: PublicInputs,
    /// `bincode` of the Spartan2 proof.
    pub snark: Vec<u8>,
}

impl CloseProof {
    /// Encode as a proof file.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert!(self.slots.is_power_of_two() && self.slots >= 2);
        let mut out = Vec::with_capacity(HEADER_LEN + self.snark.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.slots.to_le_bytes());
        for x in public_scalars(&self.public) {
            out.extend_from_slice(x.to_repr().as_ref());
        }
        let len = u32::try_from(self.snark.len()).expect("proof below 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        debug_assert_eq!(out.len(), HEADER_LEN);
        out.extend_from_slice(&self.snark);
        out
    }

    /// Decode a proof file (structure only; see [`crate::verify`] for the proof).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CloseError> {
        if bytes.len() < HEADER_LEN {
            return Err(CloseError::Malformed("shorter than the header"));
        }
        if bytes[..8] != MAGIC {
            return Err(CloseError::Malformed("bad magic"));
        }
        if u16::from_le_bytes([bytes[8], bytes[9]]) != VERSION {
            return Err(CloseError::Malformed("unsupported version"));
        }
        if bytes[10..12] != [0, 0] {
            return Err(CloseError::Malformed("reserved bytes are not zero"));
        }
        let slots = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        if !slots.is_power_of_two() || !(2..=MAX_SLOTS).contains(&slots) {
            return Err(CloseError::Malformed(
                "slot count is not a supported power of two",
            ));
        }
        let mut fields = [Fe::from(0u64); 5];
        for (i, field) in fields.iter_mut().enumerate() {
            let mut repr = <F as PrimeField>::Repr::default();
            repr.as_mut()
                .copy_from_slice(&bytes[16 + 32 * i..48 + 32 * i]);
            let x: F = Option::from(F::from_repr(repr))
                .ok_or(CloseError::Malformed("non-canonical field element"))?;
            *field = f_to_fe(&x);
        }
        let small = |x: &Fe| -> Result<u64, CloseError> {
            let b = channel::field::fe_to_biguint(x);
            u64::try_from(&b)
                .map_err(|_| CloseError::Malformed("hub_id, epoch or n does not fit 64 bits"))
        };
        let public = PublicInputs {
            hub_id: small(&fields[0])?,
            epoch: small(&fields[1])?,
            n: small(&fields[2])?,
            deposits_root: fields[3],
            balances_root: fields[4],
        };
        if public.n > u64::from(slots) {
            return Err(CloseError::Malformed("n exceeds the slot count"));
        }
        let len = u32::from_le_bytes(bytes[176..180].try_into().expect("4 bytes")) as usize;
        if len > MAX_PROOF_LEN || bytes.len() != HEADER_LEN + len {
            return Err(CloseError::Malformed(
                "proof length does not match the file",
            ));
        }
        Ok(CloseProof {
            slots,
            public,
            snark: bytes[HEADER_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CloseProof {
        CloseProof {
            slots: 4,
            public: PublicInputs {
                hub_id: 7,
                epoch: 3,
                n: 3,
                deposits_root: Fe::from(11u64),
                balances_root: -Fe::from(13u64),
            },
            snark: vec![1, 2, 3, 4, 5],
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let p = sample();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), HEADER_LEN + 5);
        assert_eq!(&bytes[..8], b"ZKHUBCLS");
        assert_eq!(&bytes[12..16], &4u32.to_le_bytes());
        assert_eq!(bytes[16], 7); // hub_id, little-endian
        assert_eq!(CloseProof::from_bytes(&bytes).unwrap(), p);
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = sample().to_bytes();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        cases.push(good[..100].to_vec());
        let mut b = good.clone();
        b[0] ^= 1;
        cases.push(b);
        let mut b = good.clone();
        b[8] = 2;
        cases.push(b);
        let mut b = good.clone();
        b[12] = 3; // 3 slots
        cases.push(b);
        let mut b = good.clone();
        b[16 + 31] = 0xff; // hub_id not canonical
        cases.push(b);
        let mut b = good.clone();
        b[16 + 8] = 1; // hub_id ≥ 2^64
        cases.push(b);
        let mut b = good.clone();
        b.push(0); // trailing byte
        cases.push(b);
        let mut b = good.clone();
        b[16 + 64] = 9; // n = 9 > 4 slots
        cases.push(b);
        for (i, c) in cases.iter().enumerate() {
            assert!(
                matches!(CloseProof::from_bytes(c), Err(CloseError::Malformed(_))),
                "case {i}"
            );
        }
    }
}
