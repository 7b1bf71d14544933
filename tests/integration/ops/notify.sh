#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sd_notify: READY=1 once mounted (foreground and daemon mode), SIGHUP is a
# reload (RELOADING=1 then READY=1) that keeps the mount, STOPPING=1 at the
# end. A listener socket stands in for systemd.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
ops_need_mount inbox "$conf"
mkdir -p "$t/back"
echo hi >"$t/back/f"

ops_notify_listen "$t/notify.sock" "$t/notes"
NOTIFY_SOCKET=$t/notify.sock sfs_mount inbox "$conf" "$t/back" "$t/m"
wait_for 10 grep -q '^READY=1' "$t/notes" || fail "no READY=1"
mono_us() { python3 -c 'import time; print(int(time.monotonic() * 1e6))'; }
before=$(mono_us)
kill -HUP "$SFS_PID"
wait_for 10 grep -q '^RELOADING=1;MONOTONIC_USEC=[0-9]\+$' "$t/notes" ||
	fail "no RELOADING=1"
# systemd compares it with its own CLOCK_MONOTONIC, in microseconds.
usec=$(sed -n 's/^RELOADING=1;MONOTONIC_USEC=//p' "$t/notes")
after=$(mono_us)
[ "$usec" -ge "$before" ] && [ "$usec" -le "$after" ] ||
	fail "MONOTONIC_USEC=$usec not between $before and $after"
ready_twice() { [ "$(grep -c '^READY=1' "$t/notes")" -ge 2 ]; }
wait_for 10 ready_twice ||
	fail "no READY=1 after the reload"
kill -0 "$SFS_PID" || fail "SIGHUP killed the daemon"
is_fuse_mounted "$(realpath "$t/m")" || fail "SIGHUP unmounted"
SFS_LOG_ALLOW='nothing to reload' sfs_umount "$t/m" "$SFS_PID" "$SFS_LOG"
grep -q '^STOPPING=1' "$t/notes" || fail "no STOPPING=1"
# Readiness comes only after the mount: the first note is READY=1.
[ "$(head -1 "$t/notes")" = "READY=1" ] || fail "unexpected first note"

# Daemon mode: the serving process notifies too, after the parent returned.
: >"$t/notes"
mkdir -p "$t/m2"
NOTIFY_SOCKET=$t/notify.sock "$SIGNETFS" inbox --config "$conf" \
	"$t/back" "$t/m2" || fail "daemon mode mount"
SFS_MNTS+=("$(realpath "$t/m2")")
is_fuse_mounted "$(realpath "$t/m2")" || fail "not mounted when it returned"
wait_for 10 grep -q '^READY=1' "$t/notes" || fail "no READY=1 (daemon)"
fusermount3 -u "$t/m2"
wait_for 10 grep -q '^STOPPING=1' "$t/notes" || fail "no STOPPING=1 (daemon)"

# An abstract socket name ('@...') works as systemd may hand it out.
: >"$t/notes"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
open(sys.argv[2] + ".ready2", "w").close()
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", ";") + "\n")
' "sfs-notify-$$" "$t/notes" &
SFS_PIDS+=("$!")
disown
wait_for 10 test -e "$t/notes.ready2" || fail "abstract listener"
NOTIFY_SOCKET=@sfs-notify-$$ sfs_mount inbox "$conf" "$t/back" "$t/m3"
wait_for 10 grep -q '^READY=1' "$t/notes" || fail "no READY=1 (abstract)"
sfs_umount "$t/m3" "$SFS_PID" "$SFS_LOG"
echo "notify: ok"
