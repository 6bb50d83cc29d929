//! Tests of [`super::bind`] with real sockets: each kind bound on
//! 127.0.0.1 port 0 or in a temporary directory and checked with
//! `getsockname` and a real client; the rules for what may already be at a
//! Unix path; mode, owner and cleanup. Nothing here needs PID 1 or root
//! (the owner test checks what the user running it may do).

use super::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::FromRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;

use nix::sys::socket::{getsockname, getsockopt, SockaddrIn, SockaddrIn6};

fn spec(address: Address) -> SocketSpec {
    SocketSpec::new("s", address)
}

fn unix_spec(path: &Path, dgram: bool) -> SocketSpec {
    spec(Address::Unix {
        path: path.to_path_buf(),
        dgram,
    })
}

/// Close-on-exec, blocking, and listening exactly when a stream.
fn assert_flags(fd: &OwnedFd, listening: bool) {
    let fdflags = nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).unwrap();
    assert_ne!(fdflags & libc::FD_CLOEXEC, 0, "not close-on-exec");
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::F_GETFL).unwrap();
    assert_eq!(flags & libc::O_NONBLOCK, 0, "not blocking");
    assert_eq!(getsockopt(fd, sockopt::AcceptConn).unwrap(), listening);
}

/// A received datagram on the blocking `fd`, without waiting forever.
fn recv_one(fd: &OwnedFd) -> Vec<u8> {
    let tv = nix::sys::time::TimeVal::new(10, 0);
    nix::sys::socket::setsockopt(fd, sockopt::ReceiveTimeout, &tv).unwrap();
    let mut buf = [0u8; 64];
    let n = nix::sys::socket::recv(
        fd.as_raw_fd(),
        &mut buf,
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    buf[..n].to_vec()
}

#[test]
fn tcp_is_bound_listening_with_reuseaddr() {
    let fd = bind(&spec(Address::Tcp("127.0.0.1:0".parse().unwrap()))).unwrap();
    assert_flags(&fd, true);
    assert!(getsockopt(&fd, sockopt::ReuseAddr).unwrap());
    let at: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    assert_eq!(at.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(at.port(), 0);
    let mut client = TcpStream::connect(("127.0.0.1", at.port())).unwrap();
    client.write_all(b"hi").unwrap();
    let conn = nix::sys::socket::accept(fd.as_raw_fd()).unwrap();
    // SAFETY: `conn` is the descriptor accept just returned, owned by no one else.
    let mut conn = unsafe { std::fs::File::from_raw_fd(conn) };
    let mut got = [0u8; 2];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
}

#[test]
fn tcp_on_ipv6_loopback() {
    // Without IPv6 on this machine, there is nothing to bind to.
    if !std::fs::read_to_string("/proc/net/if_inet6").is_ok_and(|t| t.contains(" lo\n")) {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let fd = bind(&spec(Address::Tcp("[::1]:0".parse().unwrap()))).unwrap();
    assert_flags(&fd, true);
    let at: SockaddrIn6 = getsockname(fd.as_raw_fd()).unwrap();
    assert_eq!(at.ip(), std::net::Ipv6Addr::LOCALHOST);
    TcpStream::connect(("::1", at.port())).unwrap();
}

#[test]
fn a_taken_tcp_port_is_eaddrinuse() {
    let first = bind(&spec(Address::Tcp("127.0.0.1:0".parse().unwrap()))).unwrap();
    let at: SockaddrIn = getsockname(first.as_raw_fd()).unwrap();
    let again = spec(Address::Tcp(
        format!("127.0.0.1:{}", at.port()).parse().unwrap(),
    ));
    let e = bind(&again).unwrap_err();
    assert_eq!(e.errno, Some(libc::EADDRINUSE));
    assert_eq!(
        e.message,
        format!(
            "cannot listen on tcp 127.0.0.1:{}: bind: Address already in use",
            at.port()
        )
    );
}

#[test]
fn udp_is_bound_not_listening() {
    let fd = bind(&spec(Address::Udp("127.0.0.1:0".parse().unwrap()))).unwrap();
    assert_flags(&fd, false);
    assert!(!getsockopt(&fd, sockopt::ReuseAddr).unwrap());
    let at: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    assert_ne!(at.port(), 0);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"ping", ("127.0.0.1", at.port())).unwrap();
    assert_eq!(recv_one(&fd), b"ping");
}

#[test]
fn unix_stream_gets_parents_mode_and_accepts() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("run/web/ctl.sock");
    let mut s = unix_spec(&path, false);
    s.mode = 0o640;
    let fd = bind(&s).unwrap();
    assert_flags(&fd, true);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    // 0755 less the umask (cinit's is 022; a test runner's may differ).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap();
    for dir in [d.path().join("run"), d.path().join("run/web")] {
        let m = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, 0o755 & !umask, "{}", dir.display());
    }
    let addr: UnixAddr = getsockname(fd.as_raw_fd()).unwrap();
    assert_eq!(addr.path(), Some(path.as_path()));
    UnixStream::connect(&path).unwrap();
    nix::sys::socket::accept(fd.as_raw_fd()).unwrap();
}

#[test]
fn the_default_mode_is_0666_whatever_the_umask() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("s");
    let _fd = bind(&unix_spec(&path, false)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o666);
}

#[test]
fn unix_dgram_receives() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("log");
    let mut s = unix_spec(&path, true);
    s.mode = 0o620;
    let fd = bind(&s).unwrap();
    assert_flags(&fd, false);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o620);
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"<13>hello", &path)
        .unwrap();
    assert_eq!(recv_one(&fd), b"<13>hello");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let d = tempfile::tempdir().unwrap();
    for dgram in [false, true] {
        let path = d.path().join(format!("stale-{dgram}"));
        // A socket whose process is gone leaves its file behind.
        if dgram {
            drop(UnixDatagram::bind(&path).unwrap());
        } else {
            drop(UnixListener::bind(&path).unwrap());
        }
        assert!(std::fs::symlink_metadata(&path).is_ok());
        // bind(2) fails on any existing file, so success means the stale
        // one was removed; and the new socket is the one that answers.
        let fd = bind(&unix_spec(&path, dgram)).unwrap();
        if dgram {
            UnixDatagram::unbound()
                .unwrap()
                .send_to(b"x", &path)
                .unwrap();
            assert_eq!(recv_one(&fd), b"x");
        } else {
            UnixStream::connect(&path).unwrap();
        }
    }
}

#[test]
fn a_live_socket_is_left_alone_and_refused() {
    let d = tempfile::tempdir().unwrap();
    let stream = d.path().join("stream");
    let dgram = d.path().join("dgram");
    let listener = UnixListener::bind(&stream).unwrap();
    let receiver = UnixDatagram::bind(&dgram).unwrap();
    // Same type, and the other type (a stream probe gets EPROTOTYPE from a
    // live datagram socket, which must not count as stale).
    for (path, as_dgram) in [
        (&stream, false),
        (&stream, true),
        (&dgram, true),
        (&dgram, false),
    ] {
        let e = bind(&unix_spec(path, as_dgram)).unwrap_err();
        assert_eq!(e.errno, Some(libc::EADDRINUSE), "{e}");
        assert!(
            e.message.ends_with(&format!(
                "{} is in use: a process listens on it",
                path.display()
            )),
            "{e}"
        );
    }
    // Both still work.
    UnixStream::connect(&stream).unwrap();
    listener.accept().unwrap();
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"y", &dgram)
        .unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(receiver.recv(&mut buf).unwrap(), 1);
}

#[test]
fn anything_else_at_the_path_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("file");
    std::fs::write(&file, "keep me").unwrap();
    let dir = d.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let sock = d.path().join("sock");
    let _live = UnixListener::bind(&sock).unwrap();
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    let fifo = d.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for (path, kind) in [
        (&file, "a regular file"),
        (&dir, "a directory"),
        (&link, "a symbolic link"),
        (&fifo, "a FIFO"),
    ] {
        let e = bind(&unix_spec(path, false)).unwrap_err();
        assert_eq!(e.errno, Some(libc::EEXIST), "{e}");
        assert_eq!(
            e.message,
            format!(
                "cannot listen on unix {p}: {p} exists and is {kind}, not a socket",
                p = path.display()
            )
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_parent_that_cannot_be_a_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("f"), "").unwrap();
    let e = bind(&unix_spec(&d.path().join("f/sock"), false)).unwrap_err();
    assert_eq!(e.errno, None, "a configuration error: {e}");
    assert!(
        e.message.contains(&format!(
            "refusing {}: a regular file, not a directory",
            d.path().join("f").display()
        )),
        "{e}"
    );
}

/// Each directory on the way is judged; nothing is made behind a refused
/// one, and nothing at all through a link.
#[test]
fn linked_or_writable_parents_are_refused_and_nothing_is_made_there() {
    let d = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(d.path()).unwrap();
    let hidden = base.join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    std::os::unix::fs::symlink(&hidden, base.join("link")).unwrap();
    let set = |p: &Path, m: u32| {
        std::fs::create_dir_all(p).unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    set(&base.join("open"), 0o777);
    set(&base.join("group"), 0o775);
    set(&base.join("sticky"), 0o1777);
    for (path, at, why) in [
        ("link/s", "link", "a symbolic link (never followed here)"),
        (
            "link/deeper/s",
            "link",
            "a symbolic link (never followed here)",
        ),
        (
            "open/sub/s",
            "open",
            "mode 0777: writable by others and not sticky",
        ),
        ("open/s", "open", "mode 0777: writable by group or others"),
        ("group/s", "group", "mode 0775: writable by group or others"),
        (
            "sticky/s",
            "sticky",
            "mode 1777: writable by group or others",
        ),
    ] {
        let sock = base.join(path);
        let e = bind(&unix_spec(&sock, false)).unwrap_err();
        assert_eq!(e.errno, None, "{e}");
        let want = format!(
            "cannot listen on unix {}: refusing {}: {why}",
            sock.display(),
            base.join(at).display()
        );
        assert!(e.message.starts_with(&want), "{e}\nwanted {want}");
    }
    assert_eq!(std::fs::read_dir(&hidden).unwrap().count(), 0);
    assert!(!base.join("open/sub").exists());
    // Sticky above the socket's own directory is fine (like /tmp).
    let ok = base.join("sticky/own/s");
    let _fd = bind(&unix_spec(&ok, false)).unwrap();
    UnixStream::connect(&ok).unwrap();
}

#[test]
fn owner_and_group_by_name_and_number() {
    let d = tempfile::tempdir().unwrap();
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let user = nix::unistd::User::from_uid(uid).unwrap().unwrap().name;
    let path = d.path().join("named");
    let mut s = unix_spec(&path, false);
    s.owner = Some(user);
    s.group = Some(gid.to_string());
    let _fd = bind(&s).unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid()), (uid.as_raw(), gid.as_raw()));

    // Another owner: root may give it away; anyone else gets EPERM, and
    // the file is gone again.
    let path = d.path().join("given");
    let mut s = unix_spec(&path, false);
    s.owner = Some(if uid.is_root() { "12345" } else { "0" }.to_string());
    s.group = Some("54321".to_string());
    match bind(&s) {
        Ok(_fd) => {
            assert!(uid.is_root());
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!((m.uid(), m.gid()), (12345, 54321));
        }
        Err(e) => {
            assert!(!uid.is_root(), "{e}");
            assert_eq!(e.errno, Some(libc::EPERM), "{e}");
            assert!(!path.exists(), "the socket file was left behind");
        }
    }
}

#[test]
fn an_unknown_user_or_group_fails_before_anything_is_made() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("sub/sock");
    let mut s = unix_spec(&path, false);
    s.owner = Some("no-such-user-cinit".into());
    let e = bind(&s).unwrap_err();
    assert_eq!(e.errno, None);
    assert_eq!(
        e.message,
        format!(
            "cannot listen on unix {}: no user \"no-such-user-cinit\"",
            path.display()
        )
    );
    s.owner = None;
    s.group = Some("no-such-group-cinit".into());
    assert!(bind(&s)
        .unwrap_err()
        .message
        .ends_with("no group \"no-such-group-cinit\""));
    assert!(
        !d.path().join("sub").exists(),
        "created before the names were known"
    );
}

#[test]
fn a_failure_after_bind_removes_the_file() {
    let d = tempfile::tempdir().unwrap();
    let path: PathBuf = d.path().join("s");
    let s = unix_spec(&path, false);
    let fd = bind(&s).unwrap();
    drop(fd);
    let failed: Result<(), BindError> = Err(BindError::new(&s, Some(libc::EIO), "test"));
    let place = || Place {
        dir: safepath::open_dir(d.path(), Missing::Stop, &safepath::trusted_owners())
            .unwrap()
            .unwrap(),
        name: OsStr::new("s"),
        path: &path,
    };
    assert_eq!(remove_on_error(&place(), failed.clone()), failed);
    assert!(!path.exists());
    // Success leaves it.
    let _fd = bind(&s).unwrap();
    assert_eq!(remove_on_error(&place(), Ok(())), Ok(()));
    assert!(path.exists());
}
