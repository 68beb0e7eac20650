//! `zkhub key new` / `zkhub key show`: a channel owner's Baby Jubjub key in a file
//! (64 hex characters, mode 0600) and its packed public key, the `--pk` of a deposit.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use channel::crypto::PrivateKey;
use clap::{Args, Subcommand};
use rand::RngCore as _;

/// Make or read a channel owner's key.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// Key operations.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new random private key to a file (never overwrites) and print its
    /// packed public key.
    New {
        /// The key file to create (mode 0600).
        #[arg(long, default_value = "./zkhub-client.key")]
        out: PathBuf,
        /// Print only the packed public key (for scripts).
        #[arg(long)]
        quiet: bool,
    },
    /// Print the packed public key of a key file (a client key from `key new`, or a
    /// hub's DATA/hub.key).
    Show {
        /// The key file.
        file: PathBuf,
        /// Print only the packed public key (for scripts).
        #[arg(long)]
        quiet: bool,
    },
}

/// Run `zkhub key …`.
pub fn run(args: KeyArgs) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::New { out, quiet } => {
            let key = new_key_file(&out)?;
            print_key(&out, &key, quiet, true);
        }
        KeyCommand::Show { file, quiet } => {
            let key = read_key_file(&file)?;
            print_key(&file, &key, quiet, false);
        }
    }
    Ok(())
}

fn print_key(path: &Path, key: &PrivateKey, quiet: bool, new: bool) {
    let pk = packed_public_key(key);
    if quiet {
        println!("{pk}");
        return;
    }
    let verb = if new { "written to" } else { "read from" };
    println!("private key {verb} {} (keep it secret)", path.display());
    println!("public key (packed): {pk}");
    if new {
        println!(
            "open a channel for it: zkhub chain deposit --key-file {} --amount 100000",
            path.display()
        );
    }
}

/// The packed public key of `key`, 64 hex characters.
pub fn packed_public_key(key: &PrivateKey) -> String {
    hex::encode(key.public().pack())
}

/// Create `path` with a fresh random key: 64 hex characters and a newline, mode
/// 0600 from the start. Refuses to overwrite an existing file.
pub fn new_key_file(path: &Path) -> anyhow::Result<PrivateKey> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (an existing key file is never overwritten)",
                path.display()
            )
        })?;
    writeln!(file, "{}", hex::encode(bytes))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(PrivateKey::from_bytes(bytes))
}

/// Read a key file: 64 hex characters (a client key) or 32 raw bytes (a hub key).
pub fn read_key_file(path: &Path) -> anyhow::Result<PrivateKey> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = [0u8; 32];
    if raw.len() == 32 {
        bytes.copy_from_slice(&raw);
        return Ok(PrivateKey::from_bytes(bytes));
    }
    let text = String::from_utf8_lossy(&raw);
    hex::decode_to_slice(text.trim(), &mut bytes).with_context(|| {
        format!(
            "{} is not a key file: expected 64 hex characters (zkhub key new writes one)",
            path.display()
        )
    })?;
    Ok(PrivateKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/fan.key");
        let key = new_key_file(&path).expect("new key");
        let back = read_key_file(&path).expect("read back");
        assert_eq!(packed_public_key(&key), packed_public_key(&back));
        let mode = std::fs::metadata(&path).expect("meta");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        assert!(new_key_file(&path).is_err(), "an existing key is kept");
        assert_eq!(
            packed_public_key(&read_key_file(&path).expect("still there")),
            packed_public_key(&key)
        );
        std::fs::write(dir.path().join("bad.key"), "not hex").expect("write");
        let e = read_key_file(&dir.path().join("bad.key")).expect_err("refused");
        assert!(e.to_string().contains("expected 64 hex characters"), "{e}");
    }
}
