//! The hub's per-channel session rules, sans-I/O (docs/DESIGN.md §4, PROTOCOL.md §7):
//! what a pay message, a checkpoint's verification result, a durable exit and a
//! covered range refused after an exit do to a channel's [`ChannelState`], and which
//! reject each sends to the channel's session.
//!
//! Written once for two callers: the hub (`hub::server`, under the channel's lock in
//! its table) and the in-memory [`crate::client::MemHub`], so that a payer tested
//! against the one meets the rules of the other (`hub/tests/memhub_matches_hub.rs`
//! compares their frames).
//!
//! **Generations.** A checkpoint's signature is verified off the session (on a pool
//! in the hub, from a queue in MemHub), so the result may land after the vouchers it
//! was admitted against are gone: the session ended or was superseded, or a refused
//! checkpoint or an exit dropped them, and the client may since have staged
//! *different* vouchers at the same seqs, which the old result must not cover. The
//! caller therefore stamps each admitted checkpoint with the channel's current
//! *generation*, an opaque token (the hub: the bound session's id and a staging
//! counter), gives the channel a new one whenever a function here returns
//! [`Dropped`], and passes the current one to [`on_verified`], which ignores a
//! result of another generation.
//!
//! **Rejects.** Each function returns at most one [`Reject`]: a reject names the first
//! voucher not admitted, and the client treats everything it sent after it as
//! refused too (PROTOCOL.md §7), so one per event is enough.

use crate::codec::ErrorCode;
use crate::crypto::{PublicKey, Signature};
use crate::types::{Seq, VoucherIn};

use super::rules::{Admit, AdmitContext, VoucherError};
use super::state::{ChannelState, Covered, Head};

/// A checkpoint admitted by [`admit_message`]: verify `sig` over `msg.hash()` with `pk`,
/// then call [`on_verified`] with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint<G> {
    /// The channel's generation when it was admitted.
    pub generation: G,
    /// Its seq.
    pub seq: Seq,
    /// The channel key.
    pub pk: PublicKey,
    /// The voucher message's fields, unhashed (the verifier hashes many at once).
    pub msg: crate::types::VoucherMessage,
    /// The signature to verify.
    pub sig: Signature,
}

/// What admitting one pay message did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Admitted<G> {
    /// Vouchers newly staged.
    pub accepted: u64,
    /// Some voucher was already committed: re-ack with this committed head (once per
    /// message, before the reject if there is one).
    pub reack: Option<Head>,
    /// The first voucher refused (nothing after it in the message was admitted).
    pub reject: Option<Reject>,
    /// Checkpoints to verify, in seq order.
    pub checkpoints: Vec<Checkpoint<G>>,
}

impl<G> Default for Admitted<G> {
    fn default() -> Self {
        Admitted {
            accepted: 0,
            reack: None,
            reject: None,
            checkpoints: Vec::new(),
        }
    }
}

/// A reject for the channel's session: the voucher `seq` and everything after it
/// were not admitted, or are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// The first voucher refused.
    pub seq: Seq,
    /// Why.
    pub reason: RejectReason,
}

/// Why a [`Reject`] is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Refused at admission.
    Refused(VoucherError),
    /// The checkpoint's signature does not verify; `later` vouchers staged after it
    /// were dropped with it (the ones before it stay pending).
    BadSignature {
        /// Staged vouchers dropped after the checkpoint.
        later: usize,
    },
    /// The channel has exited: vouchers from `seq` on will never be committed.
    Exited,
}

impl Reject {
    /// The protocol error code.
    pub fn code(&self) -> ErrorCode {
        match self.reason {
            RejectReason::Refused(e) => e.code(),
            RejectReason::BadSignature { .. } => ErrorCode::BadSignature,
            RejectReason::Exited => ErrorCode::ChannelExiting,
        }
    }

    /// The message text sent with the code.
    pub fn message(&self) -> String {
        match self.reason {
            RejectReason::Refused(e) => e.to_string(),
            RejectReason::BadSignature { later } => {
                format!("checkpoint signature does not verify; {later} later vouchers dropped too")
            }
            RejectReason::Exited => {
                "channel has exited: vouchers from this seq on are not committed".to_owned()
            }
        }
    }
}

/// Staged or covered vouchers of the channel were dropped: give the channel a new
/// generation (results admitted before are stale now) and send `reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Dropped {
    /// The reject to send.
    pub reject: Reject,
    /// How many *staged* (uncovered) vouchers were dropped (covered ranges rolled
    /// back are not counted: they left the staged queue when covered).
    pub staged: usize,
}

/// What a checkpoint's verification result did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verified {
    /// The checkpoint covers every staged voucher up to it: hand the range to the
    /// next group commit (which refuses it if the payer's exit comes first).
    Covered(Covered),
    /// The signature did not verify, or the channel exited meanwhile.
    Dropped(Dropped),
    /// The result is of another generation (or names no awaiting checkpoint):
    /// nothing changes.
    Stale,
}

/// Admit one pay message on the session's channel, in order, up to the first refusal.
///
/// `generation` is the channel's current generation if the session sending the
/// message still holds the channel, `None` if it was superseded meanwhile: then
/// nothing is admitted and nothing is sent.
pub fn admit_message<G: Copy>(
    state: &mut ChannelState,
    generation: Option<G>,
    vouchers: &[VoucherIn],
    ctx: &AdmitContext<'_>,
) -> Admitted<G> {
    let mut out = Admitted::default();
    let Some(generation) = generation else {
        return out;
    };
    let pk = state.record.pk;
    for v in vouchers {
        match state.admit(v, ctx) {
            Ok(Admit::Pending) => out.accepted += 1,
            Ok(Admit::Checkpoint { msg, sig }) => {
                out.accepted += 1;
                out.checkpoints.push(Checkpoint {
                    generation,
                    seq: v.seq,
                    pk,
                    msg,
                    sig,
                });
            }
            Ok(Admit::AlreadyCommitted) => out.reack = Some(state.record.head()),
            Ok(Admit::AlreadyStaged) => {}
            Err(e) => {
                out.reject = Some(Reject {
                    seq: v.seq,
                    reason: RejectReason::Refused(e),
                });
                break;
            }
        }
    }
    debug_assert!(out.accepted as usize <= vouchers.len());
    out
}

/// The signature of the checkpoint at `seq`, admitted under `generation`, was
/// verified (`valid`) or not; `current` is the channel's generation now.
///
/// Valid: cover the staged vouchers up to it. Invalid: keep the longest valid prefix
/// pending, drop the checkpoint and everything staged after it, and reject the
/// checkpoint. Valid but the channel has exited since it was admitted: drop every
/// uncommitted voucher and reject the first.
pub fn on_verified<G: PartialEq>(
    state: &mut ChannelState,
    current: Option<G>,
    generation: G,
    seq: Seq,
    sig: Signature,
    valid: bool,
) -> Verified {
    if current != Some(generation) {
        return Verified::Stale;
    }
    if !valid {
        return match state.refuse_checkpoint(seq) {
            Ok(dropped) => {
                debug_assert_eq!(dropped.first(), Some(&seq));
                Verified::Dropped(Dropped {
                    reject: Reject {
                        seq,
                        reason: RejectReason::BadSignature {
                            later: dropped.len().saturating_sub(1),
                        },
                    },
                    staged: dropped.len(),
                })
            }
            Err(_) => Verified::Stale,
        };
    }
    match state.cover(seq, sig) {
        Ok(covered) => Verified::Covered(covered),
        Err(VoucherError::ChannelExiting) => {
            let dropped = state.abandon_uncommitted();
            debug_assert!(!dropped.is_empty(), "the checkpoint itself was staged");
            Verified::Dropped(Dropped {
                reject: Reject {
                    seq: dropped.first().copied().unwrap_or(seq),
                    reason: RejectReason::Exited,
                },
                staged: dropped.len(),
            })
        }
        Err(_) => Verified::Stale,
    }
}

/// The channel's exit is durable (its record reads `exiting`): nothing it holds
/// above its committed head (staged vouchers, pending or awaiting verification, and
/// covered ranges still on their way to commit, which the commit path refuses) will
/// ever be committed. Drop it and reject it from the first uncommitted seq, so that
/// the client does not wait for acks that will never come. `None` if the channel
/// holds nothing uncommitted.
pub fn on_exit_committed(state: &mut ChannelState) -> Option<Dropped> {
    debug_assert!(state.record.exiting, "called once the exit is applied");
    let first = state.record.seq + 1;
    let uncommitted = state.covered_head().seq > state.record.seq || state.pending_count() > 0;
    if !uncommitted {
        return None;
    }
    let staged = state.abandon_uncommitted().len();
    Some(Dropped {
        reject: Reject {
            seq: first,
            reason: RejectReason::Exited,
        },
        staged,
    })
}

/// The commit path refused the covered range from `first_seq` because the channel's
/// exit came first in log order (reported after that commit, so the channel's
/// committed head is final): drop whatever the channel still holds uncommitted and
/// reject from `first_seq`.
pub fn on_exited(state: &mut ChannelState, first_seq: Seq) -> Dropped {
    debug_assert!(
        state.record.exiting,
        "a range is refused only after an exit"
    );
    debug_assert!(
        first_seq > state.record.seq,
        "a refused range is uncommitted"
    );
    let staged = state.abandon_uncommitted().len();
    Dropped {
        reject: Reject {
            seq: first_seq,
            reason: RejectReason::Exited,
        },
        staged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{PrivateKey, chain_next};
    use crate::field::Fe;
    use crate::ledger::{ChannelRecord, Limits};
    use crate::types::voucher_message;

    const HUB: u64 = 1;

    fn key() -> PrivateKey {
        PrivateKey([3; 32])
    }

    fn channel() -> ChannelState {
        ChannelState::new(ChannelRecord::open(1, key().public(), 100))
    }

    /// Vouchers `from..=to` paying channel 2 one unit each, after `seq` `from - 1`
    /// at `spent` `from - 1`; the seqs in `signed` are checkpoints.
    fn vouchers(from: Seq, to: Seq, signed: &[Seq]) -> Vec<VoucherIn> {
        let mut chain = Fe::from(0u64);
        let mut out = Vec::new();
        for seq in 1..=to {
            chain = chain_next(&chain, seq, 2, 1);
            if seq < from {
                continue;
            }
            let msg = voucher_message(HUB, 1, seq, seq, &chain);
            out.push(VoucherIn {
                seq,
                to: 2,
                amount: 1,
                spent: Some(seq),
                chain: Some(chain),
                sig: signed.contains(&seq).then(|| key().sign(&msg)),
            });
        }
        out
    }

    fn admit(c: &mut ChannelState, generation: u32, vs: &[VoucherIn]) -> Admitted<u32> {
        let exists = |id| id == 2;
        let ctx = AdmitContext {
            hub_id: HUB,
            limits: Limits::DEFAULT,
            payee_exists: &exists,
        };
        admit_message(c, Some(generation), vs, &ctx)
    }

    #[test]
    fn a_superseded_session_admits_nothing() {
        let mut c = channel();
        let exists = |_| true;
        let ctx = AdmitContext {
            hub_id: HUB,
            limits: Limits::DEFAULT,
            payee_exists: &exists,
        };
        let out = admit_message::<u32>(&mut c, None, &vouchers(1, 2, &[2]), &ctx);
        assert_eq!(out, Admitted::default());
        assert_eq!(c.pending_count(), 0);
    }

    #[test]
    fn a_message_stops_at_its_first_refusal() {
        let mut c = channel();
        let mut vs = vouchers(1, 4, &[2, 4]);
        vs[2].amount = 0;
        let out = admit(&mut c, 7, &vs);
        assert_eq!(out.accepted, 2);
        assert_eq!(out.checkpoints.len(), 1);
        assert_eq!(out.checkpoints[0].generation, 7);
        let reject = out.reject.expect("refused");
        assert_eq!((reject.seq, reject.code()), (3, ErrorCode::ZeroAmount));
    }

    #[test]
    fn a_bad_signature_rejects_once_and_a_stale_result_covers_nothing() {
        let mut c = channel();
        let mut vs = vouchers(1, 3, &[2, 3]);
        vs[1].sig = Some(key().sign(&Fe::from(5u64)));
        let out = admit(&mut c, 0, &vs);
        let [bad, good] = &out.checkpoints[..] else {
            panic!("two checkpoints")
        };
        let verdict = on_verified(&mut c, Some(0), bad.generation, bad.seq, bad.sig, false);
        let Verified::Dropped(d) = verdict else {
            panic!("dropped: {verdict:?}")
        };
        assert_eq!(
            (d.reject.seq, d.reject.code(), d.staged),
            (2, ErrorCode::BadSignature, 2)
        );
        assert_eq!(c.head().seq, 1, "the valid prefix stays pending");
        // The caller bumps the generation; the client resends 2 and 3 (unsigned 2).
        let resent = vouchers(2, 3, &[3]);
        let again = admit(&mut c, 1, &resent);
        assert_eq!(again.checkpoints.len(), 1);
        // The old result for seq 3 arrives: stale, although seq 3 awaits a signature.
        let late = on_verified(&mut c, Some(1), good.generation, good.seq, good.sig, true);
        assert_eq!(late, Verified::Stale);
        let cp = &again.checkpoints[0];
        let Verified::Covered(covered) = on_verified(&mut c, Some(1), 1, cp.seq, cp.sig, true)
        else {
            panic!("covered")
        };
        assert_eq!(covered.payments.len(), 3);
    }

    #[test]
    fn an_exit_drops_what_is_uncommitted_from_the_first_seq() {
        let mut c = channel();
        let out = admit(&mut c, 0, &vouchers(1, 3, &[2, 3]));
        let cp = &out.checkpoints[0];
        let Verified::Covered(_) = on_verified(&mut c, Some(0), 0, cp.seq, cp.sig, true) else {
            panic!("covered")
        };
        c.record.exiting = true;
        let d = on_exit_committed(&mut c).expect("uncommitted");
        assert_eq!(
            (d.reject.seq, d.reject.code(), d.staged),
            (1, ErrorCode::ChannelExiting, 1)
        );
        assert_eq!((c.head().seq, c.pending_count()), (0, 0));
        assert_eq!(on_exit_committed(&mut c), None, "nothing left");
        // The writer refuses the covered range 1..=2 after the exit: one reject.
        let d = on_exited(&mut c, 1);
        assert_eq!((d.reject.seq, d.staged), (1, 0));
    }

    #[test]
    fn a_checkpoint_verified_after_the_exit_drops_everything_staged() {
        let mut c = channel();
        let out = admit(&mut c, 0, &vouchers(1, 2, &[2]));
        c.record.exiting = true;
        let cp = &out.checkpoints[0];
        let verdict = on_verified(&mut c, Some(0), 0, cp.seq, cp.sig, true);
        let Verified::Dropped(d) = verdict else {
            panic!("dropped: {verdict:?}")
        };
        assert_eq!(
            (d.reject.seq, d.reject.code(), d.staged),
            (1, ErrorCode::ChannelExiting, 2)
        );
    }
}
