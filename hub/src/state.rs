//! The hub's in-memory channel table: every channel's [`ChannelState`] in a sharded
//! concurrent map (`dashmap`), implementing [`ChannelTable`] so that the ledger's
//! batch application ([`channel::ledger::apply_batch`]) runs on it unchanged.
//!
//! Values are boxed: a `ChannelState` is about 280 bytes, and a hash table keeps
//! between 1× and 2.3× as many slots as entries (power-of-two capacity, 7/8 load
//! factor), so inline values would cost up to ~650 bytes per channel at unlucky
//! sizes (1,000,000 channels is one). Boxed, a slot is 16 bytes and the state lives
//! in one heap allocation: ~330 bytes per channel (docs/DESIGN.md §10: ≤ 512).
//!
//! Locking: a closure passed to [`Channels::with_channel`] runs under the write lock
//! of the channel's shard. It must not touch the table again (another channel may
//! live in the same shard: that would deadlock). [`Channels::admit`] shows the
//! pattern: look up what you need first, then lock.

pub use channel::ledger::Totals;
use channel::ledger::{
    Admit, AdmitContext, ChannelRecord, ChannelState, ChannelTable, Limits, VoucherError,
};
use channel::types::{ChannelId, HubId, VoucherIn};
use dashmap::DashMap;

/// The in-memory channel table (one entry per channel; channels are never removed).
#[derive(Debug, Default)]
pub struct Channels {
    map: DashMap<ChannelId, Box<ChannelState>>,
}

impl Channels {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table sized for `n` channels (used when loading).
    pub fn with_capacity(n: usize) -> Self {
        Channels {
            map: DashMap::with_capacity(n),
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether channel `id` exists.
    pub fn contains(&self, id: ChannelId) -> bool {
        self.map.contains_key(&id)
    }

    /// A copy of channel `id`'s committed record.
    pub fn record(&self, id: ChannelId) -> Option<ChannelRecord> {
        self.map.get(&id).map(|c| c.record.clone())
    }

    /// Run `f` on channel `id`'s state under its shard's read lock. `f` must not
    /// touch the table.
    pub fn with_channel_ref<R>(
        &self,
        id: ChannelId,
        f: impl FnOnce(&ChannelState) -> R,
    ) -> Option<R> {
        self.map.get(&id).map(|c| f(&c))
    }

    /// Admit voucher `v` on channel `payer` (see [`ChannelState::admit`]): checks
    /// the payee's existence first, then locks the payer. `None` if the payer does
    /// not exist.
    pub fn admit(
        &self,
        payer: ChannelId,
        v: &VoucherIn,
        hub_id: HubId,
        limits: Limits,
    ) -> Option<Result<Admit, VoucherError>> {
        // Channels are never removed, so a payee seen here still exists when the
        // payer's lock is taken; checking first avoids locking two shards at once.
        let payee_exists = self.contains(v.to);
        let exists = move |_: ChannelId| payee_exists;
        let ctx = AdmitContext {
            hub_id,
            limits,
            payee_exists: &exists,
        };
        self.map.get_mut(&payer).map(|mut c| c.admit(v, &ctx))
    }

    /// Every committed record, sorted by id (a consistent copy per shard, not a
    /// global snapshot: use the store's epoch snapshot for that).
    pub fn records(&self) -> Vec<ChannelRecord> {
        let mut out: Vec<ChannelRecord> = self.map.iter().map(|c| c.record.clone()).collect();
        out.sort_unstable_by_key(|r| r.id);
        out
    }

    /// Visit every channel's committed record, in no particular order.
    pub fn for_each_record(&self, mut f: impl FnMut(&ChannelRecord)) {
        for c in self.map.iter() {
            f(&c.record);
        }
    }

    /// Sums over committed records (check them with [`Totals::check`]).
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        self.for_each_record(|r| totals.add(r));
        totals
    }
}

impl ChannelTable for Channels {
    fn with_channel<R>(&self, id: ChannelId, f: impl FnOnce(&mut ChannelState) -> R) -> Option<R> {
        self.map.get_mut(&id).map(|mut c| f(&mut c))
    }

    fn insert_channel(&self, state: ChannelState) {
        self.map
            .entry(state.record.id)
            .or_insert_with(|| Box::new(state));
    }
}
