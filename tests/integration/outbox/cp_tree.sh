#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cp -r of a 10,000-file tree: every file has a valid .sig when cp returns;
# readdir of 10,000+ entries through the mount.
. "$(dirname "$0")/common.sh"
ob_start
src=$SFS_TMP/tree
mkdir -p "$src/flat" "$src/deep/a/b/c"
python3 - "$src" <<'PY'
import os, sys
root = sys.argv[1]
for i in range(9900):
    with open(f"{root}/flat/f{i:05d}", "wb") as f:
        f.write(os.urandom(64) + b"%d\n" % i)
for i in range(100):
    with open(f"{root}/deep/a/b/c/g{i}", "wb") as f:
        f.write(os.urandom(4096))
PY
cp -r "$src" "$M/tree"
n=$(find "$B/tree" -type f ! -name '*.sig' | wc -l)
s=$(find "$B/tree" -type f -name '*.sig' | wc -l)
[ "$n" -eq 10000 ] && [ "$s" -eq 10000 ] || fail "files $n, sigs $s"
# every file has its own .sig, none is missing
( cd "$B/tree" && find . -type f ! -name '*.sig' | while read -r f; do
	[ -f "$f.sig" ] || echo "$f"; done ) | grep . && fail "missing .sig"
# readdir through the mount: the 9,900 files, no .sig, no temp names
[ "$(ls -f "$M/tree/flat" | wc -l)" -eq $((9900 + 2)) ] || fail "readdir"
ob_no_temps "$M/tree"
# the daemon's view of each file agrees
st=$(ob_count_signed "$M/tree/deep")
[ "$st" -eq 100 ] || fail "status xattrs: $st signed of 100"
# both verifiers on a sample spread over the tree
for i in 0 1 77 500 4242 9899; do ob_ok "tree/flat/f$(printf %05d $i)"; done
for i in 0 50 99; do ob_ok "tree/deep/a/b/c/g$i"; done
ob_forge_flip tree/flat/f04242
ob_forge_move tree/flat/f00001 tree/flat/f00002x
# one sign record per file, each naming its writer (cp), no failures
ob_expect_records sign 'tree/*' 10000
ob_record_writer sign tree/flat/f04242 0 /usr/bin/cp
[ "$(ob_records sign-failed)" -eq 0 ] || fail "sign-failed records"
ob_records_match_stats
ob_stop
ob_audit_verify
