#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# fsstress on the outbox: 4 processes x 10,000 random operations (creates,
# writes at random offsets, truncations, renames of files and directories,
# unlink, mkdir/rmdir, fsync, mmap writes, O_APPEND, O_TRUNC, writers'
# own .sig names (ordinary, layout 2) and refused links, symlinks and
# FIFOs). Afterwards every regular file in
# BACKING verifies, every .sig has its file, no temp file is left, the
# daemon lived throughout, and once the kernel forgets its inodes the
# daemon's descriptors are back at the baseline (non-pipe fds exactly;
# libfuse's per-thread splice pipes at most 2 per thread).
# FSSTRESS_SEED, FSSTRESS_PROCS, FSSTRESS_OPS override the run.
. "$(dirname "$0")/common.sh"
ob_start
seed=$(st_seed "${FSSTRESS_SEED:-}")
procs=${FSSTRESS_PROCS:-4}
nops=${FSSTRESS_OPS:-10000}
# The root inode and the daemon's own files: nothing looked up yet.
base=$(st_fds "$OB_PID")
base_np=$(st_fds_nonpipe "$OB_PID")
note "daemon pid $OB_PID: $base fds ($base_np not pipes) before the run; seed $seed"
start=$SECONDS
"$FSSTRESS" -d "$M" -p "$procs" -n "$nops" -s "$seed" \
	>"$SFS_TMP/fsstress.out" 2>&1 &
spid=$!
# A monitor, not a readiness check: sample the daemon while it works.
peak=$base
while kill -0 "$spid" 2>/dev/null; do
	st_alive "$OB_PID"
	n=$(st_fds "$OB_PID")
	[ "$n" -le "$peak" ] || peak=$n
	sleep 0.2
done
rc=0
wait "$spid" || rc=$?
cat "$SFS_TMP/fsstress.out"
# On a failure, what the outbox refused or failed to sign says why.
[ "$rc" -eq 0 ] || fail "fsstress (seed $seed) exited $rc; the outbox's last refusals: $(grep -E '"event":"sign-(refused|failed)"' "$AUDIT" | tail -3)"
note "fsstress: $((SECONDS - start)) s, daemon fds peak $peak"
st_alive "$OB_PID"
after=$(st_fds "$OB_PID")
note "daemon fds right after the run: $after ($(st_fds_nonpipe "$OB_PID") not pipes, $(st_threads "$OB_PID") threads)"
# Pages written through a mapping after close reach the daemon at
# munmap, and their RELEASE (which signs them) is asynchronous.
wait_for 20 st_all_signed || {
	grep -v '^OK ' "$SFS_TMP/verify.out" >&2
	fail "not every file verifies (seed $seed)"
}
files=$(find "$B" -type f ! -name '*.sig' | wc -l)
dirs=$(find "$B" -mindepth 1 -type d | wc -l)
note "$files files in $dirs directories, all verify"
find "$B" -name '*.sig' | while read -r s; do
	[ -f "${s%.sig}" ] || fail "orphaned signature $s"
done
ob_no_temps "$B"
ob_no_temps "$M"
# A sample through stock openssl too.
find "$B" -type f ! -name '*.sig' | shuf -n 20 --random-source=<(yes "$seed") |
	while read -r f; do ob_ok "${f#"$B"/}"; done
# The daemon keeps an O_PATH fd per inode the kernel holds, including
# cached entries of files since removed or replaced in BACKING (a .sig
# replaced by a new one, removed with its file); when the kernel forgets
# them (FORGET), the daemon closes them.
sync
echo 2 >/proc/sys/vm/drop_caches
wait_for 10 st_fds_back "$OB_PID" "$base_np" ||
	fail "daemon holds $(st_fds "$OB_PID") fds ($(st_fds_nonpipe "$OB_PID") not pipes, baseline $base_np) after the kernel forgot its inodes"
note "daemon fds after drop_caches: $(st_fds "$OB_PID") ($(st_fds_nonpipe "$OB_PID") not pipes = baseline; $(st_threads "$OB_PID") threads)"
st_alive "$OB_PID"
ob_stop
