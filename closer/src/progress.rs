//! Progress reporting for long phases (keys, witness, commitments, proving), so a CLI
//! can draw spinners with elapsed time.

/// A phase of closing an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loading or generating the proving key.
    Setup,
    /// Checking the snapshot and computing the witness and chunk table.
    Witness,
    /// Synthesizing and committing to every step's witness (most of the time).
    Commit,
    /// Folding the steps and proving the result with the core.
    Prove,
    /// Verifying the proof.
    Verify,
}

impl Phase {
    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Setup => "keys",
            Phase::Witness => "witness",
            Phase::Commit => "commit",
            Phase::Prove => "fold + prove",
            Phase::Verify => "verify",
        }
    }
}

/// Receives phase events. Spartan2 gives no progress inside a phase, so `advance` is
/// called at phase boundaries and for sub-steps the closer itself runs.
pub trait Progress: Sync {
    /// A phase starts; `total` units of work are expected (0 if unknown).
    fn start(&self, phase: Phase, total: u64);
    /// `units` more units are done.
    fn advance(&self, phase: Phase, units: u64);
    /// The phase is finished.
    fn finish(&self, phase: Phase);
}

/// Ignores all events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: Phase, _: u64) {}
    fn advance(&self, _: Phase, _: u64) {}
    fn finish(&self, _: Phase) {}
}
