#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A mount that the kernel refuses says why: "cannot mount on MNT: ..."
# carries libfuse's reason (before, only "cannot mount on MNT", the reason
# on a line of its own or, detached, nowhere), in the foreground and from
# the command that starts a daemon, exit 2, nothing mounted. Made here by
# a regular file bound over /dev/fuse in a private mount namespace, so
# mount(2) gets a descriptor that is no FUSE device (EINVAL). The twin:
# with the real /dev/fuse the same command mounts.
. "$(dirname "$0")/lib_ops.sh"
ops_fstab_ns "$0"
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
ops_need_mount inbox "$conf"
mkdir -p "$t/back" "$t/m"
: >"$t/not-fuse"
mount --bind "$t/not-fuse" /dev/fuse || fail "cannot bind a file over /dev/fuse"

# refused WHAT ARGS...: exit 2, the reason in the one message, no mount.
refused() {
	local what=$1 rc=0
	shift
	timeout 30 "$SIGNETFS" inbox --config "$conf" "$@" "$t/back" "$t/m" \
		>"$t/out" 2>&1 || rc=$?
	! mountpoint -q "$t/m" || fail "$what: mounted on $t/m"
	[ "$rc" -eq 2 ] || { cat "$t/out" >&2; fail "$what: exit $rc, want 2"; }
	grep -qF "cannot mount on $t/m: fuse: mount failed: Invalid argument" "$t/out" ||
		{ cat "$t/out" >&2; fail "$what: the message does not say why"; }
}
refused foreground -f
refused daemon

umount /dev/fuse || fail "cannot unbind /dev/fuse"
sfs_mount inbox "$conf" "$t/back" "$t/m"
sfs_umount "$t/m" "$SFS_PID" "$SFS_LOG"
echo "mount_fail: ok"
