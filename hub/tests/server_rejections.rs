//! Every refusal a client can provoke over the wire arrives with its stable code, and
//! the connection stays usable afterwards (checked with a `ping` after each).
//!
//! Not provoked here: `InternalError` (a hub bug), `StorageFailed` (the writer
//! fail-stopped: sessions are closed with WebSocket code 1013 instead), `Overloaded`
//! (reserved: the hub pushes back by not reading instead of refusing), and `TooLarge`
//! for a single oversize message (the WebSocket layer closes with 1009 before the
//! codec sees it; see server_limits.rs).

mod server_util;

use channel::codec::{ErrorCode, OpeningRequest, Reply, Request, RpcError};
use channel::crypto::chain_next;
use channel::types::VoucherIn;
use server_util::{Client, Payer, TestHub, key};

async fn still_usable(c: &mut Client) {
    let (result, _) = c.request(Request::Ping).await;
    assert!(
        matches!(result, Ok(Reply::Pong)),
        "connection still usable: {result:?}"
    );
}

fn code(e: &RpcError) -> Option<ErrorCode> {
    e.error_code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_and_session_errors() {
    let hub = TestHub::start_with(|c| c.limits.max_subscriptions = 1).await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;

    // ParseError, InvalidRequest, MethodNotFound, InvalidParams.
    for (text, expected) in [
        ("{not json", ErrorCode::ParseError),
        (
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            ErrorCode::InvalidRequest,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"teleport"}"#,
            ErrorCode::MethodNotFound,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"hello","params":{"channel":"x"}}"#,
            ErrorCode::InvalidParams,
        ),
    ] {
        c.send_text(text).await;
        match c.recv_msg().await {
            channel::codec::ServerMessage::Response { result: Err(e), .. } => {
                assert_eq!(code(&e), Some(expected), "{text}: {e:?}")
            }
            other => panic!("{text}: got {other:?}"),
        }
        still_usable(&mut c).await;
    }

    // NotAuthenticated: requests and payments before hello.
    let (result, _) = c.request(Request::Status).await;
    assert_eq!(
        code(&result.expect_err("status before hello")),
        Some(ErrorCode::NotAuthenticated)
    );
    let mut payer = Payer::new(alice, alice_key.clone(), hub.hub_id());
    c.pay_json(alice, &[payer.next(bob, 1, true)]).await;
    assert_eq!(
        c.await_reject().await,
        (1, ErrorCode::NotAuthenticated.as_i32())
    );

    // UnknownChannel, HelloFailed (signed by the wrong key).
    let err = c.hello(999, &alice_key).await.expect_err("unknown channel");
    assert_eq!(code(&err), Some(ErrorCode::UnknownChannel));
    let err = c.hello(alice, &key(77)).await.expect_err("wrong key");
    assert_eq!(code(&err), Some(ErrorCode::HelloFailed));
    still_usable(&mut c).await;

    // AlreadyAuthenticated.
    c.hello(alice, &alice_key).await.expect("hello");
    let err = c.hello(alice, &alice_key).await.expect_err("second hello");
    assert_eq!(code(&err), Some(ErrorCode::AlreadyAuthenticated));

    // NotAvailable: openings are not served on the session.
    let (result, _) = c
        .request(Request::Opening(OpeningRequest { epoch: 1 }))
        .await;
    assert_eq!(
        code(&result.expect_err("opening")),
        Some(ErrorCode::NotAvailable)
    );

    // TooLarge: beyond max_subscriptions.
    assert!(c.subscribe(bob).await.is_ok());
    let err = c.subscribe(alice).await.expect_err("second subscription");
    assert_eq!(code(&err), Some(ErrorCode::TooLarge));
    still_usable(&mut c).await;

    // The per-code refusal counters saw all of it.
    let m = hub.handle.metrics();
    for code in [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::NotAuthenticated,
        ErrorCode::UnknownChannel,
        ErrorCode::HelloFailed,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::NotAvailable,
        ErrorCode::TooLarge,
    ] {
        assert!(m.refused_with(code) >= 1, "{code:?} counted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voucher_rules_reject_with_their_codes() {
    let hub = TestHub::start_with(|c| c.limits.pending.max_pending_count = 2).await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let base = Payer::new(alice, alice_key.clone(), hub.hub_id());

    let mut check = async |v: VoucherIn, expected: ErrorCode| {
        c.pay_json(alice, &[v]).await;
        let (seq, got) = c.await_reject().await;
        assert_eq!(got, expected.as_i32(), "seq {seq}: expected {expected:?}");
        still_usable(&mut c).await;
    };

    // BadSeq: a gap.
    let mut p = base.clone();
    p.seq = 4;
    check(p.next(bob, 1, true), ErrorCode::BadSeq).await;
    // BadSpent.
    let mut v = base.clone().next(bob, 1, true);
    v.spent = Some(2);
    check(v, ErrorCode::BadSpent).await;
    // BadChain.
    let mut v = base.clone().next(bob, 1, false);
    v.chain = Some(chain_next(&channel::Fe::from(1u64), 1, bob, 1));
    check(v, ErrorCode::BadChain).await;
    // UnknownPayee, SelfPayment, ZeroAmount, InsufficientBalance.
    check(base.clone().next(999, 1, true), ErrorCode::UnknownPayee).await;
    check(base.clone().next(alice, 1, true), ErrorCode::SelfPayment).await;
    check(base.clone().next(bob, 0, true), ErrorCode::ZeroAmount).await;
    check(
        base.clone().next(bob, 1_001, true),
        ErrorCode::InsufficientBalance,
    )
    .await;
    // WrongChannel: a JSON pay naming another channel.
    c.pay_json(bob, &[base.clone().next(alice, 1, true)]).await;
    assert_eq!(c.await_reject().await.1, ErrorCode::WrongChannel.as_i32());

    // PendingLimit: the third unsigned voucher (limit 2).
    let mut p = base.clone();
    let pending = [
        p.next(bob, 1, false),
        p.next(bob, 1, false),
        p.next(bob, 1, false),
    ];
    c.pay_json(alice, &pending).await;
    assert_eq!(
        c.await_reject().await,
        (3, ErrorCode::PendingLimit.as_i32())
    );
    // Overflow: the pending spent plus a huge amount exceeds u64.
    let huge = VoucherIn {
        seq: 3,
        to: bob,
        amount: u64::MAX,
        spent: None,
        chain: None,
        sig: None,
    };
    c.pay_json(alice, &[huge]).await;
    assert_eq!(c.await_reject().await, (3, ErrorCode::Overflow.as_i32()));

    // BadSignature: a checkpoint signed by another key; the valid prefix stays pending.
    let mut forged = p.clone();
    forged.seq = 2;
    forged.spent = 2;
    forged.chain = pending[1].chain.expect("chain");
    forged.key = key(99);
    c.pay_json(alice, &[forged.next(bob, 1, true)]).await;
    assert_eq!(
        c.await_reject().await,
        (3, ErrorCode::BadSignature.as_i32())
    );
    let pending_count = hub
        .handle
        .channels()
        .with_channel_ref(alice, |c| c.pending_count())
        .expect("alice");
    assert_eq!(pending_count, 2, "the two valid pending vouchers are kept");
    // A correctly signed checkpoint then covers them: acked at 3.
    let mut honest = forged.clone();
    honest.seq = 2;
    honest.spent = 2;
    honest.chain = pending[1].chain.expect("chain");
    honest.key = alice_key.clone();
    c.pay_json(alice, &[honest.next(bob, 1, true)]).await;
    c.await_ack(3).await;
    assert_eq!(hub.handle.channels().record(bob).expect("bob").received, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exiting_channel_may_not_spend() {
    let hub = TestHub::start().await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let sig = alice_key.sign(&channel::settlement::exit_message(hub.hub_id(), alice));
    hub.handle.operator().exit(alice, &sig).await.expect("exit");
    assert!(hub.handle.channels().record(alice).expect("alice").exiting);

    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello");
    let mut p = Payer::new(alice, alice_key, hub.hub_id());
    c.pay_json(alice, &[p.next(bob, 1, true)]).await;
    assert_eq!(
        c.await_reject().await,
        (1, ErrorCode::ChannelExiting.as_i32())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_bad_binary_frames() {
    let hub = TestHub::start_with(|c| {
        c.limits.rate_per_sec = 1;
        c.limits.rate_burst = 3;
    })
    .await;
    let (alice, alice_key) = hub.open(1, 1_000).await;
    let (bob, _) = hub.open(2, 10).await;
    let mut c = Client::connect(&hub.url()).await;
    c.hello(alice, &alice_key).await.expect("hello"); // takes one token

    // BadFrame: a binary frame of unknown kind is refused with seq 0, binary.
    c.send_binary(vec![0x7f, 1, 2, 3]).await;
    assert_eq!(c.await_reject().await, (0, ErrorCode::BadFrame.as_i32()));

    // RateLimited: a frame of 4 vouchers exceeds a burst of 3; nothing is admitted.
    let mut p = Payer::new(alice, alice_key, hub.hub_id());
    let frame = p.run(bob, 1, 4, 4);
    c.pay_binary(&frame).await;
    assert_eq!(c.await_reject().await, (1, ErrorCode::RateLimited.as_i32()));
    assert_eq!(
        hub.handle
            .channels()
            .with_channel_ref(alice, |c| c.pending_count()),
        Some(0)
    );
}
