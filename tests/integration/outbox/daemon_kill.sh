#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon killed with SIGKILL in the middle of a copy: no valid
# signature for the partial content; a new mount over the same BACKING
# works, hides leftover temp files and orphaned signatures and removes
# them with their directory.
. "$(dirname "$0")/common.sh"
ob_start
head -c $((128 << 20)) /dev/urandom >"$SFS_TMP/src"
mkdir "$M/d"
echo keep >"$M/d/kept"
cp "$SFS_TMP/src" "$M/d/big" 2>/dev/null &
cp_pid=$!
wait_for 30 ob_size_at_least "$M/d/big" $((40 << 20)) "$cp_pid" ||
	fail "no progress"
kill -9 "$OB_PID"
wait "$OB_PID" 2>/dev/null || true
if wait "$cp_pid"; then fail "cp succeeded although the daemon died"; fi
fusermount3 -uz "$M" 2>/dev/null || umount -l "$M" 2>/dev/null || true
cmp -s "$SFS_TMP/src" "$B/d/big" && fail "copy completed before the kill"
ob_bad d/big
ob_ok d/kept
# what a daemon killed while writing a .sig leaves: a temp file (a slot
# of a slot: no writer's name), and a .sig whose file a crash removed
sig_tmp="$B/d/.sfs-tmp-a1b2c3d4e5f6.sig.sig"
printf 'partial' >"$sig_tmp"
touch -d '1 hour ago' "$sig_tmp"
cp "$B/d/kept.sig" "$B/d/gone.sig"
# a new mount over the same BACKING
sfs_mount outbox "$CONF" "$B" "$M"
OB_PID=$SFS_PID
OB_LOG=$SFS_LOG
ob_no_temps "$M"
ob_errno ENOENT "os.stat('$M/d/.sfs-tmp-a1b2c3d4e5f6.sig.sig')"
[ "$(ls -A "$M/d")" = "$(printf 'big\nkept')" ] || fail "view: $(ls -A "$M/d")"
[ "$(ob_xattr "$M/d/big" status)" = unsigned ] || fail "big status"
cp "$SFS_TMP/src" "$M/d/big"
ob_ok d/big
ob_forge_flip d/big
rm "$M/d/big" "$M/d/kept"
rmdir "$M/d" # the stale temp file and .sig do not keep the directory alive
[ ! -e "$B/d" ] || fail "rmdir"
ob_stop
