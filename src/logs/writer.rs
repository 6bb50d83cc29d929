//! The log writer process: cinit's binary run as
//! `cinit --log-writer PATH ROTATE_BYTES KEEP [SERVICE]` by PID 1 for a
//! service's `log.file` ([`crate::logs::file`]). Never PID 1: the mode is
//! refused there.
//!
//! It reads formatted lines from stdin (a pipe PID 1 keeps open) and
//! appends them to PATH, created mode 0640 (logs may hold secrets) with its
//! directories if missing. Before a batch of lines would take the file past
//! ROTATE_BYTES, the file is rotated: `PATH.K-1` → `PATH.K` … `PATH` →
//! `PATH.1`, and a new PATH is begun (with KEEP = 0, PATH is just emptied).
//! A file is only ever cut between lines; one line longer than ROTATE_BYTES
//! fills a file alone. If PATH is removed or replaced from outside (another
//! rotation tool), the writer notices at its next batch and opens PATH anew.
//!
//! It runs as root and must not be steered by anyone else: its directory
//! is reached with [`crate::sys::safepath::open_dir`] (no link followed, every
//! directory root's and the last one writable by root alone, missing ones
//! made), the file is opened relative to that directory's descriptor with
//! `O_NOFOLLOW` and must be a regular file with one link, rotation renames
//! within that descriptor, and emptying (KEEP = 0) only truncates the file
//! so checked. Opening anew walks the path again. A path that breaks those
//! rules is refused: the writer says why on its stderr and exits with
//! `REFUSED_BASE + code` ([`crate::sys::safepath::Why::code`]), so PID 1 can say
//! why in its own log; the service's lines stay in its ring.
//!
//! Unlike PID 1, this process may block: that is why it exists. On SIGTERM
//! (the shutdown's global kill) it writes what is already in the pipe, then
//! exits. On a write error it says so on its stderr (the console) and exits
//! 1; PID 1 starts another one later, which reads on where it stopped.

use crate::sys::console::stderr_line;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::logs::file::WRITER_FLAG;
use crate::sys::safepath::{self, Missing, PathError, Why, REFUSED_BASE};

/// SIGTERM arrived: drain the pipe and exit.
static TERMINATED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    TERMINATED.store(true, Ordering::SeqCst);
}

/// If this process was started as a log writer, run it and return its exit
/// status; `None` for anything else (cinit proper). PID 1 never is one.
pub fn main_if_writer() -> Option<i32> {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).map(OsString::as_os_str) != Some(WRITER_FLAG.as_ref()) || std::process::id() == 1
    {
        return None;
    }
    let (Some(path), Some(rotate), Some(keep)) = (
        args.get(2),
        args.get(3)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<u64>().ok()),
        args.get(4)
            .and_then(|a| a.to_str())
            .and_then(|a| a.parse::<u32>().ok()),
    ) else {
        stderr_line(&format!(
            "cinit: usage: cinit {WRITER_FLAG} PATH ROTATE_BYTES KEEP [SERVICE]"
        ));
        return Some(2);
    };
    let service = args
        .get(5)
        .map_or_else(|| "?".into(), |s| s.to_string_lossy().into_owned());
    Some(run(PathBuf::from(path), rotate.max(1), keep, &service))
}

/// Why the file could not be opened: refused, or an I/O error.
#[derive(Debug)]
enum OpenError {
    Path(PathError),
    Io(std::io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Path(e) => e.fmt(f),
            OpenError::Io(e) => e.fmt(f),
        }
    }
}

impl From<std::io::Error> for OpenError {
    fn from(e: std::io::Error) -> OpenError {
        OpenError::Io(e)
    }
}

impl From<nix::errno::Errno> for OpenError {
    fn from(e: nix::errno::Errno) -> OpenError {
        OpenError::Io(std::io::Error::from(e))
    }
}

impl OpenError {
    fn refusal(&self) -> Option<&PathError> {
        match self {
            OpenError::Path(e) if e.why.is_refusal() => Some(e),
            _ => None,
        }
    }
}

/// The open log file, its directory and its size.
struct Out {
    path: PathBuf,
    /// The file's name in `dir`.
    name: OsString,
    /// The directory, reached by [`safepath::open_dir`].
    dir: std::os::fd::OwnedFd,
    file: File,
    size: u64,
    rotate: u64,
    keep: u32,
}

/// Reach PATH's directory safely and open (or create) PATH in it: a
/// regular file with one link, never through a link.
fn open(path: &Path) -> Result<(std::os::fd::OwnedFd, OsString, File), OpenError> {
    let refused = |why: Why| {
        OpenError::Path(PathError {
            at: path.to_path_buf(),
            why,
        })
    };
    let (_, name) = safepath::components(path).map_err(refused)?;
    let parent = path.parent().unwrap_or(Path::new("/"));
    let dir = safepath::open_dir(parent, Missing::Create, &safepath::trusted_owners())
        .map_err(OpenError::Path)?
        .ok_or_else(|| refused(Why::Io(libc::ENOENT)))?;
    // O_NONBLOCK: a FIFO put there must not hang the open (it is refused
    // below; for a regular file the flag means nothing).
    let flags = libc::O_WRONLY
        | libc::O_APPEND
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_NOCTTY
        | libc::O_NONBLOCK;
    let fd = match safepath::openat(Some(&dir), name, flags, 0o640) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ELOOP) => return Err(refused(Why::Symlink)),
        Err(e) => return Err(refused(Why::Io(e as i32))),
    };
    let st = safepath::fstat(&fd).map_err(|e| refused(Why::Io(e as i32)))?;
    safepath::judge_file(st.st_mode, st.st_nlink).map_err(refused)?;
    Ok((dir, name.to_os_string(), File::from(fd)))
}

/// `NAME.k`.
fn numbered(name: &OsStr, k: u32) -> OsString {
    let mut p = name.to_os_string();
    p.push(format!(".{k}"));
    p
}

impl Out {
    fn open(path: PathBuf, rotate: u64, keep: u32) -> Result<Out, OpenError> {
        let (dir, name, file) = open(&path)?;
        let size = file.metadata()?.len();
        Ok(Out {
            path,
            name,
            dir,
            file,
            size,
            rotate,
            keep,
        })
    }

    /// Open PATH again (walking it anew) if what is there is no longer our
    /// file: a look at the name in our directory, never through a link.
    fn follow_renames(&mut self) -> Result<(), OpenError> {
        let ours = safepath::fstat(&self.file)?;
        let same = safepath::stat_at(&self.dir, &self.name)
            .ok()
            .flatten()
            .is_some_and(|m| m.st_dev == ours.st_dev && m.st_ino == ours.st_ino);
        if !same {
            *self = Out::open(self.path.clone(), self.rotate, self.keep)?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), OpenError> {
        if self.keep == 0 {
            // The file opened and checked above, through its descriptor.
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for k in (1..self.keep).rev() {
            let _ = safepath::rename_at(
                &self.dir,
                &numbered(&self.name, k),
                &numbered(&self.name, k + 1),
            );
        }
        safepath::rename_at(&self.dir, &self.name, &numbered(&self.name, 1))
            .map_err(std::io::Error::from)?;
        *self = Out::open(self.path.clone(), self.rotate, self.keep)?;
        Ok(())
    }

    /// Append whole lines (`data` ends with a newline), rotating first
    /// whenever the next lines would not fit.
    fn write_lines(&mut self, mut data: &[u8]) -> Result<(), OpenError> {
        self.follow_renames()?;
        while !data.is_empty() {
            let room = usize::try_from(self.rotate.saturating_sub(self.size)).unwrap_or(usize::MAX);
            let fits = fitting_lines(data, room);
            let take = match fits {
                0 if self.size > 0 => {
                    self.rotate()?;
                    continue;
                }
                // An empty file and a line longer than a whole file.
                0 => data
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |k| k + 1),
                n => n,
            };
            let (head, rest) = data.split_at(take.min(data.len()));
            self.file.write_all(head)?;
            self.size = self.size.saturating_add(head.len() as u64);
            data = rest;
        }
        Ok(())
    }
}

/// How many bytes of `data` are whole lines fitting in `room` bytes.
pub fn fitting_lines(data: &[u8], room: usize) -> usize {
    let window = data.get(..room.min(data.len())).unwrap_or(data);
    window
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |k| k + 1)
}

/// The exit status for a failure to open or write: `REFUSED_BASE + code`
/// for a refused path (said on stderr with the detail), else 1.
fn failed(e: &OpenError, what: &str, shown: &str, service: &str) -> i32 {
    match e.refusal() {
        Some(refused) => {
            stderr_line(&format!(
                "cinit: log writer for {service}: refusing {shown}: {refused}; \
                 its lines stay in memory (cinit-ctl log {service})"
            ));
            REFUSED_BASE.saturating_add(refused.why.code().unwrap_or(0))
        }
        None => {
            stderr_line(&format!(
                "cinit: log writer for {service}: cannot {what} {shown}: {e}"
            ));
            1
        }
    }
}

fn run(path: PathBuf, rotate: u64, keep: u32, service: &str) -> i32 {
    // SAFETY: installs a handler that only stores to an atomic; no
    // SA_RESTART, so a blocked read returns EINTR and the loop sees the flag.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = on_term as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
    }
    let shown = path.display().to_string();
    let mut out = match Out::open(path, rotate, keep) {
        Ok(o) => o,
        Err(e) => return failed(&e, "open", &shown, service),
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut held: Vec<u8> = Vec::new();
    loop {
        let last = TERMINATED.load(Ordering::SeqCst);
        // After SIGTERM, only what is already in the pipe.
        if last && !readable_now() {
            return 0;
        }
        // SAFETY: reads into a live buffer of the given length.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            stderr_line(&format!(
                "cinit: log writer for {service}: cannot read its pipe"
            ));
            return 1;
        };
        if n == 0 {
            return 0; // PID 1 closed the pipe: nothing more will come
        }
        held.extend_from_slice(buf.get(..n).unwrap_or(&[]));
        let whole = held.iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
        if whole == 0 {
            continue;
        }
        if let Err(e) = out.write_lines(held.get(..whole).unwrap_or(&[])) {
            return failed(&e, "write", &shown, service);
        }
        held.drain(..whole);
    }
}

/// Whether stdin has bytes to read without waiting.
fn readable_now() -> bool {
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt};

    /// `PATH.k`.
    fn numbered_path(path: &Path, k: u32) -> PathBuf {
        path.with_file_name(numbered(path.file_name().unwrap(), k))
    }

    #[test]
    fn only_whole_lines_fit() {
        assert_eq!(fitting_lines(b"ab\ncd\nef\n", 7), 6);
        assert_eq!(fitting_lines(b"ab\ncd\n", 100), 6);
        assert_eq!(fitting_lines(b"abcdef\n", 3), 0);
        assert_eq!(fitting_lines(b"", 3), 0);
    }

    #[test]
    fn files_rotate_between_lines_and_keep_k_old_ones() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/log");
        let mut out = Out::open(path.clone(), 20, 2).unwrap();
        for k in 0..12 {
            out.write_lines(format!("line {k:02}\n").as_bytes())
                .unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        // 8 bytes a line, 2 lines a file: 6 files' worth, 3 kept.
        assert_eq!(read(&path), "line 10\nline 11\n");
        assert_eq!(read(&numbered_path(&path, 1)), "line 08\nline 09\n");
        assert_eq!(read(&numbered_path(&path, 2)), "line 06\nline 07\n");
        assert!(!numbered_path(&path, 3).exists());
        // A line longer than a whole file gets a file of its own.
        out.write_lines(b"a line far longer than twenty bytes\nx\n")
            .unwrap();
        assert_eq!(
            read(&numbered_path(&path, 1)),
            "a line far longer than twenty bytes\n"
        );
        assert_eq!(read(&path), "x\n");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode & 0o007, 0, "others may not read a log: {mode:o}");
    }

    #[test]
    fn a_file_moved_away_from_outside_is_opened_again() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let mut out = Out::open(path.clone(), 1 << 20, 0).unwrap();
        out.write_lines(b"one\n").unwrap();
        std::fs::rename(&path, d.path().join("elsewhere")).unwrap();
        out.write_lines(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        // KEEP = 0: rotation empties the file.
        let mut small = Out::open(d.path().join("small"), 8, 0).unwrap();
        small.write_lines(b"1234567\nabc\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("small")).unwrap(),
            "abc\n"
        );
    }

    /// What a victim file looks like: contents, size, mode, mtime.
    fn looks(p: &Path) -> (Vec<u8>, u64, u32, i64, i64) {
        let m = std::fs::metadata(p).unwrap();
        (
            std::fs::read(p).unwrap(),
            m.len(),
            m.mode(),
            m.mtime(),
            m.mtime_nsec(),
        )
    }

    #[test]
    fn links_put_in_place_of_the_file_are_refused_and_the_victim_untouched() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "secret\n").unwrap();
        let before = looks(&victim);
        let path = d.path().join("log");
        // A symbolic link as the file.
        symlink(&victim, &path).unwrap();
        let e = Out::open(path.clone(), 8, 0).err().unwrap();
        assert_eq!(e.refusal().unwrap().why, Why::Symlink);
        // A hard link as the file.
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&victim, &path).unwrap();
        let e = Out::open(path.clone(), 8, 0).err().unwrap();
        assert_eq!(e.refusal().unwrap().why, Why::Links(2));
        std::fs::remove_file(&path).unwrap();
        // Swapped in after the start: noticed at the next batch, before
        // anything is written or emptied (KEEP = 0 empties at 8 bytes).
        let mut out = Out::open(path.clone(), 8, 0).unwrap();
        out.write_lines(b"1234567\n").unwrap();
        let tmp = d.path().join("tmp");
        symlink(&victim, &tmp).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let e = out.write_lines(b"abc\n").err().unwrap();
        assert_eq!(e.refusal().unwrap().why, Why::Symlink);
        std::fs::hard_link(&victim, &tmp).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let mut out = Out::open(d.path().join("other"), 8, 0).unwrap();
        out.path = path.clone();
        out.name = "log".into();
        let e = out.write_lines(b"abc\n").err().unwrap();
        assert_eq!(e.refusal().unwrap().why, Why::Links(2));
        assert_eq!(looks(&victim), before);
    }

    #[test]
    fn a_link_on_the_path_is_refused_and_nothing_made_behind_it() {
        let d = tempfile::tempdir().unwrap();
        let hidden = d.path().join("hidden");
        std::fs::create_dir(&hidden).unwrap();
        symlink(&hidden, d.path().join("logs")).unwrap();
        let e = Out::open(d.path().join("logs/sub/log"), 8, 3)
            .err()
            .unwrap();
        let refused = e.refusal().unwrap();
        assert_eq!(refused.why, Why::Symlink);
        assert!(refused.at.ends_with("logs"), "{refused}");
        assert_eq!(std::fs::read_dir(&hidden).unwrap().count(), 0);
        assert_eq!(failed(&e, "open", "x", "svc"), REFUSED_BASE + 1);
    }
}
