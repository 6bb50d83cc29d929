#!/usr/bin/env python3
"""Start N services with two or more cinit binaries, alternating run by run
in one session of `make bench`'s harness, against the limit: whether a
change moved the start, on a machine whose speed moves between runs.

    python3 bench/ab.py N RUNS NAME=CINIT NAME=CINIT ...

Run as root from the repository after `make bench-build` (it uses
target/bench's pause, ready FIFO and limit). Prints each binary's median
and its ratio to the limit's median.
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
    bins = dict(x.split("=", 1) for x in sys.argv[3:])
    bins = {k: os.path.abspath(v) for k, v in bins.items()}
    w = os.path.join(HERE, "..", "target", "bench")
    a = types.SimpleNamespace(work=os.path.join(w, "ab"), pause=os.path.join(w, "bin", "pause"),
                              fifo=os.path.join(w, "ready"), cinit=next(iter(bins.values())),
                              cinit_for=bins, limit=os.path.join(w, "bin", "limit"),
                              runs=runs, big_runs=runs)
    b = B.Bench(a)
    res = {k: [] for k in list(bins) + ["limit"]}
    for run in range(runs):
        for system in b.order(list(bins) + ["limit"], run):
            # The name doubles as the tag that picks its binary (cinit_for).
            ns = b.boot("limit", n, "L") if system == "limit" else b.boot("cinit", n, system)
            try:
                res[system].append(b.ready.wait(n, 120) - ns.t0)
            finally:
                ns.kill()
    lim = statistics.median(res["limit"])
    for k, v in res.items():
        print(f"{k}: median {statistics.median(v) * 1000:.1f} ms, "
              f"{statistics.median(v) / lim:.3f}× the limit "
              f"(runs: {', '.join(f'{x * 1000:.1f}' for x in v)})")


if __name__ == "__main__":
    main()
