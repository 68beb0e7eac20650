//! Wire codec throughput: JSON `pay` (one voucher, pending and signed), binary pay
//! frames of 64 vouchers (per-voucher cost reported via `Throughput::Elements`), and
//! ack frames in both encodings.
//!
//! Run: `cargo bench -p benches --bench codec`.

use channel::codec::{
    Ack, ClientMessage, Pay, PayVoucher, ServerMessage, TextLimits, decode_pay_frame,
    decode_server_binary, encode_ack_frame, encode_pay_frame,
};
use channel::crypto::{PrivateKey, chain_next};
use channel::field::Fe;
use channel::types::{VoucherIn, voucher_message};
use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};

const HUB_ID: u64 = 1;
const CHANNEL: u32 = 3;

/// 64 consecutive vouchers from seq 1, `spent`/`chain` omitted, the last one signed.
fn run_of_64(signed_last: bool) -> Vec<VoucherIn> {
    let key = PrivateKey([7; 32]);
    let (mut spent, mut chain) = (0u64, Fe::from(0u64));
    (1..=64u64)
        .map(|seq| {
            let amount = 10 + seq % 7;
            spent += amount;
            chain = chain_next(&chain, seq, 9, amount);
            let sig = (signed_last && seq == 64)
                .then(|| key.sign(&voucher_message(HUB_ID, CHANNEL, seq, spent, &chain)));
            VoucherIn {
                seq,
                to: 9,
                amount,
                spent: None,
                chain: None,
                sig,
            }
        })
        .collect()
}

fn json_pay(c: &mut Criterion) {
    let key = PrivateKey([7; 32]);
    let chain = chain_next(&Fe::from(0u64), 1, 9, 250);
    let pending = PayVoucher {
        channel: CHANNEL,
        seq: 1,
        spent: Some(250),
        to: 9,
        amount: 250,
        chain: Some(chain),
        sig: None,
    };
    let signed = PayVoucher {
        sig: Some(key.sign(&voucher_message(HUB_ID, CHANNEL, 1, 250, &chain))),
        ..pending.clone()
    };
    let mut g = c.benchmark_group("codec/json_pay_1");
    for (name, v) in [("pending", pending), ("signed", signed)] {
        let msg = ClientMessage::Pay(Pay { vouchers: vec![v] });
        let text = msg.to_text();
        let mut buf = Vec::with_capacity(512);
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).encode(&mut buf);
                black_box(buf.len())
            })
        });
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| ClientMessage::decode(black_box(&text), &TextLimits::DEFAULT).unwrap())
        });
    }
    g.finish();
}

fn binary_pay(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec/binary_pay_64");
    g.throughput(Throughput::Elements(64));
    for (name, vouchers) in [
        ("unsigned", run_of_64(false)),
        ("last_signed", run_of_64(true)),
    ] {
        let mut frame = Vec::with_capacity(2048);
        encode_pay_frame(&vouchers, &mut frame).unwrap();
        let mut buf = Vec::with_capacity(2048);
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| {
                buf.clear();
                encode_pay_frame(black_box(&vouchers), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        let mut out = Vec::with_capacity(64);
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| {
                decode_pay_frame(black_box(&frame), 4096, &mut out).unwrap();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn acks(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec/ack");
    let mut buf = Vec::with_capacity(64);
    g.bench_function("binary_encode", |b| {
        b.iter(|| {
            buf.clear();
            encode_ack_frame(black_box(123_456_789), &mut buf);
            black_box(buf.len())
        })
    });
    let mut frame = Vec::new();
    encode_ack_frame(123_456_789, &mut frame);
    g.bench_function("binary_decode", |b| {
        b.iter(|| decode_server_binary(black_box(&frame)).unwrap())
    });
    let msg = ServerMessage::Ack(Ack { seq: 123_456_789 });
    g.bench_function("json_encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&msg).encode(&mut buf);
            black_box(buf.len())
        })
    });
    let text = msg.to_text();
    g.bench_function("json_decode", |b| {
        b.iter(|| ServerMessage::decode(black_box(&text)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = json_pay, binary_pay, acks
}
criterion_main!(benches);
