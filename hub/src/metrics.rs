//! Hub metrics: lock-free counters, gauges and fixed-bucket histograms, rendered in the
//! Prometheus text exposition format (version 0.0.4) at `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use channel::codec::{CloseCode, ErrorCode};

use crate::writer::WriterMetrics;

/// Every error code a voucher or request can be refused with, in a fixed order, so
/// that the per-code counters are a plain array.
pub const REFUSAL_CODES: [ErrorCode; ErrorCode::ALL.len()] = ErrorCode::ALL;

/// Index of `InternalError` in [`REFUSAL_CODES`]: where an unlisted code is counted.
const INTERNAL_ERROR_INDEX: usize = 4;
const _: () = assert!(matches!(
    REFUSAL_CODES[INTERNAL_ERROR_INDEX],
    ErrorCode::InternalError
));

fn code_index(code: ErrorCode) -> usize {
    REFUSAL_CODES
        .iter()
        .position(|c| *c == code)
        .unwrap_or(INTERNAL_ERROR_INDEX)
}

/// How a [`Histogram`]'s integer observations and bounds are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// As they are (payments, bytes, signatures).
    Count,
    /// Microseconds, rendered as seconds.
    MicrosAsSeconds,
}

impl Unit {
    /// `value` in this unit as an exact decimal (no binary float noise).
    fn decimal(self, value: u64) -> String {
        match self {
            Unit::Count => value.to_string(),
            Unit::MicrosAsSeconds => {
                let (whole, frac) = (value / 1_000_000, value % 1_000_000);
                if frac == 0 {
                    return whole.to_string();
                }
                let frac = format!("{frac:06}");
                format!("{whole}.{}", frac.trim_end_matches('0'))
            }
        }
    }
}

/// A value a [`Histogram`] records: an integer is in the histogram's unit (µs for a
/// time histogram); a float is in the rendered unit (seconds for a time histogram)
/// and is rounded to the nearest unit, negative values and NaN to 0.
pub trait Observation {
    /// The value in `unit`'s integer unit.
    fn in_units(self, unit: Unit) -> u64;
}

impl Observation for u64 {
    fn in_units(self, _: Unit) -> u64 {
        self
    }
}

impl Observation for f64 {
    fn in_units(self, unit: Unit) -> u64 {
        let scaled = match unit {
            Unit::Count => self,
            Unit::MicrosAsSeconds => self * 1e6,
        };
        // `as` saturates, and maps NaN to 0.
        scaled.round() as u64
    }
}

/// A fixed-bucket histogram of integer observations (lock-free), rendered as a
/// Prometheus histogram (`le` buckets, cumulative on render).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [u64],
    unit: Unit,
    /// One more than `bounds`: the last counts observations above every bound.
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A copy of a [`Histogram`]'s state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Inclusive upper bounds of the buckets.
    pub bounds: &'static [u64],
    /// Observations per bucket (not cumulative); one more than `bounds`: the last
    /// counts observations above every bound.
    pub counts: Vec<u64>,
    /// Sum of observations.
    pub sum: u64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// A histogram with the given inclusive upper bounds (strictly increasing), in
    /// `unit`.
    pub fn new(bounds: &'static [u64], unit: Unit) -> Self {
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "bucket bounds increase"
        );
        Histogram {
            bounds,
            unit,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Record one observation.
    pub fn observe(&self, value: impl Observation) {
        let value = value.in_units(self.unit);
        let i = self.bounds.partition_point(|&b| b < value);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
    }

    /// Record a duration (a time histogram counts microseconds).
    pub fn observe_duration(&self, d: Duration) {
        debug_assert_eq!(self.unit, Unit::MicrosAsSeconds, "a time histogram");
        self.observe(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        HistogramSnapshot {
            bounds: self.bounds,
            count: counts.iter().sum(),
            counts,
            sum: self.sum.load(Relaxed),
        }
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let h = self.snapshot();
        let unit = self.unit;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in h.bounds.iter().enumerate() {
            cumulative += h.counts[i];
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                unit.decimal(*bound)
            );
        }
        cumulative += h.counts.last().copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", unit.decimal(h.sum));
        let _ = writeln!(out, "{name}_count {}", h.count);
    }
}

/// Microsecond buckets for latencies.
pub const LATENCY_US_BUCKETS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 250_000, 1_000_000,
];
/// Buckets for counts per batch (payments, signatures).
pub const COUNT_BUCKETS: &[u64] = &[1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144];
/// Byte buckets for batch records.
pub const BYTES_BUCKETS: &[u64] = &[
    256,
    1_024,
    4_096,
    16_384,
    65_536,
    262_144,
    1 << 20,
    4 << 20,
    16 << 20,
];

/// All hub metrics. One instance per hub, shared by reference.
#[derive(Debug)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicI64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Upgrades refused because `max_connections` was reached.
    pub connections_refused: AtomicU64,
    /// Sessions closed by the hub, by reason (index: [`CloseCode::index`]).
    pub closed_by_hub: [AtomicU64; CloseCode::COUNT],
    /// Sessions bound to a channel by `hello`.
    pub sessions_bound: AtomicI64,
    /// Vouchers admitted (pending or checkpoint).
    pub vouchers_accepted: AtomicU64,
    /// Vouchers and requests refused, by code.
    pub refused: [AtomicU64; REFUSAL_CODES.len()],
    /// Vouchers acknowledged after a durable commit.
    pub vouchers_acked: AtomicU64,
    /// Staged vouchers not yet covered by a verified checkpoint (all channels).
    pub pending_vouchers: AtomicI64,
    /// Checkpoint signatures verified (valid or not).
    pub signatures_verified: AtomicU64,
    /// Checkpoint signature verification batches (one pool wake-up each).
    pub verify_batch_size: Histogram,
    /// Group commits that failed.
    pub commit_failures: AtomicU64,
    /// Receipts signed.
    pub receipts_signed: AtomicU64,
    /// Epochs cut.
    pub epoch_cuts: AtomicU64,
    /// Close proofs the settlement layer accepted.
    pub closes_accepted: AtomicU64,
    /// Close proofs refused (malformed, wrong inputs, or not verifying).
    pub closes_refused: AtomicU64,
    /// Latest epoch whose close was accepted (0: none).
    pub last_closed_epoch: AtomicU64,
    /// What the hub did in each 100 ms (`GET /metrics/timeline`).
    pub timeline: std::sync::Arc<crate::timeline::Timeline>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            closed_by_hub: Default::default(),
            sessions_bound: AtomicI64::new(0),
            vouchers_accepted: AtomicU64::new(0),
            refused: std::array::from_fn(|_| AtomicU64::new(0)),
            vouchers_acked: AtomicU64::new(0),
            pending_vouchers: AtomicI64::new(0),
            signatures_verified: AtomicU64::new(0),
            verify_batch_size: Histogram::new(COUNT_BUCKETS, Unit::Count),
            commit_failures: AtomicU64::new(0),
            receipts_signed: AtomicU64::new(0),
            epoch_cuts: AtomicU64::new(0),
            closes_accepted: AtomicU64::new(0),
            closes_refused: AtomicU64::new(0),
            last_closed_epoch: AtomicU64::new(0),
            timeline: Default::default(),
        }
    }
}

impl Metrics {
    /// Count one refusal.
    pub fn refuse(&self, code: ErrorCode) {
        self.refused[code_index(code)].fetch_add(1, Relaxed);
    }

    /// Refusals so far with `code`.
    pub fn refused_with(&self, code: ErrorCode) -> u64 {
        self.refused[code_index(code)].load(Relaxed)
    }

    /// Count one session closed by the hub.
    pub fn closed(&self, reason: CloseCode) {
        self.closed_by_hub[reason.index()].fetch_add(1, Relaxed);
    }

    /// Render every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP zkhub_build_info The hub's version.\n# TYPE zkhub_build_info gauge\nzkhub_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        gauge(
            &mut out,
            "zkhub_connections_open",
            "Open WebSocket connections.",
            self.connections.load(Relaxed),
        );
        counter(
            &mut out,
            "zkhub_connections_total",
            "WebSocket connections accepted.",
            self.connections_total.load(Relaxed),
        );
        counter(
            &mut out,
            "zkhub_connections_refused_total",
            "Upgrades refused at the connection limit.",
            self.connections_refused.load(Relaxed),
        );
        gauge(
            &mut out,
            "zkhub_sessions_bound",
            "Sessions bound to a channel by hello.",
            self.sessions_bound.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP zkhub_sessions_closed_total Sessions closed by the hub, by reason.\n# TYPE zkhub_sessions_closed_total counter"
        );
        for reason in CloseCode::ALL {
            let _ = writeln!(
                out,
                "zkhub_sessions_closed_total{{reason=\"{}\"}} {}",
                reason.name(),
                self.closed_by_hub[reason.index()].load(Relaxed)
            );
        }
        counter(
            &mut out,
            "zkhub_vouchers_accepted_total",
            "Vouchers admitted (pending or checkpoint).",
            self.vouchers_accepted.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP zkhub_refused_total Vouchers and requests refused, by error code.\n# TYPE zkhub_refused_total counter"
        );
        for (i, code) in REFUSAL_CODES.iter().enumerate() {
            let _ = writeln!(
                out,
                "zkhub_refused_total{{code=\"{}\",name=\"{code:?}\"}} {}",
                code.as_i32(),
                self.refused[i].load(Relaxed)
            );
        }
        counter(
            &mut out,
            "zkhub_vouchers_acked_total",
            "Vouchers acknowledged after a durable commit.",
            self.vouchers_acked.load(Relaxed),
        );
        gauge(
            &mut out,
            "zkhub_pending_vouchers",
            "Staged vouchers not yet covered by a verified checkpoint.",
            self.pending_vouchers.load(Relaxed),
        );
        counter(
            &mut out,
            "zkhub_signatures_verified_total",
            "Checkpoint signatures verified.",
            self.signatures_verified.load(Relaxed),
        );
        self.verify_batch_size.render(
            &mut out,
            "zkhub_verify_batch_size",
            "Checkpoints verified per verifier round (the groups verified together after a wait).",
        );
        counter(
            &mut out,
            "zkhub_commit_failures_total",
            "Group commits that failed.",
            self.commit_failures.load(Relaxed),
        );
        counter(
            &mut out,
            "zkhub_receipts_signed_total",
            "Receipts signed by the hub key.",
            self.receipts_signed.load(Relaxed),
        );
        counter(
            &mut out,
            "zkhub_epoch_cuts_total",
            "Epochs cut.",
            self.epoch_cuts.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP zkhub_closes_total Close proofs submitted, by result.\n# TYPE zkhub_closes_total counter"
        );
        for (result, value) in [
            ("accepted", &self.closes_accepted),
            ("refused", &self.closes_refused),
        ] {
            let _ = writeln!(
                out,
                "zkhub_closes_total{{result=\"{result}\"}} {}",
                value.load(Relaxed)
            );
        }
        gauge(
            &mut out,
            "zkhub_last_closed_epoch",
            "Latest epoch whose close the settlement layer accepted (0: none).",
            self.last_closed_epoch.load(Relaxed) as i64,
        );
        out
    }
}

/// Render what the hub holds now: the epoch accumulating payments and the channels
/// in its table.
pub fn render_state(epoch: u64, channels: usize) -> String {
    let mut out = String::with_capacity(256);
    gauge(
        &mut out,
        "zkhub_epoch",
        "The epoch now accumulating payments.",
        epoch as i64,
    );
    gauge(
        &mut out,
        "zkhub_channels",
        "Channels in the hub's table.",
        channels as i64,
    );
    out
}

/// Render the group-commit writer's metrics: batch sizes, commit latency (first
/// request dequeued → acks released), fsync time (the durable `commit` itself), fold
/// and snapshot counters.
pub fn render_writer(w: &WriterMetrics) -> String {
    let mut out = String::with_capacity(4096);
    let c = |out: &mut String, name: &str, help: &str, v: &std::sync::atomic::AtomicU64| {
        counter(out, name, help, v.load(Relaxed));
    };
    c(
        &mut out,
        "zkhub_commit_batches_total",
        "Group commits (log records appended).",
        &w.batches,
    );
    c(
        &mut out,
        "zkhub_commit_payments_total",
        "Payments made durable.",
        &w.payments,
    );
    c(
        &mut out,
        "zkhub_commit_ranges_total",
        "Covered ranges made durable.",
        &w.ranges,
    );
    c(
        &mut out,
        "zkhub_commit_events_total",
        "Settlement events made durable.",
        &w.events,
    );
    c(
        &mut out,
        "zkhub_commit_refused_ranges_total",
        "Covered ranges refused because the payer had exited.",
        &w.refused_ranges,
    );
    c(
        &mut out,
        "zkhub_commit_bytes_total",
        "Log bytes appended.",
        &w.bytes,
    );
    c(
        &mut out,
        "zkhub_fold_rows_total",
        "Channel rows rewritten by the checkpointer.",
        &w.fold_rows,
    );
    c(
        &mut out,
        "zkhub_snapshots_total",
        "Epoch snapshots written.",
        &w.snapshots,
    );
    gauge(
        &mut out,
        "zkhub_commit_last_batch",
        "Last committed batch number.",
        w.last_batch.load(Relaxed) as i64,
    );
    gauge(
        &mut out,
        "zkhub_fold_folded_through",
        "Every batch up to this one is folded into the channel table.",
        w.folded_through.load(Relaxed) as i64,
    );
    gauge(
        &mut out,
        "zkhub_writer_failed",
        "1 once the writer fail-stopped.",
        i64::from(w.failed.load(Relaxed)),
    );
    w.batch_payments.render(
        &mut out,
        "zkhub_commit_batch_size",
        "Payments per group commit.",
    );
    w.batch_us.render(
        &mut out,
        "zkhub_commit_latency_seconds",
        "From the first request of a batch dequeued to its acks released.",
    );
    w.commit_us.render(
        &mut out,
        "zkhub_fsync_seconds",
        "Time in the durable commit (page writes and fsync) of a batch.",
    );
    w.batch_bytes.render(
        &mut out,
        "zkhub_commit_batch_bytes",
        "Bytes per log record.",
    );
    out
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn gauge(out: &mut String, name: &str, help: &str, value: i64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1, 10], Unit::Count);
        h.observe(1u64);
        h.observe(5.0);
        h.observe(50u64);
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 1"));
        assert!(out.contains("x_bucket{le=\"10\"} 2"));
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3"));
        assert!(out.contains("x_count 3"));
    }

    #[test]
    fn microsecond_bounds_render_as_exact_seconds() {
        let u = Unit::MicrosAsSeconds;
        assert_eq!(u.decimal(50), "0.00005");
        assert_eq!(u.decimal(1_000_000), "1");
        assert_eq!(u.decimal(2_500_000), "2.5");
        assert_eq!(u.decimal(123), "0.000123");
        assert_eq!(Unit::Count.decimal(4096), "4096");
    }

    #[test]
    fn every_code_has_its_own_counter() {
        let m = Metrics::default();
        m.refuse(ErrorCode::BadSeq);
        m.refuse(ErrorCode::BadSeq);
        m.refuse(ErrorCode::NotAvailable);
        assert_eq!(m.refused_with(ErrorCode::BadSeq), 2);
        assert_eq!(m.refused_with(ErrorCode::NotAvailable), 1);
        assert_eq!(m.refused_with(ErrorCode::BadChain), 0);
        assert!(
            m.render()
                .contains("zkhub_refused_total{code=\"1001\",name=\"BadSeq\"} 2")
        );
    }
}
