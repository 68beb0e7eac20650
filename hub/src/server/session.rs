//! One WebSocket session: challenge, `hello`, requests and payments in, notifications
//! out through a bounded queue.
//!
//! Two tasks per connection. The *reader* (this module's `run`) decodes and admits;
//! it never writes to the socket. The *writer* drains the session's bounded outbound
//! queue into the socket with a per-write timeout. Anything that wants to talk to the
//! peer (the reader's responses, acks and credits from the commit listener, epoch
//! broadcasts) goes through that queue, and a full queue closes the session
//! ([`CloseCode::SlowReader`]): a peer that does not read never costs more than
//! `outbound_queue` messages of server memory.
//!
//! **One session per channel.** A second `hello` for a channel that already has a
//! session takes the channel over: the older session is closed with reason
//! `superseded` and its staged (uncovered, never acked) vouchers are dropped, all
//! under the channel's lock, so nothing of the old session is admitted afterwards. A
//! reconnecting client therefore never waits for its old, half-dead connection to time
//! out. Covered vouchers still on their way to commit are acked to the new session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use channel::codec::{
    Challenge, ClientMessage, Id, Pay, Reject, Reply, Request, RpcError, ServerMessage, Subscribed,
};
use channel::codec::{CloseCode, ErrorCode};
use channel::crypto::{PublicKey, VerifyingKey};
use channel::ledger::session::{self, Admitted};
use channel::ledger::{AdmitContext, ChannelTable};
use channel::types::{VoucherIn, hello_message};
use channel::{ChannelId, Fe, Seq};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, debug, info_span, warn};

use super::core::Shared;
use super::rate::TokenBucket;
use super::registry::{Generation, Peer, SessionCtl};
use super::verifier::VerifyJob;
use crate::settlement_service::Operator;
use crate::timeline::Stat;

/// How long the writer may take to flush its queue and the close frame once the
/// session ends before the socket is dropped.
const WRITER_GRACE: Duration = Duration::from_secs(2);

fn close_frame(reason: Option<CloseCode>) -> CloseFrame {
    let (code, text) = reason.map_or((CloseCode::NORMAL, CloseCode::NORMAL_TEXT), |r| {
        (r.as_u16(), r.text())
    });
    CloseFrame {
        code,
        reason: text.into(),
    }
}

/// Why a failed read ends the session: a frame or message over the size limits is
/// `TooLarge` (1009); anything else (bad framing, an oversize or fragmented control
/// frame, invalid UTF-8, a reset) is `Protocol` (1002). Classified by the error's
/// type, not its text: tungstenite words an oversize *control* frame, a protocol
/// error, as "Control frame too big" (Autobahn case 7.3.6 expects 1002 there).
fn read_error_reason(e: axum::Error) -> CloseCode {
    // axum 0.8 runs tungstenite 0.29 (the workspace's tokio-tungstenite, used by the
    // clients, is on 0.28): downcast to the version the error comes from.
    use axum_tungstenite::Error as WsError;
    match e.into_inner().downcast::<WsError>() {
        Ok(ws) if matches!(*ws, WsError::Capacity(_)) => CloseCode::TooLarge,
        _ => CloseCode::Protocol,
    }
}

/// Per-session state owned by the reader task.
struct Session {
    shared: Arc<Shared>,
    /// The settlement side, for `disclosure`.
    operator: Arc<Operator>,
    peer: Peer,
    nonce: Fe,
    /// The channel bound by `hello`.
    channel: Option<ChannelId>,
    /// The bound channel's key, prepared at `hello` and handed with every checkpoint
    /// to the verifier pool (4 KiB while the session is bound).
    key: Option<Arc<VerifyingKey>>,
    /// Channels watched by `subscribe`.
    subscriptions: Vec<ChannelId>,
    bucket: TokenBucket,
    /// Set once the client sent a binary pay frame: acks and rejects go out binary too.
    binary: Arc<AtomicBool>,
}

thread_local! {
    /// The buffer binary pay frames are decoded into: one per I/O thread, not one per
    /// session. Decoded vouchers live only while they are admitted (synchronously), so a
    /// thread's buffer serves every session it runs. Per session it cost 12 KiB at 64
    /// vouchers a frame, grown on each connection's first frame: with 1,000 connections
    /// starting together, that was 1,900 of the hub's 2,800 page faults in the first
    /// 80 ms of a run (`perf record -e page-faults`), and their first frames waited for
    /// them.
    static DECODE_SCRATCH: std::cell::Cell<Vec<VoucherIn>> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// Run `f` on this thread's (empty) decode buffer.
fn with_decode_scratch<R>(f: impl FnOnce(&mut Vec<VoucherIn>) -> R) -> R {
    let mut vouchers = DECODE_SCRATCH.take();
    let r = f(&mut vouchers);
    vouchers.clear();
    DECODE_SCRATCH.set(vouchers);
    r
}

/// Run a session on an upgraded socket until it ends. `_permit` holds the session's
/// slot under `max_connections`.
pub async fn run(
    shared: Arc<Shared>,
    operator: Arc<Operator>,
    socket: WebSocket,
    remote: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    let id = shared.registry.next_session_id();
    let span = info_span!("session", id, %remote, channel = tracing::field::Empty);
    run_inner(shared, operator, socket, id)
        .instrument(span)
        .await
}

async fn run_inner(shared: Arc<Shared>, operator: Arc<Operator>, socket: WebSocket, id: u64) {
    let metrics = Arc::clone(&shared.metrics);
    metrics.connections.fetch_add(1, Ordering::Relaxed);
    metrics.connections_total.fetch_add(1, Ordering::Relaxed);

    let limits = &shared.config.limits;
    let (tx, rx) = mpsc::channel(limits.outbound_queue.max(2));
    let ctl = Arc::new(SessionCtl::new(id));
    let peer = Peer {
        ctl: Arc::clone(&ctl),
        tx,
    };
    let binary = Arc::new(AtomicBool::new(false));
    let (sink, stream) = socket.split();
    let writer = tokio::spawn(
        write_loop(
            sink,
            rx,
            Arc::clone(&ctl),
            Arc::clone(&binary),
            limits.write_timeout,
            Arc::clone(&metrics),
        )
        .in_current_span(),
    );

    let nonce = shared.fresh_nonce();
    let challenge = ServerMessage::Challenge(Challenge {
        hub_id: shared.config.hub_id,
        epoch: shared.epoch(),
        nonce,
    });
    peer.deliver(challenge, &metrics);
    shared.registry.register(peer.clone());

    let mut session = Session {
        bucket: TokenBucket::new(
            limits.rate_per_sec,
            limits.rate_burst,
            std::time::Instant::now(),
        ),
        shared: Arc::clone(&shared),
        operator,
        peer,
        nonce,
        channel: None,
        key: None,
        subscriptions: Vec::new(),
        binary,
    };
    if shared.is_stopping() {
        ctl.close(CloseCode::Shutdown);
    }
    session.read_loop(stream).await;
    session.end();

    // Dropping the session dropped the reader's sender; the registry dropped its
    // clones in `end`. The writer drains what is queued, sends the close frame, exits.
    drop(session);
    let mut writer = writer;
    if tokio::time::timeout(WRITER_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    metrics.connections.fetch_sub(1, Ordering::Relaxed);
}

async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<ServerMessage>,
    ctl: Arc<SessionCtl>,
    binary: Arc<AtomicBool>,
    write_timeout: Duration,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut buf = Vec::with_capacity(256);
    // The highest ack written so far: a deferred ack at or below it is not resent, and
    // a queued ack below a deferred one already written is skipped.
    let mut acked: Option<Seq> = None;
    loop {
        let msg = tokio::select! {
            biased;
            () = ctl.closed() => {
                if ctl.close_reason() == Some(CloseCode::SlowReader) {
                    // Stop draining to a peer that does not read: straight to the close.
                    None
                } else if let Ok(msg) = rx.try_recv() {
                    // Deliver what is queued (e.g. the last acks), then the close frame.
                    Some(msg)
                } else if let Some(seq) = ctl.take_deferred_ack() {
                    Some(ServerMessage::Ack(channel::codec::json::Ack { seq }))
                } else {
                    rx.recv().await
                }
            }
            msg = rx.recv() => msg,
            () = ctl.ack_deferred() => match ctl.take_deferred_ack() {
                Some(seq) => Some(ServerMessage::Ack(channel::codec::json::Ack { seq })),
                None => continue,
            },
        };
        let Some(msg) = msg else { break };
        let ack = match &msg {
            ServerMessage::Ack(a) => Some(a.seq),
            _ => None,
        };
        if let ServerMessage::Ack(a) = &msg {
            if acked.is_some_and(|done| a.seq <= done) {
                continue;
            }
            acked = Some(a.seq);
        }
        let frame = encode(&msg, binary.load(Ordering::Relaxed), &mut buf);
        match tokio::time::timeout(write_timeout, sink.send(frame)).await {
            Ok(Ok(())) => {
                if let Some(seq) = ack {
                    ctl.acked(seq, &metrics.timeline);
                }
            }
            Ok(Err(e)) => {
                debug!(error = %e, "write failed");
                return;
            }
            Err(_) => {
                if ctl.close_reason().is_none() {
                    metrics.closed(CloseCode::SlowReader);
                }
                ctl.close(CloseCode::SlowReader);
                return; // dropping the sink drops the socket
            }
        }
    }
    // An ack deferred after the queue's last message still reaches a peer that reads.
    if ctl.close_reason() != Some(CloseCode::SlowReader)
        && let Some(seq) = ctl.take_deferred_ack()
        && acked.is_none_or(|done| seq > done)
    {
        let msg = ServerMessage::Ack(channel::codec::json::Ack { seq });
        let frame = encode(&msg, binary.load(Ordering::Relaxed), &mut buf);
        let _ = tokio::time::timeout(write_timeout, sink.send(frame)).await;
    }
    let frame = Message::Close(Some(close_frame(ctl.close_reason())));
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(frame)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

fn encode(msg: &ServerMessage, binary: bool, buf: &mut Vec<u8>) -> Message {
    if binary {
        match msg {
            ServerMessage::Ack(ack) => {
                buf.clear();
                channel::codec::encode_ack_frame(ack.seq, buf);
                return Message::Binary(buf.clone().into());
            }
            ServerMessage::Reject(r) => {
                if let Some(code) = r.error_code() {
                    buf.clear();
                    channel::codec::encode_reject_frame(r.seq, code, &r.message, buf);
                    return Message::Binary(buf.clone().into());
                }
            }
            _ => {}
        }
    }
    Message::Text(msg.to_text().into())
}

impl Session {
    fn metrics(&self) -> &crate::metrics::Metrics {
        &self.shared.metrics
    }

    fn send(&self, msg: ServerMessage) {
        self.peer.deliver(msg, &self.shared.metrics);
    }

    fn reply(&self, id: Id, result: Result<Reply, RpcError>) {
        if let Err(e) = &result
            && let Some(code) = e.error_code()
        {
            self.metrics().refuse(code);
        }
        self.send(ServerMessage::Response { id, result });
    }

    fn reject(&self, seq: Seq, code: ErrorCode, message: &str) {
        self.metrics().refuse(code);
        self.send(ServerMessage::Reject(Reject::new(seq, code, message)));
    }

    async fn read_loop(&mut self, mut stream: futures_util::stream::SplitStream<WebSocket>) {
        let limits = self.shared.config.limits.clone();
        let handshake_deadline = Instant::now() + limits.handshake_timeout;
        let mut stop = self.shared.stop_signal();
        loop {
            let deadline = if self.channel.is_none() && self.subscriptions.is_empty() {
                handshake_deadline
            } else {
                Instant::now() + limits.idle_timeout
            };
            let next = tokio::select! {
                biased;
                () = self.peer.ctl.closed() => return,
                _ = stop.changed() => {
                    self.peer.ctl.close(CloseCode::Shutdown);
                    return;
                }
                next = timeout_at(deadline, stream.next()) => next,
            };
            let msg = match next {
                Err(_) => {
                    let reason = if self.channel.is_none() && self.subscriptions.is_empty() {
                        CloseCode::HandshakeTimeout
                    } else {
                        CloseCode::Idle
                    };
                    self.metrics().closed(reason);
                    self.peer.ctl.close(reason);
                    return;
                }
                Ok(None) => return,
                Ok(Some(Err(e))) => {
                    // Malformed framing, an oversize frame or message, or a reset.
                    debug!(error = %e, "read failed");
                    let reason = read_error_reason(e);
                    self.metrics().closed(reason);
                    self.peer.ctl.close(reason);
                    return;
                }
                Ok(Some(Ok(msg))) => msg,
            };
            match msg {
                Message::Text(text) => self.on_text(text.as_str()).await,
                Message::Binary(bytes) => self.on_binary(&bytes).await,
                Message::Ping(_) | Message::Pong(_) => {}
                Message::Close(_) => return,
            }
        }
    }

    async fn on_text(&mut self, text: &str) {
        let limits = channel::codec::TextLimits {
            max_message_bytes: self.shared.config.limits.max_message_bytes,
            max_vouchers: self.shared.config.limits.max_vouchers_per_message,
        };
        match ClientMessage::decode(text, &limits) {
            Err(e) => self.on_decode_error(&e, false),
            Ok(ClientMessage::Pay(pay)) => self.on_json_pay(pay).await,
            Ok(ClientMessage::Request { id, request }) => {
                if !self.bucket.try_take(1, std::time::Instant::now()) {
                    self.reply(
                        id,
                        Err(RpcError::new(ErrorCode::RateLimited, "inbound rate limit")),
                    );
                    return;
                }
                let result = self.on_request(request).await;
                self.reply(id, result);
            }
        }
    }

    async fn on_binary(&mut self, bytes: &[u8]) {
        let max = self.shared.config.limits.max_vouchers_per_message;
        let admitted = with_decode_scratch(|vouchers| {
            channel::codec::decode_pay_frame(bytes, max, vouchers).map(|()| {
                self.binary.store(true, Ordering::Relaxed);
                // A binary frame names no channel: it is the session's.
                self.admit(None, vouchers)
            })
        });
        match admitted {
            Ok(checkpoints) => self.verify(checkpoints).await,
            Err(e) => self.on_decode_error(&e, true),
        }
    }

    /// Answer a message that could not be decoded: a JSON-RPC error for text, a
    /// binary reject with `seq = 0` for a binary frame. Oversize input also closes.
    fn on_decode_error(&self, e: &channel::codec::CodecError, binary: bool) {
        self.metrics().refuse(e.code());
        if binary {
            self.binary.store(true, Ordering::Relaxed);
            self.send(ServerMessage::Reject(Reject::new(
                0,
                e.code(),
                &e.to_string(),
            )));
        } else {
            self.send(ServerMessage::error_response(e));
        }
        if e.closes_connection() {
            self.metrics().closed(CloseCode::TooLarge);
            self.peer.ctl.close(CloseCode::TooLarge);
        }
    }

    async fn on_json_pay(&mut self, pay: Pay) {
        let Some(first) = pay.vouchers.first() else {
            return;
        };
        let channel = first.channel;
        if let Some(bad) = pay.vouchers.iter().find(|v| v.channel != channel) {
            self.reject(
                bad.seq,
                ErrorCode::WrongChannel,
                "all vouchers of a pay must name the session's channel",
            );
            return;
        }
        let vouchers: Vec<VoucherIn> = pay.vouchers.iter().map(|v| v.to_incoming()).collect();
        let checkpoints = self.admit(Some(channel), &vouchers);
        self.verify(checkpoints).await;
    }

    /// Admit `vouchers` in order, up to the first refusal, and return the checkpoints
    /// to verify (synchronous: the decoded vouchers are not held across an await).
    /// `named` is the channel the message names (JSON), if any.
    fn admit(
        &mut self,
        named: Option<ChannelId>,
        vouchers: &[VoucherIn],
    ) -> Vec<session::Checkpoint<Generation>> {
        let Some(first) = vouchers.first() else {
            return Vec::new();
        };
        let read_at = std::time::Instant::now();
        let Some(channel) = self.channel else {
            self.reject(
                first.seq,
                ErrorCode::NotAuthenticated,
                "say hello before paying",
            );
            return Vec::new();
        };
        if named.is_some_and(|n| n != channel) {
            self.reject(
                first.seq,
                ErrorCode::WrongChannel,
                "vouchers must name the session's channel",
            );
            return Vec::new();
        }
        let n = u32::try_from(vouchers.len()).unwrap_or(u32::MAX);
        if !self.bucket.try_take(n, std::time::Instant::now()) {
            self.reject(
                first.seq,
                ErrorCode::RateLimited,
                "inbound rate limit; nothing in this message was admitted",
            );
            return Vec::new();
        }
        let signed = vouchers.iter().filter(|v| v.sig.is_some()).count();
        if !self.shared.verifier.has_room(channel, signed) {
            self.reject(
                first.seq,
                ErrorCode::Overloaded,
                "signature verification backlog is full; nothing in this message was admitted",
            );
            return Vec::new();
        }
        let outcome = self.shared.admit_all(channel, self.peer.ctl.id, vouchers);
        let metrics = self.metrics();
        metrics
            .vouchers_accepted
            .fetch_add(outcome.accepted, Ordering::Relaxed);
        metrics
            .pending_vouchers
            .fetch_add(outcome.accepted as i64, Ordering::Relaxed);
        if let Some(head) = outcome.reack {
            // Always text: a re-ack carries the committed head, which the 9-byte binary
            // ack has no room for (re-acks are rare; binary acks stay on the hot path).
            self.send(ServerMessage::Reack(channel::codec::Reack {
                seq: head.seq,
                spent: head.spent,
                chain: head.chain,
            }));
        }
        if let Some(r) = outcome.reject {
            self.reject(r.seq, r.code(), &r.message());
        }
        if let Some(last) = outcome.checkpoints.last() {
            self.peer.ctl.track(last.seq, read_at);
        }
        outcome.checkpoints
    }

    /// Hand admitted checkpoints to the verifier pool, waiting while its queue is full.
    async fn verify(&mut self, checkpoints: Vec<session::Checkpoint<Generation>>) {
        // Only a bound session admits anything.
        let Some(channel) = self.channel else {
            return;
        };
        for cp in checkpoints {
            let job = VerifyJob {
                channel,
                generation: cp.generation,
                seq: cp.seq,
                key: self.key_for(&cp.pk),
                pk: cp.pk,
                msg: cp.msg,
                sig: cp.sig,
                queued_at: std::time::Instant::now(),
            };
            if self.shared.verifier.submit(job).await.is_err() {
                // The pool only stops at shutdown; the client resends after reconnecting.
                self.peer.ctl.close(CloseCode::Shutdown);
                return;
            }
        }
    }

    async fn on_request(&mut self, request: Request) -> Result<Reply, RpcError> {
        match request {
            Request::Hello(hello) => self.on_hello(hello.channel, &hello.sig).await,
            Request::Status => {
                let ch = self.require_bound()?;
                self.shared.status(ch).map(Reply::Status)
            }
            Request::Receipt => {
                let ch = self.require_bound()?;
                self.shared.sign_receipt(ch).map(Reply::Receipt)
            }
            Request::Subscribe(sub) => self.on_subscribe(sub.channel),
            Request::Opening(req) => {
                let ch = self.require_bound()?;
                self.shared.opening(ch, req.epoch).map(Reply::Opening)
            }
            Request::Disclosure(req) => {
                let ch = self.require_bound()?;
                crate::disclosure::channel_disclosure(&self.operator, ch, req.epoch, req.previous)
                    .await
                    .map(|d| Reply::Disclosure(Box::new(d)))
                    .map_err(|e| RpcError::new(ErrorCode::NotAvailable, &e.to_string()))
            }
            Request::Ping => Ok(Reply::Pong),
        }
    }

    fn require_bound(&self) -> Result<ChannelId, RpcError> {
        self.channel
            .ok_or_else(|| RpcError::new(ErrorCode::NotAuthenticated, "say hello first"))
    }

    async fn on_hello(
        &mut self,
        channel: ChannelId,
        sig: &channel::crypto::Signature,
    ) -> Result<Reply, RpcError> {
        if self.channel.is_some() {
            return Err(RpcError::new(
                ErrorCode::AlreadyAuthenticated,
                "this session is already bound to a channel",
            ));
        }
        let record = self
            .shared
            .channels
            .record(channel)
            .ok_or_else(|| RpcError::new(ErrorCode::UnknownChannel, "no such channel"))?;
        let msg = hello_message(self.shared.config.hub_id, &self.nonce, channel);
        // Prepared now, off the payment path: every checkpoint of this session is then
        // verified with it (the hello too, which pays for most of the preparing). On a
        // blocking thread, a few at a time (`hello_slots`), so that a burst of hellos
        // does not hold the I/O threads from the sessions already paying.
        let pk = record.pk;
        let sig = *sig;
        let prepared =
            {
                let _slot =
                    self.shared.hello_slots.acquire().await.map_err(|_| {
                        RpcError::new(ErrorCode::InternalError, "hub shutting down")
                    })?;
                tokio::task::spawn_blocking(move || {
                    let key = pk
                        .prepare()
                        .map_err(|_| "the channel's key is not usable")?;
                    key.verify(&msg, &sig)
                        .map_err(|_| "hello signature does not verify")?;
                    Ok::<_, &'static str>(key)
                })
                .await
                .map_err(|_| RpcError::new(ErrorCode::InternalError, "hello preparation failed"))?
            };
        let key = prepared.map_err(|why| RpcError::new(ErrorCode::HelloFailed, why))?;
        let registry = &self.shared.registry;
        let peer = self.peer.clone();
        let taken = self.shared.channels.with_channel(channel, |c| {
            let old = registry.bind(channel, peer);
            (old, c.drop_staged())
        });
        let Some((old, dropped)) = taken else {
            return Err(RpcError::new(ErrorCode::UnknownChannel, "no such channel"));
        };
        self.metrics()
            .pending_vouchers
            .fetch_sub(dropped as i64, Ordering::Relaxed);
        if let Some(old) = old {
            self.metrics().closed(CloseCode::Superseded);
            old.ctl.close(CloseCode::Superseded);
        } else {
            self.metrics()
                .sessions_bound
                .fetch_add(1, Ordering::Relaxed);
        }
        self.channel = Some(channel);
        self.key = Some(Arc::new(key));
        self.metrics().timeline.record(Stat::Hellos, 1);
        tracing::Span::current().record("channel", channel);
        self.shared.status(channel).map(Reply::Status)
    }

    /// The prepared key for checkpoints signed by `pk`: the one prepared at `hello`
    /// (a channel's key does not change; if it ever did, the new one is prepared and
    /// kept instead). `None` only for a key that cannot be prepared.
    fn key_for(&mut self, pk: &PublicKey) -> Option<Arc<VerifyingKey>> {
        match &self.key {
            Some(k) if k.public_key() == *pk => Some(Arc::clone(k)),
            _ => {
                let k = Arc::new(pk.prepare().ok()?);
                self.key = Some(Arc::clone(&k));
                Some(k)
            }
        }
    }

    fn on_subscribe(&mut self, channel: ChannelId) -> Result<Reply, RpcError> {
        let max = self.shared.config.limits.max_subscriptions;
        if !self.subscriptions.contains(&channel) && self.subscriptions.len() >= max {
            return Err(RpcError::new(
                ErrorCode::TooLarge,
                "too many subscriptions on one session",
            ));
        }
        let record = self
            .shared
            .channels
            .record(channel)
            .ok_or_else(|| RpcError::new(ErrorCode::UnknownChannel, "no such channel"))?;
        self.shared.registry.subscribe(channel, self.peer.clone());
        if !self.subscriptions.contains(&channel) {
            self.subscriptions.push(channel);
        }
        Ok(Reply::Subscribed(Subscribed {
            channel,
            received: record.received,
        }))
    }

    /// Release the channel (dropping its staged vouchers) and every subscription.
    fn end(&mut self) {
        let id = self.peer.ctl.id;
        if let Some(ch) = self.channel.take() {
            let registry = &self.shared.registry;
            let dropped = self
                .shared
                .channels
                .with_channel(ch, |c| {
                    if registry.unbind(ch, id) {
                        Some(c.drop_staged())
                    } else {
                        None
                    }
                })
                .flatten();
            if let Some(n) = dropped {
                self.metrics()
                    .pending_vouchers
                    .fetch_sub(n as i64, Ordering::Relaxed);
                self.metrics()
                    .sessions_bound
                    .fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.shared.registry.unregister(id, &self.subscriptions);
        if let Some(reason) = self.peer.ctl.close_reason() {
            debug!(reason = reason.name(), "session closed by hub");
        }
    }
}

impl Shared {
    /// Admit `vouchers` on `channel` for session `session`, under one lock of the
    /// channel ([`session::admit_message`]). Payees are looked up first: the closure
    /// must not touch the table.
    pub(crate) fn admit_all(
        &self,
        channel: ChannelId,
        session: u64,
        vouchers: &[VoucherIn],
    ) -> Admitted<Generation> {
        let mut payees: Vec<ChannelId> = vouchers.iter().map(|v| v.to).collect();
        payees.sort_unstable();
        payees.dedup();
        // Channels are never removed: a payee seen now still exists under the lock.
        let known: Vec<ChannelId> = payees
            .into_iter()
            .filter(|p| self.channels.contains(*p))
            .collect();
        let exists = |id: ChannelId| known.binary_search(&id).is_ok();
        let ctx = AdmitContext {
            hub_id: self.config.hub_id,
            limits: self.config.limits.pending,
            payee_exists: &exists,
        };
        let registry = &self.registry;
        let result = self.channels.with_channel(channel, |c| {
            // `None` if superseded between decode and lock: admit nothing.
            let generation = registry
                .generation(channel)
                .filter(|g| g.session == session);
            session::admit_message(c, generation, vouchers, &ctx)
        });
        result.unwrap_or_else(|| {
            warn!(channel, "bound channel vanished");
            Admitted::default()
        })
    }
}
