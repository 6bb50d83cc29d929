//! Unit tests of the `restart-limit` and `on-failure` parsers and reader.

use super::*;
use crate::config::dirlist::both;
use crate::sys::clock::Millis;

fn limit(data: &str) -> Result<(u32, Millis), String> {
    parse_restart_limit(Path::new("svc/x/restart-limit"), data.as_bytes())
        .map(|l| (l.exits, l.within_ms))
        .map_err(|e| e.to_string())
}

fn action(data: &str) -> Result<String, String> {
    parse_on_failure(Path::new("svc/x/on-failure"), data.as_bytes())
        .map(|a| a.line())
        .map_err(|e| e.to_string())
}

/// Proves `restart-limit` takes exactly `N SECONDS` within its bounds,
/// decimals allowed, comments and blank lines skipped, and names the file
/// and the line of a refusal with its reason.
#[test]
fn a_restart_limit_is_n_exits_within_seconds() {
    assert_eq!(limit("3 10\n"), Ok((3, 10_000)));
    assert_eq!(limit("# crash loop\n\n  5   2.5 \n"), Ok((5, 2_500)));
    assert_eq!(limit("1 0.001"), Ok((1, 1)));
    assert_eq!(limit("1000 86400"), Ok((1000, 86_400_000)));
    let e = limit("3 10\n4 20\n").unwrap_err();
    assert!(
        e.starts_with("svc/x/restart-limit: line 2: a second line; write N SECONDS"),
        "{e}"
    );
    assert!(limit("")
        .unwrap_err()
        .contains("restart-limit: empty; write"));
    assert!(limit("# only\n").unwrap_err().contains("empty"));
    let e = limit("\n0 10").unwrap_err();
    assert!(
        e.contains("line 2: \"0\" is not a number from 1 to 1000"),
        "{e}"
    );
    assert!(limit("1001 10").unwrap_err().contains("\"1001\" is not"));
    assert!(limit("x3 10").unwrap_err().contains("not a number from"));
    let e = limit("3 0").unwrap_err();
    assert!(
        e.contains("line 1: a window of 0 seconds counts nothing"),
        "{e}"
    );
    assert!(limit("3 0.000").unwrap_err().contains("counts nothing"));
    assert!(limit("3 86400.001").unwrap_err().contains("is too long"));
    let e = limit("3 x").unwrap_err();
    assert!(
        e.contains("line 1: \"x\" is not a number of seconds"),
        "{e}"
    );
    assert!(LIMIT_WANT.contains(&format!("(1 to {MAX_EXITS})")));
    let day = crate::engine::failure::MAX_WINDOW_MS / 1000;
    assert!(LIMIT_WANT.contains(&format!("at most {day},")));
    for bad in [
        "3", "3 10 s", "three 10", "3 1.2345", "3 .5", "3 5.", "3 -1", "3 1e3",
    ] {
        let e = limit(bad).unwrap_err();
        assert!(
            e.starts_with("svc/x/restart-limit: line 1: "),
            "{bad:?}: {e}"
        );
    }
    let e = parse_restart_limit(Path::new("r"), b"\xff").unwrap_err();
    assert!(e.reason.starts_with("not text; write N SECONDS"));
}

/// Proves `on-failure` takes one action and prints it back, and refuses
/// anything else naming the line.
#[test]
fn on_failure_is_one_action() {
    for a in [
        "reboot",
        "poweroff",
        "halt",
        "rescue",
        "start web",
        "start a/b",
    ] {
        assert_eq!(action(&format!("# why\n{a}\n")).as_deref(), Ok(a));
    }
    assert_eq!(action("  start   db  ").as_deref(), Ok("start db"));
    let e = action("reboot\npoweroff").unwrap_err();
    assert_eq!(
        e,
        "svc/x/on-failure: line 2: a second line; \
         write one of reboot, poweroff, halt, rescue, start NAME"
    );
    assert!(action("")
        .unwrap_err()
        .contains("on-failure: empty; write one of"));
    for bad in [
        "start",
        "start a b",
        "start ../x",
        "start a/../../x",
        "startx",
    ] {
        let e = action(bad).unwrap_err();
        assert!(
            e.contains(&format!("line 1: {bad:?} is not an action")),
            "{e}"
        );
    }
    for bad in ["update", "Reboot", "reboot now", "exit 3", "kill"] {
        let e = action(bad).unwrap_err();
        assert!(e.contains("line 1: "), "{bad:?}: {e}");
    }
}

/// Proves the reader: no files, no policy; a once service's
/// `restart-limit` is not read (not even a bad one); a bad file is an
/// error naming it.
#[test]
fn the_reader_reads_what_is_there() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(both(d.path(), |f| read_policy(f, true)).unwrap(), None);
    std::fs::write(d.path().join(RESTART_LIMIT), "x").unwrap();
    assert_eq!(both(d.path(), |f| read_policy(f, false)).unwrap(), None);
    let e = both(d.path(), |f| read_policy(f, true)).unwrap_err();
    assert_eq!(e.file, d.path().join(RESTART_LIMIT));
    std::fs::write(d.path().join(RESTART_LIMIT), "3 10").unwrap();
    std::fs::write(d.path().join(ON_FAILURE), "halt").unwrap();
    let p = both(d.path(), |f| read_policy(f, true)).unwrap().unwrap();
    assert_eq!(
        p.limit,
        Some(RestartLimit {
            exits: 3,
            within_ms: 10_000
        })
    );
    assert_eq!(p.action, Some(OnFailure::System(SystemAction::Halt)));
    let p = both(d.path(), |f| read_policy(f, false)).unwrap().unwrap();
    assert_eq!(p.limit, None);
}
