//! Clients that never read what the hub pushes to them: a read-only dashboard
//! subscribed to 64 busy payees, and a payee's own bound session, both with a tiny
//! socket receive buffer. Credits for them pile up; the hub must cut them off
//! (`slow_reader`, close code 4004) without slowing the commit path: the payer whose
//! payments produce those credits, and an unrelated bystander, keep getting acks
//! within the bound, and memory stays bounded.

mod hostile_common;
mod server_util;

use std::time::Duration;

use channel::codec::CloseCode;
use channel::codec::{ClientMessage, Id, Request, Subscribe};
use futures_util::{SinkExt, StreamExt};
use hostile_common::{ACK_BOUND, Bystander, closed_for, eventually, rss_kib, serial};
use server_util::{Client, Payer, TestHub, key};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

const PAYEES: usize = 64;
const ROUNDS: usize = 60;

/// A WebSocket client whose socket receive buffer is 4 KiB, so the hub's writes back
/// up after a few KiB instead of after megabytes of kernel buffering.
async fn deaf_client(addr: std::net::SocketAddr) -> (WebSocketStream<TcpStream>, String) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let tcp = socket.connect(addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/v1"), tcp)
        .await
        .expect("upgrade");
    let Some(Ok(Message::Text(challenge))) = ws.next().await else {
        panic!("no challenge");
    };
    (ws, challenge.to_string())
}

/// Send a request and read until its response.
async fn call(ws: &mut WebSocketStream<TcpStream>, id: i64, request: Request) {
    let text = ClientMessage::Request {
        id: Id::Num(id),
        request,
    }
    .to_text();
    ws.send(Message::Text(text.into())).await.expect("send");
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("closed before the response");
        };
        if let Ok(channel::codec::ServerMessage::Response { id: got, result }) =
            channel::codec::ServerMessage::decode(&t)
            && got == Id::Num(id)
        {
            result.expect("request answered");
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_their_credits_are_cut_off_while_payments_flow() {
    let _serial = serial().await;
    let hub = TestHub::start_with(|c| {
        c.limits.outbound_queue = 16;
        c.limits.write_timeout = Duration::from_secs(1);
        c.receipt_interval = Duration::from_millis(100);
    })
    .await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;

    let payee_keys: Vec<_> = (0..PAYEES as u64).map(|i| key(100 + i)).collect();
    let opened = hub
        .handle
        .operator()
        .deposit(
            &payee_keys
                .iter()
                .map(|k| (k.public(), 1))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("payees");
    let payees: Vec<u32> = opened.iter().map(|o| o.channel).collect();
    let (payer_channel, payer_key) = hub.open(2, 1 << 40).await;
    let rss_before = rss_kib();

    // A dashboard watching all 64 payees, and payee 0's own session; neither reads
    // anything after its handshake.
    let (mut dashboard, _) = deaf_client(addr).await;
    for (i, &p) in payees.iter().enumerate() {
        call(
            &mut dashboard,
            i as i64 + 1,
            Request::Subscribe(Subscribe { channel: p }),
        )
        .await;
    }
    let (mut payee_session, challenge) = deaf_client(addr).await;
    let channel::codec::ServerMessage::Challenge(c) =
        channel::codec::ServerMessage::decode(&challenge).expect("challenge")
    else {
        panic!("not a challenge");
    };
    let sig = payee_keys[0].sign(&channel::types::hello_message(
        c.hub_id, &c.nonce, payees[0],
    ));
    call(
        &mut payee_session,
        1,
        Request::Hello(channel::codec::Hello {
            channel: payees[0],
            sig,
        }),
    )
    .await;
    // It watches every payee too (a payee's dashboard of its friends), so that it is
    // pushed as much as the dashboard.
    for (i, &p) in payees.iter().enumerate() {
        call(
            &mut payee_session,
            i as i64 + 2,
            Request::Subscribe(Subscribe { channel: p }),
        )
        .await;
    }

    // The payer pays every payee in each round (one signed voucher per frame), and
    // waits for the round's ack.
    let mut client = Client::connect(&hub.url()).await;
    client
        .hello(payer_channel, &payer_key)
        .await
        .expect("payer hello");
    let mut payer = Payer::new(payer_channel, payer_key, hub.hub_id());
    let mut slowest = Duration::ZERO;
    for _ in 0..ROUNDS {
        let t0 = Instant::now();
        for &p in &payees {
            let v = payer.next(p, 3, true);
            client.pay_binary(std::slice::from_ref(&v)).await;
        }
        tokio::time::timeout(ACK_BOUND, client.await_ack(payer.seq))
            .await
            .unwrap_or_else(|_| panic!("round ending at seq {} not acked in time", payer.seq));
        slowest = slowest.max(t0.elapsed());
    }

    // Both deaf sessions were cut off as slow readers, and nobody else was.
    assert!(
        eventually(Duration::from_secs(5), || closed_for(
            &hub,
            CloseCode::SlowReader
        ) == 2)
        .await,
        "slow readers closed: {}",
        closed_for(&hub, CloseCode::SlowReader)
    );
    // Every payment is durable and credited, whoever failed to read the credits.
    for &p in &payees {
        assert_eq!(
            hub.handle.channels().record(p).expect("payee").received,
            3 * ROUNDS as u64
        );
    }
    // What the deaf sockets still hold is at most what they were sent before the cut.
    for ws in [&mut dashboard, &mut payee_session] {
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            let mut n = 0usize;
            while let Some(Ok(_)) = ws.next().await {
                n += 1;
            }
            n
        })
        .await
        .expect("the hub closed the deaf connection");
        assert!(
            drained < 10_000,
            "{drained} messages were buffered for a deaf peer"
        );
    }
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 64 << 10, "RSS grew by {grown} KiB");
    let report = bystander.finish().await;
    report.assert_served(10);
    eprintln!(
        "{ROUNDS} rounds of {PAYEES} payments; slowest round {slowest:?}; RSS +{grown} KiB; \
         bystander max ack latency {:?}",
        report.max_latency
    );
}

/// The CI failure this guards against: a payer that sends a burst of binary payments
/// before reading gets an ack per committed batch; with a small outbound queue and a
/// writer task not scheduled in time, the queue filled with *its own acks* and the hub
/// closed it as a slow reader. Acks are cumulative, so the hub now coalesces an ack
/// that finds the queue full: the payer keeps its connection and sees the last ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_that_outruns_its_own_acks_is_not_cut_off() {
    let _serial = serial().await;
    let hub = TestHub::start_with(|c| {
        c.limits.outbound_queue = 2;
    })
    .await;
    let (payee_channel, _) = hub.open(7, 1).await;
    let (payer_channel, payer_key) = hub.open(8, 1 << 40).await;
    let mut client = Client::connect(&hub.url()).await;
    client
        .hello(payer_channel, &payer_key)
        .await
        .expect("payer hello");
    let mut payer = Payer::new(payer_channel, payer_key, hub.hub_id());
    const BURST: u64 = 2_000;
    for _ in 0..BURST {
        let v = payer.next(payee_channel, 1, true);
        client.pay_binary(std::slice::from_ref(&v)).await;
    }
    let (seq, _) = tokio::time::timeout(ACK_BOUND, client.await_ack(payer.seq))
        .await
        .expect("the burst's last ack in time");
    assert_eq!(seq, payer.seq);
    assert_eq!(closed_for(&hub, CloseCode::SlowReader), 0);
    assert_eq!(
        hub.handle
            .channels()
            .record(payee_channel)
            .expect("payee")
            .received,
        BURST
    );
}
