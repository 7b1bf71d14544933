#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No rollback to an older signed version (issue 15). A file signed as
# version 1 and then version 2 (signetfs sign --state): version 1 put back
# with its own .sig is refused with reason rollback, audited, also after
# a remount, and `signetfs verify --state` says the same from the inbox's
# map. Twins of the accepted cases: an unversioned signature of a path
# once seen versioned is a rollback too; a path first seen unversioned is
# served (first contact); version 2 put back is served again. The map
# itself: put back whole from an earlier day (refused at mount by the
# seal of the last clean unmount, and by verify --state), an entry edited
# or copied from another path (its MAC binds the path: state-error).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
SI=$T/state-inbox
SO=$T/state-sign
# The signer's config has no state-dir: each signing below says --state
# (or not: the unversioned twin).
SIGNCONF=$CONF
CONF=$T/tok/inbox-state.conf
cp "$SIGNCONF" "$CONF"
printf '\n[signetfs]\nstate-dir = %s\n' "$SI" >>"$CONF"

sign_v() { # REL [--state DIR]
	local rel=$1
	shift
	"$SIGNETFS" sign --config "$SIGNCONF" --root "$B" "$@" "$B/$rel" \
		>"$T/sign.log" 2>&1 || { cat "$T/sign.log" >&2; fail "sign $rel"; }
}
version_of() {
	"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --json "$B/$1" |
		python3 -c "import json,sys; print(json.load(sys.stdin).get('version', 0))"
}
mount_refused() { # TEXT: the inbox does not mount, and says TEXT
	if "$SIGNETFS" inbox --config "$CONF" "$B" "$M" >"$T/m.log" 2>&1; then
		fusermount3 -u "$M" 2>/dev/null
		fail "mounted with $(ls "$SI")"
	fi
	grep -q "$1" "$T/m.log" || fail "no '$1' in: $(cat "$T/m.log")"
}
save() { mkdir -p "$T/$2" && cp -p "$B/$1" "$B/$1.sig" "$T/$2/"; }
put_back() { cp "$T/$2/$(basename "$1")" "$B/$1" && cp "$T/$2/$(basename "$1").sig" "$B/$1.sig"; }

mkdir -p "$B/rel"
printf 'app, first build\n' >"$B/rel/app"
sign_v rel/app --state "$SO"
[ "$(version_of rel/app)" -eq 1 ] || fail "first signature: version $(version_of rel/app)"
save rel/app v1
printf 'app, second build\n' >"$B/rel/app"
sign_v rel/app --state "$SO"
[ "$(version_of rel/app)" -eq 2 ] || fail "second signature: version $(version_of rel/app)"
save rel/app v2
printf 'first contact, unversioned\n' >"$B/rel/plain"
sign_v rel/plain

ib_mount
visible rel/app
grep -q 'second build' "$M/rel/app" || fail "not version 2"
visible rel/plain
# Version 1 put back, with its own valid .sig.
put_back rel/app v1
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" "$B/rel/app" >/dev/null ||
	fail "version 1 no longer verifies without the map: the twin proves nothing"
hidden rel/app
audited rel/app rollback
ib_umount

# Across a remount: the map is on disk.
ib_mount
hidden rel/app
audited rel/app rollback 2
ib_umount
rc=0
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --state "$SI" "$B/rel/app" \
	>"$T/verify.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q 'rollback' "$T/verify.out" ||
	fail "verify --state: rc $rc, $(cat "$T/verify.out")"
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --state "$SI" --json "$B/rel/app" \
	>"$T/verify.json" || true
grep -q '"reason":"rollback".*"version":1' "$T/verify.json" ||
	fail "verify --state --json: $(cat "$T/verify.json")"
# The map as it is today (rel/app at 2), kept aside: put back later, it
# must not lower what was served since.
mkdir "$T/si-day1"
cp -p "$SI/inbox.db" "$SI/inbox.seal" "$T/si-day1/"

# Version 2 back: served again (the same version is not older).
put_back rel/app v2
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --state "$SI" "$B/rel/app" \
	>"$T/verify.out" 2>&1 || fail "verify --state of version 2: $(cat "$T/verify.out")"
ib_mount
visible rel/app
# Unversioned signature of a path seen with a version: refused as well.
printf 'app, signed without a state\n' >"$B/rel/app"
sign_v rel/app
hidden rel/app
audited rel/app rollback 3
# A newer version goes through, and moves the mark.
printf 'app, third build\n' >"$B/rel/app"
sign_v rel/app --state "$SO"
[ "$(version_of rel/app)" -eq 3 ] || fail "third signature: version $(version_of rel/app)"
visible rel/app
put_back rel/app v2
hidden rel/app
audited rel/app rollback 4
# Two more paths: rel/tool at version 1, rel/lib at 2.
printf 'tool\n' >"$B/rel/tool"
sign_v rel/tool --state "$SO"
visible rel/tool
printf 'lib, first build\n' >"$B/rel/lib"
sign_v rel/lib --state "$SO"
visible rel/lib
save rel/lib lib1
printf 'lib, second build\n' >"$B/rel/lib"
sign_v rel/lib --state "$SO"
[ "$(version_of rel/lib)" -eq 2 ] || fail "rel/lib: version $(version_of rel/lib)"
visible rel/lib
ib_umount

# The whole map rolled back: day 1's inbox.db (rel/app at 2, every entry
# with a valid MAC) put back, its seal too, and rel/app's version 2.
# Its ctime cannot be put back: the mount refuses the store, and so does
# verify --state. Twin: the map as the unmount left it mounts (above).
cp -p "$SI/inbox.db" "$T/si-now.db"
cp -p "$T/si-day1/inbox.db" "$T/si-day1/inbox.seal" "$SI/"
mount_refused "was changed since"
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --state "$SI" "$B/rel/app" \
	>"$T/verify.out" 2>&1 && fail "verify --state took a rolled-back map"
grep -q "was changed since" "$T/verify.out" || fail "verify --state: $(cat "$T/verify.out")"
# Put back as a new file (another inode): refused as well.
cp "$T/si-day1/inbox.db" "$SI/inbox.db.new"
mv "$SI/inbox.db.new" "$SI/inbox.db"
cp -p "$T/si-day1/inbox.seal" "$SI/"
mount_refused "was changed since"
# Day 1's copy put back and the seal removed, to pass it off as a crash's
# leftover: the store says it was closed cleanly, which a crash never
# leaves. Refused by the mount and by verify --state.
cp -p "$SI/inbox.seal" "$T/seal.keep"
cp -p "$T/si-day1/inbox.db" "$SI/inbox.db"
rm "$SI/inbox.seal"
mount_refused "seal is gone"
"$SIGNETFS" verify --config "$SIGNCONF" --root "$B" --state "$SI" "$B/rel/app" \
	>"$T/verify.out" 2>&1 && fail "verify --state took a day-1 map without its seal"
grep -q "seal is gone" "$T/verify.out" || fail "verify --state: $(cat "$T/verify.out")"
cp -p "$T/seal.keep" "$SI/inbox.seal"

# Single entries, edited while unmounted. A sealed store is refused whole
# (as above); after a crash there is no seal (removed at mount), and each
# entry's MAC holds on its own: the seal goes, as in a crash.
cp -p "$T/si-now.db" "$SI/inbox.db"
sqlite3 "$SI/inbox.db" "UPDATE versions SET version = 1 WHERE path = CAST('rel/app' AS BLOB)"
put_back rel/app v1
mount_refused "was changed since"
# As a crash leaves it: no seal, no mark of a clean close in the store.
rm "$SI/inbox.seal"
sqlite3 "$SI/inbox.db" "DELETE FROM meta WHERE k='closed'"
# Also rel/tool's entry (version 1, its valid MAC) copied onto rel/lib,
# with rel/lib's version 1 put back: the MAC binds the path.
sqlite3 "$SI/inbox.db" "UPDATE versions SET version = (SELECT version FROM versions WHERE path = CAST('rel/tool' AS BLOB)), mac = (SELECT mac FROM versions WHERE path = CAST('rel/tool' AS BLOB)) WHERE path = CAST('rel/lib' AS BLOB)"
[ "$(sqlite3 "$SI/inbox.db" "SELECT version FROM versions WHERE path = CAST('rel/lib' AS BLOB)")" -eq 1 ] ||
	fail "rel/lib's entry not replaced"
put_back rel/lib lib1
# The map itself cannot be edited down: the entry fails its MAC, and the
# path is refused whatever version is there (state-error), never served.
ib_mount
hidden rel/app
audited rel/app state-error
hidden rel/lib
audited rel/lib state-error
visible rel/tool
ib_umount
echo "rollback: ok"
