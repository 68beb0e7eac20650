//! Replays every committed libFuzzer corpus file (`fuzz/corpus/<target>/`) through the
//! same check its target runs (`fuzz/checks.rs`): no decoder of untrusted bytes may
//! panic on any of them, and whatever decodes must re-encode to the same bytes. The
//! corpora were grown and minimized by `scripts/fuzz.sh` (docs/SECURITY.md,
//! "Fuzzing"), so this is a cheap regression test of everything the fuzzers reached,
//! including the inputs behind past findings. The ledger and settlement corpora replay
//! in `channel/tests/fuzz_{ledger,settlement}.rs`.
//!
//! `write_fuzz_seeds` (ignored) writes real encodings as seeds for the file and record
//! targets: `ZKHUB_FUZZ_WRITE_CORPUS=1 cargo test --release --test fuzz_corpus_replay
//! -- --ignored write_fuzz_seeds`.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

use channel::crypto::PrivateKey;
use channel::field::Fe;
use channel::incremental::IncrementalInputs;
use channel::ledger::{Batch, ChannelRecord, Debit, Event, Snapshot};
use channel::state_tree::StateTree;
use channel::statement::PublicInputs;
use closer::{CloseProof, Layout, TransitionProof};
use hub::store::codec::encode_row;
use hub::store::snapshot::write_snapshot;
use hub::store::{EpochRecord, SnapshotMeta, snapshot_path};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_corpus_file_decodes_without_panic_and_round_trips() {
    let mut total = 0;
    for (target, check) in checks::DECODERS {
        let files = files(&corpus(target));
        assert!(!files.is_empty(), "empty corpus for {target}");
        for path in &files {
            let data = std::fs::read(path).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} panicked", path.display());
        }
        total += files.len();
    }
    eprintln!("replayed {total} corpus files");
}

/// A channel record with every field set.
fn record(id: u32, seq: u64, deposit: i128) -> ChannelRecord {
    let k = PrivateKey([id as u8 + 1; 32]);
    ChannelRecord {
        id,
        pk: k.public(),
        deposit,
        spent: seq * 3,
        received: 7,
        seq,
        chain: Fe::from(seq * 31),
        checkpoint_sig: (seq != 0).then(|| k.sign(&Fe::from(seq)).pack()),
        exiting: id.is_multiple_of(2),
    }
}

/// Real encodings of every kind of value the record and file targets decode.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut push = |target, name: &str, bytes: Vec<u8>| out.push((target, name.to_string(), bytes));
    // Store rows (4-byte id, then the row) and epoch records.
    for (i, r) in [
        record(1, 0, 100),
        record(2, 5, -40),
        record(u32::MAX, u64::MAX / 3, 0),
    ]
    .iter()
    .enumerate()
    {
        let mut b = r.id.to_be_bytes().to_vec();
        b.extend_from_slice(&encode_row(r, 11));
        push("store_record", &format!("seed_row_{i}"), b);
    }
    let epoch = EpochRecord {
        epoch: 4,
        cut_batch: 77,
        cut_unix_ms: 1_700_000_000_000,
        snapshot: None,
    };
    push("store_record", "seed_epoch", epoch.encode().to_vec());
    let with = EpochRecord {
        snapshot: Some(SnapshotMeta {
            channels: 3,
            digest: [9; 32],
        }),
        ..epoch
    };
    push(
        "store_record",
        "seed_epoch_snapshot",
        with.encode().to_vec(),
    );
    // Batches.
    let k = PrivateKey([3; 32]);
    let batch = Batch {
        number: 5,
        events: vec![
            Event::Open {
                channel: 1,
                pk: k.public(),
                deposit: 1_000,
            },
            Event::TopUp {
                channel: 1,
                amount: 5,
            },
            Event::Withdraw {
                channel: 1,
                amount: 3,
            },
            Event::Exit { channel: 1 },
        ],
        debits: vec![Debit {
            channel: 1,
            seq: 64,
            spent: 640,
            chain: Fe::from(7919u64),
            sig: k.sign(&Fe::from(64u64)).pack(),
        }],
        credits: vec![(2, 10), (3, u64::MAX)],
    };
    push("batch_record", "seed_batch", batch.encode());
    push("batch_record", "seed_empty", Batch::default().encode());
    // Snapshot files: mode byte 0 (the target appends the digest), then the body.
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, channels) in [vec![], vec![record(1, 0, 100), record(2, 5, -40)]]
        .into_iter()
        .enumerate()
    {
        let n = channels.len() as u64;
        let snapshot = Snapshot::new(7, 3 + i as u64, channels, &Fe::from(5u64));
        write_snapshot(dir.path(), &snapshot, 11).expect("write snapshot");
        let file = std::fs::read(snapshot_path(dir.path(), snapshot.epoch)).expect("read");
        let mut seed = vec![0u8];
        seed.extend_from_slice(&file[..file.len() - 32]);
        push("snapshot_file", &format!("seed_snapshot_{n}"), seed);
    }
    // State-tree files (mode byte 0: the target rewrites the digest).
    for (i, tree) in [
        StateTree::new(),
        StateTree::from_leaves([
            (0, Fe::from(1u64)),
            (5, Fe::from(2u64)),
            (63, Fe::from(3u64)),
        ])
        .expect("tree"),
    ]
    .iter()
    .enumerate()
    {
        let mut seed = vec![0u8];
        tree.write_to(&mut seed).expect("write tree");
        push("state_tree_file", &format!("seed_tree_{i}"), seed);
    }
    // Proof files of both statements (empty proof bodies: only the header is real).
    let full = CloseProof {
        layout: Layout::for_channels(3).expect("layout"),
        key_digest: [1; 32],
        public: PublicInputs {
            hub_id: 7,
            epoch: 2,
            n: 3,
            deposits_root: Fe::from(11u64),
            balances_root: Fe::from(12u64),
            volume_commitment: Fe::from(13u64),
        },
        snark: vec![0; 16],
    };
    push("proof_file", "seed_full", full.to_bytes());
    let transition = TransitionProof {
        layout: Layout::for_touched(2).expect("layout"),
        key_digest: [2; 32],
        inputs: IncrementalInputs {
            hub_id: 7,
            epoch: 3,
            n: 2,
            prev_root: Fe::from(1u64),
            new_root: Fe::from(2u64),
            deposits_hash: Fe::from(0u64),
            volume_commitment: Fe::from(3u64),
        },
        snark: vec![0; 16],
    };
    push("proof_file", "seed_transition", transition.to_bytes());
    out
}

#[test]
fn the_seed_encodings_decode_under_their_targets_checks() {
    // The seeds are real encodings: each must pass its target's check (which asserts
    // the round trip of whatever decodes).
    for (target, name, bytes) in seeds() {
        let (_, check) = checks::DECODERS
            .iter()
            .find(|(t, _)| *t == target)
            .expect("a target");
        check(&bytes);
        let _ = name;
    }
}

#[test]
#[ignore = "writes fuzz/corpus; run with ZKHUB_FUZZ_WRITE_CORPUS=1 and --ignored"]
fn write_fuzz_seeds() {
    if std::env::var_os("ZKHUB_FUZZ_WRITE_CORPUS").is_none() {
        return;
    }
    for (target, name, bytes) in seeds() {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        std::fs::write(dir.join(name), bytes).expect("write seed");
    }
}
