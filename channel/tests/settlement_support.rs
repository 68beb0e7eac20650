//! Shared scaffolding for the settlement tests (included by `#[path]`): a settlement
//! layer, a hub ledger that mirrors its events through the real batch path, signed
//! payments, epoch snapshots, and close verifiers.
#![allow(dead_code)]

use channel::crypto::{PrivateKey, PublicKey, chain_next};
use channel::field::Fe;
use channel::incremental::{ClosedState, IncrementalInputs, IncrementalWitness};
use channel::ledger::{Batch, Debit, Ledger, Snapshot, apply_batch};
use channel::settlement::{CloseVerifier, Params, Receipt, Settlement, exit_message};
use channel::statement::{BalanceOpening, CloseWitness, PublicInputs, balance_opening};
use channel::types::{Amount, ChannelId, Epoch, HubId, receipt_message, voucher_message};

pub const HUB_ID: HubId = 7;
pub const BOND: Amount = 1_000_000;
pub const PARAMS: Params = Params {
    close_window: 10,
    dispute_window: 10,
    answer_window: 5,
};

/// Accepts every proof.
pub struct AcceptAll;
impl CloseVerifier for AcceptAll {
    fn verify(&self, _: &PublicInputs, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Rejects every proof.
pub struct RejectAll;
impl CloseVerifier for RejectAll {
    fn verify(&self, _: &PublicInputs, _: &[u8]) -> Result<(), String> {
        Err("bad proof".into())
    }
}

/// Accepts only a proof equal to the inputs' JSON: catches a verifier handed other inputs.
pub struct ProofIsInputs;
impl CloseVerifier for ProofIsInputs {
    fn verify(&self, inputs: &PublicInputs, proof: &[u8]) -> Result<(), String> {
        (serde_json::to_vec(inputs).unwrap() == proof)
            .then_some(())
            .ok_or_else(|| "proof does not match inputs".into())
    }

    fn verify_incremental(&self, inputs: &IncrementalInputs, proof: &[u8]) -> Result<(), String> {
        (serde_json::to_vec(inputs).unwrap() == proof)
            .then_some(())
            .ok_or_else(|| "proof does not match inputs".into())
    }
}

pub fn key(i: u8) -> PrivateKey {
    PrivateKey::from_bytes([i; 32])
}

/// The settlement layer, the hub's key and ledger, and the channel owners' keys.
pub struct World {
    pub chain: Settlement,
    pub hub_key: PrivateKey,
    pub ledger: Ledger,
    pub keys: Vec<PrivateKey>,
    /// Last settlement event the ledger mirrored.
    pub mirrored: u64,
    batch_number: u64,
    pub blind_seed: Fe,
}

impl World {
    /// A registered hub and one channel per deposit (ids 1, 2, …), mirrored.
    pub fn new(deposits: &[Amount]) -> World {
        let hub_key = key(200);
        let mut chain = Settlement::new(PARAMS);
        chain.register_hub(HUB_ID, hub_key.public(), BOND).unwrap();
        let mut w = World {
            chain,
            hub_key,
            ledger: Ledger::new(),
            keys: Vec::new(),
            mirrored: 0,
            batch_number: 0,
            blind_seed: Fe::from(424242u64),
        };
        for &d in deposits {
            w.open(d);
        }
        w.mirror();
        w
    }

    pub fn open(&mut self, deposit: Amount) -> ChannelId {
        let k = key(self.keys.len() as u8 + 1);
        let id = self.chain.deposit(k.public(), deposit).unwrap();
        assert_eq!(id as usize, self.keys.len() + 1, "ids are assigned 1, 2, …");
        self.keys.push(k);
        self.chain.check_invariants();
        id
    }

    pub fn pk(&self, id: ChannelId) -> PublicKey {
        self.keys[id as usize - 1].public()
    }

    /// Apply the settlement events the ledger has not seen, as one batch.
    pub fn mirror(&mut self) {
        let events: Vec<_> = self
            .chain
            .events_since(self.mirrored)
            .iter()
            .map(|e| e.event.clone())
            .collect();
        if let Some(last) = self.chain.events_since(self.mirrored).last() {
            self.mirrored = last.seq;
        }
        self.commit(Batch {
            number: 0,
            events,
            debits: vec![],
            credits: vec![],
        });
    }

    fn commit(&mut self, mut batch: Batch) {
        self.batch_number += 1;
        batch.number = self.batch_number;
        apply_batch(&self.ledger, &batch).expect("a mirrored batch applies");
        self.ledger.totals();
    }

    /// `from` pays `to` `amount` with a signed checkpoint, committed through a batch.
    pub fn pay(&mut self, from: ChannelId, to: ChannelId, amount: Amount) {
        let rec = self
            .ledger
            .records()
            .into_iter()
            .find(|r| r.id == from)
            .unwrap();
        let seq = rec.seq + 1;
        let spent = rec.spent + amount;
        assert!(rec.balance().unwrap() >= amount, "test pays within balance");
        let chain = chain_next(&rec.chain, seq, to, amount);
        let sig = self.keys[from as usize - 1]
            .sign(&voucher_message(HUB_ID, from, seq, spent, &chain))
            .pack();
        self.commit(Batch {
            number: 0,
            events: vec![],
            debits: vec![Debit {
                channel: from,
                seq,
                spent,
                chain,
                sig,
            }],
            credits: vec![(to, amount)],
        });
    }

    /// The hub's volume blind of `epoch` (from its blind seed, as the hub derives it).
    pub fn volume_blind(&self, epoch: Epoch) -> Fe {
        channel::volume::volume_blind(&self.blind_seed, epoch)
    }

    pub fn snapshot(&self, epoch: Epoch) -> Snapshot {
        Snapshot::new(HUB_ID, epoch, self.ledger.records(), &self.blind_seed)
    }

    /// Cut `epoch`, snapshot the mirrored ledger, check it against the cut, and
    /// submit its close with `verifier`. Returns the snapshot.
    pub fn cut_and_close(&mut self, epoch: Epoch) -> Snapshot {
        self.mirror();
        let through = self.chain.cut_epoch(epoch).unwrap().events_through;
        assert_eq!(
            through, self.mirrored,
            "the snapshot holds exactly the events before the cut"
        );
        let snap = self.snapshot(epoch);
        let witness = CloseWitness::from_snapshot(&snap, &self.volume_blind(epoch)).unwrap();
        witness.verify_signatures().unwrap();
        assert_eq!(
            Some(witness.public.deposits_root),
            self.chain.registry_deposits_root(epoch),
            "the hub's snapshot matches the registry at the cut"
        );
        let proof = serde_json::to_vec(&witness.public).unwrap();
        self.chain
            .submit_close(&witness.public, &proof, &ProofIsInputs)
            .unwrap();
        self.chain.check_invariants();
        snap
    }

    /// Cut `epoch` and submit its incremental close from `state` (the closed state of
    /// the epoch before), checking the witness builder's deposits hash against the
    /// layer's record; `state` becomes the new closed state. Returns the witness.
    pub fn cut_and_close_incremental(
        &mut self,
        epoch: Epoch,
        state: &mut ClosedState,
    ) -> IncrementalWitness {
        self.mirror();
        self.chain.cut_epoch(epoch).unwrap();
        let snap = self.snapshot(epoch);
        let (witness, next) = state.close(&snap, &self.volume_blind(epoch)).unwrap();
        assert_eq!(
            witness.inputs.deposits_hash,
            self.chain.epoch(epoch).unwrap().deposits_hash.unwrap(),
            "the hub's deposits hash is the layer's"
        );
        let proof = serde_json::to_vec(&witness.inputs).unwrap();
        self.chain
            .submit_incremental_close(&witness.inputs, &proof, &ProofIsInputs)
            .unwrap();
        self.chain.check_invariants();
        *state = next;
        witness
    }

    pub fn exit_sig(&self, id: ChannelId) -> channel::crypto::Signature {
        self.keys[id as usize - 1].sign(&exit_message(HUB_ID, id))
    }

    pub fn receipt(&self, epoch: Epoch, channel: ChannelId, received: Amount) -> Receipt {
        Receipt {
            epoch,
            channel,
            received,
            sig: self
                .hub_key
                .sign(&receipt_message(HUB_ID, epoch, channel, received)),
        }
    }

    pub fn opening(&self, snap: &Snapshot, id: ChannelId) -> BalanceOpening {
        let o = balance_opening(snap, id).unwrap();
        let root = self
            .chain
            .epoch(snap.epoch)
            .and_then(|r| r.close.as_ref())
            .map(|c| c.balances_root);
        if let Some(root) = root {
            assert!(o.verify(&root), "a channel can check its opening itself");
        }
        o
    }

    pub fn bond(&self) -> Amount {
        self.chain.hub().unwrap().bond
    }
}
