//! `zkhub chain …`: the operator's view of the modelled settlement layer, through a
//! running hub's operator interface (loopback-only by default; docs/OPERATOR.md).

use std::path::PathBuf;

use anyhow::{Context, bail};
use channel::crypto::PrivateKey;
use channel::settlement::exit_message;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{display, key};

/// Talk to the settlement layer through a running hub.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The hub's HTTP base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", global = true)]
    pub hub: String,
    /// Print the hub's JSON reply instead of plain words.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ChainCommand,
}

/// Settlement-layer operations.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// The hub's public key, registry, epochs, closes, totals.
    Status,
    /// Deposit for a key: opens a channel owned by it.
    Deposit {
        /// Packed Baby Jubjub public key, 64 hex characters (`zkhub key new` prints one).
        #[arg(
            long,
            required_unless_present = "key_file",
            conflicts_with = "key_file"
        )]
        pk: Option<String>,
        /// A key file from `zkhub key new`: deposit for its public key.
        #[arg(long)]
        key_file: Option<PathBuf>,
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
        /// The channel's 32-byte private key, hex (or use --key-file or --sig).
        #[arg(long, conflicts_with_all = ["sig", "key_file"])]
        key: Option<String>,
        /// The channel's key file from `zkhub key new`.
        #[arg(long, conflicts_with = "sig")]
        key_file: Option<PathBuf>,
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

/// An HTTP agent that hands back error statuses with their bodies (the hub says
/// what was wrong in them).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The JSON of a hub's reply to `what`; an error status becomes an error carrying
/// the hub's own text (its `{"error": …}` or the plain body).
pub fn reply(what: &str, mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<Value> {
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("reading the hub's answer to {what}"))?;
    if status.is_success() {
        return serde_json::from_str(&body)
            .with_context(|| format!("the hub's answer to {what} is not JSON: {body}"));
    }
    let text = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    bail!("the hub refused {what} (HTTP {}): {text}", status.as_u16())
}

fn call(method: &str, url: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let agent = agent();
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, Some(b)) => agent.post(url).send_json(&b),
        (_, None) => agent.post(url).send_empty(),
    };
    let response = result.with_context(|| {
        format!("{method} {url}: cannot reach the hub (is `zkhub serve` running there?)")
    })?;
    reply(&format!("{method} {url}"), response)
}

/// Run `zkhub chain …`.
pub fn run(args: ChainArgs) -> anyhow::Result<()> {
    let base = args.hub.trim_end_matches('/');
    let op = |path: &str| format!("{base}/operator/{path}");
    let (route, answer) = match args.command {
        ChainCommand::Status => {
            let settlement = call("GET", &op("settlement"), None)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&settlement)?);
                return Ok(());
            }
            let info = call("GET", &format!("{base}/v1/info"), None).ok();
            print!("{}", display::status(&settlement, info.as_ref()));
            return Ok(());
        }
        ChainCommand::Deposit {
            pk,
            key_file,
            amount,
        } => {
            let pk = match (pk, key_file) {
                (Some(pk), _) => pk,
                (None, Some(file)) => key::packed_public_key(&key::read_key_file(&file)?),
                (None, None) => bail!("give --pk or --key-file"),
            };
            let body = json!({"pk": pk, "amount": amount});
            ("deposit", call("POST", &op("deposit"), Some(body))?)
        }
        ChainCommand::Topup { channel, amount } => (
            "topup",
            call(
                "POST",
                &op("topup"),
                Some(json!({"channel": channel, "amount": amount})),
            )?,
        ),
        ChainCommand::Cut => ("cut", call("POST", &op("cut"), None)?),
        ChainCommand::Exit {
            channel,
            key,
            key_file,
            sig,
        } => {
            let private = match (key, key_file) {
                (Some(key), _) => {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(key.trim(), &mut bytes)
                        .context("--key must be 64 hex chars")?;
                    Some(PrivateKey::from_bytes(bytes))
                }
                (None, Some(file)) => Some(key::read_key_file(&file)?),
                (None, None) => None,
            };
            let sig = match (private, sig) {
                (_, Some(sig)) => sig,
                (Some(private), None) => {
                    let status = call("GET", &op("settlement"), None)?;
                    let hub_id = status["hub_id"]
                        .as_u64()
                        .context("hub_id missing from settlement status")?;
                    hex::encode(private.sign(&exit_message(hub_id, channel)).pack())
                }
                (None, None) => bail!("give --key, --key-file or --sig"),
            };
            let body = json!({"channel": channel, "sig": sig});
            ("exit", call("POST", &op("exit"), Some(body))?)
        }
        ChainCommand::Withdraw { channel } => (
            "withdraw",
            call("POST", &op("withdraw"), Some(json!({"channel": channel})))?,
        ),
        ChainCommand::Opening { channel, epoch } => {
            let q = epoch.map_or(String::new(), |e| format!("&epoch={e}"));
            let url = format!("{}?channel={channel}{q}", op("opening"));
            ("opening", call("GET", &url, None)?)
        }
        ChainCommand::Advance { blocks } => (
            "advance",
            call("POST", &op("advance"), Some(json!({"blocks": blocks})))?,
        ),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", display::operator_reply(route, &answer));
    }
    Ok(())
}
