//! Decoders never panic: arbitrary bytes, arbitrary JSON-shaped text, and single-byte
//! mutations of valid messages go through the fuzz entry points, which also check that
//! whatever decodes re-encodes to the same message.

use channel::codec::binary::encode_ack_frame;
use channel::codec::fuzz::{fuzz_decode_binary, fuzz_decode_text};
use channel::codec::{
    ClientMessage, ErrorCode, Pay, PayVoucher, encode_pay_frame, encode_reject_frame,
};
use channel::crypto::PrivateKey;
use channel::field::Fe;
use channel::types::VoucherIn;
use proptest::prelude::*;

fn sample_text() -> Vec<String> {
    let pay = ClientMessage::Pay(Pay {
        vouchers: vec![
            PayVoucher {
                channel: 1,
                seq: 1,
                spent: Some(5),
                to: 2,
                amount: 5,
                chain: Some(Fe::from(99u64)),
                sig: None,
            };
            2
        ],
    });
    vec![
        pay.to_text(),
        r#"{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":7}}"#.into(),
        r#"{"jsonrpc":"2.0","id":"x","method":"opening","params":{"epoch":"4"}}"#.into(),
        r#"{"jsonrpc":"2.0","method":"ack","params":{"seq":64}}"#.into(),
        r#"{"jsonrpc":"2.0","method":"reject","params":{"seq":65,"code":1005,"message":"no"}}"#.into(),
        r#"{"jsonrpc":"2.0","method":"challenge","params":{"hub_id":1,"epoch":2,"nonce":"3"}}"#.into(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"channel":3,"seq":64,"spent":16000,"chain":"77","deposit":1000000,"received":0,"balance":984000,"exiting":false}}"#.into(),
        r#"{"jsonrpc":"2.0","id":5,"result":{"epoch":1,"index":0,"channel":3,"ax":"1","ay":"2","balance":10,"spent":5,"received":0,"blind":"3","path":["4","5"],"balances_root":"6"}}"#.into(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error","data":{"a":[1,2]}}}"#.into(),
    ]
}

fn sample_binary() -> Vec<Vec<u8>> {
    let vouchers: Vec<VoucherIn> = (1..=3)
        .map(|seq| VoucherIn {
            seq,
            to: 2,
            amount: seq,
            spent: (seq == 2).then_some(3),
            chain: (seq == 3).then_some(Fe::from(12u64)),
            // One checkpoint, so that mutations reach signature unpacking.
            sig: (seq == 3).then(|| PrivateKey([5; 32]).sign(&Fe::from(seq))),
        })
        .collect();
    let mut pay = Vec::new();
    encode_pay_frame(&vouchers, &mut pay).unwrap();
    let mut ack = Vec::new();
    encode_ack_frame(77, &mut ack);
    let mut reject = Vec::new();
    encode_reject_frame(78, ErrorCode::BadSeq, "expected 77", &mut reject);
    vec![pay, ack, reject]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz_decode_text(&data);
        fuzz_decode_binary(&data);
    }

    #[test]
    fn arbitrary_json_shaped_text(s in r#"[{}\[\]":,0-9a-z\\ .\-]{0,120}"#) {
        fuzz_decode_text(s.as_bytes());
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{s}}}"#);
        fuzz_decode_text(wrapped.as_bytes());
    }

    #[test]
    fn mutated_valid_text(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let samples = sample_text();
        let mut data = samples[which.index(samples.len())].clone().into_bytes();
        let at = at.index(data.len());
        if cut { data.truncate(at) } else { data[at] = byte }
        fuzz_decode_text(&data);
    }

    #[test]
    fn mutated_valid_binary(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let samples = sample_binary();
        let mut data = samples[which.index(samples.len())].clone();
        let at = at.index(data.len());
        if cut { data.truncate(at) } else { data[at] = byte }
        fuzz_decode_binary(&data);
    }
}

#[test]
fn valid_samples_pass_the_round_trip_checks() {
    for t in sample_text() {
        fuzz_decode_text(t.as_bytes());
    }
    for b in sample_binary() {
        fuzz_decode_binary(&b);
    }
}
