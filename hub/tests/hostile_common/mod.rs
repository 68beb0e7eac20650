//! Helpers shared by the hostile-client tests (`hostile_*.rs`): a well-behaved
//! *bystander* that keeps paying while an attack runs and reports how long each ack
//! took, the test process's resident memory (the hub runs in-process), a lock that
//! keeps the tests of one file from overlapping (so memory figures are their own),
//! and raw WebSocket frame writing for peers that break the framing on purpose.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use channel::ChannelId;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::server_util::{Client, Payer, TestHub};

/// Longest a bystander's payment may wait for its ack while an attack runs. Generous
/// (a commit costs milliseconds) so that only a starved hub fails it, not a busy CI.
pub const ACK_BOUND: Duration = Duration::from_secs(3);

/// Serialise the tests of one file: they share the process, and so its RSS. (An
/// async mutex: each test runs its own runtime and holds the guard across awaits; a
/// failed test releases it on unwind.)
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Resident memory of this process (the test and the in-process hub), in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// What a bystander saw.
#[derive(Debug, Clone)]
pub struct BystanderReport {
    /// Payments sent.
    pub paid: u64,
    /// Payments acked within [`ACK_BOUND`].
    pub acked: u64,
    /// Slowest ack.
    pub max_latency: Duration,
    /// Why it stopped early, if it did.
    pub failure: Option<String>,
}

impl BystanderReport {
    /// Every payment acked within the bound, and at least `min_paid` made.
    pub fn assert_served(&self, min_paid: u64) {
        assert!(
            self.failure.is_none(),
            "bystander failed: {:?} ({self:?})",
            self.failure
        );
        assert!(
            self.paid >= min_paid,
            "bystander paid only {} (wanted {min_paid}): {self:?}",
            self.paid
        );
        assert_eq!(self.acked, self.paid, "every bystander payment acked");
        assert!(self.max_latency <= ACK_BOUND, "{self:?}");
    }
}

/// A well-behaved client paying one signed voucher every `interval` and waiting for
/// its ack, until stopped.
pub struct Bystander {
    /// The channel it pays.
    pub payee: ChannelId,
    stop: Arc<AtomicBool>,
    task: JoinHandle<BystanderReport>,
}

impl Bystander {
    /// Open a payer channel (key from `seed`) and a payee on `hub`, say hello, start.
    pub async fn start(hub: &TestHub, seed: u64, interval: Duration) -> Bystander {
        let (payee, _) = hub.open(seed + 1_000_000, 1).await;
        let (channel, key) = hub.open(seed, 1 << 40).await;
        let mut client = Client::connect(&hub.url()).await;
        client.hello(channel, &key).await.expect("bystander hello");
        let mut payer = Payer::new(channel, key, hub.hub_id());
        // One payment before the attack starts: the hub's first commit and first
        // verification are not what the bound is about.
        let v = payer.next(payee, 1, true);
        client.pay_json(channel, &[v]).await;
        client.await_ack(payer.seq).await;
        Self::run(client, payer, payee, interval)
    }

    fn run(mut client: Client, mut payer: Payer, payee: ChannelId, interval: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut report = BystanderReport {
                paid: 0,
                acked: 0,
                max_latency: Duration::ZERO,
                failure: None,
            };
            while !stopped.load(Ordering::Relaxed) {
                let v = payer.next(payee, 1, true);
                let started = Instant::now();
                client.pay_json(payer.channel, &[v]).await;
                report.paid += 1;
                match tokio::time::timeout(ACK_BOUND, client.await_ack(payer.seq)).await {
                    Ok(_) => {
                        report.acked += 1;
                        report.max_latency = report.max_latency.max(started.elapsed());
                    }
                    Err(_) => {
                        report.failure = Some(format!("no ack of seq {} in time", payer.seq));
                        return report;
                    }
                }
                tokio::time::sleep(interval).await;
            }
            report
        });
        Bystander { payee, stop, task }
    }

    /// Stop and report.
    pub async fn finish(self) -> BystanderReport {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("bystander task")
    }
}

/// A raw TCP connection that has completed the WebSocket upgrade on `/v1` and may
/// then write arbitrary bytes (frames the client library would refuse to build).
pub async fn raw_upgraded(addr: std::net::SocketAddr) -> TcpStream {
    use tokio::io::AsyncReadExt;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET /v1 HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write upgrade");
    // Read the 101 response head (and nothing after it: the challenge follows).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
            .await
            .expect("upgrade response in time")
            .expect("read");
        assert!(n == 1, "connection closed during upgrade");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "upgrade refused: {}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A masked client frame header: `fin`, `opcode`, payload length `len`, mask key.
pub fn frame_header(fin: bool, opcode: u8, len: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut h = vec![(if fin { 0x80 } else { 0 }) | opcode];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= u64::from(u16::MAX) {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&mask);
    h
}

/// A whole masked client frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = frame_header(fin, opcode, payload.len() as u64, mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Read from a raw socket until the peer closes it (EOF or reset) or `within` passes.
/// Returns whether it closed, and the close code of a close frame seen first, if any.
pub async fn await_raw_close(s: &mut TcpStream, within: Duration) -> (bool, Option<u16>) {
    use tokio::io::AsyncReadExt;
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (false, close_code_in(&seen)),
            Ok(Ok(0)) | Ok(Err(_)) => return (true, close_code_in(&seen)),
            Ok(Ok(n)) => {
                if seen.len() < 1 << 20 {
                    seen.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
}

/// The code of the first close frame in a stream of unmasked server frames.
fn close_code_in(mut bytes: &[u8]) -> Option<u16> {
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, at): (usize, usize) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(l) as usize, 10)
            }
            n if n < 126 => (n as usize, 2),
            _ => return None,
        };
        let payload = bytes.get(at..at.checked_add(len)?)?;
        if opcode == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
        bytes = &bytes[at + len..];
    }
    None
}

/// Wait until `cond` holds, polling every 20 ms; false if `within` passes first.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hub's live WebSocket sessions.
pub fn connections(hub: &TestHub) -> i64 {
    hub.handle.metrics().connections.load(Ordering::Relaxed)
}

/// Sessions the hub closed for `reason`.
pub fn closed_for(hub: &TestHub, reason: channel::codec::CloseCode) -> u64 {
    hub.handle.metrics().closed_by_hub[reason.index()].load(Ordering::Relaxed)
}
