//! Hostile clients that never finish the handshake (slowloris): WebSocket connections
//! that never send `hello` or `subscribe`, connections that trickle a frame one byte
//! at a time, and HTTP requests whose headers never end. Each is closed within a bound
//! while a well-behaved client keeps getting its payments acked, and memory stays
//! bounded.

mod hostile_common;
mod server_util;

use std::time::Duration;

use channel::codec::CloseCode;
use hostile_common::{
    Bystander, await_raw_close, closed_for, connections, eventually, frame_header, raw_upgraded,
    rss_kib, serial,
};
use server_util::TestHub;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

const HANDSHAKE: Duration = Duration::from_millis(800);
/// Memory a connection may cost while it is held (KiB): generous over the ~130 KiB
/// measured (see the RSS note in the test).
const PER_CONNECTION_KIB: u64 = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_say_hello_are_closed_at_the_handshake_timeout() {
    let _serial = serial().await;
    const SILENT: usize = 400;
    const TRICKLE: usize = 100;
    let hub = TestHub::start_with(|c| c.limits.handshake_timeout = HANDSHAKE).await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;
    let rss_before = rss_kib();
    let started = Instant::now();

    // Upgraded, then never a byte.
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(raw_upgraded(addr).await);
    }
    // Upgraded, then a text frame announcing 1,000 bytes, sent one byte every 100 ms:
    // the hub never sees a whole message. Each task reports when its writes failed.
    let mut trickle = tokio::task::JoinSet::new();
    for _ in 0..TRICKLE {
        let mut s = raw_upgraded(addr).await;
        trickle.spawn(async move {
            let t0 = Instant::now();
            let mut bytes = frame_header(true, 0x1, 1000, [1, 2, 3, 4]);
            bytes.resize(1000 + bytes.len(), b'x');
            for b in bytes {
                if s.write_all(&[b]).await.is_err() {
                    return t0.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the hub read a whole trickled frame without closing");
        });
    }
    let peak = connections(&hub);
    assert!(
        peak > (SILENT + TRICKLE) as i64 / 2,
        "the attack connections were open at once ({peak})"
    );

    // All of them are closed by the handshake timeout; only the bystander is left.
    let bound = HANDSHAKE + Duration::from_secs(4);
    assert!(
        eventually(bound, || connections(&hub) == 1).await,
        "still {} sessions {:?} after the attack began",
        connections(&hub),
        started.elapsed()
    );
    assert_eq!(
        closed_for(&hub, CloseCode::HandshakeTimeout),
        (SILENT + TRICKLE) as u64
    );
    for s in &mut silent {
        let (closed, code) = await_raw_close(s, Duration::from_secs(2)).await;
        assert!(closed, "a silent connection was left open");
        assert_eq!(
            code,
            Some(CloseCode::HandshakeTimeout.as_u16()),
            "closed with the handshake-timeout code"
        );
    }
    while let Some(elapsed) = trickle.join_next().await {
        let elapsed = elapsed.expect("trickle task");
        assert!(
            elapsed < HANDSHAKE + Duration::from_secs(4),
            "a trickling peer was cut off only after {elapsed:?}"
        );
    }
    drop(silent);

    // Memory is bounded per connection ever held, not per byte an attacker sends. Most
    // of it is tungstenite's 128 KiB read buffer per socket (the hub leaves
    // `read_buffer_size` at its default), which the allocator keeps after the close.
    let grown = rss_kib().saturating_sub(rss_before);
    let budget = (SILENT + TRICKLE) as u64 * PER_CONNECTION_KIB + (32 << 10);
    assert!(
        grown < budget,
        "RSS grew by {grown} KiB (budget {budget} KiB)"
    );
    bystander.finish().await.assert_served(10);
    eprintln!(
        "{} slowloris sessions closed in {:?}; RSS +{grown} KiB",
        SILENT + TRICKLE,
        started.elapsed()
    );
}

/// A slowloris one layer down: HTTP requests (to `/v1`, `/healthz`) whose header
/// block never ends, connections that never send a byte, and keep-alive connections
/// left idle after one request. They hold a socket before any WebSocket session exists; the
/// accept loop's header-read timeout (the handshake timeout) must close them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_whose_headers_never_end_are_closed() {
    let _serial = serial().await;
    const PEERS: usize = 50;
    let hub = TestHub::start_with(|c| c.limits.handshake_timeout = HANDSHAKE).await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;
    let mut peers = tokio::task::JoinSet::new();
    for i in 0..PEERS {
        peers.spawn(async move {
            use tokio::io::AsyncReadExt;
            let t0 = Instant::now();
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            match i % 4 {
                // Half a request head, then one more header byte every 200 ms, never
                // the blank line.
                0 | 1 => {
                    let path = if i % 4 == 0 { "/v1" } else { "/healthz" };
                    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return Some(t0.elapsed());
                    }
                    for _ in 0..100 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if s.write_all(b"X").await.is_err() {
                            return Some(t0.elapsed());
                        }
                    }
                    None
                }
                // Connect and send nothing; or one keep-alive request, then nothing.
                _ => {
                    if i % 4 == 3 {
                        let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                        s.write_all(req.as_bytes()).await.expect("request");
                    }
                    let mut buf = [0u8; 1024];
                    let read_to_end = async {
                        while let Ok(n) = s.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    };
                    tokio::time::timeout(Duration::from_secs(20), read_to_end)
                        .await
                        .ok()
                        .map(|()| t0.elapsed())
                }
            }
        });
    }
    while let Some(r) = peers.join_next().await {
        let closed_after = r.expect("peer task");
        assert!(
            closed_after.is_some_and(|t| t < HANDSHAKE + Duration::from_secs(3)),
            "an unfinished HTTP request held its connection for {closed_after:?} (None: 20 s)"
        );
    }
    bystander.finish().await.assert_served(10);
}
