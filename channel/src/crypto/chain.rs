//! The payment chain: `chain_k = BLAKE3(chain_{k-1} ‖ seq ‖ to ‖ amount)` over 32+8+4+8
//! big-endian bytes, first output byte zeroed, read big-endian as a field element.
//! TODO(crypto helper): implement.

use crate::field::Fe;

/// The chain value after a voucher `(seq, to, amount)` following `prev`.
pub fn chain_next(prev: &Fe, seq: u64, to: u32, amount: u64) -> Fe {
    let _ = (prev, seq, to, amount);
    todo!("crypto helper")
}
