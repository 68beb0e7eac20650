//! `zkhub demo`: the whole job end to end on embedded defaults.
//!
//! A hub on loopback in a temporary directory; fans and creators deposit on the
//! (modelled) settlement layer; tipping clients stream payments over real WebSockets
//! (pre-signed vouchers, a checkpoint every `sign_every`); a few fans request exit;
//! the epoch is cut; the closer proves the close in one Spartan2 zero-knowledge proof (NeutronNova folds
//! the chunks of the epoch into it);
//! the proof is verified and settled; the exiting fans withdraw, and so does a creator,
//! cashing out what it was paid (its net deposit goes below zero); a summary checks
//! that Σ payouts + Σ remaining balances = Σ deposits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use channel::crypto::PublicKey;
use channel::settlement::exit_message;
use channel::{Amount, ChannelId, HubId};
use clap::Args;
use hub::{Hub, HubConfig, HubHandle};
use loadtest::{Bars, HttpOperator, LoadConfig, LoadError, Provisioner, Rate};

use super::demo_incremental::CloseLine;
use super::prove::{CloserBackend, CloserBars, default_keys_dir};

/// Run the whole job end to end: hub, tipping clients, epoch close, proof, payout.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Fans (paying channels, one WebSocket connection each). Fans + creators is the
    /// number of channels the close proves (the default, 1,020, in 1,024 slots).
    #[arg(long, default_value_t = 1000)]
    pub fans: usize,
    /// Creators (receiving channels).
    #[arg(long, default_value_t = 20)]
    pub creators: usize,
    /// Payments in total.
    #[arg(long, default_value_t = 1_000_000)]
    pub payments: u64,
    /// Each fan signs every k-th voucher (1: every voucher).
    #[arg(long, default_value_t = 64)]
    pub sign_every: u32,
    /// Fans that exit and withdraw after the close.
    #[arg(long, default_value_t = 3)]
    pub withdrawals: usize,
    /// Creators that exit and cash out what they were paid after the close.
    #[arg(long, default_value_t = 1)]
    pub creator_withdrawals: usize,
    /// Keep the hub's data here instead of a temporary directory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Proving-key cache (default: $ZKHUB_KEYS or ~/.cache/zkhub/keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// Most unacked vouchers per fan connection (bounds queueing, so latency means
    /// something at full speed).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Longest time to stream payments, in seconds.
    #[arg(long, default_value_t = 120)]
    pub max_seconds: u64,
    /// Also deposit this many channels that stay idle, and close two epochs with the
    /// incremental close (docs/DESIGN.md §8.2): the first brings every channel into the
    /// state tree, the second proves only the channels that moved since. Try
    /// `--idle-channels 1000 --fans 100`.
    #[arg(long)]
    pub idle_channels: Option<usize>,
}

/// Deposits through the operator interface, remembering the channel ids.
struct Recording {
    inner: HttpOperator,
    ids: Mutex<Vec<ChannelId>>,
}

impl Provisioner for Recording {
    async fn deposit(&self, deposits: &[(PublicKey, Amount)]) -> Result<Vec<ChannelId>, LoadError> {
        let ids = self.inner.deposit(deposits).await?;
        if let Ok(mut all) = self.ids.lock() {
            all.extend_from_slice(&ids);
        }
        Ok(ids)
    }
}

/// Run `zkhub demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.fans >= 1 && args.creators >= 1,
        "need at least one fan and one creator"
    );
    anyhow::ensure!(
        args.withdrawals <= args.fans,
        "--withdrawals cannot exceed --fans"
    );
    anyhow::ensure!(
        args.creator_withdrawals <= args.creators,
        "--creator-withdrawals cannot exceed --creators"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let temp;
    let data = match &args.data {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("zkhub-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let keys = args.keys.clone().unwrap_or_else(default_keys_dir);
    std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;

    println!(
        "zkhub demo: {} fans tip {} creators, {} payments",
        args.fans, args.creators, args.payments
    );
    let mut config = HubConfig::new(&data).with_close_verifier(CloserBackend::shared(keys.clone()));
    config.listen = "127.0.0.1:0".parse()?;
    let hub_id = config.hub_id;
    let hub = Hub::start(config).await.context("starting the hub")?;
    println!(
        "hub {hub_id} listening on {} (data in {})",
        hub.ws_url(),
        data.display()
    );

    if let Some(idle) = args.idle_channels {
        super::demo_incremental::deposit_idle(&hub, idle, DEMO_SEED).await?;
    }
    let (report, ids) = stream_payments(&hub, &args).await?;
    let fan_ids = &ids[..args.fans.min(ids.len())];
    let creator_ids = &ids[fan_ids.len()..];
    let exiting_ids = request_exits(&hub, hub_id, &args, fan_ids, creator_ids).await?;
    let (closes, withdrawn) =
        close_and_withdraw(&hub, hub_id, &args, &data, &keys, &exiting_ids).await?;
    let conservation = check_conservation(&hub, &args, creator_ids, &withdrawn).await?;
    let batches = commit_batches(&hub.http_url()).await;
    hub.shutdown().await.context("stopping the hub")?;

    print_summary(&report, batches, &closes, &withdrawn, &conservation);
    println!("total time       {:.1} s", started.elapsed().as_secs_f64());
    anyhow::ensure!(conservation.holds(), "conservation check failed");
    anyhow::ensure!(
        report.acked == report.planned,
        "not every payment was acknowledged"
    );
    Ok(())
}

/// The seed of the demo's keys (fans, creators, idle channels).
const DEMO_SEED: u64 = 0x002d_6b68_7562;

/// Stream the fans' payments to the creators; returns the load report and the channel
/// ids deposited, fans first.
async fn stream_payments(
    hub: &HubHandle,
    args: &DemoArgs,
) -> anyhow::Result<(loadtest::Report, Vec<ChannelId>)> {
    let provisioner = Recording {
        inner: HttpOperator::new(hub.http_url()),
        ids: Mutex::new(Vec::new()),
    };
    let load = LoadConfig {
        url: hub.ws_url(),
        connections: args.fans,
        payees: args.creators,
        payments: args.payments,
        rate: Rate::Max,
        duration: Duration::from_secs(args.max_seconds),
        sign_every: args.sign_every,
        window: args.window,
        // Fans keep a balance after tipping, so the exiting ones have something to withdraw.
        extra_deposit: 10_000,
        seed: DEMO_SEED,
        ..LoadConfig::default()
    };
    let report = loadtest::run(&load, &provisioner, &Bars::new()).await?;
    let ids = provisioner
        .ids
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    Ok((report, ids))
}

/// A few fans and creators ask to exit before the cut, so they can withdraw after this
/// close; returns their channel ids.
async fn request_exits(
    hub: &HubHandle,
    hub_id: HubId,
    args: &DemoArgs,
    fan_ids: &[ChannelId],
    creator_ids: &[ChannelId],
) -> anyhow::Result<Vec<ChannelId>> {
    let exiting: Vec<(ChannelId, &str, u64)> = fan_ids
        .iter()
        .take(args.withdrawals)
        .enumerate()
        .map(|(i, &id)| (id, "payer", i as u64))
        .chain(
            creator_ids
                .iter()
                .take(args.creator_withdrawals)
                .enumerate()
                .map(|(i, &id)| (id, "payee", i as u64)),
        )
        .collect();
    for &(id, role, i) in &exiting {
        let key = loadtest::keys::key(DEMO_SEED, role, i);
        let sig = key.sign(&exit_message(hub_id, id));
        hub.operator()
            .exit(id, &sig)
            .await
            .with_context(|| format!("exit of channel {id}"))?;
    }
    Ok(exiting.iter().map(|&(id, _, _)| id).collect())
}

/// Cut, prove, verify, settle (two incremental closes with `--idle-channels`, else one
/// full close); then the exiting channels withdraw. Returns the closes and the
/// withdrawals `(channel, amount)`.
async fn close_and_withdraw(
    hub: &HubHandle,
    hub_id: HubId,
    args: &DemoArgs,
    data: &Path,
    keys: &Path,
    exiting_ids: &[ChannelId],
) -> anyhow::Result<(Vec<CloseLine>, Vec<(ChannelId, Amount)>)> {
    if args.idle_channels.is_some() {
        let mut state = channel::incremental::ClosedState::genesis(hub_id);
        let first = super::demo_incremental::cut_and_close(hub, data, keys, &mut state).await?;
        let withdrawn = super::demo_incremental::withdraw(hub, exiting_ids).await?;
        super::demo_incremental::second_epoch_traffic(hub, DEMO_SEED).await?;
        let second = super::demo_incremental::cut_and_close(hub, data, keys, &mut state).await?;
        return Ok((vec![first, second], withdrawn));
    }
    let close = full_close(hub, data, keys).await?;
    let mut withdrawn = Vec::new();
    for &id in exiting_ids {
        let amount = hub
            .operator()
            .withdraw(id)
            .await
            .with_context(|| format!("withdrawal of channel {id}"))?;
        withdrawn.push((id, amount));
    }
    Ok((vec![close], withdrawn))
}

/// What went in, what was paid out and what the channels still hold.
struct Conservation {
    deposits_in: u128,
    paid_out: u128,
    remaining: u128,
    /// Σ of the withdrawals the demo made.
    paid: u128,
    /// The withdrawing creators' net deposits after their cash-out.
    creator_net: Vec<i128>,
}

impl Conservation {
    /// What went in = what was paid out + what the channels still hold, and every
    /// payout is one of the demo's withdrawals.
    fn holds(&self) -> bool {
        self.paid_out + self.remaining == self.deposits_in && self.paid_out == self.paid
    }
}

/// Read the settlement's totals and the hub's ledger (whose invariants must hold).
async fn check_conservation(
    hub: &HubHandle,
    args: &DemoArgs,
    creator_ids: &[ChannelId],
    withdrawn: &[(ChannelId, Amount)],
) -> anyhow::Result<Conservation> {
    let settlement = hub.operator().summary().await;
    let totals = hub.channels().totals();
    totals.check().context("ledger invariants")?;
    Ok(Conservation {
        deposits_in: settlement.totals.deposits_in,
        paid_out: settlement.totals.paid_out,
        remaining: totals.balances,
        paid: withdrawn.iter().map(|&(_, a)| u128::from(a)).sum(),
        creator_net: creator_ids
            .iter()
            .take(args.creator_withdrawals)
            .filter_map(|&id| hub.channels().record(id).map(|r| r.deposit))
            .collect(),
    })
}

fn print_summary(
    report: &loadtest::Report,
    batches: Option<(u64, f64)>,
    closes: &[CloseLine],
    withdrawn: &[(ChannelId, Amount)],
    c: &Conservation,
) {
    let l = &report.latency;
    println!();
    println!("── summary ─────────────────────────────────────────────────────────");
    println!(
        "payments         {} acked of {} in {:.2} s: {:.0} payments/s",
        report.acked, report.planned, report.elapsed_s, report.payments_per_s
    );
    println!(
        "ack latency      p50 {:.1} ms   p99 {:.1} ms   p99.9 {:.1} ms (fsync included, window-limited max rate)",
        l.p50_ms, l.p99_ms, l.p999_ms
    );
    if let Some((n, avg)) = batches {
        println!("commit batches   {n} group commits, {avg:.0} payments each on average");
    }
    for close in closes {
        close.print();
    }
    println!(
        "withdrawals      {} channels paid {}: {:?}",
        withdrawn.len(),
        c.paid,
        withdrawn
    );
    if !c.creator_net.is_empty() {
        println!(
            "cash-out         creators' net deposits after withdrawing what they were paid: {:?}",
            c.creator_net
        );
    }
    println!(
        "conservation     Σ payouts {} + Σ remaining {} = {} {} Σ deposits {}",
        c.paid_out,
        c.remaining,
        c.paid_out + c.remaining,
        if c.holds() { "==" } else { "!=" },
        c.deposits_in
    );
    if !report.rejected.is_empty() || report.connection_errors > 0 {
        println!(
            "problems         rejected {:?}, connection errors {}",
            report.rejected, report.connection_errors
        );
    }
}

/// Cut the epoch, prove its full close, verify it as a stranger would (a fresh verifier
/// loading the key from disk) and settle it.
async fn full_close(hub: &HubHandle, data: &Path, keys: &Path) -> anyhow::Result<CloseLine> {
    let (epoch, _) = hub.operator().cut().await.context("cutting the epoch")?;
    let snapshot = hub::store::read_snapshot(data, epoch).context("reading the snapshot")?;
    let channels = snapshot.channels.len();
    let prove_started = Instant::now();
    let keys_for_prover = keys.to_path_buf();
    let blind = super::attest::volume_blind_of(data, epoch)?;
    let proof = tokio::task::spawn_blocking(move || {
        closer::prove_epoch(&snapshot, &blind, &keys_for_prover, &CloserBars::default())
    })
    .await??;
    let prove = prove_started.elapsed();
    let bytes = proof.to_bytes();
    let verify_started = Instant::now();
    let keys_for_verify = keys.to_path_buf();
    let bytes_for_verify = bytes.clone();
    let verified = tokio::task::spawn_blocking(move || {
        closer::Verifier::new(keys_for_verify).verify_file(&bytes_for_verify)
    })
    .await??;
    let verify = verify_started.elapsed();
    let vk_bytes = std::fs::metadata(&verified.key_path).map_or(0, |m| m.len());
    let accepted = hub
        .operator()
        .close(&bytes)
        .await
        .context("settling the close")?;
    Ok(CloseLine {
        epoch,
        channels: channels as u64,
        hub_channels: channels,
        layout: proof.layout,
        constraints: closer::circuit::num_constraints(proof.layout),
        cut: Duration::ZERO,
        prove,
        verify,
        vk_bytes,
        proof_bytes: bytes.len(),
        root: channel::field::fe_to_dec(&accepted.balances_root)[..12].to_string(),
        peak_mib: peak_rss(),
    })
}

/// This process's peak resident memory in MiB (`VmHWM`), where `/proc` has it.
pub fn peak_rss() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// (group commits, mean payments per commit) from the hub's Prometheus metrics.
async fn commit_batches(http: &str) -> Option<(u64, f64)> {
    let url = format!("{http}/metrics");
    let text = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()
    })
    .await
    .ok()??;
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let count = value("zkhub_commit_batch_size_count")?;
    let sum = value("zkhub_commit_batch_size_sum")?;
    Some((count as u64, if count > 0.0 { sum / count } else { 0.0 }))
}
