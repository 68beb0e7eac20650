//! Binary frames: round trips of every shape of voucher, truncation at every byte,
//! the count-before-reserve rule, and signed checkpoints that still verify after the
//! hub derives the omitted `spent` and `chain`.

use channel::codec::binary::{
    FLAG_SIG, PAY_HEADER_LEN, VOUCHER_MIN_LEN, decode_pay_frame, decode_server_binary,
    encode_ack_frame, encode_pay_frame, encode_reject_frame, pay_frame_len,
};
use channel::codec::{CodecError, ErrorCode, FrameFault, MAX_VOUCHERS_PER_FRAME, ServerFrame};
use channel::crypto::{PrivateKey, chain_next};
use channel::field::Fe;
use channel::types::{VoucherIn, voucher_message};
use proptest::prelude::*;

fn fe() -> impl Strategy<Value = Fe> {
    any::<[u8; 32]>().prop_map(|b| {
        use ark_ff::PrimeField;
        Fe::from_be_bytes_mod_order(&b)
    })
}

/// A run of unsigned vouchers with consecutive seqs from `first`, fields optional.
fn run() -> impl Strategy<Value = Vec<VoucherIn>> {
    (
        1..=u64::MAX - 4096,
        proptest::collection::vec(
            (
                any::<u32>(),
                any::<u64>(),
                proptest::option::of(any::<u64>()),
                proptest::option::of(fe()),
            ),
            1..80,
        ),
    )
        .prop_map(|(first, fields)| {
            fields
                .into_iter()
                .zip(first..)
                .map(|((to, amount, spent, chain), seq)| VoucherIn {
                    seq,
                    to,
                    amount,
                    spent,
                    chain,
                    sig: None,
                })
                .collect()
        })
}

fn frame(vouchers: &[VoucherIn]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_pay_frame(vouchers, &mut out).unwrap();
    out
}

proptest! {
    #[test]
    fn pay_frames_round_trip(vouchers in run()) {
        let bytes = frame(&vouchers);
        prop_assert_eq!(bytes.len(), pay_frame_len(&vouchers));
        let mut back = Vec::new();
        decode_pay_frame(&bytes, MAX_VOUCHERS_PER_FRAME, &mut back).unwrap();
        prop_assert_eq!(back, vouchers);
    }

    #[test]
    fn every_truncation_is_a_typed_error(vouchers in run(), cut in any::<prop::sample::Index>()) {
        let bytes = frame(&vouchers);
        let cut = cut.index(bytes.len());
        let mut out = Vec::new();
        let e = decode_pay_frame(&bytes[..cut], MAX_VOUCHERS_PER_FRAME, &mut out).unwrap_err();
        prop_assert!(out.is_empty());
        prop_assert_eq!(e.code(), ErrorCode::BadFrame);
        let truncated = matches!(e, CodecError::BadFrame { fault: FrameFault::Truncated | FrameFault::Empty, .. });
        prop_assert!(truncated, "{:?}", e);
    }

    #[test]
    fn the_count_limit_is_the_callers(vouchers in run(), max in 0usize..100) {
        let bytes = frame(&vouchers);
        let mut out = Vec::new();
        let r = decode_pay_frame(&bytes, max, &mut out);
        if vouchers.len() <= max {
            prop_assert!(r.is_ok());
        } else {
            let too_many = matches!(r, Err(CodecError::BadFrame { fault: FrameFault::TooManyVouchers, .. }));
            prop_assert!(too_many);
        }
    }

    #[test]
    fn server_frames_round_trip(seq in any::<u64>(), code in prop::sample::select(ErrorCode::ALL.to_vec()), message in ".{0,300}") {
        let mut out = Vec::new();
        encode_ack_frame(seq, &mut out);
        prop_assert_eq!(decode_server_binary(&out), Ok(ServerFrame::Ack { seq }));
        out.clear();
        encode_reject_frame(seq, code, &message, &mut out);
        let frame = decode_server_binary(&out).unwrap();
        prop_assert_eq!(frame, ServerFrame::Reject { seq, code: code.as_i32(), message: &message });
        for cut in 0..out.len() {
            prop_assert!(decode_server_binary(&out[..cut]).is_err());
        }
    }
}

#[test]
fn a_full_frame_decodes_and_a_hostile_count_reserves_nothing() {
    let vouchers: Vec<VoucherIn> = (1..=MAX_VOUCHERS_PER_FRAME as u64)
        .map(|seq| VoucherIn {
            seq,
            to: 2,
            amount: 1,
            spent: None,
            chain: None,
            sig: None,
        })
        .collect();
    let bytes = frame(&vouchers);
    assert_eq!(
        bytes.len(),
        PAY_HEADER_LEN + MAX_VOUCHERS_PER_FRAME * VOUCHER_MIN_LEN
    );
    let mut out = Vec::new();
    decode_pay_frame(&bytes, MAX_VOUCHERS_PER_FRAME, &mut out).unwrap();
    assert_eq!(out.len(), MAX_VOUCHERS_PER_FRAME);

    // A header claiming 4,096 vouchers over a 13-byte body: refused before reserving.
    let mut out = Vec::new();
    let e = decode_pay_frame(
        &bytes[..PAY_HEADER_LEN + VOUCHER_MIN_LEN],
        MAX_VOUCHERS_PER_FRAME,
        &mut out,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        CodecError::BadFrame {
            fault: FrameFault::Truncated,
            ..
        }
    ));
    assert_eq!(
        out.capacity(),
        0,
        "nothing reserved for a count the bytes cannot hold"
    );
}

#[test]
fn decoding_reuses_the_callers_buffer() {
    let vouchers: Vec<VoucherIn> = (10..74)
        .map(|seq| VoucherIn {
            seq,
            to: 2,
            amount: seq,
            spent: None,
            chain: None,
            sig: None,
        })
        .collect();
    let bytes = frame(&vouchers);
    let mut out = Vec::with_capacity(64);
    let ptr = out.as_ptr();
    for _ in 0..3 {
        decode_pay_frame(&bytes, 64, &mut out).unwrap();
        assert_eq!(out, vouchers);
        assert_eq!(out.as_ptr(), ptr, "no reallocation");
    }
}

/// A payer signs every 4th voucher over the full (spent, chain); the frame omits both;
/// the hub derives them and the signature verifies.
#[test]
fn signed_checkpoints_survive_omitted_fields() {
    let (hub_id, channel) = (7u64, 3u32);
    let key = PrivateKey([9; 32]);
    let (mut spent, mut chain) = (0u64, Fe::from(0u64));
    let mut vouchers = Vec::new();
    let mut signed_heads = Vec::new();
    for seq in 1..=16u64 {
        let amount = seq * 5;
        spent += amount;
        chain = chain_next(&chain, seq, 11, amount);
        let sig =
            (seq % 4 == 0).then(|| key.sign(&voucher_message(hub_id, channel, seq, spent, &chain)));
        if sig.is_some() {
            signed_heads.push((seq, spent, chain));
        }
        vouchers.push(VoucherIn {
            seq,
            to: 11,
            amount,
            spent: None,
            chain: None,
            sig,
        });
    }
    let bytes = frame(&vouchers);
    assert_eq!(bytes.len(), PAY_HEADER_LEN + 16 * VOUCHER_MIN_LEN + 4 * 64);
    let mut back = Vec::new();
    decode_pay_frame(&bytes, 64, &mut back).unwrap();
    assert_eq!(back, vouchers);
    // Re-derive as the hub does and verify each checkpoint.
    let (mut spent, mut chain) = (0u64, Fe::from(0u64));
    let mut heads = signed_heads.into_iter();
    for v in &back {
        spent += v.amount;
        chain = chain_next(&chain, v.seq, v.to, v.amount);
        if let Some(sig) = &v.sig {
            assert_eq!(heads.next(), Some((v.seq, spent, chain)));
            key.public()
                .verify(&voucher_message(hub_id, channel, v.seq, spent, &chain), sig)
                .unwrap();
        }
    }
    // A corrupted signature scalar (S ≥ l) is refused where it sits.
    let mut bad = bytes.clone();
    let sig_at = PAY_HEADER_LEN + 4 * VOUCHER_MIN_LEN;
    assert_eq!(bad[sig_at - VOUCHER_MIN_LEN], FLAG_SIG);
    bad[sig_at + 32..sig_at + 64].fill(0xff);
    let e = decode_pay_frame(&bad, 64, &mut back).unwrap_err();
    assert_eq!(
        e,
        CodecError::BadFrame {
            offset: sig_at,
            fault: FrameFault::BadSignatureEncoding
        }
    );
    assert!(back.is_empty());
}

/// The point form of a signature (`FLAG_SIG_POINT`, 96 bytes) decodes to the same
/// signature as the packed form, and refuses what unpacking refuses: a coordinate not
/// below `p`, an `R8` off the curve, `S ≥ l`; both signature flags at once are refused.
#[test]
fn point_form_signatures_decode_like_packed_ones() {
    use channel::codec::binary::{FLAG_SIG_POINT, SigForm, encode_pay_frame_with};
    let key = PrivateKey([9; 32]);
    let sig = key.sign(&Fe::from(42u64));
    let vouchers = vec![
        VoucherIn {
            seq: 5,
            to: 11,
            amount: 3,
            spent: None,
            chain: None,
            sig: None,
        },
        VoucherIn {
            seq: 6,
            to: 11,
            amount: 4,
            spent: Some(7),
            chain: None,
            sig: Some(sig),
        },
    ];
    let mut point = Vec::new();
    encode_pay_frame_with(&vouchers, SigForm::Point, &mut point).unwrap();
    assert_eq!(point.len(), frame(&vouchers).len() + 32);
    let mut back = Vec::new();
    decode_pay_frame(&point, 64, &mut back).unwrap();
    assert_eq!(back, vouchers);
    key.public()
        .verify(&Fe::from(42u64), back[1].sig.as_ref().unwrap())
        .unwrap();

    let flags_at = PAY_HEADER_LEN + VOUCHER_MIN_LEN;
    let sig_at = flags_at + VOUCHER_MIN_LEN + 8;
    assert_eq!(point[flags_at], FLAG_SIG_POINT | 0x01);
    let refused = |bytes: &[u8], at: usize, fault: FrameFault| {
        let mut out = Vec::new();
        assert_eq!(
            decode_pay_frame(bytes, 64, &mut out).unwrap_err(),
            CodecError::BadFrame { offset: at, fault }
        );
        assert!(out.is_empty());
    };
    let mut bad = point.clone();
    bad[sig_at..sig_at + 32].fill(0xff); // x ≥ p
    refused(&bad, sig_at, FrameFault::BadSignatureEncoding);
    let mut bad = point.clone();
    bad[sig_at + 32] ^= 1; // y changed: off the curve
    refused(&bad, sig_at, FrameFault::BadSignatureEncoding);
    let mut bad = point.clone();
    bad[sig_at + 64..sig_at + 96].fill(0xff); // S ≥ l
    refused(&bad, sig_at, FrameFault::BadSignatureEncoding);
    let mut bad = point.clone();
    bad[flags_at] |= FLAG_SIG;
    refused(&bad, flags_at, FrameFault::UnknownFlags);
}
