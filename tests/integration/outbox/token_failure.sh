#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The token goes away while mounted: close() fails with EIO, cp fails,
# no valid signature exists, the failure is audited. Once the token is
# back the next write is signed without a remount.
. "$(dirname "$0")/common.sh"
ob_start
echo before >"$M/before"
ob_ok before
tokdir=$(sed -n 's/^[[:space:]]*directories.tokendir[[:space:]]*=[[:space:]]*//p' \
	"$(ob_softhsm_conf)" | head -1)
[ -d "$tokdir" ] || fail "no token directory in the SoftHSM config"
mv "$tokdir" "$tokdir.away"
head -c 100000 /dev/urandom >"$SFS_TMP/src"
if cp "$SFS_TMP/src" "$M/during" 2>"$SFS_TMP/cp.err"; then
	mv "$tokdir.away" "$tokdir"
	fail "cp succeeded without a token"
fi
grep -q "Input/output error" "$SFS_TMP/cp.err" || fail "not EIO: $(cat "$SFS_TMP/cp.err")"
ob_errno EIO "f = open('$M/during2', 'wb'); f.write(b'x'); f.close()"
ob_bad during
[ ! -e "$B/during.sig" ] || fail "a .sig exists for during"
case "$(ob_xattr "$M/during" status)" in
"failed: "*) ;;
*) fail "status: $(ob_xattr "$M/during" status)" ;;
esac
ob_record_writer sign-failed during 0 /usr/bin/cp 1
ob_expect_records sign-failed during2 1
mv "$tokdir.away" "$tokdir"
# The HSM layer retries the module with a back-off (docs/architecture.md):
# the first write after it recovered is signed; poll with a deadline.
ob_cp_signed() { cp "$SFS_TMP/src" "$M/after" 2>/dev/null; }
wait_for 10 ob_cp_signed || { cat "$OB_LOG" >&2; fail "not signed after the token came back"; }
ob_ok after
cp "$SFS_TMP/src" "$M/during"
ob_ok during
ob_forge_flip after
ob_records_match_stats
SFS_LOG_ALLOW='signing .* failed|cannot|token|PKCS|pkcs11|login|session|CKR_' ob_stop
ob_audit_verify
