#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# user.signetfs.{status,sha256,signer} on every file, also after a remount
# (computed from the .sig) and for tampered or unsigned files; other
# xattrs pass through.
. "$(dirname "$0")/common.sh"
ob_start
head -c 50000 /dev/urandom >"$SFS_TMP/src"
cp "$SFS_TMP/src" "$M/f"
cp "$SFS_TMP/src" "$M/g"
echo unsigned >"$B/plain"
sum=$(sha256sum <"$SFS_TMP/src" | cut -d' ' -f1)
setfattr -n user.note -v hello "$M/f"
[ "$(getfattr --only-values -n user.note "$M/f")" = hello ] || fail "pass-through"
[ "$(getfattr --only-values -n user.note "$B/f")" = hello ] || fail "not in BACKING"
ob_stop
ob_start
[ "$(ob_xattr "$M/f" status)" = signed ] || fail "f: $(ob_xattr "$M/f" status)"
[ "$(ob_xattr "$M/f" sha256)" = "$sum" ] || fail "sha256"
[ "$(ob_xattr "$M/f" signer)" = "$(ob_xattr "$M/g" signer)" ] || fail "signer"
[ "$(ob_xattr "$M/plain" status)" = unsigned ] || fail "plain"
# tampered in BACKING behind the daemon's back
printf x >>"$B/g"
case "$(ob_xattr "$M/g" status)" in
"failed: "*) ;;
*) fail "tampered g: $(ob_xattr "$M/g" status)" ;;
esac
ob_bad g
ob_ok f
ob_stop
