//! The store on real redb files: what is appended survives a restart, the log tail is
//! replayed exactly once (also after a crash in the middle of a fold round), folding
//! changes nothing observable, and damage is reported as typed errors.

mod store_common;

use channel::ledger::{ApplyError, Batch, Debit, InvariantError, Ledger};
use hub::store::{CommitError, LoadError, OpenError, Store};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use store_common::{Gen, apply_ref, fast_tempdir, sorted};

const HUB: u64 = 42;
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// Append `batches` to the store and to the reference.
fn append_all(store: &Store, reference: &Ledger, batches: &[Batch]) {
    for b in batches {
        store.append_batch(b).expect("append");
        apply_ref(reference, b);
    }
}

/// One open batch of `channels`, then `n` random batches.
fn workload(wl: &mut Gen, channels: u32, n: u64) -> Vec<Batch> {
    let mut out = vec![wl.open_batch(1, channels)];
    for i in 0..n {
        out.push(wl.batch(i + 2, 1 + (i as usize % 7), 1 + (i as usize % 5)));
    }
    out
}

#[test]
fn append_then_reopen_replays_every_batch_once() {
    let dir = tempfile::tempdir().unwrap();
    let reference = Ledger::new();
    let mut wl = Gen::new(1);
    let batches = workload(&mut wl, 50, 40);
    {
        let store = Store::open(dir.path(), HUB).unwrap();
        append_all(&store, &reference, &batches);
    } // "crash": dropped without folding
    let store = Store::open(dir.path(), HUB).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    assert_eq!(loaded.recovery.meta.last_batch, 41);
    assert_eq!(loaded.recovery.meta.folded_through, 0);
    assert_eq!(loaded.recovery.replayed, 41);
    assert_eq!(
        loaded.recovery.dirty.len(),
        50,
        "every channel was opened in the tail"
    );
    reference.totals();
    // Loading twice gives the same state (replay does not mutate the store).
    let again = store.load().unwrap();
    assert_eq!(sorted(again.channels.records()), reference.records());
}

#[test]
fn fold_then_reload_equals_reload_without_fold() {
    let (a, b) = (fast_tempdir(), fast_tempdir());
    let reference = Ledger::new();
    let mut wl = Gen::new(2);
    let batches = workload(&mut wl, 30, 60);
    let sa = Store::open(a.path(), HUB).unwrap();
    let sb = Store::open(b.path(), HUB).unwrap();
    append_all(&sa, &reference, &batches);
    for bt in &batches {
        sb.append_batch(bt).unwrap();
    }
    // Fold everything in `a` from the reference's state (as the writer does from
    // the in-memory table), in three slices.
    let rows = reference.records();
    let last = batches.last().unwrap().number;
    sa.fold(&rows[..10], last, None).unwrap();
    sa.fold(&rows[10..20], last, None).unwrap();
    sa.fold(&rows[20..], last, Some(last)).unwrap();
    assert_eq!(sa.log_records().unwrap(), last, "folded, not trimmed yet");
    assert_eq!(sa.trim_log(1..=last, true).unwrap(), last);
    assert_eq!(sa.log_records().unwrap(), 0);
    drop((sa, sb));

    let la = Store::open(a.path(), HUB).unwrap().load().unwrap();
    let lb = Store::open(b.path(), HUB).unwrap().load().unwrap();
    assert_eq!(la.recovery.replayed, 0);
    assert_eq!(la.recovery.meta.folded_through, last);
    assert!(la.recovery.dirty.is_empty());
    assert_eq!(sorted(la.channels.records()), sorted(lb.channels.records()));
    assert_eq!(sorted(la.channels.records()), reference.records());
}

/// A copy of the store's file as it is on disk now: what a restart after a crash at
/// this moment would open (the file is read while the store still has it open).
fn crash_copy(dir: &std::path::Path) -> tempfile::TempDir {
    let copy = fast_tempdir();
    std::fs::copy(
        dir.join(hub::store::DB_FILE),
        copy.path().join(hub::store::DB_FILE),
    )
    .expect("copy the store file");
    copy
}

/// The writer folds between batches without an fsync of its own
/// (`Store::fold_deferred`): a crash before the next group commit finds the log
/// records still there and the fold not done; after that commit the fold is durable.
/// Either way the state loads exactly.
#[test]
fn a_deferred_fold_is_durable_with_the_next_commit_and_a_crash_before_it_loses_nothing() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(5);
    let store = Store::open(dir.path(), HUB).unwrap();
    let batches = workload(&mut wl, 20, 10);
    append_all(&store, &reference, &batches);
    let last = batches.last().unwrap().number;
    let stats = store
        .fold_deferred(&reference.records(), last, Some(last))
        .unwrap();
    assert_eq!(stats.rows, 20);

    let before = crash_copy(dir.path());
    let loaded = Store::open(before.path(), HUB).unwrap().load().unwrap();
    assert_eq!(
        loaded.recovery.meta.folded_through, 0,
        "the fold is not durable yet"
    );
    assert_eq!(
        loaded.recovery.replayed, last,
        "every batch is replayed from the log"
    );
    assert_eq!(sorted(loaded.channels.records()), reference.records());

    let next = wl.batch(last + 1, 3, 2);
    append_all(&store, &reference, std::slice::from_ref(&next));
    let after = crash_copy(dir.path());
    let loaded = Store::open(after.path(), HUB).unwrap().load().unwrap();
    assert_eq!(
        loaded.recovery.meta.folded_through, last,
        "durable with the commit"
    );
    assert_eq!(loaded.recovery.replayed, 1, "only the batch after the fold");
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    reference.totals();
}

/// A fold round writes rows in slices across several batches; a crash in between
/// leaves rows at different `as_of`, and replay must skip exactly the batches each
/// row already reflects (credits would otherwise be counted twice).
#[test]
fn crash_in_the_middle_of_a_fold_round_loses_and_duplicates_nothing() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(3);
    let store = Store::open(dir.path(), HUB).unwrap();
    let first = workload(&mut wl, 40, 20);
    append_all(&store, &reference, &first);
    // Round starts at batch 21: write half the rows as of batch 21.
    let rows = reference.records();
    store.fold(&rows[..20], 21, None).unwrap();
    // More batches arrive; the round continues with rows as of batch 31.
    let more: Vec<Batch> = (22..=31).map(|n| wl.batch(n, 5, 3)).collect();
    append_all(&store, &reference, &more);
    let rows = reference.records();
    store.fold(&rows[20..30], 31, None).unwrap();
    drop(store); // crash before the round's last slice

    let store = Store::open(dir.path(), HUB).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    assert_eq!(loaded.recovery.meta.folded_through, 0);
    assert_eq!(loaded.recovery.replayed, 31);

    // Finishing a round after the restart, then reloading, is still exact.
    let rows = reference.records();
    store.fold(&rows, 31, Some(31)).unwrap();
    let more: Vec<Batch> = (32..=35).map(|n| wl.batch(n, 4, 2)).collect();
    append_all(&store, &reference, &more);
    drop(store);
    let loaded = Store::open(dir.path(), HUB).unwrap().load().unwrap();
    assert_eq!(loaded.recovery.replayed, 4);
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    reference.totals();
}

/// Trimming deletes only folded records: a group commit asked to trim past
/// `folded_through` stops there, in the same transaction as its append, and a crash
/// that leaves folded records untrimmed loses nothing: replay starts after
/// `folded_through`, and the load says where trimming resumes.
#[test]
fn a_commit_trims_only_folded_records_and_untrimmed_ones_survive_a_restart_harmlessly() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(6);
    let store = Store::open(dir.path(), HUB).unwrap();
    let batches = workload(&mut wl, 20, 9); // batches 1..=10
    append_all(&store, &reference, &batches);
    store.fold(&reference.records(), 10, Some(10)).unwrap();
    let more: Vec<Batch> = (11..=14).map(|n| wl.batch(n, 4, 2)).collect();
    apply_ref(&reference, &more[0]);
    let stats = store.append_batch_and_trim(&more[0], Some(1..=4)).unwrap();
    assert_eq!(stats.trimmed, 4);
    assert_eq!(store.log_records().unwrap(), 10 - 4 + 1);
    // Asked for far more than is folded: only 5..=10 go, never 11 (unfolded).
    apply_ref(&reference, &more[1]);
    let stats = store
        .append_batch_and_trim(&more[1], Some(5..=1_000))
        .unwrap();
    assert_eq!(stats.trimmed, 6);
    assert_eq!(store.log_records().unwrap(), 2, "batches 11 and 12 stay");
    assert_eq!(store.trim_log(1..=u64::MAX, true).unwrap(), 0);
    drop(store);

    let store = Store::open(dir.path(), HUB).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.recovery.replayed, 2);
    assert_eq!(loaded.recovery.trimmed_through, 10);
    assert_eq!(sorted(loaded.channels.records()), reference.records());

    // A fold whose records were never trimmed (a crash right after it): the load
    // skips them and names the first one to trim.
    store.fold(&reference.records(), 12, Some(12)).unwrap();
    append_all(&store, &reference, &more[2..]);
    drop(store);
    let store = Store::open(dir.path(), HUB).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.recovery.meta.folded_through, 12);
    assert_eq!(
        loaded.recovery.trimmed_through, 10,
        "11 and 12 are still there"
    );
    assert_eq!(loaded.recovery.replayed, 2, "only 13 and 14");
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    assert_eq!(store.trim_log(11..=12, false).unwrap(), 2);
    reference.totals();
}

#[test]
fn batches_must_follow_each_other() {
    let dir = fast_tempdir();
    let store = Store::open(dir.path(), HUB).unwrap();
    let mut wl = Gen::new(4);
    store.append_batch(&wl.open_batch(1, 3)).unwrap();
    let err = store.append_batch(&wl.batch(3, 1, 1)).unwrap_err();
    assert!(
        matches!(err, CommitError::OutOfOrder { last: 1, got: 3 }),
        "{err}"
    );
    assert!(!err.is_io());
    assert!(
        !store.is_failed(),
        "a refused batch does not fail-stop the store"
    );
    store.append_batch(&wl.batch(2, 1, 1)).unwrap();
    // Rows cannot claim a batch that is not committed.
    let err = store.fold(&[], 3, None).unwrap_err();
    assert!(
        matches!(err, CommitError::FoldAhead { as_of: 3, last: 2 }),
        "{err}"
    );
}

#[test]
fn another_hub_or_a_second_open_is_refused() {
    let dir = fast_tempdir();
    let store = Store::open(dir.path(), HUB).unwrap();
    let err = Store::open(dir.path(), HUB).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Database(redb::DatabaseError::DatabaseAlreadyOpen)
        ),
        "{err}"
    );
    drop(store);
    let err = Store::open(dir.path(), HUB + 1).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::HubIdMismatch {
                stored: HUB,
                expected: 43
            }
        ),
        "{err}"
    );
}

/// Rewrite log record `number` in the (closed) database file.
fn tamper(dir: &std::path::Path, f: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    let db = redb::Database::open(dir.join(hub::store::DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut log = txn.open_table(LOG).unwrap();
        f(&mut log);
    }
    txn.commit().unwrap();
}

fn store_with_log(seed: u64) -> (tempfile::TempDir, Vec<Batch>) {
    let dir = fast_tempdir();
    let store = Store::open(dir.path(), HUB).unwrap();
    let mut wl = Gen::new(seed);
    let batches = workload(&mut wl, 10, 5);
    for b in &batches {
        store.append_batch(b).unwrap();
    }
    (dir, batches)
}

#[test]
fn a_corrupt_log_record_is_a_typed_error() {
    let (dir, _) = store_with_log(5);
    tamper(dir.path(), |log| {
        let mut bytes = log.get(3).unwrap().unwrap().value().to_vec();
        bytes.truncate(bytes.len() - 5);
        log.insert(3, bytes.as_slice()).unwrap();
    });
    let err = Store::open(dir.path(), HUB).unwrap().load().unwrap_err();
    assert!(matches!(err, LoadError::Record { number: 3, .. }), "{err}");
}

#[test]
fn a_log_record_for_an_unknown_channel_is_a_typed_error() {
    let (dir, batches) = store_with_log(6);
    tamper(dir.path(), |log| {
        let mut b = batches[2].clone();
        b.credits.push((999, 5));
        log.insert(3, b.encode().as_slice()).unwrap();
    });
    let err = Store::open(dir.path(), HUB).unwrap().load().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Apply {
                number: 3,
                source: ApplyError::UnknownChannel(999)
            }
        ),
        "{err}"
    );
}

#[test]
fn a_record_that_breaks_an_invariant_is_a_typed_error_not_a_panic() {
    let (dir, batches) = store_with_log(7);
    tamper(dir.path(), |log| {
        // Spent going backwards: the debit's channel has spent more already.
        let mut bad = batches[3].clone();
        bad.debits[0].seq += 1_000;
        bad.debits[0].spent = 0;
        log.insert(4, bad.encode().as_slice()).unwrap();
    });
    let err = Store::open(dir.path(), HUB).unwrap().load().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Apply { number: 4, .. }
                | LoadError::Invariant(InvariantError::SpentNotReceived { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_log_record_that_would_overdraw_fails_the_open_with_a_typed_error() {
    // The store appends what it is given; the ledger's rules are checked when the
    // record is applied, and a record that breaks them is a corrupt log: opening
    // fails with an error naming the record and the rule, and does not panic.
    let (dir, batches) = store_with_log(11);
    let next = batches.len() as u64 + 1;
    {
        let store = Store::open(dir.path(), HUB).unwrap();
        let payer = store.load().unwrap().channels.records()[0].clone();
        let balance = payer.balance().expect("a loaded balance is not negative");
        let overdraw = Batch {
            number: next,
            debits: vec![Debit {
                channel: payer.id,
                seq: payer.seq + 1,
                spent: payer.spent + balance + 1,
                chain: payer.chain,
                sig: [1; 64],
            }],
            ..Batch::default()
        };
        store.append_batch(&overdraw).unwrap();
    }
    let store = Store::open(dir.path(), HUB).unwrap();
    let err = store.load().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Apply {
                number,
                source: ApplyError::Overdrawn(_)
            } if number == next
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("log record {next} cannot be applied: channel")),
        "{err}"
    );
}

#[test]
fn a_missing_log_record_is_a_gap() {
    let (dir, _) = store_with_log(8);
    tamper(dir.path(), |log| {
        log.remove(4).unwrap();
    });
    let err = Store::open(dir.path(), HUB).unwrap().load().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Gap {
                expected: 4,
                found: Some(5)
            }
        ),
        "{err}"
    );
    let (dir, _) = store_with_log(9);
    tamper(dir.path(), |log| {
        log.remove(6).unwrap();
    });
    let err = Store::open(dir.path(), HUB).unwrap().load().unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Gap {
                expected: 6,
                found: None
            }
        ),
        "{err}"
    );
}

#[test]
fn reads_of_the_log_see_only_whole_batches() {
    // Every record decodes to the batch that was appended, byte for byte.
    let (dir, batches) = store_with_log(10);
    let db = redb::Database::open(dir.path().join(hub::store::DB_FILE)).unwrap();
    let txn = db.begin_read().unwrap();
    let log = txn.open_table(LOG).unwrap();
    for b in &batches {
        assert_eq!(
            log.get(b.number).unwrap().unwrap().value(),
            b.encode().as_slice()
        );
    }
}

/// Enough rows that loading splits by key range across threads; rows of an
/// unfinished round on both sides of the split.
#[test]
fn a_large_table_loads_exactly_across_threads() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(30);
    let store = Store::open(dir.path(), HUB).unwrap();
    let open = wl.open_batch(1, 250_000);
    append_all(&store, &reference, std::slice::from_ref(&open));
    let more: Vec<Batch> = (2..=6).map(|n| wl.batch(n, 200, 5)).collect();
    append_all(&store, &reference, &more);
    let rows = reference.records();
    store.fold(&rows, 6, Some(6)).unwrap();
    let tail: Vec<Batch> = (7..=12).map(|n| wl.batch(n, 200, 5)).collect();
    append_all(&store, &reference, &tail[..3]);
    // An unfinished round as of batch 9: every 1000th row, across the whole range.
    let ahead: Vec<_> = reference.records().into_iter().step_by(1_000).collect();
    store.fold(&ahead, 9, None).unwrap();
    append_all(&store, &reference, &tail[3..]);
    drop(store);
    let loaded = Store::open(dir.path(), HUB).unwrap().load().unwrap();
    assert_eq!(loaded.recovery.rows, 250_000);
    assert_eq!(loaded.recovery.replayed, 6);
    assert_eq!(sorted(loaded.channels.records()), reference.records());
}
