//! The service-directory file parsers (`src/config/svcdir.rs`) on arbitrary file
//! contents: `split_lines`, `parse_params` (`on.params`, `off.params`),
//! `parse_env` (`on.env`, `off.env`), `parse_delay` (`delay`, and
//! `conf/sleep_before_kill`), and `paths::profile_from_args` (the
//! `cprofile:NAME` word of the kernel command line).
//!
//! `respawn` has no parser (only its presence counts), and `needs/` and
//! `wants/` are directory listings resolved through the file system; they
//! are covered by the unit and namespace tests, not here.
//!
//! Proves: no panic, and each parser's documented rule:
//! - `split_lines` gives the file back: its items joined by newlines are
//!   the file without exactly one trailing newline; no item holds a newline;
//! - `parse_params` accepts exactly the files without a NUL byte, one
//!   argument per line, verbatim; otherwise it names the first bad line;
//! - `parse_env` accepts exactly the files whose every line is `NAME=value`
//!   with a non-empty name and no NUL byte, entries verbatim;
//! - `parse_delay` accepts a blank file (not set) or a whole number of
//!   seconds that fits a u32, and nothing else;
//! - `parse_notification_fd` (`src/config/ready.rs`) accepts exactly a number
//!   from 3 to 1023 (leading zeros and surrounding blanks allowed);
//! - `parse_notify_socket` accepts exactly a file of white space (its
//!   presence is the setting), and a refusal names the file;
//! - `parse_ready_timeout` accepts a blank file, or seconds with up to three
//!   decimals up to one day, and gives their exact milliseconds (`None`
//!   for zero);
//! - `config::watchdog::parse_watchdog` (`watchdog`) accepts the same
//!   seconds as `ready-timeout` but neither a blank file nor zero, and
//!   gives their exact milliseconds, more than 0 and at most one day;
//! - `config::sockets::parse` (`sockets`, `src/config/sockets.rs`) accepts at
//!   most 16 sockets with valid, distinct names, each rendered back to a
//!   line that parses to the same socket; a refusal names its line, which
//!   is a line of the file;
//! - `config::probe::parse_probe` (`ready-probe`, `src/config/probe.rs`) accepts one
//!   non-empty line only; what it accepts prints back (`Probe::line`) to
//!   a line that parses to the same probe; a TCP port is never 0, a Unix
//!   path is absolute, an `exec` has a program; a refusal names the file;
//! - `fdstore::parse_capacity` (`fdstore`) accepts exactly a whole number
//!   from 0 to 64, blanks around it allowed;
//! - `config::cgroupconf::parse` (`cgroup`) accepts at most 64 settings, each
//!   naming one file of a known controller (no `/`, no `..`, never
//!   `cgroup.*`) with a one-line value, and each printing back to a line
//!   that parses to the same setting;
//! - `config::condition::parse` (`condition`) accepts at most 32
//!   conditions from at most 4096 bytes, each path absolute, each argument
//!   one line without control characters (a `cmdline` word without white
//!   space), each printing back to a line that parses to the same
//!   condition; an error names its line; and `on_cmdline` of the input
//!   finds each word of it;
//! - `config::failure::parse_restart_limit` (`restart-limit`) accepts only
//!   files with one `N SECONDS` line besides blanks and `#` comments, N
//!   from 1 to 1000 and a window more than 0 and at most a day; a refusal
//!   names the file;
//! - `config::failure::parse_on_failure` (`on-failure`) accepts one action
//!   only, which prints back (`OnFailure::line`) to a file that parses to
//!   the same action; a `start` name never holds `..` or white space;
//! - a profile name never leaves the service tree (not empty, not absolute,
//!   no `.` or `..`);
//! - `config::instance::check_instance` (the `INSTANCE` of `NAME@INSTANCE`,
//!   here the file's first line) accepts exactly 1 to 64 bytes of ASCII
//!   letters, digits and `. _ - : +`, not starting with `.` or `-`;
//!   `substitute` (`%i` and `%%` in a template's `.params` and `.env`)
//!   with such a name keeps every line (never adds or removes one), gives
//!   a file without `%` back as it is, and undoes the escaping of every
//!   `%` as `%%`;
//! - nothing produced is larger than the input.
#![no_main]

use std::path::{Component, Path};

use cinit::config::instance::{allowed, check_instance, substitute, MAX_INSTANCE};
use cinit::config::failure::{parse_on_failure, parse_restart_limit};
use cinit::config::paths::profile_from_args;
use cinit::config::probe::{parse_line, parse_probe};
use cinit::config::ready::{
    parse_notification_fd, parse_notify_socket, parse_ready_timeout, MAX_NOTIFY_FD,
    MAX_READY_TIMEOUT_MS, MIN_NOTIFY_FD,
};
use cinit::config::sockets::{parse as parse_sockets, valid_name, MAX_SOCKETS};
use cinit::config::svcdir::{parse_delay, parse_env, parse_params, split_lines};
use cinit::config::watchdog::{parse_watchdog, MAX_WATCHDOG_MS};
use cinit::engine::failure::{OnFailure, MAX_EXITS, MAX_WINDOW_MS};
use cinit::engine::probe::Probe;
use cinit::fds::store::{parse_capacity, MAX_PER_SERVICE};
use libfuzzer_sys::fuzz_target;

fn check_lines(data: &[u8]) -> Vec<&[u8]> {
    let lines = split_lines(data);
    if data.is_empty() {
        assert!(lines.is_empty());
        return lines;
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    assert_eq!(lines.join(&b'\n'), body);
    assert_eq!(
        lines.len(),
        body.iter().filter(|&&b| b == b'\n').count() + 1
    );
    assert!(lines.iter().all(|l| !l.contains(&b'\n')));
    lines
}

fn check_params(data: &[u8], lines: &[&[u8]]) {
    let path = Path::new("svc/x/on.params");
    let first_nul = lines.iter().position(|l| l.contains(&0));
    match parse_params(path, data) {
        Ok(args) => {
            assert_eq!(first_nul, None);
            assert_eq!(args.len(), lines.len());
            for (a, l) in args.iter().zip(lines) {
                assert_eq!(a.to_bytes(), *l);
            }
        }
        Err(e) => {
            let n = first_nul.expect("refused without a NUL byte") + 1;
            assert_eq!(e.reason, format!("line {n} contains a NUL byte"));
            assert_eq!(e.file, path);
        }
    }
}

fn check_env(data: &[u8], lines: &[&[u8]]) {
    let path = Path::new("svc/x/on.env");
    let good = |l: &&[u8]| {
        matches!(l.iter().position(|&b| b == b'='), Some(i) if i > 0) && !l.contains(&0)
    };
    match parse_env(path, data) {
        Ok(env) => {
            assert!(lines.iter().all(good));
            assert_eq!(env.len(), lines.len());
            let mut total = 0;
            for (e, l) in env.iter().zip(lines) {
                let b = e.to_bytes();
                assert_eq!(b, *l);
                assert!(b.iter().position(|&c| c == b'=').is_some_and(|i| i > 0));
                total += b.len() + 1;
            }
            assert!(total <= data.len() + 1);
        }
        Err(e) => {
            assert!(!lines.iter().all(good), "refused a good file: {e}");
            assert_eq!(e.file, path);
            assert!(e.reason.starts_with("line "), "{}", e.reason);
        }
    }
}

fn check_delay(data: &[u8]) {
    let text = std::str::from_utf8(data).map(str::trim);
    match parse_delay(Path::new("delay"), data) {
        Ok(None) => assert_eq!(text, Ok("")),
        Ok(Some(n)) => {
            let t = text.expect("a number that is not UTF-8");
            assert_eq!(t.trim_start_matches('+').trim_start_matches('0'), {
                let s = n.to_string();
                if n == 0 {
                    String::new()
                } else {
                    s
                }
            });
        }
        Err(e) => {
            if let Ok(t) = text {
                assert!(!t.is_empty() && t.parse::<u32>().is_err(), "{t:?}: {e}");
            }
        }
    }
}

fn check_notification_fd(data: &[u8]) {
    let path = Path::new("svc/x/notification-fd");
    let text = std::str::from_utf8(data).map(str::trim);
    let expected = text
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u32>().ok())
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| (MIN_NOTIFY_FD..=MAX_NOTIFY_FD).contains(n));
    match parse_notification_fd(path, data) {
        Ok(fd) => assert_eq!(Some(fd), expected),
        Err(e) => {
            assert_eq!(expected, None, "refused {text:?}: {e}");
            assert_eq!(e.file, path);
        }
    }
}

fn check_notify_socket(data: &[u8]) {
    let path = Path::new("svc/x/notify-socket");
    match parse_notify_socket(path, data) {
        Ok(()) => assert!(data.iter().all(u8::is_ascii_whitespace)),
        Err(e) => {
            assert!(!data.iter().all(u8::is_ascii_whitespace));
            assert_eq!(e.file, path);
        }
    }
}

/// The duration files' model: blank (0), digits, or digits '.' one to
/// three digits; the value in milliseconds, computed digit by digit.
fn seconds_model(data: &[u8]) -> Option<u128> {
    let text = std::str::from_utf8(data).map(str::trim);
    text.ok().and_then(|t| {
        if t.is_empty() {
            return Some(0u128);
        }
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        let ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !ok(whole) || !ok(frac) || frac.len() > 3 || t.ends_with('.') {
            return None;
        }
        let mut ms: u128 = 0;
        for b in whole.bytes() {
            ms = ms.saturating_mul(10).saturating_add(u128::from(b - b'0'));
        }
        ms = ms.saturating_mul(1000);
        let mut scale = 100;
        for b in frac.bytes() {
            ms = ms.saturating_add(u128::from(b - b'0') * scale);
            scale /= 10;
        }
        Some(ms)
    })
}

fn check_ready_timeout(data: &[u8]) {
    let path = Path::new("svc/x/ready-timeout");
    let text = std::str::from_utf8(data).map(str::trim);
    let model = seconds_model(data);
    match parse_ready_timeout(path, data) {
        Ok(got) => {
            let ms = model.expect("accepted something that is not seconds");
            assert_eq!(u128::from(got.unwrap_or(0)), ms);
            assert!(got.is_none_or(|m| m > 0 && m <= MAX_READY_TIMEOUT_MS));
        }
        Err(e) => {
            assert_eq!(e.file, path);
            if let Some(ms) = model {
                assert!(
                    ms > u128::from(MAX_READY_TIMEOUT_MS),
                    "refused {text:?}: {e}"
                );
            }
        }
    }
}

fn check_sockets(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_sockets(text) {
        Ok(specs) => {
            assert!(specs.len() <= MAX_SOCKETS);
            for (k, s) in specs.iter().enumerate() {
                assert!(valid_name(&s.name), "{:?}", s.name);
                assert!(specs.iter().skip(k + 1).all(|o| o.name != s.name));
                assert_eq!(parse_sockets(&s.to_line()), Ok(vec![s.clone()]));
            }
        }
        Err(e) => {
            let n: usize = e
                .strip_prefix("line ")
                .and_then(|r| r.split_once(':'))
                .and_then(|(n, _)| n.parse().ok())
                .expect("an error without its line");
            assert!(n >= 1 && n <= text.split('\n').count(), "{e}");
        }
    }
}

fn check_profile(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let words: Vec<&str> = s.split(' ').collect();
    if let Ok(Some(name)) = profile_from_args(&words) {
        assert!(!name.is_empty() && name.len() <= data.len());
        assert!(Path::new(&name)
            .components()
            .all(|c| matches!(c, Component::Normal(_))));
        assert!(!name.starts_with('/'));
        assert!(!name.split('/').any(|c| c == ".."));
    }
}

/// `fdstore`: exactly a whole number from 0 to 64, blanks around it allowed.
fn check_fdstore(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = text.trim();
    let model = (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse::<u128>().ok())
        .flatten()
        .filter(|&n| n <= MAX_PER_SERVICE as u128);
    match parse_capacity(text) {
        Ok(n) => assert_eq!(Some(n as u128), model, "accepted {text:?}"),
        Err(_) => assert_eq!(model, None, "refused {text:?}"),
    }
}

/// `watchdog`: the same seconds as `ready-timeout`, but blank and 0 are
/// refused (a watchdog must name a time), and what it accepts is more
/// than 0 and at most a day, in exact milliseconds.
fn check_watchdog(data: &[u8]) {
    let path = Path::new("svc/x/watchdog");
    let model = seconds_model(data);
    match parse_watchdog(path, data) {
        Ok(got) => {
            let ms = model.expect("accepted something that is not seconds");
            assert_eq!(u128::from(got.get()), ms);
            assert!(u64::from(got.get()) <= MAX_WATCHDOG_MS);
        }
        Err(e) => {
            assert_eq!(e.file, path);
            if let Some(ms) = model {
                assert!(
                    ms == 0 || ms > u128::from(MAX_WATCHDOG_MS),
                    "refused {data:?}: {e}"
                );
            }
        }
    }
}

fn check_probe(data: &[u8]) {
    let path = Path::new("svc/x/ready-probe");
    match parse_probe(path, data) {
        Ok(p) => {
            let t = std::str::from_utf8(data).unwrap().trim();
            assert!(!t.is_empty() && !t.contains('\n'), "accepted {t:?}");
            assert_eq!(parse_line(&p.line()).as_ref(), Ok(&p), "{t:?}");
            match &p {
                Probe::Tcp(a) => assert_ne!(a.port(), 0),
                Probe::Unix(u) => assert!(u.is_absolute()),
                Probe::Exec(argv) => assert!(!argv.is_empty()),
            }
        }
        Err(e) => assert_eq!(e.file, path),
    }
}

fn check_cgroup(data: &[u8]) {
    use cinit::config::cgroupconf::{parse, CONTROLLERS, MAX_SETTINGS};
    let Ok(settings) = parse(data) else {
        return;
    };
    assert!(settings.len() <= MAX_SETTINGS);
    for s in &settings {
        assert!(!s.file.contains('/') && !s.file.contains(".."));
        assert!(CONTROLLERS.contains(&s.controller()));
        assert!(!s.value.is_empty() && !s.value.bytes().any(|b| b < b' ' || b == 0x7f));
        let line = s.to_string();
        assert_eq!(
            parse(line.as_bytes()).as_deref(),
            Ok(std::slice::from_ref(s))
        );
    }
}

fn check_condition(data: &[u8]) {
    use cinit::config::condition::{on_cmdline, parse, Test, MAX_BYTES, MAX_CONDITIONS};
    if let Ok(text) = std::str::from_utf8(data) {
        for word in text.split_ascii_whitespace().take(8) {
            assert!(on_cmdline(data, word), "{word:?}");
        }
    }
    match parse(data) {
        Ok(conds) => {
            assert!(data.len() as u64 <= MAX_BYTES);
            assert!(conds.len() <= MAX_CONDITIONS);
            for c in &conds {
                assert!(!c.arg.is_empty() && !c.arg.chars().any(char::is_control));
                match c.test {
                    Test::Cmdline => assert!(!c.arg.contains(char::is_whitespace)),
                    Test::Exists | Test::Directory => assert!(c.arg.starts_with('/')),
                }
                let line = c.to_string();
                assert_eq!(
                    parse(line.as_bytes()).as_deref(),
                    Ok(std::slice::from_ref(c))
                );
            }
        }
        Err(e) => assert!(
            e.starts_with("line ") || e == "not text" || e.starts_with("larger than"),
            "{e}"
        ),
    }
}

fn check_instance_and_substitute(data: &[u8], lines: &[&[u8]]) {
    let name = lines.first().copied().unwrap_or_default();
    let ok = !name.is_empty()
        && name.len() <= MAX_INSTANCE
        && name.iter().all(|&b| allowed(b))
        && !matches!(name.first(), Some(b'.' | b'-'));
    assert_eq!(check_instance(name).is_ok(), ok);
    // Any name for the substitution's sake, but a valid one has no `%`
    // and no newline, so the properties below hold.
    let inst: &[u8] = if ok { name } else { b"x" };
    let out = substitute(data, inst);
    assert_eq!(split_lines(&out).len(), lines.len());
    if !data.contains(&b'%') {
        assert_eq!(&*out, data);
    }
    let escaped: Vec<u8> = data
        .iter()
        .flat_map(|&b| if b == b'%' { vec![b'%', b'%'] } else { vec![b] })
        .collect();
    assert_eq!(&*substitute(&escaped, inst), data);
}

fn check_failure_files(data: &[u8]) {
    let path = Path::new("svc/x/restart-limit");
    match parse_restart_limit(path, data) {
        Ok(l) => {
            assert!((1..=MAX_EXITS).contains(&l.exits));
            assert!(l.within_ms > 0 && l.within_ms <= MAX_WINDOW_MS);
            let text = std::str::from_utf8(data).unwrap();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            assert_eq!(lines.len(), 1);
        }
        Err(e) => assert_eq!(e.file, path),
    }
    let path = Path::new("svc/x/on-failure");
    match parse_on_failure(path, data) {
        Ok(action) => {
            if let OnFailure::Start(name) = &action {
                assert!(!name.is_empty() && !name.contains(char::is_whitespace));
                assert!(name.split('/').all(|c| c != ".."));
            }
            let again = parse_on_failure(path, action.line().as_bytes()).unwrap();
            assert_eq!(again, action);
        }
        Err(e) => assert_eq!(e.file, path),
    }
}

fuzz_target!(|data: &[u8]| {
    let lines = check_lines(data);
    check_params(data, &lines);
    check_env(data, &lines);
    check_delay(data);
    check_notification_fd(data);
    check_notify_socket(data);
    check_ready_timeout(data);
    check_watchdog(data);
    check_probe(data);
    check_sockets(data);
    check_condition(data);
    check_fdstore(data);
    check_profile(data);
    check_cgroup(data);
    check_instance_and_substitute(data, &lines);
    check_failure_files(data);
});
