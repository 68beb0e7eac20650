//! How an epoch's slots are cut into chunks: `N = K · M` slots, `M` step instances of
//! `K` slots each, folded into one proof. The layout is a function of the channel count
//! alone, so the settlement layer derives the shape it expects from the epoch it closes
//! and refuses any other before reading a proof.
//!
//! `K` grows with `N` so that the per-step cost of reading the chunk table (`~15·M`
//! constraints, [`crate::step`]) stays small next to the `~5,050·K` of the slots, while
//! the verifier key (which holds the step's constraint matrices, `~3 MB` per slot of a
//! chunk) stays small: `K = 4` up to 1,024 slots, then 8, 16, 32.

use serde::{Deserialize, Serialize};

use crate::error::CloseError;

/// Largest slot count a layout is made for (the prover's practical limit is far lower;
/// this bounds what a hostile header can ask a verifier to consider).
pub const MAX_SLOTS: usize = 1 << 24;

/// Which statement a folded proof proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Statement {
    /// Every channel of the hub, with dense binary trees (docs/DESIGN.md §8).
    #[default]
    Full,
    /// Only the touched channels, as updates of the state tree (docs/DESIGN.md §8.2,
    /// [`crate::incremental`]).
    Incremental,
}

impl Statement {
    /// The byte that names it in key files.
    pub fn tag(self) -> u8 {
        match self {
            Statement::Full => 0,
            Statement::Incremental => 1,
        }
    }
}

/// The folded close's shape: which statement, slots per chunk (`K`) and chunks (`M`),
/// both powers of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    /// The statement proved.
    #[serde(default)]
    pub statement: Statement,
    /// `K`: slots per step instance.
    pub slots_per_chunk: usize,
    /// `M ≥ 2`: step instances (chunks).
    pub chunks: usize,
}

impl Layout {
    /// The full close's layout for `slots` slots (a power of two ≥ 2, at most
    /// [`MAX_SLOTS`]).
    pub fn for_slots(slots: usize) -> Result<Layout, CloseError> {
        check_slots(slots)?;
        let k_max = if slots <= 1024 {
            4
        } else if slots <= 4096 {
            8
        } else if slots <= 16384 {
            16
        } else {
            32
        };
        Ok(Layout::cut(Statement::Full, slots, k_max))
    }

    /// The layout of an epoch with `n` channels (`slot_count(n)` slots).
    pub fn for_channels(n: u64) -> Result<Layout, CloseError> {
        Layout::for_slots(slots_for(n)?)
    }

    /// The incremental close's layout for `slots` touched slots. A touched slot costs
    /// ~11,700 constraints (two 10-level state paths are half of it), so two of them
    /// fill a 2^15 step, four a 2^16 and eight a 2^17 one; `K` grows so that reading
    /// the table (`~9·M` constraints per step) stays small. `K = 2` holds up to 1,024
    /// slots (28,995 constraints at `M = 512`, under 2^15): a step half the size halves
    /// the verifier key and shortens verification (1M channels, 1,024 touched, against
    /// `K = 4`: cold verify 418 → 321 ms, warm 204 → 179 ms, prove 70.2 → 72.9 s).
    pub fn for_touched_slots(slots: usize) -> Result<Layout, CloseError> {
        check_slots(slots)?;
        let k_max = if slots <= 1024 {
            2
        } else if slots <= 2048 {
            4
        } else {
            8
        };
        Ok(Layout::cut(Statement::Incremental, slots, k_max))
    }

    /// The layout of an incremental close touching `n` channels.
    pub fn for_touched(n: u64) -> Result<Layout, CloseError> {
        Layout::for_touched_slots(slots_for(n)?)
    }

    fn cut(statement: Statement, slots: usize, k_max: usize) -> Layout {
        let k = k_max.min(slots / 2);
        Layout {
            statement,
            slots_per_chunk: k,
            chunks: slots / k,
        }
    }

    /// `N = K · M`.
    pub fn slots(&self) -> usize {
        self.slots_per_chunk * self.chunks
    }

    /// Whether this is the layout [`Layout::for_slots`] gives for its slot count (a
    /// file's header must name exactly that one).
    pub fn is_canonical(&self) -> bool {
        let make = match self.statement {
            Statement::Full => Layout::for_slots,
            Statement::Incremental => Layout::for_touched_slots,
        };
        self.slots_per_chunk
            .checked_mul(self.chunks)
            .and_then(|n| make(n).ok())
            == Some(*self)
    }
}

fn check_slots(slots: usize) -> Result<(), CloseError> {
    if !(2..=MAX_SLOTS).contains(&slots) || !slots.is_power_of_two() {
        return Err(CloseError::TooManySlots(slots));
    }
    Ok(())
}

/// `slot_count(n)` for `n` channels, bounded by [`MAX_SLOTS`].
fn slots_for(n: u64) -> Result<usize, CloseError> {
    let n = usize::try_from(n).map_err(|_| CloseError::TooManySlots(usize::MAX))?;
    if n > MAX_SLOTS {
        return Err(CloseError::TooManySlots(n));
    }
    Ok(channel::statement::slot_count(n))
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.statement {
            Statement::Full => "",
            Statement::Incremental => "touched ",
        };
        write!(
            f,
            "{} {kind}slots ({} chunks of {})",
            self.slots(),
            self.chunks,
            self.slots_per_chunk
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_cover_every_size_with_at_least_two_chunks() {
        let mut n = 2;
        while n <= MAX_SLOTS {
            let l = Layout::for_slots(n).unwrap();
            assert_eq!(l.slots(), n);
            assert!(l.chunks >= 2 && l.chunks.is_power_of_two());
            assert!(l.slots_per_chunk.is_power_of_two());
            assert!(l.is_canonical());
            n *= 2;
        }
        assert_eq!(
            Layout::for_slots(1024).unwrap(),
            Layout {
                statement: Statement::Full,
                slots_per_chunk: 4,
                chunks: 256
            }
        );
        assert_eq!(Layout::for_channels(3).unwrap().slots(), 4);
        assert_eq!(Layout::for_channels(0).unwrap().slots(), 2);
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in [0, 1, 3, 6, MAX_SLOTS * 2] {
            assert!(Layout::for_slots(bad).is_err(), "{bad}");
        }
        assert!(Layout::for_channels(u64::MAX).is_err());
        let odd = Layout {
            statement: Statement::Full,
            slots_per_chunk: 2,
            chunks: 512,
        };
        assert!(!odd.is_canonical());
    }
}
