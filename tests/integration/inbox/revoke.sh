#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Revocation without remount (issue 5, item 4): a served file disappears
# once its signer's certificate is in the CRL the config names and the
# daemon got SIGHUP; a handle opened before is refused its next read; a
# file of another signer stays. A config that does not parse is rejected
# and the old one stays in force. Each reload is one config-reloaded
# record, each refusal one verify-denied record.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
"$SIGNETFS" init "$T/B" --join "$T/tok" --label other >"$T/B.init.log" 2>&1 ||
	{ cat "$T/B.init.log" >&2; fail "init --join"; }
cp "$T/tok/crl.pem" "$T/empty-crl.pem"
printf '\n[signetfs]\ncrl = %s\n' "$T/empty-crl.pem" >>"$CONF"

mkdir -p "$B/rel"
mkdata "$B/rel/app" 5000
mkdata "$B/rel/held" $((3 * 131072))
mkdata "$B/rel/keep" 5000
ib_sign rel/app rel/held
"$SIGNETFS" sign --config "$T/B/signetfs.conf" --root "$B" "$B/rel/keep" \
	>"$T/signB.log" 2>&1 || { cat "$T/signB.log" >&2; fail "sign with B"; }

# A CRL from the development CA's key revoking key A's certificate, made
# with stock `openssl ca` (a throwaway database).
ib_ca_init
openssl ca -config "$T/ca/ca.cnf" -batch -revoke "$T/tok/signer.pem" \
	>"$T/ca.log" 2>&1 || { cat "$T/ca.log" >&2; fail "openssl ca -revoke"; }
openssl ca -config "$T/ca/ca.cnf" -batch -gencrl -out "$T/revoked-crl.pem" \
	>>"$T/ca.log" 2>&1 || { cat "$T/ca.log" >&2; fail "openssl ca -gencrl"; }

reloads() {
	grep -F '"event":"config-reloaded"' "$AUDIT" | grep -cF "$1" || true
}
cant_open() { ! cat "$M/$1" >/dev/null 2>&1; }

ib_mount
visible rel/app
visible rel/keep
visible rel/held
exec 3<"$M/rel/held"
head -c 4096 <&3 >/dev/null || fail "first read of the held file"

sed -i "s|^crl = .*empty-crl.pem\$|crl = $T/revoked-crl.pem|" "$CONF"
grep -q "revoked-crl.pem" "$CONF" || fail "config not rewritten"
kill -HUP "$IB_PID"
wait_for 10 cant_open rel/app || fail "rel/app still served after SIGHUP"
# No remount, no waiting for the 1 s entry cache: gone for stat as well.
[ ! -e "$M/rel/app" ] || fail "rel/app can still be stat'ed after the reload"
hidden rel/app
hidden rel/app.sig
hidden rel/held
visible rel/keep
# Within the file's size the kernel reads without asking for attributes:
# the read reaches the daemon (the reload dropped the cached pages) and
# fails. A read past the end first refreshes the attributes: ENOENT.
python3 -c 'import os; os.pread(3, 4096, 163840)' 2>"$T/held.err" &&
	fail "a handle opened before still reads"
grep -q "Input/output error" "$T/held.err" || fail "held read: $(cat "$T/held.err")"
exec 3<&-
audited rel/app revoked
audited rel/held revoked
[ "$(reloads '"reason":"loaded ')" -eq 1 ] || { cat "$AUDIT" >&2; fail "no config-reloaded ok"; }

# A broken config is rejected: the revoked CRL stays in force and B's file
# stays served.
printf '\n[rule broken/**]\nno-such-key = 1\n' >>"$CONF"
kill -HUP "$IB_PID"
# The count is re-read on every poll (a function, not a $() evaluated once).
rejected_once() { [ "$(reloads '"reason":"rejected, the old config stays: ')" -eq 1 ]; }
wait_for 10 rejected_once ||
	{ cat "$AUDIT" >&2; fail "no config-reloaded rejected record"; }
kill -0 "$IB_PID" || fail "a broken config killed the daemon"
hidden rel/app
visible rel/keep
# Re-verifying the same refused files under a new epoch adds no records.
ls -lR "$M" >/dev/null
audited rel/app revoked
[ "$(grep -c '"event":"verify-denied"' "$AUDIT")" -eq 2 ] ||
	{ cat "$AUDIT" >&2; fail "verify-denied records: want 2"; }
SFS_LOG_ALLOW='reload failed' ib_umount
