//! `zkhub load`: drive a running hub with many WebSocket clients (see the `loadtest` crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use loadtest::attribution::SLOW_SLICE_MS;
use loadtest::report::{SLICE_MS, WARM_UP_MS};
use loadtest::{Bars, HttpOperator, LoadConfig, Rate, Report};

use super::display::grouped;

/// Load-test a running hub: pre-signed vouchers, HDR latency, JSON report. Loopback only.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Hub WebSocket URL (must be a loopback address).
    #[arg(long, default_value = "ws://127.0.0.1:8080/v1")]
    pub url: String,
    /// Paying connections (one channel each).
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Connections tipping at any moment: the others wait between bursts of
    /// --burst-frames frames (a tipping site's fans). Needs --rate. Default: all.
    #[arg(long)]
    pub active: Option<usize>,
    /// Frames per burst with --active.
    #[arg(long, default_value_t = 4)]
    pub burst_frames: u32,
    /// Receiving channels (creators) the payers tip round-robin.
    #[arg(long, default_value_t = 10)]
    pub channels: usize,
    /// Target rate in payments/s, or `max`.
    #[arg(long, default_value = "max")]
    pub rate: Rate,
    /// Sending time in seconds (at most; default 30). Given without --payments, the
    /// run is sized to send for the whole duration.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Total payments (default 1,000,000, or enough for --duration at --rate).
    #[arg(long)]
    pub payments: Option<u64>,
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

/// Payments when neither --payments nor --duration is given.
const DEFAULT_PAYMENTS: u64 = 1_000_000;
/// Sending time when --duration is not given, seconds.
const DEFAULT_DURATION_SECS: f64 = 30.0;
/// Payments per second pre-signed per second of --duration at `--rate max`: above
/// the most this project's 2-core machine acknowledges (about 1.17 M/s).
const MAX_RATE_PLAN_PER_SEC: f64 = 1_200_000.0;
/// Most payments a run pre-signs (LoadConfig's own limit).
const MAX_PAYMENTS: u64 = 100_000_000;

impl LoadArgs {
    /// Payments to pre-sign: as asked, or enough to send for the whole `--duration`.
    pub fn payments(&self) -> u64 {
        match (self.payments, self.duration) {
            (Some(p), _) => p,
            (None, None) => DEFAULT_PAYMENTS,
            (None, Some(secs)) => {
                let per_sec = match self.rate {
                    Rate::PerSecond(r) => r as f64,
                    Rate::Max => MAX_RATE_PLAN_PER_SEC,
                };
                ((per_sec * secs).ceil() as u64).clamp(1, MAX_PAYMENTS)
            }
        }
    }

    /// The load configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<LoadConfig> {
        let duration = self.duration.unwrap_or(DEFAULT_DURATION_SECS);
        anyhow::ensure!(
            duration > 0.0 && duration <= 3600.0,
            "--duration must be in (0, 3600]"
        );
        Ok(LoadConfig {
            url: self.url.clone(),
            connections: self.connections,
            active: self.active,
            burst_frames: self.burst_frames,
            payees: self.channels,
            payments: self.payments(),
            rate: self.rate,
            duration: Duration::from_secs_f64(duration),
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
    if args.payments.is_none() && args.duration.is_some() {
        println!(
            "sending for up to {} s: {} payments pre-signed (--payments sets the number)",
            cfg.duration.as_secs_f64(),
            grouped(cfg.payments.into())
        );
    }
    let report = runtime.block_on(loadtest::run(&cfg, &operator, &Bars::new()))?;
    print!(
        "{}",
        summary(&report, args.report.is_some(), args.duration.is_some())
    );
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

/// The run in plain words: what was acked and how fast, ack latency, the
/// configuration, and whether the asked rate or duration was reached.
pub fn summary(report: &Report, with_report: bool, duration_asked: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let cfg = &report.config;
    let _ = writeln!(
        s,
        "acked {} of {} payments in {:.2} s: {} payments/s",
        grouped(report.acked.into()),
        grouped(report.planned.into()),
        report.elapsed_s,
        grouped(rounded(report.payments_per_s).into())
    );
    let _ = writeln!(s, "ack latency: {}", latency(&report.latency));
    if let Some(w) = &report.latency_after_warm_up {
        let _ = writeln!(s, "after the first {WARM_UP_MS} ms: {}", latency(w));
    }
    if let Some(w) = report.worst_slice()
        && report.timeline.len() > 1
    {
        let every = if with_report {
            "; every slice is in the report"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "worst {SLICE_MS} ms slice: frames sent at {:.1} s, p50 {} ms, p99 {} ms ({} frames{every})",
            f64::from(w.t_ms) / 1000.0,
            ms(w.p50_ms),
            ms(w.p99_ms),
            grouped(w.frames.into())
        );
    }
    if let Some(a) = &report.attribution {
        if let Some(why) = &a.timeline_error {
            let _ = writeln!(s, "no hub timeline to explain slow slices: {why}");
        } else if a.slow_slices > 0 {
            let causes: Vec<String> = a
                .by_cause
                .iter()
                .map(|(cause, n)| format!("{cause} {n}"))
                .collect();
            let _ = writeln!(
                s,
                "slices with p99 above {SLOW_SLICE_MS} ms: {} ({} during start-up); by cause: {}",
                a.slow_slices,
                a.during_start_up,
                causes.join(", ")
            );
        }
    }
    let rate = match cfg.rate {
        Rate::Max => "as fast as the hub acks".to_string(),
        Rate::PerSecond(r) => format!("{} payments/s", grouped(r.into())),
    };
    let active = match cfg.active {
        Some(a) if a < cfg.connections => format!(
            " ({} tipping at any moment, in bursts of {} frames)",
            grouped(a as u128),
            cfg.burst_frames
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "configuration: {} connections{active} paying {} channels, a signature every {} vouchers, {} vouchers per frame, rate {rate}",
        grouped(cfg.connections as u128),
        grouped(cfg.payees as u128),
        cfg.sign_every,
        cfg.frame_len()
    );
    if let Rate::PerSecond(asked) = cfg.rate
        && report.payments_per_s < 0.95 * asked as f64
        && report.acked > 0
    {
        let _ = writeln!(
            s,
            "the asked rate of {} payments/s was not reached: this machine acked {} payments/s ({:.0} %); latency above includes the queueing",
            grouped(asked.into()),
            grouped(rounded(report.payments_per_s).into()),
            100.0 * report.payments_per_s / asked as f64
        );
    }
    let asked_secs = cfg.duration.as_secs_f64();
    if let Some((_, period)) = loadtest::schedule::burst_cycle(cfg)
        && period.as_secs_f64() > asked_secs
    {
        let _ = writeln!(
            s,
            "a connection bursts once every {:.1} s, longer than the {asked_secs} s asked: only some connections had their turn (give a longer --duration, a higher --rate or fewer --burst-frames)",
            period.as_secs_f64()
        );
    }
    if duration_asked && report.acked == report.planned && report.elapsed_s < 0.9 * asked_secs {
        let _ = writeln!(
            s,
            "every payment was acked after {:.1} s, before the {asked_secs} s asked: give more --payments to send longer",
            report.elapsed_s
        );
    }
    if !report.rejected.is_empty() {
        let list: Vec<String> = report
            .rejected
            .iter()
            .map(|(code, n)| format!("{} {code}", grouped((*n).into())))
            .collect();
        let _ = writeln!(s, "rejected: {}", list.join(", "));
    }
    if report.connection_errors > 0 {
        let _ = writeln!(
            s,
            "{} connections stopped early, e.g.: {}",
            report.connection_errors,
            report.error_samples.join("; ")
        );
    }
    s
}

fn latency(l: &loadtest::report::Latency) -> String {
    format!(
        "p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
        ms(l.p50_ms),
        ms(l.p90_ms),
        ms(l.p99_ms),
        ms(l.p999_ms),
        ms(l.max_ms)
    )
}

/// Milliseconds to three significant figures at most (0.0123, 1.23, 12.3, 123).
fn ms(v: f64) -> String {
    match v {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v if v >= 1.0 => format!("{v:.2}"),
        v => format!("{v:.3}"),
    }
}

/// A rate rounded to three significant figures: 1,970.2995 → 1,970; 967,523 → 968,000.
fn rounded(rate: f64) -> u64 {
    if !rate.is_finite() || rate < 1.0 {
        return 0;
    }
    let digits = rate.log10().floor() as i32;
    let step = 10f64.powi((digits - 2).max(0));
    ((rate / step).round() * step) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_rounded_to_three_figures() {
        assert_eq!(rounded(1_970.299_5), 1_970);
        assert_eq!(rounded(967_523.0), 968_000);
        assert_eq!(rounded(42.4), 42);
        assert_eq!(ms(2.2345), "2.23");
        assert_eq!(ms(1234.7), "1235");
    }

    #[test]
    fn a_duration_alone_sizes_the_run_to_the_rate() {
        let args = |rate: &str, duration: Option<f64>, payments: Option<u64>| LoadArgs {
            url: "ws://127.0.0.1:1/v1".into(),
            connections: 10,
            active: None,
            burst_frames: 4,
            channels: 2,
            rate: rate.parse().expect("rate"),
            duration,
            payments,
            sign_every: 64,
            frame_vouchers: 0,
            window: 8192,
            seed: 1,
            report: None,
        };
        assert_eq!(args("500000", Some(10.0), None).payments(), 5_000_000);
        assert_eq!(args("max", Some(2.0), None).payments(), 2_400_000);
        assert_eq!(args("500000", Some(10.0), Some(7)).payments(), 7);
        assert_eq!(args("max", None, None).payments(), DEFAULT_PAYMENTS);
    }
}
