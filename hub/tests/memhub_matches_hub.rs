//! The in-memory hub the payer is tested against (`channel::client::MemHub`) and the
//! real hub (over WebSockets on loopback) run the same per-channel session rules
//! (`channel::ledger::session`, issue 18): each test drives both with the same
//! scripted sessions and asserts that every session receives the same frames (acks,
//! re-acks with the committed head, rejects with seq and code, credits) and that
//! both end with the same committed records.
//!
//! Frames are compared after each step, read from the hub up to a `ping` barrier
//! (everything the step's pays were admitted into is then queued) and for as long
//! as the hub still owes frames that MemHub sent. Acks are cumulative and credits
//! are summed per group commit, and how many vouchers one commit gathers is the
//! hub's timing, so consecutive acks (credits) are compared as one.
//!
//! Two cases need a checkpoint still awaiting verification when something else
//! happens (an exit commits, a new session takes the channel over). MemHub holds its
//! verification queue for that; the hub gets a backlog on its one verifier thread
//! (a bystander's frame of 4,096 checkpoints with bad signatures), and the case is
//! rerun if the checkpoint was verified before the event all the same.

mod server_util;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use channel::client::{MemHub, ToClient};
use channel::codec::{
    ClientMessage, ErrorCode, Id, Request, ServerFrame, ServerMessage, decode_server_binary,
};
use channel::crypto::PrivateKey;
use channel::ledger::Limits;
use channel::types::{ChannelId, VoucherIn};
use channel::{Amount, Fe, Seq};
use server_util::{Client, In, Payer, TestHub};

/// How long the hub may take to send the frames MemHub sent.
const CATCH_UP: Duration = Duration::from_secs(5);
/// Checkpoints in the bystander's backlog frame.
const BACKLOG: usize = 4096;
/// Attempts at a case that needs the backlog to outlast an event.
const ATTEMPTS: usize = 5;

/// What a session receives, as both hubs can say it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    Ack(Seq),
    Reack { seq: Seq, spent: Amount, chain: Fe },
    Reject { seq: Seq, code: i32 },
    Credit { amount: Amount, received: Amount },
}

impl Frame {
    fn from_mem(msg: ToClient) -> Frame {
        match msg {
            ToClient::Ack(seq) => Frame::Ack(seq),
            ToClient::Reack(head) => Frame::Reack {
                seq: head.seq,
                spent: head.spent,
                chain: head.chain,
            },
            ToClient::Reject { seq, code } => Frame::Reject {
                seq,
                code: code.as_i32(),
            },
            ToClient::Credit { amount, received } => Frame::Credit { amount, received },
        }
    }
}

/// Consecutive acks as the last one; consecutive credits as one (amounts summed).
fn normalized(frames: &[Frame]) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::with_capacity(frames.len());
    for f in frames {
        match (out.last_mut(), f) {
            (Some(Frame::Ack(last)), Frame::Ack(seq)) => *last = *seq,
            (
                Some(Frame::Credit { amount, received }),
                Frame::Credit {
                    amount: more,
                    received: now,
                },
            ) => {
                *amount += more;
                *received = *now;
            }
            _ => out.push(f.clone()),
        }
    }
    out
}

/// One channel's session on both hubs and what each sent it.
struct Session {
    client: Client,
    hub: Vec<Frame>,
    mem: Vec<Frame>,
}

/// A real hub and a MemHub driven in step.
struct Twin {
    hub: TestHub,
    mem: MemHub,
    /// Every channel opened, in order (the same ids on both).
    channels: Vec<ChannelId>,
    sessions: BTreeMap<ChannelId, Session>,
    next_ping: i64,
}

impl Twin {
    async fn start() -> Twin {
        Self::start_with(|_| {}).await
    }

    /// The hub adjusted by `adjust` (its pending limits stay the default, which
    /// MemHub uses too).
    async fn start_with(adjust: impl FnOnce(&mut hub::HubConfig)) -> Twin {
        let hub = TestHub::start_with(adjust).await;
        let mem = MemHub::new(hub.hub_id(), PrivateKey([99; 32]), Limits::DEFAULT);
        Twin {
            hub,
            mem,
            channels: Vec::new(),
            sessions: BTreeMap::new(),
            next_ping: 1_000_000,
        }
    }

    /// Open a channel on both hubs.
    async fn open(&mut self, seed: u64, deposit: Amount) -> (ChannelId, PrivateKey) {
        let (id, key) = self.hub.open(seed, deposit).await;
        assert_eq!(self.mem.open(key.public(), deposit), id, "same channel ids");
        self.channels.push(id);
        (id, key)
    }

    /// A payer for `channel` signing for this hub.
    fn payer(&self, channel: ChannelId, key: &PrivateKey) -> Payer {
        Payer::new(channel, key.clone(), self.hub.hub_id())
    }

    /// `hello` for `channel` on a new session of both hubs; returns the session it
    /// superseded on the real hub, if any.
    async fn hello(&mut self, channel: ChannelId, key: &PrivateKey) -> Option<Client> {
        let mut client = Client::connect(&self.hub.url()).await;
        let status = client.hello(channel, key).await.expect("hello");
        let head = self.mem.hello(channel).expect("known channel");
        assert_eq!((status.seq, status.spent), (head.seq, head.spent));
        let session = Session {
            client,
            hub: Vec::new(),
            mem: Vec::new(),
        };
        self.sessions.insert(channel, session).map(|old| old.client)
    }

    /// One JSON `pay` of `channel`'s session on both hubs.
    async fn pay(&mut self, channel: ChannelId, vouchers: &[VoucherIn]) {
        let session = self.sessions.get_mut(&channel).expect("a session");
        session.client.pay_json(channel, vouchers).await;
        self.mem.receive_pay(channel, Some(channel), vouchers);
    }

    /// One binary pay frame of `channel`'s session on both hubs.
    async fn pay_binary(&mut self, channel: ChannelId, vouchers: &[VoucherIn]) {
        let session = self.sessions.get_mut(&channel).expect("a session");
        session.client.pay_binary(vouchers).await;
        self.mem.receive_pay(channel, None, vouchers);
    }

    /// Channel `channel` exits (signed by `key`): durable on both hubs on return.
    async fn exit(&mut self, channel: ChannelId, key: &PrivateKey) {
        let msg = channel::settlement::exit_message(self.hub.hub_id(), channel);
        let sig = key.sign(&msg);
        self.hub
            .handle
            .operator()
            .exit(channel, &sig)
            .await
            .expect("exit");
        self.mem.exit(channel);
        self.mem.commit();
    }

    /// Wait until the hub has read everything `channel`'s session sent (its frames
    /// are compared at the next step).
    async fn barrier(&mut self, channel: ChannelId) {
        self.next_ping += 1;
        let id = Id::Num(self.next_ping);
        let session = self.sessions.get_mut(&channel).expect("session");
        session.read_to_barrier(id).await;
    }

    /// MemHub commits what it gathered; then every session must have received the
    /// same frames from both hubs.
    async fn step(&mut self, what: &str) {
        self.mem.commit();
        for &channel in &self.channels {
            let sent = self.mem.take_outbox(channel);
            if let Some(session) = self.sessions.get_mut(&channel) {
                session.mem.extend(sent.into_iter().map(Frame::from_mem));
            }
        }
        let channels: Vec<ChannelId> = self.sessions.keys().copied().collect();
        for channel in channels {
            self.next_ping += 1;
            let id = Id::Num(self.next_ping);
            let session = self.sessions.get_mut(&channel).expect("session");
            session.read_to_barrier(id).await;
            session.catch_up().await;
            assert_eq!(
                normalized(&session.hub),
                normalized(&session.mem),
                "{what}: channel {channel}: the hub's frames (left) differ from MemHub's (right)"
            );
        }
    }

    /// Last step: a grace period for late frames, then both hubs' committed records.
    async fn finish(mut self, what: &str) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.step(what).await;
        let mem = self.mem.ledger().records();
        for &channel in &self.channels {
            let hub = self.hub.handle.channels().record(channel).expect("record");
            let mem = mem.iter().find(|r| r.id == channel).expect("record");
            assert_eq!(&hub, mem, "{what}: channel {channel}: committed records");
        }
    }
}

impl Session {
    /// Send a `ping` and read until its answer: whatever the pays sent before it
    /// were admitted into has been queued by then.
    async fn read_to_barrier(&mut self, id: Id) {
        let ping = ClientMessage::Request {
            id: id.clone(),
            request: Request::Ping,
        };
        self.client.send(&ping).await;
        loop {
            match self.client.recv().await {
                In::Msg(ServerMessage::Response { id: got, .. }) if got == id => return,
                other => self.record(other),
            }
        }
    }

    /// Read while the hub still owes frames that MemHub sent (acks after a commit,
    /// rejects from the verifier), up to [`CATCH_UP`].
    async fn catch_up(&mut self) {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        while normalized(&self.hub) != normalized(&self.mem) {
            match tokio::time::timeout_at(deadline, self.client.recv()).await {
                Ok(msg) => self.record(msg),
                Err(_) => return,
            }
        }
    }

    fn record(&mut self, msg: In) {
        let frame = match msg {
            In::Msg(ServerMessage::Ack(a)) => Frame::Ack(a.seq),
            In::Msg(ServerMessage::Reack(r)) => Frame::Reack {
                seq: r.seq,
                spent: r.spent,
                chain: r.chain,
            },
            In::Msg(ServerMessage::Reject(r)) => Frame::Reject {
                seq: r.seq,
                code: r.code,
            },
            In::Msg(ServerMessage::Credit(c)) => Frame::Credit {
                amount: c.amount,
                received: c.received,
            },
            In::Msg(_) => return, // responses, receipts, epochs: not session rules
            In::Binary(b) => match decode_server_binary(&b).expect("a server frame") {
                ServerFrame::Ack { seq } => Frame::Ack(seq),
                ServerFrame::Reject { seq, code, .. } => Frame::Reject { seq, code },
            },
            In::Closed(close) => panic!("session closed: {close:?}"),
        };
        self.hub.push(frame);
    }
}

/// A copy of `v` whose signature does not verify (it signs another message).
fn badly_signed(v: &VoucherIn, key: &PrivateKey) -> VoucherIn {
    VoucherIn {
        sig: Some(key.sign(&Fe::from(12_345u64))),
        ..v.clone()
    }
}

/// Alice (1,000) and Bob (10), both in a session; Alice's payer.
async fn alice_and_bob(twin: &mut Twin) -> (ChannelId, PrivateKey, Payer, ChannelId) {
    let (alice, alice_key) = twin.open(1, 1_000).await;
    let (bob, bob_key) = twin.open(2, 10).await;
    twin.hello(alice, &alice_key).await;
    twin.hello(bob, &bob_key).await;
    let payer = twin.payer(alice, &alice_key);
    (alice, alice_key, payer, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pays_and_checkpoints() {
    let mut twin = Twin::start().await;
    let (alice, _, mut p, bob) = alice_and_bob(&mut twin).await;
    twin.pay(alice, &p.run(bob, 3, 6, 3)).await;
    twin.step("two checkpoints in one pay").await;
    twin.pay(alice, &p.run(bob, 1, 2, 2)).await;
    twin.step("a second pay").await;
    let mut bare = p.run(bob, 2, 4, 4);
    for v in &mut bare {
        (v.spent, v.chain) = (None, None);
    }
    twin.pay_binary(alice, &bare).await;
    twin.step("a binary frame without spent and chain").await;
    let tail = [p.next(bob, 1, false), p.next(bob, 1, false)];
    twin.pay(alice, &tail).await;
    twin.step("unsigned vouchers wait for a checkpoint").await;
    twin.pay(alice, &[p.next(bob, 1, true)]).await;
    twin.step("the checkpoint covers them").await;
    twin.finish("plain pays").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_in_a_checkpoint() {
    let mut twin = Twin::start().await;
    let (alice, alice_key, mut p, bob) = alice_and_bob(&mut twin).await;
    let vs = p.run(bob, 2, 5, 3); // 3 and 5 signed
    let mut sent = vs.clone();
    sent[2] = badly_signed(&vs[2], &alice_key);
    twin.pay(alice, &sent).await;
    twin.step("the bad checkpoint and what follows are dropped")
        .await;
    twin.pay(alice, &vs[2..]).await;
    twin.step("the good checkpoint covers the kept prefix")
        .await;
    let next = p.run(bob, 1, 2, 1);
    twin.pay_binary(alice, &[badly_signed(&next[0], &alice_key)])
        .await;
    twin.step("a lone bad checkpoint, binary").await;
    twin.pay_binary(alice, &next).await;
    twin.step("resent well signed").await;
    twin.finish("bad signature").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_seq() {
    let mut twin = Twin::start().await;
    let (alice, _, mut p, bob) = alice_and_bob(&mut twin).await;
    let vs = p.run(bob, 1, 4, 1);
    twin.pay(alice, &vs[..1]).await;
    twin.step("seq 1").await;
    twin.pay(alice, &vs[2..3]).await;
    twin.step("seq 3 after 1").await;
    twin.pay(alice, &vs[1..]).await;
    twin.step("2, 3, 4").await;
    twin.finish("wrong seq").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_balance() {
    let mut twin = Twin::start().await;
    let (alice, _, _, bob) = alice_and_bob(&mut twin).await;
    // Bob (10) pays Alice too much: alone, then with a pending voucher counted.
    let start = twin.payer(bob, &server_util::key(2));
    twin.pay(bob, &[start.clone().next(alice, 11, true)]).await;
    twin.step("more than the deposit").await;
    let mut p = start.clone();
    let pending = p.next(alice, 6, false);
    let mut q = p.clone();
    twin.pay(bob, &[pending, p.next(alice, 5, true)]).await;
    twin.step("more than the deposit with a pending voucher counted")
        .await;
    twin.pay(bob, &[q.next(alice, 4, true)]).await;
    twin.step("exactly the deposit").await;
    twin.finish("insufficient balance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_of_committed_vouchers_is_reacked() {
    let mut twin = Twin::start().await;
    let (alice, _, mut p, bob) = alice_and_bob(&mut twin).await;
    let first = p.run(bob, 4, 3, 3);
    twin.pay(alice, &first).await;
    twin.step("1..3").await;
    twin.pay(alice, &first).await;
    twin.step("1..3 again: one re-ack").await;
    let mut mixed = first[1..].to_vec();
    mixed.extend(p.run(bob, 4, 2, 2));
    twin.pay(alice, &mixed).await;
    twin.step("2..5: re-ack, then the ack of 5").await;
    let mut bare = first[..1].to_vec();
    (bare[0].spent, bare[0].chain) = (None, None);
    twin.pay_binary(alice, &bare).await;
    twin.step("an old seq, binary: re-acked as text").await;
    twin.finish("re-ack").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_voucher() {
    let mut twin = Twin::start().await;
    let (alice, alice_key, mut p, bob) = alice_and_bob(&mut twin).await;
    let (carol, _) = twin.open(3, 10).await;
    twin.pay(alice, &p.run(bob, 5, 3, 3)).await;
    twin.step("1..3").await;
    let mut diverged = twin.payer(alice, &alice_key);
    let mut other = diverged.run(bob, 5, 2, 2);
    other.push(diverged.next(carol, 7, true));
    twin.pay(alice, &other[2..]).await;
    twin.step("another voucher at the committed head").await;
    let staged = [p.next(bob, 3, false), p.next(bob, 4, false)];
    twin.pay(alice, &staged).await;
    let mut changed = staged[1].clone();
    changed.amount = 40;
    (changed.spent, changed.chain) = (None, None);
    twin.pay(alice, &[changed]).await;
    twin.step("another amount at a staged seq").await;
    twin.pay(alice, &staged[1..]).await;
    twin.pay(alice, &[p.next(bob, 5, true)]).await;
    twin.step("the identical staged resend is ignored").await;
    twin.finish("conflict").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_during_flight() {
    let mut twin = Twin::start().await;
    let (alice, alice_key, mut p, bob) = alice_and_bob(&mut twin).await;
    twin.pay(alice, &p.run(bob, 1, 2, 2)).await;
    twin.step("1, 2").await;
    let staged = [p.next(bob, 1, false), p.next(bob, 1, false)];
    twin.pay(alice, &staged).await;
    twin.step("3, 4 staged").await;
    twin.exit(alice, &alice_key).await;
    twin.step("the exit rejects the staged vouchers from 3")
        .await;
    let mut resent = staged.to_vec();
    resent.push(p.next(bob, 1, true));
    twin.pay(alice, &resent).await;
    twin.step("a resend after the exit").await;
    let mut q = twin.payer(alice, &alice_key);
    twin.pay(alice, &q.run(bob, 1, 2, 2)).await;
    twin.step("a resend of the committed head").await;
    // Bob still receives after Alice's exit... and may pay her.
    let mut b = twin.payer(bob, &server_util::key(2));
    twin.pay(bob, &[b.next(alice, 3, true)]).await;
    twin.step("an exited channel receives").await;
    twin.finish("exit").await;
}

/// A bystander's session holding the hub's one verifier thread with [`BACKLOG`]
/// checkpoints whose signatures do not verify. Returns its client (keep it open) and
/// the count of verified signatures at which the backlog is done.
async fn backlog(twin: &Twin, carol: ChannelId, carol_key: &PrivateKey) -> (Client, u64) {
    let verified = &twin.hub.handle.metrics().signatures_verified;
    let before = verified.load(Ordering::Relaxed);
    let mut c = Client::connect(&twin.hub.url()).await;
    c.hello(carol, carol_key).await.expect("hello");
    let mut p = twin.payer(carol, carol_key);
    let bogus = Some(carol_key.sign(&Fe::from(7u64)));
    let flood: Vec<VoucherIn> = (0..BACKLOG)
        .map(|_| {
            let mut v = p.next(twin.channels[1], 1, false);
            (v.spent, v.chain, v.sig) = (None, None, bogus);
            v
        })
        .collect();
    c.pay_binary(&flood).await;
    // Answered once the frame's checkpoints are all queued for verification.
    let _ = c.request(Request::Ping).await;
    (c, before + BACKLOG as u64)
}

/// A hub with one verifier thread and room for the backlog.
async fn backlog_twin() -> Twin {
    Twin::start_with(|c| {
        c.verifier_threads = 1;
        c.verifier_queue = 4 * BACKLOG;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_while_a_checkpoint_awaits_verification() {
    for attempt in 1..=ATTEMPTS {
        let mut twin = backlog_twin().await;
        let (alice, alice_key, mut p, bob) = alice_and_bob(&mut twin).await;
        let (carol, carol_key) = twin.open(3, BACKLOG as Amount).await;
        twin.pay(alice, &p.run(bob, 1, 2, 2)).await;
        twin.step("1, 2").await;

        let (_carol, done) = backlog(&twin, carol, &carol_key).await;
        twin.mem.hold_verification(true);
        let tail = p.run(bob, 1, 2, 2);
        twin.pay(alice, &tail).await;
        twin.barrier(alice).await; // 3, 4 admitted, 4 awaiting verification
        twin.exit(alice, &alice_key).await;
        let verified = twin
            .hub
            .handle
            .metrics()
            .signatures_verified
            .load(Ordering::Relaxed);
        if verified > done {
            eprintln!("attempt {attempt}: the checkpoint was verified before the exit; again");
            continue;
        }
        twin.mem.hold_verification(false);
        twin.step("the exit rejects from 3; the late result is stale")
            .await;
        twin.pay(alice, &tail).await;
        twin.step("resent after the exit").await;
        twin.finish("exit while verifying").await;
        return;
    }
    panic!("the backlog never outlasted the exit in {ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_generation_after_a_refused_checkpoint() {
    let mut twin = Twin::start().await;
    let (alice, alice_key, mut p, bob) = alice_and_bob(&mut twin).await;
    let mut q = p.clone();
    // 1 pending, 2 badly signed, 3 well signed: 2's refusal drops 3, whose result
    // (valid) is still to come.
    let vs = p.run(bob, 2, 3, 2);
    let mut sent = vs.clone();
    sent[1] = badly_signed(&vs[1], &alice_key);
    twin.mem.hold_verification(true);
    twin.pay(alice, &sent).await;
    assert_eq!(twin.mem.verify(1), 1, "MemHub verifies 2 and holds 3");
    twin.step("the bad checkpoint").await;
    // The client pays 2 and 3 again, differently; the old result for 3 must not
    // cover the new 3 (its signature signs another history).
    q.next(bob, 2, false);
    let again = [q.next(bob, 5, false), q.next(bob, 6, true)];
    twin.pay(alice, &again).await;
    assert_eq!(
        twin.mem.awaiting_verification(),
        2,
        "the old 3 and the new 3"
    );
    twin.mem.hold_verification(false);
    twin.step("the old result is stale; the new checkpoint covers")
        .await;
    twin.finish("stale after a refused checkpoint").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_generation_after_a_superseding_hello() {
    for attempt in 1..=ATTEMPTS {
        let mut twin = backlog_twin().await;
        let (alice, alice_key, _, bob) = alice_and_bob(&mut twin).await;
        let (carol, carol_key) = twin.open(3, BACKLOG as Amount).await;
        let (_carol, done) = backlog(&twin, carol, &carol_key).await;
        twin.mem.hold_verification(true);
        // The old session pays Bob 5; before it is verified, a new session takes the
        // channel over and pays Bob 7 at the same seq.
        let mut old = twin.payer(alice, &alice_key);
        let mut new = old.clone();
        twin.pay(alice, &[old.next(bob, 5, true)]).await;
        twin.barrier(alice).await; // admitted, awaiting verification
        let superseded = twin.hello(alice, &alice_key).await.expect("old session");
        let verified = twin
            .hub
            .handle
            .metrics()
            .signatures_verified
            .load(Ordering::Relaxed);
        if verified > done {
            eprintln!("attempt {attempt}: verified before the new hello; again");
            continue;
        }
        twin.pay(alice, &[new.next(bob, 7, true)]).await;
        twin.mem.hold_verification(false);
        twin.step("only the new session's checkpoint is covered")
            .await;
        let mut superseded = superseded;
        let close = superseded.await_close().await;
        assert_eq!(
            close.map(|c| c.0),
            Some(4001),
            "the old session is superseded"
        );
        twin.finish("stale after a new hello").await;
        return;
    }
    panic!("the backlog never outlasted the hello in {ATTEMPTS} attempts");
}

#[test]
fn normalized_merges_consecutive_acks_and_credits_only() {
    let frames = [
        Frame::Ack(3),
        Frame::Ack(6),
        Frame::Reject {
            seq: 7,
            code: ErrorCode::BadSeq.as_i32(),
        },
        Frame::Ack(8),
        Frame::Credit {
            amount: 2,
            received: 2,
        },
        Frame::Credit {
            amount: 3,
            received: 5,
        },
    ];
    assert_eq!(
        normalized(&frames),
        vec![
            Frame::Ack(6),
            Frame::Reject {
                seq: 7,
                code: ErrorCode::BadSeq.as_i32(),
            },
            Frame::Ack(8),
            Frame::Credit {
                amount: 5,
                received: 5,
            },
        ]
    );
}
