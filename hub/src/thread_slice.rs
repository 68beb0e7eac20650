//! Short scheduler slices for the threads on a payment's way to its ack.
//!
//! A payment is acked after four hand-offs between threads: an I/O thread reads and
//! admits it, a verifier thread checks its checkpoint, the writer commits it, an I/O
//! thread writes the ack. Each of them wakes, works for tens to a few hundred
//! microseconds and sleeps again. Linux's EEVDF scheduler (6.6 on) runs the eligible
//! thread with the earliest *virtual deadline*, one slice after the thread became
//! eligible, and lets the running thread finish its slice before a newly woken one
//! with the same slice takes the core. With the default slice (1.4 ms on this
//! project's 2-core test machine) every hand-off on a busy machine could wait up to
//! a slice of whatever else ran (other hub threads, the load generator, other
//! tenants), and four hand-offs made the tail of the ack latency.
//!
//! Since Linux 6.12 a thread can ask for its own slice (`sched_setattr(2)` with
//! `sched_runtime` on a `SCHED_OTHER` thread, clamped by the kernel to 0.1–100 ms, no
//! privilege needed). A short slice moves the thread's deadline earlier, so it runs
//! sooner after it wakes, and it is preempted sooner when it runs long; its share of
//! the CPU (its weight, from the nice value) is unchanged. docs/PROFILE.md has the
//! measurements. On older kernels the request is accepted and ignored
//! ([`Outcome::Ignored`]); elsewhere than Linux it is [`SliceError::Unsupported`].
//! Either way the hub runs as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Shortest slice the kernel grants (it clamps shorter requests up to this).
pub const MIN: Duration = Duration::from_micros(100);

/// The slice the hub's threads ask for by default: the shortest the kernel grants.
pub const DEFAULT: Duration = MIN;

/// Longest slice the kernel grants.
pub const MAX: Duration = Duration::from_millis(100);

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel reports the thread's slice as this (the request clamped to
    /// [`MIN`]..=[`MAX`]).
    Set(Duration),
    /// The kernel accepted the request but does not keep a slice per thread (Linux
    /// before 6.12): nothing changed.
    Ignored,
    /// The thread runs under a real-time or deadline policy, where a fair slice
    /// means nothing; left as it is.
    NotFair,
}

/// Why a slice could not be requested.
#[derive(Debug, thiserror::Error)]
pub enum SliceError {
    /// Not Linux.
    #[error("per-thread scheduler slices are a Linux feature")]
    Unsupported,
    /// `sched_getattr` or `sched_setattr` failed.
    #[error("the kernel refused the scheduler slice: {0}")]
    Refused(#[source] std::io::Error),
}

/// Ask the kernel to schedule the calling thread with `slice` (clamped to
/// [`MIN`]..=[`MAX`]), keeping its policy and nice value.
pub fn request(slice: Duration) -> Result<Outcome, SliceError> {
    imp::request(slice.clamp(MIN, MAX))
}

/// The calling thread's slice as the kernel reports it (`None` before Linux 6.12,
/// for a real-time thread, or elsewhere than Linux).
pub fn current() -> Option<Duration> {
    imp::current(0)
}

/// The slice of thread `tid` (a Linux thread id, of this or another process the caller
/// may inspect), as [`current`].
pub fn of_thread(tid: i32) -> Option<Duration> {
    imp::current(tid)
}

/// Whether the running kernel keeps a slice per thread (Linux 6.12 or later), from
/// its release (`/proc/sys/kernel/osrelease`); without it a request is
/// [`Outcome::Ignored`].
pub fn kernel_keeps_slices() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    cfg!(target_os = "linux") && (next(), next()) >= (6, 12)
}

/// Request `slice` for the calling thread, named `thread` in the log, if `slice` is
/// set. The first outcome in the process is logged at `info` (a refusal at `warn`),
/// later ones at `debug`: the hub runs either way.
pub fn apply(slice: Option<Duration>, thread: &str) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    let Some(slice) = slice else { return };
    let first = !LOGGED.swap(true, Ordering::Relaxed);
    match request(slice) {
        Ok(Outcome::Set(set)) if first => tracing::info!(
            thread,
            slice_us = set.as_micros() as u64,
            "threads on the ack path ask the scheduler for a short slice"
        ),
        Ok(Outcome::Ignored) if first => tracing::info!(
            thread,
            "scheduler slice not changed (per-thread slices need Linux 6.12 or later)"
        ),
        Ok(Outcome::NotFair) if first => tracing::info!(
            thread,
            "scheduler slice not changed (the thread runs under a real-time policy)"
        ),
        Err(e) if first => tracing::warn!(thread, error = %e, "scheduler slice not changed"),
        outcome => tracing::debug!(thread, ?outcome, "scheduler slice"),
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use super::{Outcome, SliceError};

    /// `struct sched_attr` of `sched_setattr(2)` (`SCHED_ATTR_SIZE_VER1`, 56 bytes);
    /// the `libc` crate does not define it.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }

    const SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
    const _: () = assert!(SIZE == 56);

    fn fair(policy: u32) -> bool {
        policy == libc::SCHED_OTHER as u32 || policy == libc::SCHED_BATCH as u32
    }

    fn get(tid: i32) -> std::io::Result<SchedAttr> {
        let mut attr = SchedAttr::default();
        // SAFETY: `attr` is a writable `sched_attr` of the size passed; the kernel
        // writes at most that many bytes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                tid,
                &mut attr as *mut SchedAttr,
                SIZE,
                0u32,
            )
        };
        if r == 0 {
            Ok(attr)
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    pub(super) fn request(slice: Duration) -> Result<Outcome, SliceError> {
        // Read first: `sched_setattr` sets the policy and nice value too, and an
        // operator's `nice` must survive (lowering it back would need privilege).
        let mut attr = get(0).map_err(SliceError::Refused)?;
        if !fair(attr.policy) {
            return Ok(Outcome::NotFair);
        }
        attr.size = SIZE;
        attr.flags = 0;
        attr.runtime = slice.as_nanos() as u64;
        // SAFETY: `attr` is a valid, initialised `sched_attr` of the size it states.
        let r =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
        if r != 0 {
            return Err(SliceError::Refused(std::io::Error::last_os_error()));
        }
        Ok(match current(0) {
            Some(set) if set == slice => Outcome::Set(set),
            _ => Outcome::Ignored,
        })
    }

    pub(super) fn current(tid: i32) -> Option<Duration> {
        let attr = get(tid).ok()?;
        (fair(attr.policy) && attr.runtime > 0).then(|| Duration::from_nanos(attr.runtime))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::time::Duration;

    use super::{Outcome, SliceError};

    pub(super) fn request(_slice: Duration) -> Result<Outcome, SliceError> {
        Err(SliceError::Unsupported)
    }

    pub(super) fn current(_tid: i32) -> Option<Duration> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Run `f` on a fresh thread, so that the test harness's threads keep their slice.
    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().expect("test thread")
    }

    #[test]
    fn a_thread_gets_the_slice_it_asks_for_and_the_kernel_reports_it() {
        let (outcome, now) = on_thread(|| (request(Duration::from_micros(250)), current()));
        if kernel_keeps_slices() {
            assert_eq!(outcome.ok(), Some(Outcome::Set(Duration::from_micros(250))));
            assert_eq!(now, Some(Duration::from_micros(250)));
        } else {
            assert_eq!(outcome.ok(), Some(Outcome::Ignored));
        }
    }

    #[test]
    fn a_request_below_the_kernels_minimum_is_clamped_to_it() {
        let (outcome, now) = on_thread(|| (request(Duration::from_micros(5)), current()));
        if kernel_keeps_slices() {
            assert_eq!(outcome.ok(), Some(Outcome::Set(MIN)));
            assert_eq!(now, Some(MIN));
        }
    }

    #[test]
    fn the_operators_nice_value_survives_the_request() {
        let nice = on_thread(|| {
            // Raising one's own nice value needs no privilege.
            // SAFETY: plain syscalls on the calling thread.
            let tid = unsafe { libc::gettid() };
            let set = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 7) };
            assert_eq!(set, 0, "setpriority");
            let _ = request(Duration::from_micros(300));
            unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) }
        });
        assert_eq!(nice, 7);
    }

    #[test]
    fn another_threads_slice_can_be_read_by_its_id() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = request(Duration::from_micros(400));
            // SAFETY: plain syscall on the calling thread.
            let _ = tid_tx.send(unsafe { libc::gettid() });
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().expect("thread id");
        let seen = of_thread(tid);
        let _ = done_tx.send(());
        thread.join().expect("test thread");
        if kernel_keeps_slices() {
            assert_eq!(seen, Some(Duration::from_micros(400)));
        } else {
            assert_eq!(seen, None);
        }
    }
}
