//! Unit tests of the preflight verdict: the answer's exact form, the
//! snapshot-format range, crashes, failures, bounded quotes; and of
//! [`start`] with real programs: exec errors, the answer pipe.

use super::*;

const GOOD: &[u8] = b"cinit-preflight 1 snapshot=1..1 version=0.1.0 (abc)\n";

#[test]
fn the_own_answer_is_accepted_for_the_format_written() {
    let ours = answer();
    let a = judge(
        ours.as_bytes(),
        false,
        ExitStatus::Code(0),
        crate::update::snapshot::FORMAT,
    )
    .unwrap();
    assert_eq!(
        a.formats,
        (
            crate::update::snapshot::FORMAT,
            crate::update::snapshot::FORMAT_WORDS
        )
    );
    assert_eq!(a.version, crate::version());
}

#[test]
fn a_good_answer_parses() {
    let a = judge(GOOD, false, ExitStatus::Code(0), 1).unwrap();
    assert_eq!(a.formats, (1, 1));
    assert_eq!(a.version, "0.1.0 (abc)");
    let wide = b"cinit-preflight 1 snapshot=1..3 version=x\n";
    assert!(judge(wide, false, ExitStatus::Code(0), 2).is_ok());
}

#[test]
fn wrong_answers_are_refused() {
    for bad in [
        &b""[..],
        b"cinit-preflight 1 snapshot=1..1 version=x", // no newline
        b"cinit-preflight 2 snapshot=1..1 version=x\n", // another marker
        b"cinit-preflight 1 snapshot=2..1 version=x\n", // empty range
        b"cinit-preflight 1 snapshot=1 version=x\n",
        b"cinit-preflight 1 snapshot=1..1 version=\n",
        b"cinit-preflight 1 snapshot=a..1 version=x\n",
        b"cinit-preflight 1 snapshot=1..1 version=x\nmore\n",
        b"hello\n",
        b"cinit-preflight 1 snapshot=1..1 version=\xff\n",
    ] {
        let Refusal::Check(e) = judge(bad, false, ExitStatus::Code(0), 1).unwrap_err() else {
            panic!("not a check refusal");
        };
        assert!(e.starts_with("it did not answer as cinit does"), "{e}");
    }
}

#[test]
fn formats_outside_the_range_are_refused() {
    let e = judge(
        b"cinit-preflight 1 snapshot=2..3 version=v\n",
        false,
        ExitStatus::Code(0),
        1,
    )
    .unwrap_err();
    assert_eq!(
        e.message("/sbin/cinit"),
        "/sbin/cinit failed its preflight: it reads snapshot formats 2..3, not format 1 (version v)"
    );
}

#[test]
fn a_crash_a_failure_or_too_much_output_refuse_even_a_good_answer() {
    let check = |out, overflow, status| match judge(out, overflow, status, 1) {
        Err(Refusal::Check(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        check(GOOD, false, ExitStatus::Signal(11)),
        "it crashed (killed by SIGSEGV)"
    );
    assert_eq!(
        check(GOOD, false, ExitStatus::Code(3)),
        "it failed (exit status 3)"
    );
    assert_eq!(
        check(GOOD, true, ExitStatus::Code(0)),
        "it answered more than 256 bytes"
    );
}

#[test]
fn refusals_quote_a_bounded_part_of_the_output() {
    let long = vec![b'x'; 200];
    let e = judge(&long, false, ExitStatus::Code(0), 1)
        .unwrap_err()
        .message("p");
    assert!(e.len() < 160, "{e}");
    assert!(e.ends_with("…)"), "{e}");
    let e = judge(b"", false, ExitStatus::Code(0), 1)
        .unwrap_err()
        .message("p");
    assert!(e.ends_with("(got nothing)"), "{e}");
}

/// Starts `path` as a preflight and follows it as the event loop does
/// (poll the answer pipe, read it, reap the child), until the verdict: the
/// refusal (it must be one).
fn refusal_of(path: &Path) -> Refusal {
    let mut p = match start(path, &[], None, 0) {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Some(fd) = p.out.as_ref() {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd of ours.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        p.read();
        assert!(std::time::Instant::now() < until, "the pipe never closed");
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(p.pid, &mut status, 0) }, p.pid);
    p.status = Some(if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    });
    p.verdict(1).expect("reaped").expect_err("accepted")
}

/// `content` in a new file of `dir` with `mode`.
fn file(dir: &Path, name: &str, content: &[u8], mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Proves the child runs the opened file with `cinit --preflight` and its
/// stdout on the answer pipe, and that the pipe ends when the child does
/// (no copy of its write end stays in this process): `/bin/echo` answers
/// its arguments, `--preflight`, and is refused with that answer quoted.
#[test]
fn a_program_that_answers_wrong_is_refused_with_its_answer() {
    let e = refusal_of(Path::new("/bin/echo"));
    assert_eq!(
        e.message("/bin/echo"),
        "/bin/echo failed its preflight: it did not answer as cinit does (got \"--preflight\\n\")"
    );
}

/// Proves an image the kernel will not execute is refused when the
/// preflight starts, with the errno's text: garbage with mode 0755
/// (ENOEXEC), a real binary with mode 0644 (EACCES).
#[test]
fn an_image_that_cannot_be_executed_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read("/bin/true").unwrap();
    for (name, content, mode, why) in [
        (
            "garbage",
            &b"\x7fnot an image at all"[..],
            0o755,
            "Exec format error",
        ),
        ("plain", &real[..], 0o644, "Permission denied"),
    ] {
        let path = file(dir.path(), name, content, mode);
        // A spawn of another test may hold a copy of the file's write end
        // for a moment (ETXTBSY): try again.
        let mut tries = 0;
        let got = loop {
            match start(&path, &[], None, 0) {
                Err(Refusal::Exec(w)) if w == "Text file busy" && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.map(|p| p.pid),
            }
        };
        assert_eq!(got, Err(Refusal::Exec(why.to_string())), "{name}");
    }
}
