#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# NAME.sig is exactly as readable as NAME and owned alike, and follows a
# chmod or chown of NAME (before: every .sig was 0644, so a 0600 file's
# signature told anyone who could list the directory its SHA-256, size
# and writer). It is not in the writers' view at all: an inbox serves it
# with these modes (inbox/signed.sh).
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
(umask 027; echo group >"$M/grp")
sig_readable grp
echo public >"$M/public"
sig_readable public
# nobody reads a signature through the outbox: it is not there
for u in root other; do
	if [ $u = root ]; then c=(cat); else c=(as_other cat); fi
	if "${c[@]}" "$M/public.sig" >/dev/null 2>&1; then
		fail "$u read public.sig through the outbox"
	fi
done
as_other cat "$M/public" >/dev/null || fail "public unreadable"
# chmod and chown of the file: the .sig follows
chmod 0600 "$M/public"
sig_readable public
chmod 0644 "$M/private"
sig_readable private
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
