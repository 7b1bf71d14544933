#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# NAME.sig is exactly as readable as NAME and owned alike, and follows a
# chmod or chown of NAME (before: every .sig was 0644, so a 0600 file's
# signature told anyone who could list the directory its SHA-256, size
# and writer).
. "$(dirname "$0")/common.sh"
command -v setpriv >/dev/null || skip "no setpriv"
sfs_need_fuse
chmod 0755 "$SFS_TMP" # other users reach the mount point, not BACKING
mkdir -m 0700 "$SFS_TMP/priv"
OB_BACKING=$SFS_TMP/priv/backing
ob_start -o allow_other
as_other() { setpriv --reuid 4242 --regid 4242 --clear-groups "$@"; }
mode() { stat -c %a "$1"; }
sig_readable() { # NAME: read bits of NAME.sig equal those of NAME
	[ $(( 0$(mode "$B/$1") & 0444 )) -eq $(( 0$(mode "$B/$1.sig") & 0444 )) ] ||
		fail "$1 $(mode "$B/$1"), $1.sig $(mode "$B/$1.sig")"
}
(umask 077; echo secret >"$M/private")
ob_ok private
[ "$(mode "$B/private")" = 600 ] || fail "private mode $(mode "$B/private")"
sig_readable private
if as_other cat "$M/private.sig" >/dev/null 2>&1; then
	fail "another user read private.sig"
fi
(umask 027; echo group >"$M/grp")
sig_readable grp
echo public >"$M/public"
sig_readable public
as_other cat "$M/public.sig" >/dev/null || fail "public.sig unreadable"
# chmod and chown of the file: the .sig follows
chmod 0600 "$M/public"
sig_readable public
if as_other cat "$M/public.sig" >/dev/null 2>&1; then
	fail "public.sig readable after chmod 0600"
fi
chmod 0644 "$M/private"
sig_readable private
as_other cat "$M/private.sig" >/dev/null || fail "private.sig unreadable after chmod"
chown 4242:4242 "$M/private"
[ "$(stat -c %u:%g "$B/private.sig")" = 4242:4242 ] ||
	fail "private.sig owner $(stat -c %u:%g "$B/private.sig")"
ob_ok private
# a rename re-signs with the file's mode too
chmod 0640 "$M/grp"
mv "$M/grp" "$M/grp2"
sig_readable grp2
ob_ok grp2
ob_stop
