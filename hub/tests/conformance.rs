//! What an independent client written from docs/PROTOCOL.md found (issue 19), each
//! against a real hub on loopback over real WebSockets:
//!
//! - a *different* voucher at a seq the hub already holds is refused with `Conflict`
//!   (1023), never acked or dropped silently, and a re-ack carries the committed head
//!   (`spent`, `chain`) so a client can compare (§7);
//! - an exit rejects the unsigned vouchers still staged, from the first dropped seq
//!   (1011, §9), without the client sending anything more;
//! - documented close codes arrive as sent (1009 for oversize input, 4004 for a burst
//!   past the outbound queue), not as 1006 after a TCP reset (§9, §10);
//! - `/v1/channels/{id}` writes `pending_amount` as §2 says (a number up to 2^53 − 1);
//! - a binary pay frame before `hello` gets a binary reject with code 1012 (§6).

mod server_util;

use channel::codec::{
    CloseCode, ErrorCode, Reack, ServerFrame, ServerMessage, decode_server_binary, encode_pay_frame,
};
use channel::crypto::PrivateKey;
use channel::types::{ChannelId, VoucherIn};
use futures_util::SinkExt;
use server_util::{Client, In, Payer, TestHub, http_get};
use tokio_tungstenite::tungstenite::Message;

/// Alice (1,000 deposited) in a session after `hello`, her payer, and Bob (10), whom
/// she pays in every test: `(session, payer, alice, alice's key, bob)`.
async fn alice_pays_bob(hub: &TestHub) -> (Client, Payer, ChannelId, PrivateKey, ChannelId) {
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let p = Payer::new(alice, alice_key.clone(), hub.hub_id());
    (c, p, alice, alice_key, bob)
}

/// The next re-ack (a text `ack` carrying the committed head), skipping other messages.
async fn await_reack(c: &mut Client) -> Reack {
    loop {
        match c.recv().await {
            In::Msg(ServerMessage::Reack(r)) => return r,
            In::Closed(close) => panic!("closed while waiting for a re-ack: {close:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_voucher_at_the_committed_head_is_refused_with_conflict() {
    let hub = TestHub::start().await;
    let (mut c, mut p, alice, alice_key, bob) = alice_pays_bob(&hub).await;
    let (carol, _) = hub.open(3, 10).await;
    let sent = p.run(bob, 5, 3, 3);
    c.pay_json(alice, &sent).await;
    c.await_ack(3).await;

    // A diverged client: same seqs 1..3, validly signed, but seq 3 pays carol 7.
    let mut diverged = Payer::new(alice, alice_key, hub.hub_id());
    let mut other = diverged.run(bob, 5, 2, 2);
    other.push(diverged.next(carol, 7, true));
    c.pay_json(alice, &other[2..]).await;
    assert_eq!(
        c.await_reject().await,
        (3, ErrorCode::Conflict.as_i32()),
        "a different voucher at the committed head is refused"
    );
    // The same voucher signed but without `spent` and `chain` (the hub derives them
    // for a new seq): told apart by its signature, binary this time.
    let mut bare = other[2].clone();
    bare.spent = None;
    bare.chain = None;
    c.pay_binary(&[bare]).await;
    assert_eq!(c.await_reject().await, (3, ErrorCode::Conflict.as_i32()));

    // The identical resend, and a resend of an older seq, are re-acked with the
    // committed head, as text even on a session that went binary.
    let head = Reack {
        seq: 3,
        spent: 15,
        chain: sent[2].chain.expect("chain"),
    };
    c.pay_binary(&sent[2..]).await;
    assert_eq!(await_reack(&mut c).await, head);
    c.pay_json(alice, &sent[..1]).await;
    assert_eq!(await_reack(&mut c).await, head);

    let record = hub.handle.channels().record(alice).expect("alice");
    assert_eq!((record.seq, record.spent), (3, 15), "nothing re-applied");
    assert_eq!(
        hub.handle.channels().record(carol).expect("carol").received,
        0
    );
    assert_eq!(hub.handle.metrics().refused_with(ErrorCode::Conflict), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_voucher_at_a_staged_seq_is_refused_not_dropped() {
    let hub = TestHub::start().await;
    let (mut c, mut p, alice, _, bob) = alice_pays_bob(&hub).await;
    // Two unsigned vouchers: staged, not covered.
    let staged = [p.next(bob, 3, false), p.next(bob, 4, false)];
    c.pay_json(alice, &staged).await;

    // Seq 2 again with another amount: refused, whether `spent`/`chain` are sent or not.
    let mut changed = staged[1].clone();
    changed.amount = 40;
    changed.spent = None;
    changed.chain = None;
    c.pay_json(alice, std::slice::from_ref(&changed)).await;
    assert_eq!(c.await_reject().await, (2, ErrorCode::Conflict.as_i32()));

    // The identical resend is ignored (its ack follows the covering checkpoint).
    c.pay_json(alice, &staged[1..]).await;
    c.pay_json(alice, &[p.next(bob, 5, true)]).await;
    let (acked, seen) = c.await_ack(3).await;
    assert_eq!(acked, 3);
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, ServerMessage::Reject(_) | ServerMessage::Reack(_))),
        "an identical staged resend is neither refused nor re-acked: {seen:?}"
    );
    assert_eq!(
        hub.handle.channels().record(alice).expect("alice").spent,
        12
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_rejects_staged_unsigned_vouchers_from_the_first_dropped_seq() {
    let hub = TestHub::start().await;
    let (mut c, mut p, alice, alice_key, bob) = alice_pays_bob(&hub).await;
    c.pay_json(alice, &p.run(bob, 1, 2, 2)).await;
    c.await_ack(2).await;
    // Seqs 3 and 4 unsigned: staged, waiting for a checkpoint that will never come.
    c.pay_json(alice, &[p.next(bob, 1, false), p.next(bob, 1, false)])
        .await;
    let ping = c.request(channel::codec::Request::Ping).await;
    assert!(ping.1.is_empty(), "nothing refused before the exit");

    let sig = alice_key.sign(&channel::settlement::exit_message(hub.hub_id(), alice));
    hub.handle.operator().exit(alice, &sig).await.expect("exit");
    assert_eq!(
        c.await_reject().await,
        (3, ErrorCode::ChannelExiting.as_i32()),
        "the exit names the first dropped seq"
    );
    assert_eq!(
        hub.handle
            .channels()
            .with_channel_ref(alice, |c| c.pending_count()),
        Some(0)
    );
    assert_eq!(hub.handle.channels().record(alice).expect("alice").seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_input_always_closes_with_1009() {
    let hub = TestHub::start().await;
    // Sixteen times the 1 MiB limit: the client is still sending when the hub closes.
    let big = "x".repeat(16 << 20);
    for round in 0..8 {
        let mut c = Client::connect(&hub.url()).await;
        // The whole message goes out: the hub drains it rather than resetting the
        // connection under the sender (which many clients report as 1006).
        let sent = c.ws.send(Message::Text(big.clone().into())).await;
        assert!(sent.is_ok(), "round {round}: send failed: {sent:?}");
        let close = c.await_close().await;
        assert_eq!(
            close.map(|c| c.0),
            Some(CloseCode::TooLarge.as_u16()),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_burst_past_the_outbound_queue_closes_with_4004() {
    let hub = TestHub::start_with(|c| c.limits.outbound_queue = 64).await;
    // A client can learn the queue's size (PROTOCOL.md §11).
    let (_, info) = http_get(hub.handle.local_addr(), "/v1/info").await;
    let info: serde_json::Value = serde_json::from_str(&info).expect("json");
    assert_eq!(info["limits"]["outbound_queue"], 64);
    let mut c = Client::connect(&hub.url()).await;
    // 200,000 pings (10 MB) without reading: far more than the queue holds, and the
    // client is still sending when the hub closes.
    for id in 0..200_000 {
        let ping = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let fed = c.ws.feed(Message::Text(ping.into())).await;
        assert!(fed.is_ok(), "ping {id}: send failed: {fed:?}");
    }
    let flushed = c.ws.flush().await;
    assert!(flushed.is_ok(), "send failed: {flushed:?}");
    let mut answered = 0;
    let close = loop {
        match c.recv().await {
            In::Msg(ServerMessage::Response { .. }) => answered += 1,
            In::Closed(close) => break close,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        close.map(|c| c.0),
        Some(CloseCode::SlowReader.as_u16()),
        "after {answered} answers"
    );
    assert!(answered < 200_000, "the burst was cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_route_writes_pending_amount_as_a_number() {
    let hub = TestHub::start().await;
    let (mut c, mut p, alice, _, bob) = alice_pays_bob(&hub).await;
    c.pay_json(alice, &[p.next(bob, 9, false)]).await;
    let _ = c.request(channel::codec::Request::Ping).await; // the pay was read before this

    let (status, body) = http_get(hub.handle.local_addr(), &format!("/v1/channels/{alice}")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["pending_amount"], serde_json::json!(9), "{body}");
    assert_eq!(json["pending_count"], serde_json::json!(1), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_pay_before_hello_gets_a_binary_reject_1012() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;
    let voucher: VoucherIn = Payer::new(alice, alice_key, hub.hub_id()).next(bob, 1, true);
    let mut frame = Vec::new();
    encode_pay_frame(&[voucher], &mut frame).expect("encode");
    c.send_binary(frame).await;
    match c.recv().await {
        In::Binary(b) => match decode_server_binary(&b).expect("a reject frame") {
            ServerFrame::Reject { seq, code, .. } => {
                assert_eq!((seq, code), (1, ErrorCode::NotAuthenticated.as_i32()));
            }
            other => panic!("expected a reject, got {other:?}"),
        },
        other => panic!("expected a binary frame, got {other:?}"),
    }
}
