//! The hub's secret key file `DIR/hub.key`: 32 random bytes, mode 0600 (docs/DESIGN.md §6).
//!
//! Created atomically: the bytes are written to a temporary file opened with mode
//! 0600 from the start (never chmod-ed afterwards), synced, then hard-linked into
//! place, which fails if a key already exists, so a key is never overwritten and a
//! half-written key is never visible. An existing key whose mode lets group or
//! others in is refused, as ssh does.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use ark_ff::PrimeField;
use channel::crypto::PrivateKey;
use channel::field::Fe;
use rand::RngCore;

use super::KeyError;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "hub.key";

/// Read the hub's key from `dir`, creating it (32 bytes from the OS RNG, mode 0600)
/// if absent.
pub fn hub_key(dir: impl AsRef<Path>) -> Result<PrivateKey, KeyError> {
    let dir = dir.as_ref();
    let path = dir.join(KEY_FILE);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    match File::open(&path) {
        Ok(file) => return read_key(&path, file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let tmp = dir.join(format!("{KEY_FILE}.tmp.{}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            Ok(PrivateKey(bytes))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path, File::open(&path).map_err(io)?)
        }
        Err(e) => Err(io(e)),
    }
}

fn read_key(path: &Path, mut file: File) -> Result<PrivateKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile(path.to_path_buf()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() != 32 {
        return Err(KeyError::Length {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    let mut bytes = [0u8; 32];
    file.read_exact(&mut bytes).map_err(io)?;
    Ok(PrivateKey(bytes))
}

/// The seed of the per-channel blinds (`channel::ledger::snapshot::blind`), derived
/// from the hub's key with a domain-separated BLAKE3 key derivation, so that it is
/// independent of the signing key's use.
pub fn blind_seed(key: &PrivateKey) -> Fe {
    let bytes = blake3::derive_key("zkhub 2025 blind seed v1", &key.0);
    Fe::from_be_bytes_mod_order(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_seed_is_deterministic_and_key_dependent() {
        let a = blind_seed(&PrivateKey([1; 32]));
        assert_eq!(a, blind_seed(&PrivateKey([1; 32])));
        assert_ne!(a, blind_seed(&PrivateKey([2; 32])));
    }
}
