//! The PID-1 binary. All logic lives in [`cinit::daemon`].

fn main() {
    // `daemon::main` never returns when running as PID 1.
    std::process::exit(cinit::daemon::main());
}
