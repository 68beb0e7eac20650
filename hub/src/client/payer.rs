//! [`Client`]: a paying session, driven by a background task around a
//! [`channel::client::Payer`].
//!
//! The task owns the socket. Each turn it transmits what the payer released (up to
//! 4,096 vouchers per binary frame, so a high-rate caller's payments are batched
//! without asking), then waits for the first of: a hub message, a command (request
//! or close), a wakeup from `pay`/`flush`, the payer's linger deadline, the ping
//! timer. After a lost connection, or a reject that desynchronised the payer, it
//! reconnects with backoff, says `hello` again and resumes the payer from the
//! committed head in the result, which resends everything not yet committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel::client::{HubHead, PayError, Payer, PayerConfig, PayerEvent, verify_receipt};
use channel::codec::{
    ChannelStatus, ClientAction, ClientMessage, ErrorCode, Hello, MAX_VOUCHERS_PER_FRAME, Pay,
    PayVoucher, Receipt, Reply, Request, ServerMessage, SigForm, encode_pay_frame_with,
};
use channel::crypto::{PrivateKey, PublicKey};
use channel::types::{VoucherIn, hello_message};
use channel::{Amount, ChannelId, Epoch, HubId, Seq, Voucher};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use super::ClientError;
use super::conn::{self, Ws};

/// Client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Signing policy, unacked window, linger (see [`PayerConfig`]).
    pub payer: PayerConfig,
    /// The hub's public key, from its settlement-layer registration: receipts are
    /// verified under it. Without it [`Client::receipt`] fails with `NoHubKey`.
    pub hub_key: Option<PublicKey>,
    /// Send vouchers as binary frames (leaving out `spent` and `chain`, which the hub
    /// derives) rather than JSON `pay` notifications.
    pub binary: bool,
    /// Time limit for connecting, the handshake and each request.
    pub request_timeout: Duration,
    /// Time limit for [`Client::flush`] and for [`Client::pay`] waiting for room.
    pub flush_timeout: Duration,
    /// WebSocket ping interval (keeps the hub's idle timer from firing).
    pub ping_interval: Duration,
    /// A session that leaves transmitted vouchers unacked this long with no ack
    /// progress is considered broken: reconnect and resend.
    pub ack_timeout: Duration,
    /// First reconnect delay; doubles per failed attempt up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            payer: PayerConfig::default(),
            hub_key: None,
            binary: true,
            request_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(15),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// What the client tells the application, besides call results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A payment failed and was dropped (see [`PayerEvent::Failed`]).
    Failed {
        /// The failed voucher.
        voucher: Voucher,
        /// The hub's code for the rejected voucher.
        code: ErrorCode,
        /// The seq the hub rejected (the failed voucher or one before it).
        rejected: Seq,
    },
    /// This channel received a payment (committed).
    Credit {
        /// Amount of this credit.
        amount: Amount,
        /// Cumulative received.
        received: Amount,
    },
    /// The hub pushed a receipt (verified when the hub key is configured).
    Receipt(Receipt),
    /// A new epoch began.
    Epoch(Epoch),
    /// The connection was lost; the client is reconnecting.
    Disconnected,
    /// A new session resumed from the hub's committed head.
    Reconnected {
        /// Committed seq in the `hello` result.
        committed: Seq,
    },
    /// The client stopped for good (closed, or the hub's state cannot be reconciled
    /// with the payer's; the reason says which).
    Stopped(String),
}

/// The payer's state as of the last turn of the background task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Highest acked seq.
    pub acked: Seq,
    /// Local head seq (including unacked vouchers).
    pub head: Seq,
    /// Cumulative spent at the head.
    pub spent: Amount,
    /// Spendable balance with unacked payments counted.
    pub available: Amount,
    /// Vouchers awaiting an ack.
    pub unacked: usize,
    /// In step with the hub (not reconnecting).
    pub synced: bool,
    /// The client stopped.
    pub stopped: bool,
}

enum Command {
    Call {
        request: Request,
        reply: oneshot::Sender<Result<Reply, ClientError>>,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

struct Shared {
    payer: Mutex<Payer>,
    epoch: Mutex<Epoch>,
    wake: Notify,
    progress: watch::Sender<Progress>,
    events: broadcast::Sender<ClientEvent>,
}

impl Shared {
    fn publish(&self, stopped: bool) {
        let p = {
            let payer = self.payer.lock();
            Progress {
                acked: payer.acked().seq,
                head: payer.head().seq,
                spent: payer.head().spent,
                available: payer.available(),
                unacked: payer.unacked_len(),
                synced: payer.is_synced(),
                stopped,
            }
        };
        self.progress.send_if_modified(|old| {
            let changed = *old != p && !old.stopped;
            if changed {
                *old = p;
            }
            changed
        });
    }

    fn emit(&self, e: ClientEvent) {
        // No receiver is fine: events are optional reading.
        let _ = self.events.send(e);
    }

    fn drain_payer_events(&self) {
        let mut payer = self.payer.lock();
        while let Some(e) = payer.poll_event() {
            if let PayerEvent::Failed {
                voucher,
                code,
                rejected,
            } = e
            {
                let _ = self.events.send(ClientEvent::Failed {
                    voucher,
                    code,
                    rejected,
                });
            }
        }
    }
}

/// A paying session bound to one channel (see the module docs).
pub struct Client {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    config: ClientConfig,
    channel: ChannelId,
    hub_id: HubId,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("channel", &self.channel)
            .field("hub_id", &self.hub_id)
            .field("progress", &*self.shared.progress.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connect to the hub at `url` (`ws://host:port/v1`) as the owner of `channel`,
    /// with the default configuration.
    pub async fn connect(
        url: &str,
        key: PrivateKey,
        channel: ChannelId,
    ) -> Result<Client, ClientError> {
        Self::connect_with(url, key, channel, ClientConfig::default()).await
    }

    /// Connect with `config`: read the challenge, say `hello`, resume from the
    /// committed head, and start the background task.
    pub async fn connect_with(
        url: &str,
        key: PrivateKey,
        channel: ChannelId,
        config: ClientConfig,
    ) -> Result<Client, ClientError> {
        let (mut ws, challenge) = conn::open(url, config.request_timeout).await?;
        let mut early = Vec::new();
        let status = hello(
            &mut ws,
            &key,
            channel,
            &challenge,
            config.request_timeout,
            &mut early,
        )
        .await?;
        let mut payer = Payer::new(key.clone(), challenge.hub_id, channel, config.payer);
        payer.resume(&hub_head(&status))?;
        let (progress, _) = watch::channel(Progress::default());
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            payer: Mutex::new(payer),
            epoch: Mutex::new(challenge.epoch),
            wake: Notify::new(),
            progress,
            events,
        });
        let (commands, rx) = mpsc::channel(64);
        let mut driver = Driver {
            shared: shared.clone(),
            commands: rx,
            key,
            url: url.to_owned(),
            channel,
            config: config.clone(),
            calls: HashMap::new(),
            next_id: 2,
        };
        for m in early {
            driver
                .handle(m)
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        }
        shared.publish(false);
        let task = tokio::spawn(driver.run(ws));
        Ok(Client {
            shared,
            commands,
            config,
            channel,
            hub_id: challenge.hub_id,
            task: Mutex::new(Some(task)),
        })
    }

    /// The paying channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// The hub's id (from its challenge).
    pub fn hub_id(&self) -> HubId {
        self.hub_id
    }

    /// The current epoch, as last announced by the hub.
    pub fn epoch(&self) -> Epoch {
        *self.shared.epoch.lock()
    }

    /// The payer's state as of now.
    pub fn progress(&self) -> Progress {
        self.shared.publish(false);
        *self.shared.progress.borrow()
    }

    /// A receiver of [`ClientEvent`]s from now on (a slow reader loses the oldest).
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.shared.events.subscribe()
    }

    /// Pay `amount` to `to` now, or fail at once (e.g. [`PayError::WindowFull`]).
    /// The voucher is sent by the background task, batched with others.
    pub fn try_pay(&self, to: ChannelId, amount: Amount) -> Result<Voucher, ClientError> {
        let v = self.shared.payer.lock().pay(Instant::now(), to, amount)?;
        self.shared.wake.notify_one();
        Ok(v)
    }

    /// Pay `amount` to `to`; waits (up to `flush_timeout`) while the unacked window
    /// is full. While reconnecting, payments are built and sent after the resume. Returns the voucher as built; it is
    /// durable once acked (see [`Client::flush`]).
    pub async fn pay(&self, to: ChannelId, amount: Amount) -> Result<Voucher, ClientError> {
        let deadline = tokio::time::Instant::now() + self.config.flush_timeout;
        let mut rx = self.shared.progress.subscribe();
        loop {
            rx.borrow_and_update();
            match self.try_pay(to, amount) {
                Err(ClientError::Pay(PayError::WindowFull(_) | PayError::NotSynced)) => {}
                other => return other,
            }
            if rx.borrow().stopped {
                return Err(ClientError::Closed);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Err(_) => return Err(ClientError::Timeout),
                Ok(Err(_)) => return Err(ClientError::Closed),
                Ok(Ok(())) => {}
            }
        }
    }

    /// Sign and send the unsigned tail, then wait until every payment made so far is
    /// acked (durable at the hub) or has failed. Returns the acked seq.
    pub async fn flush(&self) -> Result<Seq, ClientError> {
        let target = {
            let mut payer = self.shared.payer.lock();
            payer.flush();
            payer.head().seq
        };
        self.shared.wake.notify_one();
        let deadline = tokio::time::Instant::now() + self.config.flush_timeout;
        let mut rx = self.shared.progress.subscribe();
        loop {
            let stopped = rx.borrow_and_update().stopped;
            // Read the payer itself: the published progress may lag behind `pay`.
            let (acked, head) = {
                let payer = self.shared.payer.lock();
                (payer.acked().seq, payer.head().seq)
            };
            if acked >= target.min(head) {
                return Ok(acked);
            }
            if stopped {
                return Err(ClientError::Closed);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Err(_) => return Err(ClientError::Timeout),
                Ok(Err(_)) => return Err(ClientError::Closed),
                Ok(Ok(())) => {}
            }
        }
    }

    /// The channel's committed state at the hub.
    pub async fn status(&self) -> Result<ChannelStatus, ClientError> {
        match self.call(Request::Status).await? {
            Reply::Status(s) => Ok(s),
            other => Err(ClientError::Unexpected(format!(
                "{other:?} in reply to status"
            ))),
        }
    }

    /// A fresh receipt for this channel, verified under the configured hub key.
    pub async fn receipt(&self) -> Result<Receipt, ClientError> {
        let hub_key = self.config.hub_key.ok_or(ClientError::NoHubKey)?;
        match self.call(Request::Receipt).await? {
            Reply::Receipt(r) => {
                verify_receipt(&r, self.hub_id, &hub_key)?;
                if r.channel != self.channel {
                    return Err(ClientError::Unexpected(format!(
                        "receipt for channel {}",
                        r.channel
                    )));
                }
                Ok(r)
            }
            other => Err(ClientError::Unexpected(format!(
                "{other:?} in reply to receipt"
            ))),
        }
    }

    /// Close the session (unacked payments are not waited for: `flush` first).
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.commands.send(Command::Close { done }).await.is_ok() {
            let _ = wait.await;
        }
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn call(&self, request: Request) -> Result<Reply, ClientError> {
        let (reply, wait) = oneshot::channel();
        self.commands
            .send(Command::Call { request, reply })
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(self.config.request_timeout, wait).await {
            Err(_) => Err(ClientError::Timeout),
            Ok(Err(_)) => Err(ClientError::Closed),
            Ok(Ok(r)) => r,
        }
    }
}

fn hub_head(s: &ChannelStatus) -> HubHead {
    HubHead {
        seq: s.seq,
        spent: s.spent,
        chain: s.chain,
        deposit: s.deposit,
        received: s.received,
        exiting: s.exiting,
    }
}

/// Say `hello` on a fresh connection; returns the channel's committed status.
async fn hello(
    ws: &mut Ws,
    key: &PrivateKey,
    channel: ChannelId,
    challenge: &channel::codec::Challenge,
    limit: Duration,
    early: &mut Vec<ServerMessage>,
) -> Result<ChannelStatus, ClientError> {
    let sig = key.sign(&hello_message(challenge.hub_id, &challenge.nonce, channel));
    match conn::call(ws, 1, Request::Hello(Hello { channel, sig }), limit, early).await? {
        Reply::Status(s) if s.channel == channel => Ok(s),
        other => Err(ClientError::Unexpected(format!(
            "{other:?} in reply to hello"
        ))),
    }
}

/// How a session ended.
enum End {
    /// The application closed the client (or dropped it).
    Close(Option<oneshot::Sender<()>>),
    /// The connection broke or must be renewed.
    Lost(String),
}

struct Driver {
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    key: PrivateKey,
    url: String,
    channel: ChannelId,
    config: ClientConfig,
    calls: HashMap<i64, oneshot::Sender<Result<Reply, ClientError>>>,
    next_id: i64,
}

impl Driver {
    async fn run(mut self, mut ws: Ws) {
        loop {
            let end = self.session(&mut ws).await;
            for (_, reply) in self.calls.drain() {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
            match end {
                End::Close(done) => {
                    let _ = ws.close(None).await;
                    self.stop("closed by the application");
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                End::Lost(reason) => {
                    debug!(channel = self.channel, %reason, "session lost; reconnecting");
                    let _ = ws.close(None).await;
                    self.shared.payer.lock().handle_session_lost();
                    self.shared.drain_payer_events();
                    self.shared.publish(false);
                    self.shared.emit(ClientEvent::Disconnected);
                }
            }
            match self.reconnect().await {
                Ok(new) => ws = new,
                Err(done) => {
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
            }
        }
    }

    fn stop(&self, reason: &str) {
        self.shared.publish(true);
        self.shared.emit(ClientEvent::Stopped(reason.to_owned()));
    }

    /// Reconnect with backoff. `Err` when the client must stop (closed, or a fatal
    /// refusal); it carries the close waiter if there is one.
    async fn reconnect(&mut self) -> Result<Ws, Option<oneshot::Sender<()>>> {
        let mut delay = self.config.reconnect_min;
        loop {
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    cmd = self.commands.recv() => match cmd {
                        None => {
                            self.stop("client dropped");
                            return Err(None);
                        }
                        Some(Command::Close { done }) => {
                            self.stop("closed by the application");
                            return Err(Some(done));
                        }
                        Some(Command::Call { reply, .. }) => {
                            let _ = reply.send(Err(ClientError::Disconnected));
                        }
                    }
                }
            }
            match self.open_session().await {
                Ok(ws) => return Ok(ws),
                Err(e) if fatal(&e) => {
                    warn!(channel = self.channel, error = %e, "cannot resume; client stops");
                    self.stop(&e.to_string());
                    return Err(None);
                }
                Err(e) => {
                    debug!(channel = self.channel, error = %e, "reconnect failed");
                    delay = (delay * 2).min(self.config.reconnect_max);
                }
            }
        }
    }

    async fn open_session(&mut self) -> Result<Ws, ClientError> {
        let (mut ws, challenge) = conn::open(&self.url, self.config.request_timeout).await?;
        let mut early = Vec::new();
        let status = hello(
            &mut ws,
            &self.key,
            self.channel,
            &challenge,
            self.config.request_timeout,
            &mut early,
        )
        .await?;
        {
            let mut payer = self.shared.payer.lock();
            if challenge.hub_id != payer.hub_id() {
                return Err(ClientError::Unexpected(format!(
                    "hub id changed from {} to {}",
                    payer.hub_id(),
                    challenge.hub_id
                )));
            }
            payer.resume(&hub_head(&status))?;
        }
        *self.shared.epoch.lock() = challenge.epoch;
        for m in early {
            self.handle(m)?;
        }
        self.shared.emit(ClientEvent::Reconnected {
            committed: status.seq,
        });
        self.shared.publish(false);
        Ok(ws)
    }

    async fn session(&mut self, ws: &mut Ws) -> End {
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut batch: Vec<Voucher> = Vec::new();
        let mut frame: Vec<u8> = Vec::new();
        let mut watch: (Seq, tokio::time::Instant) = (Seq::MAX, tokio::time::Instant::now());
        loop {
            if let Err(e) = self.transmit(ws, &mut batch, &mut frame).await {
                return End::Lost(format!("send failed: {e}"));
            }
            self.shared.drain_payer_events();
            self.shared.publish(false);
            let (resync, deadline, acked, waiting) = {
                let payer = self.shared.payer.lock();
                (
                    payer.needs_resync(),
                    payer.poll_timeout(),
                    payer.acked().seq,
                    payer.sent() > payer.acked().seq,
                )
            };
            if resync {
                return End::Lost("resynchronising after a reject".into());
            }
            // Ack watchdog: transmitted vouchers must see ack progress.
            let now = tokio::time::Instant::now();
            if !waiting || acked != watch.0 {
                watch = (acked, now);
            } else if now >= watch.1 + self.config.ack_timeout {
                return End::Lost(format!("no ack for {:?}", self.config.ack_timeout));
            }
            let watchdog = async {
                if waiting {
                    tokio::time::sleep_until(watch.1 + self.config.ack_timeout).await
                } else {
                    std::future::pending().await
                }
            };
            let linger = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None => return End::Close(None),
                    Some(Command::Close { done }) => return End::Close(Some(done)),
                    Some(Command::Call { request, reply }) => {
                        let id = self.next_id;
                        self.next_id += 1;
                        let text = ClientMessage::Request { id: id.into(), request }.to_text();
                        if let Err(e) = ws.send(Message::Text(text.into())).await {
                            let _ = reply.send(Err(ClientError::Disconnected));
                            return End::Lost(format!("send failed: {e}"));
                        }
                        self.calls.insert(id, reply);
                    }
                },
                msg = ws.next() => match msg {
                    None => return End::Lost("connection closed".into()),
                    Some(Err(e)) => return End::Lost(e.to_string()),
                    Some(Ok(msg)) => match conn::decode(msg) {
                        Ok(None) => {}
                        Ok(Some(m)) => {
                            if let Err(e) = self.handle(m) {
                                return End::Lost(e.to_string());
                            }
                        }
                        Err(e) => return End::Lost(e.to_string()),
                    },
                },
                () = self.shared.wake.notified() => {}
                () = linger => self.shared.payer.lock().handle_timeout(Instant::now()),
                () = watchdog => {}
                _ = ping.tick() => {
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return End::Lost(format!("ping failed: {e}"));
                    }
                }
            }
        }
    }

    /// Send everything the payer released, in frames of up to 4,096 vouchers.
    async fn transmit(
        &self,
        ws: &mut Ws,
        batch: &mut Vec<Voucher>,
        frame: &mut Vec<u8>,
    ) -> Result<(), ClientError> {
        let mut sent_any = false;
        loop {
            batch.clear();
            self.shared
                .payer
                .lock()
                .poll_transmit_into(batch, MAX_VOUCHERS_PER_FRAME);
            if batch.is_empty() {
                break;
            }
            let msg = if self.config.binary {
                let vouchers: Vec<VoucherIn> = batch
                    .iter()
                    .map(|v| VoucherIn {
                        seq: v.seq,
                        to: v.to,
                        amount: v.amount,
                        spent: None,
                        chain: None,
                        sig: v.sig,
                    })
                    .collect();
                frame.clear();
                encode_pay_frame_with(&vouchers, SigForm::Point, frame).map_err(|e| {
                    ClientError::Unexpected(format!("payer released an unframeable run: {e}"))
                })?;
                Message::Binary(frame.clone().into())
            } else {
                let pay = Pay {
                    vouchers: batch.iter().map(PayVoucher::from).collect(),
                };
                Message::Text(ClientMessage::Pay(pay).to_text().into())
            };
            ws.feed(msg).await?;
            sent_any = true;
        }
        if sent_any {
            ws.flush().await?;
        }
        Ok(())
    }

    /// Apply one hub message.
    fn handle(&mut self, msg: ServerMessage) -> Result<(), ClientError> {
        match msg {
            ServerMessage::Ack(a) => self.shared.payer.lock().handle_ack(a.seq)?,
            ServerMessage::Reack(a) => {
                self.shared
                    .payer
                    .lock()
                    .handle_reack(a.seq, a.spent, a.chain)?;
            }
            ServerMessage::Reject(r) => {
                let mut payer = self.shared.payer.lock();
                if r.seq == 0 {
                    // A whole frame was refused unread: resend after a reconnect.
                    payer.handle_session_lost();
                } else {
                    let code = r.error_code().unwrap_or(ErrorCode::InternalError);
                    debug!(channel = self.channel, seq = r.seq, ?code, message = %r.message, "reject");
                    payer.handle_reject(r.seq, code)?;
                }
            }
            ServerMessage::Credit(c) => {
                if c.channel == self.channel {
                    self.shared.payer.lock().handle_received(c.received);
                    self.shared.emit(ClientEvent::Credit {
                        amount: c.amount,
                        received: c.received,
                    });
                }
            }
            ServerMessage::Receipt(r) => {
                let hub_id = self.shared.payer.lock().hub_id();
                let ok = match &self.config.hub_key {
                    Some(k) => verify_receipt(&r, hub_id, k).is_ok(),
                    None => true,
                };
                if ok && r.channel == self.channel {
                    self.shared.emit(ClientEvent::Receipt(r));
                } else {
                    warn!(
                        channel = self.channel,
                        "dropped a receipt that does not verify"
                    );
                }
            }
            ServerMessage::Epoch(e) => {
                *self.shared.epoch.lock() = e.epoch;
                self.shared.emit(ClientEvent::Epoch(e.epoch));
            }
            ServerMessage::Response { id, result } => {
                let reply = match id {
                    channel::codec::Id::Num(n) => self.calls.remove(&n),
                    _ => None,
                };
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result.map_err(ClientError::Rpc));
                    }
                    None => debug!(?id, "response to no outstanding request"),
                }
            }
            ServerMessage::Challenge(_) => {
                return Err(ClientError::Unexpected("a second challenge".into()));
            }
        }
        Ok(())
    }
}

/// Errors after which reconnecting cannot help: a protocol error, or a refusal whose
/// action is [`ClientAction::Stop`].
fn fatal(e: &ClientError) -> bool {
    match e {
        ClientError::Protocol(_) => true,
        ClientError::Rpc(r) => r
            .error_code()
            .is_some_and(|c| c.action() == ClientAction::Stop),
        _ => false,
    }
}
