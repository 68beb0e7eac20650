//! Subcommands of the `zkhub` binary, one module each.

pub mod serve;
pub mod load;
