//! The writer (docs/DESIGN.md §6): one OS thread that owns all writes to the store.
//! This module is its wiring: the request queue and its handles, the thread's loop,
//! control requests and fail-stop. The three jobs live beside it:
//!
//! - [`group_commit`]: drain the queue into one batch, append it to the log in one
//!   `Durability::Immediate` transaction ([`Store::append_batch`]), apply it to the
//!   in-memory [`Channels`], and only then hand the [`Applied`] acks and credits to
//!   the [`CommitListener`]. Nothing is acknowledged before its batch is durable.
//! - [`fold`]: between batches, fold the log into the channel table in bounded
//!   slices ([`Store::fold`]), so a batch waits for at most one slice and storage
//!   stays bounded.
//! - [`snapshots`]: epoch cuts run at a batch boundary (everything submitted before
//!   the [`CommitRequest::Cut`] is committed first, the cut is recorded durably) and
//!   a background thread writes the snapshot file. Folding pauses until it is
//!   written (so that a restart can still rebuild the cut state).
//!
//! Fail-stop: if a write fails, the listener is told, waiting control requests get
//! an error, no further acks are released, and the thread exits; the hub must
//! restart and recover from what is durable.

mod fold;
mod group_commit;
mod snapshots;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use channel::field::Fe;
use channel::ledger::{Applied, Covered, Event, Refused};
use channel::types::{ChannelId, Epoch};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{BYTES_BUCKETS, COUNT_BUCKETS, Histogram, LATENCY_US_BUCKETS, Unit};
use crate::state::Channels;
use crate::store::{CommitError, EpochRecord, Recovery, SnapshotError, SnapshotMeta, Store};
use crate::timeline::Timeline;

/// Something for the group committer.
#[derive(Debug)]
pub enum CommitRequest {
    /// A covered range ([`channel::ledger::ChannelState::cover`]).
    Covered(Covered),
    /// Several covered ranges in one queue slot (ranges of one channel in seq order).
    CoveredMany(Vec<Covered>),
    /// A settlement-layer event (applied before the batch's debits and credits).
    Event(Event),
    /// Cut epoch `epoch` after everything submitted before this request. The reply
    /// comes once the cut is durable; the snapshot file follows in the background
    /// ([`CommitListener::snapshot_written`]).
    Cut {
        /// The epoch to cut (must be after the last cut).
        epoch: Epoch,
        /// Receives the cut record.
        reply: oneshot::Sender<Result<EpochRecord, WriterError>>,
    },
    /// Barrier: replies with the last committed batch number once everything
    /// submitted before it is durable, applied and handed to the listener.
    Flush(oneshot::Sender<Result<u64, WriterError>>),
    /// Fold every unfolded log record into the channel table now (a full round,
    /// in slices), then reply with the folded-through batch number.
    FoldAll(oneshot::Sender<Result<u64, WriterError>>),
}

/// Why a request was not carried out.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriterError {
    /// The writer has stopped (shut down, or fail-stopped after an error).
    #[error("the writer has stopped")]
    Stopped,
    /// The store refused or failed.
    #[error(transparent)]
    Commit(Arc<CommitError>),
}

/// Why [`WriterHandle::submit`] gave a request back.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full (back-pressure: retry later or slow the client down).
    #[error("the commit queue is full")]
    Full(Box<CommitRequest>),
    /// The writer has stopped.
    #[error("the writer has stopped")]
    Stopped(Box<CommitRequest>),
}

impl SubmitError {
    /// The request that was not queued.
    pub fn into_request(self) -> CommitRequest {
        match self {
            SubmitError::Full(r) | SubmitError::Stopped(r) => *r,
        }
    }
}

/// Receives the outcome of each group commit. Called on the writer thread: keep it
/// short (e.g. push to per-session queues).
pub trait CommitListener: Send + Sync + 'static {
    /// Batch `batch_number` is durable and applied: release these acks and credits.
    fn committed(&self, batch_number: u64, applied: Applied);
    /// A write failed: the writer stops; nothing more will be committed.
    fn failed(&self, err: &CommitError);
    /// Covered ranges refused because their payers had exited (reported after the
    /// batch that was being gathered is applied, so those payers' heads are final).
    fn refused(&self, refused: Vec<Refused>) {
        let _ = refused;
    }
    /// An epoch's snapshot file was written (or could not be).
    fn snapshot_written(&self, epoch: Epoch, result: Result<&SnapshotMeta, &SnapshotError>) {
        let _ = (epoch, result);
    }
}

/// Writer tuning.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Queue slots (requests) between the server and the writer.
    pub queue_capacity: usize,
    /// Stop draining once a batch holds this many payments.
    pub max_batch_payments: u64,
    /// Stop draining after this many requests.
    pub max_batch_requests: usize,
    /// Rows per fold slice (bounds how long a batch can wait behind a fold: about
    /// 5 ms for 128 rows at random ids in a 100k-row table, see the `commit`
    /// bench). Slices grow up to 8× while the unfolded log exceeds
    /// `fold_after_records` by that factor.
    pub fold_slice_rows: usize,
    /// Start a fold round once this many log records are unfolded.
    pub fold_after_records: u64,
    /// When idle, start a fold round if the last one ended this long ago.
    pub fold_idle_interval: Duration,
    /// The writer counts as idle once it has committed no batch for this long (and its
    /// queue is empty). A queue that empties for a moment is not idleness: at the
    /// start of a load after a quiet spell it did, and a fold round of the first
    /// payers' channels (cold rows, 1–2 ms a slice) then sat in front of the first
    /// batches.
    pub fold_idle_quiet: Duration,
    /// Fold everything before exiting on shutdown.
    pub fold_on_shutdown: bool,
    /// Seed of the per-channel blinds in epoch snapshots (from the hub's secret,
    /// see [`crate::store::blind_seed`]).
    pub blind_seed: Fe,
    /// Where each commit and fold slice is recorded by wall-clock slice (shared with
    /// the server's [`crate::metrics::Metrics::timeline`]).
    pub timeline: Arc<Timeline>,
    /// Scheduler slice the writer thread asks for ([`crate::thread_slice`]); `None`
    /// leaves the kernel's default.
    pub thread_slice: Option<Duration>,
}

impl WriterConfig {
    /// Defaults with the given blind seed.
    pub fn new(blind_seed: Fe) -> Self {
        WriterConfig {
            queue_capacity: 16_384,
            max_batch_payments: 65_536,
            max_batch_requests: 16_384,
            fold_slice_rows: 128,
            fold_after_records: 256,
            fold_idle_interval: Duration::from_millis(500),
            fold_idle_quiet: Duration::from_millis(50),
            fold_on_shutdown: true,
            blind_seed,
            timeline: Arc::default(),
            thread_slice: None,
        }
    }
}

/// What the writer has done, for `/metrics` (read with `Relaxed` loads).
#[derive(Debug)]
pub struct WriterMetrics {
    /// Batches committed.
    pub batches: AtomicU64,
    /// Payments committed.
    pub payments: AtomicU64,
    /// Covered ranges committed.
    pub ranges: AtomicU64,
    /// Settlement events committed.
    pub events: AtomicU64,
    /// Covered ranges refused because their payers had exited.
    pub refused_ranges: AtomicU64,
    /// Log bytes appended.
    pub bytes: AtomicU64,
    /// Last committed batch number.
    pub last_batch: AtomicU64,
    /// Every batch up to this one is folded.
    pub folded_through: AtomicU64,
    /// Fold slices committed.
    pub fold_slices: AtomicU64,
    /// Channel rows written by folds.
    pub fold_rows: AtomicU64,
    /// Folded log records deleted (trimmed by group commits and idle slices).
    pub fold_deleted: AtomicU64,
    /// Epoch snapshots written.
    pub snapshots: AtomicU64,
    /// Set once the writer fail-stopped.
    pub failed: AtomicBool,
    /// Time in the group commit's `commit` (page writes + fsync), µs.
    pub commit_us: Histogram,
    /// From the first request of a batch dequeued to the listener notified, µs.
    pub batch_us: Histogram,
    /// Time in a fold slice's `commit` plus row gathering, µs.
    pub fold_us: Histogram,
    /// Payments per batch.
    pub batch_payments: Histogram,
    /// Bytes per log record.
    pub batch_bytes: Histogram,
}

impl WriterMetrics {
    fn new(last_batch: u64, folded_through: u64) -> Self {
        WriterMetrics {
            batches: AtomicU64::new(0),
            payments: AtomicU64::new(0),
            ranges: AtomicU64::new(0),
            events: AtomicU64::new(0),
            refused_ranges: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_batch: AtomicU64::new(last_batch),
            folded_through: AtomicU64::new(folded_through),
            fold_slices: AtomicU64::new(0),
            fold_rows: AtomicU64::new(0),
            fold_deleted: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            commit_us: Histogram::new(LATENCY_US_BUCKETS, Unit::MicrosAsSeconds),
            batch_us: Histogram::new(LATENCY_US_BUCKETS, Unit::MicrosAsSeconds),
            fold_us: Histogram::new(LATENCY_US_BUCKETS, Unit::MicrosAsSeconds),
            batch_payments: Histogram::new(COUNT_BUCKETS, Unit::Count),
            batch_bytes: Histogram::new(BYTES_BUCKETS, Unit::Count),
        }
    }
}

enum Msg {
    Req(CommitRequest),
    Shutdown,
}

/// The submit side of the writer (cheap to clone).
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    /// Shared with the writer: `failed` is set before anyone hears of a failure, so a
    /// submit after a refused barrier is refused too (the queue closes a moment later).
    metrics: Arc<WriterMetrics>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Req(r) => r.fmt(f),
            Msg::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl WriterHandle {
    fn refuse_if_failed(&self, req: CommitRequest) -> Result<CommitRequest, SubmitError> {
        if self
            .metrics
            .failed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            Err(SubmitError::Stopped(Box::new(req)))
        } else {
            Ok(req)
        }
    }

    /// Queue a request without blocking.
    pub fn submit(&self, req: CommitRequest) -> Result<(), SubmitError> {
        let req = self.refuse_if_failed(req)?;
        self.tx.try_send(Msg::Req(req)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Msg::Req(r)) => SubmitError::Full(Box::new(r)),
            mpsc::error::TrySendError::Closed(Msg::Req(r)) => SubmitError::Stopped(Box::new(r)),
            _ => unreachable!("only requests are submitted here"),
        })
    }

    /// Queue a request, waiting for room.
    pub async fn submit_async(&self, req: CommitRequest) -> Result<(), SubmitError> {
        let req = self.refuse_if_failed(req)?;
        self.tx.send(Msg::Req(req)).await.map_err(|e| match e.0 {
            Msg::Req(r) => SubmitError::Stopped(Box::new(r)),
            Msg::Shutdown => unreachable!("only requests are submitted here"),
        })
    }

    /// Queue a request from a thread outside any async runtime, blocking for room.
    pub fn submit_blocking(&self, req: CommitRequest) -> Result<(), SubmitError> {
        let req = self.refuse_if_failed(req)?;
        self.tx.blocking_send(Msg::Req(req)).map_err(|e| match e.0 {
            Msg::Req(r) => SubmitError::Stopped(Box::new(r)),
            Msg::Shutdown => unreachable!("only requests are submitted here"),
        })
    }

    /// Requests waiting in the queue.
    pub fn queue_len(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Wait until everything submitted so far is durable and applied; returns the
    /// last committed batch number.
    pub async fn flush(&self) -> Result<u64, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.submit_async(CommitRequest::Flush(tx))
            .await
            .map_err(|_| WriterError::Stopped)?;
        rx.await.map_err(|_| WriterError::Stopped)?
    }

    /// [`WriterHandle::flush`] for threads outside any async runtime.
    pub fn flush_blocking(&self) -> Result<u64, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.submit_blocking(CommitRequest::Flush(tx))
            .map_err(|_| WriterError::Stopped)?;
        rx.blocking_recv().map_err(|_| WriterError::Stopped)?
    }

    /// Cut epoch `epoch` after everything submitted so far.
    pub async fn cut(&self, epoch: Epoch) -> Result<EpochRecord, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.submit_async(CommitRequest::Cut { epoch, reply: tx })
            .await
            .map_err(|_| WriterError::Stopped)?;
        rx.await.map_err(|_| WriterError::Stopped)?
    }

    /// [`WriterHandle::cut`] for threads outside any async runtime.
    pub fn cut_blocking(&self, epoch: Epoch) -> Result<EpochRecord, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.submit_blocking(CommitRequest::Cut { epoch, reply: tx })
            .map_err(|_| WriterError::Stopped)?;
        rx.blocking_recv().map_err(|_| WriterError::Stopped)?
    }

    /// Fold everything now (for tests and maintenance), from outside any runtime.
    pub fn fold_all_blocking(&self) -> Result<u64, WriterError> {
        let (tx, rx) = oneshot::channel();
        self.submit_blocking(CommitRequest::FoldAll(tx))
            .map_err(|_| WriterError::Stopped)?;
        rx.blocking_recv().map_err(|_| WriterError::Stopped)?
    }
}

/// The running writer: owns its thread. Dropping it shuts it down (blocking).
pub struct Writer {
    handle: WriterHandle,
    metrics: Arc<WriterMetrics>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Start the writer thread over `store` and the loaded `channels`, continuing
    /// from `recovery` (resumes unwritten snapshots, folds the replayed tail).
    pub fn spawn(
        store: Store,
        channels: Arc<Channels>,
        recovery: Recovery,
        config: WriterConfig,
        listener: Arc<dyn CommitListener>,
    ) -> std::io::Result<Writer> {
        assert!(config.queue_capacity > 0 && config.fold_slice_rows > 0);
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let metrics = Arc::new(WriterMetrics::new(
            recovery.meta.last_batch,
            recovery.meta.folded_through,
        ));
        let mut core = Core {
            store,
            channels,
            listener,
            metrics: metrics.clone(),
            last_batch: recovery.meta.last_batch,
            folded_through: recovery.meta.folded_through,
            trimmed_through: recovery.trimmed_through,
            dirty: recovery.dirty.iter().copied().collect(),
            round: None,
            last_fold: Instant::now(),
            last_commit: Instant::now(),
            snapshots_pending: Arc::new(AtomicUsize::new(0)),
            snapshot_threads: Vec::new(),
            config,
        };
        let pending: Vec<EpochRecord> = recovery.pending_snapshots().copied().collect();
        let on_panic = (core.listener.clone(), metrics.clone());
        let slice = core.config.thread_slice;
        let thread = std::thread::Builder::new()
            .name("zkhub-writer".into())
            .spawn(move || {
                crate::thread_slice::apply(slice, "writer");
                // A panic fail-stops like an I/O error (the queue closes as `core` and
                // `rx` unwind; nothing more is acked), and the listener is told.
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    for cut in pending {
                        if core.resume_snapshot(cut).is_err() {
                            return;
                        }
                    }
                    core.run(rx);
                }));
                if let Err(panic) = run {
                    let what = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into());
                    on_panic
                        .1
                        .failed
                        .store(true, std::sync::atomic::Ordering::Release);
                    on_panic.0.failed(&CommitError::Panicked(what));
                }
            })?;
        Ok(Writer {
            handle: WriterHandle {
                tx,
                metrics: metrics.clone(),
            },
            metrics,
            thread: Some(thread),
        })
    }

    /// A submit handle.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// The writer's metrics.
    pub fn metrics(&self) -> Arc<WriterMetrics> {
        self.metrics.clone()
    }

    /// Commit everything queued before this call, fold (if configured), wait for
    /// snapshot threads, and stop. Blocks until the thread has exited: from async
    /// code, call it in `spawn_blocking`.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // Not `blocking_send`: this may run inside an async runtime (a drop).
            // The queue may be full; the writer drains it, so room comes.
            while let Err(mpsc::error::TrySendError::Full(_)) =
                self.handle.tx.try_send(Msg::Shutdown)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Core {
    store: Store,
    channels: Arc<Channels>,
    listener: Arc<dyn CommitListener>,
    metrics: Arc<WriterMetrics>,
    config: WriterConfig,
    last_batch: u64,
    folded_through: u64,
    /// Every log record up to this one is deleted (≤ `folded_through`).
    trimmed_through: u64,
    /// Channels touched by batches after the current round's start.
    dirty: HashSet<ChannelId>,
    round: Option<fold::Round>,
    last_fold: Instant,
    /// When the last batch was committed (or the writer started).
    last_commit: Instant,
    snapshots_pending: Arc<AtomicUsize>,
    snapshot_threads: Vec<JoinHandle<()>>,
}

/// The writer stopped on a failure (already reported).
struct Fatal;

impl Core {
    /// The thread's loop: one batch per turn, then its control request, then a fold
    /// slice if one is due; until shutdown or a failure.
    fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        // Waits for the next request with a timeout when an idle fold will come due
        // (the queue is tokio's: its senders are async sessions and blocking verifiers).
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
        let mut shutdown = false;
        while !shutdown {
            let first = if self.fold_due(true) || self.trim_due() {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        // Idle: fold first (it makes records trimmable), then trim.
                        let step = if self.fold_due(true) {
                            self.fold_step(false)
                        } else {
                            self.trim_step(false, fold::TRIM_IDLE)
                        };
                        if step.is_err() {
                            return self.fail_drain(rx);
                        }
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else if let (Some(wait), Some(timer)) = (self.idle_fold_in(), &timer) {
                // Records are unfolded: wake when an idle fold is due, so that what
                // was committed before a quiet spell (deposits before a run) is folded
                // during it, not when payments resume.
                match timer.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(_elapsed) => continue,
                }
            } else {
                match rx.blocking_recv() {
                    Some(m) => m,
                    None => break,
                }
            };
            let mut gathered = self.gather(first, &mut rx);
            shutdown = gathered.shutdown;
            let control = gathered.control.take();
            if self.commit_gathered(&mut gathered).is_err() {
                if let Some(req) = control {
                    reply_stopped(req);
                }
                return self.fail_drain(rx);
            }
            if let Some(req) = control
                && self.control(req).is_err()
            {
                return self.fail_drain(rx);
            }
            if !shutdown && self.fold_due(false) && self.fold_step(false).is_err() {
                return self.fail_drain(rx);
            }
        }
        if self.config.fold_on_shutdown && self.fold_all().is_err() {
            return self.fail_drain(rx);
        }
        self.join_snapshots();
    }

    /// Run a control request (after the batch gathered before it is committed).
    fn control(&mut self, req: CommitRequest) -> Result<(), Fatal> {
        match req {
            CommitRequest::Flush(reply) => {
                let _ = reply.send(Ok(self.last_batch));
            }
            CommitRequest::FoldAll(reply) => {
                self.fold_all()?;
                let _ = reply.send(Ok(self.folded_through));
            }
            CommitRequest::Cut { epoch, reply } => match self.store.cut_epoch(epoch) {
                Ok((record, txn)) => {
                    self.spawn_snapshot(record, txn);
                    let _ = reply.send(Ok(record));
                }
                Err(e) if !e.is_io() => {
                    let _ = reply.send(Err(WriterError::Commit(Arc::new(e))));
                }
                Err(e) => {
                    let err = self.fatal(e);
                    let _ = reply.send(Err(WriterError::Stopped));
                    return Err(err);
                }
            },
            CommitRequest::Covered(_) | CommitRequest::CoveredMany(_) | CommitRequest::Event(_) => {
                unreachable!("data requests are batched")
            }
        }
        Ok(())
    }

    /// Stop on `e`: refuse further submits, tell the listener.
    fn fatal(&self, e: CommitError) -> Fatal {
        self.metrics
            .failed
            .store(true, std::sync::atomic::Ordering::Release);
        self.listener.failed(&e);
        Fatal
    }

    /// After a failure: refuse every queued control request, then stop (dropping
    /// the receiver makes every later submit fail with `Stopped`).
    fn fail_drain(&mut self, mut rx: mpsc::Receiver<Msg>) {
        rx.close();
        while let Ok(msg) = rx.try_recv() {
            if let Msg::Req(req) = msg {
                reply_stopped(req);
            }
        }
        self.join_snapshots();
    }
}

fn reply_stopped(req: CommitRequest) {
    match req {
        CommitRequest::Cut { reply, .. } => {
            let _ = reply.send(Err(WriterError::Stopped));
        }
        CommitRequest::Flush(reply) | CommitRequest::FoldAll(reply) => {
            let _ = reply.send(Err(WriterError::Stopped));
        }
        CommitRequest::Covered(_) | CommitRequest::CoveredMany(_) | CommitRequest::Event(_) => {}
    }
}
