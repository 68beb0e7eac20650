//! When each frame of a connection is meant to be sent.
//!
//! Latency is charged from these intended times (coordinated-omission correction), so
//! the schedule is the load's shape: as fast as acks allow, a steady stream spread
//! evenly over the connections, or *bursts*: a tipping site's fans, of whom only some
//! tip at any moment, each sending a few frames in quick succession and then waiting.

use std::time::{Duration, Instant};

use crate::config::{LoadConfig, Rate};

/// With bursts (`cfg.active` below `cfg.connections` and a rate): the time between
/// frames of a burst, and from one burst of a connection to its next (every connection
/// has had its turn after one period).
pub fn burst_cycle(cfg: &LoadConfig) -> Option<(Duration, Duration)> {
    let Rate::PerSecond(rate) = cfg.rate else {
        return None;
    };
    let active = cfg.active.filter(|&a| a < cfg.connections)?;
    let per_active = (rate as f64 / active as f64).max(1e-3);
    let interval = Duration::from_secs_f64(cfg.frame_len() as f64 / per_active);
    let duty = active as f64 / cfg.connections as f64;
    let period = interval.mul_f64(f64::from(cfg.burst_frames.max(1)) / duty);
    Some((interval, period))
}

/// One connection's send schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Send whenever the in-flight window has room (`--rate max`).
    AsAcked,
    /// Frame `k` at `start + k · interval`.
    Steady {
        /// First frame's time.
        start: Instant,
        /// Between frames.
        interval: Duration,
    },
    /// Bursts of `frames` frames `interval` apart, one burst every `period`:
    /// frame `k` at `start + (k / frames) · period + (k % frames) · interval`.
    Bursts {
        /// First frame's time.
        start: Instant,
        /// Between frames of a burst.
        interval: Duration,
        /// Frames per burst.
        frames: u32,
        /// From one burst's start to the next.
        period: Duration,
    },
}

impl Schedule {
    /// The schedule of connection `index` of a run that starts at `started`.
    ///
    /// Steady: each connection sends at `rate / connections`, staggered over one
    /// interval so that they do not send in lockstep. Bursts (`cfg.active` set): during
    /// a burst a connection sends at `rate / active`; the bursts are `active /
    /// connections` of the time and staggered over one period, so that about `active`
    /// connections are in a burst at any moment and the total stays `rate`.
    pub fn for_connection(cfg: &LoadConfig, index: usize, started: Instant) -> Schedule {
        let Rate::PerSecond(rate) = cfg.rate else {
            return Schedule::AsAcked;
        };
        let connections = cfg.connections as f64;
        let position = index as f64 / connections;
        if let Some((interval, period)) = burst_cycle(cfg) {
            return Schedule::Bursts {
                start: started + period.mul_f64(position),
                interval,
                frames: cfg.burst_frames.max(1),
                period,
            };
        }
        let per_connection = (rate as f64 / connections).max(1e-3);
        let interval = Duration::from_secs_f64(cfg.frame_len() as f64 / per_connection);
        Schedule::Steady {
            start: started + interval.mul_f64(position),
            interval,
        }
    }

    /// When frame `k` is due (`now` when sending as acks allow).
    pub fn send_time(&self, now: Instant, k: usize) -> Instant {
        match *self {
            Schedule::AsAcked => now,
            Schedule::Steady { start, interval } => start + interval.mul_f64(k as f64),
            Schedule::Bursts {
                start,
                interval,
                frames,
                period,
            } => {
                let frames = frames as usize;
                start + period.mul_f64((k / frames) as f64) + interval.mul_f64((k % frames) as f64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(connections: usize, active: Option<usize>, rate: u64) -> LoadConfig {
        LoadConfig {
            connections,
            active,
            burst_frames: 4,
            rate: Rate::PerSecond(rate),
            sign_every: 16,
            ..LoadConfig::default()
        }
    }

    /// Frames each connection sends per second, averaged over `secs`, and how many
    /// connections are inside a burst at time `at`.
    fn shape(c: &LoadConfig, at: Duration, secs: f64) -> (f64, usize) {
        let t0 = Instant::now();
        let mut frames = 0usize;
        let mut bursting = 0;
        for i in 0..c.connections {
            let s = Schedule::for_connection(c, i, t0);
            let end = t0 + Duration::from_secs_f64(secs);
            let mut k = 0;
            while s.send_time(t0, k) < end {
                k += 1;
            }
            frames += k;
            if let Schedule::Bursts {
                interval, frames, ..
            } = s
            {
                let burst = interval * frames;
                // In a burst at `at` if the burst holding the last frame due by then
                // started less than a burst's length ago.
                let due: Vec<Instant> = (0..k).map(|j| s.send_time(t0, j)).collect();
                if let Some(j) = due.iter().rposition(|t| *t <= t0 + at) {
                    let first = due[j - j % frames as usize];
                    bursting += usize::from(t0 + at < first + burst);
                }
            }
        }
        (frames as f64 * c.frame_len() as f64 / secs, bursting)
    }

    #[test]
    fn a_steady_schedule_sends_at_the_asked_rate() {
        let (rate, _) = shape(&cfg(100, None, 16_000), Duration::ZERO, 10.0);
        assert!((rate - 16_000.0).abs() < 16_000.0 * 0.02, "{rate}");
    }

    #[test]
    fn bursts_keep_the_rate_with_about_the_active_share_of_connections_tipping() {
        let c = cfg(1_000, Some(100), 16_000);
        let (rate, bursting) = shape(&c, Duration::from_secs(5), 10.0);
        assert!((rate - 16_000.0).abs() < 16_000.0 * 0.03, "{rate}");
        assert!(
            (90..=110).contains(&bursting),
            "{bursting} connections in a burst"
        );
        // Within a burst frames follow each other at the active rate: 16 vouchers at
        // 160 payments/s is 100 ms.
        let Schedule::Bursts {
            interval, period, ..
        } = Schedule::for_connection(&c, 0, Instant::now())
        else {
            panic!("a burst schedule");
        };
        assert_eq!(interval, Duration::from_millis(100));
        assert_eq!(period, Duration::from_secs(4));
    }
}
