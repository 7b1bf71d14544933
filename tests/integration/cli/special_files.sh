#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `verify -r` and `sign -r` on a tree with a FIFO named x.sig, a FIFO named
# y (y.sig a regular signature), a device node and a socket: nothing is
# opened and each run finishes at once (timeout only detects a hang). -r
# leaves y, the device and the socket out (as the inbox hides them); x, whose
# .sig is a FIFO, gets its own error and the run exits 1; the regular files
# beside them are verified and signed. Named one by one, each of x, y, the
# device and the socket gets its own error and exit 1. The twin: without
# them the same tree verifies and signs with exit 0.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
d=$t/tree
mkdir -p "$d/sub"
for f in ok x y sub/deep; do printf '%s\n' "$f" >"$d/$f"; done
"$SIGNETFS" sign --config "$conf" --root "$d" -r "$d" >"$t/sign0" 2>&1 ||
	{ cat "$t/sign0" >&2; fail "sign of a regular tree"; }
rm "$d/x.sig" "$d/y"
mkfifo "$d/x.sig" "$d/y"
mknod "$d/null" c 1 3
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$d/sub/sock"
nr="not a regular file (not opened)"

# run OUT ERR CMD...: CMD must finish (124 is a hang) and exit 1.
run() {
	local out=$1 err=$2 rc=0
	shift 2
	timeout 20 "$@" >"$out" 2>"$err" || rc=$?
	[ "$rc" -ne 124 ] || fail "hung: $*"
	[ "$rc" -eq 1 ] || { cat "$out" "$err" >&2; fail "exit $rc, want 1: $*"; }
}

run "$t/v" "$t/v.err" "$SIGNETFS" verify --config "$conf" --root "$d" -r "$d"
sort "$t/v" >"$t/v.sorted"
sort >"$t/v.want" <<EOF
FAIL $d/x: no signature file (FILE.sig is not a regular file; not opened)
OK $d/ok
OK $d/sub/deep
EOF
diff "$t/v.want" "$t/v.sorted" >&2 || fail "verify -r output"

run "$t/j" "$t/j.err" "$SIGNETFS" verify --config "$conf" --root "$d" --json -r "$d"
python3 -c '
import json, sys
got = {json.loads(l)["file"].rsplit("/", 1)[1]: json.loads(l)["reason"]
       for l in open(sys.argv[1])}
want = {"x": "no-signature", "ok": "ok", "deep": "ok"}
assert got == want, got
' "$t/j" || fail "verify --json reasons"

for f in y null sub/sock; do
	run "$t/v1" "$t/v1.err" "$SIGNETFS" verify --config "$conf" --root "$d" \
		--json "$d/$f"
	grep -qF "\"reason\":\"not-regular-file\"" "$t/v1" ||
		fail "verify $f: $(cat "$t/v1")"
done
run "$t/v1" "$t/v1.err" "$SIGNETFS" verify --config "$conf" --root "$d" "$d/x"
grep -q "^FAIL $d/x: no signature file" "$t/v1" || fail "verify x: $(cat "$t/v1")"
# Nobody opened them: the FIFOs are still FIFOs, still without a writer.
[ -p "$d/x.sig" ] && [ -p "$d/y" ] || fail "a FIFO was replaced"

run "$t/s" "$t/s.err" "$SIGNETFS" sign --config "$conf" --root "$d" -r "$d"
grep -qxF "signetfs: sign: $d/x.sig: exists and is not a regular file; not replaced" \
	"$t/s.err" || { cat "$t/s.err" >&2; fail "sign -r: no error for x"; }
[ "$(wc -l <"$t/s.err")" -eq 1 ] || { cat "$t/s.err" >&2; fail "sign -r: other errors"; }
[ -p "$d/x.sig" ] || fail "sign replaced the FIFO x.sig"
[ -c "$d/null" ] && [ ! -e "$d/null.sig" ] || fail "sign touched the device"
for f in y null sub/sock; do
	run "$t/s1" "$t/s1.err" "$SIGNETFS" sign --config "$conf" --root "$d" "$d/$f"
	grep -qxF "signetfs: sign: $d/$f: $nr" "$t/s1.err" ||
		fail "sign $f: $(cat "$t/s1.err")"
done
# The regular files beside them were signed again and verify.
"$SIGNETFS" verify --config "$conf" --root "$d" "$d/ok" "$d/sub/deep" \
	>/dev/null || fail "the regular files do not verify"

# Twin: the same tree without the special files passes both ways.
rm "$d/x.sig" "$d/y" "$d/null" "$d/sub/sock"
printf 'y\n' >"$d/y"
timeout 20 "$SIGNETFS" sign --config "$conf" --root "$d" -r "$d" ||
	fail "sign -r of the regular tree"
timeout 20 "$SIGNETFS" verify --config "$conf" --root "$d" -r "$d" >"$t/v2" ||
	{ cat "$t/v2" >&2; fail "verify -r of the regular tree"; }
[ "$(grep -c '^OK ' "$t/v2")" -eq 4 ] || fail "not 4 OK: $(cat "$t/v2")"
echo "special_files: ok"
