//! Global settings in `$CINIT_DIR/conf/`.
//!
//! | file | meaning | default |
//! |---|---|---|
//! | `sleep_before_kill` | seconds between the global SIGTERM and SIGKILL at shutdown | 2 |
//! | `last` (+`.params`, `.env`) | run last at shutdown, before `reboot(2)` | none |
//! | `panic` | run by the emergency path (argv = its path; env = PATH, TERM) | none |
//! | `rescue` (+`.params`, `.env`) | the rescue shell | `/sbin/sulogin`, else `/bin/sh` |
//!
//! `last` and `panic` are read when they are needed (with [`crate::config::svcdir::read_exec`]),
//! so editing them needs no reload; here they are only validated.

use std::path::Path;

use std::ffi::CString;

use crate::config::dirlist::ServiceDir;
use crate::config::svcdir::{parse_delay, read_exec, read_small_file, FileError};
use crate::sys::spawn::ExecSpec;

/// Shells tried, in order, when there is no `conf/rescue`.
pub const RESCUE_FALLBACKS: [&str; 2] = ["/sbin/sulogin", "/bin/sh"];
/// `PATH` for a fallback rescue shell.
pub const RESCUE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run for the rescue shell or the emergency shell: `conf/NAME` if
/// present, else the first fallback that exists. A fallback gets `PATH`,
/// `TERM=linux` and cinit's own `CINIT_*` variables (so `cinit-ctl` finds
/// the control socket), nothing else.
pub fn shell_spec(conf_dir: &Path, name: &str) -> Result<ExecSpec, String> {
    match read_exec(&ServiceDir::unlisted(conf_dir), name) {
        Ok(Some(spec)) => return Ok(spec),
        Ok(None) => {}
        Err(e) => return Err(e.to_string()),
    }
    let path = RESCUE_FALLBACKS
        .iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| format!("no conf/{name}, {}", RESCUE_FALLBACKS.join(" or ")))?;
    let mut env = vec![RESCUE_PATH.to_string(), "TERM=linux".to_string()];
    for var in ["CINIT_DIR", "CINIT_CTL_DIR", "CINIT_CONSOLE"] {
        if let Some(v) = std::env::var_os(var).and_then(|v| v.into_string().ok()) {
            env.push(format!("{var}={v}"));
        }
    }
    let c = |s: &str| CString::new(s).map_err(|_| format!("NUL byte in {s:?}"));
    Ok(ExecSpec {
        path: c(path)?,
        argv: vec![c(path)?],
        envp: env.iter().map(|e| c(e)).collect::<Result<_, _>>()?,
    })
}

/// Seconds between the global SIGTERM and SIGKILL when `sleep_before_kill` is absent.
pub const DEFAULT_SLEEP_BEFORE_KILL_S: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConf {
    pub sleep_before_kill_s: u32,
}

/// Read `conf/`. Problems are returned beside the (defaulted) settings.
pub fn read_conf(conf_dir: &Path) -> (GlobalConf, Vec<FileError>) {
    let mut problems = Vec::new();
    let path = conf_dir.join("sleep_before_kill");
    let sleep = match read_small_file(&path) {
        Ok(Some(data)) => match parse_delay(&path, &data) {
            Ok(s) => s.unwrap_or(DEFAULT_SLEEP_BEFORE_KILL_S),
            Err(e) => {
                problems.push(e);
                DEFAULT_SLEEP_BEFORE_KILL_S
            }
        },
        Ok(None) => DEFAULT_SLEEP_BEFORE_KILL_S,
        Err(e) => {
            problems.push(e);
            DEFAULT_SLEEP_BEFORE_KILL_S
        }
    };
    for hook in ["last", "panic", "rescue"] {
        if let Err(e) = read_exec(&ServiceDir::unlisted(conf_dir), hook) {
            problems.push(e);
        }
    }
    (
        GlobalConf {
            sleep_before_kill_s: sleep,
        },
        problems,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn defaults_without_files_and_errors_with_bad_ones() {
        let d = tempfile::tempdir().unwrap();
        let (c, p) = read_conf(d.path());
        assert_eq!(c.sleep_before_kill_s, DEFAULT_SLEEP_BEFORE_KILL_S);
        assert!(p.is_empty());

        fs::write(d.path().join("sleep_before_kill"), "7\n").unwrap();
        assert_eq!(read_conf(d.path()).0.sleep_before_kill_s, 7);

        // An empty file is valid and means the default.
        fs::write(d.path().join("sleep_before_kill"), "").unwrap();
        assert_eq!(
            read_conf(d.path()),
            (
                GlobalConf {
                    sleep_before_kill_s: 2
                },
                vec![]
            )
        );

        fs::write(d.path().join("sleep_before_kill"), "soon").unwrap();
        fs::write(d.path().join("last"), "#!/bin/sh\n").unwrap();
        fs::write(d.path().join("last.env"), "oops\n").unwrap();
        let (c, p) = read_conf(d.path());
        assert_eq!(c.sleep_before_kill_s, DEFAULT_SLEEP_BEFORE_KILL_S);
        assert_eq!(p.len(), 2);
        assert!(p[1].file.ends_with("last.env"));
    }
}
