//! Epoch cuts and close submission.

use crate::field::fe_to_dec;
use crate::incremental::{IncrementalInputs, deposits_hash};
use crate::merkle::root_with_size;
use crate::state_tree::empty_root;
use crate::statement::{PublicInputs, deposit_leaf, slot_count};
use crate::types::Epoch;

use super::{
    AcceptedClose, CloseKind, CloseVerifier, EpochRecord, InputField, Settlement, SettlementError,
};

impl Settlement {
    /// Cut epoch `epoch` at the current height: record the registry (every channel's
    /// net deposit), `n` and `deposits_root`, and a close deadline. Epochs go `1, 2, …`;
    /// epoch `e + 1` needs close `e` accepted. Returns the record.
    pub fn cut_epoch(&mut self, epoch: Epoch) -> Result<&EpochRecord, SettlementError> {
        self.require_live()?;
        let expected = self.latest_epoch().map_or(1, |e| e + 1);
        if epoch != expected {
            return Err(SettlementError::EpochOutOfOrder {
                expected,
                got: epoch,
            });
        }
        if let Some(previous) = self.epochs.get(&(epoch - 1))
            && previous.close.is_none()
        {
            return Err(SettlementError::CloseNotAccepted(previous.epoch));
        }
        let deadline = self
            .height
            .checked_add(self.params.close_window)
            .ok_or(SettlementError::Overflow)?;
        let registry: Vec<i128> = self.channels.iter().map(|c| c.net_deposit).collect();
        let leaves: Vec<_> = self
            .channels
            .iter()
            .map(|c| deposit_leaf(c.id, &c.pk, c.net_deposit))
            .collect();
        let deposits_root = root_with_size(&leaves, slot_count(leaves.len()))?;
        let previous = self
            .epochs
            .get(&(epoch - 1))
            .map_or(&[][..], |r| r.registry.as_slice());
        let deposits_hash = deposits_hash(
            self.channels.iter().map(|c| (c.id, &c.pk, c.net_deposit)),
            |id| previous.get((id as usize).checked_sub(1)?).copied(),
        );
        let cut = self.stamp();
        // Only the latest accepted close's registry is needed from now on (forced exit).
        for old in self.epochs.values_mut() {
            if old.epoch + 1 < epoch {
                old.registry = Vec::new();
            }
        }
        let record = EpochRecord {
            epoch,
            cut,
            deadline,
            events_through: self.events.len() as u64,
            n: registry.len() as u64,
            deposits_root,
            deposits_hash: Some(deposits_hash),
            registry,
            close: None,
        };
        self.epochs.insert(epoch, record);
        self.assert_value_invariant();
        Ok(&self.epochs[&epoch])
    }

    /// Submit the close of a cut epoch: accepted iff `hub_id`, `epoch`, `n` and
    /// `deposits_root` equal the registry's record of the cut, the deadline has not
    /// passed, and `verifier` accepts the proof. Then `balances_root` is stored, with
    /// the volume commitment (which the layer cannot check: it is hidden).
    pub fn submit_close(
        &mut self,
        inputs: &PublicInputs,
        proof: &[u8],
        verifier: &dyn CloseVerifier,
    ) -> Result<(), SettlementError> {
        let record = self.open_record(inputs.hub_id, inputs.epoch)?;
        debug_assert!(
            self.height <= record.deadline,
            "a missed deadline means forced exit"
        );
        if inputs.n != record.n {
            return Err(SettlementError::mismatch_u64(
                InputField::N,
                record.n,
                inputs.n,
            ));
        }
        if inputs.deposits_root != record.deposits_root {
            return Err(SettlementError::InputMismatch {
                field: InputField::DepositsRoot,
                expected: fe_to_dec(&record.deposits_root),
                got: fe_to_dec(&inputs.deposits_root),
            });
        }
        verifier
            .verify(inputs, proof)
            .map_err(SettlementError::ProofRejected)?;
        let accepted = self.stamp();
        let record = self.epochs.get_mut(&inputs.epoch).expect("looked up above");
        record.close = Some(AcceptedClose {
            balances_root: inputs.balances_root,
            kind: CloseKind::Full,
            volume_commitment: Some(inputs.volume_commitment),
            accepted,
        });
        self.assert_value_invariant();
        Ok(())
    }

    /// Submit the incremental close of a cut epoch (docs/DESIGN.md §8.2): accepted iff
    /// `hub_id` and `epoch` are a cut epoch's with no close yet, `n` is at most its
    /// channels, `prev_root` is the state root of the previous epoch's incremental close
    /// (the empty tree's for epoch 1: the chain of state roots starts with the hub),
    /// `deposits_hash` is the one recorded at the cut, and `verifier` accepts the
    /// proof. Then the new state root is stored for openings, with the volume commitment.
    pub fn submit_incremental_close(
        &mut self,
        inputs: &IncrementalInputs,
        proof: &[u8],
        verifier: &dyn CloseVerifier,
    ) -> Result<(), SettlementError> {
        let record = self.open_record(inputs.hub_id, inputs.epoch)?;
        if inputs.n > record.n {
            return Err(SettlementError::mismatch_u64(
                InputField::N,
                record.n,
                inputs.n,
            ));
        }
        let recorded = record
            .deposits_hash
            .ok_or(SettlementError::NoDepositsHash(inputs.epoch))?;
        let prev_root = match self.epochs.get(&(inputs.epoch - 1)) {
            None => empty_root(),
            Some(previous) => match &previous.close {
                Some(close) if close.kind == CloseKind::Incremental => close.balances_root,
                _ => return Err(SettlementError::NoStateRoot(previous.epoch)),
            },
        };
        for (field, expected, got) in [
            (InputField::PrevRoot, prev_root, inputs.prev_root),
            (InputField::DepositsHash, recorded, inputs.deposits_hash),
        ] {
            if expected != got {
                return Err(SettlementError::InputMismatch {
                    field,
                    expected: fe_to_dec(&expected),
                    got: fe_to_dec(&got),
                });
            }
        }
        verifier
            .verify_incremental(inputs, proof)
            .map_err(SettlementError::ProofRejected)?;
        let accepted = self.stamp();
        let record = self.epochs.get_mut(&inputs.epoch).expect("looked up above");
        record.close = Some(AcceptedClose {
            balances_root: inputs.new_root,
            kind: CloseKind::Incremental,
            volume_commitment: Some(inputs.volume_commitment),
            accepted,
        });
        self.assert_value_invariant();
        Ok(())
    }
}

impl Settlement {
    /// The record of a cut epoch of this (live) hub that has no accepted close yet: what
    /// a close may be submitted for.
    fn open_record(&self, hub_id: u64, epoch: Epoch) -> Result<&EpochRecord, SettlementError> {
        let registered = self.require_live()?.hub_id;
        if hub_id != registered {
            return Err(SettlementError::mismatch_u64(
                InputField::HubId,
                registered,
                hub_id,
            ));
        }
        let record = self.epochs.get(&epoch).ok_or_else(|| {
            SettlementError::mismatch_u64(
                InputField::Epoch,
                self.latest_epoch().unwrap_or(0),
                epoch,
            )
        })?;
        if record.close.is_some() {
            return Err(SettlementError::CloseAlreadyAccepted(epoch));
        }
        Ok(record)
    }
}

impl From<crate::merkle::MerkleError> for SettlementError {
    fn from(_: crate::merkle::MerkleError) -> Self {
        // Channel ids are u32, so the registry always fits a tree of MAX_DEPTH.
        SettlementError::Overflow
    }
}
