//! Memory per channel of the in-memory table (docs/DESIGN.md §10: ≤ 512 bytes): the
//! resident-set growth from inserting 1,000,000 channels, measured from
//! `/proc/self/statm` (one test in this file, so nothing else allocates meanwhile).

use channel::crypto::PublicKey;
use channel::field::Fe;
use channel::ledger::{ChannelRecord, ChannelState, ChannelTable};
use hub::state::Channels;

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn a_million_channels_fit_in_512_bytes_each() {
    const N: u32 = 1_000_000;
    let Some(before) = rss_bytes() else {
        eprintln!("no /proc/self/statm: skipped");
        return;
    };
    let channels = Channels::with_capacity(N as usize);
    for id in 1..=N {
        let mut r = ChannelRecord::open(
            id,
            PublicKey::from_xy_unchecked(Fe::from(id), Fe::from(id + 1)),
            1_000,
        );
        r.seq = 1;
        r.spent = 1;
        r.received = 1;
        r.checkpoint_sig = Some([7; 64]);
        channels.insert_channel(ChannelState::new(r));
    }
    let after = rss_bytes().unwrap();
    let per_channel = (after - before) / u64::from(N);
    eprintln!(
        "size_of::<ChannelState>() = {} bytes; RSS grew {} MB for {N} channels: {per_channel} bytes per channel",
        std::mem::size_of::<ChannelState>(),
        (after - before) >> 20
    );
    assert_eq!(channels.len(), N as usize);
    assert!(per_channel <= 512, "{per_channel} bytes per channel");
}
