#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 100 mount/unmount cycles of the outbox, then of an inbox over the same
# BACKING, with a little I/O each (outbox: write a file, its .sig must
# exist; read the previous one; inbox: read a signed file). Each daemon
# exits 0 with a clean log and leaves no mount; afterwards the mount
# table has no mount of this case (none whose mount point or source, the
# BACKING, is below its directory, wherever it is mounted) and this
# script's own descriptors are as before, and every file written
# verifies. LIFECYCLE_CYCLES overrides the count. The rest of the mount
# table is not compared: on a shared machine other test runs and
# benchmarks mount and unmount meanwhile, anywhere (a count of the mounts
# outside /tmp/sfs-it.* failed with "25 entries before, 24 after").
. "$(dirname "$0")/common.sh"
n=${LIFECYCLE_CYCLES:-100}
sfs_need_fuse
# Mount point or source below $SFS_TMP (mountinfo's fields 5 and 10).
our_mounts() {
	grep -c " ${SFS_TMP}/" /proc/self/mountinfo || true
}
fds0=$(st_fds $$)
start=$SECONDS
ob_start
ob_stop
for k in $(seq 1 "$n"); do
	sfs_mount outbox "$CONF" "$B" "$M"
	echo "cycle $k" >"$M/c$k"
	[ -e "$B/c$k.sig" ] || fail "cycle $k: no .sig after close"
	[ "$k" -eq 1 ] || [ "$(cat "$M/c$((k - 1))")" = "cycle $((k - 1))" ] ||
		fail "cycle $k: c$((k - 1)) reads back wrong"
	sfs_umount "$M" "$SFS_PID" "$SFS_LOG"
done
t_out=$((SECONDS - start))
"$SIGNETFS" verify --config "$CONF" --root "$B" -r "$B" >"$SFS_TMP/v.out" ||
	{ grep -v '^OK' "$SFS_TMP/v.out" >&2; fail "files written in the cycles"; }
[ "$(grep -c '^OK' "$SFS_TMP/v.out")" -eq "$n" ] || fail "not $n files"
start=$SECONDS
for k in $(seq 1 "$n"); do
	sfs_mount inbox "$CONF" "$B" "$M"
	[ "$(cat "$M/c$k")" = "cycle $k" ] || fail "inbox cycle $k: c$k"
	sfs_umount "$M" "$SFS_PID" "$SFS_LOG"
done
t_in=$((SECONDS - start))
note "$n outbox cycles: ${t_out} s; $n inbox cycles: ${t_in} s"
[ "$(our_mounts)" -eq 0 ] || fail "a mount of this case is left: $(grep " ${SFS_TMP}/" /proc/self/mountinfo)"
[ "$(st_fds $$)" -eq "$fds0" ] || fail "own fds: $fds0 before, $(st_fds $$) after"
note "mounts of this case left: 0; own fds: $fds0 before and after"
