#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Failures in `prove -v` output, as "test-file test-number" (scripts/pjdfstest).

  tapfail.py parse PROVE_LOG TESTS_DIR OUT [DETAIL]
      OUT: the failures, one test file a line with its failed numbers as
      ranges ("chmod/00.t 5-8 10"); DETAIL: one line per failure with the
      test's own message ("chmod/00.t 5 tried 'chmod ...', expected 0, got
      EPERM"). A planned test that never ran (the script died) counts as
      failed ("missing"); a file without a plan as number 0.
  tapfail.py compare EXPECTED GOT
      Exit 1 if GOT has a failure outside EXPECTED (unexplained) or
      EXPECTED lists one that GOT no longer has (stale); print both.
  tapfail.py count FILE
      How many failures FILE lists.
  tapfail.py union A B / minus A B
      A's failures with B's added / taken away, in the OUT format.
  tapfail.py explain COMPARE_OUTPUT DETAIL
      Each unexplained failure with the test's message from DETAIL.
"""
import re
import sys

HEADER = re.compile(r"^(/\S+\.t) \.+ ?$")
PLAN = re.compile(r"^1\.\.(\d+)")
RESULT = re.compile(r"^(not ok|ok) (\d+)\b(.*)$")
SUMMARY_FILE = re.compile(r"^(/\S+\.t)\s+\(Wstat: \d+ Tests: \d+ Failed: \d+\)")
SUMMARY_LIST = re.compile(r"^\s+(?:Failed tests:)?\s*((?:\d+(?:-\d+)?)(?:, \d+(?:-\d+)?)*)\s*$")


def rel(path, tests):
    tests = tests.rstrip("/") + "/"
    return path[len(tests):] if path.startswith(tests) else path


def parse(log, tests):
    """-> {file: {number: message}}"""
    fails = {}
    blocks = {}
    cur = None
    in_summary = False
    summary_file = None
    for line in open(log, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("Test Summary Report"):
            in_summary = True
            continue
        if in_summary:
            m = SUMMARY_FILE.match(line)
            if m:
                summary_file = rel(m.group(1), tests)
                continue
            m = SUMMARY_LIST.match(line)
            if m and summary_file and ("Failed tests:" in line or
                                       line.startswith("         ")):
                for n in expand(m.group(1)):
                    fails.setdefault(summary_file, {}).setdefault(
                        n, "failed (prove's summary)")
                continue
            if not line.startswith(" "):
                summary_file = None
            continue
        m = HEADER.match(line)
        if m:
            cur = blocks.setdefault(rel(m.group(1), tests),
                                    {"plan": None, "seen": set()})
            continue
        if cur is None:
            continue
        m = PLAN.match(line)
        if m and cur["plan"] is None:
            cur["plan"] = int(m.group(1))
            continue
        m = RESULT.match(line)
        if m:
            n = int(m.group(2))
            cur["seen"].add(n)
            rest = m.group(3)
            if m.group(1) == "not ok" and not re.search(r"#\s*(TODO|SKIP)", rest, re.I):
                cur.setdefault("fail", {})[n] = rest.lstrip(" -")
    for f, b in blocks.items():
        for n, msg in b.get("fail", {}).items():
            fails.setdefault(f, {})[n] = msg or "not ok"
        if b["plan"] is None:
            fails.setdefault(f, {})[0] = "no plan (the script did not run)"
            continue
        for n in range(1, b["plan"] + 1):
            if n not in b["seen"]:
                fails.setdefault(f, {})[n] = "missing (planned, never ran)"
    return fails


def expand(ranges):
    out = []
    for part in re.split(r"[,\s]+", ranges.strip()):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def compress(nums):
    nums = sorted(nums)
    out = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return " ".join(out)


def write(fails, out):
    with open(out, "w") as fp:
        for f in sorted(fails):
            if fails[f]:
                fp.write(f"{f} {compress(fails[f])}\n")


def load(path):
    """An expected-failures or OUT file -> set of (file, number)."""
    got = set()
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        f, _, ranges = line.partition(" ")
        got.update((f, n) for n in expand(ranges))
    return got


def as_dict(pairs):
    d = {}
    for f, n in pairs:
        d.setdefault(f, set()).add(n)
    return d


def explain(compare, detail):
    msgs = {}
    for line in open(detail, errors="replace"):
        f, n, msg = (line.rstrip("\n").split(" ", 2) + [""])[:3]
        msgs[(f, int(n))] = msg
    for line in open(compare):
        kind, _, rest = line.partition(": ")
        if kind == "unexplained":
            f, n = rest.split()
            msg = msgs.get((f, int(n)), "")
            if len(msg) > 200:
                # pjdfstest's long names: keep the call and the outcome
                msg = msg[:100] + " ... " + msg[-90:]
            print(f"unexplained {f} {n}: {msg}")
        elif kind == "no longer fails":
            print(f"no longer fails {rest.strip()} (listed as expected)")


def main(argv):
    if len(argv) >= 4 and argv[1] == "parse":
        fails = parse(argv[2], argv[3])
        write(fails, argv[4])
        if len(argv) > 5:
            with open(argv[5], "w") as fp:
                for f in sorted(fails):
                    for n in sorted(fails[f]):
                        fp.write(f"{f} {n} {fails[f][n]}\n")
        print(sum(len(v) for v in fails.values()))
        return 0
    if len(argv) == 4 and argv[1] == "compare":
        want, got = load(argv[2]), load(argv[3])
        extra = sorted(got - want)
        stale = sorted(want - got)
        for f, n in extra:
            print(f"unexplained: {f} {n}")
        for f, n in stale:
            print(f"no longer fails: {f} {n}")
        print(f"{len(got)} failures, {len(got & want)} expected, "
              f"{len(extra)} unexplained, {len(stale)} listed but passing")
        return 1 if extra or stale else 0
    if len(argv) == 4 and argv[1] in ("union", "minus"):
        a, b = load(argv[2]), load(argv[3])
        d = as_dict(a | b if argv[1] == "union" else a - b)
        for f in sorted(d):
            print(f"{f} {compress(d[f])}")
        return 0
    if len(argv) == 4 and argv[1] == "explain":
        explain(argv[2], argv[3])
        return 0
    if len(argv) == 3 and argv[1] == "count":
        print(len(load(argv[2])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
