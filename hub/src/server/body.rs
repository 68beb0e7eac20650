//! Operator request bodies, parsed so that a refusal says in user words which field is
//! wrong and what shape the route expects (never serde's "untagged enum" wording).

use channel::Amount;
use channel::crypto::PublicKey;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why a request body was refused (HTTP 400).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// Not JSON at all.
    #[error("the body is not JSON ({reason}); expected {shape}")]
    NotJson {
        /// serde_json's account, without line and column.
        reason: String,
        /// The shape the route takes.
        shape: &'static str,
    },
    /// JSON of the wrong shape, or a field with a bad value.
    #[error("{problem}; expected {shape}")]
    Shape {
        /// What is wrong, naming the field.
        problem: String,
        /// The shape the route takes.
        shape: &'static str,
    },
}

/// The shape `/operator/deposit` takes.
pub(crate) const DEPOSIT_SHAPE: &str = r#"{"pk": "<packed public key, 64 hex characters>", "amount": <base units>} or {"deposits": [{"pk": …, "amount": …}, …]}"#;

/// A deposit body: one deposit or a list, and whether it was the single form.
pub(crate) struct Deposits {
    /// `(key, amount)` in request order.
    pub list: Vec<(PublicKey, Amount)>,
    /// The body was a single `{pk, amount}` (the reply is then about one channel).
    pub single: bool,
}

/// Parse a `/operator/deposit` body.
pub(crate) fn deposits(bytes: &[u8]) -> Result<Deposits, BodyError> {
    let shape = DEPOSIT_SHAPE;
    let value = json(bytes, shape)?;
    let problem = |problem: String| BodyError::Shape { problem, shape };
    let Value::Object(object) = value else {
        return Err(problem(format!("the body is {}", kind(&value))));
    };
    if let Some(list) = object.get("deposits") {
        if let Some(extra) = object.keys().find(|k| *k != "deposits") {
            return Err(problem(format!(
                "unknown field `{extra}` beside `deposits`"
            )));
        }
        let Value::Array(items) = list else {
            return Err(problem(format!("`deposits` is {}", kind(list))));
        };
        let list = items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(o) => one_deposit(o).map_err(|e| format!("deposits[{i}]: {e}")),
                other => Err(format!("deposits[{i}] is {}", kind(other))),
            })
            .collect::<Result<_, _>>()
            .map_err(problem)?;
        return Ok(Deposits {
            list,
            single: false,
        });
    }
    let one = one_deposit(&object).map_err(problem)?;
    Ok(Deposits {
        list: vec![one],
        single: true,
    })
}

fn one_deposit(o: &Map<String, Value>) -> Result<(PublicKey, Amount), String> {
    if let Some(extra) = o.keys().find(|k| *k != "pk" && *k != "amount") {
        return Err(format!(
            "unknown field `{extra}` (a deposit has `pk` and `amount`)"
        ));
    }
    let pk = o.get("pk").ok_or(
        "missing field `pk`, the channel owner's packed public key (`zkhub key new` prints one)",
    )?;
    let Value::String(pk) = pk else {
        return Err(format!("`pk` is {}, not a hex string", kind(pk)));
    };
    let pk = public_key(pk).map_err(|e| format!("`pk` {e}"))?;
    let amount = o.get("amount").ok_or("missing field `amount`")?;
    let amount = amount_of(amount).map_err(|e| format!("`amount` {e}"))?;
    Ok((pk, amount))
}

/// A packed public key from hex, or what is wrong with it (completing "`pk` …").
pub(crate) fn public_key(hex_text: &str) -> Result<PublicKey, String> {
    let text = hex_text.trim();
    if text.len() != 64 {
        return Err(format!(
            "has {} characters; a packed public key has 64 hex characters",
            text.len()
        ));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| "is not hex (0-9, a-f)".to_string())?;
    PublicKey::unpack(&bytes).map_err(|e| format!("is not a Baby Jubjub public key ({e})"))
}

/// An amount from a JSON number or decimal string (completing "`amount` …").
pub(crate) fn amount_of(v: &Value) -> Result<Amount, String> {
    const WHOLE: &str = "must be a whole number of base units from 0 to 18446744073709551615 (a JSON number or a decimal string)";
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("is {n}: it {WHOLE}")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("is \"{s}\": it {WHOLE}")),
        other => Err(format!("is {}: it {WHOLE}", kind(other))),
    }
}

/// Parse a body of a fixed shape with serde, the error reworded.
pub(crate) fn typed<T: DeserializeOwned>(
    bytes: &[u8],
    shape: &'static str,
) -> Result<T, BodyError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => BodyError::Shape {
            problem: without_position(&e),
            shape,
        },
        _ => BodyError::NotJson {
            reason: without_position(&e),
            shape,
        },
    })
}

fn json(bytes: &[u8], shape: &'static str) -> Result<Value, BodyError> {
    serde_json::from_slice(bytes).map_err(|e| BodyError::NotJson {
        reason: without_position(&e),
        shape,
    })
}

/// serde_json's message without its " at line 1 column 7" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A JSON value's kind, for messages ("a number", "an array", …).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match deposits(body.as_bytes()) {
            Ok(_) => panic!("{body} parsed"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_bad_deposit_names_the_field() {
        assert!(err(r#"{"pk":"abc","amount":5}"#).starts_with("`pk` has 3 characters"));
        assert!(err(r#"{"amount":5}"#).starts_with("missing field `pk`"));
        let zz = "z".repeat(64);
        assert!(err(&format!(r#"{{"pk":"{zz}","amount":5}}"#)).starts_with("`pk` is not hex"));
        assert!(err(r#"{"deposits":[7]}"#).starts_with("deposits[0] is a number"));
        assert!(err("not json").starts_with("the body is not JSON"));
        assert!(!err(r#"{"pk":1}"#).contains("untagged"));
    }

    #[test]
    fn amounts_are_numbers_or_decimal_strings() {
        assert_eq!(amount_of(&serde_json::json!(5)), Ok(5));
        assert_eq!(amount_of(&serde_json::json!("5")), Ok(5));
        assert!(amount_of(&serde_json::json!(-1)).is_err());
        assert!(amount_of(&serde_json::json!("1.5")).is_err());
    }
}
