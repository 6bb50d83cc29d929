//! The client side of `cinit-ctl log`: print a stream of LOG_LINES frames
//! as they come, one line each as [`crate::logs::fmt::line`] shows it, with
//! notes on stderr where lines were dropped or missed. Not PID 1: blocking
//! I/O is fine here.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::ctl::client::stream;
use crate::logs::fmt::line;
use crate::proto::{LogBatch, Reply, Request};
use crate::sys::console::one_line;

/// Send the LOG request `req` to `socket` and print its lines. A plain
/// request waits at most `timeout` for each frame; a follower waits as
/// long as it takes. A reply that is not LOG_LINES goes to `other`, whose
/// exit code is returned; a broken connection is exit code 3.
pub fn show(
    req: &Request,
    socket: &Path,
    timeout: Option<Duration>,
    mut other: impl FnMut(Reply) -> ExitCode,
) -> ExitCode {
    let Request::Log {
        name,
        lines,
        follow,
    } = req
    else {
        return ExitCode::from(2);
    };
    let name = name.as_deref().map_or("cinit".into(), one_line);
    let mut first = true;
    let mut code = ExitCode::SUCCESS;
    let mut out = std::io::stdout().lock();
    let timeout = if *follow { None } else { timeout };
    let result = stream(socket, req, timeout, |reply| {
        let batch: LogBatch = match reply {
            Reply::LogLines(b) => b,
            r => {
                code = other(r);
                return false;
            }
        };
        // The drop count says something about "all lines" only.
        if first && *lines == 0 && batch.dropped > 0 {
            eprintln!(
                "cinit-ctl: {} older lines of {name} were dropped to make room \
                 (its log keeps log.size bytes)",
                batch.dropped
            );
        }
        first = false;
        if batch.missed > 0 {
            let _ = out.flush();
            eprintln!(
                "cinit-ctl: {} lines of {name} missed here (dropped while this \
                 client was behind)",
                batch.missed
            );
        }
        for l in &batch.lines {
            if writeln!(out, "{}", line(l.mono_ms, l.wall_ms, &l.text)).is_err() {
                return false; // the reader went away (a pipe into head)
            }
        }
        out.flush().is_ok() && batch.more
    });
    match result {
        Ok(()) => code,
        Err(e) => {
            eprintln!("cinit-ctl: {e}");
            ExitCode::from(3)
        }
    }
}
