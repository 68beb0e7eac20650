//! HTTP on the hub's port: health, Prometheus metrics, the operator's channel status,
//! and the operator interface driving the in-process settlement layer through a whole
//! epoch: deposit, pay, exit, cut (snapshot), close, withdraw.
//!
//! The close is checked by a test [`CloseBackend`] that recomputes the public inputs
//! from the hub's own snapshot and accepts a proof equal to `b"proof"`: the Spartan
//! verifier lives in `closer` (the `zkhub` binary passes it in), and what is tested
//! here is the hub's plumbing around it, not the proof system.

mod server_util;

use std::sync::Arc;

use server_util::{
    AcceptTestProofs, Client, JsonProofFiles, Payer, TestHub, close, hex_pk, http, http_get, key,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_metrics_and_channel_status() {
    let hub = TestHub::start().await;
    let addr = hub.handle.local_addr();
    let (alice, alice_key) = hub.open(1, 500).await;
    let (bob, _) = hub.open(2, 5).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key, hub.hub_id());
    c.pay_json(alice, &p.run(bob, 4, 3, 3)).await;
    c.await_ack(3).await;

    assert_eq!(http_get(addr, "/healthz").await, (200, "ok\n".to_string()));

    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "zkhub_connections_open 1",
        "zkhub_sessions_bound 1",
        "zkhub_vouchers_accepted_total 3",
        "zkhub_pending_vouchers 0",
        "zkhub_commit_payments_total 3",
        "zkhub_fsync_seconds_count",
        "zkhub_commit_batch_size_bucket{le=\"+Inf\"}",
        "zkhub_commit_latency_seconds_sum",
        "zkhub_refused_total{code=\"1001\",name=\"BadSeq\"} 0",
    ] {
        assert!(body.contains(line), "metrics lack {line:?}:\n{body}");
    }

    let (status, body) = http_get(addr, &format!("/v1/channels/{alice}")).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"]["seq"], 3);
    assert_eq!(v["status"]["spent"], 12);
    assert_eq!(v["status"]["balance"], 488);
    assert_eq!(v["pending_count"], 0);
    assert_eq!(http_get(addr, "/v1/channels/4242").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_interface_can_be_disabled() {
    let hub = TestHub::start_with(|c| c.operator = hub::config::OperatorAccess::Disabled).await;
    let addr = hub.handle.local_addr();
    assert_eq!(http_get(addr, "/operator/settlement").await.0, 403);
    assert_eq!(http_get(addr, "/v1/channels/1").await.0, 403);
    assert_eq!(http(addr, "POST", "/operator/cut", "").await.0, 403);
    assert_eq!(
        http_get(addr, "/healthz").await.0,
        200,
        "health stays public"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_epoch_through_the_operator_interface() {
    let hub = TestHub::start_with(|c| {
        c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs)))
    })
    .await;
    let addr = hub.handle.local_addr();
    let alice_key = key(1);
    let bob_key = key(2);

    // Deposits over HTTP: one, then a batch.
    let body = format!(r#"{{"pk":"{}","amount":1000}}"#, hex_pk(&alice_key));
    let (status, resp) = http(addr, "POST", "/operator/deposit", &body).await;
    assert_eq!(status, 200, "{resp}");
    let alice: u32 = serde_json::from_str::<serde_json::Value>(&resp).expect("json")["channel"]
        .as_u64()
        .expect("id") as u32;
    let body = format!(
        r#"{{"deposits":[{{"pk":"{}","amount":"50"}}]}}"#,
        hex_pk(&bob_key)
    );
    let (status, resp) = http(addr, "POST", "/operator/deposit", &body).await;
    assert_eq!(status, 200, "{resp}");
    let bob = alice + 1;
    assert!(resp.contains(&format!("[{bob}]")), "{resp}");
    let (status, _) = http(
        addr,
        "POST",
        "/operator/topup",
        &format!(r#"{{"channel":{bob},"amount":25}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        hub.handle.channels().record(bob).expect("bob").deposit,
        75,
        "mirrored into the ledger"
    );

    // Alice pays Bob 300, then exits.
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key.clone(), hub.hub_id());
    c.pay_json(alice, &p.run(bob, 100, 3, 3)).await;
    c.await_ack(3).await;
    let (status, resp) = exit(addr, hub.hub_id(), &alice_key, alice).await;
    assert_eq!(status, 200, "{resp}");
    assert!(hub.handle.channels().record(alice).expect("alice").exiting);

    // Cut epoch 1: the epoch notification reaches the session, the snapshot is written.
    let (status, resp) = http(addr, "POST", "/operator/cut", "").await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains(r#""epoch":1"#), "{resp}");
    assert_eq!(hub.handle.epoch(), 2, "payments now accumulate in epoch 2");
    loop {
        if let channel::codec::ServerMessage::Epoch(e) = c.recv_msg().await {
            assert_eq!(e.epoch, 2);
            break;
        }
    }

    // Withdrawing before the close is refused by the settlement layer.
    assert_eq!(withdraw(addr, alice).await.0, 422);

    // Close with the inputs computed from the snapshot; a wrong proof is refused.
    assert_eq!(close(addr, hub.dir.path(), 1, "forged").await.0, 422);
    let (status, resp) = close(addr, hub.dir.path(), 1, "proof").await;
    assert_eq!(status, 200, "{resp}");

    // Alice withdraws B = 1000 − 300; the ledger mirrors it (B drops to 0).
    let (status, resp) = withdraw(addr, alice).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains(r#""paid":700"#), "{resp}");
    let a = hub.handle.channels().record(alice).expect("alice");
    assert_eq!((a.deposit, a.spent, a.balance()), (300, 300, Some(0)));
    assert_eq!(withdraw(addr, alice).await.0, 422, "at most once per close");
    let (status, resp) = http_get(addr, "/operator/settlement").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&resp).expect("json");
    assert_eq!(v["latest_epoch"], 1);
    assert_eq!(v["last_accepted"], 1);
    assert_eq!(v["channels"], 2);
    let (status, resp) = http_get(addr, &format!("/operator/opening?channel={bob}")).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains(r#""balance":375"#), "{resp}");

    // Bob, a payee, cashes out everything he was paid in epoch 2: B = 75 + 300 = 375,
    // more than his net deposit of 75, which goes to −300 in the ledger too.
    assert_eq!(exit(addr, hub.hub_id(), &bob_key, bob).await.0, 200);
    let (status, resp) = http(addr, "POST", "/operator/cut", "").await;
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = close(addr, hub.dir.path(), 2, "proof").await;
    assert_eq!(status, 200, "{resp}");
    let (status, resp) = withdraw(addr, bob).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains(r#""paid":375"#), "{resp}");
    let b = hub.handle.channels().record(bob).expect("bob");
    assert_eq!((b.deposit, b.received, b.balance()), (-300, 300, Some(0)));
    let totals = hub.handle.channels().totals();
    assert_eq!(
        totals.deposits,
        300 - 300,
        "Σ D = Σ B = 0: everything paid out"
    );

    // The negative net deposit is durable: a restart reads it back, and the wire
    // status shows it.
    let hub = hub
        .restart(|c| c.close_verifier = Some(Arc::new(JsonProofFiles(AcceptTestProofs))))
        .await;
    let b = hub
        .handle
        .channels()
        .record(bob)
        .expect("bob after restart");
    assert_eq!((b.deposit, b.balance()), (-300, Some(0)));
    let (status, resp) = http_get(hub.handle.local_addr(), &format!("/v1/channels/{bob}")).await;
    assert_eq!(status, 200, "{resp}");
    assert!(resp.contains(r#""deposit":-300"#), "{resp}");
}

/// `POST /operator/exit` with the channel key's exit signature.
async fn exit(
    addr: std::net::SocketAddr,
    hub_id: u64,
    key: &channel::crypto::PrivateKey,
    channel: u32,
) -> (u16, String) {
    let sig = key.sign(&channel::settlement::exit_message(hub_id, channel));
    let body = format!(
        r#"{{"channel":{channel},"sig":"{}"}}"#,
        hex::encode(sig.pack())
    );
    http(addr, "POST", "/operator/exit", &body).await
}

/// `POST /operator/withdraw` for `channel`.
async fn withdraw(addr: std::net::SocketAddr, channel: u32) -> (u16, String) {
    let body = format!(r#"{{"channel":{channel}}}"#);
    http(addr, "POST", "/operator/withdraw", &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_deposit_says_which_field_and_what_shape() {
    let hub = TestHub::start().await;
    let addr = hub.handle.local_addr();
    for (body, says) in [
        (
            r#"{"pk":"deadbeef","amount":100}"#,
            "`pk` has 8 characters; a packed public key has 64 hex characters",
        ),
        (r#"{"amount":100}"#, "missing field `pk`"),
        (
            r#"{"pk":12,"amount":100}"#,
            "`pk` is a number, not a hex string",
        ),
        (
            &format!(r#"{{"pk":"{}","amount":-5}}"#, hex_pk(&key(1))),
            "`amount` is -5: it must be a whole number of base units",
        ),
        (
            r#"{"deposits":[{"pk":"x","amount":1}]}"#,
            "deposits[0]: `pk` has 1 characters",
        ),
        ("deposit please", "the body is not JSON"),
    ] {
        let (status, resp) = http(addr, "POST", "/operator/deposit", body).await;
        assert_eq!(status, 400, "{body}: {resp}");
        let v: serde_json::Value = serde_json::from_str(&resp).expect("json error");
        let error = v["error"].as_str().expect("error text");
        assert!(error.contains(says), "{body}: {error}");
        assert!(
            error.contains(r#"expected {"pk": "<packed public key"#),
            "{error}"
        );
        assert!(!error.contains("untagged"), "{error}");
    }
    // A key of the right length that is not on the curve: the hub says so.
    let (status, resp) = http(
        addr,
        "POST",
        "/operator/deposit",
        &format!(r#"{{"pk":"{}","amount":1}}"#, "ff".repeat(32)),
    )
    .await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp.contains("is not a Baby Jubjub public key"), "{resp}");
    // Other routes name their shape too.
    let (status, resp) = http(addr, "POST", "/operator/topup", r#"{"channel":1}"#).await;
    assert_eq!(status, 400, "{resp}");
    assert!(resp.contains("missing field `amount`"), "{resp}");
    assert!(
        resp.contains(r#"{\"channel\": <id>, \"amount\": <base units>}"#),
        "{resp}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_tells_the_hub_id_public_key_epoch_limits_and_version() {
    let hub = TestHub::start_with(|c| c.limits.max_vouchers_per_message = 77).await;
    let addr = hub.handle.local_addr();
    let (status, body) = http_get(addr, "/v1/info").await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["hub_id"], hub.hub_id());
    assert_eq!(
        v["public_key"].as_str(),
        Some(hex::encode(hub.handle.public_key().pack()).as_str())
    );
    assert_eq!(v["epoch"], 1);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["limits"]["max_vouchers_per_message"], 77);

    // The key verifies the receipts the hub signs.
    let (alice, alice_key) = hub.open(1, 50).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let receipt = match c.request(channel::codec::Request::Receipt).await.0 {
        Ok(channel::codec::Reply::Receipt(r)) => r,
        other => panic!("receipt answered {other:?}"),
    };
    let mut packed = [0u8; 32];
    hex::decode_to_slice(v["public_key"].as_str().expect("hex"), &mut packed).expect("hex");
    let pk = channel::crypto::PublicKey::unpack(&packed).expect("a key");
    let message = channel::types::receipt_message(
        receipt.hub_id,
        receipt.epoch,
        receipt.channel,
        receipt.received,
    );
    pk.verify(&message, &receipt.sig)
        .expect("the /v1/info key signs receipts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_directory_hides_node_modules_and_tests() {
    let web = tempfile::tempdir().expect("tempdir");
    for (path, text) in [
        ("index.html", "<p>tip jar</p>"),
        ("js/app.js", "app"),
        ("node_modules/dep/index.js", "dependency"),
        ("test/tip.test.mjs", "test"),
        (".env", "secret"),
    ] {
        let file = web.path().join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    let dir = web.path().to_path_buf();
    let hub = TestHub::start_with(|c| c.static_dir = Some(dir)).await;
    let addr = hub.handle.local_addr();
    assert_eq!(
        http_get(addr, "/index.html").await,
        (200, "<p>tip jar</p>".into())
    );
    assert_eq!(http_get(addr, "/js/app.js").await.0, 200);
    for hidden in [
        "/node_modules/dep/index.js",
        "/test/tip.test.mjs",
        "/.env",
        "/%6Eode_modules/dep/index.js",
    ] {
        assert_eq!(http_get(addr, hidden).await.0, 404, "{hidden} is served");
    }
}
