//! The run: provision, pre-sign, connect, stream frames, collect acks and latencies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use channel::codec::json::{Hello, Reply, Request};
use channel::codec::{ClientMessage, Id, ServerFrame, ServerMessage, decode_server_binary};
use channel::crypto::PrivateKey;
use channel::types::hello_message;
use channel::{Amount, ChannelId, Fe, HubId};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt, stream};
use hdrhistogram::Histogram;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::LoadError;
use crate::attribution;
use crate::config::LoadConfig;
use crate::keys::key;
use crate::plan::{ChannelPlan, Frame, PlanParams, presign};
use crate::progress::Progress;
use crate::provision::HttpOperator;
use crate::provision::Provisioner;
use crate::report::SLICE_MS;
use crate::report::{ConnectionOutcome, Report};
use crate::schedule::Schedule;
use hub::timeline::unix_ms;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connections opened concurrently during the connect phase.
const CONNECT_CONCURRENCY: usize = 64;
/// Longest wait for the challenge and the `hello` response.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters shared by all connection tasks (read by the progress display).
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Vouchers sent.
    pub sent: AtomicU64,
    /// Vouchers acknowledged.
    pub acked: AtomicU64,
    /// Vouchers rejected.
    pub rejected: AtomicU64,
}

/// Run a load test against `cfg.url`.
pub async fn run<P: Provisioner>(
    cfg: &LoadConfig,
    provisioner: &P,
    progress: &dyn Progress,
) -> Result<Report, LoadError> {
    cfg.validate()?;
    let per_conn = cfg.payments_per_connection();
    let payer_keys: Vec<PrivateKey> = (0..cfg.connections as u64)
        .map(|i| key(cfg.seed, "payer", i))
        .collect();
    let payee_keys: Vec<PrivateKey> = (0..cfg.payees as u64)
        .map(|i| key(cfg.seed, "payee", i))
        .collect();
    let ids = provision(cfg, provisioner, progress, &payer_keys, &payee_keys).await?;
    let (payer_ids, payee_ids) = ids.split_at(cfg.connections);
    // Learn the hub id from a challenge, then pre-sign every voucher.
    let hub_id = probe_hub_id(&cfg.url).await?;
    let plans: Vec<ChannelPlan> = payer_keys
        .into_iter()
        .zip(payer_ids)
        .map(|(key, &channel)| ChannelPlan {
            channel,
            key,
            start: (0, 0, Fe::from(0u64)),
            payments: per_conn,
        })
        .collect();
    let params = PlanParams {
        hub_id,
        payees: payee_ids,
        amount: cfg.amount,
        sign_every: cfg.sign_every,
        frame_len: cfg.frame_len(),
    };
    let total = per_conn * cfg.connections as u64;
    let frames = presign_all(progress, &plans, &params, total)?;
    let sockets = connect_all(cfg, progress, &plans, hub_id).await?;
    let (started_unix_ms, times, outcomes) =
        stream_all(cfg, progress, sockets, frames, total).await;
    let mut report = Report::build(cfg, hub_id, total, started_unix_ms, times, outcomes);
    // What the hub did meanwhile: a hub without the timeline still gets its report.
    let since = started_unix_ms.saturating_sub(u64::from(SLICE_MS));
    let timeline = match HttpOperator::for_ws_url(&cfg.url) {
        Ok(op) => attribution::fetch(op.base(), since).await,
        Err(e) => Err(e.to_string()),
    };
    match timeline {
        Ok(t) => attribution::attribute(&mut report, started_unix_ms, &t),
        Err(why) => attribution::unattributed(&mut report, why),
    }
    Ok(report)
}

/// Deposits for the payers (enough for every payment) and the payees; returns their
/// channel ids, payers first.
async fn provision<P: Provisioner>(
    cfg: &LoadConfig,
    provisioner: &P,
    progress: &dyn Progress,
    payer_keys: &[PrivateKey],
    payee_keys: &[PrivateKey],
) -> Result<Vec<ChannelId>, LoadError> {
    progress.phase("deposits", (cfg.connections + cfg.payees) as u64);
    let deposit = cfg
        .payments_per_connection()
        .checked_mul(cfg.amount)
        .and_then(|d| d.checked_add(cfg.extra_deposit))
        .ok_or_else(|| LoadError::Config("deposit overflows u64".into()))?;
    let mut deposits: Vec<(channel::crypto::PublicKey, Amount)> =
        payer_keys.iter().map(|k| (k.public(), deposit)).collect();
    deposits.extend(payee_keys.iter().map(|k| (k.public(), cfg.amount)));
    let ids = provisioner.deposit(&deposits).await?;
    progress.advance(ids.len() as u64);
    progress.finish();
    Ok(ids)
}

/// Pre-sign every payer's frames on a worker thread, showing progress.
fn presign_all(
    progress: &dyn Progress,
    plans: &[ChannelPlan],
    params: &PlanParams<'_>,
    total: u64,
) -> Result<Vec<Vec<Frame>>, LoadError> {
    progress.phase("pre-signing vouchers", total);
    let signed = AtomicU64::new(0);
    let frames = std::thread::scope(|s| {
        let worker = s.spawn(|| presign(plans, params, &signed));
        while !worker.is_finished() {
            progress.set(signed.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
        worker
            .join()
            .map_err(|_| LoadError::Config("pre-signing panicked".into()))?
    })?;
    progress.finish();
    Ok(frames)
}

/// Connect and authenticate every payer, [`CONNECT_CONCURRENCY`] at a time.
async fn connect_all(
    cfg: &LoadConfig,
    progress: &dyn Progress,
    plans: &[ChannelPlan],
    hub_id: HubId,
) -> Result<Vec<Ws>, LoadError> {
    progress.phase("connecting", cfg.connections as u64);
    let connected: Vec<Result<Ws, LoadError>> = stream::iter(plans.iter().enumerate())
        .map(|(index, plan)| {
            let url = cfg.url.clone();
            async move {
                let r = connect_and_hello(&url, &plan.key, plan.channel, hub_id).await;
                r.map_err(|reason| LoadError::Connect { index, reason })
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .inspect(|_| progress.advance(1))
        .collect()
        .await;
    let sockets: Vec<Ws> = connected.into_iter().collect::<Result<_, _>>()?;
    progress.finish();
    Ok(sockets)
}

/// Stream every connection's frames at once (one task each) and wait for them to end;
/// returns when it started (Unix ms), the time it took (first send to last ack, and the
/// teardown after it) and each connection's outcome.
///
/// No connection closes before every connection has finished streaming: the run
/// measures a hub under a steady set of connections, opened before the first send and
/// closed after the last ack. (Closing each as it finishes put 1,000 close handshakes,
/// both ends' on this machine, into the last 70 ms of a rate-paced run and doubled the
/// p99 of the frames still in flight.)
async fn stream_all(
    cfg: &LoadConfig,
    progress: &dyn Progress,
    sockets: Vec<Ws>,
    frames: Vec<Vec<Frame>>,
    total: u64,
) -> (u64, (Duration, Duration), Vec<ConnectionOutcome>) {
    progress.phase("streaming payments", total);
    let live = Arc::new(LiveStats::default());
    let started = Instant::now();
    let started_unix_ms = unix_ms(SystemTime::now());
    let send_until = started + cfg.duration;
    let deadline = send_until + cfg.drain_timeout;
    let teardown = Arc::new(Barrier::new(sockets.len()));
    let mut tasks = Vec::with_capacity(sockets.len());
    for (i, (ws, frames)) in sockets.into_iter().zip(frames).enumerate() {
        let live = live.clone();
        let schedule = Schedule::for_connection(cfg, i, started);
        let window = cfg.window as u64;
        let teardown = Arc::clone(&teardown);
        tasks.push(tokio::spawn(async move {
            let (out, mut sink) = drive(
                ws, frames, started, schedule, window, send_until, deadline, live,
            )
            .await;
            // Bounded: a task that failed before the barrier cannot hold the others.
            let _ = tokio::time::timeout_at(deadline.into(), teardown.wait()).await;
            let _ = sink.close().await;
            out
        }));
    }
    let watcher = {
        let live = live.clone();
        async move {
            loop {
                progress.set(live.acked.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let outcomes = tokio::select! {
        outcomes = futures_util::future::join_all(tasks) => outcomes,
        _ = watcher => unreachable!("the watcher never ends"),
    };
    let total_time = started.elapsed();
    progress.set(live.acked.load(Ordering::Relaxed));
    progress.finish();
    let outcomes: Vec<ConnectionOutcome> = outcomes
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| ConnectionOutcome::failed(format!("task failed: {e}"))))
        .collect();
    let elapsed = outcomes
        .iter()
        .map(|o| o.streamed)
        .max()
        .unwrap_or(total_time);
    (
        started_unix_ms,
        (elapsed, total_time.saturating_sub(elapsed)),
        outcomes,
    )
}

/// Buffers per connection: frames are small, and a run holds up to 100,000
/// connections (tungstenite's default is 128 KiB to read).
const SOCKET_BUFFER_BYTES: usize = 16 << 10;

/// Open a WebSocket as a browser does: `TCP_NODELAY` set (a frame is sent at once, not
/// held back by Nagle's algorithm until the previous one is acknowledged), and small
/// buffers.
async fn connect(url: &str) -> Result<Ws, WsError> {
    let config = WebSocketConfig::default()
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES);
    let (ws, _response) = connect_async_with_config(url, Some(config), true).await?;
    Ok(ws)
}

/// Connect once and read the hub id from the challenge.
pub async fn probe_hub_id(url: &str) -> Result<HubId, LoadError> {
    let mut ws = connect(url).await.map_err(|e| LoadError::Connect {
        index: 0,
        reason: e.to_string(),
    })?;
    let challenge = read_challenge(&mut ws)
        .await
        .map_err(|reason| LoadError::Connect { index: 0, reason })?;
    let _ = ws.close(None).await;
    Ok(challenge.0)
}

async fn read_challenge(ws: &mut Ws) -> Result<(HubId, Fe), String> {
    loop {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .map_err(|_| "no challenge within the handshake timeout".to_string())?
            .ok_or("connection closed before the challenge")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(text) = msg {
            return match ServerMessage::decode(&text) {
                Ok(ServerMessage::Challenge(c)) => Ok((c.hub_id, c.nonce)),
                Ok(other) => Err(format!("expected challenge, got {other:?}")),
                Err(e) => Err(format!("bad challenge: {e}")),
            };
        }
    }
}

async fn connect_and_hello(
    url: &str,
    key: &PrivateKey,
    channel: ChannelId,
    hub_id: HubId,
) -> Result<Ws, String> {
    let mut ws = connect(url).await.map_err(|e| e.to_string())?;
    let (challenge_hub, nonce) = read_challenge(&mut ws).await?;
    if challenge_hub != hub_id {
        return Err(format!("hub id changed from {hub_id} to {challenge_hub}"));
    }
    let hello = ClientMessage::Request {
        id: Id::Num(1),
        request: Request::Hello(Hello {
            channel,
            sig: key.sign(&hello_message(hub_id, &nonce, channel)),
        }),
    };
    ws.send(Message::text(hello.to_text()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .map_err(|_| "no hello response within the handshake timeout".to_string())?
            .ok_or("connection closed during hello")?
            .map_err(|e| e.to_string())?;
        let Message::Text(text) = msg else { continue };
        match ServerMessage::decode(&text) {
            Ok(ServerMessage::Response {
                result: Ok(Reply::Status(s)),
                ..
            }) => {
                if s.seq != 0 {
                    return Err(format!("channel {channel} is not fresh (seq {})", s.seq));
                }
                return Ok(ws);
            }
            Ok(ServerMessage::Response { result: Err(e), .. }) => {
                return Err(format!("hello refused: {}", e.message));
            }
            Ok(_) => continue,
            Err(e) => return Err(format!("bad hello response: {e}")),
        }
    }
}

/// The load generator's timer resolution (tokio's: a sleep ends at the first
/// millisecond tick at or after its deadline). A frame is sent at the last tick before
/// its intended time rather than at the first after it: up to a tick early, with its
/// latency counted from the send, instead of up to a tick late (0.9 ms on average at
/// 1,000 connections, measured), charged to the hub. A frame sent late, because the
/// window was full or the load generator did not get the CPU in time, still counts
/// from its intended time.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Where a frame's latency counts from: its send, if it went early (up to a
/// [`TIMER_TICK`]), else its intended time (coordinated omission: a frame held back by a
/// full window or a slow load generator is charged the wait). The earlier of the two.
fn latency_origin(intended: Instant, sent: Instant) -> Instant {
    intended.min(sent)
}

/// One connection: send frames (on schedule or as the window allows), match acks.
/// Returns the outcome and the connection's sending half, still open (closing it
/// sends the close frame).
#[allow(clippy::too_many_arguments)]
async fn drive(
    ws: Ws,
    frames: Vec<Frame>,
    started: Instant,
    schedule: Schedule,
    window: u64,
    send_until: Instant,
    deadline: Instant,
    live: Arc<LiveStats>,
) -> (ConnectionOutcome, SplitSink<Ws, Message>) {
    let mut out = ConnectionOutcome::new();
    let (mut sink, mut source) = ws.split();
    let total_frames = frames.len();
    let mut frames = frames.into_iter().enumerate().peekable();
    // (last seq, vouchers, intended or actual send time)
    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut inflight_vouchers = 0u64;
    let mut sent_frames = 0usize;
    loop {
        let now = Instant::now();
        if now >= deadline {
            out.error
                .get_or_insert_with(|| "deadline reached with unacked vouchers".into());
            break;
        }
        let next = frames.peek().map(|(k, f)| (*k, f.vouchers as u64));
        let room = now < send_until;
        let due = next.and_then(|(k, vouchers)| {
            (room && inflight_vouchers + vouchers <= window).then(|| schedule.send_time(now, k))
        });
        if next.is_none() && inflight.is_empty() {
            break;
        }
        if now >= send_until && inflight.is_empty() {
            break;
        }
        if let Some(at) = due.filter(|at| *at <= now + TIMER_TICK) {
            let Some((_, frame)) = frames.next() else {
                break;
            };
            let vouchers = frame.vouchers as u64;
            let sent = Instant::now();
            if let Err(e) = sink.send(Message::binary(frame.bytes)).await {
                out.error = Some(format!("send failed: {e}"));
                break;
            }
            inflight.push_back((frame.last_seq, vouchers, latency_origin(at, sent)));
            inflight_vouchers += vouchers;
            sent_frames += 1;
            live.sent.fetch_add(vouchers, Ordering::Relaxed);
            continue;
        }
        let wake = due
            .map_or(deadline, |at| at.checked_sub(TIMER_TICK).unwrap_or(at))
            .min(deadline);
        let msg = tokio::select! {
            m = source.next() => m,
            _ = tokio::time::sleep_until(wake.into()) => continue,
        };
        let acked_to = match hear(msg, &mut out, &live) {
            Ok(acked_to) => acked_to,
            Err(e) => {
                out.error = Some(e);
                break;
            }
        };
        if let Some(seq) = acked_to {
            release_acked(
                &mut inflight,
                &mut inflight_vouchers,
                seq,
                started,
                &mut out,
                &live,
            );
        }
        if out.rejects.values().sum::<u64>() > 0 && inflight.is_empty() {
            // A refused voucher breaks this channel's sequence: stop sending.
            out.error.get_or_insert_with(|| "voucher rejected".into());
            break;
        }
    }
    out.sent_frames = sent_frames;
    out.unsent_frames = total_frames - sent_frames;
    out.streamed = started.elapsed();
    (out, sink)
}

/// A sent frame awaiting its ack: last seq, vouchers, intended or actual send time.
type InFlight = (u64, u64, Instant);

/// What a message from the hub says: `Ok(Some(seq))` acks every voucher `≤ seq`,
/// `Ok(None)` acks nothing (a reject is counted), `Err` ends the connection.
fn hear(
    msg: Option<Result<Message, WsError>>,
    out: &mut ConnectionOutcome,
    live: &LiveStats,
) -> Result<Option<u64>, String> {
    let msg = match msg {
        Some(Ok(m)) => m,
        Some(Err(e)) => return Err(format!("connection error: {e}")),
        None => return Err("hub closed the connection".into()),
    };
    Ok(match &msg {
        Message::Binary(b) => match decode_server_binary(b) {
            Ok(ServerFrame::Ack { seq }) => Some(seq),
            Ok(ServerFrame::Reject { code, .. }) => {
                out.count_reject(code);
                live.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => return Err(format!("bad binary frame from hub: {e}")),
        },
        Message::Text(t) => match ServerMessage::decode(t) {
            Ok(ServerMessage::Ack(a)) => Some(a.seq),
            Ok(ServerMessage::Reject(r)) => {
                out.count_reject(r.code);
                live.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => None,
        },
        Message::Close(frame) => return Err(format!("hub closed the connection: {frame:?}")),
        _ => None,
    })
}

/// Release the in-flight frames an ack up to `seq` covers, recording their latency.
fn release_acked(
    inflight: &mut VecDeque<InFlight>,
    inflight_vouchers: &mut u64,
    seq: u64,
    started: Instant,
    out: &mut ConnectionOutcome,
    live: &LiveStats,
) {
    let now = Instant::now();
    while inflight.front().is_some_and(|(last, _, _)| *last <= seq) {
        let Some((_, vouchers, at)) = inflight.pop_front() else {
            break;
        };
        *inflight_vouchers -= vouchers;
        out.acked += vouchers;
        live.acked.fetch_add(vouchers, Ordering::Relaxed);
        let micros = now.saturating_duration_since(at).as_micros() as u64;
        let sent_ms = at.saturating_duration_since(started).as_millis();
        out.timeline.push((
            u32::try_from(sent_ms).unwrap_or(u32::MAX),
            u32::try_from(micros).unwrap_or(u32::MAX),
        ));
    }
}

/// A histogram for ack latency in microseconds (1 µs to 10 minutes, 3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds are valid")
}

/// Rejections by code, merged.
pub type RejectCounts = BTreeMap<i32, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_sent_early_counts_from_its_send_and_a_late_one_from_its_intended_time() {
        let t = Instant::now();
        let tick = TIMER_TICK;
        // Sent at the tick before its time: the 0.6 ms until then count.
        let early = t + tick.mul_f64(0.6);
        assert_eq!(latency_origin(early, t), t);
        // Sent 3 ms late (window full, or the CPU busy): the 3 ms count.
        assert_eq!(latency_origin(t, t + tick * 3), t);
    }
}
