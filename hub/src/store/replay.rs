//! Rebuilding committed state from a read transaction: channel rows, then the log
//! tail, applied with the ledger's own [`apply_batch`]. Used on start (into the
//! concurrent [`crate::state::Channels`]) and for epoch snapshots (into a sorted
//! vector), so both see exactly the same state for the same batch number.
//!
//! Exactly-once: a row reflects every batch up to its `as_of`. Rows of a finished
//! fold round have `as_of <= folded_through`, and the log holds exactly the records
//! after `folded_through`; rows written by an unfinished round may be further ahead,
//! and for those channels the records they already reflect are filtered out before
//! applying. Debits are idempotent anyway (seq check); credits and events are not,
//! which is why the filter exists.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use channel::ledger::{Batch, ChannelState, ChannelTable, Event, apply_batch};
use channel::types::ChannelId;
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::codec::decode_row;
use super::{CHANNELS, LOG, LoadError, StoreMeta, read_err};

/// The state after replaying the log up to some batch.
pub(crate) struct Replayed<T> {
    /// Every channel.
    pub(crate) table: T,
    /// Log records applied.
    pub(crate) replayed: u64,
    /// Channels touched by the applied records, sorted, deduplicated.
    pub(crate) dirty: Vec<ChannelId>,
    /// Rows read.
    pub(crate) rows: u64,
    /// Time to read the rows.
    pub(crate) rows_time: Duration,
    /// Time to replay the log.
    pub(crate) replay_time: Duration,
}

/// The channel an event is about.
pub fn event_channel(e: &Event) -> ChannelId {
    match *e {
        Event::Open { channel, .. }
        | Event::TopUp { channel, .. }
        | Event::Withdraw { channel, .. }
        | Event::Exit { channel } => channel,
    }
}

/// Every channel a batch touches (with repeats).
pub fn batch_channels(batch: &Batch) -> impl Iterator<Item = ChannelId> + '_ {
    batch
        .events
        .iter()
        .map(event_channel)
        .chain(batch.debits.iter().map(|d| d.channel))
        .chain(batch.credits.iter().map(|c| c.0))
}

/// Rows loaded per thread before loading is split (below, one thread is faster).
const PARALLEL_ROWS: u64 = 200_000;

/// Read rows and replay the log through batch `through` (`<= meta.last_batch`) into
/// a table made by `make(row_count)`. Rows are decoded on `threads` threads (by key
/// range) when there are many.
pub(crate) fn replay<T: ChannelTable + Sync>(
    txn: &ReadTransaction,
    meta: &StoreMeta,
    through: u64,
    make: impl FnOnce(usize) -> T,
    threads: usize,
) -> Result<Replayed<T>, LoadError> {
    assert!(
        through <= meta.last_batch,
        "replay through a committed batch"
    );
    let started = Instant::now();
    let (table, rows, ahead) = load_all_rows(txn, meta, through, make, threads)?;
    let rows_time = started.elapsed();
    let started = Instant::now();
    let (replayed, mut dirty) = replay_log(txn, meta, through, &table, &ahead)?;
    dirty.sort_unstable();
    dirty.dedup();
    Ok(Replayed {
        table,
        replayed,
        dirty,
        rows,
        rows_time,
        replay_time: started.elapsed(),
    })
}

/// Every row into a table made by `make(row_count)`, on up to `threads` threads (by key
/// range); returns the table, the row count and the rows written by an unfinished fold
/// round (channel → `as_of`).
fn load_all_rows<T: ChannelTable + Sync>(
    txn: &ReadTransaction,
    meta: &StoreMeta,
    through: u64,
    make: impl FnOnce(usize) -> T,
    threads: usize,
) -> Result<(T, u64, HashMap<ChannelId, u64>), LoadError> {
    let rows = txn.open_table(CHANNELS).map_err(read_err)?;
    let n = rows.len().map_err(read_err)?;
    let table = make(usize::try_from(n).unwrap_or(usize::MAX));
    let first = rows.first().map_err(read_err)?.map(|(k, _)| k.value());
    let last = rows.last().map_err(read_err)?.map(|(k, _)| k.value());
    drop(rows);
    let mut ahead: HashMap<ChannelId, u64> = HashMap::new();
    let (Some(first), Some(last)) = (first, last) else {
        return Ok((table, n, ahead));
    };
    let parts = u64::try_from(threads.max(1))
        .unwrap_or(1)
        .min(n / PARALLEL_ROWS + 1);
    let bounds = key_ranges(first, last, parts);
    let load =
        |&(lo, hi): &(u32, u32)| load_rows(txn, lo, hi, through, meta.folded_through, &table);
    let results: Vec<Result<HashMap<ChannelId, u64>, LoadError>> = if bounds.len() == 1 {
        vec![load(&bounds[0])]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = bounds.iter().map(|b| s.spawn(move || load(b))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    for r in results {
        ahead.extend(r?);
    }
    Ok((table, n, ahead))
}

/// `first..=last` cut into `parts` contiguous key ranges.
fn key_ranges(first: u32, last: u32, parts: u64) -> Vec<(u32, u32)> {
    let span = u64::from(last - first) + 1;
    (0..parts)
        .map(|i| {
            let lo = u64::from(first) + span * i / parts;
            let hi = u64::from(first) + span * (i + 1) / parts - 1;
            (lo as u32, hi as u32)
        })
        .collect()
}

/// Apply the log records after `meta.folded_through` through `through` to `table`,
/// each without what the rows `ahead` already reflect; returns the records applied and
/// the channels they touched (with repeats). A missing record is a [`LoadError::Gap`].
fn replay_log<T: ChannelTable>(
    txn: &ReadTransaction,
    meta: &StoreMeta,
    through: u64,
    table: &T,
    ahead: &HashMap<ChannelId, u64>,
) -> Result<(u64, Vec<ChannelId>), LoadError> {
    let log = txn.open_table(LOG).map_err(read_err)?;
    let mut expected = meta.folded_through + 1;
    let mut dirty = Vec::new();
    let mut replayed = 0;
    if expected <= through {
        for entry in log.range(expected..=through).map_err(read_err)? {
            let (k, v) = entry.map_err(read_err)?;
            let number = k.value();
            if number != expected {
                return Err(LoadError::Gap {
                    expected,
                    found: Some(number),
                });
            }
            let mut batch = decode_record(number, v.value())?;
            if !ahead.is_empty() {
                let fresh = |c: ChannelId| ahead.get(&c).is_none_or(|&a| a < number);
                batch.events.retain(|e| fresh(event_channel(e)));
                batch.debits.retain(|d| fresh(d.channel));
                batch.credits.retain(|c| fresh(c.0));
            }
            apply_batch(table, &batch).map_err(|source| LoadError::Apply { number, source })?;
            dirty.extend(batch_channels(&batch));
            replayed += 1;
            expected += 1;
        }
    }
    if expected != through + 1 {
        return Err(LoadError::Gap {
            expected,
            found: None,
        });
    }
    Ok((replayed, dirty))
}

/// Log record `number`, which must hold batch `number`.
fn decode_record(number: u64, bytes: &[u8]) -> Result<Batch, LoadError> {
    let batch = Batch::decode(bytes).map_err(|source| LoadError::Record { number, source })?;
    if batch.number != number {
        return Err(LoadError::Inconsistent {
            number,
            reason: format!("record holds batch {}", batch.number),
        });
    }
    Ok(batch)
}

/// Load the rows with keys in `lo..=hi` into `table`; returns the rows ahead of
/// `folded_through`.
fn load_rows<T: ChannelTable>(
    txn: &ReadTransaction,
    lo: u32,
    hi: u32,
    through: u64,
    folded_through: u64,
    table: &T,
) -> Result<HashMap<ChannelId, u64>, LoadError> {
    let rows = txn.open_table(CHANNELS).map_err(read_err)?;
    let mut ahead = HashMap::new();
    for entry in rows.range(lo..=hi).map_err(read_err)? {
        let (k, v) = entry.map_err(read_err)?;
        let id = k.value();
        let (record, as_of) =
            decode_row(id, v.value()).map_err(|source| LoadError::Row { id, source })?;
        if as_of > through {
            return Err(LoadError::RowAhead {
                id,
                as_of,
                limit: through,
            });
        }
        if as_of > folded_through {
            ahead.insert(id, as_of);
        }
        table.insert_channel(ChannelState::new(record));
    }
    Ok(ahead)
}
