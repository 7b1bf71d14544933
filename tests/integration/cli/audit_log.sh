#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The audit log is tamper-evident: each way of changing it is caught at the
# first bad line, and the untouched log verifies.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/audit_common.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/key"
sfs_init "$t/keyb"
conf=$t/key/signetfs.conf
log=$t/key/audit.log
# Two signers (two token stores: SoftHSM does not share one token store
# between processes reliably) appending to one log, concurrently, with
# group commit (the default). The verifier trusts both dev CAs and takes
# checkpoints from both keys.
sed -i "s|^audit-log = .*|audit-log = $log|" "$t/keyb/signetfs.conf"
cat "$t/key/ca.pem" "$t/keyb/ca.pem" >"$t/both-ca.pem"
both=(--trust "$t/both-ca.pem" --signer-sha256 "$(cert_sha256 "$t/key/signer.pem")"
	--signer-sha256 "$(cert_sha256 "$t/keyb/signer.pem")")
mkdir -p "$t/r" && cd "$t/r"
for i in $(seq 1 40); do echo "$i" >"f$i"; done
"$SIGNETFS" sign --config "$t/keyb/signetfs.conf" -j 4 f{1..20} &
bg=$!
"$SIGNETFS" sign --config "$conf" -j 4 f{21..40} || fail "sign A"
wait $bg || fail "sign B"
"$SIGNETFS" sign --config "$conf" f1 f2 f3

out=$("$SIGNETFS" audit verify "${both[@]}" "$log") || fail "intact log: $out"
"$SIGNETFS" audit verify --config "$conf" "$log" >/dev/null &&
	fail "a checkpoint by a key the config does not trust was accepted"
[ "$(grep -c '"event":"sign"' "$log")" -eq 43 ] || fail "expected 43 sign records"
[ "$(grep -c '"event":"checkpoint"' "$log")" -ge 3 ] || fail "expected checkpoints"
# Records name the writer as the kernel sees it.
grep -q '"writer":{"uid":0,"gid":0,"pid":[0-9]*,"user":"root","exe":"[^"]*signetfs"' "$log" ||
	fail "writer identity missing"

# expect_bad LINE DESCRIPTION: audit verify must fail and name LINE.
expect_bad() {
	local line=$1 what=$2 out rc=0
	out=$("$SIGNETFS" audit verify "${both[@]}" "$t/bad.log") || rc=$?
	[ $rc -eq 1 ] || fail "$what: exit $rc ($out)"
	[[ $out == *"line $line:"* ]] || fail "$what: wrong line: $out"
	note "$what -> $out"
}
n=$(wc -l <"$log")
# A cut names the first line of the last session (the third sign run)
# that no checkpoint of its own seals: its first line.
sid=$(tail -n1 "$log" | grep -o '"session":"[0-9a-f]*"')
last_first=$(grep -m1 -nF "$sid" "$log" | cut -d: -f1)

# A sign record (sessions start with an open record, which has no size).
e=$(awk 'NR >= 5 && /"event":"sign"/ { print NR; exit }' "$log")
sed "${e}s/\"size\":[0-9]*/\"size\":999/" "$log" >"$t/bad.log"; expect_bad $((e + 1)) "edited record"
sed '5d' "$log" >"$t/bad.log"; expect_bad 5 "deleted record"
sed '5p' "$log" >"$t/bad.log"; expect_bad 6 "inserted (duplicated) record"
awk 'NR==5 {h=$0; next} NR==6 {print; print h; next} {print}' "$log" >"$t/bad.log"; expect_bad 5 "reordered records"
head -n $((n - 1)) "$log" >"$t/bad.log"; expect_bad "$last_first" "final checkpoint cut off"
head -n $((n - 2)) "$log" >"$t/bad.log"; expect_bad "$last_first" "truncated after records"
head -c -20 "$log" >"$t/bad.log"; expect_bad "$n" "torn last line"
# The last line is the final checkpoint: tamper with its signature.
{ head -n $((n - 1)) "$log"; tail -n 1 "$log" | sed 's/"sig":"MI/"sig":"MJ/'; } >"$t/bad.log"
expect_bad "$n" "checkpoint signature altered"
# A checkpoint signed by another token whose CA is not trusted.
cd "$t/r"
sfs_init "$t/key2"
cp "$log" "$t/other.log"
"$SIGNETFS" sign --config "$t/key2/signetfs.conf" f1 # its own log, own key
sed -i 's|^audit-log = .*|audit-log = '"$t"'/other.log|' "$t/key2/signetfs.conf"
"$SIGNETFS" sign --config "$t/key2/signetfs.conf" f2
cp "$t/other.log" "$t/bad.log"; expect_bad "$(wc -l <"$t/bad.log")" "checkpoint by an untrusted key"
# A live log may end unsealed; a log that doesn't parse fails at that line.
head -n $((n - 2)) "$log" >"$t/live.log"
"$SIGNETFS" audit verify "${both[@]}" --live "$t/live.log" >/dev/null ||
	fail "--live rejected an intact open log"
{ head -n 2 "$log"; echo 'not json'; } >"$t/bad.log"; expect_bad 3 "garbage line"
"$SIGNETFS" audit show --event sign --path 'f1*' "$log" | grep -c ' f1' >/dev/null ||
	fail "audit show filter"
# A key configured for SHA-384 content still seals the log (checkpoints
# sign the SHA-256 chain head): regression for a refused checkpoint.
sfs_init "$t/k384"
sed -i 's/^\[signetfs\]$/[signetfs]\ndigest = sha384/' "$t/k384/signetfs.conf"
"$SIGNETFS" sign --config "$t/k384/signetfs.conf" f3 2>"$t/err" || fail "sha384 sign"
[ ! -s "$t/err" ] || { cat "$t/err"; fail "sha384 sign complained"; }
"$SIGNETFS" audit verify --config "$t/k384/signetfs.conf" "$t/k384/audit.log" >/dev/null ||
	fail "sha384 log not sealed"
# A .sig that cannot be installed after its sign record: the sign-failed
# answers that record by seq (docs/audit-log.md), and a token failure
# before any record answers nothing. The twin: a file signed beside it
# keeps an unanswered sign record.
mkdir -p "$t/imm" && echo imm >"$t/imm/g" && echo ok >"$t/imm/h"
if chattr +i "$t/imm" 2>/dev/null; then
	"$SIGNETFS" sign --config "$conf" --root "$t" "$t/imm/g" 2>"$t/err" &&
		{ chattr -i "$t/imm"; fail "sign into an immutable directory succeeded"; }
	chattr -i "$t/imm"
	"$SIGNETFS" sign --config "$conf" --root "$t" "$t/imm/h" || fail "sign h"
	python3 - "$log" <<'PY' || fail "answers"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb")]
g = [r for r in recs if r.get("path") == "imm/g"]
h = [r for r in recs if r.get("path") == "imm/h"]
answered = {r.get("answers") for r in recs if r.get("event") == "sign-failed"}
if [r["event"] for r in g] != ["sign", "sign-failed"] or \
        g[1].get("answers") != g[0]["seq"]:
    sys.exit(f"imm/g: {[(r['event'], r.get('answers')) for r in g]}")
if [r["event"] for r in h] != ["sign"] or h[0]["seq"] in answered:
    sys.exit(f"imm/h: its sign record is answered: {h}")
PY
else
	note "chattr +i not supported on $t: the answered-install case skipped"
fi
echo "audit_log: ok"
