#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# --no-sign (benchmark baseline): the same pass-through, no signatures.
. "$(dirname "$0")/common.sh"
ob_start --no-sign
head -c 1000000 /dev/urandom >"$SFS_TMP/src"
cp "$SFS_TMP/src" "$M/f"
mkdir "$M/d"
mv "$M/f" "$M/d/g"
cmp "$SFS_TMP/src" "$B/d/g"
[ -z "$(find "$B" -name '*.sig')" ] || fail "a signature with --no-sign"
ob_bad d/g
ob_errno EPERM "open('$M/x.sig', 'wb')"
ob_stop
