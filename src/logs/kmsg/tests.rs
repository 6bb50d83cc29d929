//! Unit tests of the kernel-log decisions: who prints a line, the mirrored
//! rate limit, the note.

use super::*;

/// The kernel's files as they read on Debian's kernel.
#[test]
fn the_kernels_files_are_read_as_the_kernel_writes_them() {
    assert_eq!(parse_loglevel("7\t4\t1\t7\n"), Some(7));
    assert_eq!(parse_loglevel("4       4       1       7"), Some(4));
    assert_eq!(parse_loglevel(""), None);
    assert_eq!(parse_loglevel("x 4 1 7"), None);
    assert_eq!(parse_mode("ratelimit\n"), Some(Mode::Ratelimit));
    assert_eq!(parse_mode("on\n"), Some(Mode::On));
    assert_eq!(parse_mode("off"), Some(Mode::Off));
    assert_eq!(parse_mode("maybe"), None);
    assert_eq!(parse_flag("Y\n"), Some(true));
    assert_eq!(parse_flag("N\n"), Some(false));
    assert_eq!(parse_flag(""), None);
}

/// A level-6 record is on the console when the loglevel is above 6 (a
/// boot without `quiet`, `debug`, `dmesg -n 8`) or `ignore_loglevel` is set;
/// not with `quiet` (4) or the kernel's default 7 lowered by `dmesg -n`.
#[test]
fn the_kernel_shows_a_level_6_record_only_above_loglevel_6() {
    assert!(kernel_shows(7, false));
    assert!(kernel_shows(8, false));
    assert!(!kernel_shows(6, false));
    assert!(!kernel_shows(4, false));
    assert!(!kernel_shows(1, false));
    assert!(kernel_shows(4, true), "ignore_loglevel prints everything");
}

/// What cinit assumes when a file cannot be read: it writes the line
/// itself (twice at worst, never missing), and keeps to the rate limit.
#[test]
fn unreadable_settings_err_on_the_side_of_showing_and_limiting() {
    let unknown = View::default();
    assert!(
        !unknown.kernel_shows(),
        "no loglevel: cinit writes the line"
    );
    assert!(
        unknown.limited(),
        "no mode: the kernel's default, ratelimit"
    );
    let loud = View {
        loglevel: Some(7),
        ..View::default()
    };
    assert!(loud.kernel_shows());
    let off = View {
        loglevel: Some(7),
        mode: Some(Mode::Off),
        ..View::default()
    };
    assert!(!off.kernel_shows(), "off: the kernel ignores the record");
    assert!(!off.limited());
    let on = View {
        mode: Some(Mode::On),
        ..View::default()
    };
    assert!(!on.limited());
    let ignore = View {
        loglevel: Some(4),
        ignore_loglevel: Some(true),
        ..View::default()
    };
    assert!(ignore.kernel_shows());
}

/// The view is read again after a second, and when the clock looks back.
#[test]
fn the_view_is_refreshed_after_a_second() {
    let mut v = View::default();
    assert!(v.stale(0), "never read");
    v.read_at = Some(10_000);
    assert!(!v.stale(10_000));
    assert!(!v.stale(10_999));
    assert!(v.stale(11_000));
    assert!(v.stale(9_000));
}

/// At most 10 records per window, measured from its first record; the
/// 11th is held until the window is surely over; `on` counts but never
/// holds.
#[test]
fn the_limiter_admits_the_kernels_burst_per_window() {
    let mut l = Limiter::default();
    for i in 0..BURST {
        assert!(l.admit(1000 + u64::from(i), true), "record {i}");
    }
    assert!(!l.admit(1010, true));
    l.hold();
    assert!(
        !l.admit(1000 + INTERVAL_MS, true),
        "the kernel's window may not be over"
    );
    l.hold();
    let sure = 1000 + INTERVAL_MS + MARGIN_MS;
    assert!(!l.admit(sure - 1, true));
    l.hold();
    assert_eq!(l.reopens_at(), Some(sure));
    assert!(!l.has_room(sure - 1));
    assert!(l.has_room(sure));
    assert!(l.admit(sure, true));
    assert_eq!(l.begin, Some(sure), "a new window from this record");
    assert_eq!(l.sent, 1);
    assert_eq!(l.held, 3);
    // Unlimited: every record is written, and still counted.
    let mut on = Limiter::default();
    for i in 0..50 {
        assert!(on.admit(i, false));
    }
    assert_eq!(on.sent, 50);
    assert!(
        !on.admit(60, true),
        "a switch to ratelimit finds the window used"
    );
}

/// Near the end of a window cinit cannot tell whether the kernel would
/// start a new one: a line there is held back, even with room.
#[test]
fn near_a_windows_end_a_line_is_held_back() {
    let mut l = Limiter::default();
    assert!(l.admit(0, true));
    assert!(
        l.admit(INTERVAL_MS - MARGIN_MS, true),
        "surely the old window"
    );
    assert!(!l.admit(INTERVAL_MS - MARGIN_MS + 1, true));
    assert!(!l.admit(INTERVAL_MS + MARGIN_MS - 1, true));
    assert!(
        l.admit(INTERVAL_MS + MARGIN_MS, true),
        "surely a new window"
    );
    assert_eq!((l.begin, l.sent), (Some(INTERVAL_MS + MARGIN_MS), 1));
    // Unlimited (`on`): written, and counted as a new window.
    assert!(l.admit(2 * INTERVAL_MS + MARGIN_MS, false));
}

/// The kernel as lib/ratelimit.c counts, at jiffies of `jiffy` ms, the
/// write reaching it `delay` ms after cinit read its clock: never more than
/// the burst in one of its windows, whatever cinit's rhythm of lines.
#[test]
fn the_kernel_never_drops_a_record_cinit_wrote() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for jiffy in [1u64, 4, 10] {
        for _run in 0..50 {
            let mut l = Limiter::default();
            let (mut begin, mut printed) = (None::<u64>, 0u32);
            let mut t = 0u64;
            let mut written = 0;
            for _ in 0..400 {
                // Bursts and pauses, often near a window's end.
                t += match rand(4) {
                    0 => rand(5),
                    1 => rand(400),
                    2 => 4900 + rand(200),
                    _ => rand(3000),
                };
                if !l.admit(t, true) {
                    continue;
                }
                written += 1;
                let k = (t + rand(MARGIN_MS - 2 * jiffy)) / jiffy * jiffy;
                let b = *begin.get_or_insert(k);
                if k > b + INTERVAL_MS {
                    begin = Some(k);
                    printed = 0;
                }
                printed += 1;
                assert!(printed <= BURST, "the kernel dropped the record at {t} ms");
            }
            assert!(written > 50);
        }
    }
}

/// The note says how many lines the kernel log missed, and why.
#[test]
fn the_note_counts_the_missed_lines() {
    assert_eq!(missed_note(0, 0), None);
    let n = missed_note(9, 0).unwrap();
    assert!(
        n.starts_with("9 lines not written to the kernel log (the kernel's rate limit"),
        "{n}"
    );
    let n = missed_note(1, 0).unwrap();
    assert!(n.starts_with("1 line not written"), "{n}");
    let n = missed_note(0, 2).unwrap();
    assert!(n.contains("2 lines") && n.contains("refused"), "{n}");
    let n = missed_note(3, 2).unwrap();
    assert!(
        n.starts_with("5 lines") && n.contains("3 over") && n.contains("2 refused"),
        "{n}"
    );
}
