#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGTERM (systemctl stop, kill) unmounts: a daemon started in the
# background with a relative MOUNTPOINT changes to "/" and must still
# unmount what it mounted, not leave a disconnected mount behind
# ("Transport endpoint is not connected"). Both mounts, relative and
# absolute forms, idle and with a verification in progress.
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/tok"
conf=$t/tok/signetfs.conf
mkdir -p "$t/b"
head -c $((64 << 20)) /dev/urandom >"$t/b/big"
"$SIGNETFS" sign --config "$conf" --root "$t/b" "$t/b/big" >/dev/null || fail "sign"
gone() { ! kill -0 "$1" 2>/dev/null; }

for mode in inbox outbox; do
	for form in relative absolute busy; do
		m=m-$mode-$form
		mkdir -p "$t/$m" "$t/b-$mode"
		[ "$mode" = inbox ] && b=b || b=b-$mode
		target=$m
		[ "$form" = relative ] || target=$t/$m
		(cd "$t" && "$SIGNETFS" "$mode" --config "$conf" "$b" "$target") ||
			fail "$mode $form: mount"
		is_fuse_mounted "$t/$m" || fail "$mode $form: not mounted"
		pid=$(pgrep -f -- "$mode --config $conf $b $target\$") ||
			fail "$mode $form: no daemon"
		if [ "$form" = busy ] && [ "$mode" = inbox ]; then
			echo 3 >/proc/sys/vm/drop_caches
			cat "$t/$m/big" >/dev/null 2>&1 &
		fi
		kill -TERM "$pid"
		wait_for 20 gone "$pid" || fail "$mode $form: daemon still running"
		wait
		! is_fuse_mounted "$t/$m" || {
			umount -l "$t/$m"
			fail "$mode $form: SIGTERM left $m mounted"
		}
	done
done
note "SIGTERM unmounted every form"
