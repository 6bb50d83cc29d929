//! The PID-1 binary. All logic lives in [`cinit::daemon`]; started by PID 1
//! as `cinit --log-writer …`, it is a service's log file writer instead
//! ([`cinit::logs::writer`]), and as `cinit --listen-exec …` the step that
//! starts a service given descriptors ([`cinit::fds::listen_exec`]), and as
//! `cinit --preflight` it proves itself to a PID 1 about to hot-update into
//! it ([`cinit::update::preflight`]).

fn main() {
    // The trampoline first: it must change nothing before it executes the
    // service. `daemon::main` never returns when running as PID 1.
    let code = cinit::fds::listen_exec::main_if_listen_exec()
        .or_else(cinit::update::preflight::main_if_preflight)
        .or_else(cinit::logs::writer::main_if_writer)
        .unwrap_or_else(cinit::daemon::main);
    std::process::exit(code);
}
