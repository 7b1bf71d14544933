#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Found by fsstress: a signed file that is open for writing when it (or its
# directory) is renamed, and whose writer then closes without writing,
# must end up signed for its new path. It was left with no .sig (file
# rename) or with the old path's .sig (directory rename), and with two
# writers, after the other one's close had signed.
. "$(dirname "$0")/common.sh"
ob_start
echo one >"$M/f"
ob_ok f
exec 3>>"$M/f"
mv "$M/f" "$M/g"
exec 3>&-
ob_ok g
[ ! -e "$B/f.sig" ] || fail "f.sig left behind"
mkdir "$M/d"
echo two >"$M/d/h"
exec 3>>"$M/d/h"
mv "$M/d" "$M/e"
exec 3>&-
ob_ok e/h
ob_forge_move e/h e/h2
echo three >"$M/k"
exec 3>>"$M/k"
exec 4>>"$M/k"
echo more >&4
exec 4>&-
mv "$M/k" "$M/l"
exec 3>&-
ob_ok l
ob_stop
