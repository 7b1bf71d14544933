#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 16, item 1: a signer certificate valid for 30 s. A file signed and
# timestamped while it was valid stays served by the inbox and accepted by
# `signetfs verify` after it expired; its unstamped twin (same key, same
# certificate, signed while the TSA refused) disappears. The third file is
# written through the outbox, whose stamper adds its token after the close.
# After expiry, tsa-trust and tsa-policy per [rule] decide for their
# subtree (the trust in pkg/'s rule, not another subtree's, counts).
. "$(dirname "$0")/common.sh"
sfs_need_fuse
command -v getfattr >/dev/null || skip "no getfattr"

K=$SFS_TMP/k
mkdir -p "$SFS_TMP"
tsa_init "$K" --signer-validity 30
tsa_start "$K"
CONF=$K/signetfs.conf
B=$SFS_TMP/backing
ROOT=$B
install -d -m 0700 "$B"
mkdir -p "$B/pkg"
echo "stamped release" >"$B/pkg/a"
echo "unstamped twin" >"$B/pkg/b"

"$SIGNETFS" sign --config "$CONF" --root "$B" "$B/pkg/a" ||
	fail "sign with a working TSA"
stamped "$B/pkg/a" || fail "a is not timestamped"
tsa_mode http500
if "$SIGNETFS" sign --config "$CONF" --root "$B" "$B/pkg/b" 2>"$SFS_TMP/b.err"; then
	fail "sign exits 0 although the TSA refused"
fi
grep -q "signed, but not timestamped: TSA answered HTTP 500" "$SFS_TMP/b.err" ||
	fail "sign's message: $(cat "$SFS_TMP/b.err")"
tsa_mode ok
! stamped "$B/pkg/b" || fail "b carries a token"
[ "$(reason "$B/pkg/b")" = ok ] || fail "b does not verify before expiry"

# The outbox: close returns at once, the token comes afterwards.
M=$SFS_TMP/out
sfs_mount outbox "$CONF" "$B" "$M"
OB_PID=$SFS_PID OB_LOG=$SFS_LOG
echo "written through the outbox" >"$M/pkg/c"
st() { getfattr --only-values -n user.signetfs.status "$M/pkg/c" 2>/dev/null; }
c_stamped() { st | grep -q '^signed, timestamped '; }
wait_for 20 c_stamped ||
	fail "outbox: c not timestamped: $(st)"
sfs_umount "$M" "$OB_PID" "$OB_LOG"
stamped "$B/pkg/c" || fail "c.sig carries no token"
# Now: its checkpoints are signed by the same key, whose certificate is
# about to expire (checkpoints carry no token: docs/audit-log.md).
"$SIGNETFS" audit verify --config "$CONF" "$K/audit.log" >"$SFS_TMP/av" 2>&1 ||
	fail "audit verify: $(cat "$SFS_TMP/av")"

IN=$SFS_TMP/in
sfs_mount inbox "$CONF" "$B" "$IN"
IB_PID=$SFS_PID IB_LOG=$SFS_LOG
for f in a b c; do
	cmp -s "$IN/pkg/$f" "$B/pkg/$f" || fail "inbox does not serve $f before expiry"
done

end=$(openssl x509 -in "$K/signer.pem" -noout -enddate | cut -d= -f2)
note "signer certificate expires $end"
expired() { [ "$(reason "$B/pkg/b")" = cert-expired ]; }
wait_for 90 expired || fail "b still verifies: $(reason "$B/pkg/b")"
[ "$(reason "$B/pkg/a")" = ok ] || fail "a after expiry: $(reason "$B/pkg/a")"
[ "$(reason "$B/pkg/c")" = ok ] || fail "c after expiry: $(reason "$B/pkg/c")"
"$SIGNETFS" verify --config "$CONF" --root "$B" "$B/pkg/a" "$B/pkg/c" >/dev/null ||
	fail "verify exits non-zero for the stamped files"
# Without the TSA's trust anchors the token counts for nothing.
grep -v '^tsa-' "$CONF" >"$SFS_TMP/notsa.conf"
"$SIGNETFS" verify --config "$SFS_TMP/notsa.conf" --root "$B" "$B/pkg/a" \
	>"$SFS_TMP/notsa.out" && fail "a verifies without tsa-trust"
grep -q "FAIL.*certificate has expired" "$SFS_TMP/notsa.out" ||
	fail "a without tsa-trust: $(cat "$SFS_TMP/notsa.out")"
# tsa-trust and tsa-policy per [rule]: the rule for pkg/ decides.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=other-tsa-ca -days 2 -keyout "$SFS_TMP/other.key" \
	-out "$SFS_TMP/other.pem" 2>/dev/null || fail "other CA"
rule_reason() { # CONF-TAIL: a's reason under notsa.conf plus these lines
	{ cat "$SFS_TMP/notsa.conf"; printf '%b' "$1"; } >"$SFS_TMP/rule.conf"
	"$SIGNETFS" verify --config "$SFS_TMP/rule.conf" --root "$B" --json \
		"$B/pkg/a" 2>/dev/null | sed -E 's/.*"reason":"([^"]*)".*/\1/' ||
		true # verify exits 1 for a refused file
}
r=$(rule_reason "[rule pkg/**]\ntsa-trust = $K/ca.pem\n")
[ "$r" = ok ] || fail "tsa-trust only in pkg/'s rule: $r"
r=$(rule_reason "[signetfs]\ntsa-trust = $K/ca.pem\n[rule pkg/**]\ntsa-trust = $SFS_TMP/other.pem\n")
[ "$r" = tsa-untrusted ] || fail "pkg/'s rule trusts another TSA CA: $r"
r=$(rule_reason "[rule pkg/**]\ntsa-trust = $K/ca.pem\ntsa-policy = 1.2.3.4\n")
[ "$r" = tsa-policy-mismatch ] || fail "pkg/'s rule asks for another policy: $r"
r=$(rule_reason "[rule other/**]\ntsa-trust = $K/ca.pem\n")
[ "$r" = cert-expired ] || fail "another subtree's tsa-trust applied to pkg/a: $r"

gone() { ! test -e "$IN/pkg/b"; }
wait_for 10 gone || fail "the inbox still serves the unstamped twin"
cmp -s "$IN/pkg/a" "$B/pkg/a" || fail "inbox hides a after expiry"
cmp -s "$IN/pkg/c" "$B/pkg/c" || fail "inbox hides c after expiry"
ls "$IN/pkg" | grep -qx b && fail "b still listed"
SFS_LOG_ALLOW='verify-denied|cert-expired|certificate has expired'
sfs_umount "$IN" "$IB_PID" "$IB_LOG"

LOG=$SFS_TMP/k/audit.log
audited_event "$LOG" timestamp pkg/a || fail "no timestamp record for a"
audited_event "$LOG" timestamp pkg/c || fail "no timestamp record for c"
audited_event "$LOG" timestamp-failed pkg/b || fail "no timestamp-failed record for b"
tsa_stop
echo "expiry: stamped files outlive the certificate, the twin does not"
