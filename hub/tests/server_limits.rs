//! Limits protect the hub from its peers and each peer from the others: oversize and
//! malformed input, silent and slow peers are closed (with a reason), while every
//! other session keeps paying; the connection limit refuses upgrades; a thousand
//! concurrent clients each get their payment acked.

mod server_util;

use std::time::Duration;

use channel::codec::{CloseCode, Reply, Request};
use futures_util::SinkExt;
use server_util::{Client, Payer, TestHub, key};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

/// A bystander that pays one signed voucher and must get its ack.
async fn bystander_pays(hub: &TestHub, client: &mut Client, payer: &mut Payer, to: u32) {
    let v = payer.next(to, 1, true);
    client.pay_json(payer.channel, &[v]).await;
    client.await_ack(payer.seq).await;
    let _ = hub;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_garbage_close_only_the_offender() {
    let hub = TestHub::start_with(|c| {
        c.limits.max_frame_bytes = 64 << 10;
        c.limits.max_message_bytes = 64 << 10;
    })
    .await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut good = Client::connect(&hub.url()).await;
    good.hello(alice, &alice_key).await.expect("hello");
    let mut payer = Payer::new(alice, alice_key, hub.hub_id());

    // An oversize text message: closed with 1009.
    let mut big = Client::connect(&hub.url()).await;
    big.ws
        .send(Message::Text("x".repeat(100 << 10).into()))
        .await
        .expect("send");
    let close = big.await_close().await;
    assert_eq!(
        close.map(|c| c.0),
        Some(CloseCode::TooLarge.as_u16()),
        "oversize closes with 1009"
    );
    bystander_pays(&hub, &mut good, &mut payer, bob).await;

    // Garbage WebSocket framing (an unmasked frame with a reserved opcode).
    let mut garbage = Client::connect(&hub.url()).await;
    let tcp = match garbage.ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("plain TCP"),
    };
    tcp.write_all(&[0xF3, 0x05, 1, 2, 3, 4, 5, 0xFF, 0xFF, 0xFF])
        .await
        .expect("write garbage");
    tcp.flush().await.expect("flush");
    let close = garbage.await_close().await;
    assert!(
        close
            .as_ref()
            .is_none_or(|c| c.0 == CloseCode::Protocol.as_u16()),
        "protocol violation closes: {close:?}"
    );
    bystander_pays(&hub, &mut good, &mut payer, bob).await;

    // Garbage text and binary *messages* are answered, not fatal.
    let mut noisy = Client::connect(&hub.url()).await;
    noisy.send_text("\u{1F4A9} not json").await;
    noisy.send_binary(vec![0; 17]).await;
    let (result, _) = noisy.request(Request::Ping).await;
    assert!(matches!(result, Ok(Reply::Pong)));
    bystander_pays(&hub, &mut good, &mut payer, bob).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_closed_by_the_handshake_and_idle_timeouts() {
    let hub = TestHub::start_with(|c| {
        c.limits.handshake_timeout = Duration::from_millis(300);
        c.limits.idle_timeout = Duration::from_millis(600);
    })
    .await;
    let (alice, alice_key) = hub.open(1, 1_000).await;

    let mut silent = Client::connect(&hub.url()).await;
    let close = silent.await_close().await;
    assert_eq!(
        close.map(|c| c.0),
        Some(CloseCode::HandshakeTimeout.as_u16()),
        "handshake timeout"
    );

    let mut idle = Client::connect(&hub.url()).await;
    idle.hello(alice, &alice_key).await.expect("hello");
    let close = idle.await_close().await;
    assert_eq!(
        close.map(|c| c.0),
        Some(CloseCode::Idle.as_u16()),
        "idle timeout"
    );
    assert!(
        hub.handle
            .metrics()
            .render()
            .contains("zkhub_sessions_closed_total{reason=\"idle\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_while_others_keep_going() {
    let hub = TestHub::start_with(|c| {
        c.limits.outbound_queue = 8;
        c.limits.write_timeout = Duration::from_secs(1);
    })
    .await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, bob_key) = hub.open(2, 10).await;
    let mut good = Client::connect(&hub.url()).await;
    good.hello(alice, &alice_key).await.expect("hello");
    let mut payer = Payer::new(alice, alice_key, hub.hub_id());

    let mut deaf = Client::connect(&hub.url()).await;
    deaf.hello(bob, &bob_key).await.expect("hello");
    // Requests whose answers the client never reads, until the hub gives up on it.
    let status = Message::Text(
        channel::codec::ClientMessage::Request {
            id: channel::codec::Id::Num(7),
            request: Request::Status,
        }
        .to_text()
        .into(),
    );
    let mut sent = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let feed =
            tokio::time::timeout(Duration::from_millis(200), deaf.ws.feed(status.clone())).await;
        match feed {
            Ok(Ok(())) => sent += 1,
            Ok(Err(_)) => break, // the hub closed the connection
            Err(_) => {}         // our own send buffer is full; keep trying
        }
        if sent.is_multiple_of(1024)
            && tokio::time::timeout(Duration::from_millis(200), deaf.ws.flush())
                .await
                .is_ok_and(|r| r.is_err())
        {
            break;
        }
        if hub
            .handle
            .metrics()
            .render()
            .contains("zkhub_sessions_closed_total{reason=\"slow_reader\"} 1")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deaf client was never disconnected ({sent} sent)"
        );
    }
    // Meanwhile (and after) the other session is served.
    bystander_pays(&hub, &mut good, &mut payer, bob).await;
    let rendered = hub.handle.metrics().render();
    assert!(
        rendered.contains("zkhub_sessions_closed_total{reason=\"slow_reader\"} 1"),
        "{sent} sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_refuses_upgrades() {
    let hub = TestHub::start_with(|c| c.limits.max_connections = 2).await;
    let _a = Client::connect(&hub.url()).await;
    let _b = Client::connect(&hub.url()).await;
    let third = tokio_tungstenite::connect_async(hub.url()).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        hub.handle
            .metrics()
            .connections_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_clients_each_get_their_ack() {
    const CLIENTS: usize = 1000;
    let hub = TestHub::start().await;
    let (payee, _) = hub.open(0, 1).await;
    let keys: Vec<_> = (1..=CLIENTS as u64).map(key).collect();
    let deposits: Vec<_> = keys.iter().map(|k| (k.public(), 100)).collect();
    let opened = hub
        .handle
        .operator()
        .deposit(&deposits)
        .await
        .expect("deposits");
    let url = hub.url();
    let mut tasks = tokio::task::JoinSet::new();
    let mut clients = Vec::with_capacity(CLIENTS);
    // Connect everyone first: all sessions are open at once.
    for (d, k) in opened.iter().zip(keys) {
        let mut c = Client::connect(&url).await;
        c.hello(d.channel, &k).await.expect("hello");
        clients.push((c, Payer::new(d.channel, k, 1)));
    }
    assert_eq!(
        hub.handle
            .metrics()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        CLIENTS as i64
    );
    for (mut c, mut p) in clients {
        tasks.spawn(async move {
            let v = p.next(payee, 3, true);
            c.pay_json(p.channel, &[v]).await;
            c.await_ack(1).await.0
        });
    }
    let mut acked = 0;
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.expect("client task"), 1);
        acked += 1;
    }
    assert_eq!(acked, CLIENTS);
    assert_eq!(
        hub.handle.channels().record(payee).expect("payee").received,
        3 * CLIENTS as u64
    );
}
