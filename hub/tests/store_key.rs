//! The hub's key file: created once with mode 0600, read back unchanged, refused
//! when group or others may access it, or when it is not 32 bytes.

use std::os::unix::fs::PermissionsExt;

use hub::store::{KEY_FILE, KeyError, hub_key};

#[test]
fn created_with_mode_0600_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = hub_key(&data).unwrap();
    let meta = std::fs::metadata(data.join(KEY_FILE)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    assert_eq!(
        hub_key(&data).unwrap().0,
        key.0,
        "the same key on every start"
    );
    assert_ne!(key.0, [0u8; 32]);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);
    // Another data dir gets another key.
    assert_ne!(hub_key(dir.path().join("other")).unwrap().0, key.0);
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    hub_key(dir.path()).unwrap();
    let path = dir.path().join(KEY_FILE);
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = hub_key(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::Permissions { mode: m, .. } if m == mode),
            "{err}"
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    hub_key(dir.path()).unwrap();
}

#[test]
fn a_key_of_the_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KEY_FILE);
    std::fs::write(&path, [1u8; 31]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = hub_key(dir.path()).unwrap_err();
    assert!(matches!(err, KeyError::Length { len: 31, .. }), "{err}");
}
