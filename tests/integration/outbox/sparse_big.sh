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
os.pwrite(fd, b"tail" * 1024, 4 * 1024**3 + 4096)
os.close(fd)
with open(f"{m}/sparse", "wb") as f:
    f.seek(1 << 20)
    f.write(b"after a hole")
PY
[ "$(stat -c %s "$B/big")" -eq $((4 * 1024 ** 3 + 8192)) ] || fail "size"
[ "$(stat -c %b "$B/big")" -lt 1000 ] || fail "not sparse in BACKING"
# one verifier for the big one: each pass hashes 4 GiB
"$SIGNETFS" verify --config "$CONF" --root "$B" "$B/big" >/dev/null ||
	fail "signetfs verify rejected big"
ob_ok sparse
[ "$(tail -c 4 "$M/big")" = tail ] || fail "read past 4 GiB"
ob_forge_flip sparse
printf x | dd of="$B/big" bs=1 seek=$((1 << 32)) conv=notrunc status=none
ob_bad big
ob_stop
