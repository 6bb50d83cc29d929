use super::*;
use std::fs;

/// One `linux_dirent64` record for `name`, padded to 8 bytes.
fn record(name: &str) -> Vec<u8> {
    let len = (19 + name.len() + 1).div_ceil(8) * 8;
    let mut r = vec![0u8; len];
    r[16..18].copy_from_slice(&(len as u16).to_ne_bytes());
    r[18] = libc::DT_REG;
    r[19..19 + name.len()].copy_from_slice(name.as_bytes());
    r
}

#[test]
fn scan_marks_known_names_only_and_refuses_a_malformed_buffer() {
    let mut buf = Vec::new();
    for n in [".", "..", "on", "respawn", "junk", "on.params.bak"] {
        buf.extend(record(n));
    }
    let mut present = 0;
    assert_eq!(scan(&buf, &mut present), Some(()));
    assert_eq!(present, bit(b"on").unwrap() | bit(b"respawn").unwrap());
    let mut p = 0;
    assert_eq!(scan(&buf[..buf.len() - 3], &mut p), None, "cut record");
    let mut zero = record("on");
    zero[16] = 0;
    zero[17] = 0;
    assert_eq!(scan(&zero, &mut p), None, "a zero length never loops");
}

#[test]
fn every_known_name_has_its_own_bit() {
    assert!(KNOWN.len() <= 63, "bit 63 says the directory was listed");
    for (i, k) in KNOWN.iter().enumerate() {
        assert_eq!(bit(k.as_bytes()), Some(1 << i), "{k}");
    }
}

/// A listed directory says Here / Absent for known names and Unknown
/// for others, and answers from its listing only; a symbolic link to
/// a directory is followed (as a probe through it was); a file or a
/// missing directory is unlisted (every answer Unknown), as is a
/// directory of more entries than a listing reads.
#[test]
fn listing_answers_and_falls_back_to_paths() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("svc");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("respawn"), "").unwrap();
    std::os::unix::fs::symlink("/bin/true", dir.join("on")).unwrap();
    let sd = ServiceDir::open(&dir);
    assert_eq!(sd.seen("respawn"), Seen::Here);
    assert_eq!(sd.seen("on"), Seen::Here);
    assert_eq!(sd.seen("delay"), Seen::Absent);
    assert_eq!(sd.seen("other"), Seen::Unknown);
    assert_eq!(
        sd.read_link_at("on").unwrap(),
        Some(PathBuf::from("/bin/true"))
    );
    assert_eq!(sd.read_link_at("respawn").unwrap(), None);
    assert_eq!(sd.read_link_at("delay").unwrap_err(), libc::ENOENT);
    // What is read comes from the listing, not from a probe: a file
    // made after it is not seen (a fresh listing sees it).
    fs::write(dir.join("delay"), "5\n").unwrap();
    assert_eq!(sd.read_small("delay").unwrap(), None);
    assert!(!sd.exists("delay").unwrap());
    assert_eq!(sd.read_link("delay").unwrap(), None);
    let fresh = ServiceDir::open(&dir);
    assert_eq!(fresh.read_small("delay").unwrap(), Some(b"5\n".to_vec()));
    assert_eq!(fresh.read_link("delay").unwrap(), Some(None));
    assert_eq!(
        fresh.read_link("on").unwrap(),
        Some(Some(PathBuf::from("/bin/true")))
    );

    // A link to the directory is followed, as a probe through it was.
    std::os::unix::fs::symlink(&dir, d.path().join("link")).unwrap();
    let link = d.path().join("link");
    assert_eq!(ServiceDir::open(&link).seen("respawn"), Seen::Here);
    let file = dir.join("respawn");
    assert_eq!(ServiceDir::open(&file).seen("respawn"), Seen::Unknown);
    let gone = d.path().join("gone");
    assert_eq!(ServiceDir::open(&gone).seen("respawn"), Seen::Unknown);
    assert_eq!(ServiceDir::unlisted(&dir).seen("respawn"), Seen::Unknown);

    let big = d.path().join("big");
    fs::create_dir(&big).unwrap();
    for i in 0..(MAX_LIST_CALLS * LIST_BUF / 24 + 10) {
        fs::write(big.join(format!("f{i:05}")), "").unwrap();
    }
    assert_eq!(ServiceDir::open(&big).seen("on"), Seen::Unknown);
}

/// Targets and directory paths longer than the stack buffers
/// ([`SHORT_PATH`]) are read whole, the same listed as unlisted: a
/// program's link target of 300 bytes and a service directory whose
/// path is longer than 256 bytes.
#[test]
fn long_targets_and_directory_paths_are_read_whole() {
    let d = tempfile::tempdir().unwrap();
    let mut dir = d.path().to_path_buf();
    while dir.as_os_str().len() <= SHORT_PATH {
        dir.push("a-long-directory-name-for-the-test");
    }
    fs::create_dir_all(&dir).unwrap();
    let target = format!("/{}", "t".repeat(300));
    std::os::unix::fs::symlink(&target, dir.join("on")).unwrap();
    let sd = ServiceDir::open(&dir);
    assert_eq!(sd.seen("on"), Seen::Here, "the long path is listed");
    assert_eq!(sd.read_link_at("on").unwrap_err(), libc::ENAMETOOLONG);
    let read = both(&dir, |sd| sd.read_link("on").unwrap());
    assert_eq!(read, Some(Some(PathBuf::from(&target))));
}

/// The byte match of `bit` gives each name of `KNOWN` its own bit, the
/// one at its place in the table, as the linear search over the table did.
#[test]
fn known_bits_match_the_table() {
    for (i, k) in KNOWN.iter().enumerate() {
        assert_eq!(bit(k.as_bytes()), Some(1u64 << i), "{k}");
    }
    for n in ["", "o", "onn", "On", "on.", "log", "wants/", "fdstore\0"] {
        assert_eq!(bit(n.as_bytes()), None, "{n:?}");
    }
}

proptest::proptest! {
    /// For any name (any bytes, and every known name with a byte changed,
    /// added or dropped), `bit` answers what the linear search answered.
    #[test]
    fn bit_is_the_linear_search(
        pick in 0usize..KNOWN.len(),
        edit in 0usize..4,
        at in 0usize..16,
        byte in proptest::prelude::any::<u8>(),
        any in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
    ) {
        let old = |name: &[u8]| KNOWN.iter().position(|k| k.as_bytes() == name).map(|i| 1u64 << i);
        let mut name = KNOWN[pick].as_bytes().to_vec();
        let at = at % (name.len() + 1);
        match edit {
            0 => name.insert(at, byte),
            1 if at < name.len() => name[at] = byte,
            2 if at < name.len() => {
                name.remove(at);
            }
            _ => {}
        }
        proptest::prop_assert_eq!(bit(&name), old(&name));
        proptest::prop_assert_eq!(bit(&any), old(&any));
    }
}

/// A listing kept without its descriptor answers as the listing did: the
/// names it holds are read (by their paths), the names it does not hold
/// are missing even if made since (as for the open listing), a name
/// removed since is missing, an error names `DIR/NAME`; an unlisted
/// directory's listing keeps nothing (every answer from the path).
#[test]
fn a_kept_listing_answers_as_the_listing_did() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("svc");
    fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/bin/true", dir.join("on")).unwrap();
    fs::write(dir.join("on.params"), "-x\n").unwrap();
    fs::write(dir.join("respawn"), "").unwrap();
    fs::create_dir(dir.join("on.env")).unwrap();
    let listing = ServiceDir::open(&dir).listing();
    assert!(listing.is_listed());
    let kept = ServiceDir::from_listing(&dir, listing);
    assert!(kept.fd().is_none(), "no descriptor is held");
    assert_eq!(
        (kept.seen("on"), kept.seen("delay")),
        (Seen::Here, Seen::Absent)
    );
    assert_eq!(kept.seen("other"), Seen::Unknown);
    assert_eq!(
        kept.read_link("on").unwrap(),
        Some(Some("/bin/true".into()))
    );
    assert_eq!(kept.read_link("respawn").unwrap(), Some(None));
    assert_eq!(
        kept.read_small("on.params").unwrap(),
        Some(b"-x\n".to_vec())
    );
    let err = kept.read_small("on.env").unwrap_err();
    assert_eq!(err.file, dir.join("on.env"));
    assert_eq!(err.reason, "not a regular file");
    fs::write(dir.join("delay"), "5\n").unwrap();
    assert_eq!(kept.read_small("delay").unwrap(), None, "listed absent");
    fs::remove_file(dir.join("on.params")).unwrap();
    assert_eq!(kept.read_small("on.params").unwrap(), None, "gone since");
    fs::remove_file(dir.join("on")).unwrap();
    assert_eq!(kept.read_link("on").unwrap(), None, "gone since");

    let file = dir.join("respawn");
    let none = ServiceDir::open(&file).listing();
    assert_eq!(none, Listing::UNLISTED);
    assert_eq!(
        ServiceDir::from_listing(&dir, none).seen("delay"),
        Seen::Unknown
    );
}
