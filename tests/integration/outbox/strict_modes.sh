#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Strict modes: the outbox signs what reaches BACKING, so it refuses to
# mount a BACKING that someone other than the daemon's user can write or
# reach (as OpenSSH's StrictModes), unless `strict-modes = no` says so;
# it does not cross into another filesystem mounted below BACKING; and a
# truncation that changes nothing signs nothing (before: a file planted
# in BACKING got signed by `truncate -s <its size>` through the mount).
. "$(dirname "$0")/common.sh"
sfs_need_fuse
TOK=$SFS_TMP/tok
sfs_init "$TOK"
M=$SFS_TMP/mnt
mkdir -p "$M"
CONF=$TOK/signetfs.conf
refused() { # BACKING TEXT: the mount fails, its message names TEXT
	if "$SIGNETFS" outbox --config "$CONF" "$1" "$M" >"$SFS_TMP/m.log" 2>&1; then
		fusermount3 -u "$M" 2>/dev/null
		fail "mounted $1 ($(stat -c '%a %U' "$1"))"
	fi
	grep -q "$2" "$SFS_TMP/m.log" || fail "no '$2' in: $(cat "$SFS_TMP/m.log")"
	grep -q "strict-modes" "$SFS_TMP/m.log" || fail "no hint: $(cat "$SFS_TMP/m.log")"
}
P=$SFS_TMP/priv
mkdir -m 0700 "$P"
mkdir -m 0777 "$P/b1"
refused "$P/b1" "writable by group or others"
mkdir -m 0755 "$P/b2" && chown 4242 "$P/b2"
refused "$P/b2" "owned by uid 4242"
# reachable by others: every directory up from it lets them in
chmod 0755 "$SFS_TMP"
mkdir -m 0755 "$SFS_TMP/open" "$SFS_TMP/open/b3"
refused "$SFS_TMP/open/b3" "other users can reach"
chmod 0700 "$SFS_TMP"
# an ancestor writable by others (not root's sticky /tmp) is refused too
chmod 0777 "$P" && mkdir -m 0755 "$P/b4"
refused "$P/b4" "writable by group or others"
chmod 0700 "$P"
# the explicit option mounts it anyway
{ cat "$TOK/signetfs.conf"; printf '[outbox]\nstrict-modes = no\n'; } >"$TOK/lax.conf"
sfs_mount outbox "$TOK/lax.conf" "$P/b1" "$M"
echo lax >"$M/x"
sfs_verify_both "$TOK/lax.conf" "$P/b1" "$P/b1/x" "$(ob_ca "$TOK")"
sfs_umount "$M" "$SFS_PID" "$SFS_LOG"

# a private BACKING: mounts; another filesystem below it is not entered
ob_start
mkdir "$B/sub"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$B/sub" || skip "cannot mount tmpfs"
trap 'umount -l "$B/sub" 2>/dev/null || true; ob_cleanup' EXIT
ob_errno EACCES "os.listdir('$M/sub')"
ob_errno EACCES "open('$M/sub/x', 'w')"
umount "$B/sub"
# a bind mount of this very filesystem (same st_dev) is refused too: its
# source can be written without the mount
mkdir -p "$SFS_TMP/elsewhere" "$B/bound"
mount --bind "$SFS_TMP/elsewhere" "$B/bound" || skip "cannot bind-mount"
trap 'umount -l "$B/bound" 2>/dev/null || true; ob_cleanup' EXIT
echo planted >"$SFS_TMP/elsewhere/p"
ob_errno EACCES "os.listdir('$M/bound')"
ob_errno EACCES "open('$M/bound/p', 'a')"
umount "$B/bound"
# a planted file: truncating it to its own size signs nothing
printf 'planted, never written through the mount\n' >"$B/planted"
truncate -s "$(stat -c %s "$B/planted")" "$M/planted" || fail "truncate"
[ ! -e "$B/planted.sig" ] || fail "planted got a signature"
ob_records_is sign planted 0 || fail "a sign record for planted"
# twin: a truncation that changes the file is a write through the mount
echo mine >"$M/mine"
truncate -s 2 "$M/mine"
ob_ok mine
[ "$(cat "$B/mine")" = mi ] || fail "mine content"
SFS_LOG_ALLOW='another filesystem' ob_stop
