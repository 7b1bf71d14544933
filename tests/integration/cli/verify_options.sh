#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# signetfs verify's options keep working with the one verdict: --trust
# alone, --signer-sha256 (one, several, and with --config, where it stands
# in for [inbox] signer-sha256 and a [rule] still decides its subtree),
# --crl (a current empty CRL passes, one revoking the signer refuses, also
# with --at-signing-time: revocation is judged now) and --at-signing-time.
# Each accepted case has its refused twin.
. "$(dirname "$0")/../lib.sh"
[ -e /usr/lib/softhsm/libsofthsm2.so ] || skip "no SoftHSM"

t=$SFS_TMP
sfs_init "$t/A"
"$SIGNETFS" init "$t/B" --join "$t/A" --label release >"$t/B.init.log" 2>&1 ||
	{ cat "$t/B.init.log" >&2; fail "init --join"; }
fp() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
fpA=$(fp "$t/A/signer.pem")
fpB=$(fp "$t/B/signer.pem")
ca=$t/A/ca.pem
d=$t/root
mkdir -p "$d/firmware"
for f in a b firmware/fa firmware/fb; do printf '%s\n' "$f" >"$d/$f"; done
"$SIGNETFS" sign --config "$t/A/signetfs.conf" --root "$d" "$d/a" \
	"$d/firmware/fa" || fail "sign with A"
"$SIGNETFS" sign --config "$t/B/signetfs.conf" --root "$d" "$d/b" \
	"$d/firmware/fb" || fail "sign with B"

# A CRL from A's CA that revokes A's signer certificate.
serial=$(openssl x509 -in "$t/A/signer.pem" -noout -serial | cut -d= -f2)
end=$(openssl x509 -in "$t/A/signer.pem" -noout -enddate | cut -d= -f2)
mkdir "$t/ca"
printf 'R\t%s\t%s\t%s\tunknown\t/CN=signer\n' \
	"$(date -u -d "$end" +%y%m%d%H%M%SZ)" "$(date -u +%y%m%d%H%M%SZ)" \
	"$serial" >"$t/ca/index.txt"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s\ndefault_md = sha256\ndefault_crl_days = 30\n' \
	"$t/ca/index.txt" >"$t/ca/ca.cnf"
openssl ca -config "$t/ca/ca.cnf" -gencrl -keyfile "$t/A/ca.key" -cert "$ca" \
	-out "$t/revoked.pem" 2>"$t/ca/log" || { cat "$t/ca/log" >&2; fail "gencrl"; }

# check WANT... -- ARGS...: one verify run over a, b, firmware/fa,
# firmware/fb; each file's reason (ok or the name) in that order.
check() {
	local want=() got
	while [ "$1" != -- ]; do want+=("$1"); shift; done
	shift
	got=$(cd "$d" && "$SIGNETFS" verify "$@" --json a b firmware/fa firmware/fb |
		python3 -c 'import json,sys; print(" ".join(json.loads(l)["reason"] for l in sys.stdin))') ||
		true
	[ "$got" = "${want[*]}" ] || fail "verify $*: got '$got', want '${want[*]}'"
}

check ok ok ok ok -- --trust "$ca"
check ok signer-not-pinned ok signer-not-pinned -- --trust "$ca" --signer-sha256 "$fpA"
check ok ok ok ok -- --trust "$ca" --signer-sha256 "$fpB" --signer-sha256 "$fpA"
check ok ok ok ok -- --trust "$ca" --crl "$t/A/crl.pem"
check revoked ok revoked ok -- --trust "$ca" --crl "$t/revoked.pem"
check ok ok ok ok -- --trust "$ca" --at-signing-time
check ok ok ok ok -- --trust "$ca" --at-signing-time --crl "$t/A/crl.pem"
check revoked ok revoked ok -- --trust "$ca" --at-signing-time --crl "$t/revoked.pem"
# Exit codes: 0 when all pass, 1 when one fails, 2 for a bad pin.
(cd "$d" && "$SIGNETFS" verify --trust "$ca" --signer-sha256 "$fpB" b >/dev/null) ||
	fail "pinned b: exit $?"
rc=0; (cd "$d" && "$SIGNETFS" verify --trust "$ca" --signer-sha256 "$fpB" a >/dev/null) || rc=$?
[ "$rc" -eq 1 ] || fail "unpinned a: exit $rc"
rc=0; (cd "$d" && "$SIGNETFS" verify --trust "$ca" --signer-sha256 abc a 2>/dev/null) || rc=$?
[ "$rc" -eq 2 ] || fail "bad --signer-sha256: exit $rc"

# A config pinning A globally and B under firmware/.
conf=$t/A/verify.conf
cp "$t/A/signetfs.conf" "$conf"
printf '\n[inbox]\nsigner-sha256 = %s\n\n[rule firmware/**]\nsigner-sha256 = %s\n' \
	"$fpA" "$fpB" >>"$conf"
check ok signer-not-pinned signer-not-pinned ok -- --config "$conf"
check signer-not-pinned ok signer-not-pinned ok -- --config "$conf" --signer-sha256 "$fpB"
check revoked signer-not-pinned revoked ok -- --config "$conf" --crl "$t/revoked.pem"
check revoked signer-not-pinned revoked ok -- --config "$conf" --crl "$t/revoked.pem" --at-signing-time
echo "verify_options: ok"
