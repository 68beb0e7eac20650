//! JSON-RPC text messages: the exact wire form of each message (as documented in
//! docs/PROTOCOL.md), round trips in both directions, and every decoding error with
//! its code and the id it answers to.

use channel::codec::json::method;
use channel::codec::num::MAX_SAFE_INTEGER;
use channel::codec::{
    Ack, Challenge, ChannelStatus, ClientMessage, CodecError, Credit, ErrorCode, Id, NewEpoch,
    Opening, OpeningRequest, Pay, PayVoucher, Reject, Reply, Request, RpcError, ServerMessage,
    Subscribe, Subscribed, TextLimits,
};
use channel::crypto::{PrivateKey, chain_next};
use channel::field::Fe;
use channel::types::{hello_message, receipt_message, voucher_message};
use proptest::prelude::*;

fn decode(text: &str) -> Result<ClientMessage, CodecError> {
    ClientMessage::decode(text, &TextLimits::DEFAULT)
}

fn pending(channel: u32, seq: u64, to: u32, amount: u64) -> PayVoucher {
    PayVoucher {
        channel,
        seq,
        spent: None,
        to,
        amount,
        chain: None,
        sig: None,
    }
}

#[test]
fn pay_wire_form() {
    let text = r#"{"jsonrpc":"2.0","method":"pay","params":{"vouchers":[{"channel":3,"seq":1,"to":9,"amount":250},{"channel":3,"seq":2,"spent":"500","to":9,"amount":250,"chain":"12345"}]}}"#;
    let msg = decode(text).unwrap();
    let mut second = pending(3, 2, 9, 250);
    second.spent = Some(500);
    second.chain = Some(Fe::from(12345u64));
    let expect = ClientMessage::Pay(Pay {
        vouchers: vec![pending(3, 1, 9, 250), second],
    });
    assert_eq!(msg, expect);
    // Encoding emits numbers (not strings) for small u64s: the canonical form.
    assert_eq!(
        expect.to_text(),
        text.replace(r#""spent":"500""#, r#""spent":500"#)
    );
}

#[test]
fn requests_wire_form() {
    let cases = [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"status","params":{}}"#,
            Request::Status,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"receipt","params":{}}"#,
            Request::Receipt,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}"#,
            Request::Ping,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":7}}"#,
            Request::Subscribe(Subscribe { channel: 7 }),
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"opening","params":{"epoch":4}}"#,
            Request::Opening(OpeningRequest { epoch: 4 }),
        ),
    ];
    for (text, request) in cases {
        let msg = ClientMessage::Request {
            id: Id::Num(1),
            request,
        };
        assert_eq!(decode(text).as_ref(), Ok(&msg), "{text}");
        assert_eq!(msg.to_text(), text);
    }
    // params may be omitted for requests without params; string ids are echoed.
    assert_eq!(
        decode(r#"{"id":"a-1","method":"status","jsonrpc":"2.0"}"#),
        Ok(ClientMessage::Request {
            id: Id::Str("a-1".into()),
            request: Request::Status
        })
    );
}

#[test]
fn notifications_wire_form() {
    let nonce = Fe::from(987654321u64);
    let cases = [
        (
            ServerMessage::Challenge(Challenge {
                hub_id: 1,
                epoch: 2,
                nonce,
            }),
            r#"{"jsonrpc":"2.0","method":"challenge","params":{"hub_id":1,"epoch":2,"nonce":"987654321"}}"#,
        ),
        (
            ServerMessage::Ack(Ack { seq: 64 }),
            r#"{"jsonrpc":"2.0","method":"ack","params":{"seq":64}}"#,
        ),
        (
            ServerMessage::Reject(Reject::new(
                65,
                ErrorCode::InsufficientBalance,
                "insufficient balance",
            )),
            r#"{"jsonrpc":"2.0","method":"reject","params":{"seq":65,"code":1005,"message":"insufficient balance"}}"#,
        ),
        (
            ServerMessage::Credit(Credit {
                channel: 9,
                amount: 500,
                received: 12500,
            }),
            r#"{"jsonrpc":"2.0","method":"credit","params":{"channel":9,"amount":500,"received":12500}}"#,
        ),
        (
            ServerMessage::Epoch(NewEpoch { epoch: 3 }),
            r#"{"jsonrpc":"2.0","method":"epoch","params":{"epoch":3}}"#,
        ),
    ];
    for (msg, text) in cases {
        assert_eq!(msg.to_text(), text);
        assert_eq!(ServerMessage::decode(text), Ok(msg));
    }
}

#[test]
fn responses_wire_form() {
    let status = ChannelStatus {
        channel: 3,
        seq: 64,
        spent: 16000,
        chain: Fe::from(77u64),
        deposit: 1_000_000,
        received: 0,
        balance: 984000,
        exiting: false,
    };
    let cases = [
        (
            ServerMessage::Response {
                id: Id::Num(1),
                result: Ok(Reply::Status(status)),
            },
            r#"{"jsonrpc":"2.0","id":1,"result":{"channel":3,"seq":64,"spent":16000,"chain":"77","deposit":1000000,"received":0,"balance":984000,"exiting":false}}"#,
        ),
        (
            ServerMessage::Response {
                id: Id::Num(2),
                result: Ok(Reply::Subscribed(Subscribed {
                    channel: 9,
                    received: 12500,
                })),
            },
            r#"{"jsonrpc":"2.0","id":2,"result":{"channel":9,"received":12500}}"#,
        ),
        (
            ServerMessage::Response {
                id: Id::Str("p".into()),
                result: Ok(Reply::Pong),
            },
            r#"{"jsonrpc":"2.0","id":"p","result":"pong"}"#,
        ),
        (
            ServerMessage::Response {
                id: Id::Num(5),
                result: Ok(Reply::Opening(Opening {
                    epoch: 1,
                    index: 0,
                    channel: 3,
                    ax: Fe::from(1u64),
                    ay: Fe::from(2u64),
                    balance: 10,
                    spent: 5,
                    received: 0,
                    blind: Fe::from(3u64),
                    path: vec![Fe::from(4u64), Fe::from(5u64)],
                    balances_root: Fe::from(6u64),
                })),
            },
            r#"{"jsonrpc":"2.0","id":5,"result":{"epoch":1,"index":0,"channel":3,"ax":"1","ay":"2","balance":10,"spent":5,"received":0,"blind":"3","path":["4","5"],"balances_root":"6"}}"#,
        ),
        (
            ServerMessage::Response {
                id: Id::Null,
                result: Err(RpcError::new(ErrorCode::ParseError, "parse error")),
            },
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}"#,
        ),
    ];
    for (msg, text) in cases {
        assert_eq!(msg.to_text(), text);
        assert_eq!(ServerMessage::decode(text), Ok(msg));
    }
}

#[test]
fn client_decoder_ignores_unknown_members_from_a_newer_hub() {
    let text = r#"{"jsonrpc":"2.0","method":"ack","params":{"seq":5,"batch":17},"extra":true}"#;
    assert_eq!(
        ServerMessage::decode(text),
        Ok(ServerMessage::Ack(Ack { seq: 5 }))
    );
}

#[test]
fn u64_above_2_pow_53_is_a_string_both_ways() {
    let big = MAX_SAFE_INTEGER + 1;
    let msg = ServerMessage::Ack(Ack { seq: big });
    let text = msg.to_text();
    assert_eq!(
        text,
        format!(r#"{{"jsonrpc":"2.0","method":"ack","params":{{"seq":"{big}"}}}}"#)
    );
    assert_eq!(ServerMessage::decode(&text), Ok(msg));
    let safe = ServerMessage::Ack(Ack {
        seq: MAX_SAFE_INTEGER,
    });
    assert!(
        safe.to_text()
            .contains(&format!(r#""seq":{MAX_SAFE_INTEGER}"#))
    );
    // Input accepts either form, up to u64::MAX, and nothing else.
    for (seq, ok) in [
        ("18446744073709551615", Some(u64::MAX)),
        ("\"18446744073709551615\"", Some(u64::MAX)),
        ("18446744073709551616", None),
        ("\"18446744073709551616\"", None),
        ("-1", None),
        ("1.5", None),
        ("\"0x10\"", None),
        ("\" 1\"", None),
        ("\"\"", None),
    ] {
        let text = format!(
            r#"{{"jsonrpc":"2.0","method":"pay","params":{{"vouchers":[{{"channel":1,"seq":{seq},"to":2,"amount":1}}]}}}}"#
        );
        match (decode(&text), ok) {
            (Ok(ClientMessage::Pay(p)), Some(v)) => assert_eq!(p.vouchers[0].seq, v),
            (Err(CodecError::InvalidParams { id: Id::Null, .. }), None) => {}
            (other, _) => panic!("seq {seq}: {other:?}"),
        }
    }
}

fn error_of(text: &str) -> (ErrorCode, Id) {
    let e = decode(text).unwrap_err();
    (e.code(), e.id().clone())
}

#[test]
fn every_decoding_error_has_its_code_and_id() {
    use ErrorCode::*;
    let cases: &[(&str, ErrorCode, Id)] = &[
        ("", ParseError, Id::Null),
        ("{", ParseError, Id::Null),
        ("not json", ParseError, Id::Null),
        ("[]", InvalidRequest, Id::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            InvalidRequest,
            Id::Null,
        ),
        ("17", InvalidRequest, Id::Null),
        (r#"{"id":1,"method":"ping"}"#, InvalidRequest, Id::Num(1)),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            InvalidRequest,
            Id::Num(1),
        ),
        (r#"{"jsonrpc":"2.0","id":1}"#, InvalidRequest, Id::Num(1)),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            InvalidRequest,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            InvalidRequest,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            InvalidRequest,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"ping"}"#,
            InvalidRequest,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"pay","params":{"vouchers":[]}}"#,
            InvalidRequest,
            Id::Num(4),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"x","method":"fly"}"#,
            MethodNotFound,
            Id::Str("x".into()),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"fly"}"#,
            MethodNotFound,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{}}"#,
            InvalidParams,
            Id::Num(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":[7]}"#,
            InvalidParams,
            Id::Num(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"channel":4294967296}}"#,
            InvalidParams,
            Id::Num(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"status","params":{"verbose":true}}"#,
            InvalidParams,
            Id::Num(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"hello","params":{"channel":1,"sig":"zz"}}"#,
            InvalidParams,
            Id::Num(2),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"pay","params":{"vouchers":[]}}"#,
            InvalidParams,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"pay"}"#,
            InvalidParams,
            Id::Null,
        ),
        // A typo is refused rather than silently dropped.
        (
            r#"{"jsonrpc":"2.0","method":"pay","params":{"vouchers":[{"channel":1,"seq":1,"to":2,"amount":1,"sgi":"00"}]}}"#,
            InvalidParams,
            Id::Null,
        ),
        (
            r#"{"jsonrpc":"2.0","method":"pay","params":{"vouchers":[{"channel":1,"seq":1,"to":2,"amount":1,"chain":"21888242871839275222246405745257275088548364400416034343698204186575808495617"}]}}"#,
            InvalidParams,
            Id::Null,
        ),
    ];
    for (text, code, id) in cases {
        let (got_code, got_id) = error_of(text);
        assert_eq!(got_code, *code, "{text}");
        assert_eq!(&got_id, id, "{text}");
    }
}

#[test]
fn error_response_answers_the_right_id() {
    let e = decode(r#"{"jsonrpc":"2.0","id":42,"method":"subscribe","params":{"channel":-1}}"#)
        .unwrap_err();
    let reply = ServerMessage::error_response(&e);
    let ServerMessage::Response {
        id,
        result: Err(err),
    } = &reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!(id, &Id::Num(42));
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidParams));
    assert!(!e.closes_connection());
    assert_eq!(ServerMessage::decode(&reply.to_text()), Ok(reply.clone()));
}

#[test]
fn limits_are_enforced() {
    let limits = TextLimits {
        max_message_bytes: 64,
        max_vouchers: 2,
    };
    let long = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","pad":"{}"}}"#,
        "x".repeat(64)
    );
    let e = ClientMessage::decode(&long, &limits).unwrap_err();
    assert_eq!(e.code(), ErrorCode::TooLarge);
    assert!(e.closes_connection());

    let three = Pay {
        vouchers: (1..=3).map(|s| pending(1, s, 2, 1)).collect(),
    };
    let text = ClientMessage::Pay(three).to_text();
    let limits = TextLimits {
        max_message_bytes: 1 << 20,
        max_vouchers: 2,
    };
    assert_eq!(
        ClientMessage::decode(&text, &limits).unwrap_err().code(),
        ErrorCode::InvalidParams
    );

    // The absolute cap (4,096) holds during parsing, whatever the limits say.
    let many = Pay {
        vouchers: (1..=4097).map(|s| pending(1, s, 2, 1)).collect(),
    };
    let text = ClientMessage::Pay(many).to_text();
    let e = decode(&text).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidParams, "{e}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 100_000] {
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(decode(&text).is_err());
        assert!(ServerMessage::decode(&text).is_err());
    }
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let text = r#"{"jsonrpc":"2\u002e0","id":"\u0031","method":"p\u0069ng"}"#;
    assert_eq!(
        decode(text),
        Ok(ClientMessage::Request {
            id: Id::Str("1".into()),
            request: Request::Ping
        })
    );
}

// ------------------------------------------------------------------------------
// Signed messages (hello, receipts, checkpoints).
// ------------------------------------------------------------------------------

fn key(i: u8) -> PrivateKey {
    PrivateKey([i; 32])
}

#[test]
fn hello_and_receipt_carry_verifiable_signatures() {
    let (hub_id, nonce, channel) = (1u64, Fe::from(55u64), 3u32);
    let payer = key(1);
    let hello = ClientMessage::Request {
        id: Id::Num(1),
        request: Request::Hello(channel::codec::Hello {
            channel,
            sig: payer.sign(&hello_message(hub_id, &nonce, channel)),
        }),
    };
    let text = hello.to_text();
    let Ok(ClientMessage::Request {
        request: Request::Hello(h),
        ..
    }) = decode(&text)
    else {
        panic!("{text}")
    };
    payer
        .public()
        .verify(&hello_message(hub_id, &nonce, h.channel), &h.sig)
        .unwrap();
    // 64 packed bytes as 128 lowercase hex digits.
    let hex = text
        .split(r#""sig":""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(hex.len(), 128);
    assert_eq!(hex, hex.to_lowercase());

    let hub = key(2);
    let receipt = channel::codec::Receipt {
        hub_id,
        epoch: 4,
        channel: 9,
        received: 12500,
        sig: hub.sign(&receipt_message(hub_id, 4, 9, 12500)),
    };
    for msg in [
        ServerMessage::Receipt(receipt.clone()),
        ServerMessage::Response {
            id: Id::Num(3),
            result: Ok(Reply::Receipt(receipt.clone())),
        },
    ] {
        let back = ServerMessage::decode(&msg.to_text()).unwrap();
        assert_eq!(back, msg);
    }
    hub.public()
        .verify(&receipt_message(hub_id, 4, 9, 12500), &receipt.sig)
        .unwrap();
}

#[test]
fn a_signed_checkpoint_round_trips_and_verifies() {
    let (hub_id, channel) = (1u64, 3u32);
    let payer = key(1);
    let mut chain = Fe::from(0u64);
    let mut spent = 0;
    let mut vouchers = Vec::new();
    for seq in 1..=4u64 {
        spent += 10;
        chain = chain_next(&chain, seq, 9, 10);
        let mut v = pending(channel, seq, 9, 10);
        if seq == 4 {
            v.spent = Some(spent);
            v.chain = Some(chain);
            v.sig = Some(payer.sign(&voucher_message(hub_id, channel, seq, spent, &chain)));
        }
        vouchers.push(v);
    }
    let msg = ClientMessage::Pay(Pay { vouchers });
    let back = decode(&msg.to_text()).unwrap();
    assert_eq!(back, msg);
    let ClientMessage::Pay(p) = back else {
        unreachable!()
    };
    let last = p.vouchers[3].to_incoming();
    payer
        .public()
        .verify(
            &voucher_message(
                hub_id,
                channel,
                4,
                last.spent.unwrap(),
                &last.chain.unwrap(),
            ),
            last.sig.as_ref().unwrap(),
        )
        .unwrap();
    // A signature that is not a canonical encoding is refused at decoding.
    let mut bad = msg.to_text();
    let at = bad.find(r#""sig":""#).unwrap() + 7;
    bad.replace_range(at + 64..at + 128, &"f".repeat(64)); // S ≥ l
    assert_eq!(decode(&bad).unwrap_err().code(), ErrorCode::InvalidParams);
}

// ------------------------------------------------------------------------------
// Property tests: every message round-trips.
// ------------------------------------------------------------------------------

fn fe() -> impl Strategy<Value = Fe> {
    any::<[u8; 32]>().prop_map(|b| {
        use ark_ff::PrimeField;
        Fe::from_be_bytes_mod_order(&b)
    })
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<i64>().prop_map(Id::Num),
        ".{0,12}".prop_map(Id::Str),
        Just(Id::Null)
    ]
}

fn pay_voucher() -> impl Strategy<Value = PayVoucher> {
    (
        any::<u32>(),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        any::<u32>(),
        any::<u64>(),
        proptest::option::of(fe()),
    )
        .prop_map(|(channel, seq, spent, to, amount, chain)| PayVoucher {
            channel,
            seq,
            spent,
            to,
            amount,
            chain,
            sig: None,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::Status),
        Just(Request::Receipt),
        Just(Request::Ping),
        any::<u32>().prop_map(|channel| Request::Subscribe(Subscribe { channel })),
        any::<u64>().prop_map(|epoch| Request::Opening(OpeningRequest { epoch })),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (id(), request()).prop_map(|(id, request)| ClientMessage::Request { id, request }),
        proptest::collection::vec(pay_voucher(), 1..20)
            .prop_map(|vouchers| ClientMessage::Pay(Pay { vouchers })),
    ]
}

fn server_message() -> impl Strategy<Value = ServerMessage> {
    let status = (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        fe(),
        -(u64::MAX as i128)..=u64::MAX as i128,
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(channel, seq, spent, chain, deposit, received, balance, exiting)| ChannelStatus {
                channel,
                seq,
                spent,
                chain,
                deposit,
                received,
                balance,
                exiting,
            },
        );
    let opening = (
        (any::<u64>(), any::<u64>(), any::<u32>(), fe(), fe()),
        (any::<u64>(), any::<u64>(), any::<u64>(), fe()),
        proptest::collection::vec(fe(), 0..24),
        fe(),
    )
        .prop_map(
            |(
                (epoch, index, channel, ax, ay),
                (balance, spent, received, blind),
                path,
                balances_root,
            )| Opening {
                epoch,
                index,
                channel,
                ax,
                ay,
                balance,
                spent,
                received,
                blind,
                path,
                balances_root,
            },
        );
    let reply = prop_oneof![
        status.prop_map(Reply::Status),
        opening.prop_map(Reply::Opening),
        (any::<u32>(), any::<u64>())
            .prop_map(|(channel, received)| Reply::Subscribed(Subscribed { channel, received })),
        Just(Reply::Pong),
    ];
    let error = (any::<i32>(), ".{0,40}").prop_map(|(code, message)| RpcError {
        code,
        message,
        data: None,
    });
    prop_oneof![
        (any::<u64>(), any::<u64>(), fe()).prop_map(|(hub_id, epoch, nonce)| {
            ServerMessage::Challenge(Challenge {
                hub_id,
                epoch,
                nonce,
            })
        }),
        any::<u64>().prop_map(|seq| ServerMessage::Ack(Ack { seq })),
        (any::<u64>(), any::<i32>(), ".{0,40}")
            .prop_map(|(seq, code, message)| ServerMessage::Reject(Reject { seq, code, message })),
        (any::<u32>(), any::<u64>(), any::<u64>()).prop_map(|(channel, amount, received)| {
            ServerMessage::Credit(Credit {
                channel,
                amount,
                received,
            })
        }),
        any::<u64>().prop_map(|epoch| ServerMessage::Epoch(NewEpoch { epoch })),
        (id(), reply).prop_map(|(id, r)| ServerMessage::Response { id, result: Ok(r) }),
        (id(), error).prop_map(|(id, e)| ServerMessage::Response { id, result: Err(e) }),
    ]
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let text = msg.to_text();
        prop_assert_eq!(decode(&text), Ok(msg));
    }

    #[test]
    fn server_messages_round_trip(msg in server_message()) {
        let text = msg.to_text();
        prop_assert_eq!(ServerMessage::decode(&text), Ok(msg));
    }

    #[test]
    fn every_u64_is_exact_for_a_javascript_client(seq in any::<u64>()) {
        // What JSON.parse would read: numbers as f64. Numbers are only emitted when exact.
        let text = ServerMessage::Ack(Ack { seq }).to_text();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let field = &v["params"]["seq"];
        match field {
            serde_json::Value::Number(n) => prop_assert_eq!(n.as_u64().map(|x| x as f64 as u64), Some(seq)),
            serde_json::Value::String(s) => {
                prop_assert!(seq > MAX_SAFE_INTEGER);
                prop_assert_eq!(s.parse::<u64>().ok(), Some(seq));
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}

#[test]
fn method_names_are_pinned() {
    assert_eq!(
        [
            method::HELLO,
            method::STATUS,
            method::RECEIPT,
            method::SUBSCRIBE,
            method::OPENING,
            method::PING,
            method::PAY
        ],
        [
            "hello",
            "status",
            "receipt",
            "subscribe",
            "opening",
            "ping",
            "pay"
        ]
    );
    assert_eq!(
        [
            method::CHALLENGE,
            method::ACK,
            method::REJECT,
            method::CREDIT,
            method::EPOCH
        ],
        ["challenge", "ack", "reject", "credit", "epoch"]
    );
}
