#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A write to a signed file removes its .sig before the first byte lands;
# the close signs the new content; the old signature does not vouch for it.
. "$(dirname "$0")/common.sh"
ob_start
echo version1 >"$M/f"
ob_ok f
cp "$B/f.sig" "$SFS_TMP/old.sig"
python3 - "$M/f" "$B/f" <<'PY'
import os, sys
m, b = sys.argv[1], sys.argv[2]
fd = os.open(m, os.O_RDWR)
assert os.path.exists(b + ".sig"), ".sig removed by a mere open"
os.write(fd, b"V")
os.fsync(fd)  # the byte has landed in BACKING now, the writeback cache
# may otherwise hold it until close
assert open(b, "rb").read(1) == b"V"
assert not os.path.exists(b + ".sig"), ".sig still there after a write"
st = os.getxattr(m, "user.signetfs.status")
assert st == b"unsigned", st
os.close(fd)
PY
ob_ok f
[ "$(cat "$B/f")" = Version1 ] || fail "content"
# O_TRUNC: the .sig goes at open
exec 3>"$M/f"
[ ! -e "$B/f.sig" ] || fail ".sig survives O_TRUNC"
echo version2 >&3
exec 3>&-
ob_ok f
# forgery twin: the version1 signature on version2 content
cp "$SFS_TMP/old.sig" "$B/f.sig"
ob_bad f
echo version3 >"$M/f"
ob_ok f
# two descriptors on one file: a close while the other is still open for
# writing signs nothing (that writer may be in the middle of the file);
# the close that ends the last of them signs everything
exec 3>>"$M/f" 4>>"$M/f"
echo a >&3
exec 3>&-
ob_bad f
echo b >&4
exec 4>&-
ob_ok f
[ "$(cat "$B/f")" = "$(printf 'version3\na\nb')" ] || fail "content"
ob_forge_flip f
ob_stop
