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
# the same names as a signing outbox: a writer's x.sig is x.sig~ in BACKING
echo mine >"$M/x.sig"
[ "$(cat "$B/x.sig~")" = mine ] && [ ! -e "$B/x.sig" ] || fail "x.sig stored"
[ "$(ls -A "$M")" = "$(printf 'd\nx.sig')" ] || fail "view: $(ls -A "$M")"
# names up to 254 bytes (one for the escape), not one more
[ "$(python3 -c "import os; print(os.statvfs('$M').f_namemax)")" = 254 ] ||
	fail "f_namemax"
n=$(printf 'a%.0s' $(seq 1 250)).sig
echo long >"$M/$n"
[ -f "$B/$n~" ] || fail "254-byte name"
ob_errno ENAMETOOLONG "open('$M/a$n', 'w')"
ob_stop
