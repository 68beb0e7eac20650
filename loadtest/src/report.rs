//! The run's outcome: a JSON report and a readable summary.

use std::collections::BTreeMap;
use std::time::Duration;

use channel::HubId;
use channel::codec::ErrorCode;
use serde::Serialize;

use crate::attribution::{Attribution, HubWindow};
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
    /// Per acked frame: (send time since the start, ms; ack latency, µs), both from the
    /// earlier of the intended and the actual send time. The
    /// run's latency histogram is built from these at the end (one histogram per
    /// connection would be 170 KB each: 1.7 GB at 10,000 connections).
    pub timeline: Vec<(u32, u32)>,
    /// Rejections by code.
    pub rejects: BTreeMap<i32, u64>,
    /// Why the connection stopped early, if it did.
    pub error: Option<String>,
    /// From the first send to this connection's last ack (or its failure).
    pub streamed: Duration,
}

impl ConnectionOutcome {
    /// An empty outcome.
    pub fn new() -> Self {
        ConnectionOutcome {
            acked: 0,
            sent_frames: 0,
            unsent_frames: 0,
            timeline: Vec::new(),
            rejects: BTreeMap::new(),
            error: None,
            streamed: Duration::ZERO,
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

/// Ack latency of the frames sent in one slice of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Slice {
    /// Start of the slice: milliseconds since the first send.
    pub t_ms: u32,
    /// Frames sent in the slice and acked.
    pub frames: u64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// What the hub did meanwhile and, for a slow slice, why ([`crate::attribution`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubWindow>,
}

/// Length of a [`Slice`].
pub const SLICE_MS: u32 = 100;

/// Frames sent this long after the start count towards [`Report::latency_after_warm_up`].
pub const WARM_UP_MS: u32 = 500;

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
    /// Seconds from the last ack until every connection was closed. Connections close
    /// together once all have finished, as they all connect before the first send: one
    /// connection's close handshake never loads the hub while others still stream.
    pub teardown_s: f64,
    /// Acked payments per second.
    pub payments_per_s: f64,
    /// Ack latency of frames (each frame ends in a signed checkpoint), from the
    /// intended send time when a rate is set (coordinated-omission corrected), or the
    /// actual send if that was earlier.
    pub latency: Latency,
    /// The same latency over the frames sent [`WARM_UP_MS`] or more after the start
    /// (`None` if there are none): the steady state, without the connection ramp and
    /// the channels' first checkpoints (verified before their keys are prepared).
    pub latency_after_warm_up: Option<Latency>,
    /// Unix time of the first send, ms (lines the timeline up with the hub's).
    pub started_unix_ms: u64,
    /// The same latency by when frames were sent, in slices of [`SLICE_MS`]: where
    /// in the run the tail sits (start-up, a fold, steady state), each with what the
    /// hub did meanwhile.
    pub timeline: Vec<Slice>,
    /// The slow slices by cause ([`crate::attribution`]); `None` until attributed.
    pub attribution: Option<Attribution>,
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
        started_unix_ms: u64,
        (elapsed, teardown): (Duration, Duration),
        outcomes: Vec<ConnectionOutcome>,
    ) -> Report {
        let mut hist = latency_histogram();
        let mut rejected = BTreeMap::new();
        let mut acked = 0;
        let mut connection_errors = 0;
        let mut error_samples: Vec<String> = Vec::new();
        for o in &outcomes {
            acked += o.acked;
            for &(_, us) in &o.timeline {
                hist.saturating_record(u64::from(us).max(1));
            }
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
        let timeline = slices(outcomes.iter().flat_map(|o| o.timeline.iter().copied()));
        let latency_after_warm_up = percentiles(
            outcomes
                .iter()
                .flat_map(|o| o.timeline.iter())
                .filter(|(t_ms, _)| *t_ms >= WARM_UP_MS)
                .map(|(_, us)| *us)
                .collect(),
        );
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            config: config.clone(),
            hub_id,
            planned,
            acked,
            elapsed_s: secs,
            teardown_s: teardown.as_secs_f64(),
            payments_per_s: acked as f64 / secs,
            latency: Latency {
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: hist.max() as f64 / 1000.0,
                samples: hist.len(),
            },
            latency_after_warm_up,
            started_unix_ms,
            timeline,
            attribution: None,
            rejected,
            connection_errors,
            error_samples,
        }
    }

    /// A report with only these slices (for attribution tests).
    #[cfg(test)]
    pub(crate) fn empty_for_tests(timeline: Vec<Slice>) -> Report {
        let mut r = Report::build(
            &LoadConfig::default(),
            HubId::default(),
            0,
            0,
            (Duration::from_secs(1), Duration::ZERO),
            Vec::new(),
        );
        r.timeline = timeline;
        r
    }

    /// The slice with the highest p99, if any.
    pub fn worst_slice(&self) -> Option<&Slice> {
        self.timeline
            .iter()
            .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
    }
}

/// Group `(send ms, latency µs)` samples into [`SLICE_MS`] slices with percentiles.
fn slices(samples: impl Iterator<Item = (u32, u32)>) -> Vec<Slice> {
    let mut by_slice: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (t_ms, us) in samples {
        by_slice.entry(t_ms / SLICE_MS).or_default().push(us);
    }
    by_slice
        .into_iter()
        .filter_map(|(k, us)| {
            let l = percentiles(us)?;
            Some(Slice {
                t_ms: k * SLICE_MS,
                frames: l.samples,
                p50_ms: l.p50_ms,
                p99_ms: l.p99_ms,
                max_ms: l.max_ms,
                hub: None,
            })
        })
        .collect()
}

/// Percentiles of latencies in µs (exact, from the sorted samples).
fn percentiles(mut us: Vec<u32>) -> Option<Latency> {
    if us.is_empty() {
        return None;
    }
    us.sort_unstable();
    let at = |q: f64| {
        let i = ((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1;
        f64::from(us[i]) / 1000.0
    };
    Some(Latency {
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: at(1.0),
        samples: us.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_group_by_send_time_with_percentiles() {
        let samples = (0..100u32)
            .map(|i| (i, 1_000 * (i + 1)))
            .chain([(250, 7_000)]);
        let t = slices(samples);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].t_ms, t[0].frames), (0, 100));
        assert_eq!((t[0].p50_ms, t[0].p99_ms, t[0].max_ms), (50.0, 99.0, 100.0));
        assert_eq!((t[1].t_ms, t[1].frames, t[1].p99_ms), (200, 1, 7.0));
    }
}
