//! Opening channels for a run: deposits on the settlement layer.

use channel::crypto::PublicKey;
use channel::{Amount, ChannelId};

use crate::LoadError;

/// Opens channels (deposits) for the load run.
pub trait Provisioner {
    /// Deposit `amount` for each key; returns the channel ids, in order, once the hub
    /// has them (a deposit is durable in the hub's ledger before this returns).
    fn deposit(
        &self,
        deposits: &[(PublicKey, Amount)],
    ) -> impl std::future::Future<Output = Result<Vec<ChannelId>, LoadError>> + Send;
}

/// Deposits through the hub's operator HTTP interface (`POST /operator/deposit`,
/// loopback-only by default; see docs/OPERATOR.md).
#[derive(Debug, Clone)]
pub struct HttpOperator {
    base: String,
}

/// Deposits per operator request.
const DEPOSITS_PER_REQUEST: usize = 10_000;

impl HttpOperator {
    /// Operator at `base`, e.g. `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Self {
        HttpOperator {
            base: base.into().trim_end_matches('/').to_string(),
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The operator base URL of the hub serving WebSocket `ws_url`.
    pub fn for_ws_url(ws_url: &str) -> Result<Self, LoadError> {
        let rest = ws_url
            .strip_prefix("ws://")
            .ok_or_else(|| LoadError::Config(format!("url must start with ws://, got {ws_url}")))?;
        let host = rest.split('/').next().unwrap_or(rest);
        Ok(HttpOperator::new(format!("http://{host}")))
    }

    fn post_chunk(url: &str, chunk: &[(PublicKey, Amount)]) -> Result<Vec<ChannelId>, LoadError> {
        let body = serde_json::json!({
            "deposits": chunk
                .iter()
                .map(|(pk, amount)| serde_json::json!({ "pk": pk, "amount": amount }))
                .collect::<Vec<_>>()
        });
        let mut response = ureq::post(url)
            .send_json(&body)
            .map_err(|e| LoadError::Provision(format!("POST {url}: {e}")))?;
        let value: serde_json::Value = response
            .body_mut()
            .read_json()
            .map_err(|e| LoadError::Provision(format!("reading deposit response: {e}")))?;
        let ids = value["channels"]
            .as_array()
            .ok_or_else(|| LoadError::Provision(format!("unexpected deposit response: {value}")))?;
        let ids: Vec<ChannelId> = ids
            .iter()
            .filter_map(|v| v.as_u64().and_then(|n| ChannelId::try_from(n).ok()))
            .collect();
        if ids.len() != chunk.len() {
            return Err(LoadError::Provision(format!(
                "asked for {} channels, got {}",
                chunk.len(),
                ids.len()
            )));
        }
        Ok(ids)
    }
}

impl Provisioner for HttpOperator {
    async fn deposit(&self, deposits: &[(PublicKey, Amount)]) -> Result<Vec<ChannelId>, LoadError> {
        let url = format!("{}/operator/deposit", self.base);
        let deposits = deposits.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut ids = Vec::with_capacity(deposits.len());
            for chunk in deposits.chunks(DEPOSITS_PER_REQUEST) {
                ids.extend(Self::post_chunk(&url, chunk)?);
            }
            Ok(ids)
        })
        .await
        .map_err(|e| LoadError::Provision(format!("deposit task failed: {e}")))?
    }
}
