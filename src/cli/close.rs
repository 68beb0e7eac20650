//! `zkhub close` and `zkhub verify`: prove an epoch from the hub's snapshot (while the
//! hub keeps running), write the proof file, submit it; check a proof file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::prove::{CloserBars, default_keys_dir};

/// Prove the close of an epoch from the hub's snapshot and submit it.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The hub's data directory (holds `epochs/E/snapshot.bin`).
    #[arg(long, default_value = "./zkhub-data")]
    pub data: PathBuf,
    /// Epoch to close (default: the latest snapshot in the data directory).
    #[arg(long)]
    pub epoch: Option<u64>,
    /// Where to write the proof file (default: DATA/epochs/E/close.proof).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Proving-key cache directory (default: $ZKHUB_KEYS or ~/.cache/zkhub/keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Submit to the running hub's settlement layer at this HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub hub: String,
    /// Only write the proof file; do not submit it.
    #[arg(long)]
    pub no_submit: bool,
}

/// Check a close proof file.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The proof file.
    pub file: PathBuf,
    /// Verifier-key cache directory (default: $ZKHUB_KEYS or ~/.cache/zkhub/keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,
}

fn latest_epoch(data: &std::path::Path) -> anyhow::Result<u64> {
    let dir = data.join("epochs");
    let mut best = None;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if let Some(e) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            && hub::store::snapshot_path(data, e).exists()
        {
            best = best.max(Some(e));
        }
    }
    best.with_context(|| {
        format!(
            "no epoch snapshot under {}: cut an epoch first (zkhub chain cut)",
            dir.display()
        )
    })
}

/// Run `zkhub close`.
pub fn run_close(args: CloseArgs) -> anyhow::Result<()> {
    let epoch = match args.epoch {
        Some(e) => e,
        None => latest_epoch(&args.data)?,
    };
    let snapshot = hub::store::read_snapshot(&args.data, epoch)
        .with_context(|| format!("reading the snapshot of epoch {epoch}"))?;
    let keys = args.keys.unwrap_or_else(default_keys_dir);
    println!(
        "closing epoch {epoch} of hub {}: {} channels",
        snapshot.hub_id,
        snapshot.channels.len()
    );
    let started = Instant::now();
    let proof = closer::prove_epoch(&snapshot, &keys, &CloserBars::default())?;
    let bytes = proof.to_bytes();
    let out = args.out.unwrap_or_else(|| {
        args.data
            .join("epochs")
            .join(epoch.to_string())
            .join("close.proof")
    });
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "proof written to {} ({} bytes, {} slots) in {:.1} s",
        out.display(),
        bytes.len(),
        proof.slots,
        started.elapsed().as_secs_f64()
    );
    if args.no_submit {
        return Ok(());
    }
    let url = format!("{}/operator/close", args.hub.trim_end_matches('/'));
    let mut response = ureq::post(&url)
        .header("content-type", "application/octet-stream")
        .send(&bytes[..])
        .with_context(|| {
            format!("submitting to {url} (is `zkhub serve` running? use --no-submit to skip)")
        })?;
    let answer: serde_json::Value = response.body_mut().read_json()?;
    println!("settlement layer: {answer}");
    Ok(())
}

/// Run `zkhub verify`: exit 0 when the proof is valid for its public inputs.
pub fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let keys = args.keys.unwrap_or_else(default_keys_dir);
    let started = Instant::now();
    match closer::verify_file(&bytes, &keys) {
        Ok(public) => {
            println!(
                "valid: hub {} epoch {} with {} channels, deposits root {}, balances root {} ({:.0} ms)",
                public.hub_id,
                public.epoch,
                public.n,
                channel::field::fe_to_dec(&public.deposits_root),
                channel::field::fe_to_dec(&public.balances_root),
                started.elapsed().as_secs_f64() * 1e3
            );
            Ok(())
        }
        Err(e) => anyhow::bail!("invalid proof: {e}"),
    }
}
