//! The hub keeps what each accepted incremental close left (docs/DESIGN.md §8.2):
//! it rebuilds the state after the epoch from its own snapshot before submitting a
//! close, refuses a proof of any other root, saves the state after acceptance, opens
//! withdrawals from it, and gets it back at every restart — from the saved file, or,
//! when that file is lost or corrupt, by replaying the close from the epoch snapshot.
//!
//! Proofs here are the test backend's (`b"proof"`, see `server_util`); the inputs are
//! computed the way `zkhub close` computes them. Real proofs of the same flow run in
//! the root crate's `tests/demo_incremental.rs`.

mod server_util;

use std::sync::Arc;

use channel::incremental::ClosedState;
use hub::store::{closed_state_path, read_closed_state};
use server_util::{AcceptTestProofs, Client, JsonProofFiles, Payer, TestHub, http, http_get};

fn with_test_proofs(c: &mut hub::HubConfig) {
    c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs)));
}

/// What `zkhub close` does for `epoch`: the witness from the previous state and the
/// epoch's snapshot. Returns the proof file (test format) and the state after it.
fn prove(previous: &ClosedState, dir: &std::path::Path, epoch: u64) -> (String, ClosedState) {
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

async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> serde_json::Value {
    let (status, resp) = http(addr, "POST", path, body).await;
    assert_eq!(status, 200, "{path}: {resp}");
    serde_json::from_str(&resp).expect("json")
}

async fn exit(hub: &TestHub, key: &channel::crypto::PrivateKey, channel: u32) {
    let sig = key.sign(&channel::settlement::exit_message(hub.hub_id(), channel));
    let body = format!(
        r#"{{"channel":{channel},"sig":"{}"}}"#,
        hex::encode(sig.pack())
    );
    post(hub.handle.local_addr(), "/operator/exit", &body).await;
}

/// Alice (1,000) pays Bob (50) 300 and exits; epoch 1 is cut.
async fn first_epoch(hub: &TestHub) -> (u32, u32) {
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 50).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key.clone(), hub.hub_id());
    c.pay_json(alice, &p.run(bob, 100, 3, 3)).await;
    c.await_ack(3).await;
    exit(hub, &alice_key, alice).await;
    post(hub.handle.local_addr(), "/operator/cut", "").await;
    (alice, bob)
}

async fn opening(hub: &TestHub, channel: u32) -> serde_json::Value {
    let (status, resp) = http_get(
        hub.handle.local_addr(),
        &format!("/operator/opening?channel={channel}"),
    )
    .await;
    assert_eq!(status, 200, "{resp}");
    serde_json::from_str(&resp).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_keeps_the_incremental_state_across_restarts_and_withdrawals_open_from_it() {
    let hub = TestHub::start_with(with_test_proofs).await;
    let (alice, bob) = first_epoch(&hub).await;
    let (file, state1) = prove(&ClosedState::genesis(hub.hub_id()), hub.dir.path(), 1);
    let reply = post(hub.handle.local_addr(), "/operator/close", &file).await;
    assert_eq!(reply["statement"], "incremental", "{reply}");
    assert_eq!(reply["inputs"]["n"], 2, "{reply}");

    // Saved, and the same state the prover holds.
    let saved = read_closed_state(hub.dir.path(), 1).expect("saved state");
    assert_eq!(saved.root(), state1.root());

    // Alice withdraws 1,000 − 300 from a leaf the hub opened in its own state.
    let paid = post(
        hub.handle.local_addr(),
        "/operator/withdraw",
        &format!(r#"{{"channel":{alice}}}"#),
    )
    .await;
    assert_eq!(paid["paid"], 700, "{paid}");
    let bob_opening = opening(&hub, bob).await;
    assert_eq!(bob_opening["balance"], 350, "{bob_opening}");
    assert!(
        !bob_opening["state"].is_null(),
        "an opening of the state tree: {bob_opening}"
    );

    // A restart reads the saved state back: the same opening.
    let hub = hub.restart(with_test_proofs).await;
    assert_eq!(opening(&hub, bob).await, bob_opening);

    // Epoch 2: only Alice moved (her withdrawal changed her net deposit).
    post(hub.handle.local_addr(), "/operator/cut", "").await;
    let (file, state2) = prove(&state1, hub.dir.path(), 2);
    let reply = post(hub.handle.local_addr(), "/operator/close", &file).await;
    assert_eq!(reply["inputs"]["n"], 1, "{reply}");

    // The saved state of epoch 2 is lost: the next start rebuilds it from the epoch's
    // snapshot, checks it against the accepted root and saves it again.
    let lost = closed_state_path(hub.dir.path(), 2);
    std::fs::remove_file(&lost).expect("remove");
    // (The state loads beside the start; the opening waits for it.)
    let hub = hub.restart(with_test_proofs).await;
    let after = opening(&hub, bob).await;
    assert_eq!(after["epoch"], 2, "{after}");
    assert_eq!(after["balance"], 350, "{after}");
    assert!(lost.exists(), "saved again at start");
    assert_eq!(
        read_closed_state(hub.dir.path(), 2)
            .expect("rebuilt")
            .root(),
        state2.root()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_rebuilt_from_the_snapshot_at_start() {
    let hub = TestHub::start_with(with_test_proofs).await;
    let (_, bob) = first_epoch(&hub).await;
    let (file, state1) = prove(&ClosedState::genesis(hub.hub_id()), hub.dir.path(), 1);
    post(hub.handle.local_addr(), "/operator/close", &file).await;
    let before = opening(&hub, bob).await;

    let path = closed_state_path(hub.dir.path(), 1);
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, bytes).expect("corrupt");
    let hub = hub.restart(with_test_proofs).await;
    assert_eq!(opening(&hub, bob).await, before);
    assert_eq!(
        read_closed_state(hub.dir.path(), 1)
            .expect("rebuilt")
            .root(),
        state1.root()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_whose_new_root_is_not_the_hubs_state_is_refused_before_verification() {
    let hub = TestHub::start_with(with_test_proofs).await;
    first_epoch(&hub).await;
    let (file, _) = prove(&ClosedState::genesis(hub.hub_id()), hub.dir.path(), 1);
    let mut forged: serde_json::Value = serde_json::from_str(&file).expect("json");
    forged["inputs"]["new_root"] = "7".into();
    let (status, resp) = http(
        hub.handle.local_addr(),
        "POST",
        "/operator/close",
        &forged.to_string(),
    )
    .await;
    assert_eq!(status, 422, "{resp}");
    assert!(
        resp.contains("not this hub's state after epoch 1"),
        "{resp}"
    );
    assert!(
        !closed_state_path(hub.dir.path(), 1).exists(),
        "nothing saved"
    );
    let (_, summary) = http_get(hub.handle.local_addr(), "/operator/settlement").await;
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    assert!(summary["last_accepted"].is_null(), "{summary}");

    // The hub's own root is accepted afterwards.
    let reply = post(hub.handle.local_addr(), "/operator/close", &file).await;
    assert_eq!(reply["accepted"], true, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_whose_volume_commitment_is_not_the_hubs_is_refused() {
    let hub = TestHub::start_with(with_test_proofs).await;
    first_epoch(&hub).await;
    let dir = hub.dir.path();
    let snapshot = hub::store::read_snapshot(dir, 1).expect("snapshot");
    let genesis = ClosedState::genesis(hub.hub_id());
    // The right volume with another blind (another epoch's, or a seed's not the hub's),
    // and the right blind with an understated volume.
    let right = server_util::volume_blind(dir, 1);
    let (witness, _) = genesis.close(&snapshot, &right).expect("witness");
    assert_eq!(witness.volume, 300, "Alice paid Bob 300 in epoch 1");
    let mut forgeries = Vec::new();
    for blind in [
        server_util::volume_blind(dir, 2),
        channel::volume::volume_blind(&channel::Fe::from(1u64), 1),
    ] {
        forgeries.push(genesis.close(&snapshot, &blind).expect("witness").0.inputs);
    }
    let mut understated = witness.inputs;
    understated.volume_commitment = channel::volume::volume_commitment(299, &right);
    forgeries.push(understated);
    for inputs in forgeries {
        let file = serde_json::json!({
            "statement": "incremental", "inputs": inputs, "proof": "proof",
        });
        let (status, resp) = http(
            hub.handle.local_addr(),
            "POST",
            "/operator/close",
            &file.to_string(),
        )
        .await;
        assert_eq!(status, 422, "{resp}");
        assert!(
            resp.contains("volume commitment is not this hub's"),
            "{resp}"
        );
    }

    // The hub's own is accepted, and the operator attests its volume.
    let (file, _) = prove(&genesis, dir, 1);
    post(hub.handle.local_addr(), "/operator/close", &file).await;
    let (status, resp) = http_get(hub.handle.local_addr(), "/operator/attestation?epoch=1").await;
    assert_eq!(status, 200, "{resp}");
    let attestation =
        channel::volume::VolumeAttestation::from_json(resp.as_bytes()).expect("attestation");
    assert_eq!(attestation.volume, 300);
    let (_, summary) = http_get(hub.handle.local_addr(), "/operator/settlement").await;
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    let settled = channel::volume::SettledVolume {
        hub_id: hub.hub_id(),
        epoch: 1,
        kind: channel::settlement::CloseKind::Incremental,
        volume_commitment: channel::field::fe_from_dec(
            summary["epochs"][0]["volume_commitment"]
                .as_str()
                .expect("Cv"),
        )
        .expect("decimal"),
    };
    assert_eq!(
        summary["epochs"][0]["close_kind"], "Incremental",
        "{summary}"
    );
    assert_eq!(attestation.verify(&settled).expect("holds").volume, 300);
}
