//! The sample system's features and faults: the `minimal` profile, a data
//! disk, service logs, the boot chart in a browser, the wall clock jumping,
//! and a fatal fault in PID 1.

use crate::harness::{Vm, STEP_TIMEOUT};
use crate::{entry, power_off, ONCE, RESPAWN, SKIPPED};
use cinit_testkit::chart;
use std::time::{Duration, Instant};

/// `cprofile:minimal` on the kernel command line boots the `minimal`
/// profile: only the mounts and the console shell.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn minimal_profile() {
    let mut vm = Vm::boot("minimal_profile", "cprofile:minimal");
    vm.wait_ready("minimal");
    if !vm.seen("cinit: profile minimal") {
        vm.fail("no `profile minimal` line on the console");
    }
    let services = vm.list();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    if names != ["minimal", "mounts", "shell"] {
        vm.fail(&format!(
            "the minimal profile runs {names:?}, expected minimal, mounts, shell"
        ));
    }
    let expected = [
        ("minimal", "done"),
        ("mounts", "done"),
        ("shell", "running"),
    ];
    for (name, state) in expected {
        let (s, _) = entry(&mut vm, &services, name);
        if s != state {
            vm.fail(&format!("{name} is {s}, expected {state}"));
        }
    }
    power_off(&mut vm);
}

/// With a virtio disk attached (and `cinit.data` on the kernel command
/// line, which the `data` service's condition asks for), the `data` service
/// loads the virtio modules and mounts it on /data (the file put into the
/// image is readable there); at poweroff its `off` unmounts it before the
/// power goes. (Without a disk, every other scenario shows it `skipped`:
/// `boot` checks it, with its condition as the reason.)
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn data_disk() {
    let dir = std::env::temp_dir().join(format!("cinit-vm-data-{}", std::process::id()));
    let content = dir.join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("hello"), "hello from the data disk\n").unwrap();
    let image = dir.join("data.img");
    let made = std::process::Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(&content)
        .arg(&image)
        .arg("8M")
        .status()
        .expect("mkfs.ext4 (e2fsprogs) is needed for this scenario");
    assert!(made.success(), "mkfs.ext4 failed: {made}");
    let drive = format!("file={},if=virtio,format=raw", image.display());
    let mut vm = Vm::boot_with("data_disk", "cinit.data", &["-drive".to_string(), drive]);
    vm.wait_ready("init");
    if !vm.seen("data: /dev/vda mounted on /data") {
        vm.fail("the data service did not mount the disk");
    }
    let reply = vm.run_ok("cat /data/hello");
    if reply.lines != ["hello from the data disk"] {
        vm.fail(&format!("/data/hello reads {:?}", reply.lines));
    }
    let services = vm.list();
    let (state, _) = entry(&mut vm, &services, "data");
    if state != "done" {
        vm.fail(&format!("data is {state}, expected done"));
    }
    power_off(&mut vm);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until `cinit-ctl pid NAME` shows a pid other than `old` (the
/// service was respawned); returns it and how long it took.
fn wait_new_pid(vm: &mut Vm, name: &str, old: u32) -> (u32, Duration) {
    let start = Instant::now();
    loop {
        let reply = vm.run(&format!("cinit-ctl pid {name}"));
        if let [ref line] = reply.lines[..] {
            if let Ok(pid) = line.trim().parse::<u32>() {
                if reply.rc == 0 && pid != old {
                    return (pid, start.elapsed());
                }
            }
        }
        if start.elapsed() > STEP_TIMEOUT {
            vm.fail(&format!("{name} was not respawned (old pid {old})"));
        }
    }
}

/// B9 (the realtime half; the monotonic half runs in a time namespace):
/// the wall clock set 10 years ahead, then 20 years back, with `date -s` in
/// the real system. Proves cinit's timers do not follow the wall clock:
/// after each jump a killed respawn service (crond) comes back as after any
/// first death (well within the step timeout, not 10 years or never), and
/// the control socket answers; the machine then powers off normally.
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn b9_realtime_jumps_leave_timers_alone() {
    let mut vm = Vm::boot("b9_realtime_jumps_leave_timers_alone", "");
    vm.wait_ready("init");
    let mut pid = vm.pid("crond");
    for (jump, what) in [
        ("+ 315360000", "10 years ahead"),
        ("- 630720000", "20 years back"),
    ] {
        vm.run_ok(&format!("date -s @$(( $(date +%s) {jump} )) >/dev/null"));
        vm.run_ok(&format!("kill -KILL {pid}"));
        let (new, took) = wait_new_pid(&mut vm, "crond", pid);
        vm.note(format!("clock {what}: crond respawned in {took:?}"));
        pid = new;
        vm.run_ok("cinit-ctl status crond");
    }
    power_off(&mut vm);
}

/// B13 in the real system: a fatal fault in PID 1 (SIGSEGV sent to it from
/// the console). Proves the kernel never panics: cinit enters its
/// emergency path (`emergency: fatal fault in PID 1`, then a shell on the
/// console, which answers), and from there SIGTERM still powers the
/// machine off cleanly (`reboot: Power down`, QEMU exits 0, no `Kernel
/// panic` line).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn b13_a_fault_in_pid1_does_not_panic_the_kernel() {
    let mut vm = Vm::boot("b13_a_fault_in_pid1_does_not_panic_the_kernel", "");
    vm.wait_ready("init");
    // The console shell service gives way to a `sleep`, so that the
    // emergency shell is the only reader of the console afterwards (two
    // shells would split typed lines between them).
    vm.send("(sleep 1; kill -SEGV 1) & exec sleep 1000");
    vm.expect("cinit: emergency: fatal fault in PID 1", STEP_TIMEOUT);
    vm.expect(
        "cinit: emergency: starting a shell on the console",
        STEP_TIMEOUT,
    );
    vm.send("echo EMERGENCY-$((6*7))");
    vm.expect("EMERGENCY-42", STEP_TIMEOUT);
    vm.send("kill -TERM 1");
    vm.expect("reboot: Power down", STEP_TIMEOUT);
    vm.expect_exit_ok();
}

/// Service logs on the real system: a message sent to busybox syslogd
/// (which writes to its stdout) is in `cinit-ctl log syslogd` with its
/// timestamps, and in /var/log/messages, written by the log writer, not by
/// PID 1; cinit's own messages are a log (`cinit-ctl log`) and, cinit
/// being the real init here, in the kernel log as well (booted with
/// `printk.devkmsg=on`, so the kernel's rate limit of 10 lines per 5 s for
/// `/dev/kmsg` writers does not drop the later ones).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn logs_of_the_sample_system() {
    let mut vm = Vm::boot("logs_of_the_sample_system", "printk.devkmsg=on");
    vm.wait_ready("init");
    vm.run_ok("logger -t vmtest hello-from-the-vm");
    // The line goes logger → syslogd → its pipe → PID 1; wait for it with a
    // bound instead of guessing a delay.
    let shown = vm.run(
        "for i in $(seq 100); do cinit-ctl log syslogd | grep -q hello-from-the-vm && break; \
         sleep 0.1; done; cinit-ctl log syslogd",
    );
    vm.note(format!("cinit-ctl log syslogd:\n{}", shown.text()));
    let Some(line) = shown.lines.iter().find(|l| l.contains("hello-from-the-vm")) else {
        vm.fail(&format!(
            "`cinit-ctl log syslogd` lacks the message:\n{}",
            shown.text()
        ));
    };
    // `2026-11-21T10:00:00.123Z [   12.345] text`: UTC and boot time.
    let stamped = line.len() > 24
        && line.as_bytes()[4] == b'-'
        && line.as_bytes()[10] == b'T'
        && line.contains("Z [")
        && line.contains("] ");
    if !stamped {
        vm.fail(&format!("the log line has no timestamps: {line:?}"));
    }
    let file = vm.run(
        "for i in $(seq 100); do grep -q hello-from-the-vm /var/log/messages && break; \
         sleep 0.1; done; grep -c hello-from-the-vm /var/log/messages",
    );
    if file.rc != 0 || file.lines != ["1"] {
        vm.fail(&format!(
            "/var/log/messages should hold the message once: {file:?}"
        ));
    }
    let own = vm.run_ok("cinit-ctl log | grep -c 'done init'");
    if own.lines != ["1"] {
        vm.fail(&format!(
            "cinit's own log should hold `done init` once: {own:?}"
        ));
    }
    let kmsg = vm.run_ok("dmesg | grep -c -e 'cinit: done init' -e 'booting as PID 1'");
    if kmsg
        .lines
        .first()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
        != 2
    {
        vm.fail(&format!("the kernel log lacks cinit's messages: {kmsg:?}"));
    }
    power_off(&mut vm);
}

/// The boot timeline of the real system: `cinit-ctl analyze` lists all 11
/// sample services with a total and a critical chain that ends at the root
/// service, and `analyze --svg - --deps` gives a boot chart that headless
/// Chromium renders with bars in the running and done colours. The chart
/// is kept as `target/vm/bootchart.svg` (and its screenshot as `.png`).
#[test]
#[ignore = "boots QEMU: run with make test-vm"]
fn boot_chart_of_the_sample_system() {
    chart::chromium();
    let mut vm = Vm::boot("boot_chart_of_the_sample_system", "");
    vm.wait_ready("init");
    let report = vm.run_ok("cinit-ctl analyze");
    vm.note(format!("cinit-ctl analyze:\n{}", report.text()));
    let text = report.text();
    let rows = |name: &str| {
        report
            .lines
            .iter()
            .filter(|l| l.split_whitespace().last() == Some(name))
            .count()
    };
    for &name in RESPAWN.iter().chain(ONCE).chain(SKIPPED) {
        if rows(name) == 0 {
            vm.fail(&format!("analyze lacks a row for {name}:\n{text}"));
        }
    }
    let chain_head = report
        .lines
        .iter()
        .skip_while(|l| !l.starts_with("critical chain"))
        .nth(1);
    if !text.contains("total ") || !chain_head.is_some_and(|l| l.starts_with("init @")) {
        vm.fail(&format!(
            "analyze lacks the total or a critical chain from init:\n{text}"
        ));
    }

    let svg = vm.run_ok("cinit-ctl analyze --svg - --deps").text();
    if !svg.starts_with("<svg") || !svg.trim_end().ends_with("</svg>") {
        vm.fail(&format!("not an SVG document:\n{svg}"));
    }
    for &name in RESPAWN.iter().chain(ONCE).chain(SKIPPED) {
        if !svg.contains(&format!(">{name}<")) {
            vm.fail(&format!("the chart has no label {name}"));
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/vm");
    std::fs::create_dir_all(&dir).unwrap();
    let svg_path = dir.join("bootchart.svg");
    std::fs::write(&svg_path, &svg).unwrap();
    power_off(&mut vm);

    let shot = chart::render(&svg_path, &dir.join("bootchart.png"));
    let colour = |s: &str| cinit::ctl::bootchart::state_colour(s);
    let running = shot.count(colour("running").light);
    let done = shot.count(colour("done").solid) + shot.count(colour("done").light);
    assert!(
        running >= 2_000 && done >= 2_000 && shot.colours() >= 20,
        "the rendered chart lacks its bars: running {running}, done {done} pixels, {} colours; \
         see {}",
        shot.colours(),
        svg_path.display()
    );
}
