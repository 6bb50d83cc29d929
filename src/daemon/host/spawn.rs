//! Spawning for [`RealHost`]: a service's `on` or `off` (its files read
//! from one listing of its directory, its condition at a start, its
//! environment, sockets, log, readiness pipe or notify socket, context,
//! cgroup, and the watchdog's variables) and a `ready-probe` program.
//!
//! Part of `daemon/host.rs` (a child module: it shares the host's state).
//! Invariants: nothing here blocks beyond the spawn itself; a file that
//! does not parse fails the start with its file and reason, never runs the
//! service without what it asked for; the parent's copies of what only the
//! child needs are closed when a spawn returns.

use crate::config::context::{read_context, step_text};
use crate::config::dirlist::ServiceDir;
use crate::config::logconf::read_log_config;
use crate::config::svcdir::{read_exec, FileError};
use crate::engine::state::SpawnError;
use crate::engine::{Role, Spawned};
use crate::fds::store::FdTable;
use crate::ready::pipe::ReadyPipes;
use crate::sys::clock::now_ms;
use crate::sys::clock::Millis;
use crate::sys::process::Pid;
use crate::sys::spawn::{spawn_in, spawn_with_pid, ExecContext, Step};
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::RealHost;

impl RealHost {
    /// Spawn `role` of `svc`; with `ready_fd`, also a readiness pipe whose
    /// write end the child gets at that descriptor (and only the child: the
    /// parent's copy closes when this returns); with `watchdog`, the
    /// watchdog's variables (`svcdog.rs`). `start`: a start a request
    /// asked for, which runs nothing if the service's condition does not
    /// hold ([`crate::config::condition`]).
    pub(super) fn spawn_with(
        &mut self,
        svc: usize,
        role: Role,
        (ready_fd, watchdog): (Option<RawFd>, Option<Millis>),
        start: bool,
    ) -> Result<Spawned, SpawnError> {
        let Some((dir, cdir)) = self.cdirs.get(svc).map(|c| (dir_of(c), c)) else {
            return Err(SpawnError::Config("unknown service".into()));
        };
        let which = match role {
            Role::On => "on",
            Role::Off => "off",
        };
        // The service's files, from one listing of its directory: the one
        // its load made in this loop turn (its first start, at boot), else
        // a new one, whose descriptor is closed before anything is made.
        let files = match self.kept.take(svc) {
            Some(listing) => ServiceDir::from_listing(dir, listing),
            None => ServiceDir::open(dir),
        };
        // No system call for a service without the file: the listing
        // says it is absent.
        if start {
            let failed = crate::config::condition::check(&files)
                .map_err(|e| file_error(&e, &dir.join(which)))?;
            if let Some(failed) = failed {
                return Ok(Spawned::Skipped(failed));
            }
        }
        let mut spec = match read_exec(&files, which) {
            Ok(Some(mut spec)) => {
                if let Some(ms) = watchdog {
                    super::super::svcdog::add_env(&mut spec.envp, ms);
                }
                spec
            }
            // No program: nothing to run, a success (a grouping service) —
            // unless the service directory itself is gone since it was loaded.
            Ok(None) => {
                return match std::fs::symlink_metadata(files.path()) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SpawnError::Config(
                        format!("{}: service directory is gone", dir.display()),
                    )),
                    _ => Ok(Spawned::Nothing),
                };
            }
            // Out of descriptors or memory while reading the service's
            // files: `on` cannot be executed for now, as temporary as the
            // same errno from the exec itself.
            Err(e) => return Err(file_error(&e, &dir.join(which))),
        };
        let (sockets, sigs) = match role {
            Role::On => {
                // sd_notify: NOTIFY_SOCKET replaces any the service's
                // environment names.
                if let Some(env) = self
                    .notify
                    .for_start(svc, &files)
                    .map_err(SpawnError::Config)?
                {
                    spec.envp
                        .retain(|e| !e.as_bytes().starts_with(b"NOTIFY_SOCKET="));
                    spec.envp.push(env);
                }
                // A bad signal file fails the start: a service is never
                // stopped with a signal its author did not ask for.
                let sigs = super::super::svcsig::read(&files)
                    .map_err(|e| file_error(&e, &dir.join(which)))?;
                (Some(crate::config::sockets::load(&files)), Some(sigs))
            }
            Role::Off => (None, None),
        };
        let log_config = read_log_config(&files);
        // User, limits, nice, OOM score, no_new_privs: a file that does
        // not parse or names no user fails the start (never as root
        // instead); a service without them reads nothing here.
        let context = read_context(&files).map_err(|e| file_error(&e, &dir.join(which)))?;
        // The `cgroup` file: written into the service's cgroup below.
        let settings = crate::config::cgroupconf::read(&files)
            .map_err(|e| file_error(&e, &dir.join(which)))?;
        let cwd = instance_cwd(&files);
        drop(files);
        let stdio: RawFd = match &self.child_stdio {
            Some(fd) => fd.as_raw_fd(),
            None => return Err(SpawnError::Config("no console for stdio".into())),
        };
        // Named after the service's program, even when it is started
        // through the `--listen-exec` trampoline (the name is made only
        // for an error).
        let exec_error = |errno| SpawnError::Exec {
            path: String::from_utf8_lossy(spec.path.as_bytes()).into_owned(),
            errno,
        };
        let ctx = context.as_ref();
        // The service's cgroup, made at its first start in this image.
        let join = self
            .cg
            .procs_to_join(svc, dir)
            .map_err(SpawnError::Config)?;
        // The settings go into it before anything is spawned into it; no
        // cgroup: a service with settings fails here.
        let given = join.as_ref().map(|j| super::super::svccg::Given {
            path: &j.dir,
            new: j.new,
        });
        self.cgroups.cgroup_settings(svc, dir, &settings, given)?;
        // A pipe that cannot be made (a full descriptor table) is as
        // temporary as the same errno from the exec: a backoff and a retry.
        let pipe = ready_fd
            .map(|target| ReadyPipes::open(target).map(|p| (p, target)))
            .transpose()
            .map_err(exec_error)?;
        // The service's sockets and stored descriptors, at 3, 4, …
        let passed = match sockets {
            Some(specs) => held_fds(&mut self.fds, svc, dir, specs, ready_fd)?,
            None => Vec::new(),
        };
        let wrapped = if passed.is_empty() {
            None
        } else {
            let names: Vec<&str> = passed.iter().map(|(_, n)| n.as_str()).collect();
            Some(crate::fds::listen_exec::wrap(&spec, &names).map_err(exec_error)?)
        };
        let (mut fds, notes) = self.logs.stdio_with(svc, log_config, stdio, now_ms());
        fds.extra.extend(
            passed
                .iter()
                .zip(FIRST_PASSED_FD..)
                .map(|((fd, _), t)| (*fd, t)),
        );
        if let Some((p, target)) = &pipe {
            fds.extra.push((p.write.as_raw_fd(), *target));
        }
        let cg = &mut self.cg;
        let spawned = spawn_with_pid(
            wrapped.as_ref().unwrap_or(&spec),
            cwd.as_ref().unwrap_or(cdir),
            &fds,
            (ctx, join.as_ref().map(|j| j.procs.as_c_str())),
            watchdog.map(|_| super::super::svcdog::PID_VAR),
        )
        .map_err(|f| match ctx {
            // Not in its cgroup: the reason names the cgroup.
            _ if f.step == Step::Cgroup => SpawnError::Config(cg.join_failed(svc, dir, f.errno)),
            None => exec_error(f.errno),
            Some(ctx) => context_error(ctx, f, dir, exec_error(f.errno)),
        });
        for note in notes {
            self.log(&note);
        }
        let pid = spawned?;
        if let Some(pair) = sigs {
            self.sigs.set(svc, pair);
        }
        self.logs.track(pid, svc);
        if let Some((p, _)) = pipe {
            self.ready.watch(p.read, pid, svc);
        }
        Ok(Spawned::Pid(pid))
    }
}

impl RealHost {
    /// Spawn a `ready-probe` program of `svc` (`argv`, program first) as the
    /// service's own `on` is spawned ([`spawn`]: clean signal mask and
    /// dispositions, its own session, only its stdio): in the service
    /// directory (a relative program is found there), with the
    /// environment of `on.env`, its output in the service's log, stdin
    /// `/dev/null`, and no sockets or readiness pipe; as the service's
    /// user, with its limits ([`read_context`], read now as a start reads
    /// it: a probe never runs as root for a service that does not).
    /// Returns the pid or the errno.
    pub fn spawn_probe(&mut self, svc: usize, argv: &[String]) -> Result<Pid, i32> {
        let Some((dir, cdir)) = self.cdirs.get(svc).map(|c| (dir_of(c), c)) else {
            return Err(libc::EINVAL);
        };
        let files = ServiceDir::open(dir);
        let envp = match read_exec(&files, "on") {
            Ok(spec) => spec.map(|s| s.envp).unwrap_or_default(),
            Err(e) => return Err(e.errno.unwrap_or(libc::EINVAL)),
        };
        let context = read_context(&files).map_err(|e| e.errno.unwrap_or(libc::EINVAL))?;
        let cwd = instance_cwd(&files);
        drop(files);
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| libc::EINVAL))
            .collect::<Result<_, _>>()?;
        let path = argv.first().cloned().ok_or(libc::EINVAL)?;
        let spec = crate::sys::spawn::ExecSpec { path, argv, envp };
        let stdio: RawFd = match &self.child_stdio {
            Some(fd) => fd.as_raw_fd(),
            None => return Err(libc::EBADF),
        };
        let (mut fds, notes) = self.logs.stdio(svc, dir, stdio, now_ms());
        fds.stdin = None;
        fds.extra.clear();
        let spawned = spawn_in(
            &spec,
            cwd.as_ref().unwrap_or(cdir),
            &fds,
            context.as_ref(),
            None,
        )
        .map_err(|f| f.errno);
        for note in notes {
            self.log(&note);
        }
        spawned
    }
}

/// Where an instance runs: its template's directory (it has none of its
/// own, [`crate::config::instance`]); `None` for any other service, which
/// runs in its directory.
fn instance_cwd(files: &ServiceDir) -> Option<CString> {
    files
        .instance()
        .and_then(|_| CString::new(files.path().as_os_str().as_bytes()).ok())
}

/// A service file that could not be read. Out of descriptors or memory,
/// `program` cannot be executed for now, as temporary as the same errno
/// from the exec (a respawn service backs off and retries); anything else
/// is a configuration error.
fn file_error(e: &crate::config::svcdir::FileError, program: &std::path::Path) -> SpawnError {
    let err = match e.errno {
        Some(errno) => SpawnError::Exec {
            path: program.to_string_lossy().into_owned(),
            errno,
        },
        None => SpawnError::Config(e.to_string()),
    };
    if err.is_transient() {
        err
    } else {
        SpawnError::Config(e.to_string())
    }
}

/// A start with an execution context that failed: a step of the context
/// names its file and what it did; an exec error (`exec`) says the user it
/// ran as.
fn context_error(
    ctx: &ExecContext,
    f: crate::sys::spawn::Failure,
    dir: &std::path::Path,
    exec: SpawnError,
) -> SpawnError {
    let desc = nix::errno::Errno::from_raw(f.errno).desc();
    match step_text(ctx, f.step) {
        Some((file, what)) => {
            SpawnError::Config(format!("{}: {what}: {desc}", dir.join(file).display()))
        }
        None => match (exec, &ctx.creds) {
            (SpawnError::Exec { path, errno }, Some(c)) => SpawnError::Exec {
                path: format!("{path} as user {}", c.name),
                errno,
            },
            (other, _) => other,
        },
    }
}

/// The first descriptor number a service's sockets and stored descriptors
/// get (after stdin, stdout and stderr, as `sd_listen_fds` expects).
const FIRST_PASSED_FD: RawFd = 3;

/// Bind the sockets the service's `sockets` file declares (`specs`, read
/// with its other files; those held from
/// an earlier start are kept) and list what `on` is passed: the sockets,
/// then the stored descriptors, with their names.
/// A service directory kept as a C string, as a path.
pub(super) fn dir_of(c: &CString) -> &std::path::Path {
    std::path::Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()))
}

fn held_fds(
    table: &mut FdTable,
    svc: usize,
    dir: &std::path::Path,
    specs: Result<Vec<crate::config::sockets::SocketSpec>, FileError>,
    ready_fd: Option<RawFd>,
) -> Result<Vec<(RawFd, String)>, SpawnError> {
    // Out of descriptors, even a missing `sockets` file cannot be looked
    // for (the kernel takes the descriptor number before the path).
    let specs = specs.map_err(|e| file_error(&e, &dir.join("on")))?;
    table
        .set_listeners(svc, specs, crate::fds::listen::bind)
        .map_err(|e| match e.errno {
            Some(errno) => SpawnError::Listen {
                message: e.message,
                errno,
            },
            None => SpawnError::Config(e.message),
        })?;
    let passed: Vec<(RawFd, String)> = table
        .passed(svc)
        .into_iter()
        .map(|(fd, n)| (fd, n.to_string()))
        .collect();
    let last = FIRST_PASSED_FD.saturating_add(passed.len() as RawFd);
    if let Some(n) = ready_fd.filter(|n| (FIRST_PASSED_FD..last).contains(n)) {
        return Err(SpawnError::Config(format!(
            "{}: notification-fd {n} is one of the descriptors the service is passed \
                 ({FIRST_PASSED_FD} to {}); choose {last} or above",
            dir.display(),
            last - 1
        )));
    }
    Ok(passed)
}
