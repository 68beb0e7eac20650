//! State shared by every task of a running hub: configuration, the channel table, the
//! session registry, the verifier pool, the writer, the hub key and the epoch; and the
//! two callbacks that connect them: verified checkpoints → writer ([`VerifySink`]) and
//! durable commits → acks and credits ([`CommitListener`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use channel::codec::json::{
    ChannelStatus, Credit, NewEpoch, Opening, Receipt, Reject, RpcError, ServerMessage,
};
use channel::codec::{CloseCode, ErrorCode};
use channel::crypto::PrivateKey;
use channel::ledger::session::{self, Dropped, RejectReason, Verified};
use channel::ledger::{Applied, ChannelRecord, ChannelTable, Covered};
use channel::types::receipt_message;
use channel::{ChannelId, Epoch, Fe};
use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::{debug, error};

use super::registry::Registry;
use super::verifier::{VerifierPool, VerifyJob, VerifySink};
use crate::config::HubConfig;
use crate::metrics::Metrics;
use crate::state::Channels;
use crate::timeline::{Stat, micros};
use crate::writer::WriterMetrics;

/// Everything the tasks of one hub share.
pub(crate) struct Shared {
    pub config: Arc<HubConfig>,
    pub channels: Arc<Channels>,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub verifier: VerifierPool,
    pub commit: Arc<dyn CommitPort>,
    pub writer_metrics: Arc<WriterMetrics>,
    pub hub_key: PrivateKey,
    /// The epoch now accumulating payments (the next to be cut).
    pub epoch: AtomicU64,
    /// Payees credited since their last automatic receipt.
    pub receipts_due: Mutex<HashSet<ChannelId>>,
    /// Hellos preparing their channel's key (~150 µs of CPU each) off the I/O threads,
    /// at most this many at once (one per verifier thread): a burst of new connections
    /// then queues for these slots instead of holding up the sessions already paying.
    pub hello_slots: tokio::sync::Semaphore,
    stopping: AtomicBool,
    stop_tx: watch::Sender<bool>,
}

/// What [`Shared::new`] is built from.
pub(crate) struct SharedParts {
    pub config: Arc<HubConfig>,
    pub channels: Arc<Channels>,
    pub metrics: Arc<Metrics>,
    pub verifier: VerifierPool,
    pub commit: Arc<dyn CommitPort>,
    pub writer_metrics: Arc<WriterMetrics>,
    pub hub_key: PrivateKey,
    /// The epoch accumulating payments at start (last cut + 1).
    pub epoch: Epoch,
}

/// What the server needs from the group-commit writer: a place to send covered ranges.
/// Implemented over [`crate::writer`]; a trait so that the verifier sink does not
/// depend on how the writer queues.
pub(crate) trait CommitPort: Send + Sync + 'static {
    /// Queue a covered range for the next group commit, waiting while the writer's
    /// queue is full. Ranges of one channel are submitted in seq order. `Err` means the
    /// writer has stopped (shutdown or a failed commit): nothing more will be acked.
    fn submit_covered(&self, covered: Covered) -> Result<(), ()>;
}

impl Shared {
    pub(crate) fn new(parts: SharedParts) -> Self {
        let SharedParts {
            config,
            channels,
            metrics,
            verifier,
            commit,
            writer_metrics,
            hub_key,
            epoch,
        } = parts;
        let (stop_tx, _) = watch::channel(false);
        let hello_slots = tokio::sync::Semaphore::new(config.verifier_threads());
        Shared {
            config,
            channels,
            registry: Registry::default(),
            metrics,
            verifier,
            commit,
            writer_metrics,
            hub_key,
            epoch: AtomicU64::new(epoch),
            receipts_due: Mutex::new(HashSet::new()),
            hello_slots,
            stopping: AtomicBool::new(false),
            stop_tx,
        }
    }

    /// The epoch now accumulating payments.
    pub(crate) fn epoch(&self) -> Epoch {
        self.epoch.load(Ordering::Acquire)
    }

    /// Start accumulating epoch `epoch` (called just before the previous one is cut).
    pub(crate) fn begin_epoch(&self, epoch: Epoch) {
        self.epoch.fetch_max(epoch, Ordering::AcqRel);
    }

    /// The writer's metrics and the hub's state (epoch, channel count) in the
    /// Prometheus text format.
    pub(crate) fn extra_metrics(&self) -> String {
        let mut out = crate::metrics::render_state(self.epoch(), self.channels.len());
        out.push_str(&crate::metrics::render_writer(&self.writer_metrics));
        out
    }

    /// A fresh random challenge nonce (a uniformly random field element).
    pub(crate) fn fresh_nonce(&self) -> Fe {
        use ark_ff::UniformRand;
        Fe::rand(&mut rand::thread_rng())
    }

    /// Whether the hub is shutting down.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// A receiver that changes once shutdown begins.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop_tx.subscribe()
    }

    /// Begin shutdown: every session is asked to close.
    pub(crate) fn stop(&self, reason: CloseCode) {
        self.stopping.store(true, Ordering::Release);
        // Sessions first: one woken by the stop signal closes with `Shutdown`, and
        // the first reason given wins (a storage failure must say so).
        self.registry.close_all(reason);
        let _ = self.stop_tx.send(true);
    }

    /// A channel's committed state.
    pub(crate) fn status(&self, channel: ChannelId) -> Result<ChannelStatus, RpcError> {
        let record = self
            .channels
            .record(channel)
            .ok_or_else(|| RpcError::new(ErrorCode::UnknownChannel, "no such channel"))?;
        Ok(status_of(&record))
    }

    /// Sign a receipt for `channel`: "as of epoch e, you have received at least R".
    ///
    /// `received` is read *before* the epoch: an epoch cut raises the epoch before it
    /// takes its snapshot, so if we still read epoch e afterwards, the cut of e has
    /// not taken its snapshot yet and that snapshot will show at least `received`.
    pub(crate) fn sign_receipt(&self, channel: ChannelId) -> Result<Receipt, RpcError> {
        let received = self
            .channels
            .record(channel)
            .ok_or_else(|| RpcError::new(ErrorCode::UnknownChannel, "no such channel"))?
            .received;
        let epoch = self.epoch();
        let hub_id = self.config.hub_id;
        let sig = self
            .hub_key
            .sign(&receipt_message(hub_id, epoch, channel, received));
        self.metrics.receipts_signed.fetch_add(1, Ordering::Relaxed);
        Ok(Receipt {
            hub_id,
            epoch,
            channel,
            received,
            sig,
        })
    }

    /// A closed epoch's balance-leaf opening for `channel`.
    pub(crate) fn opening(&self, channel: ChannelId, epoch: Epoch) -> Result<Opening, RpcError> {
        let _ = (channel, epoch);
        Err(RpcError::new(
            ErrorCode::NotAvailable,
            "openings are served by the operator interface (/operator/opening)",
        ))
    }

    /// Push automatic receipts to subscribed payees credited since the last round
    /// (called once per `receipt_interval`, so at most one receipt per payee per
    /// interval).
    pub(crate) fn push_due_receipts(&self) {
        let due: Vec<ChannelId> = std::mem::take(&mut *self.receipts_due.lock())
            .into_iter()
            .collect();
        for channel in due {
            match self.sign_receipt(channel) {
                Ok(receipt) => self.registry.to_channel_watchers(
                    channel,
                    ServerMessage::Receipt(receipt),
                    &self.metrics,
                ),
                Err(e) => debug!(channel, error = ?e, "no receipt"),
            }
        }
    }

    /// A new epoch began: tell every session.
    pub(crate) fn announce_epoch(&self, epoch: Epoch) {
        self.registry
            .broadcast(ServerMessage::Epoch(NewEpoch { epoch }), &self.metrics);
    }

    /// A batch is durable: release its acks and credits.
    pub(crate) fn on_applied(&self, applied: &Applied) {
        self.metrics
            .vouchers_acked
            .fetch_add(applied.vouchers, Ordering::Relaxed);
        for &(channel, seq) in &applied.acks {
            self.registry.to_bound(
                channel,
                ServerMessage::Ack(channel::codec::json::Ack { seq }),
                &self.metrics,
            );
        }
        let mut due = Vec::new();
        for &(channel, amount, received) in &applied.credits {
            self.registry.to_channel_watchers(
                channel,
                ServerMessage::Credit(Credit {
                    channel,
                    amount,
                    received,
                }),
                &self.metrics,
            );
            if self.registry.has_subscribers(channel) {
                due.push(channel);
            }
        }
        if !due.is_empty() {
            self.receipts_due.lock().extend(due);
        }
        for &channel in &applied.exited {
            self.on_exit_committed(channel);
        }
    }

    /// Channel `channel`'s exit is durable: drop and reject whatever it still holds
    /// uncommitted ([`session::on_exit_committed`]).
    fn on_exit_committed(&self, channel: ChannelId) {
        let registry = &self.registry;
        let dropped = self.channels.with_channel(channel, |c| {
            let dropped = session::on_exit_committed(c);
            if dropped.is_some() {
                registry.bump_staging(channel);
            }
            dropped
        });
        if let Some(Some(dropped)) = dropped {
            self.reject_dropped(channel, &dropped);
        }
    }

    /// The writer refused channel `channel`'s covered range from `first_seq` because
    /// its exit came first ([`session::on_exited`]).
    pub(crate) fn on_exited(&self, channel: ChannelId, first_seq: u64) {
        let registry = &self.registry;
        let dropped = self.channels.with_channel(channel, |c| {
            registry.bump_staging(channel);
            session::on_exited(c, first_seq)
        });
        // Channels are never removed: were it missing, the client still learns.
        let dropped = dropped.unwrap_or(Dropped {
            reject: session::Reject {
                seq: first_seq,
                reason: RejectReason::Exited,
            },
            staged: 0,
        });
        self.reject_dropped(channel, &dropped);
    }

    /// Staged vouchers of `channel` were dropped: count them out and send the reject
    /// to the channel's session.
    fn reject_dropped(&self, channel: ChannelId, dropped: &Dropped) {
        self.metrics
            .pending_vouchers
            .fetch_sub(dropped.staged as i64, Ordering::Relaxed);
        let code = dropped.reject.code();
        self.metrics.refuse(code);
        self.registry.to_bound(
            channel,
            ServerMessage::Reject(Reject::new(
                dropped.reject.seq,
                code,
                &dropped.reject.message(),
            )),
            &self.metrics,
        );
    }

    /// The writer failed: stop taking payments (fail-stop; restart to recover).
    pub(crate) fn on_storage_failure(&self, reason: &str) {
        error!(
            reason,
            "storage failed: closing every session; restart the hub to recover"
        );
        self.metrics.commit_failures.fetch_add(1, Ordering::Relaxed);
        self.stop(CloseCode::StorageFailed);
    }
}

/// A channel's committed record as the wire `ChannelStatus`.
pub(crate) fn status_of(record: &ChannelRecord) -> ChannelStatus {
    ChannelStatus {
        channel: record.id,
        seq: record.seq,
        spent: record.spent,
        chain: record.chain,
        deposit: record.deposit,
        received: record.received,
        balance: record.balance().unwrap_or(0),
        exiting: record.exiting,
    }
}

/// Connects verified checkpoints to the channel table and the writer. Holds a weak
/// reference: the pool lives inside [`Shared`].
pub(crate) struct Sink(pub std::sync::Weak<Shared>);

impl VerifySink for Sink {
    fn verified(&self, job: VerifyJob, valid: bool) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let timeline = &shared.metrics.timeline;
        timeline.record_all(&[
            (Stat::Verified, 1),
            (Stat::VerifyMaxUs, micros(job.queued_at.elapsed())),
        ]);
        let registry = &shared.registry;
        let verdict = shared
            .channels
            .with_channel(job.channel, |c| {
                // Checked under the channel lock, like `drop_staged` at session end, so a
                // result never lands on vouchers staged by a later session.
                let current = registry.generation(job.channel);
                let verdict =
                    session::on_verified(c, current, job.generation, job.seq, job.sig, valid);
                if matches!(verdict, Verified::Dropped(_)) {
                    registry.bump_staging(job.channel);
                }
                verdict
            })
            .unwrap_or(Verified::Stale);
        match verdict {
            Verified::Covered(covered) => {
                shared
                    .metrics
                    .pending_vouchers
                    .fetch_sub(covered.payments.len() as i64, Ordering::Relaxed);
                if shared.commit.submit_covered(covered).is_err() {
                    debug!(
                        channel = job.channel,
                        "writer stopped; covered range not committed"
                    );
                }
            }
            Verified::Dropped(dropped) => shared.reject_dropped(job.channel, &dropped),
            Verified::Stale => {}
        }
    }
}
