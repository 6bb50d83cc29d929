//! Shared harness for the integration tests.
//!
//! * [`Fixture`]: a temporary directory holding `etc/svc/<name>/…` service
//!   trees (built with [`Service`]), a `marks/` directory that test services
//!   write marker files into, and the console file.
//! * [`Cinit`]: the real `cinit` binary running as PID 1 in fresh user, PID
//!   and mount namespaces (`unshare … --kill-child`), torn down by SIGKILL in
//!   `Drop`. It reads the console log, parses the `cinit: STATE NAME` lines,
//!   and inspects cinit's children through the host's `/proc`.
//!   [`Fixture::boot_ctl`] also gives it `CINIT_CTL_DIR` and waits for the
//!   control socket; [`Fixture::boot_ctl_real_root`] does the same without a
//!   user namespace (real root, for tests with non-root clients).
//! * Control socket: [`Cinit::ctl`] runs `cinit-ctl` from the host through
//!   `/proc/<cinit>/root/<ctl dir>`, [`Cinit::ctl_in_ns_as`] runs a client
//!   inside the namespaces as another uid, [`Cinit::connect`] opens a raw
//!   connection.
//! * [`Proc`]: one process seen through `/proc/PID/…`.
//!
//! Every wait has a deadline; a timed-out wait panics with a message that
//! includes the console log and unshare's own output.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::fs::File;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub mod cgroup;
mod container;
mod diag;

/// Default deadline for a single wait.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Poll interval of every wait loop.
pub const POLL: Duration = Duration::from_millis(10);

/// The `PATH` line written to `on.env` of script services (nothing is
/// inherited, so scripts need it to find `touch`, `sleep`, `date`, …).
pub const PATH_ENV: &str = "PATH=/usr/bin:/bin";

/// The states a once service ends in.
pub const OUTCOMES: &[&str] = &["done", "failed", "need-failed"];

/// Path of the `cinit` binary under test.
pub fn cinit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cinit")
}

/// Path of the `cinit-ctl` binary under test.
pub fn ctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_cinit-ctl")
}

/// Absolute path of `unshare` (the launch environment is cleared, so no
/// `PATH` lookup).
pub fn unshare_bin() -> &'static str {
    ["/usr/bin/unshare", "/bin/unshare"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("unshare(1) from util-linux is required for the namespace tests")
}

/// Whether both were found and `earlier` comes before `later` (positions
/// of lines in a log or a mark file): the test the ordering tables use.
pub fn in_order(earlier: Option<usize>, later: Option<usize>) -> bool {
    matches!((earlier, later), (Some(a), Some(b)) if a < b)
}

/// Whether the test runs as root. A test that needs it (cinit as the real
/// root without a user namespace, or real other uids as clients) begins
/// with `if !runs_as_root("why") { return; }`: run as another user, it
/// passes without checking anything and says on stderr that the test
/// (libtest names its thread after it) is skipped, and why.
pub fn runs_as_root(why: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a test");
        eprintln!("skipping {test}: needs root ({why})");
    }
    root
}

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

/// A temporary service tree plus marker directory and console file.
pub struct Fixture {
    tmp: tempfile::TempDir,
    base: PathBuf,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// Creates `<tmp>/etc/svc/` and `<tmp>/marks/`.
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("cinit-test.")
            .tempdir()
            .expect("create temporary directory");
        // Canonical, so paths compare equal to what /proc reports.
        let base = fs::canonicalize(tmp.path()).expect("canonicalize tempdir");
        fs::create_dir_all(base.join("etc/svc")).expect("mkdir etc/svc");
        fs::create_dir_all(base.join("marks")).expect("mkdir marks");
        Self { tmp, base }
    }

    /// The temporary directory itself.
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// `CINIT_DIR`: the base directory containing `svc/`.
    pub fn etc(&self) -> PathBuf {
        self.base.join("etc")
    }

    /// `<etc>/svc`.
    pub fn svc_root(&self) -> PathBuf {
        self.base.join("etc/svc")
    }

    /// Directory of service `name` (e.g. `getty/1`).
    /// A copy of `cinit-ctl` that other users may run: the fixture
    /// directory and `bin/` opened to everyone (0755), the binary copied
    /// into `bin/` (the build directory may not be reachable for them).
    pub fn ctl_for_others(&self) -> PathBuf {
        let open = |p: &Path| fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        open(self.path());
        let bin = self.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        open(&bin);
        let exe = bin.join("cinit-ctl");
        copy_exe(ctl_bin(), &exe);
        open(&exe);
        exe
    }

    pub fn svc_path(&self, name: &str) -> PathBuf {
        self.svc_root().join(name)
    }

    /// The console file given to cinit as `CINIT_CONSOLE`.
    pub fn console_path(&self) -> PathBuf {
        self.base.join("console")
    }

    /// The marker directory.
    pub fn marks(&self) -> PathBuf {
        self.base.join("marks")
    }

    /// Path of marker `name`.
    pub fn mark(&self, name: &str) -> PathBuf {
        self.marks().join(name)
    }

    /// Whether marker `name` exists.
    pub fn has_mark(&self, name: &str) -> bool {
        self.mark(name).exists()
    }

    /// Contents of marker `name` (empty if missing).
    pub fn read_mark(&self, name: &str) -> String {
        fs::read_to_string(self.mark(name)).unwrap_or_default()
    }

    /// Creates (if needed) the directory of service `name` and returns a
    /// builder for its files.
    pub fn service(&self, name: &str) -> Service {
        let dir = self.svc_path(name);
        fs::create_dir_all(&dir).expect("mkdir service dir");
        Service {
            dir,
            svc_root: self.svc_root(),
        }
    }

    /// The control directory given to cinit as `CINIT_CTL_DIR` by
    /// [`Fixture::boot_ctl`] (cinit creates it and mounts a private tmpfs on
    /// it, so from the host it is reached through `/proc/PID/root`).
    pub fn ctl_dir(&self) -> PathBuf {
        self.base.join("ctl")
    }

    /// Boots cinit as PID 1 with no arguments (root service `init`).
    pub fn boot(&self) -> Cinit {
        self.boot_with(&[])
    }

    /// Boots cinit as PID 1 (user, PID and mount namespaces) with
    /// `CINIT_CTL_DIR` = [`Fixture::ctl_dir`] and waits until it listens on
    /// its control socket.
    pub fn boot_ctl(&self) -> Cinit {
        let c = Cinit::launch_with(
            self,
            &[],
            &[],
            &LaunchOpts {
                user_ns: true,
                ctl_dir: Some(self.ctl_dir()),
                ..LaunchOpts::default()
            },
        );
        c.wait_listening();
        c
    }

    /// Like [`Fixture::boot_ctl`], with cinit started in the fresh cgroup
    /// `cg` (which is removed, with all left in it, after cinit).
    pub fn boot_ctl_in(&self, cg: cgroup::TestCgroup) -> Cinit {
        let mut c = Cinit::launch_with(
            self,
            &[],
            &[],
            &LaunchOpts {
                ctl_dir: Some(self.ctl_dir()),
                cgroup: Some(cg.dir().to_path_buf()),
                ..LaunchOpts::default()
            },
        );
        c.cgroup = Some(cg);
        c.wait_listening();
        c
    }

    /// Like [`Fixture::boot_ctl`], but WITHOUT a user namespace: cinit runs as
    /// the real root, still PID 1 of its own PID and mount namespaces (so
    /// reboot(2) and its mounts stay confined). Lets the tests use real
    /// non-root uids as clients. Needs the test to run as root.
    pub fn boot_ctl_real_root(&self) -> Cinit {
        let c = Cinit::launch_with(
            self,
            &[],
            &[],
            &LaunchOpts {
                user_ns: false,
                ctl_dir: Some(self.ctl_dir()),
                ..LaunchOpts::default()
            },
        );
        c.wait_listening();
        c
    }

    /// Boots cinit as PID 1 with the given arguments (e.g. `cprofile:x`).
    pub fn boot_with(&self, args: &[&str]) -> Cinit {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Cinit::launch(self, &args, &[])
    }

    /// Boots cinit as PID 1 with arbitrary (possibly non-UTF-8) arguments,
    /// as the kernel may pass them.
    pub fn boot_with_os(&self, args: &[OsString]) -> Cinit {
        Cinit::launch(self, args, &[])
    }

    /// Boots cinit as PID 1 with the given arguments and the signals in
    /// `ignored` set to SIG_IGN (inherited by cinit through exec).
    pub fn boot_ignoring(&self, args: &[&str], ignored: &[libc::c_int]) -> Cinit {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Cinit::launch(self, &args, ignored)
    }
}

/// Builder for the files of one service directory. Every method writes
/// immediately and returns `&Self` for chaining.
pub struct Service {
    dir: PathBuf,
    svc_root: PathBuf,
}

fn write_file(path: &Path, content: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir parent");
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn make_link(target: &Path, link: &Path) {
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent).expect("mkdir parent");
    }
    symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
}

impl Service {
    /// The service directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `on` as a `#!/bin/sh` script (mode 0755) with `body`, and
    /// `on.env` = [`PATH_ENV`] unless an `on.env` already exists.
    pub fn script(&self, body: &str) -> &Self {
        let text = format!("#!/bin/sh\n{body}\n");
        write_file(&self.dir.join("on"), text.as_bytes(), 0o755);
        if !self.dir.join("on.env").exists() {
            self.env(&[PATH_ENV]);
        }
        self
    }

    /// Writes `off` as a `#!/bin/sh` script (mode 0755) with `body`, and
    /// `off.env` = [`PATH_ENV`].
    pub fn off_script(&self, body: &str) -> &Self {
        let text = format!("#!/bin/sh\n{body}\n");
        write_file(&self.dir.join("off"), text.as_bytes(), 0o755);
        write_file(
            &self.dir.join("off.env"),
            format!("{PATH_ENV}\n").as_bytes(),
            0o644,
        );
        self
    }

    /// Writes `delay` (seconds from SIGTERM to SIGKILL; 0 = never KILL).
    pub fn delay(&self, secs: u32) -> &Self {
        write_file(
            &self.dir.join("delay"),
            format!("{secs}\n").as_bytes(),
            0o644,
        );
        self
    }

    /// Writes `on` as a script with the given mode (e.g. 0o644 = not
    /// executable).
    pub fn script_mode(&self, body: &str, mode: u32) -> &Self {
        let text = format!("#!/bin/sh\n{body}\n");
        write_file(&self.dir.join("on"), text.as_bytes(), mode);
        self
    }

    /// Makes `on` a symlink whose target is `target`, verbatim (absolute or
    /// relative to the service directory).
    pub fn on_link(&self, target: &str) -> &Self {
        make_link(Path::new(target), &self.dir.join("on"));
        self
    }

    /// Copies the binary `src` to `on` (mode 0755).
    pub fn on_copy(&self, src: &str) -> &Self {
        let bytes = fs::read(src).unwrap_or_else(|e| panic!("read {src}: {e}"));
        write_file(&self.dir.join("on"), &bytes, 0o755);
        self
    }

    /// Writes `on.params` with one argument per line plus one trailing
    /// newline; an empty slice writes an empty file (= no arguments).
    pub fn params(&self, args: &[&str]) -> &Self {
        self.params_raw(&lines(args))
    }

    /// Writes `on.params` verbatim.
    pub fn params_raw(&self, content: &str) -> &Self {
        write_file(&self.dir.join("on.params"), content.as_bytes(), 0o644);
        self
    }

    /// Writes `on.env` with one `NAME=value` per line plus one trailing
    /// newline.
    pub fn env(&self, vars: &[&str]) -> &Self {
        self.env_raw(&lines(vars))
    }

    /// Writes `on.env` verbatim.
    pub fn env_raw(&self, content: &str) -> &Self {
        write_file(&self.dir.join("on.env"), content.as_bytes(), 0o644);
        self
    }

    /// Creates the `respawn` flag file.
    pub fn respawn(&self) -> &Self {
        write_file(&self.dir.join("respawn"), b"", 0o644);
        self
    }

    /// Writes an arbitrary file relative to the service directory.
    pub fn file(&self, rel: &str, content: &str) -> &Self {
        write_file(&self.dir.join(rel), content.as_bytes(), 0o644);
        self
    }

    /// Creates a symlink `rel` (relative to the service directory) pointing
    /// at `target` verbatim.
    pub fn link(&self, rel: &str, target: &str) -> &Self {
        make_link(Path::new(target), &self.dir.join(rel));
        self
    }

    /// `needs/<other with / replaced by _>` → absolute path of service
    /// `other`.
    pub fn needs(&self, other: &str) -> &Self {
        self.dep_link(
            "needs",
            &other.replace('/', "_"),
            &self.svc_root.join(other),
        )
    }

    /// `wants/<other with / replaced by _>` → absolute path of service
    /// `other`.
    pub fn wants(&self, other: &str) -> &Self {
        self.dep_link(
            "wants",
            &other.replace('/', "_"),
            &self.svc_root.join(other),
        )
    }

    /// `needs/<link_name>` → `target` verbatim.
    pub fn need_link(&self, link_name: &str, target: impl AsRef<Path>) -> &Self {
        self.dep_link("needs", link_name, target.as_ref())
    }

    /// `wants/<link_name>` → `target` verbatim.
    pub fn want_link(&self, link_name: &str, target: impl AsRef<Path>) -> &Self {
        self.dep_link("wants", link_name, target.as_ref())
    }

    fn dep_link(&self, kind: &str, link_name: &str, target: &Path) -> &Self {
        make_link(target, &self.dir.join(kind).join(link_name));
        self
    }
}

fn lines(items: &[&str]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("{}\n", items.join("\n"))
    }
}

/// Compiles the C test program `tests/<rel>` with `cc` into the target's
/// scratch directory as `name` (world-executable) and returns its path.
/// Callers keep the result in a `OnceLock`, so each test binary compiles it
/// once; the temporary name keeps binaries that run at once apart.
/// Copies the executable `src` to `dst` (mode included) in a `cp` process.
/// `fs::copy` would hold `dst` open for writing in this process, and a
/// child another test thread forks at that moment inherits that descriptor
/// until it execs: an exec of `dst` then fails with "Text file busy".
pub fn copy_exe(src: impl AsRef<Path>, dst: impl AsRef<Path>) {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    let st = Command::new("cp")
        .arg("--preserve=mode")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success(), "cp {} {}: {st}", src.display(), dst.display());
}

pub fn compile_c_helper(rel: &str, name: &str) -> PathBuf {
    compile_c_helper_with(rel, name, &[])
}

/// [`compile_c_helper`] with extra compiler flags (e.g. `-static`,
/// `-DMODE`).
pub fn compile_c_helper_with(rel: &str, name: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = dir.join(name);
    let tmp = dir.join(format!("{name}.{}", std::process::id()));
    let status = Command::new("cc")
        .args(flags)
        .args(["-O2", "-o"])
        .arg(&tmp)
        .arg(&src)
        .status()
        .expect("run cc (a C compiler is needed for the C test helpers)");
    assert!(status.success(), "compiling {} failed", src.display());
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod the helper");
    fs::rename(&tmp, &out).expect("install the helper");
    out
}

/// Shell snippet: wait (bounded by `tries` × 20 ms) for `path` to exist,
/// `exit 1` if it never does.
pub fn sh_wait_for(path: &Path, tries: u32) -> String {
    format!(
        "i=0\nwhile [ ! -e '{p}' ]; do\n  i=$((i+1))\n  [ $i -gt {tries} ] && exit 1\n  sleep 0.02\ndone",
        p = path.display()
    )
}

/// Shell snippet: `touch` the marker at `path`.
pub fn sh_touch(path: &Path) -> String {
    format!("touch '{}'", path.display())
}

// ---------------------------------------------------------------------------
// Console log parsing
// ---------------------------------------------------------------------------

/// A parsed `cinit: STATE NAME[ rest| : reason]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLine {
    /// Index of the line in the console log.
    pub index: usize,
    /// The state word (`running`, `done`, …).
    pub state: String,
    /// The service name.
    pub name: String,
    /// The whole line.
    pub line: String,
}

/// Parses one console line; `None` if it is not a `cinit: STATE NAME` line.
/// The name ends at a space, a colon or the end of the line.
pub fn parse_state_line(index: usize, line: &str) -> Option<StateLine> {
    let (_, rest) = line.split_once("cinit: ")?;
    let (state, rest) = rest.split_once(' ')?;
    let name = rest.split([' ', ':']).next().unwrap_or(rest);
    if state.is_empty() || name.is_empty() {
        return None;
    }
    Some(StateLine {
        index,
        state: state.to_owned(),
        name: name.to_owned(),
        line: line.to_owned(),
    })
}

/// All state lines of a console log, in order.
pub fn state_lines(log: &str) -> Vec<StateLine> {
    log.lines()
        .enumerate()
        .filter_map(|(i, l)| parse_state_line(i, l))
        .collect()
}

/// Whether `word` occurs in `text` as a whole word, words being maximal runs
/// of characters other than whitespace and `: , ; ( ) [ ] = ' "` and `/`.
pub fn has_word(text: &str, word: &str) -> bool {
    text.split(|ch: char| ch.is_whitespace() || ":,;()[]='\"/".contains(ch))
        .any(|w| w == word)
}

impl StateLine {
    /// The part of the line after the service name (the details / reason).
    pub fn rest(&self) -> &str {
        let prefix = format!("cinit: {} {}", self.state, self.name);
        self.line.split_once(&prefix).map_or("", |(_, after)| after)
    }
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// One process, seen through the host's `/proc`. Readers return empty
/// values when the process is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Proc {
    /// Host pid.
    pub pid: i32,
}

impl Proc {
    fn file(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{name}", self.pid))
    }

    /// `/proc/PID/status`.
    pub fn status(&self) -> String {
        fs::read_to_string(self.file("status")).unwrap_or_default()
    }

    /// The value of one `/proc/PID/status` field, trimmed.
    pub fn status_field(&self, key: &str) -> Option<String> {
        self.status().lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.trim().to_owned())
        })
    }

    /// The fields of `/proc/PID/stat` after `(comm)`: `[0]` = state,
    /// `[1]` = ppid, `[2]` = pgrp, `[3]` = session, …
    pub fn stat_fields(&self) -> Vec<String> {
        let stat = fs::read_to_string(self.file("stat")).unwrap_or_default();
        match stat.rsplit_once(')') {
            Some((_, fields)) => fields.split_whitespace().map(str::to_owned).collect(),
            None => Vec::new(),
        }
    }

    /// User plus system CPU time (stat fields 14 and 15), in seconds.
    pub fn cpu_secs(&self) -> f64 {
        let f = self.stat_fields();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i)?.parse::<f64>().ok())
            .sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ticks / if hz > 0 { hz as f64 } else { 100.0 }
    }

    /// The one-letter process state (`R`, `S`, `Z`, …), `'?'` if gone.
    pub fn state(&self) -> char {
        self.stat_fields()
            .first()
            .and_then(|s| s.chars().next())
            .unwrap_or('?')
    }

    fn stat_num(&self, i: usize) -> i32 {
        self.stat_fields()
            .get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1)
    }

    /// Parent pid (host view).
    pub fn ppid(&self) -> i32 {
        self.stat_num(1)
    }

    /// Process group id (host view).
    pub fn pgrp(&self) -> i32 {
        self.stat_num(2)
    }

    /// Session id (host view).
    pub fn session(&self) -> i32 {
        self.stat_num(3)
    }

    /// The pid inside the innermost PID namespace (last `NSpid` field).
    pub fn ns_pid(&self) -> Option<i32> {
        self.status_field("NSpid")?
            .split_whitespace()
            .last()?
            .parse()
            .ok()
    }

    fn nul_list(&self, name: &str) -> Vec<String> {
        let bytes = fs::read(self.file(name)).unwrap_or_default();
        let mut s = String::from_utf8_lossy(&bytes).into_owned();
        if s.is_empty() {
            return Vec::new();
        }
        if s.ends_with('\0') {
            s.pop();
        }
        s.split('\0').map(str::to_owned).collect()
    }

    /// argv from `/proc/PID/cmdline` (empty arguments preserved).
    pub fn cmdline(&self) -> Vec<String> {
        self.nul_list("cmdline")
    }

    /// The environment from `/proc/PID/environ`.
    pub fn environ(&self) -> Vec<String> {
        self.nul_list("environ")
    }

    /// `readlink /proc/PID/cwd`.
    pub fn cwd(&self) -> PathBuf {
        fs::read_link(self.file("cwd")).unwrap_or_default()
    }

    /// `readlink /proc/PID/exe`.
    pub fn exe(&self) -> PathBuf {
        fs::read_link(self.file("exe")).unwrap_or_default()
    }

    /// Open fds and their link targets, sorted by fd.
    pub fn fds(&self) -> Vec<(i32, PathBuf)> {
        let mut fds: Vec<(i32, PathBuf)> = fs::read_dir(self.file("fd"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| {
                        let fd = e.file_name().to_str()?.parse().ok()?;
                        Some((fd, fs::read_link(e.path()).unwrap_or_default()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        fds.sort();
        fds
    }

    /// Children of every thread of this process (zombies included).
    pub fn children(&self) -> Vec<Proc> {
        let mut pids = BTreeSet::new();
        if let Ok(tasks) = fs::read_dir(self.file("task")) {
            for task in tasks.filter_map(Result::ok) {
                let text = fs::read_to_string(task.path().join("children")).unwrap_or_default();
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
        pids.into_iter().map(|pid| Proc { pid }).collect()
    }

    /// Whether the process exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state(), '?' | 'Z' | 'X')
    }

    /// One-line description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "pid {} state {} ns_pid {:?} cmdline {:?}",
            self.pid,
            self.state(),
            self.ns_pid(),
            self.cmdline()
        )
    }
}

/// Decodes a `/proc/PID/status` signal mask (`SigIgn:` etc., hex) into the
/// signal numbers it contains.
pub fn signals_in_mask(hex: &str) -> Vec<u32> {
    let bits = u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
    (0..64)
        .filter(|b| bits & (1u64 << b) != 0)
        .map(|b| b + 1)
        .collect()
}

/// Sends `sig` to host pid `pid`; returns whether `kill(2)` succeeded.
pub fn send_signal(pid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) takes plain integers and has no memory-safety
    // preconditions.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// The signal that killed PID 1, as seen in `unshare --fork`'s exit
/// status: util-linux re-raises the child's death signal on itself (so
/// unshare dies by it), older versions exit with 128 + the signal number.
/// `None` if neither (a plain exit code up to 128).
pub fn death_signal(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status
        .signal()
        .or_else(|| status.code().filter(|c| *c > 128).map(|c| c - 128))
}

/// The kernel's `struct sigaction` (x86-64 and arm64 layout; the restorer is
/// irrelevant for SIG_DFL and SIG_IGN).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets the disposition of `sig` with the raw `rt_sigaction` syscall, which,
/// unlike glibc's `sigaction`, also accepts glibc's internal signals 32, 33.
///
/// # Safety
/// Only `SIG_DFL` or `SIG_IGN` may be passed as `handler`.
unsafe fn raw_set_disposition(sig: libc::c_int, handler: libc::sighandler_t) {
    let act = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is a valid kernel sigaction that lives across the call;
    // the old-action pointer is null; DFL/IGN install no code.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        );
    }
}

// ---------------------------------------------------------------------------
// Running cinit as PID 1
// ---------------------------------------------------------------------------

/// cinit running as PID 1 of its own namespaces. Dropping it SIGKILLs
/// `unshare` (and, through `--kill-child`, the whole namespace) and reaps it.
pub struct Cinit {
    child: Child,
    console: PathBuf,
    output: PathBuf,
    host_pid: i32,
    /// `CINIT_CTL_DIR` as cinit sees it, when the launcher set one.
    ctl_dir: Option<PathBuf>,
    /// Directory for [`run`]'s capture files.
    scratch: PathBuf,
    /// unshare was seen to exit by [`Cinit::try_exit`] / [`Cinit::wait_exit`]:
    /// PID 1 is gone and its host pid may be reused, so `Drop` must not
    /// signal it.
    ended: bool,
    /// The cgroup it was started in, removed after it ([`Fixture::boot_ctl_in`]).
    cgroup: Option<cgroup::TestCgroup>,
}

/// How [`Cinit::launch_with`] starts cinit.
#[derive(Debug, Clone)]
pub struct LaunchOpts {
    /// Run in a user namespace mapping the caller to root (the default);
    /// `false` runs cinit as the real root with only PID and mount
    /// namespaces.
    pub user_ns: bool,
    /// Set `CINIT_CTL_DIR` to this path (cinit's default `/run/cinit`
    /// otherwise).
    pub ctl_dir: Option<PathBuf>,
    /// A command prefix run inside the namespaces in place of cinit, which
    /// must end by exec'ing cinit (so that cinit stays PID 1), e.g.
    /// `["/usr/bin/setpriv", "--bounding-set=-sys_boot", "--"]`. Absolute
    /// paths: the environment is cleared. Empty: cinit is started directly.
    pub wrapper: Vec<OsString>,
    /// The cinit binary to run (e.g. a copy inside the fixture, which a test
    /// may then replace or remove); [`cinit_bin`] when `None`.
    pub cinit: Option<PathBuf>,
    /// Extra environment variables for cinit (set after `CINIT_DIR`,
    /// `CINIT_CONSOLE` and `CINIT_CTL_DIR`, so they may override them).
    pub env: Vec<(OsString, OsString)>,
    /// Extra `unshare` options, e.g. `--time --monotonic=N --boottime=N`
    /// for a time namespace.
    pub unshare_args: Vec<OsString>,
    /// A cgroup (v2 directory) that `unshare` joins before it execs, so
    /// that cinit starts in it ([`cgroup::TestCgroup`]).
    pub cgroup: Option<PathBuf>,
}

impl Default for LaunchOpts {
    fn default() -> Self {
        Self {
            user_ns: true,
            ctl_dir: None,
            wrapper: Vec::new(),
            cinit: None,
            env: Vec::new(),
            unshare_args: Vec::new(),
            cgroup: None,
        }
    }
}

impl Cinit {
    fn launch(fx: &Fixture, args: &[OsString], ignored: &[libc::c_int]) -> Self {
        Self::launch_with(fx, args, ignored, &LaunchOpts::default())
    }

    /// Launches cinit as PID 1 with the given arguments, SIG_IGN signals and
    /// options.
    pub fn launch_with(
        fx: &Fixture,
        args: &[OsString],
        ignored: &[libc::c_int],
        opts: &LaunchOpts,
    ) -> Self {
        let console = fx.console_path();
        File::create(&console).expect("create console file");
        let output = fx.path().join("unshare.out");
        let out = File::create(&output).expect("create unshare output file");
        let err = out.try_clone().expect("dup output file");
        let mut cmd = Command::new(unshare_bin());
        if opts.user_ns {
            cmd.args(["--user", "--map-root-user"]);
        }
        cmd.args([
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--propagation",
            "private",
            "--mount-proc",
        ])
        .args(&opts.unshare_args)
        .args(&opts.wrapper)
        .arg(opts.cinit.as_deref().unwrap_or(Path::new(cinit_bin())))
        .args(args)
        .env_clear()
        .env("CINIT_DIR", fx.etc())
        .env("CINIT_CONSOLE", &console)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
        if let Some(dir) = &opts.ctl_dir {
            cmd.env("CINIT_CTL_DIR", dir);
        }
        cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
        // Start cinit the way the kernel starts init: every signal at its
        // default disposition, an empty signal mask and no fds but 0, 1, 2.
        // The test runner is not that clean: a binary spawned by cargo with
        // glibc's posix_spawn inherits SIG_IGN for glibc's internal signal 32,
        // and cargo may leak jobserver fds. `ignored` then deliberately sets
        // SIG_IGN for some signals (to test that cinit cleans up after its
        // own parent).
        let ignored = ignored.to_vec();
        let join = opts.cgroup.as_ref().map(|d| {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::CString::new(d.join("cgroup.procs").as_os_str().as_bytes())
                .expect("cgroup path")
        });
        // SAFETY: the closure only makes raw syscalls (rt_sigaction,
        // rt_sigprocmask, close_range), which are async-signal-safe, on
        // stack values it owns; `ignored` was allocated before the fork and
        // is only read.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(procs) = &join {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(fd);
                }
                for sig in 1..=64 {
                    if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                        raw_set_disposition(sig, libc::SIG_DFL);
                    }
                }
                for &sig in &ignored {
                    raw_set_disposition(sig, libc::SIG_IGN);
                }
                let empty: u64 = 0;
                libc::syscall(
                    libc::SYS_rt_sigprocmask,
                    libc::SIG_SETMASK,
                    &empty as *const u64,
                    std::ptr::null_mut::<u64>(),
                    8usize,
                );
                const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
                // Mark every fd >= 3 close-on-exec; std's own exec-error pipe
                // is already CLOEXEC, so it keeps working.
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    CLOSE_RANGE_CLOEXEC,
                );
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn unshare");
        let mut me = Self {
            child,
            console,
            output,
            host_pid: 0,
            ctl_dir: opts.ctl_dir.clone(),
            scratch: fx.path().to_path_buf(),
            ended: false,
            cgroup: None,
        };
        let unshare = Proc {
            pid: i32::try_from(me.child.id()).expect("pid fits i32"),
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(first) = unshare.children().first() {
                me.host_pid = first.pid;
                break;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                me.fail(&format!(
                    "unshare exited with {status} before cinit started"
                ));
            }
            if Instant::now() > deadline {
                me.fail("cinit (unshare's child) did not appear");
            }
            sleep(POLL);
        }
        // Wait until unshare's child has exec'd cinit.
        let bin = opts
            .cinit
            .clone()
            .unwrap_or_else(|| PathBuf::from(cinit_bin()));
        let want = fs::canonicalize(&bin).unwrap_or(bin);
        // A PID 1 that has ended already (a boot that reboots at once can
        // be over within one poll interval) is no longer waited for: the
        // test's own checks (console, exit status) say what it did.
        me.wait_until("cinit to be exec'd in the namespace", TIMEOUT, |c| {
            let p = c.proc();
            p.exe() == want || matches!(p.state(), 'Z' | 'X' | '?')
        });
        me
    }

    /// cinit's pid in the host's PID namespace.
    pub fn host_pid(&self) -> i32 {
        self.host_pid
    }

    /// cinit as a [`Proc`].
    pub fn proc(&self) -> Proc {
        Proc { pid: self.host_pid }
    }

    /// Path of the console file.
    pub fn console_path(&self) -> &Path {
        &self.console
    }

    /// The whole console log.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.console).unwrap_or_default()).into_owned()
    }

    /// unshare's stdout+stderr.
    pub fn unshare_output(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.output).unwrap_or_default()).into_owned()
    }

    /// Panics with `msg`, the console log, unshare's output, cinit's
    /// children, and where PID 1 and each child are (state, wait channel,
    /// system call, CPU and run-queue time, kernel stack when readable; the
    /// control socket's accept queue: see [`diag::report`]).
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        let (children, whereabouts): (Vec<String>, String) = if self.host_pid > 0 {
            let socket = self.ctl_dir.as_ref().map(|d| d.join("control"));
            (
                self.children().iter().map(Proc::describe).collect(),
                diag::report(self.proc(), socket.as_deref()),
            )
        } else {
            (Vec::new(), String::new())
        };
        panic!(
            "{msg}\n--- console log ({}) ---\n{}--- unshare output ---\n{}--- cinit children ---\n{}\n--- where they are ---\n{}",
            self.console.display(),
            self.console(),
            self.unshare_output(),
            children.join("\n"),
            whereabouts
        );
    }

    /// Asserts `cond`, failing with the console log otherwise.
    #[track_caller]
    pub fn check(&self, cond: bool, msg: &str) {
        if !cond {
            self.fail(msg);
        }
    }

    /// Checks every `(condition, message)` pair and fails once, listing all
    /// the messages whose condition is false.
    #[track_caller]
    pub fn check_all(&self, checks: Vec<(bool, String)>) {
        let failed: Vec<String> = checks
            .into_iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, msg)| format!("  - {msg}"))
            .collect();
        if !failed.is_empty() {
            self.fail(&format!(
                "{} check(s) failed:\n{}",
                failed.len(),
                failed.join("\n")
            ));
        }
    }

    /// Polls `cond` until it holds; fails with `what` after `timeout`.
    #[track_caller]
    pub fn wait_until(&self, what: &str, timeout: Duration, mut cond: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            sleep(POLL);
        }
    }

    /// Polls `f` until it returns `Some`; fails with `what` after `timeout`.
    #[track_caller]
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Self) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"));
            }
            sleep(POLL);
        }
    }

    /// All `cinit: STATE NAME` lines so far.
    pub fn states(&self) -> Vec<StateLine> {
        state_lines(&self.console())
    }

    /// State lines of service `name`.
    pub fn lines_of(&self, name: &str) -> Vec<StateLine> {
        self.states()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// The first `cinit: STATE NAME` line, if any.
    pub fn find_state(&self, state: &str, name: &str) -> Option<StateLine> {
        self.states()
            .into_iter()
            .find(|s| s.state == state && s.name == name)
    }

    /// Whether a `cinit: STATE NAME` line exists.
    pub fn has_state(&self, state: &str, name: &str) -> bool {
        self.find_state(state, name).is_some()
    }

    /// Number of `cinit: STATE NAME` lines.
    pub fn count_state(&self, state: &str, name: &str) -> usize {
        self.states()
            .iter()
            .filter(|s| s.state == state && s.name == name)
            .count()
    }

    /// Waits (up to [`TIMEOUT`]) for a `cinit: STATE NAME` line.
    #[track_caller]
    pub fn wait_state(&self, state: &str, name: &str) -> StateLine {
        self.wait_state_for(state, name, TIMEOUT)
    }

    /// Waits (up to `timeout`) for a `cinit: STATE NAME` line.
    #[track_caller]
    pub fn wait_state_for(&self, state: &str, name: &str, timeout: Duration) -> StateLine {
        self.wait_for(&format!("`cinit: {state} {name}`"), timeout, |c| {
            c.find_state(state, name)
        })
    }

    /// Waits (up to `timeout`) for the outcome of once service `name`: the
    /// first `done`, `failed` or `need-failed` line.
    #[track_caller]
    pub fn outcome_for(&self, name: &str, timeout: Duration) -> StateLine {
        self.wait_for(
            &format!("an outcome (done/failed/need-failed) of `{name}`"),
            timeout,
            |c| {
                c.lines_of(name)
                    .into_iter()
                    .find(|s| OUTCOMES.contains(&s.state.as_str()))
            },
        )
    }

    /// [`Self::outcome_for`] with [`TIMEOUT`].
    #[track_caller]
    pub fn outcome(&self, name: &str) -> StateLine {
        self.outcome_for(name, TIMEOUT)
    }

    /// Waits for `name` to end `failed` and asserts the reason contains
    /// `needle`.
    #[track_caller]
    pub fn expect_failed_with(&self, name: &str, needle: &str) -> StateLine {
        let got = self.expect_outcome(name, "failed");
        if !got.rest().contains(needle) {
            self.fail(&format!(
                "`{name}` failed for the wrong reason: {}",
                got.line
            ));
        }
        got
    }

    /// Waits for the outcome of `name` and asserts it is `state`.
    #[track_caller]
    pub fn expect_outcome(&self, name: &str, state: &str) -> StateLine {
        let got = self.outcome(name);
        if got.state != state {
            self.fail(&format!(
                "expected `{name}` to end `{state}`, got: {}",
                got.line
            ));
        }
        got
    }

    /// cinit's children (zombies included).
    pub fn children(&self) -> Vec<Proc> {
        self.proc().children()
    }

    /// Number of zombies among cinit's children.
    pub fn zombie_children(&self) -> usize {
        self.children().iter().filter(|p| p.state() == 'Z').count()
    }

    /// Children of cinit whose argv equals `argv`.
    pub fn children_with_argv(&self, argv: &[&str]) -> Vec<Proc> {
        self.children()
            .into_iter()
            .filter(|p| p.cmdline() == argv)
            .collect()
    }

    /// Waits for exactly one live child of cinit whose argv equals `argv`,
    /// other than `except`.
    #[track_caller]
    pub fn wait_child_argv(&self, argv: &[&str], except: Option<Proc>) -> Proc {
        self.wait_for(
            &format!("a child of cinit with argv {argv:?} (other than {except:?})"),
            TIMEOUT,
            |c| {
                c.children_with_argv(argv)
                    .into_iter()
                    .find(|p| Some(*p) != except && p.is_alive())
            },
        )
    }

    /// Asserts that cinit (PID 1) is still running: unshare has not exited
    /// and cinit is neither gone nor a zombie.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        match self.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                self.fail(&format!("PID 1 exited: unshare finished with {status}"));
            }
            Err(e) => self.fail(&format!("try_wait on unshare: {e}")),
        }
        if !self.proc().is_alive() {
            self.fail(&format!("cinit (host pid {}) is not alive", self.host_pid));
        }
    }

    /// unshare's exit status if it has exited (PID 1 ended), else `None`.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("try_wait on unshare");
        self.ended |= status.is_some();
        status
    }

    /// Waits (up to `timeout`) for PID 1 to end, i.e. for unshare to exit,
    /// and returns unshare's exit status; fails with the console log on
    /// timeout. See [`death_signal`] for how a signal that killed PID 1
    /// shows in it.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "timed out after {timeout:?} waiting for PID 1 to end"
                ));
            }
            sleep(POLL);
        }
    }

    /// Kills the namespace and returns unshare's exit status.
    pub fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("wait for unshare")
    }
}

// ---------------------------------------------------------------------------
// The control socket
// ---------------------------------------------------------------------------

/// Default deadline for one `cinit-ctl` run.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(10);

/// Absolute path of a util-linux tool (the environment is cleared, so no
/// `PATH` lookup).
pub fn util_bin(name: &str) -> PathBuf {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .into_iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name}(1) from util-linux is required"))
}

impl Cinit {
    /// `CINIT_CTL_DIR` as cinit sees it; panics if the launcher set none.
    #[track_caller]
    pub fn ctl_dir(&self) -> &Path {
        self.ctl_dir
            .as_deref()
            .expect("cinit was launched without CINIT_CTL_DIR (use Fixture::boot_ctl)")
    }

    /// The control directory seen from the host, through the root of
    /// cinit's mount namespace: `/proc/PID/root/<ctl dir>`.
    pub fn ctl_dir_via_proc(&self) -> PathBuf {
        let inner = self.ctl_dir();
        let rel = inner.strip_prefix("/").unwrap_or(inner);
        PathBuf::from(format!("/proc/{}/root", self.host_pid)).join(rel)
    }

    /// The control socket seen from the host.
    pub fn socket_path(&self) -> PathBuf {
        self.ctl_dir_via_proc().join("control")
    }

    /// Waits for the console line `cinit: listening on <ctl dir>/control`.
    #[track_caller]
    pub fn wait_listening(&self) {
        let want = match &self.ctl_dir {
            Some(dir) => format!("cinit: listening on {}", dir.join("control").display()),
            None => "cinit: listening on ".to_owned(),
        };
        self.wait_until(&format!("`{want}`"), TIMEOUT, |c| {
            c.console().lines().any(|l| l.contains(&want))
        });
    }

    /// A `cinit-ctl ARGS` command with a clean environment whose
    /// `CINIT_CTL_DIR` reaches this cinit from the host.
    pub fn ctl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ctl_bin());
        cmd.args(args)
            .env_clear()
            .env("CINIT_CTL_DIR", self.ctl_dir_via_proc())
            .current_dir("/");
        cmd
    }

    /// Runs `cinit-ctl ARGS` from the host (deadline [`CTL_TIMEOUT`]).
    #[track_caller]
    pub fn ctl(&self, args: &[&str]) -> RunOutput {
        // A client cinit never answers: show what cinit said meanwhile.
        run_until(self.ctl_cmd(args), &self.scratch, CTL_TIMEOUT)
            .unwrap_or_else(|late| self.fail(&late))
    }

    /// [`Cinit::ctl`] and how long it took.
    #[track_caller]
    pub fn ctl_timed(&self, args: &[&str]) -> (RunOutput, Duration) {
        let start = Instant::now();
        let out = self.ctl(args);
        (out, start.elapsed())
    }

    /// Runs the client binary `exe` (a `cinit-ctl`) with `args` INSIDE
    /// cinit's mount and PID namespaces as uid/gid `id` with no
    /// supplementary groups: `nsenter -t PID -m -p setpriv --reuid=ID
    /// --regid=ID --clear-groups EXE ARGS`, `CINIT_CTL_DIR` = the in-namespace
    /// control directory. `exe` must be reachable by that uid.
    #[track_caller]
    pub fn ctl_in_ns_as(&self, id: u32, exe: &Path, args: &[&str]) -> RunOutput {
        let mut cmd = Command::new(util_bin("nsenter"));
        cmd.arg("-t")
            .arg(self.host_pid.to_string())
            .args(["-m", "-p"])
            .arg(util_bin("setpriv"))
            .arg(format!("--reuid={id}"))
            .arg(format!("--regid={id}"))
            .arg("--clear-groups")
            .arg(exe)
            .args(args)
            .env_clear()
            .env("CINIT_CTL_DIR", self.ctl_dir())
            .current_dir("/");
        run(cmd, &self.scratch, CTL_TIMEOUT)
    }

    /// A blocking connection to the control socket from the host.
    #[track_caller]
    pub fn connect(&self) -> std::os::unix::net::UnixStream {
        let path = self.socket_path();
        std::os::unix::net::UnixStream::connect(&path)
            .unwrap_or_else(|e| self.fail(&format!("connect to {}: {e}", path.display())))
    }
}

impl Drop for Cinit {
    fn drop(&mut self) {
        // Debug aid: `CINIT_TEST_SHOW_LOG=1 cargo test -- --nocapture`.
        if std::env::var_os("CINIT_TEST_SHOW_LOG").is_some() {
            eprintln!(
                "--- console log ({}) ---\n{}--- end ---",
                self.console.display(),
                self.console()
            );
        }
        // Every test also proves that PID 1 survived it: unless the test saw
        // PID 1 end on purpose (`try_exit` / `wait_exit`), PID 1 must still
        // be running now. (Skipped while the test is already failing: a
        // second panic would abort the test binary.)
        let died = !self.ended
            && !std::thread::panicking()
            && (!matches!(self.child.try_wait(), Ok(None)) || !self.proc().is_alive());
        // SIGKILL to unshare: --kill-child then SIGKILLs cinit, and the death
        // of a PID namespace's init kills every process in it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.host_pid > 0 && !self.ended {
            // Belt and braces, in case unshare died before its child.
            // (Skipped once unshare was seen to exit on its own: then PID 1
            // is gone, `--kill-child` saw to that, and its pid may already
            // belong to an unrelated process.)
            let _ = send_signal(self.host_pid, libc::SIGKILL);
        }
        if died {
            self.ended = true;
            self.fail("PID 1 died during the test (it must never die)");
        }
    }
}

// ---------------------------------------------------------------------------
// Running short-lived commands
// ---------------------------------------------------------------------------

/// Result of [`run`].
#[derive(Debug)]
pub struct RunOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

impl RunOutput {
    /// stdout followed by stderr.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Human-readable dump for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with stdin `/dev/null`, stdout/stderr captured through files
/// in `scratch`, and a deadline: on timeout the process is SIGKILLed and the
/// test panics.
#[track_caller]
pub fn run(cmd: Command, scratch: &Path, timeout: Duration) -> RunOutput {
    run_until(cmd, scratch, timeout).unwrap_or_else(|late| panic!("{late}"))
}

/// [`run`], but a command still running at the deadline is an `Err` saying
/// so (it is SIGKILLed), for callers that add what they know to the report.
#[track_caller]
#[allow(
    clippy::panic_in_result_fn,
    clippy::unwrap_in_result,
    reason = "a command that cannot even be started fails the test at once; only lateness is the caller's to report"
)]
pub fn run_until(mut cmd: Command, scratch: &Path, timeout: Duration) -> Result<RunOutput, String> {
    // Unique names, so that several threads may run commands at once.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = scratch.join(format!(".run.{n}.stdout"));
    let err_path = scratch.join(format!(".run.{n}.stderr"));
    let out = File::create(&out_path).expect("create stdout file");
    let err = File::create(&err_path).expect("create stderr file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            // Where it waited (connecting, reading a reply, never started),
            // seen before it is killed.
            let at = i32::try_from(child.id())
                .map_or_else(|_| String::new(), |pid| Proc { pid }.whereabouts());
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{cmd:?} did not exit within {timeout:?}\nit was at: {at}\nstdout: {}\nstderr: {}",
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default()
            ));
        }
        sleep(POLL);
    };
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let result = RunOutput {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(result)
}
