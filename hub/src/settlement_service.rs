//! The in-process settlement layer and the operator's actions on it.
//!
//! The settlement model ([`channel::settlement::Settlement`]) is a deterministic state
//! machine; this module persists it in its own redb file (`DATA/settlement.redb`,
//! rewritten in one durable transaction after every successful operation) and keeps
//! the hub's ledger in step with it.
//!
//! **Mirroring is state-based, not event-based.** After each operation, and once at
//! start, the hub compares every touched channel's settlement account with its ledger
//! record and submits the `Open`/`TopUp`/`Withdraw`/`Exit` events that make them
//! equal, then waits until they are durable. Whatever the crash point (settlement
//! persisted, ledger not yet), the next start finds the difference and applies it
//! exactly once; nothing needs a second durable counter kept in step. Operations are
//! serialized by one lock, so the ledger's deposits change only here.
//!
//! Operations: deposit (opens a channel), top-up, epoch cut (settlement cut + hub
//! snapshot), exit (signed by the channel key), close (a proof file, checked by the
//! [`CloseBackend`] the binary passes in), withdraw (the hub builds the opening from
//! its epoch snapshot), advance the block height. See docs/OPERATOR.md.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use channel::crypto::{PublicKey, Signature};
use channel::incremental::IncrementalInputs;
use channel::ledger::{ChannelRecord, Event, Snapshot};
use channel::settlement::{CloseKind, CloseVerifier, Params, Settlement, SettlementError};
use channel::statement::{BalanceOpening, PublicInputs, balance_opening};
use channel::volume::{
    SettledVolume, VolumeAttestation, epoch_volume, volume_blind, volume_commitment,
};
use channel::{Amount, ChannelId, Epoch, Fe, HubId};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::info;

use crate::closed_states::{ClosedSlot, ClosedStates, accepted_incremental};

/// The settlement file's name inside the data directory.
pub const SETTLEMENT_FILE: &str = "settlement.redb";

const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("settlement");
const STATE_KEY: &str = "state";

/// Parses close proof files and verifies them. The hub does not know the prover or
/// its file format: the root binary implements this over `closer`.
pub trait CloseBackend: Send + Sync + 'static {
    /// Split a proof file into its public inputs and proof bytes.
    fn parse(&self, file: &[u8]) -> Result<(PublicInputs, Vec<u8>), String>;
    /// The verifier the settlement layer runs on the proof.
    fn verifier(&self) -> &dyn CloseVerifier;
    /// Whether `file` says it is an incremental close (the rest is checked when it is
    /// parsed); a backend that knows only the full close says no.
    fn is_incremental(&self, file: &[u8]) -> bool {
        let _ = file;
        false
    }
    /// Split an incremental close proof file into its public inputs and proof bytes
    /// (docs/DESIGN.md §8.2); a backend that knows only the full close refuses.
    fn parse_incremental(&self, file: &[u8]) -> Result<(IncrementalInputs, Vec<u8>), String> {
        let _ = file;
        Err("this hub's close backend does not read incremental closes".into())
    }
}

/// Shared handle to a [`CloseBackend`] (what `HubConfig::close_verifier` holds).
pub type CloseVerifierRef = Arc<dyn CloseBackend>;

/// Run CPU work (verifying a proof, ~0.1–0.7 s) off the async workers' schedule where
/// the runtime allows it (a multi-threaded runtime), inline otherwise.
fn off_the_workers<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// A boxed future (the ledger port is a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the operator needs from the hub's ledger: read records, apply settlement
/// events durably, and cut an epoch.
pub trait LedgerPort: Send + Sync + 'static {
    /// Channel `id`'s committed record.
    fn record(&self, id: ChannelId) -> Option<ChannelRecord>;
    /// Apply `events` in one group commit; resolves once durable.
    fn apply_events(&self, events: Vec<Event>) -> BoxFuture<'_, Result<(), String>>;
    /// Cut epoch `epoch`: raise the hub's epoch, record the cut durably, write the
    /// snapshot file; resolves to its path.
    fn cut(&self, epoch: Epoch) -> BoxFuture<'_, Result<PathBuf, String>>;
    /// Read the snapshot of cut epoch `epoch`.
    fn snapshot(&self, epoch: Epoch) -> Result<Snapshot, String>;
    /// The last epoch the ledger has cut durably (0: none).
    fn last_cut(&self) -> Epoch;
}

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The settlement layer refused the operation (nothing changed).
    #[error("settlement: {0}")]
    Settlement(#[from] SettlementError),
    /// A bad request (unknown channel, malformed proof file, …).
    #[error("{0}")]
    BadRequest(String),
    /// No close verifier is configured.
    #[error("this hub has no close verifier configured")]
    NoVerifier,
    /// The settlement file could not be read or written.
    #[error("settlement storage: {0}")]
    Storage(String),
    /// The hub ledger could not apply the change (it is retried at next start).
    #[error("hub ledger: {0}")]
    Ledger(String),
}

impl OperatorError {
    /// Whether the caller is at fault (HTTP 4xx) rather than the hub (5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            OperatorError::Settlement(_) | OperatorError::BadRequest(_) | OperatorError::NoVerifier
        )
    }
}

struct SettlementFile {
    db: Database,
}

impl SettlementFile {
    fn open(dir: &Path) -> Result<(Self, Option<Settlement>), OperatorError> {
        let storage = |e: &dyn std::fmt::Display| OperatorError::Storage(e.to_string());
        let path = dir.join(SETTLEMENT_FILE);
        if !path.exists() {
            Self::create_atomically(dir, &path).map_err(|e| storage(&e))?;
        }
        let db = Database::create(&path).map_err(|e| storage(&e))?;
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        let state = match txn.open_table(STATE) {
            Ok(table) => match table.get(STATE_KEY).map_err(|e| storage(&e))? {
                Some(bytes) => {
                    Some(serde_json::from_slice(bytes.value()).map_err(|e| storage(&e))?)
                }
                None => None,
            },
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(storage(&e)),
        };
        drop(txn);
        Ok((SettlementFile { db }, state))
    }

    /// A crash while redb creates a file leaves one that no later start opens
    /// ("I/O error: invalid data": redb writes a new file's magic number last; found by
    /// `tests/crash.rs` killing the first start). So, as for the ledger
    /// (`Store::open`), the file is made as `settlement.redb.creating`, given a first
    /// commit, renamed into place and the directory synced; a leftover `.creating`
    /// file (a creation that crashed, before anything was stored) is removed first.
    fn create_atomically(dir: &Path, path: &Path) -> Result<(), String> {
        let creating = dir.join(format!("{SETTLEMENT_FILE}.creating"));
        match std::fs::remove_file(&creating) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", creating.display())),
        }
        let db = Database::create(&creating).map_err(|e| e.to_string())?;
        let txn = db.begin_write().map_err(|e| e.to_string())?;
        txn.open_table(STATE).map_err(|e| e.to_string())?;
        txn.commit().map_err(|e| e.to_string())?;
        drop(db);
        std::fs::rename(&creating, path).map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: {e}", dir.display()))
    }

    fn persist(&self, settlement: &Settlement) -> Result<(), OperatorError> {
        let storage = |e: &dyn std::fmt::Display| OperatorError::Storage(e.to_string());
        let bytes = serde_json::to_vec(settlement).map_err(|e| storage(&e))?;
        let mut txn = self.db.begin_write().map_err(|e| storage(&e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| storage(&e))?;
        {
            let mut table = txn.open_table(STATE).map_err(|e| storage(&e))?;
            table
                .insert(STATE_KEY, bytes.as_slice())
                .map_err(|e| storage(&e))?;
        }
        txn.commit().map_err(|e| storage(&e))
    }
}

/// A cut is made by the ledger first (durably), then recorded in the settlement file
/// ([`Operator::cut`]), under the operator's lock: a crash between the two leaves the
/// ledger one epoch ahead, with a settlement state that is exactly the one the cut saw
/// (nothing else ran under the lock, and the crash ended the process). The next start
/// records that cut on the settlement layer, so the two agree again and the next cut
/// proceeds. The settlement layer is never ahead: a failed ledger cut undoes its own.
fn adopt_the_ledgers_cut(
    settlement: &mut Settlement,
    file: &SettlementFile,
    ledger_cut: Epoch,
) -> Result<(), OperatorError> {
    let settled = settlement.latest_epoch().unwrap_or(0);
    if ledger_cut == settled + 1 {
        settlement.cut_epoch(ledger_cut)?;
        file.persist(settlement)?;
        tracing::warn!(
            epoch = ledger_cut,
            "the ledger had cut an epoch the settlement file had not recorded (a crash between the two); recorded it now"
        );
    } else if ledger_cut != settled {
        tracing::error!(
            ledger = ledger_cut,
            settlement = settled,
            "the ledger and the settlement layer disagree about the last cut epoch"
        );
    }
    Ok(())
}

struct Inner {
    settlement: Settlement,
    file: SettlementFile,
    /// The state of the latest accepted incremental close (loaded beside the start;
    /// serving payments does not depend on it, incremental closes and their openings do).
    closed: ClosedSlot,
}

impl Inner {
    async fn closed(&mut self) -> Result<&mut ClosedStates, OperatorError> {
        self.closed.ready().await.map_err(|e| {
            OperatorError::Ledger(format!("the incremental close's state is unavailable: {e}"))
        })
    }
}

/// The operator's interface to the in-process settlement layer.
pub struct Operator {
    hub_id: HubId,
    inner: Mutex<Inner>,
    ledger: Arc<dyn LedgerPort>,
    close: Option<CloseVerifierRef>,
    /// The hub's blind seed: derives each epoch's volume blind `rv`
    /// ([`channel::volume::volume_blind`]) to check a close's volume commitment and to
    /// attest its volume. `None`: neither is done.
    blind_seed: Option<Fe>,
}

/// Result of a deposit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Deposited {
    /// The new channel's id.
    pub channel: ChannelId,
    /// Its deposit.
    pub amount: Amount,
}

/// The public inputs of an accepted close, by statement.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "statement", content = "inputs", rename_all = "snake_case")]
pub enum AcceptedClose {
    /// A full close (docs/DESIGN.md §8).
    Full(PublicInputs),
    /// An incremental close (docs/DESIGN.md §8.2).
    Incremental(IncrementalInputs),
}

impl AcceptedClose {
    /// The epoch closed.
    pub fn epoch(&self) -> Epoch {
        match self {
            AcceptedClose::Full(p) => p.epoch,
            AcceptedClose::Incremental(p) => p.epoch,
        }
    }
}

/// Settlement summary for `GET /operator/settlement`.
#[derive(Debug, Clone, Serialize)]
pub struct SettlementSummary {
    /// Hub id.
    pub hub_id: HubId,
    /// Block height.
    pub height: u64,
    /// Remaining bond.
    pub bond: Option<Amount>,
    /// Channels registered.
    pub channels: usize,
    /// Latest cut epoch.
    pub latest_epoch: Option<Epoch>,
    /// Latest accepted close.
    pub last_accepted: Option<Epoch>,
    /// Forced exit began.
    pub forced_exit: bool,
    /// Value totals.
    pub totals: channel::settlement::Totals,
    /// Every epoch record (cut, deadline, n, roots, close).
    pub epochs: Vec<EpochSummary>,
}

/// One epoch in [`SettlementSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct EpochSummary {
    /// Epoch.
    pub epoch: Epoch,
    /// Height of the cut.
    pub cut_height: u64,
    /// Close deadline height.
    pub deadline: u64,
    /// Channels at the cut.
    pub n: u64,
    /// Deposits root (decimal).
    pub deposits_root: String,
    /// Accepted balances root (decimal), if closed.
    pub balances_root: Option<String>,
    /// The accepted close's statement, if closed.
    pub close_kind: Option<CloseKind>,
    /// The accepted close's volume commitment `Cv` (decimal), if closed (docs/DESIGN.md
    /// §11: what a volume attestation opens).
    pub volume_commitment: Option<String>,
}

impl Operator {
    /// Open (or create) the settlement file in `dir`, register the hub on first start,
    /// and bring the hub's ledger in step with it.
    pub async fn open(
        dir: &Path,
        hub_id: HubId,
        hub_pk: PublicKey,
        bond: Amount,
        ledger: Arc<dyn LedgerPort>,
        close: Option<CloseVerifierRef>,
    ) -> Result<Operator, OperatorError> {
        let (file, state) = SettlementFile::open(dir)?;
        let mut settlement = match state {
            Some(s) => {
                let registered = s.hub().map(|h| h.hub_id);
                if registered != Some(hub_id) {
                    return Err(OperatorError::BadRequest(format!(
                        "settlement file registers hub {registered:?}, this hub is {hub_id}"
                    )));
                }
                s
            }
            None => {
                let mut s = Settlement::new(Params::DEFAULT);
                s.register_hub(hub_id, hub_pk, bond)?;
                file.persist(&s)?;
                info!(hub_id, bond, "registered the hub on the settlement layer");
                s
            }
        };
        adopt_the_ledgers_cut(&mut settlement, &file, ledger.last_cut())?;
        let snapshots = Arc::clone(&ledger);
        let closed = ClosedSlot::recover_in_background(
            dir.to_path_buf(),
            hub_id,
            accepted_incremental(&settlement),
            move |e| snapshots.snapshot(e),
        );
        let operator = Operator {
            hub_id,
            inner: Mutex::new(Inner {
                settlement,
                file,
                closed,
            }),
            ledger,
            close,
            blind_seed: None,
        };
        let inner = operator.inner.lock().await;
        let all: Vec<ChannelId> = (1..=inner.settlement.channel_count() as ChannelId).collect();
        if let Err(e) = operator.mirror(&inner.settlement, &all).await {
            // Serving must not depend on it: the channels that could be mirrored were.
            tracing::error!(error = %e, "the hub ledger is not fully in step with the settlement layer");
        }
        drop(inner);
        Ok(operator)
    }

    /// Submit the ledger events that bring `channels` in step with the settlement.
    async fn mirror(
        &self,
        settlement: &Settlement,
        channels: &[ChannelId],
    ) -> Result<(), OperatorError> {
        let mut events = Vec::new();
        let mut unrepresentable = Vec::new();
        for &id in channels {
            let Some(account) = settlement.channel(id) else {
                continue;
            };
            // Net deposits are signed (a payee may withdraw what it received); a
            // change of |ΔD| ≥ 2^64 cannot happen (|D| < 2^64 on both sides).
            let net = account.net_deposit;
            match self.ledger.record(id) {
                None => match Amount::try_from(net) {
                    Ok(deposit) => events.push(Event::Open {
                        channel: id,
                        pk: account.pk,
                        deposit,
                    }),
                    // A channel unknown to the hub that already withdrew: the hub's
                    // data does not belong to this settlement layer.
                    Err(_) => unrepresentable.push((id, net)),
                },
                Some(record) => {
                    let delta = net - record.deposit;
                    match Amount::try_from(delta.unsigned_abs()) {
                        Ok(0) => {}
                        Ok(amount) if delta > 0 => events.push(Event::TopUp {
                            channel: id,
                            amount,
                        }),
                        Ok(amount) => events.push(Event::Withdraw {
                            channel: id,
                            amount,
                        }),
                        Err(_) => unrepresentable.push((id, net)),
                    }
                }
            }
            let exiting = self.ledger.record(id).is_some_and(|r| r.exiting);
            if account.exit.is_some() && !exiting {
                events.push(Event::Exit { channel: id });
            }
        }
        if !events.is_empty() {
            self.ledger
                .apply_events(events)
                .await
                .map_err(OperatorError::Ledger)?;
        }
        match unrepresentable.as_slice() {
            [] => Ok(()),
            list => Err(OperatorError::Ledger(format!(
                "net deposits out of step with the hub ledger (channel, settlement D): {list:?}"
            ))),
        }
    }

    /// Persist, then mirror `touched` channels.
    async fn commit(&self, inner: &Inner, touched: &[ChannelId]) -> Result<(), OperatorError> {
        inner.file.persist(&inner.settlement)?;
        self.mirror(&inner.settlement, touched).await
    }

    /// Open channels, one per `(pk, amount)`, in one settlement commit.
    pub async fn deposit(
        &self,
        deposits: &[(PublicKey, Amount)],
    ) -> Result<Vec<Deposited>, OperatorError> {
        let mut inner = self.inner.lock().await;
        let mut out = Vec::with_capacity(deposits.len());
        let before = inner.settlement.clone();
        for &(pk, amount) in deposits {
            match inner.settlement.deposit(pk, amount) {
                Ok(channel) => out.push(Deposited { channel, amount }),
                Err(e) => {
                    // All or nothing.
                    inner.settlement = before;
                    return Err(e.into());
                }
            }
        }
        let touched: Vec<ChannelId> = out.iter().map(|d| d.channel).collect();
        self.commit(&inner, &touched).await?;
        Ok(out)
    }

    /// Add to channel `id`'s deposit.
    pub async fn top_up(&self, id: ChannelId, amount: Amount) -> Result<(), OperatorError> {
        let mut inner = self.inner.lock().await;
        inner.settlement.top_up(id, amount)?;
        self.commit(&inner, &[id]).await
    }

    /// Channel `id` requests exit (signed by its key over `exit_message`).
    pub async fn exit(&self, id: ChannelId, sig: &Signature) -> Result<(), OperatorError> {
        let mut inner = self.inner.lock().await;
        inner.settlement.request_exit(id, sig)?;
        self.commit(&inner, &[id]).await
    }

    /// Cut the next epoch on the settlement layer and in the hub (snapshot file).
    /// Returns the epoch and the snapshot's path.
    pub async fn cut(&self) -> Result<(Epoch, PathBuf), OperatorError> {
        let mut inner = self.inner.lock().await;
        let epoch = inner.settlement.latest_epoch().map_or(1, |e| e + 1);
        let before = inner.settlement.clone();
        inner.settlement.cut_epoch(epoch)?;
        // The hub's snapshot first: if it fails, the settlement cut is undone, so the
        // two never disagree about which epochs exist.
        let path = match self.ledger.cut(epoch).await {
            Ok(path) => path,
            Err(e) => {
                inner.settlement = before;
                return Err(OperatorError::Ledger(e));
            }
        };
        inner.file.persist(&inner.settlement)?;
        info!(epoch, snapshot = %path.display(), "epoch cut");
        Ok((epoch, path))
    }

    /// Use the hub's blind `seed` (`hub::store::blind_seed` of its key) to check every
    /// submitted close's volume commitment and to attest volumes
    /// ([`Operator::attestation`]).
    pub fn with_blind_seed(mut self, seed: Fe) -> Operator {
        self.blind_seed = Some(seed);
        self
    }

    /// A close whose volume commitment is not `Poseidon(VOLUME, V, rv)` of this hub's
    /// own `V` (from its snapshots) and `rv` (from its seed) is refused before it is
    /// verified: the settlement layer cannot see inside `Cv`, and an accepted close
    /// whose `Cv` the hub cannot open could never be attested.
    fn check_volume(&self, epoch: Epoch, volume: u128, got: &Fe) -> Result<(), OperatorError> {
        let Some(seed) = &self.blind_seed else {
            return Ok(());
        };
        let expected = volume_commitment(volume, &volume_blind(seed, epoch));
        if expected != *got {
            return Err(OperatorError::BadRequest(format!(
                "the proof's volume commitment is not this hub's for epoch {epoch} \
                 (Poseidon(VOLUME, V, rv) with V from its snapshot and rv from its seed)"
            )));
        }
        Ok(())
    }

    /// Submit a close proof file for its epoch.
    pub async fn close(&self, file: &[u8]) -> Result<PublicInputs, OperatorError> {
        let backend = self.close.as_ref().ok_or(OperatorError::NoVerifier)?;
        let (inputs, proof) = backend.parse(file).map_err(OperatorError::BadRequest)?;
        if self.blind_seed.is_some() {
            let snapshot = self
                .ledger
                .snapshot(inputs.epoch)
                .map_err(OperatorError::BadRequest)?;
            let volume = epoch_volume(CloseKind::Full, &snapshot, None);
            self.check_volume(inputs.epoch, volume, &inputs.volume_commitment)?;
        }
        let mut inner = self.inner.lock().await;
        // Verifying a proof is CPU work (~0.1–0.7 s): keep it off the async workers'
        // schedule where the runtime allows it.
        off_the_workers(|| {
            inner
                .settlement
                .submit_close(&inputs, &proof, backend.verifier())
        })?;
        inner.file.persist(&inner.settlement)?;
        info!(epoch = inputs.epoch, "close accepted");
        Ok(inputs)
    }

    /// Submit a close proof file of either statement (its header says which).
    pub async fn close_any(&self, file: &[u8]) -> Result<AcceptedClose, OperatorError> {
        let backend = self.close.as_ref().ok_or(OperatorError::NoVerifier)?;
        if backend.is_incremental(file) {
            self.close_incremental(file)
                .await
                .map(AcceptedClose::Incremental)
        } else {
            self.close(file).await.map(AcceptedClose::Full)
        }
    }

    /// Submit an incremental close proof file for its epoch (docs/DESIGN.md §8.2).
    pub async fn close_incremental(&self, file: &[u8]) -> Result<IncrementalInputs, OperatorError> {
        let backend = self.close.as_ref().ok_or(OperatorError::NoVerifier)?;
        let (inputs, proof) = backend
            .parse_incremental(file)
            .map_err(OperatorError::BadRequest)?;
        let mut inner = self.inner.lock().await;
        // The hub's own state after this epoch, from its snapshot: a proof of any other
        // new root is refused before the settlement layer sees it, so the leaves the hub
        // keeps are always the accepted ones.
        let snapshot = self
            .ledger
            .snapshot(inputs.epoch)
            .map_err(OperatorError::BadRequest)?;
        let closed = inner.closed().await?;
        let blind = self
            .blind_seed
            .as_ref()
            .map_or(Fe::from(0u64), |seed| volume_blind(seed, inputs.epoch));
        let (witness, next) = off_the_workers(|| closed.close(&snapshot, &blind))
            .map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        drop(snapshot);
        if next.root() != inputs.new_root {
            return Err(OperatorError::BadRequest(format!(
                "the proof's new root is not this hub's state after epoch {} (rebuilt from its snapshot)",
                inputs.epoch
            )));
        }
        self.check_volume(inputs.epoch, witness.volume, &inputs.volume_commitment)?;
        drop(witness);
        off_the_workers(|| {
            inner
                .settlement
                .submit_incremental_close(&inputs, &proof, backend.verifier())
        })?;
        inner.file.persist(&inner.settlement)?;
        let closed = inner.closed().await?;
        off_the_workers(|| closed.adopt(next));
        info!(
            epoch = inputs.epoch,
            touched = inputs.n,
            "incremental close accepted"
        );
        Ok(inputs)
    }

    /// The balance opening of `channel` in `epoch` (default: the latest cut): from the
    /// kept closed state if that epoch was closed incrementally, else from its snapshot.
    pub async fn opening(
        &self,
        channel: ChannelId,
        epoch: Option<Epoch>,
    ) -> Result<BalanceOpening, OperatorError> {
        let latest = {
            let inner = self.inner.lock().await;
            inner.settlement.latest_epoch()
        };
        let epoch = epoch
            .or(latest)
            .ok_or_else(|| OperatorError::BadRequest("no epoch has been cut".into()))?;
        {
            let mut inner = self.inner.lock().await;
            let incremental = inner
                .settlement
                .epoch(epoch)
                .and_then(|r| r.close.as_ref())
                .is_some_and(|c| c.kind == CloseKind::Incremental);
            if incremental {
                let closed = inner.closed().await?;
                return off_the_workers(|| closed.opening(channel, epoch))
                    .map_err(OperatorError::BadRequest);
            }
        }
        let snapshot = self.ledger.snapshot(epoch).map_err(OperatorError::Ledger)?;
        balance_opening(&snapshot, channel).map_err(|e| OperatorError::BadRequest(e.to_string()))
    }

    /// The operator's attestation of epoch `epoch`'s volume (docs/DESIGN.md §11): `V`
    /// from the hub's snapshots (the epoch's own for an incremental close, `Σ S` for a
    /// full one) and `rv` from its seed, checked against the `Cv` the settlement layer
    /// stored before it is handed out. For a regulator only: it reveals `V`.
    pub async fn attestation(&self, epoch: Epoch) -> Result<VolumeAttestation, OperatorError> {
        let seed = self.blind_seed.as_ref().ok_or_else(|| {
            OperatorError::BadRequest("this hub was started without its blind seed".into())
        })?;
        let settled = {
            let inner = self.inner.lock().await;
            SettledVolume::from_settlement(&inner.settlement, epoch)
        }
        .ok_or_else(|| {
            OperatorError::BadRequest(format!(
                "epoch {epoch} has no accepted close with a volume commitment"
            ))
        })?;
        let snapshot = self.ledger.snapshot(epoch).map_err(OperatorError::Ledger)?;
        let previous = match settled.kind {
            CloseKind::Incremental if epoch > 1 => Some(
                self.ledger
                    .snapshot(epoch - 1)
                    .map_err(OperatorError::Ledger)?,
            ),
            _ => None,
        };
        let volume = epoch_volume(settled.kind, &snapshot, previous.as_ref());
        let attestation =
            VolumeAttestation::from_seed(self.hub_id, epoch, settled.kind, volume, seed);
        attestation.verify(&settled).map_err(|e| {
            OperatorError::Ledger(format!(
                "the hub cannot open its own volume commitment: {e}"
            ))
        })?;
        Ok(attestation)
    }

    /// The settlement record fields of epoch `epoch`, if its close was accepted (what a
    /// disclosure is checked against; see `crate::disclosure`).
    pub async fn settled_epoch(&self, epoch: Epoch) -> Option<channel::disclosure::SettledEpoch> {
        let inner = self.inner.lock().await;
        channel::disclosure::SettledEpoch::from_settlement(&inner.settlement, epoch)
    }

    /// Pay an exiting channel its balance from the latest close: the hub opens its leaf
    /// from the epoch snapshot and submits the opening. Returns the amount paid.
    pub async fn withdraw(&self, id: ChannelId) -> Result<Amount, OperatorError> {
        let opening = self.opening(id, None).await?;
        let mut inner = self.inner.lock().await;
        let paid = inner.settlement.withdraw(id, &opening)?;
        self.commit(&inner, &[id]).await?;
        Ok(paid)
    }

    /// Advance the settlement layer's block height by `blocks`.
    pub async fn advance(&self, blocks: u64) -> Result<u64, OperatorError> {
        let mut inner = self.inner.lock().await;
        let height = inner
            .settlement
            .height()
            .checked_add(blocks)
            .ok_or_else(|| OperatorError::BadRequest("height overflows".into()))?;
        inner.settlement.advance(height)?;
        inner.file.persist(&inner.settlement)?;
        Ok(height)
    }

    /// A summary of the settlement layer.
    pub async fn summary(&self) -> SettlementSummary {
        let inner = self.inner.lock().await;
        let s = &inner.settlement;
        let latest = s.latest_epoch().unwrap_or(0);
        let epochs = (1..=latest)
            .filter_map(|e| s.epoch(e))
            .map(|r| EpochSummary {
                epoch: r.epoch,
                cut_height: r.cut.height,
                deadline: r.deadline,
                n: r.n,
                deposits_root: channel::field::fe_to_dec(&r.deposits_root),
                balances_root: r
                    .close
                    .as_ref()
                    .map(|c| channel::field::fe_to_dec(&c.balances_root)),
                close_kind: r.close.as_ref().map(|c| c.kind),
                volume_commitment: r
                    .close
                    .as_ref()
                    .and_then(|c| c.volume_commitment.as_ref())
                    .map(channel::field::fe_to_dec),
            })
            .collect();
        SettlementSummary {
            hub_id: self.hub_id,
            height: s.height(),
            bond: s.hub().map(|h| h.bond),
            channels: s.channel_count(),
            latest_epoch: s.latest_epoch(),
            last_accepted: s.last_accepted(),
            forced_exit: s.forced_exit().is_some(),
            totals: *s.totals(),
            epochs,
        }
    }

    /// The latest cut epoch (0: none).
    pub async fn latest_epoch(&self) -> Epoch {
        self.inner
            .lock()
            .await
            .settlement
            .latest_epoch()
            .unwrap_or(0)
    }

    /// A copy of the whole settlement state (for tests and tools).
    pub async fn settlement(&self) -> Settlement {
        self.inner.lock().await.settlement.clone()
    }
}
