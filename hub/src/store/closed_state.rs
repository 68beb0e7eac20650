//! The incremental close's state on disk: after the settlement layer accepts the
//! incremental close of epoch `E`, the hub saves what that close left (every channel's
//! leaf values and the state tree, [`ClosedState`]) so that a restart, the next close
//! (`zkhub close`, another process) and withdrawals open leaves without rebuilding a
//! tree of a million leaves (docs/DESIGN.md §8.2).
//!
//! File `DIR/epochs/<E>/state.bin`, big-endian:
//!
//! | size | field |
//! |---|---|
//! | 8 | magic `b"ZKHSTAT\0"` |
//! | 4 | format version (1) |
//! | 8 | hub id |
//! | 8 | epoch |
//! | 8 | `n`, closed channels (at most the tree's capacity, checked before allocating) |
//! | n × 140 | per channel, ids strictly increasing: id `u32`, `pk.x`, `pk.y` (32 each), net deposit `i128`, spent, received, balance (`u64` each), blind (32) |
//! | 32 | BLAKE3 of every byte before it |
//! | … | the state tree ([`StateTree::write_to`]: its own header and digest) |
//!
//! Written atomically like the snapshot (temporary file, fsync, rename, fsync of the
//! directory): a file that exists is complete. Read with every length bounded before
//! it is allocated; the caller checks the root against the settlement layer's record.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use channel::bytes::Reader;
use channel::crypto::PublicKey;
use channel::field::fe_to_be_bytes;
use channel::incremental::{ClosedChannel, ClosedState, IncrementalError};
use channel::state_tree::{CAPACITY, ReadLimits, StateFileError, StateTree};
use channel::types::{Epoch, HubId};

use super::snapshot::write_atomically;

const MAGIC: &[u8; 8] = b"ZKHSTAT\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 * 3;
const ENTRY_LEN: usize = 4 + 32 + 32 + 16 + 8 * 3 + 32;

/// Why a saved closed state could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ClosedStateError {
    /// File I/O failed.
    #[error("closed state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a closed state, or is corrupt.
    #[error("closed state file {path} is malformed: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The channel part fails its checksum.
    #[error("closed state file {0} fails its checksum")]
    Digest(PathBuf),
    /// The embedded state tree was refused.
    #[error("closed state file {path}: {source}")]
    Tree {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: StateFileError,
    },
    /// Channels and tree do not make one closed state.
    #[error("closed state file {path}: {source}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: IncrementalError,
    },
}

/// The closed state file of `epoch` in data directory `dir`.
pub fn closed_state_path(dir: impl AsRef<Path>, epoch: Epoch) -> PathBuf {
    dir.as_ref()
        .join("epochs")
        .join(epoch.to_string())
        .join("state.bin")
}

/// The highest epoch of `dir` with a closed state file, if any.
pub fn latest_closed_state(dir: impl AsRef<Path>) -> Option<Epoch> {
    let dir = dir.as_ref();
    std::fs::read_dir(dir.join("epochs"))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<Epoch>().ok())
        .filter(|&e| closed_state_path(dir, e).exists())
        .max()
}

fn encode_channel(c: &ClosedChannel) -> [u8; ENTRY_LEN] {
    let mut out = [0u8; ENTRY_LEN];
    out[..4].copy_from_slice(&c.id.to_be_bytes());
    out[4..36].copy_from_slice(&fe_to_be_bytes(&c.pk.0.x));
    out[36..68].copy_from_slice(&fe_to_be_bytes(&c.pk.0.y));
    out[68..84].copy_from_slice(&c.net_deposit.to_be_bytes());
    out[84..92].copy_from_slice(&c.spent.to_be_bytes());
    out[92..100].copy_from_slice(&c.received.to_be_bytes());
    out[100..108].copy_from_slice(&c.balance.to_be_bytes());
    out[108..140].copy_from_slice(&fe_to_be_bytes(&c.blind));
    out
}

fn decode_channel(b: &[u8; ENTRY_LEN]) -> Option<ClosedChannel> {
    let mut r = Reader::new(b);
    let channel = ClosedChannel {
        id: r.u32_be().ok()?,
        pk: PublicKey::from_xy_unchecked(r.fe().ok()?, r.fe().ok()?),
        net_deposit: i128::from_be_bytes(*r.array::<16>().ok()?),
        spent: r.u64_be().ok()?,
        received: r.u64_be().ok()?,
        balance: r.u64_be().ok()?,
        blind: r.fe().ok()?,
    };
    r.finish().ok()?;
    // The balance rule every closed leaf satisfies (`B = D + R − S`).
    let balance = channel.net_deposit + i128::from(channel.received) - i128::from(channel.spent);
    (balance == i128::from(channel.balance)).then_some(channel)
}

/// Decode every entry, on all cores; `None` if any is malformed.
fn decode_entries(entries: &[u8]) -> Option<Vec<ClosedChannel>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = (entries.len() / ENTRY_LEN).div_ceil(threads).max(1) * ENTRY_LEN;
    std::thread::scope(|scope| {
        let parts: Vec<_> = entries
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.chunks_exact(ENTRY_LEN)
                        .map(|e| decode_channel(e.try_into().ok()?))
                        .collect::<Option<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(entries.len() / ENTRY_LEN);
        for part in parts {
            out.extend(part.join().ok()??);
        }
        Some(out)
    })
}

/// Write `state` to its file in `dir`, atomically; returns the path.
pub fn write_closed_state(dir: &Path, state: &ClosedState) -> Result<PathBuf, ClosedStateError> {
    let path = closed_state_path(dir, state.epoch);
    write_atomically(&path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_be_bytes())?;
        w.write_all(&state.hub_id.to_be_bytes())?;
        w.write_all(&state.epoch.to_be_bytes())?;
        w.write_all(&(state.len() as u64).to_be_bytes())?;
        for c in state.channels() {
            w.write_all(&encode_channel(c))?;
        }
        let digest: [u8; 32] = w.hasher.finalize().into();
        w.inner.write_all(&digest)?;
        // The tree file carries its own digest.
        state.tree.write_to(&mut w.inner)
    })
    .map_err(|(path, source)| ClosedStateError::Io { path, source })?;
    Ok(path)
}

/// Read epoch `epoch`'s closed state from data directory `dir`: checksums, header,
/// id order, the balance rule of every channel, and the tree's shape against the
/// channels ([`ClosedState::from_parts`]). Not checked here: that the root is the one
/// the settlement layer accepted (the caller has the settlement record).
pub fn read_closed_state(
    dir: impl AsRef<Path>,
    epoch: Epoch,
) -> Result<ClosedState, ClosedStateError> {
    let path = closed_state_path(dir, epoch);
    let file = File::open(&path).map_err(|source| ClosedStateError::Io {
        path: path.clone(),
        source,
    })?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let bad = |reason| ClosedStateError::Format {
        path: path.clone(),
        reason,
    };
    let read = |r: &mut BufReader<File>, buf: &mut [u8]| {
        r.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("truncated"),
            _ => ClosedStateError::Io {
                path: path.clone(),
                source: e,
            },
        })
    };
    let mut hasher = blake3::Hasher::new();
    let mut header = [0u8; HEADER_LEN];
    read(&mut r, &mut header)?;
    hasher.update(&header);
    if &header[..8] != MAGIC {
        return Err(bad("not a zkhub closed state"));
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_be_bytes(b)
    };
    if header[8..12] != VERSION.to_be_bytes() {
        return Err(bad("unknown version"));
    }
    let hub_id: HubId = u64_at(12);
    if u64_at(20) != epoch {
        return Err(bad("epoch does not match the file's place"));
    }
    let n = u64_at(28);
    if n > CAPACITY {
        return Err(bad("more channels than the state tree holds"));
    }
    // Bounded by CAPACITY (2^20) above: at most 147 MB. One read, one hash, decoded
    // on every core: a million entries load in a fraction of a second.
    let mut entries = vec![0u8; n as usize * ENTRY_LEN];
    read(&mut r, &mut entries)?;
    hasher.update(&entries);
    let mut digest = [0u8; 32];
    read(&mut r, &mut digest)?;
    if hasher.finalize().as_bytes() != &digest {
        return Err(ClosedStateError::Digest(path));
    }
    let channels = decode_entries(&entries).ok_or_else(|| bad("channel entry"))?;
    drop(entries);
    let tree = StateTree::read_from(&mut r, ReadLimits::default()).map_err(|source| {
        ClosedStateError::Tree {
            path: path.clone(),
            source,
        }
    })?;
    let mut rest = [0u8; 1];
    if read(&mut r, &mut rest).is_ok() {
        return Err(bad("bytes after the state tree"));
    }
    ClosedState::from_parts(hub_id, epoch, channels, tree).map_err(|source| {
        ClosedStateError::Inconsistent {
            path: path.clone(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use channel::crypto::PrivateKey;
    use channel::field::Fe;

    use super::*;

    /// The leaf values of `state`'s channels, to compare a reload with.
    fn leaves(state: &ClosedState) -> Vec<Fe> {
        state.channels().map(ClosedChannel::leaf).collect()
    }

    fn state(n: u32) -> ClosedState {
        let channels = (1..=n)
            .map(|id| ClosedChannel {
                id: id * 3,
                pk: PrivateKey::from_bytes([id as u8; 32]).public(),
                net_deposit: 1_000,
                spent: u64::from(id),
                received: 7,
                balance: 1_007 - u64::from(id),
                blind: Fe::from(u64::from(id) * 11),
            })
            .collect();
        ClosedState::from_channels(9, 4, channels, 2).expect("state")
    }

    #[test]
    fn a_saved_closed_state_reads_back_equal() {
        let dir = tempfile::tempdir().expect("dir");
        let s = state(50);
        write_closed_state(dir.path(), &s).expect("write");
        let back = read_closed_state(dir.path(), 4).expect("read");
        assert_eq!(back.root(), s.root());
        assert_eq!(back.len(), 50);
        assert_eq!(leaves(&back), leaves(&s));
        assert_eq!(back.channel(30), s.channel(30));
        assert_eq!(latest_closed_state(dir.path()), Some(4));
    }

    fn corrupt(at: impl Fn(usize) -> usize, dir: &Path) -> ClosedStateError {
        let path = closed_state_path(dir, 4);
        let mut bytes = std::fs::read(&path).expect("read");
        let i = at(bytes.len());
        bytes[i] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        read_closed_state(dir, 4).expect_err("corrupt")
    }

    #[test]
    fn a_flipped_byte_in_a_channel_entry_fails_the_checksum() {
        let dir = tempfile::tempdir().expect("dir");
        write_closed_state(dir.path(), &state(5)).expect("write");
        let e = corrupt(|_| HEADER_LEN + 120, dir.path());
        assert!(matches!(e, ClosedStateError::Digest(_)), "{e}");
    }

    #[test]
    fn a_flipped_byte_in_the_tree_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        write_closed_state(dir.path(), &state(5)).expect("write");
        let e = corrupt(|len| len - 40, dir.path());
        assert!(matches!(e, ClosedStateError::Tree { .. }), "{e}");
    }

    #[test]
    fn a_header_claiming_more_channels_than_the_tree_holds_is_refused_before_allocating() {
        let dir = tempfile::tempdir().expect("dir");
        write_closed_state(dir.path(), &state(1)).expect("write");
        let path = closed_state_path(dir.path(), 4);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[28..36].copy_from_slice(&u64::MAX.to_be_bytes());
        std::fs::write(&path, bytes).expect("write");
        let e = read_closed_state(dir.path(), 4).expect_err("refused");
        assert!(
            matches!(e, ClosedStateError::Format { reason, .. } if reason.contains("more channels")),
            "{e}"
        );
    }

    #[test]
    fn a_truncated_file_and_a_file_of_another_epoch_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        write_closed_state(dir.path(), &state(5)).expect("write");
        let path = closed_state_path(dir.path(), 4);
        let bytes = std::fs::read(&path).expect("read");
        let other = closed_state_path(dir.path(), 5);
        std::fs::create_dir_all(other.parent().expect("parent")).expect("dir");
        std::fs::write(&other, &bytes).expect("copy");
        let e = read_closed_state(dir.path(), 5).expect_err("moved");
        assert!(matches!(e, ClosedStateError::Format { .. }), "{e}");
        std::fs::write(&path, &bytes[..bytes.len() - 7]).expect("truncate");
        assert!(read_closed_state(dir.path(), 4).is_err());
    }
}
