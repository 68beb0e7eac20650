//! Typed errors of the store, one enum per operation plus the [`StoreError`] superset
//! (in the manner of redb's own `error.rs`).
//!
//! Fail-stop: once a write has failed, every later write returns
//! [`CommitError::PreviousIo`] (what reached the disk is unknown; restart and recover
//! from what is durable).

use std::path::PathBuf;

use channel::ledger::{ApplyError, BatchDecodeError, InvariantError};
use channel::types::{ChannelId, Epoch, HubId};

use super::codec::RowError;

/// Opening (or creating) the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Creating the data directory failed.
    #[error("cannot create data directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// redb could not open the file (including: another process has it open).
    #[error("cannot open database: {0}")]
    Database(#[from] redb::DatabaseError),
    /// Reading or initialising the tables failed.
    #[error("cannot initialise database: {0}")]
    Init(#[source] redb::Error),
    /// The file was written by an unknown schema.
    #[error("database schema version {found} is not supported (expected {expected})")]
    SchemaVersion {
        /// Stored version.
        found: u64,
        /// Version this build writes.
        expected: u64,
    },
    /// The file belongs to another hub.
    #[error("database belongs to hub {stored}, not {expected}")]
    HubIdMismatch {
        /// Stored hub id.
        stored: HubId,
        /// Hub id asked for.
        expected: HubId,
    },
}

/// A write transaction: a batch append, a fold slice, an epoch cut or a snapshot record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// An earlier write failed; the store refuses further work.
    #[error("a previous write failed; the store refuses further writes until restarted")]
    PreviousIo,
    /// Batch numbers must follow each other (a caller bug: nothing was written).
    #[error("batch {got} does not follow the last committed batch {last}")]
    OutOfOrder {
        /// Last committed batch.
        last: u64,
        /// Number of the refused batch.
        got: u64,
    },
    /// A fold slice claimed rows newer than the last committed batch.
    #[error("fold rows as of batch {as_of} but the last committed batch is {last}")]
    FoldAhead {
        /// Claimed batch.
        as_of: u64,
        /// Last committed batch.
        last: u64,
    },
    /// An epoch cut must name a later epoch than the last cut.
    #[error("epoch {got} is not after the last cut epoch {last}")]
    EpochNotAfter {
        /// Last cut epoch.
        last: Epoch,
        /// Refused epoch.
        got: Epoch,
    },
    /// Folding past an epoch cut whose snapshot is not written yet.
    #[error("epoch {epoch}'s snapshot is not written yet; folding past its cut is refused")]
    SnapshotPending {
        /// The epoch.
        epoch: Epoch,
    },
    /// The epoch to record a snapshot for was never cut.
    #[error("epoch {0} was never cut")]
    UnknownEpoch(Epoch),
    /// The batch breaks a ledger rule against the in-memory table (a bug before
    /// the writer): nothing was written.
    #[error("batch {number} was not written: {source}")]
    Invalid {
        /// The batch's number.
        number: u64,
        /// The rule it breaks.
        source: ApplyError,
    },
    /// Writing inside the transaction failed (begin, open table, insert, remove).
    #[error("write failed: {0}")]
    Write(#[source] redb::Error),
    /// The commit itself (page writes and fsync) failed.
    #[error("commit failed (fsync): {0}")]
    Commit(#[source] redb::CommitError),
    /// The writer thread panicked (in the store or elsewhere): what reached the disk
    /// is unknown until a restart recovers it.
    #[error("the writer thread panicked: {0}")]
    Panicked(String),
}

impl CommitError {
    /// Whether this error is an I/O failure (which makes the store fail-stop), as
    /// opposed to a refused request that left the store untouched.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            CommitError::Write(_) | CommitError::Commit(_) | CommitError::PreviousIo
        )
    }
}

/// Reading the durable state (on start, or for an epoch snapshot).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// redb refused a read.
    #[error("read failed: {0}")]
    Read(#[source] redb::Error),
    /// A meta entry is missing.
    #[error("meta entry {0:?} is missing")]
    MissingMeta(&'static str),
    /// A channel row does not decode.
    #[error("channel {id} row is corrupt: {source}")]
    Row {
        /// Channel id.
        id: ChannelId,
        /// What is wrong.
        source: RowError,
    },
    /// A channel row claims to reflect a batch that is not committed (or, for a
    /// snapshot, a batch after the cut).
    #[error("channel {id} row is as of batch {as_of}, beyond batch {limit}")]
    RowAhead {
        /// Channel id.
        id: ChannelId,
        /// The row's batch.
        as_of: u64,
        /// The limit.
        limit: u64,
    },
    /// A log record does not decode.
    #[error("log record {number} is corrupt: {source}")]
    Record {
        /// Log key.
        number: u64,
        /// What is wrong.
        source: BatchDecodeError,
    },
    /// A log record is missing (records must be contiguous after `folded_through`).
    #[error("log record {expected} is missing (found {found:?})")]
    Gap {
        /// The batch number expected next.
        expected: u64,
        /// What was found instead.
        found: Option<u64>,
    },
    /// A log record decodes but is not the batch its key names, or an epoch cut
    /// lies outside the readable log.
    #[error("log record {number} is inconsistent: {reason}")]
    Inconsistent {
        /// Log key.
        number: u64,
        /// Why.
        reason: String,
    },
    /// A log record decodes but cannot be applied (unknown channel, overdrawn
    /// balance, spent going backwards): the log is corrupt.
    #[error("log record {number} cannot be applied: {source}")]
    Apply {
        /// Log key.
        number: u64,
        /// What the batch would break.
        source: ApplyError,
    },
    /// The loaded table breaks a ledger invariant (`B ≥ 0`, `Σ R = Σ S`).
    #[error("loaded state breaks an invariant: {0}")]
    Invariant(#[from] InvariantError),
    /// An epoch record does not decode.
    #[error("epoch {0} record is corrupt")]
    Epoch(Epoch),
}

/// Writing or reading an epoch snapshot file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// File I/O failed.
    #[error("snapshot file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a snapshot, or is corrupt.
    #[error("snapshot file {path} is malformed: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file's digest does not match its contents.
    #[error("snapshot file {0} fails its checksum")]
    Digest(PathBuf),
    /// Reading the committed state failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Recording the snapshot in the store failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Reading or creating the hub's key file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// File I/O failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error(
        "key file {path} has mode {mode:o}; it must not be accessible to group or others (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold exactly 32 bytes.
    #[error("key file {path} holds {len} bytes, expected 32")]
    Length {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The path is not a regular file.
    #[error("key file {0} is not a regular file")]
    NotAFile(PathBuf),
}

/// Any store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Opening.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A write transaction.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Reading the state.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A snapshot file.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The key file.
    #[error(transparent)]
    Key(#[from] KeyError),
}
