#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Ordinary file semantics through the outbox: O_TRUNC, O_APPEND, O_EXCL,
# writes at any offset, truncate up and down, fsync, chmod, utimens.
# Each close that wrote leaves a valid signature of the current content.
. "$(dirname "$0")/common.sh"
ob_start
python3 - "$M" <<'PY'
import errno, os, sys
m = sys.argv[1]
p = f"{m}/f"
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
os.write(fd, b"hello ")
os.close(fd)
try:
    os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    sys.exit("O_EXCL on an existing file succeeded")
except FileExistsError:
    pass
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"world")
os.close(fd)
assert open(p, "rb").read() == b"hello world"
fd = os.open(p, os.O_RDWR)
os.pwrite(fd, b"J", 6)
os.fsync(fd)
os.close(fd)
assert open(p, "rb").read() == b"hello Jorld"
fd = os.open(f"{m}/t", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 10000)
os.ftruncate(fd, 100)
os.ftruncate(fd, 5000)
os.close(fd)
assert open(f"{m}/t", "rb").read() == b"x" * 100 + b"\0" * 4900
fd = os.open(f"{m}/t", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"short")
os.close(fd)
os.truncate(f"{m}/u", 0) if os.path.exists(f"{m}/u") else None
with open(f"{m}/u", "wb") as f:
    f.write(b"0123456789")
os.truncate(f"{m}/u", 4)  # truncate(2) without an open file
assert open(f"{m}/u", "rb").read() == b"0123"
# opening for write without writing does not disturb the signature
fd = os.open(f"{m}/u", os.O_RDWR)
os.close(fd)
PY
cmp <(printf 'hello Jorld') "$B/f"
[ "$(stat -c %a "$B/f")" = 640 ] || fail "mode"
ob_ok f
ob_ok t
ob_ok u
[ "$(cat "$B/t")" = short ] || fail "O_TRUNC"
chmod 600 "$M/f"
touch -d '2010-01-01 00:00:00' "$M/f"
[ "$(stat -c %a "$B/f")" = 600 ] || fail "chmod"
[ "$(stat -c %Y "$B/f")" = "$(date -d '2010-01-01 00:00:00' +%s)" ] || fail "utimens"
ob_ok f # metadata is not content: still valid
# a plain `>` redirection and an append from the shell
echo one >"$M/sh"
echo two >>"$M/sh"
[ "$(cat "$B/sh")" = "$(printf 'one\ntwo')" ] || fail "shell redirect"
ob_ok sh
install -m 0755 "$B/sh" "$M/installed"
ob_ok installed
ob_forge_flip f
ob_forge_flip t
ob_forge_move sh installed2
ob_stop
