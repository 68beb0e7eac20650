//! `zkhub`: the single user-facing command. Each subcommand lives in its own module
//! under `src/cli/`; this file only parses arguments and dispatches.

mod cli;

use clap::{Parser, Subcommand};

/// zkhub: a micropayment payment-channel hub with a zero-knowledge batch close.
#[derive(Debug, Parser)]
#[command(name = "zkhub", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub: WebSocket payments, HTTP status and metrics, operator interface.
    Serve(cli::serve::ServeArgs),
    /// Load-test a running hub with many WebSocket clients (loopback only).
    Load(cli::load::LoadArgs),
    /// Operate the (modelled) settlement layer through a running hub.
    Chain(cli::chain::ChainArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Chain(args) => cli::chain::run(args),
    }
}
