//! # zkhub `loadtest`: the load generator
//!
//! Drives a running hub over real WebSockets: provisions channels (deposits through the
//! hub's operator interface, or any [`Provisioner`]), connects one session per paying
//! channel, **pre-signs every voucher before the timed part** (so it measures the hub,
//! not itself), then streams binary `pay` frames at a fixed rate or as fast as the
//! hub acknowledges, and records ack latency in HDR histograms.
//!
//! Latency is measured from each frame's *intended* send time when a rate is set
//! (coordinated-omission correction, as wrk2 does): a stalled hub is charged for the
//! frames it delayed, not only for the ones it eventually saw; a frame sent early
//! (the timer ticks in milliseconds, so a frame goes at the last tick before its time)
//! counts from its send. At `--rate max` there is no schedule, so latency is from the
//! actual send.
//!
//! Everything is bounded: total payments, wall time (`duration` plus a drain
//! timeout), in-flight vouchers per connection; it only targets the URL it is given
//! (loopback in all of zkhub's own uses).

pub mod attribution;
pub mod config;
pub mod driver;
pub mod keys;
pub mod plan;
pub mod progress;
pub mod provision;
pub mod report;
pub mod schedule;

pub use config::{LoadConfig, Rate};
pub use driver::run;
pub use progress::{Bars, Progress, Silent};
pub use provision::{HttpOperator, Provisioner};
pub use report::Report;

/// Why a load run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Configuration is inconsistent.
    #[error("bad configuration: {0}")]
    Config(String),
    /// Channels could not be provisioned.
    #[error("provisioning failed: {0}")]
    Provision(String),
    /// A WebSocket connection or handshake failed.
    #[error("connection {index} failed: {reason}")]
    Connect {
        /// Connection index.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// The hub sent something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
}
