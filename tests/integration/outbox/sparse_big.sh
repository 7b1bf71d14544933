#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sparse files and files over 4 GiB (offsets past 32 bits) are signed.
. "$(dirname "$0")/common.sh"
ob_start
python3 - "$M" <<'PY'
import os, sys
m = sys.argv[1]
fd = os.open(f"{m}/big", os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b"head", 0)
os.pwrite(fd, b"tail" * 1024, 5 * 1024**3)
os.close(fd)
with open(f"{m}/sparse", "wb") as f:
    f.seek(1 << 20)
    f.write(b"after a hole")
PY
[ "$(stat -c %s "$B/big")" -eq $((5 * 1024 ** 3 + 4096)) ] || fail "size"
[ "$(stat -c %b "$B/big")" -lt 1000 ] || fail "not sparse in BACKING"
ob_ok big
ob_ok sparse
[ "$(tail -c 4 "$M/big")" = tail ] || fail "read past 4 GiB"
ob_forge_flip sparse
ob_stop
