//! HTTP routes on the hub's port: the WebSocket upgrade at `/v1`, `GET /healthz`,
//! `GET /metrics`, the hub's public facts `GET /v1/info`, the operator's read-only channel status `GET /v1/channels/{id}`,
//! the operator interface (`/operator/*`, see [`super::operator`]) and, optionally,
//! a static directory at `/`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;

use super::core::{Shared, status_of};
use super::session;
use crate::config::OperatorAccess;
use crate::timeline::Stat;

/// State of the HTTP routes.
#[derive(Clone)]
pub(crate) struct AppState {
    pub shared: Arc<Shared>,
    /// One permit per allowed concurrent WebSocket connection.
    pub connections: Arc<Semaphore>,
    /// The settlement layer's operator interface.
    pub operator: Arc<crate::settlement_service::Operator>,
}

/// The hub's router.
pub(crate) fn router(state: AppState) -> Router {
    let static_dir = state.shared.config.static_dir.clone();
    let router = Router::new()
        .route("/v1", get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/metrics/timeline", get(timeline))
        .route("/v1/info", get(info))
        .route("/v1/channels/{id}", get(channel_status))
        .merge(super::operator::routes())
        .with_state(state);
    match static_dir {
        Some(dir) => router.fallback(move |req: axum::extract::Request| serve_static(dir, req)),
        None => router,
    }
}

/// Top-level directories of a static directory never served: a JavaScript project's
/// dependencies and tests (`examples/web`'s `node_modules/`, `test/`), dot-files, and
/// percent-encoded names (which could spell either).
const PRIVATE_STATIC: [&str; 2] = ["node_modules", "test"];

async fn serve_static(dir: std::path::PathBuf, req: axum::extract::Request) -> Response {
    let first = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if PRIVATE_STATIC.contains(&first) || first.starts_with('.') || first.contains('%') {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    use tower::ServiceExt as _;
    match tower_http::services::ServeDir::new(dir).oneshot(req).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let shared = &state.shared;
    if shared.is_stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "hub shutting down\n").into_response();
    }
    let Ok(permit) = Arc::clone(&state.connections).try_acquire_owned() else {
        shared
            .metrics
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "connection limit reached\n",
        )
            .into_response();
    };
    shared.metrics.timeline.record(Stat::Accepted, 1);
    let limits = &shared.config.limits;
    let ws = limits.websocket(ws);
    let shared = Arc::clone(shared);
    let operator = Arc::clone(&state.operator);
    ws.on_upgrade(move |socket| session::run(shared, operator, socket, remote, permit))
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.shared.is_stopping() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

/// `GET /metrics/timeline?since=UNIX_MS`: query of the timeline.
#[derive(Debug, serde::Deserialize)]
struct TimelineQuery {
    /// Only slices that start at or after this Unix time, ms (default: the whole minute).
    #[serde(default)]
    since: u64,
}

/// What the hub did in each 100 ms of the last minute ([`crate::timeline`]), as JSON.
async fn timeline(State(state): State<AppState>, Query(q): Query<TimelineQuery>) -> Response {
    axum::Json(state.shared.metrics.timeline.report(q.since)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = state.shared.metrics.render();
    body.push_str(&state.shared.extra_metrics());
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// What a client needs to know before connecting: the hub id and public key (to
/// check receipts), the epoch, the limits and the version (docs/PROTOCOL.md §11).
async fn info(State(state): State<AppState>) -> Response {
    let shared = &state.shared;
    let limits = &shared.config.limits;
    let body = serde_json::json!({
        "hub_id": wire_u64(shared.config.hub_id),
        "public_key": shared.hub_key.public(),
        "epoch": wire_u64(shared.epoch()),
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
        "limits": {
            "max_message_bytes": limits.max_message_bytes,
            "max_vouchers_per_message": limits.max_vouchers_per_message,
            "max_pending_count": limits.pending.max_pending_count,
            "max_pending_amount": wire_u64(limits.pending.max_pending_amount),
            "rate_per_sec": limits.rate_per_sec,
            "rate_burst": limits.rate_burst,
            "max_subscriptions": limits.max_subscriptions,
            "outbound_queue": limits.outbound_queue,
            "handshake_timeout_secs": limits.handshake_timeout.as_secs(),
            "idle_timeout_secs": limits.idle_timeout.as_secs(),
        },
    });
    // Public facts: a page served from elsewhere (`?hub=`) may read them.
    (
        [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
        axum::Json(body),
    )
        .into_response()
}

/// The refusal for a peer the operator interface is not open to, if it is not.
pub(crate) fn operator_refusal(state: &AppState, remote: &SocketAddr) -> Option<Response> {
    let allowed = match state.shared.config.operator {
        OperatorAccess::Any => true,
        OperatorAccess::Loopback => remote.ip().is_loopback(),
        OperatorAccess::Disabled => false,
    };
    (!allowed).then(|| {
        (
            StatusCode::FORBIDDEN,
            "operator interface is not open to this peer\n",
        )
            .into_response()
    })
}

async fn channel_status(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Path(id): Path<u32>,
) -> Response {
    if let Some(refused) = operator_refusal(&state, &remote) {
        return refused;
    }
    let shared = &state.shared;
    let Some(record) = shared.channels.record(id) else {
        return (StatusCode::NOT_FOUND, "no such channel\n").into_response();
    };
    let (pending_count, pending_amount) = shared
        .channels
        .with_channel_ref(id, |c| (c.pending_count(), c.pending_amount()))
        .unwrap_or((0, 0));
    let status = status_of(&record);
    let body = serde_json::json!({
        "status": status,
        "pk": record.pk,
        "pending_count": pending_count,
        "pending_amount": wire_u64(pending_amount),
        "session": shared.registry.bound_peer(id).map(|p| p.ctl.id),
        "epoch": wire_u64(shared.epoch()),
    });
    axum::Json(body).into_response()
}

/// A `u64` as the wire writes it (PROTOCOL.md §2): a JSON number up to 2^53 − 1, a
/// decimal string above.
fn wire_u64(v: u64) -> serde_json::Value {
    if v <= channel::codec::num::MAX_SAFE_INTEGER {
        v.into()
    } else {
        v.to_string().into()
    }
}
