//! `cinit-ctl fdstore`: what cinit holds for a service, and storing,
//! fetching and dropping descriptors by name. Not PID 1: blocking I/O is
//! fine here.
//!
//! ```text
//! fdstore SERVICE                                   list (--json too)
//! fdstore SERVICE put NAME [--fd N]                 store descriptor N (0)
//! fdstore SERVICE get NAME [--remove] [--fd N] PROG [ARG...]
//!                                                   run PROG with it at N (3)
//! fdstore SERVICE drop NAME                         close and forget it
//! ```
//!
//! `get` executes PROG in place of cinit-ctl (as `s6-fdholder-retrieve`
//! does), with the fetched descriptor at N and every other descriptor as
//! cinit-ctl's own; its arguments are passed on verbatim.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::ctl::client::{request, request_fd, request_with_fd, ClientError};
use crate::proto::json::string as json_string;
use crate::proto::{FdInfo, Reply, Request};
use crate::sys::console::one_line;

/// Where `get` puts the descriptor unless `--fd` says otherwise.
pub const GET_FD: RawFd = 3;
/// Exit status when PROG was not found (as a shell's).
pub const NOT_FOUND: u8 = 127;
/// Exit status when PROG was found but could not be executed.
pub const CANNOT_EXEC: u8 = 126;

/// What to do with the service's descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    List,
    Put {
        name: String,
        fd: RawFd,
    },
    Get {
        name: String,
        remove: bool,
        fd: RawFd,
        prog: OsString,
        args: Vec<OsString>,
    },
    Drop {
        name: String,
    },
}

/// One `cinit-ctl fdstore` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdCommand {
    pub service: String,
    pub action: Action,
    pub json: bool,
}

fn text(arg: OsString) -> Result<String, String> {
    arg.into_string()
        .map_err(|a| format!("fdstore: {a:?} is not UTF-8"))
}

fn fd_number(v: Option<OsString>) -> Result<RawFd, String> {
    let v = text(v.ok_or("fdstore: --fd needs a descriptor number")?)?;
    v.parse::<RawFd>()
        .ok()
        .filter(|&n| n >= 0)
        .ok_or_else(|| format!("fdstore: --fd takes a descriptor number, not {v:?}"))
}

/// The arguments after `fdstore` (`json`: `--json` came before it).
pub fn parse(args: Vec<OsString>, json: bool) -> Result<FdCommand, String> {
    let mut args = args.into_iter();
    let mut json = json;
    let mut words = Vec::new();
    let mut remove = false;
    let mut fd = None;
    let mut prog = None;
    // Options and words up to PROG (for get); everything after PROG is
    // PROG's own.
    while let Some(arg) = args.next() {
        let get = words.get(1).is_some_and(|w| w == "get");
        match arg.to_str() {
            Some("--json") => json = true,
            Some("--remove") => remove = true,
            Some("--fd") => fd = Some(fd_number(args.next())?),
            Some(a) if a.starts_with("--fd=") => {
                fd = Some(fd_number(a.strip_prefix("--fd=").map(OsString::from))?);
            }
            Some("--") if get && words.len() == 3 => {
                prog = args.next();
                break;
            }
            Some(a) if a.starts_with('-') && a.len() > 1 => {
                return Err(format!("fdstore: unknown option {a:?}"));
            }
            _ if get && words.len() == 3 => {
                prog = Some(arg);
                break;
            }
            _ => words.push(text(arg)?),
        }
    }
    let rest: Vec<OsString> = args.collect();
    let mut words = words.into_iter();
    let service = words.next().ok_or("fdstore: name a service")?;
    if service.is_empty() {
        return Err("fdstore: name a service".into());
    }
    let verb = words.next();
    let name = words.next();
    if let Some(extra) = words.next() {
        return Err(format!("fdstore: unexpected {extra:?}"));
    }
    let named = |verb: &str| match &name {
        Some(n) if !n.is_empty() => Ok(n.clone()),
        _ => Err(format!("fdstore {verb}: name the descriptor")),
    };
    let action = match verb.as_deref() {
        None => Action::List,
        Some("put") => Action::Put {
            name: named("put")?,
            fd: fd.unwrap_or(0),
        },
        Some("get") => Action::Get {
            name: named("get")?,
            remove,
            fd: fd.unwrap_or(GET_FD),
            prog: prog.ok_or("fdstore get: name the program to run with the descriptor")?,
            args: rest,
        },
        Some("drop") => Action::Drop {
            name: named("drop")?,
        },
        Some(other) => {
            return Err(format!(
                "fdstore: unknown action {other:?} (put, get or drop)"
            ))
        }
    };
    let get = matches!(action, Action::Get { .. });
    if remove && !get {
        return Err("fdstore: --remove only goes with get".into());
    }
    if fd.is_some() && !matches!(action, Action::Get { .. } | Action::Put { .. }) {
        return Err("fdstore: --fd only goes with put and get".into());
    }
    if json && action != Action::List {
        return Err("fdstore: --json only goes with the list".into());
    }
    Ok(FdCommand {
        service,
        action,
        json,
    })
}

/// Where each descriptor comes from, for people and for JSON.
fn source(info: &FdInfo) -> &'static str {
    if info.listen {
        "sockets"
    } else {
        "stored"
    }
}

/// The list: one line per descriptor (`NAME SOURCE KIND`), or JSON.
pub fn format_list(list: &[FdInfo], json: bool) -> String {
    if json {
        let items: Vec<String> = list
            .iter()
            .map(|i| {
                format!(
                    "{{\"name\":{},\"source\":{},\"kind\":{}}}",
                    json_string(&i.name),
                    json_string(source(i)),
                    json_string(&i.kind)
                )
            })
            .collect();
        return format!("[{}]\n", items.join(","));
    }
    list.iter()
        .map(|i| {
            format!(
                "{:<24} {:<8} {}\n",
                one_line(&i.name),
                source(i),
                one_line(&i.kind)
            )
        })
        .collect()
}

/// Whether `fd` is open in this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the flags of a descriptor number; no memory is
    // passed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Put `fd` at number `at`, not close-on-exec, for a program about to be
/// executed.
fn place(fd: OwnedFd, at: RawFd) -> std::io::Result<()> {
    if fd.as_raw_fd() == at {
        // SAFETY: F_SETFD on a descriptor we own; no memory is passed.
        if unsafe { libc::fcntl(at, libc::F_SETFD, 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Stays open for the program.
        let _ = fd.into_raw_fd();
        return Ok(());
    }
    // SAFETY: dup2 takes two descriptor numbers; `fd` is open, and `at`
    // is replaced on purpose (the user named it). The copy is not
    // close-on-exec.
    if unsafe { libc::dup2(fd.as_raw_fd(), at) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Run `cmd` against the cinit at `socket`. Replies that are not what the
/// action expects (errors included) go to `other`, whose exit code is
/// returned. A `get` that succeeds does not return: PROG replaces
/// cinit-ctl.
pub fn run(
    cmd: &FdCommand,
    socket: &Path,
    timeout: Option<Duration>,
    mut other: impl FnMut(Reply) -> ExitCode,
) -> ExitCode {
    let service = cmd.service.clone();
    let failed = |e: ClientError| {
        eprintln!("cinit-ctl: {e}");
        ExitCode::from(3)
    };
    match &cmd.action {
        Action::List => match request(socket, &Request::FdList { service }, timeout) {
            Ok(Reply::Fds(list)) => {
                print!("{}", format_list(&list, cmd.json));
                ExitCode::SUCCESS
            }
            Ok(reply) => other(reply),
            Err(e) => failed(e),
        },
        Action::Put { name, fd } => {
            if !is_open(*fd) {
                eprintln!("cinit-ctl: fdstore put: descriptor {fd} is not open");
                return ExitCode::from(2);
            }
            // SAFETY: `fd` is open (checked above) and stays open for the
            // call: nothing in between closes descriptors.
            let borrowed = unsafe { BorrowedFd::borrow_raw(*fd) };
            let req = Request::FdStore {
                service,
                name: name.clone(),
            };
            done(request_with_fd(socket, &req, borrowed, timeout), other)
        }
        Action::Drop { name } => {
            let req = Request::FdDrop {
                service,
                name: name.clone(),
            };
            done(request(socket, &req, timeout), other)
        }
        Action::Get {
            name,
            remove,
            fd,
            prog,
            args,
        } => {
            let req = Request::FdFetch {
                service,
                name: name.clone(),
                remove: *remove,
            };
            let passed = match request_fd(socket, &req, timeout) {
                Ok((Reply::FdPassed { .. }, Some(passed))) => passed,
                Ok((Reply::FdPassed { .. }, None)) => {
                    eprintln!("cinit-ctl: cinit answered without the descriptor");
                    return ExitCode::from(3);
                }
                Ok((reply, _)) => return other(reply),
                Err(e) => return failed(e),
            };
            if let Err(e) = place(passed, *fd) {
                eprintln!("cinit-ctl: cannot put the descriptor at {fd}: {e}");
                return ExitCode::from(1);
            }
            let e = exec(prog, args);
            eprintln!("cinit-ctl: cannot execute {}: {e}", prog.to_string_lossy());
            ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound {
                NOT_FOUND
            } else {
                CANNOT_EXEC
            })
        }
    }
}

/// Execute `prog` with `args` in place of cinit-ctl, as
/// `std::process::Command::exec` did (without its environment map and
/// process builder, about 16 KB of cinit-ctl): the program is looked up in
/// `PATH` (execvp), SIGPIPE goes back to its default (the Rust runtime
/// ignores it, and an ignored signal is inherited across exec) and no
/// signal stays blocked. Returns only on failure, with the error.
fn exec(prog: &OsStr, args: &[OsString]) -> std::io::Error {
    let argv: Result<Vec<CString>, _> = std::iter::once(prog)
        .chain(args.iter().map(OsString::as_os_str))
        .map(|a| CString::new(a.as_bytes()))
        .collect();
    let Ok(argv) = argv else {
        // Words from the command line hold no NUL; as Command said.
        return std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        );
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: signal, sigemptyset and sigprocmask change only this
    // process's signal state, which is about to be replaced; execvp gets a
    // NUL-terminated program name and a null-terminated array of pointers
    // to NUL-terminated strings, all alive (argv, ptrs) until it returns.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(none.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, none.as_ptr(), std::ptr::null_mut());
        libc::execvp(
            ptrs.first().copied().unwrap_or(std::ptr::null()),
            ptrs.as_ptr(),
        );
    }
    std::io::Error::last_os_error()
}

/// The end of `put` and `drop`: OK (its message, if any, printed) or
/// whatever else came.
fn done(result: Result<Reply, ClientError>, mut other: impl FnMut(Reply) -> ExitCode) -> ExitCode {
    match result {
        Ok(Reply::Ok { message }) => {
            if let Some(m) = message {
                println!("{}", one_line(&m));
            }
            ExitCode::SUCCESS
        }
        Ok(reply) => other(reply),
        Err(e) => {
            eprintln!("cinit-ctl: {e}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<FdCommand, String> {
        parse(args.iter().map(OsString::from).collect(), false)
    }

    #[test]
    fn the_four_forms_parse_with_their_defaults() {
        assert_eq!(p(&["web"]).unwrap().action, Action::List);
        assert!(parse(vec!["web".into()], true).unwrap().json);
        assert!(p(&["web", "--json"]).unwrap().json);
        assert_eq!(
            p(&["web", "put", "conn"]).unwrap().action,
            Action::Put {
                name: "conn".into(),
                fd: 0
            }
        );
        assert_eq!(
            p(&["web", "put", "conn", "--fd=5"]).unwrap().action,
            Action::Put {
                name: "conn".into(),
                fd: 5
            }
        );
        assert_eq!(
            p(&["web", "drop", "conn"]).unwrap().action,
            Action::Drop {
                name: "conn".into()
            }
        );
        let get = p(&[
            "web", "get", "conn", "--remove", "--fd", "7", "sh", "-c", "x", "--fd",
        ]);
        assert_eq!(
            get.unwrap(),
            FdCommand {
                service: "web".into(),
                json: false,
                action: Action::Get {
                    name: "conn".into(),
                    remove: true,
                    fd: 7,
                    prog: "sh".into(),
                    // PROG's arguments are its own, options included.
                    args: vec!["-c".into(), "x".into(), "--fd".into()],
                }
            }
        );
        match p(&["web", "get", "conn", "--", "-prog"]).unwrap().action {
            Action::Get { prog, fd, .. } => assert_eq!((prog, fd), ("-prog".into(), GET_FD)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistakes_are_named() {
        for (args, needle) in [
            (&[][..], "name a service"),
            (&["web", "put"][..], "name the descriptor"),
            (&["web", "get", "conn"][..], "name the program"),
            (&["web", "take", "x"][..], "unknown action"),
            (&["web", "put", "x", "--fd", "-1"][..], "descriptor number"),
            (
                &["web", "put", "x", "--fd"][..],
                "needs a descriptor number",
            ),
            (&["web", "drop", "x", "--remove"][..], "--remove only"),
            (&["web", "drop", "x", "--fd", "3"][..], "--fd only"),
            (&["web", "drop", "x", "--json"][..], "--json only"),
            (&["web", "drop", "x", "y"][..], "unexpected"),
            (&["web", "--bogus"][..], "unknown option"),
        ] {
            let e = p(args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn the_list_shows_name_source_and_kind() {
        let list = vec![
            FdInfo {
                name: "http".into(),
                kind: "tcp 0.0.0.0:80".into(),
                listen: true,
            },
            FdInfo {
                name: "conn\n1".into(),
                kind: "socket".into(),
                listen: false,
            },
        ];
        let text = format_list(&list, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "one line each, even with a newline in a name"
        );
        assert!(lines[0].starts_with("http ") && lines[0].ends_with("sockets  tcp 0.0.0.0:80"));
        assert!(lines[1].contains("stored") && lines[1].contains("socket"));
        assert_eq!(
            format_list(&list, true),
            "[{\"name\":\"http\",\"source\":\"sockets\",\"kind\":\"tcp 0.0.0.0:80\"},\
             {\"name\":\"conn\\n1\",\"source\":\"stored\",\"kind\":\"socket\"}]\n"
        );
        assert_eq!(format_list(&[], true), "[]\n");
        assert_eq!(format_list(&[], false), "");
    }
}
