//! `zkhub demo --idle-channels N`: the incremental close (docs/DESIGN.md §8.2) end to
//! end. N channels are deposited and never move; the first close brings every channel
//! into the state tree, the second proves only what moved since (a handful of new
//! tippers and the channels that withdrew), whatever N is.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use channel::ChannelId;
use channel::incremental::ClosedState;
use closer::Layout;
use hub::HubHandle;
use loadtest::{Bars, HttpOperator, LoadConfig, Provisioner, Rate};

use super::demo::peak_rss;
use super::prove::CloserBars;

/// One close as the summary prints it.
pub struct CloseLine {
    /// Epoch.
    pub epoch: u64,
    /// Channels in the proof (all of them for a full close, the touched ones for an
    /// incremental one).
    pub channels: u64,
    /// Channels the hub holds at the cut.
    pub hub_channels: usize,
    /// The proof's layout.
    pub layout: Layout,
    /// Constraints of the whole proof.
    pub constraints: usize,
    /// Native work at the cut: the witness and, for an incremental close, the tree update.
    pub cut: Duration,
    /// Proving time (keys cached or made on the way).
    pub prove: Duration,
    /// Verification by a fresh verifier (key loading included).
    pub verify: Duration,
    /// Verifier key size.
    pub vk_bytes: u64,
    /// Proof file size.
    pub proof_bytes: usize,
    /// The accepted root (decimal), shortened.
    pub root: String,
    /// Peak memory of the process so far, in MiB.
    pub peak_mib: Option<f64>,
}

impl CloseLine {
    /// Print the close's two summary lines.
    pub fn print(&self) {
        let what = match self.layout.statement {
            closer::layout::Statement::Full => format!("{} channels", self.channels),
            closer::layout::Statement::Incremental => format!(
                "{} touched of {} channels",
                self.channels, self.hub_channels
            ),
        };
        println!(
            "close            epoch {}: {what} in {}, {} constraints ({} per slot), cut {:.2} s",
            self.epoch,
            self.layout,
            self.constraints,
            self.constraints / self.layout.slots(),
            self.cut.as_secs_f64(),
        );
        println!(
            "proof            prove {:.1} s, verify {:.0} ms (key loading included, {:.1} MB key), {} KB, root {}…, peak memory {}",
            self.prove.as_secs_f64(),
            self.verify.as_secs_f64() * 1e3,
            self.vk_bytes as f64 / 1e6,
            self.proof_bytes.div_ceil(1024),
            self.root,
            self.peak_mib
                .map_or("unknown".into(), |m| format!("{:.1} GB", m / 1024.0)),
        );
    }
}

/// Deposit `n` channels that will never pay or be paid (one shared key: their keys
/// are never used), in requests of at most a few thousand.
pub async fn deposit_idle(hub: &HubHandle, n: usize, seed: u64) -> anyhow::Result<()> {
    if n == 0 {
        return Ok(());
    }
    println!("depositing {n} idle channels");
    let key = loadtest::keys::key(seed, "idle", 0).public();
    let operator = HttpOperator::new(hub.http_url());
    let deposits = vec![(key, 1_000u64); n];
    let ids = operator
        .deposit(&deposits)
        .await
        .context("depositing idle channels")?;
    anyhow::ensure!(
        ids.len() == n,
        "asked for {n} idle channels, got {}",
        ids.len()
    );
    Ok(())
}

/// Cut the next epoch, close it incrementally from `state`, verify it as a stranger
/// would and settle it. `state` becomes the closed state of this epoch.
pub async fn cut_and_close(
    hub: &HubHandle,
    data: &Path,
    keys: &Path,
    state: &mut ClosedState,
) -> anyhow::Result<CloseLine> {
    let (epoch, _) = hub.operator().cut().await.context("cutting the epoch")?;
    let snapshot = hub::store::read_snapshot(data, epoch).context("reading the snapshot")?;
    let hub_channels = snapshot.channels.len();
    let started = Instant::now();
    let blind = super::attest::volume_blind_of(data, epoch)?;
    let (witness, next) = state
        .close(&snapshot, &blind)
        .with_context(|| format!("the snapshot of epoch {epoch} against the closed state"))?;
    let cut = started.elapsed();
    drop(snapshot);

    let started = Instant::now();
    let keys_for_prover = keys.to_path_buf();
    let witness_for_prover = witness.clone();
    let proof = tokio::task::spawn_blocking(move || {
        closer::prove_transition(
            &witness_for_prover,
            &keys_for_prover,
            &CloserBars::default(),
        )
    })
    .await??;
    let prove = started.elapsed();
    let bytes = proof.to_bytes();

    let started = Instant::now();
    let keys_for_verify = keys.to_path_buf();
    let bytes_for_verify = bytes.clone();
    let verified = tokio::task::spawn_blocking(move || {
        closer::Verifier::new(keys_for_verify).verify_transition_file(&bytes_for_verify)
    })
    .await??;
    let verify = started.elapsed();
    let vk_bytes = std::fs::metadata(&verified.key_path).map_or(0, |m| m.len());
    let accepted = hub
        .operator()
        .close_incremental(&bytes)
        .await
        .context("settling the incremental close")?;
    *state = next;
    Ok(CloseLine {
        epoch,
        channels: accepted.n,
        hub_channels,
        layout: proof.layout,
        constraints: closer::incremental::num_constraints(proof.layout),
        cut,
        prove,
        verify,
        vk_bytes,
        proof_bytes: bytes.len(),
        root: channel::field::fe_to_dec(&accepted.new_root)[..12].to_string(),
        peak_mib: peak_rss(),
    })
}

/// Withdraw each exiting channel's balance: the hub opens its leaf from the state it
/// kept after the accepted incremental close, against the accepted state root.
pub async fn withdraw(
    hub: &HubHandle,
    exiting: &[ChannelId],
) -> anyhow::Result<Vec<(ChannelId, u64)>> {
    let mut withdrawn = Vec::with_capacity(exiting.len());
    for &id in exiting {
        let amount = hub
            .operator()
            .withdraw(id)
            .await
            .with_context(|| format!("withdrawal of channel {id}"))?;
        withdrawn.push((id, amount));
    }
    Ok(withdrawn)
}

/// The second epoch's traffic: a few new fans tip a few new creators (new channels:
/// touched), while everything else stays idle.
pub async fn second_epoch_traffic(hub: &HubHandle, seed: u64) -> anyhow::Result<()> {
    let load = LoadConfig {
        url: hub.ws_url(),
        connections: 8,
        payees: 2,
        payments: 2_000,
        rate: Rate::Max,
        duration: Duration::from_secs(60),
        sign_every: 16,
        window: 64,
        extra_deposit: 1_000,
        seed: seed ^ 0x2,
        ..LoadConfig::default()
    };
    let report = loadtest::run(&load, &HttpOperator::new(hub.http_url()), &Bars::new()).await?;
    anyhow::ensure!(
        report.acked == report.planned,
        "epoch 2: not every payment was acknowledged"
    );
    println!(
        "epoch 2 traffic  {} payments by 8 new fans to 2 new creators",
        report.acked
    );
    Ok(())
}
