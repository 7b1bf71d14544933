#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A cached verdict expires with what it rested on: a file verified under a
# CRL whose nextUpdate then passes is no longer served from the cache
# (before: a cached OK was kept until a file change, a reload or a
# remount, so an expired CRL failed open for every file already
# verified). Its twin: a fresh CRL and a SIGHUP serve it again. The
# certificate side (the chain's first notAfter) is tests/unit/test_verify
# test_valid_until.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
ib_ca_init
# gencrl SECONDS: a CRL revoking nothing, current for SECONDS more
gencrl() {
	openssl ca -config "$T/ca/ca.cnf" -gencrl -crlsec "$1" -out "$T/crl.pem" \
		2>"$T/ca.log" || { cat "$T/ca.log" >&2; fail "openssl ca -gencrl"; }
}
gencrl 6
printf '\n[signetfs]\ncrl = %s\n' "$T/crl.pem" >>"$CONF"
mkdata "$B/app" 5000
ib_sign app
ib_mount
visible app
start=$SECONDS
# hidden once the CRL has expired (its nextUpdate is 6 s away)
gone() { ! cat "$M/app" >/dev/null 2>&1; }
wait_for 30 gone || fail "app still served after its CRL expired"
[ $((SECONDS - start)) -ge 3 ] || fail "app hidden before the CRL expired"
audited app crl-error
# twin: a current CRL and a reload serve it again
gencrl 3600
kill -HUP "$IB_PID"
served() { cmp -s "$M/app" "$B/app"; }
wait_for 10 served || fail "app not served under a fresh CRL"
visible app
SFS_LOG_ALLOW='CRL|crl' ib_umount
