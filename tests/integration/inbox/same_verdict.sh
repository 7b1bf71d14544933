#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One verdict: `signetfs verify --config --json -r` and a mounted inbox
# judge the same tree file by file, with the config's [rule] sections
# applied by both: signed, pinned, signed by a signer a rule does not pin,
# renamed where a rule turns path binding off (and where it does not),
# deeper than policy evaluates, tampered, unsigned, a FIFO posing as a
# .sig, and a FIFO (with a .sig) and a device node posing as files. A file
# the CLI passes is served; a file it fails is hidden and the inbox's
# verify-denied record carries the CLI's reason. The expected reason of
# each file is checked too, so both cannot be wrong alike. The FIFO and the
# device are never opened: -r leaves them out and the inbox hides them
# without a verdict; named, the CLI fails them (not-regular-file).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
# Key B: another token in A's SoftHSM store, certified by A's CA.
"$SIGNETFS" init "$T/B" --join "$T/tok" --label release >"$T/B.init.log" 2>&1 ||
	{ cat "$T/B.init.log" >&2; fail "init --join"; }
fpA=$(openssl x509 -in "$T/tok/signer.pem" -outform DER | sha256sum | cut -d' ' -f1)
cat >>"$CONF" <<CFG

[rule firmware/**]
signer-sha256 = $fpA

[rule legacy/**]
path-binding = no
CFG

sign_with() {
	local conf=$1 f args=(); shift
	for f; do args+=("$B/$f"); done
	"$SIGNETFS" sign --config "$conf" --root "$B" "${args[@]}" \
		>"$T/sign.log" 2>&1 || { cat "$T/sign.log" >&2; fail "sign $*"; }
}

# 257 components: one more than policy evaluates (SFS_POLICY_MAX_DEPTH).
deep=deep$(printf '/d%.0s' $(seq 255))/f
declare -A want=(
	[top]=ok
	[firmware/a.bin]=ok
	[firmware/b.bin]=signer-not-pinned
	[legacy/elsewhere]=ok
	[docs/elsewhere]=path-mismatch
	[$deep]=policy-error
	[tampered]=content-digest
	[plain]=no-signature
	[fifosig]=no-signature
)
mkdir -p "$B/firmware" "$B/legacy" "$B/docs" "$B/$(dirname "$deep")"
for f in top firmware/a.bin firmware/b.bin legacy/moved docs/moved \
	tampered plain fifosig pipe; do
	mkdata "$B/$f" 3000
done
# sign --config refuses a path its rules cannot evaluate: sign it shallow,
# then move it down (the verdict is policy-error before any path check).
mkdata "$B/deepsrc" 3000
sign_with "$CONF" top firmware/a.bin deepsrc tampered fifosig pipe
mv "$B/deepsrc" "$B/$deep"
mv "$B/deepsrc.sig" "$B/$deep.sig"
sign_with "$T/B/signetfs.conf" firmware/b.bin legacy/moved docs/moved
mv "$B/legacy/moved" "$B/legacy/elsewhere"
mv "$B/legacy/moved.sig" "$B/legacy/elsewhere.sig"
mv "$B/docs/moved" "$B/docs/elsewhere"
mv "$B/docs/moved.sig" "$B/docs/elsewhere.sig"
flip tampered 100
rm "$B/fifosig.sig" "$B/pipe"
mkfifo "$B/fifosig.sig" "$B/pipe"
mknod "$B/null" c 1 3

# The CLI first: one JSON line per file, FILE relative to the tree.
rc=0
timeout 30 "$SIGNETFS" verify --config "$CONF" --root "$B" --json -r "$B" \
	>"$T/cli.json" 2>"$T/cli.err" || rc=$?
[ "$rc" -ne 124 ] || fail "verify -r hung"
[ "$rc" -eq 1 ] || { cat "$T/cli.json" "$T/cli.err" >&2; fail "verify -r exited $rc, want 1"; }
python3 -c '
import json, sys
root = sys.argv[1] + "/"
for line in open(sys.argv[2]):
    r = json.loads(line)
    assert r["file"].startswith(root), r
    print(r["file"][len(root):] + "\t" + r["reason"])
' "$B" "$T/cli.json" >"$T/cli.tsv" || fail "cannot read the JSON output"
[ "$(wc -l <"$T/cli.tsv")" -eq "${#want[@]}" ] ||
	{ cat "$T/cli.tsv" >&2; fail "verify -r judged $(wc -l <"$T/cli.tsv") files, want ${#want[@]}"; }

ib_mount
while IFS=$'\t' read -r rel reason; do
	[ -n "${want[$rel]:-}" ] || fail "unexpected file $rel"
	[ "$reason" = "${want[$rel]}" ] ||
		fail "CLI: $rel is $reason, want ${want[$rel]}"
	if [ "$reason" = ok ]; then
		visible "$rel"
		visible "$rel.sig"
	else
		hidden "$rel"
		audited "$rel" "$reason"
	fi
done <"$T/cli.tsv"
for rel in pipe null; do
	rc=0
	timeout 30 "$SIGNETFS" verify --config "$CONF" --root "$B" --json \
		"$B/$rel" >"$T/one.json" || rc=$?
	[ "$rc" -eq 1 ] && grep -qF '"reason":"not-regular-file"' "$T/one.json" ||
		fail "verify $rel: exit $rc, $(cat "$T/one.json")"
	hidden "$rel"
	! grep -F "\"path\":\"$rel\"," "$AUDIT" | grep -qF verify-denied ||
		fail "$rel: the inbox recorded a verdict"
done
ib_umount
