//! Unit tests of the preflight verdict: the answer's exact form, the
//! snapshot-format range, crashes, failures, exec errors, bounded quotes.

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
fn an_exec_failure_record_names_the_errno() {
    let mut rec = vec![EXEC_FAILED];
    rec.extend_from_slice(&libc::ENOEXEC.to_le_bytes());
    let e = judge(&rec, false, ExitStatus::Code(127), 1).unwrap_err();
    assert_eq!(
        e.message("/sbin/cinit"),
        "cannot execute /sbin/cinit: Exec format error"
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
