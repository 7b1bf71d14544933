#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Each denial is also a line in the daemon's log, "not served: PATH:
# REASON (what it means)", with the reason of its verify-denied record:
# once per occurrence, as the record (not once per lookup); a path's
# control bytes escaped (a newline cannot forge a line); never a byte of
# the file. At most 10 such lines a second: a scan of 200 unsigned files
# logs fewer, and says how many it left out, so that the lines and the
# "N more verify-denied not logged" counts add up to the records exactly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"
mkdir -p "$B/rel" "$B/scan"
secret=CONTENT-MARKER-$RANDOM$RANDOM
printf '%s good\n' "$secret" >"$B/rel/good"
printf '%s tampered\n' "$secret" >"$B/rel/tampered"
printf '%s plain\n' "$secret" >"$B/rel/plain"
printf '%s moved\n' "$secret" >"$B/rel/moved"
nl=$'rel/two\nlines'
printf '%s nl\n' "$secret" >"$B/$nl"
ib_sign rel/good rel/tampered rel/moved
flip rel/tampered 0
mv "$B/rel/moved" "$B/rel/renamed"
mv "$B/rel/moved.sig" "$B/rel/renamed.sig"
n=200
for i in $(seq 1 $n); do printf '%s %s\n' "$secret" "$i" >"$B/scan/u$i"; done

ib_mount
log=$IB_LOG
lines() { grep -F 'signetfs: not served: ' "$log" || true; }
visible rel/good
for f in rel/tampered rel/plain rel/renamed; do
	hidden "$f"
	hidden "$f" # again: no second record, no second line
done
cat "$M/$nl" 2>/dev/null && fail "the file with a newline in its name was served"
# want LINE: exactly one such line in the log.
want() {
	[ "$(lines | grep -cF -- "$1")" -eq 1 ] ||
		{ cat "$log" >&2; fail "want one line '$1'"; }
}
want "not served: rel/tampered: content-digest (content does not match the signed digest)"
want "not served: rel/plain: no-signature (no signature file)"
want "not served: rel/renamed: path-mismatch (signed path differs from the file's path)"
want 'not served: rel/two\x0alines: no-signature (no signature file)'
audited rel/tampered content-digest
audited rel/plain no-signature
audited rel/renamed path-mismatch
[ "$(lines | wc -l)" -eq 4 ] || { cat "$log" >&2; fail "want 4 lines, one per denial"; }
! grep -qF "$secret" "$log" || fail "the log holds the bytes of a file"

# The scan: 200 denials in one process, as fast as they come.
start=$EPOCHREALTIME
python3 - "$M/scan" "$n" <<'PY'
import sys
for i in range(1, int(sys.argv[2]) + 1):
    try:
        open(f"{sys.argv[1]}/u{i}").close()
        sys.exit(f"u{i} was served")
    except FileNotFoundError:
        pass
PY
secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { s = b - a; print int(s) + (s > int(s)) }')
ib_umount
records=$(grep -F '"event":"verify-denied"' "$AUDIT" | grep -cF '"path":"scan/') || true
[ "$records" -eq "$n" ] || fail "$records verify-denied records for the scan, want $n"
logged=$(grep -cF 'signetfs: not served: scan/u' "$log") || true
left=$(grep -F ' more verify-denied not logged (at most 10 lines a second)' "$log" |
	sed -E 's/.*: ([0-9]+) more verify-denied.*/\1/' | awk '{ s += $1 } END { print s + 0 }')
note "scan: $logged lines, $left left out"
[ $((logged + left)) -eq "$n" ] || { cat "$log" >&2; fail "$logged lines + $left left out != $n denials"; }
[ "$left" -gt 0 ] || fail "no line was left out of $n denials: not rate-limited"
# 10 a second: the scan's seconds, and one more for the window it began in.
[ "$logged" -le $((10 * (secs + 1))) ] ||
	fail "$logged lines in a scan of $secs s: more than 10 a second"
! grep -qF "$secret" "$log" || fail "the log holds the bytes of a file"
