//! `GET /metrics` after a real epoch (payments over WebSocket, a cut, a refused and an
//! accepted close) is valid under OpenMetrics naming and its counters moved: acked
//! vouchers, epochs, channels, closes, the build info. Bucket bounds are exact decimals.

mod server_util;

use std::collections::BTreeMap;
use std::sync::Arc;

use server_util::{
    AcceptTestProofs, Client, JsonProofFiles, Payer, TestHub, close, http, http_get,
};

/// One exposition: family types by name, and sample values by `name{labels}`.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut types = BTreeMap::new();
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                let previous = types.insert(name.to_string(), kind.to_string());
                assert!(previous.is_none(), "{name} declared twice");
            } else if !line.starts_with('#') {
                let (key, value) = line.rsplit_once(' ').expect("sample value");
                let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
                samples.insert(key.to_string(), value);
            }
        }
        Exposition { types, samples }
    }

    fn value(&self, key: &str) -> f64 {
        *self
            .samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_move_after_a_real_epoch() {
    let hub = TestHub::start_with(|c| {
        c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs)))
    })
    .await;
    let addr = hub.handle.local_addr();
    let (alice, alice_key) = hub.open(1, 10_000).await;
    let (bob, _) = hub.open(2, 5).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key, hub.hub_id());
    // 40 vouchers, a checkpoint every 8, in two messages.
    c.pay_json(alice, &p.run(bob, 3, 24, 8)).await;
    c.await_ack(24).await;
    c.pay_json(alice, &p.run(bob, 3, 16, 8)).await;
    c.await_ack(40).await;

    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 200);
    assert_eq!(close(addr, hub.dir.path(), 1, "forged").await.0, 422);
    assert_eq!(close(addr, hub.dir.path(), 1, "proof").await.0, 200);

    let (status, text) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let m = Exposition::parse(&text);

    assert_eq!(m.value("zkhub_vouchers_accepted_total"), 40.0);
    assert_eq!(
        m.value("zkhub_vouchers_acked_total"),
        40.0,
        "acks are counted"
    );
    assert_eq!(m.value("zkhub_commit_payments_total"), 40.0);
    assert_eq!(m.value("zkhub_connections_open"), 1.0);
    assert!(m.value("zkhub_connections_total") >= 1.0);
    assert_eq!(
        m.value("zkhub_epoch"),
        2.0,
        "payments accumulate in epoch 2"
    );
    assert_eq!(m.value("zkhub_channels"), 2.0);
    assert_eq!(m.value("zkhub_epoch_cuts_total"), 1.0);
    assert_eq!(m.value("zkhub_closes_total{result=\"accepted\"}"), 1.0);
    assert_eq!(m.value("zkhub_closes_total{result=\"refused\"}"), 1.0);
    assert_eq!(m.value("zkhub_last_closed_epoch"), 1.0);
    assert_eq!(m.value("zkhub_snapshots_total"), 1.0);
    let version = format!(
        "zkhub_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(m.value(&version), 1.0);
    assert!(m.value("zkhub_commit_latency_seconds_count") >= 1.0);

    // OpenMetrics: a counter `x_total` is the family `x`; no other family may be `x`.
    for (name, kind) in &m.types {
        if kind == "counter" {
            let family = name.strip_suffix("_total").expect("counters end in _total");
            assert!(
                !m.types.contains_key(family),
                "{family} clashes with {name}"
            );
        }
    }
    // Bucket bounds are exact decimals: each reads back as it was written.
    let mut bounds = 0;
    for key in m.samples.keys() {
        if let Some((_, le)) = key.split_once("le=\"") {
            let le = le.trim_end_matches("\"}");
            if le != "+Inf" {
                let parsed: f64 = le.parse().expect("a number");
                assert_eq!(parsed.to_string(), le, "float noise in {key}");
                bounds += 1;
            }
        }
    }
    assert!(bounds > 20, "histograms rendered: {bounds} bounds");
}

/// `GET /metrics/timeline` shows, in the slices of the last minute, what a real session
/// made the hub do: the upgrade and `hello`, the checkpoints verified, the group
/// commits with their payments, and the hub's own ack latency for every checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_shows_every_stage_of_a_real_session() {
    let hub = TestHub::start().await;
    let addr = hub.handle.local_addr();
    let since = hub::timeline::unix_ms(std::time::SystemTime::now());
    let (alice, alice_key) = hub.open(1, 10_000).await;
    let (bob, _) = hub.open(2, 5).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key, hub.hub_id());
    // 32 vouchers, a checkpoint every 8: four checkpoints, in two messages.
    c.pay_json(alice, &p.run(bob, 3, 16, 8)).await;
    c.await_ack(16).await;
    c.pay_json(alice, &p.run(bob, 3, 16, 8)).await;
    c.await_ack(32).await;
    // The ack for the last checkpoint is recorded once it is written: give the
    // session's writer its turn.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let (status, text) = http_get(addr, &format!("/metrics/timeline?since={since}")).await;
    assert_eq!(status, 200);
    let report: hub::timeline::TimelineReport =
        serde_json::from_str(&text).expect("the timeline is JSON");
    assert_eq!(report.slice_ms, 100);
    assert!(report.slices.iter().all(|s| s.t_unix_ms + 100 > since));
    let mut all = hub::timeline::SliceStats::default();
    for s in &report.slices {
        all.merge(s);
    }
    assert_eq!((all.accepted, all.hellos), (1, 1));
    assert_eq!(all.verified, 4, "four checkpoints verified");
    assert_eq!(all.payments, 32, "every payment committed");
    assert!(all.commits >= 1 && all.commit_max_us > 0);
    assert_eq!(
        all.acked, 2,
        "the hub timed each message to its last checkpoint's ack"
    );
    assert!(all.ack_max_us > 0 && all.ack_sum_us >= all.ack_max_us);

    // A start in the future gives no slices; a malformed start is a client error.
    let later = since + 3_600_000;
    let (_, text) = http_get(addr, &format!("/metrics/timeline?since={later}")).await;
    assert!(text.contains("\"slices\":[]"), "{text}");
    let (status, _) = http_get(addr, "/metrics/timeline?since=soon").await;
    assert_eq!(status, 400);
}
