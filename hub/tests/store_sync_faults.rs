//! A fault at every sync (issue 20, item 1; SECURITY.md §2.4).
//!
//! A scripted workload (opens, pays, a top-up and a withdrawal, an exit and a refused
//! range after it, an epoch cut with its snapshot, fold rounds of two-row slices, the
//! shutdown fold) runs through the real [`Writer`] over a simulated disk, once per
//! fault point:
//! - **power cut after the Nth `sync_data`**, for every N the workload reaches: later
//!   syncs return `Ok` but persist nothing, so the hub carries on acking; at the end
//!   the disk keeps only what was synced (plus the snapshot files that existed at the
//!   first dropped sync). Acks released after that point were never sent in a real
//!   crash, so the model counts only acks released while every sync had persisted.
//! - **I/O error at the Nth `write`**, for every N: the hub must fail-stop (the
//!   listener told once, no ack after the error, the writer refusing work) or refuse
//!   to open; then both a restart (every successful write kept) and a power cut
//!   (only synced bytes kept) are recovered.
//!
//! Each surviving image is reopened and checked against the model, the reference
//! state after every batch: nothing acked is lost (recovered `last_batch` ≥ the last
//! acked batch), nothing is invented or applied twice (the recovered channels equal
//! the reference state after exactly `last_batch`), Σ B = Σ D, every acked epoch cut
//! is there, and the hub recovers: a writer resumes pending snapshots (each equal to
//! the reference state at its cut), commits and folds a further batch, and a second
//! reopen loads exactly the writer's in-memory state from a fully folded log.

mod store_common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use channel::field::Fe;
use channel::ledger::{
    Applied, BatchBuilder, ChannelRecord, ChannelTable, Covered, Debit, Event, Ledger, apply_batch,
};
use channel::types::Epoch;
use hub::store::{CommitError, SnapshotError, SnapshotMeta, Store, StoreOptions};
use hub::writer::{CommitListener, CommitRequest, Writer, WriterConfig};
use redb::StorageBackend;
use store_common::{Gen, fake_pk, fast_tempdir};

const HUB: u64 = 9;
const OPTIONS: StoreOptions = StoreOptions {
    cache_bytes: 4 << 20,
};
/// Guard against a hang only (a snapshot outcome always comes); never a timing check.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Which fault the simulated disk injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Syncs after the Nth persist nothing (a power cut right after sync N).
    StopAfterSync(u64),
    /// The Nth write fails (only that one).
    FailWrite(u64),
}

/// The simulated disk: what the database sees (`live`) and what survives a power
/// cut (`durable`, the image at the last persisted sync).
#[derive(Default)]
struct Disk {
    live: Vec<u8>,
    durable: Vec<u8>,
    syncs: u64,
    writes: u64,
    /// A sync was dropped: the power cut happened there.
    crashed: bool,
    /// The injected write error was returned.
    write_failed: bool,
    /// The hub has shut down; faults from here on hit the database's own close.
    closing: bool,
    fault_while_closing: bool,
    /// Snapshot files present at the first dropped sync.
    files_at_crash: Option<Vec<PathBuf>>,
}

#[derive(Clone)]
struct SimDisk {
    disk: Arc<Mutex<Disk>>,
    fault: Fault,
    dir: PathBuf,
}

impl std::fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDisk")
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl SimDisk {
    fn new(fault: Fault, dir: &Path, image: Vec<u8>) -> Self {
        let disk = Disk {
            live: image.clone(),
            durable: image,
            ..Disk::default()
        };
        SimDisk {
            disk: Arc::new(Mutex::new(disk)),
            fault,
            dir: dir.to_path_buf(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        lock(&self.disk)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn range(offset: u64, len: usize, size: usize) -> Result<std::ops::Range<usize>, std::io::Error> {
    let start = usize::try_from(offset).map_err(std::io::Error::other)?;
    let end = start
        .checked_add(len)
        .filter(|&e| e <= size)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
    Ok(start..end)
}

impl StorageBackend for SimDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.lock().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let d = self.lock();
        let r = range(offset, out.len(), d.live.len())?;
        out.copy_from_slice(&d.live[r]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        self.lock().live.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut d = self.lock();
        d.syncs += 1;
        if let Fault::StopAfterSync(n) = self.fault
            && d.syncs > n
        {
            if !d.crashed {
                d.crashed = true;
                d.fault_while_closing = d.closing;
                d.files_at_crash = Some(snapshot_files(&self.dir));
            }
            return Ok(());
        }
        d.durable = d.live.clone();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut d = self.lock();
        d.writes += 1;
        if self.fault == Fault::FailWrite(d.writes) {
            d.write_failed = true;
            d.fault_while_closing = d.closing;
            return Err(std::io::Error::other("injected write failure"));
        }
        let size = d.live.len();
        let r = range(offset, data.len(), size)?;
        d.live[r].copy_from_slice(data);
        Ok(())
    }
}

/// Every `epochs/<n>/snapshot.bin` under `dir`.
fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("epochs")) {
        for e in entries.flatten() {
            let f = e.path().join("snapshot.bin");
            if f.is_file() {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

type SnapshotOutcome = (Epoch, Result<SnapshotMeta, String>);

/// Records acks against the disk's state at the moment they are released.
struct Listener {
    disk: Arc<Mutex<Disk>>,
    /// Batches acked while every sync so far had persisted and no write had failed.
    acked: Mutex<Vec<u64>>,
    /// Batches acked after a dropped sync or a failed write.
    acked_after_fault: Mutex<Vec<u64>>,
    failures: Mutex<Vec<String>>,
    snapshots: Mutex<mpsc::Sender<SnapshotOutcome>>,
}

impl Listener {
    fn new(disk: Arc<Mutex<Disk>>) -> (Arc<Self>, mpsc::Receiver<SnapshotOutcome>) {
        let (tx, rx) = mpsc::channel();
        let l = Listener {
            disk,
            acked: Mutex::default(),
            acked_after_fault: Mutex::default(),
            failures: Mutex::default(),
            snapshots: Mutex::new(tx),
        };
        (Arc::new(l), rx)
    }
}

impl CommitListener for Listener {
    fn committed(&self, batch_number: u64, _applied: Applied) {
        let faulted = {
            let d = lock(&self.disk);
            d.crashed || d.write_failed
        };
        let list = if faulted {
            &self.acked_after_fault
        } else {
            &self.acked
        };
        lock(list).push(batch_number);
    }
    fn failed(&self, err: &CommitError) {
        lock(&self.failures).push(err.to_string());
    }
    fn snapshot_written(&self, epoch: Epoch, result: Result<&SnapshotMeta, &SnapshotError>) {
        let _ = lock(&self.snapshots).send((epoch, result.copied().map_err(|e| e.to_string())));
    }
}

fn writer_config() -> WriterConfig {
    let mut c = WriterConfig::new(Fe::from(3u64));
    // Folds only when the script asks (and at shutdown), in two-row slices, so that
    // the sequence of syncs does not depend on timing.
    c.fold_slice_rows = 2;
    c.fold_after_records = 1_000_000;
    c.fold_idle_interval = Duration::from_secs(24 * 3600);
    c
}

/// The workload driver: one request per batch (flushed right after, so batch
/// contents never depend on timing) and the reference model kept in step.
struct Script {
    writer: hub::writer::WriterHandle,
    reference: Ledger,
    /// `states[k]`: every record after batch `k` (`states[0]`: nothing).
    states: Vec<Vec<ChannelRecord>>,
    generator: Gen,
    /// Epoch cuts acknowledged before any fault: `(epoch, cut batch)`.
    cuts_acked: Vec<(Epoch, u64)>,
    disk: Arc<Mutex<Disk>>,
    snapshots: mpsc::Receiver<SnapshotOutcome>,
}

impl Script {
    fn last_batch(&self) -> u64 {
        self.states.len() as u64 - 1
    }

    /// Apply what the writer will gather from `ranges` and `event` to the reference.
    fn model(&mut self, event: Option<&Event>, ranges: &[Covered]) {
        let mut builder = BatchBuilder::new();
        if let Some(e) = event {
            builder.push_event(e.clone());
        }
        for c in ranges {
            let exited = self
                .reference
                .with_channel(c.debit.channel, |s| s.record.exiting)
                .unwrap_or(false);
            let _ = builder.push_covered(c.clone(), exited);
        }
        if !builder.is_empty() {
            let batch = builder.build(self.last_batch() + 1);
            apply_batch(&self.reference, &batch).expect("the reference takes every batch");
            self.states.push(self.reference.records());
        }
    }

    /// Submit and flush; false once the writer has stopped.
    fn submit(&mut self, request: CommitRequest) -> bool {
        if self.writer.submit_blocking(request).is_err() {
            return false;
        }
        match self.writer.flush_blocking() {
            Ok(last) => {
                assert_eq!(
                    last,
                    self.last_batch(),
                    "writer and model number batches alike"
                );
                true
            }
            Err(_) => false,
        }
    }

    fn event(&mut self, e: Event) -> bool {
        self.model(Some(&e), &[]);
        self.submit(CommitRequest::Event(e))
    }

    fn pay(&mut self, payers: &[u32], payments: usize) -> bool {
        let ranges: Vec<Covered> = payers
            .iter()
            .map(|&p| self.generator.covered_by(p, payments))
            .collect();
        self.model(None, &ranges);
        self.submit(CommitRequest::CoveredMany(ranges))
    }

    fn fold_all(&mut self) -> bool {
        match self.writer.fold_all_blocking() {
            Ok(through) => {
                assert_eq!(through, self.last_batch(), "a full fold round");
                true
            }
            Err(_) => false,
        }
    }

    /// Cut, then wait for the snapshot's outcome (an error there is not the writer
    /// stopping: the script carries on and the next commit finds the store failed).
    fn cut(&mut self, epoch: Epoch) -> bool {
        let Ok(record) = self.writer.cut_blocking(epoch) else {
            return false;
        };
        assert_eq!(
            record.cut_batch,
            self.last_batch(),
            "cut after the last batch"
        );
        if !lock(&self.disk).crashed {
            self.cuts_acked.push((epoch, record.cut_batch));
        }
        let (e, _) = self
            .snapshots
            .recv_timeout(HANG_GUARD)
            .expect("snapshot outcome");
        assert_eq!(e, epoch);
        true
    }

    /// The scripted workload; stops at the first refused step.
    fn run(&mut self) -> bool {
        for e in self.generator.open(4) {
            if !self.event(e) {
                return false;
            }
        }
        self.pay(&[1, 2], 3)
            && self.pay(&[3], 2)
            && self.pay(&[4, 1], 1)
            && self.fold_all()
            && self.event(Event::TopUp {
                channel: 2,
                amount: 500,
            })
            && self.event(Event::Withdraw {
                channel: 3,
                amount: 700,
            })
            && self.pay(&[2, 3], 2)
            && self.cut(1)
            && self.pay(&[1, 4], 2)
            && self.event(Event::Exit { channel: 1 })
            // Refused: the payer has exited (no batch).
            && self.pay(&[1], 2)
            && self.pay(&[2], 1)
            && self.fold_all()
            && self.pay(&[3, 4], 2)
    }
}

/// What one faulted run left behind.
struct Outcome {
    dir: tempfile::TempDir,
    disk: Arc<Mutex<Disk>>,
    states: Vec<Vec<ChannelRecord>>,
    acked_max: u64,
    acked_after_fault: Vec<u64>,
    cuts_acked: Vec<(Epoch, u64)>,
    failures: Vec<String>,
    open_error: Option<String>,
    completed: bool,
    /// Syncs and writes done when `Store::open` returned (creation included).
    opened_at: Option<(u64, u64)>,
    /// Writes done when the script ended and the writer's shutdown began.
    writes_at_shutdown: u64,
    store_failed: bool,
}

fn run(fault: Fault) -> Outcome {
    let dir = fast_tempdir();
    let backend = SimDisk::new(fault, dir.path(), Vec::new());
    let disk = backend.disk.clone();
    let mut outcome = Outcome {
        dir,
        disk: disk.clone(),
        states: vec![Vec::new()],
        acked_max: 0,
        acked_after_fault: Vec::new(),
        cuts_acked: Vec::new(),
        failures: Vec::new(),
        open_error: None,
        completed: false,
        opened_at: None,
        writes_at_shutdown: 0,
        store_failed: false,
    };
    let store = match Store::open_with_backend(outcome.dir.path(), HUB, OPTIONS, backend) {
        Ok(s) => s,
        Err(e) => {
            outcome.open_error = Some(e.to_string());
            return outcome;
        }
    };
    outcome.opened_at = {
        let d = lock(&disk);
        Some((d.syncs, d.writes))
    };
    let loaded = store.load().expect("load a fresh store");
    let (listener, snapshots) = Listener::new(disk.clone());
    let writer = Writer::spawn(
        store.clone(),
        Arc::new(loaded.channels),
        loaded.recovery,
        writer_config(),
        listener.clone(),
    )
    .expect("spawn writer");
    let mut script = Script {
        writer: writer.handle(),
        reference: Ledger::new(),
        states: vec![Vec::new()],
        generator: Gen::new(20),
        cuts_acked: Vec::new(),
        disk: disk.clone(),
        snapshots,
    };
    outcome.completed = script.run();
    outcome.writes_at_shutdown = lock(&disk).writes;
    writer.shutdown();
    outcome.store_failed = store.is_failed();
    lock(&disk).closing = true;
    drop(store);
    outcome.states = script.states;
    outcome.cuts_acked = script.cuts_acked;
    outcome.acked_max = lock(&listener.acked).iter().copied().max().unwrap_or(0);
    outcome.acked_after_fault = lock(&listener.acked_after_fault).clone();
    outcome.failures = lock(&listener.failures).clone();
    outcome
}

/// Copy the snapshot files (`keep` filters them) into a fresh data directory.
fn data_dir_copy(from: &Path, keep: impl Fn(&Path) -> bool) -> tempfile::TempDir {
    let to = fast_tempdir();
    for f in snapshot_files(from).into_iter().filter(|f| keep(f)) {
        let rel = f.strip_prefix(from).expect("under the data dir");
        let target = to.path().join(rel);
        std::fs::create_dir_all(target.parent().expect("has a parent")).expect("mkdir");
        std::fs::copy(&f, &target).expect("copy snapshot");
    }
    to
}

fn sum_balances(records: &[ChannelRecord]) -> (i128, i128) {
    let mut d = 0i128;
    let mut b = 0i128;
    for r in records {
        d += r.deposit;
        b += r.deposit + i128::from(r.received) - i128::from(r.spent);
    }
    (d, b)
}

/// A batch that moves money on the recovered state (or opens a channel if there is
/// no payer): the recovered hub must be able to carry on.
fn continuation(records: &[ChannelRecord]) -> CommitRequest {
    let payer = records
        .iter()
        .find(|r| !r.exiting && r.balance().is_some_and(|b| b >= 10));
    match payer {
        Some(p) if records.len() >= 2 => {
            let payee = records.iter().find(|r| r.id != p.id).expect("two channels");
            CommitRequest::Covered(Covered {
                debit: Debit {
                    channel: p.id,
                    seq: p.seq + 1,
                    spent: p.spent + 10,
                    chain: Fe::from(77u64),
                    sig: [7u8; 64],
                },
                payments: vec![(payee.id, 10)],
            })
        }
        _ => {
            let id = records.iter().map(|r| r.id).max().unwrap_or(0) + 1;
            CommitRequest::Event(Event::Open {
                channel: id,
                pk: fake_pk(id),
                deposit: 1_000,
            })
        }
    }
}

/// Reopen `image` with the snapshot files in `dir` and check it against the model.
///
/// `creating`: the fault hit before the store's creation had completed. Then nothing
/// was acked, and a refusal to open is tolerated (a fail-stop); see
/// `finding_a_fault_while_creating_the_database_leaves_it_unopenable`.
fn check_image(label: &str, image: Vec<u8>, dir: &Path, out: &Outcome, creating: bool) {
    let backend = SimDisk::new(Fault::None, dir, image);
    let disk = backend.disk.clone();
    let store = match Store::open_with_backend(dir, HUB, OPTIONS, backend) {
        Ok(s) => s,
        Err(e) if creating => {
            assert_eq!(out.acked_max, 0, "{label}: nothing acked before creation");
            assert!(!e.to_string().is_empty());
            return;
        }
        Err(e) => panic!("{label}: the hub does not reopen: {e}"),
    };
    let loaded = store
        .load()
        .unwrap_or_else(|e| panic!("{label}: the hub does not load: {e}"));
    let last = loaded.recovery.meta.last_batch;
    assert!(
        last >= out.acked_max,
        "{label}: acked batch {} lost (recovered through {last})",
        out.acked_max
    );
    let index = usize::try_from(last).expect("small");
    assert!(
        index < out.states.len(),
        "{label}: batch {last} was never submitted"
    );
    let records = loaded.channels.records();
    assert_eq!(
        records, out.states[index],
        "{label}: recovered channels differ from the state after batch {last}"
    );
    let (d, b) = sum_balances(&records);
    assert_eq!(b, d, "{label}: Σ B = Σ D");
    let epochs = loaded.recovery.epochs.clone();
    for &(epoch, cut) in &out.cuts_acked {
        let found = epochs.iter().find(|e| e.epoch == epoch);
        assert_eq!(
            found.map(|e| e.cut_batch),
            Some(cut),
            "{label}: acked cut of epoch {epoch} lost"
        );
    }

    // Carry on: resume snapshots, commit and fold one more batch.
    let channels = Arc::new(loaded.channels);
    let pending = loaded.recovery.pending_snapshots().count();
    let (listener, snapshots) = Listener::new(Arc::new(Mutex::new(Disk::default())));
    let writer = Writer::spawn(
        store.clone(),
        channels.clone(),
        loaded.recovery,
        writer_config(),
        listener.clone(),
    )
    .expect("spawn writer");
    for _ in 0..pending {
        let (epoch, result) = snapshots.recv_timeout(HANG_GUARD).expect("outcome");
        assert!(
            result.is_ok(),
            "{label}: resumed snapshot {epoch}: {result:?}"
        );
    }
    let h = writer.handle();
    h.submit_blocking(continuation(&records))
        .unwrap_or_else(|e| panic!("{label}: submit after recovery: {e}"));
    assert_eq!(
        h.flush_blocking().ok(),
        Some(last + 1),
        "{label}: commit after recovery"
    );
    assert_eq!(
        h.fold_all_blocking().ok(),
        Some(last + 1),
        "{label}: fold after recovery"
    );
    writer.shutdown();
    assert!(lock(&listener.failures).is_empty(), "{label}: healthy disk");
    for e in &epochs {
        let file = hub::store::read_snapshot_file(dir, e.epoch)
            .unwrap_or_else(|err| panic!("{label}: snapshot {}: {err}", e.epoch));
        assert_eq!(file.cut_batch, e.cut_batch, "{label}: snapshot cut");
        let at_cut = &out.states[usize::try_from(e.cut_batch).expect("small")];
        assert_eq!(
            &file.snapshot.channels, at_cut,
            "{label}: snapshot {} differs from the state at its cut",
            e.epoch
        );
    }
    let expected = channels.records();
    drop((store, channels));
    // A clean shutdown syncs everything: reopen what would survive a power cut now.
    let image = lock(&disk).durable.clone();
    let store = Store::open_with_backend(dir, HUB, OPTIONS, SimDisk::new(Fault::None, dir, image))
        .unwrap_or_else(|e| panic!("{label}: second reopen: {e}"));
    let again = store
        .load()
        .unwrap_or_else(|e| panic!("{label}: second load: {e}"));
    assert_eq!(
        again.recovery.meta.last_batch,
        last + 1,
        "{label}: continued batch kept"
    );
    assert_eq!(
        again.recovery.meta.folded_through,
        last + 1,
        "{label}: folded"
    );
    assert_eq!(
        store.log_records().ok(),
        Some(0),
        "{label}: log emptied by the fold"
    );
    assert_eq!(
        again.channels.records(),
        expected,
        "{label}: reload = memory"
    );
    let (d, b) = sum_balances(&expected);
    assert_eq!(b, d, "{label}: Σ B = Σ D after the continued batch");
}

/// Check how the hub behaved under `fault`, then recover every surviving image.
fn check(fault: Fault, out: &Outcome, creating: bool) {
    let label = format!("{fault:?}");
    let (images, files_at_crash) = {
        let d = lock(&out.disk);
        match fault {
            Fault::None => {
                assert!(out.completed, "{label}: the script completes");
                assert!(out.failures.is_empty(), "{label}: no failure");
                (vec![("clean", d.durable.clone())], None)
            }
            Fault::StopAfterSync(_) => {
                assert!(
                    out.open_error.is_none(),
                    "{label}: a lying disk gives no error"
                );
                assert!(
                    out.failures.is_empty(),
                    "{label}: a lying disk gives no error"
                );
                (
                    vec![("power cut", d.durable.clone())],
                    d.files_at_crash.clone(),
                )
            }
            Fault::FailWrite(_) => {
                assert!(d.write_failed, "{label}: the fault point is reached");
                assert!(
                    out.acked_after_fault.is_empty(),
                    "{label}: acks after the failed write: {:?}",
                    out.acked_after_fault
                );
                if out.open_error.is_none() && !d.fault_while_closing {
                    assert!(out.store_failed, "{label}: the store fail-stops");
                    let in_script =
                        matches!(fault, Fault::FailWrite(n) if n <= out.writes_at_shutdown);
                    assert!(
                        !(in_script && out.completed),
                        "{label}: the writer refuses work"
                    );
                    assert_eq!(out.failures.len(), 1, "{label}: the listener is told once");
                }
                (
                    vec![
                        ("restart", d.live.clone()),
                        ("power cut", d.durable.clone()),
                    ],
                    None,
                )
            }
        }
    };
    for (how, image) in images {
        // In a real power cut, snapshot files written after it never appear.
        let dir = data_dir_copy(out.dir.path(), |f| {
            files_at_crash
                .as_ref()
                .is_none_or(|kept| kept.iter().any(|k| k == f))
        });
        check_image(&format!("{label}, {how}"), image, dir.path(), out, creating);
    }
}

/// The fault points the workload reaches.
struct Points {
    /// Syncs in the whole run.
    syncs: u64,
    /// Writes in the whole run.
    writes: u64,
    /// Syncs and writes of the store's creation (`Store::open` on an empty disk).
    opened: (u64, u64),
}

impl Points {
    /// Whether `fault` hits before the store's creation has completed.
    fn creating(&self, fault: Fault) -> bool {
        match fault {
            Fault::None => false,
            Fault::StopAfterSync(n) => n < self.opened.0,
            Fault::FailWrite(n) => n <= self.opened.1,
        }
    }
}

/// Run the fault-free workload twice (it must be deterministic) and count.
fn fault_points() -> Points {
    let counts = |out: &Outcome| {
        let d = lock(&out.disk);
        (d.syncs, d.writes, out.opened_at)
    };
    let first = run(Fault::None);
    check(Fault::None, &first, false);
    let second = run(Fault::None);
    assert_eq!(
        counts(&first),
        counts(&second),
        "the workload is deterministic"
    );
    let (syncs, writes, opened) = counts(&first);
    Points {
        syncs,
        writes,
        opened: opened.expect("a fault-free open"),
    }
}

/// Run and check every fault of `faults`; returns those whose checks failed.
fn failing(points: &Points, faults: impl Iterator<Item = Fault>, strict: bool) -> Vec<Fault> {
    faults
        .filter(|&fault| {
            std::panic::catch_unwind(|| {
                let out = run(fault);
                let d = lock(&out.disk);
                let reached = d.crashed || d.write_failed;
                drop(d);
                assert!(reached, "{fault:?} is reached");
                check(fault, &out, points.creating(fault) && !strict);
            })
            .is_err()
        })
        .collect()
}

#[test]
fn a_power_cut_after_every_sync_loses_nothing_acked() {
    let points = fault_points();
    assert!(
        points.syncs >= 20,
        "the workload reaches {} syncs",
        points.syncs
    );
    let faults = (0..points.syncs).map(Fault::StopAfterSync);
    let failed = failing(&points, faults, false);
    assert!(failed.is_empty(), "{failed:?} of {} syncs", points.syncs);
}

#[test]
fn a_failed_write_at_every_point_fail_stops_and_recovers() {
    let points = fault_points();
    assert!(
        points.writes >= 20,
        "the workload reaches {} writes",
        points.writes
    );
    let faults = (1..=points.writes).map(Fault::FailWrite);
    let failed = failing(&points, faults, false);
    assert!(failed.is_empty(), "{failed:?} of {} writes", points.writes);
}

/// Finding (issue 20): a power cut or a failed write while redb creates the file
/// on the hub's very first start leaves a file that no later start opens ("cannot
/// open database: I/O error: invalid data"). redb sizes the file, writes a header
/// without its magic number, syncs, then writes the magic; since cberner/redb#914 a
/// non-empty file without the magic is refused rather than initialised. Nothing was
/// acked, so nothing is lost, but the hub cannot start until an operator deletes
/// `hub.redb`, and the error does not say so. The fix is for the store to create
/// the database under a temporary name and rename it once initialised. Run with
/// `--ignored`: fails until then.
#[test]
#[ignore = "finding: a fault while creating the database leaves it unopenable"]
fn finding_a_fault_while_creating_the_database_leaves_it_unopenable() {
    let points = fault_points();
    let syncs = (0..points.opened.0).map(Fault::StopAfterSync);
    let writes = (1..=points.opened.1).map(Fault::FailWrite);
    let failed = failing(&points, syncs.chain(writes), true);
    assert!(failed.is_empty(), "unopenable after {failed:?}");
}
