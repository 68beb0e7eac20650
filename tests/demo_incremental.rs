//! `zkhub demo --idle-channels N` end to end at a small size: the real binary, a real hub
//! on loopback, two incremental closes proved, verified and accepted by the settlement
//! layer, withdrawals opened against the state root, and the conservation check. The
//! second close must touch only what moved, not the idle channels.

use std::process::Command;

const ZKHUB: &str = env!("CARGO_BIN_EXE_zkhub");

#[test]
fn the_second_incremental_close_touches_only_what_moved() {
    let keys = tempfile::tempdir().expect("tempdir");
    let out = Command::new(ZKHUB)
        .args([
            "demo",
            "--idle-channels",
            "40",
            "--fans",
            "6",
            "--creators",
            "2",
            "--payments",
            "3000",
            "--withdrawals",
            "1",
            "--keys",
        ])
        .arg(keys.path())
        .output()
        .expect("run zkhub demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    // 6 fans + 2 creators + 40 idle channels in the first close.
    assert!(
        stdout.contains("epoch 1: 48 touched of 48 channels"),
        "{stdout}"
    );
    // The second: 8 new fans, 2 new creators, and the fan and creator that withdrew
    // (their net deposits changed) — none of the 40 idle channels.
    assert!(
        stdout.contains("epoch 2: 12 touched of 58 channels"),
        "{stdout}"
    );
    assert!(stdout.contains("== Σ deposits"), "{stdout}");
}
