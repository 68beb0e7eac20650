//! Ten thousand idle connections: read-only sessions that subscribe to a busy payee's
//! credits and then never send another byte. The hub holds all of them at once while
//! a well-behaved payer keeps paying that payee (every payment is fanned out to every
//! subscriber), then closes each one at the idle timeout. Memory per held connection
//! is measured and bounded.
//!
//! The subscribers run in a child process (this test binary, re-run with
//! [`CHILD_ENV`] set, executing the ignored test `idle_subscribers_child`): with both
//! ends in one process, 10,000 connections need 20,000 descriptors, more than a
//! common `RLIMIT_NOFILE` hard limit of 20,000 leaves once the hub has its own. It also
//! makes the measured memory the hub's alone. Each process raises its soft limit to
//! its hard limit; if that still does not fit, the test runs as many connections as
//! fit and says so.

mod hostile_common;
mod server_util;

use std::time::Duration;

use channel::codec::CloseCode;
use channel::codec::{ClientMessage, Id, Request, ServerMessage, Subscribe};
use futures_util::{SinkExt, StreamExt};
use hostile_common::{Bystander, closed_for, connections, eventually, rss_kib, serial};
use server_util::TestHub;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const WANTED: usize = 10_000;
/// Long enough that the first subscriber is not idle before the last one connected
/// (connecting 10,000 takes about 3 s on 2 busy cores).
const IDLE: Duration = Duration::from_secs(10);
/// Hub-side memory a held connection may cost (KiB). It was ~140 KiB, nearly all of
/// it tungstenite's default 128 KiB read buffer, before the hub set
/// `read_buffer_bytes` (16 KiB by default).
const PER_CONNECTION_KIB: u64 = 48;
/// Set (to the hub's address and the payee) in the child process.
const CHILD_ENV: &str = "ZKHUB_HOSTILE_IDLE_CHILD";

/// Raise the open-file limit so that `connections` sockets (plus a reserve) fit;
/// returns how many fit under the limit actually in force.
fn raise_fd_limit(connections: usize) -> usize {
    const RESERVE: usize = 512;
    let want = (connections + RESERVE) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return connections;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max.max(want),
            };
            // Raising the hard limit needs CAP_SYS_RESOURCE; fall back to the soft one.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                let soft = libc::rlimit {
                    rlim_cur: lim.rlim_max.min(want),
                    rlim_max: lim.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
            }
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    let fit = (lim.rlim_cur as usize).saturating_sub(RESERVE);
    fit.min(connections)
}

type Idle = WebSocketStream<TcpStream>;

/// Connect, read the challenge, subscribe to `payee`, read the answer.
async fn subscriber(addr: std::net::SocketAddr, payee: u32) -> Idle {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(format!("ws://{addr}/v1"), tcp, Some(config))
            .await
            .expect("upgrade");
    let challenge = ws.next().await.expect("challenge").expect("challenge");
    assert!(matches!(challenge, Message::Text(_)));
    let request = ClientMessage::Request {
        id: Id::Num(1),
        request: Request::Subscribe(Subscribe { channel: payee }),
    };
    ws.send(Message::Text(request.to_text().into()))
        .await
        .expect("subscribe");
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("closed before the subscription was answered");
        };
        if let Ok(ServerMessage::Response { result, .. }) = ServerMessage::decode(&t) {
            result.expect("subscribed");
            return ws;
        }
    }
}

/// The child half: hold `n` subscribers open until stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child half of ten_thousand_idle_connections_...; run by it"]
async fn idle_subscribers_child() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split(',');
    let addr: std::net::SocketAddr = parts.next().and_then(|a| a.parse().ok()).expect("addr");
    let payee: u32 = parts.next().and_then(|p| p.parse().ok()).expect("payee");
    let wanted: usize = parts.next().and_then(|p| p.parse().ok()).expect("count");
    let n = raise_fd_limit(wanted);
    let held: Vec<Idle> = futures_util::stream::iter(0..n)
        .map(|_| subscriber(addr, payee))
        .buffer_unordered(128)
        .collect()
        .await;
    let mut out = tokio::io::stdout();
    out.write_all(format!("\nHELD {}\n", held.len()).as_bytes())
        .await
        .expect("stdout");
    out.flush().await.expect("flush");
    // Hold everything (reading nothing) until the parent closes our stdin.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_are_held_then_closed_by_the_idle_timeout() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let _serial = serial().await;
    let n = raise_fd_limit(WANTED);
    if n < WANTED {
        eprintln!("RLIMIT_NOFILE allows the hub only {n} connections (wanted {WANTED})");
    }

    let hub = TestHub::start_with(|c| {
        c.limits.idle_timeout = IDLE;
        c.limits.max_connections = WANTED + 16;
    })
    .await;
    let addr = hub.handle.local_addr();
    let bystander = Bystander::start(&hub, 1, Duration::from_millis(20)).await;
    let payee = bystander.payee;
    let rss_before = rss_kib();

    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "idle_subscribers_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{addr},{payee},{n}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the subscriber process");
    let stdout = child.stdout.take().expect("child stdout");
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    // Read the child's output to its end (so that its harness can print its result).
    let reader = tokio::task::spawn_blocking(move || {
        let mut held_tx = Some(held_tx);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(n) = line
                .strip_prefix("HELD ")
                .and_then(|v| v.trim().parse().ok())
                && let Some(tx) = held_tx.take()
            {
                let _ = tx.send(n);
            }
        }
    });
    let held: usize = tokio::time::timeout(Duration::from_secs(60), held_rx)
        .await
        .expect("the child connected in time")
        .expect("the child reported how many it holds");
    let connect_time = started.elapsed();
    if held < WANTED {
        eprintln!("the subscriber process could open only {held} connections");
    }
    assert!(held >= 1000, "only {held} connections held");
    assert!(
        connect_time + Duration::from_secs(2) < IDLE,
        "connecting took {connect_time:?}: too slow to see them all held within the idle timeout"
    );
    assert_eq!(connections(&hub), held as i64 + 1, "every connection held");
    let rss_held = rss_kib().saturating_sub(rss_before);

    // Held: a second later none has been dropped, and the payer is still served.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        connections(&hub),
        held as i64 + 1,
        "held connections dropped early"
    );
    assert_eq!(closed_for(&hub, CloseCode::SlowReader), 0);

    // Then the idle timeout closes every subscriber (they send nothing) but not the
    // payer, which pays every 20 ms.
    let bound = IDLE + Duration::from_secs(8);
    let all_closed = eventually(bound, || connections(&hub) == 1).await;
    let closed_after = started.elapsed();
    drop(child.stdin.take());
    let reaped = eventually(Duration::from_secs(10), || {
        child.try_wait().is_ok_and(|s| s.is_some())
    })
    .await;
    if !reaped {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = reader.await;
    assert!(
        all_closed,
        "{} sessions still open {closed_after:?} after the first connect",
        connections(&hub)
    );
    assert_eq!(closed_for(&hub, CloseCode::Idle), held as u64);
    assert!(reaped, "the subscriber process did not exit");

    let report = bystander.finish().await;
    report.assert_served(100);
    let budget = held as u64 * PER_CONNECTION_KIB;
    let per_connection = rss_held / held as u64;
    eprintln!(
        "{held} idle connections: connected in {connect_time:?}, all closed by the idle \
         timeout {closed_after:?} after the first connect; hub RSS while held +{rss_held} KiB \
         ({per_connection} KiB per connection); bystander paid {} with max ack latency {:?}",
        report.paid, report.max_latency
    );
    assert!(
        rss_held < budget,
        "holding {held} connections cost {rss_held} KiB (budget {budget} KiB)"
    );
}
