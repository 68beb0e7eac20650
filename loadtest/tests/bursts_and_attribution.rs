//! A real hub on 127.0.0.1 and a real load run in bursts: every payment is acked, no
//! connection is dropped, and every latency slice carries what the hub did meanwhile
//! (from its `/metrics/timeline`), so a slow slice could be explained.

use std::time::Duration;

use hub::{Hub, HubConfig};
use loadtest::{HttpOperator, LoadConfig, Rate, Silent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_run_acks_everything_and_every_slice_has_the_hubs_timeline() {
    let data = tempfile::tempdir().expect("tempdir");
    let hub = Hub::start(HubConfig::ephemeral(data.path()))
        .await
        .expect("hub starts");
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
