#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# An outbox whose trust store or CRL cannot be loaded does not mount, and
# a SIGHUP reload to such a config is rejected (the old config stays), as
# the inbox does (before: the outbox mounted without a verifier and then
# trusted any existing .sig on rename).
. "$(dirname "$0")/common.sh"
sfs_need_fuse
TOK=$SFS_TMP/tok
sfs_init "$TOK"
B=$SFS_TMP/backing M=$SFS_TMP/mnt
mkdir -p "$B" "$M"
try_mount() { # CONF TEXT: must fail, naming TEXT (detaches if it mounts)
	if "$SIGNETFS" outbox --config "$1" "$B" "$M" >"$SFS_TMP/m.log" 2>&1; then
		fusermount3 -u "$M" 2>/dev/null
		fail "mounted with $(grep -E '^(crl|trust)' "$1")"
	fi
	grep -q "$2" "$SFS_TMP/m.log" || fail "no '$2' in: $(cat "$SFS_TMP/m.log")"
	! is_fuse_mounted "$(realpath "$M")" || fail "mounted"
}
base() { grep -Ev '^(crl|trust)[[:space:]]*=' "$TOK/signetfs.conf"; }
{ base; echo "trust = $(ob_ca "$TOK")"; echo "crl = $SFS_TMP/no-such-crl.pem"; } >"$TOK/c1.conf"
try_mount "$TOK/c1.conf" "no-such-crl.pem"
echo "not a certificate" >"$SFS_TMP/garbage.pem"
{ base; echo "trust = $SFS_TMP/garbage.pem"; } >"$TOK/c2.conf"
try_mount "$TOK/c2.conf" "garbage.pem"
{ base; } >"$TOK/c3.conf"
try_mount "$TOK/c3.conf" "trust"
# stores that load nothing: a missing or empty trust-dir, a file that
# holds only a CRL (before: mounted, trusting nothing and saying nothing)
{ base; echo "trust-dir = $SFS_TMP/no-such-dir"; } >"$TOK/c4.conf"
try_mount "$TOK/c4.conf" "no-such-dir"
mkdir "$SFS_TMP/empty-dir"
{ base; echo "trust-dir = $SFS_TMP/empty-dir"; } >"$TOK/c5.conf"
try_mount "$TOK/c5.conf" "empty-dir"
{ base; echo "trust = $TOK/crl.pem"; } >"$TOK/c6.conf"
try_mount "$TOK/c6.conf" "crl.pem"
# reload: a good mount, then a config whose CRL is gone
ob_start
cp "$CONF" "$TOK/good.conf"
# (init writes a crl line: replace it; a config without one gets one)
if grep -q '^crl[[:space:]]*=' "$CONF"; then
	sed -i "s|^crl[[:space:]]*=.*|crl = $SFS_TMP/no-such-crl.pem|" "$CONF"
else
	sed -i "0,/^\[signetfs\]/s||[signetfs]\ncrl = $SFS_TMP/no-such-crl.pem|" "$CONF"
fi
kill -HUP "$OB_PID"
wait_for 10 grep -q '"event":"config-reloaded".*rejected' "$AUDIT" ||
	fail "reload to a broken CRL not rejected"
echo after >"$M/after"
CONF=$TOK/good.conf ob_ok after
SFS_LOG_ALLOW='reload|CRL|crl' ob_stop
