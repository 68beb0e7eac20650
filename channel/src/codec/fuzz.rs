//! Fuzzing entry points: each decodes arbitrary bytes with every decoder of one kind
//! and, when decoding succeeds, checks that encoding and decoding again gives the same
//! message. A panic here is a bug. Used by `cargo fuzz` targets and by the property
//! tests in `channel/tests/codec_fuzz.rs`.

use super::binary::{
    SigForm, decode_pay_frame, decode_server_binary, encode_ack_frame, encode_pay_frame_with,
    encode_reject_frame,
};
use super::json::{ClientMessage, ServerMessage, TextLimits};
use super::{ErrorCode, MAX_VOUCHERS_PER_FRAME, ServerFrame};

/// Decode `data` as a text message in both directions; round-trip what decodes.
pub fn fuzz_decode_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = ClientMessage::decode(text, &TextLimits::DEFAULT) {
        let again = ClientMessage::decode(&msg.to_text(), &TextLimits::DEFAULT);
        assert_eq!(again.as_ref(), Ok(&msg), "client message round trip");
    }
    if let Ok(msg) = ServerMessage::decode(text) {
        let again = ServerMessage::decode(&msg.to_text());
        assert_eq!(again.as_ref(), Ok(&msg), "server message round trip");
    }
}

/// Decode `data` as a binary frame in both directions; round-trip what decodes.
pub fn fuzz_decode_binary(data: &[u8]) {
    let mut vouchers = Vec::new();
    if decode_pay_frame(data, MAX_VOUCHERS_PER_FRAME, &mut vouchers).is_ok() {
        assert!(!vouchers.is_empty() && vouchers.len() <= MAX_VOUCHERS_PER_FRAME);
        // One encoding per signature form; a frame that mixes the two forms lies
        // strictly between them in length.
        let mut packed = Vec::with_capacity(data.len());
        let mut point = Vec::with_capacity(data.len());
        assert!(
            encode_pay_frame_with(&vouchers, SigForm::Packed, &mut packed).is_ok()
                && encode_pay_frame_with(&vouchers, SigForm::Point, &mut point).is_ok(),
            "decoded vouchers re-encode"
        );
        assert!(
            packed == data
                || point == data
                || (packed.len() < data.len() && data.len() < point.len()),
            "a pay frame has exactly one encoding per signature form"
        );
    } else {
        assert!(vouchers.is_empty(), "a refused frame leaves no vouchers");
    }
    if let Ok(frame) = decode_server_binary(data) {
        let mut out = Vec::new();
        match frame {
            ServerFrame::Ack { seq } => encode_ack_frame(seq, &mut out),
            ServerFrame::Reject { seq, code, message } => match ErrorCode::from_i32(code) {
                Some(code) if message.len() <= super::binary::MAX_REJECT_MESSAGE_LEN => {
                    encode_reject_frame(seq, code, message, &mut out)
                }
                // Unknown codes and long messages are legal to decode but not produced
                // by this encoder: nothing to compare.
                _ => return,
            },
        }
        assert_eq!(out, data, "a server frame has exactly one encoding");
    }
}
