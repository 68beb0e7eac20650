//! The hub's network server: [`Hub::start`] wires the pieces together and returns a
//! [`HubHandle`].
//!
//! ```text
//!  socket ─► session (reader task) ── admit ──► Channels (dashmap)
//!              │  checkpoints                        ▲ apply_batch
//!              ▼                                     │
//!          verifier pool ── cover ──► writer (group commit, fsync) ── Applied ─┐
//!                                                                             │
//!  socket ◄─ session (writer task) ◄── bounded queue ◄── registry ◄── acks, credits
//! ```
//!
//! - [`session`]: one WebSocket session (challenge, hello, requests, payments).
//! - [`registry`]: sessions by channel and subscription; bounded delivery.
//! - [`verifier`]: the checkpoint signature pool.
//! - [`core`]: shared state; verified checkpoints → writer; commits → notifications.
//! - [`http`]: routes (`/v1`, `/v1/info`, `/healthz`, `/metrics`, `/v1/channels/{id}`,
//!   static).
//! - [`body`]: operator request bodies, refused in user words.
//! - [`operator`]: the operator interface over the in-process settlement layer.
//! - [`rate`]: per-connection token bucket.
//! - [`linger`]: graceful TCP close (FIN, bounded drain), so close frames arrive.

mod accept;
pub(crate) mod body;
pub(crate) mod core;
pub(crate) mod http;
mod linger;
pub(crate) mod operator;
pub(crate) mod rate;
pub(crate) mod registry;
pub(crate) mod session;
pub(crate) mod verifier;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use channel::codec::CloseCode;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::info;

use self::core::Shared;
use crate::config::HubConfig;
use crate::metrics::Metrics;

/// Why the hub could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ledger store could not be opened or loaded.
    #[error("hub store: {0}")]
    Store(String),
    /// The hub key could not be read or created.
    #[error("hub key: {0}")]
    Key(String),
    /// The settlement layer could not be opened.
    #[error("settlement layer: {0}")]
    Settlement(String),
    /// The listen address could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer did not stop cleanly.
    #[error("writer: {0}")]
    Writer(String),
}

/// The hub: see [`Hub::start`].
pub struct Hub;

/// A running hub. Dropping it does not stop it; call [`HubHandle::shutdown`].
pub struct HubHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    backend: Backend,
}

impl HubHandle {
    /// The address the hub listens on (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR/v1`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1", self.local_addr)
    }

    /// `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The hub's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The hub's public key: it signs receipts (`subscribe` checks them with it).
    pub fn public_key(&self) -> channel::crypto::PublicKey {
        self.shared.hub_key.public()
    }

    /// The in-memory channel table (read it; never mutate it from outside).
    pub fn channels(&self) -> &crate::state::Channels {
        &self.shared.channels
    }

    /// The epoch now accumulating payments.
    pub fn epoch(&self) -> channel::Epoch {
        self.shared.epoch()
    }

    /// Resolves once the hub has stopped serving: shut down, or fail-stopped after a
    /// storage failure ([`HubHandle::failed`]).
    pub async fn stopped(&self) {
        let _ = self.shared.stop_signal().wait_for(|s| *s).await;
    }

    /// Whether the hub fail-stopped: a write to its store failed or its writer thread
    /// panicked. Nothing more is acked; restart it to recover what was durable.
    pub fn failed(&self) -> bool {
        self.shared
            .writer_metrics
            .failed
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The in-process settlement layer and operator actions.
    pub fn operator(&self) -> &crate::settlement_service::Operator {
        &self.backend.operator
    }

    /// Graceful shutdown: stop accepting connections, close every session (their
    /// uncovered vouchers are dropped; the clients resend), let the verifier pool and
    /// the writer finish what they hold (every covered range is committed and acked),
    /// then stop the writer.
    pub async fn shutdown(mut self) -> Result<(), HubError> {
        info!("hub shutting down");
        self.shared.stop(CloseCode::Shutdown);
        // The accept loop stops, in-flight HTTP requests finish; sessions close.
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.server).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while self
                .shared
                .metrics
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        self.server.abort();
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.verifier.shutdown())
            .await
            .map_err(|e| HubError::Writer(e.to_string()))?;
        for task in self.background.drain(..) {
            task.abort();
        }
        self.backend.shutdown().await
    }
}

impl Drop for HubHandle {
    /// Dropped without `shutdown`: stop serving (sessions close, the listener stops);
    /// the writer commits what it holds and stops in the background.
    fn drop(&mut self) {
        if !self.shared.is_stopping() {
            self.shared.stop(CloseCode::Shutdown);
        }
        self.server.abort();
        for task in self.background.drain(..) {
            task.abort();
        }
    }
}

impl Hub {
    /// Start a hub: open (or create) the data directory, load the ledger (channel
    /// table plus log tail), open the settlement layer, start the writer, the verifier
    /// pool and the HTTP/WebSocket server. Must be called inside a multi-threaded
    /// tokio runtime.
    pub async fn start(config: HubConfig) -> Result<HubHandle, HubError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| HubError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| HubError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| HubError::Bind {
            addr: config.listen,
            source,
        })?;

        let (shared, backend) = Backend::open(Arc::clone(&config), Arc::clone(&metrics)).await?;

        let state = http::AppState {
            shared: Arc::clone(&shared),
            connections: Arc::new(Semaphore::new(config.limits.max_connections)),
            operator: Arc::clone(&backend.operator),
        };
        let app = http::router(state);
        let server = tokio::spawn(accept::serve(
            listener,
            app,
            Arc::clone(&config),
            shared.stop_signal(),
        ));

        let receipts = {
            let shared = Arc::clone(&shared);
            let interval = config.receipt_interval;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if shared.is_stopping() {
                        return;
                    }
                    let shared = Arc::clone(&shared);
                    // Signing is CPU work: keep it off the I/O threads.
                    let _ = tokio::task::spawn_blocking(move || shared.push_due_receipts()).await;
                }
            })
        };
        let last_closed = backend.operator.summary().await.last_accepted;
        metrics.last_closed_epoch.store(
            last_closed.unwrap_or(0),
            std::sync::atomic::Ordering::Relaxed,
        );
        let public_key = hex::encode(shared.hub_key.public().pack());
        info!(%local_addr, hub_id = config.hub_id, %public_key, channels = shared.channels.len(), "hub started");
        Ok(HubHandle {
            local_addr,
            shared,
            server,
            background: vec![receipts],
            backend,
        })
    }
}

pub(crate) use backend::Backend;

mod backend;
