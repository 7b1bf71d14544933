#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# unlink removes the .sig; NAME.sig cannot be unlinked while NAME exists
# (EPERM), an orphaned one can; rmdir works.
. "$(dirname "$0")/common.sh"
ob_start
echo data >"$M/f"
ob_ok f
ob_errno EPERM "os.unlink('$M/f.sig')"
[ -e "$B/f.sig" ] || fail "f.sig gone"
rm "$M/f"
[ ! -e "$B/f" ] && [ ! -e "$B/f.sig" ] || fail "unlink left files"
ob_bad f
# an orphan .sig (its file was removed in BACKING) may go
echo data >"$M/g"
rm "$B/g"
rm "$M/g.sig"
[ ! -e "$B/g.sig" ] || fail "orphan stays"
mkdir -p "$M/d/e"
echo x >"$M/d/e/h"
rm "$M/d/e/h"
rmdir "$M/d/e" "$M/d"
[ ! -e "$B/d" ] || fail "rmdir"
# forgery twin: a signature restored after unlink does not vouch for a
# different file put at that name
echo one >"$M/r"
cp "$B/r.sig" "$SFS_TMP/r.sig"
rm "$M/r"
echo two >"$B/r"
cp "$SFS_TMP/r.sig" "$B/r.sig"
ob_bad r
ob_stop
