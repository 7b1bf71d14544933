#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 8 parallel writers x 1,000 files: 8,000 valid signatures, no deadlock,
# both cores busy.
. "$(dirname "$0")/common.sh"
ob_start
python3 - "$SFS_TMP/src" <<'PY'
import os, sys
os.makedirs(sys.argv[1])
for i in range(1000):
    with open(f"{sys.argv[1]}/f{i:04d}", "wb") as f:
        f.write(os.urandom(2048))
PY
cpu() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
read -r busy0 total0 < <(cpu)
pids=()
for w in $(seq 1 8); do
	cp -r "$SFS_TMP/src" "$M/w$w" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "writer $p failed"; done
read -r busy1 total1 < <(cpu)
ncpu=$(nproc)
busy=$(( (busy1 - busy0) * 100 * ncpu / (total1 - total0) ))
note "CPU busy: ${busy}% of one core (of $((ncpu * 100))%)"
[ "$ncpu" -lt 2 ] || [ "$busy" -ge 120 ] || fail "cores not busy: ${busy}%"
n=$(find "$B" -name '*.sig' | wc -l)
[ "$n" -eq 8000 ] || fail "$n signatures"
st=$(ob_count_signed "$M")
[ "$st" -eq 8000 ] || fail "status: $st signed"
for w in 1 4 8; do for i in 0000 0500 0999; do ob_ok "w$w/f$i"; done; done
ob_forge_flip w3/f0123
ob_forge_move w2/f0001 w2/f0002
ob_expect_records sign '*' 8000
ob_records_match_stats
ob_stop
ob_audit_verify
