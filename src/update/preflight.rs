//! Proving a new cinit image before a hot update executes it as PID 1.
//!
//! A hot update replaces PID 1's image; if the new one crashes or is not
//! cinit at all, PID 1 is gone (a kernel panic on a real machine). So before
//! the exec, the file at cinit's path is opened once ([`start`]) and run
//! from that very descriptor (`execveat(fd, "", …, AT_EMPTY_PATH)`) as a
//! child in preflight mode: `cinit --preflight`, which prints one line
//!
//! ```text
//! cinit-preflight 1 snapshot=N..M version=VERSION
//! ```
//!
//! (the snapshot formats it reads, and its version) and exits 0
//! ([`main_if_preflight`]). PID 1 accepts the image only if the child
//! answered exactly that way, its formats include the one about to be
//! written, and it exited 0 within [`DEADLINE_MS`] ([`judge`]). Then the
//! same descriptor is executed for the update, so the file that was checked
//! is the file that runs.
//!
//! Invariants: PID 1 never waits for the child — the answer pipe is
//! non-blocking and polled by the event loop, the exit status comes from
//! the ordinary reaper, and the deadline is one of the loop's timers. The
//! answer read is bounded ([`MAX_ANSWER`]). The child is started the way
//! a service is ([`crate::sys::spawn::spawn_image`]: `clone(CLONE_VM |
//! CLONE_VFORK)`, no copy of PID 1's memory, PID 1 resumes once the
//! kernel has replaced the child's): empty signal mask, every signal cinit
//! ignores or handles reset, its own session, stdin `/dev/null`, stdout the
//! answer pipe, stderr the console, no other descriptor, cinit's cwd and
//! descriptor limit. An image the kernel refuses to execute (ENOEXEC,
//! EACCES) is refused at once, with that errno; the child is reaped then.
//! Both descriptors are close-on-exec, so neither reaches the new image.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::clock::Millis;
use crate::sys::process::ExitStatus;
use crate::sys::process::Pid;

/// `argv[1]` that makes the cinit binary answer the preflight.
pub const FLAG: &str = "--preflight";
/// The answer's first words: the program and the preflight's own version.
pub const MARKER: &str = "cinit-preflight 1";
/// How long the child may take to answer and exit. A cinit binary does it
/// in about a millisecond; two seconds leave room for a loaded machine or
/// an emulator while still refusing a hang promptly.
pub const DEADLINE_MS: Millis = 2_000;
/// Most answer bytes kept; a longer answer is wrong anyway.
pub const MAX_ANSWER: usize = 256;

/// The answer this binary gives.
pub fn answer() -> String {
    // `snapshot::decode` reads exactly the formats `snapshot::encode_as`
    // writes.
    let (lo, hi) = (
        crate::update::snapshot::FORMAT,
        crate::update::snapshot::FORMAT_WORDS,
    );
    format!(
        "{MARKER} snapshot={lo}..{hi} version={}\n",
        crate::version()
    )
}

/// In the cinit binary's `main`: answer the preflight if `argv[1]` is
/// [`FLAG`]. `None` when not asked (or when PID 1: that is cinit proper).
pub fn main_if_preflight() -> Option<i32> {
    let first = std::env::args_os().nth(1);
    if first.as_deref() != Some(OsStr::new(FLAG)) || std::process::id() == 1 {
        return None;
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    Some(
        match out
            .write_all(answer().as_bytes())
            .and_then(|()| out.flush())
        {
            Ok(()) => 0,
            Err(_) => 1,
        },
    )
}

/// What an accepted image said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Oldest and newest snapshot format it reads.
    pub formats: (u16, u16),
    pub version: String,
}

/// Parse the child's output: exactly one line, as [`answer`] writes it.
pub fn parse(out: &[u8]) -> Result<Answer, String> {
    let wrong = || format!("it did not answer as cinit does (got {})", shown(out));
    let text = std::str::from_utf8(out).map_err(|_| wrong())?;
    let line = text.strip_suffix('\n').ok_or_else(wrong)?;
    if line.contains('\n') {
        return Err(wrong());
    }
    let rest = line
        .strip_prefix(MARKER)
        .and_then(|r| r.strip_prefix(" snapshot="))
        .ok_or_else(wrong)?;
    let (range, version) = rest.split_once(" version=").ok_or_else(wrong)?;
    let (lo, hi) = range.split_once("..").ok_or_else(wrong)?;
    let num = |s: &str| s.parse::<u16>().map_err(|_| wrong());
    let formats = (num(lo)?, num(hi)?);
    if formats.0 > formats.1 || version.is_empty() {
        return Err(wrong());
    }
    Ok(Answer {
        formats,
        version: version.to_string(),
    })
}

/// The output as shown in a refusal: quoted, at most 60 characters.
fn shown(out: &[u8]) -> String {
    if out.is_empty() {
        return "nothing".to_string();
    }
    let text = String::from_utf8_lossy(out);
    let cut: String = text.chars().take(60).collect();
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

/// Why an image was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It could not be opened or executed at all (this errno text).
    Exec(String),
    /// It ran, but is not a cinit that can take over (the reason).
    Check(String),
}

impl Refusal {
    /// The refusal as cinit's log and `cinit-ctl update` give it.
    pub fn message(&self, path: &str) -> String {
        match self {
            Refusal::Exec(why) => format!("cannot execute {path}: {why}"),
            Refusal::Check(why) => format!("{path} failed its preflight: {why}"),
        }
    }
}

/// The verdict on a child that exited with `status` after writing `out`
/// (`overflow`: it wrote more than [`MAX_ANSWER`] bytes), for an update
/// that writes snapshot format `writes`.
pub fn judge(
    out: &[u8],
    overflow: bool,
    status: ExitStatus,
    writes: u16,
) -> Result<Answer, Refusal> {
    let check = |s: String| Err(Refusal::Check(s));
    match status {
        ExitStatus::Signal(_) => return check(format!("it crashed ({status})")),
        ExitStatus::Code(0) => {}
        ExitStatus::Code(_) => return check(format!("it failed ({status})")),
    }
    if overflow {
        return check(format!("it answered more than {MAX_ANSWER} bytes"));
    }
    let answer = parse(out).map_err(Refusal::Check)?;
    let (lo, hi) = answer.formats;
    if !(lo..=hi).contains(&writes) {
        return check(format!(
            "it reads snapshot formats {lo}..{hi}, not format {writes} (version {})",
            answer.version
        ));
    }
    Ok(answer)
}

/// A preflight child in progress.
pub struct Running {
    pub pid: Pid,
    /// The image, open read-only and close-on-exec: executed for the update.
    pub image: OwnedFd,
    /// The answer pipe's read end (non-blocking); `None` once at its end.
    pub out: Option<OwnedFd>,
    answer: Vec<u8>,
    overflow: bool,
    pub started: Millis,
    /// Its exit status, once the reaper saw it.
    pub status: Option<ExitStatus>,
    pub deadline: Millis,
}

impl Running {
    /// Read what the answer pipe holds, without blocking. Reads stop at
    /// the end of the pipe, at an error, or after a bounded amount.
    pub fn read(&mut self) {
        let Some(fd) = &self.out else { return };
        let mut buf = [0u8; 512];
        for _ in 0..8 {
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) => {
                    self.out = None;
                    return;
                }
                Ok(n) => {
                    let got = buf.get(..n).unwrap_or(&[]);
                    let room = (MAX_ANSWER + 1).saturating_sub(self.answer.len());
                    self.answer
                        .extend_from_slice(got.get(..room.min(n)).unwrap_or(&[]));
                    if self.answer.len() > MAX_ANSWER {
                        // Wrong already: stop reading (a writer that goes
                        // on gets EPIPE) rather than drain it.
                        self.overflow = true;
                        self.out = None;
                        return;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    self.out = None;
                    return;
                }
            }
        }
    }

    /// The verdict, once the child has exited.
    pub fn verdict(&self, writes: u16) -> Option<Result<Answer, Refusal>> {
        self.status
            .map(|s| judge(&self.answer, self.overflow, s, writes))
    }

    /// Kill the child and whatever it started (its own session and process
    /// group), unless it was reaped already (then its pid may be reused).
    pub fn kill(&self) {
        if self.status.is_none() {
            // SAFETY: plain kill(2); the pid (and so its group) is still
            // ours: an unreaped child's pid cannot be reused.
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
                libc::kill(self.pid, libc::SIGKILL);
            }
        }
    }
}

/// Open `path` and start it in preflight mode with `envp`; `stderr` is
/// where its error messages go (the console). The error says why not.
pub fn start(
    path: &Path,
    envp: &[CString],
    stderr: Option<RawFd>,
    now: Millis,
) -> Result<Running, Refusal> {
    let image = open_image(path).map_err(Refusal::Exec)?;
    let (out, inp) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Refusal::Check(format!("cannot make the answer pipe: {}", e.desc())))?;
    let _ = nix::fcntl::fcntl(
        &out,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    // Started as a service is (`clone(CLONE_VM|CLONE_VFORK)`): nothing of
    // PID 1's memory is copied, so PID 1 takes no copy-on-write fault
    // afterwards, and a failed exec answers at once (the child reaped).
    let argv = [CString::from(c"cinit"), CString::from(c"--preflight")];
    let fds = crate::sys::spawn::ChildFds {
        stdin: None,
        stdout: inp.as_raw_fd(),
        stderr: stderr.unwrap_or(-1),
        extra: Vec::new(),
    };
    let pid = crate::sys::spawn::spawn_image(image.as_raw_fd(), &argv, envp, &fds)
        .map_err(|errno| Refusal::Exec(nix::errno::Errno::from_raw(errno).desc().to_string()))?;
    drop(inp);
    Ok(Running {
        pid,
        image,
        out: Some(out),
        answer: Vec::new(),
        overflow: false,
        status: None,
        started: now,
        deadline: now.saturating_add(DEADLINE_MS),
    })
}

/// Open the image once: read-only, close-on-exec, non-blocking (a FIFO
/// there must not hang PID 1), and only a regular file that is not a script.
fn open_image(path: &Path) -> Result<OwnedFd, String> {
    let desc = |e: nix::errno::Errno| e.desc().to_string();
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| "bad path".to_string())?;
    let fd = nix::fcntl::open(
        cpath.as_c_str(),
        nix::fcntl::OFlag::O_RDONLY
            | nix::fcntl::OFlag::O_CLOEXEC
            | nix::fcntl::OFlag::O_NONBLOCK
            | nix::fcntl::OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(desc)?;
    let st = nix::sys::stat::fstat(&fd).map_err(desc)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err("not a regular file".to_string());
    }
    let mut head = [0u8; 2];
    // A script could only run from the descriptor by name (/dev/fd/N),
    // which close-on-exec rules out, and it is never cinit.
    if nix::sys::uio::pread(&fd, &mut head, 0).is_ok_and(|n| n == 2) && head == *b"#!" {
        return Err("it is a script (#!), not a cinit binary".to_string());
    }
    Ok(fd)
}

fn null_terminated(items: &[CString]) -> Vec<*const libc::c_char> {
    items
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The environment for the preflight and the new image: this process's,
/// without the variables in `skip` (the snapshot's, the descriptor limit's).
pub fn environment(skip: &[&str]) -> Vec<CString> {
    std::env::vars_os()
        .filter(|(k, _)| !skip.iter().any(|s| k == s))
        .filter_map(|(k, v)| {
            let mut kv: Vec<u8> = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(OsString::as_os_str(&v).as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}

/// Execute the image behind `fd` with `argv` and `envp`; returns only on
/// failure, with the errno.
pub fn execveat(fd: RawFd, argv: &[CString], envp: &[CString]) -> nix::errno::Errno {
    let argv = null_terminated(argv);
    let envp = null_terminated(envp);
    let empty: &CStr = c"";
    // SAFETY: NUL-terminated strings in NULL-terminated arrays that outlive
    // the call; on success the call does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    nix::errno::Errno::last()
}

#[cfg(test)]
mod tests;
