#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Unmount right after the last close: the kernel sends RELEASE and
# RELEASEDIR asynchronously and the unmount can drop them before the
# daemon reads them, so the daemon frees the handles left at teardown
# (mount.h, sfuse_handles). Cycles of mount, list + read + write,
# unmount at once, for both mounts; every daemon must exit 0 with a clean
# log. Meant for scripts/valgrind, where a lost handle is a definite leak
# that fails the daemon (before the fix: 4 of 20 daemons there).
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse

t=$SFS_TMP
sfs_init "$t/tok"
conf=$t/tok/signetfs.conf
mkdir -p "$t/in" "$t/out" "$t/m"
for i in 1 2 3; do printf 'file %s\n' "$i" >"$t/in/f$i"; done
"$SIGNETFS" sign --config "$conf" --root "$t/in" "$t/in"/f* >/dev/null || fail "sign"
cycles=${UMOUNT_CLOSE_CYCLES:-6}

for mode in inbox outbox; do
	[ "$mode" = inbox ] && b=$t/in || b=$t/out
	for c in $(seq 1 "$cycles"); do
		sfs_mount "$mode" "$conf" "$b" "$t/m"
		f=f1
		if [ "$mode" = outbox ]; then
			f=w$c
			printf 'cycle %s\n' "$c" >"$t/m/$f" || fail "outbox $c: write"
		fi
		for k in 1 2 3 4 5; do
			ls -a "$t/m" >/dev/null || fail "$mode $c: ls"
			cat "$t/m/$f" >/dev/null || fail "$mode $c: read $f"
		done
		sfs_umount "$t/m" "$SFS_PID" "$SFS_LOG"
	done
done
# What the outbox signed on each last close is there and verifies.
for c in $(seq 1 "$cycles"); do
	"$SIGNETFS" verify --config "$conf" --root "$t/out" "$t/out/w$c" >/dev/null ||
		fail "outbox w$c does not verify"
done
