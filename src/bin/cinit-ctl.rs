//! `cinit-ctl`: the command-line client.
//!
//! Exit codes: 0 success; 1 negative result (problems found); 2 usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use cinit::paths::Paths;

const USAGE: &str = "\
usage: cinit-ctl check [DIR]
       cinit-ctl --help | --version

  check [DIR]   validate the service tree under DIR (default: $CINIT_DIR,
                else /etc/cinit) without starting anything; lists every problem

exit status: 0 ok, 1 problems found, 2 usage error";

fn check(dir: Option<&str>) -> ExitCode {
    let base = match dir {
        Some(d) => PathBuf::from(d),
        None => Paths::from_process_env().base,
    };
    if !base.is_dir() {
        eprintln!("cinit-ctl: {}: no such directory", base.display());
        return ExitCode::from(2);
    }
    let report = cinit::check::check(&base);
    for p in &report.problems {
        println!("{p}");
    }
    if report.problems.is_empty() {
        println!(
            "{}: {} services, no problems",
            base.display(),
            report.services
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "cinit-ctl: {} problem(s) in {} services under {}",
            report.problems.len(),
            report.services,
            base.display()
        );
        ExitCode::from(1)
    }
}

fn main() -> ExitCode {
    let Some(args) = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect::<Option<Vec<String>>>()
    else {
        eprintln!("cinit-ctl: arguments must be valid UTF-8\n{USAGE}");
        return ExitCode::from(2);
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["check"] => check(None),
        ["check", dir] if !dir.starts_with('-') => check(Some(dir)),
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["--version" | "version"] => {
            println!("cinit-ctl {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
