//! Global settings in `$CINIT_DIR/conf/`.
//!
//! | file | meaning | default |
//! |---|---|---|
//! | `sleep_before_kill` | seconds between the global SIGTERM and SIGKILL at shutdown | 2 |
//! | `last` (+`.params`, `.env`) | run last at shutdown, before `reboot(2)` | none |
//! | `panic` (+`.params`, `.env`) | run when cinit cannot go on | none |
//!
//! `last` and `panic` are read when they are needed (with [`crate::svcdir::read_exec`]),
//! so editing them needs no reload; here they are only validated.

use std::path::Path;

use crate::svcdir::{parse_delay, read_exec, read_small_file, FileError};

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
    for hook in ["last", "panic"] {
        if let Err(e) = read_exec(conf_dir, hook) {
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
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
