//! Compact binary frames (docs/PROTOCOL.md §6): the client → hub `pay` frame carrying
//! many vouchers of the session's channel, and the hub → client `ack` and `reject`
//! frames. All integers are big-endian; the layout is fixed per flag combination.
//!
//! ```text
//! pay    (client → hub)  0x01 | count u16 | first_seq u64 | count × voucher
//! voucher                flags u8 | to u32 | amount u64 | [spent u64] | [chain 32]
//!                        | [sig 64 (packed) | sig 96 (R8.x, R8.y, S)]
//! ack    (hub → client)  0x81 | seq u64
//! reject (hub → client)  0x82 | seq u64 | code i32 | len u16 | message (len bytes, UTF-8)
//! ```
//!
//! Voucher `i` (from 0) of a pay frame has `seq = first_seq + i`: a frame carries a
//! consecutive run, which is all an honest client ever sends. The channel is the
//! session's. Decoders take caller-owned buffers and allocate nothing else, also on
//! error; the voucher count is checked against the frame length before reserving.

use super::error::{CodecError, FrameFault};
use super::{ErrorCode, MAX_FRAME_BYTES, MAX_VOUCHERS_PER_FRAME};
use crate::bytes::Reader;
use crate::crypto::Signature;
use crate::field::fe_to_be_bytes;
use crate::types::{Seq, VoucherIn};

/// Frame kind: client → hub `pay`.
pub const KIND_PAY: u8 = 0x01;
/// Frame kind: hub → client `ack`.
pub const KIND_ACK: u8 = 0x81;
/// Frame kind: hub → client `reject`.
pub const KIND_REJECT: u8 = 0x82;

/// Voucher flag: `spent` (u64) is present.
pub const FLAG_SPENT: u8 = 0x01;
/// Voucher flag: `chain` (32 bytes, big-endian field element) is present.
pub const FLAG_CHAIN: u8 = 0x02;
/// Voucher flag: `sig` (64 bytes, circomlibjs `packSignature`) is present.
pub const FLAG_SIG: u8 = 0x04;
/// Voucher flag: `sig` is present as 96 bytes `R8.x | R8.y | S` (little-endian, see
/// [`crate::crypto::PointSignature`]): the hub then skips unpacking `R8` (a square
/// root). Not together with [`FLAG_SIG`].
pub const FLAG_SIG_POINT: u8 = 0x08;
const FLAGS_KNOWN: u8 = FLAG_SPENT | FLAG_CHAIN | FLAG_SIG | FLAG_SIG_POINT;

/// How a pay frame carries signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigForm {
    /// 64 bytes, circomlibjs `packSignature` ([`FLAG_SIG`]).
    #[default]
    Packed,
    /// 96 bytes, `R8` as coordinates ([`FLAG_SIG_POINT`]): cheaper for the hub.
    Point,
}

impl SigForm {
    fn len(self) -> usize {
        match self {
            SigForm::Packed => 64,
            SigForm::Point => 96,
        }
    }
}

/// Bytes of a pay frame header: kind, count, first_seq.
pub const PAY_HEADER_LEN: usize = 1 + 2 + 8;
/// Bytes of a voucher with no optional field: flags, to, amount.
pub const VOUCHER_MIN_LEN: usize = 1 + 4 + 8;
/// Bytes of a voucher with every optional field.
pub const VOUCHER_MAX_LEN: usize = VOUCHER_MIN_LEN + 8 + 32 + 96;
/// Bytes of an ack frame.
pub const ACK_FRAME_LEN: usize = 1 + 8;
/// Bytes of a reject frame before its message.
pub const REJECT_HEADER_LEN: usize = 1 + 8 + 4 + 2;
/// Longest message in a reject frame (the encoder cuts longer ones).
pub const MAX_REJECT_MESSAGE_LEN: usize = 1024;

// The count fits its u16 field, and the largest legal pay frame fits the frame limit,
// so a frame that passes the count check can never be refused for its size.
const _: () = assert!(MAX_VOUCHERS_PER_FRAME <= u16::MAX as usize);
const _: () = assert!(PAY_HEADER_LEN + MAX_VOUCHERS_PER_FRAME * VOUCHER_MAX_LEN <= MAX_FRAME_BYTES);

/// Why a pay frame could not be built (a caller bug, not an input error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameEncodeError {
    /// No voucher to send.
    #[error("a pay frame carries at least one voucher")]
    Empty,
    /// More than [`MAX_VOUCHERS_PER_FRAME`] vouchers.
    #[error("a pay frame carries at most {MAX_VOUCHERS_PER_FRAME} vouchers")]
    TooMany,
    /// The first seq is 0 (seqs start at 1).
    #[error("seq 0 is not a voucher")]
    SeqZero,
    /// The seqs are not consecutive from the first.
    #[error("vouchers of one pay frame must have consecutive seqs")]
    NotConsecutive,
}

/// Bytes the pay frame of `vouchers` takes (signatures packed).
pub fn pay_frame_len(vouchers: &[VoucherIn]) -> usize {
    pay_frame_len_with(vouchers, SigForm::Packed)
}

/// Bytes the pay frame of `vouchers` takes with signatures in `form`.
pub fn pay_frame_len_with(vouchers: &[VoucherIn], form: SigForm) -> usize {
    PAY_HEADER_LEN + vouchers.iter().map(|v| voucher_len(v, form)).sum::<usize>()
}

fn voucher_len(v: &VoucherIn, form: SigForm) -> usize {
    VOUCHER_MIN_LEN
        + if v.spent.is_some() { 8 } else { 0 }
        + if v.chain.is_some() { 32 } else { 0 }
        + if v.sig.is_some() { form.len() } else { 0 }
}

/// Append the pay frame of `vouchers` (consecutive seqs, 1 to 4,096 of them) to `out`.
/// `spent`, `chain` and `sig` (packed) are written when present.
pub fn encode_pay_frame(vouchers: &[VoucherIn], out: &mut Vec<u8>) -> Result<(), FrameEncodeError> {
    encode_pay_frame_with(vouchers, SigForm::Packed, out)
}

/// [`encode_pay_frame`] with signatures in `form`.
pub fn encode_pay_frame_with(
    vouchers: &[VoucherIn],
    form: SigForm,
    out: &mut Vec<u8>,
) -> Result<(), FrameEncodeError> {
    let first = vouchers.first().ok_or(FrameEncodeError::Empty)?;
    if vouchers.len() > MAX_VOUCHERS_PER_FRAME {
        return Err(FrameEncodeError::TooMany);
    }
    if first.seq == 0 {
        return Err(FrameEncodeError::SeqZero);
    }
    let consecutive = vouchers
        .iter()
        .enumerate()
        .all(|(i, v)| first.seq.checked_add(i as u64) == Some(v.seq));
    if !consecutive {
        return Err(FrameEncodeError::NotConsecutive);
    }
    let start = out.len();
    out.reserve(pay_frame_len_with(vouchers, form));
    out.push(KIND_PAY);
    out.extend_from_slice(&(vouchers.len() as u16).to_be_bytes());
    out.extend_from_slice(&first.seq.to_be_bytes());
    for v in vouchers {
        let sig_flag = match form {
            SigForm::Packed => FLAG_SIG,
            SigForm::Point => FLAG_SIG_POINT,
        };
        let flags = (if v.spent.is_some() { FLAG_SPENT } else { 0 })
            | (if v.chain.is_some() { FLAG_CHAIN } else { 0 })
            | (if v.sig.is_some() { sig_flag } else { 0 });
        out.push(flags);
        out.extend_from_slice(&v.to.to_be_bytes());
        out.extend_from_slice(&v.amount.to_be_bytes());
        if let Some(spent) = v.spent {
            out.extend_from_slice(&spent.to_be_bytes());
        }
        if let Some(chain) = &v.chain {
            out.extend_from_slice(&fe_to_be_bytes(chain));
        }
        if let Some(sig) = &v.sig {
            match form {
                SigForm::Packed => out.extend_from_slice(&sig.pack()),
                SigForm::Point => out.extend_from_slice(&sig.to_point_bytes()),
            }
        }
    }
    debug_assert_eq!(out.len() - start, pay_frame_len_with(vouchers, form));
    Ok(())
}

/// Decode a pay frame into `out` (cleared first; left empty on error). At most
/// `max_vouchers` (itself capped at [`MAX_VOUCHERS_PER_FRAME`]) are accepted; the
/// count is checked against the frame's length before `out` grows. Allocates nothing
/// but `out`'s growth. Signatures are unpacked (point decompression, the one costly
/// step) only for vouchers that carry one.
pub fn decode_pay_frame(
    bytes: &[u8],
    max_vouchers: usize,
    out: &mut Vec<VoucherIn>,
) -> Result<(), CodecError> {
    out.clear();
    let result = decode_pay_frame_into(bytes, max_vouchers.min(MAX_VOUCHERS_PER_FRAME), out);
    if result.is_err() {
        out.clear();
    }
    result
}

fn decode_pay_frame_into(
    bytes: &[u8],
    max_vouchers: usize,
    out: &mut Vec<VoucherIn>,
) -> Result<(), CodecError> {
    let mut r = Reader::new(bytes);
    match r.u8() {
        Err(_) => return Err(CodecError::bad_frame(0, FrameFault::Empty)),
        Ok(KIND_PAY) => {}
        Ok(_) => return Err(CodecError::bad_frame(0, FrameFault::UnknownKind)),
    }
    let count = r.u16_be()? as usize;
    let first_seq = r.u64_be()?;
    if count == 0 {
        return Err(CodecError::bad_frame(1, FrameFault::NoVouchers));
    }
    if count > max_vouchers {
        return Err(CodecError::bad_frame(1, FrameFault::TooManyVouchers));
    }
    if first_seq == 0 || first_seq.checked_add(count as u64 - 1).is_none() {
        return Err(CodecError::bad_frame(3, FrameFault::SeqOutOfRange));
    }
    if r.remaining() < count * VOUCHER_MIN_LEN {
        return Err(CodecError::bad_frame(bytes.len(), FrameFault::Truncated));
    }
    out.reserve(count);
    for seq in first_seq..=first_seq + (count as u64 - 1) {
        out.push(read_voucher(&mut r, seq)?);
    }
    Ok(r.finish()?)
}

#[inline(always)]
fn read_voucher(r: &mut Reader<'_>, seq: Seq) -> Result<VoucherIn, CodecError> {
    let flags_at = r.pos();
    let flags = r.u8()?;
    if flags & !FLAGS_KNOWN != 0 || flags & (FLAG_SIG | FLAG_SIG_POINT) == FLAG_SIG | FLAG_SIG_POINT
    {
        return Err(CodecError::bad_frame(flags_at, FrameFault::UnknownFlags));
    }
    let to = r.u32_be()?;
    let amount = r.u64_be()?;
    let spent = if flags & FLAG_SPENT != 0 {
        Some(r.u64_be()?)
    } else {
        None
    };
    let chain = if flags & FLAG_CHAIN != 0 {
        Some(r.fe()?)
    } else {
        None
    };
    let sig = if flags & FLAG_SIG != 0 {
        let at = r.pos();
        let packed = r.array::<64>()?;
        Some(
            Signature::unpack(packed)
                .map_err(|_| CodecError::bad_frame(at, FrameFault::BadSignatureEncoding))?,
        )
    } else if flags & FLAG_SIG_POINT != 0 {
        let at = r.pos();
        let bytes = r.array::<96>()?;
        Some(
            Signature::from_point_bytes(bytes)
                .map_err(|_| CodecError::bad_frame(at, FrameFault::BadSignatureEncoding))?,
        )
    } else {
        None
    };
    Ok(VoucherIn {
        seq,
        to,
        amount,
        spent,
        chain,
        sig,
    })
}

/// Append an ack frame (cumulative: every voucher `≤ seq` is durable) to `out`.
pub fn encode_ack_frame(seq: Seq, out: &mut Vec<u8>) {
    out.reserve(ACK_FRAME_LEN);
    out.push(KIND_ACK);
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Append a reject frame to `out`; `message` is cut to [`MAX_REJECT_MESSAGE_LEN`]
/// bytes at a character boundary. `seq = 0` refuses a whole frame that could not be
/// decoded (e.g. `BadFrame`).
pub fn encode_reject_frame(seq: Seq, code: ErrorCode, message: &str, out: &mut Vec<u8>) {
    let mut end = message.len().min(MAX_REJECT_MESSAGE_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let message = &message.as_bytes()[..end];
    out.reserve(REJECT_HEADER_LEN + message.len());
    out.push(KIND_REJECT);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&code.as_i32().to_be_bytes());
    out.extend_from_slice(&(message.len() as u16).to_be_bytes());
    out.extend_from_slice(message);
}

/// A decoded hub → client binary frame, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// Every voucher `≤ seq` is durable.
    Ack {
        /// Highest durable seq.
        seq: Seq,
    },
    /// The voucher at `seq` was refused (`seq = 0`: a whole frame was refused).
    Reject {
        /// The refused seq.
        seq: Seq,
        /// Stable code (see [`ErrorCode::from_i32`]).
        code: i32,
        /// Human-readable reason.
        message: &'a str,
    },
}

/// Decode a hub → client binary frame. Never panics; allocates nothing.
pub fn decode_server_binary(bytes: &[u8]) -> Result<ServerFrame<'_>, CodecError> {
    let mut r = Reader::new(bytes);
    let frame = match r.u8() {
        Err(_) => return Err(CodecError::bad_frame(0, FrameFault::Empty)),
        Ok(KIND_ACK) => ServerFrame::Ack { seq: r.u64_be()? },
        Ok(KIND_REJECT) => {
            let seq = r.u64_be()?;
            let code = r.i32_be()?;
            let len = r.u16_be()? as usize;
            let at = r.pos();
            let text = r
                .take(len)
                .map_err(|_| CodecError::bad_frame(bytes.len(), FrameFault::Truncated))?;
            let message = std::str::from_utf8(text)
                .map_err(|_| CodecError::bad_frame(at, FrameFault::NotUtf8))?;
            ServerFrame::Reject { seq, code, message }
        }
        Ok(_) => return Err(CodecError::bad_frame(0, FrameFault::UnknownKind)),
    };
    r.finish()?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Fe;

    fn pending(seq: Seq) -> VoucherIn {
        VoucherIn {
            seq,
            to: 7,
            amount: seq * 3,
            spent: None,
            chain: None,
            sig: None,
        }
    }

    #[test]
    fn pay_frame_layout_is_pinned() {
        let mut v = vec![pending(5), pending(6)];
        v[1].spent = Some(0x0102);
        v[1].chain = Some(Fe::from(0xabu64));
        let mut out = Vec::new();
        encode_pay_frame(&v, &mut out).unwrap();
        let mut expect = vec![0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 5];
        expect.extend_from_slice(&[0x00, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 15]);
        expect.extend_from_slice(&[
            0x03, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 18, 0, 0, 0, 0, 0, 0, 1, 2,
        ]);
        expect.extend_from_slice(&[0; 31]);
        expect.push(0xab);
        assert_eq!(out, expect);
        let mut back = Vec::new();
        decode_pay_frame(&out, 4096, &mut back).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn encoder_refuses_what_the_layout_cannot_carry() {
        let mut out = Vec::new();
        assert_eq!(
            encode_pay_frame(&[], &mut out),
            Err(FrameEncodeError::Empty)
        );
        assert_eq!(
            encode_pay_frame(&[pending(0)], &mut out),
            Err(FrameEncodeError::SeqZero)
        );
        assert_eq!(
            encode_pay_frame(&[pending(1), pending(3)], &mut out),
            Err(FrameEncodeError::NotConsecutive)
        );
        let many: Vec<_> = (1..=MAX_VOUCHERS_PER_FRAME as u64 + 1)
            .map(pending)
            .collect();
        assert_eq!(
            encode_pay_frame(&many, &mut out),
            Err(FrameEncodeError::TooMany)
        );
        assert!(out.is_empty(), "a refused frame writes nothing");
    }

    #[test]
    fn ack_and_reject_frames() {
        let mut out = Vec::new();
        encode_ack_frame(0x0102030405060708, &mut out);
        assert_eq!(out, [0x81, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            decode_server_binary(&out),
            Ok(ServerFrame::Ack {
                seq: 0x0102030405060708
            })
        );
        out.clear();
        encode_reject_frame(9, ErrorCode::BadSeq, "expected seq 8", &mut out);
        assert_eq!(
            &out[..15],
            &[0x82, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0x03, 0xe9, 0, 14]
        );
        assert_eq!(
            decode_server_binary(&out),
            Ok(ServerFrame::Reject {
                seq: 9,
                code: 1001,
                message: "expected seq 8"
            })
        );
        out.clear();
        let long = "é".repeat(MAX_REJECT_MESSAGE_LEN);
        encode_reject_frame(1, ErrorCode::BadFrame, &long, &mut out);
        match decode_server_binary(&out) {
            Ok(ServerFrame::Reject { message, .. }) => {
                assert!(message.len() <= MAX_REJECT_MESSAGE_LEN);
                assert!(message.chars().all(|c| c == 'é'));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        let bad = |bytes: &[u8]| {
            let mut out = vec![pending(1)];
            let e = decode_pay_frame(bytes, 4096, &mut out).unwrap_err();
            assert!(out.is_empty());
            match e {
                CodecError::BadFrame { fault, .. } => fault,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(bad(&[]), FrameFault::Empty);
        assert_eq!(bad(&[0x02]), FrameFault::UnknownKind);
        assert_eq!(bad(&[0x01, 0]), FrameFault::Truncated);
        assert_eq!(
            bad(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            FrameFault::NoVouchers
        );
        assert_eq!(
            bad(&[0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            FrameFault::SeqOutOfRange
        );
        assert_eq!(
            bad(&[0x01, 0, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            FrameFault::SeqOutOfRange
        );
        // A count of 4,096 in an 11-byte frame is refused before anything is reserved.
        assert_eq!(
            bad(&[0x01, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 1]),
            FrameFault::Truncated
        );
        assert_eq!(
            bad(&[0x01, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 1]),
            FrameFault::TooManyVouchers
        );
        let mut frame = Vec::new();
        encode_pay_frame(&[pending(1)], &mut frame).unwrap();
        frame.push(0);
        assert_eq!(bad(&frame), FrameFault::TrailingBytes);
        frame.pop();
        frame[PAY_HEADER_LEN] = 0x10;
        assert_eq!(bad(&frame), FrameFault::UnknownFlags);
        frame[PAY_HEADER_LEN] = FLAG_CHAIN;
        frame.extend_from_slice(&[0xff; 32]);
        assert_eq!(bad(&frame), FrameFault::NonCanonicalField);
        assert!(matches!(
            decode_server_binary(&[0x82, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0xff]),
            Err(CodecError::BadFrame {
                fault: FrameFault::NotUtf8,
                ..
            })
        ));
        assert!(matches!(
            decode_server_binary(&[0x81, 0, 0]),
            Err(CodecError::BadFrame {
                fault: FrameFault::Truncated,
                ..
            })
        ));
    }
}
