//! The previous release for tests/ns_compat.rs: where its binaries are
//! (`CINIT_PREV_BIN`, set by `make test`), and its clients running in the
//! background across a hot update.

use crate::common::{Cinit, POLL};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a background client may take to exit.
const SLOW: Duration = Duration::from_secs(20);

/// The previous release's `cinit` and `cinit-ctl`, or `None` (with a note)
/// when the test runs by hand without `CINIT_PREV_BIN`. Under make (which
/// exports `MAKELEVEL`) a missing variable is a broken Makefile: fail.
pub fn prev_bins() -> Option<(PathBuf, PathBuf)> {
    let Some(cinit) = std::env::var_os("CINIT_PREV_BIN").map(PathBuf::from) else {
        assert!(
            std::env::var_os("MAKELEVEL").is_none(),
            "CINIT_PREV_BIN is not set, but make runs this test: the Makefile's \
             target must build `prev` and pass CINIT_PREV_BIN (see the `test` target)"
        );
        eprintln!(
            "ns_compat: skipped: CINIT_PREV_BIN is not set. `make prev` builds the previous \
             release; then run CINIT_PREV_BIN=$PWD/target/prev/HASH/build/TARGET/release/cinit \
             cargo test --test ns_compat (`make test` does this)"
        );
        return None;
    };
    let ctl = cinit.with_file_name("cinit-ctl");
    for p in [&cinit, &ctl] {
        assert!(
            p.is_file(),
            "CINIT_PREV_BIN: {} does not exist (run `make prev`)",
            p.display()
        );
    }
    Some((cinit, ctl))
}

/// A `cinit-ctl` command of the previous release, reaching `c` from the host.
pub fn old_ctl(c: &Cinit, ctl: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(ctl);
    cmd.args(args)
        .env_clear()
        .env("CINIT_CTL_DIR", c.ctl_dir_via_proc())
        .current_dir("/");
    cmd
}

/// A client running in the background, its stdout and stderr in files;
/// killed when dropped.
pub struct Bg {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Bg {
    pub fn spawn(mut cmd: Command, dir: &Path, name: &str, stdin: Stdio) -> Bg {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = cmd
            .stdin(stdin)
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Bg { child, out, err }
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn dump(&self) -> String {
        format!(
            "stdout: {:?}\nstderr: {:?}",
            self.stdout(),
            fs::read_to_string(&self.err).unwrap_or_default()
        )
    }

    /// Its exit code, waiting at most `SLOW`.
    pub fn exit_code(&mut self, c: &Cinit) -> Option<i32> {
        let deadline = Instant::now() + SLOW;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            if Instant::now() > deadline {
                c.fail(&format!("a client did not exit\n{}", self.dump()));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
