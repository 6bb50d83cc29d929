//! The log writer process: cinit's binary run as
//! `cinit --log-writer PATH ROTATE_BYTES KEEP` by PID 1 for a service's
//! `log.file` ([`crate::logfile`]). Never PID 1: the mode is refused there.
//!
//! It reads formatted lines from stdin (a pipe PID 1 keeps open) and
//! appends them to PATH, created mode 0640 (logs may hold secrets) with its
//! directory if missing. Before a batch of lines would take the file past
//! ROTATE_BYTES, the file is rotated: `PATH.K-1` → `PATH.K` … `PATH` →
//! `PATH.1`, and a new PATH is begun (with KEEP = 0, PATH is just emptied).
//! A file is only ever cut between lines; one line longer than ROTATE_BYTES
//! fills a file alone. If PATH is removed or replaced from outside (another
//! rotation tool), the writer notices at its next batch and opens PATH anew.
//!
//! Unlike PID 1, this process may block: that is why it exists. On SIGTERM
//! (the shutdown's global kill) it writes what is already in the pipe, then
//! exits. On a write error it says so on its stderr (the console) and exits
//! 1; PID 1 starts another one later, which reads on where it stopped.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::logfile::WRITER_FLAG;

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
        eprintln!("cinit: usage: cinit {WRITER_FLAG} PATH ROTATE_BYTES KEEP");
        return Some(2);
    };
    Some(run(PathBuf::from(path), rotate.max(1), keep))
}

/// The open log file and its size.
struct Out {
    path: PathBuf,
    file: File,
    size: u64,
    rotate: u64,
    keep: u32,
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

/// `PATH.k`.
fn numbered(path: &Path, k: u32) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(format!(".{k}"));
    PathBuf::from(p)
}

impl Out {
    fn open(path: PathBuf, rotate: u64, keep: u32) -> std::io::Result<Out> {
        let file = open(&path)?;
        let size = file.metadata()?.len();
        Ok(Out {
            path,
            file,
            size,
            rotate,
            keep,
        })
    }

    /// Open PATH again if what is there is no longer our file.
    fn follow_renames(&mut self) -> std::io::Result<()> {
        let ours = self.file.metadata()?;
        let same = std::fs::metadata(&self.path)
            .is_ok_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino());
        if !same {
            *self = Out::open(self.path.clone(), self.rotate, self.keep)?;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.keep == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for k in (1..self.keep).rev() {
            let _ = std::fs::rename(numbered(&self.path, k), numbered(&self.path, k + 1));
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        *self = Out::open(self.path.clone(), self.rotate, self.keep)?;
        Ok(())
    }

    /// Append whole lines (`data` ends with a newline), rotating first
    /// whenever the next lines would not fit.
    fn write_lines(&mut self, mut data: &[u8]) -> std::io::Result<()> {
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

fn run(path: PathBuf, rotate: u64, keep: u32) -> i32 {
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
        Err(e) => {
            eprintln!("cinit: log writer: cannot open {shown}: {e}");
            return 1;
        }
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
            eprintln!("cinit: log writer for {shown}: cannot read its pipe");
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
            eprintln!("cinit: log writer: cannot write {shown}: {e}");
            return 1;
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

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
        assert_eq!(read(&numbered(&path, 1)), "line 08\nline 09\n");
        assert_eq!(read(&numbered(&path, 2)), "line 06\nline 07\n");
        assert!(!numbered(&path, 3).exists());
        // A line longer than a whole file gets a file of its own.
        out.write_lines(b"a line far longer than twenty bytes\nx\n")
            .unwrap();
        assert_eq!(
            read(&numbered(&path, 1)),
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
}
