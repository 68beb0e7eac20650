//! The tracing subscriber of `zkhub` commands that log: INFO by default with
//! spartan2's per-proof INFO lines filtered out (`RUST_LOG` overrides both), and ANSI
//! colours only when the output is a terminal (never in log files).

use std::io::IsTerminal as _;

/// The filter used when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,spartan2=warn";

/// Install the subscriber (once per process; later calls do nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}
