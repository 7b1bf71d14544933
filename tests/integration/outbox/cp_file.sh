#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cp into the outbox: when cp returns 0 the .sig exists (in BACKING, not in
# the writer's view) and verifies with signetfs verify and openssl cms;
# status xattrs say so; forgeries fail.
. "$(dirname "$0")/common.sh"
ob_start
head -c 3000000 /dev/urandom >"$SFS_TMP/src"
cp "$SFS_TMP/src" "$M/x"
[ -f "$B/x.sig" ] || fail "no x.sig after cp returned"
cmp "$SFS_TMP/src" "$B/x"
ob_ok x
[ "$(ob_xattr "$M/x" status)" = signed ] || fail "status: $(ob_xattr "$M/x" status)"
[ "$(ob_xattr "$M/x" sha256)" = "$(sha256sum <"$SFS_TMP/src" | cut -d' ' -f1)" ] ||
	fail "sha256 xattr"
[ -n "$(ob_xattr "$M/x" signer)" ] || fail "no signer xattr"
getfattr -d "$M/x" 2>/dev/null | grep -q user.signetfs.status || fail "listxattr"
ob_audited sign x
# the .sig is in BACKING only: writers see what they wrote, nothing more
ob_errno ENOENT "os.stat('$M/x.sig')"
[ "$(ls -A "$M")" = x ] || fail "the view lists $(ls -A "$M")"
# empty file and a file in a subdirectory
: >"$SFS_TMP/empty"
cp "$SFS_TMP/empty" "$M/empty"
ob_ok empty
mkdir -p "$M/a/b"
cp "$SFS_TMP/src" "$M/a/b/y"
ob_ok a/b/y
# forgery twins: a flipped byte, another path, a truncated signature
ob_forge_flip x
ob_forge_flip a/b/y
ob_forge_move x a/b/x
ob_forge_move a/b/y y
cp "$B/x.sig" "$SFS_TMP/x.sig"
head -c $(($(stat -c %s "$SFS_TMP/x.sig") / 2)) "$SFS_TMP/x.sig" >"$B/x.sig"
ob_bad x
cp "$SFS_TMP/x.sig" "$B/x.sig"
ob_ok x
ob_stop
