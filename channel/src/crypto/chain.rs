//! The payment chain: `chain_k = BLAKE3(chain_{k-1} ‖ seq ‖ to ‖ amount)` over 32+8+4+8
//! big-endian bytes, first output byte zeroed, read big-endian as a field element;
//! `chain_0 = 0`.
//!
//! Zeroing the first byte leaves a 248-bit integer, always below the BN254 modulus, so the
//! value is a canonical field element without any reduction (and an attacker cannot pick
//! two byte strings that reduce to the same element).

use ark_ff::AdditiveGroup;

use crate::field::{Fe, fe_from_be_bytes, fe_to_be_bytes};

/// Length of the hashed preimage: `prev` (32) ‖ `seq` (8) ‖ `to` (4) ‖ `amount` (8).
pub const CHAIN_PREIMAGE_LEN: usize = 32 + 8 + 4 + 8;

/// The chain value before any voucher.
pub const CHAIN_0: Fe = Fe::ZERO;

/// The preimage hashed by [`chain_next`].
pub fn chain_preimage(prev: &Fe, seq: u64, to: u32, amount: u64) -> [u8; CHAIN_PREIMAGE_LEN] {
    let mut buf = [0u8; CHAIN_PREIMAGE_LEN];
    buf[..32].copy_from_slice(&fe_to_be_bytes(prev));
    buf[32..40].copy_from_slice(&seq.to_be_bytes());
    buf[40..44].copy_from_slice(&to.to_be_bytes());
    buf[44..].copy_from_slice(&amount.to_be_bytes());
    buf
}

/// The chain value after a voucher `(seq, to, amount)` following `prev`.
pub fn chain_next(prev: &Fe, seq: u64, to: u32, amount: u64) -> Fe {
    let mut out: [u8; 32] = *blake3::hash(&chain_preimage(prev, seq, to, amount)).as_bytes();
    out[0] = 0;
    // Below 2^248 < p, so the canonical parse never refuses it (and, unlike the generic
    // `from_be_bytes_mod_order`, costs less than the hash on the hub's hot path).
    let value = fe_from_be_bytes(&out);
    debug_assert!(value.is_ok(), "2^248 < p");
    value.unwrap_or(CHAIN_0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_big_endian() {
        let prev = Fe::from(0x0102_0304u64);
        let pre = chain_preimage(
            &prev,
            0x1112_1314_1516_1718,
            0x2122_2324,
            0x3132_3334_3536_3738,
        );
        assert_eq!(&pre[28..32], &[1, 2, 3, 4]);
        assert!(pre[..28].iter().all(|&b| b == 0));
        assert_eq!(
            &pre[32..40],
            &[0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18]
        );
        assert_eq!(&pre[40..44], &[0x21, 0x22, 0x23, 0x24]);
        assert_eq!(
            &pre[44..52],
            &[0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38]
        );
    }

    #[test]
    fn value_is_blake3_with_first_byte_zeroed() {
        let pre = chain_preimage(&CHAIN_0, 1, 7, 250);
        let mut expect = *blake3::hash(&pre).as_bytes();
        expect[0] = 0;
        let got = chain_next(&CHAIN_0, 1, 7, 250);
        assert_eq!(got, fe_from_be_bytes(&expect).unwrap());
        assert_eq!(fe_to_be_bytes(&got), expect);
    }

    #[test]
    fn every_field_matters_and_chain_links() {
        let a = chain_next(&CHAIN_0, 1, 7, 250);
        assert_ne!(a, chain_next(&CHAIN_0, 2, 7, 250));
        assert_ne!(a, chain_next(&CHAIN_0, 1, 8, 250));
        assert_ne!(a, chain_next(&CHAIN_0, 1, 7, 251));
        assert_ne!(a, chain_next(&Fe::from(1u64), 1, 7, 250));
        let b = chain_next(&a, 2, 7, 1);
        assert_ne!(b, chain_next(&CHAIN_0, 2, 7, 1));
    }
}
