//! The floor of `make bench`'s size and exec benchmarks: a Rust program that
//! does nothing, built with the same profile, target and flags as `cinit`.
//! Whatever `cinit` and `cinit-ctl` weigh above it is their own code.

fn main() {}
