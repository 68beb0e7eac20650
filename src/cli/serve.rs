//! `zkhub serve`: run the hub until Ctrl-C (or SIGTERM), then shut down gracefully
//! (stop accepting, close sessions, flush the writer).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use hub::config::{HubConfig, OperatorAccess, ServerLimits};

/// Options of `zkhub serve`. Every limit has a safe default.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory: hub ledger (hub.redb), settlement layer (settlement.redb),
    /// epoch snapshots and the hub key (hub.key, mode 0600). Created if absent.
    #[arg(long, default_value = "./zkhub-data")]
    pub data: PathBuf,

    /// Address to listen on (WebSocket at /v1, HTTP on the same port). Port 0 picks a
    /// free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Once listening, write the bound address (e.g. `127.0.0.1:41234`, useful with
    /// port 0) and a newline to this file, for scripts. It is also printed on stdout
    /// as a plain first line, `listening on ADDR`.
    #[arg(long, value_name = "FILE")]
    pub addr_file: Option<PathBuf>,

    /// Hub id registered on the settlement layer (signature domain of every voucher).
    #[arg(long, default_value_t = 1)]
    pub hub_id: u64,

    /// Serve this directory at / (e.g. examples/web for the browser tip page).
    #[arg(long = "static", value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
    /// Verifier-key cache for close proofs submitted to the settlement layer
    /// (default: $ZKHUB_KEYS or ~/.cache/zkhub/keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,

    /// Who may use the operator interface (/operator/*, /v1/channels/{id}).
    #[arg(long, value_enum, default_value_t = OperatorArg::Loopback)]
    pub operator: OperatorArg,

    /// Largest WebSocket frame in bytes; a larger one closes the connection (1009).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,

    /// Largest WebSocket message in bytes (after reassembling fragments).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_message_bytes: usize,

    /// Most concurrent WebSocket connections; more get HTTP 503.
    #[arg(long, default_value_t = 20_000)]
    pub max_connections: usize,

    /// Seconds a new connection has to send hello or subscribe.
    #[arg(long, default_value_t = 10)]
    pub handshake_timeout_secs: u64,

    /// Seconds without any inbound message (pings count) before a session is closed.
    #[arg(long, default_value_t = 120)]
    pub idle_timeout_secs: u64,

    /// Seconds one outbound write may take before the peer counts as not reading.
    #[arg(long, default_value_t = 10)]
    pub write_timeout_secs: u64,

    /// Outbound messages queued per session; a full queue closes the session (4004).
    #[arg(long, default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Most pending (unsigned) vouchers per channel.
    #[arg(long, default_value_t = 1024)]
    pub max_pending_count: u32,

    /// Most pending (unsigned) amount per channel, in base units.
    #[arg(long, default_value_t = 1_000_000_000_000)]
    pub max_pending_amount: u64,

    /// Sustained inbound vouchers/requests per second per connection (token bucket).
    #[arg(long, default_value_t = 2_000_000)]
    pub rate_per_sec: u32,

    /// Inbound burst per connection (token bucket capacity).
    #[arg(long, default_value_t = 4_000_000)]
    pub rate_burst: u32,

    /// Most vouchers in one pay message (binary frame or JSON).
    #[arg(long, default_value_t = 4096)]
    pub max_vouchers_per_message: usize,

    /// Most channels one session may subscribe to.
    #[arg(long, default_value_t = 64)]
    pub max_subscriptions: usize,

    /// Socket read buffer per connection, in bytes (what an idle connection costs).
    #[arg(long, default_value_t = 16 << 10)]
    pub read_buffer_bytes: usize,

    /// Checkpoint-signature verifier threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub verifier_threads: usize,

    /// Most covered ranges in one group commit.
    #[arg(long, default_value_t = 65_536)]
    pub max_batch: usize,

    /// Milliseconds between automatic receipts to one subscribed payee.
    #[arg(long, default_value_t = 1000)]
    pub receipt_interval_ms: u64,

    /// Bond the hub registers on the settlement layer at first start.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub bond: u64,

    /// Tokio worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,

    /// Scheduler slice, in microseconds, that the I/O, verifier and writer threads ask
    /// the kernel for, so that each runs soon after it wakes (Linux 6.12 or later;
    /// 100 to 100,000; 0 keeps the kernel's default). See docs/PROFILE.md.
    #[arg(long, default_value_t = 100)]
    pub thread_slice_us: u64,
}

/// `--operator` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OperatorArg {
    /// Loopback peers only.
    Loopback,
    /// Any peer: only behind a trusted proxy or firewall.
    Any,
    /// Nobody.
    Disabled,
}

impl ServeArgs {
    /// The hub configuration these options describe.
    pub fn config(&self) -> HubConfig {
        let keys = self
            .keys
            .clone()
            .unwrap_or_else(super::prove::default_keys_dir);
        let mut config = HubConfig::new(&self.data)
            .with_close_verifier(super::prove::CloserBackend::shared(keys));
        config.listen = self.listen;
        config.hub_id = self.hub_id;
        config.static_dir = self.static_dir.clone();
        config.operator = match self.operator {
            OperatorArg::Loopback => OperatorAccess::Loopback,
            OperatorArg::Any => OperatorAccess::Any,
            OperatorArg::Disabled => OperatorAccess::Disabled,
        };
        config.limits = ServerLimits {
            max_frame_bytes: self.max_frame_bytes,
            max_message_bytes: self.max_message_bytes,
            max_connections: self.max_connections,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            write_timeout: Duration::from_secs(self.write_timeout_secs),
            outbound_queue: self.outbound_queue,
            pending: channel::ledger::Limits {
                max_pending_count: self.max_pending_count,
                max_pending_amount: self.max_pending_amount,
            },
            rate_per_sec: self.rate_per_sec,
            rate_burst: self.rate_burst,
            max_vouchers_per_message: self.max_vouchers_per_message,
            max_subscriptions: self.max_subscriptions,
            read_buffer_bytes: self.read_buffer_bytes.max(1024),
        };
        config.verifier_threads = self.verifier_threads;
        config.thread_slice = self.thread_slice();
        config.commit.max_batch = self.max_batch;
        config.receipt_interval = Duration::from_millis(self.receipt_interval_ms.max(1));
        config.bond = self.bond;
        config
    }

    /// `--thread-slice-us` as a duration (`None` for 0).
    fn thread_slice(&self) -> Option<Duration> {
        (self.thread_slice_us > 0).then(|| Duration::from_micros(self.thread_slice_us))
    }
}

/// Run `zkhub serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::logging::init();
    let config = args.config();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let slice = args.thread_slice();
    runtime
        .enable_all()
        .thread_name("zkhub-io")
        .on_thread_start(move || hub::thread_slice::apply(slice, "io"));
    if args.worker_threads > 0 {
        runtime.worker_threads(args.worker_threads);
    }
    let runtime = runtime.build().context("start the tokio runtime")?;
    runtime.block_on(async move {
        let handle = hub::Hub::start(config).await.context("start the hub")?;
        let addr = handle.local_addr();
        // Plain, before any log line that names it: what scripts read.
        println!("listening on {addr}");
        if let Some(path) = &args.addr_file {
            write_addr_file(path, addr)?;
        }
        tracing::info!(%addr, "zkhub serving; Ctrl-C to stop");
        // A storage failure fail-stops the hub: exit with an error, so that a
        // supervisor restarts it and the restart recovers what was durable.
        let failed = tokio::select! {
            () = shutdown_signal() => false,
            () = handle.stopped() => handle.failed(),
        };
        tracing::info!("shutting down");
        handle.shutdown().await.context("shut down")?;
        if failed {
            anyhow::bail!(
                "the hub fail-stopped on a storage failure (logged above); restart it to \
                 recover what was durable"
            );
        }
        anyhow::Ok(())
    })
}

/// Write `addr` to `path` atomically (a temporary file renamed over it), so a script
/// polling for the file never reads half of it.
fn write_addr_file(path: &std::path::Path, addr: SocketAddr) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{addr}\n"))
        .with_context(|| format!("write the address file {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("write the address file {}", path.display()))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
