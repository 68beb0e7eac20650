//! The group committer over a real store: acks only after durability, restart
//! recovers every acknowledged payment, folding keeps storage bounded, and epoch
//! snapshots are exactly the state at the cut.

mod store_common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use channel::field::Fe;
use channel::ledger::snapshot::blind;
use channel::ledger::{BatchBuilder, Event, Ledger};
use hub::state::Channels;
use hub::store::{Store, read_snapshot, read_snapshot_file};
use hub::writer::{CommitRequest, SubmitError, Writer, WriterConfig};
use store_common::{Gen, Recorder, apply_ref, fast_tempdir, sorted};

const HUB: u64 = 7;

fn seed() -> Fe {
    Fe::from(0xb11d_u64)
}

fn config() -> WriterConfig {
    let mut c = WriterConfig::new(seed());
    c.fold_on_shutdown = false;
    c
}

/// A running writer with its store, table, listener and snapshot outcomes.
struct Running {
    store: Store,
    channels: Arc<Channels>,
    writer: Writer,
    rec: Arc<Recorder>,
    snaps: std::sync::mpsc::Receiver<store_common::SnapshotOutcome>,
}

/// Open the store in `dir`, load it, start a writer.
fn start(dir: &std::path::Path, config: WriterConfig) -> Running {
    let store = Store::open(dir, HUB).unwrap();
    let loaded = store.load().unwrap();
    let channels = Arc::new(loaded.channels);
    let (rec, snaps) = Recorder::new();
    let rec = Arc::new(rec);
    let writer = Writer::spawn(
        store.clone(),
        channels.clone(),
        loaded.recovery,
        config,
        rec.clone(),
    )
    .unwrap();
    Running {
        store,
        channels,
        writer,
        rec,
        snaps,
    }
}

/// Submit opens and `ranges` covered ranges; mirror each into the reference as its
/// own batch (the final state does not depend on how requests are grouped).
fn submit_workload(writer: &Writer, wl: &mut Gen, reference: &Ledger, opens: u32, ranges: usize) {
    let h = writer.handle();
    for e in wl.open(opens) {
        let mut b = BatchBuilder::new();
        b.push_event(e.clone());
        apply_ref(reference, &b.build(0));
        h.submit_blocking(CommitRequest::Event(e)).unwrap();
    }
    for i in 0..ranges {
        let c = wl.covered(1 + i % 9);
        let mut b = BatchBuilder::new();
        b.push_covered(c.clone(), false).unwrap();
        apply_ref(reference, &b.build(0));
        h.submit_blocking(CommitRequest::Covered(c)).unwrap();
    }
}

#[test]
fn acks_follow_commits_and_a_restart_recovers_every_acked_payment() {
    let dir = tempfile::tempdir().unwrap(); // a real disk: real fsyncs
    let reference = Ledger::new();
    let mut wl = Gen::new(11);
    let Running {
        store,
        channels,
        writer,
        rec,
        snaps: _,
    } = start(dir.path(), config());
    submit_workload(&writer, &mut wl, &reference, 20, 300);
    let last = writer.handle().flush_blocking().unwrap();
    assert!(last >= 1);
    assert_eq!(
        store.meta().unwrap().last_batch,
        last,
        "flush returns the durable batch"
    );
    assert_eq!(sorted(channels.records()), reference.records());
    // Every payer is acked up to its last covered seq, in increasing order.
    let acks = rec.acks();
    for r in reference.records() {
        if r.seq > 0 {
            assert_eq!(acks.get(&r.id), Some(&r.seq));
        }
    }
    let metrics = writer.metrics();
    assert_eq!(
        metrics.ranges.load(std::sync::atomic::Ordering::Relaxed),
        300
    );
    assert_eq!(
        metrics.batches.load(std::sync::atomic::Ordering::Relaxed),
        last
    );
    assert_eq!(metrics.commit_us.snapshot().count, last);
    writer.shutdown();
    drop((store, channels));

    let loaded = Store::open(dir.path(), HUB).unwrap().load().unwrap();
    assert_eq!(sorted(loaded.channels.records()), reference.records());
    assert!(rec.failures.lock().unwrap().is_empty());
}

#[test]
fn submit_reports_back_pressure_and_stop() {
    let dir = fast_tempdir();
    let mut c = config();
    c.queue_capacity = 1;
    let Running {
        store: _store,
        channels: _channels,
        writer,
        rec: _rec,
        snaps: _,
    } = start(dir.path(), c);
    let h = writer.handle();
    // Flood: with one slot some submissions must come back as Full, with the request.
    let mut wl = Gen::new(12);
    let mut full = 0;
    for e in wl.open(2_000) {
        match h.submit(CommitRequest::Event(e)) {
            Ok(()) => {}
            Err(e @ SubmitError::Full(_)) => {
                assert!(matches!(e.into_request(), CommitRequest::Event(_)));
                full += 1;
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(full > 0);
    writer.shutdown();
    let err = h
        .submit(CommitRequest::Event(Event::Exit { channel: 1 }))
        .unwrap_err();
    assert!(matches!(err, SubmitError::Stopped(_)));
    assert!(h.flush_blocking().is_err());
}

#[test]
fn folding_keeps_storage_bounded() {
    let dir = fast_tempdir();
    let mut c = config();
    c.fold_after_records = 64;
    c.fold_slice_rows = 16;
    let Running {
        store,
        channels,
        writer,
        rec: _rec,
        snaps: _,
    } = start(dir.path(), c);
    let reference = Ledger::new();
    let mut wl = Gen::new(13);
    submit_workload(&writer, &mut wl, &reference, 100, 0);
    let h = writer.handle();
    let file = dir.path().join(hub::store::DB_FILE);
    let mut sizes = Vec::new();
    // 10,000 batches (a flush after each range forces one batch per range).
    for round in 0..10 {
        for i in 0..1_000 {
            let cov = wl.covered(1 + i % 4);
            let mut b = BatchBuilder::new();
            b.push_covered(cov.clone(), false).unwrap();
            apply_ref(&reference, &b.build(0));
            h.submit_blocking(CommitRequest::Covered(cov)).unwrap();
            h.flush_blocking().unwrap();
        }
        sizes.push((
            round,
            std::fs::metadata(&file).unwrap().len(),
            store.log_records().unwrap(),
        ));
    }
    let meta = store.meta().unwrap();
    eprintln!("(round, file bytes, log records): {sizes:?}; {meta:?}");
    assert!(meta.last_batch >= 10_000, "{meta:?}");
    assert!(
        meta.last_batch - meta.folded_through < 64 + 16,
        "the log is folded as it goes: {meta:?}"
    );
    // Unfolded, 10,000 records of ~300 bytes would take several MB; folded, the file
    // stays at its size after the first rounds.
    let (_, first, _) = sizes[1];
    let (_, last, records) = *sizes.last().unwrap();
    assert!(records < 100, "log records stay few: {sizes:?}");
    assert!(last <= first + (1 << 20), "file keeps its size: {sizes:?}");
    assert!(last < 1 << 20, "file stays small: {sizes:?}");
    assert_eq!(sorted(channels.records()), reference.records());
    writer.shutdown();
    drop((store, channels));
    let loaded = Store::open(dir.path(), HUB).unwrap().load().unwrap();
    assert_eq!(sorted(loaded.channels.records()), reference.records());
}

#[test]
fn snapshot_is_the_state_at_the_cut_even_after_later_batches_and_folds() {
    let dir = fast_tempdir();
    let mut c = config();
    c.fold_after_records = 4;
    let Running {
        store,
        channels,
        writer,
        rec: _rec,
        snaps,
    } = start(dir.path(), c);
    let reference = Ledger::new();
    let mut wl = Gen::new(14);
    submit_workload(&writer, &mut wl, &reference, 30, 200);
    let at_cut = reference.records();
    let cut = writer.handle().cut_blocking(1).unwrap();
    assert_eq!(cut.epoch, 1);
    // Payments go on; then everything is folded.
    submit_workload(&writer, &mut wl, &reference, 5, 200);
    let (epoch, result) = snaps.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(epoch, 1);
    let meta = result.unwrap();
    writer.handle().fold_all_blocking().unwrap();
    assert_eq!(store.log_records().unwrap(), 0);
    assert_ne!(at_cut, reference.records(), "state moved on after the cut");

    let snap = read_snapshot(dir.path(), 1).unwrap();
    assert_eq!(snap.hub_id, HUB);
    assert_eq!(snap.channels, at_cut);
    let expected_blinds: Vec<Fe> = at_cut.iter().map(|r| blind(&seed(), 1, r.id)).collect();
    assert_eq!(snap.blinds, expected_blinds);
    let file = read_snapshot_file(dir.path(), 1).unwrap();
    assert_eq!(file.cut_batch, cut.cut_batch);
    assert_eq!(file.digest, meta.digest);
    assert_eq!(meta.channels, 30);
    let epochs = store.epochs().unwrap();
    assert_eq!(epochs.len(), 1);
    assert_eq!(epochs[0].snapshot, Some(meta));

    // A later epoch must be after the last one.
    assert!(writer.handle().cut_blocking(1).is_err());
    assert_eq!(sorted(channels.records()), reference.records());
    writer.shutdown();
}

#[test]
fn a_cut_whose_snapshot_was_not_written_is_resumed_after_restart() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(15);
    {
        let store = Store::open(dir.path(), HUB).unwrap();
        let b = wl.open_batch(1, 12);
        store.append_batch(&b).unwrap();
        apply_ref(&reference, &b);
        for n in 2..=20 {
            let b = wl.batch(n, 3, 2);
            store.append_batch(&b).unwrap();
            apply_ref(&reference, &b);
        }
        let (cut, txn) = store.cut_epoch(3).unwrap();
        assert_eq!(cut.cut_batch, 20);
        drop(txn); // crash before the snapshot thread wrote anything
        // A later batch, and a fold past the cut is refused while it is pending.
        let b = wl.batch(21, 3, 2);
        store.append_batch(&b).unwrap();
        let err = store.fold(&reference.records(), 21, Some(21)).unwrap_err();
        assert!(
            matches!(err, hub::store::CommitError::SnapshotPending { epoch: 3 }),
            "{err}"
        );
        // Folding up to the cut is fine.
        store.fold(&reference.records(), 20, Some(20)).unwrap();
        apply_ref(&reference, &b);
    }
    let at_cut_expected = {
        // Rebuild the reference at batch 20 by replaying the same generator.
        let r = Ledger::new();
        let mut g = Gen::new(15);
        apply_ref(&r, &g.open_batch(1, 12));
        for n in 2..=20 {
            apply_ref(&r, &g.batch(n, 3, 2));
        }
        r.records()
    };
    assert!(read_snapshot(dir.path(), 3).is_err(), "no file yet");
    let Running {
        store,
        channels,
        writer,
        rec: _rec,
        snaps,
    } = start(dir.path(), config());
    let (epoch, result) = snaps.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(epoch, 3);
    result.unwrap();
    assert_eq!(
        read_snapshot(dir.path(), 3).unwrap().channels,
        at_cut_expected
    );
    assert_eq!(sorted(channels.records()), reference.records());
    writer.handle().fold_all_blocking().unwrap();
    assert_eq!(store.meta().unwrap().folded_through, 21);
    writer.shutdown();
}

#[test]
fn a_damaged_snapshot_file_is_refused() {
    let dir = fast_tempdir();
    let Running {
        store: _store,
        channels: _channels,
        writer,
        rec: _rec,
        snaps,
    } = start(dir.path(), config());
    let reference = Ledger::new();
    let mut wl = Gen::new(16);
    submit_workload(&writer, &mut wl, &reference, 4, 10);
    writer.handle().cut_blocking(1).unwrap();
    snaps
        .recv_timeout(Duration::from_secs(60))
        .unwrap()
        .1
        .unwrap();
    let path = hub::store::snapshot_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let err = read_snapshot(dir.path(), 1).unwrap_err();
    assert!(matches!(err, hub::store::SnapshotError::Digest(_)), "{err}");
    writer.shutdown();
}

#[test]
fn a_batch_that_would_overdraw_is_never_appended() {
    // The writer checks each batch against the table before appending it
    // (`prepare_batch`): a range the ledger would refuse (here one spending more
    // than its payer holds, which admission never lets through) fail-stops the
    // writer with nothing written, so the log a restart replays stays valid.
    let dir = fast_tempdir();
    let run = start(dir.path(), config());
    let h = run.writer.handle();
    let mut wl = Gen::new(31);
    for e in wl.open(2) {
        h.submit_blocking(CommitRequest::Event(e)).unwrap();
    }
    let committed = h.flush_blocking().unwrap();
    let before = sorted(run.channels.records());
    let mut overdraw = wl.covered_by(1, 1);
    overdraw.debit.spent = before[0].balance().unwrap() + 1;
    overdraw.payments = vec![(2, overdraw.debit.spent)];
    h.submit_blocking(CommitRequest::Covered(overdraw)).unwrap();
    assert!(h.flush_blocking().is_err(), "the writer stopped");
    let failures = run.rec.failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with(&format!("batch {} was not written", committed + 1)),
        "{failures:?}"
    );
    assert_eq!(sorted(run.channels.records()), before, "nothing applied");
    assert_eq!(
        run.store.meta().unwrap().last_batch,
        committed,
        "nothing appended"
    );
    assert!(!run.store.is_failed(), "the store itself saw no I/O error");
    drop(run);
    let reloaded = Store::open(dir.path(), HUB).unwrap().load().unwrap();
    assert_eq!(sorted(reloaded.channels.records()), before);
}

/// What is committed just before a quiet spell (deposits before a load run) is folded
/// during it: the writer wakes when the idle fold comes due instead of waiting for the
/// next request, which then found a fold round of every new channel in its way.
#[test]
fn a_writer_left_idle_folds_what_it_committed_without_waiting_for_the_next_request() {
    let dir = fast_tempdir();
    let reference = Ledger::new();
    let mut wl = Gen::new(16);
    let mut c = config();
    c.fold_idle_interval = Duration::from_millis(100);
    let Running {
        store,
        writer,
        rec: _rec,
        ..
    } = start(dir.path(), c);
    // Within the interval of the writer's start: no fold is due when the queue empties.
    submit_workload(&writer, &mut wl, &reference, 30, 0);
    let last = writer.handle().flush_blocking().unwrap();
    assert!(last >= 1);
    let state = || {
        let folded = writer.metrics().folded_through.load(Ordering::Relaxed);
        (folded, store.log_records().unwrap())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state() != (last, 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        state(),
        (last, 0),
        "folded and trimmed while idle, no request needed"
    );
    writer.shutdown();
}

/// A queue that empties for a moment is not idleness (issue 15): after a quiet spell,
/// a stream of batches with short gaps between them starts no idle fold round (at the
/// start of a load run one put 1–2 ms slices of cold rows in front of the first
/// batches); the round comes once the stream has stopped for `fold_idle_quiet`.
#[test]
fn a_stream_with_short_gaps_after_a_quiet_spell_starts_no_idle_fold_round() {
    let dir = fast_tempdir();
    let mut wl = Gen::new(17);
    let mut c = config();
    c.fold_idle_interval = Duration::from_millis(20);
    c.fold_idle_quiet = Duration::from_millis(600);
    let Running {
        writer, rec: _rec, ..
    } = start(dir.path(), c);
    let h = writer.handle();
    let folded = || writer.metrics().folded_through.load(Ordering::Relaxed);
    let slices = || writer.metrics().fold_slices.load(Ordering::Relaxed);
    let wait_folded = |through: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while folded() < through && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        folded()
    };
    for e in wl.open(8) {
        h.submit_blocking(CommitRequest::Event(e)).unwrap();
    }
    let opened = h.flush_blocking().unwrap();
    assert_eq!(
        wait_folded(opened),
        opened,
        "the quiet spell folds the opens"
    );
    let slices_before = slices();

    let mut last = opened;
    for _ in 0..30 {
        h.submit_blocking(CommitRequest::Covered(wl.covered(3)))
            .unwrap();
        last = h.flush_blocking().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        last > opened + 20,
        "the stream was committed batch by batch"
    );
    assert_eq!(folded(), opened, "no fold round while the stream ran");
    assert_eq!(slices(), slices_before, "not one fold slice");

    assert_eq!(wait_folded(last), last, "folded once the stream stopped");
    writer.shutdown();
}
