//! `zkhub load`: drive a running hub with many WebSocket clients (see the `loadtest` crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use loadtest::{Bars, HttpOperator, LoadConfig, Rate};

/// Load-test a running hub: pre-signed vouchers, HDR latency, JSON report. Loopback only.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Hub WebSocket URL (must be a loopback address).
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1")]
    pub url: String,
    /// Paying connections (one channel each).
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Receiving channels (creators) the payers tip round-robin.
    #[arg(long, default_value_t = 10)]
    pub channels: usize,
    /// Target rate in payments/s, or `max`.
    #[arg(long, default_value = "max")]
    pub rate: Rate,
    /// Longest sending time in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Total payments (upper bound).
    #[arg(long, default_value_t = 1_000_000)]
    pub payments: u64,
    /// Sign every k-th voucher (1: every voucher).
    #[arg(long, default_value_t = 64)]
    pub sign_every: u32,
    /// Vouchers per binary frame (0: sign-every, or 16 when every voucher is signed).
    #[arg(long, default_value_t = 0)]
    pub frame_vouchers: usize,
    /// Most unacked vouchers per connection.
    #[arg(long, default_value_t = 8192)]
    pub window: usize,
    /// Seed for the deterministic client keys (use a new seed against a hub that
    /// already has channels from an earlier run with the same seed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

impl LoadArgs {
    /// The load configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<LoadConfig> {
        anyhow::ensure!(
            self.duration > 0.0 && self.duration <= 3600.0,
            "--duration must be in (0, 3600]"
        );
        Ok(LoadConfig {
            url: self.url.clone(),
            connections: self.connections,
            payees: self.channels,
            payments: self.payments,
            rate: self.rate,
            duration: Duration::from_secs_f64(self.duration),
            sign_every: self.sign_every,
            frame_vouchers: self.frame_vouchers,
            window: self.window,
            seed: self.seed,
            ..LoadConfig::default()
        })
    }
}

/// Only loopback targets: load tests never leave the machine.
pub fn ensure_loopback(url: &str) -> anyhow::Result<()> {
    let host = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .context("--url must look like ws://HOST:PORT/v1")?;
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback,
        "refusing to load-test {host}: only loopback addresses are allowed"
    );
    Ok(())
}

/// Run `zkhub load`.
pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    ensure_loopback(&args.url)?;
    let cfg = args.config()?;
    let operator = HttpOperator::for_ws_url(&cfg.url)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(loadtest::run(&cfg, &operator, &Bars::new()))?;
    print!("{}", report.summary());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
