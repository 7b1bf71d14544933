#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Per-path versions (issue 15): with a state-dir, every signature the
# outbox makes carries the path's next version, counted on disk: 1, 2 for
# two writes; a rename over a path signs it above what that path had; the
# count goes on across a remount, and even when the counter is lost it
# stays above the version of the .sig in BACKING. Then an inbox over the
# same BACKING refuses the versions put back (rollback), also after the
# rename and across its own remount.
. "$(dirname "$0")/common.sh"
SO=$SFS_TMP/state-outbox
ob_start "$(printf '[signetfs]\nstate-dir = %s' "$SO")"

ver() {
	"$SIGNETFS" verify --config "$CONF" --root "$B" --json "$B/$1" |
		python3 -c "import json,sys; print(json.load(sys.stdin).get('version', 0))"
}
want_ver() { [ "$(ver "$1")" -eq "$2" ] || fail "$1: version $(ver "$1"), want $2"; }
save() { mkdir -p "$SFS_TMP/$2" && cp -p "$B/$1" "$B/$1.sig" "$SFS_TMP/$2/"; }

printf 'p, first\n' >"$M/p"
ob_ok p
want_ver p 1
save p v1
printf 'p, second\n' >"$M/p"
ob_ok p
want_ver p 2
save p v2
printf 'q\n' >"$M/q"
want_ver q 1
# Renamed over p: the destination's version exceeds anything p had.
mv "$M/q" "$M/p"
ob_ok p
want_ver p 3
grep -qx 'q' "$B/p" || fail "not q's bytes at p"
# Renamed to a new path: that path's first version.
mv "$M/p" "$M/r"
want_ver r 1
mv "$M/r" "$M/p"
want_ver p 4
ob_stop

# The count survives a remount.
ob_start "$(printf '[signetfs]\nstate-dir = %s' "$SO")"
printf 'p, fifth\n' >"$M/p"
want_ver p 5
ob_stop
# The counter lost: not below what p.sig says (5), never 1 again.
rm -rf "$SO"
ob_start "$(printf '[signetfs]\nstate-dir = %s' "$SO")"
printf 'p, sixth\n' >"$M/p"
want_ver p 6
save p v6
ob_stop

# An inbox over the same BACKING, with its own state directory.
IM=$SFS_TMP/inbox
SI=$SFS_TMP/state-inbox
IA=$SFS_TMP/inbox-audit.jsonl
ICONF=$TOK/inbox.conf
sed -e '/^state-dir = /d' -e "s|^audit-log = .*|audit-log = $IA|" "$CONF" >"$ICONF"
printf '[signetfs]\nstate-dir = %s\n' "$SI" >>"$ICONF"
served() { cmp -s "$IM/p" "$B/p"; }
refused_rollback() {
	! cat "$IM/p" >/dev/null 2>&1 || fail "p served: $(head -c 40 "$B/p")"
	grep -F '"event":"verify-denied"' "$IA" | grep -F '"path":"p",' |
		grep -qF '"reason":"rollback"' || fail "no rollback record for p"
}
sfs_mount inbox "$ICONF" "$B" "$IM"
IPID=$SFS_PID ILOG=$SFS_LOG
served || fail "version 6 not served"
cp -p "$SFS_TMP/v2/p" "$SFS_TMP/v2/p.sig" "$B/"
refused_rollback
cp -p "$SFS_TMP/v1/p" "$SFS_TMP/v1/p.sig" "$B/"
refused_rollback
sfs_umount "$IM" "$IPID" "$ILOG"
sfs_mount inbox "$ICONF" "$B" "$IM"
IPID=$SFS_PID ILOG=$SFS_LOG
refused_rollback
cp -p "$SFS_TMP/v6/p" "$SFS_TMP/v6/p.sig" "$B/"
served || fail "version 6 put back is not served"
sfs_umount "$IM" "$IPID" "$ILOG"
echo "versions: ok"
