//! The payer's state machine: builds vouchers, signs checkpoints, tracks acks,
//! recovers from rejects and reconnects.
//!
//! # Checkpoints and the held-back tail
//!
//! The hub covers (and later acks) pending vouchers only when a *signed* voucher
//! after them arrives, and it ignores a second copy of a seq it already staged
//! (`Admit::AlreadyStaged`): a signature sent later for the same seq is lost. So a
//! pending voucher that has been transmitted can only ever be covered by a *newer*
//! voucher. The payer therefore never transmits an unsigned voucher as the last one
//! of the stream:
//!
//! - a voucher the [`SigningPolicy`] says to sign is transmitted at once, and so is
//!   the unsigned voucher before it;
//! - an unsigned voucher is *held back* until the next payment (then it goes out
//!   unsigned, ahead of the new one) or until [`Payer::flush`] (or the linger
//!   deadline, see [`Payer::poll_timeout`]) signs it and releases it.
//!
//! Invariant: every transmitted unsigned voucher has a successor that is either
//! transmitted or held back, so after `flush` the transmitted stream ends in a
//! checkpoint and the hub can cover and ack all of it.
//!
//! # Rejects
//!
//! A rejected voucher and every voucher after it are invalid: each later voucher
//! extends the rejected one's chain. They are reported as [`PayerEvent::Failed`]
//! and dropped; the payer's head rolls back to the voucher before the rejected one
//! (whose state the hub still holds). The application may pay again.
//!
//! The payer continues in place when that is unambiguous: the code says the
//! voucher's *content* was refused ([`ClientAction::FailAndContinue`]: the hub's head
//! is then exactly the voucher before it), nothing after it was transmitted, and the
//! voucher before it is a checkpoint (or already acked), so the hub can still cover
//! what it holds.
//! Otherwise it is *desynced* ([`PayerEvent::Desynced`]): it stops transmitting and
//! the session layer reconnects. A new session drops the hub's staged vouchers, and
//! [`Payer::resume`] with the committed head from the `hello` result resends
//! everything the hub has not committed, the last voucher signed.
//!
//! Transient codes ([`ClientAction::Resync`]: bad seq, the hub's head is not where
//! the stream expects it; rate limited, overloaded, storage failed) fail nothing: the
//! payer desyncs and, after the reconnect, resends the same vouchers.
//!
//! # Reconnect
//!
//! [`Payer::resume`] takes the hub's committed head. Everything at or below it is
//! acked (an ack may have been lost with the old session); everything above it is
//! transmitted again, with the tail signed. The hub re-acks a resent committed seq
//! and never applies it twice.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ark_ff::AdditiveGroup;

use crate::codec::{ClientAction, ErrorCode};
use crate::crypto::{PrivateKey, chain_next};
use crate::field::Fe;
use crate::ledger::{Head, Limits};
use crate::types::{Amount, ChannelId, HubId, NetAmount, Seq, Voucher, voucher_message};

/// When the payer signs a voucher (making it a checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningPolicy {
    /// Sign every voucher (a browser tipping now and then): each is acked on its own.
    EveryVoucher,
    /// Sign every k-th voucher (a high-rate client); `flush` and the linger
    /// deadline sign the tail early. `EveryK(1)` equals `EveryVoucher`.
    EveryK(u32),
}

impl SigningPolicy {
    fn k(self) -> u32 {
        match self {
            SigningPolicy::EveryVoucher => 1,
            SigningPolicy::EveryK(k) => k.max(1),
        }
    }
}

/// Payer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerConfig {
    /// When to sign.
    pub policy: SigningPolicy,
    /// Most vouchers awaiting an ack; `pay` refuses with [`PayError::WindowFull`]
    /// beyond it.
    pub max_unacked: usize,
    /// The hub's pending limits: the payer signs early rather than exceed them.
    /// (The hub counts from its last *covered* checkpoint, the payer from its last
    /// *signed* one, so keep `EveryK` well below `max_pending_count`.)
    pub hub_limits: Limits,
    /// How long an unsigned tail may be held back before it is signed and sent.
    pub linger: Duration,
}

impl Default for PayerConfig {
    fn default() -> Self {
        PayerConfig {
            policy: SigningPolicy::EveryK(64),
            max_unacked: 4096,
            hub_limits: Limits::DEFAULT,
            linger: Duration::from_millis(20),
        }
    }
}

/// The hub's committed state of the payer's channel, from the `hello` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubHead {
    /// Latest committed seq (0: none).
    pub seq: Seq,
    /// Committed cumulative spent.
    pub spent: Amount,
    /// Committed chain.
    pub chain: Fe,
    /// Net deposit `D`.
    pub deposit: NetAmount,
    /// Committed received `R`.
    pub received: Amount,
    /// The channel has requested exit and may not spend.
    pub exiting: bool,
}

/// Why `pay` refused. Nothing changed; the caller decides what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// `resume` has not been called yet: connect first.
    #[error("not synchronised with the hub yet")]
    NotSynced,
    /// Too many vouchers await an ack: wait for acks (or `flush`).
    #[error("{0} vouchers await an ack; wait for acks")]
    WindowFull(usize),
    /// The amount is zero.
    #[error("amount must be positive")]
    ZeroAmount,
    /// `to` is the paying channel.
    #[error("a channel cannot pay itself")]
    SelfPayment,
    /// The payment exceeds the balance (unacked payments counted).
    #[error("insufficient balance: {available} available")]
    InsufficientBalance {
        /// What could still be spent.
        available: Amount,
    },
    /// Cumulative spent would overflow.
    #[error("amount overflows")]
    Overflow,
    /// The channel is exiting and may not spend.
    #[error("channel is exiting and may not spend")]
    ChannelExiting,
}

/// The hub said something impossible for an honest hub; the session should be
/// dropped (and the hub's behaviour reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An ack for a seq never transmitted (in any session).
    #[error("ack for seq {seq}, but only {sent} were sent")]
    AckBeyondSent {
        /// Acked seq.
        seq: Seq,
        /// Highest transmitted seq.
        sent: Seq,
    },
    /// A reject for a seq never transmitted in this session.
    #[error("reject for seq {seq}, but only {sent} were sent")]
    RejectBeyondSent {
        /// Rejected seq.
        seq: Seq,
        /// Highest transmitted seq.
        sent: Seq,
    },
    /// A reject for a seq the hub already acked.
    #[error("reject for seq {seq}, already acked up to {acked}")]
    RejectOfAcked {
        /// Rejected seq.
        seq: Seq,
        /// Acked seq.
        acked: Seq,
    },
    /// The hub's committed head is behind an ack it gave: acked payments were lost.
    #[error("hub committed head {hub} is behind acked seq {acked}")]
    HubRegressed {
        /// Acked seq.
        acked: Seq,
        /// Hub's committed seq.
        hub: Seq,
    },
    /// The hub's committed head does not match this payer's history (another
    /// client with the same key, or a hub fault).
    #[error("hub committed head at seq {hub} does not match the local history")]
    Diverged {
        /// Hub's committed seq.
        hub: Seq,
    },
}

/// What the application learns from the payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayerEvent {
    /// Every voucher up to `seq` is durable at the hub (cumulative).
    Acked {
        /// Acked seq.
        seq: Seq,
        /// Cumulative spent at `seq`.
        spent: Amount,
    },
    /// A payment failed and was dropped: `voucher` was rejected with `code`, or
    /// (when `rejected < voucher.seq`) it came after the rejected voucher.
    Failed {
        /// The failed voucher.
        voucher: Voucher,
        /// The hub's code for the rejected voucher.
        code: ErrorCode,
        /// The seq the hub rejected.
        rejected: Seq,
    },
    /// The payer is out of step with the hub: reconnect and call `resume`.
    Desynced {
        /// The seq whose reject caused it.
        at: Seq,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// No `resume` yet.
    Unsynced,
    /// In step with the hub's session.
    Synced,
    /// Stopped after the reject of `at`; waiting for `resume`.
    Desynced { at: Seq },
}

/// The payer's state machine for one channel (see the module docs).
pub struct Payer {
    key: PrivateKey,
    hub_id: HubId,
    channel: ChannelId,
    config: PayerConfig,
    sync: Sync,
    /// Head the hub acked (committed).
    acked: Head,
    /// Local tip, including unacked vouchers.
    head: Head,
    /// Vouchers `acked.seq + 1 ..= head.seq`, in order.
    unacked: VecDeque<Voucher>,
    /// Highest seq released for transmission (`head.seq`, or one less when the
    /// unsigned tail is held back).
    ready: Seq,
    /// Highest seq handed out by `poll_transmit` in this session.
    sent: Seq,
    /// Highest seq handed out in any session (an ack may follow a reconnect:
    /// covered vouchers of the old session are acked to the new one).
    ever_sent: Seq,
    /// Unsigned vouchers since the last signed one, and their amount.
    run_len: u32,
    run_amount: Amount,
    /// When the current unsigned run began (for the linger deadline).
    run_started: Option<Instant>,
    deposit: NetAmount,
    received: Amount,
    exiting: bool,
    events: VecDeque<PayerEvent>,
}

impl std::fmt::Debug for Payer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payer")
            .field("channel", &self.channel)
            .field("sync", &self.sync)
            .field("acked", &self.acked.seq)
            .field("head", &self.head.seq)
            .field("ready", &self.ready)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

const ZERO_HEAD: Head = Head {
    seq: 0,
    spent: 0,
    chain: Fe::ZERO,
};

impl Payer {
    /// A payer for `channel` on hub `hub_id`. Call [`Payer::resume`] with the
    /// `hello` result before paying.
    pub fn new(key: PrivateKey, hub_id: HubId, channel: ChannelId, config: PayerConfig) -> Self {
        assert!(
            config.max_unacked > 0,
            "the unacked window must hold a voucher"
        );
        Payer {
            key,
            hub_id,
            channel,
            config,
            sync: Sync::Unsynced,
            acked: ZERO_HEAD,
            head: ZERO_HEAD,
            unacked: VecDeque::new(),
            ready: 0,
            sent: 0,
            ever_sent: 0,
            run_len: 0,
            run_amount: 0,
            run_started: None,
            deposit: 0,
            received: 0,
            exiting: false,
            events: VecDeque::new(),
        }
    }

    // ---- getters ----

    /// The paying channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// The hub this payer signs for.
    pub fn hub_id(&self) -> HubId {
        self.hub_id
    }

    /// The configuration.
    pub fn config(&self) -> &PayerConfig {
        &self.config
    }

    /// The local tip (including unacked vouchers).
    pub fn head(&self) -> Head {
        self.head
    }

    /// The head the hub acked.
    pub fn acked(&self) -> Head {
        self.acked
    }

    /// Vouchers awaiting an ack.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// Whether every voucher built so far is acked.
    pub fn all_acked(&self) -> bool {
        self.unacked.is_empty()
    }

    /// Highest seq transmitted in this session.
    pub fn sent(&self) -> Seq {
        self.sent
    }

    /// Whether an unsigned tail is held back (waiting for the next payment or `flush`).
    pub fn has_held_tail(&self) -> bool {
        self.ready < self.head.seq
    }

    /// Whether the payer is in step with the hub's session (resumed, not desynced):
    /// only then does it transmit.
    pub fn is_synced(&self) -> bool {
        self.sync == Sync::Synced
    }

    /// Whether the session layer must reconnect and call `resume`.
    pub fn needs_resync(&self) -> bool {
        matches!(self.sync, Sync::Desynced { .. })
    }

    /// Net deposit `D` as last reported by the hub.
    pub fn deposit(&self) -> NetAmount {
        self.deposit
    }

    /// What can still be spent: `D + R − S` with every unacked payment counted.
    pub fn available(&self) -> Amount {
        let left = self.deposit + NetAmount::from(self.received) - NetAmount::from(self.head.spent);
        left.clamp(0, NetAmount::from(Amount::MAX)) as Amount
    }

    // ---- application commands ----

    /// Build the next voucher paying `amount` to `to`, signing it when the policy
    /// says so. The voucher is queued for [`Payer::poll_transmit`]; the returned
    /// copy is as built (a held-back tail is signed later by `flush`). A desynced
    /// payer (reconnecting) still accepts payments; they go out after `resume`.
    pub fn pay(
        &mut self,
        now: Instant,
        to: ChannelId,
        amount: Amount,
    ) -> Result<Voucher, PayError> {
        // A desynced payer still builds on its (rolled back) head: nothing is sent
        // until `resume`, which resends everything after the hub's committed head.
        if self.sync == Sync::Unsynced {
            return Err(PayError::NotSynced);
        }
        if self.exiting {
            return Err(PayError::ChannelExiting);
        }
        if amount == 0 {
            return Err(PayError::ZeroAmount);
        }
        if to == self.channel {
            return Err(PayError::SelfPayment);
        }
        if self.unacked.len() >= self.config.max_unacked {
            return Err(PayError::WindowFull(self.unacked.len()));
        }
        let spent = self
            .head
            .spent
            .checked_add(amount)
            .ok_or(PayError::Overflow)?;
        if NetAmount::from(spent) > self.deposit + NetAmount::from(self.received) {
            return Err(PayError::InsufficientBalance {
                available: self.available(),
            });
        }
        let seq = self.head.seq + 1;
        let chain = chain_next(&self.head.chain, seq, to, amount);
        let limits = self.config.hub_limits;
        let run_amount = self.run_amount.saturating_add(amount);
        let sign = self.run_len + 1 >= self.config.policy.k()
            || self.run_len >= limits.max_pending_count
            || run_amount > limits.max_pending_amount;
        let sig = sign.then(|| {
            self.key.sign(&voucher_message(
                self.hub_id,
                self.channel,
                seq,
                spent,
                &chain,
            ))
        });
        let voucher = Voucher {
            channel: self.channel,
            seq,
            spent,
            to,
            amount,
            chain,
            sig,
        };
        self.unacked.push_back(voucher.clone());
        self.head = Head { seq, spent, chain };
        if sign {
            self.ready = seq;
            self.end_run();
        } else {
            self.ready = seq - 1;
            self.run_len += 1;
            self.run_amount = run_amount;
            self.run_started.get_or_insert(now);
        }
        self.check_invariants();
        Ok(voucher)
    }

    /// Sign the held-back unsigned tail, if any, and release it for transmission,
    /// so that everything built so far can be covered and acked. Returns the seq it
    /// signed. Does nothing while not synced (a `resume` signs the tail anyway).
    pub fn flush(&mut self) -> Option<Seq> {
        if self.sync != Sync::Synced || !self.has_held_tail() {
            return None;
        }
        let seq = self.sign_tail();
        self.ready = seq;
        self.end_run();
        self.check_invariants();
        Some(seq)
    }

    // ---- inputs ----

    /// The linger deadline passed: flush the held tail if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.flush();
        }
    }

    /// The hub acked every voucher up to `seq` (cumulative).
    pub fn handle_ack(&mut self, seq: Seq) -> Result<(), ProtocolError> {
        if seq <= self.acked.seq {
            return Ok(()); // duplicate or re-ack of a resend
        }
        if seq > self.ever_sent {
            return Err(ProtocolError::AckBeyondSent {
                seq,
                sent: self.ever_sent,
            });
        }
        self.ack_through(seq);
        self.check_invariants();
        Ok(())
    }

    /// The hub re-acked a resend (an `ack` carrying its committed head): an ack of
    /// `seq`, after checking that this payer's voucher at `seq` has the same `spent`
    /// and `chain`. [`ProtocolError::Diverged`] (nothing changes) if not.
    pub fn handle_reack(
        &mut self,
        seq: Seq,
        spent: Amount,
        chain: Fe,
    ) -> Result<(), ProtocolError> {
        let ours = match seq.checked_sub(self.acked.seq) {
            Some(0) => Some(self.acked),
            Some(ahead) => usize::try_from(ahead - 1)
                .ok()
                .and_then(|i| self.unacked.get(i))
                .map(head_of),
            None => None, // older than our acked head: nothing held to compare
        };
        if ours.is_some_and(|o| o.spent != spent || o.chain != chain) {
            return Err(ProtocolError::Diverged { hub: seq });
        }
        self.handle_ack(seq)
    }

    /// The hub rejected the voucher `seq` with `code` (see the module docs).
    pub fn handle_reject(&mut self, seq: Seq, code: ErrorCode) -> Result<(), ProtocolError> {
        if seq <= self.acked.seq {
            return Err(ProtocolError::RejectOfAcked {
                seq,
                acked: self.acked.seq,
            });
        }
        if let Sync::Desynced { at } = self.sync
            && seq > at
        {
            return Ok(()); // a consequence of the first reject
        }
        if seq > self.sent {
            return Err(ProtocolError::RejectBeyondSent {
                seq,
                sent: self.sent,
            });
        }
        let action = code.action();
        if action == ClientAction::Resync {
            // The hub dropped the message unread; the vouchers are not at fault.
            self.handle_session_lost();
            return Ok(());
        }
        let sent_before = self.sent;
        let keep = (seq - self.acked.seq - 1) as usize;
        for voucher in self.unacked.drain(keep..) {
            self.events.push_back(PayerEvent::Failed {
                voucher,
                code,
                rejected: seq,
            });
        }
        self.head = self.unacked.back().map(head_of).unwrap_or(self.acked);
        self.ready = self.ready.min(self.head.seq);
        self.sent = self.sent.min(self.head.seq);
        self.ever_sent = self.ever_sent.min(self.head.seq);
        self.recount_run();
        let last_covered = self.unacked.back().is_none_or(|v| v.sig.is_some());
        let in_place = sent_before == seq
            && last_covered
            && action == ClientAction::FailAndContinue
            && self.sync == Sync::Synced;
        if !in_place {
            let at = match self.sync {
                Sync::Desynced { at } => at.min(seq),
                _ => seq,
            };
            if !matches!(self.sync, Sync::Desynced { .. }) {
                self.events.push_back(PayerEvent::Desynced { at });
            }
            self.sync = Sync::Desynced { at };
        }
        self.check_invariants();
        Ok(())
    }

    /// The hub refused input without naming a voucher (a reject with seq 0: a whole
    /// frame, e.g. rate limited or overloaded), or the session broke. Nothing is
    /// failed: the payer stops transmitting until [`Payer::resume`] on a new session
    /// resends everything unacked.
    pub fn handle_session_lost(&mut self) {
        if self.sync == Sync::Synced {
            self.sync = Sync::Desynced {
                at: self.head.seq + 1,
            };
            self.events.push_back(PayerEvent::Desynced {
                at: self.head.seq + 1,
            });
        }
    }

    /// The hub credited this channel: its committed received is now `received`.
    pub fn handle_received(&mut self, received: Amount) {
        self.received = self.received.max(received);
    }

    /// A new session: adopt the hub's committed head (from the `hello` result),
    /// treat everything up to it as acked, and queue everything after it for
    /// transmission with the tail signed.
    ///
    /// On an error nothing changes; the channel's history and the hub's disagree
    /// and the application must decide (see [`ProtocolError`]).
    pub fn resume(&mut self, hub: &HubHead) -> Result<(), ProtocolError> {
        if self.sync == Sync::Unsynced && self.unacked.is_empty() && self.head.seq == 0 {
            // Fresh client: the hub's committed head is the history.
            self.acked = Head {
                seq: hub.seq,
                spent: hub.spent,
                chain: hub.chain,
            };
            self.head = self.acked;
        } else {
            if hub.seq < self.acked.seq {
                return Err(ProtocolError::HubRegressed {
                    acked: self.acked.seq,
                    hub: hub.seq,
                });
            }
            if hub.seq > self.head.seq {
                return Err(ProtocolError::Diverged { hub: hub.seq });
            }
            let ours = if hub.seq == self.acked.seq {
                self.acked
            } else {
                head_of(&self.unacked[(hub.seq - self.acked.seq - 1) as usize])
            };
            if ours.spent != hub.spent || ours.chain != hub.chain {
                return Err(ProtocolError::Diverged { hub: hub.seq });
            }
            self.ack_through(hub.seq);
        }
        self.deposit = hub.deposit;
        self.received = hub.received;
        self.exiting = hub.exiting;
        self.sync = Sync::Synced;
        self.sent = self.acked.seq;
        if self.has_held_tail() || self.unacked.back().is_some_and(|v| v.sig.is_none()) {
            self.sign_tail();
        }
        self.ready = self.head.seq;
        self.end_run();
        self.check_invariants();
        Ok(())
    }

    /// [`Payer::resume`], then every voucher to resend, in order (the tail signed).
    pub fn resend(&mut self, hub: &HubHead) -> Result<Vec<Voucher>, ProtocolError> {
        self.resume(hub)?;
        let mut out = Vec::with_capacity(self.unacked.len());
        self.poll_transmit_into(&mut out, usize::MAX);
        Ok(out)
    }

    // ---- outputs ----

    /// The next voucher to transmit, in seq order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Voucher> {
        if self.sync != Sync::Synced || self.sent >= self.ready {
            return None;
        }
        let idx = (self.sent - self.acked.seq) as usize;
        let v = self.unacked[idx].clone();
        debug_assert_eq!(v.seq, self.sent + 1);
        self.sent += 1;
        self.ever_sent = self.ever_sent.max(self.sent);
        Some(v)
    }

    /// Append up to `max` vouchers to transmit to `out` (for a batched binary
    /// frame); returns how many.
    pub fn poll_transmit_into(&mut self, out: &mut Vec<Voucher>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.poll_transmit() {
                Some(v) => out.push(v),
                None => break,
            }
            n += 1;
        }
        n
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PayerEvent> {
        self.events.pop_front()
    }

    /// When [`Payer::handle_timeout`] should next be called: the held tail's
    /// linger deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.sync != Sync::Synced || !self.has_held_tail() {
            return None;
        }
        self.run_started.map(|t| t + self.config.linger)
    }

    // ---- internals ----

    fn ack_through(&mut self, seq: Seq) {
        let mut last = None;
        while self.unacked.front().is_some_and(|v| v.seq <= seq) {
            last = self.unacked.pop_front();
        }
        if let Some(v) = last {
            self.acked = head_of(&v);
            self.events.push_back(PayerEvent::Acked {
                seq: v.seq,
                spent: v.spent,
            });
        }
        self.sent = self.sent.max(self.acked.seq);
        self.ever_sent = self.ever_sent.max(self.acked.seq);
        self.ready = self.ready.max(self.acked.seq);
    }

    /// Sign the last unacked voucher in place (if unsigned); returns its seq.
    fn sign_tail(&mut self) -> Seq {
        let (hub_id, key) = (self.hub_id, &self.key);
        let tail = self.unacked.back_mut().expect("a held tail exists");
        if tail.sig.is_none() {
            tail.sig = Some(key.sign(&tail.message(hub_id)));
        }
        tail.seq
    }

    fn end_run(&mut self) {
        self.run_len = 0;
        self.run_amount = 0;
        self.run_started = None;
    }

    /// Recount the trailing unsigned run after a rollback.
    fn recount_run(&mut self) {
        let mut len = 0u32;
        let mut amount: Amount = 0;
        for v in self.unacked.iter().rev().take_while(|v| v.sig.is_none()) {
            len += 1;
            amount = amount.saturating_add(v.amount);
        }
        self.run_len = len;
        self.run_amount = amount;
        if len == 0 {
            self.run_started = None;
        }
    }

    fn check_invariants(&self) {
        debug_assert!(self.acked.seq <= self.sent);
        debug_assert!(self.sent <= self.ready || self.sync != Sync::Synced);
        debug_assert!(self.ready <= self.head.seq);
        debug_assert!(
            self.head.seq - self.ready <= 1,
            "at most the tail is held back"
        );
        debug_assert_eq!(self.unacked.len() as u64, self.head.seq - self.acked.seq);
        debug_assert!(
            self.unacked
                .front()
                .is_none_or(|v| v.seq == self.acked.seq + 1),
            "unacked vouchers follow the acked head"
        );
        // While synced, a held tail is unsigned and a released tail is signed: the
        // transmitted stream always ends in a checkpoint (see the module docs).
        if self.sync == Sync::Synced
            && let Some(tail) = self.unacked.back()
        {
            debug_assert_eq!(tail.sig.is_none(), self.ready < tail.seq);
        }
    }
}

fn head_of(v: &Voucher) -> Head {
    Head {
        seq: v.seq,
        spent: v.spent,
        chain: v.chain,
    }
}
