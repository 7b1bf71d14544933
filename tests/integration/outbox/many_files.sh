#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 30,000 files through one mount, more than RLIMIT_NOFILE (20,000 here):
# the daemon keeps a file handle per inode and a bounded set of O_PATH
# fds, so creates never fail with EMFILE, every file is signed, and the
# daemon's fd count stays below a quarter of its limit plus slack.
. "$(dirname "$0")/common.sh"
N=30000 WRITERS=4
ob_fresh_ext4 "$SFS_TMP/backing" 1024
ob_start
src=$SFS_TMP/src
python3 - "$src" "$N" "$WRITERS" <<'PY'
import os, sys
root, n, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for k in range(w):
    os.makedirs(f"{root}/w{k}")
for i in range(n):
    with open(f"{root}/w{i % w}/f{i:05d}", "wb") as f:
        f.write(b"%d\n" % i)
PY
limit=$(awk '/Max open files/ {print $4}' "/proc/$OB_PID/limits")
bound=$((limit / 4 + 256))
note "daemon fd limit $limit, asserted bound $bound"
# The fd count while the copies run, every 0.2 s.
peak=$SFS_TMP/peak
( max=0; while kill -0 "$OB_PID" 2>/dev/null && [ ! -e "$SFS_TMP/done" ]; do
	n=$(ls "/proc/$OB_PID/fd" 2>/dev/null | wc -l)
	[ "$n" -le "$max" ] || { max=$n; echo "$max" >"$peak"; }
	sleep 0.2
done ) &
sampler=$!
pids=()
for k in $(seq 0 $((WRITERS - 1))); do
	cp -r "$src/w$k" "$M/w$k" 2>"$SFS_TMP/cp$k.err" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || { head -5 "$SFS_TMP"/cp*.err >&2; fail "cp -r failed"; }
done
touch "$SFS_TMP/done"
wait "$sampler"
after=$(ls "/proc/$OB_PID/fd" | wc -l)
note "daemon fds: peak $(cat "$peak"), after the copies $after"
[ "$(cat "$peak")" -le "$bound" ] || fail "fd peak $(cat "$peak") > $bound"
[ "$after" -le "$bound" ] || fail "fds after $after > $bound"
files=$(find "$B" -type f ! -name '*.sig' | wc -l)
sigs=$(find "$B" -type f -name '*.sig' | wc -l)
[ "$files" -eq "$N" ] && [ "$sigs" -eq "$N" ] || fail "files $files, sigs $sigs"
# A few hundred, spread over the writers and the order of creation, with
# signetfs (one process) and a sample of those with openssl too.
sample=()
for i in $(seq 0 97 $((N - 1))); do sample+=("$B/w$((i % WRITERS))/f$(printf %05d "$i")"); done
note "verifying ${#sample[@]} files"
"$SIGNETFS" verify --config "$CONF" --root "$B" "${sample[@]}" >"$SFS_TMP/v" ||
	{ grep -v '^OK' "$SFS_TMP/v" | head >&2; fail "verify rejected some"; }
[ "$(grep -c '^OK' "$SFS_TMP/v")" -eq "${#sample[@]}" ] || fail "verify count"
for i in 0 12345 29999; do ob_ok "w$((i % WRITERS))/f$(printf %05d "$i")"; done
# The first files' fds were evicted long ago: they still work through the
# mount (reopened from their handles) and are signed again when changed.
echo more >>"$M/w0/f00000"
ob_ok w0/f00000
[ "$(ob_xattr "$M/w1/f00001" status)" = signed ] || fail "status of f00001"
mv "$M/w2/f00002" "$M/w2/moved"
ob_ok w2/moved
# An inode the kernel keeps (a bind mount holds it) whose fd was evicted
# and whose backing dentry left the dcache: open_by_handle_at would give
# a disconnected file with no path; it is found again by its name.
: >"$SFS_TMP/bind"
mount --bind "$M/w1/f00005" "$SFS_TMP/bind"
SFS_MNTS+=("$SFS_TMP/bind")
sync
echo 2 >/proc/sys/vm/drop_caches
echo again >>"$SFS_TMP/bind"
umount "$SFS_TMP/bind"
ob_ok w1/f00005
tail -1 "$B/w1/f00005" | grep -qx again || fail "bind write lost"
ob_forge_flip w3/f00003
ob_stop
