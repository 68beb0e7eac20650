//! Subcommands of the `zkhub` binary, one module each.

pub mod chain;
pub mod load;
pub mod serve;
