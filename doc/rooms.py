#!/usr/bin/env python3
"""Check that src/'s rooms import each other only downwards.

Each folder of src/ is a room; a room may use another only if that room
sits on a lower floor (FLOORS below, the picture in doc/DESIGN.md). Every
`crate::ROOM` path outside comments and test code counts: `use` lines and
paths written inline alike. Test code (files named tests.rs or under a
tests/ folder, and a trailing `#[cfg(test)] mod tests`) may reach any room.

    python3 doc/rooms.py        # exit status 1 on a wrong-way import
    python3 doc/rooms.py -v     # also list every import between rooms
"""
import os
import re
import sys

# Lower number, lower floor. A room may import only rooms on lower floors.
FLOORS = {
    "sys": 0, "proto": 0,
    "engine": 1,
    "config": 2,
    "ready": 3, "fds": 3, "logs": 3,
    "control": 4,
    "update": 5,
    "daemon": 6, "ctl": 6,
}

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def is_test(path):
    parts = path.split(os.sep)
    return parts[-1] == "tests.rs" or "tests" in parts[:-1]


def code_of(text):
    """The text without comments and without inline `mod tests { ... }`."""
    text = re.sub(r"//[^\n]*", "", text)
    pattern = re.compile(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))?\s+)?mod tests\s*\{")
    while (m := pattern.search(text)) is not None:
        depth, end = 0, m.end() - 1
        for end in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        text = text[: m.start()] + text[end + 1 :]
    return text


def rooms_used(text):
    used = set()
    for m in re.finditer(r"crate::(\{[^;]*?\}|[a-z_]+)", text):
        g = m.group(1)
        names = re.findall(r"(?:^|[{,]\s*)([a-z_]+)", g) if g.startswith("{") else [g]
        used.update(n for n in names if n in FLOORS)
    return used


def main():
    verbose = "-v" in sys.argv
    edges = {}
    for room in sorted(os.listdir(SRC)):
        top = os.path.join(SRC, room)
        if not os.path.isdir(top) or room == "bin":
            continue
        if room not in FLOORS:
            print(f"room {room} has no floor in doc/rooms.py")
            return 1
        for d, _, files in os.walk(top):
            for f in files:
                path = os.path.join(d, f)
                if not f.endswith(".rs") or is_test(os.path.relpath(path, SRC)):
                    continue
                with open(path) as fh:
                    for used in rooms_used(code_of(fh.read())) - {room}:
                        edges.setdefault((room, used), []).append(os.path.relpath(path, SRC))
    bad = 0
    for (a, b), files in sorted(edges.items()):
        wrong = FLOORS[b] >= FLOORS[a]
        bad += wrong
        if wrong or verbose:
            mark = "WRONG WAY" if wrong else "ok"
            print(f"{a:8} -> {b:8} {mark:9} {' '.join(sorted(files))}")
    print(f"{len(edges)} imports between rooms, {bad} the wrong way")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
