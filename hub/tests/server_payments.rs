//! Payments end to end over real sockets and a real redb store: a payer's vouchers are
//! acked only after their commit is durable, the payee sees the credit, a resend after
//! reconnect is re-acked and never applied twice, and a restart keeps every acked
//! payment.

mod server_util;

use channel::codec::{CloseCode, Reply, Request, ServerMessage};
use channel::types::receipt_message;
use server_util::{Client, Payer, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_payments_are_acked_after_commit_and_credit_the_payee() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, bob_key) = hub.open(2, 10).await;

    let mut payee = Client::connect(&hub.url()).await;
    let status = payee.hello(bob, &bob_key).await.expect("bob hello");
    assert_eq!((status.deposit, status.received, status.seq), (10, 0, 0));

    let mut payer = Client::connect(&hub.url()).await;
    payer.hello(alice, &alice_key).await.expect("alice hello");
    let mut vouchers = Payer::new(alice, alice_key, hub.hub_id());
    // Ten payments, the 5th and the 10th signed.
    let batch = vouchers.run(bob, 7, 10, 5);
    payer.pay_json(alice, &batch).await;
    let (acked, _) = payer.await_ack(10).await;
    assert_eq!(acked, 10);

    // The credits add up to 70 and the last one reports the durable total.
    let mut credited = 0;
    while credited < 70 {
        match payee.recv_msg().await {
            ServerMessage::Credit(c) => {
                assert_eq!(c.channel, bob);
                credited += c.amount;
                assert_eq!(c.received, credited);
            }
            other => panic!("payee got {other:?}"),
        }
    }
    assert_eq!(credited, 70);

    // Committed state, as the hub reports it and as it holds it.
    let (result, _) = payer.request(Request::Status).await;
    let Ok(Reply::Status(s)) = result else {
        panic!("status: {result:?}")
    };
    assert_eq!((s.seq, s.spent, s.balance), (10, 70, 930));
    assert_eq!(s.chain, vouchers.chain);
    let bob_record = hub.handle.channels().record(bob).expect("bob");
    assert_eq!((bob_record.received, bob_record.balance()), (70, Some(80)));

    // The payee asks for a receipt and checks the hub's signature.
    let (result, _) = payee.request(Request::Receipt).await;
    let Ok(Reply::Receipt(r)) = result else {
        panic!("receipt: {result:?}")
    };
    assert_eq!((r.channel, r.received, r.hub_id), (bob, 70, 1));
    let hub_pk = hub
        .handle
        .operator()
        .settlement()
        .await
        .hub()
        .expect("registered")
        .pk;
    hub_pk
        .verify(
            &receipt_message(r.hub_id, r.epoch, r.channel, r.received),
            &r.sig,
        )
        .expect("receipt verifies under the registered hub key");
    hub.handle.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_with_a_checkpoint_every_64_are_acked_in_binary() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000_000).await;
    let (bob, _) = hub.open(2, 1).await;
    let mut payer = Client::connect(&hub.url()).await;
    payer.hello(alice, &alice_key).await.expect("hello");
    let mut vouchers = Payer::new(alice, alice_key, hub.hub_id());
    for _ in 0..4 {
        let frame = vouchers.run(bob, 3, 256, 64);
        payer.pay_binary(&frame).await;
    }
    let (acked, _) = payer.await_ack(1024).await;
    assert_eq!(acked, 1024);
    let record = hub.handle.channels().record(alice).expect("alice");
    assert_eq!((record.seq, record.spent), (1024, 3 * 1024));
    assert_eq!(
        hub.handle.channels().record(bob).expect("bob").received,
        3 * 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_credits_and_an_automatic_receipt() {
    let hub =
        TestHub::start_with(|c| c.receipt_interval = std::time::Duration::from_millis(100)).await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 1).await;
    let mut watcher = Client::connect(&hub.url()).await;
    let Ok(Reply::Subscribed(s)) = watcher.subscribe(bob).await else {
        panic!("subscribe")
    };
    assert_eq!((s.channel, s.received), (bob, 0));

    let mut payer = Client::connect(&hub.url()).await;
    payer.hello(alice, &alice_key).await.expect("hello");
    let mut vouchers = Payer::new(alice, alice_key, hub.hub_id());
    payer.pay_json(alice, &[vouchers.next(bob, 25, true)]).await;
    payer.await_ack(1).await;

    let mut saw_credit = false;
    loop {
        match watcher.recv_msg().await {
            ServerMessage::Credit(c) => {
                assert_eq!((c.channel, c.amount, c.received), (bob, 25, 25));
                saw_credit = true;
            }
            ServerMessage::Receipt(r) => {
                assert!(saw_credit, "the receipt follows the credit");
                assert_eq!((r.channel, r.received), (bob, 25));
                break;
            }
            other => panic!("watcher got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_reconnect_is_reacked_not_reapplied() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 1).await;
    let mut vouchers = Payer::new(alice, alice_key.clone(), hub.hub_id());
    let sent = vouchers.run(bob, 10, 8, 4);

    let mut first = Client::connect(&hub.url()).await;
    first.hello(alice, &alice_key).await.expect("hello");
    first.pay_json(alice, &sent).await;
    first.await_ack(8).await;
    drop(first);

    // A new session resends everything (as if the acks had been lost).
    let mut second = Client::connect(&hub.url()).await;
    let status = second.hello(alice, &alice_key).await.expect("hello again");
    assert_eq!((status.seq, status.spent), (8, 80));
    second.pay_json(alice, &sent).await;
    let (acked, _) = second.await_ack(8).await;
    assert_eq!(acked, 8, "re-acked at the committed seq");
    // Then a new payment goes through on top.
    second.pay_json(alice, &[vouchers.next(bob, 5, true)]).await;
    second.await_ack(9).await;
    let alice_record = hub.handle.channels().record(alice).expect("alice");
    assert_eq!((alice_record.seq, alice_record.spent), (9, 85));
    assert_eq!(
        hub.handle.channels().record(bob).expect("bob").received,
        85,
        "applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hello_takes_the_channel_over_and_drops_staged_vouchers() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 1).await;
    let mut vouchers = Payer::new(alice, alice_key.clone(), hub.hub_id());

    let mut old = Client::connect(&hub.url()).await;
    old.hello(alice, &alice_key).await.expect("hello");
    // Two pending vouchers, never covered.
    old.pay_json(
        alice,
        &[vouchers.next(bob, 1, false), vouchers.next(bob, 1, false)],
    )
    .await;
    let (result, _) = old.request(Request::Ping).await; // the pay was processed
    assert!(matches!(result, Ok(Reply::Pong)));

    let mut new = Client::connect(&hub.url()).await;
    let status = new.hello(alice, &alice_key).await.expect("takeover");
    assert_eq!(status.seq, 0);
    let close = old.await_close().await.expect("a close frame");
    assert_eq!(
        close.0,
        CloseCode::Superseded.as_u16(),
        "superseded: {close:?}"
    );
    let pending = hub
        .handle
        .channels()
        .with_channel_ref(alice, |c| c.pending_count())
        .expect("alice");
    assert_eq!(pending, 0, "the old session's staged vouchers are dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_acked_payment() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 100_000).await;
    let (bob, _) = hub.open(2, 1).await;
    let mut vouchers = Payer::new(alice, alice_key.clone(), hub.hub_id());
    let mut client = Client::connect(&hub.url()).await;
    client.hello(alice, &alice_key).await.expect("hello");
    for _ in 0..5 {
        let frame = vouchers.run(bob, 2, 100, 10);
        client.pay_binary(&frame).await;
    }
    client.await_ack(500).await;
    drop(client);

    let hub = hub.restart(|_| {}).await;
    let a = hub
        .handle
        .channels()
        .record(alice)
        .expect("alice after restart");
    let b = hub
        .handle
        .channels()
        .record(bob)
        .expect("bob after restart");
    assert_eq!((a.seq, a.spent, a.deposit), (500, 1000, 100_000));
    assert_eq!(a.chain, vouchers.chain);
    assert_eq!(b.received, 1000);

    // The payer continues where it left off.
    let mut client = Client::connect(&hub.url()).await;
    let status = client
        .hello(alice, &alice_key)
        .await
        .expect("hello after restart");
    assert_eq!(status.seq, 500);
    client.pay_json(alice, &[vouchers.next(bob, 1, true)]).await;
    client.await_ack(501).await;
}
