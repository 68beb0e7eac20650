//! The operator interface over HTTP (`/operator/*`), loopback-only by default
//! ([`crate::config::OperatorAccess`]). Bodies and results are JSON; amounts are JSON
//! numbers or decimal strings; keys and signatures are packed hex as on the wire.
//! Documented in docs/OPERATOR.md.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::atomic::Ordering::Relaxed;

use channel::crypto::Signature;
use channel::{Amount, ChannelId, Epoch};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::body::{self, BodyError};
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
        .route("/operator/disclosure", get(disclosure))
        .route("/operator/settlement", get(settlement))
        .route("/operator/attestation", get(attestation))
}

fn error(e: OperatorError) -> Response {
    let status = if e.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, Json(json!({ "error": e.to_string() }))).into_response()
}

fn bad_body(e: BodyError) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// What every operator handler answers: a JSON value, or a typed error.
type Reply = Result<Json<Value>, Response>;

/// Extractor: the peer may use the operator interface ([`operator_refusal`]).
struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(ConnectInfo(remote)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err(error(OperatorError::Ledger(
                "the peer address is unknown".into(),
            )));
        };
        match operator_refusal(state, remote) {
            Some(refused) => Err(refused),
            None => Ok(Operator),
        }
    }
}

/// A request body type and the shape it is documented with (quoted in refusals).
trait Shaped: DeserializeOwned {
    const SHAPE: &'static str;
}

/// Extractor: an [`Operator`] request whose body is the JSON `T`; a malformed body
/// gets 400 naming the field and the expected shape.
struct OperatorJson<T>(T);

impl<T: Shaped> FromRequest<AppState> for OperatorJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let bytes = operator_body(req, state).await?;
        body::typed(&bytes, T::SHAPE)
            .map(OperatorJson)
            .map_err(bad_body)
    }
}

/// The body of a request from a peer allowed to use the operator interface.
async fn operator_body(req: Request, state: &AppState) -> Result<Bytes, Response> {
    let (mut parts, body) = req.into_parts();
    Operator::from_request_parts(&mut parts, state).await?;
    Bytes::from_request(Request::from_parts(parts, body), state)
        .await
        .map_err(IntoResponse::into_response)
}

/// Amount as a JSON number or decimal string.
#[derive(Debug, Clone, Copy)]
struct AmountArg(Amount);

impl<'de> Deserialize<'de> for AmountArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        body::amount_of(&Value::deserialize(d)?)
            .map(AmountArg)
            .map_err(|e| serde::de::Error::custom(format!("`amount` {e}")))
    }
}

/// Most deposits in one request.
const MAX_DEPOSITS_PER_REQUEST: usize = 100_000;

async fn deposit(State(state): State<AppState>, req: Request) -> Reply {
    let bytes = operator_body(req, &state).await?;
    let body::Deposits { list, single } = body::deposits(&bytes).map_err(bad_body)?;
    if list.is_empty() || list.len() > MAX_DEPOSITS_PER_REQUEST {
        return Err(error(OperatorError::BadRequest(format!(
            "1 to {MAX_DEPOSITS_PER_REQUEST} deposits per request"
        ))));
    }
    let done = state.operator.deposit(&list).await.map_err(error)?;
    Ok(Json(match done.as_slice() {
        [one] if single => json!({ "channel": one.channel, "amount": one.amount }),
        _ => json!({ "channels": done.iter().map(|d| d.channel).collect::<Vec<_>>() }),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUpBody {
    channel: ChannelId,
    amount: AmountArg,
}

impl Shaped for TopUpBody {
    const SHAPE: &'static str = r#"{"channel": <id>, "amount": <base units>}"#;
}

async fn top_up(
    State(state): State<AppState>,
    OperatorJson(body): OperatorJson<TopUpBody>,
) -> Reply {
    let (channel, amount) = (body.channel, body.amount.0);
    state
        .operator
        .top_up(channel, amount)
        .await
        .map_err(error)?;
    Ok(Json(json!({ "channel": channel, "added": amount })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExitBody {
    channel: ChannelId,
    sig: Signature,
}

impl Shaped for ExitBody {
    const SHAPE: &'static str =
        r#"{"channel": <id>, "sig": "<packed exit signature, 128 hex characters>"}"#;
}

async fn exit(State(state): State<AppState>, OperatorJson(body): OperatorJson<ExitBody>) -> Reply {
    state
        .operator
        .exit(body.channel, &body.sig)
        .await
        .map_err(error)?;
    Ok(Json(json!({ "channel": body.channel, "exiting": true })))
}

async fn cut(State(state): State<AppState>, _: Operator) -> Reply {
    let (epoch, path) = state.operator.cut().await.map_err(error)?;
    state.shared.metrics.epoch_cuts.fetch_add(1, Relaxed);
    state.shared.announce_epoch(epoch + 1);
    Ok(Json(
        json!({ "epoch": epoch, "snapshot": path.display().to_string() }),
    ))
}

/// The body is a proof file (docs/PROOF_FORMAT.md), not JSON.
async fn close(State(state): State<AppState>, _: Operator, body: Bytes) -> Reply {
    let metrics = &state.shared.metrics;
    let accepted = match state.operator.close_any(&body).await {
        Ok(accepted) => accepted,
        Err(e) => {
            if e.is_client_error() {
                metrics.closes_refused.fetch_add(1, Relaxed);
            }
            return Err(error(e));
        }
    };
    metrics.closes_accepted.fetch_add(1, Relaxed);
    metrics
        .last_closed_epoch
        .fetch_max(accepted.epoch(), Relaxed);
    let mut reply = serde_json::to_value(&accepted)
        .map_err(|e| error(OperatorError::Storage(e.to_string())))?;
    if let Some(object) = reply.as_object_mut() {
        object.insert("accepted".into(), Value::Bool(true));
    }
    Ok(Json(reply))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    channel: ChannelId,
}

impl Shaped for ChannelBody {
    const SHAPE: &'static str = r#"{"channel": <id>}"#;
}

async fn withdraw(
    State(state): State<AppState>,
    OperatorJson(body): OperatorJson<ChannelBody>,
) -> Reply {
    let paid = state.operator.withdraw(body.channel).await.map_err(error)?;
    Ok(Json(json!({ "channel": body.channel, "paid": paid })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    blocks: u64,
}

impl Shaped for AdvanceBody {
    const SHAPE: &'static str = r#"{"blocks": <count>}"#;
}

async fn advance(
    State(state): State<AppState>,
    OperatorJson(body): OperatorJson<AdvanceBody>,
) -> Reply {
    let height = state.operator.advance(body.blocks).await.map_err(error)?;
    Ok(Json(json!({ "height": height })))
}

#[derive(Deserialize)]
struct OpeningQuery {
    channel: ChannelId,
    epoch: Option<Epoch>,
}

async fn opening(
    State(state): State<AppState>,
    _: Operator,
    Query(q): Query<OpeningQuery>,
) -> Response {
    match state.operator.opening(q.channel, q.epoch).await {
        Ok(opening) => Json(opening).into_response(),
        Err(e) => error(e),
    }
}

async fn settlement(State(state): State<AppState>, _: Operator) -> Response {
    Json(state.operator.summary().await).into_response()
}

#[derive(Deserialize)]
struct DisclosureQuery {
    channel: ChannelId,
    epoch: Epoch,
    /// Include the epoch before (default: yes).
    previous: Option<bool>,
}

async fn disclosure(
    State(state): State<AppState>,
    _: Operator,
    Query(q): Query<DisclosureQuery>,
) -> Response {
    let with_previous = q.previous.unwrap_or(true);
    match crate::disclosure::channel_disclosure(&state.operator, q.channel, q.epoch, with_previous)
        .await
    {
        Ok(d) => Json(d).into_response(),
        Err(e) => error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationQuery {
    epoch: Epoch,
}

/// `GET /operator/attestation?epoch=E`: the operator's volume attestation of an
/// accepted close (`channel::volume::VolumeAttestation`, docs/OPERATOR.md).
async fn attestation(
    State(state): State<AppState>,
    _: Operator,
    Query(q): Query<AttestationQuery>,
) -> Response {
    match state.operator.attestation(q.epoch).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => error(e),
    }
}
