//! `cinit-ctl check` of the failure files (`restart-limit`, `on-failure`)
//! beyond what the loader says (their syntax, [`crate::config::failure`]):
//!
//! - a once service's `restart-limit` is ignored (a once service is never
//!   restarted): said, as a `notification-fd` there is;
//! - a window shorter than the backoff's spacing of N quick deaths
//!   ([`shortest_span`]) is never reached by a crash loop: said;
//! - `on-failure start NAME`: NAME must be a service directory of the
//!   tree; naming the service itself is said (a failure would start it
//!   again at once, forever).

use std::path::Path;

use crate::config::dirlist::ServiceDir;
use crate::config::failure::{ON_FAILURE, RESTART_LIMIT};
use crate::config::tree::Problem;
use crate::engine::failure::{shortest_span, OnFailure};
use crate::engine::state::short_seconds;
use crate::engine::Node;

/// The problems of `node`'s failure files (in `files`, under `svc`).
pub fn check_failure(node: &Node, files: &ServiceDir, svc: &Path, problems: &mut Vec<Problem>) {
    let dir = files.path();
    let mut add = |file: &str, reason: String| {
        problems.push(Problem {
            service: node.name.clone(),
            file: dir.join(file),
            reason,
        })
    };
    if !node.respawn && files.exists(RESTART_LIMIT).unwrap_or(false) {
        add(
            RESTART_LIMIT,
            "ignored: not a respawn service (a once service is never restarted)".to_string(),
        );
    }
    let Some(policy) = node.failure.as_deref() else {
        return;
    };
    if let Some(limit) = policy.limit {
        let span = shortest_span(limit.exits);
        if span > limit.within_ms {
            add(
                RESTART_LIMIT,
                format!(
                    "never reached by a crash loop: the restart delays between {} quick exits \
                     add up to {}, more than {}",
                    limit.exits,
                    short_seconds(span),
                    short_seconds(limit.within_ms)
                ),
            );
        }
    }
    if let Some(OnFailure::Start(name)) = &policy.action {
        if let Some(why) = not_a_service(svc, dir, name) {
            add(ON_FAILURE, format!("start {name}: {why}"));
        }
    }
}

/// Why `name` is not a service of the tree `svc` to start (`dir` being the
/// service that names it), if it is not.
fn not_a_service(svc: &Path, dir: &Path, name: &str) -> Option<String> {
    let path = svc.join(name);
    let Ok(found) = std::fs::canonicalize(&path) else {
        return Some(format!("no such service (no directory {})", path.display()));
    };
    if !found.starts_with(svc) || found == svc || !found.is_dir() {
        return Some("not a service directory of the tree".to_string());
    }
    (std::fs::canonicalize(dir).ok().as_deref() == Some(found.as_path())).then(|| {
        "names this very service: a failure would start it again at once, forever".to_string()
    })
}
