//! Raw control-socket measurements for `make bench`, in-process so that no
//! process start-up is counted.
//!
//! ```text
//! bench-ipc latency SOCKET SERVICE COUNT
//!     COUNT `STATUS SERVICE` requests, one at a time over one connection;
//!     prints `p50_us=… p99_us=… min_us=… max_us=…`.
//! bench-ipc oneshot SOCKET SERVICE COUNT
//!     COUNT `STATUS SERVICE` requests, each on a connection of its own
//!     (connect, request, reply, close: what `cinit-ctl status` does after
//!     its start-up); prints `p50_us=… p99_us=… min_us=… max_us=…`.
//! bench-ipc update SOCKET PID WANT
//!     sends SIGCONT to PID (cinit's pid as seen here), then asks VERSION over
//!     one connection, again and again, until the server's version contains
//!     WANT (the build id of the new image); prints `update_us=… polls=…`.
//! ```

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cinit::proto::{self, Reply, Request};

fn exchange(stream: &mut UnixStream, frame: &[u8]) -> Result<Reply, String> {
    stream.write_all(frame).map_err(|e| format!("send: {e}"))?;
    let mut header = [0u8; proto::HEADER_LEN];
    stream
        .read_exact(&mut header)
        .map_err(|e| format!("receive: {e}"))?;
    let h = proto::decode_header(&header, proto::MAX_REPLY).map_err(|e| e.to_string())?;
    let mut whole = header.to_vec();
    whole.resize(h.frame_len, 0);
    stream
        .read_exact(whole.get_mut(proto::HEADER_LEN..).unwrap_or(&mut []))
        .map_err(|e| format!("receive: {e}"))?;
    proto::decode_reply(&whole).map_err(|e| e.to_string())
}

fn connect(socket: &str) -> Result<UnixStream, String> {
    let s = UnixStream::connect(socket).map_err(|e| format!("connect {socket}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

fn percentile(sorted: &[u128], p: usize) -> u128 {
    let i = (sorted.len().saturating_sub(1) * p) / 100;
    sorted.get(i).copied().unwrap_or(0)
}

fn latency(socket: &str, service: &str, count: usize, oneshot: bool) -> Result<String, String> {
    let mut stream = connect(socket)?;
    let frame = proto::encode_request(&Request::Status {
        names: vec![service.to_string()],
    });
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        if oneshot {
            stream = connect(socket)?;
        }
        match exchange(&mut stream, &frame)? {
            Reply::Services(s) if s.len() == 1 => {}
            other => return Err(format!("unexpected reply {other:?}")),
        }
        if oneshot {
            // The close is part of a one-shot request (cinit reads the end).
            stream.shutdown(std::net::Shutdown::Both).ok();
        }
        times.push(t.elapsed().as_nanos());
    }
    times.sort_unstable();
    let us = |ns: u128| ns as f64 / 1000.0;
    Ok(format!(
        "p50_us={:.1} p99_us={:.1} min_us={:.1} max_us={:.1}",
        us(percentile(&times, 50)),
        us(percentile(&times, 99)),
        us(times.first().copied().unwrap_or(0)),
        us(times.last().copied().unwrap_or(0)),
    ))
}

fn update(socket: &str, pid: i32, want: &str) -> Result<String, String> {
    let mut stream = connect(socket)?;
    let frame = proto::encode_request(&Request::Version);
    let t = Instant::now();
    // SAFETY: kill(2) has no memory effects.
    if unsafe { libc::kill(pid, libc::SIGCONT) } != 0 {
        return Err(format!("kill {pid}: {}", std::io::Error::last_os_error()));
    }
    let mut polls = 0u64;
    loop {
        polls += 1;
        match exchange(&mut stream, &frame)? {
            Reply::Version { server, .. } if server.contains(want) => break,
            Reply::Version { .. } => {}
            other => return Err(format!("unexpected reply {other:?}")),
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("no image with {want:?} after 10 s"));
        }
    }
    Ok(format!(
        "update_us={:.1} polls={polls}",
        t.elapsed().as_nanos() as f64 / 1000.0
    ))
}

fn run(args: &[String]) -> Result<String, String> {
    let num = |s: &str| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
    match args {
        [mode, socket, service, count] if mode == "latency" || mode == "oneshot" => {
            latency(socket, service, num(count)?, mode == "oneshot")
        }
        [mode, socket, pid, want] if mode == "update" => {
            let pid = i32::try_from(num(pid)?).map_err(|e| e.to_string())?;
            update(socket, pid, want)
        }
        _ => Err(
            "usage: bench-ipc latency|oneshot SOCKET SERVICE COUNT | update SOCKET PID WANT".into(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-ipc: {e}");
            ExitCode::FAILURE
        }
    }
}
