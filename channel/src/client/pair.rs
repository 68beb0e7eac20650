//! An in-memory hub and its clients, stepped by hand: protocol tests without
//! sockets or disks (like `quinn-proto`'s test `Pair`).
//!
//! [`MemHub`] is the hub reduced to its rules: a [`Ledger`], sessions bound by
//! [`MemHub::hello`], the per-channel session rules of [`crate::ledger::session`]
//! (the same functions the hub calls), a queue of checkpoints awaiting signature
//! verification, a [`BatchBuilder`] for the next group commit, and per-channel
//! outboxes. A commit is "durable" the moment [`MemHub::commit`] runs; acks and
//! credits are released only then, as in the real hub. `hub/tests/memhub_matches_hub.rs`
//! drives it and the real hub with the same sessions and compares every frame.
//! [`Net`] holds a `MemHub`, payers and payees, and the message queues between
//! them, with hooks to lose messages and to drop sessions.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{ErrorCode, Receipt};
use crate::crypto::{PrivateKey, PublicKey};
use crate::ledger::session::{self, Checkpoint, Dropped, Verified};
use crate::ledger::{
    AdmitContext, BatchBuilder, ChannelTable, Event, Head, Ledger, Limits, apply_batch,
};
use crate::types::{Amount, ChannelId, Epoch, HubId, Seq, Voucher, VoucherIn, receipt_message};

use super::payee::Payee;
use super::payer::{HubHead, Payer, PayerConfig, PayerEvent};

/// A message from the hub to a client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToClient {
    /// Every voucher of the session's channel up to `seq` is durable.
    Ack(Seq),
    /// A resent voucher was already committed: the committed head (a re-ack).
    Reack(Head),
    /// The voucher `seq` was refused.
    Reject {
        /// Rejected seq.
        seq: Seq,
        /// Why.
        code: ErrorCode,
    },
    /// The channel received `amount`; cumulative received is `received`.
    Credit {
        /// Credited amount (one batch).
        amount: Amount,
        /// Cumulative received.
        received: Amount,
    },
}

/// What a checkpoint was admitted against (the hub's `registry::Generation`): the
/// session holding the channel and its staging generation, bumped whenever the
/// session rules drop staged vouchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Generation {
    session: u64,
    staging: u64,
}

/// The hub's rules in memory (see the module docs).
pub struct MemHub {
    hub_id: HubId,
    key: PrivateKey,
    pk: PublicKey,
    limits: Limits,
    ledger: Ledger,
    builder: BatchBuilder,
    next_batch: u64,
    epoch: Epoch,
    next_channel: ChannelId,
    /// The session bound to each channel by `hello`, as its generation.
    sessions: BTreeMap<ChannelId, Generation>,
    next_session: u64,
    /// Checkpoints awaiting verification, in submission order.
    to_verify: VecDeque<(ChannelId, Checkpoint<Generation>)>,
    /// Whether checkpoints wait in `to_verify` until [`MemHub::verify`] (else they
    /// are verified as soon as their message is admitted).
    hold_verification: bool,
    outbox: BTreeMap<ChannelId, VecDeque<ToClient>>,
    /// Payments applied, counted per batch.
    applied_payments: u64,
}

impl MemHub {
    /// A hub with id `hub_id`, signing receipts with `key`.
    pub fn new(hub_id: HubId, key: PrivateKey, limits: Limits) -> Self {
        let pk = key.public();
        MemHub {
            hub_id,
            key,
            pk,
            limits,
            ledger: Ledger::new(),
            builder: BatchBuilder::new(),
            next_batch: 1,
            epoch: 0,
            next_channel: 1,
            sessions: BTreeMap::new(),
            next_session: 1,
            to_verify: VecDeque::new(),
            hold_verification: false,
            outbox: BTreeMap::new(),
            applied_payments: 0,
        }
    }

    /// The hub's id.
    pub fn hub_id(&self) -> HubId {
        self.hub_id
    }

    /// The hub's public key (receipts verify under it).
    pub fn public_key(&self) -> PublicKey {
        self.pk
    }

    /// The ledger (committed records and staged heads).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Start the next epoch.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
    }

    /// Payments applied by commits so far.
    pub fn applied_payments(&self) -> u64 {
        self.applied_payments
    }

    /// Open a channel with a deposit and commit it at once; returns its id.
    pub fn open(&mut self, pk: PublicKey, deposit: Amount) -> ChannelId {
        let channel = self.next_channel;
        self.next_channel += 1;
        self.builder.push_event(Event::Open {
            channel,
            pk,
            deposit,
        });
        self.commit();
        channel
    }

    /// The operator's exit of `channel` reaches the commit path: it is durable at
    /// the next [`MemHub::commit`], and covered ranges gathered after it are refused.
    pub fn exit(&mut self, channel: ChannelId) {
        self.builder.push_event(Event::Exit { channel });
    }

    /// The committed head of `channel`, as the `hello` result carries it.
    pub fn hub_head(&self, channel: ChannelId) -> Option<HubHead> {
        self.ledger.with_channel(channel, |c| HubHead {
            seq: c.record.seq,
            spent: c.record.spent,
            chain: c.record.chain,
            deposit: c.record.deposit,
            received: c.record.received,
            exiting: c.record.exiting,
        })
    }

    /// A `hello` for `channel` on a new session: it takes the channel over (a session
    /// bound before is superseded and its staged vouchers dropped). Returns the
    /// committed head; `None` for an unknown channel.
    pub fn hello(&mut self, channel: ChannelId) -> Option<HubHead> {
        let session = self.next_session;
        let generation = Generation {
            session,
            staging: 0,
        };
        let sessions = &mut self.sessions;
        self.ledger.with_channel(channel, |c| {
            sessions.insert(channel, generation);
            c.drop_staged()
        })?;
        self.next_session += 1;
        self.outbox.remove(&channel);
        self.hub_head(channel)
    }

    /// The session of `channel` ended: its staged (uncovered) vouchers are dropped
    /// and its undelivered messages are lost.
    pub fn disconnect(&mut self, channel: ChannelId) {
        if self.sessions.remove(&channel).is_some() {
            self.ledger.with_channel(channel, |c| c.drop_staged());
        }
        self.outbox.remove(&channel);
    }

    /// Hold checkpoints in a queue until [`MemHub::verify`] runs them (`true`), as
    /// the hub's verifier pool does, or verify each message's checkpoints as soon as
    /// it is admitted (`false`, the default). Releasing the hold verifies the queue.
    pub fn hold_verification(&mut self, hold: bool) {
        self.hold_verification = hold;
        if !hold {
            self.verify(usize::MAX);
        }
    }

    /// Checkpoints awaiting verification.
    pub fn awaiting_verification(&self) -> usize {
        self.to_verify.len()
    }

    /// A voucher arrives on the session bound to `session` (its channel): a pay
    /// message of one voucher.
    pub fn receive(&mut self, session: ChannelId, v: &Voucher) {
        self.receive_all(session, std::slice::from_ref(v));
    }

    /// A pay message (JSON: every voucher names its channel) arrives on the session
    /// bound to `session` (its channel).
    pub fn receive_all(&mut self, session: ChannelId, vouchers: &[Voucher]) {
        let Some(first) = vouchers.first() else {
            return;
        };
        if let Some(bad) = vouchers.iter().find(|v| v.channel != first.channel) {
            return self.reject(session, bad.seq, ErrorCode::WrongChannel);
        }
        let incoming: Vec<VoucherIn> = vouchers.iter().map(Voucher::to_incoming).collect();
        self.receive_pay(session, Some(first.channel), &incoming);
    }

    /// A pay message arrives on the session bound to `session` (its channel), naming
    /// channel `named` (JSON) or none (a binary frame). Admitted in order up to the
    /// first refusal ([`session::admit_message`]); its checkpoints go to verification.
    pub fn receive_pay(
        &mut self,
        session: ChannelId,
        named: Option<ChannelId>,
        incoming: &[VoucherIn],
    ) {
        let Some(first) = incoming.first() else {
            return;
        };
        let Some(&generation) = self.sessions.get(&session) else {
            return self.reject(session, first.seq, ErrorCode::NotAuthenticated);
        };
        if named.is_some_and(|n| n != session) {
            return self.reject(session, first.seq, ErrorCode::WrongChannel);
        }
        // Look the payees up first: the ledger is borrowed while admitting.
        let mut known: Vec<ChannelId> = incoming
            .iter()
            .map(|v| v.to)
            .filter(|&to| self.ledger.contains(to))
            .collect();
        known.sort_unstable();
        let payee_exists = |c: ChannelId| known.binary_search(&c).is_ok();
        let ctx = AdmitContext {
            hub_id: self.hub_id,
            limits: self.limits,
            payee_exists: &payee_exists,
        };
        let admitted = self.ledger.with_channel(session, |c| {
            session::admit_message(c, Some(generation), incoming, &ctx)
        });
        let admitted = admitted.expect("a bound session's channel exists");
        if let Some(head) = admitted.reack {
            self.push(session, ToClient::Reack(head));
        }
        if let Some(r) = admitted.reject {
            self.reject(session, r.seq, r.code());
        }
        self.to_verify
            .extend(admitted.checkpoints.into_iter().map(|cp| (session, cp)));
        if !self.hold_verification {
            self.verify(usize::MAX);
        }
    }

    /// Verify up to `max` checkpoints from the queue, in order, and apply each
    /// result ([`session::on_verified`]): a covered range joins the next group
    /// commit. Returns how many were verified.
    pub fn verify(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some((channel, cp)) = self.to_verify.pop_front() else {
                break;
            };
            n += 1;
            let valid = cp.pk.verify(&cp.msg.hash(), &cp.sig).is_ok();
            let sessions = &mut self.sessions;
            let verdict = self.ledger.with_channel(channel, |c| {
                let current = sessions.get(&channel).copied();
                let verdict =
                    session::on_verified(c, current, cp.generation, cp.seq, cp.sig, valid);
                let exited = c.record.exiting;
                if matches!(verdict, Verified::Dropped(_)) {
                    restage(sessions, channel);
                }
                (verdict, exited)
            });
            match verdict {
                Some((Verified::Covered(covered), exited)) => {
                    // Refused if the payer's exit came first; reported after the commit.
                    let _ = self.builder.push_covered(covered, exited);
                }
                Some((Verified::Dropped(dropped), _)) => self.reject_dropped(channel, &dropped),
                Some((Verified::Stale, _)) | None => {}
            }
        }
        n
    }

    /// Group commit: build the batch, apply it, release acks and credits, then drop
    /// and reject what exited channels still hold ([`session::on_exit_committed`],
    /// [`session::on_exited`]). Returns the number of payments in the batch.
    pub fn commit(&mut self) -> u64 {
        let mut builder = std::mem::take(&mut self.builder);
        let refused = builder.take_refused();
        let mut payments = 0;
        if !builder.is_empty() {
            payments = builder.payments();
            let batch = builder.build(self.next_batch);
            self.next_batch += 1;
            let applied = apply_batch(&self.ledger, &batch).expect("covered ranges apply");
            self.applied_payments += payments;
            for (channel, seq) in applied.acks {
                self.push(channel, ToClient::Ack(seq));
            }
            for (channel, amount, received) in applied.credits {
                self.outbox
                    .entry(channel)
                    .or_default()
                    .push_back(ToClient::Credit { amount, received });
            }
            for channel in applied.exited {
                let sessions = &mut self.sessions;
                let dropped = self.ledger.with_channel(channel, |c| {
                    let dropped = session::on_exit_committed(c);
                    if dropped.is_some() {
                        restage(sessions, channel);
                    }
                    dropped
                });
                if let Some(Some(dropped)) = dropped {
                    self.reject_dropped(channel, &dropped);
                }
            }
            self.ledger.totals();
        }
        // After the commit: the payers' exits are applied, their heads final.
        for r in refused {
            let sessions = &mut self.sessions;
            let dropped = self.ledger.with_channel(r.channel, |c| {
                restage(sessions, r.channel);
                session::on_exited(c, r.first_seq)
            });
            if let Some(dropped) = dropped {
                self.reject_dropped(r.channel, &dropped);
            }
        }
        payments
    }

    /// A receipt for `channel` as of the current epoch.
    pub fn receipt(&self, channel: ChannelId) -> Option<Receipt> {
        let received = self.ledger.with_channel(channel, |c| c.record.received)?;
        let msg = receipt_message(self.hub_id, self.epoch, channel, received);
        Some(Receipt {
            hub_id: self.hub_id,
            epoch: self.epoch,
            channel,
            received,
            sig: self.key.sign(&msg),
        })
    }

    /// Take the messages waiting for `channel`'s session.
    pub fn take_outbox(&mut self, channel: ChannelId) -> VecDeque<ToClient> {
        self.outbox.remove(&channel).unwrap_or_default()
    }

    fn reject_dropped(&mut self, channel: ChannelId, dropped: &Dropped) {
        self.reject(channel, dropped.reject.seq, dropped.reject.code());
    }

    fn reject(&mut self, channel: ChannelId, seq: Seq, code: ErrorCode) {
        self.push(channel, ToClient::Reject { seq, code });
    }

    /// Queue `msg` for the session bound to `channel` (lost if none is).
    fn push(&mut self, channel: ChannelId, msg: ToClient) {
        if self.sessions.contains_key(&channel) {
            self.outbox.entry(channel).or_default().push_back(msg);
        }
    }
}

/// Staged vouchers of `channel` were dropped: results admitted before are stale.
fn restage(sessions: &mut BTreeMap<ChannelId, Generation>, channel: ChannelId) {
    if let Some(g) = sessions.get_mut(&channel) {
        g.staging += 1;
    }
}

/// A hub and its clients in memory, with a virtual clock.
pub struct Net {
    /// The hub.
    pub hub: MemHub,
    /// Payers by channel.
    pub payers: BTreeMap<ChannelId, Payer>,
    /// Payees by channel.
    pub payees: BTreeMap<ChannelId, Payee>,
    /// Events the payers emitted, by channel, in order.
    pub payer_events: BTreeMap<ChannelId, Vec<PayerEvent>>,
    /// Virtual time.
    pub now: Instant,
    /// Vouchers transmitted but not yet delivered to the hub, per channel.
    in_flight: BTreeMap<ChannelId, VecDeque<Voucher>>,
}

impl Net {
    /// A network around `hub`, its clock starting at `start`.
    pub fn new(hub: MemHub, start: Instant) -> Self {
        Net {
            hub,
            payers: BTreeMap::new(),
            payees: BTreeMap::new(),
            payer_events: BTreeMap::new(),
            now: start,
            in_flight: BTreeMap::new(),
        }
    }

    /// Open a channel for `key` with `deposit`, attach a payer (connected and
    /// resumed) and a payee to it; returns the channel id.
    pub fn open(&mut self, key: PrivateKey, deposit: Amount, config: PayerConfig) -> ChannelId {
        let channel = self.hub.open(key.public(), deposit);
        let mut payer = Payer::new(key, self.hub.hub_id(), channel, config);
        let head = self.hub.hello(channel).expect("channel was just opened");
        payer
            .resume(&head)
            .expect("a fresh payer adopts the hub's head");
        self.payers.insert(channel, payer);
        self.payees.insert(
            channel,
            Payee::new(self.hub.hub_id(), self.hub.public_key(), channel),
        );
        channel
    }

    /// The payer of `channel`.
    pub fn payer(&mut self, channel: ChannelId) -> &mut Payer {
        self.payers
            .get_mut(&channel)
            .expect("no payer on that channel")
    }

    /// Advance the virtual clock and fire due payer timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for p in self.payers.values_mut() {
            p.handle_timeout(now);
        }
    }

    /// Move every payer's transmittable vouchers onto the wire.
    pub fn transmit(&mut self) -> usize {
        let mut n = 0;
        for (&ch, p) in self.payers.iter_mut() {
            let q = self.in_flight.entry(ch).or_default();
            while let Some(v) = p.poll_transmit() {
                q.push_back(v);
                n += 1;
            }
        }
        n
    }

    /// Deliver every voucher on the wire to the hub, in order.
    pub fn deliver_up(&mut self) -> usize {
        let mut n = 0;
        for (ch, q) in std::mem::take(&mut self.in_flight) {
            for v in q {
                self.hub.receive(ch, &v);
                n += 1;
            }
        }
        n
    }

    /// Lose every voucher of `channel` still on the wire.
    pub fn lose_up(&mut self, channel: ChannelId) -> usize {
        self.in_flight
            .remove(&channel)
            .map(|q| q.len())
            .unwrap_or(0)
    }

    /// Deliver the hub's messages to the clients. Panics on a protocol error (the
    /// in-memory hub is honest).
    pub fn deliver_down(&mut self) -> usize {
        let mut n = 0;
        let channels: Vec<ChannelId> = self
            .payers
            .keys()
            .chain(self.payees.keys())
            .copied()
            .collect();
        for ch in channels {
            for msg in self.hub.take_outbox(ch) {
                n += 1;
                match msg {
                    ToClient::Ack(seq) => {
                        if let Some(p) = self.payers.get_mut(&ch) {
                            p.handle_ack(seq)
                                .expect("honest hub acks only what was sent");
                        }
                    }
                    ToClient::Reack(head) => {
                        if let Some(p) = self.payers.get_mut(&ch) {
                            p.handle_reack(head.seq, head.spent, head.chain)
                                .expect("honest hub re-acks what it committed");
                        }
                    }
                    ToClient::Reject { seq, code } => {
                        if let Some(p) = self.payers.get_mut(&ch) {
                            p.handle_reject(seq, code)
                                .expect("honest hub rejects only what was sent");
                        }
                    }
                    ToClient::Credit { amount, received } => {
                        if let Some(p) = self.payers.get_mut(&ch) {
                            p.handle_received(received);
                        }
                        if let Some(p) = self.payees.get_mut(&ch) {
                            p.handle_credit(ch, amount, received)
                                .expect("honest credit");
                        }
                    }
                }
            }
        }
        self.collect_events();
        n
    }

    /// Drop `channel`'s session (staged vouchers, messages on the wire both ways),
    /// reconnect, and resume the payer from the hub's committed head (and the payee
    /// from its committed received).
    pub fn reconnect(&mut self, channel: ChannelId) {
        self.lose_up(channel);
        self.hub.disconnect(channel);
        let head = self.hub.hello(channel).expect("channel exists");
        // The payee of the channel resubscribes: credits lost with the session are
        // covered by the hub's committed received.
        if let Some(p) = self.payees.get_mut(&channel) {
            p.resume(head.received);
        }
        if let Some(p) = self.payers.get_mut(&channel) {
            p.resume(&head)
                .expect("the honest hub's head matches the payer's history");
        }
        self.collect_events();
    }

    /// Step until quiet: transmit, deliver, commit, deliver; reconnect desynced
    /// payers, and payers stalled waiting for acks of lost messages (what the
    /// session layer's ack timeout does). Panics if it does not settle within
    /// `max_rounds`.
    pub fn drive(&mut self, max_rounds: usize) {
        for _ in 0..max_rounds {
            let mut moved = self.transmit() + self.deliver_up();
            moved += self.hub.commit() as usize;
            moved += self.deliver_down();
            let desynced: Vec<ChannelId> = self
                .payers
                .iter()
                .filter(|(_, p)| p.needs_resync())
                .map(|(&c, _)| c)
                .collect();
            for ch in &desynced {
                self.reconnect(*ch);
            }
            if moved == 0 && desynced.is_empty() {
                // Quiet, yet a payer waits for acks of everything it released: its
                // messages were lost on a live session. The session layer's ack
                // timeout reconnects it (the resend covers the lost tail).
                let stalled: Vec<ChannelId> = self
                    .payers
                    .iter()
                    .filter(|(_, p)| p.is_synced() && !p.all_acked() && !p.has_held_tail())
                    .map(|(&c, _)| c)
                    .collect();
                if stalled.is_empty() {
                    return;
                }
                for ch in stalled {
                    self.reconnect(ch);
                }
            }
        }
        panic!("network did not settle within {max_rounds} rounds");
    }

    /// Flush every payer, then drive until quiet.
    pub fn settle(&mut self) {
        for p in self.payers.values_mut() {
            p.flush();
        }
        self.drive(1000);
    }

    fn collect_events(&mut self) {
        for (&ch, p) in self.payers.iter_mut() {
            while let Some(e) = p.poll_event() {
                self.payer_events.entry(ch).or_default().push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::SigningPolicy;

    /// Alice (100) and Bob (0) on a MemHub; Alice's payer signs every second voucher.
    fn alice_and_bob() -> (Net, ChannelId, ChannelId) {
        let mut net = Net::new(
            MemHub::new(1, PrivateKey([9; 32]), Limits::DEFAULT),
            Instant::now(),
        );
        let config = PayerConfig {
            policy: SigningPolicy::EveryK(2),
            ..PayerConfig::default()
        };
        let alice = net.open(PrivateKey([1; 32]), 100, config);
        let bob = net.open(PrivateKey([2; 32]), 0, config);
        (net, alice, bob)
    }

    #[test]
    fn a_range_refused_after_the_exit_is_rejected_from_its_first_seq_after_the_commit() {
        let (mut net, alice, bob) = alice_and_bob();
        let now = net.now;
        net.hub.hold_verification(true);
        net.payer(alice).pay(now, bob, 1).unwrap();
        net.payer(alice).pay(now, bob, 1).unwrap();
        assert_eq!(net.transmit(), 2);
        net.deliver_up();
        // The exit reaches the commit path before the range 1..=2 is covered.
        net.hub.exit(alice);
        assert_eq!(net.hub.verify(usize::MAX), 1);
        assert!(
            net.hub.take_outbox(alice).is_empty(),
            "nothing is rejected before the commit"
        );
        assert_eq!(net.hub.commit(), 0, "the range is not committed");
        let exiting = ToClient::Reject {
            seq: 1,
            code: ErrorCode::ChannelExiting,
        };
        // Once for what the exit found uncommitted, once for the refused range
        // (PROTOCOL.md §9: the lowest seq counts), as the hub sends them.
        assert_eq!(
            Vec::from(net.hub.take_outbox(alice)),
            vec![exiting.clone(), exiting]
        );
        let head = net.hub.hub_head(alice).unwrap();
        assert_eq!((head.seq, head.spent, head.exiting), (0, 0, true));
    }

    #[test]
    fn a_range_covered_before_the_exit_is_committed_and_acked() {
        let (mut net, alice, bob) = alice_and_bob();
        let now = net.now;
        net.payer(alice).pay(now, bob, 1).unwrap();
        net.payer(alice).pay(now, bob, 1).unwrap();
        net.transmit();
        net.deliver_up();
        net.hub.exit(alice);
        assert_eq!(net.hub.commit(), 2);
        assert_eq!(
            Vec::from(net.hub.take_outbox(alice)),
            vec![ToClient::Ack(2)]
        );
    }

    #[test]
    fn a_result_for_a_superseded_session_covers_nothing() {
        let (mut net, alice, bob) = alice_and_bob();
        let now = net.now;
        net.hub.hold_verification(true);
        net.payer(alice).pay(now, bob, 1).unwrap();
        net.payer(alice).pay(now, bob, 1).unwrap();
        net.transmit();
        net.deliver_up();
        net.hub.hello(alice).unwrap(); // a new session takes the channel over
        assert_eq!(net.hub.verify(usize::MAX), 1);
        assert_eq!(net.hub.commit(), 0);
        assert!(net.hub.take_outbox(alice).is_empty());
        assert_eq!(net.hub.hub_head(alice).unwrap().seq, 0);
    }
}
