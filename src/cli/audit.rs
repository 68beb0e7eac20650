//! `zkhub audit …`: disclosures for auditors (issue 17; docs/SECURITY.md §2.9).
//!
//! - `audit disclose` asks the hub's operator interface for a channel's disclosure
//!   file (its leaf of an accepted close, opened, with the settlement record);
//! - `audit roots` copies the accepted roots from the settlement layer (in this model
//!   served by the hub's operator interface; on a chain, read from the contract);
//! - `audit verify FILE --roots ROOTS` checks a disclosure against those roots with no
//!   access to the hub and prints what it proves.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use channel::disclosure::{Disclosure, MAX_FILE_BYTES, PublishedRoots};
use channel::field::fe_from_dec;
use channel::{Epoch, HubId};
use clap::{Args, Subcommand};
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
    /// Copy the accepted roots from the settlement layer into a file for `audit verify`.
    Roots {
        /// Where to write them.
        #[arg(long, default_value = "roots.json")]
        out: PathBuf,
        /// The hub's HTTP base URL (serves the modelled settlement layer).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        hub: String,
    },
    /// Check a disclosure file against the settled roots, without the hub; print what
    /// it proves (exit 0 only when it holds).
    Verify {
        /// The disclosure file.
        file: PathBuf,
        /// The settled roots: `audit roots`' file or `zkhub chain status --json`'s output.
        #[arg(long, required_unless_present = "no_anchor")]
        roots: Option<PathBuf>,
        /// Check the file only against the roots it carries (says so: NOT anchored).
        #[arg(long, conflicts_with = "roots")]
        no_anchor: bool,
    },
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
        AuditCommand::Roots { out, hub } => roots(&out, &hub),
        AuditCommand::Verify {
            file,
            roots,
            no_anchor,
        } => verify(&file, roots.as_deref(), no_anchor),
    }
}

fn disclose(channel: u32, epoch: u64, previous: bool, out: &Path, hub: &str) -> anyhow::Result<()> {
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
    let disclosure = Disclosure::from_json(&bytes).context("the hub's disclosure")?;
    let report = disclosure
        .check()
        .context("the hub's disclosure does not hold")?;
    std::fs::write(out, disclosure.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    println!("disclosure written to {}", out.display());
    print!("{report}");
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
fn read_bounded(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
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
    let bytes = read_bounded(file, MAX_FILE_BYTES as u64)?;
    let disclosure = Disclosure::from_json(&bytes)?;
    let report = match roots {
        Some(path) => disclosure.verify(&read_roots(path)?),
        None if no_anchor => disclosure.check(),
        None => bail!("give --roots (the settled roots) or --no-anchor"),
    }
    .map_err(|e| anyhow::anyhow!("the disclosure does not hold: {e}"))?;
    println!("valid disclosure");
    print!("{report}");
    Ok(())
}
