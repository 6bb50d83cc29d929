use super::*;

fn ok(text: &str) -> Vec<(String, String)> {
    parse(text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|s| (s.file, s.value))
        .collect()
}

fn err(text: &str) -> String {
    parse(text.as_bytes()).unwrap_err()
}

/// The examples, comments and blank lines; values keep their
/// inner spaces and are passed on as written.
#[test]
fn reads_settings() {
    let got = ok(
        "# limits\nmemory.max 64M\n\nmemory.high   48M\npids.max 32\n\
                  cpu.max 50000 100000\ncpu.weight 50\nio.weight 100\n",
    );
    let want = [
        ("memory.max", "64M"),
        ("memory.high", "48M"),
        ("pids.max", "32"),
        ("cpu.max", "50000 100000"),
        ("cpu.weight", "50"),
        ("io.weight", "100"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(ok(""), vec![]);
    assert_eq!(
        ok("memory.max max\npids.max max\ncpu.max max\nio.weight default 200\n").len(),
        4
    );
    assert_eq!(ok("hugetlb.2MB.max 0\nmemory.swap.max 0\n").len(), 2);
    assert_eq!(ok("io.weight 8:16 200\n")[0].1, "8:16 200");
    assert_eq!(ok("memory.max 1g\n")[0].1, "1g");
}

/// cinit's own files, paths and unknown controllers are refused with the
/// line and the reason.
#[test]
fn refuses_unsafe_files() {
    assert!(err("cgroup.procs 1").contains("cinit's to manage"));
    assert!(err("cgroup.kill 1").contains("cinit's to manage"));
    assert!(err("cgroup.subtree_control +memory").contains("cinit's to manage"));
    assert!(err("# x\nmemory/../cgroup.procs 1").starts_with("line 2: "));
    assert!(err("memory.max/x 1").contains("not a file name"));
    assert!(err("memory..max 1").contains("not a file name"));
    assert!(err("memory. 1").contains("not a file name"));
    assert!(err("freezer.state FROZEN").contains("unknown controller \"freezer\""));
    assert!(err("memory 64M").contains("not CONTROLLER.NAME"));
    assert!(err("memory.max").contains("not FILE VALUE"));
}

/// Values of known shape are checked; twice the same file is refused.
#[test]
fn refuses_bad_values() {
    assert!(err("memory.max 64MB").contains("not a size"));
    assert!(err("memory.max -1").contains("not a size"));
    assert!(err("memory.max 0x10").contains("not a size"));
    assert!(err("pids.max many").contains("not a number or max"));
    assert!(err("cpu.weight 0").contains("1 to 10000"));
    assert!(err("cpu.weight 10001").contains("1 to 10000"));
    assert!(err("io.weight default 0").contains("1 to 10000"));
    assert!(err("cpu.max 50000 100000 3").contains("QUOTA [PERIOD]"));
    assert!(err("cpu.max half").contains("QUOTA [PERIOD]"));
    assert!(err("memory.max 1M\nmemory.max 2M").starts_with("line 2: memory.max is set twice"));
    assert!(err("memory.max 1\u{7f}").contains("control characters"));
    assert_eq!(
        err("\u{ff}\u{fe}"),
        "line 1: not FILE VALUE (memory.max 64M)"
    );
    assert_eq!(parse(b"\xff").unwrap_err(), "not text");
    let many: String = (0..=MAX_SETTINGS)
        .map(|i| format!("misc.x{i} 1\n"))
        .collect();
    assert!(err(&many).contains("more than 64 settings"));
}

/// The file is read from the listing; its errors name the file.
#[test]
fn read_from_the_directory() {
    let t = tempfile::tempdir().unwrap();
    let none = crate::config::dirlist::both(t.path(), read);
    assert_eq!(none, Ok(vec![]));
    std::fs::write(t.path().join(FILE), "pids.max 32\n").unwrap();
    let one = crate::config::dirlist::both(t.path(), read).unwrap();
    assert_eq!(one[0].to_string(), "pids.max 32");
    assert_eq!(one[0].controller(), "pids");
    std::fs::write(t.path().join(FILE), "cgroup.procs 1\n").unwrap();
    let bad = crate::config::dirlist::both(t.path(), read).unwrap_err();
    assert_eq!(bad.file, t.path().join(FILE));
}

proptest::proptest! {
    /// Whatever a file holds, every setting it yields names one file of a
    /// known controller, never a `cgroup.` file, never a path.
    #[test]
    fn settings_stay_in_their_cgroup(text in "[a-z./ _0-9MG+\n#-]{0,80}") {
        if let Ok(settings) = parse(text.as_bytes()) {
            for s in settings {
                proptest::prop_assert!(!s.file.contains('/') && !s.file.contains(".."));
                proptest::prop_assert!(CONTROLLERS.contains(&s.controller()));
                proptest::prop_assert!(!s.value.is_empty() && !s.value.contains('\n'));
            }
        }
    }

    /// Settings written out as lines parse back to the same settings.
    #[test]
    fn lines_round_trip(mb in 1u32..100_000, pids in 1u32..100_000, w in 1u32..=10_000) {
        let text = format!("memory.max {mb}M\npids.max {pids}\ncpu.weight {w}\n");
        let s = parse(text.as_bytes()).unwrap();
        let back: String = s.iter().map(|s| format!("{s}\n")).collect();
        proptest::prop_assert_eq!(back, text);
    }
}
