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
    /// Make or read a channel owner's key (`key new`, `key show`).
    Key(cli::key::KeyArgs),
    /// The whole job end to end: hub, tipping clients, epoch close, proof, payout.
    Demo(cli::demo::DemoArgs),
    /// Prove the close of an epoch from the hub's snapshot and submit it.
    Close(cli::close::CloseArgs),
    /// Check a close proof file (exit 0 when valid).
    Verify(cli::close::VerifyArgs),
    /// Make the proving and verifier keys for an epoch size (deterministic).
    Keys(cli::close::KeysArgs),
    /// Disclosures for auditors: a channel's leaf of a close, checked without the hub.
    Audit(cli::audit::AuditArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Chain(args) => cli::chain::run(args),
        Command::Key(args) => cli::key::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Close(args) => cli::close::run_close(args),
        Command::Verify(args) => cli::close::run_verify(args),
        Command::Keys(args) => cli::close::run_keys(args),
        Command::Audit(args) => cli::audit::run(args),
    }
}
