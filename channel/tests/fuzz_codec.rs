//! Structure-aware fuzzing of the wire codec on stable Rust.
//!
//! Seeds are real messages, committed in `fuzz/corpus/json/` and
//! `fuzz/corpus/binary/` (regenerate with `ZKHUB_FUZZ_WRITE_CORPUS=1 cargo test
//! --release -p channel --test fuzz_codec -- --ignored write_seed_corpus`). Each
//! execution takes one seed and a byte tape and applies mutations decoded from the
//! tape: for JSON, on the parsed value (replace a node with a boundary number,
//! oversized digit string, wrong type, field element ≥ p, bad hex, deep nesting;
//! drop, rename or add a member; splice a node from another seed; repeat array
//! elements past the voucher limit), for binary frames, on the layout (count,
//! first seq, voucher flags, a signature's `S` or a field element set at or above
//! their moduli, truncation at a voucher boundary, duplicated vouchers, kind byte),
//! then a few raw byte edits. The result goes through
//! `channel::codec::fuzz::{fuzz_decode_text, fuzz_decode_binary}`, which must never
//! panic and must round-trip whatever decodes.
//!
//! `ZKHUB_FUZZ_CASES` sets the executions per target (default: a few seconds).

mod fuzz_support;

use std::path::PathBuf;

use channel::codec::binary::{
    FLAG_CHAIN, FLAG_SIG, FLAG_SPENT, KIND_ACK, KIND_PAY, KIND_REJECT, PAY_HEADER_LEN,
    VOUCHER_MIN_LEN, encode_ack_frame,
};
use channel::codec::fuzz::{fuzz_decode_binary, fuzz_decode_text};
use channel::codec::{
    Ack, Challenge, ChannelStatus, ClientMessage, Credit, ErrorCode, Hello, Id, NewEpoch,
    OpeningRequest, Pay, PayVoucher, Receipt, Reject, Reply, Request, RpcError, ServerMessage,
    Subscribe, Subscribed, TextLimits, decode_pay_frame, decode_server_binary, encode_pay_frame,
    encode_reject_frame,
};
use channel::crypto::{PrivateKey, chain_next};
use channel::field::Fe;
use channel::types::{VoucherIn, hello_message, receipt_message, voucher_message};
use fuzz_support::{Tape, fuzz};
use proptest::prelude::*;
use serde_json::Value;

const P_DEC: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
const L_DEC: &str = "2736030358979909402780800718157159386076813972158567259200215660948447373041";

fn corpus_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(kind)
}

fn read_corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    assert!(!seeds.is_empty(), "empty seed corpus {}", dir.display());
    seeds
}

// ---------------------------------------------------------------------------------
// JSON mutations.
// ---------------------------------------------------------------------------------

/// Every node of `v`, as a path of member names / indices.
fn paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(PathStep::Key(k.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(v: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        PathStep::Key(k) => &mut v[k.as_str()],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// Interesting replacement values for a JSON node.
fn interesting(t: &mut Tape) -> Value {
    let digits = |n: usize, d: char| std::iter::repeat_n(d, n).collect::<String>();
    match t.below(24) {
        0 => Value::from(0),
        1 => Value::from(-1),
        2 => Value::from(u64::MAX),
        3 => Value::from((1u64 << 53) - 1),
        4 => Value::from(1u64 << 53),
        5 => serde_json::from_str("1e3").expect("number"),
        6 => Value::from(1.5),
        7 => Value::from(u64::MAX.to_string()),
        8 => Value::from("18446744073709551616"),
        9 => Value::from(u32::MAX as u64 + 1),
        10 => Value::from(digits(t.range(1, 120) as usize, '9')),
        11 => Value::from(P_DEC),
        12 => Value::from(L_DEC),
        13 => Value::from(format!("0{}", digits(80, '0'))),
        14 => Value::from(digits(t.range(0, 130) as usize, 'f')),
        15 => Value::from(digits(128, 'F')),
        16 => Value::from("-5"),
        17 => Value::from(" 5"),
        18 => Value::from("0x10"),
        19 => Value::Null,
        20 => Value::Bool(t.u8() & 1 == 1),
        21 => Value::Array(vec![]),
        22 => Value::Object(Default::default()),
        _ => {
            // Deep nesting (serde_json's recursion limit must turn it into an error).
            let depth = t.range(1, 300) as usize;
            let mut v = Value::from(1);
            for _ in 0..depth {
                v = Value::Array(vec![v]);
            }
            v
        }
    }
}

/// Apply tape-driven mutations to a JSON seed; `others` are splice sources.
fn mutate_json(seed: &[u8], others: &[Vec<u8>], t: &mut Tape) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(seed) else {
        return seed.to_vec();
    };
    for _ in 0..t.range(1, 4) {
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let path = all[t.below(all.len())].clone();
        match t.below(8) {
            0..=2 => *node_mut(&mut v, &path) = interesting(t),
            3 => {
                // Drop a member or element.
                if let Some((last, parent)) = path.split_last() {
                    match (node_mut(&mut v, parent), last) {
                        (Value::Object(m), PathStep::Key(k)) => {
                            m.remove(k);
                        }
                        (Value::Array(a), PathStep::Index(i)) => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            4 => {
                // Add or rename a member.
                const NAMES: [&str; 12] = [
                    "id", "jsonrpc", "method", "params", "result", "error", "sig", "spent",
                    "chain", "seq", "extra", "vouchers",
                ];
                let name = NAMES[t.below(NAMES.len())];
                let value = interesting(t);
                if let Value::Object(m) = node_mut(&mut v, &path) {
                    if t.one_in(2)
                        && let Some(k) = m.keys().nth(t.below(m.len().max(1))).cloned()
                    {
                        let old = m.remove(&k).unwrap_or(Value::Null);
                        m.insert(name.to_owned(), old);
                    } else {
                        m.insert(name.to_owned(), value);
                    }
                }
            }
            5 => {
                // Splice a node from another seed.
                let other = &others[t.below(others.len())];
                if let Ok(o) = serde_json::from_slice::<Value>(other) {
                    let mut theirs = Vec::new();
                    paths(&o, &mut Vec::new(), &mut theirs);
                    let pick = theirs[t.below(theirs.len())].clone();
                    let mut o = o;
                    let node = node_mut(&mut o, &pick).clone();
                    *node_mut(&mut v, &path) = node;
                }
            }
            6 => {
                // Repeat an array's elements (past the voucher limit sometimes).
                if let Value::Array(a) = node_mut(&mut v, &path)
                    && !a.is_empty()
                {
                    let n = if t.one_in(8) {
                        4097
                    } else {
                        t.range(1, 16) as usize
                    };
                    let first = a[0].clone();
                    a.extend(std::iter::repeat_n(first, n));
                }
            }
            _ => {
                // Change a number by one, or a string's last character.
                match node_mut(&mut v, &path) {
                    Value::Number(n) => {
                        if let Some(x) = n.as_u64() {
                            *node_mut(&mut v, &path) = Value::from(if t.one_in(2) {
                                x.wrapping_add(1)
                            } else {
                                x.wrapping_sub(1)
                            });
                        }
                    }
                    Value::String(s) => {
                        s.pop();
                        s.push(char::from(b'0' + t.u8() % 75));
                    }
                    _ => {}
                }
            }
        }
    }
    let mut out = serde_json::to_vec(&v).expect("serializable");
    raw_edits(&mut out, t);
    out
}

/// A few raw byte edits (often none): flip, insert, delete, truncate.
fn raw_edits(data: &mut Vec<u8>, t: &mut Tape) {
    for _ in 0..t.below(3) {
        if data.is_empty() {
            return;
        }
        let at = t.below(data.len());
        match t.below(4) {
            0 => data[at] ^= 1 << (t.u8() % 8),
            1 => data.insert(at, t.u8()),
            2 => {
                data.remove(at);
            }
            _ => data.truncate(at),
        }
    }
}

// ---------------------------------------------------------------------------------
// Binary mutations.
// ---------------------------------------------------------------------------------

/// Byte offsets of each voucher of a pay frame (as its flags say), if it parses.
fn voucher_offsets(frame: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    if frame.len() < PAY_HEADER_LEN || frame[0] != KIND_PAY {
        return out;
    }
    let count = u16::from_be_bytes([frame[1], frame[2]]) as usize;
    let mut at = PAY_HEADER_LEN;
    for _ in 0..count {
        if at >= frame.len() {
            break;
        }
        out.push(at);
        let f = frame[at];
        at += VOUCHER_MIN_LEN
            + if f & FLAG_SPENT != 0 { 8 } else { 0 }
            + if f & FLAG_CHAIN != 0 { 32 } else { 0 }
            + if f & FLAG_SIG != 0 { 64 } else { 0 };
    }
    out
}

fn mutate_binary(seed: &[u8], others: &[Vec<u8>], t: &mut Tape) -> Vec<u8> {
    let mut f = seed.to_vec();
    for _ in 0..t.range(1, 3) {
        let vs = voucher_offsets(&f);
        match t.below(10) {
            0 if f.len() >= 3 => {
                let c = match t.below(4) {
                    0 => 0u16,
                    1 => u16::from_be_bytes([f[1], f[2]]).wrapping_add(1),
                    2 => u16::from_be_bytes([f[1], f[2]]).wrapping_sub(1),
                    _ => t.u16(),
                };
                f[1..3].copy_from_slice(&c.to_be_bytes());
            }
            1 if f.len() >= 9 => {
                // first_seq (pay) or seq (ack / reject).
                let s = match t.below(4) {
                    0 => 0u64,
                    1 => u64::MAX,
                    2 => u64::MAX - t.range(0, 8),
                    _ => t.u64(),
                };
                let at = if f[0] == KIND_PAY { 3 } else { 1 };
                if f.len() >= at + 8 {
                    f[at..at + 8].copy_from_slice(&s.to_be_bytes());
                }
            }
            2 if !vs.is_empty() => {
                // Voucher flags: flip a known bit or set an unknown one.
                let at = vs[t.below(vs.len())];
                f[at] ^= 1 << (t.u8() % 8);
            }
            3 if !vs.is_empty() => {
                // Truncate at (or one byte around) a voucher boundary.
                let at = vs[t.below(vs.len())];
                let at = (at + t.below(3)).saturating_sub(1).min(f.len());
                f.truncate(at);
            }
            4 if !vs.is_empty() => {
                // Duplicate a voucher's bytes.
                let i = t.below(vs.len());
                let end = vs.get(i + 1).copied().unwrap_or(f.len());
                let chunk = f[vs[i]..end].to_vec();
                f.splice(end..end, chunk);
            }
            5 if f.len() >= 64 => {
                // Push a 32-byte value at or above a modulus: a signature's S is
                // little-endian at the end of a sig, a field element big-endian.
                let at = t.below(f.len() - 31);
                let fill = [0xff_u8, 0x30, 0x0c, 0x06][t.below(4)];
                for b in &mut f[at..at + 32] {
                    *b = fill;
                }
            }
            6 if f.len() >= 4 && f[0] == KIND_REJECT => {
                // Reject: message length and UTF-8.
                if f.len() >= 15 {
                    let len = [0u16, 1, 1024, 1025, u16::MAX][t.below(5)];
                    f[13..15].copy_from_slice(&len.to_be_bytes());
                }
                if t.one_in(2) {
                    f.extend_from_slice(&[0xc3, 0x28]);
                }
            }
            7 => f[0] = [KIND_PAY, KIND_ACK, KIND_REJECT, 0, 0x02, 0x80][t.below(6)],
            8 => {
                let o = &others[t.below(others.len())];
                if !o.is_empty() {
                    let from = t.below(o.len());
                    let to = from + t.below(o.len() - from + 1);
                    let at = t.below(f.len() + 1);
                    f.splice(at..at, o[from..to].iter().copied());
                }
            }
            _ => {}
        }
        if f.is_empty() {
            break;
        }
    }
    raw_edits(&mut f, t);
    f
}

fn case() -> impl Strategy<Value = (prop::sample::Index, Vec<u8>)> {
    (
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
}

#[test]
fn fuzz_json_codec() {
    let seeds = read_corpus("json");
    fuzz("codec/json", 30_000, case(), |(which, tape)| {
        let seed = &seeds[which.index(seeds.len())];
        let data = mutate_json(seed, &seeds, &mut Tape::new(&tape));
        fuzz_decode_text(&data);
    });
}

#[test]
fn fuzz_binary_codec() {
    let seeds = read_corpus("binary");
    fuzz("codec/binary", 100_000, case(), |(which, tape)| {
        let seed = &seeds[which.index(seeds.len())];
        let data = mutate_binary(seed, &seeds, &mut Tape::new(&tape));
        fuzz_decode_binary(&data);
    });
}

#[test]
fn every_seed_is_a_real_message() {
    for seed in read_corpus("json") {
        let text = std::str::from_utf8(&seed).expect("UTF-8 seed");
        let client = ClientMessage::decode(text, &TextLimits::DEFAULT).is_ok();
        let server = ServerMessage::decode(text).is_ok();
        assert!(client || server, "seed does not decode: {text}");
        fuzz_decode_text(&seed);
    }
    for seed in read_corpus("binary") {
        let mut vouchers = Vec::new();
        let pay = decode_pay_frame(&seed, 4096, &mut vouchers).is_ok();
        let server = decode_server_binary(&seed).is_ok();
        assert!(pay || server, "binary seed does not decode: {seed:?}");
        fuzz_decode_binary(&seed);
    }
}

#[test]
fn mutations_reach_errors_and_successes() {
    // The mutators are useful only if they produce both messages that still decode
    // and messages that do not: check the mix over a fixed set of tapes.
    let seeds = read_corpus("json");
    let (mut ok, mut err) = (0, 0);
    for i in 0..2000u32 {
        let tape: Vec<u8> = (0..32)
            .map(|j| (i.wrapping_mul(2654435761) >> (j % 24)) as u8)
            .collect();
        let data = mutate_json(
            &seeds[i as usize % seeds.len()],
            &seeds,
            &mut Tape::new(&tape),
        );
        let text = String::from_utf8_lossy(&data);
        if ClientMessage::decode(&text, &TextLimits::DEFAULT).is_ok()
            || ServerMessage::decode(&text).is_ok()
        {
            ok += 1;
        } else {
            err += 1;
        }
    }
    assert!(
        ok > 50 && err > 50,
        "json mutations: {ok} decode, {err} refused"
    );
    let seeds = read_corpus("binary");
    let (mut ok, mut err) = (0, 0);
    for i in 0..2000u32 {
        let tape: Vec<u8> = (0..32)
            .map(|j| (i.wrapping_mul(2246822519) >> (j % 24)) as u8)
            .collect();
        let data = mutate_binary(
            &seeds[i as usize % seeds.len()],
            &seeds,
            &mut Tape::new(&tape),
        );
        let mut vouchers = Vec::new();
        if decode_pay_frame(&data, 4096, &mut vouchers).is_ok()
            || decode_server_binary(&data).is_ok()
        {
            ok += 1;
        } else {
            err += 1;
        }
    }
    assert!(
        ok > 50 && err > 50,
        "binary mutations: {ok} decode, {err} refused"
    );
}

// ---------------------------------------------------------------------------------
// The seed corpus: real messages, as the hub, the clients and PROTOCOL.md send them.
// ---------------------------------------------------------------------------------

/// Named seeds: `(name, JSON text)` and `(name, binary frame)`.
type Seeds = (Vec<(String, String)>, Vec<(String, Vec<u8>)>);

fn seed_messages() -> Seeds {
    let hub_id = 1;
    let payer = 3;
    let key = PrivateKey([1; 32]);
    let hub_key = PrivateKey([7; 32]);
    let mut json: Vec<(String, String)> = Vec::new();
    let mut binary: Vec<(String, Vec<u8>)> = Vec::new();

    // The examples of docs/PROTOCOL.md, one line each.
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md"),
    )
    .expect("docs/PROTOCOL.md");
    for (i, line) in doc
        .lines()
        .filter(|l| l.starts_with("{\"jsonrpc\""))
        .enumerate()
    {
        let line = line.trim();
        let client = ClientMessage::decode(line, &TextLimits::DEFAULT).is_ok();
        let server = ServerMessage::decode(line).is_ok();
        if client || server {
            json.push((format!("doc_{i:02}"), line.to_owned()));
        }
    }

    // Vouchers: a run with every optional field combination, every 4th signed.
    let mut vouchers = Vec::new();
    let (mut chain, mut spent) = (Fe::from(0u64), 0u64);
    for seq in 1..=8u64 {
        let (to, amount) = (9, seq * 100 + 1);
        spent += amount;
        chain = chain_next(&chain, seq, to, amount);
        let sig = (seq % 4 == 0 || seq == 7)
            .then(|| key.sign(&voucher_message(hub_id, payer, seq, spent, &chain)));
        vouchers.push(VoucherIn {
            seq,
            to,
            amount,
            spent: (seq & 1 == 1).then_some(spent),
            chain: (seq & 2 == 2).then_some(chain),
            sig,
        });
    }
    let pay = |vs: &[VoucherIn]| {
        ClientMessage::Pay(Pay {
            vouchers: vs.iter().map(|v| PayVoucher::new(payer, v)).collect(),
        })
        .to_text()
    };
    json.push(("pay_mixed".into(), pay(&vouchers)));
    json.push(("pay_one_checkpoint".into(), pay(&vouchers[3..4])));
    let big = VoucherIn {
        seq: u64::MAX - 1,
        to: u32::MAX,
        amount: u64::MAX,
        spent: Some(u64::MAX),
        chain: Some(Fe::from(u64::MAX)),
        sig: None,
    };
    json.push(("pay_u64_strings".into(), pay(std::slice::from_ref(&big))));

    let nonce = Fe::from(123_456_789u64);
    let request = |id: Id, request: Request| ClientMessage::Request { id, request }.to_text();
    json.push((
        "hello".into(),
        request(
            Id::Num(1),
            Request::Hello(Hello {
                channel: payer,
                sig: key.sign(&hello_message(hub_id, &nonce, payer)),
            }),
        ),
    ));
    json.push((
        "status".into(),
        request(Id::Str("s".into()), Request::Status),
    ));
    json.push((
        "receipt_request".into(),
        request(Id::Num(3), Request::Receipt),
    ));
    json.push((
        "subscribe".into(),
        request(Id::Num(4), Request::Subscribe(Subscribe { channel: 9 })),
    ));
    json.push((
        "opening_request".into(),
        request(Id::Null, Request::Opening(OpeningRequest { epoch: 2 })),
    ));
    json.push(("ping".into(), request(Id::Num(i64::MAX), Request::Ping)));

    let server = |m: ServerMessage| m.to_text();
    json.push((
        "challenge".into(),
        server(ServerMessage::Challenge(Challenge {
            hub_id,
            epoch: 2,
            nonce,
        })),
    ));
    json.push(("ack".into(), server(ServerMessage::Ack(Ack { seq: 64 }))));
    json.push((
        "reject".into(),
        server(ServerMessage::Reject(Reject::new(
            65,
            ErrorCode::BadChain,
            "chain does not match the payment history",
        ))),
    ));
    json.push((
        "credit".into(),
        server(ServerMessage::Credit(Credit {
            channel: 9,
            amount: 250,
            received: (1 << 53) + 7,
        })),
    ));
    let receipt = Receipt {
        hub_id,
        epoch: 2,
        channel: 9,
        received: 12_500,
        sig: hub_key.sign(&receipt_message(hub_id, 2, 9, 12_500)),
    };
    json.push((
        "receipt_push".into(),
        server(ServerMessage::Receipt(receipt.clone())),
    ));
    json.push((
        "epoch".into(),
        server(ServerMessage::Epoch(NewEpoch { epoch: 3 })),
    ));
    let status = ChannelStatus {
        channel: payer,
        seq: 8,
        spent,
        chain,
        deposit: 1_000_000,
        received: 0,
        balance: 1_000_000 - spent,
        exiting: false,
    };
    for (name, reply) in [
        ("status_result", Reply::Status(status)),
        ("receipt_result", Reply::Receipt(receipt)),
        (
            "subscribed_result",
            Reply::Subscribed(Subscribed {
                channel: 9,
                received: 12_500,
            }),
        ),
        ("pong", Reply::Pong),
    ] {
        json.push((
            name.into(),
            server(ServerMessage::Response {
                id: Id::Num(7),
                result: Ok(reply),
            }),
        ));
    }
    json.push((
        "error_response".into(),
        server(ServerMessage::Response {
            id: Id::Null,
            result: Err(RpcError::new(
                ErrorCode::NotAuthenticated,
                "say hello first",
            )),
        }),
    ));

    // Binary: pay frames (every flag combination, one voucher; the whole run; the
    // largest seq), ack, reject.
    for flags in 0..8u8 {
        let v = &vouchers[(flags as usize).min(vouchers.len() - 1)];
        let v = VoucherIn {
            spent: (flags & FLAG_SPENT != 0).then_some(v.spent.unwrap_or(1)),
            chain: (flags & FLAG_CHAIN != 0).then_some(v.chain.unwrap_or(chain)),
            sig: (flags & FLAG_SIG != 0)
                .then(|| v.sig.unwrap_or_else(|| key.sign(&Fe::from(flags as u64)))),
            ..v.clone()
        };
        let mut out = Vec::new();
        encode_pay_frame(&[v], &mut out).expect("one voucher");
        binary.push((format!("pay_flags_{flags}"), out));
    }
    let mut out = Vec::new();
    encode_pay_frame(&vouchers, &mut out).expect("a run");
    binary.push(("pay_run".into(), out));
    let mut out = Vec::new();
    channel::codec::encode_pay_frame_with(&vouchers, channel::codec::SigForm::Point, &mut out)
        .expect("a run, signatures as points");
    binary.push(("pay_run_point_sigs".into(), out));
    let mut out = Vec::new();
    encode_pay_frame(
        &[VoucherIn {
            seq: u64::MAX,
            ..big
        }],
        &mut out,
    )
    .expect("max seq");
    binary.push(("pay_max_seq".into(), out));
    let mut out = Vec::new();
    encode_ack_frame(64, &mut out);
    binary.push(("ack".into(), out));
    let mut out = Vec::new();
    encode_reject_frame(
        65,
        ErrorCode::PendingLimit,
        "pending voucher limit reached; send a signed checkpoint",
        &mut out,
    );
    binary.push(("reject".into(), out));
    let mut out = Vec::new();
    encode_reject_frame(1, ErrorCode::BadSeq, "", &mut out);
    binary.push(("reject_empty".into(), out));
    (json, binary)
}

#[test]
#[ignore = "writes fuzz/corpus; run with ZKHUB_FUZZ_WRITE_CORPUS=1 and --ignored"]
fn write_seed_corpus() {
    if std::env::var("ZKHUB_FUZZ_WRITE_CORPUS").is_err() {
        return;
    }
    let (json, binary) = seed_messages();
    for (kind, files) in [
        (
            "json",
            json.into_iter()
                .map(|(n, t)| (format!("{n}.json"), t.into_bytes()))
                .collect::<Vec<_>>(),
        ),
        (
            "binary",
            binary
                .into_iter()
                .map(|(n, b)| (format!("{n}.bin"), b))
                .collect(),
        ),
    ] {
        let dir = corpus_dir(kind);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
}

#[test]
fn the_committed_corpus_holds_every_generated_seed() {
    let (json, binary) = seed_messages();
    // (The PROTOCOL.md examples may change with the document; the generated seeds
    // must not change without regenerating.)
    let on_disk_json = read_corpus("json");
    for (name, text) in json.into_iter().filter(|(n, _)| !n.starts_with("doc_")) {
        assert!(
            on_disk_json.contains(&text.clone().into_bytes()),
            "seed {name} missing from fuzz/corpus/json (regenerate: see the module docs)"
        );
    }
    let on_disk_binary = read_corpus("binary");
    for (name, bytes) in binary {
        assert!(
            on_disk_binary.contains(&bytes),
            "seed {name} missing from fuzz/corpus/binary"
        );
    }
}
