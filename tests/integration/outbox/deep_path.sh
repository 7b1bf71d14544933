#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A path deeper than policy evaluates (256 components) is refused, never
# given the global rules (before: the matcher said "no rule" and the
# global writers and key applied, so a rule's key and writers could be
# escaped by depth). Here [rule **/x] lets nobody write files named x and
# the globals let root write: a file x at depth 257 must not be written or
# signed, by creation or by rename; at depth 256 the rule still holds.
. "$(dirname "$0")/common.sh"
ob_start "$(printf '%s\n' '[rule **/x]' 'writers-uid = 4242')"
d=$M
for _ in $(seq 1 255); do d=$d/d; done
mkdir -p "$d" || fail "mkdir at depth 255"
# depth 256: the rule applies (root may not write x) ...
ob_errno EACCES "open('$d/x', 'w')"
# ... and other names are the globals' (root may)
echo ok >"$d/y" || fail "write at depth 256"
rel=${d#"$M"/}
ob_ok "$rel/y"
# depth 257: refused whatever the name, for a directory too
mkdir "$d/e" || fail "mkdir at depth 256"
ob_errno EACCES "os.mkdir('$d/e/f')"
ob_errno EACCES "open('$d/e/x', 'w')"
ob_errno EACCES "open('$d/e/z', 'w')"
[ ! -e "$B/$rel/e/x" ] && [ ! -e "$B/$rel/e/z" ] || fail "deep file created"
# a rename to depth 257 is refused too
ob_errno EACCES "os.rename('$d/y', '$d/e/y')"
[ -e "$B/$rel/y" ] && [ ! -e "$B/$rel/e/y" ] || fail "renamed deep"
ob_ok "$rel/y"
python3 - "$AUDIT" <<'PY' || fail "no policy-denied record for the deep path"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb")]
assert any(r["event"] == "policy-denied" and r.get("path", "").endswith("/e/z")
           and r["path"].count("/") == 256 for r in recs), "none"
PY
ob_records_match_stats
ob_stop
ob_audit_verify
