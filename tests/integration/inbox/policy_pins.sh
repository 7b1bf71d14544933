#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Per-subtree policy in the inbox (docs/policy.md): [rule firmware/**] pins
# key A, so a firmware file signed by key B (same CA) is hidden with
# signer-not-pinned while A's is served; docs/ and the top level take the
# global settings and serve B's files. [rule legacy/**] turns path binding
# off there only. Each denial is recorded exactly once, however often it
# is looked up.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
# Key B: another token in A's SoftHSM store, certified by A's CA.
"$SIGNETFS" init "$T/B" --join "$T/tok" --label release >"$T/B.init.log" 2>&1 ||
	{ cat "$T/B.init.log" >&2; fail "init --join"; }
fpA=$(openssl x509 -in "$T/tok/signer.pem" -outform DER | sha256sum | cut -d' ' -f1)
fpB=$(openssl x509 -in "$T/B/signer.pem" -outform DER | sha256sum | cut -d' ' -f1)
[ "$fpA" != "$fpB" ] || fail "A and B share a certificate"
cat >>"$CONF" <<CFG

[rule firmware/**]
signer-sha256 = $fpA

[rule legacy/**]
path-binding = no
CFG

# sign_with CONF REL...
sign_with() {
	local conf=$1 f args=(); shift
	for f; do args+=("$B/$f"); done
	"$SIGNETFS" sign --config "$conf" --root "$B" "${args[@]}" \
		>"$T/sign.log" 2>&1 || { cat "$T/sign.log" >&2; fail "sign $*"; }
}

mkdir -p "$B/firmware/deep" "$B/docs" "$B/legacy"
for f in firmware/a.bin firmware/b.bin firmware/deep/b.bin docs/guide \
	top legacy/moved docs/moved; do
	mkdata "$B/$f" 1000
done
sign_with "$CONF" firmware/a.bin
sign_with "$T/B/signetfs.conf" firmware/b.bin firmware/deep/b.bin \
	docs/guide top legacy/moved docs/moved
# Signed for one path, served at another.
mv "$B/legacy/moved" "$B/legacy/elsewhere"
mv "$B/legacy/moved.sig" "$B/legacy/elsewhere.sig"
mv "$B/docs/moved" "$B/docs/elsewhere"
mv "$B/docs/moved.sig" "$B/docs/elsewhere.sig"

ib_mount
visible firmware/a.bin
visible firmware/a.bin.sig
hidden firmware/b.bin
hidden firmware/b.bin.sig
hidden firmware/deep/b.bin
visible docs/guide
visible docs/guide.sig
visible top
visible legacy/elsewhere
hidden docs/elsewhere
[ "$(getfattr --only-values -n user.signetfs.signer "$M/docs/guide" |
	cut -d' ' -f1)" = "$fpB" ] || fail "docs/guide: signer is not B"

# An ls loop over unchanged denied files adds no records.
for i in 1 2 3 4 5; do
	ls -lR "$M" >/dev/null
	stat "$M/firmware/b.bin" >/dev/null 2>&1 || true
done
audited firmware/b.bin signer-not-pinned
audited firmware/deep/b.bin signer-not-pinned
audited docs/elsewhere path-mismatch
n=$(grep -c '"event":"verify-denied"' "$AUDIT")
[ "$n" -eq 3 ] || { cat "$AUDIT" >&2; fail "$n verify-denied records, want 3"; }
ib_umount
