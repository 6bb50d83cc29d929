//! cinit's own lines on a real console and in the kernel log: each line
//! once on the serial console with and without `quiet` and after
//! `dmesg -n`, all in `dmesg`, and the kernel's `/dev/kmsg` rate limit
//! noted and counted, also across a hot update.

use crate::harness::{self, Vm, STEP_TIMEOUT};
use crate::power_off;
use cinit_testkit::serial::without_kernel_interjections;

/// cinit's own log (`cinit-ctl log`), the messages without their stamps.
fn own_messages(vm: &mut Vm) -> Vec<String> {
    let reply = vm.run_ok("cinit-ctl log");
    reply
        .lines
        .iter()
        .filter_map(|l| l.split_once("] ").map(|(_, m)| m.to_string()))
        .collect()
}

/// cinit's lines in the kernel log (`dmesg`), the messages only. The reply
/// says `K:` for `cinit:`, so that it is not taken for cinit's lines.
fn kmsg_messages(vm: &mut Vm) -> Vec<String> {
    let reply = vm.run_ok("dmesg | grep -o 'cinit: .*' | sed 's/^cinit: /K: /'");
    reply
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("K: ").map(str::to_string))
        .collect()
}

/// How often each message is in `lines`.
fn counts(lines: &[String]) -> std::collections::BTreeMap<&str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

/// Every message of cinit's own log is on the serial console as `cinit:
/// MESSAGE` at the end of a line exactly as often as in the log, and no
/// console line holds two stamped lines of cinit's (one glued into
/// another).
fn each_once_on_the_console(vm: &mut Vm, own: &[String]) {
    // The console lines of the last commands have arrived.
    vm.run_ok("sleep 1");
    // A kernel line printed into the middle of one of cinit's is moved out
    // first: the kernel writes to the port wherever cinit is.
    let raw = vm.log();
    let log = without_kernel_interjections(&raw);
    let mut wrong = Vec::new();
    for (message, n) in counts(own) {
        let seen = log.matches(&format!("cinit: {message}\n")).count();
        if seen != n {
            wrong.push(format!(
                "{seen}× on the console, {n}× in the log: {message}"
            ));
        }
    }
    for line in raw.lines() {
        // `[    2.053] cinit: mounted tmpfs[    2.075269] cinit: mounted…`
        let stamped = line
            .match_indices("] cinit: ")
            .filter(|&(i, _)| {
                line.get(..i)
                    .and_then(|head| head.rfind('['))
                    .and_then(|open| line.get(open..))
                    .and_then(harness::stamp)
                    .is_some()
            })
            .count();
        if stamped > 1 {
            wrong.push(format!("glued: {line}"));
        }
    }
    if !wrong.is_empty() {
        vm.fail(&format!(
            "cinit's lines are not each once on the console:\n{}",
            wrong.join("\n")
        ));
    }
    vm.note(format!(
        "{} lines of cinit's, each once on the console",
        own.len()
    ));
}

/// The console loglevel (the first field of /proc/sys/kernel/printk).
fn console_loglevel(vm: &mut Vm) -> u32 {
    let reply = vm.run_ok("cat /proc/sys/kernel/printk");
    reply
        .lines
        .first()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Every message of cinit's own log is in the kernel log as often.
fn all_in_the_kernel_log(vm: &mut Vm, own: &[String]) {
    let kmsg = kmsg_messages(vm);
    let (own_n, kmsg_n) = (counts(own), counts(&kmsg));
    let missing: Vec<String> = own_n
        .iter()
        .filter(|(m, n)| kmsg_n.get(*m).copied().unwrap_or(0) < **n)
        .map(|(m, _)| (*m).to_string())
        .collect();
    if !missing.is_empty() {
        vm.fail(&format!("not in dmesg:\n{}", missing.join("\n")));
    }
}

/// Booted without `quiet`: the console loglevel is 7, so the kernel prints
/// every record cinit writes to `/dev/kmsg` (level 6) on the console (with
/// `printk.devkmsg=on`, no rate limit). Each of cinit's own lines
/// (`cinit-ctl log`) is on the serial console exactly once, none glued into
/// another line, and each is in `dmesg`. Before, each line was there twice,
/// cinit's copy and the kernel's, often one inside the other.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_each_line_once_without_quiet() {
    let mut vm = Vm::boot_loud("kmsg_each_line_once_without_quiet", "printk.devkmsg=on");
    vm.wait_ready("init");
    let level = console_loglevel(&mut vm);
    if level != 7 {
        vm.fail(&format!("the console loglevel is {level}, not 7"));
    }
    vm.run_ok("cinit-ctl restart httpd");
    let own = own_messages(&mut vm);
    each_once_on_the_console(&mut vm, &own);
    all_in_the_kernel_log(&mut vm, &own);
    power_off(&mut vm);
}

/// Booted with `quiet` (console loglevel 4: the kernel prints none of
/// cinit's records), then the loglevel changed at run time: `dmesg -n 8`
/// (the kernel prints them) and `dmesg -n 1` (it prints none), each
/// followed by lines of cinit's (a restart of httpd) more than a second
/// later. Each of cinit's lines is on the console exactly once throughout,
/// and each is in `dmesg`.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_each_line_once_with_quiet_and_dmesg_n() {
    let mut vm = Vm::boot(
        "kmsg_each_line_once_with_quiet_and_dmesg_n",
        "printk.devkmsg=on",
    );
    vm.wait_ready("init");
    let level = console_loglevel(&mut vm);
    if level != 4 {
        vm.fail(&format!("the console loglevel is {level}, not 4"));
    }
    // cinit reads the loglevel again after a second.
    vm.run_ok("dmesg -n 8; sleep 2; cinit-ctl restart httpd");
    vm.run_ok("dmesg -n 1; sleep 2; cinit-ctl restart httpd");
    let own = own_messages(&mut vm);
    if own.iter().filter(|m| m.contains("httpd")).count() < 4 {
        vm.fail(&format!(
            "the restarts left no lines in cinit's log: {own:?}"
        ));
    }
    each_once_on_the_console(&mut vm, &own);
    all_in_the_kernel_log(&mut vm, &own);
    power_off(&mut vm);
}

/// Booted without `quiet` and with the kernel's default rate limit for
/// `/dev/kmsg` (10 records per 5 s per open file): the boot's burst of
/// cinit's lines is more than the kernel takes. cinit holds back what the
/// kernel would drop, writes it to the console itself, and once the window
/// is over notes in its own log (and the console, and the kernel log) how
/// many lines the kernel log missed. The notes add up to exactly the lines
/// of cinit's own log that `dmesg` lacks, and each line is on the console
/// once. Before, the kernel dropped lines without a word and the rest were
/// on the console twice.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_rate_limit_is_noted_and_counted() {
    let mut vm = Vm::boot_loud("kmsg_rate_limit_is_noted_and_counted", "");
    vm.wait_ready("init");
    let mode = vm.run_ok("cat /proc/sys/kernel/printk_devkmsg");
    if mode.lines != ["ratelimit"] {
        vm.fail(&format!(
            "printk_devkmsg is {:?}, not ratelimit",
            mode.lines
        ));
    }
    noted_as_missed_is_what_dmesg_lacks(&mut vm);
    power_off(&mut vm);
}

/// Wait for the note of lines the kernel log missed and until nothing is
/// held back any more; then the notes must add up to exactly the lines of
/// cinit's own log that `dmesg` lacks, and each line must be on the
/// console once.
fn noted_as_missed_is_what_dmesg_lacks(vm: &mut Vm) {
    const NOTE: &str = " not written to the kernel log";
    // The note comes once the window is surely over (a little over 5 s);
    // then nothing is held back any more.
    vm.run(&format!(
        "for i in $(seq 150); do cinit-ctl log | grep -q '{NOTE}' && break; \
         usleep 100000; done; sleep 6"
    ));
    let own = own_messages(vm);
    let noted: usize = own
        .iter()
        .filter(|m| m.contains(NOTE))
        .filter_map(|m| m.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    if noted == 0 {
        vm.fail(&format!("no note of lines the kernel log missed: {own:?}"));
    }
    let kmsg = kmsg_messages(vm);
    let kmsg_n = counts(&kmsg);
    let mut missing = 0;
    for (message, n) in counts(&own) {
        let got = kmsg_n.get(message).copied().unwrap_or(0);
        if got > n {
            vm.fail(&format!("{got}× in dmesg, {n}× in cinit's log: {message}"));
        }
        missing += n - got;
    }
    vm.note(format!(
        "{} lines of cinit's; {} in dmesg; {missing} missing; the notes say {noted}",
        own.len(),
        kmsg.len()
    ));
    if missing != noted {
        vm.fail(&format!(
            "dmesg lacks {missing} of cinit's lines, the notes say {noted}"
        ));
    }
    each_once_on_the_console(vm, &own);
}

/// The descriptors of PID 1 open on /dev/kmsg, as `ls -l /proc/1/fd` shows
/// them (`N -> /dev/kmsg`).
fn kmsg_fds(vm: &mut Vm) -> Vec<String> {
    let reply =
        vm.run_ok("ls -l /proc/1/fd | grep /dev/kmsg | sed 's/.* \\([0-9]*\\) -> /\\1 -> /'");
    reply.lines
}

/// A hot update (`kill -CONT 1`, cinit executing itself) while the boot's
/// burst is still held back: the new image keeps the same open /dev/kmsg
/// (the kernel's count is per open file; a new one would start a new
/// count the old window does not know of) and the window and held count,
/// so the note after the update still adds up to exactly what `dmesg`
/// lacks, and each line is on the console once.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn kmsg_rate_limit_carries_across_a_hot_update() {
    let mut vm = Vm::boot_loud("kmsg_rate_limit_carries_across_a_hot_update", "");
    vm.wait_ready("init");
    let before = kmsg_fds(&mut vm);
    let mark = vm.mark();
    vm.run_ok("kill -CONT 1");
    vm.expect_not(
        mark,
        "took over from cinit",
        "cinit: update failed",
        STEP_TIMEOUT,
    );
    let after = kmsg_fds(&mut vm);
    vm.note(format!(
        "/dev/kmsg of PID 1: before {before:?}, after {after:?}"
    ));
    if before.len() != 1 || after != before {
        vm.fail(&format!(
            "PID 1 should keep its one /dev/kmsg across the update: before {before:?}, \
             after {after:?}"
        ));
    }
    noted_as_missed_is_what_dmesg_lacks(&mut vm);
    power_off(&mut vm);
}
