//! Booting cinit as a container's init: PID 1 without CAP_SYS_BOOT, so
//! reboot(2) fails with EPERM and cinit exits with a status instead.

use std::ffi::OsString;
use std::path::Path;

use super::{signals_in_mask, Cinit, Fixture, LaunchOpts};

/// Bit of CAP_SYS_BOOT in the capability masks of `/proc/PID/status`.
const CAP_SYS_BOOT: u32 = 22;

impl Cinit {
    /// Boots cinit (PID 1) with `opts` through `setpriv
    /// --bounding-set=-sys_boot`, and checks it is PID 1 without
    /// CAP_SYS_BOOT; `None` (and a printed reason) without setpriv.
    pub fn launch_without_sys_boot(fx: &Fixture, opts: LaunchOpts) -> Option<Cinit> {
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(setpriv) = setpriv else {
            eprintln!("skipped: setpriv(1) is not installed");
            return None;
        };
        let opts = LaunchOpts {
            wrapper: vec![
                OsString::from(setpriv),
                OsString::from("--bounding-set=-sys_boot"),
                OsString::from("--"),
            ],
            ..opts
        };
        let c = Cinit::launch_with(fx, &[], &[], &opts);
        let p = c.proc();
        let eff = p.status_field("CapEff").unwrap_or_default();
        let caps = signals_in_mask(&eff); // bit b → b + 1
        c.check(p.ns_pid() == Some(1), "cinit is not PID 1 behind setpriv");
        c.check(
            !caps.contains(&(CAP_SYS_BOOT + 1)),
            &format!("cinit still has CAP_SYS_BOOT (CapEff {eff})"),
        );
        Some(c)
    }
}
