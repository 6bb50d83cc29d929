//! Unit tests of cinit's own lines on their way to the kernel log and the
//! console: a pipe stands for `/dev/kmsg`, the kernel's settings are given.

use super::*;
use crate::logs::kmsg::{BURST, INTERVAL_MS, MARGIN_MS};
use crate::logs::Logs;
use crate::sys::console::Console;

/// Everything in a non-blocking pipe's read end, as lines.
fn drain(fd: &OwnedFd) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = nix::unistd::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Logs whose kernel log is a pipe, the kernel's settings `view`; and the
/// read ends of that pipe and of the console.
fn setup(view: View) -> (Logs, Console, OwnedFd, OwnedFd) {
    use nix::fcntl::OFlag;
    let (kr, kw) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
    let (cr, cw) = nix::unistd::pipe2(OFlag::O_NONBLOCK).unwrap();
    let mut logs = Logs::new();
    logs.kmsg = Some(KmsgLog::for_test(kw, view));
    (logs, Console::new(Some(cw)), kr, cr)
}

fn view(loglevel: u8, mode: Mode) -> View {
    View {
        loglevel: Some(loglevel),
        ignore_loglevel: Some(false),
        mode: Some(mode),
        read_at: Some(0),
    }
}

/// A boot without `quiet` (loglevel 7) and the default rate limit, 25 lines
/// at once: the first 10 go to the kernel log only (the kernel shows them),
/// the other 15 to the console only (cinit writes them); each line is on
/// the console once and all 25 are in cinit's own log. When the window is
/// surely over, the loop's deadline comes and one note says the kernel log
/// missed 15 lines.
#[test]
fn each_line_once_on_the_console_and_the_kernel_log_told_what_it_missed() {
    let (mut logs, mut console, kmsg, con) = setup(view(7, Mode::Ratelimit));
    for i in 0..25u64 {
        logs.own_line(1000 + i, &format!("line {i}"), &mut console);
    }
    let records = drain(&kmsg);
    let shown = drain(&con);
    assert_eq!(records.len(), BURST as usize, "{records:?}");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r, &format!("<6>cinit: line {i}"));
    }
    assert_eq!(shown.len(), 15, "{shown:?}");
    for (k, line) in shown.iter().enumerate() {
        assert!(
            line.ends_with(&format!("] cinit: line {}", k + 10)),
            "{line}"
        );
    }
    assert_eq!(logs.own.len(), 25);
    // The window began with the first line, at 1000.
    let due = 1000 + INTERVAL_MS + MARGIN_MS;
    assert_eq!(logs.next_deadline(), Some(due));
    logs.missed_note(due - 1, &mut console);
    assert!(
        drain(&kmsg).is_empty(),
        "not before the window is surely over"
    );
    logs.missed_note(due, &mut console);
    let note = drain(&kmsg);
    assert_eq!(note.len(), 1);
    assert!(
        note[0].starts_with("<6>cinit: 15 lines not written to the kernel log"),
        "{note:?}"
    );
    assert!(drain(&con).is_empty(), "the kernel shows the note");
    let own = logs.own.lines().last().unwrap().text.clone();
    assert!(own.starts_with("15 lines not written"), "{own}");
    assert_eq!(logs.next_deadline(), None);
}

/// With `quiet` (loglevel 4) the kernel shows nothing: cinit writes every
/// line to the console, and those within the limit to the kernel log too.
/// With `printk.devkmsg=on` there is no limit; with `off`, nothing goes to
/// the kernel log and everything to the console.
#[test]
fn quiet_on_and_off() {
    let (mut logs, mut console, kmsg, con) = setup(view(4, Mode::Ratelimit));
    for i in 0..12u64 {
        logs.own_line(i, &format!("q {i}"), &mut console);
    }
    assert_eq!(drain(&kmsg).len(), BURST as usize);
    assert_eq!(drain(&con).len(), 12);

    let (mut logs, mut console, kmsg, con) = setup(view(7, Mode::On));
    for i in 0..30u64 {
        logs.own_line(i, &format!("on {i}"), &mut console);
    }
    assert_eq!(drain(&kmsg).len(), 30);
    assert!(drain(&con).is_empty());
    assert_eq!(logs.next_deadline(), None);

    let (mut logs, mut console, kmsg, con) = setup(view(7, Mode::Off));
    logs.own_line(0, "off", &mut console);
    assert!(drain(&kmsg).is_empty());
    assert_eq!(drain(&con).len(), 1);
}

/// A console that is not the kernel's (`CINIT_CONSOLE`) never relies on
/// the kernel's echo.
#[test]
fn another_console_gets_every_line_from_cinit() {
    let (mut logs, mut console, kmsg, con) = setup(view(7, Mode::On));
    logs.console_is_kernels(false);
    logs.own_line(0, "hello", &mut console);
    assert_eq!(drain(&kmsg).len(), 1);
    assert_eq!(drain(&con).len(), 1);
}

/// A write the kernel refuses (here: a pipe with no reader) puts the line
/// on the console, and the refusal is counted for the note.
#[test]
fn a_refused_write_is_shown_by_cinit_and_counted() {
    let (mut logs, mut console, kmsg, con) = setup(view(7, Mode::On));
    drop(kmsg);
    // SAFETY: ignoring SIGPIPE in the test process; writes then fail EPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    logs.own_line(0, "lost", &mut console);
    assert_eq!(drain(&con).len(), 1);
    assert_eq!(logs.kmsg.as_ref().unwrap().refused, 1);
}
