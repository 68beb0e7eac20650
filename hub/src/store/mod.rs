//! The hub's durable state: one redb file in the data directory (docs/DESIGN.md §6, §7).
//!
//! Tables (layout private to this module):
//! - `meta` (`&str → u64`): `schema_version`, `hub_id`, `last_batch` (last committed
//!   batch number, 0 = none), `folded_through` (every batch up to it is reflected in
//!   `channels`; its log records are garbage), `last_epoch` (last cut epoch, 0 = none).
//! - `channels` (`u32 → row`): one fixed-layout row per channel ([`codec`]), each
//!   carrying `as_of`, the last batch it reflects.
//! - `log` (`u64 → Batch::encode()`): one record per group commit after `folded_through`,
//!   and folded ones not trimmed yet (nothing reads a record at or below
//!   `folded_through`).
//! - `epochs` (`u64 → EpochRecord`): epoch cuts and their snapshot files.
//!
//! The ack path only appends to `log` ([`Store::append_batch`], one `Immediate`
//! transaction: its cost grows with the batch's bytes). Folding ([`Store::fold`])
//! rewrites channel rows from the in-memory table in bounded slices, off the ack
//! path; because every row carries `as_of`, a fold round can be spread over many
//! slices and a crash in the middle loses nothing: replay skips, per channel, the
//! batches its row already reflects ([`Store::load`]). The last slice of a round
//! advances `folded_through`. The folded records are deleted a few at a time by the
//! group commits that follow ([`Store::append_batch_and_trim`]), in their transaction:
//! deleting a round's 256 records at once took 1.4–3.7 ms, a writer stall every round;
//! four per commit add tens of microseconds to each.
//!
//! Epoch cuts ([`Store::cut_epoch`]) record the cut batch durably and hand back a
//! read transaction over exactly that state, from which [`snapshot`] materialises a
//! self-contained snapshot file that another process reads with [`read_snapshot`].

pub mod closed_state;
pub mod codec;
mod error;
mod key;
mod replay;
pub mod snapshot;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use channel::ledger::{Batch, ChannelRecord};
use channel::types::{ChannelId, Epoch, HubId};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};

pub use closed_state::{
    ClosedStateError, closed_state_path, latest_closed_state, read_closed_state, write_closed_state,
};
pub use codec::{EpochRecord, SnapshotMeta};
pub use error::{CommitError, KeyError, LoadError, OpenError, SnapshotError, StoreError};
pub use key::{KEY_FILE, blind_seed, hub_key};
pub use replay::{batch_channels, event_channel};
pub use snapshot::{SnapshotFile, read_snapshot, read_snapshot_file, snapshot_path};

use crate::state::Channels;

/// Schema version this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;
/// The database file's name inside the data directory.
pub const DB_FILE: &str = "hub.redb";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const CHANNELS: TableDefinition<u32, &[u8]> = TableDefinition::new("channels");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const EPOCHS: TableDefinition<u64, &[u8]> = TableDefinition::new("epochs");

const M_SCHEMA: &str = "schema_version";
const M_HUB_ID: &str = "hub_id";
const M_LAST_BATCH: &str = "last_batch";
const M_FOLDED: &str = "folded_through";
const M_LAST_EPOCH: &str = "last_epoch";

/// Tuning for [`Store::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 256 << 20,
        }
    }
}

/// What one [`Store::append_batch`] cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendStats {
    /// Bytes of the log record.
    pub bytes: usize,
    /// Time spent in `commit` (page writes and fsync).
    pub commit: Duration,
    /// Folded log records deleted in the same transaction.
    pub trimmed: u64,
}

/// What one [`Store::fold`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldStats {
    /// Rows written.
    pub rows: usize,
    /// Time spent in `commit`.
    pub commit: Duration,
}

/// The durable counters of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreMeta {
    /// Hub id.
    pub hub_id: HubId,
    /// Last committed batch (0: none).
    pub last_batch: u64,
    /// Every batch up to this one is folded into `channels`.
    pub folded_through: u64,
    /// Last cut epoch (0: none).
    pub last_epoch: Epoch,
}

/// Where loading left off, for the writer to continue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Durable counters at load.
    pub meta: StoreMeta,
    /// Channel rows read.
    pub rows: u64,
    /// Log records replayed on top of the channel rows.
    pub replayed: u64,
    /// Time spent reading the rows.
    pub rows_time: Duration,
    /// Time spent replaying the log tail.
    pub replay_time: Duration,
    /// Channels touched by the replayed records (their rows are stale: the writer's
    /// first fold round rewrites them), sorted.
    pub dirty: Vec<ChannelId>,
    /// Every epoch cut, oldest first.
    pub epochs: Vec<EpochRecord>,
    /// Every log record up to this one is deleted (at most `meta.folded_through`; the
    /// records after it up to `folded_through` are folded, waiting to be trimmed).
    pub trimmed_through: u64,
}

impl Recovery {
    /// Cut epochs whose snapshot file was not written yet (the writer resumes them).
    pub fn pending_snapshots(&self) -> impl Iterator<Item = &EpochRecord> {
        self.epochs.iter().filter(|e| e.snapshot.is_none())
    }
}

/// The result of [`Store::load`].
#[derive(Debug)]
pub struct Loaded {
    /// Every channel's committed state.
    pub channels: Channels,
    /// Where the writer continues.
    pub recovery: Recovery,
}

/// The hub's store: a cheap handle (clones share one database).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    dir: PathBuf,
    hub_id: HubId,
    failed: AtomicBool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("hub_id", &self.inner.hub_id)
            .field("failed", &self.is_failed())
            .finish()
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn read_err(e: impl Into<redb::Error>) -> LoadError {
    LoadError::Read(e.into())
}

fn meta_get(
    table: &impl ReadableTable<&'static str, u64>,
    key: &'static str,
) -> Result<u64, LoadError> {
    Ok(table
        .get(key)
        .map_err(read_err)?
        .ok_or(LoadError::MissingMeta(key))?
        .value())
}

fn read_meta(txn: &ReadTransaction) -> Result<StoreMeta, LoadError> {
    let meta = txn.open_table(META).map_err(read_err)?;
    Ok(StoreMeta {
        hub_id: meta_get(&meta, M_HUB_ID)?,
        last_batch: meta_get(&meta, M_LAST_BATCH)?,
        folded_through: meta_get(&meta, M_FOLDED)?,
        last_epoch: meta_get(&meta, M_LAST_EPOCH)?,
    })
}

fn read_epochs(txn: &ReadTransaction) -> Result<Vec<EpochRecord>, LoadError> {
    let table = txn.open_table(EPOCHS).map_err(read_err)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(read_err)? {
        let (k, v) = entry.map_err(read_err)?;
        let rec = EpochRecord::decode(v.value()).ok_or(LoadError::Epoch(k.value()))?;
        if rec.epoch != k.value() {
            return Err(LoadError::Epoch(k.value()));
        }
        out.push(rec);
    }
    Ok(out)
}

/// Why the body of a [`Store::write`] stopped.
enum Abort {
    /// I/O failed: the store fail-stops.
    Io(redb::Error),
    /// The request is refused (a caller bug or a race the caller handles): nothing
    /// is written and the store stays usable.
    Refused(CommitError),
}

impl From<redb::TableError> for Abort {
    fn from(e: redb::TableError) -> Self {
        Abort::Io(e.into())
    }
}

impl From<redb::StorageError> for Abort {
    fn from(e: redb::StorageError) -> Self {
        Abort::Io(e.into())
    }
}

impl Store {
    /// Open (or create) the store in `dir` for hub `hub_id`, with default options.
    pub fn open(dir: impl AsRef<Path>, hub_id: HubId) -> Result<Store, OpenError> {
        Self::open_with(dir, hub_id, StoreOptions::default())
    }

    /// Open (or create) the store in `dir` for hub `hub_id`. Fails if another process
    /// has the database open, or if it belongs to another hub.
    pub fn open_with(
        dir: impl AsRef<Path>,
        hub_id: HubId,
        options: StoreOptions,
    ) -> Result<Store, OpenError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| OpenError::Dir {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        if !path.exists() {
            Self::create_atomically(&dir, hub_id, &options)?;
        }
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(path)?;
        Self::init(db, dir, hub_id)
    }

    /// Create `DIR/hub.redb` so that a crash at any point leaves either no database or a
    /// complete one: redb writes a new file's magic number last, and a file cut short
    /// before it can never be opened again. So the database is made under
    /// `hub.redb.creating`, given its first commit (schema, hub id), closed, renamed into
    /// place and the directory synced. A leftover `.creating` file is a creation that
    /// crashed before anything was acknowledged: it is removed and creation starts over.
    fn create_atomically(
        dir: &Path,
        hub_id: HubId,
        options: &StoreOptions,
    ) -> Result<(), OpenError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Dir { path, source }
        };
        let creating = dir.join(format!("{DB_FILE}.creating"));
        match std::fs::remove_file(&creating) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&creating)(e)),
        }
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(&creating)?;
        drop(Self::init(db, dir.to_path_buf(), hub_id)?);
        std::fs::rename(&creating, dir.join(DB_FILE)).map_err(io(&creating))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    }

    /// Open (or create) a store whose database lives on `backend` instead of
    /// `DIR/hub.redb` (fault injection in tests; snapshots still go to `dir`).
    pub fn open_with_backend(
        dir: impl AsRef<Path>,
        hub_id: HubId,
        options: StoreOptions,
        backend: impl redb::StorageBackend,
    ) -> Result<Store, OpenError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| OpenError::Dir {
            path: dir.clone(),
            source,
        })?;
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create_with_backend(backend)?;
        Self::init(db, dir, hub_id)
    }

    fn init(db: Database, dir: PathBuf, hub_id: HubId) -> Result<Store, OpenError> {
        let init = |db: &Database| -> Result<Option<OpenError>, redb::Error> {
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                txn.open_table(CHANNELS)?;
                txn.open_table(LOG)?;
                txn.open_table(EPOCHS)?;
                let schema = meta.get(M_SCHEMA)?.map(|g| g.value());
                match schema {
                    None => {
                        meta.insert(M_SCHEMA, SCHEMA_VERSION)?;
                        meta.insert(M_HUB_ID, hub_id)?;
                        meta.insert(M_LAST_BATCH, 0)?;
                        meta.insert(M_FOLDED, 0)?;
                        meta.insert(M_LAST_EPOCH, 0)?;
                    }
                    Some(found) if found != SCHEMA_VERSION => {
                        return Ok(Some(OpenError::SchemaVersion {
                            found,
                            expected: SCHEMA_VERSION,
                        }));
                    }
                    Some(_) => {
                        let stored = meta.get(M_HUB_ID)?.map(|g| g.value());
                        if stored != Some(hub_id) {
                            return Ok(Some(OpenError::HubIdMismatch {
                                stored: stored.unwrap_or(0),
                                expected: hub_id,
                            }));
                        }
                    }
                }
            }
            txn.commit()?;
            Ok(None)
        };
        if let Some(refused) = init(&db).map_err(OpenError::Init)? {
            return Err(refused);
        }
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                dir,
                hub_id,
                failed: AtomicBool::new(false),
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The hub id.
    pub fn hub_id(&self) -> HubId {
        self.inner.hub_id
    }

    /// Whether a write has failed (the store is fail-stopped).
    pub fn is_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Acquire)
    }

    /// The one way to write: run `body` in a `Durability::Immediate` write
    /// transaction and commit it; returns `body`'s value and the time spent in
    /// `commit` (page writes and fsync). Any I/O error, when beginning, inside
    /// `body`, aborting or committing, sets the fail-stop latch, so no write site
    /// has to remember it. A request `body` refuses ([`Abort::Refused`]) aborts the
    /// transaction, writes nothing and leaves the latch alone.
    fn write<R>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<R, Abort>,
    ) -> Result<(R, Duration), CommitError> {
        self.write_with(Durability::Immediate, body)
    }

    /// [`Store::write`] with the given durability: `Durability::None` commits without
    /// an fsync of its own and becomes durable with the next `Immediate` commit (redb
    /// keeps commit order across a crash, so a restart sees a prefix of the commits).
    fn write_with<R>(
        &self,
        durability: Durability,
        body: impl FnOnce(&WriteTransaction) -> Result<R, Abort>,
    ) -> Result<(R, Duration), CommitError> {
        if self.is_failed() {
            return Err(CommitError::PreviousIo);
        }
        let result = (|| {
            let io = |e: redb::Error| CommitError::Write(e);
            let mut txn = self.inner.db.begin_write().map_err(|e| io(e.into()))?;
            txn.set_durability(durability).map_err(|e| io(e.into()))?;
            match body(&txn) {
                Ok(value) => {
                    let started = Instant::now();
                    txn.commit().map_err(CommitError::Commit)?;
                    Ok((value, started.elapsed()))
                }
                Err(Abort::Refused(refusal)) => {
                    txn.abort().map_err(|e| io(e.into()))?;
                    Err(refusal)
                }
                Err(Abort::Io(e)) => Err(io(e)),
            }
        })();
        if let Err(e) = &result
            && e.is_io()
        {
            self.inner.failed.store(true, Ordering::Release);
        }
        result
    }

    /// A read transaction over the latest committed state.
    pub fn begin_read(&self) -> Result<ReadTransaction, LoadError> {
        self.inner.db.begin_read().map_err(read_err)
    }

    /// The durable counters.
    pub fn meta(&self) -> Result<StoreMeta, LoadError> {
        read_meta(&self.begin_read()?)
    }

    /// Every epoch cut, oldest first.
    pub fn epochs(&self) -> Result<Vec<EpochRecord>, LoadError> {
        read_epochs(&self.begin_read()?)
    }

    /// Number of log records not folded yet.
    pub fn log_records(&self) -> Result<u64, LoadError> {
        let txn = self.begin_read()?;
        txn.open_table(LOG)
            .map_err(read_err)?
            .len()
            .map_err(read_err)
    }

    /// The group commit: append `batch` to the log and advance `last_batch`, in one
    /// `Durability::Immediate` transaction. `batch.number` must be `last_batch + 1`.
    pub fn append_batch(&self, batch: &Batch) -> Result<AppendStats, CommitError> {
        self.append_batch_and_trim(batch, None)
    }

    /// [`Store::append_batch`], deleting the folded log records in `trim` in the same
    /// transaction (only those at or below `folded_through`: the range is cut there).
    pub fn append_batch_and_trim(
        &self,
        batch: &Batch,
        trim: Option<RangeInclusive<u64>>,
    ) -> Result<AppendStats, CommitError> {
        let bytes = batch.encode();
        let (trimmed, commit) = self.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let last = meta.get(M_LAST_BATCH)?.map_or(0, |g| g.value());
            if batch.number != last + 1 {
                return Err(Abort::Refused(CommitError::OutOfOrder {
                    last,
                    got: batch.number,
                }));
            }
            let folded = meta.get(M_FOLDED)?.map_or(0, |g| g.value());
            meta.insert(M_LAST_BATCH, batch.number)?;
            let mut log = txn.open_table(LOG)?;
            let trimmed = match trim {
                Some(range) => delete_folded(&mut log, range, folded)?,
                None => 0,
            };
            log.insert(batch.number, bytes.as_slice())?;
            Ok(trimmed)
        })?;
        Ok(AppendStats {
            bytes: bytes.len(),
            commit,
            trimmed,
        })
    }

    /// Delete the folded log records in `range` (cut at `folded_through`) in a
    /// transaction of their own: what the writer does while idle, and at shutdown
    /// (`durable`). Returns the records deleted.
    pub fn trim_log(&self, range: RangeInclusive<u64>, durable: bool) -> Result<u64, CommitError> {
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        let (trimmed, _) = self.write_with(durability, |txn| {
            let folded = txn
                .open_table(META)?
                .get(M_FOLDED)?
                .map_or(0, |g| g.value());
            Ok(delete_folded(&mut txn.open_table(LOG)?, range, folded)?)
        })?;
        Ok(trimmed)
    }

    /// One fold slice: write `rows` (each channel's committed record as of batch
    /// `as_of`, which must be committed) into the channel table; if `complete_through`
    /// is set, every batch up to it is now reflected in the rows, so advance
    /// `folded_through` in the same transaction (the records are trimmed later).
    ///
    /// Refused while an epoch cut before `as_of` has no snapshot yet (the rows must
    /// still describe the cut state if the hub restarts before the snapshot is written).
    pub fn fold<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a ChannelRecord>,
        as_of: u64,
        complete_through: Option<u64>,
    ) -> Result<FoldStats, CommitError> {
        self.fold_with(Durability::Immediate, rows, as_of, complete_through)
    }

    /// [`Store::fold`] without an fsync of its own: the slice becomes durable with the
    /// next group commit (or any durable write). What the writer does between batches,
    /// so that a fold slice costs a batch page writes, not a second fsync. Safe because
    /// the rows are derived from the log: a crash before the next durable commit rolls
    /// the store back to before the slice (its rows and `folded_through` commit
    /// together or not at all), and the log records it reflects are still there.
    pub fn fold_deferred<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a ChannelRecord>,
        as_of: u64,
        complete_through: Option<u64>,
    ) -> Result<FoldStats, CommitError> {
        self.fold_with(Durability::None, rows, as_of, complete_through)
    }

    fn fold_with<'a>(
        &self,
        durability: Durability,
        rows: impl IntoIterator<Item = &'a ChannelRecord>,
        as_of: u64,
        complete_through: Option<u64>,
    ) -> Result<FoldStats, CommitError> {
        let (rows, commit) = self.write_with(durability, |txn| {
            let mut meta = txn.open_table(META)?;
            let last = meta.get(M_LAST_BATCH)?.map_or(0, |g| g.value());
            let folded = meta.get(M_FOLDED)?.map_or(0, |g| g.value());
            if as_of > last || complete_through.is_some_and(|c| c > as_of) {
                return Err(Abort::Refused(CommitError::FoldAhead { as_of, last }));
            }
            // Newest epochs first; cuts are snapshotted in order, so the scan stops
            // at the first snapshotted one.
            let epochs = txn.open_table(EPOCHS)?;
            for entry in epochs.iter()?.rev() {
                let (_, v) = entry?;
                match EpochRecord::decode(v.value()) {
                    Some(e) if e.snapshot.is_some() => break,
                    Some(e) if as_of > e.cut_batch => {
                        let epoch = e.epoch;
                        return Err(Abort::Refused(CommitError::SnapshotPending { epoch }));
                    }
                    _ => {}
                }
            }
            let mut channels = txn.open_table(CHANNELS)?;
            let mut written = 0;
            for r in rows {
                channels.insert(r.id, codec::encode_row(r, as_of).as_slice())?;
                written += 1;
            }
            if let Some(through) = complete_through.filter(|&t| t > folded) {
                meta.insert(M_FOLDED, through)?;
            }
            Ok(written)
        })?;
        Ok(FoldStats { rows, commit })
    }

    /// Cut epoch `epoch` after the last committed batch: record it durably and return
    /// the record with a read transaction over exactly the cut state (no write can
    /// slip in between: the caller is the only writer). Materialise the snapshot with
    /// [`snapshot::materialize`] (no hurry: the read transaction pins the pages).
    pub fn cut_epoch(&self, epoch: Epoch) -> Result<(EpochRecord, ReadTransaction), CommitError> {
        let (record, _) = self.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let last_epoch = meta.get(M_LAST_EPOCH)?.map_or(0, |g| g.value());
            let last_batch = meta.get(M_LAST_BATCH)?.map_or(0, |g| g.value());
            if epoch <= last_epoch {
                return Err(Abort::Refused(CommitError::EpochNotAfter {
                    last: last_epoch,
                    got: epoch,
                }));
            }
            let record = EpochRecord {
                epoch,
                cut_batch: last_batch,
                cut_unix_ms: now_unix_ms(),
                snapshot: None,
            };
            txn.open_table(EPOCHS)?
                .insert(epoch, record.encode().as_slice())?;
            meta.insert(M_LAST_EPOCH, epoch)?;
            Ok(record)
        })?;
        // Not a write: a failure here leaves the store consistent (the cut is
        // durable), so it does not set the latch.
        let read = self
            .inner
            .db
            .begin_read()
            .map_err(|e| CommitError::Write(e.into()))?;
        Ok((record, read))
    }

    /// Record that epoch `epoch`'s snapshot file is durably written.
    pub fn record_snapshot(
        &self,
        epoch: Epoch,
        meta: SnapshotMeta,
    ) -> Result<EpochRecord, CommitError> {
        let (record, _) = self.write(|txn| {
            let mut epochs = txn.open_table(EPOCHS)?;
            let found = epochs
                .get(epoch)?
                .and_then(|v| EpochRecord::decode(v.value()));
            let Some(mut record) = found else {
                return Err(Abort::Refused(CommitError::UnknownEpoch(epoch)));
            };
            record.snapshot = Some(meta);
            epochs.insert(epoch, record.encode().as_slice())?;
            Ok(record)
        })?;
        Ok(record)
    }

    /// Load every channel: read the channel rows, then replay the log tail (each
    /// record applied only to channels whose row does not already reflect it), and
    /// check the ledger invariants.
    pub fn load(&self) -> Result<Loaded, LoadError> {
        let txn = self.begin_read()?;
        let meta = read_meta(&txn)?;
        let epochs = read_epochs(&txn)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let out = replay::replay(
            &txn,
            &meta,
            meta.last_batch,
            Channels::with_capacity,
            threads,
        )?;
        // Paired with the check before a snapshot is written (`snapshot::materialize`).
        out.table.totals().check()?;
        let first_record = txn
            .open_table(LOG)
            .map_err(read_err)?
            .first()
            .map_err(read_err)?
            .map(|(k, _)| k.value());
        let trimmed_through = first_record
            .map_or(meta.folded_through, |first| first.saturating_sub(1))
            .min(meta.folded_through);
        Ok(Loaded {
            channels: out.table,
            recovery: Recovery {
                meta,
                rows: out.rows,
                replayed: out.replayed,
                rows_time: out.rows_time,
                replay_time: out.replay_time,
                dirty: out.dirty,
                epochs,
                trimmed_through,
            },
        })
    }
}

/// Delete the log records in `range` at or below `folded` (nothing reads them);
/// returns how many there were.
fn delete_folded(
    log: &mut redb::Table<'_, u64, &[u8]>,
    range: RangeInclusive<u64>,
    folded: u64,
) -> Result<u64, redb::StorageError> {
    let (lo, hi) = (*range.start(), (*range.end()).min(folded));
    let mut deleted = 0;
    if lo <= hi {
        log.retain_in(lo..=hi, |_, _| {
            deleted += 1;
            false
        })?;
    }
    Ok(deleted)
}
