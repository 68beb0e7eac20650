//! Shared scaffolding of the stable-Rust fuzzers (`channel/tests/fuzz_*.rs`): a byte
//! tape that actions and mutations are decoded from (libFuzzer style, so proptest
//! shrinks the bytes), and a bounded proptest runner that prints its seed, the
//! number of executions and the rate.
//!
//! Environment: `ZKHUB_FUZZ_CASES` (executions per target; default a few seconds'
//! worth), `ZKHUB_FUZZ_SEED` (reproduce a run; the seed is printed).
#![allow(dead_code)]

use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// Reads integers from fuzzer-chosen bytes; an exhausted tape reads zeros.
pub struct Tape<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Tape<'a> {
    /// A tape over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Tape { data, pos: 0 }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 when exhausted).
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// The next `N` bytes, big-endian.
    fn be<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.u8())
    }

    /// A u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.be())
    }

    /// A u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.be())
    }

    /// A u64.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.be())
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0);
        if n <= 256 {
            self.u8() as usize % n
        } else {
            self.u32() as usize % n
        }
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        let span = hi - lo;
        if span == u64::MAX {
            return self.u64();
        }
        lo + if span < 256 {
            u64::from(self.u8()) % (span + 1)
        } else {
            self.u64() % (span + 1)
        }
    }

    /// A boolean that is true one time in `n`.
    pub fn one_in(&mut self, n: u8) -> bool {
        self.u8().is_multiple_of(n)
    }
}

/// Executions for a target: `ZKHUB_FUZZ_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("ZKHUB_FUZZ_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// The run's seed: `ZKHUB_FUZZ_SEED`, else random.
pub fn seed() -> u64 {
    std::env::var("ZKHUB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(rand::random)
}

/// Run `check` on `cases(default_cases)` values of `strategy`; print the seed, the
/// executions and their rate; on a failure, shrink and panic with the minimal input
/// and the seed that reproduces it.
pub fn fuzz<S, F>(name: &str, default_cases: u32, strategy: S, check: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value),
{
    let n = cases(default_cases);
    let seed = seed();
    let mut runner = TestRunner::new(Config {
        cases: n,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 4096,
        ..Config::default()
    });
    // While shrinking, every failing candidate panics: keep this thread's panics
    // quiet (the minimal one is reported below); other threads' go to the old hook.
    let previous: std::sync::Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
        std::panic::take_hook().into();
    let me = std::thread::current().id();
    let forward = std::sync::Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            forward(info)
        }
    }));
    let start = Instant::now();
    let result = runner.run(&strategy, |value| {
        check(value);
        Ok::<(), TestCaseError>(())
    });
    let elapsed = start.elapsed();
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    match result {
        Ok(()) => println!(
            "fuzz {name}: {n} executions in {:.2} s ({:.0}/s), seed {seed} (ZKHUB_FUZZ_SEED)",
            elapsed.as_secs_f64(),
            f64::from(n) / elapsed.as_secs_f64().max(1e-9)
        ),
        Err(TestError::Fail(reason, value)) => panic!(
            "fuzz {name} FAILED (seed {seed}; rerun with ZKHUB_FUZZ_SEED={seed} ZKHUB_FUZZ_CASES={n}): \
             {reason}\nminimal failing input: {value:?}"
        ),
        Err(e) => panic!("fuzz {name}: {e} (seed {seed})"),
    }
}
