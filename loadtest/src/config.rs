//! Load run configuration.

use std::time::Duration;

use channel::Amount;
use serde::Serialize;

/// Target send rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Rate {
    /// As fast as the hub acknowledges (bounded by the in-flight window).
    Max,
    /// Payments per second in total, spread evenly over the connections.
    PerSecond(u64),
}

impl std::str::FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<u64>() {
            Ok(0) | Err(_) => Err(format!(
                "rate must be 'max' or a positive integer, got '{s}'"
            )),
            Ok(n) => Ok(Rate::PerSecond(n)),
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadConfig {
    /// Hub WebSocket URL, e.g. `ws://127.0.0.1:8080/v1`.
    pub url: String,
    /// Paying connections (one channel each).
    pub connections: usize,
    /// Connections tipping at any moment (bursts, see [`crate::schedule`]); `None`:
    /// every connection sends all the time. Needs a rate.
    pub active: Option<usize>,
    /// Frames per burst when `active` is set.
    pub burst_frames: u32,
    /// Receiving channels (creators); payers pay them round-robin.
    pub payees: usize,
    /// Total payments to send (upper bound).
    pub payments: u64,
    /// Send rate.
    pub rate: Rate,
    /// Longest time to send for; the run also ends when every payment is acked.
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Sign every k-th voucher (1: every voucher). The last voucher of every frame and
    /// of every channel is signed too, so each frame is covered by a checkpoint.
    pub sign_every: u32,
    /// Vouchers per binary frame (0: `sign_every`, at least 16 when every voucher is signed).
    pub frame_vouchers: usize,
    /// Most unacked vouchers per connection.
    pub window: usize,
    /// Amount of each payment.
    pub amount: Amount,
    /// Deposit each payer holds beyond what its payments need (so it keeps a balance).
    pub extra_deposit: Amount,
    /// Seed for deterministic keys.
    pub seed: u64,
    /// How long to wait for outstanding acks after sending stops.
    #[serde(with = "secs")]
    pub drain_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            url: "ws://127.0.0.1:8080/v1".into(),
            connections: 100,
            active: None,
            burst_frames: 4,
            payees: 10,
            payments: 1_000_000,
            rate: Rate::Max,
            duration: Duration::from_secs(30),
            sign_every: 64,
            frame_vouchers: 0,
            window: 8192,
            amount: 1,
            extra_deposit: 0,
            seed: 1,
            drain_timeout: Duration::from_secs(15),
        }
    }
}

impl LoadConfig {
    /// Vouchers per frame after defaults are applied.
    pub fn frame_len(&self) -> usize {
        let n = if self.frame_vouchers > 0 {
            self.frame_vouchers
        } else if self.sign_every <= 1 {
            16
        } else {
            self.sign_every as usize
        };
        n.clamp(1, 4096)
    }

    /// Payments each connection sends.
    pub fn payments_per_connection(&self) -> u64 {
        self.payments.div_ceil(self.connections.max(1) as u64)
    }

    /// Check the configuration.
    pub fn validate(&self) -> Result<(), crate::LoadError> {
        let bad = |m: &str| Err(crate::LoadError::Config(m.to_string()));
        if self.connections == 0 || self.connections > 100_000 {
            return bad("connections must be 1..=100000");
        }
        if let Some(active) = self.active {
            if active == 0 || active > self.connections {
                return bad("active must be 1..=connections");
            }
            if self.rate == Rate::Max {
                return bad("bursts (active) need a rate, not max");
            }
        }
        if self.burst_frames == 0 {
            return bad("burst-frames must be at least 1");
        }
        if self.payees == 0 {
            return bad("payees must be at least 1");
        }
        if self.payments == 0 || self.payments > 100_000_000 {
            return bad("payments must be 1..=100000000");
        }
        if self.sign_every == 0 {
            return bad("sign-every must be at least 1");
        }
        if self.amount == 0 {
            return bad("amount must be positive");
        }
        if self.window < self.frame_len() {
            return bad("window must hold at least one frame");
        }
        if self.duration.is_zero() {
            return bad("duration must be positive");
        }
        Ok(())
    }
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}
