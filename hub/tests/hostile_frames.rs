//! Hostile framing: frames and messages over the limits (announced, sent, or built
//! from fragments), and floods of tiny frames (pings, pongs, empty messages, and pay
//! frames past the rate limit). Each offender is closed or refused within a bound;
//! the hub never allocates what a header merely announces, a well-behaved payer keeps
//! getting acks, and memory stays bounded.

mod hostile_common;
mod server_util;

use std::time::Duration;

use channel::codec::CloseCode;
use channel::codec::{ClientMessage, ErrorCode, Id, Request, ServerMessage};
use hostile_common::{
    Bystander, await_raw_close, closed_for, frame, frame_header, raw_upgraded, rss_kib, serial,
};
use server_util::{Client, In, Payer, TestHub};
use tokio::io::AsyncWriteExt;

const LIMIT: usize = 64 << 10;

async fn hub() -> TestHub {
    TestHub::start_with(|c| {
        c.limits.max_frame_bytes = LIMIT;
        c.limits.max_message_bytes = LIMIT;
        c.limits.rate_per_sec = 1_000;
        c.limits.rate_burst = 2_000;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_frames_and_messages_are_closed_without_being_buffered() {
    let _serial = serial().await;
    let hub = hub().await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;
    let rss_before = rss_kib();
    let t0 = std::time::Instant::now();

    // 1. Headers announcing huge payloads (up to 2^63 − 1 bytes) that never come:
    //    refused on the header, before any buffer is reserved.
    for len in [LIMIT as u64 + 1, 1 << 32, i64::MAX as u64] {
        for _ in 0..50 {
            let mut s = raw_upgraded(addr).await;
            s.write_all(&frame_header(true, 0x2, len, [9, 9, 9, 9]))
                .await
                .expect("write header");
            let (closed, code) = await_raw_close(&mut s, Duration::from_secs(3)).await;
            assert!(closed, "announced {len} bytes and stayed open");
            assert_eq!(
                code,
                Some(CloseCode::TooLarge.as_u16()),
                "announced {len} bytes"
            );
        }
    }

    // 2. A whole frame one byte over the limit.
    let mut s = raw_upgraded(addr).await;
    s.write_all(&frame(true, 0x2, &vec![7u8; LIMIT + 1]))
        .await
        .expect("write");
    let (closed, code) = await_raw_close(&mut s, Duration::from_secs(3)).await;
    assert!(
        closed && code == Some(CloseCode::TooLarge.as_u16()),
        "oversize frame: {code:?}"
    );

    // 3. A message over the limit built from fragments each well under it.
    let mut s = raw_upgraded(addr).await;
    let chunk = vec![b'a'; 4096];
    let mut fragments = frame(false, 0x1, &chunk);
    for _ in 0..(2 * LIMIT / chunk.len()) {
        fragments.extend(frame(false, 0x0, &chunk));
    }
    fragments.extend(frame(true, 0x0, &chunk));
    // The hub may close mid-stream; a failed write is part of the expected outcome.
    let _ = s.write_all(&fragments).await;
    let (closed, code) = await_raw_close(&mut s, Duration::from_secs(3)).await;
    assert!(
        closed && code == Some(CloseCode::TooLarge.as_u16()),
        "fragmented oversize: {code:?}"
    );

    // 4. Control frames may not exceed 125 bytes or be fragmented: protocol errors.
    let mut s = raw_upgraded(addr).await;
    s.write_all(&frame(true, 0x9, &[0u8; 126]))
        .await
        .expect("write");
    let (closed, code) = await_raw_close(&mut s, Duration::from_secs(3)).await;
    assert!(
        closed && code == Some(CloseCode::Protocol.as_u16()),
        "oversize ping: {code:?}"
    );
    let mut s = raw_upgraded(addr).await;
    s.write_all(&frame(false, 0x9, b"x")).await.expect("write");
    let (closed, code) = await_raw_close(&mut s, Duration::from_secs(3)).await;
    assert!(
        closed && code == Some(CloseCode::Protocol.as_u16()),
        "fragmented ping: {code:?}"
    );

    // Size limits close 1009; control-frame violations are protocol errors (1002).
    assert_eq!(closed_for(&hub, CloseCode::TooLarge), 152);
    assert_eq!(closed_for(&hub, CloseCode::Protocol), 2);
    let grown = rss_kib().saturating_sub(rss_before);
    // 154 connections at ~140 KiB each (see hostile_idle.rs), plus the one 64 KiB
    // message: nothing near what the headers announced.
    assert!(grown < 64 << 10, "RSS grew by {grown} KiB");
    let report = bystander.finish().await;
    eprintln!(
        "oversize attacks took {:?}; bystander {report:?}",
        t0.elapsed()
    );
    report.assert_served(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_tiny_frames_are_bounded() {
    let _serial = serial().await;
    let hub = hub().await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;
    let rss_before = rss_kib();

    // 1. 200,000 empty pings and unsolicited pongs, never reading the answers. Pongs
    //    owed are coalesced (one pending at a time), so the hub's cost is bounded
    //    whatever the peer sends; the peer is throttled by TCP, not by hub memory.
    let mut s = raw_upgraded(addr).await;
    let ping = frame(true, 0x9, b"");
    let pong = frame(true, 0xA, b"");
    let mut burst = Vec::with_capacity(1000 * (ping.len() + pong.len()));
    for _ in 0..1000 {
        burst.extend_from_slice(&ping);
        burst.extend_from_slice(&pong);
    }
    let mut sent = 0usize;
    let flood = async {
        for _ in 0..100 {
            if s.write_all(&burst).await.is_err() {
                break;
            }
            sent += 2000;
        }
    };
    // Stop after 5 s if TCP back-pressure stalls the writer (we never read).
    let _ = tokio::time::timeout(Duration::from_secs(5), flood).await;
    assert!(sent > 0, "the flood could not start");

    // 2. 20,000 empty text messages: each is answered with a parse error, which this
    //    peer reads, so it stays connected and served.
    let (payer_channel, payer_key) = hub.open(7, 1_000_000).await;
    let (payee, _) = hub.open(8, 1).await;
    let mut noisy = Client::connect(&hub.url()).await;
    let mut parse_errors = 0;
    for round in 0..40 {
        for _ in 0..500 {
            noisy.send_text("").await;
        }
        let answers = drain_until_pong(&mut noisy, round).await;
        for a in answers {
            match a {
                In::Msg(ServerMessage::Response { result: Err(e), .. }) => {
                    assert_eq!(e.error_code(), Some(ErrorCode::ParseError));
                    parse_errors += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(parse_errors, 20_000);

    // 3. Tiny pay frames past the rate limit (1,000/s, burst 2,000): the same pending
    //    voucher resent 20,000 times. Admission costs tokens; past the burst each frame
    //    is refused with RateLimited and admits nothing.
    noisy
        .hello(payer_channel, &payer_key)
        .await
        .expect("hello after the noise");
    let mut payer = Payer::new(payer_channel, payer_key, hub.hub_id());
    let v = payer.next(payee, 1, false);
    let mut one = Vec::new();
    channel::codec::encode_pay_frame(std::slice::from_ref(&v), &mut one).expect("encode");
    let t0 = std::time::Instant::now();
    let mut limited = 0u64;
    for round in 0..40 {
        for _ in 0..500 {
            noisy.send_binary(one.clone()).await;
        }
        for a in drain_until_pong(&mut noisy, 1000 + round).await {
            let In::Binary(b) = a else {
                panic!("unexpected {a:?}");
            };
            match channel::codec::decode_server_binary(&b).expect("frame") {
                channel::codec::ServerFrame::Reject { code, .. } => {
                    assert_eq!(code, ErrorCode::RateLimited as i32);
                    limited += 1;
                }
                f => panic!("unexpected {f:?}"),
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let allowed = 2_000.0 + 1_000.0 * elapsed + 1.0;
    let admitted = 20_000.0 - limited as f64;
    assert!(
        admitted <= allowed,
        "{admitted} frames admitted in {elapsed:.2} s"
    );
    assert!(limited > 0);
    // The resends admitted nothing new: the one pending voucher plus a checkpoint
    // commit exactly two payments.
    tokio::time::sleep(Duration::from_secs(2)).await; // let the bucket refill
    let v2 = payer.next(payee, 1, true);
    noisy.pay_json(payer_channel, &[v2]).await;
    let (acked, _) = noisy.await_ack(2).await;
    assert_eq!(acked, 2);
    assert_eq!(
        hub.handle.channels().record(payee).expect("payee").received,
        2
    );

    // The ping flooder may still be connected or may have been cut off; the hub is up.
    let (health, _) = server_util::http_get(addr, "/healthz").await;
    assert_eq!(health, 200);
    drop(s);
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 << 10, "RSS grew by {grown} KiB");
    let report = bystander.finish().await;
    report.assert_served(10);
    eprintln!(
        "ping/pong frames sent: {sent}; rate-limited pay frames: {limited}; RSS +{grown} KiB; \
         bystander max ack latency {:?}",
        report.max_latency
    );
}

/// Send a `ping` request with id `id` and collect everything received before its
/// response (answered `pong`, or refused by the rate limit: either way it comes after
/// the answers to everything sent before it).
async fn drain_until_pong(client: &mut Client, id: i64) -> Vec<In> {
    client
        .send(&ClientMessage::Request {
            id: Id::Num(id),
            request: Request::Ping,
        })
        .await;
    let mut before = Vec::new();
    loop {
        match client.recv().await {
            In::Msg(ServerMessage::Response { id: got, .. }) if got == Id::Num(id) => {
                return before;
            }
            In::Closed(c) => panic!("closed: {c:?}"),
            other => before.push(other),
        }
    }
}
