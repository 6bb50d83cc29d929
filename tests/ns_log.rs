//! Service logs, with the real `cinit` as PID 1 in namespaces: the pipe
//! cinit holds for each service (nothing lost across restarts or a hot
//! update), the bounded ring and its drop count, `cinit-ctl log` with `-n`
//! and `-f`, file output with rotation by a writer process, mirroring to
//! the console, the `console` flag, cinit's own log, and who may read logs.
//! A flooding service must not stall PID 1.

#![cfg(test)]

mod common;

use common::*;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::Duration;

/// A generous deadline for the machine being loaded.
const SLOW: Duration = Duration::from_secs(20);

/// The text of one `cinit-ctl log` line, after its two timestamps
/// (`2025-11-21T16:46:03.123Z [   12.345] text`); `None` if the line does
/// not have that shape.
fn text_of(line: &str) -> Option<&str> {
    let (wall, rest) = line.split_once(' ')?;
    let shaped = wall.len() == 24
        && wall.as_bytes()[10] == b'T'
        && wall.ends_with('Z')
        && wall.as_bytes()[19] == b'.';
    if !shaped || !rest.starts_with('[') {
        return None;
    }
    let (_, text) = rest.split_once("] ")?;
    Some(text)
}

/// Runs `cinit-ctl log ARGS`, asserts exit 0 and the line shape, and
/// returns the lines' texts and the whole output.
#[track_caller]
fn log_of(c: &Cinit, args: &[&str]) -> (Vec<String>, RunOutput) {
    let mut all = vec!["log"];
    all.extend(args);
    let out = c.ctl(&all);
    if out.code() != Some(0) {
        c.fail(&format!("cinit-ctl {all:?} failed:\n{}", out.dump()));
    }
    let texts = out
        .stdout
        .lines()
        .map(|l| match text_of(l) {
            Some(t) => t.to_owned(),
            None => c.fail(&format!("not a log line: {l:?}\n{}", out.dump())),
        })
        .collect();
    (texts, out)
}

/// The count in "N older lines of NAME were dropped" on stderr, 0 if none.
fn dropped_note(out: &RunOutput) -> u64 {
    out.stderr
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("cinit-ctl: ")?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("older lines of").then(|| n.parse().ok())?
        })
        .unwrap_or(0)
}

/// Numbers `K` of lines `PREFIX K`, in order.
fn numbers(texts: &[String], prefix: &str) -> Vec<u64> {
    texts
        .iter()
        .filter_map(|t| t.strip_prefix(prefix)?.parse().ok())
        .collect()
}

/// Whether `v` is consecutive (each number one more than the last).
fn consecutive(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[1] == w[0] + 1)
}

/// A respawn service that prints `line K` every 10 ms, numbering on across
/// its own restarts (the count is kept in a marker file). The count is
/// replaced by a rename, never rewritten in place: a reader must not see
/// the file empty halfway through a write and take it for 0.
fn counter(fx: &Fixture, name: &str) {
    let state = fx.mark(&format!("{name}.n"));
    fx.service(name).respawn().script(&format!(
        "i=$(cat '{s}' 2>/dev/null || echo 0)\n\
         while :; do i=$((i+1)); echo \"line $i\"; echo $i > '{s}.new'; mv '{s}.new' '{s}'; sleep 0.01; done",
        s = state.display()
    ));
}

/// `cinit-ctl log ARGS` running in the background, its stdout in a file.
struct Follower {
    child: Child,
    out: std::path::PathBuf,
}

impl Follower {
    fn start(c: &Cinit, fx: &Fixture, args: &[&str]) -> Follower {
        let out = fx.path().join(format!("follower.{}", fastrand_suffix()));
        let mut all = vec!["log"];
        all.extend(args);
        let child = c
            .ctl_cmd(&all)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Follower { child, out }
    }

    /// The texts of the whole lines it printed so far.
    fn texts(&self) -> Vec<String> {
        let all = fs::read_to_string(&self.out).unwrap_or_default();
        // A line without its newline yet is still being written.
        let whole = all.rsplit_once('\n').map_or("", |(whole, _)| whole);
        whole
            .lines()
            .filter_map(text_of)
            .map(str::to_owned)
            .collect()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Stop it; returns its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

/// A suffix that differs between calls in one test process.
fn fastrand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// cinit's resident memory in KiB.
fn rss_kib(c: &Cinit) -> u64 {
    c.proc()
        .status_field("VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Proves a service that floods its output does not stall PID 1: while
/// `yes` writes 100-byte lines as fast as it can into its pipe (not
/// mirrored, ring 64 KiB), twenty `status` requests each answer within 3 s,
/// a respawn bystander killed meanwhile is running again within 5 s, the
/// ring's dropped-line count keeps growing (it is reading), the ring holds
/// at most 64 KiB of lines (each counted with 48 bytes of overhead), and
/// cinit's resident memory grows by less than 8 MiB.
#[test]
fn flooding_service_does_not_stall_pid1() {
    let fx = Fixture::new();
    let text = "x".repeat(100);
    fx.service("flood")
        .respawn()
        .on_link("/usr/bin/yes")
        .params(&[&text])
        .file("log.mirror", "no\n");
    fx.service("bystander")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1201"]);
    fx.service("init").needs("flood").needs("bystander");
    let c = fx.boot_ctl();
    c.expect_outcome("init", "done");
    let bystander = c.wait_child_argv(&["/bin/sleep", "1201"], None);
    let rss_before = rss_kib(&c);
    sleep(Duration::from_millis(500));
    let (held1, out1) = log_of(&c, &["flood"]);
    let (held1, dropped1) = (held1.len(), dropped_note(&out1));
    let mut slowest = Duration::ZERO;
    let mut rss_max = rss_before;
    for k in 0..20 {
        let (out, took) = c.ctl_timed(&["status", "flood"]);
        c.check(
            out.code() == Some(0) && out.stdout.contains("flood: running"),
            &out.dump(),
        );
        slowest = slowest.max(took);
        rss_max = rss_max.max(rss_kib(&c));
        if k == 5 {
            c.check(send_signal(bystander.pid, libc::SIGKILL), "kill bystander");
        }
        sleep(Duration::from_millis(50));
    }
    let again = c.wait_for("the bystander to run again", Duration::from_secs(5), |c| {
        c.children_with_argv(&["/bin/sleep", "1201"])
            .into_iter()
            .find(|p| *p != bystander && p.is_alive())
    });
    let (held2, out2) = log_of(&c, &["flood"]);
    let dropped2 = dropped_note(&out2);
    let line = text.clone();
    println!(
        "flood: slowest status {slowest:?}, dropped {dropped1} -> {dropped2}, \
         rss {rss_before} -> {rss_max} KiB"
    );
    c.check_all(vec![
        (
            slowest < Duration::from_secs(3),
            format!("a status request took {slowest:?} during the flood"),
        ),
        (again.is_alive(), "bystander not restarted".to_owned()),
        (
            dropped2 > dropped1 && dropped1 > 0,
            format!("dropped lines did not grow: {dropped1} then {dropped2}"),
        ),
        (
            held2.len() * (line.len() + 48) <= 64 << 10 && held2.len() > 300,
            format!("{} lines held (and {held1} before)", held2.len()),
        ),
        (
            held2.iter().all(|t| *t == line),
            "a flood line was cut or mangled".to_owned(),
        ),
        (
            rss_max < rss_before + 8 * 1024,
            format!("cinit's RSS grew from {rss_before} to {rss_max} KiB"),
        ),
        (
            !c.console().contains(&format!("flood: {text}")),
            "log.mirror no, yet the flood is on the console".to_owned(),
        ),
    ]);
}

/// Proves nothing a service writes is lost across its restarts and lines
/// never run together: a respawn service prints 50 numbered lines and a
/// last line without a newline, then exits 1; it is run 5 times (restarted
/// at once, then after backoff). `cinit-ctl log` then holds all 5 × 51
/// lines in order (runs in order, lines 1–50 each, the unterminated tail as
/// a line of its own), and the console mirrors them as `NAME: line`.
#[test]
fn lines_across_restarts_are_all_there_in_order() {
    let fx = Fixture::new();
    let runs = fx.mark("runs");
    fx.service("phoenix").respawn().script(&format!(
        "r=$(cat '{s}' 2>/dev/null || echo 0); r=$((r+1)); echo $r > '{s}'\n\
         [ $r -gt 5 ] && exec sleep 1202\n\
         i=1; while [ $i -le 50 ]; do echo \"run $r line $i\"; i=$((i+1)); done\n\
         printf 'run %s tail' $r\nexit 1",
        s = runs.display()
    ));
    fx.service("init").needs("phoenix");
    let c = fx.boot_ctl();
    c.wait_for("the sixth run", SLOW, |c| {
        c.children()
            .into_iter()
            .find(|p| p.cmdline().first().is_some_and(|a| a == "sleep"))
    });
    let (texts, _) = log_of(&c, &["phoenix"]);
    let mut want = Vec::new();
    for r in 1..=5 {
        for i in 1..=50 {
            want.push(format!("run {r} line {i}"));
        }
        want.push(format!("run {r} tail"));
    }
    c.check(
        texts == want,
        &format!(
            "expected {} lines in order, got {}:\n{texts:#?}",
            want.len(),
            texts.len()
        ),
    );
    let console = c.console();
    c.check(
        console.contains("phoenix: run 3 line 50\n") && console.contains("phoenix: run 5 tail\n"),
        "service output is not mirrored as `NAME: line` on the console",
    );
}

/// The `[seconds]` of one `cinit-ctl log` line.
fn seconds_of(line: &str) -> Option<f64> {
    let rest = line.split_once(" [")?.1;
    rest.split_once(']')?.0.trim().parse().ok()
}

/// Proves a line's monotonic stamp is when cinit read it, not when it last
/// went to sleep: a service writes one line, sleeps 2 s while nothing else
/// wakes cinit (the test only watches a marker file), then writes another.
/// The two stamps must be at least 1.5 s apart; stamped with the time cinit
/// went to sleep, the second carried the first's time.
#[test]
fn a_line_is_stamped_when_it_was_read_not_when_cinit_went_idle() {
    let fx = Fixture::new();
    let done = fx.mark("written");
    fx.service("late").respawn().script(&format!(
        "echo before\nsleep 2\necho after\n: > '{}'\nexec sleep 1203",
        done.display()
    ));
    fx.service("init").needs("late");
    let c = fx.boot_ctl();
    let deadline = std::time::Instant::now() + SLOW;
    while !done.exists() {
        if std::time::Instant::now() > deadline {
            c.fail("the service never wrote its second line");
        }
        sleep(Duration::from_millis(50));
    }
    let out = c.ctl(&["log", "late"]);
    c.check(out.code() == Some(0), &out.dump());
    let stamp = |text: &str| {
        out.stdout
            .lines()
            .find(|l| text_of(l) == Some(text))
            .and_then(seconds_of)
            .unwrap_or_else(|| c.fail(&format!("no stamped line {text:?}:\n{}", out.dump())))
    };
    let (before, after) = (stamp("before"), stamp("after"));
    c.check(
        after - before >= 1.5,
        &format!(
            "the line written 2 s later is stamped {before} -> {after}:\n{}",
            out.stdout
        ),
    );
}

/// Proves a log writer that ends while the system goes down is not
/// announced as restarting (no writer starts during a shutdown): after a
/// poweroff, the console says the writer ended and is not started again,
/// and never "starting it again".
#[test]
fn a_writer_ending_at_shutdown_is_not_announced_as_restarting() {
    let fx = Fixture::new();
    let path = fx.path().join("logs/down.log");
    fx.service("down")
        .respawn()
        .script("echo up\nexec sleep 1204")
        .file("log.file", &format!("{}\n", path.display()));
    fx.service("init").needs("down");
    let mut c = fx.boot_ctl();
    c.wait_until("the writer to write", SLOW, |_| {
        fs::read_to_string(&path).is_ok_and(|t| t.contains("up"))
    });
    let out = c.ctl(&["poweroff"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_exit(SLOW);
    let console = c.console();
    c.check(
        !console.contains("starting it again"),
        &format!("a writer was announced as restarting during the poweroff:\n{console}"),
    );
    c.check(
        console.contains("log writer for down ended") && console.contains("not started again"),
        &format!("the writer's end is not said as it is:\n{console}"),
    );
}

/// Proves `log.size` bounds each service's ring and drops the oldest lines,
/// counted: with `log.size` 2k, 200 numbered lines of 8 bytes leave only
/// the newest ones (those fitting 2048 bytes at 48 bytes of overhead a
/// line: 37), consecutive up to line 200, and `cinit-ctl log` says the
/// other 163 were dropped; a service with the default 64 KiB holds all 200
/// and reports no drops. `-n 3` gives exactly the last three lines and
/// `-n 1000` all of them; `-n 0` is a usage error (exit 2).
#[test]
fn ring_size_per_service_overflow_count_and_n() {
    let fx = Fixture::new();
    let body = "i=1; while [ $i -le 200 ]; do printf 'L%06d\\n' $i; i=$((i+1)); done";
    fx.service("small").script(body).file("log.size", "2k\n");
    fx.service("big").script(body);
    fx.service("init").needs("small").needs("big");
    let c = fx.boot_ctl();
    c.expect_outcome("small", "done");
    c.expect_outcome("big", "done");
    let (small, out) = log_of(&c, &["small"]);
    let nums = numbers(&small, "L");
    let fit = 2048 / (48 + 7);
    c.check_all(vec![
        (
            nums.len() == fit && consecutive(&nums) && nums.last() == Some(&200),
            format!("small holds {nums:?}, expected the last {fit} lines"),
        ),
        (
            dropped_note(&out) == 200 - fit as u64,
            format!("drop note: {:?}", out.stderr),
        ),
    ]);
    let (big, out) = log_of(&c, &["big"]);
    c.check(
        numbers(&big, "L") == (1..=200).collect::<Vec<u64>>() && out.stderr.is_empty(),
        &format!("big: {big:?}\n{}", out.dump()),
    );
    let (last3, _) = log_of(&c, &["-n", "3", "big"]);
    c.check(
        last3 == ["L000198", "L000199", "L000200"],
        &format!("-n 3: {last3:?}"),
    );
    let (many, _) = log_of(&c, &["big", "-n", "1000"]);
    c.check(many.len() == 200, &format!("-n 1000: {} lines", many.len()));
    let out = c.ctl(&["log", "-n", "0", "big"]);
    c.check(out.code() == Some(2), &out.dump());
    let out = c.ctl(&["log", "nosuch"]);
    c.check(
        out.code() == Some(2) && out.stderr.contains("no such service: nosuch"),
        &out.dump(),
    );
}

/// Proves `-f` keeps a client receiving lines written after it started: a
/// follower started while a counting service runs prints the lines that
/// were there (from line 1), then (without asking again) hundreds of later
/// lines, consecutive, with no line twice; `-f -n 1` skips the history and
/// starts near the newest line (at most 100 lines, a second, behind what
/// the service had written when it was started). A follower of a service
/// that has not run yet gets its first lines once it starts.
#[test]
fn follow_receives_lines_written_after_it_started() {
    let fx = Fixture::new();
    counter(&fx, "count");
    counter(&fx, "later");
    fx.service("init").needs("count");
    let c = fx.boot_ctl();
    let count = || fx.read_mark("count.n").trim().parse::<u64>().unwrap_or(0);
    c.wait_until("150 lines", SLOW, |_| count() >= 150);
    let before = count();
    let mut all = Follower::start(&c, &fx, &["-f", "count"]);
    let mut one = Follower::start(&c, &fx, &["-f", "-n", "1", "count"]);
    let mut early = Follower::start(&c, &fx, &["-f", "later"]);
    let start = count();
    // Each follower is a process of its own: under load one may lag.
    for f in [&all, &one] {
        c.wait_until("the followers to see 200 more lines", SLOW, |_| {
            numbers(&f.texts(), "line ")
                .last()
                .is_some_and(|&n| n >= start + 200)
        });
    }
    let out = c.ctl(&["start", "later"]);
    c.check(out.code() == Some(0), &out.dump());
    c.wait_until("the early follower to see lines", SLOW, |_| {
        numbers(&early.texts(), "line ").len() >= 5
    });
    c.check(
        all.alive() && one.alive() && early.alive(),
        "a follower ended",
    );
    let (got_all, got_one, got_early) = (all.texts(), one.texts(), early.texts());
    let (a, o, e) = (
        numbers(&got_all, "line "),
        numbers(&got_one, "line "),
        numbers(&got_early, "line "),
    );
    let errs = [all.stop(), one.stop(), early.stop()];
    c.check_all(vec![
        (
            a.first() == Some(&1) && consecutive(&a) && *a.last().unwrap() >= start + 200,
            format!(
                "follower of all: {} lines, first {:?}, last {:?}, consecutive {}",
                a.len(),
                a.first(),
                a.last(),
                consecutive(&a)
            ),
        ),
        (
            o.len() > 100 && consecutive(&o) && o[0] + 100 >= before,
            format!(
                "-n 1 follower: {} lines from {:?} to {:?}, consecutive {} \
                 (the service had written {before})",
                o.len(),
                o.first(),
                o.last(),
                consecutive(&o)
            ),
        ),
        (
            e.first() == Some(&1) && consecutive(&e),
            format!("follower of a service not yet started: {e:?}"),
        ),
        (
            errs.iter().all(String::is_empty),
            format!("followers said: {errs:?}"),
        ),
    ]);
}

/// Proves file output with size rotation, written by a writer process that
/// is not mistaken for a service: `log.file` = PATH, 4k, keep 2. Six
/// hundred numbered lines leave PATH, PATH.1 and PATH.2 (no PATH.3), each
/// at most 4096 bytes and cut between lines, mode 0640, and together the
/// newest lines in order, ending with the last, each line with its two
/// timestamps. The writer runs as `cinit --log-writer PATH 4096 2 rot`, a
/// child of cinit holding only its pipe, the console, the file and the
/// file's directory; killed with SIGKILL, it is started again at once (the console
/// says so), the service is untouched (same pid, no restart), and lines
/// written while it was dead reach the file. Without `log.mirror`, a
/// service with a `log.file` is not mirrored to the console, but
/// `cinit-ctl log` has every line.
#[test]
fn file_output_rotates_and_the_writer_is_restarted() {
    let fx = Fixture::new();
    let path = fx.path().join("logs/rot.log");
    let go = fx.mark("go");
    fx.service("rot")
        .respawn()
        .script(&format!(
            "i=1; while [ $i -le 600 ]; do printf 'F%05d padding padding\\n' $i; i=$((i+1)); done\n\
             {wait}\n\
             i=601; while [ $i -le 650 ]; do printf 'F%05d padding padding\\n' $i; i=$((i+1)); done\n\
             exec sleep 1203",
            wait = sh_wait_for(&go, 1000)
        ))
        .file("log.file", &format!("{}\n4k\n2\n", path.display()));
    fx.service("init").needs("rot");
    let c = fx.boot_ctl();
    let service = c.wait_child_argv(
        &["/bin/sh", fx.svc_path("rot").join("on").to_str().unwrap()],
        None,
    );
    let p = path.display().to_string();
    let writer_argv = ["cinit", "--log-writer", &p, "4096", "2", "rot"];
    let writer = c.wait_child_argv(&writer_argv, None);
    let read = |k: Option<u32>| {
        let f = match k {
            None => path.clone(),
            Some(k) => Path::new(&format!("{p}.{k}")).to_path_buf(),
        };
        fs::read_to_string(f).unwrap_or_default()
    };
    c.wait_until("line 600 in the file", SLOW, |_| {
        read(None).contains("F00600")
    });
    let fds = writer.fds();
    let targets: Vec<String> = fds.iter().map(|(_, t)| t.display().to_string()).collect();
    let console = c.console_path().display().to_string();
    let dir = path.parent().unwrap().display().to_string();
    let mut rest: Vec<&str> = targets.iter().skip(3).map(String::as_str).collect();
    rest.sort_unstable();
    c.check(
        targets.len() == 5
            && targets[0].starts_with("pipe:")
            && targets[1] == console
            && targets[2] == console
            && rest == [dir.as_str(), p.as_str()],
        &format!(
            "writer fds {fds:?}: expected its pipe, the console twice, the file and its directory"
        ),
    );
    c.check(send_signal(writer.pid, libc::SIGKILL), "kill writer");
    c.wait_until("the writer's death to be logged", SLOW, |c| {
        c.console().contains(
            "cinit: log writer for rot ended: killed by SIGKILL; starting it again in 0.000s",
        )
    });
    fs::write(&go, "").unwrap();
    c.wait_until("line 650 in the file", SLOW, |_| {
        read(None).contains("F00650")
    });
    let again = c.wait_child_argv(&writer_argv, Some(writer));
    let files = [read(Some(2)), read(Some(1)), read(None)];
    let joined: String = files.concat();
    let texts: Vec<String> = joined
        .lines()
        .filter_map(text_of)
        .map(str::to_owned)
        .collect();
    let nums = numbers(
        &texts
            .iter()
            .map(|t| t.replace(" padding padding", ""))
            .collect::<Vec<_>>(),
        "F",
    );
    let mode = fs::metadata(&path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    let out = c.ctl(&["status", "rot"]);
    let (logged, _) = log_of(&c, &["rot"]);
    c.check_all(vec![
        (
            files
                .iter()
                .all(|f| !f.is_empty() && f.len() <= 4096 && f.ends_with('\n')),
            format!(
                "file sizes {:?}",
                files.iter().map(String::len).collect::<Vec<_>>()
            ),
        ),
        (
            !Path::new(&format!("{p}.3")).exists(),
            "a third rotated file was kept".to_owned(),
        ),
        (
            texts.len() == joined.lines().count(),
            "a line in the files lacks its timestamps".to_owned(),
        ),
        (
            consecutive(&nums) && nums.last() == Some(&650) && nums.len() > 80,
            format!(
                "the files hold {} lines: {:?}..{:?}",
                nums.len(),
                nums.first(),
                nums.last()
            ),
        ),
        (mode == 0o640, format!("mode {mode:o}, expected 640")),
        (
            again.ppid() == c.host_pid(),
            "the new writer is not cinit's child".to_owned(),
        ),
        (
            out.stdout
                .starts_with(&format!("rot: running, pid {}", service.ns_pid().unwrap()))
                && !out.stdout.contains("restarts"),
            format!("the service was touched: {}", out.stdout),
        ),
        (
            numbers(
                &logged
                    .iter()
                    .map(|t| t.replace(" padding padding", ""))
                    .collect::<Vec<_>>(),
                "F",
            ) == (1..=650).collect::<Vec<u64>>(),
            "cinit-ctl log lacks lines".to_owned(),
        ),
        (
            !c.console().contains("rot: F0"),
            "a service with log.file was mirrored by default".to_owned(),
        ),
    ]);
}

/// Proves mirroring: by default a service without `log.file` is mirrored
/// as `NAME: line`; `log.mirror` `no` turns that off, `yes` turns it on for
/// a service with a `log.file`; the lines are in every ring either way. A
/// bad `log.size` and a bad `log.mirror` are reported on the console as
/// `config: FILE: NAME: REASON; using the default` and the service runs
/// with the defaults (mirrored, its line in its log), reported once though
/// it runs twice.
#[test]
fn mirror_on_off_default_and_bad_settings() {
    let fx = Fixture::new();
    let file = fx.path().join("f.log");
    let hello = |name: &str| format!("echo hello from {name}");
    fx.service("plain").script(&hello("plain"));
    fx.service("quiet")
        .script(&hello("quiet"))
        .file("log.mirror", "no\n");
    fx.service("loud")
        .script(&hello("loud"))
        .file("log.file", &format!("{}\n", file.display()))
        .file("log.mirror", "yes\n");
    fx.service("odd")
        .script(&format!("{}; sleep 0.1; exit 1", hello("odd")))
        .respawn()
        .file("log.size", "lots\n")
        .file("log.mirror", "sometimes\n");
    fx.service("init")
        .needs("plain")
        .needs("quiet")
        .needs("loud")
        .needs("odd");
    let c = fx.boot_ctl();
    for s in ["plain", "quiet", "loud"] {
        c.expect_outcome(s, "done");
    }
    c.wait_until("odd to run twice", SLOW, |c| {
        c.count_state("running", "odd") >= 3
    });
    let console = c.console();
    for s in ["plain", "quiet", "loud", "odd"] {
        let (texts, _) = log_of(&c, &[s]);
        c.check(
            texts.first() == Some(&format!("hello from {s}")),
            &format!("{s}'s log: {texts:?}"),
        );
    }
    let count = |needle: &str| console.matches(needle).count();
    let svc = fx.svc_path("odd");
    c.check_all(vec![
        (count("plain: hello from plain\n") == 1, "plain not mirrored".to_owned()),
        (count("quiet: hello") == 0, "quiet mirrored".to_owned()),
        (count("loud: hello from loud\n") == 1, "loud not mirrored".to_owned()),
        (count("odd: hello from odd\n") >= 2, "odd (defaults) not mirrored".to_owned()),
        (
            count(&format!(
                "cinit: config: {}: odd: \"lots\" is not a size from 1 KiB to 16 MiB (bytes, or with k or M); using the default",
                svc.join("log.size").display()
            )) == 1,
            "bad log.size not reported exactly once".to_owned(),
        ),
        (
            count(&format!(
                "cinit: config: {}: odd: \"sometimes\" is neither yes nor no; using the default",
                svc.join("log.mirror").display()
            )) == 1,
            "bad log.mirror not reported exactly once".to_owned(),
        ),
    ]);
}

/// Proves the `console` flag: a service with a `console` file gets the
/// console itself as stdin, stdout and stderr (what a shell or getty
/// needs), writes to it without a prefix, and has no pipe and no lines in
/// its log; cinit holds no pipe for it.
#[test]
fn console_flag_gives_the_console_itself() {
    let fx = Fixture::new();
    fx.service("tty")
        .respawn()
        .script("echo straight to the console\nexec sleep 1204")
        .file("console", "");
    fx.service("init").needs("tty");
    let c = fx.boot_ctl();
    let p = c.wait_for("tty's sleep", SLOW, |c| {
        c.children()
            .into_iter()
            .find(|p| p.cmdline() == ["sleep", "1204"])
    });
    let fds = p.fds();
    let (texts, _) = log_of(&c, &["tty"]);
    let pipes = c
        .proc()
        .fds()
        .iter()
        .filter(|(_, t)| t.to_string_lossy().starts_with("pipe:"))
        .count();
    c.check_all(vec![
        (
            fds.len() == 3 && fds.iter().all(|(_, t)| t == c.console_path()),
            format!("stdio {fds:?}, expected the console three times"),
        ),
        (
            c.console().lines().any(|l| l == "straight to the console"),
            "the output is not on the console as written".to_owned(),
        ),
        (texts.is_empty(), format!("its log holds {texts:?}")),
        (pipes == 0, format!("cinit holds {pipes} pipe ends")),
    ]);
}

/// Proves cinit's own messages are a log too: `cinit-ctl log` without a
/// name shows them in order, stamped like every log line (its boot line,
/// a service's `running` line), `-n 2` the last two; inside a PID namespace
/// that is not the machine's, cinit never opens `/dev/kmsg` (it would write
/// into the host's kernel log).
#[test]
fn cinit_own_messages_are_a_log() {
    let fx = Fixture::new();
    fx.service("s")
        .respawn()
        .on_link("/bin/sleep")
        .params(&["1205"]);
    fx.service("init").needs("s");
    let c = fx.boot_ctl();
    c.expect_outcome("init", "done");
    let (texts, _) = log_of(&c, &[]);
    let boot = texts
        .iter()
        .position(|t| t.starts_with("cinit 0.1.0") && t.ends_with("booting as PID 1"));
    let running = texts.iter().position(|t| t.starts_with("running s (pid "));
    let (last2, _) = log_of(&c, &["-n", "2"]);
    let kmsg = c
        .proc()
        .fds()
        .iter()
        .any(|(_, t)| t == Path::new("/dev/kmsg"));
    c.check_all(vec![
        (
            boot == Some(0) && running.is_some_and(|r| r > 0),
            format!("own log: {texts:#?}"),
        ),
        (
            last2.len() == 2 && texts.ends_with(&last2),
            format!("-n 2: {last2:?}"),
        ),
        (
            !kmsg,
            "cinit opened /dev/kmsg in a PID namespace".to_owned(),
        ),
    ]);
}

/// Proves rings, pipes and followers survive hot updates with no line
/// lost: while a service prints a numbered line every 10 ms and a follower
/// (`-f`) reads it, three hot updates run (`cinit-ctl update`); afterwards
/// the service has the same pid, the console shows no loss, the follower
/// (still connected) got every line from 1 on, consecutive, up to lines
/// printed well after the last update, and `cinit-ctl log` holds every
/// line from 1 on.
#[test]
fn rings_pipes_and_followers_survive_hot_updates() {
    let fx = Fixture::new();
    counter(&fx, "ticker");
    fx.service("init").needs("ticker");
    let c = fx.boot_ctl();
    let count = || fx.read_mark("ticker.n").trim().parse::<u64>().unwrap_or(0);
    c.wait_until("20 lines", SLOW, |_| count() >= 20);
    let pid = c.ctl(&["pid", "ticker"]).stdout;
    let mut follower = Follower::start(&c, &fx, &["-f", "ticker"]);
    c.wait_until("the follower to read", SLOW, |_| {
        !follower.texts().is_empty()
    });
    for _ in 0..3 {
        let out = c.ctl(&["update"]);
        c.check(
            out.code() == Some(0) && out.stdout.starts_with("updated: cinit"),
            &out.dump(),
        );
        sleep(Duration::from_millis(100));
    }
    let after = count();
    c.wait_until(
        "the follower to get 100 lines past the updates",
        SLOW,
        |_| {
            numbers(&follower.texts(), "line ")
                .last()
                .is_some_and(|&n| n >= after + 100)
        },
    );
    let alive = follower.alive();
    let got = numbers(&follower.texts(), "line ");
    let err = follower.stop();
    let (logged, _) = log_of(&c, &["ticker"]);
    let logged = numbers(&logged, "line ");
    c.check_all(vec![
        (alive, format!("the follower ended: {err}")),
        (
            got.first() == Some(&1) && consecutive(&got),
            format!(
                "follower: {} lines {:?}..{:?}, consecutive {}",
                got.len(),
                got.first(),
                got.last(),
                consecutive(&got)
            ),
        ),
        (
            logged.first() == Some(&1) && consecutive(&logged) && logged.len() as u64 >= after,
            format!(
                "ring: {} lines {:?}..{:?}",
                logged.len(),
                logged.first(),
                logged.last()
            ),
        ),
        (
            c.ctl(&["pid", "ticker"]).stdout == pid,
            "the service was restarted".to_owned(),
        ),
        (
            !c.console().contains("update: lost"),
            "the update lost something".to_owned(),
        ),
        (err.is_empty(), format!("the follower said: {err}")),
    ]);
}

/// Proves reading logs needs root (service output may hold secrets): with
/// cinit as the real root and `cinit-ctl log` run inside its namespaces as
/// uid 65534, `log NAME` and `log` (cinit's own) exit 4 with "permission
/// denied: log needs root"; the same request as uid 0 works.
#[test]
fn a_non_root_client_may_not_read_logs() {
    if !runs_as_root("uid 65534 as the client") {
        return;
    }
    let fx = Fixture::new();
    let exe = fx.ctl_for_others();
    fx.service("secret").script("echo password=hunter2");
    fx.service("init").needs("secret");
    let c = fx.boot_ctl_real_root();
    c.expect_outcome("secret", "done");
    for args in [
        vec!["log", "secret"],
        vec!["log"],
        vec!["log", "-f", "secret"],
    ] {
        let out = c.ctl_in_ns_as(65534, &exe, &args);
        c.check(
            out.code() == Some(4)
                && out
                    .stderr
                    .contains("permission denied: log needs root (you are uid 65534)")
                && !out.stdout.contains("hunter2"),
            &format!("{args:?} as nobody:\n{}", out.dump()),
        );
    }
    let out = c.ctl_in_ns_as(0, &exe, &["log", "secret"]);
    c.check(
        out.code() == Some(0) && out.stdout.contains("password=hunter2"),
        &out.dump(),
    );
}

/// Proves a follower is kept for as long as it reads, however quiet the
/// log, and dropped once it stops reading: a follower of a service that
/// prints nothing for 7 s (past the control socket's 5 s deadline) is still
/// connected and then gets the line printed after that; a raw connection
/// that asks to follow a flooding service and never reads is closed by
/// cinit within 10 s (its socket reaches end-of-file after what was
/// queued), while `status` keeps answering.
#[test]
fn idle_followers_stay_and_stuck_ones_are_dropped() {
    use std::io::Write;
    let fx = Fixture::new();
    let go = fx.mark("go");
    fx.service("quiet").respawn().script(&format!(
        "{}\necho late line\nexec sleep 1206",
        sh_wait_for(&go, 5000)
    ));
    fx.service("flood")
        .respawn()
        .on_link("/usr/bin/yes")
        .params(&["stuck"])
        .file("log.mirror", "no\n");
    fx.service("init").needs("quiet").needs("flood");
    let c = fx.boot_ctl();
    c.expect_outcome("init", "done");
    let mut idle = Follower::start(&c, &fx, &["-f", "quiet"]);
    let mut stuck = c.connect();
    let req = cinit::proto::encode_request(&cinit::proto::Request::Log {
        name: Some("flood".into()),
        lines: 0,
        follow: true,
    });
    stuck.write_all(&req).unwrap();
    sleep(Duration::from_secs(7));
    let (out, took) = c.ctl_timed(&["status", "quiet"]);
    c.check(
        out.code() == Some(0) && took < Duration::from_secs(3),
        &format!("status took {took:?}:\n{}", out.dump()),
    );
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 16];
    let mut total = 0usize;
    let closed = loop {
        match stuck.read(&mut sink) {
            Ok(0) => break true,
            Ok(n) => total += n,
            Err(_) => break false,
        }
        if total > 64 << 20 {
            break false;
        }
    };
    c.check(
        closed,
        &format!("the non-reading follower was not dropped ({total} bytes read)"),
    );
    c.check(idle.alive(), "the idle follower ended");
    fs::write(&go, "").unwrap();
    c.wait_until("the idle follower to get the late line", SLOW, |_| {
        idle.texts().iter().any(|t| t == "late line")
    });
    let err = idle.stop();
    c.check(err.is_empty(), &format!("the idle follower said: {err}"));
}
