//! `cinit-ctl`: control a running cinit, or check a service tree offline.
//!
//! Exit codes: 0 success; 1 negative result (failed, not running,
//! need-failed, problems found); 2 usage error or unknown service; 3 cannot
//! reach cinit or protocol error; 4 permission denied; 5 timed out (`wait
//! --timeout`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cinit::config::paths::Paths;
use cinit::control::SOCKET_NAME;
use cinit::ctl::client::{request, request_held, ClientError};
use cinit::ctl::fdstore::FdCommand;
use cinit::ctl::status::{describe, describe_with, print_json, stats_of, up};
use cinit::proto::{ErrorCode, Reply, Request, SystemAction, Timeline};
use cinit::sys::console::one_line;

const USAGE: &str = "\
usage: cinit-ctl [--json] COMMAND [ARGS]

  start [--no-deps] NAME...   start services (and what they need and want);
                              waits until each is up or has failed
  stop NAME...                stop services, and first every running service
                              that needs them
  restart NAME...             stop (with dependents), then start again
  wait [--timeout S] NAME...  wait until the services are up (running and
                              ready, or done) or have failed; gives up after
                              S seconds (decimals allowed) if given
  status [NAME...]            state, pid, time in state, restarts, last reason;
                              memory, CPU time and tasks of its cgroup
  top [--cpu] [-n S]          services by memory (--cpu: by CPU time), from
                              their cgroups; -n: again every S seconds
  list                        one line per known service: NAME STATE [PID]
  pid NAME                    the pid of a running service
  signal [--all] NAME SIG     send SIG (USR1, SIGHUP, 10) to the main process
                              (--all: to every process of the service)
  reload NAME                 send the service its reload-signal
  version                     client and server versions
  log [-n N] [-f] [NAME]      a service's output (without NAME: cinit's own
                              messages), each line with its time (UTC) and
                              the seconds since boot; -n: only the last N
                              lines; -f: then follow new lines
  reboot | halt | poweroff | rescue | update
                              ask cinit for that system action
  check [DIR]                 validate the tree under DIR (default $CINIT_DIR,
                              else /etc/cinit) without starting anything
  analyze [--svg FILE [--deps]]
                              the boot timeline: when each service started
                              and came up, the total, the critical chain;
                              --svg also draws a boot chart into FILE (- for
                              stdout alone), --deps with dependency arrows
  graph                       the needs/wants graph in Graphviz DOT
  fdstore SERVICE             the descriptors cinit holds for SERVICE: name,
                              source (sockets file or stored), kind
  fdstore SERVICE put NAME [--fd N]
                              store descriptor N of cinit-ctl (default 0,
                              so `... put conn <&3` works) as NAME
  fdstore SERVICE get NAME [--remove] [--fd N] PROG [ARG...]
                              fetch NAME (--remove: and forget it) and run
                              PROG with it at descriptor N (default 3)
  fdstore SERVICE drop NAME   close and forget NAME

  --json                      machine-readable output for status, list,
                              analyze and fdstore SERVICE

NAME is a service directory relative to $CINIT_DIR/svc (e.g. getty/1), or an
absolute path inside it. The control socket is $CINIT_CTL_DIR/control
(default /run/cinit/control). Installed as `reboot`, `halt` or `poweroff`,
cinit-ctl performs that command (-f is accepted and ignored).

exit status: 0 success, 1 negative result, 2 usage error or unknown service,
3 cannot reach cinit or protocol error, 4 permission denied, 5 timed out;
fdstore get: 126 PROG cannot be executed, 127 PROG not found";

/// How long to wait for replies that do not depend on services.
const QUICK: Option<Duration> = Some(Duration::from_secs(10));
/// Exit status of `wait --timeout` when the time ran out.
const TIMED_OUT: u8 = 5;
/// Longest `wait --timeout` (a year): beyond, it is as good as none.
const MAX_TIMEOUT_S: u64 = 365 * 86_400;

#[derive(Debug)]
enum Command {
    Check(Option<PathBuf>),
    Send(Request),
    List,
    Pid(String),
    Analyze {
        svg: Option<PathBuf>,
        deps: bool,
    },
    Graph,
    Wait {
        names: Vec<String>,
        timeout: Option<Duration>,
    },
    Fd(FdCommand),
    Top {
        cpu: bool,
        every: Option<u32>,
    },
}

/// A `--timeout` value: seconds, decimals allowed, more than 0.
fn parse_timeout(v: &str) -> Result<Duration, String> {
    cinit::ctl::seconds::parse(v, MAX_TIMEOUT_S)
        .ok_or_else(|| format!("--timeout {v:?}: give seconds, more than 0 (e.g. 2.5)"))
}

struct Cli {
    json: bool,
    command: Command,
}

fn parse(args: Vec<std::ffi::OsString>, argv0: &str) -> Result<Option<Cli>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut json = false;
    let mut no_deps = false;
    let mut lines: Option<u32> = None;
    let mut follow = false;
    let mut timeout = None;
    let mut svg: Option<PathBuf> = None;
    let mut deps = false;
    let mut all = false;
    let mut cpu = false;
    let mut words: Vec<String> = Vec::new();
    // `fdstore`'s arguments, taken as they are (PROG's may look like ours).
    let mut fd_args: Option<Vec<std::ffi::OsString>> = None;
    let alias = match argv0 {
        "reboot" | "halt" | "poweroff" => Some(argv0.to_string()),
        _ => None,
    };
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("json") => json = true,
            Long("no-deps") => no_deps = true,
            Long("timeout") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                timeout = Some(parse_timeout(&v.string().map_err(|e| e.to_string())?)?);
            }
            Long("svg") => svg = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("deps") => deps = true,
            Long("all") => all = true,
            Long("cpu") => cpu = true,
            Short('h') | Long("help") => return Ok(None),
            Short('V') | Long("version") => {
                println!("cinit-ctl {}", cinit::version());
                // The client, not PID 1: `--version` ends it at once.
                #[allow(clippy::exit)]
                std::process::exit(0);
            }
            Short('f') | Long("force") if alias.is_some() => {}
            Short('f') | Long("follow") => follow = true,
            Short('n') | Long("lines") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let v = v.string().map_err(|e| e.to_string())?;
                let n = v
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("-n takes a number above 0, not {v:?}"))?;
                lines = Some(n);
            }
            Value(v) => {
                let word = v.string().map_err(|e| e.to_string())?;
                if words.is_empty() && alias.is_none() && word == "fdstore" {
                    fd_args = Some(parser.raw_args().map_err(|e| e.to_string())?.collect());
                }
                words.push(word);
                if fd_args.is_some() {
                    break;
                }
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    if let Some(verb) = alias {
        words.insert(0, verb);
    }
    let Some((verb, rest)) = words.split_first() else {
        return Err("no command given".to_string());
    };
    let names = rest.to_vec();
    let need_names = |names: Vec<String>| {
        if names.is_empty() {
            Err(format!("{verb}: name at least one service"))
        } else {
            Ok(names)
        }
    };
    let no_args = |c: Command| {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(format!("{verb} takes no arguments"))
        }
    };
    if no_deps && verb != "start" {
        return Err("--no-deps only goes with start".to_string());
    }
    if (follow || lines.is_some() && verb != "top") && verb != "log" {
        return Err("-n and -f only go with log (and -n with top)".to_string());
    }
    if cpu && verb != "top" {
        return Err("--cpu only goes with top".to_string());
    }
    if timeout.is_some() && verb != "wait" {
        return Err("--timeout only goes with wait".to_string());
    }
    if json && !matches!(verb.as_str(), "status" | "list" | "analyze" | "fdstore") {
        return Err("--json only goes with status, list, analyze and fdstore".to_string());
    }
    if (svg.is_some() || deps) && verb != "analyze" {
        return Err("--svg and --deps only go with analyze".to_string());
    }
    if all && verb != "signal" {
        return Err("--all only goes with signal".to_string());
    }
    if deps && svg.is_none() {
        return Err("--deps only goes with --svg FILE".to_string());
    }
    let system = |a| no_args(Command::Send(Request::System(a)));
    let command = match verb.as_str() {
        "start" => Command::Send(Request::Start {
            names: need_names(names)?,
            no_deps,
        }),
        "stop" => Command::Send(Request::Stop {
            names: need_names(names)?,
        }),
        "restart" => Command::Send(Request::Restart {
            names: need_names(names)?,
        }),
        "wait" => Command::Wait {
            names: need_names(names)?,
            timeout,
        },
        "status" => Command::Send(Request::Status { names }),
        "list" => no_args(Command::List)?,
        "pid" => match rest {
            [name] => Command::Pid(name.clone()),
            _ => return Err("pid takes exactly one service".to_string()),
        },
        "version" => no_args(Command::Send(Request::Version))?,
        "signal" | "reload" => match rest {
            [name, sig] if verb == "signal" => Command::Send(Request::Signal {
                name: name.clone(),
                signal: cinit::config::signal::parse(sig.as_bytes())
                    .ok_or_else(|| format!("{sig:?} is {}", cinit::config::signal::NOT_A_SIGNAL))?
                    as u8,
                all,
            }),
            [name] if verb == "reload" => Command::Send(Request::Reload { name: name.clone() }),
            _ => return Err(format!("{verb}: wrong arguments (see usage)")),
        },
        "log" => match rest {
            [] | [_] => Command::Send(Request::Log {
                name: rest.first().cloned(),
                lines: lines.unwrap_or(0),
                follow,
            }),
            _ => return Err("log takes at most one service".to_string()),
        },
        "reboot" => system(SystemAction::Reboot)?,
        "halt" => system(SystemAction::Halt)?,
        "poweroff" => system(SystemAction::Poweroff)?,
        "rescue" => system(SystemAction::Rescue)?,
        "update" => system(SystemAction::Update)?,
        "analyze" => no_args(Command::Analyze { svg, deps })?,
        "graph" => no_args(Command::Graph)?,
        "top" => no_args(Command::Top { cpu, every: lines })?,
        "fdstore" => Command::Fd(cinit::ctl::fdstore::parse(
            fd_args.unwrap_or_default(),
            json,
        )?),
        "check" => match rest {
            [] => Command::Check(None),
            [dir] => Command::Check(Some(PathBuf::from(dir))),
            _ => return Err("check takes at most one directory".to_string()),
        },
        other => return Err(format!("unknown command {other:?}")),
    };
    Ok(Some(Cli { json, command }))
}

fn check(dir: Option<PathBuf>) -> ExitCode {
    let base = dir.unwrap_or_else(|| Paths::from_process_env().base);
    if !base.is_dir() {
        eprintln!("cinit-ctl: {}: no such directory", base.display());
        return ExitCode::from(2);
    }
    let report = cinit::ctl::check::check(&base);
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

/// Map a reply that is not the expected kind to an exit code.
fn unexpected(reply: Reply) -> ExitCode {
    match reply {
        Reply::Error { code, message } => {
            eprintln!("cinit-ctl: {}", one_line(&message));
            ExitCode::from(code as u8)
        }
        Reply::Unsupported { .. } => {
            eprintln!("cinit-ctl: cinit does not support this request (is it an older version?)");
            ExitCode::from(3)
        }
        other => {
            eprintln!("cinit-ctl: unexpected reply: {other:?}");
            ExitCode::from(3)
        }
    }
}

/// `wait`: until every service is up or has failed (exit 0 if all are up,
/// 1 if any failed), or until `timeout` (exit 5, naming those not up yet).
fn wait(socket: &Path, names: &[String], timeout: Option<Duration>) -> ExitCode {
    let req = Request::Wait {
        names: names.to_vec(),
    };
    let list = match request(socket, &req, timeout) {
        Ok(Reply::Services(list)) => list,
        Ok(reply) => return unexpected(reply),
        Err(ClientError::TimedOut(_)) => {
            // The connection is closed, so cinit forgets the wait; ask
            // once more where the services stand.
            let waited = cinit::ctl::seconds::show(timeout.unwrap_or_default());
            let status = Request::Status {
                names: names.to_vec(),
            };
            let pending: Vec<String> = match request(socket, &status, QUICK) {
                Ok(Reply::Services(list) | Reply::Status { services: list, .. }) => list
                    .iter()
                    .filter(|s| !up(s))
                    .map(|s| format!("{} ({})", one_line(&s.name), s.state))
                    .collect(),
                _ => names.iter().map(|n| one_line(n).into_owned()).collect(),
            };
            eprintln!(
                "cinit-ctl: timed out after {waited}s; not up yet: {}",
                pending.join(", ")
            );
            return ExitCode::from(TIMED_OUT);
        }
        Err(e) => {
            eprintln!("cinit-ctl: {e}");
            return ExitCode::from(3);
        }
    };
    for s in &list {
        println!("{}", describe(s));
    }
    let failed: Vec<String> = list
        .iter()
        .filter(|s| !up(s))
        .map(|s| {
            let why = s.reason.as_deref().map(one_line).unwrap_or_default();
            format!("{} ({}: {why})", one_line(&s.name), s.state)
        })
        .collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("cinit-ctl: failed: {}", failed.join(", "));
        ExitCode::from(1)
    }
}

/// `analyze`: the report (or JSON) on stdout; with `svg`, the boot chart
/// into that file (`-`: the chart alone on stdout).
fn analyze(t: &Timeline, json: bool, svg: Option<&Path>, deps: bool) -> ExitCode {
    let chart = svg.map(|path| (path, cinit::ctl::bootchart::to_svg(t, deps)));
    if let Some((path, chart)) = &chart {
        if path.as_os_str() == "-" {
            print!("{chart}");
            return ExitCode::SUCCESS;
        }
        if let Err(e) = std::fs::write(path, chart) {
            eprintln!("cinit-ctl: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if json {
        println!("{}", cinit::control::timeline::to_json(t));
    } else {
        print!("{}", cinit::control::timeline::report(t));
    }
    if let Some((path, _)) = chart {
        eprintln!("cinit-ctl: boot chart written to {}", path.display());
    }
    ExitCode::SUCCESS
}

fn run(cli: &Cli, socket: &Path) -> ExitCode {
    // The control directory: where cinit names the base of its cgroups.
    let ctl = socket.parent().unwrap_or(socket);
    if let Command::Send(req @ Request::Log { .. }) = &cli.command {
        return cinit::ctl::log::show(req, socket, QUICK, unexpected);
    }
    if let Command::Fd(cmd) = &cli.command {
        return cinit::ctl::fdstore::run(cmd, socket, QUICK, unexpected);
    }
    let (req, timeout) = match &cli.command {
        Command::Check(_) | Command::Fd(_) => return ExitCode::from(2),
        Command::Wait { names, timeout } => return wait(socket, names, *timeout),
        Command::List | Command::Top { .. } => (Request::Status { names: vec![] }, QUICK),
        Command::Analyze { .. } | Command::Graph => (Request::Analyze, QUICK),
        Command::Pid(name) => (
            Request::Status {
                names: vec![name.clone()],
            },
            QUICK,
        ),
        Command::Send(
            r @ (Request::Start { .. } | Request::Stop { .. } | Request::Restart { .. }),
        ) => (r.clone(), None),
        Command::Send(r) => (r.clone(), QUICK),
    };
    // The connection stays open until the answer is printed (see request_held).
    let (reply, _connection) = match request_held(socket, &req, timeout) {
        // What cinit says about itself goes first: before the list for
        // `status`, to stderr where stdout must stay one line per service
        // (`list`, `--json`, `pid`).
        Ok((Reply::Status { notes, services }, connection)) => {
            let to_stdout = matches!(cli.command, Command::Send(_)) && !cli.json;
            for n in &notes {
                if to_stdout {
                    println!("cinit: {}", one_line(n));
                } else {
                    eprintln!("cinit-ctl: cinit says: {}", one_line(n));
                }
            }
            (Reply::Services(services), connection)
        }
        Ok(r) => r,
        Err(
            e @ (ClientError::Connect(_) | ClientError::Protocol(_) | ClientError::TimedOut(_)),
        ) => {
            eprintln!("cinit-ctl: {e}");
            return ExitCode::from(3);
        }
    };
    match (&cli.command, &req, reply) {
        (_, Request::Version, Reply::Version { server, protocol }) => {
            println!("cinit-ctl {}", cinit::version());
            println!("cinit {server} (protocol {protocol})");
            ExitCode::SUCCESS
        }
        (Command::List, _, Reply::Services(list)) => {
            if cli.json {
                print_json(&list, None);
            } else {
                for s in &list {
                    let pid = s.pid.map(|p| p.to_string()).unwrap_or_default();
                    println!("{:<24} {:<12} {}", one_line(&s.name), s.state, pid);
                }
            }
            ExitCode::SUCCESS
        }
        (Command::Top { cpu, every }, _, Reply::Services(list)) => {
            cinit::ctl::top::show(&list, ctl, *cpu, every.is_some())
        }
        (Command::Pid(name), _, Reply::Services(list)) => match list.first().and_then(|s| s.pid) {
            Some(pid) => {
                println!("{pid}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("cinit-ctl: {name} is not running");
                ExitCode::from(1)
            }
        },
        (_, Request::Status { .. }, Reply::Services(list)) => {
            // The figures of each service's cgroup, read here, not by cinit.
            let stats = stats_of(ctl, &list);
            if cli.json {
                print_json(&list, Some(&stats));
            } else {
                for (s, st) in list.iter().zip(&stats) {
                    println!("{}", describe_with(s, Some(st)));
                }
            }
            ExitCode::SUCCESS
        }
        (_, Request::Start { .. } | Request::Restart { .. }, Reply::Services(list)) => {
            for s in list.iter().filter(|s| s.dependent) {
                println!("{} (dependent)", describe(s));
            }
            for s in list.iter().filter(|s| !s.dependent) {
                println!("{}", describe(s));
            }
            if list.iter().all(up) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        (_, Request::Stop { .. }, Reply::Services(list)) => {
            let deps: Vec<std::borrow::Cow<str>> = list
                .iter()
                .filter(|s| s.dependent)
                .map(|s| one_line(&s.name))
                .collect();
            if !deps.is_empty() {
                println!("stopped first, because they need it: {}", deps.join(" "));
            }
            for s in &list {
                println!("{}", describe(s));
            }
            if list.iter().all(|s| s.state == "stopped") {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        (Command::Analyze { svg, deps }, _, Reply::Timeline(t)) => {
            analyze(&t, cli.json, svg.as_deref(), *deps)
        }
        (Command::Graph, _, Reply::Timeline(t)) => {
            print!("{}", cinit::ctl::dot::to_dot(&t));
            ExitCode::SUCCESS
        }
        // A system action, `signal` or `reload`: cinit's answer says what
        // was done.
        (
            _,
            req @ (Request::System(_) | Request::Signal { .. } | Request::Reload { .. }),
            Reply::Ok { message },
        ) => {
            let word = match req {
                Request::System(action) => action.word(),
                _ => "",
            };
            println!("{}", message.unwrap_or_else(|| format!("{word} requested")));
            ExitCode::SUCCESS
        }
        (_, Request::System(action), Reply::Unsupported { .. }) => {
            eprintln!("cinit-ctl: this cinit does not support {}", action.word());
            ExitCode::from(1)
        }
        (_, _, reply) => unexpected(reply),
    }
}

fn main() -> ExitCode {
    let argv0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let cli = match parse(args, &argv0) {
        Ok(Some(cli)) => cli,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("cinit-ctl: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Command::Check(dir) = cli.command {
        return check(dir);
    }
    let socket = Paths::from_process_env().ctl.join(SOCKET_NAME);
    if let Command::Top { every: Some(s), .. } = cli.command {
        return cinit::ctl::top::every(s, || run(&cli, &socket));
    }
    run(&cli, &socket)
}

// The protocol's error codes are the exit codes; keep them in step.
const _: () = assert!(
    ErrorCode::Failed as u8 == 1
        && ErrorCode::Usage as u8 == 2
        && ErrorCode::Protocol as u8 == 3
        && ErrorCode::Permission as u8 == 4
        && TIMED_OUT == 5
);
