//! Starting PID 1: an ordinary boot, or carrying on from a hot-update
//! snapshot, up to the first turn of the loop (part of [`super`]).

use super::*;

/// How this image starts: a boot (perhaps after an unreadable hot-update
/// snapshot), or carrying on from a snapshot.
enum Start {
    Boot(Option<String>),
    Restore(Box<snapshot::Snapshot>, snapshot::Lost),
}

/// Run cinit as PID 1. Returns only (with exit status 1) when not PID 1.
pub fn main() -> i32 {
    // Block first: a signal arriving before the signalfd exists must wait.
    let blocked = block_handled();
    let pid = std::process::id();
    if pid != 1 {
        eprintln!(
            "cinit: must run as PID 1 (this is pid {pid}); \
             to try it safely: unshare --user --map-root-user --pid --fork --mount-proc cinit"
        );
        return 1;
    }
    std::panic::set_hook(Box::new(|_| {
        emergency::say(b"cinit: internal error (panic); continuing\n");
    }));
    emergency::install_fault_handlers();
    crate::sys::spawn::learn_ignored_signals();
    // From here on, descriptors that came from outside are closed by a
    // closer process, never by this thread.
    crate::fds::closer::enable();
    // The kernel starts init with umask 022; whatever started cinit may have
    // left another, which every service would inherit.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    let signals = blocked.and_then(|set| SignalSource::new(&set));
    let paths = Paths::from_process_env();
    emergency::prepare(&paths.conf);
    let exec = SelfExec::capture();
    let how = match update::take_handover() {
        Handover::None => Start::Boot(None),
        Handover::Unreadable(why) => Start::Boot(Some(why)),
        Handover::Bytes(data) => match snapshot::decode_owned(data) {
            Ok((snap, lost)) => Start::Restore(Box::new(snap), lost),
            Err(e) => Start::Boot(Some(e.to_string())),
        },
    };
    let mut daemon = catch_unwind(AssertUnwindSafe(move || match how {
        Start::Boot(why) => Daemon::boot(signals, paths, exec, why),
        Start::Restore(snap, lost) => Daemon::restore(*snap, lost, signals, paths, exec),
    }));
    let Ok(daemon) = daemon.as_mut() else {
        emergency::enter(b"cinit: emergency: start-up failed\n");
    };
    // Iterations that panicked in a row; many mean the loop cannot go on.
    let mut failures = 0u32;
    loop {
        if catch_unwind(AssertUnwindSafe(|| daemon.iterate())).is_ok() {
            failures = 0;
            continue;
        }
        failures += 1;
        daemon
            .host
            .log("internal error in the event loop; continuing");
        if failures >= MAX_FAILED_ITERATIONS {
            daemon.host.console.drain(500);
            emergency::enter(b"cinit: emergency: the event loop keeps failing\n");
        }
    }
}

impl Daemon {
    /// An ordinary boot: mounts, console, control socket, the service tree.
    /// `lost_state`: a hot update whose snapshot could not be read; the
    /// previous image's services may still run, so the root service is not
    /// started (that would start them twice).
    fn boot(
        signals: nix::Result<SignalSource>,
        paths: Paths,
        exec: SelfExec,
        lost_state: Option<String>,
    ) -> Daemon {
        // The origin of the boot timeline (`cinit-ctl analyze`).
        let started = now_ms();
        // First, before the tree's descriptors. A snapshot that could not
        // be read still came from a hot update: the limit was raised before.
        let limit_note = crate::sys::nofile::raise_at_start(lost_state.is_some());
        // Whatever descriptors the kernel, a container runtime or a failed
        // hot update left open are nobody's: close them before opening ours.
        let keep: Vec<i32> = signals.iter().map(|s| s.fd().as_raw_fd()).collect();
        update::close_others(&keep);
        let mount_notes = boot::mount_api_filesystems();
        // The spawn's prefix at the lowest numbers, /dev/null mounted by now.
        crate::sys::spawn::reserve_prefix();
        // Booted as /init, /proc was not mounted when main() looked: look
        // again now, or a hot update would not know what to execute.
        let exec = if exec.path.is_none() {
            SelfExec::capture()
        } else {
            exec
        };
        let (fds, console_note) = boot::setup_console(&paths.console);
        emergency::set_console(
            fds.log.as_ref().map_or(-1, |f| f.as_raw_fd()),
            fds.child.as_ref().map_or(-1, |f| f.as_raw_fd()),
        );
        let mut host = RealHost::new(Console::new(fds.log), fds.child);
        host.logs.console_is_kernels(
            crate::config::paths::is_kernel_console(&paths.console) && console_note.is_none(),
        );
        host.log(&format!("cinit {} booting as PID 1", crate::version()));
        let notes = mount_notes.iter().chain(console_note.iter());
        for note in notes.chain(limit_note.iter()) {
            host.log(note);
        }
        if let Some(note) = boot::disable_ctrl_alt_del() {
            host.log(&note);
        }
        let signals = signals_or_log(&mut host, signals);
        // Services get their own cwd; PID 1 should not pin any filesystem.
        let _ = std::env::set_current_dir("/");
        let control = match Control::open(&paths.ctl) {
            Ok((control, notes)) => {
                for note in notes {
                    host.log(&note);
                }
                host.log(&format!("listening on {}", control.path().display()));
                Some(control)
            }
            Err(e) => {
                host.log(&format!("no control socket: {e}"));
                None
            }
        };
        if let Some(why) = &lost_state {
            host.log(&format!(
                "emergency: hot update lost the service state ({why}); services \
                 from before keep running unsupervised and are reaped when they \
                 exit; not starting the root service (start it with cinit-ctl)"
            ));
        }
        // Before the first start: the services' cgroups, or the one line
        // saying there are none.
        let (cg, line) =
            super::super::contain::Contain::setup(&paths.svc, &paths.ctl, lost_state.is_some());
        host.cg = cg;
        host.log(&line);
        // Where the notify socket is bound, before the first start.
        host.notify.set_dir(&paths.ctl);
        let start_root = lost_state.is_none();
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            boot_tree(&mut host, &paths, start_root)
        }));
        let (mut engine, tree) = match loaded {
            Ok(loaded) => loaded,
            Err(_) => {
                host.log("emergency: internal error while loading the service tree");
                (Engine::new(Vec::new()), Tree::new(&paths.svc))
            }
        };
        engine.set_started_at(started);
        Daemon::assemble(host, engine, tree, paths, exec, signals, control)
    }

    pub(super) fn assemble(
        host: RealHost,
        engine: Engine,
        tree: Tree,
        paths: Paths,
        exec: SelfExec,
        signals: Option<SignalSource>,
        control: Option<Control>,
    ) -> Daemon {
        let mut host = host;
        host.notify.set_dir(&paths.ctl);
        Daemon {
            host,
            engine,
            tree,
            paths,
            exec,
            signals,
            control,
            pending: Vec::new(),
            reap_pending: true,
            sequence: None,
            requester: None,
            helper: None,
            former_shell: None,
            failure_exit: None,
            update_requested: false,
            update_waiters: Vec::new(),
            preflight: None,
            probes: crate::ready::prober::Probes::default(),
        }
    }
}

/// The signalfd, or a logged reason why there is none.
pub(super) fn signals_or_log(
    host: &mut RealHost,
    s: nix::Result<SignalSource>,
) -> Option<SignalSource> {
    match s {
        Ok(s) => Some(s),
        Err(e) => {
            host.log(&format!(
                "emergency: cannot set up signals ({}); reaping on a timer",
                e.desc()
            ));
            None
        }
    }
}

/// Load the tree from the root service and start it. Without a root, the
/// engine is empty: the loop still reaps and serves the control socket.
fn boot_tree(host: &mut RealHost, paths: &Paths, start_root: bool) -> (Engine, Tree) {
    // The kernel passes unknown command-line words as raw bytes: never assume
    // UTF-8 (std::env::args would panic); words that are not text are ignored.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .filter_map(|a| a.into_string().ok())
        .collect();
    let root_name = match profile_from_args(&args) {
        Ok(Some(p)) => {
            host.log(&format!("profile {p}"));
            p
        }
        Ok(None) => DEFAULT_ROOT.to_string(),
        Err(word) => {
            host.log(&format!(
                "ignoring {word}: not a service name; using {DEFAULT_ROOT}"
            ));
            DEFAULT_ROOT.to_string()
        }
    };
    let (_, conf_problems) = read_conf(&paths.conf);
    for p in conf_problems {
        host.log(&format!("config: conf: {p}"));
    }
    let mut tree = Tree::new(&paths.svc);
    let root_path = paths.svc.join(&root_name);
    let root = tree.add_root(&root_path);
    for p in &tree.problems {
        host.log(&format!("config: {p}"));
    }
    // The engine owns the service table from here on; the tree keeps the
    // directories and the index for later loads and the snapshot.
    let (nodes, listings) = tree.take_loaded();
    let mut engine = Engine::new(nodes);
    host.add_dirs(&tree.dirs, listings);
    let Some(root) = root else {
        host.log(&format!(
            "emergency: no root service {}; nothing to start",
            root_path.display()
        ));
        return (engine, tree);
    };
    tree.roots.push(root);
    host.log(&format!(
        "root service {root_name}, {} services",
        tree.len()
    ));
    if start_root {
        engine.start(host, now_ms(), root);
    }
    (engine, tree)
}
