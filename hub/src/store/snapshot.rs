//! Epoch snapshot files: the committed state of every channel at an epoch cut,
//! self-contained so that another process (`zkhub close`) can read it while the hub
//! runs and keeps the database file locked.
//!
//! File `DIR/epochs/<epoch>/snapshot.bin`, big-endian:
//!
//! | size | field |
//! |---|---|
//! | 8 | magic `b"ZKHSNAP\0"` |
//! | 4 | format version (1) |
//! | 8 | hub id |
//! | 8 | epoch |
//! | 8 | cut batch (the state is the one after this batch) |
//! | 8 | `n`, number of channels |
//! | n × 238 | per channel, ids strictly increasing: id `u32`, the channel row exactly as in the store (`codec`, 202 bytes, `as_of` = cut batch), blind (32) |
//! | 32 | BLAKE3 of every byte before it |
//!
//! Written atomically: to a temporary file in the same directory, fsync, rename,
//! fsync of the directory. A file that exists is complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use channel::bytes::Reader;
use channel::field::{Fe, fe_to_be_bytes};
use channel::ledger::{ChannelRecord, ChannelState, ChannelTable, Snapshot, Totals};
use channel::types::{ChannelId, Epoch, HubId};
use parking_lot::Mutex;
use redb::ReadTransaction;

use super::codec::{self, EpochRecord, ROW_LEN, SnapshotMeta};
use super::replay::replay;
use super::{LoadError, SnapshotError, Store, read_meta};

const MAGIC: &[u8; 8] = b"ZKHSNAP\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 * 4;
const ENTRY_LEN: usize = 4 + ROW_LEN + 32;

/// The snapshot file of `epoch` in data directory `dir`.
pub fn snapshot_path(dir: impl AsRef<Path>, epoch: Epoch) -> PathBuf {
    dir.as_ref()
        .join("epochs")
        .join(epoch.to_string())
        .join("snapshot.bin")
}

/// A snapshot file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The snapshot (records and blinds).
    pub snapshot: Snapshot,
    /// The cut batch.
    pub cut_batch: u64,
    /// The file's digest.
    pub digest: [u8; 32],
}

/// A channel table over a sorted vector (snapshots are built single-threaded and
/// handed out sorted by id).
struct SortedTable(Mutex<Vec<ChannelState>>);

impl ChannelTable for SortedTable {
    fn with_channel<R>(&self, id: ChannelId, f: impl FnOnce(&mut ChannelState) -> R) -> Option<R> {
        let mut v = self.0.lock();
        let i = v.binary_search_by_key(&id, |c| c.record.id).ok()?;
        Some(f(&mut v[i]))
    }

    fn insert_channel(&self, state: ChannelState) {
        let mut v = self.0.lock();
        // Rows arrive in id order: pushing is the common case.
        if v.last().is_none_or(|c| c.record.id < state.record.id) {
            v.push(state);
        } else if let Err(i) = v.binary_search_by_key(&state.record.id, |c| c.record.id) {
            v.insert(i, state);
        }
    }
}

/// The committed records as of `cut.cut_batch`, sorted by id, read from `txn` (a
/// read transaction taken at the cut, or later provided no fold ran past the cut).
pub fn materialize(
    txn: &ReadTransaction,
    cut: &EpochRecord,
) -> Result<Vec<ChannelRecord>, LoadError> {
    let meta = read_meta(txn)?;
    if cut.cut_batch > meta.last_batch || cut.cut_batch < meta.folded_through {
        return Err(LoadError::Inconsistent {
            number: cut.cut_batch,
            reason: format!(
                "epoch {} cut at batch {} is outside the readable range {}..={}",
                cut.epoch, cut.cut_batch, meta.folded_through, meta.last_batch
            ),
        });
    }
    // One thread: rows arrive in id order and are pushed.
    let make = |n| SortedTable(Mutex::new(Vec::with_capacity(n)));
    let out = replay(txn, &meta, cut.cut_batch, make, 1)?;
    let states = out.table.0.into_inner();
    let records: Vec<ChannelRecord> = states.into_iter().map(|c| c.record).collect();
    // Checked before the file is written; paired with the check after a load.
    Totals::of(&records).check()?;
    Ok(records)
}

/// A writer that hashes what it writes.
pub(super) struct Hashing<W> {
    /// Where the bytes go.
    pub inner: W,
    /// The hash of every byte written so far.
    pub hasher: blake3::Hasher,
}

/// Write the file at `path` atomically: `body` writes it through a BLAKE3-hashing
/// buffered writer into a temporary file beside it (`body` appends the digest where its
/// format wants it), then fsync, rename into place and fsync of the directory, so that a
/// file that exists is complete. On an error the temporary file is removed; the error
/// names the file it concerns.
pub(super) fn write_atomically<R>(
    path: &Path,
    body: impl FnOnce(&mut Hashing<BufWriter<File>>) -> std::io::Result<R>,
) -> Result<R, (PathBuf, std::io::Error)> {
    let parent = path
        .parent()
        .expect("a data file has a parent")
        .to_path_buf();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = parent.join(format!("{name}.tmp.{}", std::process::id()));
    std::fs::create_dir_all(&parent).map_err(|e| (parent.clone(), e))?;
    let result = (|| -> std::io::Result<R> {
        let mut w = Hashing {
            inner: BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            hasher: blake3::Hasher::new(),
        };
        let out = body(&mut w)?;
        let file = w.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(out)
    })();
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err((tmp, e));
        }
    };
    std::fs::rename(&tmp, path).map_err(|e| (path.to_path_buf(), e))?;
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| (parent, e))?;
    Ok(out)
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Write `snapshot` (state after `cut_batch`) to its file in `dir`, atomically.
pub fn write_snapshot(
    dir: &Path,
    snapshot: &Snapshot,
    cut_batch: u64,
) -> Result<SnapshotMeta, SnapshotError> {
    assert_eq!(
        snapshot.channels.len(),
        snapshot.blinds.len(),
        "one blind per channel"
    );
    let path = snapshot_path(dir, snapshot.epoch);
    let digest = write_atomically(&path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_be_bytes())?;
        w.write_all(&snapshot.hub_id.to_be_bytes())?;
        w.write_all(&snapshot.epoch.to_be_bytes())?;
        w.write_all(&cut_batch.to_be_bytes())?;
        w.write_all(&(snapshot.channels.len() as u64).to_be_bytes())?;
        for (r, blind) in snapshot.channels.iter().zip(&snapshot.blinds) {
            w.write_all(&r.id.to_be_bytes())?;
            w.write_all(&codec::encode_row(r, cut_batch))?;
            w.write_all(&fe_to_be_bytes(blind))?;
        }
        let digest: [u8; 32] = w.hasher.finalize().into();
        w.inner.write_all(&digest)?;
        Ok(digest)
    })
    .map_err(|(path, source)| SnapshotError::Io { path, source })?;
    Ok(SnapshotMeta {
        channels: snapshot.channels.len() as u64,
        digest,
    })
}

/// Materialise epoch `cut`'s snapshot from `txn`, write its file and record it in the
/// store. The read transaction is released as soon as the records are in memory
/// (before the blinds are derived), so it pins old pages only briefly.
pub fn take_snapshot(
    store: &Store,
    txn: ReadTransaction,
    cut: &EpochRecord,
    blind_seed: &Fe,
) -> Result<SnapshotMeta, SnapshotError> {
    let records = materialize(&txn, cut)?;
    drop(txn);
    let snapshot = Snapshot::new(store.hub_id(), cut.epoch, records, blind_seed);
    let meta = write_snapshot(store.dir(), &snapshot, cut.cut_batch)?;
    store.record_snapshot(cut.epoch, meta)?;
    Ok(meta)
}

/// Read epoch `epoch`'s snapshot from data directory `dir` (works while the hub runs).
pub fn read_snapshot(dir: impl AsRef<Path>, epoch: Epoch) -> Result<Snapshot, SnapshotError> {
    Ok(read_snapshot_file(dir, epoch)?.snapshot)
}

/// Read epoch `epoch`'s snapshot file with its cut batch and digest, verifying the
/// digest, the header and the id order.
pub fn read_snapshot_file(
    dir: impl AsRef<Path>,
    epoch: Epoch,
) -> Result<SnapshotFile, SnapshotError> {
    let path = snapshot_path(dir, epoch);
    let bytes = std::fs::read(&path).map_err(|source| SnapshotError::Io {
        path: path.clone(),
        source,
    })?;
    let bad = |reason| SnapshotError::Format {
        path: path.clone(),
        reason,
    };
    let Some((body, digest)) = bytes.split_last_chunk::<32>() else {
        return Err(bad("truncated"));
    };
    if body.len() < HEADER_LEN {
        return Err(bad("truncated"));
    }
    if blake3::hash(body).as_bytes() != digest {
        return Err(SnapshotError::Digest(path));
    }
    let mut r = Reader::new(body);
    let truncated = |_| bad("truncated");
    if r.array::<8>().map_err(truncated)? != MAGIC {
        return Err(bad("not a zkhub snapshot"));
    }
    if r.u32_be().map_err(truncated)? != VERSION {
        return Err(bad("unknown version"));
    }
    let hub_id: HubId = r.u64_be().map_err(truncated)?;
    let file_epoch = r.u64_be().map_err(truncated)?;
    let cut_batch = r.u64_be().map_err(truncated)?;
    let n = r.u64_be().map_err(truncated)?;
    if file_epoch != epoch {
        return Err(bad("epoch does not match the file's place"));
    }
    if u64::try_from(r.remaining()).ok() != n.checked_mul(ENTRY_LEN as u64) {
        return Err(bad("length does not match the channel count"));
    }
    let mut channels = Vec::with_capacity(r.remaining() / ENTRY_LEN);
    let mut blinds = Vec::with_capacity(r.remaining() / ENTRY_LEN);
    while r.remaining() > 0 {
        let id = r.u32_be().map_err(truncated)?;
        if channels.last().is_some_and(|c: &ChannelRecord| c.id >= id) {
            return Err(bad("ids not strictly increasing"));
        }
        let row = r.take(ROW_LEN).map_err(truncated)?;
        let (record, as_of) = codec::decode_row(id, row).map_err(|_| bad("channel row"))?;
        if as_of != cut_batch {
            return Err(bad("row not at the cut batch"));
        }
        let blind = r.fe().map_err(|_| bad("blind"))?;
        channels.push(record);
        blinds.push(blind);
    }
    Ok(SnapshotFile {
        snapshot: Snapshot {
            hub_id,
            epoch,
            channels,
            blinds,
        },
        cut_batch,
        digest: *digest,
    })
}
