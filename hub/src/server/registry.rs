//! Who is connected: the session bound to each channel, the read-only subscribers of
//! each payee, and delivery of notifications (acks, rejects, credits, receipts,
//! epochs) into their bounded outbound queues.
//!
//! Delivery never blocks and never grows memory: it `try_send`s into a session's
//! bounded queue, and a session whose queue is full is told to close
//! ([`CloseCode::SlowReader`]). Acks are the exception: an ack is cumulative (it
//! covers every seq up to its own), so an ack that finds the queue full is *coalesced*
//! into one per-session slot that the writer sends as soon as it drains, instead of
//! closing the session. A payer that sends faster than its writer task is scheduled
//! therefore never loses its connection for it; a peer that does not read at all
//! still fills the socket and is cut off by the writer's timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use channel::codec::{CloseCode, ServerMessage};
use channel::{ChannelId, Seq};
use dashmap::DashMap;
use tokio::sync::{Notify, mpsc};

use crate::metrics::Metrics;
use crate::timeline::{Stat, Timeline, micros};

/// Something the hub sends a session: a protocol message, encoded on the session's
/// writer task (acks and rejects as binary frames once the client sent binary).
pub type Outbound = ServerMessage;

/// Shared control of one session: the registry uses it to close a session from outside.
#[derive(Debug)]
pub struct SessionCtl {
    /// Unique id (also the session's generation for verification results).
    pub id: u64,
    reason: AtomicU8,
    notify: Notify,
    /// The highest ack that found the queue full, plus one (0: none).
    deferred_ack: AtomicU64,
    /// Wakes the writer when `deferred_ack` is set.
    ack_ready: Notify,
    /// Checkpoints handed to the verifier and not yet acked, with when their frame
    /// was read: the hub's own ack latency for the timeline ([`SessionCtl::track`]).
    unacked: parking_lot::Mutex<VecDeque<(Seq, std::time::Instant)>>,
}

/// Most checkpoints a session tracks for the timeline; beyond, new ones go unmeasured.
const TRACKED_CHECKPOINTS: usize = 256;

const NO_REASON: u8 = u8::MAX;
const _: () = assert!(CloseCode::COUNT <= NO_REASON as usize);

impl SessionCtl {
    /// A live session control.
    pub fn new(id: u64) -> Self {
        SessionCtl {
            id,
            reason: AtomicU8::new(NO_REASON),
            notify: Notify::new(),
            deferred_ack: AtomicU64::new(0),
            ack_ready: Notify::new(),
            unacked: parking_lot::Mutex::new(VecDeque::new()),
        }
    }

    /// Remember that the frame read at `read_at` ends in checkpoint `seq`.
    pub fn track(&self, seq: Seq, read_at: std::time::Instant) {
        let mut q = self.unacked.lock();
        if q.len() < TRACKED_CHECKPOINTS {
            q.push_back((seq, read_at));
        }
    }

    /// An ack for `seq` was written: record how long each checkpoint it covers took
    /// from its frame read to now.
    pub fn acked(&self, seq: Seq, timeline: &Timeline) {
        let now = std::time::Instant::now();
        let mut q = self.unacked.lock();
        while let Some(&(s, read_at)) = q.front() {
            if s > seq {
                break;
            }
            q.pop_front();
            let us = micros(now.duration_since(read_at));
            timeline.record_all(&[(Stat::Acked, 1), (Stat::AckMaxUs, us), (Stat::AckSumUs, us)]);
        }
    }

    /// Keep an ack that found the queue full; the writer sends the highest one kept.
    fn defer_ack(&self, seq: Seq) {
        self.deferred_ack
            .fetch_max(seq.saturating_add(1), Ordering::AcqRel);
        self.ack_ready.notify_one();
    }

    /// The highest deferred ack, if any, taken out of its slot.
    pub fn take_deferred_ack(&self) -> Option<Seq> {
        self.deferred_ack.swap(0, Ordering::AcqRel).checked_sub(1)
    }

    /// Resolves once an ack has been deferred (a permit is stored if nobody waits).
    pub async fn ack_deferred(&self) {
        self.ack_ready.notified().await;
    }

    /// Ask the session to close; the first reason wins.
    pub fn close(&self, reason: CloseCode) {
        if self
            .reason
            .compare_exchange(NO_REASON, reason as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.notify.notify_one();
        }
    }

    /// Why the session was asked to close, if it was.
    pub fn close_reason(&self) -> Option<CloseCode> {
        CloseCode::from_index(usize::from(self.reason.load(Ordering::Acquire)))
    }

    /// Resolves once `close` has been called.
    pub async fn closed(&self) {
        loop {
            let notified = self.notify.notified();
            if self.close_reason().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// A session's address: its control and its outbound queue.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Control.
    pub ctl: Arc<SessionCtl>,
    /// Bounded outbound queue.
    pub tx: mpsc::Sender<Outbound>,
}

impl Peer {
    /// Queue `msg`; if the queue is full, close the session as a slow reader. Returns
    /// whether the message was queued.
    /// A cumulative ack that finds the queue full is deferred instead (see the module
    /// comment) and counts as queued.
    pub fn deliver(&self, msg: Outbound, metrics: &Metrics) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(ServerMessage::Ack(ack))) => {
                self.ctl.defer_ack(ack.seq);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.ctl.close_reason().is_none() {
                    metrics.closed(CloseCode::SlowReader);
                }
                self.ctl.close(CloseCode::SlowReader);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// A channel's binding to a session.
#[derive(Debug, Clone)]
struct Binding {
    peer: Peer,
    /// Bumped whenever staged vouchers are dropped by a refused checkpoint, so that a
    /// verification result for a voucher staged before the drop is recognised as stale
    /// even if the client has staged a different voucher at the same seq since.
    staging: u64,
}

/// Identifies what a verification job was admitted against: the session holding the
/// channel and its staging generation. Read and compared under the channel's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// Session id.
    pub session: u64,
    /// Staging generation within the session.
    pub staging: u64,
}

/// All sessions.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    /// The session bound to each channel by `hello` (at most one).
    bound: DashMap<ChannelId, Binding>,
    /// Read-only subscribers per payee channel.
    subscribers: DashMap<ChannelId, Vec<Peer>>,
    /// Every live session (for epoch broadcasts and shutdown).
    all: DashMap<u64, Peer>,
}

impl Registry {
    /// A fresh session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Track a live session.
    pub fn register(&self, peer: Peer) {
        self.all.insert(peer.ctl.id, peer);
    }

    /// Forget a session everywhere (its channel binding is released separately).
    pub fn unregister(&self, id: u64, subscriptions: &[ChannelId]) {
        self.all.remove(&id);
        for ch in subscriptions {
            if let Some(mut subs) = self.subscribers.get_mut(ch) {
                subs.retain(|p| p.ctl.id != id);
            }
            self.subscribers.remove_if(ch, |_, subs| subs.is_empty());
        }
    }

    /// Bind `peer` to `channel`, returning the session it replaces.
    ///
    /// Call inside the channel's lock together with `drop_staged`, so that no voucher
    /// of the old session survives the takeover.
    pub fn bind(&self, channel: ChannelId, peer: Peer) -> Option<Peer> {
        self.bound
            .insert(channel, Binding { peer, staging: 0 })
            .map(|b| b.peer)
    }

    /// The generation of `channel`'s binding (call under the channel's lock).
    pub fn generation(&self, channel: ChannelId) -> Option<Generation> {
        self.bound.get(&channel).map(|b| Generation {
            session: b.peer.ctl.id,
            staging: b.staging,
        })
    }

    /// Staged vouchers of `channel` were dropped: results for them are now stale
    /// (call under the channel's lock).
    pub fn bump_staging(&self, channel: ChannelId) {
        if let Some(mut b) = self.bound.get_mut(&channel) {
            b.staging += 1;
        }
    }

    /// Release `channel` if session `id` still holds it. Returns whether it did.
    pub fn unbind(&self, channel: ChannelId, id: u64) -> bool {
        self.bound
            .remove_if(&channel, |_, b| b.peer.ctl.id == id)
            .is_some()
    }

    /// The session bound to `channel`.
    pub fn bound_peer(&self, channel: ChannelId) -> Option<Peer> {
        self.bound.get(&channel).map(|b| b.peer.clone())
    }

    /// Subscribe `peer` to credits of `channel`.
    pub fn subscribe(&self, channel: ChannelId, peer: Peer) {
        let mut subs = self.subscribers.entry(channel).or_default();
        if !subs.iter().any(|p| p.ctl.id == peer.ctl.id) {
            subs.push(peer);
        }
    }

    /// Whether anyone subscribed to `channel`.
    pub fn has_subscribers(&self, channel: ChannelId) -> bool {
        self.subscribers
            .get(&channel)
            .is_some_and(|s| !s.is_empty())
    }

    /// Deliver to the session bound to `channel`.
    pub fn to_bound(&self, channel: ChannelId, msg: Outbound, metrics: &Metrics) {
        if let Some(peer) = self.bound_peer(channel) {
            peer.deliver(msg, metrics);
        }
    }

    /// Deliver to the bound session of `channel` and to its subscribers (each once).
    pub fn to_channel_watchers(&self, channel: ChannelId, msg: Outbound, metrics: &Metrics) {
        let bound = self.bound_peer(channel);
        let bound_id = bound.as_ref().map(|p| p.ctl.id);
        if let Some(peer) = bound {
            peer.deliver(msg.clone(), metrics);
        }
        let subs: Vec<Peer> = self
            .subscribers
            .get(&channel)
            .map(|s| {
                s.iter()
                    .filter(|p| Some(p.ctl.id) != bound_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for peer in subs {
            peer.deliver(msg.clone(), metrics);
        }
    }

    /// Deliver to every live session.
    pub fn broadcast(&self, msg: Outbound, metrics: &Metrics) {
        let peers: Vec<Peer> = self.all.iter().map(|p| p.clone()).collect();
        for peer in peers {
            peer.deliver(msg.clone(), metrics);
        }
    }

    /// Ask every live session to close.
    pub fn close_all(&self, reason: CloseCode) {
        for p in self.all.iter() {
            p.ctl.close(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use channel::codec::json::{Ack, Credit};

    use super::*;

    fn peer(capacity: usize) -> (Peer, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity);
        let peer = Peer {
            ctl: Arc::new(SessionCtl::new(1)),
            tx,
        };
        (peer, rx)
    }

    fn ack(seq: Seq) -> Outbound {
        ServerMessage::Ack(Ack { seq })
    }

    #[test]
    fn acks_that_find_the_queue_full_are_coalesced_not_a_reason_to_close() {
        let metrics = Metrics::default();
        let (peer, mut rx) = peer(2);
        assert!(peer.deliver(ack(1), &metrics));
        assert!(peer.deliver(ack(2), &metrics));
        for seq in [5, 9, 7] {
            assert!(
                peer.deliver(ack(seq), &metrics),
                "ack {seq} counted as queued"
            );
        }
        assert_eq!(
            peer.ctl.close_reason(),
            None,
            "an ack never closes the session"
        );
        assert_eq!(
            peer.ctl.take_deferred_ack(),
            Some(9),
            "the highest deferred ack"
        );
        assert_eq!(peer.ctl.take_deferred_ack(), None, "taken once");
        assert!(matches!(
            rx.try_recv(),
            Ok(ServerMessage::Ack(Ack { seq: 1 }))
        ));
    }

    #[test]
    fn anything_but_an_ack_that_finds_the_queue_full_closes_the_session() {
        let metrics = Metrics::default();
        let (peer, _rx) = peer(2);
        assert!(peer.deliver(ack(1), &metrics));
        assert!(peer.deliver(ack(2), &metrics));
        let credit = ServerMessage::Credit(Credit {
            channel: 3,
            amount: 1,
            received: 1,
        });
        assert!(!peer.deliver(credit, &metrics));
        assert_eq!(peer.ctl.close_reason(), Some(CloseCode::SlowReader));
        assert_eq!(peer.ctl.take_deferred_ack(), None);
    }
}
