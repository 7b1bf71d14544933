#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Writes through a shared mapping are signed: before close when msync'd,
# and at release when the pages were written back after close.
. "$(dirname "$0")/common.sh"
ob_start
python3 - "$M" <<'PY'
import mmap, os, sys
m = sys.argv[1]
with open(f"{m}/mm", "wb") as f:
    f.write(b"\0" * 65536)
with open(f"{m}/mm", "r+b") as f:
    mp = mmap.mmap(f.fileno(), 65536)
    mp[100:105] = b"HELLO"
    mp.flush()
    mp.close()
# close first, write through the mapping after close, munmap later
fd = os.open(f"{m}/late", os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8192)
mp = mmap.mmap(fd, 8192)
os.close(fd)
mp[0:4] = b"LATE"
mp.close()
PY
[ "$(head -c 105 "$B/mm" | tail -c 5)" = HELLO ] || fail "mmap data"
ob_ok mm
# the late pages reach the daemon at munmap/release; the release signs
wait_for 10 sfs_verify_both "$CONF" "$B" "$B/late" "$CA" 2>/dev/null ||
	fail "late mmap writes not signed"
[ "$(head -c 4 "$B/late")" = LATE ] || fail "late data"
ob_forge_flip mm
ob_stop
