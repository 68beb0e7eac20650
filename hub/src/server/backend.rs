//! Opening the hub's durable parts and wiring them to the server: the ledger store
//! (load: channel table plus log tail), the hub key, the group-commit writer with its
//! [`CommitListener`], and the settlement layer's [`Operator`] over a [`LedgerPort`]
//! implemented on the writer.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use channel::Epoch;
use channel::ledger::{Applied, ChannelRecord, Covered, Event, Refused, Snapshot};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::HubError;
use super::core::{CommitPort, Shared, SharedParts, Sink};
use super::verifier::VerifierPool;
use crate::config::HubConfig;
use crate::metrics::Metrics;
use crate::settlement_service::{BoxFuture, LedgerPort, Operator};
use crate::state::Channels;
use crate::store::{
    CommitError, SnapshotError, SnapshotMeta, Store, StoreOptions, blind_seed, hub_key,
    read_snapshot, snapshot_path,
};
use crate::writer::{CommitListener, CommitRequest, Writer, WriterConfig, WriterHandle};

/// How long `/operator/cut` waits for the snapshot file after the durable cut.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(120);

/// The durable side of a running hub.
pub(crate) struct Backend {
    pub operator: Arc<Operator>,
    writer: Option<Writer>,
}

impl Backend {
    /// Open everything under `config.data_dir` and build the shared server state.
    pub(crate) async fn open(
        config: Arc<HubConfig>,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Shared>, Backend), HubError> {
        let dir = config.data_dir.clone();
        let hub_id = config.hub_id;
        let store_backend = config.store_backend.clone();
        let (key, store, loaded) = tokio::task::spawn_blocking(move || {
            let key = hub_key(&dir).map_err(|e| HubError::Key(e.to_string()))?;
            let store = match &store_backend {
                None => Store::open(&dir, hub_id),
                Some(hook) => {
                    let backend = hook(&dir).map_err(|e| HubError::Store(e.to_string()))?;
                    Store::open_with_backend(&dir, hub_id, StoreOptions::default(), Boxed(backend))
                }
            }
            .map_err(|e| HubError::Store(e.to_string()))?;
            let started = std::time::Instant::now();
            let loaded = store.load().map_err(|e| HubError::Store(e.to_string()))?;
            info!(
                channels = loaded.channels.len(),
                replayed = loaded.recovery.replayed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "ledger loaded"
            );
            Ok::<_, HubError>((key, store, loaded))
        })
        .await
        .map_err(|e| HubError::Store(e.to_string()))??;

        let channels = Arc::new(loaded.channels);
        let recovery = loaded.recovery;
        let last_cut = recovery.meta.last_epoch;
        let (snapshots_tx, snapshots_rx) = watch::channel(
            recovery
                .epochs
                .iter()
                .filter(|e| e.snapshot.is_some())
                .map(|e| e.epoch)
                .max()
                .unwrap_or(0),
        );
        let listener = Arc::new(Listener {
            shared: OnceLock::new(),
            snapshots: snapshots_tx,
        });
        let seed = blind_seed(&key);
        let mut writer_config = WriterConfig::new(seed);
        writer_config.queue_capacity = config.commit.queue.max(1);
        writer_config.max_batch_payments = config.commit.max_batch as u64;
        writer_config.timeline = Arc::clone(&metrics.timeline);
        writer_config.thread_slice = config.thread_slice;
        let writer = Writer::spawn(
            store,
            Arc::clone(&channels),
            recovery,
            writer_config,
            Arc::clone(&listener) as Arc<dyn CommitListener>,
        )
        .map_err(|e| HubError::Writer(e.to_string()))?;
        let handle = writer.handle();
        let writer_metrics = writer.metrics();

        let hub_pk = key.public();
        // The crypto tables (a few ms), before the first session needs them.
        channel::crypto::warm_up();
        let eight_lanes = channel::crypto::eight_lanes_available();
        info!(
            eight_lanes,
            "signature verification: {}",
            if eight_lanes {
                "eight per pass (AVX-512 IFMA)"
            } else {
                "one by one (this CPU has no AVX-512 IFMA: about 4x the CPU per signature)"
            }
        );
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let verifier = VerifierPool::start(
                config.verifier_threads(),
                config.verifier_queue,
                Arc::new(Sink(weak.clone())),
                Arc::clone(&metrics),
                config.thread_slice,
            );
            Shared::new(SharedParts {
                config: Arc::clone(&config),
                channels: Arc::clone(&channels),
                metrics: Arc::clone(&metrics),
                verifier,
                commit: Arc::new(WriterPort(handle.clone())),
                writer_metrics,
                hub_key: key,
                epoch: last_cut + 1,
            })
        });
        let _ = listener.shared.set(Arc::downgrade(&shared));

        let ledger = Arc::new(HubLedger {
            shared: Arc::downgrade(&shared),
            channels,
            writer: handle,
            snapshots: snapshots_rx,
            dir: config.data_dir.clone(),
        });
        let operator = Operator::open(
            &config.data_dir,
            hub_id,
            hub_pk,
            config.bond,
            ledger,
            config.close_verifier.clone(),
        )
        .await
        .map_err(|e| HubError::Settlement(e.to_string()))?
        .with_blind_seed(seed);
        Ok((
            shared,
            Backend {
                operator: Arc::new(operator),
                writer: Some(writer),
            },
        ))
    }

    /// Stop the writer after it has committed everything queued.
    pub(crate) async fn shutdown(&mut self) -> Result<(), HubError> {
        if let Some(writer) = self.writer.take() {
            tokio::task::spawn_blocking(move || writer.shutdown())
                .await
                .map_err(|e| HubError::Writer(e.to_string()))?;
        }
        Ok(())
    }
}

impl Drop for Backend {
    /// A hub dropped without [`crate::HubHandle::shutdown`]: the writer still commits
    /// what it holds, but stopping it blocks, which must not happen on a runtime
    /// thread, so it stops on a thread of its own.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = std::thread::Builder::new()
                .name("zkhub-writer-stop".into())
                .spawn(move || writer.shutdown());
        }
    }
}

/// A boxed storage backend ([`HubConfig::store_backend`], tests only).
#[derive(Debug)]
struct Boxed(Box<dyn redb::StorageBackend>);

impl redb::StorageBackend for Boxed {
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.write(offset, data)
    }
    fn close(&self) -> std::io::Result<()> {
        self.0.close()
    }
}

/// Verified covered ranges go to the writer, blocking the verifier thread while the
/// writer's queue is full (back-pressure up to the sessions).
struct WriterPort(WriterHandle);

impl CommitPort for WriterPort {
    fn submit_covered(&self, covered: Covered) -> Result<(), ()> {
        self.0
            .submit_blocking(CommitRequest::Covered(covered))
            .map_err(|_| ())
    }
}

/// Receives durable commits from the writer thread.
struct Listener {
    shared: OnceLock<Weak<Shared>>,
    /// Highest epoch whose snapshot file is written.
    snapshots: watch::Sender<Epoch>,
}

impl CommitListener for Listener {
    fn committed(&self, _batch_number: u64, applied: Applied) {
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            shared.on_applied(&applied);
        }
    }

    fn refused(&self, refused: Vec<Refused>) {
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            for r in refused {
                shared.on_exited(r.channel, r.first_seq);
            }
        }
    }

    fn failed(&self, err: &CommitError) {
        error!(error = %err, "group commit failed");
        if let Some(shared) = self.shared.get().and_then(Weak::upgrade) {
            shared.on_storage_failure(&err.to_string());
        }
    }

    fn snapshot_written(&self, epoch: Epoch, result: Result<&SnapshotMeta, &SnapshotError>) {
        match result {
            Ok(meta) => {
                info!(epoch, channels = meta.channels, "epoch snapshot written");
                self.snapshots.send_modify(|e| *e = (*e).max(epoch));
            }
            Err(e) => warn!(epoch, error = %e, "epoch snapshot failed"),
        }
    }
}

/// The operator's view of the hub ledger.
struct HubLedger {
    shared: Weak<Shared>,
    channels: Arc<Channels>,
    writer: WriterHandle,
    snapshots: watch::Receiver<Epoch>,
    dir: PathBuf,
}

impl LedgerPort for HubLedger {
    fn record(&self, id: channel::ChannelId) -> Option<ChannelRecord> {
        self.channels.record(id)
    }

    fn apply_events(&self, events: Vec<Event>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            for event in events {
                self.writer
                    .submit_async(CommitRequest::Event(event))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            self.writer
                .flush()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn cut(&self, epoch: Epoch) -> BoxFuture<'_, Result<PathBuf, String>> {
        Box::pin(async move {
            // Receipts signed from now on name the next epoch: a receipt that still
            // names `epoch` read its amount before this point, so the cut's snapshot
            // (taken after) shows at least that much.
            if let Some(shared) = self.shared.upgrade() {
                shared.begin_epoch(epoch + 1);
            }
            self.writer.cut(epoch).await.map_err(|e| e.to_string())?;
            let mut written = self.snapshots.clone();
            tokio::time::timeout(SNAPSHOT_WAIT, written.wait_for(|e| *e >= epoch))
                .await
                .map_err(|_| {
                    format!("snapshot of epoch {epoch} not written within {SNAPSHOT_WAIT:?}")
                })?
                .map_err(|e| e.to_string())?;
            Ok(snapshot_path(&self.dir, epoch))
        })
    }

    fn snapshot(&self, epoch: Epoch) -> Result<Snapshot, String> {
        read_snapshot(&self.dir, epoch).map_err(|e| e.to_string())
    }

    fn last_cut(&self) -> Epoch {
        self.shared
            .upgrade()
            .map_or(0, |shared| shared.epoch().saturating_sub(1))
    }
}
