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
use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// Read rows and replay the log through batch `through` (`<= meta.last_batch`) into
/// a table made by `make(row_count)`.
pub(crate) fn replay<T: ChannelTable>(
    txn: &ReadTransaction,
    meta: &StoreMeta,
    through: u64,
    make: impl FnOnce(usize) -> T,
) -> Result<Replayed<T>, LoadError> {
    assert!(
        through <= meta.last_batch,
        "replay through a committed batch"
    );
    let rows = txn.open_table(CHANNELS).map_err(read_err)?;
    let n = usize::try_from(rows.len().map_err(read_err)?).unwrap_or(usize::MAX);
    let table = make(n);
    // Rows written by an unfinished fold round: channel → as_of.
    let mut ahead: HashMap<ChannelId, u64> = HashMap::new();
    for entry in rows.iter().map_err(read_err)? {
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
        if as_of > meta.folded_through {
            ahead.insert(id, as_of);
        }
        table.insert_channel(ChannelState::new(record));
    }
    drop(rows);

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
            let mut batch =
                Batch::decode(v.value()).map_err(|source| LoadError::Record { number, source })?;
            if batch.number != number {
                return Err(LoadError::Inconsistent {
                    number,
                    reason: format!("record holds batch {}", batch.number),
                });
            }
            if !ahead.is_empty() {
                let fresh = |c: ChannelId| ahead.get(&c).is_none_or(|&a| a < number);
                batch.events.retain(|e| fresh(event_channel(e)));
                batch.debits.retain(|d| fresh(d.channel));
                batch.credits.retain(|c| fresh(c.0));
            }
            check_channels_exist(&table, &batch)?;
            catch_unwind(AssertUnwindSafe(|| apply_batch(&table, &batch))).map_err(|panic| {
                let reason = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "invariant broken".to_owned());
                LoadError::Inconsistent { number, reason }
            })?;
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
    dirty.sort_unstable();
    dirty.dedup();
    Ok(Replayed {
        table,
        replayed,
        dirty,
    })
}

/// Every channel a batch debits, credits or changes exists (or is opened by it).
fn check_channels_exist<T: ChannelTable>(table: &T, batch: &Batch) -> Result<(), LoadError> {
    let opened: Vec<ChannelId> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Open { channel, .. } => Some(*channel),
            _ => None,
        })
        .collect();
    for c in batch_channels(batch) {
        if !opened.contains(&c) && table.with_channel(c, |_| ()).is_none() {
            return Err(LoadError::Inconsistent {
                number: batch.number,
                reason: format!("unknown channel {c}"),
            });
        }
    }
    Ok(())
}
