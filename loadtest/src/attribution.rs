//! Why a slice of the run was slow: the hub's own timeline ([`hub::timeline`], served at
//! `GET /metrics/timeline`) lined up with the report's 100 ms latency slices.
//!
//! Both processes run on one machine, so their wall clocks agree: a frame the load
//! generator meant to send at Unix time `t` was read, verified and committed by the hub
//! in the hub's slices from `t − 100 ms` (a stall that began just before) to `t + 100 ms
//! + the slice's slowest ack`. Every slice gets the merged hub statistics of that window;
//! a *slow* slice (p99 above [`SLOW_SLICE_MS`], the latency target) also gets a cause:
//!
//! - `outside_hub`: the hub's own latency (frame read to ack written) stayed under half
//!   the client's p99, so the time went in the client, the kernel or the scheduler
//!   (on a 2-core machine the load generator shares the cores with the hub);
//! - otherwise the hub stage with the longest time in the window: `verify` (a checkpoint
//!   waiting for and in the verifier pool), `fold` (a checkpointer slice, during which
//!   the writer commits nothing), `fsync` (a group commit's page writes and fsync),
//!   `writer` (the rest of a batch: gathering, applying, handing out acks).
//!
//! `start_up` marks a slice whose window saw new connections or `hello`s.

use std::collections::BTreeMap;

use hub::timeline::{SliceStats, TimelineReport};
use serde::Serialize;

use crate::report::{Report, SLICE_MS};

/// A slice is slow when its p99 is above this (the p99 target, ms).
pub const SLOW_SLICE_MS: f64 = 10.0;

/// Where a slow slice's time went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The hub acked quickly; the delay was in the client, kernel or scheduler.
    OutsideHub,
    /// Checkpoints waited for (or in) signature verification.
    Verify,
    /// A checkpointer fold slice held the writer.
    Fold,
    /// A group commit's writes and fsync.
    Fsync,
    /// The rest of the writer's batch (gather, apply, hand out acks).
    Writer,
}

impl Cause {
    /// The name used in the report and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Cause::OutsideHub => "outside_hub",
            Cause::Verify => "verify",
            Cause::Fold => "fold",
            Cause::Fsync => "fsync",
            Cause::Writer => "writer",
        }
    }
}

/// What the hub did while a slice's frames were in flight, and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct HubWindow {
    /// The hub's slices in the window, merged (its `t_unix_ms` is the window's start).
    pub stats: SliceStats,
    /// Only for a slow slice: where the time went.
    pub cause: Option<Cause>,
    /// The window saw new connections or `hello`s.
    pub start_up: bool,
}

/// The slow slices by cause, and how the hub's timeline was obtained.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attribution {
    /// Slices whose p99 was above [`SLOW_SLICE_MS`].
    pub slow_slices: u64,
    /// Those slices by cause (`outside_hub`, `verify`, …).
    pub by_cause: BTreeMap<String, u64>,
    /// Of those, how many were during start-up.
    pub during_start_up: u64,
    /// Why the hub's timeline is missing, if it is (e.g. a hub without
    /// `/metrics/timeline`); the slices then have no `hub` field.
    pub timeline_error: Option<String>,
}

/// Join the hub's `timeline` to `report`'s slices (the run started at Unix time
/// `started_unix_ms`) and count the slow slices by cause.
pub fn attribute(report: &mut Report, started_unix_ms: u64, timeline: &TimelineReport) {
    let mut summary = Attribution::default();
    for slice in &mut report.timeline {
        let sent = started_unix_ms + u64::from(slice.t_ms);
        let from = sent.saturating_sub(SLICE_MS.into());
        let to = sent + u64::from(SLICE_MS) + slice.max_ms.ceil() as u64;
        let mut stats = SliceStats {
            t_unix_ms: from,
            ..SliceStats::default()
        };
        for s in &timeline.slices {
            if s.t_unix_ms + timeline.slice_ms > from && s.t_unix_ms < to {
                stats.merge(s);
            }
        }
        let start_up = stats.accepted + stats.hellos > 0;
        let cause = (slice.p99_ms > SLOW_SLICE_MS).then(|| cause_of(&stats, slice.p99_ms));
        if let Some(c) = cause {
            summary.slow_slices += 1;
            *summary.by_cause.entry(c.name().to_string()).or_insert(0) += 1;
            summary.during_start_up += u64::from(start_up);
        }
        slice.hub = Some(HubWindow {
            stats,
            cause,
            start_up,
        });
    }
    report.attribution = Some(summary);
}

/// Fetch the hub's timeline from `base` (e.g. `http://127.0.0.1:8080`) for the slices
/// from `since_unix_ms` on.
pub async fn fetch(base: &str, since_unix_ms: u64) -> Result<TimelineReport, String> {
    let url = format!("{base}/metrics/timeline?since={since_unix_ms}");
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        // At most 600 slices of 16 numbers: far below ureq's 10 MB body limit.
        response
            .body_mut()
            .read_json::<TimelineReport>()
            .map_err(|e| format!("reading {url}: {e}"))
    })
    .await
    .map_err(|e| format!("timeline task failed: {e}"))?
}

/// Mark the report as having no hub timeline, saying why.
pub fn unattributed(report: &mut Report, why: String) {
    report.attribution = Some(Attribution {
        timeline_error: Some(why),
        ..Attribution::default()
    });
}

/// The stage that explains a slice whose client-side p99 was `p99_ms`.
fn cause_of(s: &SliceStats, p99_ms: f64) -> Cause {
    let ms = |us: u64| us as f64 / 1000.0;
    if s.acked > 0 && ms(s.ack_max_us) < p99_ms / 2.0 {
        return Cause::OutsideHub;
    }
    let candidates = [
        (Cause::Verify, s.verify_max_us),
        (Cause::Fold, s.fold_max_us),
        (Cause::Fsync, s.commit_max_us),
        (
            Cause::Writer,
            s.batch_max_us.saturating_sub(s.commit_max_us),
        ),
    ];
    candidates
        .into_iter()
        .max_by_key(|(_, us)| *us)
        .map_or(Cause::OutsideHub, |(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Slice;

    fn slice(t_ms: u32, p99_ms: f64) -> Slice {
        Slice {
            t_ms,
            frames: 10,
            p50_ms: 1.0,
            p99_ms,
            max_ms: p99_ms,
            hub: None,
        }
    }

    fn hub(t_unix_ms: u64, f: impl FnOnce(&mut SliceStats)) -> SliceStats {
        let mut s = SliceStats {
            t_unix_ms,
            acked: 1,
            ..SliceStats::default()
        };
        f(&mut s);
        s
    }

    #[test]
    fn a_slow_slice_is_blamed_on_the_longest_hub_stage_in_its_window() {
        let start = 1_700_000_000_000;
        let mut report = Report::empty_for_tests(vec![
            slice(0, 2.0),
            slice(100, 40.0),
            slice(5_000, 30.0),
            slice(9_000, 25.0),
        ]);
        let timeline = TimelineReport {
            slice_ms: 100,
            slices: vec![
                hub(start + 100, |s| {
                    s.hellos = 50;
                    s.verify_max_us = 35_000;
                    s.ack_max_us = 38_000;
                    s.fold_max_us = 4_000;
                }),
                hub(start + 5_100, |s| {
                    s.fold_max_us = 25_000;
                    s.commit_max_us = 2_000;
                    s.batch_max_us = 3_000;
                    s.ack_max_us = 28_000;
                }),
                // The hub acked within 3 ms: the 25 ms were spent elsewhere.
                hub(start + 9_000, |s| s.ack_max_us = 3_000),
            ],
        };
        attribute(&mut report, start, &timeline);
        let causes: Vec<Option<Cause>> = report
            .timeline
            .iter()
            .map(|s| s.hub.as_ref().and_then(|h| h.cause))
            .collect();
        assert_eq!(
            causes,
            [
                None,
                Some(Cause::Verify),
                Some(Cause::Fold),
                Some(Cause::OutsideHub)
            ]
        );
        let a = report.attribution.expect("attributed");
        assert_eq!(a.slow_slices, 3);
        assert_eq!(a.during_start_up, 1);
        assert_eq!(a.by_cause["fold"], 1);
        assert!(report.timeline[1].hub.as_ref().is_some_and(|h| h.start_up));
    }
}
