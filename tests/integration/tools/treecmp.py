#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compare the tree a tool left in a native directory with the one it left
in the outbox (the mount's view): tests/integration/tools/common.sh.

  treecmp.py NATIVE OUTBOX [--mtime] [--root-mtime] [--ignore-content GLOB]...

Every entry of NATIVE must be in OUTBOX with the same type, content (regular
files: SHA-256; symlinks: target), permission bits (with setuid, setgid,
sticky), owner and group, and with --mtime the same mtime in nanoseconds
(files and directories; the top directory only with --root-mtime). OUTBOX
may have nothing more: the outbox keeps its signatures out of the view, so
a NAME.sig there is one the tool wrote, with the tool's content.
--ignore-content GLOB compares only the
type of matching paths (files a tool fills with inode numbers or times of
its own, e.g. git's index). Prints one line per difference; exit 1 if any.
"""
import fnmatch
import hashlib
import os
import stat
import sys


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def walk(top):
    """-> {relpath: os.stat_result}, '.' for the top directory."""
    out = {".": os.lstat(top)}
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, top)] = os.lstat(p)
    return out


def kind(st):
    m = st.st_mode
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "char"),
                       (stat.S_ISBLK, "block")):
        if test(m):
            return name
    return "?"


def main(argv):
    args = argv[1:]
    mtime = "--mtime" in args
    root_mtime = "--root-mtime" in args
    ignore = [args[i + 1] for i, a in enumerate(args) if a == "--ignore-content"]
    pos = [a for i, a in enumerate(args)
           if not a.startswith("--") and (i == 0 or args[i - 1] != "--ignore-content")]
    if len(pos) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ntop, otop = pos
    nat, obx = walk(ntop), walk(otop)
    diffs = []
    for p in sorted(nat):
        n = nat[p]
        o = obx.get(p)
        if o is None:
            diffs.append(f"{p}: {kind(n)} missing in the outbox")
            continue
        if kind(n) != kind(o):
            diffs.append(f"{p}: {kind(n)} natively, {kind(o)} in the outbox")
            continue
        if any(fnmatch.fnmatchcase(p, g) for g in ignore):
            continue
        if kind(n) == "file":
            if n.st_size != o.st_size:
                diffs.append(f"{p}: size {n.st_size} natively, {o.st_size} in the outbox")
            elif digest(os.path.join(ntop, p)) != digest(os.path.join(otop, p)):
                diffs.append(f"{p}: content differs")
        elif kind(n) == "symlink":
            a, b = os.readlink(os.path.join(ntop, p)), os.readlink(os.path.join(otop, p))
            if a != b:
                diffs.append(f"{p}: symlink to {a!r} natively, to {b!r} in the outbox")
        if kind(n) != "symlink" and stat.S_IMODE(n.st_mode) != stat.S_IMODE(o.st_mode):
            diffs.append(f"{p}: mode {stat.S_IMODE(n.st_mode):04o} natively, "
                         f"{stat.S_IMODE(o.st_mode):04o} in the outbox")
        if (n.st_uid, n.st_gid) != (o.st_uid, o.st_gid):
            diffs.append(f"{p}: owner {n.st_uid}:{n.st_gid} natively, "
                         f"{o.st_uid}:{o.st_gid} in the outbox")
        if (mtime and kind(n) in ("file", "dir") and (p != "." or root_mtime)
                and n.st_mtime_ns != o.st_mtime_ns):
            diffs.append(f"{p}: mtime {n.st_mtime_ns / 1e9:.9f} natively, "
                         f"{o.st_mtime_ns / 1e9:.9f} in the outbox")
    for p in sorted(set(obx) - set(nat)):
        diffs.append(f"{p}: {kind(obx[p])} only in the outbox")
    for d in diffs:
        print(d)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
