#!/usr/bin/env python3
"""Hot-update N services with two or more cinit builds, alternating run by
run in one session of `make bench`'s harness: whether a change moved the
update, on a machine whose speed moves between runs.

    python3 bench/abupdate.py N RUNS NAME=CINIT:ALT NAME=CINIT:ALT ...

Each CINIT boots N services and is updated to its ALT (the same code built
with a build id ending in `-alt`, as `make alt` makes it), exactly as table
7 of `make bench` does (`Bench.update_once`). Run as root from the
repository after `make bench-build`. Prints each build's median.
"""
import os
import statistics
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    n, runs = int(sys.argv[1]), int(sys.argv[2])
    pairs = [x.split("=", 1) for x in sys.argv[3:]]
    root = os.path.join(HERE, "..", "target")
    w = os.path.join(root, "bench")
    ipc = os.path.join(root, "x86_64-unknown-linux-musl", "release", "examples", "bench-ipc")
    res = {name: [] for name, _ in pairs}
    for run in range(runs):
        for name, builds in (pairs if run % 2 == 0 else pairs[::-1]):
            cinit, alt = (os.path.abspath(p) for p in builds.split(":", 1))
            a = types.SimpleNamespace(work=os.path.join(w, "abupdate"),
                                      pause=os.path.join(w, "bin", "pause"),
                                      fifo=os.path.join(w, "ready"), cinit=cinit, alt=alt,
                                      cinit_for={}, limit=os.path.join(w, "bin", "limit"),
                                      ipc=ipc, runs=1, big_runs=1)
            b = B.Bench(a)
            live = os.path.join(b.w, "hot", "cinit")
            os.makedirs(os.path.dirname(live), exist_ok=True)
            a.cinit_for["update"] = live
            b.update_once(live, n, run)
            ms = next(r[5] for r in b.rows if r[4] == "seconds") * 1000
            res[name].append(ms)
            print(f"{name} run {run}: {ms:.1f} ms", flush=True)
    for name, v in res.items():
        print(f"{name}: median {statistics.median(v):.1f} ms "
              f"(runs: {', '.join(f'{x:.1f}' for x in v)})")


if __name__ == "__main__":
    main()
