//! Where processes are when a test fails: the part of a failure report
//! ([`super::Cinit::fail`], [`super::run_until`]) that says whether PID 1
//! (or a child, or a client) was stuck in a system call, sleeping in the
//! kernel, or runnable and merely not given a CPU.
//!
//! Everything here is best effort and bounded: a file that cannot be read
//! (gone, or root-only such as `/proc/PID/stack` and `/proc/PID/syscall`
//! without the rights) is left out, every list is cut at a fixed length,
//! and the one command run (`ss`) has a short deadline. Nothing here may
//! itself hang a failing test or panic while it is already failing.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Proc;

/// Most children of PID 1 described in one report.
const MAX_CHILDREN: usize = 24;
/// Most lines of a kernel stack, and of `ss` output, shown.
const MAX_LINES: usize = 12;
/// Longest wait for `ss`.
const SS_DEADLINE: Duration = Duration::from_secs(2);

/// Names of the system calls these processes are expected to sit in
/// (x86-64 numbers; elsewhere only the number is shown).
fn syscall_name(nr: &str) -> Option<&'static str> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    Some(match nr {
        "0" => "read",
        "1" => "write",
        "3" => "close",
        "7" => "poll",
        "42" => "connect",
        "43" => "accept",
        "44" => "sendto",
        "45" => "recvfrom",
        "46" => "sendmsg",
        "47" => "recvmsg",
        "56" => "clone",
        "57" => "fork",
        "59" => "execve",
        "61" => "wait4",
        "231" => "exit_group",
        "271" => "ppoll",
        "288" => "accept4",
        "435" => "clone3",
        "436" => "close_range",
        _ => return None,
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl Proc {
    /// Where this process is: its name and state, the kernel function it
    /// sleeps in (`wchan`), the system call it is in (`syscall`: number,
    /// then arguments; "running" when on a CPU), how long it ran and how
    /// long it waited for a CPU (`schedstat`), how many descriptors it has
    /// open, and its kernel stack when readable.
    pub fn whereabouts(&self) -> String {
        let base = format!("/proc/{}", self.pid);
        let mut out = format!(
            "pid {} ns_pid {:?} comm {:?} state {}",
            self.pid,
            self.ns_pid(),
            self.status_field("Name").unwrap_or_default(),
            self.state()
        );
        if let Some(w) = read_trimmed(&format!("{base}/wchan")) {
            out.push_str(&format!(" wchan {w}"));
        }
        if let Some(s) = read_trimmed(&format!("{base}/syscall")) {
            let nr = s.split_whitespace().next().unwrap_or("");
            match syscall_name(nr) {
                Some(name) => out.push_str(&format!(" syscall {name} ({s})")),
                None => out.push_str(&format!(" syscall {s}")),
            }
        }
        // Nanoseconds on a CPU, nanoseconds runnable but waiting for one,
        // and timeslices: a long wait says "starved", not "stuck".
        if let Some(s) = read_trimmed(&format!("{base}/schedstat")) {
            let f: Vec<f64> = s
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            if let [run, wait, slices] = f[..] {
                out.push_str(&format!(
                    " cpu {:.3}s runqueue-wait {:.3}s slices {slices}",
                    run / 1e9,
                    wait / 1e9
                ));
            }
        }
        if let Ok(rd) = fs::read_dir(format!("{base}/fd")) {
            out.push_str(&format!(" fds {}", rd.count()));
        }
        if let Some(stack) = read_trimmed(&format!("{base}/stack")) {
            for line in stack.lines().take(MAX_LINES) {
                out.push_str(&format!("\n    {line}"));
            }
        }
        out
    }
}

/// The failure report's picture of the machine and of PID 1: the load,
/// PID 1's whereabouts, its children's (at most [`MAX_CHILDREN`]), and the
/// control socket's accept queue when `socket` is given (`ss -xl`: Recv-Q
/// is the number of connections waiting to be accepted, Send-Q the
/// backlog).
pub fn report(pid1: Proc, socket: Option<&Path>) -> String {
    let mut out = String::new();
    if let Some(load) = read_trimmed("/proc/loadavg") {
        out.push_str(&format!("load average: {load}\n"));
    }
    out.push_str(&format!("PID 1: {}\n", pid1.whereabouts()));
    let children = pid1.children();
    for c in children.iter().take(MAX_CHILDREN) {
        out.push_str(&format!("child: {}\n", c.whereabouts()));
    }
    if children.len() > MAX_CHILDREN {
        out.push_str(&format!(
            "… and {} more children\n",
            children.len() - MAX_CHILDREN
        ));
    }
    if let Some(socket) = socket {
        out.push_str(&listen_queue(socket));
    }
    out
}

/// `ss -xl` lines of the listening socket bound at `socket` (as PID 1
/// named it), or why there are none.
fn listen_queue(socket: &Path) -> String {
    let Some(ss) = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        return "listen queue: no ss(8)\n".to_owned();
    };
    let child = Command::new(ss)
        .args(["-x", "-l", "-n"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return "listen queue: ss(8) did not start\n".to_owned();
    };
    // Read on another thread so that a long listing never fills the pipe
    // while this one waits for the deadline.
    let reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let deadline = Instant::now() + SS_DEADLINE;
    let answered = loop {
        match child.try_wait() {
            Ok(Some(_)) => break true,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => break false,
        }
    };
    if !answered {
        let _ = child.kill();
        let _ = child.wait();
        return "listen queue: ss(8) did not answer\n".to_owned();
    }
    let text = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    let want = socket.display().to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == want))
        .take(MAX_LINES)
        .collect();
    if lines.is_empty() {
        return format!("listen queue: no listening socket {want} in ss -xl\n");
    }
    let mut out = String::from("listen queue (State Recv-Q=waiting Send-Q=backlog):\n");
    for l in lines {
        out.push_str(&format!("    {l}\n"));
    }
    out
}
