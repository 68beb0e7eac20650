//! An in-memory hub and its clients, stepped by hand: protocol tests without
//! sockets or disks (like `quinn-proto`'s test `Pair`).
//!
//! [`MemHub`] is the hub's session logic reduced to its rules: a
//! [`Ledger`], signature checks done inline, a [`BatchBuilder`] for the next group
//! commit, and per-channel outboxes. A commit is "durable" the moment
//! [`MemHub::commit`] runs; acks and credits are released only then, as in the real
//! hub. [`Net`] holds a `MemHub`, payers and payees, and the message queues
//! between them, with hooks to lose messages and to drop sessions.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{ErrorCode, Receipt};
use crate::crypto::{PrivateKey, PublicKey};
use crate::ledger::{
    Admit, AdmitContext, BatchBuilder, ChannelTable, Event, Ledger, Limits, apply_batch,
};
use crate::types::{Amount, ChannelId, Epoch, HubId, Seq, Voucher, receipt_message};

use super::payee::Payee;
use super::payer::{HubHead, Payer, PayerConfig, PayerEvent};

/// A message from the hub to a client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToClient {
    /// Every voucher of the session's channel up to `seq` is durable.
    Ack(Seq),
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

    /// A voucher arrives on the session bound to `session` (its channel).
    pub fn receive(&mut self, session: ChannelId, v: &Voucher) {
        if v.channel != session {
            self.push(
                session,
                ToClient::Reject {
                    seq: v.seq,
                    code: ErrorCode::WrongChannel,
                },
            );
            return;
        }
        // Look the payee up first: the ledger is borrowed while admitting.
        let (to, payee_known) = (v.to, self.ledger.contains(v.to));
        let payee_exists = move |c: ChannelId| c == to && payee_known;
        let ctx = AdmitContext {
            hub_id: self.hub_id,
            limits: self.limits,
            payee_exists: &payee_exists,
        };
        let incoming = v.to_incoming();
        let admitted = self.ledger.with_channel(session, |c| {
            let admit = c.admit(&incoming, &ctx);
            let admit = match admit {
                Ok(a) => a,
                Err(e) => return Err(vec![(v.seq, e.code())]),
            };
            match admit {
                Admit::Pending | Admit::AlreadyStaged => Ok(None),
                Admit::AlreadyCommitted => Ok(Some(ToClient::Ack(c.record.seq))),
                Admit::Checkpoint { msg, sig } => match c.record.pk.verify(&msg, &sig) {
                    Ok(()) => {
                        let covered = c.cover(v.seq, sig).expect("checkpoint was just staged");
                        match self.builder.push_covered(covered, c.record.exiting) {
                            Ok(()) => Ok(None),
                            Err(r) => Err((r.first_seq..=r.last_seq)
                                .map(|s| (s, ErrorCode::ChannelExiting))
                                .collect()),
                        }
                    }
                    Err(_) => {
                        let dropped = c
                            .refuse_checkpoint(v.seq)
                            .expect("checkpoint was just staged");
                        Err(dropped
                            .into_iter()
                            .map(|s| (s, ErrorCode::BadSignature))
                            .collect())
                    }
                },
            }
        });
        match admitted {
            None => self.push(
                session,
                ToClient::Reject {
                    seq: v.seq,
                    code: ErrorCode::UnknownChannel,
                },
            ),
            Some(Ok(None)) => {}
            Some(Ok(Some(msg))) => self.push(session, msg),
            Some(Err(rejects)) => {
                for (seq, code) in rejects {
                    self.push(session, ToClient::Reject { seq, code });
                }
            }
        }
    }

    /// Group commit: build the batch, apply it, release acks and credits.
    /// Returns the number of payments in the batch.
    pub fn commit(&mut self) -> u64 {
        let builder = std::mem::take(&mut self.builder);
        if builder.is_empty() {
            return 0;
        }
        let payments = builder.payments();
        let batch = builder.build(self.next_batch);
        self.next_batch += 1;
        let applied = apply_batch(&self.ledger, &batch);
        self.applied_payments += payments;
        for (channel, seq) in applied.acks {
            self.push(channel, ToClient::Ack(seq));
        }
        for (channel, amount, received) in applied.credits {
            self.push(channel, ToClient::Credit { amount, received });
        }
        self.ledger.totals();
        payments
    }

    /// The session of `channel` ended: its staged (uncovered) vouchers are dropped
    /// and its undelivered messages are lost.
    pub fn disconnect(&mut self, channel: ChannelId) {
        self.ledger.with_channel(channel, |c| c.drop_staged());
        self.outbox.remove(&channel);
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

    fn push(&mut self, channel: ChannelId, msg: ToClient) {
        self.outbox.entry(channel).or_default().push_back(msg);
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
        let head = self.hub.hub_head(channel).expect("channel was just opened");
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
        let head = self.hub.hub_head(channel).expect("channel exists");
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
