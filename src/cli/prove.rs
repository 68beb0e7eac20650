//! Glue between the hub and the closer: the close backend the settlement layer uses,
//! the proving-key cache location, and progress bars for the closer's phases.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use channel::incremental::IncrementalInputs;
use channel::settlement::CloseVerifier;
use channel::statement::PublicInputs;
use closer::{CloseProof, KeyDirVerifier, Phase, TransitionProof};
use hub::config::CloseVerifierRef;
use hub::settlement_service::CloseBackend;
use indicatif::{ProgressBar, ProgressStyle};

/// The settlement layer's view of close proofs: `closer`'s file format and verifier.
pub struct CloserBackend {
    verifier: KeyDirVerifier,
}

impl CloserBackend {
    /// A backend reading (or creating) keys in `keys_dir`.
    pub fn shared(keys_dir: PathBuf) -> CloseVerifierRef {
        Arc::new(CloserBackend {
            verifier: KeyDirVerifier::new(keys_dir),
        })
    }
}

impl CloseBackend for CloserBackend {
    fn parse(&self, file: &[u8]) -> Result<(PublicInputs, Vec<u8>), String> {
        let proof = CloseProof::from_bytes(file).map_err(|e| e.to_string())?;
        Ok((proof.public, file.to_vec()))
    }

    fn verifier(&self) -> &dyn CloseVerifier {
        &self.verifier
    }

    fn is_incremental(&self, file: &[u8]) -> bool {
        closer::proof_file::statement_of(file) == Some(closer::layout::Statement::Incremental)
    }

    fn parse_incremental(&self, file: &[u8]) -> Result<(IncrementalInputs, Vec<u8>), String> {
        let proof = TransitionProof::from_bytes(file).map_err(|e| e.to_string())?;
        Ok((proof.inputs, file.to_vec()))
    }
}

/// Where proving and verifier keys are cached by default: `$ZKHUB_KEYS`, else
/// `$XDG_CACHE_HOME/zkhub/keys`, else `~/.cache/zkhub/keys`, else `./zkhub-keys`.
pub fn default_keys_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZKHUB_KEYS") {
        return PathBuf::from(dir);
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(cache).join("zkhub/keys");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache/zkhub/keys");
    }
    PathBuf::from("zkhub-keys")
}

/// Spinners with elapsed time for the closer's phases (Spartan2 reports nothing inside
/// a phase); on a terminal they tick, elsewhere each phase prints a line when it ends.
#[derive(Default)]
pub struct CloserBars {
    bar: Mutex<Option<(ProgressBar, Instant)>>,
}

impl CloserBars {
    /// A ticking spinner with `message` and elapsed time (hidden when stderr is not a
    /// terminal).
    pub fn spinner(message: &str) -> ProgressBar {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b.set_message(message.to_string());
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    }
}

impl closer::Progress for CloserBars {
    fn start(&self, phase: Phase, _total: u64) {
        let bar = CloserBars::spinner(&format!("close: {}", phase.label()));
        if let Ok(mut guard) = self.bar.lock() {
            *guard = Some((bar, Instant::now()));
        }
    }

    fn advance(&self, _phase: Phase, _units: u64) {}

    fn finish(&self, phase: Phase) {
        if let Ok(mut guard) = self.bar.lock()
            && let Some((bar, started)) = guard.take()
        {
            bar.finish_and_clear();
            println!(
                "close: {:<14} {:>6.1} s",
                phase.label(),
                started.elapsed().as_secs_f64()
            );
        }
    }
}
