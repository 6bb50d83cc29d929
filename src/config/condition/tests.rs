#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

fn one(line: &str) -> Condition {
    let list = parse(line.as_bytes()).unwrap();
    assert_eq!(list.len(), 1, "{line}");
    list.into_iter().next().unwrap()
}

/// Proves every form parses, `!` negates (with or without a space after
/// it), and the condition prints back as written.
#[test]
fn every_form_parses() {
    let c = one("exists /dev/vda");
    assert_eq!(
        (c.negated, c.test, c.arg.as_str()),
        (false, Test::Exists, "/dev/vda")
    );
    let c = one("!exists /dev/vda\n");
    assert!(c.negated);
    assert_eq!(c.to_string(), "!exists /dev/vda");
    let c = one("  ! directory   /sys/block  ");
    assert_eq!(
        (c.negated, c.test, c.arg.as_str()),
        (true, Test::Directory, "/sys/block")
    );
    assert_eq!(c.to_string(), "!directory /sys/block");
    assert_eq!(one("cmdline cinit.data").test, Test::Cmdline);
    assert_eq!(
        one("!cmdline console=ttyS0").to_string(),
        "!cmdline console=ttyS0"
    );
    assert_eq!(one("exists /a b").arg, "/a b", "a path may hold spaces");
}

/// Proves blank lines and comments are skipped and several conditions are
/// kept in order.
#[test]
fn comments_blank_lines_and_order() {
    let list = parse(b"# a disk\n\nexists /dev/vda\n  # indented\n!cmdline nodata\n").unwrap();
    let shown: Vec<String> = list.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["exists /dev/vda", "!cmdline nodata"]);
    assert!(parse(b"").unwrap().is_empty());
    assert!(parse(b"# nothing\n").unwrap().is_empty());
}

/// Proves each bad line is refused with its line number and why.
#[test]
fn bad_lines_name_their_line() {
    let err = |text: &str| parse(text.as_bytes()).unwrap_err();
    assert!(err("exists /a\nmounted /b\n").starts_with("line 2: unknown condition \"mounted\""));
    assert_eq!(err("exists\n"), "line 1: exists needs an argument");
    assert_eq!(err("# x\n!\n"), "line 2: unknown condition \"\" (exists PATH, directory PATH, cmdline WORD, each may start with !)");
    assert_eq!(
        err("\n\nexists dev/vda"),
        "line 3: exists \"dev/vda\": not an absolute path"
    );
    assert_eq!(
        err("directory ./x"),
        "line 1: directory \"./x\": not an absolute path"
    );
    assert_eq!(
        err("cmdline a b"),
        "line 1: cmdline \"a b\": one word, without spaces"
    );
    assert_eq!(
        err("exists /a\tb\x01"),
        "line 1: control characters in the argument"
    );
    assert_eq!(err("!!exists /a"), "line 1: unknown condition \"!exists\" (exists PATH, directory PATH, cmdline WORD, each may start with !)");
    assert_eq!(parse(b"\xff").unwrap_err(), "not text");
}

/// Proves the bounds: file size, number of conditions, line length.
#[test]
fn bounded() {
    let many = "exists /a\n".repeat(MAX_CONDITIONS);
    assert_eq!(parse(many.as_bytes()).unwrap().len(), MAX_CONDITIONS);
    let more = format!("{many}exists /b\n");
    assert_eq!(
        parse(more.as_bytes()).unwrap_err(),
        format!(
            "line {}: more than {MAX_CONDITIONS} conditions",
            MAX_CONDITIONS + 1
        )
    );
    let long = format!("exists /{}", "x".repeat(MAX_LINE));
    assert_eq!(
        parse(long.as_bytes()).unwrap_err(),
        format!("line 1: longer than {MAX_LINE} bytes")
    );
    let huge = "#".repeat(MAX_BYTES as usize + 1);
    assert_eq!(
        parse(huge.as_bytes()).unwrap_err(),
        format!("larger than {MAX_BYTES} bytes")
    );
}

/// Proves the cmdline match: whole words only, `KEY` matches `KEY=…`,
/// `KEY=VALUE` matches only itself.
#[test]
fn cmdline_words() {
    let line = b"console=ttyS0 quiet  cinit.data root=/dev/vda1\n";
    assert!(on_cmdline(line, "quiet"));
    assert!(on_cmdline(line, "cinit.data"));
    assert!(on_cmdline(line, "console"), "KEY matches KEY=VALUE");
    assert!(on_cmdline(line, "console=ttyS0"));
    assert!(on_cmdline(line, "root=/dev/vda1"));
    assert!(!on_cmdline(line, "console=tty1"));
    assert!(!on_cmdline(line, "quie"), "not a prefix");
    assert!(!on_cmdline(line, "cinit"), "not up to a dot");
    assert!(!on_cmdline(line, "ttyS0"));
    assert!(!on_cmdline(line, "root=/dev/vda"));
    assert!(!on_cmdline(b"", "quiet"));
}

/// A fake system: paths and what they are, and a command line.
struct Fake {
    dirs: Vec<&'static str>,
    files: Vec<&'static str>,
    cmdline: Vec<u8>,
    cmdline_reads: usize,
}

impl Facts for Fake {
    fn kind(&mut self, path: &str) -> Kind {
        if self.dirs.contains(&path) {
            Kind::Directory
        } else if self.files.contains(&path) {
            Kind::Other
        } else {
            Kind::Missing
        }
    }

    fn cmdline(&mut self) -> &[u8] {
        self.cmdline_reads += 1;
        &self.cmdline
    }
}

/// Proves the evaluator against a fake system: each test and its
/// negation, and the first failing condition is the one reported.
#[test]
fn evaluates_against_a_fake() {
    let mut f = Fake {
        dirs: vec!["/sys/block"],
        files: vec!["/dev/vda"],
        cmdline: b"quiet cinit.data=1".to_vec(),
        cmdline_reads: 0,
    };
    let check = |text: &str, f: &mut Fake| {
        let conds = parse(text.as_bytes()).unwrap();
        first_failed(&conds, f).map(|c| c.to_string())
    };
    assert_eq!(check("exists /dev/vda\nexists /sys/block", &mut f), None);
    assert_eq!(
        check("directory /sys/block\n!directory /dev/vda", &mut f),
        None
    );
    assert_eq!(check("cmdline cinit.data\n!cmdline nodata", &mut f), None);
    assert_eq!(check("", &mut f), None);
    assert_eq!(
        check("exists /dev/vda\n!exists /dev/vda\nexists /nope", &mut f).as_deref(),
        Some("!exists /dev/vda")
    );
    assert_eq!(
        check("directory /dev/vda", &mut f).as_deref(),
        Some("directory /dev/vda")
    );
    assert_eq!(
        check("exists /nope", &mut f).as_deref(),
        Some("exists /nope")
    );
    assert_eq!(
        check("!cmdline quiet", &mut f).as_deref(),
        Some("!cmdline quiet")
    );
    assert_eq!(
        check("cmdline cinit.data=2", &mut f).as_deref(),
        Some("cmdline cinit.data=2")
    );
}

/// Proves the real facts: `exists` follows a final link (a dangling one
/// is missing), `directory` a link to a directory; paths in a temporary
/// directory.
#[test]
fn real_paths() {
    let dir = std::env::temp_dir().join(format!("cinit-cond-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::write(dir.join("f"), b"").unwrap();
    std::os::unix::fs::symlink(dir.join("d"), dir.join("to-d")).unwrap();
    std::os::unix::fs::symlink(dir.join("gone"), dir.join("dangling")).unwrap();
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let mut sys = SysFacts::default();
    assert_eq!(sys.kind(&p("d")), Kind::Directory);
    assert_eq!(sys.kind(&p("to-d")), Kind::Directory);
    assert_eq!(sys.kind(&p("f")), Kind::Other);
    assert_eq!(sys.kind(&p("dangling")), Kind::Missing);
    assert_eq!(sys.kind(&p("nothing")), Kind::Missing);
    let text = format!(
        "exists {}\ndirectory {}\n!exists {}",
        p("f"),
        p("to-d"),
        p("dangling")
    );
    let conds = parse(text.as_bytes()).unwrap();
    assert_eq!(first_failed(&conds, &mut sys), None);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Proves the command line is read once per evaluation, and only when a
/// `cmdline` condition asks (the real one is looked at in the namespace
/// tests).
#[test]
fn cmdline_read_once_and_only_when_asked() {
    let mut f = Fake {
        dirs: vec![],
        files: vec![],
        cmdline: b"a b".to_vec(),
        cmdline_reads: 0,
    };
    let conds = parse(b"!exists /x").unwrap();
    assert_eq!(first_failed(&conds, &mut f), None);
    assert_eq!(f.cmdline_reads, 0);
    let mut sys = SysFacts::default();
    let first = sys.cmdline().to_vec();
    assert!(!first.is_empty(), "/proc/cmdline is readable here");
    assert_eq!(sys.cmdline(), &first[..], "kept");
}
