#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs verify -r --failures: the list of what is not signed, with
# reasons, and nothing about what is. The same FAIL lines (or JSON
# objects) as without it, in the same order, no OK line; the exit code
# is the same: 1 when something failed, 0 (and no output) when nothing
# did. Its twin without --failures still prints every file.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
d=$t/tree
mkdir -p "$d/pkg/sub" "$d/docs"
for f in pkg/a pkg/b pkg/sub/c docs/readme docs/unsigned pkg/tampered; do
	printf '%s\n' "$f" >"$d/$f"
done
"$SIGNETFS" sign --config "$conf" --root "$d" -r "$d" >/dev/null || fail "sign -r"
rm "$d/docs/unsigned.sig"
echo changed >>"$d/pkg/tampered"

verify() {
	rc=0
	"$SIGNETFS" verify --config "$conf" --root "$d" "$@" >"$t/out" 2>"$t/err" || rc=$?
}
verify -r "$d"
[ "$rc" -eq 1 ] || fail "verify -r: exit $rc, want 1"
[ "$(grep -c '^OK ' "$t/out")" -eq 4 ] || fail "verify -r: want 4 OK lines: $(cat "$t/out")"
grep '^FAIL ' "$t/out" >"$t/all-fails"

verify -r --failures "$d"
[ "$rc" -eq 1 ] || fail "--failures: exit $rc, want 1"
! grep -q '^OK ' "$t/out" || fail "--failures printed OK lines: $(cat "$t/out")"
cmp -s "$t/out" "$t/all-fails" ||
	fail "--failures: not the FAIL lines of a full run: $(cat "$t/out")"
[ "$(wc -l <"$t/out")" -eq 2 ] || fail "--failures: want 2 lines: $(cat "$t/out")"
grep -qxF "FAIL $d/docs/unsigned: no signature file" "$t/out" || fail "unsigned not listed"
grep -qxF "FAIL $d/pkg/tampered: content does not match the signed digest" "$t/out" ||
	fail "tampered not listed"

# JSON: only the failures, with their reasons.
verify -r --failures --json "$d"
[ "$rc" -eq 1 ] || fail "--failures --json: exit $rc, want 1"
python3 - "$t/out" "$d" <<'PY' || fail "--failures --json: $(cat "$t/out")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
got = {r["file"][len(sys.argv[2]) + 1:]: r["reason"] for r in rows}
assert got == {"docs/unsigned": "no-signature", "pkg/tampered": "content-digest"}, got
assert all(not r["ok"] and r["message"] for r in rows), rows
PY

# Nothing failed: no output, exit 0.
verify -r --failures "$d/pkg/sub"
[ "$rc" -eq 0 ] || fail "--failures, all good: exit $rc, want 0"
[ ! -s "$t/out" ] || fail "--failures, all good: printed $(cat "$t/out")"
echo "verify_failures: ok"
