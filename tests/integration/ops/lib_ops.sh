# SPDX-License-Identifier: Apache-2.0
# Helpers for the ops cases, on top of ../lib.sh.

# Before ../lib.sh: rerun this script in a private mount namespace.
ops_fstab_ns() {
	[ -z "${SFS_OPS_NS:-}" ] || return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
		echo "SKIP: mount(8) of a fuse type needs root and unshare"
		exit 77
	fi
	SFS_OPS_NS=1 exec unshare -m --propagation private bash "$1"
}

# Until the outbox or inbox lands on a branch, its *_main() is a stub that
# exits 2 without a word: skip rather than fail on that.
ops_need_mount() {
	local mode=$1 conf=$2 d rc=0
	d=$(mktemp -d "$SFS_TMP/probe.XXXXXX")
	mkdir -p "$d/b" "$d/m"
	timeout 2 "$SIGNETFS" "$mode" -f --config "$conf" "$d/b" "$d/m" \
		>"$d/log" 2>&1 || rc=$?
	mountpoint -q "$d/m" && fusermount3 -u "$d/m"
	if [ "$rc" -eq 2 ] && [ ! -s "$d/log" ]; then
		skip "signetfs $mode is not implemented on this branch"
	fi
}

# A unix datagram listener standing in for systemd's $NOTIFY_SOCKET; each
# datagram becomes one line of FILE (newlines shown as ';').
ops_notify_listen() {
	local sock=$1 out=$2
	python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        d = s.recv(4096).decode()
        f.write(d.replace("\n", ";") + "\n")
' "$sock" "$out" &
	SFS_PIDS+=("$!")
	disown
	wait_for 10 test -e "$out.ready" || fail "notify listener did not start"
}

# A process is gone or a zombie (its parent may be a non-reaping init).
ops_gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "$st" = Z ]
}

# mount(8) of type fuse.signetfs runs mount.fuse3, which runs "signetfs"
# from the PATH that mount(8) resets to /usr/local/sbin:/usr/local/bin:
# /usr/sbin:... So the case runs in a private mount namespace (see
# ops_fstab_ns) where a tmpfs on /usr/local/sbin holds the signetfs under
# test; the host's directories are left alone.
ops_fstab_setup() {
	command -v mount.fuse3 >/dev/null || skip "no mount.fuse3 (package fuse3)"
	[ -n "${SFS_OPS_NS:-}" ] || fail "ops_fstab_ns was not called first"
	mount -t tmpfs -o mode=0755 sfs-ops /usr/local/sbin ||
		fail "tmpfs on /usr/local/sbin"
	ln -s "$SIGNETFS" /usr/local/sbin/signetfs
}

daemon_of() { # the serving process of the mount with source $1
	pgrep -f -x -- "signetfs $1 .*" | head -1
}

# umount_check MNT PID: umount(8) ends the daemon and leaves no mount.
umount_check() {
	local mnt=$1 pid=$2
	umount "$mnt" || fail "umount $mnt"
	wait_for 10 ops_gone "$pid" || fail "daemon $pid still running"
	! is_fuse_mounted "$(realpath "$mnt")" || fail "$mnt still mounted"
}
