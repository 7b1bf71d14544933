#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# listxattr with a buffer works on every node of the inbox: directories
# and .sig files have no names (an empty list, not EIO), a verified file
# lists its user.signetfs.* names (before: a directory or .sig answered a
# buffered listxattr with a size reply, which the kernel turns into EIO,
# so `rsync -aX` exited 23 and `tar --xattrs` warned).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
mkdir -p "$B/dir"
mkdata "$B/dir/app" 5000
ib_sign dir/app
ib_mount
python3 - "$M" <<'PY' || fail "listxattr"
import os, sys
m = sys.argv[1]
for p in (m + "/dir", m + "/dir/app.sig"):
    assert os.listxattr(p) == [], (p, os.listxattr(p))
names = os.listxattr(m + "/dir/app")
assert "user.signetfs.sha256" in names, names
PY
getfattr -d -m - "$M/dir" "$M/dir/app.sig" >/dev/null || fail "getfattr -d"
ib_umount
