//! Hub process faults (issue 20, item 4): a real hub on 127.0.0.1 over a real redb
//! file, whose storage backend ([`hub::config::HubConfig::store_backend`]) can be
//! switched, mid-run, to
//! - return EIO from `fsync` (`sync_data`),
//! - return ENOSPC from every write (the disk is full),
//! - panic inside the group commit's `fsync` (the writer thread panics).
//!
//! Each must end in fail-stop: the payment in flight is never acked, every session is
//! closed with `storage_failed` (1013), the hub says why in an ERROR log line, counts
//! it in `zkhub_commit_failures_total`, reports itself stopped
//! ([`hub::HubHandle::stopped`]) so that `zkhub serve` exits, and refuses operator
//! work instead of hanging. A restart on the same file (plain, no fault backend)
//! recovers everything acked, nothing twice, with Σ B = Σ D, and the client's resend
//! completes.

mod server_util;

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use channel::codec::{ServerFrame, ServerMessage, decode_server_binary};
use redb::StorageBackend;
use redb::backends::FileBackend;
use server_util::{Client, In, Payer, TestHub, key};

/// The backend behaves.
const HEALTHY: u8 = 0;
/// `sync_data` fails with EIO.
const FSYNC_EIO: u8 = 1;
/// Every write, and growing the file, fails with ENOSPC.
const DISK_FULL: u8 = 2;
/// `sync_data` panics (on the writer thread: the group commit calls it).
const PANIC: u8 = 3;

/// Guard against a hang only.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// `DATA_DIR/hub.redb` through a switchable fault.
#[derive(Debug)]
struct FaultyDisk {
    file: FileBackend,
    fault: Arc<AtomicU8>,
}

impl FaultyDisk {
    fn fault(&self) -> u8 {
        self.fault.load(Ordering::SeqCst)
    }
}

fn enospc() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOSPC)
}

impl StorageBackend for FaultyDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if self.fault() == DISK_FULL && len > self.file.len()? {
            return Err(enospc());
        }
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        match self.fault() {
            FSYNC_EIO => Err(std::io::Error::from_raw_os_error(libc::EIO)),
            PANIC => panic!("injected panic in fsync"),
            _ => self.file.sync_data(),
        }
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if self.fault() == DISK_FULL {
            return Err(enospc());
        }
        self.file.write(offset, data)
    }
}

/// Every log line of this test process (all tests share it: match on specifics).
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                logs()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(buf);
                std::io::stderr().write(buf)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
        Mutex::new(Vec::new())
    })
}

fn log_lines_with(words: &[&str]) -> Vec<String> {
    let text =
        String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).to_string();
    text.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

/// Start a hub whose store sits on a [`FaultyDisk`]; returns the hub and the switch.
async fn start_faulty() -> (TestHub, Arc<AtomicU8>) {
    logs();
    let fault = Arc::new(AtomicU8::new(HEALTHY));
    let switch = fault.clone();
    let hub = TestHub::start_with(move |config| {
        config.store_backend = Some(Arc::new(move |dir: &Path| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(hub::store::DB_FILE))?;
            let file = FileBackend::new(file).map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(Box::new(FaultyDisk {
                file,
                fault: switch.clone(),
            }) as Box<dyn StorageBackend>)
        }));
    })
    .await;
    (hub, fault)
}

/// Read until the connection closes; panics on any ack beyond `acked`. Returns the
/// close code.
async fn no_ack_beyond(client: &mut Client, acked: u64) -> Option<u16> {
    loop {
        match client.recv().await {
            In::Msg(ServerMessage::Ack(a)) => {
                assert!(a.seq <= acked, "ack {} after the fault", a.seq)
            }
            In::Msg(ServerMessage::Reack(a)) => {
                assert!(a.seq <= acked, "re-ack {} after the fault", a.seq)
            }
            In::Binary(b) => {
                if let Ok(ServerFrame::Ack { seq }) = decode_server_binary(&b) {
                    assert!(seq <= acked, "binary ack {seq} after the fault");
                }
            }
            In::Msg(_) => {}
            In::Closed(close) => return close.map(|(code, _)| code),
        }
    }
}

/// The whole scenario for one fault; `cause` must appear in the ERROR line.
async fn fail_stop_then_recover(fault: u8, cause: &str) {
    let (hub, switch) = start_faulty().await;
    let (alice, alice_key) = hub.open(1, 1_000_000).await;
    let (bob, _) = hub.open(2, 10).await;

    // Ten payments acked while the disk is healthy.
    let mut payer = Client::connect(&hub.url()).await;
    payer.hello(alice, &alice_key).await.expect("alice hello");
    let mut vouchers = Payer::new(alice, alice_key, hub.hub_id());
    let first = vouchers.run(bob, 7, 10, 5);
    payer.pay_json(alice, &first).await;
    assert_eq!(payer.await_ack(10).await.0, 10);

    // The fault hits the next group commit: no ack, every session closed.
    switch.store(fault, Ordering::SeqCst);
    let second = vouchers.run(bob, 7, 10, 5);
    payer.pay_json(alice, &second).await;
    let close = tokio::time::timeout(HANG_GUARD, no_ack_beyond(&mut payer, 10))
        .await
        .expect("the session is closed, not left hanging");
    assert_eq!(close, Some(1013), "closed with storage_failed");

    // Stopped, counted, logged.
    tokio::time::timeout(HANG_GUARD, hub.handle.stopped())
        .await
        .expect("the hub reports itself stopped");
    assert!(hub.handle.failed(), "the hub reports a storage failure");
    assert_eq!(
        hub.handle.metrics().commit_failures.load(Ordering::Relaxed),
        1
    );
    let render = hub.handle.metrics().render();
    assert!(render.contains("zkhub_commit_failures_total 1"), "{render}");
    let errors = log_lines_with(&["ERROR", "group commit failed", cause]);
    assert!(
        !errors.is_empty(),
        "an ERROR line names the cause ({cause}); log:\n{}",
        log_lines_with(&[""]).join("\n")
    );
    assert!(!log_lines_with(&["ERROR", "storage failed", "restart the hub to recover"]).is_empty());

    // Operator work is refused, not hung, even once the disk is healthy again: what
    // reached it is unknown until a restart recovers it.
    switch.store(HEALTHY, Ordering::SeqCst);
    let cut = tokio::time::timeout(HANG_GUARD, hub.handle.operator().cut())
        .await
        .expect("the cut is answered, not hung");
    assert!(cut.is_err(), "a cut after the failure: {cut:?}");

    // Restart on the same file, plain backend: everything acked is there, the
    // unacked batch at most as a whole (it may have reached the file), nothing twice.
    let hub = tokio::time::timeout(HANG_GUARD, hub.restart(|_| {}))
        .await
        .expect("shutdown and restart do not hang");
    let a = hub.handle.channels().record(alice).expect("alice");
    let b = hub.handle.channels().record(bob).expect("bob");
    // The two checkpoints (15, 20) may go to one batch or two, and a failed fsync
    // may still have left its batch in the file.
    assert!(
        [10, 15, 20].contains(&a.seq),
        "alice recovered at seq {}",
        a.seq
    );
    assert_eq!(a.spent, 7 * u128::from(a.seq) as channel::Amount);
    assert_eq!(
        b.received, a.spent,
        "bob received exactly alice's committed payments"
    );
    assert_eq!(
        a.balance().expect("alice balance") as i128 + b.balance().expect("bob balance") as i128,
        a.deposit + b.deposit,
        "Σ B = Σ D"
    );

    // The client resends from the committed head; everything is acked once.
    let mut payer = Client::connect(&hub.url()).await;
    let status = payer
        .hello(alice, &key(1))
        .await
        .expect("hello after restart");
    assert_eq!(status.seq, a.seq);
    let resend: Vec<_> = second
        .iter()
        .filter(|v| v.seq > status.seq)
        .cloned()
        .collect();
    if !resend.is_empty() {
        payer.pay_json(alice, &resend).await;
        assert_eq!(payer.await_ack(20).await.0, 20);
    }
    let a = hub.handle.channels().record(alice).expect("alice");
    let b = hub.handle.channels().record(bob).expect("bob");
    assert_eq!((a.seq, a.spent, b.received), (20, 140, 140));
    hub.handle.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_eio_fail_stops_without_acking_and_a_restart_recovers() {
    fail_stop_then_recover(FSYNC_EIO, "Input/output error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fail_stops_without_acking_and_a_restart_recovers() {
    fail_stop_then_recover(DISK_FULL, "No space left on device").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_thread_panic_fail_stops_without_acking_and_a_restart_recovers() {
    fail_stop_then_recover(PANIC, "injected panic in fsync").await;
}
