"""The report of `make bench`: BENCHMARKS.md from the recorded measurements.

`report(b, a, command, elapsed)` writes the tables, then the targets of
issue 20 with the measured median and met / not met, the machine and the
commit, then bench/analysis.md. It reads measurements only through
`b.values(benchmark, system, parameter, metric)`, so a report can be
rewritten from the CSV of an earlier run (`bench.py --from-csv`). A target
whose measurement is not in this run says so instead of a verdict.
"""

import datetime
import os
import platform
import statistics
import subprocess

BIG = 10000


def stats(vals):
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def med(vals):
    return statistics.median(vals) if vals else None


def cell(vals, scale=1000.0, digits=1):
    st = stats(vals)
    if st is None:
        return "–"
    m, lo, hi = (v * scale for v in st)
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def ratio(a, b):
    if not a or not b:
        return "–"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


def versions():
    out = []
    for pkg in ["s6", "runit", "tini", "busybox-static", "hyperfine", "qemu-system-x86"]:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           capture_output=True, text=True)
        out.append(f"{pkg} {r.stdout.strip() or '?'}")
    return ", ".join(out)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}"


def n_label(n):
    return f"{n:,}".replace(",", " ")


class Targets:
    """The issue's targets, each a row of parts: (what, measured, met), with
    measured None when this run has no such measurement."""

    def __init__(self):
        self.rows = []

    def add(self, number, figure, target, parts, judged=""):
        """judged: how the verdict is reached (which measurement, which
        statistic). A part whose `ok` is None is shown for reference and
        gets no verdict."""
        self.rows.append((number, figure, target, parts, judged))

    def lines(self):
        out = ["| # | figure | target | how judged | measured (median) | met |",
               "|---|---|---|---|---|---|"]
        for k, figure, target, parts, judged in sorted(self.rows, key=lambda r: r[0]):
            shown, verdicts = [], []
            for what, measured, ok in parts:
                prefix = f"{what}: " if what else ""
                if measured is None:
                    shown.append(f"{prefix}not measured in this run")
                    if ok is not None:
                        verdicts.append("–")
                elif ok is None:
                    shown.append(f"({prefix}{measured}, for reference)")
                else:
                    shown.append(f"{prefix}{measured}")
                    verdicts.append("yes" if ok else "**no**")
            out.append(f"| {k} | {figure} | {target} | {judged} | {'; '.join(shown)} | "
                       f"{' / '.join(verdicts)} |")
        return out


def report(b, a, command, elapsed):
    v = b.values
    L = []
    add = L.append
    sizes = a.sizes
    big = max(sizes)
    large = [n for n in sizes if n >= 1000]
    big_runs = min(a.runs, a.big_runs)
    add("# Benchmarks")
    add("")
    add("cinit against s6, runit and the physical limit, measured in one run on one")
    add("machine, every init as PID 1 of its own user+PID+mount namespaces, the systems")
    add("alternating run by run. This machine is shared and noisy: read the ratios, not")
    add("the absolute times. Cells are *median (min–max)* over the runs.")
    add("")
    minutes = v("harness", "all", 0, "minutes")
    add(f"- Command: `{command}` ({minutes[0] if minutes else elapsed / 60:.1f} min)")
    add(f"- Date: {datetime.date.today().isoformat()}; machine: {machine()}")
    add(f"- cinit {a.cinit_version}; peers from Debian: {versions()}")
    add(f"- Runs per measurement: {a.runs}, {big_runs} with {n_label(BIG)} services or more; "
        f"raw numbers: `{os.path.relpath(a.csv, a.repo)}`")
    add("- Services run with cinit's defaults (a log each); every init starts under "
        "`prlimit --nofile=1024:4096`, the kernel's limit for init (see `bench/README.md`).")
    add("- How each number is taken, and what to keep in mind: `bench/README.md`.")
    add("")
    t = Targets()

    def nolog(n):
        return v("limits", "cinit", n, "logs") == [0]

    def part(what, value, fmt, limit, n=None):
        """A target part: value (or None) shown with fmt, met when ≤ limit
        (limit None: shown for reference, no verdict); marked † when
        measured with n services without logs."""
        if value is None:
            return (what, None, None if limit is None else False)
        ok = None if limit is None else value <= limit
        return (what, fmt(value) + (" †" if n and nolog(n) else ""), ok)

    for n in sizes:
        if nolog(n):
            hard = v("limits", "all", n, "nofile_hard")
            hard = f"{hard[0]:,}" if hard else "?"
            add(f"**† With {n_label(n)} services, cinit's services had no log** (`console`):")
            add(f"{n_label(n)} logs need {2 * n + 64:,} descriptors in PID 1, and this machine lets")
            add(f"PID 1 have at most {hard} (no CAP_SYS_RESOURCE here; on a real boot cinit")
            add("raises its limit to `fs.nr_open`). Every cinit figure in the tables with that")
            add("many services was taken so; the targets table marks them †.")
            add("")

    add("## 1. Start N services until all are running")
    add("")
    add("From launching `unshare` until the N-th `pause` has written to the ready FIFO, in")
    add("ms. *limit* is `bench/limit.c`: PID 1 calling `vfork` + `execve` N times, nothing else.")
    add("*limit-svc* is the same program giving each child what every cinit service must have")
    add("before its exec (its log pipe, session, service directory as cwd, the original")
    add("descriptor limit, signal resets, empty mask), the way cinit does it; *limit-svc+dir*")
    add("also reads each service directory as cinit's start does (`bench/README.md`).")
    add("*cinit-dag*: each service also needs two others (a DAG ten levels deep at 1000).")
    add("")
    add("| N | cinit | cinit-dag | s6-svscan | runsvdir | limit | limit-svc | limit-svc+dir "
        "| cinit/limit | cinit/limit-svc | cinit/limit-svc+dir | cinit/s6 | s6/cinit |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def start_cell(system, n):
        x = v("start", system, n, "seconds")
        gone = v("start", system, n, "unfinished_after")
        cap = v("start", system, n, "over_limit")
        if cap and not x:
            return f"not run: supervises at most {cap[0]:.0f}"
        if gone and not x:
            return f"did not finish in {gone[0]:.0f} s"
        return cell(x)

    for n in sizes:
        c, s, lim, svc, svcdir = (v("start", x, n, "seconds") for x in
                                  ["cinit", "s6", "limit", "limit-svc", "limit-svc+dir"])
        add(f"| {n_label(n)} | " + " | ".join(start_cell(x, n) for x in
                                       ["cinit", "cinit-dag", "s6", "runit", "limit",
                                        "limit-svc", "limit-svc+dir"]) +
            f" | {ratio(c, lim)} | {ratio(c, svc)} | {ratio(c, svcdir)} | {ratio(c, s)} "
            f"| {ratio(s, c)} |")
    add("")
    cg_rows = [(n, v("start", "cinit-cg", n, "seconds"), v("start", "cinit", n, "seconds"))
               for n in sizes]
    cg_rows = [(n, g, c) for n, g, c in cg_rows if g and c]
    if cg_rows:
        add("*cinit-cg*: the same cinit and tree, started in a cgroup of its own (a child of")
        add("the writable cgroup2 hierarchy here), so that it makes a cgroup for every service")
        add("and starts each service in it; *cinit* above was started in the host's root")
        add("cgroup, where it keeps to process groups. The difference is the cgroup's own cost.")
        add("")
        add("| N | cinit-cg | cinit | cinit-cg ÷ cinit | cost per service |")
        add("|---|---|---|---|---|")
        for n, g, c in cg_rows:
            per = (med(g) - med(c)) / n * 1e6
            add(f"| {n_label(n)} | {cell(g)} | {cell(c)} | {ratio(g, c)} | {per:+.1f} µs |")
        add("")
    for k, (n, limit) in enumerate([(1000, 1.2), (BIG, 1.3)]):
        c, lim, svc = (v("start", x, n, "seconds") for x in ["cinit", "limit", "limit-svc"])
        r = med(c) / med(lim) if c and lim else None
        r_svc = med(c) / med(svc) if c and svc else None
        t.add(1 + k, f"start {n_label(n)} services, × the limit", f"≤ {limit}×",
              [part("", r, lambda x: f"{x:.2f}×", limit, n),
               part("cinit ÷ limit-svc", r_svc, lambda x: f"{x:.2f}×", None, n)],
              "median start time (table 1) of cinit ÷ that of limit; ÷ limit-svc: the part "
              "of it that is not work every service must have")

    add(f"## 2. Memory: idle, and with {', '.join(n_label(n) for n in large)} services")
    add("")
    add("kB from `/proc/PID/smaps_rollup`, 0.5 s after the last service started. *PID 1* is")
    add("the init alone; *all supervisors* sums every process of the namespace except the")
    add("services (s6: s6-svscan + one s6-supervise per service; runit: runsvdir + one runsv")
    add("per service; cinit: itself).")
    add("")
    add("| system | N | PID 1 RSS | PID 1 PSS | all supervisors RSS | all supervisors PSS | processes | PSS per service |")
    add("|---|---|---|---|---|---|---|---|")
    for system in ["cinit", "s6", "runit"]:
        for n in [0] + large:
            g = lambda m: v("memory", system, n, m)  # noqa: E731
            if n and not g("pid1_rss"):
                continue
            per = "–"
            idle = v("memory", system, 0, "all_pss")
            if n and g("all_pss") and idle:
                per = f"{(med(g('all_pss')) - med(idle)) / n:.1f}"
            add(f"| {system} | {n_label(n)} | {cell(g('pid1_rss'), 1, 0)} | {cell(g('pid1_pss'), 1, 0)} | "
                f"{cell(g('all_rss'), 1, 0)} | {cell(g('all_pss'), 1, 0)} | "
                f"{cell(g('processes'), 1, 0)} | {per} |")
    add("")
    rss = lambda n: med(v("memory", "cinit", n, "pid1_rss"))  # noqa: E731
    t.add(3, "PID 1 RSS: idle / 1000 / 10 000 services", "≤ 512 kB / 2 MiB / 20 MiB",
          [part("idle", rss(0), lambda x: f"{x:.0f} kB", 512),
           part("1000", rss(1000), lambda x: f"{x / 1024:.2f} MiB", 2048),
           part(n_label(BIG), rss(BIG), lambda x: f"{x / 1024:.2f} MiB", 20 * 1024, BIG)],
          "median PID 1 RSS (table 2), 1 MiB = 1024 kB")

    add("## 3. Binary size")
    add("")
    add("Stripped, static, x86-64, in bytes. The Rust floor is `bench/floor.rs`, built with")
    add("cinit's own profile and target.")
    add("")
    add("| binary | bytes | × Rust floor |")
    add("|---|---|---|")
    floor = v("size", "Rust floor (fn main(){})", 0, "bytes")
    for label in ["cinit", "cinit-ctl", "tini-static", "busybox", "Rust floor (fn main(){})",
                  "no-libc noop (bench/noop.c)"]:
        size = v("size", label, 0, "bytes")
        if size and floor:
            add(f"| {label} | {size[0]:,} | {size[0] / floor[0]:.2f} |")
    add("")
    add(f"Target: {a.target}.")
    add("")
    size = lambda label: med(v("size", label, 0, "bytes"))  # noqa: E731
    t.add(4, "stripped static binaries: cinit / cinit-ctl", "≤ 600 KiB / 450 KiB",
          [part("cinit", size("cinit"), lambda x: f"{x:,.0f} B", 600 * 1024),
           part("cinit-ctl", size("cinit-ctl"), lambda x: f"{x:,.0f} B", 450 * 1024)],
          "bytes of the stripped binaries (table 3), 1 KiB = 1024 B")

    add("## 4. Control round trip")
    add("")
    add(f"`hyperfine -N --warmup 20 --runs {a.hf_runs}` (50 with {n_label(BIG)} services), one invocation per run with the")
    add("commands in rotating order; cells are the median (min–max) of the per-run means,")
    add("in ms. Each system supervises 10 services; the client asks for one. A second")
    add(f"cinit supervises {n_label(big)} services, timed in its own invocation (each cinit")
    add("is reached through its own `CINIT_CTL_DIR`) with the Rust floor again beside it.")
    add("")
    add("*Pinned*: the same 10-service cinit and hyperfine with what it starts, all on")
    add("CPU 0 (`sched_setaffinity`), in an invocation of its own after the unpinned one:")
    add("no cross-CPU wakeup between client and server.")
    add("")
    add(f"| command | 10 services | × no-libc noop | × Rust floor | pinned | × Rust floor, pinned | "
        f"{n_label(big)} services | × Rust floor |")
    add("|---|---|---|---|---|---|---|---|")
    noop = v("control", "no-libc noop exec", 10, "mean_ms")
    rfl = v("control", "Rust floor exec", 10, "mean_ms")
    rfl_pin = v("control", "Rust floor exec", 10, "pinned_mean_ms")
    rfl_big = v("control", "Rust floor exec", big, "mean_ms")
    for label in ["cinit-ctl status", "cinit-ctl list", "s6-svstat", "sv status",
                  "no-libc noop exec", "Rust floor exec"]:
        x = v("control", label, 10, "mean_ms")
        p = v("control", label, 10, "pinned_mean_ms")
        y = v("control", label, big, "mean_ms")
        add(f"| `{label}` | {cell(x, 1, 3)} | {ratio(x, noop)} | {ratio(x, rfl)} | "
            f"{cell(p, 1, 3) if p else '–'} | {ratio(p, rfl_pin) if p else '–'} | "
            f"{cell(y, 1, 3) if y else '–'} | {ratio(y, rfl_big) if y else '–'} |")
    add("")
    add("Raw IPC, in-process (`bench/ipc.rs`): 10 000 `STATUS s0001` requests one after the")
    add("other over one connection, µs per request (the target's measurement); *a")
    add("connection each*: connect, request, reply and close per request, what")
    add("`cinit-ctl status` does after its start-up; *pinned*: client and cinit on CPU 0:")
    add("")
    add("| | p50 µs | p99 µs |")
    add("|---|---|---|")
    for label, pre in [("cinit", ""), ("cinit, pinned", "pinned_"),
                       ("cinit, a connection each", "oneshot_"),
                       ("cinit, a connection each, pinned", "pinned_oneshot_")]:
        if v("ipc", "cinit", 10000, pre + "p99_us"):
            add(f"| {label} | {cell(v('ipc', 'cinit', 10000, pre + 'p50_us'), 1, 1)} | "
                f"{cell(v('ipc', 'cinit', 10000, pre + 'p99_us'), 1, 1)} |")
    add("")
    st10 = v("control", "cinit-ctl status", 10, "mean_ms")
    st_big = v("control", "cinit-ctl status", BIG, "mean_ms")
    r10 = med(st10) / med(rfl) if st10 and rfl else None
    r_big = med(st_big) / med(st10) if st_big and st10 else None
    st_pin = v("control", "cinit-ctl status", 10, "pinned_mean_ms")
    rfl_pin = v("control", "Rust floor exec", 10, "pinned_mean_ms")
    r_pin = med(st_pin) / med(rfl_pin) if st_pin and rfl_pin else None
    t.add(5, "`cinit-ctl status NAME`, whole process, × the Rust floor's exec",
          "≤ 1.2× (and equal at 10 and 10 000 services)",
          [part("× floor", r10, lambda x: f"{x:.2f}×", 1.2),
           part(f"{n_label(BIG)} / 10 services", r_big, lambda x: f"{x:.2f}×", 1.1, BIG),
           part("pinned × floor", r_pin, lambda x: f"{x:.2f}×", None)],
          "median per-run hyperfine mean of `status` ÷ that of the Rust floor, "
          "10 services, unpinned (table 4); equal: the median at 10 000 ≤ 1.1× "
          "the one at 10; the pinned ratio, client and cinit on CPU 0, shows "
          "what a cross-CPU wakeup adds")
    t.add(6, "raw IPC, one connection: p99", "≤ 50 µs",
          [part("", med(v("ipc", "cinit", 10000, "p99_us")), lambda x: f"{x:.1f} µs", 50),
           part("pinned", med(v("ipc", "cinit", 10000, "pinned_p99_us")),
                lambda x: f"{x:.1f} µs", None)],
          "median over the runs of bench-ipc's p99, client and cinit free to run on "
          "any CPU (table 4); the pinned figure, both on CPU 0, shows what a "
          "cross-CPU wakeup adds")

    add("## 5. Respawn latency")
    add("")
    add("SIGKILL the service, until its replacement has written to the ready FIFO, in ms.")
    add("Kill 0 comes after the service ran 1.5 s (past every throttle); kills 1… follow")
    add("each restart at once: the crash-loop curve. cinit restarts at once, then backs off")
    add("0.1 s doubling; s6-supervise and runsv wait until 1 s has passed since the last")
    add("start, their fixed throttle.")
    add("")
    add("| kill | cinit | s6-supervise | runsv |")
    add("|---|---|---|---|")
    for k in range(a.crash_kills + 1):
        add(f"| {k} | " + " | ".join(cell(v("respawn", x, k, "seconds"))
                                     for x in ["cinit", "s6", "runit"]) + " |")
    add("")
    first = med(v("respawn", "cinit", 0, "seconds"))
    t.add(7, "first restart after a crash", "≤ 1 ms",
          [part("", None if first is None else first * 1000, lambda x: f"{x:.2f} ms", 1)],
          "median of kill 0 (table 5)")

    add(f"## 6. Shutdown of 100 and {n_label(big)} running services")
    add("")
    add("From the signal until `unshare` has reaped PID 1, in ms. The services are `pause`,")
    add("which dies of SIGTERM. cinit: SIGTERM (power off: stop every service in reverse")
    add("dependency order, TERM/KILL what is left, sync, exit). s6-svscan: SIGTERM. runsvdir:")
    add("SIGHUP (TERM to every runsv, then exit). Neither peer waits for its services: once")
    add(f"PID 1 exits, the kernel SIGKILLs the rest of the namespace. With {n_label(big)}")
    add("services, cinit alone.")
    add("")
    add("| N | cinit | s6-svscan | runsvdir |")
    add("|---|---|---|---|")
    for n in sorted({100, big}):
        add(f"| {n_label(n)} | " + " | ".join(cell(v("shutdown", x, n, "seconds"))
                                           for x in ["cinit", "s6", "runit"]) + " |")
    add("")
    sd = lambda n: med(v("shutdown", "cinit", n, "seconds"))  # noqa: E731
    t.add(9, "shutdown of 100 / 10 000 TERM-honouring services", "≤ 20 ms / 1 s",
          [part("100", None if sd(100) is None else sd(100) * 1000, lambda x: f"{x:.1f} ms", 20),
           part(n_label(BIG), sd(BIG), lambda x: f"{x * 1000:.0f} ms", 1, BIG)],
          "median shutdown time (table 6)")

    add(f"## 7. Hot update with {', '.join(n_label(n) for n in large)} services")
    add("")
    add("From SIGCONT until the new image (a second build, with another build id) answers")
    add("`VERSION` on a connection opened before the signal, in ms. Every run also checks")
    add("that the same service processes run afterwards and none was restarted.")
    add("")
    add("| N | cinit | services kept |")
    add("|---|---|---|")
    for n in large:
        kept = v("update", "cinit", n, "services_kept")
        add(f"| {n_label(n)} | {cell(v('update', 'cinit', n, 'seconds'))} | "
            f"{min(kept) if kept else '–'} |")
    add("")
    up = lambda n: med(v("update", "cinit", n, "seconds"))  # noqa: E731
    t.add(8, "hot update: 1000 / 10 000 services", "≤ 5 ms / 50 ms",
          [part("1000", None if up(1000) is None else up(1000) * 1000, lambda x: f"{x:.1f} ms", 5),
           part(n_label(BIG), None if up(BIG) is None else up(BIG) * 1000,
                lambda x: f"{x:.1f} ms", 50, BIG)],
          "median update time (table 7)")

    add("## 8. Boot of the sample system in QEMU")
    add("")
    add("Guest time from cinit's first console line to `done init` (every sample service")
    add("up), from its own timestamps; TCG emulation, so a trend only, not a speed.")
    add("*Instruction clock*: the same boot with `-icount shift=3`, for reference: the")
    add("guest clock advances 8 ns per guest instruction (and while the guest sleeps),")
    add("so the host's load and speed drop out; one vCPU, so it is the work of cinit,")
    add("the sample services and the kernel together (see the analysis below).")
    add("")
    add("| boot | kernel start → cinit (s) | cinit → all up (ms) | host wall clock, QEMU start → all up (s) |")
    add("|---|---|---|---|")
    for label, pre in [("TCG (the measurement)", ""), ("TCG, instruction clock", "icount_")]:
        if not v("qemu", "cinit", 0, pre + "init_to_up"):
            continue
        add(f"| {label} | {cell(v('qemu', 'cinit', 0, pre + 'kernel_to_init'), 1, 3)} | "
            f"{cell(v('qemu', 'cinit', 0, pre + 'init_to_up'))} | "
            f"{cell(v('qemu', 'cinit', 0, pre + 'wall_to_up'), 1, 2)} |")
    add("")
    boot = med(v("qemu", "cinit", 0, "init_to_up"))
    icount = med(v("qemu", "cinit", 0, "icount_init_to_up"))

    add("## 9. `cinit-ctl check`")
    add("")
    add("`hyperfine -N --warmup 1` of `cinit-ctl check DIR` on the start benchmark's tree")
    add(f"(20 runs per invocation below {n_label(BIG)} services, 5 from there), in ms.")
    add("")
    add("| N | cinit-ctl check |")
    add("|---|---|")
    for n in large:
        add(f"| {n_label(n)} | {cell(v('check', 'cinit', n, 'mean_ms'), 1, 1)} |")
    add("")
    ck = lambda n: med(v("check", "cinit", n, "mean_ms"))  # noqa: E731
    t.add(10, "`cinit-ctl check`: 1000 / 10 000 services", "≤ 50 ms / 1 s",
          [part("1000", ck(1000), lambda x: f"{x:.1f} ms", 50),
           part(n_label(BIG), ck(BIG), lambda x: f"{x:.0f} ms", 1000)],
          "median of the per-run hyperfine means (table 9)")
    t.add(11, "QEMU sample boot, cinit's start → all up (guest clock)", "≤ 200 ms",
          [part("", None if boot is None else boot * 1000, lambda x: f"{x:.0f} ms", 200),
           part("instruction clock", None if icount is None else icount * 1000,
                lambda x: f"{x:.0f} ms", None)],
          "median of cinit → all up, the main row of table 8 (TCG, guest clock); "
          "the other rows are for reference")

    add("## Targets")
    add("")
    add(f"Issue 20's targets, from the medians above. Machine: {machine()}; "
        f"cinit {a.cinit_version}.")
    add("")
    L.extend(t.lines())
    add("")
    if a.analysis and os.path.exists(a.analysis):
        with open(a.analysis) as f:
            add(f.read().rstrip())
        add("")
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")
