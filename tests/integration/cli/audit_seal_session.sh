#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A record appended to a closed log is not sealed by the next writer's
# checkpoint: each checkpoint seals only the lines its own session wrote,
# so the forged line is named whether it claims the closed session or one
# of its own. Before extending a log a writer checks its tail back to the
# last checkpoint: it records what it found, and refuses a tail that was
# changed (the log is left as it was).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/audit_common.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
conf=$t/key/signetfs.conf
log=$t/key/audit.log
mkdir -p "$t/r"
for i in 1 2 3; do echo "$i" >"$t/r/f$i"; done
"$SIGNETFS" sign --config "$conf" --root "$t/r" "$t/r/f1" "$t/r/f2" ||
	fail "sign"
n=$(wc -l <"$log")
cp "$log" "$t/closed.log"

# sign_into LOG FILE...: a new writer (session) appends to LOG.
sign_into() {
	local l=$1
	shift
	cp "$conf" "$t/key/into.conf" # beside conf: relative paths hold
	set_log "$t/key/into.conf" "$l"
	"$SIGNETFS" sign --config "$t/key/into.conf" --root "$t/r" "$@"
}

# (1) A forged sign record in the name of the closed session, then the
# next writer seals on top of it.
cp "$t/closed.log" "$t/same.log"
python3 "$FORGE" append "$t/same.log" --like sign --path evil --session keep
sign_into "$t/same.log" "$t/r/f3" || fail "sign after the forged line"
tail -n1 "$t/same.log" | grep -q '"event":"checkpoint","final":true' ||
	fail "the next writer did not seal the log"
av_bad $((n + 1)) "closed by its final checkpoint" --config "$conf" "$t/same.log"
# (2) The same in a session of its own that no checkpoint ever seals.
cp "$t/closed.log" "$t/new.log"
python3 "$FORGE" append "$t/new.log" --like sign --path evil --session new
sign_into "$t/new.log" "$t/r/f3" || fail "sign after the forged line"
av_bad $((n + 1)) "not sealed" --config "$conf" "$t/new.log"
# The next writer said what it found: one line after the last checkpoint.
sed -n "$((n + 2))p" "$t/new.log" |
	grep -q '"event":"open",.*"tail":"unsealed","unsealed":1,"checkpoint":{"seq":'"$n"',"final":true,"key":"ours"}' ||
	fail "no open record stating the unsealed tail: $(sed -n "$((n + 2))p" "$t/new.log")"

# (3) The last checkpoint changed: the next writer refuses the log.
sed '$s/"final":true/"final":false/' "$t/closed.log" >"$t/changed.log"
cp "$t/changed.log" "$t/changed.orig"
rc=0
sign_into "$t/changed.log" "$t/r/f3" 2>"$t/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a writer extended a log whose last checkpoint was changed"
grep -q "refusing to extend it" "$t/err" || fail "no reason given: $(cat "$t/err")"
note "$(grep refusing "$t/err")"
cmp -s "$t/changed.log" "$t/changed.orig" || fail "the refused log was written to"
# (4) A line before a forged one edited: the chain is broken in the tail.
cp "$t/closed.log" "$t/edited.log"
python3 "$FORGE" append "$t/edited.log" --like sign --path evil
sed -i "${n}s/\"records\":[0-9]*/\"records\":9/" "$t/edited.log"
rc=0
sign_into "$t/edited.log" "$t/r/f3" 2>"$t/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a writer extended a log with a broken chain"
grep -q "does not chain" "$t/err" || fail "no reason given: $(cat "$t/err")"
# (5) A torn last line.
head -c -5 "$t/closed.log" >"$t/torn.log"
rc=0
sign_into "$t/torn.log" "$t/r/f3" 2>"$t/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a writer extended a torn log"

# Twin: the untouched closed log is extended and stays sealed, and the
# next writer found its last checkpoint sealed with the log's own key.
sign_into "$log" "$t/r/f3" || fail "sign"
sed -n "$((n + 1))p" "$log" |
	grep -q '"event":"open",.*"tail":"sealed","unsealed":0,"checkpoint":{"seq":'"$n"',"final":true,"key":"ours"}' ||
	fail "open record: $(sed -n "$((n + 1))p" "$log")"
av_sealed --config "$conf" "$log"
echo "audit_seal_session: ok"
