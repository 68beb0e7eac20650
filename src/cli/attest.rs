//! The operator's attestation of an epoch's volume (docs/DESIGN.md §11,
//! docs/OPERATOR.md): `zkhub audit attest` asks the hub for it, `zkhub audit
//! verify-volume` checks a file against the settlement layer's record; and the volume
//! blind every close needs, from the hub's seed in its data directory.

use std::path::Path;

use anyhow::{Context, bail};
use channel::Fe;
use channel::field::fe_from_dec;
use channel::settlement::CloseKind;
use channel::volume::{MAX_FILE_BYTES, SettledVolume, VolumeAttestation};
use channel::{Epoch, HubId};
use serde::Deserialize;

use super::chain::{agent, reply};

/// The blind `rv` of epoch `epoch`'s volume commitment for the hub whose data
/// directory is `data` (its key file there gives the seed; nothing else is stored).
pub fn volume_blind_of(data: &Path, epoch: Epoch) -> anyhow::Result<Fe> {
    let key_file = data.join(hub::store::KEY_FILE);
    anyhow::ensure!(
        key_file.exists(),
        "no hub key at {}: the volume commitment's blind is derived from it",
        key_file.display()
    );
    let key = hub::store::hub_key(data)
        .with_context(|| format!("reading the hub key {}", key_file.display()))?;
    Ok(channel::volume::volume_blind(
        &hub::store::blind_seed(&key),
        epoch,
    ))
}

/// `zkhub audit attest`: ask the hub (its operator interface) for its attestation of
/// `epoch`'s volume, check it against the settlement layer's record and write it.
pub fn attest(epoch: Epoch, out: &Path, hub: &str) -> anyhow::Result<()> {
    let base = hub.trim_end_matches('/');
    let url = format!("{base}/operator/attestation?epoch={epoch}");
    let response = agent()
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}: cannot reach the hub (is `zkhub serve` running?)"))?;
    let value = reply("the attestation request", response)?;
    let attestation = VolumeAttestation::from_json(&serde_json::to_vec(&value)?)
        .context("the hub's attestation")?;
    let settled = settled_from_hub(base, epoch)?;
    let report = attestation
        .verify(&settled)
        .context("the hub's attestation does not open its settled commitment")?;
    std::fs::write(out, attestation.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "volume attestation written to {} (give it to the regulator only: it reveals the volume)",
        out.display()
    );
    print!("{report}");
    Ok(())
}

/// `zkhub audit verify-volume FILE`: check an attestation against the volume commitment
/// of the settlement layer's record (a saved settlement summary, or the hub's).
pub fn verify_volume(file: &Path, settlement: Option<&Path>, hub: &str) -> anyhow::Result<()> {
    let bytes = super::audit::read_bounded(file, MAX_FILE_BYTES as u64)?;
    let attestation = VolumeAttestation::from_json(&bytes)?;
    let settled = match settlement {
        Some(path) => {
            let bytes = super::audit::read_bounded(path, 16 << 20)?;
            let summary: Summary = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a settlement summary", path.display()))?;
            summary.settled(attestation.epoch)?
        }
        None => settled_from_hub(hub.trim_end_matches('/'), attestation.epoch)?,
    };
    let report = attestation
        .verify(&settled)
        .map_err(|e| anyhow::anyhow!("the attestation does not hold: {e}"))?;
    println!("valid volume attestation");
    print!("{report}");
    Ok(())
}

/// The part of `GET /operator/settlement` (or `zkhub chain status --json`) read here.
#[derive(Debug, Deserialize)]
struct Summary {
    hub_id: HubId,
    epochs: Vec<SummaryEpoch>,
}

#[derive(Debug, Deserialize)]
struct SummaryEpoch {
    epoch: Epoch,
    #[serde(default)]
    close_kind: Option<CloseKind>,
    #[serde(default)]
    volume_commitment: Option<String>,
}

impl Summary {
    fn settled(&self, epoch: Epoch) -> anyhow::Result<SettledVolume> {
        let Some(e) = self.epochs.iter().find(|e| e.epoch == epoch) else {
            bail!("the settlement record has no epoch {epoch}");
        };
        let (Some(kind), Some(cv)) = (e.close_kind, &e.volume_commitment) else {
            bail!("epoch {epoch} has no accepted close with a volume commitment");
        };
        Ok(SettledVolume {
            hub_id: self.hub_id,
            epoch,
            kind,
            volume_commitment: fe_from_dec(cv)
                .with_context(|| format!("epoch {epoch}'s volume commitment"))?,
        })
    }
}

fn settled_from_hub(base: &str, epoch: Epoch) -> anyhow::Result<SettledVolume> {
    let url = format!("{base}/operator/settlement");
    let response = agent()
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}: cannot reach the hub (is `zkhub serve` running?)"))?;
    let summary: Summary = serde_json::from_value(reply("the settlement summary", response)?)
        .context("the settlement summary's shape")?;
    summary.settled(epoch)
}
