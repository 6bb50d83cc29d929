//! Each service's cgroup as PID 1 knows it: the settings of its `cgroup`
//! file written at each start, and the OOM kills its cgroup had counted,
//! to name a SIGKILL the OOM killer sent.
//!
//! The start path reads the `cgroup` file with the service's other files
//! (from the same listing: a service without it pays no system call) and
//! hands the settings to [`SvcCgroups::cgroup_settings`] with the cgroup the
//! start made or found for the service, just before spawning into it.
//! That writes the settings ([`apply_settings`]) and keeps a record: the
//! cgroup's path, the `memory.max` the service set, and the `oom_kill`
//! count of its `memory.events` when the start began (0 for a cgroup the
//! start made; read once, at the first start this image makes, for one
//! that was already there). Without a cgroup a service with settings
//! fails: it never runs without the limits it asked for.
//!
//! When a main process dies of SIGKILL ([`SvcCgroups::oom_reason`], the
//! engine's [`crate::engine::Host::exit_reason`]) the count is read again:
//! more than the record's, and the OOM killer did it. That is one read of
//! `memory.events` per SIGKILL death of a service with a record, and
//! nothing for any other death. A service this image never started (one
//! running across a hot update) has no record until its next start, and
//! its OOM deaths read as SIGKILL until then.

use std::path::{Path, PathBuf};

use crate::engine::state::SpawnError;
use crate::sys::cgroup::apply::{apply_settings, read_text, Setting};
use crate::sys::cgroup::parse::{human_bytes, keyed, number};
use crate::sys::process::ExitStatus;

/// What PID 1 keeps of one service's cgroup.
#[derive(Debug)]
struct Record {
    cgroup: PathBuf,
    /// `oom_kill` of `memory.events` when last looked at.
    oom_kills: u64,
    /// The `memory.max` of the service's `cgroup` file, as written.
    memory_max: Option<String>,
    /// The settings the last start wrote into `cgroup`.
    written: Vec<Setting>,
}

/// The record of every service, by index; `None`: no cgroup given by a
/// start of this image.
#[derive(Debug, Default)]
pub struct SvcCgroups(Vec<Option<Box<Record>>>);

/// The cgroup a start gives a service: its path (`BASE/svc/LEAF`) and
/// whether the start made it (`new`) or found it there.
#[derive(Debug, Clone, Copy)]
pub struct Given<'a> {
    pub path: &'a Path,
    pub new: bool,
}

/// The `oom_kill` count of a `memory.events` text.
pub fn oom_kills(events: &str) -> Option<u64> {
    keyed(events, "oom_kill")
}

/// The reason of a SIGKILL death when `now` OOM kills were counted and
/// `before` had been: `None` unless the count grew. `memory_max`: the
/// limit to name (`max` or none: no parenthesis).
pub fn oom_words(before: u64, now: u64, memory_max: Option<&str>) -> Option<String> {
    if now <= before {
        return None;
    }
    Some(match memory_max.filter(|m| *m != "max") {
        Some(m) => format!("killed by the OOM killer (memory.max {m})"),
        None => "killed by the OOM killer".to_string(),
    })
}

/// The reason of a start with `settings` and no cgroup.
pub fn no_cgroup(dir: &Path, settings: &[Setting]) -> Option<String> {
    let first = settings.first()?;
    Some(format!(
        "{}: {} asked for but cinit has no cgroup v2 here",
        dir.join(crate::config::cgroupconf::FILE).display(),
        first.file
    ))
}

impl SvcCgroups {
    fn slot(&mut self, svc: usize) -> Option<&mut Option<Box<Record>>> {
        if self.0.len() <= svc {
            self.0.resize_with(svc + 1, || None);
        }
        self.0.get_mut(svc)
    }

    /// Write `settings` (the service's `cgroup` file, read with its other
    /// files at this start; empty without one) into the cgroup `given`
    /// this start of service `svc` (directory `dir`) made or found for
    /// it, before anything is spawned into it, and remember the cgroup
    /// for [`SvcCgroups::oom_reason`]. `given` is `None`
    /// when cinit has no cgroups: then a service with settings fails
    /// (nothing is spawned), one without costs nothing.
    pub(super) fn cgroup_settings(
        &mut self,
        svc: usize,
        dir: &Path,
        settings: &[Setting],
        given: Option<Given>,
    ) -> Result<(), SpawnError> {
        let Some(given) = given else {
            return match no_cgroup(dir, settings) {
                Some(why) => Err(SpawnError::Config(why)),
                None => Ok(()),
            };
        };
        let cgroup = given.path;
        // What the last start wrote into this same cgroup is in force and
        // is not written again: a write of `memory.high` below what the
        // cgroup's processes use (those a respawn service's `on` left, or
        // a `kill-mode` `group` service's) reclaims in the writer, and the
        // writer must not be PID 1 at every restart. A new line, a changed
        // one, or a new cgroup is written.
        let same = self
            .0
            .get(svc)
            .and_then(|r| r.as_deref())
            .filter(|r| !given.new && r.cgroup == cgroup);
        let fresh: Vec<Setting> = settings
            .iter()
            .filter(|s| !same.is_some_and(|r| r.written.contains(s)))
            .cloned()
            .collect();
        if let (Some(svc_dir), Some(base)) =
            (cgroup.parent(), cgroup.parent().and_then(Path::parent))
        {
            apply_settings(cgroup, svc_dir, base, &fresh).map_err(|e| {
                SpawnError::Config(format!(
                    "{}: {e}",
                    dir.join(crate::config::cgroupconf::FILE).display()
                ))
            })?;
        }
        let memory_max = settings
            .iter()
            .find(|s| s.file == "memory.max")
            .map(|s| s.value.clone());
        let Some(slot) = self.slot(svc) else {
            return Ok(());
        };
        match slot {
            // The same cgroup as the last start: kept, no allocation (a
            // respawn service's restarts).
            Some(r) if r.cgroup == cgroup => {
                if given.new {
                    r.oom_kills = 0;
                }
                r.memory_max = memory_max;
                if r.written != settings {
                    r.written = settings.to_vec();
                }
            }
            _ => {
                let oom_kills = if given.new {
                    0
                } else {
                    read_text(&cgroup.join("memory.events"))
                        .ok()
                        .and_then(|t| oom_kills(&t))
                        .unwrap_or(0)
                };
                *slot = Some(Box::new(Record {
                    cgroup: cgroup.to_path_buf(),
                    oom_kills,
                    memory_max,
                    written: settings.to_vec(),
                }));
            }
        }
        Ok(())
    }

    /// The words for a death of service `svc`'s main process that its
    /// cgroup's `memory.events` puts on the OOM killer: only for SIGKILL,
    /// and only when the count grew since the start (it is then taken as
    /// the new count).
    pub(super) fn oom_reason(&mut self, svc: usize, status: ExitStatus) -> Option<String> {
        if status != ExitStatus::Signal(libc::SIGKILL) {
            return None;
        }
        let record = self.0.get_mut(svc)?.as_deref_mut()?;
        let events = read_text(&record.cgroup.join("memory.events")).ok()?;
        let now = oom_kills(&events)?;
        let limit = match &record.memory_max {
            Some(m) => Some(m.clone()),
            None => read_text(&record.cgroup.join("memory.max"))
                .ok()
                .and_then(|t| number(&t))
                .map(human_bytes),
        };
        let words = oom_words(record.oom_kills, now, limit.as_deref())?;
        record.oom_kills = now;
        Some(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reason names the OOM killer only when the count grew, with the
    /// limit the service set (none for `max`).
    #[test]
    fn oom_words_need_a_new_kill() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kills(events), Some(1));
        assert_eq!(
            oom_words(0, 1, Some("16M")).as_deref(),
            Some("killed by the OOM killer (memory.max 16M)")
        );
        assert_eq!(oom_words(1, 1, Some("16M")), None);
        assert_eq!(oom_words(2, 1, None), None);
        assert_eq!(
            oom_words(0, 3, Some("max")).as_deref(),
            Some("killed by the OOM killer")
        );
        assert_eq!(
            oom_words(0, 3, None).as_deref(),
            Some("killed by the OOM killer")
        );
    }

    /// A cgroup shaped like the kernel's (plain files: the same reads and
    /// writes), with `oom_kill` at `kills` and a `memory.max`.
    fn fake_cgroup(kills: u64) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("svc/a")).unwrap();
        std::fs::write(t.path().join("cgroup.controllers"), "memory pids\n").unwrap();
        for d in ["", "svc"] {
            std::fs::write(t.path().join(d).join("cgroup.subtree_control"), "memory\n").unwrap();
        }
        set_kills(&t, kills);
        std::fs::write(t.path().join("svc/a/memory.max"), "33554432\n").unwrap();
        t
    }

    fn set_kills(t: &tempfile::TempDir, kills: u64) {
        let events = format!("low 0\nhigh 0\nmax 3\noom 1\noom_kill {kills}\n");
        std::fs::write(t.path().join("svc/a/memory.events"), events).unwrap();
    }

    /// A SIGKILL is named the OOM killer's only when `memory.events`
    /// counts more kills than at the start: a cgroup found at the start
    /// with kills already counted (after a hot update) does not make its
    /// next SIGKILL an OOM kill, a new one does, and each kill is named
    /// once. The limit is the file's, else the cgroup's own.
    #[test]
    fn a_sigkill_is_named_by_the_count() {
        let t = fake_cgroup(2);
        let cg = t.path().join("svc/a");
        let dir = Path::new("/svc/a");
        let kill = ExitStatus::Signal(libc::SIGKILL);
        let mut c = SvcCgroups::default();
        assert_eq!(c.oom_reason(3, kill), None, "no record, no read");
        let found = Given {
            path: &cg,
            new: false,
        };
        c.cgroup_settings(3, dir, &[], Some(found)).unwrap();
        assert_eq!(c.oom_reason(3, kill), None, "2 kills were there before");
        set_kills(&t, 3);
        assert_eq!(c.oom_reason(3, ExitStatus::Code(1)), None);
        assert_eq!(c.oom_reason(3, ExitStatus::Signal(libc::SIGTERM)), None);
        assert_eq!(
            c.oom_reason(3, kill).as_deref(),
            Some("killed by the OOM killer (memory.max 32M)")
        );
        assert_eq!(c.oom_reason(3, kill), None, "that kill is named once");
        let limit = Setting {
            file: "memory.max".into(),
            value: "16M".into(),
        };
        let made = Given {
            path: &cg,
            new: true,
        };
        c.cgroup_settings(3, dir, &[limit], Some(made)).unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.join("memory.max")).unwrap(),
            "16M"
        );
        assert_eq!(
            c.oom_reason(3, kill).as_deref(),
            Some("killed by the OOM killer (memory.max 16M)"),
            "a new cgroup counts from 0"
        );
    }

    /// Proves a restart into the same cgroup writes only what changed
    /// since the last start: an unchanged line is not written again (its
    /// file, removed here, would fail the write), a changed one is, and a
    /// new cgroup gets every line.
    #[test]
    fn a_restart_writes_only_what_changed() {
        let t = fake_cgroup(0);
        let cg = t.path().join("svc/a");
        let dir = Path::new("/svc/a");
        let set = |f: &str, v: &str| Setting {
            file: f.into(),
            value: v.into(),
        };
        let at = |new| Some(Given { path: &cg, new });
        let read = |f: &str| std::fs::read_to_string(cg.join(f)).unwrap();
        let mut c = SvcCgroups::default();
        std::fs::write(cg.join("memory.high"), "max\n").unwrap();
        let first = [set("memory.high", "48M")];
        c.cgroup_settings(3, dir, &first, at(true)).unwrap();
        assert_eq!(read("memory.high"), "48M");
        // Unchanged: not written (with its file gone, a write would fail).
        std::fs::remove_file(cg.join("memory.high")).unwrap();
        c.cgroup_settings(3, dir, &first, at(false))
            .expect("an unchanged line was written again");
        // Changed, and one more line: both written.
        std::fs::write(cg.join("memory.high"), "48M").unwrap();
        let second = [set("memory.high", "40M"), set("memory.max", "64M")];
        c.cgroup_settings(3, dir, &second, at(false)).unwrap();
        assert_eq!(
            (read("memory.high"), read("memory.max")),
            ("40M".into(), "64M".into())
        );
        // A cgroup made anew: every line again.
        std::fs::write(cg.join("memory.max"), "max\n").unwrap();
        c.cgroup_settings(3, dir, &second, at(true)).unwrap();
        assert_eq!(read("memory.max"), "64M");
    }

    /// A setting the kernel refuses fails the start naming the file.
    #[test]
    fn a_refused_setting_fails_the_start() {
        let t = fake_cgroup(0);
        let cg = t.path().join("svc/a");
        let s = Setting {
            file: "pids.max".into(),
            value: "8".into(),
        };
        let err = SvcCgroups::default()
            .cgroup_settings(
                0,
                Path::new("/svc/a"),
                &[s],
                Some(Given {
                    path: &cg,
                    new: true,
                }),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/svc/a/cgroup: pids.max 8: writing "),
            "{text}"
        );
    }

    /// Without a cgroup, settings fail the start naming the file and the
    /// first setting; no settings, no failure.
    #[test]
    fn settings_without_a_cgroup_fail() {
        let s = Setting {
            file: "memory.max".into(),
            value: "64M".into(),
        };
        assert_eq!(
            no_cgroup(Path::new("/svc/a"), &[s]).as_deref(),
            Some("/svc/a/cgroup: memory.max asked for but cinit has no cgroup v2 here")
        );
        assert_eq!(no_cgroup(Path::new("/svc/a"), &[]), None);
    }
}
