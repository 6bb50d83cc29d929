//! `SIGNAL` and `RELOAD`: a signal to a running service's processes.
//!
//! Root only (the caller checked: neither is read-only). The service must
//! have a main process the engine holds unreaped right now (`starting`,
//! `running`, or `stopping` before it is gone); anything else is ERROR 1,
//! "not running". Only that pid, or the process group it leads, is
//! signalled: a pid cinit has reaped, or never started, is never. The
//! signal itself is sent by the host ([`super::commands::Host`]).

use crate::config::signal::{name as sig_name, MAX_SIGNAL};
use crate::control::commands::{error, resolve, Host, Outcome, Services};
use crate::proto::{ErrorCode, Reply};

/// Send `sig` (`None`: the service's reload signal) to service `name`:
/// to its main process, or with `all` to every process of it.
pub(crate) fn execute<H: Host>(
    sv: &mut Services<H>,
    name: &str,
    sig: Option<i32>,
    all: bool,
) -> Outcome {
    if let Some(s) = sig.filter(|s| !(1..=MAX_SIGNAL).contains(s)) {
        let m = format!("signal {s} is out of range (1 to {MAX_SIGNAL})");
        return error(ErrorCode::Usage, m);
    }
    let i = match resolve(sv, name) {
        Ok(i) => i,
        Err(m) => return error(ErrorCode::Usage, m),
    };
    let Some(st) = sv.engine.status(i) else {
        return error(ErrorCode::Usage, format!("no such service: {name}"));
    };
    let (svc, state) = (st.name.to_string(), st.state);
    let Some(pid) = st.pid.filter(|&p| sv.engine.owns(p)) else {
        return error(ErrorCode::Failed, format!("{svc} is not running ({state})"));
    };
    match sv.host.send_signal(i, pid, sig, all) {
        Ok(sent) => {
            let whom = if all { "every process of " } else { "" };
            let text = format!("sent {} to {whom}{svc} (pid {pid})", sig_name(sent));
            sv.host.log(&format!("{text} on request"));
            Outcome::Reply(Reply::Ok {
                message: Some(text),
            })
        }
        Err(why) => error(
            ErrorCode::Failed,
            format!("{svc}: cannot signal pid {pid}: {why}"),
        ),
    }
}
