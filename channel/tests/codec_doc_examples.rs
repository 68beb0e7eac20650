//! The examples in docs/PROTOCOL.md, pinned: if any of these change, the document is
//! wrong, or the wire format changed (which must never happen silently).

use channel::codec::{
    ClientMessage, ErrorCode, Hello, Id, Pay, PayVoucher, Request, decode_pay_frame,
    encode_ack_frame, encode_pay_frame, encode_reject_frame,
};
use channel::crypto::{PrivateKey, chain_next};
use channel::field::Fe;
use channel::field::fe_to_dec;
use channel::types::{
    TAG_HELLO, TAG_RECEIPT, TAG_VOUCHER, VoucherIn, hello_message, voucher_message,
};

const HUB_ID: u64 = 1;
const PAYER: u32 = 3;
const PAYEE: u32 = 9;

fn key() -> PrivateKey {
    PrivateKey([1; 32])
}

/// PROTOCOL.md §8: hub 1, channel 3 pays channel 9 three times (100, 250, 50) from seq
/// 1; the third voucher is a checkpoint signed with the private key of 32 bytes 0x01.
fn example_vouchers() -> (Vec<VoucherIn>, Fe, u64) {
    let mut chain = Fe::from(0u64);
    let mut spent = 0;
    let mut out = Vec::new();
    for (seq, amount) in [(1u64, 100u64), (2, 250), (3, 50)] {
        spent += amount;
        chain = chain_next(&chain, seq, PAYEE, amount);
        let sig =
            (seq == 3).then(|| key().sign(&voucher_message(HUB_ID, PAYER, seq, spent, &chain)));
        out.push(VoucherIn {
            seq,
            to: PAYEE,
            amount,
            spent: None,
            chain: None,
            sig,
        });
    }
    (out, chain, spent)
}

const SIG3: &str = "0ab71fddeeebc2fb81428f7c34879c02ef282e0227720d10528071d11ccfbeac558f54cbd23cb6f6ee5862807cd22d150e514d73145ca0455c3e35b8f0d54102";

#[test]
fn domain_tags() {
    assert_eq!(
        fe_to_dec(&TAG_VOUCHER),
        "162723509920303666764474807836388324913"
    );
    assert_eq!(
        fe_to_dec(&TAG_RECEIPT),
        "162723509920303647689244963024772494897"
    );
    assert_eq!(fe_to_dec(&TAG_HELLO), "2482963713383538825473489827231281");
}

#[test]
fn chain_and_voucher_message() {
    let (vouchers, chain, spent) = example_vouchers();
    let mut c = Fe::from(0u64);
    let expect = [
        "101591037180168355730897111315203998665003863414268091214571218046017386068",
        "351146537753113818224807319808266810892916823319041896111638263174702827489",
        "300611952340499924290572326259693750809469946802260150570511666571085818596",
    ];
    for (v, e) in vouchers.iter().zip(expect) {
        c = chain_next(&c, v.seq, v.to, v.amount);
        assert_eq!(fe_to_dec(&c), e);
    }
    assert_eq!((spent, c), (400, chain));
    assert_eq!(
        fe_to_dec(&voucher_message(HUB_ID, PAYER, 3, spent, &chain)),
        "2805274853611774307881557752019147308700850469723988803284261011680174480261"
    );
    assert_eq!(hex::encode(vouchers[2].sig.unwrap().pack()), SIG3);
    assert_eq!(
        hex::encode(key().public().pack()),
        "fe5186d108fc53940c35d1c2f4af4ebb2d2045acd8143b4bc0719bad3f3924a6"
    );
}

#[test]
fn binary_frames() {
    let (vouchers, _, _) = example_vouchers();
    let mut frame = Vec::new();
    encode_pay_frame(&vouchers, &mut frame).unwrap();
    let expect = [
        "01",
        "0003",
        "0000000000000001", // kind, count, first_seq
        "00",
        "00000009",
        "0000000000000064", // seq 1: flags, to, amount 100
        "00",
        "00000009",
        "00000000000000fa", // seq 2: amount 250
        "04",
        "00000009",
        "0000000000000032",
        SIG3, // seq 3: amount 50, signed
    ]
    .concat();
    assert_eq!(hex::encode(&frame), expect);
    let mut back = Vec::new();
    decode_pay_frame(&frame, 4096, &mut back).unwrap();
    assert_eq!(back, vouchers);

    let mut ack = Vec::new();
    encode_ack_frame(3, &mut ack);
    assert_eq!(hex::encode(&ack), "810000000000000003");
    let mut reject = Vec::new();
    encode_reject_frame(
        4,
        ErrorCode::InsufficientBalance,
        "insufficient balance",
        &mut reject,
    );
    assert_eq!(
        hex::encode(&reject),
        "820000000000000004000003ed0014696e73756666696369656e742062616c616e6365"
    );
}

#[test]
fn json_hello_and_pay() {
    let nonce = Fe::from(123456789u64);
    let msg = hello_message(HUB_ID, &nonce, PAYER);
    assert_eq!(
        fe_to_dec(&msg),
        "280112510096289361381512485008953830107956027245337110239341017092003802131"
    );
    let hello = ClientMessage::Request {
        id: Id::Num(1),
        request: Request::Hello(Hello {
            channel: PAYER,
            sig: key().sign(&msg),
        }),
    };
    assert_eq!(
        hello.to_text(),
        r#"{"jsonrpc":"2.0","id":1,"method":"hello","params":{"channel":3,"sig":"da0071f688e1170077cdd2e0c328bae1cddccac8503a577a2da80cf5edaada20dff5c87c78bed58d1d00ed5384cb5b5df65957e89d0e849f338317f204f41200"}}"#
    );
    let (vouchers, chain, spent) = example_vouchers();
    let pay = ClientMessage::Pay(Pay {
        vouchers: vouchers
            .iter()
            .map(|v| {
                let mut p = PayVoucher::new(PAYER, v);
                if v.sig.is_some() {
                    p.spent = Some(spent);
                    p.chain = Some(chain);
                }
                p
            })
            .collect(),
    });
    let text = format!(
        r#"{{"jsonrpc":"2.0","method":"pay","params":{{"vouchers":[{{"channel":3,"seq":1,"to":9,"amount":100}},{{"channel":3,"seq":2,"to":9,"amount":250}},{{"channel":3,"seq":3,"spent":400,"to":9,"amount":50,"chain":"{}","sig":"{SIG3}"}}]}}}}"#,
        fe_to_dec(&chain)
    );
    assert_eq!(pay.to_text(), text);
}

/// PROTOCOL.md §5 and §7: the re-ack of a resent seq 3 of the §8 example carries the
/// committed head, and decodes back to a [`Reack`](channel::codec::Reack); an `ack`
/// without `spent`/`chain` stays a plain ack.
#[test]
fn reack_example_is_pinned() {
    use channel::codec::{Ack, Reack, ServerMessage};
    let (vouchers, chain, spent) = example_vouchers();
    let reack = ServerMessage::Reack(Reack {
        seq: vouchers[2].seq,
        spent,
        chain,
    });
    let text = reack.to_text();
    assert_eq!(
        text,
        r#"{"jsonrpc":"2.0","method":"ack","params":{"seq":3,"spent":400,"chain":"300611952340499924290572326259693750809469946802260150570511666571085818596"}}"#
    );
    assert_eq!(ServerMessage::decode(&text).unwrap(), reack);
    assert_eq!(
        ServerMessage::decode(r#"{"jsonrpc":"2.0","method":"ack","params":{"seq":3}}"#).unwrap(),
        ServerMessage::Ack(Ack { seq: 3 })
    );
}

/// PROTOCOL.md §8: the exit tag.
#[test]
fn exit_tag_is_pinned() {
    use channel::settlement::TAG_EXIT;
    assert_eq!(fe_to_dec(&TAG_EXIT), "9699077005404447713458855573041");
}
