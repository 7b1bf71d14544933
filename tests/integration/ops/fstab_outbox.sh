#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mount(8) of an outbox: mount -t fuse.signetfs outbox:BACKING MNT; a file
# copied in gets a .sig that verifies; umount(8) ends the daemon.
. "$(dirname "$0")/lib_ops.sh"
ops_fstab_ns "$0"
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
ops_fstab_setup
ops_need_mount outbox "$conf"
mkdir -p "$t/out" "$t/mout"
SFS_MNTS+=("$t/mout")
mount -t fuse.signetfs -o "config=$conf" "outbox:$t/out" "$t/mout" ||
	fail "mount -t fuse.signetfs outbox"
cp "$conf" "$t/mout/copied" || fail "copy into the outbox"
[ -s "$t/out/copied.sig" ] || fail "no signature after close"
"$SIGNETFS" verify --config "$conf" --root "$t/out" "$t/out/copied" \
	>/dev/null || fail "signature does not verify"
umount_check "$t/mout" "$(daemon_of "outbox:$t/out")"
echo "fstab: ok"
echo "fstab_outbox: ok"
