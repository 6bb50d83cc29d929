//! Where cinit finds things: base, service, conf and control directories,
//! the console, and the root service chosen by `cprofile:NAME`.
//!
//! Pure: the environment and arguments are passed in, so this is tested
//! without touching the process environment.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

pub const DEFAULT_BASE: &str = "/etc/cinit";
pub const DEFAULT_CTL: &str = "/run/cinit";
pub const DEFAULT_CONSOLE: &str = "/dev/console";

/// Whether `console` is the kernel's own console, where the kernel prints
/// the records of its log that pass its console loglevel.
pub fn is_kernel_console(console: &std::path::Path) -> bool {
    console == std::path::Path::new(DEFAULT_CONSOLE)
}
/// The root service when no profile is given.
pub const DEFAULT_ROOT: &str = "init";
/// Prefix of the kernel command-line word that selects a profile.
pub const PROFILE_PREFIX: &str = "cprofile:";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// `$CINIT_DIR`, default `/etc/cinit`.
    pub base: PathBuf,
    /// `base/svc`: the service tree.
    pub svc: PathBuf,
    /// `base/conf`: global settings.
    pub conf: PathBuf,
    /// `$CINIT_CTL_DIR`, default `/run/cinit`.
    pub ctl: PathBuf,
    /// `$CINIT_CONSOLE`, default `/dev/console`.
    pub console: PathBuf,
}

impl Paths {
    /// Resolve from an environment lookup (empty values count as unset).
    pub fn from_env(get: impl Fn(&str) -> Option<OsString>) -> Paths {
        let var = |name: &str, default: &str| {
            get(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        let base = var("CINIT_DIR", DEFAULT_BASE);
        Paths {
            svc: base.join("svc"),
            conf: base.join("conf"),
            base,
            ctl: var("CINIT_CTL_DIR", DEFAULT_CTL),
            console: var("CINIT_CONSOLE", DEFAULT_CONSOLE),
        }
    }

    /// The process environment.
    pub fn from_process_env() -> Paths {
        Paths::from_env(|name| std::env::var_os(name))
    }
}

/// The profile named by the last `cprofile:NAME` argument.
///
/// Returns `Ok(None)` without one, and `Err(word)` for a name that would leave
/// the service tree (absolute, `..`) or is empty.
pub fn profile_from_args<I, S>(args: I) -> Result<Option<String>, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let last = args
        .into_iter()
        .filter_map(|a| a.as_ref().strip_prefix(PROFILE_PREFIX).map(str::to_string))
        .last();
    match last {
        None => Ok(None),
        Some(name) => {
            let ok = !name.is_empty()
                && Path::new(&name)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
            if ok {
                Ok(Some(name))
            } else {
                Err(format!("{PROFILE_PREFIX}{name}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let p = Paths::from_env(|_| None);
        assert_eq!(p.svc, PathBuf::from("/etc/cinit/svc"));
        assert_eq!(p.conf, PathBuf::from("/etc/cinit/conf"));
        assert_eq!(p.ctl, PathBuf::from("/run/cinit"));
        assert_eq!(p.console, PathBuf::from("/dev/console"));
        let p = Paths::from_env(|n| match n {
            "CINIT_DIR" => Some("/tmp/x".into()),
            "CINIT_CTL_DIR" => Some("".into()),
            _ => None,
        });
        assert_eq!(p.svc, PathBuf::from("/tmp/x/svc"));
        assert_eq!(p.ctl, PathBuf::from("/run/cinit"));
    }

    #[test]
    fn last_profile_wins_and_escapes_are_refused() {
        assert_eq!(profile_from_args(["quiet", "ro"]), Ok(None));
        assert_eq!(
            profile_from_args(["cprofile:a", "x", "cprofile:net/min"]),
            Ok(Some("net/min".into()))
        );
        assert!(profile_from_args(["cprofile:../etc"]).is_err());
        assert!(profile_from_args(["cprofile:/abs"]).is_err());
        assert!(profile_from_args(["cprofile:"]).is_err());
    }
}
