//! The few file operations containment needs on cgroupfs, procfs and the
//! control directory, as raw system calls on text paths: bounded reads,
//! one-`write` writes, `mkdir`, `access`, and the atomic replacement of
//! a small file.
//!
//! Why raw calls and not `std::fs`: every `std::fs` call with a path
//! brings its own copy of the path conversion and error plumbing into
//! PID 1's binary (several KiB for these few files, against a size
//! budget); one C string per call here is all they need.
//!
//! Invariants: every descriptor is opened `O_CLOEXEC|O_NOFOLLOW` and
//! closed before the call returns (cgroupfs and procfs are the kernel's:
//! nobody can plant a link there; the control directory is root's);
//! a read never takes more than its bound; an error is the errno.

use std::ffi::CString;

/// An errno.
pub type Errno = i32;

/// The errno of the call that just failed.
fn errno() -> Errno {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `path` as the kernel takes it (a path with a NUL cannot exist).
fn c(path: &str) -> Result<CString, Errno> {
    CString::new(path).map_err(|_| libc::ENOENT)
}

/// `open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode)`.
fn open(path: &str, flags: i32, mode: libc::mode_t) -> Result<i32, Errno> {
    let p = c(path)?;
    // SAFETY: open(2) on a NUL-terminated path that lives across the call.
    let fd = unsafe {
        libc::open(
            p.as_ptr(),
            flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            libc::c_uint::from(mode),
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

/// Close `fd`, ours.
fn close(fd: i32) {
    // SAFETY: closes a descriptor this module opened and owns.
    unsafe { libc::close(fd) };
}

/// At most `max` bytes of `path`, as text (not UTF-8: EINVAL).
pub fn read(path: &str, max: usize) -> Result<String, Errno> {
    let fd = open(path, libc::O_RDONLY, 0)?;
    let mut buf = vec![0u8; max.min(4096)];
    let mut len = 0;
    let result = loop {
        if len == buf.len() {
            if len >= max {
                break Ok(());
            }
            buf.resize(len.saturating_mul(2).min(max), 0);
        }
        let Some(rest) = buf.get_mut(len..) else {
            break Ok(());
        };
        // SAFETY: read(2) into the free part of our own buffer.
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(0) => break Ok(()),
            Ok(n) => len += n,
            Err(_) if errno() == libc::EINTR => {}
            Err(_) => break Err(errno()),
        }
    };
    close(fd);
    result?;
    buf.truncate(len);
    String::from_utf8(buf).map_err(|_| libc::EINVAL)
}

/// Write `what` into the existing file `path` in one `write`.
pub fn write(path: &str, what: &[u8]) -> Result<(), Errno> {
    write_with(path, libc::O_WRONLY, what)
}

/// Open `path` with `flags` (mode 0644 if it is made) and write `what`.
pub fn write_with(path: &str, flags: i32, what: &[u8]) -> Result<(), Errno> {
    let fd = open(path, flags, 0o644)?;
    // SAFETY: write(2) from our own buffer.
    let n = unsafe { libc::write(fd, what.as_ptr().cast(), what.len()) };
    let e = errno();
    close(fd);
    match usize::try_from(n) {
        Ok(n) if n == what.len() => Ok(()),
        Ok(_) => Err(libc::EIO),
        Err(_) => Err(e),
    }
}

/// `mkdir(path, 0755)`: true if made, false if it was there.
pub fn make_dir(path: &str) -> Result<bool, Errno> {
    let p = c(path)?;
    // SAFETY: mkdir(2) on a NUL-terminated path.
    if unsafe { libc::mkdir(p.as_ptr(), 0o755) } == 0 {
        Ok(true)
    } else if errno() == libc::EEXIST {
        Ok(false)
    } else {
        Err(errno())
    }
}

/// Whether `path` exists.
pub fn exists(path: &str) -> bool {
    // SAFETY: access(2) on a NUL-terminated path; nothing changes.
    c(path).is_ok_and(|p| unsafe { libc::access(p.as_ptr(), libc::F_OK) } == 0)
}

/// Remove the file `path`; a missing one is fine.
pub fn remove(path: &str) -> Result<(), Errno> {
    let p = c(path)?;
    // SAFETY: unlink(2) on a NUL-terminated path.
    if unsafe { libc::unlink(p.as_ptr()) } == 0 || errno() == libc::ENOENT {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Replace the file `path` with one holding `what`: written to
/// `path.new` (made anew, never through a link) and renamed over it, so
/// a reader sees the old content or the new, never a part.
pub fn replace(path: &str, what: &[u8]) -> Result<(), Errno> {
    let mut tmp = path.to_string();
    tmp.push_str(".new");
    remove(&tmp)?;
    write_with(&tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, what)?;
    let (from, to) = (c(&tmp)?, c(path)?);
    // SAFETY: rename(2) of two NUL-terminated paths.
    if unsafe { libc::rename(from.as_ptr(), to.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// The text of an errno, for a message.
pub fn desc(e: Errno) -> &'static str {
    nix::errno::Errno::from_raw(e).desc()
}

/// `WHAT PATH: why`, the reason a step failed.
pub fn reason(what: &str, path: &str, e: Errno) -> String {
    let mut s = String::with_capacity(what.len() + path.len() + 40);
    s.push_str(what);
    s.push_str(path);
    s.push_str(": ");
    s.push_str(desc(e));
    s
}
