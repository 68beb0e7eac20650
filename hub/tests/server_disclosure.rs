//! Disclosure material over the wire (issue 17; docs/PROTOCOL.md §4.6): a real hub on
//! 127.0.0.1 closes two epochs (proofs checked by the test backend that recomputes the
//! public inputs), then a client authenticated by its channel's `hello` fetches its own
//! disclosure with the `disclosure` request and an auditor verifies it against the
//! settlement layer's record; nobody gets another channel's, and the operator route
//! serves the same file.

mod server_util;

use std::sync::Arc;

use channel::codec::{DisclosureRequest, ErrorCode, Reply, Request};
use channel::disclosure::Disclosure;
use server_util::{
    AcceptTestProofs, Client, JsonProofFiles, Payer, TestHub, close, http, http_get,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_fetches_its_own_disclosure_and_an_auditor_verifies_it() {
    let hub = TestHub::start_with(|c| {
        c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs)))
    })
    .await;
    let addr = hub.handle.local_addr();
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, bob_key) = hub.open(2, 10).await;

    // Epoch 1: Alice pays Bob 300; epoch 2: 50 more.
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key.clone(), hub.hub_id());
    c.pay_json(alice, &p.run(bob, 100, 3, 3)).await;
    c.await_ack(3).await;
    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 200);
    assert_eq!(close(addr, hub.dir.path(), 1, "proof").await.0, 200);
    c.pay_json(alice, &p.run(bob, 50, 1, 1)).await;
    c.await_ack(4).await;
    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 200);

    // Before the close of epoch 2: not available, and the session stays usable.
    let mut b = Client::connect(&hub.url()).await;
    let ask = |epoch| {
        Request::Disclosure(DisclosureRequest {
            epoch,
            previous: true,
        })
    };
    let (result, _) = b.request(ask(2)).await;
    assert_eq!(
        result.expect_err("before hello").error_code(),
        Some(ErrorCode::NotAuthenticated)
    );
    b.hello(bob, &bob_key).await.expect("hello");
    let (result, _) = b.request(ask(2)).await;
    assert_eq!(
        result.expect_err("not closed").error_code(),
        Some(ErrorCode::NotAvailable)
    );
    assert_eq!(close(addr, hub.dir.path(), 2, "proof").await.0, 200);

    // Bob's own disclosure of epoch 2 with epoch 1: 50 received in the epoch.
    let (result, _) = b.request(ask(2)).await;
    let Ok(Reply::Disclosure(d)) = result else {
        panic!("a disclosure: {result:?}");
    };
    assert_eq!(d.channel, bob, "the session's channel, never another");
    let settlement = hub.handle.operator().settlement().await;
    let report = d
        .verify(&settlement)
        .expect("holds against the settlement layer");
    assert_eq!(report.received, 350);
    let epoch = report.in_epoch.expect("epoch 1 included");
    assert_eq!((epoch.since, epoch.received, epoch.spent), (1, 50, 0));
    // Without the epoch before.
    let (result, _) = b
        .request(Request::Disclosure(DisclosureRequest {
            epoch: 1,
            previous: false,
        }))
        .await;
    let Ok(Reply::Disclosure(first)) = result else {
        panic!("a disclosure: {result:?}");
    };
    assert!(first.previous.is_none());
    assert_eq!(first.verify(&settlement).expect("holds").received, 300);

    // The operator route serves the same file; it parses as a disclosure file.
    let (status, body) =
        http_get(addr, &format!("/operator/disclosure?channel={bob}&epoch=2")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(Disclosure::from_json(body.as_bytes()).expect("a file"), *d);
    let (status, body) = http_get(addr, "/operator/disclosure?channel=9&epoch=2").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("channel 9 is not in the snapshot"), "{body}");
}

/// What `zkhub close` does for an incremental close of `epoch` (test proof format).
fn prove_incremental(
    previous: &channel::incremental::ClosedState,
    dir: &std::path::Path,
    epoch: u64,
) -> (String, channel::incremental::ClosedState) {
    let snapshot = hub::store::read_snapshot(dir, epoch).expect("snapshot");
    let (witness, next) = previous
        .close(&snapshot, &server_util::volume_blind(dir, epoch))
        .expect("witness");
    let file = serde_json::json!({
        "statement": "incremental",
        "inputs": witness.inputs,
        "proof": "proof",
    });
    (file.to_string(), next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_close_is_disclosed_from_the_kept_state() {
    let hub = TestHub::start_with(|c| {
        c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs)))
    })
    .await;
    let addr = hub.handle.local_addr();
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, bob_key) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key.clone(), hub.hub_id());

    // Two incremental closes: 300 to Bob in epoch 1, 50 in epoch 2.
    let genesis = channel::incremental::ClosedState::genesis(hub.hub_id());
    c.pay_json(alice, &p.run(bob, 100, 3, 3)).await;
    c.await_ack(3).await;
    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 200);
    let (file, state1) = prove_incremental(&genesis, hub.dir.path(), 1);
    let (status, body) = http(addr, "POST", "/operator/close", &file).await;
    assert_eq!(status, 200, "{body}");
    c.pay_json(alice, &p.run(bob, 50, 1, 1)).await;
    c.await_ack(4).await;
    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 200);
    let (file, _) = prove_incremental(&state1, hub.dir.path(), 2);
    let (status, body) = http(addr, "POST", "/operator/close", &file).await;
    assert_eq!(status, 200, "{body}");

    let mut b = Client::connect(&hub.url()).await;
    b.hello(bob, &bob_key).await.expect("hello");
    let (result, _) = b
        .request(Request::Disclosure(DisclosureRequest {
            epoch: 2,
            previous: true,
        }))
        .await;
    let Ok(Reply::Disclosure(d)) = result else {
        panic!("a disclosure: {result:?}");
    };
    assert!(d.epoch.opening.state.is_some(), "a state-tree opening");
    let settlement = hub.handle.operator().settlement().await;
    let report = d
        .verify(&settlement)
        .expect("holds against the state roots");
    assert_eq!(report.kind, channel::settlement::CloseKind::Incremental);
    assert_eq!(report.net_deposit, Some(10));
    let epoch = report
        .in_epoch
        .expect("epoch 1 included (from its saved state)");
    assert_eq!((epoch.received, report.received), (50, 350));
}
