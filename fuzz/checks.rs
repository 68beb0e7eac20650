//! What each decoder target checks on one input, shared by the libFuzzer targets
//! (`fuzz/fuzz_targets/*.rs`) and the corpus replay test (`tests/fuzz_corpus_replay.rs`),
//! so a committed corpus file is checked in `cargo test` exactly as the fuzzer checked
//! it. Each check must not panic on any input; where the input decodes it must
//! re-encode to the same bytes.

use std::path::Path;
use std::sync::OnceLock;

use bincode::Options;
use channel::ledger::Batch;
use channel::state_tree::{ReadLimits, StateTree};
use closer::Layout;
use closer::keys::{Snark, bincode_options, verifier_key};
use closer::{CloseProof, TransitionProof};
use hub::store::codec::{decode_row, encode_row};
use hub::store::{EpochRecord, read_snapshot_file, snapshot_path};

/// What a decoder target runs on one input.
pub type Check = fn(&[u8]);

/// The decoder targets: `(corpus directory name, check)`.
pub const DECODERS: &[(&str, Check)] = &[
    ("binary_frame", binary_frame),
    ("json_message", json_message),
    ("batch_record", batch_record),
    ("store_record", store_record),
    ("snapshot_file", snapshot_file),
    ("proof_file", proof_file),
    ("key_file", key_file),
    ("state_tree_file", state_tree_file),
];

/// A scratch directory for the file-reading targets (in /dev/shm where there is one).
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            tempfile::tempdir_in(shm).expect("temp dir")
        } else {
            tempfile::tempdir().expect("temp dir")
        }
    })
    .path()
}

/// Binary wire frames (pay frames from payers, ack/reject frames from the hub).
pub fn binary_frame(data: &[u8]) {
    channel::codec::fuzz::fuzz_decode_binary(data)
}

/// JSON-RPC text messages in both directions.
pub fn json_message(data: &[u8]) {
    channel::codec::fuzz::fuzz_decode_text(data)
}

/// The store's log records (`channel::ledger::Batch`).
pub fn batch_record(data: &[u8]) {
    if let Ok(batch) = Batch::decode(data) {
        assert_eq!(batch.encode(), data, "a batch record has one encoding");
    }
}

/// The hub store's fixed-layout values: a channel row (the first 4 bytes are the
/// channel id, the rest the row) and an epoch record (the whole input).
pub fn store_record(data: &[u8]) {
    if let Some((id, row)) = data.split_first_chunk::<4>() {
        let id = u32::from_be_bytes(*id);
        if let Ok((record, as_of)) = decode_row(id, row) {
            assert_eq!(record.id, id);
            assert_eq!(
                &encode_row(&record, as_of)[..],
                row,
                "a row has one encoding"
            );
        }
    }
    if let Some(record) = EpochRecord::decode(data) {
        assert_eq!(
            &record.encode()[..],
            data,
            "an epoch record has one encoding"
        );
    }
}

/// Epoch snapshot files, read from a real file by `hub::store::read_snapshot_file`.
/// The input after its first byte is the body: the right BLAKE3 digest is appended
/// (so the parser past the digest is reached) unless the first byte is odd, when the
/// rest is the whole file. It is written where the reader looks for the epoch the
/// header names.
pub fn snapshot_file(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let epoch = body
        .get(20..28)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
    let mut file = body.to_vec();
    if mode & 1 == 0 {
        file.extend_from_slice(blake3::hash(body).as_bytes());
    }
    let path = snapshot_path(scratch(), epoch);
    let parent = path.parent().expect("an epoch directory");
    std::fs::create_dir_all(parent).expect("epoch dir");
    std::fs::write(&path, &file).expect("write snapshot");
    if let Ok(read) = read_snapshot_file(scratch(), epoch) {
        assert_eq!(
            read.digest[..],
            file[file.len() - 32..],
            "the file's digest"
        );
    }
    std::fs::remove_file(&path).expect("remove snapshot");
    let _ = std::fs::remove_dir(parent);
}

/// Close proof files of both statements; what decodes re-encodes to the same bytes,
/// and its Spartan2 proof body then goes through the verifier's bounded bincode
/// decoder.
pub fn proof_file(data: &[u8]) {
    let body = |snark: &[u8]| {
        let _ = bincode_options(snark.len() as u64).deserialize::<Snark>(snark);
    };
    if let Ok(proof) = CloseProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data, "a proof file has one encoding");
        body(&proof.snark);
    }
    if let Ok(proof) = TransitionProof::from_bytes(data) {
        assert_eq!(proof.to_bytes(), data, "a proof file has one encoding");
        body(&proof.snark);
    }
}

/// Verifier key files, read from a real file by `closer::keys::verifier_key` (the
/// lookup a verifier handed a proof does): the header checks, then the bounded bincode
/// decoder of the key body. Unless the first input byte is odd, the body's length and
/// BLAKE3 digest are written into the header so the body decoder is reached.
pub fn key_file(data: &[u8]) {
    const DIGEST_AT: usize = 52;
    const LEN_AT: usize = 84;
    const HEADER_LEN: usize = 92;
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if mode & 1 == 0 && file.len() >= HEADER_LEN {
        let body_len = (file.len() - HEADER_LEN) as u64;
        let digest = *blake3::hash(&file[HEADER_LEN..]).as_bytes();
        file[DIGEST_AT..DIGEST_AT + 32].copy_from_slice(&digest);
        file[LEN_AT..LEN_AT + 8].copy_from_slice(&body_len.to_le_bytes());
    }
    let layout = Layout::for_channels(1).expect("layout of one channel");
    let name = format!(
        "close-v3-k{}-m{}-fuzz.vk",
        layout.slots_per_chunk, layout.chunks
    );
    let path = scratch().join(name);
    std::fs::write(&path, &file).expect("write key file");
    let mut digest = [0u8; 32];
    if let Some(d) = file.get(DIGEST_AT..DIGEST_AT + 32) {
        digest.copy_from_slice(d);
    }
    let _ = verifier_key(scratch(), layout, &digest);
    std::fs::remove_file(&path).expect("remove key file");
}

/// State-tree files (`StateTree::read_from`) under a small position limit, so each
/// execution stays cheap. Unless the first input byte is odd, the right BLAKE3 digest
/// is written into the header so the body checks are reached. A tree that loads saves
/// to the same bytes.
pub fn state_tree_file(data: &[u8]) {
    // Header: magic 8, version 4, positions 8, occupied 8, digest 32.
    const DIGEST_AT: usize = 28;
    const HEADER_LEN: usize = 60;
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if mode & 1 == 0 && file.len() >= HEADER_LEN {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&file[8..DIGEST_AT]);
        hasher.update(&file[HEADER_LEN..]);
        let digest = *hasher.finalize().as_bytes();
        file[DIGEST_AT..HEADER_LEN].copy_from_slice(&digest);
    }
    let limits = ReadLimits { max_positions: 64 };
    let mut reader = &file[..];
    if let Ok(tree) = StateTree::read_from(&mut reader, limits) {
        let used = file.len() - reader.len();
        let mut again = Vec::new();
        tree.write_to(&mut again).expect("write to memory");
        assert_eq!(again, file[..used], "a state-tree file has one encoding");
    }
}
