//! Passing descriptors the systemd way (`LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`). `LISTEN_PID` must be the service's own pid, which is
//! not known before `posix_spawn` returns: the service is started through
//! `cinit --listen-exec`, which sets it and executes the real program.
//!
//! PID 1 spawns `/proc/self/exe --listen-exec PATH ARGV0 ARGS...` (its own
//! image, as for a log writer, even if the file was replaced since) with
//! the descriptors already at 3, 4, … and the environment already holding
//! `LISTEN_FDS` and `LISTEN_FDNAMES` ([`wrap`]). The trampoline
//! ([`main_if_listen_exec`]) adds `LISTEN_PID=<its pid>`, which stays the
//! service's pid across `execve`, resets SIGPIPE (the Rust runtime set it to
//! SIG_IGN before `main`, and SIG_IGN would survive the exec), and executes
//! PATH with `ARGV0 ARGS...`. It touches nothing else: no descriptor opened
//! or closed, no signal mask changed, so the service starts exactly as
//! clean as one spawned directly.
//!
//! Why not fork and set the variable in Rust code between fork and exec:
//! cinit spawns with `posix_spawn` (see [`crate::sys::spawn`]) so that no code of
//! its own runs in the child. The price is one more `execve` per start of a
//! service that gets descriptors.

use crate::sys::console::stderr_line;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::sys::process::SELF_EXE;
use crate::sys::spawn::ExecSpec;

/// `argv[1]` that makes the cinit binary this trampoline.
pub const FLAG: &str = "--listen-exec";

/// The variables of the convention; whatever the service's `.env` says
/// about them is replaced.
const VARS: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// Whether `entry` (`NAME=value`) sets one of [`VARS`].
fn is_listen_var(entry: &[u8]) -> bool {
    VARS.iter().any(|v| {
        entry
            .strip_prefix(v.as_bytes())
            .is_some_and(|rest| rest.starts_with(b"="))
    })
}

/// Whether `path` can be executed, as far as can be told without
/// executing it: `access(X_OK)` and not a directory. The errno `execve`
/// would fail with; a relative path (resolved in the service's directory
/// by the spawn) is left to the trampoline.
fn check_executable(path: &CStr) -> Result<(), i32> {
    if !path.to_bytes().starts_with(b"/") {
        return Ok(());
    }
    // SAFETY: `path` is NUL-terminated; access only reads it.
    if unsafe { libc::access(path.as_ptr(), libc::X_OK) } != 0 {
        return Err(nix::errno::Errno::last_raw());
    }
    match nix::sys::stat::stat(path) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Err(libc::EACCES),
        Ok(_) => Ok(()),
        Err(e) => Err(e as i32),
    }
}

/// `spec`, started through the trampoline with `LISTEN_FDS` and
/// `LISTEN_FDNAMES` for descriptors named `names` (at 3, 4, …). Fails with
/// the errno `execve` of `spec` would fail with, where that can be told now;
/// with EINVAL for a name that cannot go into the colon-separated
/// `LISTEN_FDNAMES` (empty, or holding `:` or NUL).
pub fn wrap(spec: &ExecSpec, names: &[&str]) -> Result<ExecSpec, i32> {
    check_executable(&spec.path)?;
    if names
        .iter()
        .any(|n| n.is_empty() || n.contains(':') || n.contains('\0'))
    {
        return Err(libc::EINVAL);
    }
    let c = |b: &[u8]| CString::new(b).map_err(|_| libc::EINVAL);
    let mut argv = Vec::with_capacity(spec.argv.len() + 3);
    argv.push(c(b"cinit")?);
    argv.push(c(FLAG.as_bytes())?);
    argv.push(spec.path.clone());
    argv.extend(spec.argv.iter().cloned());
    let mut envp: Vec<CString> = spec
        .envp
        .iter()
        .filter(|e| !is_listen_var(e.as_bytes()))
        .cloned()
        .collect();
    envp.push(c(format!("LISTEN_FDS={}", names.len()).as_bytes())?);
    envp.push(c(format!("LISTEN_FDNAMES={}", names.join(":")).as_bytes())?);
    Ok(ExecSpec {
        path: c(SELF_EXE.as_bytes())?,
        argv,
        envp,
    })
}

/// In the cinit binary's `main`: run as the trampoline if `argv[1]` is
/// [`FLAG`]. Returns the exit code if the exec failed; `None` when not the
/// trampoline (or when PID 1: that is cinit proper, whatever its arguments).
pub fn main_if_listen_exec() -> Option<i32> {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(OsString::as_os_str) != Some(OsStr::new(FLAG)) || std::process::id() == 1 {
        return None;
    }
    let Some(path) = args.get(2) else {
        stderr_line(&format!("cinit: usage: cinit {FLAG} PATH ARGV0 [ARG...]"));
        return Some(2);
    };
    let shown = path.to_string_lossy();
    // Arguments and the environment come from execve: no NUL inside.
    let c = |b: &[u8]| CString::new(b).ok();
    let (Some(cpath), Some(argv)) = (
        c(path.as_bytes()),
        args.iter()
            .skip(3)
            .map(|a| c(a.as_bytes()))
            .collect::<Option<Vec<CString>>>(),
    ) else {
        stderr_line(&format!(
            "cinit: cannot execute {shown}: an argument holds a NUL byte"
        ));
        return Some(127);
    };
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "LISTEN_PID")
        .filter_map(|(k, v)| {
            let mut entry = k.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(v.as_bytes());
            c(&entry)
        })
        .collect();
    if let Some(pid) = c(format!("LISTEN_PID={}", std::process::id()).as_bytes()) {
        envp.push(pid);
    }
    // SAFETY: resetting a disposition to SIG_DFL installs no handler; this
    // process is single-threaded and about to exec.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let Err(err) = nix::unistd::execve(&cpath, &argv, &envp);
    stderr_line(&format!("cinit: cannot execute {shown}: {}", err.desc()));
    Some(127)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn cs(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    fn strings(v: &[CString]) -> Vec<&str> {
        v.iter().map(|c| c.to_str().unwrap()).collect()
    }

    fn sh_spec(envp: &[&str]) -> ExecSpec {
        ExecSpec {
            path: cs("/bin/sh"),
            argv: vec![cs("sh"), cs("-c"), cs("echo $LISTEN_FDS")],
            envp: envp.iter().map(|e| cs(e)).collect(),
        }
    }

    #[test]
    fn wrap_runs_the_program_through_the_trampoline() {
        let spec = sh_spec(&[
            "PATH=/bin",
            "LISTEN_FDS=9",
            "LISTEN_PID=1",
            "LISTEN_FDNAMES=old",
            "LISTEN_FDSX=kept",
            "LISTEN_PIDS=kept",
            "A=LISTEN_FDS=kept",
        ]);
        let w = wrap(&spec, &["http", "ctl.sock"]).unwrap();
        assert_eq!(w.path.to_str().unwrap(), "/proc/self/exe");
        assert_eq!(
            strings(&w.argv),
            [
                "cinit",
                "--listen-exec",
                "/bin/sh",
                "sh",
                "-c",
                "echo $LISTEN_FDS"
            ]
        );
        assert_eq!(
            strings(&w.envp),
            [
                "PATH=/bin",
                "LISTEN_FDSX=kept",
                "LISTEN_PIDS=kept",
                "A=LISTEN_FDS=kept",
                "LISTEN_FDS=2",
                "LISTEN_FDNAMES=http:ctl.sock",
            ]
        );
        let w = wrap(&sh_spec(&[]), &["one"]).unwrap();
        assert_eq!(strings(&w.envp), ["LISTEN_FDS=1", "LISTEN_FDNAMES=one"]);
    }

    #[test]
    fn wrap_reports_what_execve_would_say() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = sh_spec(&[]);
        spec.path = cs(&format!("{}/missing", d.path().display()));
        assert_eq!(wrap(&spec, &["a"]), Err(libc::ENOENT));
        let plain = d.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        spec.path = cs(plain.to_str().unwrap());
        assert_eq!(wrap(&spec, &["a"]), Err(libc::EACCES));
        spec.path = cs(d.path().to_str().unwrap());
        assert_eq!(wrap(&spec, &["a"]), Err(libc::EACCES), "a directory");
        spec.path = cs(&format!("{}/x", plain.display()));
        assert_eq!(wrap(&spec, &["a"]), Err(libc::ENOTDIR));
        // Relative: resolved in the service directory, left to the exec.
        spec.path = cs("./on");
        assert!(wrap(&spec, &["a"]).is_ok());
    }

    #[test]
    fn names_that_do_not_fit_listen_fdnames_are_refused() {
        for bad in ["", "a:b", "nul\0"] {
            assert_eq!(
                wrap(&sh_spec(&[]), &["ok", bad]),
                Err(libc::EINVAL),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn listen_vars_are_recognised_exactly() {
        assert!(is_listen_var(b"LISTEN_FDS=3"));
        assert!(is_listen_var(b"LISTEN_PID="));
        assert!(is_listen_var(b"LISTEN_FDNAMES=a:b"));
        assert!(!is_listen_var(b"LISTEN_FDS"));
        assert!(!is_listen_var(b"LISTEN_FDSET=1"));
        assert!(!is_listen_var(b"XLISTEN_FDS=1"));
    }
}
