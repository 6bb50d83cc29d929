//! A fresh cgroup v2 for one test's cinit ([`TestCgroup`]): made below
//! the test's own cgroup on the host's cgroup2 mount (on a hybrid host
//! such as CI's, `/sys/fs/cgroup/unified`), entered by `unshare` before it
//! execs (so cinit starts in it, as in a delegated subtree), and removed
//! when the test ends: what is left in it is killed, then its cgroups are
//! removed, leaves first. Tests running in parallel, and other users of
//! the machine, never share one.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` where no writable cgroup v2 exists: the cgroup tests then
/// pass without checking anything and say so; without it they fail.
pub const NO_CGROUP_ENV: &str = "CINIT_TEST_NO_CGROUP";

/// One test's cgroup; removed (with everything in it) on drop.
#[derive(Debug)]
pub struct TestCgroup {
    dir: PathBuf,
}

/// The cgroup2 mount point and this process's cgroup path (`0::PATH`).
fn mount_and_own() -> Option<(PathBuf, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut points: Vec<PathBuf> = Vec::new();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        if f.get(sep + 1) == Some(&"cgroup2") && f.get(3) == Some(&"/") {
            points.push(PathBuf::from(f.get(4)?));
        }
    }
    let point = points
        .iter()
        .find(|p| p.as_path() == Path::new("/sys/fs/cgroup"))
        .or_else(|| points.first())?
        .clone();
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
    Some((point, own))
}

impl TestCgroup {
    /// A new cgroup for one test, or `None` (after saying so on stderr)
    /// where there is no writable cgroup v2 and [`NO_CGROUP_ENV`] is set.
    /// Without that variable, a missing cgroup fails the test.
    pub fn new() -> Option<TestCgroup> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let made = mount_and_own()
            .ok_or_else(|| "no cgroup2 mount".to_string())
            .and_then(|(point, own)| {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let name = format!("cinit-test-{}-{n}", std::process::id());
                let dir = point.join(own.trim_start_matches('/')).join(name);
                fs::create_dir(&dir)
                    .map(|()| dir.clone())
                    .map_err(|e| format!("cannot make {}: {e}", dir.display()))
            });
        match made {
            Ok(dir) => Some(TestCgroup { dir }),
            Err(why) if std::env::var(NO_CGROUP_ENV).as_deref() == Ok("1") => {
                let thread = std::thread::current();
                eprintln!(
                    "skipping {}: no writable cgroup v2 ({why}) and {NO_CGROUP_ENV}=1",
                    thread.name().unwrap_or("a test")
                );
                None
            }
            Err(why) => panic!(
                "this test needs a writable cgroup v2 ({why}); set {NO_CGROUP_ENV}=1 \
                 to skip it where there is none"
            ),
        }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its path as `/proc/PID/cgroup` names it.
    pub fn path(&self) -> String {
        let (point, _) = mount_and_own().expect("cgroup2 mount");
        format!(
            "/{}",
            self.dir
                .strip_prefix(point)
                .expect("below the mount")
                .display()
        )
    }
}

/// The cgroup path (`0::PATH`) of host pid `pid`.
pub fn cgroup_of(pid: i32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// Every cgroup directory at and below `dir`, deepest first.
fn tree(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                tree(&e.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Kill what is left (all descendants too), wait for it to go.
        let _ = fs::write(self.dir.join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let events = fs::read_to_string(self.dir.join("cgroup.events")).unwrap_or_default();
            if !events.contains("populated 1") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut all = Vec::new();
        tree(&self.dir, &mut all);
        for d in all {
            let _ = fs::remove_dir(d);
        }
    }
}
