#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A second signetfs mount on a mount point that already has one is refused
# before anything is mounted (exit 2, naming the mount that is there), in
# every form: outbox or inbox, foreground or not, a relative path, the
# mount(8) form. A mount point whose daemon died is refused with the
# command that clears it; after that unmount, mounting works again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
ops_need_mount inbox "$conf"
mkdir -p "$t/back" "$t/back2" "$t/m"
echo hi >"$t/back/f"
(cd "$t/back" && "$SIGNETFS" sign --config "$conf" f) || fail "sign"

# How many mounts are stacked on $1 (mountinfo, field 5).
stacked() { awk -v m="$1" '$5 == m { n++ } END { print n + 0 }' /proc/self/mountinfo; }
m=$(realpath "$t/m")

sfs_mount inbox "$conf" "$t/back" "$t/m"
first=$SFS_PID
# refused WHAT CMD...: exit 2 at once, a clear message, nothing stacked.
refused() {
	local what=$1 rc=0
	shift
	timeout 20 "$@" >"$t/out" 2>&1 || rc=$?
	if [ "$(stacked "$m")" -gt 1 ]; then
		for _ in 1 2 3; do fusermount3 -uz "$m" 2>/dev/null || true; done
		fail "$what: a second mount was stacked on $m"
	fi
	[ "$rc" -eq 2 ] || { cat "$t/out" >&2; fail "$what: exit $rc, not 2"; }
	grep -q "already a signetfs mount (signetfs-inbox of $t/back)" "$t/out" ||
		{ cat "$t/out" >&2; fail "$what: unclear message"; }
	grep -q "fusermount3 -u" "$t/out" || fail "$what: no way out named"
}
refused "outbox, daemon" "$SIGNETFS" outbox --config "$conf" "$t/back2" "$t/m"
refused "inbox, daemon" "$SIGNETFS" inbox --config "$conf" "$t/back2" "$t/m"
refused "inbox, foreground" "$SIGNETFS" inbox -f --config "$conf" "$t/back2" "$t/m"
(cd "$t" && refused "relative path" "$SIGNETFS" outbox --config "$conf" back2 ./m/)
refused "mount(8) form" "$SIGNETFS" "inbox:$t/back2" "$t/m" -o "rw,config=$conf"
[ "$(stacked "$m")" -eq 1 ] || fail "not one mount on $m"
[ "$(cat "$t/m/f")" = hi ] || fail "the first mount stopped serving"
# The source is BACKING's absolute path, whatever was typed.
mkdir -p "$t/m2"
(cd "$t" && "$SIGNETFS" inbox --config "$conf" back2 m2 2>"$t/out") ||
	{ cat "$t/out" >&2; fail "mount back2 on m2"; }
SFS_MNTS+=("$(realpath "$t/m2")")
awk -v m="$(realpath "$t/m2")" -v s="$t/back2" \
	'$5 == m { split($0, p, " - "); split(p[2], f, " "); ok = f[2] == s } END { exit !ok }' \
	/proc/self/mountinfo || fail "source of m2 is not $t/back2"
fusermount3 -u "$t/m2"

# The daemon dies: the mount point is left disconnected (ENOTCONN).
kill -9 "$first"
wait "$first" 2>/dev/null || true
wait_for 10 bash -c "! stat -f '$m' >/dev/null 2>&1" ||
	fail "mount point still answers after the daemon was killed"
refused "dead daemon" "$SIGNETFS" inbox --config "$conf" "$t/back" "$t/m"
grep -q "whose daemon is gone" "$t/out" ||
	{ cat "$t/out" >&2; fail "dead daemon: not said"; }
fusermount3 -u "$t/m" || fail "fusermount3 -u of the dead mount"
sfs_mount inbox "$conf" "$t/back" "$t/m"
[ "$(cat "$t/m/f")" = hi ] || fail "no mount after clearing the dead one"
sfs_umount "$t/m" "$SFS_PID" "$SFS_LOG"
echo "double_mount: ok"
