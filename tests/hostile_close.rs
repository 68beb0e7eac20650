//! Hostile close proof files posted to a real `zkhub serve` (`POST /operator/close`): a
//! header claiming 2^24 slots (which once made the hub's verifier allocate 2.95 GB and
//! die), a version-1 file, bytes appended after a proof, garbage. Each is refused with
//! 422 and a reason in words, no key is made in the hub's key directory, and the hub
//! keeps serving.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ZKHUB: &str = env!("CARGO_BIN_EXE_zkhub");

struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start(dir: &Path, port: u16) -> Hub {
    let child = Command::new(ZKHUB)
        .args(["serve", "--data"])
        .arg(dir.join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--keys"])
        .arg(dir.join("keys"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start zkhub serve");
    let hub = Hub(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_ok()
        {
            return hub;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("hub did not come up");
}

/// POST `body` as a close: (status, body text).
fn post_close(port: u16, body: &[u8]) -> (u16, String) {
    let mut response = ureq::post(&format!("http://127.0.0.1:{port}/operator/close"))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/octet-stream")
        .send(body)
        .expect("the hub answers");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// A header of the current version (`closer::proof_file::VERSION`) for a full close of
/// `n` channels naming layout (`k`, `m`), with `proof` after it.
fn file(n: u64, k: u32, m: u32, proof: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"ZKHUBCLS");
    f.extend_from_slice(&closer::proof_file::VERSION.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&k.to_le_bytes());
    f.extend_from_slice(&m.to_le_bytes());
    f.extend_from_slice(&[0u8; 32]); // key digest
    // hub, epoch, n, deposits root, balances root, volume commitment.
    for x in [1u64, 1, n, 0, 0, 0] {
        let mut le = [0u8; 32];
        le[..8].copy_from_slice(&x.to_le_bytes());
        f.extend_from_slice(&le);
    }
    f.extend_from_slice(&(proof.len() as u32).to_le_bytes());
    f.extend_from_slice(proof);
    f
}

#[test]
fn hostile_close_files_are_refused_and_the_hub_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _hub = start(dir.path(), port);

    let mut v1 = file(3, 2, 2, &[0; 64]);
    v1[8] = 1;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a header claiming 2^24 slots",
            file(3, 1, 1 << 24, &[0; 64]),
            "proof is for",
        ),
        ("a version-1 file", v1, "version 1"),
        (
            "an epoch of 2^24 channels",
            file(1 << 24, 32, 1 << 19, &[0; 64]),
            "",
        ),
        ("garbage", b"not a proof at all".to_vec(), "magic"),
        ("empty", Vec::new(), ""),
        (
            "a length beyond any proof",
            {
                let mut f = file(3, 2, 2, &[]);
                let at = f.len() - 4;
                f[at..].copy_from_slice(&u32::MAX.to_le_bytes());
                f
            },
            "length",
        ),
    ];
    for (name, body, reason) in cases {
        let (status, text) = post_close(port, &body);
        assert_eq!(status, 422, "{name}: {status} {text}");
        assert!(text.contains(reason), "{name}: {text}");
        println!("{name}: {status} {text}");
    }
    // No key was made for any of them, and the hub is alive.
    let keys = dir.path().join("keys");
    let made = std::fs::read_dir(&keys).map(|d| d.count()).unwrap_or(0);
    assert_eq!(made, 0, "the verifier made keys for a hostile file");
    assert!(
        ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_ok()
    );
}
