//! The ledger invariants over a whole table, checked in one place (docs/DESIGN.md §4):
//! every committed balance `B = D + R − S ≥ 0`, and Σ R = Σ S (payments move money,
//! they never create or destroy it), hence Σ B = Σ D.
//!
//! [`Totals::check`] is the one check, used as a pair: on data about to be written
//! (an epoch snapshot, the reference [`super::Ledger`] after each batch) and on data
//! just read back (the hub's store after a load).

use crate::types::{ChannelId, NetAmount};

use super::state::ChannelRecord;

/// Sums over committed records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Number of channels.
    pub channels: u64,
    /// Σ D (net deposits; each may be negative, the sum may not).
    pub deposits: NetAmount,
    /// Σ S (spent).
    pub spent: u128,
    /// Σ R (received).
    pub received: u128,
    /// Σ B over the records whose balance is not negative.
    pub balances: u128,
    /// The lowest-numbered channel seen with `B < 0` (its balance is left out of
    /// `balances`), if any.
    pub overdrawn: Option<ChannelId>,
}

/// Which ledger invariant a table breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvariantError {
    /// A committed balance is negative (or does not fit `u64`).
    #[error("channel {0} has a negative balance")]
    Overdrawn(ChannelId),
    /// Payments created or destroyed money.
    #[error("Σ S = {spent} but Σ R = {received}")]
    SpentNotReceived {
        /// Σ S.
        spent: u128,
        /// Σ R.
        received: u128,
    },
    /// The balances do not add up to the net deposits.
    #[error("Σ B = {balances} but Σ D = {deposits}")]
    BalancesNotDeposits {
        /// Σ B.
        balances: u128,
        /// Σ D.
        deposits: NetAmount,
    },
}

impl Totals {
    /// The sums over `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a ChannelRecord>) -> Totals {
        let mut totals = Totals::default();
        for record in records {
            totals.add(record);
        }
        totals
    }

    /// Add one record to the sums.
    pub fn add(&mut self, record: &ChannelRecord) {
        self.channels += 1;
        self.deposits += record.deposit;
        self.spent += u128::from(record.spent);
        self.received += u128::from(record.received);
        match record.balance() {
            Some(balance) => self.balances += u128::from(balance),
            None => {
                let lowest = self.overdrawn.map_or(record.id, |id| id.min(record.id));
                self.overdrawn = Some(lowest);
            }
        }
    }

    /// The ledger invariants: `B ≥ 0` for every record, Σ R = Σ S, Σ B = Σ D.
    pub fn check(&self) -> Result<(), InvariantError> {
        if let Some(id) = self.overdrawn {
            return Err(InvariantError::Overdrawn(id));
        }
        if self.spent != self.received {
            return Err(InvariantError::SpentNotReceived {
                spent: self.spent,
                received: self.received,
            });
        }
        // Follows from the two above (Σ B = Σ D + Σ R − Σ S); checked anyway, since
        // it is the property the settlement layer relies on.
        if NetAmount::try_from(self.balances).ok() != Some(self.deposits) {
            return Err(InvariantError::BalancesNotDeposits {
                balances: self.balances,
                deposits: self.deposits,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PublicKey;
    use crate::field::Fe;

    fn record(id: ChannelId, deposit: u64, spent: u64, received: u64) -> ChannelRecord {
        let mut r = ChannelRecord::open(
            id,
            PublicKey::from_xy_unchecked(Fe::from(1u64), Fe::from(2u64)),
            deposit,
        );
        r.spent = spent;
        r.received = received;
        r
    }

    #[test]
    fn a_balanced_table_passes() {
        let t = Totals::of(&[record(1, 10, 4, 0), record(2, 5, 0, 4)]);
        assert_eq!(t.check(), Ok(()));
        assert_eq!((t.channels, t.deposits, t.balances), (2, 15, 15));
    }

    #[test]
    fn each_broken_invariant_is_named() {
        let t = Totals::of(&[record(3, 1, 5, 0), record(2, 1, 9, 0), record(1, 1, 0, 14)]);
        assert_eq!(t.check(), Err(InvariantError::Overdrawn(2)));
        let t = Totals::of(&[record(1, 10, 4, 0), record(2, 5, 0, 3)]);
        assert_eq!(
            t.check(),
            Err(InvariantError::SpentNotReceived {
                spent: 4,
                received: 3
            })
        );
    }
}
