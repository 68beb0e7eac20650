//! README's "Run a hub" section, run line by line as written: each `cargo run --release --`
//! becomes the built `zkhub`, the working directory is a temporary one (so `./zkhub-data`
//! and `./fan.key` land there), and the hub listens on a free loopback port instead of 8080
//! (the client commands get that address with `--hub` / `--url`). Each step's output is
//! checked; a wrong key's deposit must print the hub's own reason.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const ZKHUB: &str = env!("CARGO_BIN_EXE_zkhub");

/// The commands of the README's "Run a hub" block, comments stripped.
fn run_a_hub_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("## Run a hub")
        .nth(1)
        .expect("a Run a hub section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    block
        .lines()
        .map(|l| l.split(" # ").next().unwrap_or(l).trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A README line as arguments of `zkhub`, pointed at the hub on `port`.
fn args_of(line: &str, port: u16) -> Vec<String> {
    let rest = line
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("not a zkhub command: {line}"));
    let mut args: Vec<String> = rest
        .split_whitespace()
        .map(|a| a.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}")))
        .collect();
    match args[0].as_str() {
        "chain" | "close" => args.extend(["--hub".into(), format!("http://127.0.0.1:{port}")]),
        "audit" if args[1] != "verify" => {
            args.extend(["--hub".into(), format!("http://127.0.0.1:{port}")])
        }
        "load" => args.extend(["--url".into(), format!("ws://127.0.0.1:{port}/v1")]),
        _ => {}
    }
    args
}

fn zkhub(dir: &Path, args: &[String]) -> Output {
    Command::new(ZKHUB)
        .args(args)
        .current_dir(dir)
        .env("ZKHUB_KEYS", dir.join("keys"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run zkhub")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// The hub process, killed when the test ends however it ends.
struct Hub(Child);

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn readme_run_a_hub_section_runs_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let lines = run_a_hub_lines();
    assert!(
        lines[0].contains(" serve "),
        "the section starts the hub: {lines:?}"
    );

    let serve = args_of(&lines[0], port);
    let log = std::fs::File::create(dir.path().join("serve.log")).expect("log");
    let child = Command::new(ZKHUB)
        .args(&serve)
        .current_dir(dir.path())
        .env("ZKHUB_KEYS", dir.path().join("keys"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start zkhub serve");
    let _hub = Hub(child);
    let started = Instant::now();
    while !healthy(port) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the hub did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(dir.path().join("serve.log")).expect("log");
    assert!(
        log.contains("public_key="),
        "start-up log names the hub key: {log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log file: {log}"
    );

    let mut pk = String::new();
    for line in &lines[1..] {
        let args = args_of(line, port);
        let out = zkhub(dir.path(), &args);
        let all = text(&out);
        assert!(out.status.success(), "`{line}` failed:\n{all}");
        match (args[0].as_str(), args.get(1).map(String::as_str)) {
            ("key", Some("new")) => {
                pk = all
                    .lines()
                    .find_map(|l| l.strip_prefix("public key (packed): "))
                    .expect("the packed public key")
                    .to_string();
                assert_eq!(pk.len(), 64, "{all}");
            }
            ("chain", Some("deposit")) => {
                assert!(
                    all.contains("opened channel 1 with a deposit of 100,000 units"),
                    "{all}"
                )
            }
            ("chain", Some("status")) => {
                assert!(all.contains("public key (signs receipts): "), "{all}");
                assert!(all.contains("channels registered: 1"), "{all}");
            }
            ("load", _) => assert!(all.contains("acked 20,000 of 20,000 payments"), "{all}"),
            ("chain", Some("cut")) => assert!(all.contains("cut epoch 1"), "{all}"),
            ("close", _) => assert!(
                dir.path().join("zkhub-data/epochs/1/close.proof").exists(),
                "{all}"
            ),
            ("verify", _) => assert!(all.contains("valid"), "{all}"),
            ("audit", Some("disclose")) => {
                assert!(all.contains("disclosure written"), "{all}");
                assert!(all.contains("channel 1 of hub"), "{all}");
            }
            ("audit", Some("prove")) => {
                assert!(all.contains("range proof written"), "{all}");
                assert!(all.contains("spent at most 100000 in epoch 1"), "{all}");
            }
            ("audit", Some("verify")) if args[2].ends_with(".proof") => {
                assert!(all.contains("valid range proof"), "{all}");
                assert!(all.contains("channel 1 of hub"), "{all}");
                assert!(all.contains("spent at most 100000 in epoch 1"), "{all}");
                assert!(all.contains("anchored       yes"), "{all}");
            }
            ("audit", Some("verify")) => {
                assert!(all.contains("valid disclosure"), "{all}");
                assert!(all.contains("anchored       yes"), "{all}");
            }
            _ => {}
        }
    }
    assert!(!pk.is_empty(), "the section makes a key");

    // A disclosure with an altered amount is refused by `audit verify` (exit ≠ 0).
    let statement = dir.path().join("statement.json");
    let honest = std::fs::read_to_string(&statement).expect("the disclosure file");
    assert!(honest.contains("\"received\": 0"), "{honest}");
    std::fs::write(
        &statement,
        honest.replace("\"received\": 0", "\"received\": 500"),
    )
    .expect("write");
    let out = zkhub(
        dir.path(),
        &["audit", "verify", "statement.json", "--roots", "roots.json"].map(String::from),
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("not in the close's root"), "{all}");

    // A range proof presented for another epoch's roots is refused (exit ≠ 0), and a
    // false range (channel 1 received nothing) has no proof.
    std::fs::write(&statement, &honest).expect("write");
    let proof = dir.path().join("spent.proof");
    let mut bytes = std::fs::read(&proof).expect("the range proof file");
    bytes[20..28].copy_from_slice(&2u64.to_le_bytes());
    std::fs::write(dir.path().join("moved.proof"), &bytes).expect("write");
    let out = zkhub(
        dir.path(),
        &["audit", "verify", "moved.proof", "--roots", "roots.json"].map(String::from),
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("no accepted close"), "{all}");
    let out = zkhub(
        dir.path(),
        &[
            "audit",
            "prove",
            "--disclosure",
            "statement.json",
            "--received-at-least",
            "1",
        ]
        .map(String::from),
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("is not in [1, "), "{all}");

    // A wrong key: the hub's own reason reaches the terminal, in user words.
    let port_arg = format!("http://127.0.0.1:{port}");
    let out = zkhub(
        dir.path(),
        &[
            "chain", "deposit", "--pk", "deadbeef", "--amount", "5", "--hub", &port_arg,
        ]
        .map(String::from),
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("HTTP 400"), "{all}");
    assert!(
        all.contains("`pk` has 8 characters; a packed public key has 64 hex characters"),
        "{all}"
    );
    assert!(!all.contains("untagged"), "{all}");
}
