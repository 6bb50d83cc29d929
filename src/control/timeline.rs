//! The boot timeline at both ends of the control socket: the TIMELINE
//! reply built from the engine's records (in cinit), and what
//! `cinit-ctl analyze` makes of it (pure, in the client): the table sorted
//! by start, the total, the critical chain, and the JSON form.
//!
//! Times travel as absolute milliseconds on cinit's monotonic clock (since
//! boot on Linux). The client shows them relative to cinit's own start (the
//! *origin*), so the numbers answer "how long after cinit started", in a
//! container as on a machine; the header line gives the origin itself, to
//! match the console's `[seconds since boot]` stamps.
//!
//! The critical chain starts at the service that came up last and follows,
//! at each step, the need or want whose readiness (or, for a want, its end)
//! was the last thing the service waited for: the dependency that settled
//! latest, no later than the service became startable and no earlier than
//! it was requested (a dependency that was up before the request did not
//! hold it up). It ends at a service with no such dependency; it visits
//! each service at most once, so it ends on any input.

use std::fmt::Write;

use crate::engine::Engine;
use crate::proto::json;
use crate::proto::{self, ErrorCode, Reply, Timeline, TimelineEntry};
use crate::sys::clock::seconds;
use crate::sys::clock::Millis;
use crate::sys::console::one_line;

/// Most needs (and most wants) sent for one service: the cap keeps an
/// entry below a field's 64 KiB (a root may want up to
/// [`crate::config::tree::MAX_SERVICES`] services; the timeline then shows the
/// first 4096 of its edges).
pub const MAX_DEPS_SENT: usize = 4096;

/// The timeline of every loaded service, in engine index order.
pub fn of_engine(engine: &Engine, now: Millis) -> Timeline {
    let services = (0..engine.len())
        .map(|i| {
            let t = engine.times(i).copied().unwrap_or_default();
            let (needs, wants) = engine
                .node(i)
                .map(|n| (cap(&n.needs), cap(&n.wants)))
                .unwrap_or_default();
            let status = engine.status(i);
            TimelineEntry {
                name: status
                    .as_ref()
                    .map(|s| s.name.to_string())
                    .unwrap_or_default(),
                state: status
                    .as_ref()
                    .map(|s| s.state.word().to_string())
                    .unwrap_or_default(),
                respawn: status.is_some_and(|s| s.respawn),
                requested_ms: t.requested,
                startable_ms: t.startable,
                spawned_ms: t.spawned,
                ready_ms: t.ready,
                ended_ms: t.ended,
                needs,
                wants,
            }
        })
        .collect();
    Timeline {
        started_ms: engine.started_at(),
        now_ms: now,
        services,
    }
}

fn cap(list: &[usize]) -> Vec<usize> {
    list.get(..MAX_DEPS_SENT).unwrap_or(list).to_vec()
}

/// The reply to ANALYZE, or an error that says why it cannot be sent.
pub fn reply(engine: &Engine, now: Millis) -> Reply {
    let reply = Reply::Timeline(of_engine(engine, now));
    let len = proto::encode_reply(&reply).len();
    if len > crate::control::MAX_OUT_PER_CLIENT {
        return Reply::Error {
            code: ErrorCode::Failed,
            message: format!(
                "the timeline of {} services ({len} bytes) is larger than a reply may be \
                 ({} bytes); `cinit-ctl status NAME` shows services one by one",
                engine.len(),
                crate::control::MAX_OUT_PER_CLIENT
            ),
        };
    }
    reply
}

// ----- the client's side -----

/// When a dependency settled for the service that waited on it: a need
/// when it came up, a want when it came up or ended.
fn settled(e: &TimelineEntry, is_need: bool) -> Option<u64> {
    if is_need {
        e.ready_ms
    } else {
        e.ready_ms.or(e.ended_ms)
    }
}

/// How long a service took: from its spawn until it came up (or, if it
/// never did, until it ended).
pub fn took(e: &TimelineEntry) -> Option<u64> {
    let from = e.spawned_ms?;
    e.ready_ms.or(e.ended_ms).map(|t| t.saturating_sub(from))
}

/// What the client derives from a timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Times are shown relative to this: cinit's start, or (unknown start)
    /// the earliest recorded time.
    pub origin: u64,
    /// Entries with any recorded time, by spawn time (never spawned last,
    /// by request time), then dependencies before their dependents, then
    /// name.
    pub order: Vec<usize>,
    /// The service that came up last.
    pub last_up: Option<usize>,
    /// The critical chain, from [`Analysis::last_up`] back to its start.
    pub chain: Vec<usize>,
}

impl Analysis {
    /// `at` relative to the origin.
    pub fn rel(&self, at: u64) -> u64 {
        at.saturating_sub(self.origin)
    }
}

fn has_times(e: &TimelineEntry) -> bool {
    [
        e.requested_ms,
        e.startable_ms,
        e.spawned_ms,
        e.ready_ms,
        e.ended_ms,
    ]
    .iter()
    .any(Option::is_some)
}

/// Each entry's depth in the dependency graph: 0 without dependencies,
/// else one more than its deepest need or want. Iterative (a chain of any
/// length), and an edge back into the path being walked (a cycle) counts
/// as no dependency.
pub fn depths(list: &[TimelineEntry]) -> Vec<usize> {
    let dep = |v: usize, k: usize| {
        let e = list.get(v)?;
        e.needs
            .get(k)
            .or_else(|| e.wants.get(k.checked_sub(e.needs.len())?))
            .copied()
    };
    let mut depth = vec![0usize; list.len()];
    // 0 unseen, 1 on the path being walked, 2 done.
    let mut seen = vec![0u8; list.len()];
    for root in 0..list.len() {
        if seen.get(root) != Some(&0) {
            continue;
        }
        let mut path = vec![(root, 0usize)];
        if let Some(s) = seen.get_mut(root) {
            *s = 1;
        }
        while let Some((v, k)) = path.last_mut() {
            let (v, k0) = (*v, *k);
            *k += 1;
            match dep(v, k0) {
                Some(d) => {
                    if seen.get(d) == Some(&0) {
                        if let Some(s) = seen.get_mut(d) {
                            *s = 1;
                        }
                        path.push((d, 0));
                    }
                }
                None => {
                    let deepest = (0..k0)
                        .filter_map(|j| dep(v, j))
                        .filter(|&d| seen.get(d) == Some(&2))
                        .filter_map(|d| depth.get(d).map(|x| x + 1))
                        .max()
                        .unwrap_or(0);
                    if let Some(x) = depth.get_mut(v) {
                        *x = deepest;
                    }
                    if let Some(s) = seen.get_mut(v) {
                        *s = 2;
                    }
                    path.pop();
                }
            }
        }
    }
    depth
}

pub fn analyze(t: &Timeline) -> Analysis {
    let list = &t.services;
    let depth = depths(list);
    let mut order: Vec<usize> = (0..list.len())
        .filter(|&i| list.get(i).is_some_and(has_times))
        .collect();
    // Services spawned in the same millisecond: a dependency before its
    // dependents (the order the engine acted in).
    order.sort_by(|&a, &b| {
        let key = |i: usize| {
            list.get(i).map(|e| {
                (
                    e.spawned_ms.is_none(),
                    e.spawned_ms,
                    e.requested_ms,
                    depth.get(i),
                    e.name.as_str(),
                )
            })
        };
        key(a).cmp(&key(b))
    });
    let earliest = list.iter().filter_map(|e| e.requested_ms).min();
    let origin = t.started_ms.or(earliest).unwrap_or(0);
    // The latest `ready`; on a tie, the one that appears last in the table
    // (a dependent after what it depends on).
    let last_up = order
        .iter()
        .enumerate()
        .filter_map(|(pos, &i)| Some((list.get(i)?.ready_ms?, pos, i)))
        .max()
        .map(|(_, _, i)| i);
    let chain = last_up.map(|i| chain_from(list, i)).unwrap_or_default();
    Analysis {
        origin,
        order,
        last_up,
        chain,
    }
}

/// The dependency that service `i` waited for last, if one held it up.
pub fn held_up_by(list: &[TimelineEntry], i: usize) -> Option<usize> {
    let e = list.get(i)?;
    let startable = e.startable_ms?;
    let requested = e.requested_ms.unwrap_or(0);
    let deps = e
        .needs
        .iter()
        .map(|&d| (d, true))
        .chain(e.wants.iter().map(|&d| (d, false)));
    deps.filter_map(|(d, is_need)| {
        let at = settled(list.get(d)?, is_need)?;
        (d != i && at <= startable && at >= requested).then_some((at, is_need, d))
    })
    // Latest first; then a need before a want; then the lower position.
    .max_by_key(|&(at, is_need, d)| (at, is_need, std::cmp::Reverse(d)))
    .map(|(_, _, d)| d)
}

fn chain_from(list: &[TimelineEntry], last: usize) -> Vec<usize> {
    let mut chain = vec![last];
    let mut seen = vec![false; list.len()];
    let mut cur = last;
    while let Some(slot) = seen.get_mut(cur) {
        if *slot {
            break;
        }
        *slot = true;
        match held_up_by(list, cur) {
            Some(d) if !seen.get(d).copied().unwrap_or(true) => {
                chain.push(d);
                cur = d;
            }
            _ => break,
        }
    }
    chain
}

fn cell(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), seconds)
}

/// The table, the total and the critical chain, as `cinit-ctl analyze`
/// prints them.
pub fn report(t: &Timeline) -> String {
    let a = analyze(t);
    let list = &t.services;
    let mut out = String::new();
    // Writing to a String cannot fail.
    match t.started_ms {
        Some(s) => {
            let _ = writeln!(
                out,
                "cinit started {} after boot; the times below are since then.",
                seconds(s)
            );
        }
        None => out.push_str(
            "cinit's start was not recorded (it took over from a version that kept no \
             timeline); the times below are since the first request.\n",
        ),
    }
    if a.order.is_empty() {
        out.push_str("no service has been started.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:>10} {:>10} {:>10} {:>10}  {:<11}  SERVICE",
        "START", "READY", "TOOK", "WAITED", "STATE"
    );
    for e in a.order.iter().filter_map(|&i| list.get(i)) {
        let waited = e
            .startable_ms
            .zip(e.requested_ms)
            .map(|(s, r)| s.saturating_sub(r));
        let _ = writeln!(
            out,
            "{:>10} {:>10} {:>10} {:>10}  {:<11}  {}",
            cell(e.spawned_ms.map(|v| a.rel(v))),
            cell(e.ready_ms.map(|v| a.rel(v))),
            cell(took(e)),
            cell(waited),
            e.state,
            one_line(&e.name)
        );
    }
    let hidden = list.len() - a.order.len();
    match hidden {
        0 => {}
        1 => out.push_str("(1 loaded service with no recorded start is not shown)\n"),
        n => {
            let _ = writeln!(
                out,
                "({n} loaded services with no recorded start are not shown)"
            );
        }
    }
    let Some(last) = a.last_up.and_then(|i| list.get(i)) else {
        out.push_str("\nno service has come up.\n");
        return out;
    };
    let _ = writeln!(
        out,
        "\ntotal {}: from cinit's start until the last service came up ({})",
        seconds(a.rel(last.ready_ms.unwrap_or(a.origin))),
        one_line(&last.name)
    );
    out.push_str("\ncritical chain (@ spawned, + until ready, since cinit started):\n");
    for (depth, e) in a.chain.iter().filter_map(|&i| list.get(i)).enumerate() {
        let indent = if depth == 0 {
            String::new()
        } else {
            format!("{}└─", "  ".repeat(depth - 1))
        };
        let at = e
            .spawned_ms
            .map_or_else(|| "-".to_string(), |s| seconds(a.rel(s)));
        let _ = writeln!(
            out,
            "{indent}{} @{at} +{}",
            one_line(&e.name),
            cell(took(e))
        );
    }
    out
}

/// The timeline as one JSON object: the raw times (absolute monotonic
/// milliseconds), needs and wants by name, and the analysis.
pub fn to_json(t: &Timeline) -> String {
    let a = analyze(t);
    let list = &t.services;
    let names = |idx: &[usize]| {
        let v: Vec<String> = idx
            .iter()
            .filter_map(|&d| list.get(d))
            .map(|d| json::string(&d.name))
            .collect();
        format!("[{}]", v.join(","))
    };
    // Table order first, then the services never started.
    let mut shown = vec![false; list.len()];
    for &i in &a.order {
        if let Some(s) = shown.get_mut(i) {
            *s = true;
        }
    }
    let rest = (0..list.len()).filter(|&i| !shown.get(i).copied().unwrap_or(true));
    let services: Vec<String> = a
        .order
        .iter()
        .copied()
        .chain(rest)
        .filter_map(|i| list.get(i))
        .map(|e| {
            format!(
                "{{\"name\":{},\"state\":{},\"respawn\":{},\"requested_ms\":{},\
                 \"startable_ms\":{},\"spawned_ms\":{},\"ready_ms\":{},\"ended_ms\":{},\
                 \"took_ms\":{},\"needs\":{},\"wants\":{}}}",
                json::string(&e.name),
                json::string(&e.state),
                e.respawn,
                json::opt_u64(e.requested_ms),
                json::opt_u64(e.startable_ms),
                json::opt_u64(e.spawned_ms),
                json::opt_u64(e.ready_ms),
                json::opt_u64(e.ended_ms),
                json::opt_u64(took(e)),
                names(&e.needs),
                names(&e.wants)
            )
        })
        .collect();
    let last = a.last_up.and_then(|i| list.get(i));
    format!(
        "{{\"started_ms\":{},\"now_ms\":{},\"origin_ms\":{},\"total_ms\":{},\"last_up\":{},\
         \"critical_chain\":{},\"services\":[{}]}}",
        json::opt_u64(t.started_ms),
        t.now_ms,
        a.origin,
        json::opt_u64(last.and_then(|e| e.ready_ms).map(|r| a.rel(r))),
        last.map_or_else(|| "null".to_string(), |e| json::string(&e.name)),
        names(&a.chain),
        services.join(",")
    )
}

#[cfg(test)]
pub(crate) mod tests;
