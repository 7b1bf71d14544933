#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Names with spaces, newlines and non-UTF-8 bytes are signed with the exact
# bytes of their path.
. "$(dirname "$0")/common.sh"
ob_start
mkdir "$M/dir with space"
echo a >"$M/dir with space/file name"
printf 'b\n' >"$M/new"$'\n'"line"
printf 'c\n' >"$M/"$'\xff\xfe'"latin"$'\xe9'
ob_ok "dir with space/file name"
ob_ok "new"$'\n'"line"
ob_ok $'\xff\xfe'"latin"$'\xe9'
python3 - "$M" <<'PY' || fail "readdir"
import os, sys
want = {b"dir with space", b"new\nline", b"\xff\xfelatin\xe9"}
got = set(os.listdir(os.fsencode(sys.argv[1])))
sys.exit(0 if got == want else f"listed {sorted(got)}")
PY
ob_forge_move "dir with space/file name" "dir with space/file  name"
ob_forge_flip "dir with space/file name"
ob_stop
