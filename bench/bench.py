#!/usr/bin/env python3
"""`make bench`: cinit against s6, runit and the physical limit, side by side.

Every init under test runs as PID 1 of fresh user+PID+mount namespaces
(`unshare`), one system at a time, the systems alternating run by run. Each
measurement is repeated (--runs, at least 5) and reported as median and
min–max. Services run `pause` (bench/pause.c: no libc), which writes one byte
to a FIFO when it starts, so "N services running" is read from the FIFO, not
polled from /proc. Services run with cinit's defaults (a log per service),
and every init starts under the descriptor limit the kernel gives init
([`KERNEL_NOFILE`]).

The Makefile builds the helpers and passes their paths; see bench/README.md.
Results go to BENCHMARKS.md (tables, the command, the machine) and a CSV with
one row per raw measurement.
"""

import argparse
import csv
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

from report import report

UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child",
           "--mount", "--propagation", "private", "--mount-proc"]
PEERS = ["s6", "runit"]
# What the kernel gives init: RLIMIT_NOFILE 1024 soft / 4096 hard. Every
# system starts under it (prlimit around unshare), so cinit must raise its
# own soft limit as on a real boot.
KERNEL_NOFILE = (1024, 4096)
# The references between the limit and cinit (bench/limit.c): each child
# also gets what every cinit service must have before its exec (session,
# cwd, descriptor limit, signal resets, empty mask, its log pipe), and with
# "+dir" PID 1 also reads each service directory as cinit's start does.
LIMIT_SVC = {"limit-svc": "-svc", "limit-svc+dir": "-svc-dir"}
# Services from which the 10 000-service measurements use --big-runs.
BIG = 10000
# runsvdir starts at most this many runsv (its compiled-in MAXSERVICES); it
# is not asked for more.
RUNSVDIR_MAX = 1000
# Descriptors PID 1 holds per service log (the pipe's two ends), and a margin
# for its own (console, control socket, signalfd, spares).
LOG_FDS, SPARE_FDS = 2, 64


def now():
    return time.monotonic()


def pin_to_cpu0():
    """In a child before exec: run on CPU 0 only (inherited by what it
    starts)."""
    os.sched_setaffinity(0, {0})


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


def cgroup2_mount():
    """Where a cgroup2 hierarchy this process may write is mounted (the
    pure v2 /sys/fs/cgroup, or a hybrid host's /sys/fs/cgroup/unified), or
    None."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split()[:1] == ["cgroup2"]:
                    point = left.split()[4]
                    if os.access(os.path.join(point, "cgroup.procs"), os.W_OK):
                        return point
    except OSError:
        pass
    return None


class Cgroup:
    """A fresh cgroup for one init (its "cgroup it was started in"), removed
    with everything below it once the init's namespace is gone."""

    def __init__(self, root, label):
        self.root = root
        self.path = os.path.join(root, f"cinit-bench-{os.getpid()}-{label}")
        os.makedirs(self.path, exist_ok=True)

    def enter(self):
        """Move the harness itself into the cgroup, so that what it launches
        starts there: the same launch as every other system's (a
        `preexec_fn` would make Python fork instead of vfork). Returns the
        cgroup to go back to."""
        with open("/proc/self/cgroup") as f:
            back = next(line[3:].strip() for line in f if line.startswith("0::"))
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write("0")
        return back

    def leave(self, back):
        with open(os.path.join(self.root, back.lstrip("/"), "cgroup.procs"), "w") as f:
            f.write("0")

    def remove(self):
        deadline = now() + 10
        for top, dirs, _ in sorted(os.walk(self.path), key=lambda w: -w[0].count("/")):
            while True:
                try:
                    os.rmdir(top)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    # Processes still leaving: a SIGKILLed namespace empties
                    # its cgroups within moments.
                    if now() > deadline:
                        raise Fail(f"cannot remove cgroup {top}")
                    time.sleep(0.01)


class Namespace:
    """One init as PID 1 of new user+PID+mount namespaces (in `cgroup`, a
    Cgroup, if given)."""

    def __init__(self, argv, env, log, nofile, cgroup=None):
        self.log = open(log, "wb")
        self.cgroup = cgroup
        back = cgroup.enter() if cgroup else None
        self.t0 = now()
        # prlimit sets the limit and execs unshare: the same process.
        limit = ["prlimit", f"--nofile={nofile[0]}:{nofile[1]}"]
        try:
            self.proc = subprocess.Popen(limit + UNSHARE + argv, env=env,
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, cwd="/")
        finally:
            if cgroup:
                cgroup.leave(back)
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
        """Wait until unshare (and so PID 1) has exited; the time it did."""
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
                # The kernel kills the whole namespace: 20 000 processes
                # for a peer with 10 000 services take a while.
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.cgroup:
            self.cgroup.remove()


# ------------------------------------------------------------ service trees

def name(i):
    return f"s{i:04d}"


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


def tree_cinit(base, n, pause, dag=False, logs=True):
    """CINIT_DIR with svc/init wanting N respawn services of `pause`, through
    a plain wants/ directory. Each service has cinit's defaults: no
    `console`, no `log.*` file, so each has its log (a pipe, a buffer).
    dag: service i also needs (i-1)//2 and (i-1)//3, a DAG 10 levels deep
    for N=1000 in which most services share needs. logs=False: each service
    has `console` instead, where the machine cannot give PID 1 the
    descriptors of N logs (see Bench.logs)."""
    svc = os.path.join(base, "svc")
    # cinit never writes into its tree: one made by an earlier run with the
    # same parameters is used again (10 000 services are 40 000 files).
    made = os.path.join(base, ".made")
    recipe = f"{n} {pause} {dag} {logs}\n"
    try:
        with open(made) as f:
            if f.read() == recipe:
                return base
    except OSError:
        pass
    fresh(base)
    os.makedirs(os.path.join(svc, "init", "wants"))
    for i in range(n):
        d = os.path.join(svc, name(i))
        os.makedirs(d)
        os.symlink(pause, os.path.join(d, "on"))
        open(os.path.join(d, "respawn"), "w").close()
        if not logs:
            open(os.path.join(d, "console"), "w").close()
        os.symlink(f"../../{name(i)}", os.path.join(svc, "init", "wants", name(i)))
        if dag and i > 0:
            os.makedirs(os.path.join(d, "needs"))
            for j in {(i - 1) // 2, (i - 1) // 3}:
                os.symlink(f"../../{name(j)}", os.path.join(d, "needs", name(j)))
    with open(made, "w") as f:
        f.write(recipe)
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
        try:
            with open("/proc/sys/fs/nr_open") as f:
                nr_open = int(f.read())
        except (OSError, ValueError):
            nr_open = 1 << 20
        # Without CAP_SYS_RESOURCE (in a container), no hard limit above
        # our own can be set.
        own = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.max_hard = nr_open if own == resource.RLIM_INFINITY else min(nr_open, own)
        if self.has_sys_resource():
            self.max_hard = nr_open
        self.notes = []
        self.cg_root = cgroup2_mount()

    @staticmethod
    def has_sys_resource():
        """CAP_SYS_RESOURCE in our effective set: we may raise a hard limit."""
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("CapEff:"):
                        return bool(int(line.split()[1], 16) >> 24 & 1)
        except (OSError, ValueError):
            pass
        return False

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
        label = f"{tag}-{system}{'-dag' if dag else ''}-{n}"
        base = os.path.join(self.w, "trees", label)
        log = os.path.join(self.w, "logs", f"{label}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        cgroup = None
        if system == "cinit-cg":
            cgroup = Cgroup(self.cg_root, label)
        if system.startswith("cinit"):
            tree_cinit(base, n, self.pause, dag=dag, logs=self.logs(n))
            console = os.path.join(self.w, "logs", f"{label}.console")
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
        elif system in LIMIT_SVC:
            # cinit's own tree (the same directories, made once for both).
            base = tree_cinit(os.path.join(self.w, "trees", f"{tag}-cinit-{n}"), n, self.pause,
                              logs=self.logs(n))
            argv = [self.a.limit, LIMIT_SVC[system], str(n), self.pause,
                    os.path.join(base, "svc"), str(int(self.logs(n)))]
        else:
            raise Fail(system)
        if drain:
            self.ready.drain()
        ns = Namespace(argv, env, log, self.nofile(n), cgroup)
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

    # -- how many runs, which limit

    def runs_for(self, n):
        """Runs of a measurement with n services: --big-runs from BIG on."""
        return min(self.a.runs, self.a.big_runs) if n >= BIG else self.a.runs

    def nofile(self, n):
        """The descriptor limit PID 1 starts with, for n services: the
        kernel's 1024/4096. cinit holds two descriptors per service log; on
        a real boot it raises its hard limit to fs.nr_open (it has
        CAP_SYS_RESOURCE), but in the bench's user namespace it may raise
        only the soft one. So where 4096 cannot hold n logs, the hard limit
        is raised from outside, as far as cinit itself would and this
        machine allows. Every system gets the same limit."""
        soft, hard = KERNEL_NOFILE
        if LOG_FDS * n + SPARE_FDS > hard:
            hard = max(hard, self.max_hard)
        return soft, hard

    def logs(self, n):
        """Whether n services can each have their log under the highest
        limit this machine gives PID 1 (see `nofile`). Where they cannot,
        cinit's services get `console` (no log) and the report says so."""
        return LOG_FDS * n + SPARE_FDS <= self.nofile(n)[1]

    # -- 1 and 2: start N services; memory with them and idle

    def bench_start(self):
        systems = ["cinit", "cinit-dag", "s6", "runit", "limit"] + list(LIMIT_SVC)
        # cinit-cg: cinit started in a cgroup of its own, so that it gives
        # every service a cgroup (in the host's root cgroup it does not).
        if self.cg_root:
            systems.append("cinit-cg")
        else:
            self.say("start: no writable cgroup2 here: cinit-cg not measured")
        gave_up = set()   # (system, n) that did not finish once: not tried again
        for run in range(self.a.runs):
            for n in self.a.sizes:
                if run >= self.runs_for(n):
                    continue
                for system in self.order(systems, run):
                    if (system, n) in gave_up:
                        continue
                    if system == "runit" and n > RUNSVDIR_MAX:
                        if run == 0:
                            self.record("start", system, n, run, "over_limit", RUNSVDIR_MAX, "")
                        continue
                    if system == "cinit-cg" and n >= BIG:
                        continue
                    ns = self.boot("cinit" if system == "cinit-dag" else system, n, "start",
                                   dag=(system == "cinit-dag"))
                    try:
                        timeout = self.a.peer_timeout if system in PEERS else 120
                        try:
                            t = self.ready.wait(n, timeout) - ns.t0
                        except Fail as e:
                            if system not in PEERS:
                                raise
                            self.say(f"start: {system} with {n}: {e}; not tried again")
                            gave_up.add((system, n))
                            self.record("start", system, n, run, "unfinished_after", timeout, "s")
                            continue
                        self.record("start", system, n, run, "seconds", t, "s")
                        if n >= 1000 and system in ["cinit"] + PEERS:
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

    def hyperfine(self, cmds, env, run, param, runs=None, warmup=20, pin=False):
        """One hyperfine -N invocation of cmds ({label: command}) in this
        run's rotation; records each command's mean under `param`.
        pin: hyperfine and every command it starts run on CPU 0 alone
        (recorded as `pinned_mean_ms`)."""
        js = os.path.join(self.w, "hyperfine.json")
        argv = ["hyperfine", "-N", "--warmup", str(warmup), "--runs",
                str(runs or self.a.hf_runs), "--export-json", js, "--style", "none"]
        for label in self.order(list(cmds), run):
            argv += ["-n", label, cmds[label]]
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       preexec_fn=pin_to_cpu0 if pin else None)
        with open(js) as f:
            for res in json.load(f)["results"]:
                self.record("control", res["command"], param, run,
                            "pinned_mean_ms" if pin else "mean_ms", res["mean"] * 1000, "ms")

    def ipc_latency(self, ns, tag, run, pin=False, mode="latency"):
        """bench-ipc's 10 000 requests over one connection (mode `oneshot`:
        each on a connection of its own, recorded as `oneshot_p50_us`, …);
        pin: the client and cinit both on CPU 0 (`pinned_…`)."""
        out = subprocess.run([self.a.ipc, mode, self.socket(ns, tag), "s0001", "10000"],
                             capture_output=True, text=True, check=True,
                             preexec_fn=pin_to_cpu0 if pin else None)
        kv = dict(x.split("=") for x in out.stdout.split())
        prefix = ("pinned_" if pin else "") + ("oneshot_" if mode == "oneshot" else "")
        for k in ("p50_us", "p99_us"):
            self.record("ipc", "cinit", 10000, run, prefix + k, float(kv[k]), "us")

    def check_commands(self, cmds, env):
        for label, cmd in cmds.items():
            out = subprocess.run(cmd.split(), env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise Fail(f"{cmd}: exit {out.returncode}: {out.stdout}{out.stderr}")

    def bench_control(self):
        """The round trips with 10 services, and cinit's `status NAME` and
        `list` again with the largest size (two hyperfine invocations: each
        cinit is reached through its own CINIT_CTL_DIR)."""
        big = max(self.a.sizes)
        boots = {}
        try:
            self.ready.drain()
            for system in ["cinit", "s6", "runit"]:
                boots[system] = self.boot(system, 10, "rtt", drain=False)
            boots["big"] = self.boot("cinit", big, "rttbig", drain=False)
            self.ready.wait(30 + big, 120)
            self.wait_socket(boots["cinit"], "rtt")
            self.wait_socket(boots["big"], "rttbig")
            time.sleep(0.5)
            sock_dir = os.path.dirname(self.socket(boots["cinit"], "rtt"))
            big_dir = os.path.dirname(self.socket(boots["big"], "rttbig"))
            cmds = {
                "cinit-ctl status": f"{self.a.ctl} status s0001",
                "cinit-ctl list": f"{self.a.ctl} list",
                "s6-svstat": f"/usr/bin/s6-svstat {boots['s6'].base}/s0001",
                "sv status": f"/usr/bin/sv status {boots['runit'].base}/s0001",
                "no-libc noop exec": self.a.noop,
                "Rust floor exec": self.a.floor,
            }
            big_cmds = {
                "cinit-ctl status": f"{self.a.ctl} status s0001",
                "cinit-ctl list": f"{self.a.ctl} list",
                "Rust floor exec": self.a.floor,
            }
            pinned = {k: cmds[k] for k in ["cinit-ctl status", "cinit-ctl list",
                                           "no-libc noop exec", "Rust floor exec"]}
            env = dict(os.environ, CINIT_CTL_DIR=sock_dir)
            big_env = dict(os.environ, CINIT_CTL_DIR=big_dir)
            self.check_commands(cmds, env)
            self.check_commands(big_cmds, big_env)
            for run in range(self.a.runs):
                both = [(cmds, env, 10), (big_cmds, big_env, big)]
                for c, e, n in self.order(both, run):
                    # `list` of 10 000 takes tens of ms: fewer runs there.
                    self.hyperfine(c, e, run, n, runs=self.a.hf_runs if n < BIG else 50)
                self.ipc_latency(boots["cinit"], "rtt", run)
                self.ipc_latency(boots["cinit"], "rtt", run, mode="oneshot")
                # The same with the 10-service cinit and the client on one
                # CPU: no cross-CPU wakeup (see bench/README.md).
                cpus = os.sched_getaffinity(boots["cinit"].pid)
                os.sched_setaffinity(boots["cinit"].pid, {0})
                try:
                    self.hyperfine(pinned, env, run, 10, pin=True)
                    self.ipc_latency(boots["cinit"], "rtt", run, pin=True)
                    self.ipc_latency(boots["cinit"], "rtt", run, pin=True, mode="oneshot")
                finally:
                    os.sched_setaffinity(boots["cinit"].pid, cpus)
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
        """100 services for every system; the largest size for cinit only
        (the peers' shutdown does not wait for their services, and starting
        10 000 of them takes most of a minute)."""
        how = {"cinit": signal.SIGTERM, "s6": signal.SIGTERM, "runit": signal.SIGHUP}
        big = max(self.a.sizes)
        for run in range(self.a.runs):
            for n, systems in [(100, list(how)), (big, ["cinit"])]:
                if run >= self.runs_for(n):
                    continue
                for system in self.order(systems, run):
                    ns = self.boot(system, n, "shutdown")
                    try:
                        self.ready.wait(n, 120)
                        if system == "cinit":
                            self.wait_socket(ns, "shutdown")
                        time.sleep(0.3 if n <= 1000 else 1)
                        # cinit syncs before it exits: write back the trees
                        # the harness just wrote first, so that sync is not
                        # timed as cinit's.
                        os.sync()
                        t0 = now()
                        ns.signal(how[system])
                        t = ns.wait_gone(120) - t0
                        self.record("shutdown", system, n, run, "seconds", t, "s")
                        self.record("shutdown", system, n, run, "exit", ns.proc.returncode, "")
                    finally:
                        ns.kill()
        self.say("shutdown done")

    # -- 7: hot update

    def bench_update(self):
        live = os.path.join(self.w, "hot", "cinit")
        os.makedirs(os.path.dirname(live), exist_ok=True)
        self.a.cinit_for["update"] = live
        for run in range(self.a.runs):
            for n in [x for x in self.a.sizes if x >= 1000]:
                if run < self.runs_for(n):
                    self.update_once(live, n, run)
        self.say("hot update done")

    def update_once(self, live, n, run):
        shutil.copy(self.a.cinit, live + ".new")
        os.rename(live + ".new", live)
        ns = self.boot("cinit", n, "update")
        try:
            self.ready.wait(n, 120)
            self.wait_socket(ns, "update")
            time.sleep(0.3 if n <= 1000 else 1)
            before = sorted(self.pauses(ns))
            shutil.copy(self.a.alt, live + ".new")
            os.rename(live + ".new", live)
            out = subprocess.run([self.a.ipc, "update", self.socket(ns, "update"),
                                  str(ns.pid), "-alt"], capture_output=True, text=True)
            if out.returncode != 0:
                raise Fail(f"hot update: {out.stderr}")
            kv = dict(x.split("=") for x in out.stdout.split())
            self.record("update", "cinit", n, run, "seconds", float(kv["update_us"]) / 1e6, "s")
            time.sleep(0.2 if n <= 1000 else 1)
            after = sorted(self.pauses(ns))
            restarted = self.ready.drain()
            if before != after or restarted:
                raise Fail(f"hot update lost services: {len(before)} before, "
                           f"{len(after)} after, {restarted} restarted")
            self.record("update", "cinit", n, run, "services_kept", len(after), "")
        finally:
            ns.kill()

    # -- 9: cinit-ctl check

    def bench_check(self):
        """`cinit-ctl check DIR` of the start benchmark's trees (no
        namespace: it only reads), timed by hyperfine."""
        trees = {}
        for n in [x for x in self.a.sizes if x >= 1000]:
            base = tree_cinit(os.path.join(self.w, "trees", f"check-{n}"), n, self.pause)
            out = subprocess.run([self.a.ctl, "check", base], capture_output=True, text=True)
            if out.returncode != 0 or "no problems" not in out.stdout:
                raise Fail(f"cinit-ctl check {base}: exit {out.returncode}: "
                           f"{out.stdout[-500:]}{out.stderr[-500:]}")
            trees[n] = base
        for run in range(self.a.runs):
            for n, base in trees.items():
                if run >= self.runs_for(n):
                    continue
                js = os.path.join(self.w, "hyperfine.json")
                subprocess.run(["hyperfine", "-N", "--warmup", "1", "--runs",
                                str(20 if n < BIG else 5), "--export-json", js, "--style", "none",
                                f"{self.a.ctl} check {base}"], check=True, stdout=subprocess.DEVNULL)
                with open(js) as f:
                    for res in json.load(f)["results"]:
                        self.record("check", "cinit", n, run, "mean_ms", res["mean"] * 1000, "ms")
        self.say("check done")

    # -- 8: boot in QEMU

    def bench_qemu(self):
        """The sample boot under TCG (the measurement), then the same boot
        with `-icount shift=3` (for reference): the guest clock then counts
        guest instructions (8 ns each) and sleeps, so host load and the
        host CPU's speed drop out and what is left is the guest's own work."""
        for run in range(self.a.qemu_runs):
            self.qemu_boot(run, "", [])
        for run in range(min(self.a.qemu_runs, 3)):
            self.qemu_boot(run, "icount_", ["-icount", "shift=3"])
        self.say("QEMU boot done")

    def qemu_boot(self, run, prefix, extra):
        stamp = re.compile(r"^\[\s*([0-9.]+)\] cinit: (.*)$")
        log = os.path.join(self.w, "logs", f"qemu-{prefix}{run}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        open(log, "w").close()
        q = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-display", "none",
             "-no-reboot", "-serial", f"file:{log}", "-monitor", "none",
             "-kernel", self.a.kernel, "-initrd", self.a.initrd,
             "-append", "console=ttyS0 panic=-1 quiet"] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0, first, last = now(), None, None
        try:
            while last is None:
                if now() - t0 > 90 or q.poll() is not None:
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
        self.record("qemu", "cinit", 0, run, prefix + "kernel_to_init", first, "s")
        self.record("qemu", "cinit", 0, run, prefix + "init_to_up", last - first, "s")
        self.record("qemu", "cinit", 0, run, prefix + "wall_to_up", wall, "s")


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
    p.add_argument("--sizes", default=f"100,1000,{BIG}")
    p.add_argument("--big-runs", type=int, default=3,
                   help=f"runs of the measurements with {BIG} services or more")
    p.add_argument("--peer-timeout", type=float, default=180,
                   help="seconds s6 or runit may take to start N services before "
                        "it is reported as not finished")
    p.add_argument("--only", default="start,sizes,control,respawn,shutdown,update,check,qemu")
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
    for n in sorted(set(a.sizes) | {10, 100}):
        b.record("limits", "all", n, 0, "nofile_hard", b.nofile(n)[1], "")
        b.record("limits", "cinit", n, 0, "logs", int(b.logs(n)), "")
    try:
        for part in a.only.split(","):
            b.say(f"{part} …")
            t = now()
            getattr(b, f"bench_{part}")()
            b.say(f"{part}: {(now() - t) / 60:.1f} min")
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
