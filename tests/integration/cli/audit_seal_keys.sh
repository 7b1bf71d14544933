#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A checkpoint is not a file signature and comes only from the log's own
# keys: a file signature that `signetfs sign` makes (with the log's own
# key) over exactly the bytes a checkpoint signs, and a real checkpoint by
# another key of the same CA, each reseal a log whose last record was
# removed, and each is refused. `--trust` alone names no key: it needs
# --signer-sha256, and says so.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/audit_common.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/a"
"$SIGNETFS" init "$t/b" --join "$t/a" --label other >"$t/b.init.log" 2>&1 ||
	{ cat "$t/b.init.log" >&2; fail "init --join"; }
confA=$t/a/signetfs.conf
confB=$t/b/signetfs.conf
log=$t/a/audit.log
ca=$t/a/ca.pem
fpA=$(cert_sha256 "$t/a/signer.pem")
fpB=$(cert_sha256 "$t/b/signer.pem")
[ "$fpA" != "$fpB" ] || fail "init --join made the same certificate"
mkdir -p "$t/r"
for i in 1 2 3; do echo "$i" >"$t/r/f$i"; done
"$SIGNETFS" sign --config "$confA" --root "$t/r" "$t"/r/f{1..3} || fail "sign"
n=$(wc -l <"$log")

av_sealed --config "$confA" "$log"

# (1) A file signature for the name signetfs-audit-checkpoint, over the
# bytes a checkpoint signs, made by the log's own key through `sign`.
mkdir -p "$t/s"
side=$t/a/sign-side.conf # beside confA: its relative paths hold
cp "$confA" "$side"
set_log "$side" "$t/sign-side.log"
cat >"$t/filesig.sh" <<EOF
#!/usr/bin/env bash
set -e
cat >"$t/s/signetfs-audit-checkpoint"
"$SIGNETFS" sign --config "$side" --root "$t/s" \
	"$t/s/signetfs-audit-checkpoint" >&2
base64 -w0 "$t/s/signetfs-audit-checkpoint.sig"
EOF
chmod +x "$t/filesig.sh"
python3 "$FORGE" reseal "$log" "$t/filesig.log" --sign "$t/filesig.sh"
[ "$(wc -l <"$t/filesig.log")" -eq $((n - 1)) ] || fail "reseal"
av_bad $((n - 1)) "a file signature cannot seal a log" --config "$confA" "$t/filesig.log"

# (2) The other key of the same CA, with its own signetfs and token,
# seals the log cut before its last record.
head -n $((n - 2)) "$log" >"$t/other.log"
set_log "$confB" "$t/other.log"
"$SIGNETFS" sign --config "$confB" --root "$t/r" "$t/r/f1" || fail "sign B"
m=$(wc -l <"$t/other.log")
tail -n1 "$t/other.log" | grep -q '"event":"checkpoint","final":true' ||
	fail "B did not seal the log"
av_bad "$m" "not one of the log's keys" --config "$confA" "$t/other.log"

# With --trust, the keys are named: the log's own key passes, and a key
# of the same CA is refused both ways.
av_sealed --trust "$ca" --signer-sha256 "$fpA" "$log"
av_bad "$n" "not one of the log's keys" --trust "$ca" --signer-sha256 "$fpB" "$log"
av_bad "$m" "not one of the log's keys" --trust "$ca" --signer-sha256 "$fpA" \
	"$t/other.log"
av_bad $((n - 1)) "a file signature cannot seal a log" --trust "$ca" \
	--signer-sha256 "$fpA" "$t/filesig.log"
# --trust alone: a usage error that names the missing option.
rc=0
out=$("$SIGNETFS" audit verify --trust "$ca" "$log" 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "--trust without --signer-sha256: exit $rc: $out"
[[ $out == *"--signer-sha256"* ]] || fail "no word about --signer-sha256: $out"
# Twin: named as a log key, B's checkpoint passes, so the pin alone
# refused it; A's records that nothing of A's seals still fail.
av_bad 1 "not sealed" --trust "$ca" --signer-sha256 "$fpA" \
	--signer-sha256 "$fpB" "$t/other.log"
echo "audit_seal_keys: ok"
