//! The run's outcome: a JSON report and a readable summary.

use std::collections::BTreeMap;
use std::time::Duration;

use channel::HubId;
use channel::codec::ErrorCode;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::config::LoadConfig;
use crate::driver::latency_histogram;

/// What one connection saw.
#[derive(Debug)]
pub struct ConnectionOutcome {
    /// Vouchers acknowledged.
    pub acked: u64,
    /// Frames sent.
    pub sent_frames: usize,
    /// Frames never sent (time ran out or the connection failed).
    pub unsent_frames: usize,
    /// Ack latency, µs.
    pub latency_us: Histogram<u64>,
    /// Rejections by code.
    pub rejects: BTreeMap<i32, u64>,
    /// Why the connection stopped early, if it did.
    pub error: Option<String>,
}

impl ConnectionOutcome {
    /// An empty outcome.
    pub fn new() -> Self {
        ConnectionOutcome {
            acked: 0,
            sent_frames: 0,
            unsent_frames: 0,
            latency_us: latency_histogram(),
            rejects: BTreeMap::new(),
            error: None,
        }
    }

    /// A connection whose task failed.
    pub fn failed(reason: String) -> Self {
        ConnectionOutcome {
            error: Some(reason),
            ..Self::new()
        }
    }

    /// Count a rejection.
    pub fn count_reject(&mut self, code: i32) {
        *self.rejects.entry(code).or_insert(0) += 1;
    }
}

impl Default for ConnectionOutcome {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// Acked frames measured.
    pub samples: u64,
}

/// The report of a load run (written as JSON with `--report`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The configuration.
    pub config: LoadConfig,
    /// The hub's id.
    pub hub_id: HubId,
    /// Payments planned.
    pub planned: u64,
    /// Payments acknowledged (durable).
    pub acked: u64,
    /// Seconds from the first send to the last ack.
    pub elapsed_s: f64,
    /// Acked payments per second.
    pub payments_per_s: f64,
    /// Ack latency of frames (each frame ends in a signed checkpoint), from the
    /// intended send time when a rate is set (coordinated-omission corrected).
    pub latency: Latency,
    /// Rejections by error code name.
    pub rejected: BTreeMap<String, u64>,
    /// Connections that stopped early, with the first few reasons.
    pub connection_errors: u64,
    /// Up to ten distinct error reasons.
    pub error_samples: Vec<String>,
}

impl Report {
    /// Merge the connections' outcomes.
    pub fn build(
        config: &LoadConfig,
        hub_id: HubId,
        planned: u64,
        elapsed: Duration,
        outcomes: Vec<ConnectionOutcome>,
    ) -> Report {
        let mut hist = latency_histogram();
        let mut rejected = BTreeMap::new();
        let mut acked = 0;
        let mut connection_errors = 0;
        let mut error_samples: Vec<String> = Vec::new();
        for o in &outcomes {
            acked += o.acked;
            // Both histograms share bounds, so adding cannot fail.
            let _ = hist.add(&o.latency_us);
            for (&code, &n) in &o.rejects {
                let name = ErrorCode::from_i32(code)
                    .map_or_else(|| format!("code {code}"), |c| format!("{c:?}"));
                *rejected.entry(name).or_insert(0) += n;
            }
            if let Some(e) = &o.error {
                connection_errors += 1;
                if error_samples.len() < 10 && !error_samples.contains(e) {
                    error_samples.push(e.clone());
                }
            }
        }
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            config: config.clone(),
            hub_id,
            planned,
            acked,
            elapsed_s: secs,
            payments_per_s: acked as f64 / secs,
            latency: Latency {
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: hist.max() as f64 / 1000.0,
                samples: hist.len(),
            },
            rejected,
            connection_errors,
            error_samples,
        }
    }

    /// A short readable summary.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        use std::fmt::Write;
        let _ = writeln!(
            s,
            "payments acked   {} of {} in {:.2} s  ({:.0} payments/s)",
            self.acked, self.planned, self.elapsed_s, self.payments_per_s
        );
        let l = &self.latency;
        let _ = writeln!(
            s,
            "ack latency      p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let _ = writeln!(
            s,
            "configuration    {} connections, {} payees, sign every {}, {} vouchers/frame, rate {:?}",
            self.config.connections,
            self.config.payees,
            self.config.sign_every,
            self.config.frame_len(),
            self.config.rate
        );
        if !self.rejected.is_empty() {
            let _ = writeln!(s, "rejected         {:?}", self.rejected);
        }
        if self.connection_errors > 0 {
            let _ = writeln!(
                s,
                "connection errors {} (e.g. {:?})",
                self.connection_errors, self.error_samples
            );
        }
        s
    }
}
