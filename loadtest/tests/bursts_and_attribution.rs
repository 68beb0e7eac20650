//! A real hub on 127.0.0.1 and a real load run in bursts: every payment is acked, no
//! connection is dropped, and every latency slice carries what the hub did meanwhile
//! (from its `/metrics/timeline`), so a slow slice could be explained.

use std::time::Duration;

use hub::{Hub, HubConfig};
use loadtest::{HttpOperator, LoadConfig, Rate, Silent};

/// A hub on 127.0.0.1 over a fresh data directory (kept while the hub runs).
async fn hub() -> (tempfile::TempDir, hub::HubHandle) {
    let data = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(HubConfig::ephemeral(data.path()))
        .await
        .expect("hub starts");
    (data, hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_run_acks_everything_and_every_slice_has_the_hubs_timeline() {
    let (_data, hub) = hub().await;
    // 40 fans, 8 tipping at any moment in bursts of 2 frames of 4 vouchers, 800/s: a
    // tipping fan sends 100/s (a frame every 40 ms), a burst every 40 ms · 2 / (8 / 40)
    // = 400 ms; 16 payments each is 2 bursts.
    let cfg = LoadConfig {
        url: hub.ws_url(),
        connections: 40,
        active: Some(8),
        burst_frames: 2,
        payees: 3,
        payments: 40 * 16,
        rate: Rate::PerSecond(800),
        duration: Duration::from_secs(10),
        sign_every: 4,
        seed: 3,
        ..LoadConfig::default()
    };
    let (interval, period) = loadtest::schedule::burst_cycle(&cfg).expect("bursts");
    assert_eq!(
        (interval, period),
        (Duration::from_millis(40), Duration::from_millis(400))
    );
    let report = loadtest::run(&cfg, &HttpOperator::new(hub.http_url()), &Silent)
        .await
        .expect("the run completes");
    assert_eq!(report.acked, report.planned, "{:?}", report.error_samples);
    assert_eq!(report.connection_errors, 0);
    let attribution = report.attribution.as_ref().expect("attributed");
    assert_eq!(attribution.timeline_error, None);
    assert!(!report.timeline.is_empty());
    for slice in &report.timeline {
        let hub = slice
            .hub
            .as_ref()
            .expect("every slice has the hub's window");
        assert_eq!(
            hub.cause.is_some(),
            slice.p99_ms > loadtest::attribution::SLOW_SLICE_MS
        );
    }
    let commits: u64 = report
        .timeline
        .iter()
        .filter_map(|s| s.hub.as_ref())
        .map(|h| h.stats.commits)
        .max()
        .unwrap_or(0);
    assert!(commits > 0, "the hub's commits show in the slices");
    hub.shutdown().await.expect("clean shutdown");
}

/// Connections stay open until every connection has finished: staggered over one
/// interval, the first connection's last frame is acked ~90 ms before the last one's is
/// sent, and closing then put its close handshake (both ends' on this machine) beside
/// the frames still in flight; a storm of 1,000 such closes doubled a run's p99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_closes_before_every_payment_of_the_run_is_acked() {
    use std::sync::atomic::Ordering::Relaxed;

    let (_data, hub) = hub().await;
    // 8 connections of 50 payments in frames of 5 at 400/s: a frame every 100 ms per
    // connection, the connections 12.5 ms apart.
    let cfg = LoadConfig {
        url: hub.ws_url(),
        connections: 8,
        payees: 2,
        payments: 8 * 50,
        rate: Rate::PerSecond(400),
        duration: Duration::from_secs(10),
        sign_every: 5,
        seed: 4,
        ..LoadConfig::default()
    };
    // Watch the hub: the vouchers it had acked when its first bound session ended.
    let metrics = hub.metrics();
    let watch = async {
        let mut peak = 0;
        loop {
            let bound = metrics.sessions_bound.load(Relaxed);
            let acked = metrics.vouchers_acked.load(Relaxed);
            peak = peak.max(bound);
            if peak == 8 && bound < peak {
                return acked;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    };
    let operator = HttpOperator::new(hub.http_url());
    let (report, acked_at_first_close) = tokio::join!(
        loadtest::run(&cfg, &operator, &Silent),
        tokio::time::timeout(Duration::from_secs(20), watch)
    );
    let report = report.expect("the run completes");
    assert_eq!(report.acked, report.planned, "{:?}", report.error_samples);
    let acked_at_first_close = acked_at_first_close.expect("the sessions end after the run");
    assert_eq!(acked_at_first_close, report.planned);
    assert!(report.teardown_s >= 0.0 && report.elapsed_s > 0.5);
    hub.shutdown().await.expect("clean shutdown");
}
