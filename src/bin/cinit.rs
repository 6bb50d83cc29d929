//! The PID-1 binary. All logic lives in [`cinit::daemon`]; started by PID 1
//! as `cinit --log-writer …`, it is a service's log file writer instead
//! ([`cinit::logwriter`]).

fn main() {
    // `daemon::main` never returns when running as PID 1.
    let code = cinit::logwriter::main_if_writer().unwrap_or_else(cinit::daemon::main);
    std::process::exit(code);
}
