//! `zkhub close` and `zkhub verify`: prove an epoch from the hub's snapshot (while the
//! hub keeps running), incrementally from the previous epoch's saved closed state when
//! there is one, write the proof file, submit it; check a proof file of either statement.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use channel::incremental::ClosedState;
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
    /// Which statement to prove: `incremental` (only the channels that changed since
    /// the previous close, docs/DESIGN.md §8.2), `full` (every channel, §8), or `auto`:
    /// incremental for epoch 1 or when the hub saved the previous epoch's closed state
    /// (`epochs/E-1/state.bin`), full otherwise.
    #[arg(long, value_enum, default_value_t = StatementArg::Auto)]
    pub statement: StatementArg,
}

/// `--statement` of `zkhub close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatementArg {
    /// Incremental when possible, else full.
    Auto,
    /// Every channel.
    Full,
    /// Only the touched channels.
    Incremental,
}

impl StatementArg {
    /// Whether to close `epoch` of the hub in `data` incrementally, and why.
    fn incremental(self, data: &std::path::Path, epoch: u64) -> (bool, &'static str) {
        let previous_saved = epoch > 1 && hub::store::closed_state_path(data, epoch - 1).exists();
        match self {
            StatementArg::Full => (false, "--statement full"),
            StatementArg::Incremental => (true, "--statement incremental"),
            StatementArg::Auto if epoch == 1 => (true, "the hub's first epoch"),
            StatementArg::Auto if previous_saved => {
                (true, "the previous epoch was closed incrementally")
            }
            StatementArg::Auto => (
                false,
                "the previous epoch has no saved closed state (it was closed in full, or not at all)",
            ),
        }
    }
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
    anyhow::ensure!(
        data.exists(),
        "no hub data at {}: start a hub with `zkhub serve --data {}` (or pass --data)",
        data.display(),
        data.display()
    );
    if !dir.exists() {
        anyhow::bail!(
            "no epoch has been cut yet in {}: cut one first with `zkhub chain cut`",
            data.display()
        );
    }
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
    let (incremental, why) = args.statement.incremental(&args.data, epoch);
    let started = Instant::now();
    let (bytes, layout) = if incremental {
        let previous = if epoch == 1 {
            ClosedState::genesis(snapshot.hub_id)
        } else {
            hub::store::read_closed_state(&args.data, epoch - 1).with_context(|| {
                format!(
                    "reading the closed state of epoch {} (an incremental close starts from it; \
                     --statement full proves every channel instead)",
                    epoch - 1
                )
            })?
        };
        let blind = super::attest::volume_blind_of(&args.data, epoch)?;
        let (witness, _) = previous.close(&snapshot, &blind).with_context(|| {
            format!(
                "the snapshot of epoch {epoch} against the state closed at epoch {}",
                epoch - 1
            )
        })?;
        println!(
            "closing epoch {epoch} of hub {} incrementally ({why}): {} of {} channels touched",
            snapshot.hub_id,
            witness.slots.len(),
            snapshot.channels.len()
        );
        drop(snapshot);
        let proof = closer::prove_transition(&witness, &keys, &CloserBars::default())?;
        (proof.to_bytes(), proof.layout)
    } else {
        println!(
            "closing epoch {epoch} of hub {} in full ({why}): {} channels",
            snapshot.hub_id,
            snapshot.channels.len()
        );
        let blind = super::attest::volume_blind_of(&args.data, epoch)?;
        let proof = closer::prove_epoch(&snapshot, &blind, &keys, &CloserBars::default())?;
        (proof.to_bytes(), proof.layout)
    };
    let out = args.out.unwrap_or_else(|| {
        args.data
            .join("epochs")
            .join(epoch.to_string())
            .join("close.proof")
    });
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "proof written to {} ({} bytes, {}) in {:.1} s",
        out.display(),
        bytes.len(),
        layout,
        started.elapsed().as_secs_f64()
    );
    if args.no_submit {
        return Ok(());
    }
    let url = format!("{}/operator/close", args.hub.trim_end_matches('/'));
    let spinner = CloserBars::spinner("submitting the close to the settlement layer");
    let response = ureq::post(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/octet-stream")
        .send(&bytes[..]);
    spinner.finish_and_clear();
    let mut response = response.with_context(|| {
        format!("submitting to {url} (is `zkhub serve` running? use --no-submit to skip)")
    })?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the settlement layer refused the close (HTTP {status}): {body}");
    }
    match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(answer) => print!("{}", super::display::operator_reply("close", &answer)),
        Err(_) => println!("settlement layer: {body}"),
    }
    Ok(())
}

/// Run `zkhub verify`: exit 0 when the proof is valid for its public inputs.
pub fn run_verify(args: VerifyArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let keys = args.keys.unwrap_or_else(default_keys_dir);
    let started = Instant::now();
    let spinner = CloserBars::spinner("verify: loading the key and checking the proof");
    let verifier = closer::Verifier::new(&keys);
    if closer::proof_file::statement_of(&bytes) == Some(closer::layout::Statement::Incremental) {
        let outcome = verifier.verify_transition_file(&bytes);
        spinner.finish_and_clear();
        let v = outcome.map_err(|e| anyhow::anyhow!("invalid proof: {e}"))?;
        let p = &v.inputs;
        println!(
            "valid incremental close proof ({:.0} ms, key loading included)",
            started.elapsed().as_secs_f64() * 1e3
        );
        println!("  hub            {}", p.hub_id);
        println!("  epoch          {}", p.epoch);
        println!("  touched        {} in {}", p.n, v.layout);
        println!(
            "  previous root  {}",
            channel::field::fe_to_dec(&p.prev_root)
        );
        println!(
            "  new root       {}",
            channel::field::fe_to_dec(&p.new_root)
        );
        println!(
            "  deposits hash  {}",
            channel::field::fe_to_dec(&p.deposits_hash)
        );
        println!(
            "  verifier key   {} ({})",
            hex::encode(&v.key_digest[..8]),
            keys.display()
        );
        return Ok(());
    }
    let outcome = verifier.verify_file(&bytes);
    spinner.finish_and_clear();
    match outcome {
        Ok(v) => {
            let p = &v.public;
            println!(
                "valid close proof ({:.0} ms, key loading included)",
                started.elapsed().as_secs_f64() * 1e3
            );
            println!("  hub            {}", p.hub_id);
            println!("  epoch          {}", p.epoch);
            println!("  channels       {} in {}", p.n, v.layout);
            println!(
                "  deposits root  {}",
                channel::field::fe_to_dec(&p.deposits_root)
            );
            println!(
                "  balances root  {}",
                channel::field::fe_to_dec(&p.balances_root)
            );
            println!(
                "  verifier key   {} ({})",
                hex::encode(&v.key_digest[..8]),
                keys.display()
            );
            Ok(())
        }
        Err(e) => anyhow::bail!("invalid proof: {e}"),
    }
}

/// Make the proving and verifier keys for an epoch size.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Channels in the epoch (the layout follows from it).
    #[arg(long, conflicts_with = "slots")]
    pub channels: Option<u64>,
    /// Slots (a power of two); default 1,024.
    #[arg(long)]
    pub slots: Option<usize>,
    /// Key directory (default: $ZKHUB_KEYS or ~/.cache/zkhub/keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,
}

/// Run `zkhub keys`: setup is deterministic, so anyone gets the same verifier key.
pub fn run_keys(args: KeysArgs) -> anyhow::Result<()> {
    let layout = match (args.channels, args.slots) {
        (Some(n), _) => closer::Layout::for_channels(n)?,
        (None, Some(slots)) => closer::Layout::for_slots(slots)?,
        (None, None) => closer::Layout::for_slots(1024)?,
    };
    let dir = args.keys.unwrap_or_else(default_keys_dir);
    let started = Instant::now();
    let spinner = CloserBars::spinner(&format!("keys: setup for {layout}"));
    let keys = closer::keys::setup(&dir, layout);
    spinner.finish_and_clear();
    let keys = keys?;
    println!(
        "keys for {layout} in {} ({:.1} s)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  verifier key   {} ({:.1} MB), digest {}",
        keys.vk_path.display(),
        keys.vk_bytes as f64 / 1e6,
        hex::encode(keys.digest)
    );
    Ok(())
}
