//! A content creator's tipping integration, end to end, through `hub::client`.
//!
//! ```text
//! cargo run --release --example tipping
//! ```
//!
//! It starts a hub in a temporary directory, opens channels on the (in-process)
//! settlement layer for one creator and a few fans, then runs:
//!
//! - the creator's backend: a read-only [`subscribe`] to its channel that prints each
//!   credit as it becomes durable, and the hub-signed receipts it verifies and keeps
//!   (its protection if the hub ever under-reports at the epoch close);
//! - the fans: each a [`Client`] that says `hello` with its channel key and tips.
//!   Browser-like fans sign every tip; "Nightbot" streams many small tips and signs
//!   every 16th (its vouchers go out as binary frames).
//!
//! At the end the books must balance: what the fans spent is what the creator
//! received, and the creator holds a verified receipt for it.

use std::time::Duration;

use anyhow::{Context, bail};
use channel::client::{PayError, PayerConfig, SigningPolicy};
use channel::crypto::{PrivateKey, PublicKey};
use channel::{Amount, ChannelId};
use hub::client::{Client, ClientConfig, ClientError, PayeeEvent, subscribe};
use hub::{Hub, HubConfig};
use rand::{Rng, SeedableRng};

/// Amounts are in cents.
fn dollars(cents: Amount) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

struct Fan {
    name: &'static str,
    deposit: Amount,
    tips: usize,
    policy: SigningPolicy,
}

const FANS: [Fan; 4] = [
    Fan {
        name: "ada",
        deposit: 5_000,
        tips: 4,
        policy: SigningPolicy::EveryVoucher,
    },
    Fan {
        name: "grace",
        deposit: 2_000,
        tips: 3,
        policy: SigningPolicy::EveryVoucher,
    },
    Fan {
        name: "linus",
        deposit: 1_000,
        tips: 5,
        policy: SigningPolicy::EveryVoucher,
    },
    Fan {
        name: "nightbot",
        deposit: 10_000,
        tips: 200,
        policy: SigningPolicy::EveryK(16),
    },
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = HubConfig::ephemeral(dir.path());
    config.receipt_interval = Duration::from_millis(500);
    let hub = Hub::start(config).await.context("starting the hub")?;
    let url = hub.ws_url();
    let hub_key: PublicKey = hub
        .operator()
        .settlement()
        .await
        .hub()
        .context("the hub registers itself on first start")?
        .pk;
    println!("hub up at {url} (data in {})", dir.path().display());

    // Channels are opened by depositing on the settlement layer.
    let mut rng = rand::rngs::StdRng::from_entropy();
    let creator_key = PrivateKey::random(&mut rng);
    let creator = hub
        .operator()
        .deposit(&[(creator_key.public(), 1)])
        .await
        .context("creator deposit")?[0]
        .channel;
    println!("creator: channel {creator}");
    let mut fans = Vec::new();
    for fan in &FANS {
        let key = PrivateKey::random(&mut rng);
        let id = hub
            .operator()
            .deposit(&[(key.public(), fan.deposit)])
            .await
            .with_context(|| format!("{} deposit", fan.name))?[0]
            .channel;
        println!(
            "fan {:<9} channel {id}, deposit {}",
            fan.name,
            dollars(fan.deposit)
        );
        fans.push((fan, id, key));
    }
    println!();

    // The creator's backend: print every tip as it becomes durable, until the fans'
    // total (sent on `target` once they are done) has arrived.
    let mut sub = subscribe(&url, creator, hub_key)
        .await
        .context("subscribing")?;
    let (target_tx, mut target) = tokio::sync::watch::channel(None::<Amount>);
    let backend = tokio::spawn(async move {
        loop {
            if let Some(t) = *target.borrow_and_update()
                && sub.received() >= t
            {
                return Ok::<_, anyhow::Error>(sub.received());
            }
            tokio::select! {
                event = sub.next() => match event.context("subscription ended")? {
                    PayeeEvent::Credit(c) => println!(
                        "  creator  +{:>7}  (total {})",
                        dollars(c.amount),
                        dollars(c.received)
                    ),
                    PayeeEvent::Receipt(r) => println!(
                        "  creator  receipt: epoch {}, received at least {} (signature verified)",
                        r.epoch,
                        dollars(r.received)
                    ),
                    PayeeEvent::Epoch(e) => println!("  creator  epoch {e} began"),
                    PayeeEvent::Disconnected => println!("  creator  connection lost, reconnecting"),
                    PayeeEvent::Resynced { received } => println!("  creator  resubscribed at {}", dollars(received)),
                },
                changed = target.changed() => changed.context("main task ended")?,
            }
        }
    });

    // The fans tip concurrently.
    let mut tippers = Vec::new();
    for (fan, id, key) in fans {
        let url = url.clone();
        let seed: u64 = rng.r#gen();
        tippers.push(tokio::spawn(async move {
            tip(fan, &url, id, key, creator, hub_key, seed).await
        }));
    }
    let mut total = 0;
    let mut lines = Vec::new();
    for t in tippers {
        let (name, spent, tips) = t.await??;
        total += spent;
        lines.push(format!(
            "  {name:<9} spent {:>8} in {tips} tips",
            dollars(spent)
        ));
    }
    target_tx.send_replace(Some(total));
    let received = tokio::time::timeout(Duration::from_secs(10), backend)
        .await
        .context("the creator's credits did not all arrive")???;

    // The creator asks for a fresh receipt on its own session and verifies it.
    let creator_client = Client::connect_with(
        &url,
        creator_key,
        creator,
        ClientConfig {
            hub_key: Some(hub_key),
            ..ClientConfig::default()
        },
    )
    .await
    .context("creator connecting")?;
    let receipt = creator_client.receipt().await.context("receipt")?;
    creator_client.close().await;

    println!();
    println!("summary");
    for l in lines {
        println!("{l}");
    }
    println!("  creator   received {:>8}", dollars(received));
    println!(
        "  receipt   epoch {}: at least {} (hub-signed and verified: the creator's claim",
        receipt.epoch,
        dollars(receipt.received)
    );
    println!("            against the hub's bond if the epoch close ever showed less)");
    if received != total || receipt.received != total {
        bail!("the books do not balance: fans spent {total}, creator received {received}");
    }
    println!("  the books balance: every tip applied exactly once");
    hub.shutdown().await?;
    Ok(())
}

/// One fan: connect, tip, flush (every tip durable); returns (name, spent, tips).
async fn tip(
    fan: &'static Fan,
    url: &str,
    channel: ChannelId,
    key: PrivateKey,
    creator: ChannelId,
    hub_key: PublicKey,
    seed: u64,
) -> anyhow::Result<(&'static str, Amount, u64)> {
    let config = ClientConfig {
        payer: PayerConfig {
            policy: fan.policy,
            ..PayerConfig::default()
        },
        hub_key: Some(hub_key),
        binary: matches!(fan.policy, SigningPolicy::EveryK(_)),
        ..ClientConfig::default()
    };
    let client = Client::connect_with(url, key, channel, config)
        .await
        .with_context(|| format!("{} connecting", fan.name))?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut spent = 0;
    let mut tips = 0;
    for _ in 0..fan.tips {
        let amount = if fan.tips > 10 {
            rng.gen_range(1..=5)
        } else {
            rng.gen_range(50..=500)
        };
        let v = match client.pay(creator, amount).await {
            Ok(v) => v,
            // The payer checks the balance locally (unacked tips counted).
            Err(ClientError::Pay(PayError::InsufficientBalance { available })) => {
                println!(
                    "  {:<8} cannot tip {}: only {} left",
                    fan.name,
                    dollars(amount),
                    dollars(available)
                );
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("{} tipping", fan.name)),
        };
        spent += amount;
        tips += 1;
        if fan.tips <= 10 {
            println!(
                "  {:<8} tips {:>7}  (voucher #{}, signed)",
                fan.name,
                dollars(amount),
                v.seq
            );
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
        }
    }
    let acked = client
        .flush()
        .await
        .with_context(|| format!("{} flushing", fan.name))?;
    if fan.tips > 10 {
        println!(
            "  {:<8} streamed {} tips, {} total, acked through voucher #{acked}",
            fan.name,
            fan.tips,
            dollars(spent)
        );
    }
    client.close().await;
    Ok((fan.name, spent, tips))
}
