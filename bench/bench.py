#!/usr/bin/env python3
"""`make bench`: cinit against s6, runit and the physical limit, side by side.

Every init under test runs as PID 1 of fresh user+PID+mount namespaces
(`unshare`), one system at a time, the systems alternating run by run. Each
measurement is repeated (--runs, at least 5) and reported as median and
min–max. Services run `pause` (bench/pause.c: no libc), which writes one byte
to a FIFO when it starts, so "N services running" is read from the FIFO, not
polled from /proc.

The Makefile builds the helpers and passes their paths; see bench/README.md.
Results go to BENCHMARKS.md (tables, the command, the machine) and a CSV with
one row per raw measurement.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
           "--mount", "--propagation", "private", "--mount-proc"]
PEERS = ["s6", "runit"]


def now():
    return time.monotonic()


class Fail(Exception):
    pass


# ---------------------------------------------------------------- processes

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def smaps(pid):
    """(Rss, Pss) of one process in kB, from smaps_rollup."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Ready:
    """The FIFO every `pause` writes one byte to when it starts."""

    def __init__(self, path):
        if os.path.exists(path):
            os.unlink(path)
        os.mkfifo(path, 0o666)
        # O_RDWR: opening for writing never fails with ENXIO while we hold
        # it, and reads never see end-of-file.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def drain(self):
        n = 0
        while True:
            try:
                b = os.read(self.fd, 65536)
            except BlockingIOError:
                return n
            n += len(b)

    def wait(self, count, timeout):
        """Block until `count` bytes arrived; the time the last one did."""
        got, deadline = 0, now() + timeout
        while got < count:
            left = deadline - now()
            if left <= 0:
                raise Fail(f"only {got} of {count} services started within {timeout} s")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    got += len(os.read(self.fd, count - got))
                except BlockingIOError:
                    pass
        return now()


class Namespace:
    """One init as PID 1 of new user+PID+mount namespaces."""

    def __init__(self, argv, env, log):
        self.log = open(log, "wb")
        self.t0 = now()
        self.proc = subprocess.Popen(UNSHARE + argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd="/")
        self.pid = 0
        deadline = now() + 10
        want = os.path.realpath(argv[0])
        while True:
            kids = children(self.proc.pid)
            if kids and exe(kids[0]) == want:
                self.pid = kids[0]
                break
            if self.proc.poll() is not None or now() > deadline:
                raise Fail(f"{argv[0]} did not start in its namespace (see {log})")
            time.sleep(0.0002)

    def processes(self):
        return descendants(self.pid) if self.pid else []

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_gone(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"pid {self.pid} still there after {timeout} s")
        return now()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------ service trees

def name(i):
    return f"s{i:04d}"


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def tree_cinit(base, n, pause, dag=False):
    """CINIT_DIR with svc/init wanting N respawn services of `pause`.
    dag: service i also needs (i-1)//2 and (i-1)//3, a DAG 10 levels deep
    for N=1000 in which most services share needs."""
    svc = os.path.join(base, "svc")
    fresh(base)
    os.makedirs(os.path.join(svc, "init", "wants"))
    for i in range(n):
        d = os.path.join(svc, name(i))
        os.makedirs(d)
        os.symlink(pause, os.path.join(d, "on"))
        open(os.path.join(d, "respawn"), "w").close()
        os.symlink(f"../../{name(i)}", os.path.join(svc, "init", "wants", name(i)))
        if dag and i > 0:
            os.makedirs(os.path.join(d, "needs"))
            for j in {(i - 1) // 2, (i - 1) // 3}:
                os.symlink(f"../../{name(j)}", os.path.join(d, "needs", name(j)))
    return base


def tree_peer(base, n, pause):
    """A scan directory for s6-svscan or runsvdir: N dirs whose run is pause."""
    fresh(base)
    for i in range(n):
        d = os.path.join(base, name(i))
        os.makedirs(d)
        os.symlink(pause, os.path.join(d, "run"))
    return base


# --------------------------------------------------------------- the runner

class Bench:
    def __init__(self, a):
        self.a = a
        self.w = os.path.abspath(a.work)
        os.makedirs(self.w, exist_ok=True)
        self.pause = os.path.abspath(a.pause)
        self.ready = Ready(a.fifo)
        self.rows = []   # (benchmark, system, parameter, run, metric, value, unit)
        self.notes = []

    def record(self, bench, system, param, run, metric, value, unit):
        self.rows.append((bench, system, param, run, metric, value, unit))

    def values(self, bench, system, param, metric):
        return [r[5] for r in self.rows
                if r[0] == bench and r[1] == system and r[2] == param and r[4] == metric]

    def say(self, msg):
        print(f"bench: {msg}", flush=True)

    def order(self, systems, run):
        k = run % len(systems)
        return systems[k:] + systems[:k]

    # -- launching each system with N services

    def boot(self, system, n, tag, dag=False, drain=True):
        """Start `system` with n pause services; returns the Namespace.
        drain: forget what earlier services wrote to the ready FIFO."""
        base = os.path.join(self.w, "trees", f"{tag}-{system}-{n}")
        log = os.path.join(self.w, "logs", f"{tag}-{system}-{n}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if system.startswith("cinit"):
            tree_cinit(base, n, self.pause, dag=dag)
            console = os.path.join(self.w, "logs", f"{tag}-{system}-{n}.console")
            open(console, "w").close()
            ctl = os.path.join(self.w, "ctl", tag)
            os.makedirs(ctl, exist_ok=True)
            env.update(CINIT_DIR=base, CINIT_CONSOLE=console, CINIT_CTL_DIR=ctl)
            argv = [self.a.cinit_for.get(tag, self.a.cinit)]
        elif system == "s6":
            tree_peer(base, n, self.pause)
            argv = ["/usr/bin/s6-svscan", "-c", str(max(2 * n, 500)), base]
        elif system == "runit":
            tree_peer(base, n, self.pause)
            argv = ["/usr/bin/runsvdir", base]
        elif system == "limit":
            argv = [self.a.limit, str(n), self.pause]
        else:
            raise Fail(system)
        if drain:
            self.ready.drain()
        ns = Namespace(argv, env, log)
        ns.base = base
        return ns

    def socket(self, ns, tag):
        return f"/proc/{ns.pid}/root{self.w}/ctl/{tag}/control"

    def wait_socket(self, ns, tag):
        deadline = now() + 10
        while not os.path.exists(self.socket(ns, tag)):
            if now() > deadline:
                raise Fail("cinit's control socket did not appear")
            time.sleep(0.001)

    def pauses(self, ns):
        return [p for p in ns.processes() if exe(p) == self.pause]

    def memory(self, ns):
        """PID 1 (rss, pss) and the sum over every supervisor process (all
        processes of the namespace but the services themselves)."""
        procs = [p for p in ns.processes() if exe(p) != self.pause]
        one = smaps(ns.pid)
        tot = [0, 0]
        for p in procs:
            r, s = smaps(p)
            tot[0] += r
            tot[1] += s
        return one, tuple(tot), len(procs)

    # -- 1 and 2: start N services; memory with them and idle

    def bench_start(self):
        systems = ["cinit", "cinit-dag", "s6", "runit", "limit"]
        for run in range(self.a.runs):
            for n in self.a.sizes:
                for system in self.order(systems, run):
                    ns = self.boot("cinit" if system == "cinit-dag" else system, n, "start",
                                   dag=(system == "cinit-dag"))
                    try:
                        t = self.ready.wait(n, 60) - ns.t0
                        self.record("start", system, n, run, "seconds", t, "s")
                        if n == max(self.a.sizes) and system != "limit":
                            time.sleep(0.5)
                            if len(self.pauses(ns)) != n:
                                raise Fail(f"{system}: not {n} services running")
                            self.record_memory(ns, system, n, run)
                    finally:
                        ns.kill()
            self.say(f"start: run {run + 1}/{self.a.runs} done")
        for run in range(self.a.runs):
            for system in self.order(["cinit", "s6", "runit"], run):
                ns = self.boot(system, 0, "idle")
                try:
                    time.sleep(0.5)
                    self.record_memory(ns, system, 0, run)
                finally:
                    ns.kill()

    def record_memory(self, ns, system, n, run):
        one, tot, count = self.memory(ns)
        self.record("memory", system, n, run, "pid1_rss", one[0], "kB")
        self.record("memory", system, n, run, "pid1_pss", one[1], "kB")
        self.record("memory", system, n, run, "all_rss", tot[0], "kB")
        self.record("memory", system, n, run, "all_pss", tot[1], "kB")
        self.record("memory", system, n, run, "processes", count, "")

    # -- 3: binary sizes

    def bench_sizes(self):
        for label, path in [("cinit", self.a.cinit), ("cinit-ctl", self.a.ctl),
                            ("tini-static", "/usr/bin/tini-static"), ("busybox", "/bin/busybox"),
                            ("Rust floor (fn main(){})", self.a.floor),
                            ("no-libc noop (bench/noop.c)", self.a.noop)]:
            self.record("size", label, 0, 0, "bytes", os.stat(path).st_size, "B")

    # -- 4: control round trip

    def bench_control(self):
        boots = {}
        try:
            self.ready.drain()
            for system in ["cinit", "s6", "runit"]:
                boots[system] = self.boot(system, 10, "rtt", drain=False)
            self.ready.wait(30, 30)
            self.wait_socket(boots["cinit"], "rtt")
            time.sleep(0.5)
            sock_dir = os.path.dirname(self.socket(boots["cinit"], "rtt"))
            cmds = {
                "cinit-ctl status": f"{self.a.ctl} status s0001",
                "s6-svstat": f"/usr/bin/s6-svstat {boots['s6'].base}/s0001",
                "sv status": f"/usr/bin/sv status {boots['runit'].base}/s0001",
                "no-libc noop exec": self.a.noop,
                "Rust floor exec": self.a.floor,
            }
            env = dict(os.environ, CINIT_CTL_DIR=sock_dir)
            for label, cmd in cmds.items():
                out = subprocess.run(cmd.split(), env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise Fail(f"{cmd}: exit {out.returncode}: {out.stdout}{out.stderr}")
            labels = list(cmds)
            for run in range(self.a.runs):
                js = os.path.join(self.w, "hyperfine.json")
                argv = ["hyperfine", "-N", "--warmup", "20", "--runs", str(self.a.hf_runs),
                        "--export-json", js, "--style", "none"]
                order = self.order(labels, run)
                for label in order:
                    argv += ["-n", label, cmds[label]]
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
                with open(js) as f:
                    for res in json.load(f)["results"]:
                        self.record("control", res["command"], 0, run, "mean_ms",
                                    res["mean"] * 1000, "ms")
                out = subprocess.run([self.a.ipc, "latency", self.socket(boots["cinit"], "rtt"),
                                      "s0001", "10000"], capture_output=True, text=True, check=True)
                kv = dict(x.split("=") for x in out.stdout.split())
                for k in ("p50_us", "p99_us"):
                    self.record("ipc", "cinit", 10000, run, k, float(kv[k]), "us")
            self.say("control round trip done")
        finally:
            for ns in boots.values():
                ns.kill()

    # -- 5: respawn latency and the crash loop

    def bench_respawn(self):
        kills = self.a.crash_kills
        for run in range(self.a.runs):
            for system in self.order(["cinit", "s6", "runit"], run):
                ns = self.boot(system, 1, "respawn")
                try:
                    self.ready.wait(1, 10)
                    # Up for 1.5 s: past every peer's 1 s throttle, so the
                    # first restart shows the supervisor, not its policy.
                    time.sleep(1.5)
                    for k in range(kills + 1):
                        victims = self.pauses(ns)
                        if len(victims) != 1:
                            raise Fail(f"{system}: {len(victims)} services running, want 1")
                        self.ready.drain()
                        t0 = now()
                        os.kill(victims[0], signal.SIGKILL)
                        t = self.ready.wait(1, 70) - t0
                        self.record("respawn", system, k, run, "seconds", t, "s")
                finally:
                    ns.kill()
            self.say(f"respawn: run {run + 1}/{self.a.runs} done")

    # -- 6: shutdown

    def bench_shutdown(self):
        n = 100
        how = {"cinit": signal.SIGTERM, "s6": signal.SIGTERM, "runit": signal.SIGHUP}
        for run in range(self.a.runs):
            for system in self.order(list(how), run):
                ns = self.boot(system, n, "shutdown")
                try:
                    self.ready.wait(n, 30)
                    if system == "cinit":
                        self.wait_socket(ns, "shutdown")
                    time.sleep(0.3)
                    t0 = now()
                    ns.signal(how[system])
                    t = ns.wait_gone(30) - t0
                    self.record("shutdown", system, n, run, "seconds", t, "s")
                    self.record("shutdown", system, n, run, "exit", ns.proc.returncode, "")
                finally:
                    ns.kill()
        self.say("shutdown done")

    # -- 7: hot update

    def bench_update(self):
        n = max(self.a.sizes)
        live = os.path.join(self.w, "hot", "cinit")
        os.makedirs(os.path.dirname(live), exist_ok=True)
        self.a.cinit_for["update"] = live
        for run in range(self.a.runs):
            shutil.copy(self.a.cinit, live + ".new")
            os.rename(live + ".new", live)
            ns = self.boot("cinit", n, "update")
            try:
                self.ready.wait(n, 60)
                self.wait_socket(ns, "update")
                time.sleep(0.3)
                before = sorted(self.pauses(ns))
                shutil.copy(self.a.alt, live + ".new")
                os.rename(live + ".new", live)
                out = subprocess.run([self.a.ipc, "update", self.socket(ns, "update"),
                                      str(ns.pid), "-alt"], capture_output=True, text=True)
                if out.returncode != 0:
                    raise Fail(f"hot update: {out.stderr}")
                kv = dict(x.split("=") for x in out.stdout.split())
                self.record("update", "cinit", n, run, "seconds", float(kv["update_us"]) / 1e6, "s")
                time.sleep(0.2)
                after = sorted(self.pauses(ns))
                restarted = self.ready.drain()
                if before != after or restarted:
                    raise Fail(f"hot update lost services: {len(before)} before, "
                               f"{len(after)} after, {restarted} restarted")
                self.record("update", "cinit", n, run, "services_kept", len(after), "")
            finally:
                ns.kill()
        self.say("hot update done")

    # -- 8: boot in QEMU

    def bench_qemu(self):
        stamp = re.compile(r"^\[\s*([0-9.]+)\] cinit: (.*)$")
        for run in range(self.a.qemu_runs):
            log = os.path.join(self.w, "logs", f"qemu-{run}.log")
            open(log, "w").close()
            q = subprocess.Popen(
                ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-display", "none",
                 "-no-reboot", "-serial", f"file:{log}", "-monitor", "none",
                 "-kernel", self.a.kernel, "-initrd", self.a.initrd,
                 "-append", "console=ttyS0 panic=-1 quiet"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0, first, last = now(), None, None
            try:
                while last is None:
                    if now() - t0 > 60 or q.poll() is not None:
                        raise Fail(f"QEMU boot did not reach `done init` (see {log})")
                    time.sleep(0.05)
                    with open(log, errors="replace") as f:
                        for line in f:
                            m = stamp.match(line.strip())
                            if not m:
                                continue
                            if "booting as PID 1" in m.group(2):
                                first = float(m.group(1))
                            elif m.group(2) == "done init":
                                last = float(m.group(1))
                wall = now() - t0
            finally:
                q.kill()
                q.wait()
            if first is None:
                raise Fail(f"no `booting as PID 1` line in {log}")
            self.record("qemu", "cinit", 0, run, "kernel_to_init", first, "s")
            self.record("qemu", "cinit", 0, run, "init_to_up", last - first, "s")
            self.record("qemu", "cinit", 0, run, "wall_to_up", wall, "s")
        self.say("QEMU boot done")


# ------------------------------------------------------------------ report

def stats(vals):
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt_ms(s, digits=1):
    return f"{s * 1000:.{digits}f}"


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


def report(b, a, command, elapsed):
    v = b.values
    L = []
    add = L.append
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
    add(f"- Runs per measurement: {a.runs}; raw numbers: `{os.path.relpath(a.csv, a.repo)}`")
    add("- How each number is taken, and what to keep in mind: `bench/README.md`.")
    add("")

    big = max(a.sizes)
    targets = []

    add("## 1. Start N services until all are running")
    add("")
    add("From launching `unshare` until the N-th `pause` has written to the ready FIFO, in")
    add("ms. *limit* is `bench/limit.c`: PID 1 calling `vfork` + `execve` N times, nothing else.")
    add("*cinit-dag*: each service also needs two others (a DAG ten levels deep).")
    add("")
    add("| N | cinit | cinit-dag | s6-svscan | runsvdir | limit | cinit/limit | cinit/s6 | s6/cinit |")
    add("|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        c, d, s, r, lim = (v("start", x, n, "seconds") for x in
                           ["cinit", "cinit-dag", "s6", "runit", "limit"])
        add(f"| {n} | {cell(c)} | {cell(d)} | {cell(s)} | {cell(r)} | {cell(lim)} | "
            f"{ratio(c, lim)} | {ratio(c, s)} | {ratio(s, c)} |")
    c, s, lim = (v("start", x, big, "seconds") for x in ["cinit", "s6", "limit"])
    if c and lim and s:
        rl = statistics.median(c) / statistics.median(lim)
        rs = statistics.median(s) / statistics.median(c)
        targets.append((f"start {big} ≤ 1.2× the limit", f"{rl:.2f}×", rl <= 1.2))
        targets.append((f"start {big} ≥ 3× faster than s6", f"{rs:.2f}×", rs >= 3))
    add("")

    add(f"## 2. Memory: idle, and with {big} services")
    add("")
    add("kB from `/proc/PID/smaps_rollup`. *PID 1* is the init alone; *all supervisors* sums")
    add("every process of the namespace except the services (s6: s6-svscan + one")
    add("s6-supervise per service; runit: runsvdir + one runsv per service; cinit: itself).")
    add("")
    add("| system | N | PID 1 RSS | PID 1 PSS | all supervisors RSS | all supervisors PSS | processes | PSS per service |")
    add("|---|---|---|---|---|---|---|---|")
    for system in ["cinit", "s6", "runit"]:
        for n in [0, big]:
            g = lambda m: v("memory", system, n, m)  # noqa: E731
            per = "–"
            if n and g("all_pss") and v("memory", system, 0, "all_pss"):
                per = f"{(statistics.median(g('all_pss')) - statistics.median(v('memory', system, 0, 'all_pss'))) / n:.1f}"
            add(f"| {system} | {n} | {cell(g('pid1_rss'), 1, 0)} | {cell(g('pid1_pss'), 1, 0)} | "
                f"{cell(g('all_rss'), 1, 0)} | {cell(g('all_pss'), 1, 0)} | "
                f"{cell(g('processes'), 1, 0)} | {per} |")
    m = v("memory", "cinit", big, "all_rss")
    if m:
        mib = statistics.median(m) / 1024
        targets.append((f"total memory with {big} services ≤ 2 MiB (RSS)", f"{mib:.2f} MiB", mib <= 2))
    add("")

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
        if size:
            add(f"| {label} | {size[0]:,} | {size[0] / floor[0]:.2f} |")
    for label, limit in [("cinit", 600_000), ("cinit-ctl", 450_000)]:
        size = v("size", label, 0, "bytes")
        if size:
            targets.append((f"{label} ≤ {limit // 1000} kB stripped", f"{size[0]:,} B", size[0] <= limit))
    add(f"")
    add(f"Target: {a.target}.")
    add("")

    add("## 4. Control round trip")
    add("")
    add(f"`hyperfine -N --warmup 20 --runs {a.hf_runs}`, one invocation per run with the")
    add("commands in rotating order; cells are the median (min–max) of the per-run means,")
    add("in ms. Each system supervises 10 services; the client asks for one.")
    add("")
    add("| command | mean ms | × no-libc noop | × Rust floor |")
    add("|---|---|---|---|")
    noop = v("control", "no-libc noop exec", 0, "mean_ms")
    rfl = v("control", "Rust floor exec", 0, "mean_ms")
    for label in ["cinit-ctl status", "s6-svstat", "sv status", "no-libc noop exec", "Rust floor exec"]:
        x = v("control", label, 0, "mean_ms")
        add(f"| `{label}` | {cell(x, 1, 3)} | {ratio(x, noop)} | {ratio(x, rfl)} |")
    add("")
    add("Raw IPC, in-process (`bench/ipc.rs`): 10 000 `STATUS s0001` requests one after the")
    add("other over one connection, µs per request:")
    add("")
    add("| | p50 µs | p99 µs |")
    add("|---|---|---|")
    add(f"| cinit | {cell(v('ipc', 'cinit', 10000, 'p50_us'), 1, 1)} | "
        f"{cell(v('ipc', 'cinit', 10000, 'p99_us'), 1, 1)} |")
    x = v("control", "cinit-ctl status", 0, "mean_ms")
    if x and rfl:
        r = statistics.median(x) / statistics.median(rfl)
        targets.append(("status round trip ≤ 1.2× a static no-op exec (Rust floor)", f"{r:.2f}×", r <= 1.2))
    if x and noop:
        r = statistics.median(x) / statistics.median(noop)
        targets.append(("status round trip ≤ 1.2× a static no-op exec (no-libc noop)", f"{r:.2f}×", r <= 1.2))
    add("")

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
    x = v("respawn", "cinit", 0, "seconds")
    if x:
        ms = statistics.median(x) * 1000
        targets.append(("first restart ≤ 5 ms", f"{ms:.2f} ms", ms <= 5))
    add("")

    add("## 6. Shutdown of 100 running services")
    add("")
    add("From the signal until `unshare` has reaped PID 1, in ms. The services are `pause`,")
    add("which dies of SIGTERM. cinit: SIGTERM (power off: stop every service in reverse")
    add("dependency order, TERM/KILL what is left, sync, exit). s6-svscan: SIGTERM. runsvdir:")
    add("SIGHUP (TERM to every runsv, then exit). Neither peer waits for its services: once")
    add("PID 1 exits, the kernel SIGKILLs the rest of the namespace.")
    add("")
    add("| cinit | s6-svscan | runsvdir |")
    add("|---|---|---|")
    add("| " + " | ".join(cell(v("shutdown", x, 100, "seconds")) for x in ["cinit", "s6", "runit"]) + " |")
    x = v("shutdown", "cinit", 100, "seconds")
    if x:
        ms = statistics.median(x) * 1000
        targets.append(("shutdown of 100 services ≤ 50 ms", f"{ms:.1f} ms", ms <= 50))
    add("")

    add(f"## 7. Hot update with {big} services")
    add("")
    add("From SIGCONT until the new image (a second build, with another build id) answers")
    add("`VERSION` on a connection opened before the signal, in ms. Every run also checks")
    add(f"that the same {big} service processes run afterwards and none was restarted.")
    add("")
    add("| cinit | services kept |")
    add("|---|---|")
    x = v("update", "cinit", big, "seconds")
    kept = v("update", "cinit", big, "services_kept")
    add(f"| {cell(x)} | {min(kept) if kept else '–'} |")
    if x:
        ms = statistics.median(x) * 1000
        targets.append((f"hot update of {big} ≤ 20 ms", f"{ms:.1f} ms", ms <= 20))
    add("")

    add("## 8. Boot of the sample system in QEMU")
    add("")
    add("Guest time from cinit's first console line to `done init` (every sample service")
    add("up), from its own timestamps; TCG emulation, so a trend only, not a speed.")
    add("")
    add("| kernel start → cinit (s) | cinit → all up (ms) | host wall clock, QEMU start → all up (s) |")
    add("|---|---|---|")
    add(f"| {cell(v('qemu', 'cinit', 0, 'kernel_to_init'), 1, 3)} | "
        f"{cell(v('qemu', 'cinit', 0, 'init_to_up'))} | {cell(v('qemu', 'cinit', 0, 'wall_to_up'), 1, 2)} |")
    add("")

    add("## Targets")
    add("")
    add("| target | measured (median) | met |")
    add("|---|---|---|")
    for t, m, ok in targets:
        add(f"| {t} | {m} | {'yes' if ok else '**no**'} |")
    add("")
    if a.analysis and os.path.exists(a.analysis):
        with open(a.analysis) as f:
            add(f.read().rstrip())
        add("")
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--cinit", required=True)
    p.add_argument("--alt", required=True, help="cinit built with build id ending in -alt")
    p.add_argument("--ctl", required=True)
    p.add_argument("--ipc", required=True)
    p.add_argument("--floor", required=True)
    p.add_argument("--pause", required=True)
    p.add_argument("--fifo", required=True, help="the READY_FIFO pause was built with")
    p.add_argument("--noop", required=True)
    p.add_argument("--limit", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--target", default="?")
    p.add_argument("--out", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--analysis", help="text appended to the report (what remains and why)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--hf-runs", type=int, default=200)
    p.add_argument("--qemu-runs", type=int, default=5)
    p.add_argument("--crash-kills", type=int, default=6)
    p.add_argument("--sizes", default="100,1000")
    p.add_argument("--only", default="start,sizes,control,respawn,shutdown,update,qemu")
    p.add_argument("--command", default="make bench")
    p.add_argument("--from-csv", help="only write the report, from this CSV of an earlier run")
    a = p.parse_args()
    a.sizes = [int(x) for x in a.sizes.split(",")]
    for k in ["work", "cinit", "alt", "ctl", "ipc", "floor", "pause", "fifo", "noop", "limit",
              "kernel", "initrd", "out", "csv", "repo"]:
        setattr(a, k, os.path.abspath(getattr(a, k)))
    a.cinit_for = {}
    out = subprocess.run([a.ctl, "--version"], capture_output=True, text=True).stdout.split()
    a.cinit_version = " ".join(out[1:]) or "?"
    if os.geteuid() != 0:
        sys.exit("bench: run as root (unshare --map-root-user must map uid 0)")
    b = Bench(a)
    t0 = now()
    if a.from_csv:
        with open(a.from_csv) as f:
            for r in csv.DictReader(f):
                value = float(r["value"])
                b.record(r["benchmark"], r["system"], int(r["parameter"]), int(r["run"]),
                         r["metric"], int(value) if value.is_integer() else value, r["unit"])
        report(b, a, a.command, 0)
        return
    try:
        for part in a.only.split(","):
            b.say(f"{part} …")
            getattr(b, f"bench_{part}")()
    except Fail as e:
        sys.exit(f"bench: {e}")
    else:
        b.record("harness", "all", 0, 0, "minutes", round((now() - t0) / 60, 1), "min")
    finally:
        os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["benchmark", "system", "parameter", "run", "metric", "value", "unit"])
            w.writerows(b.rows)
    report(b, a, a.command, now() - t0)
    b.say(f"wrote {a.out} and {a.csv} in {(now() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
