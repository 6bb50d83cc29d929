//! PID 1's side of cgroup containment: the base taken at boot (or none:
//! services are then tracked by process group, as before), which service
//! cgroups this image has made, and the [`RealHost`] calls the engine and
//! the commands make on a service's cgroup.
//!
//! Invariants:
//! - Without a base nothing here makes a system call: a start, a stop and
//!   `signal --all` are exactly what they were before cgroups.
//! - A service's cgroup is made (`mkdir`) at its first start in this
//!   image and remembered ([`Contain::made`]); a restart pays nothing in
//!   PID 1. The child joins it itself ([`crate::sys::spawn`]).
//! - A service's cgroup is named from its name ([`layout::leaf_name`]),
//!   which is its directory below the service root: the same in every
//!   image, so a hot update finds the cgroups again.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use super::host::RealHost;
use crate::sys::cgroup::{file, layout, ops, setup};

/// The containment state of this image.
#[derive(Debug, Default)]
pub struct Contain {
    /// The base, or none: process groups only.
    base: Option<setup::Base>,
    /// The canonical service root (service names are paths below it).
    svc_root: PathBuf,
    /// By service index: its cgroup was made (or found) by this image.
    made: Vec<bool>,
}

/// The cgroup a start puts a service's child in.
#[derive(Debug)]
pub struct Join {
    /// Its `cgroup.procs`, which the child writes itself into.
    pub procs: CString,
    /// The cgroup (`BASE/svc/LEAF`).
    pub dir: PathBuf,
    /// Made by this start (not found there).
    pub new: bool,
}

impl Contain {
    /// Take the base at boot or after a hot update (`after_update`), and
    /// publish it in `ctl_dir` for `cinit-ctl`. Returns the containment
    /// and the console line: the base, or the one line saying why
    /// services are tracked by process group.
    pub fn setup(svc: &Path, ctl_dir: &Path, after_update: bool) -> (Contain, String) {
        let mut at = ctl_dir.to_string_lossy().into_owned();
        at.push('/');
        at.push_str(layout::BASE_FILE);
        let (base, mut line) = match setup::setup(after_update) {
            Ok((base, note)) => (Some(base), note),
            Err(why) => {
                let mut line = String::from("no writable cgroup v2 (");
                line.push_str(&why);
                line.push_str("): services are tracked by process group");
                (None, line)
            }
        };
        if setup::publish(&at, base.as_ref()).is_err() {
            line.push_str("; cannot write ");
            line.push_str(&at);
        }
        let c = Contain {
            base,
            svc_root: std::fs::canonicalize(svc).unwrap_or_else(|_| svc.to_path_buf()),
            made: Vec::new(),
        };
        (c, line)
    }

    /// The cgroup of the service in directory `dir`: its directory and its
    /// path as `/proc/PID/cgroup` names it.
    fn of(&self, dir: &Path) -> Option<(String, String)> {
        let base = self.base.as_ref()?;
        let leaf = layout::leaf_name(&crate::config::tree::service_name(&self.svc_root, dir));
        let mut path = base.path.trim_end_matches('/').to_string();
        let mut cg = base.dir.clone();
        for s in [&mut path, &mut cg] {
            s.push('/');
            s.push_str(layout::SERVICES);
            s.push('/');
            s.push_str(&leaf);
        }
        Some((cg, path))
    }
}

impl Contain {
    /// Service `svc`'s cgroup (its directory `dir`) for its child to
    /// join, made at its first start in this image. `Ok(None)`: no
    /// cgroups.
    pub fn procs_to_join(&mut self, svc: usize, dir: &Path) -> Result<Option<Join>, String> {
        let Some((cg, _)) = self.of(dir) else {
            return Ok(None);
        };
        let mut new = false;
        if !self.made.get(svc).copied().unwrap_or(false) {
            new = ops::make(&cg).map_err(|e| file::reason("cannot make cgroup ", &cg, e))?;
            if self.made.len() <= svc {
                self.made.resize(svc + 1, false);
            }
            if let Some(m) = self.made.get_mut(svc) {
                *m = true;
            }
        }
        let mut procs = cg.clone().into_bytes();
        procs.extend_from_slice(b"/cgroup.procs");
        Ok(CString::new(procs).ok().map(|procs| Join {
            procs,
            dir: PathBuf::from(cg),
            new,
        }))
    }

    /// The child could not join service `svc`'s cgroup: the reason, and
    /// the cgroup is made again at the next start (it may have been
    /// removed).
    pub fn join_failed(&mut self, svc: usize, dir: &Path, errno: i32) -> String {
        if let Some(m) = self.made.get_mut(svc) {
            *m = false;
        }
        let cg = self.of(dir).map(|(d, _)| d).unwrap_or_default();
        file::reason("cannot join cgroup ", &cg, errno)
    }
}

impl RealHost {
    /// Kill every process of service `svc`'s cgroup; whether it had any.
    /// A service whose `kill-mode` is `group` has none to kill: what left
    /// its main process's group stays (an sshd's open sessions).
    pub(super) fn kill_cgroup(&mut self, svc: usize) -> bool {
        let Some((cg, path)) = self.dir(svc).and_then(|d| self.cg.of(d)) else {
            return false;
        };
        if self.group_only(svc) {
            return false;
        }
        if !ops::populated(&cg) {
            return false;
        }
        ops::kill(&cg, &path);
        true
    }

    /// Whether service `svc`'s cgroup holds processes.
    pub(super) fn cgroup_populated(&self, svc: usize) -> bool {
        self.dir(svc)
            .and_then(|d| self.cg.of(d))
            .is_some_and(|(cg, _)| ops::populated(&cg))
    }

    /// Send `sig` to every process of service `svc`'s cgroup (`None`
    /// without cgroups); `Err` with the reason if none was reached.
    pub(super) fn signal_cgroup(&self, svc: usize, sig: i32) -> Option<Result<(), String>> {
        let (cg, path) = self.dir(svc).and_then(|d| self.cg.of(d))?;
        Some(match ops::signal_all(&cg, &path, sig) {
            Ok(0) => Err("no process in its cgroup".to_string()),
            Ok(_) => Ok(()),
            Err(e) => Err(file::desc(e).to_string()),
        })
    }
}

impl RealHost {
    /// The cgroup of service `svc` as `/proc/PID/cgroup` names it; `None`
    /// without cgroups.
    pub(super) fn cgroup_path(&self, svc: usize) -> Option<String> {
        self.dir(svc).and_then(|d| self.cg.of(d)).map(|(_, p)| p)
    }

    /// The cgroup of process `pid` (from `/proc/PID/cgroup`), when cinit
    /// has cgroups; `None` without them or when it cannot be read.
    pub(super) fn cgroup_of_pid(&self, pid: i32) -> Option<String> {
        self.cg.base.as_ref()?;
        let text = file::read(&format!("/proc/{pid}/cgroup"), 4096).ok()?;
        crate::sys::cgroup::find::own_cgroup(&text).map(str::to_string)
    }
}
