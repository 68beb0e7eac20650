//! Hub configuration: where it listens, where it keeps its data, and every limit that
//! protects it from its peers. Every field has a safe default; `zkhub serve` exposes
//! each one as a flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use channel::HubId;
use channel::ledger::Limits as PendingLimits;

/// Verifies a close proof for the in-process settlement layer. The hub crate does not
/// depend on the prover: the root binary passes the closer's verifier in.
pub use crate::settlement_service::CloseVerifierRef;

/// Limits on what one peer, and all peers together, may cost the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest WebSocket frame accepted (bytes). Larger: the connection is closed (1009).
    pub max_frame_bytes: usize,
    /// Largest WebSocket message accepted (bytes), after reassembly of fragments.
    pub max_message_bytes: usize,
    /// Most concurrent WebSocket connections; beyond it upgrades get HTTP 503.
    pub max_connections: usize,
    /// Time a new connection has to send its first message (`hello` or `subscribe`).
    pub handshake_timeout: Duration,
    /// A session that sends nothing (not even a ping) for this long is closed.
    pub idle_timeout: Duration,
    /// A single outbound write that does not complete within this time closes the
    /// session: the peer is not reading.
    pub write_timeout: Duration,
    /// Outbound messages queued per session; a session whose queue is full is closed
    /// with a reason (the peer does not read fast enough).
    pub outbound_queue: usize,
    /// Pending (unsigned, uncovered) vouchers per channel, by count and amount.
    pub pending: PendingLimits,
    /// Inbound rate per connection: sustained vouchers (or requests) per second.
    pub rate_per_sec: u32,
    /// Inbound burst per connection: the token bucket's capacity.
    pub rate_burst: u32,
    /// Most vouchers in one binary pay frame or JSON `pay`.
    pub max_vouchers_per_message: usize,
    /// Most channels one read-only session may subscribe to.
    pub max_subscriptions: usize,
    /// Each connection's socket read buffer (bytes), allocated up front: it bounds
    /// what an idle connection costs (tungstenite's default, 128 KiB, made 10,000
    /// idle connections cost 1.4 GB). Frames larger than it are read in chunks.
    pub read_buffer_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_frame_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            max_connections: 20_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            write_timeout: Duration::from_secs(10),
            outbound_queue: 1024,
            pending: PendingLimits::DEFAULT,
            rate_per_sec: 2_000_000,
            rate_burst: 4_000_000,
            max_vouchers_per_message: 4096,
            max_subscriptions: 64,
            read_buffer_bytes: 16 << 10,
        }
    }
}

impl ServerLimits {
    /// Apply the WebSocket limits (frame and message size, and a bound on what a
    /// non-reading peer can pin in the socket's write buffer) to an upgrade. The hub's
    /// `/v1` route and the conformance echo server (`examples/ws_echo.rs`, run by
    /// `scripts/autobahn.sh`) both configure their sockets here, so Autobahn tests
    /// the WebSocket layer exactly as the hub runs it.
    pub fn websocket(
        &self,
        ws: axum::extract::ws::WebSocketUpgrade,
    ) -> axum::extract::ws::WebSocketUpgrade {
        ws.read_buffer_size(self.read_buffer_bytes)
            .max_frame_size(self.max_frame_bytes)
            .max_message_size(self.max_message_bytes)
            .max_write_buffer_size(self.max_message_bytes.saturating_mul(4).max(1 << 20))
    }
}

/// Group-commit tuning handed to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitConfig {
    /// Most covered ranges gathered into one batch before it is committed.
    pub max_batch: usize,
    /// Capacity of the queue in front of the writer; a full queue pushes back on
    /// the verifier pool and from there on sessions.
    pub queue: usize,
}

impl Default for CommitConfig {
    fn default() -> Self {
        CommitConfig {
            max_batch: 65_536,
            queue: 65_536,
        }
    }
}

/// Who may use the operator interface (`/operator/*`, `/v1/channels/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OperatorAccess {
    /// Loopback peers only (the default).
    #[default]
    Loopback,
    /// Any peer. Only behind a trusted reverse proxy or firewall.
    Any,
    /// Nobody: the operator routes answer 403.
    Disabled,
}

/// Everything [`crate::Hub::start`] needs.
#[derive(Clone)]
pub struct HubConfig {
    /// Data directory: hub ledger, settlement file, snapshots, hub key.
    pub data_dir: PathBuf,
    /// Listen address; port 0 picks a free port (see `HubHandle::local_addr`).
    pub listen: SocketAddr,
    /// Hub id registered on the settlement layer.
    pub hub_id: HubId,
    /// Per-peer and global limits.
    pub limits: ServerLimits,
    /// Group commit tuning.
    pub commit: CommitConfig,
    /// Signature verifier threads (0: one per available core).
    pub verifier_threads: usize,
    /// Capacity of the queue in front of the verifier pool.
    pub verifier_queue: usize,
    /// Scheduler slice the verifier threads and the writer ask for
    /// ([`crate::thread_slice`]); `None` leaves the kernel's default. The I/O threads
    /// belong to the caller's runtime: `zkhub serve` has them ask for the same slice
    /// (`thread_slice::apply` in the runtime's `on_thread_start`).
    pub thread_slice: Option<Duration>,
    /// Minimum interval between automatic receipts pushed to one subscribed payee.
    pub receipt_interval: Duration,
    /// Operator interface access.
    pub operator: OperatorAccess,
    /// Serve this directory at `/` (e.g. the browser example).
    pub static_dir: Option<PathBuf>,
    /// Bond the hub registers on the settlement layer at first start.
    pub bond: u64,
    /// Verifier of close proofs for `/operator/close`; `None` refuses closes.
    pub close_verifier: Option<CloseVerifierRef>,
    /// Tests only: open the ledger database on this backend instead of
    /// `DATA_DIR/hub.redb` (fault injection into a running hub,
    /// `hub/tests/process_faults.rs`).
    #[doc(hidden)]
    pub store_backend: Option<StoreBackendHook>,
}

/// Makes the storage backend of the ledger database from the data directory (see
/// [`HubConfig::store_backend`]; tests only).
#[doc(hidden)]
pub type StoreBackendHook = std::sync::Arc<
    dyn Fn(&std::path::Path) -> std::io::Result<Box<dyn redb::StorageBackend>> + Send + Sync,
>;

impl HubConfig {
    /// Defaults for `data_dir`: listen on `127.0.0.1:8080`, hub id 1.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        HubConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            hub_id: 1,
            limits: ServerLimits::default(),
            commit: CommitConfig::default(),
            verifier_threads: 0,
            verifier_queue: 65_536,
            thread_slice: Some(crate::thread_slice::DEFAULT),
            receipt_interval: Duration::from_secs(1),
            operator: OperatorAccess::Loopback,
            static_dir: None,
            bond: 1_000_000_000,
            close_verifier: None,
            store_backend: None,
        }
    }

    /// Same, listening on an ephemeral loopback port (tests, the demo).
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::new(data_dir);
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    /// Verifier threads to start.
    pub fn verifier_threads(&self) -> usize {
        if self.verifier_threads > 0 {
            return self.verifier_threads;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Attach a close-proof verifier.
    pub fn with_close_verifier(mut self, verifier: CloseVerifierRef) -> Self {
        self.close_verifier = Some(verifier);
        self
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("hub_id", &self.hub_id)
            .field("limits", &self.limits)
            .field("commit", &self.commit)
            .field("verifier_threads", &self.verifier_threads)
            .field("operator", &self.operator)
            .field("static_dir", &self.static_dir)
            .field("close_verifier", &self.close_verifier.is_some())
            .finish()
    }
}
