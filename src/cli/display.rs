//! The settlement layer's JSON replies (`/operator/*`, `/v1/info`) in plain words for
//! the terminal. A reply of an unexpected shape is printed as indented JSON.

use serde_json::Value;

/// Render the reply of `/operator/{route}` (`"close"`, `"deposit"`, `"cut"`, …) as
/// plain words, one fact per line, ending in a newline.
pub fn operator_reply(route: &str, reply: &Value) -> String {
    let words = match route {
        "close" => close(reply),
        "deposit" => deposit(reply),
        "topup" => top_up(reply),
        "exit" => exit(reply),
        "cut" => cut(reply),
        "withdraw" => withdraw(reply),
        "advance" => num(reply, "height").map(|h| format!("block height is now {h}\n")),
        "settlement" => settlement(reply, None),
        "opening" => opening(reply),
        _ => None,
    };
    words.unwrap_or_else(|| pretty(reply))
}

/// `GET /operator/settlement` in words, with the hub's `GET /v1/info` (its public
/// key, the epoch taking payments, version) when the hub answered it.
pub fn status(settlement: &Value, info: Option<&Value>) -> String {
    self::settlement(settlement, info).unwrap_or_else(|| pretty(settlement))
}

/// A number of base units with thousands separators: `1,234,567 units`.
pub fn units(amount: u128) -> String {
    format!("{} units", grouped(amount))
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn close(r: &Value) -> Option<String> {
    let inputs = r.get("inputs")?;
    if r.get("accepted")?.as_bool() != Some(true) {
        return None;
    }
    let epoch = num(inputs, "epoch")?;
    let hub = num(inputs, "hub_id")?;
    let n = grouped(num(inputs, "n")?.into());
    let (what, root) = match r.get("statement").and_then(Value::as_str) {
        Some("incremental") => (
            format!("incremental close of epoch {epoch} (hub {hub}, {n} touched channels)"),
            format!("state root: {}", text(inputs, "new_root")?),
        ),
        _ => (
            format!("close of epoch {epoch} (hub {hub}, {n} channels)"),
            format!("balances root: {}", text(inputs, "balances_root")?),
        ),
    };
    Some(format!(
        "the settlement layer accepted the {what}\n\
         {root}\n\
         exited channels can now withdraw their balances (zkhub chain withdraw --channel N)\n",
    ))
}

fn deposit(r: &Value) -> Option<String> {
    if let Some(list) = r.get("channels").and_then(Value::as_array) {
        let ids: Vec<u64> = list.iter().filter_map(Value::as_u64).collect();
        return Some(match (ids.first(), ids.last()) {
            (Some(first), Some(last)) if ids.len() > 1 => {
                format!("opened {} channels: {first} to {last}\n", ids.len())
            }
            (Some(only), _) => format!("opened channel {only}\n"),
            _ => "opened no channel\n".to_string(),
        });
    }
    Some(format!(
        "opened channel {} with a deposit of {}\n",
        num(r, "channel")?,
        units(num(r, "amount")?.into())
    ))
}

fn top_up(r: &Value) -> Option<String> {
    Some(format!(
        "added {} to the deposit of channel {}\n",
        units(num(r, "added")?.into()),
        num(r, "channel")?
    ))
}

fn exit(r: &Value) -> Option<String> {
    Some(format!(
        "channel {} is exiting: it takes no more payments, and its balance can be \
         withdrawn once the close of the next cut epoch is accepted\n",
        num(r, "channel")?
    ))
}

fn cut(r: &Value) -> Option<String> {
    let epoch = num(r, "epoch")?;
    Some(format!(
        "cut epoch {epoch}: snapshot written to {}\n\
         payments now go to epoch {}; prove and submit the close with: zkhub close\n",
        text(r, "snapshot")?,
        epoch + 1
    ))
}

fn withdraw(r: &Value) -> Option<String> {
    Some(format!(
        "paid {} to the owner of channel {}\n",
        units(num(r, "paid")?.into()),
        num(r, "channel")?
    ))
}

fn opening(r: &Value) -> Option<String> {
    Some(format!(
        "channel {} in epoch {}: balance {} (leaf {}); the opening:\n{}",
        num(r, "channel")?,
        num(r, "epoch")?,
        units(num(r, "balance")?.into()),
        num(r, "index")?,
        pretty(r)
    ))
}

fn settlement(r: &Value, info: Option<&Value>) -> Option<String> {
    let mut out = format!("hub {}\n", num(r, "hub_id")?);
    if let Some(info) = info {
        if let Some(pk) = info.get("public_key").and_then(Value::as_str) {
            out.push_str(&format!("  public key (signs receipts): {pk}\n"));
        }
        if let Some(epoch) = info.get("epoch").and_then(Value::as_u64) {
            out.push_str(&format!("  payments go to epoch {epoch}\n"));
        }
        if let Some(v) = info.get("version").and_then(Value::as_str) {
            out.push_str(&format!("  version {v}\n"));
        }
    }
    out.push_str(&format!(
        "  block height {}, channels registered: {}\n",
        num(r, "height")?,
        grouped(num(r, "channels")?.into())
    ));
    if let Some(bond) = r.get("bond").and_then(Value::as_u64) {
        out.push_str(&format!("  bond {}\n", units(bond.into())));
    }
    let latest = r.get("latest_epoch").and_then(Value::as_u64);
    let accepted = r.get("last_accepted").and_then(Value::as_u64);
    out.push_str(&match (latest, accepted) {
        (None, _) => "  no epoch cut yet (zkhub chain cut)\n".to_string(),
        (Some(l), None) => format!("  latest cut epoch {l}; no close accepted yet\n"),
        (Some(l), Some(a)) => format!("  latest cut epoch {l}; latest accepted close: epoch {a}\n"),
    });
    if r.get("forced_exit").and_then(Value::as_bool) == Some(true) {
        out.push_str("  forced exit has begun: the hub missed a close deadline\n");
    }
    if let Some(t) = r.get("totals") {
        let get = |k: &str| match t.get(k) {
            Some(v) if v.as_i64().is_some_and(|n| n < 0) => {
                format!("-{}", units(v.as_i64().unwrap_or(0).unsigned_abs().into()))
            }
            Some(v) => v
                .as_u64()
                .map_or_else(|| v.to_string(), |n| units(n.into())),
            None => "?".to_string(),
        };
        out.push_str(&format!(
            "  deposits received {}, paid out {}, net deposits {}\n",
            get("deposits_in"),
            get("paid_out"),
            get("net_deposits")
        ));
    }
    for e in r
        .get("epochs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let closed = match e.get("balances_root").and_then(Value::as_str) {
            Some(_) => "closed",
            None => "awaiting its close",
        };
        out.push_str(&format!(
            "  epoch {}: {} channels, cut at height {}, deadline {}, {closed}\n",
            num(e, "epoch")?,
            num(e, "n")?,
            num(e, "cut_height")?,
            num(e, "deadline")?,
        ));
    }
    Some(out)
}

fn num(v: &Value, key: &str) -> Option<u64> {
    let field = v.get(key)?;
    field
        .as_u64()
        .or_else(|| field.as_str().and_then(|s| s.parse().ok()))
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str()
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_close_reply_reads_as_words() {
        let reply = json!({"accepted": true, "inputs": {
            "hub_id": 1, "epoch": 3, "n": 1200, "deposits_root": "5", "balances_root": "77"}});
        let words = operator_reply("close", &reply);
        assert!(
            words.starts_with(
                "the settlement layer accepted the close of epoch 3 (hub 1, 1,200 channels)"
            ),
            "{words}"
        );
        assert!(words.contains("balances root: 77"), "{words}");
        assert!(!words.contains('{'), "{words}");
    }

    #[test]
    fn an_incremental_close_reply_reads_as_words() {
        let reply = json!({"accepted": true, "statement": "incremental", "inputs": {
            "hub_id": 1, "epoch": 4, "n": 12, "prev_root": "5", "new_root": "88",
            "deposits_hash": "0"}});
        let words = operator_reply("close", &reply);
        assert!(
            words.starts_with(
                "the settlement layer accepted the incremental close of epoch 4 (hub 1, 12 touched channels)"
            ),
            "{words}"
        );
        assert!(words.contains("state root: 88"), "{words}");
    }

    #[test]
    fn other_replies_read_as_words() {
        assert_eq!(
            operator_reply("deposit", &json!({"channel": 7, "amount": 100000})),
            "opened channel 7 with a deposit of 100,000 units\n"
        );
        assert_eq!(
            operator_reply("deposit", &json!({"channels": [3, 4, 5]})),
            "opened 3 channels: 3 to 5\n"
        );
        assert!(
            operator_reply(
                "cut",
                &json!({"epoch": 1, "snapshot": "/d/epochs/1/snapshot.bin"})
            )
            .contains("payments now go to epoch 2")
        );
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
        // An unexpected shape falls back to JSON rather than guessing.
        assert!(operator_reply("close", &json!({"odd": 1})).contains("\"odd\""));
    }
}
