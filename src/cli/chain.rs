//! `zkhub chain …`: the operator's view of the modelled settlement layer, through a
//! running hub's operator interface (loopback-only by default; docs/OPERATOR.md).

use anyhow::{Context, bail};
use channel::crypto::PrivateKey;
use channel::settlement::exit_message;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Talk to the settlement layer through a running hub.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The hub's HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    pub hub: String,
    #[command(subcommand)]
    pub command: ChainCommand,
}

/// Settlement-layer operations.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Registry, epochs, closes, totals.
    Status,
    /// Deposit for a key (packed public key, 64 hex chars): opens a channel.
    Deposit {
        /// Packed Baby Jubjub public key.
        #[arg(long)]
        pk: String,
        /// Amount in base units.
        #[arg(long)]
        amount: u64,
    },
    /// Add to a channel's deposit.
    Topup {
        /// Channel id.
        #[arg(long)]
        channel: u32,
        /// Amount in base units.
        #[arg(long)]
        amount: u64,
    },
    /// Cut the current epoch: the hub writes its snapshot for the closer.
    Cut,
    /// Request exit for a channel, signing with its private key (hex).
    Exit {
        /// Channel id.
        #[arg(long)]
        channel: u32,
        /// The channel's 32-byte private key, hex (or use --sig).
        #[arg(long, conflicts_with = "sig")]
        key: Option<String>,
        /// A ready packed signature over Poseidon("zkhub/exit/v1", hub_id, channel).
        #[arg(long)]
        sig: Option<String>,
    },
    /// Withdraw an exited channel's balance after the next accepted close.
    Withdraw {
        /// Channel id.
        #[arg(long)]
        channel: u32,
    },
    /// A channel's balance-leaf opening (Merkle path and blind) for an epoch.
    Opening {
        /// Channel id.
        #[arg(long)]
        channel: u32,
        /// Epoch (default: latest cut).
        #[arg(long)]
        epoch: Option<u64>,
    },
    /// Advance the modelled block height (close and dispute deadlines).
    Advance {
        /// Blocks to advance.
        #[arg(long, default_value_t = 1)]
        blocks: u64,
    },
}

fn call(method: &str, url: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let result = match (method, body) {
        ("GET", _) => ureq::get(url).call(),
        (_, Some(b)) => ureq::post(url).send_json(&b),
        (_, None) => ureq::post(url).send_empty(),
    };
    let mut response = match result {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(code)) => bail!("{url}: HTTP {code}"),
        Err(e) => {
            return Err(e).with_context(|| format!("{method} {url} (is `zkhub serve` running?)"));
        }
    };
    response
        .body_mut()
        .read_json()
        .context("reading the hub's answer")
}

/// Run `zkhub chain …`.
pub fn run(args: ChainArgs) -> anyhow::Result<()> {
    let base = args.hub.trim_end_matches('/');
    let op = |path: &str| format!("{base}/operator/{path}");
    let answer = match args.command {
        ChainCommand::Status => call("GET", &op("settlement"), None)?,
        ChainCommand::Deposit { pk, amount } => call(
            "POST",
            &op("deposit"),
            Some(json!({"pk": pk, "amount": amount})),
        )?,
        ChainCommand::Topup { channel, amount } => call(
            "POST",
            &op("topup"),
            Some(json!({"channel": channel, "amount": amount})),
        )?,
        ChainCommand::Cut => call("POST", &op("cut"), None)?,
        ChainCommand::Exit { channel, key, sig } => {
            let sig = match (key, sig) {
                (_, Some(sig)) => sig,
                (Some(key), None) => {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(key.trim(), &mut bytes)
                        .context("--key must be 64 hex chars")?;
                    let status = call("GET", &op("settlement"), None)?;
                    let hub_id = status["hub_id"]
                        .as_u64()
                        .context("hub_id missing from settlement status")?;
                    let sig = PrivateKey::from_bytes(bytes).sign(&exit_message(hub_id, channel));
                    hex::encode(sig.pack())
                }
                (None, None) => bail!("give --key or --sig"),
            };
            call(
                "POST",
                &op("exit"),
                Some(json!({"channel": channel, "sig": sig})),
            )?
        }
        ChainCommand::Withdraw { channel } => {
            call("POST", &op("withdraw"), Some(json!({"channel": channel})))?
        }
        ChainCommand::Opening { channel, epoch } => {
            let q = epoch.map_or(String::new(), |e| format!("&epoch={e}"));
            call(
                "GET",
                &format!("{}?channel={channel}{q}", op("opening")),
                None,
            )?
        }
        ChainCommand::Advance { blocks } => {
            call("POST", &op("advance"), Some(json!({"blocks": blocks})))?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
