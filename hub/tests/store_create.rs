//! Creating the store is atomic: a crash while the hub creates its database on first
//! start leaves no `hub.redb` (redb writes a new file's magic last, so a file cut short
//! before that can never be opened; `store_sync_faults.rs` records that finding).

use hub::store::{DB_FILE, OpenError, Store};

#[test]
fn a_new_store_appears_whole_and_leaves_no_creation_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 7).expect("create");
    assert!(dir.path().join(DB_FILE).exists());
    assert!(!dir.path().join(format!("{DB_FILE}.creating")).exists());
    drop(store);
    // The first commit (schema, hub id) is in the renamed file.
    let Err(err) = Store::open(dir.path(), 8) else {
        panic!("another hub's store was opened");
    };
    assert!(matches!(err, OpenError::HubIdMismatch { .. }), "{err}");
    Store::open(dir.path(), 7).expect("reopen");
}

#[test]
fn a_creation_cut_short_is_started_over() {
    let dir = tempfile::tempdir().unwrap();
    // What a power cut during creation leaves: a sized file whose header has no magic.
    let creating = dir.path().join(format!("{DB_FILE}.creating"));
    std::fs::write(&creating, vec![0u8; 4096]).unwrap();
    let store = Store::open(dir.path(), 7).expect("creation starts over");
    assert_eq!(store.hub_id(), 7);
    assert!(!creating.exists());
    drop(store);
    Store::open(dir.path(), 7).expect("reopen");
}
