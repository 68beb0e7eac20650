//! `zkhub serve --listen 127.0.0.1:0` tells scripts the port it got: a plain first
//! stdout line `listening on ADDR`, and `--addr-file FILE` holding `ADDR` (issue 19).

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

#[test]
fn serve_on_port_zero_prints_and_writes_the_bound_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr_file = dir.path().join("hub.addr");
    let child = Command::new(ZKHUB)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--addr-file")
        .arg(&addr_file)
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
