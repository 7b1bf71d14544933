#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mount(8) and fstab: type fuse.signetfs (and the old "fuse" with
# "signetfs#SRC") makes mount.fuse3 run "signetfs SRC MNT -o OPTS"; the
# command must daemonise, return once mounted, and the daemon must exit on
# umount(8) with nothing left mounted.
. "$(dirname "$0")/lib_ops.sh"
ops_fstab_ns "$0"
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
ops_fstab_setup

# --- inbox: a signed file is served, an unsigned one is not, mounted ro.
ops_need_mount inbox "$conf"
mkdir -p "$t/in" "$t/min"
echo signed >"$t/in/good"
echo unsigned >"$t/in/bad"
(cd "$t/in" && "$SIGNETFS" sign --config "$conf" good) || fail "sign"
SFS_MNTS+=("$t/min")
mount -t fuse.signetfs -o "config=$conf" "inbox:$t/in" "$t/min" ||
	fail "mount -t fuse.signetfs inbox"
is_fuse_mounted "$t/min" || fail "not mounted when mount(8) returned"
awk -v m="$t/min" '$5 == m { split($6, o, ","); exit o[1] != "ro" }' \
	/proc/self/mountinfo || fail "inbox not mounted read-only"
[ "$(cat "$t/min/good")" = signed ] || fail "signed file not served"
[ ! -e "$t/min/bad" ] || fail "unsigned file visible"
pid=$(daemon_of "inbox:$t/in") || true
[ -n "$pid" ] || fail "no daemon found"
umount_check "$t/min" "$pid"

# The legacy form: type fuse, source PROGRAM#SOURCE; inbox options in -o.
mount -t fuse -o "config=$conf,mode=audit" "signetfs#inbox:$t/in" "$t/min" ||
	fail "mount -t fuse signetfs#inbox"
[ -e "$t/min/bad" ] || fail "mode=audit did not reach the inbox"
umount_check "$t/min" "$(daemon_of "inbox:$t/in")"

# A real fstab line (a private fstab file, /etc/fstab is left alone).
printf '%s %s fuse.signetfs config=%s,noauto,nofail,_netdev 0 0\n' \
	"inbox:$t/in" "$t/min" "$conf" >"$t/fstab"
mount --fstab "$t/fstab" "$t/min" || fail "mount --fstab"
[ -e "$t/min/good" ] || fail "fstab mount serves nothing"
umount_check "$t/min" "$(daemon_of "inbox:$t/in")"

# Errors reach mount(8)'s caller: no config, a bad config, no mount left.
mount -t fuse.signetfs "inbox:$t/in" "$t/min" 2>"$t/err" &&
	fail "mounted without config="
grep -q 'config=FILE is required' "$t/err" || fail "unclear: $(cat "$t/err")"
mount -t fuse.signetfs -o "config=$t/nope.conf" "inbox:$t/in" "$t/min" \
	2>"$t/err" && fail "mounted with a missing config"
grep -q 'nope.conf' "$t/err" || fail "unclear: $(cat "$t/err")"
! is_fuse_mounted "$t/min" || fail "a failed mount left a mount"

echo "fstab: ok"
