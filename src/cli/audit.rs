//! `zkhub audit …`: disclosures for auditors (issue 17; docs/SECURITY.md §2.9).
//!
//! - `audit disclose` asks the hub's operator interface for a channel's disclosure
//!   file (its leaf of an accepted close, opened, with the settlement record);
//! - `audit roots` copies the accepted roots from the settlement layer (in this model
//!   served by the hub's operator interface; on a chain, read from the contract);
//! - `audit prove` turns a channel's disclosure (of epoch `E` with `E − 1`) into a
//!   zero-knowledge range proof: the channel received (or spent) an amount in `[min,
//!   max]` in epoch `E`, the amount hidden (`closer::range`, docs/DESIGN.md §11);
//! - `audit verify FILE --roots ROOTS` checks a disclosure or a range proof (told apart
//!   by the range file's magic) against those roots with no access to the hub and
//!   prints what it proves.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use channel::disclosure::{Disclosure, MAX_FILE_BYTES, PublishedRoots};
use channel::field::fe_from_dec;
use channel::{Epoch, HubId};
use clap::{ArgGroup, Args, Subcommand};
use closer::range::file::is_range_proof;
use closer::range::{Counter, RangeProof, RangeStatement, RangeWitness};
use serde::Deserialize;

use super::chain::{agent, reply};

/// The largest roots file read (one line per epoch).
const MAX_ROOTS_BYTES: u64 = 16 << 20;

/// Disclosures for auditors.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Audit operations.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Ask the hub for a channel's disclosure of an accepted epoch and write it.
    Disclose {
        /// Channel id.
        #[arg(long)]
        channel: u32,
        /// Epoch (its close must be accepted).
        #[arg(long)]
        epoch: u64,
        /// Leave out the epoch before (then the file states cumulative amounts only).
        #[arg(long)]
        no_previous: bool,
        /// Where to write the file.
        #[arg(long, default_value = "disclosure.json")]
        out: PathBuf,
        /// The hub's HTTP base URL (its operator interface).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        hub: String,
    },
    /// Prove in zero knowledge that a channel received (or spent) an amount in a range
    /// in an epoch, without revealing it, from its disclosure (incremental closes).
    Prove(ProveArgs),
    /// Copy the accepted roots from the settlement layer into a file for `audit verify`.
    Roots {
        /// Where to write them.
        #[arg(long, default_value = "roots.json")]
        out: PathBuf,
        /// The hub's HTTP base URL (serves the modelled settlement layer).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        hub: String,
    },
    /// Check a disclosure or range proof file against the settled roots, without the
    /// hub; print what it proves (exit 0 only when it holds).
    Verify {
        /// The disclosure or range proof file.
        file: PathBuf,
        /// The settled roots: `audit roots`' file or `zkhub chain status --json`'s output.
        #[arg(long, required_unless_present = "no_anchor")]
        roots: Option<PathBuf>,
        /// Check the file only against the roots it carries (says so: NOT anchored).
        #[arg(long, conflicts_with = "roots")]
        no_anchor: bool,
    },
    /// Ask the hub for the operator's attestation of an accepted epoch's volume (for a
    /// regulator: it reveals the volume) and write it.
    Attest {
        /// Epoch (its close must be accepted).
        #[arg(long)]
        epoch: u64,
        /// Where to write the file.
        #[arg(long, default_value = "volume-attestation.json")]
        out: PathBuf,
        /// The hub's HTTP base URL (its operator interface).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        hub: String,
    },
    /// Check a volume attestation against the volume commitment the settlement layer
    /// stored with the accepted close; print the volume (exit 0 only when it holds).
    VerifyVolume {
        /// The attestation file.
        file: PathBuf,
        /// A saved settlement summary (`zkhub chain status --json`); default: ask the hub.
        #[arg(long)]
        settlement: Option<PathBuf>,
        /// The hub's HTTP base URL (serves the modelled settlement layer).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        hub: String,
    },
}

/// `zkhub audit prove`: one bound or two on one counter.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("bound").required(true).multiple(true)))]
pub struct ProveArgs {
    /// The channel (checked against the disclosure file, or asked of the hub).
    #[arg(long)]
    pub channel: Option<u32>,
    /// The epoch (checked against the disclosure file, or asked of the hub).
    #[arg(long)]
    pub epoch: Option<u64>,
    /// The channel's disclosure of the epoch with the epoch before (`audit disclose`'s
    /// file); without it, asked of the hub for `--channel` and `--epoch`.
    #[arg(long)]
    pub disclosure: Option<PathBuf>,
    /// Received in the epoch: at least this much.
    #[arg(long, group = "bound", conflicts_with_all = ["spent_at_least", "spent_at_most"])]
    pub received_at_least: Option<u64>,
    /// Received in the epoch: at most this much.
    #[arg(long, group = "bound", conflicts_with_all = ["spent_at_least", "spent_at_most"])]
    pub received_at_most: Option<u64>,
    /// Spent in the epoch: at least this much.
    #[arg(long, group = "bound")]
    pub spent_at_least: Option<u64>,
    /// Spent in the epoch: at most this much.
    #[arg(long, group = "bound")]
    pub spent_at_most: Option<u64>,
    /// Where to write the range proof.
    #[arg(long, default_value = "range.proof")]
    pub out: PathBuf,
    /// The hub's HTTP base URL (only used without `--disclosure`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub hub: String,
}

impl ProveArgs {
    /// The counter and the range `[min, max]` the flags ask for.
    fn range(&self) -> (Counter, u64, u64) {
        let (counter, min, max) = match (self.spent_at_least, self.spent_at_most) {
            (None, None) => (
                Counter::Received,
                self.received_at_least,
                self.received_at_most,
            ),
            (min, max) => (Counter::Spent, min, max),
        };
        (counter, min.unwrap_or(0), max.unwrap_or(u64::MAX))
    }
}

/// Run `zkhub audit …`.
pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Disclose {
            channel,
            epoch,
            no_previous,
            out,
            hub,
        } => disclose(channel, epoch, !no_previous, &out, &hub),
        AuditCommand::Prove(args) => prove(&args),
        AuditCommand::Roots { out, hub } => roots(&out, &hub),
        AuditCommand::Verify {
            file,
            roots,
            no_anchor,
        } => verify(&file, roots.as_deref(), no_anchor),
        AuditCommand::Attest { epoch, out, hub } => super::attest::attest(epoch, &out, &hub),
        AuditCommand::VerifyVolume {
            file,
            settlement,
            hub,
        } => super::attest::verify_volume(&file, settlement.as_deref(), &hub),
    }
}

fn disclose(channel: u32, epoch: u64, previous: bool, out: &Path, hub: &str) -> anyhow::Result<()> {
    let disclosure = fetch_disclosure(channel, epoch, previous, hub)?;
    let report = disclosure
        .check()
        .context("the hub's disclosure does not hold")?;
    std::fs::write(out, disclosure.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    println!("disclosure written to {}", out.display());
    print!("{report}");
    Ok(())
}

/// Ask the hub's operator interface for a disclosure.
fn fetch_disclosure(
    channel: u32,
    epoch: u64,
    previous: bool,
    hub: &str,
) -> anyhow::Result<Disclosure> {
    let url = format!(
        "{}/operator/disclosure?channel={channel}&epoch={epoch}&previous={previous}",
        hub.trim_end_matches('/')
    );
    let response = agent()
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}: cannot reach the hub (is `zkhub serve` running?)"))?;
    let value = reply("the disclosure request", response)?;
    let bytes = serde_json::to_vec(&value)?;
    Disclosure::from_json(&bytes).context("the hub's disclosure")
}

fn prove(args: &ProveArgs) -> anyhow::Result<()> {
    let disclosure = match &args.disclosure {
        Some(path) => {
            let bytes = read_bounded(path, MAX_FILE_BYTES as u64)?;
            Disclosure::from_json(&bytes)
                .with_context(|| format!("{} is not a disclosure file", path.display()))?
        }
        None => {
            let (Some(channel), Some(epoch)) = (args.channel, args.epoch) else {
                bail!("give --disclosure FILE, or --channel and --epoch to ask the hub");
            };
            fetch_disclosure(channel, epoch, true, &args.hub)?
        }
    };
    // The file must hold (its leaves under its roots) before anything is proved.
    disclosure.check().context("the disclosure does not hold")?;
    let epoch = disclosure.epoch.record.epoch;
    if let Some(channel) = args.channel
        && channel != disclosure.channel
    {
        bail!(
            "the disclosure is channel {}'s, not channel {channel}'s",
            disclosure.channel
        );
    }
    if let Some(wanted) = args.epoch
        && wanted != epoch
    {
        bail!("the disclosure is of epoch {epoch}, not epoch {wanted}");
    }
    let (counter, min, max) = args.range();
    let (witness, root, prev_root) = RangeWitness::from_disclosure(&disclosure)?;
    let statement = RangeStatement {
        hub_id: disclosure.epoch.record.hub_id,
        epoch,
        channel: disclosure.channel,
        counter,
        min,
        max,
        root,
        prev_root,
    };
    let started = std::time::Instant::now();
    let proof = closer::range::prove(&statement, &witness)?;
    let bytes = proof.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "range proof written to {} ({} bytes, {:.1} s, keys included)",
        args.out.display(),
        bytes.len(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", proof.check()?);
    Ok(())
}

/// The roots file: the subset of the settlement summary `audit verify` reads.
#[derive(Debug, Deserialize)]
struct RootsFile {
    hub_id: HubId,
    epochs: Vec<RootsEpoch>,
}

#[derive(Debug, Deserialize)]
struct RootsEpoch {
    epoch: Epoch,
    balances_root: Option<String>,
}

fn roots(out: &Path, hub: &str) -> anyhow::Result<()> {
    let url = format!("{}/operator/settlement", hub.trim_end_matches('/'));
    let response = agent()
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}: cannot reach the hub (is `zkhub serve` running?)"))?;
    let summary = reply("the settlement summary", response)?;
    let file: RootsFile =
        serde_json::from_value(summary.clone()).context("the settlement summary's shape")?;
    let closed: Vec<_> = summary["epochs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !e["balances_root"].is_null())
        .map(|e| serde_json::json!({"epoch": e["epoch"], "balances_root": e["balances_root"]}))
        .collect();
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "hub_id": file.hub_id,
        "epochs": closed,
    }))?;
    std::fs::write(out, text + "\n").with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{} accepted roots of hub {} written to {}",
        closed.len(),
        file.hub_id,
        out.display()
    );
    Ok(())
}

/// Read at most `limit` bytes of `path`, refusing a longer file.
pub(super) fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is longer than {limit} bytes", path.display());
    }
    Ok(bytes)
}

fn read_roots(path: &Path) -> anyhow::Result<PublishedRoots> {
    let bytes = read_bounded(path, MAX_ROOTS_BYTES)?;
    let file: RootsFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a roots file", path.display()))?;
    let mut roots = PublishedRoots {
        hub_id: file.hub_id,
        ..PublishedRoots::default()
    };
    for e in file.epochs {
        if let Some(root) = e.balances_root {
            let root = fe_from_dec(&root)
                .with_context(|| format!("epoch {}'s root in {}", e.epoch, path.display()))?;
            roots.roots.insert(e.epoch, root);
        }
    }
    Ok(roots)
}

fn verify(file: &Path, roots: Option<&Path>, no_anchor: bool) -> anyhow::Result<()> {
    let limit = MAX_FILE_BYTES.max(closer::range::file::MAX_FILE_BYTES) as u64;
    let bytes = read_bounded(file, limit)?;
    if is_range_proof(&bytes) {
        return verify_range(&bytes, roots, no_anchor);
    }
    if bytes.len() > MAX_FILE_BYTES {
        bail!(
            "{} is neither a range proof nor a disclosure (at most {MAX_FILE_BYTES} bytes)",
            file.display()
        );
    }
    let disclosure = Disclosure::from_json(&bytes)?;
    let report = anchored(
        roots,
        no_anchor,
        |r| disclosure.verify(r),
        || disclosure.check(),
    )?
    .map_err(|e| anyhow::anyhow!("the disclosure does not hold: {e}"))?;
    println!("valid disclosure");
    print!("{report}");
    Ok(())
}

/// Checks a statement against the settled roots in the file `roots`, or on its own when
/// the user said `--no-anchor`. The outer error is the file's; the inner, the statement's.
fn anchored<R, E>(
    roots: Option<&Path>,
    no_anchor: bool,
    against: impl FnOnce(&PublishedRoots) -> Result<R, E>,
    alone: impl FnOnce() -> Result<R, E>,
) -> anyhow::Result<Result<R, E>> {
    match roots {
        Some(path) => Ok(against(&read_roots(path)?)),
        None if no_anchor => Ok(alone()),
        None => bail!("give --roots (the settled roots) or --no-anchor"),
    }
}

fn verify_range(bytes: &[u8], roots: Option<&Path>, no_anchor: bool) -> anyhow::Result<()> {
    let proof = RangeProof::from_bytes(bytes)?;
    let report = anchored(roots, no_anchor, |r| proof.verify(r), || proof.check())?
        .map_err(|e| anyhow::anyhow!("the range proof does not hold: {e}"))?;
    println!("valid range proof");
    print!("{report}");
    Ok(())
}
