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
use channel::ledger::{Applied, ChannelRecord, ChannelTable, Covered, VoucherError};
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
        let _ = self.stop_tx.send(true);
        self.registry.close_all(reason);
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

    /// Channel `channel`'s exit is durable: nothing it holds above its committed head
    /// (staged vouchers, pending or awaiting verification, and covered ranges still on
    /// their way to the writer, which refuses them) will ever be committed. Drop it
    /// and reject it at once from its first seq, so that the client does not wait for
    /// acks of unsigned vouchers that nothing will cover.
    fn on_exit_committed(&self, channel: ChannelId) {
        let registry = &self.registry;
        let dropped = self.channels.with_channel(channel, |c| {
            let first = c.record.seq + 1;
            let uncommitted = c.covered_head().seq > c.record.seq || c.pending_count() > 0;
            if !uncommitted {
                return None;
            }
            registry.bump_staging(channel);
            Some((first, c.abandon_uncommitted().len()))
        });
        if let Some(Some((first, staged))) = dropped {
            self.reject_exited(channel, first, staged);
        }
    }

    /// Channel `channel` has exited with vouchers from `first_seq` on uncommitted:
    /// drop what it has staged, roll its covered head back to the (final) committed
    /// one, and reject those vouchers with `channel_exiting`.
    pub(crate) fn on_exited(&self, channel: ChannelId, first_seq: u64) {
        let registry = &self.registry;
        let dropped = self.channels.with_channel(channel, |c| {
            registry.bump_staging(channel);
            c.abandon_uncommitted().len()
        });
        self.reject_exited(channel, first_seq, dropped.unwrap_or(0));
    }

    fn reject_exited(&self, channel: ChannelId, first_seq: u64, staged_dropped: usize) {
        self.metrics
            .pending_vouchers
            .fetch_sub(staged_dropped as i64, Ordering::Relaxed);
        self.metrics.refuse(ErrorCode::ChannelExiting);
        self.registry.to_bound(
            channel,
            ServerMessage::Reject(Reject::new(
                first_seq,
                ErrorCode::ChannelExiting,
                "channel has exited: vouchers from this seq on are not committed",
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

/// What a verification result did to its channel.
enum Verdict {
    Covered(Covered),
    Refused(Vec<u64>),
    /// The channel exited before the checkpoint was covered: these staged seqs
    /// were dropped.
    Exited(Vec<u64>),
    /// The session that admitted it is gone (its staged vouchers were dropped), or
    /// the checkpoint was already covered by a later one: nothing to do.
    Stale,
}

impl VerifySink for Sink {
    fn verified(&self, job: VerifyJob, valid: bool) {
        let Some(shared) = self.0.upgrade() else {
            return;
        };
        let registry = &shared.registry;
        let verdict = shared
            .channels
            .with_channel(job.channel, |c| {
                // Checked under the channel lock, like `drop_staged` at session end, so a
                // result never lands on vouchers staged by a later session.
                if registry.generation(job.channel) != Some(job.generation) {
                    return Verdict::Stale;
                }
                let result = if valid {
                    match c.cover(job.seq, job.sig) {
                        Err(VoucherError::ChannelExiting) => {
                            registry.bump_staging(job.channel);
                            Ok(Verdict::Exited(c.abandon_uncommitted()))
                        }
                        other => other.map(Verdict::Covered),
                    }
                } else {
                    registry.bump_staging(job.channel);
                    c.refuse_checkpoint(job.seq).map(Verdict::Refused)
                };
                result.unwrap_or(Verdict::Stale)
            })
            .unwrap_or(Verdict::Stale);
        match verdict {
            Verdict::Covered(covered) => {
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
            Verdict::Refused(dropped) => {
                shared
                    .metrics
                    .pending_vouchers
                    .fetch_sub(dropped.len() as i64, Ordering::Relaxed);
                shared.metrics.refuse(ErrorCode::BadSignature);
                let later = dropped.len().saturating_sub(1);
                let message = format!(
                    "checkpoint signature does not verify; {later} later vouchers dropped too"
                );
                shared.registry.to_bound(
                    job.channel,
                    ServerMessage::Reject(Reject::new(job.seq, ErrorCode::BadSignature, &message)),
                    &shared.metrics,
                );
            }
            Verdict::Exited(dropped) => {
                if let Some(&first) = dropped.first() {
                    shared.reject_exited(job.channel, first, dropped.len());
                }
            }
            Verdict::Stale => {}
        }
    }
}
