//! The operator interface over HTTP (`/operator/*`), loopback-only by default
//! ([`crate::config::OperatorAccess`]). Bodies and results are JSON; amounts are JSON
//! numbers or decimal strings; keys and signatures are packed hex as on the wire.
//! Documented in docs/OPERATOR.md.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use channel::crypto::{PublicKey, Signature};
use channel::{Amount, ChannelId, Epoch};
use serde::Deserialize;
use serde_json::json;

use super::http::{AppState, operator_refusal};
use crate::settlement_service::OperatorError;

/// Largest proof file accepted by `/operator/close`.
pub const MAX_PROOF_FILE_BYTES: usize = 64 << 20;

/// The operator routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator/deposit", post(deposit))
        .route("/operator/topup", post(top_up))
        .route("/operator/exit", post(exit))
        .route("/operator/cut", post(cut))
        .route(
            "/operator/close",
            post(close).layer(axum::extract::DefaultBodyLimit::max(MAX_PROOF_FILE_BYTES)),
        )
        .route("/operator/withdraw", post(withdraw))
        .route("/operator/advance", post(advance))
        .route("/operator/opening", get(opening))
        .route("/operator/settlement", get(settlement))
}

fn error(e: OperatorError) -> Response {
    let status = if e.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

fn bad_json(e: serde_json::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("bad request body: {e}") })),
    )
        .into_response()
}

/// Amount as a JSON number or decimal string.
#[derive(Debug, Clone, Copy)]
struct AmountArg(Amount);

impl<'de> Deserialize<'de> for AmountArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(AmountArg(n)),
            Raw::Str(s) => s.parse().map(AmountArg).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepositOne {
    pk: PublicKey,
    amount: AmountArg,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DepositBody {
    Many { deposits: Vec<DepositOne> },
    One(DepositOne),
}

/// Most deposits in one request.
const MAX_DEPOSITS_PER_REQUEST: usize = 100_000;

async fn deposit(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let body: DepositBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let single = matches!(body, DepositBody::One(_));
    let list = match body {
        DepositBody::Many { deposits } => deposits,
        DepositBody::One(one) => vec![one],
    };
    if list.is_empty() || list.len() > MAX_DEPOSITS_PER_REQUEST {
        return error(OperatorError::BadRequest(format!(
            "1 to {MAX_DEPOSITS_PER_REQUEST} deposits per request"
        )));
    }
    let deposits: Vec<(PublicKey, Amount)> = list.iter().map(|d| (d.pk, d.amount.0)).collect();
    match state.operator.deposit(&deposits).await {
        Ok(done) if single => {
            Json(json!({ "channel": done[0].channel, "amount": done[0].amount })).into_response()
        }
        Ok(done) => Json(json!({ "channels": done.iter().map(|d| d.channel).collect::<Vec<_>>() }))
            .into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpBody {
    channel: ChannelId,
    amount: AmountArg,
}

async fn top_up(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let body: TopUpBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match state.operator.top_up(body.channel, body.amount.0).await {
        Ok(()) => Json(json!({ "channel": body.channel, "added": body.amount.0 })).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExitBody {
    channel: ChannelId,
    sig: Signature,
}

async fn exit(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let body: ExitBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match state.operator.exit(body.channel, &body.sig).await {
        Ok(()) => Json(json!({ "channel": body.channel, "exiting": true })).into_response(),
        Err(e) => error(e),
    }
}

async fn cut(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    match state.operator.cut().await {
        Ok((epoch, path)) => {
            state.shared.announce_epoch(epoch + 1);
            Json(json!({ "epoch": epoch, "snapshot": path.display().to_string() })).into_response()
        }
        Err(e) => error(e),
    }
}

async fn close(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    match state.operator.close(&body).await {
        Ok(inputs) => Json(json!({ "accepted": true, "inputs": inputs })).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    channel: ChannelId,
}

async fn withdraw(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let body: ChannelBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match state.operator.withdraw(body.channel).await {
        Ok(paid) => Json(json!({ "channel": body.channel, "paid": paid })).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    blocks: u64,
}

async fn advance(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let body: AdvanceBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match state.operator.advance(body.blocks).await {
        Ok(height) => Json(json!({ "height": height })).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
struct OpeningQuery {
    channel: ChannelId,
    epoch: Option<Epoch>,
}

async fn opening(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Query(q): Query<OpeningQuery>,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    match state.operator.opening(q.channel, q.epoch).await {
        Ok(opening) => Json(opening).into_response(),
        Err(e) => error(e),
    }
}

async fn settlement(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    Json(state.operator.summary().await).into_response()
}
