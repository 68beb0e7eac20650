//! `zkhub serve` as a process: on `--listen 127.0.0.1:0` it tells scripts the port it
//! got (a plain first stdout line `listening on ADDR`, and `--addr-file FILE` holding
//! `ADDR`, issue 19), and its threads on the ack path ask for the scheduler slice of
//! `--thread-slice-us` (issue 15).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ZKHUB: &str = env!("CARGO_BIN_EXE_zkhub");

/// Kills the hub when the test ends, however it ends.
struct Hub(std::process::Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn healthz(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the printed address");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    reply
}

/// Start `zkhub serve` on port 0 with `args`; the hub and the address it printed.
fn serve(data: &std::path::Path, args: &[&str]) -> (Hub, SocketAddr) {
    let child = Command::new(ZKHUB)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn zkhub serve");
    let mut hub = Hub(child);
    let stdout = hub.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a first line");
    let printed: SocketAddr = first
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line is {first:?}"))
        .parse()
        .expect("an address");
    (hub, printed)
}

#[test]
fn serve_on_port_zero_prints_and_writes_the_bound_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr_file = dir.path().join("hub.addr");
    let addr_arg = addr_file.to_str().expect("utf-8 path");
    let (_hub, printed) = serve(&dir.path().join("data"), &["--addr-file", addr_arg]);
    assert_ne!(printed.port(), 0, "the bound port, not the requested one");

    let deadline = Instant::now() + Duration::from_secs(10);
    let written = loop {
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            break text;
        }
        assert!(Instant::now() < deadline, "no address file");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(written, format!("{printed}\n"));
    let reply = healthz(printed);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// Each thread of process `pid` whose name starts with `prefix`: its name and the
/// scheduler slice the kernel reports for it.
#[cfg(target_os = "linux")]
fn slices(pid: u32, prefix: &str) -> Vec<(String, Option<Duration>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task list") {
        let path = entry.expect("task").path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let Some(tid) = path.file_name().and_then(|n| n.to_str()?.parse().ok()) else {
            continue;
        };
        if name.starts_with(prefix) {
            found.push((
                name.trim_end().to_string(),
                hub::thread_slice::of_thread(tid),
            ));
        }
    }
    found
}

#[cfg(target_os = "linux")]
#[test]
fn the_io_verifier_and_writer_threads_ask_for_the_slice_given_and_none_with_zero() {
    let asked = Duration::from_micros(250);
    // Linux before 6.12 accepts the request and keeps no slice per thread.
    let kernel_keeps_slices = hub::thread_slice::kernel_keeps_slices();

    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, addr) = serve(&dir.path().join("data"), &["--thread-slice-us", "250"]);
    assert!(healthz(addr).starts_with("HTTP/1.1 200"));
    for prefix in ["zkhub-io", "zkhub-verify-", "zkhub-writer"] {
        let threads = slices(hub.0.id(), prefix);
        assert!(!threads.is_empty(), "no {prefix} thread");
        for (name, slice) in threads {
            let want = kernel_keeps_slices.then_some(asked);
            assert_eq!(slice, want, "{name}");
        }
    }
    drop(hub);

    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, addr) = serve(&dir.path().join("data"), &["--thread-slice-us", "0"]);
    assert!(healthz(addr).starts_with("HTTP/1.1 200"));
    for prefix in ["zkhub-io", "zkhub-verify-", "zkhub-writer"] {
        for (name, slice) in slices(hub.0.id(), prefix) {
            assert_ne!(slice, Some(asked), "{name} kept the kernel's default");
        }
    }
}
