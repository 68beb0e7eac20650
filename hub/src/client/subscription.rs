//! [`Subscription`]: a read-only session for a payee (a creator's backend, a
//! dashboard). No `hello` and no key: it `subscribe`s to a channel and turns the
//! hub's `credit` and `receipt` notifications into a stream, through a
//! [`channel::client::Payee`] that verifies each receipt under the hub's key and
//! keeps the best one per epoch. It reconnects on its own; credits missed while
//! away show up as `missed` in the next credit and in [`PayeeEvent::Resynced`].

use std::sync::Arc;
use std::time::Duration;

use channel::client::{Credit, Payee};
use channel::codec::{Receipt, Reply, Request, ServerMessage, Subscribe};
use channel::crypto::PublicKey;
use channel::{Amount, ChannelId, Epoch};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use super::ClientError;
use super::conn::{self, Ws};

/// What a payee learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayeeEvent {
    /// Payments arrived (committed at the hub).
    Credit(Credit),
    /// A receipt that verified and improves on the best one of its epoch.
    Receipt(Receipt),
    /// A new epoch began.
    Epoch(Epoch),
    /// The connection was lost; reconnecting.
    Disconnected,
    /// Subscribed again; the hub reports this cumulative received.
    Resynced {
        /// Cumulative received now.
        received: Amount,
    },
}

const TIMEOUT: Duration = Duration::from_secs(10);
const PING: Duration = Duration::from_secs(30);

/// A read-only subscription to one channel's credits and receipts.
pub struct Subscription {
    channel: ChannelId,
    payee: Arc<Mutex<Payee>>,
    events: mpsc::Receiver<PayeeEvent>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel)
            .field("received", &self.received())
            .finish_non_exhaustive()
    }
}

/// Subscribe to `channel` at the hub at `url`; receipts are verified under `hub_key`
/// (the hub's key from its settlement-layer registration).
pub async fn subscribe(
    url: &str,
    channel: ChannelId,
    hub_key: PublicKey,
) -> Result<Subscription, ClientError> {
    let (ws, hub_id, received, early) = open(url, channel).await?;
    let mut payee = Payee::new(hub_id, hub_key, channel);
    payee.resume(received);
    let payee = Arc::new(Mutex::new(payee));
    let (tx, events) = mpsc::channel(1024);
    let mut task = Task {
        url: url.to_owned(),
        channel,
        payee: payee.clone(),
        tx,
    };
    for m in early {
        if !task.handle(m).await {
            return Err(ClientError::Closed);
        }
    }
    let task = tokio::spawn(task.run(ws));
    Ok(Subscription {
        channel,
        payee,
        events,
        task,
    })
}

impl Subscription {
    /// The watched channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// The next event; `None` once the subscription ended.
    pub async fn next(&mut self) -> Option<PayeeEvent> {
        self.events.recv().await
    }

    /// Cumulative received as credited so far.
    pub fn received(&self) -> Amount {
        self.payee.lock().received()
    }

    /// The best verified receipt of `epoch`.
    pub fn best_receipt(&self, epoch: Epoch) -> Option<Receipt> {
        self.payee.lock().best_receipt(epoch).cloned()
    }

    /// The best verified receipt of the latest epoch.
    pub fn latest_receipt(&self) -> Option<Receipt> {
        self.payee.lock().latest_receipt().cloned()
    }

    /// End the subscription.
    pub fn close(self) {
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn open(
    url: &str,
    channel: ChannelId,
) -> Result<(Ws, u64, Amount, Vec<ServerMessage>), ClientError> {
    let (mut ws, challenge) = conn::open(url, TIMEOUT).await?;
    let mut early = Vec::new();
    match conn::call(
        &mut ws,
        1,
        Request::Subscribe(Subscribe { channel }),
        TIMEOUT,
        &mut early,
    )
    .await?
    {
        Reply::Subscribed(s) if s.channel == channel => {
            Ok((ws, challenge.hub_id, s.received, early))
        }
        other => Err(ClientError::Unexpected(format!(
            "{other:?} in reply to subscribe"
        ))),
    }
}

struct Task {
    url: String,
    channel: ChannelId,
    payee: Arc<Mutex<Payee>>,
    tx: mpsc::Sender<PayeeEvent>,
}

impl Task {
    async fn run(mut self, mut ws: Ws) {
        loop {
            let reason = self.session(&mut ws).await;
            let _ = ws.close(None).await;
            let Some(reason) = reason else { return };
            debug!(channel = self.channel, %reason, "subscription lost; reconnecting");
            if self.tx.send(PayeeEvent::Disconnected).await.is_err() {
                return;
            }
            let mut delay = Duration::from_millis(50);
            ws = loop {
                tokio::time::sleep(delay).await;
                if self.tx.is_closed() {
                    return;
                }
                match open(&self.url, self.channel).await {
                    Ok((ws, _, received, early)) => {
                        self.payee.lock().resume(received);
                        if self
                            .tx
                            .send(PayeeEvent::Resynced { received })
                            .await
                            .is_err()
                        {
                            return;
                        }
                        for m in early {
                            if !self.handle(m).await {
                                return;
                            }
                        }
                        break ws;
                    }
                    Err(e) => {
                        debug!(channel = self.channel, error = %e, "resubscribe failed");
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            };
        }
    }

    /// Run one session; `None` when the subscriber went away, `Some(reason)` when the
    /// connection was lost.
    async fn session(&mut self, ws: &mut Ws) -> Option<String> {
        let mut ping = tokio::time::interval(PING);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    None => return Some("connection closed".into()),
                    Some(Err(e)) => return Some(e.to_string()),
                    Some(Ok(msg)) => match conn::decode(msg) {
                        Ok(None) => {}
                        Ok(Some(m)) => {
                            if !self.handle(m).await {
                                return None;
                            }
                        }
                        Err(e) => return Some(e.to_string()),
                    },
                },
                _ = ping.tick() => {
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return Some(e.to_string());
                    }
                }
                () = self.tx.closed() => return None,
            }
        }
    }

    /// Apply one hub message; false when the subscriber went away.
    async fn handle(&mut self, msg: ServerMessage) -> bool {
        let event = match msg {
            ServerMessage::Credit(c) if c.channel == self.channel => {
                match self
                    .payee
                    .lock()
                    .handle_credit(c.channel, c.amount, c.received)
                {
                    Ok(Some(credit)) => Some(PayeeEvent::Credit(credit)),
                    Ok(None) => None,
                    Err(e) => {
                        warn!(channel = self.channel, error = %e, "inconsistent credit");
                        None
                    }
                }
            }
            ServerMessage::Receipt(r) if r.channel == self.channel => {
                match self.payee.lock().handle_receipt(&r) {
                    Ok(true) => Some(PayeeEvent::Receipt(r)),
                    Ok(false) => None,
                    Err(e) => {
                        warn!(channel = self.channel, error = %e, "refused a receipt");
                        None
                    }
                }
            }
            ServerMessage::Epoch(e) => Some(PayeeEvent::Epoch(e.epoch)),
            _ => None,
        };
        match event {
            Some(e) => self.tx.send(e).await.is_ok(),
            None => true,
        }
    }
}
