//! Subcommands of the `zkhub` binary, one module each.

pub mod attest;
pub mod audit;
pub mod chain;
pub mod close;
pub mod demo;
pub mod demo_incremental;
pub mod display;
pub mod key;
pub mod load;
pub mod logging;
pub mod prove;
pub mod serve;
