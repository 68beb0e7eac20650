//! The group commit (docs/DESIGN.md §6): drain the queue into one [`Batch`], check
//! it against the in-memory table, append it to the log in one
//! `Durability::Immediate` transaction, apply it, and only then hand its acks and
//! credits to the listener.
//!
//! [`Batch`]: channel::ledger::Batch

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use channel::ledger::{BatchBuilder, Covered, prepare_batch};
use tokio::sync::mpsc;

use super::{CommitRequest, Core, Fatal, Msg};
use crate::store::CommitError;
use crate::timeline::{Stat, micros};

/// What one drain of the queue gathered.
pub(super) struct Gathered {
    builder: BatchBuilder,
    /// Covered ranges received (committed or refused).
    ranges: u64,
    /// Settlement events received.
    events: u64,
    /// When the first request was dequeued.
    started: Instant,
    /// The control request that ended the drain: run once the batch is committed.
    pub(super) control: Option<CommitRequest>,
    /// The drain ended at a shutdown.
    pub(super) shutdown: bool,
}

impl Core {
    /// Drain requests into one batch, starting with `first`: up to
    /// [`super::WriterConfig::max_batch_payments`] payments or
    /// [`super::WriterConfig::max_batch_requests`] requests, or up to the next control
    /// request or shutdown, or until the queue is empty.
    pub(super) fn gather(&self, first: Msg, rx: &mut mpsc::Receiver<Msg>) -> Gathered {
        let mut gathered = Gathered {
            builder: BatchBuilder::new(),
            ranges: 0,
            events: 0,
            started: Instant::now(),
            control: None,
            shutdown: false,
        };
        let t = &self.config.timeline;
        t.record(Stat::CommitQueueMax, rx.len() as u64 + 1);
        let mut requests = 0usize;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            requests += 1;
            match msg {
                Msg::Shutdown => {
                    gathered.shutdown = true;
                    break;
                }
                Msg::Req(CommitRequest::Covered(c)) => {
                    gathered.ranges += 1;
                    self.push_covered(&mut gathered.builder, c);
                }
                Msg::Req(CommitRequest::CoveredMany(cs)) => {
                    gathered.ranges += cs.len() as u64;
                    for c in cs {
                        self.push_covered(&mut gathered.builder, c);
                    }
                }
                Msg::Req(CommitRequest::Event(e)) => {
                    gathered.events += 1;
                    gathered.builder.push_event(e);
                }
                Msg::Req(req) => {
                    gathered.control = Some(req);
                    break;
                }
            }
            if gathered.builder.payments() >= self.config.max_batch_payments
                || requests >= self.config.max_batch_requests
            {
                break;
            }
            next = rx.try_recv().ok();
        }
        gathered
    }

    /// Gather a covered range unless its payer has exited (an `Exit` committed, or
    /// pushed into this batch before it).
    fn push_covered(&self, builder: &mut BatchBuilder, covered: Covered) {
        let id = covered.debit.channel;
        let exited = self
            .channels
            .with_channel_ref(id, |c| c.record.exiting)
            .unwrap_or(false);
        // A refusal is kept in the builder and reported after the commit.
        let _ = builder.push_covered(covered, exited);
    }

    /// Commit what was gathered (if anything), then report the refused ranges.
    /// The control request is left in `gathered` for the caller.
    pub(super) fn commit_gathered(&mut self, gathered: &mut Gathered) -> Result<(), Fatal> {
        let mut builder = std::mem::take(&mut gathered.builder);
        let refused = builder.take_refused();
        if !builder.is_empty() {
            self.commit(builder, gathered)?;
        }
        if !refused.is_empty() {
            // After the commit: the payers' exits are applied, their heads final.
            self.metrics
                .refused_ranges
                .fetch_add(refused.len() as u64, Relaxed);
            self.listener.refused(refused);
        }
        Ok(())
    }

    /// Commit one batch, apply it, notify.
    fn commit(&mut self, builder: BatchBuilder, gathered: &Gathered) -> Result<(), Fatal> {
        let payments = builder.payments();
        let batch = builder.build(self.last_batch + 1);
        // Checked before the append: a batch that breaks a ledger rule must never
        // become durable (every restart would refuse it).
        let prepared = match prepare_batch(&*self.channels, &batch) {
            Ok(p) => p,
            Err(source) => {
                let number = batch.number;
                return Err(self.fatal(CommitError::Invalid { number, source }));
            }
        };
        let trim = self.trim_for_commit();
        let stats = match self.store.append_batch_and_trim(&batch, trim.clone()) {
            Ok(s) => s,
            Err(e) => return Err(self.fatal(e)),
        };
        self.last_batch = batch.number;
        self.last_commit = Instant::now();
        let applied = prepared.apply();
        if let Some(range) = trim {
            self.trimmed(range, stats.trimmed);
        }
        self.dirty.extend(crate::store::batch_channels(&batch));
        let m = &self.metrics;
        m.batches.fetch_add(1, Relaxed);
        m.payments.fetch_add(payments, Relaxed);
        m.ranges.fetch_add(gathered.ranges, Relaxed);
        m.events.fetch_add(gathered.events, Relaxed);
        m.bytes.fetch_add(stats.bytes as u64, Relaxed);
        m.last_batch.store(batch.number, Relaxed);
        m.commit_us.observe_duration(stats.commit);
        m.batch_payments.observe(payments);
        m.batch_bytes.observe(stats.bytes as u64);
        self.listener.committed(batch.number, applied);
        let batch_time = gathered.started.elapsed();
        m.batch_us.observe_duration(batch_time);
        self.config.timeline.record_all(&[
            (Stat::Commits, 1),
            (Stat::Payments, payments),
            (Stat::CommitMaxUs, micros(stats.commit)),
            (Stat::BatchMaxUs, micros(batch_time)),
        ]);
        Ok(())
    }
}
