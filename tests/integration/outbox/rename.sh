#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rename signs again under the new path and removes the old .sig: a file,
# a file over an existing one, a whole directory tree, an exchange; an
# unsigned file stays unsigned when renamed.
. "$(dirname "$0")/common.sh"
ob_start
head -c 100000 /dev/urandom >"$SFS_TMP/a"
head -c 200000 /dev/urandom >"$SFS_TMP/b"
cp "$SFS_TMP/a" "$M/a"
cp "$SFS_TMP/b" "$M/b"
mv "$M/a" "$M/a2"
[ ! -e "$B/a.sig" ] || fail "old .sig left behind"
ob_ok a2
# forgery twin: the old path is not vouched for by the new signature
ob_forge_move a2 a
# over an existing signed file
mv "$M/a2" "$M/b"
ob_ok b
cmp "$SFS_TMP/a" "$B/b"
# into another directory, and a directory tree with many levels
mkdir -p "$M/d1/x/y" "$M/d2"
for f in d1/f1 d1/x/f2 d1/x/y/f3; do cp "$SFS_TMP/b" "$M/$f"; done
mv "$M/b" "$M/d1/x/y/moved"
ob_ok d1/x/y/moved
mv "$M/d1" "$M/d2/renamed"
for f in f1 x/f2 x/y/f3 x/y/moved; do ob_ok "d2/renamed/$f"; done
[ ! -e "$B/d1" ] || fail "d1 still there"
ob_forge_move d2/renamed/x/f2 d2/renamed/f2
# an exchange (renameat2 RENAME_EXCHANGE) swaps and re-signs both
cp "$SFS_TMP/a" "$M/p"
cp "$SFS_TMP/b" "$M/q"
python3 - "$M/p" "$M/q" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
if libc.renameat2(AT_FDCWD, sys.argv[1].encode(), AT_FDCWD,
                  sys.argv[2].encode(), RENAME_EXCHANGE) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))
PY
cmp "$SFS_TMP/b" "$B/p"
cmp "$SFS_TMP/a" "$B/q"
ob_ok p
ob_ok q
# an unsigned file (its writer was killed) is not signed by a rename
cp "$SFS_TMP/a" "$M/u"
rm "$B/u.sig" # as a killed writer leaves it
mv "$M/u" "$M/u2"
[ ! -e "$B/u2.sig" ] || fail "rename signed an unsigned file"
ob_bad u2
[ "$(ob_xattr "$M/u2" status)" = unsigned ] || fail "status of u2"
# a file with a forged .sig is not laundered by a rename either
cp "$SFS_TMP/a" "$M/v"
printf x >>"$B/v"
mv "$M/v" "$M/v2"
ob_bad v2
ob_audited sign d2/renamed/x/y/moved
ob_forge_flip d2/renamed/x/y/f3
ob_stop
