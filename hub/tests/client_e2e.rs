//! `hub::client` end to end against a real hub on 127.0.0.1 (real sockets, real redb
//! in a temp dir, real signatures): two fans tip a creator, acks, credits and
//! verified receipts arrive, a rejected tip fails alone, and a hub restart in the
//! middle of a stream is survived by reconnect + resend with every payment applied
//! exactly once.

use std::net::SocketAddr;
use std::time::Duration;

use channel::client::{PayerConfig, SigningPolicy};
use channel::codec::ErrorCode;
use channel::crypto::{PrivateKey, PublicKey};
use channel::{Amount, ChannelId};
use hub::client::{Client, ClientConfig, ClientEvent, PayeeEvent, Subscription, subscribe};
use hub::{Hub, HubConfig, HubHandle};
use rand::SeedableRng;

const WAIT: Duration = Duration::from_secs(20);

fn key(seed: u64) -> PrivateKey {
    PrivateKey::random(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

fn config(listen: SocketAddr, dir: &std::path::Path) -> HubConfig {
    let mut c = HubConfig::ephemeral(dir);
    c.listen = listen;
    c.verifier_threads = 1;
    c.receipt_interval = Duration::from_millis(100);
    c
}

async fn start(dir: &std::path::Path) -> HubHandle {
    Hub::start(config(SocketAddr::from(([127, 0, 0, 1], 0)), dir))
        .await
        .expect("hub starts")
}

async fn hub_key(hub: &HubHandle) -> PublicKey {
    hub.operator()
        .settlement()
        .await
        .hub()
        .expect("the hub registered itself")
        .pk
}

async fn open(hub: &HubHandle, seed: u64, deposit: Amount) -> (ChannelId, PrivateKey) {
    let key = key(seed);
    let done = hub
        .operator()
        .deposit(&[(key.public(), deposit)])
        .await
        .expect("deposit");
    (done[0].channel, key)
}

fn client_config(hub_key: PublicKey, policy: SigningPolicy, binary: bool) -> ClientConfig {
    ClientConfig {
        payer: PayerConfig {
            policy,
            ..PayerConfig::default()
        },
        hub_key: Some(hub_key),
        binary,
        ..ClientConfig::default()
    }
}

/// Read subscription events until a credit brings the cumulative total to `total`.
async fn credits_until(sub: &mut Subscription, total: Amount) -> Vec<Amount> {
    let mut credits = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            if let PayeeEvent::Credit(c) = sub.next().await.expect("subscription alive") {
                credits.push(c.amount);
                assert!(c.received <= total, "credited {} of {total}", c.received);
                if c.received == total {
                    return;
                }
            }
        }
    })
    .await
    .expect("credits arrive");
    credits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fans_tip_a_creator() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path()).await;
    let url = hub.ws_url();
    let hub_pk = hub_key(&hub).await;
    let (creator, creator_key) = open(&hub, 1, 1).await;
    let (fan_a, key_a) = open(&hub, 2, 10_000).await;
    let (fan_b, key_b) = open(&hub, 3, 10_000).await;

    let mut sub = subscribe(&url, creator, hub_pk).await.expect("subscribe");
    // A browser-like fan signs every tip (JSON); a busy one signs every 8th (binary).
    let a = Client::connect_with(
        &url,
        key_a,
        fan_a,
        client_config(hub_pk, SigningPolicy::EveryVoucher, false),
    )
    .await
    .expect("fan a connects");
    let b = Client::connect_with(
        &url,
        key_b,
        fan_b,
        client_config(hub_pk, SigningPolicy::EveryK(8), true),
    )
    .await
    .expect("fan b connects");
    let mut a_events = a.events();

    for i in 0..10 {
        a.pay(creator, 10 + i).await.expect("a tips");
    }
    for _ in 0..50 {
        b.pay(creator, 3).await.expect("b tips");
    }
    let a_spent: Amount = (10..20).sum();
    let b_spent: Amount = 150;
    assert_eq!(a.flush().await.expect("a flushed"), 10);
    assert_eq!(b.flush().await.expect("b flushed"), 50);

    let sa = a.status().await.expect("status");
    assert_eq!(
        (sa.seq, sa.spent, sa.balance),
        (10, a_spent, 10_000 - a_spent)
    );
    let sb = b.status().await.expect("status");
    assert_eq!(
        (sb.seq, sb.spent, sb.balance),
        (50, b_spent, 10_000 - b_spent)
    );

    let credits = credits_until(&mut sub, a_spent + b_spent).await;
    assert_eq!(credits.iter().sum::<Amount>(), a_spent + b_spent);
    assert_eq!(sub.received(), a_spent + b_spent);

    // The creator's own session: a receipt on request, verified under the hub's key.
    let c = Client::connect_with(
        &url,
        creator_key,
        creator,
        client_config(hub_pk, SigningPolicy::EveryVoucher, true),
    )
    .await
    .expect("creator connects");
    let receipt = c.receipt().await.expect("receipt verifies");
    assert_eq!(
        (receipt.channel, receipt.received),
        (creator, a_spent + b_spent)
    );
    // Pushed receipts reach the subscription too, verified and kept.
    tokio::time::timeout(WAIT, async {
        while sub
            .latest_receipt()
            .is_none_or(|r| r.received < a_spent + b_spent)
        {
            sub.next().await.expect("subscription alive");
        }
    })
    .await
    .expect("a pushed receipt arrives");

    // A tip to a channel that does not exist fails alone; the next one goes through.
    let bad = a.pay(999, 5).await.expect("built locally");
    a.flush().await.expect("flush after a reject");
    let failed = tokio::time::timeout(WAIT, async {
        loop {
            if let ClientEvent::Failed { voucher, code, .. } =
                a_events.recv().await.expect("events")
            {
                return (voucher, code);
            }
        }
    })
    .await
    .expect("the failure is reported");
    assert_eq!(failed, (bad.clone(), ErrorCode::UnknownPayee));
    let next = a.pay(creator, 7).await.expect("tips again");
    assert_eq!(next.seq, bad.seq, "the failed seq is reused");
    a.flush().await.expect("flushed");
    assert_eq!(a.status().await.unwrap().spent, a_spent + 7);
    assert_eq!(
        credits_until(&mut sub, a_spent + b_spent + 7).await,
        vec![7]
    );

    a.close().await;
    b.close().await;
    c.close().await;
    hub.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_restart_mid_stream_is_resent_and_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path()).await;
    let addr = hub.local_addr();
    let url = hub.ws_url();
    let hub_pk = hub_key(&hub).await;
    let (creator, _) = open(&hub, 11, 1).await;
    let (fan, fan_key) = open(&hub, 12, 1_000_000).await;
    let mut cfg = client_config(hub_pk, SigningPolicy::EveryK(16), true);
    cfg.reconnect_max = Duration::from_millis(200);
    let client = Client::connect_with(&url, fan_key, fan, cfg)
        .await
        .expect("connects");
    let mut events = client.events();

    // 300 tips; the hub goes down after the first 100 and comes back on the same port.
    let mut paid: Amount = 0;
    for i in 0..100u64 {
        paid += 1 + i % 5;
        client.pay(creator, 1 + i % 5).await.expect("tip");
    }
    hub.shutdown().await.expect("shutdown");
    for i in 100..300u64 {
        paid += 1 + i % 5;
        client
            .try_pay(creator, 1 + i % 5)
            .expect("tips are built while disconnected");
    }
    let hub = Hub::start(config(addr, dir.path()))
        .await
        .expect("hub restarts on the same port");
    let acked = client
        .flush()
        .await
        .expect("everything acked after the restart");
    assert_eq!(acked, 300);

    let mut reconnected = false;
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e, ClientEvent::Failed { .. }),
            "nothing fails: {e:?}"
        );
        reconnected |= matches!(e, ClientEvent::Reconnected { .. });
    }
    assert!(reconnected, "the client reconnected on its own");
    let status = client.status().await.expect("status");
    assert_eq!((status.seq, status.spent), (300, paid));
    let creator_record = hub.channels().record(creator).expect("creator");
    assert_eq!(
        creator_record.received, paid,
        "every tip applied exactly once"
    );

    client.close().await;
    hub.shutdown().await.expect("clean shutdown");
}
