//! The checkpoint verifier pool: EdDSA-Poseidon verification off the connection tasks.
//!
//! Sessions admit vouchers on their own task (cheap: a few comparisons and one BLAKE3
//! call) and hand each checkpoint's signature to this pool. A verification costs far
//! more than admission, so it runs on dedicated OS threads, batched across every
//! connection: a worker wakes, drains up to [`MAX_BATCH`] jobs from its queue and
//! verifies them [`GROUP`] at a time with `channel::crypto::verify_each`: each
//! signature on its own, with its channel's prepared key, eight per pass on CPUs with
//! AVX-512 IFMA (the voucher messages, which sessions hand over unhashed, the challenge
//! hashes and the curve equations, each lane deciding its own signature; one by one
//! elsewhere). See [`verify_group`]. A short group waits for more jobs while more are
//! due ([`fill`]), at most [`fill::MAX_WAIT`]. Every job carries its channel's
//! key already prepared: the session prepares it when the channel says `hello` (and
//! verifies the hello with it), so no checkpoint, not even a channel's first, waits for
//! a key to be prepared or is verified the slow way, and the pool keeps no key cache.
//!
//! **Order.** The jobs of one channel always go to the same worker (`channel mod N`)
//! and each worker handles its queue in order, so the covered ranges of a channel
//! reach the writer in seq order, as `BatchBuilder::push_covered` requires.
//!
//! **Backpressure.** Each worker's queue is bounded; a session that submits to a full
//! queue waits, which stops it reading its socket, which pushes back on its peer.

use std::sync::Arc;
use std::thread::JoinHandle;

use channel::crypto::{BatchEntry, PublicKey, Signature, VerifyingKey, verify_each};
use channel::types::{VoucherMessage, voucher_messages};
use channel::{ChannelId, Fe, Seq};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

pub mod fill;

use fill::GroupFill;

/// Most jobs a worker holds at once.
pub const MAX_BATCH: usize = 1024;

/// Jobs verified together: their hashes computed at once (one eight-lane pass each),
/// their verdicts handed to the sink as soon as the group is done.
pub const GROUP: usize = 8;

/// One checkpoint to verify.
#[derive(Debug, Clone)]
pub struct VerifyJob {
    /// Paying channel.
    pub channel: ChannelId,
    /// What it was admitted against: a result for an older generation (the session
    /// ended, or a refused checkpoint dropped the staged vouchers) is discarded.
    pub generation: super::registry::Generation,
    /// Checkpoint seq.
    pub seq: Seq,
    /// Channel key.
    pub pk: PublicKey,
    /// The same key prepared, by the session when the channel said `hello` (so even a
    /// channel's first checkpoint is verified with a prepared key, in a batch). `None`
    /// (a key that could not be prepared) is verified alone, and fails.
    pub key: Option<Arc<VerifyingKey>>,
    /// The voucher message's fields (hashed here, many at once).
    pub msg: VoucherMessage,
    /// Signature to verify.
    pub sig: Signature,
    /// When the session handed it over (for the timeline's verification wait).
    pub queued_at: std::time::Instant,
}

/// What to do with a verified (or refused) checkpoint. Called on a worker thread, in
/// submission order per channel.
pub trait VerifySink: Send + Sync + 'static {
    /// `valid` tells whether the signature verified.
    fn verified(&self, job: VerifyJob, valid: bool);
}

/// Why a job could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The pool has shut down.
    #[error("verifier pool stopped")]
    Stopped,
}

/// The running pool.
pub struct VerifierPool {
    /// One queue per worker; emptied by [`VerifierPool::shutdown`], which ends the workers.
    queues: parking_lot::RwLock<Vec<mpsc::Sender<VerifyJob>>>,
    workers: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl VerifierPool {
    /// Start `threads` workers, each with a queue of `queue / threads` jobs, each
    /// asking the scheduler for `slice` ([`crate::thread_slice`]) if set.
    pub fn start(
        threads: usize,
        queue: usize,
        sink: Arc<dyn VerifySink>,
        metrics: Arc<Metrics>,
        slice: Option<std::time::Duration>,
    ) -> Self {
        assert!(threads > 0, "at least one verifier thread");
        let per_worker = (queue / threads).max(MAX_BATCH);
        let mut queues = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = mpsc::channel(per_worker);
            queues.push(tx);
            let sink = Arc::clone(&sink);
            let metrics = Arc::clone(&metrics);
            let handle = std::thread::Builder::new()
                .name(format!("zkhub-verify-{i}"))
                .spawn(move || {
                    crate::thread_slice::apply(slice, "verifier");
                    run_worker(rx, sink.as_ref(), &metrics)
                })
                .expect("spawn verifier thread");
            workers.push(handle);
        }
        VerifierPool {
            queues: parking_lot::RwLock::new(queues),
            workers: parking_lot::Mutex::new(workers),
        }
    }

    fn queue_of(&self, channel: ChannelId) -> Option<mpsc::Sender<VerifyJob>> {
        let queues = self.queues.read();
        if queues.is_empty() {
            return None;
        }
        Some(queues[channel as usize % queues.len()].clone())
    }

    /// Whether the worker of `channel` has room for `jobs` more jobs now. Sessions
    /// check this before admitting a message and refuse it (`Overloaded`) when the
    /// backlog is that deep, rather than stage vouchers they cannot verify soon.
    pub fn has_room(&self, channel: ChannelId, jobs: usize) -> bool {
        // A message larger than the whole queue is admitted when the queue is empty.
        self.queue_of(channel)
            .is_some_and(|q| q.capacity() >= jobs.min(q.max_capacity()))
    }

    /// Queue a job, waiting while the channel's worker queue is full.
    pub async fn submit(&self, job: VerifyJob) -> Result<(), SubmitError> {
        let queue = self.queue_of(job.channel).ok_or(SubmitError::Stopped)?;
        queue.send(job).await.map_err(|_| SubmitError::Stopped)
    }

    /// Stop accepting jobs, let the workers finish what is queued, and join them.
    /// Sessions still holding a sender clone keep a worker alive until they drop it,
    /// so call this after the sessions have ended.
    pub fn shutdown(&self) {
        self.queues.write().clear();
        let workers = std::mem::take(&mut *self.workers.lock());
        for w in workers {
            let _ = w.join();
        }
    }
}

/// The verdicts of a group of jobs (`[i]` for job `i`), each exactly single
/// verification's: with the key the session prepared, or (a key that could not be
/// prepared, or another channel's) the plain one.
///
/// Eight lanes instead of one: 8.7 µs per signature at 16 or more (the challenge hash
/// included) against 38.1 µs for a prepared single verification (quiet machine, `cargo
/// bench -p benches --bench crypto -- verify`). Batch verification
/// (`channel::crypto::verify_batch`, one random linear combination) costs more per
/// signature here (43 µs): the exact subgroup test every `R8` needs in a batch costs more
/// than the shared doublings save.
fn verify_group(jobs: &[VerifyJob]) -> Vec<bool> {
    let mut msgs = vec![Fe::from(0u64); jobs.len()];
    voucher_messages(jobs.iter().map(|j| &j.msg), &mut msgs);
    let entries: Vec<BatchEntry<'_>> = jobs
        .iter()
        .zip(&msgs)
        .filter_map(|(j, msg)| {
            prepared(j).map(|key| BatchEntry {
                key,
                msg: *msg,
                sig: j.sig,
            })
        })
        .collect();
    let mut verdicts = verify_each(&entries).into_iter();
    let valid = jobs
        .iter()
        .zip(&msgs)
        .map(|(j, msg)| match prepared(j) {
            Some(_) => verdicts.next().is_some_and(|v| v.is_ok()),
            None => j.pk.verify(msg, &j.sig).is_ok(),
        })
        .collect();
    debug_assert!(verdicts.next().is_none(), "one verdict per prepared job");
    valid
}

/// The job's prepared key, if it is the job's channel key.
fn prepared(j: &VerifyJob) -> Option<&VerifyingKey> {
    j.key.as_deref().filter(|k| k.public_key() == j.pk)
}

/// Take every queued job (up to [`MAX_BATCH`] in all), noting each arrival.
fn drain(rx: &mut mpsc::Receiver<VerifyJob>, batch: &mut Vec<VerifyJob>, fill: &mut GroupFill) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => {
                fill.arrived(job.queued_at);
                batch.push(job);
            }
            Err(_) => break,
        }
    }
}

/// How often a worker waiting for its group looks at its queue again.
const POLL: std::time::Duration = std::time::Duration::from_micros(50);

/// The worker loop: take what is queued, verify every full group in submission order,
/// and keep a short tail (or a whole batch below eight) for the next round while the
/// recent arrivals say more are due ([`fill`]: a checkpoint waits at most
/// [`fill::MAX_WAIT`] more, and a lone checkpoint on a quiet hub not at all).
fn run_worker(mut rx: mpsc::Receiver<VerifyJob>, sink: &dyn VerifySink, metrics: &Metrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut fill = GroupFill::new();
    let eight_lanes = channel::crypto::eight_lanes_available();
    loop {
        if batch.is_empty() {
            match rx.blocking_recv() {
                Some(job) => {
                    fill.arrived(job.queued_at);
                    batch.push(job);
                }
                None => return,
            }
        }
        drain(&mut rx, &mut batch, &mut fill);
        // Full groups now; a short tail (a whole batch below eight included) waits for
        // the next round while more jobs are due to fill it, its oldest job's limit
        // counting from when it was handed over.
        let short = batch.len() % GROUP;
        let tail = &batch[batch.len() - short..];
        let tail_due = match tail.iter().map(|j| j.queued_at).min() {
            Some(oldest) if eight_lanes => {
                fill.wait_until(short, oldest, std::time::Instant::now())
            }
            _ => None,
        };
        let keep = match tail_due {
            // Nothing to verify yet: look at the queue again soon.
            Some(deadline) if short == batch.len() => {
                let now = std::time::Instant::now();
                std::thread::sleep(POLL.min(deadline.saturating_duration_since(now)));
                continue;
            }
            Some(_) => short,
            None => 0,
        };
        let take = batch.len() - keep;
        metrics.verify_batch_size.observe(take as f64);
        // In submission order, so each channel's results stay in seq order.
        let mut jobs = batch.drain(..take).peekable();
        while jobs.peek().is_some() {
            let group: Vec<VerifyJob> = jobs.by_ref().take(GROUP).collect();
            let valid = verify_group(&group);
            metrics
                .signatures_verified
                .fetch_add(group.len() as u64, std::sync::atomic::Ordering::Relaxed);
            for (job, ok) in group.into_iter().zip(valid) {
                sink.verified(job, ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::crypto::PrivateKey;
    use rand::SeedableRng;

    fn job(
        channel: ChannelId,
        key: &VerifyingKey,
        sk: &PrivateKey,
        seq: Seq,
        good: bool,
    ) -> VerifyJob {
        let msg = VoucherMessage {
            hub_id: 7,
            channel,
            seq,
            spent: seq * 3,
            chain: Fe::from(seq * 1000 + channel as u64),
        };
        let sig = sk.sign(&msg.hash());
        VerifyJob {
            channel,
            generation: super::super::registry::Generation {
                session: 0,
                staging: 0,
            },
            seq,
            queued_at: std::time::Instant::now(),
            pk: sk.public(),
            key: Some(Arc::new(key.clone())),
            msg: if good {
                msg
            } else {
                VoucherMessage {
                    spent: msg.spent + 1,
                    ..msg
                }
            },
            sig,
        }
    }

    #[test]
    fn verdicts_with_prepared_missing_or_foreign_keys_equal_plain_verification() {
        let mut r = rand::rngs::StdRng::seed_from_u64(1);
        let sks: Vec<PrivateKey> = (0..6).map(|_| PrivateKey::random(&mut r)).collect();
        let keys: Vec<VerifyingKey> = sks
            .iter()
            .map(|k| k.public().prepare().expect("a usable key"))
            .collect();
        for round in 0..3u64 {
            let jobs: Vec<VerifyJob> = (0..40u64)
                .map(|i| {
                    let c = (i % 6) as usize;
                    let bad = (i + round) % 13 == 0;
                    let mut j = job(c as ChannelId, &keys[c], &sks[c], round * 100 + i, !bad);
                    if i % 7 == 0 {
                        // No prepared key, or another channel's: verified alone.
                        j.key = (i % 14 == 0).then(|| Arc::new(keys[(c + 1) % 6].clone()));
                    }
                    j
                })
                .collect();
            let mut got = Vec::new();
            // Groups of every size from 1 to past a full eight-lane pass.
            let mut rest = &jobs[..];
            let mut size = 1;
            while !rest.is_empty() {
                let (group, tail) = rest.split_at(size.min(rest.len()));
                got.extend(verify_group(group));
                rest = tail;
                size = size % 11 + 1;
            }
            let want: Vec<bool> = jobs
                .iter()
                .map(|j| j.pk.verify(&j.msg.hash(), &j.sig).is_ok())
                .collect();
            assert_eq!(got, want, "round {round}");
            assert!(want.iter().any(|v| !v) && want.iter().any(|v| *v));
        }
    }
}
