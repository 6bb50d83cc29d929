//! Loading `notify-socket` into a service's node: a respawn service's
//! sd_notify readiness, refused beside another readiness file
//! ([`crate::config::ready::notify_conflict`]). Part of [`crate::config::tree`].

use super::{Reason, ServiceDir, Tree};
use crate::config::ready::{notify_conflict, read_notify_socket, NOTIFY_SOCKET};
use crate::engine::Node;

impl Tree {
    /// Read `notify-socket` (one listing bit when absent: no system call)
    /// into `node`; a bad file or a conflict breaks the service, as a bad
    /// `notification-fd` does.
    pub(super) fn load_notify_socket(&mut self, name: &str, files: &ServiceDir, node: &mut Node) {
        match read_notify_socket(files) {
            Ok(false) => {}
            Ok(true) => match notify_conflict(node.notify_fd.is_some(), node.probe.is_some()) {
                Some(why) => {
                    let file = files.join(NOTIFY_SOCKET);
                    self.problem(name, &file, why);
                    let reason = format!("{}: {why}", file.display());
                    node.broken = Some(Box::new(Reason::Config(reason)));
                }
                None => node.notify_socket = true,
            },
            Err(e) => {
                self.problem(name, &e.file, &e.reason);
                node.broken = Some(Box::new(Reason::Config(e.to_string())));
            }
        }
    }
}
